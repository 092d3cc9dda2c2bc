//! [`StateDir`]: the state of one replica of a fleet, in a directory the fleet shares, and the
//! fleet's merge rule, which lives here alone.
//!
//! Each replica writes only its own file there (`shard-K.json`, a [`StateFile`]) and reads
//! its siblings' files, so that an id that moves between replicas keeps its last event: a
//! push made while it moved is reported as a push, not taken for a baseline. The rule:
//!
//! - **Every entry carries the time it was saved** (the time its event was first saved by
//!   the replica that saw it, in milliseconds since the Unix epoch; a copy keeps the time of
//!   its original). Where several files hold an id, the entry saved last wins, and at the
//!   same time the one of the higher-numbered file (any order would do, as long as every
//!   replica picks the same). Entries written without a time take their file's.
//! - **Files are read at start and again when an id is new to the replica**: an id whose
//!   first observation is coming is looked up in the siblings' files as they are now, not as
//!   they were at start, so an entry its old owner saved since is found.
//! - **No replica drops an entry another may still need.** A replica saves its own ids as
//!   its watch handled them and keeps every other entry of its file as it was (its time
//!   included): the replica restarted first in a rolling change may not own an id any more,
//!   but the id's new owner may not have read it yet. Such an entry is dropped at start once
//!   a sibling holds a later one (its new owner has taken it over), so a file holds at most
//!   the ids its replica has ever watched.
//! - **A sibling file that cannot be read is skipped** with a warning naming it (once per
//!   version of the file): its ids start from a baseline on the replicas that take them,
//!   never from an invented push. The replica's own file, unreadable, stops it as before.

use std::{
    collections::{HashMap, HashSet},
    fs,
    path::{Path, PathBuf},
    time::SystemTime,
};

use super::{
    StateFile,
    state::{LastSeen, SeenEvents, StateError, WatchStore},
    state_file::{Stamped, StampedEvents},
};
use crate::RepositoryId;

/// A replica's state in the fleet's directory.
pub struct StateDir {
    dir: PathBuf,
    index: u32,
    own: StateFile,
    keep: Box<dyn Fn(RepositoryId) -> bool + Send>,
    /// What its file holds, or will at the next save: its own ids as its watch handled them,
    /// the others as they were.
    entries: StampedEvents,
    /// The siblings' files as last read, by number, with what told that version apart.
    siblings: HashMap<u32, Sibling>,
    skipped: Box<dyn FnMut(&StateError) + Send>,
}

struct Sibling {
    fingerprint: Fingerprint,
    /// `None`: it could not be read (and that was said).
    entries: Option<StampedEvents>,
}

type Fingerprint = [Option<(u64, SystemTime, u64)>; 2];

impl std::fmt::Debug for StateDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateDir")
            .field("dir", &self.dir)
            .field("own", &self.own.path())
            .finish_non_exhaustive()
    }
}

impl StateDir {
    /// The state of replica `index` (its file `shard-{index}.json` in `dir`), keeping only
    /// the repositories `keep` accepts (those it watches).
    pub fn new(
        dir: impl Into<PathBuf>,
        index: u32,
        keep: impl Fn(RepositoryId) -> bool + Send + 'static,
    ) -> Self {
        let dir = dir.into();
        Self {
            own: StateFile::new(dir.join(format!("shard-{index}.json"))),
            dir,
            index,
            keep: Box::new(keep),
            entries: StampedEvents::new(),
            siblings: HashMap::new(),
            skipped: Box::new(|error| tracing::warn!(%error, "skipped a sibling's state file")),
        }
    }

    /// Calls `report` with each sibling file that is skipped because it cannot be read (the
    /// error names it), instead of a `tracing` warning.
    pub fn on_skipped(mut self, report: impl FnMut(&StateError) + Send + 'static) -> Self {
        self.skipped = Box::new(report);
        self
    }

    /// Reads the siblings' files that changed since they were last read; an unreadable one
    /// is said and skipped.
    fn read_siblings(&mut self) {
        let files = match numbered_files(&self.dir) {
            Ok(files) => files,
            Err(error) => {
                let error = StateError::new(
                    self.dir.display().to_string(),
                    format!("cannot list the state directory: {error}"),
                    Some(Box::new(error)),
                );
                (self.skipped)(&error);
                return;
            }
        };
        let present: HashSet<u32> = files.iter().map(|(number, _)| *number).collect();
        self.siblings.retain(|number, _| present.contains(number));
        for (number, path) in files {
            if number == self.index {
                continue;
            }
            let file = StateFile::new(&path);
            let fingerprint = file.fingerprint();
            if self
                .siblings
                .get(&number)
                .is_some_and(|sibling| sibling.fingerprint == fingerprint)
            {
                continue;
            }
            let entries = match file.read_stamped() {
                Ok(entries) => Some(stamped(entries, file.modified())),
                Err(error) => {
                    (self.skipped)(&error);
                    None
                }
            };
            let sibling = Sibling {
                fingerprint,
                entries,
            };
            self.siblings.insert(number, sibling);
        }
    }

    /// The latest entry of `id` in the siblings' files, with its rank.
    fn latest_elsewhere(&self, id: RepositoryId) -> Option<(Rank, &LastSeen)> {
        self.siblings
            .iter()
            .filter_map(|(number, sibling)| {
                let entry = sibling.entries.as_ref()?.get(&id)?;
                Some((rank(entry, *number), &entry.seen))
            })
            .max_by_key(|(rank, _)| *rank)
    }
}

/// Which of two entries of one repository wins: the greater (saved later, then the file of
/// the higher number).
type Rank = (u64, u32);

fn rank(entry: &Stamped, file: u32) -> Rank {
    (entry.saved_ms.unwrap_or(0), file)
}

/// Gives entries written without a saving time their file's.
fn stamped(mut entries: StampedEvents, modified: Option<SystemTime>) -> StampedEvents {
    let file_time = modified.map_or(0, millis);
    for entry in entries.values_mut() {
        entry.saved_ms.get_or_insert(file_time);
    }
    entries
}

fn millis(time: SystemTime) -> u64 {
    let since = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// The replicas' state files in `dir` (`shard-K.json`, K a number), ordered by number.
fn numbered_files(dir: &Path) -> std::io::Result<Vec<(u32, PathBuf)>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if let Some(number) = file_number(&path) {
            files.push((number, path));
        }
    }
    files.sort();
    Ok(files)
}

/// K of `shard-K.json`.
fn file_number(path: &Path) -> Option<u32> {
    let name = path.file_name()?.to_str()?;
    let number = name.strip_prefix("shard-")?.strip_suffix(".json")?;
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    number.parse().ok()
}

impl WatchStore for StateDir {
    fn load(&mut self) -> Result<SeenEvents, StateError> {
        if let Err(error) = fs::create_dir_all(&self.dir) {
            return Err(StateError::new(
                self.dir.display().to_string(),
                format!("cannot create the state directory: {error}"),
                Some(Box::new(error)),
            ));
        }
        // Its own file first: locked, with its journal; unreadable, it stops the replica.
        let own = stamped(self.own.load_stamped()?, self.own.modified());
        self.read_siblings();
        let mut restored = SeenEvents::new();
        let mut entries = StampedEvents::new();
        let mut ids: HashSet<RepositoryId> = own.keys().copied().collect();
        for sibling in self.siblings.values() {
            let held = sibling.entries.iter().flat_map(|entries| entries.keys());
            ids.extend(held.filter(|id| (self.keep)(**id)));
        }
        for id in ids {
            let mine = own.get(&id);
            let elsewhere = self.latest_elsewhere(id);
            let wins = match (mine, &elsewhere) {
                (Some(mine), Some((theirs, _))) => rank(mine, self.index) > *theirs,
                (mine, _) => mine.is_some(),
            };
            let entry = match (wins, mine, elsewhere) {
                (true, Some(mine), _) => mine.clone(),
                // Taken over by a sibling: not its own, so not kept.
                _ if !(self.keep)(id) => continue,
                (_, _, Some((rank, seen))) => Stamped {
                    seen: seen.clone(),
                    saved_ms: Some(rank.0),
                },
                (_, _, None) => continue,
            };
            if (self.keep)(id) {
                restored.insert(id, entry.seen.clone());
            }
            entries.insert(id, entry);
        }
        self.entries = entries;
        Ok(restored)
    }

    fn save(&mut self, seen: &SeenEvents) -> Result<(), StateError> {
        let now = millis(SystemTime::now());
        for (id, seen) in seen {
            update(&mut self.entries, *id, seen, now);
        }
        // Its own ids the watch no longer holds (first entries never reported) go; the
        // others' stay as they were.
        let keep = &self.keep;
        self.entries
            .retain(|id, _| seen.contains_key(id) || !keep(*id));
        self.own.save_stamped(&self.entries)
    }

    fn record_new(&mut self, first: &[(RepositoryId, LastSeen)]) -> Result<(), StateError> {
        let now = millis(SystemTime::now());
        let first: Vec<(RepositoryId, Stamped)> = first
            .iter()
            .map(|(id, seen)| (*id, update(&mut self.entries, *id, seen, now).clone()))
            .collect();
        self.own.record_stamped(&first)
    }

    fn look_up(&mut self, ids: &[RepositoryId]) -> SeenEvents {
        self.read_siblings();
        let mut found = SeenEvents::new();
        for &id in ids {
            if let Some((rank, seen)) = self.latest_elsewhere(id) {
                let entry = Stamped {
                    seen: seen.clone(),
                    saved_ms: Some(rank.0),
                };
                found.insert(id, entry.seen.clone());
                // Recorded with its original time: a copy is not a newer entry.
                self.entries.insert(id, entry);
            }
        }
        found
    }
}

/// Sets `id`'s entry to `seen`, saved `now` unless it already holds that event.
fn update<'a>(
    entries: &'a mut StampedEvents,
    id: RepositoryId,
    seen: &LastSeen,
    now: u64,
) -> &'a Stamped {
    let entry = entries.entry(id).or_insert_with(|| Stamped {
        seen: seen.clone(),
        saved_ms: Some(now),
    });
    if entry.seen != *seen {
        *entry = Stamped {
            seen: seen.clone(),
            saved_ms: Some(now),
        };
    }
    entry
}

#[cfg(test)]
mod tests;
