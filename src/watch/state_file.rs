//! [`StateFile`]: the watch state in a JSON file replaced atomically (temporary file, fsync,
//! rename, fsync of the directory), and a journal beside it, appended and fsynced: first
//! entries and pending items before they are reported, and what each save changed, until the
//! journal outgrows the file and a save folds it in.

use std::{
    collections::HashMap,
    fs,
    hash::{DefaultHasher, Hash, Hasher},
    io::{self, Write},
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use super::state::{Handled, LastSeen, Pending, SeenEvents, StateError, WatchStore};
use crate::RepositoryId;

/// The format this version writes and reads.
const FORMAT: u32 = 1;

#[derive(Serialize)]
struct Written<'a, T> {
    codearts_watch_state: u32,
    /// Counts the saves: a journal line of an earlier one is in this file already.
    generation: u64,
    repositories: &'a T,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pending: &'a [Pending],
}

#[derive(Deserialize)]
struct Read {
    codearts_watch_state: u32,
    /// Entries written by a fleet replica of 0.2 also hold `saved_ms`, which is ignored.
    repositories: SeenEvents,
    #[serde(default)]
    generation: u64,
    #[serde(default)]
    pending: Vec<Pending>,
    /// The newest generation of the file and its journal's lines: the next whole write's
    /// must be newer still, or a crash before the journal is emptied would apply those
    /// lines again (a journal can be newer than its file when the file was restored, or
    /// moved away).
    #[serde(skip)]
    newest: u64,
}

/// One line of the journal. `generation`: the file's when the line was written (a line of an
/// earlier generation is in the file already).
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Line {
    Pending {
        pending: Pending,
        generation: u64,
    },
    /// A repository's entry, changed since the file and the lines before.
    Saved {
        saved: Recorded,
        generation: u64,
    },
    /// A repository's entry dropped (a baseline not reported: the next watch reports it).
    Forgotten {
        forgotten: RepositoryId,
        generation: u64,
    },
    /// A pending item handled or given up.
    Settled {
        settled: Recorded,
        generation: u64,
    },
    First(Recorded),
}

impl Line {
    fn generation(&self) -> Option<u64> {
        match self {
            Self::Pending { generation, .. }
            | Self::Saved { generation, .. }
            | Self::Forgotten { generation, .. }
            | Self::Settled { generation, .. } => Some(*generation),
            Self::First(_) => None,
        }
    }
}

/// A repository's entry, in the journal.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Recorded {
    repository_id: RepositoryId,
    #[serde(flatten)]
    seen: LastSeen,
}

impl Recorded {
    fn new(repository_id: RepositoryId, seen: &LastSeen) -> Self {
        Self {
            repository_id,
            seen: seen.clone(),
        }
    }

    /// Whether `pending` is this entry's event.
    fn is(&self, pending: &Pending) -> bool {
        pending.repository_id == self.repository_id && pending.seen() == self.seen
    }
}

/// A JSON file: `{"codearts_watch_state": 1, "generation": N, "repositories": {"<id>":
/// {"created_at", "ref"}}, "pending": [...]}`, and beside it `<name>.journal`, one JSON line
/// per repository or pending item ([`Pending`]) recorded, and per entry or pending item a
/// save changed, since the file was written.
///
/// A missing file is an empty state (the first run); anything else that cannot be read is an
/// error naming the file. A save appends the entries that changed to the journal, so that it
/// costs what changed, not the whole state; once the journal would outgrow the file (64 KiB
/// at least), the save writes the whole state instead: a temporary file beside it, fsynced,
/// renamed over the old one, the directory fsynced (after a crash the file is the old state
/// or the new one, never a mix), then the journal emptied. A journal line cut short by a
/// crash is ignored; what it held was not reported yet, or is reported again. Each whole
/// write counts one more `generation`, and a journal line says the generation it was written
/// under: after a crash between a whole write and the emptying of the journal, the lines it
/// already took are ignored.
#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
    journal: Option<fs::File>,
    /// `<name>.lock`, locked while this value lives (the system drops the lock with the
    /// process, so a crash leaves none behind).
    lock: Option<fs::File>,
    /// The items pending, oldest first, as of the last load or change: each save writes them.
    pending: Vec<Pending>,
    /// `pending` was read (a save before any load keeps what the file holds).
    pending_read: bool,
    /// The file's generation, as read or last written.
    generation: u64,
    /// A digest of each entry the file and its journal hold (`None` before a load or a whole
    /// write): a save appends the entries whose digest changed. Digests, not copies, keep
    /// the memory small; two events with one digest (one chance in 2^64) would only make a
    /// restart report that push again.
    held: Option<HashMap<RepositoryId, u64>>,
    /// Pending items settled (handled, given up) since the last save: its journal lines.
    settled: Vec<Recorded>,
    /// Pending items whose journal line could not be written: the next save writes them.
    unwritten: Vec<Pending>,
    /// Repositories whose first entries could not be written: the next save writes them.
    unrecorded_firsts: Vec<RepositoryId>,
    /// The file's length when last read or written, and the journal's now.
    file_len: u64,
    journal_len: u64,
}

/// The journal grows to the file's length, and at least to this, before a save writes the
/// whole state: a watch writes at most about twice what changed, and a load reads at most
/// twice the file.
const JOURNAL_MIN: u64 = 64 * 1024;

impl StateFile {
    /// The state kept at `path` (nothing is read until the watch starts).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            journal: None,
            lock: None,
            pending: Vec::new(),
            pending_read: false,
            generation: 0,
            held: None,
            settled: Vec::new(),
            unwritten: Vec::new(),
            unrecorded_firsts: Vec::new(),
            file_len: 0,
            journal_len: 0,
        }
    }

    /// Where the state is kept.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, reason: impl Into<String>, source: Option<io::Error>) -> StateError {
        StateError::new(
            format!("state file {}", self.path.display()),
            reason,
            source.map(|e| Box::new(e) as _),
        )
    }

    fn sibling(&self, name: impl FnOnce(&str) -> String) -> PathBuf {
        let own = self.path.file_name().unwrap_or_default().to_string_lossy();
        self.path.with_file_name(name(&own))
    }

    fn temporary(&self) -> PathBuf {
        self.sibling(|name| format!(".{name}.{}.tmp", std::process::id()))
    }

    /// Two watches writing one state would each overwrite what the other saved.
    fn lock(&mut self) -> Result<(), StateError> {
        if self.lock.is_some() {
            return Ok(());
        }
        let path = self.sibling(|name| format!("{name}.lock"));
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|error| {
                let reason = self.unusable_directory().unwrap_or_else(|| {
                    format!("cannot open its lock file {}: {error}", path.display())
                });
                self.error(reason, Some(error))
            })?;
        match file.try_lock() {
            Ok(()) => {
                self.lock = Some(file);
                Ok(())
            }
            Err(fs::TryLockError::WouldBlock) => Err(self.error(
                format!(
                    "is in use by another watch (which holds {}): give each watch a state \
                     file of its own",
                    path.display()
                ),
                None,
            )),
            Err(fs::TryLockError::Error(error)) => {
                let reason = format!("cannot lock {}: {error}", path.display());
                Err(self.error(reason, Some(error)))
            }
        }
    }

    fn journal_path(&self) -> PathBuf {
        self.sibling(|name| format!("{name}.journal"))
    }

    fn directory(&self) -> &Path {
        match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        }
    }

    /// Why the file's directory cannot hold it, if that is why nothing opens in it: a watch
    /// creates no directory, and naming the lock file would point at the wrong thing.
    fn unusable_directory(&self) -> Option<String> {
        let directory = self.directory().display();
        match fs::metadata(self.directory()) {
            Ok(metadata) if metadata.is_dir() => None,
            Ok(_) => Some(format!("{directory} is not a directory")),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Some(format!(
                "its directory {directory} does not exist: create it first (a watch creates \
                 no directory)"
            )),
            Err(_) => None,
        }
    }

    /// Fsyncs the directory, which makes a rename or a new file in it durable.
    fn sync_directory(&self) -> io::Result<()> {
        #[cfg(unix)]
        fs::File::open(self.directory())?.sync_all()?;
        Ok(())
    }

    /// The journal's entries, in order; a last line cut short by a crash is left out (cut
    /// anywhere, in the middle of a character too).
    fn read_journal(&self) -> Result<Vec<Line>, StateError> {
        let path = self.journal_path();
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => {
                let reason = format!("cannot read its journal {}: {error}", path.display());
                return Err(self.error(reason, Some(error)));
            }
        };
        let not_a_journal = |line: usize, why: String| {
            let reason = format!(
                "its journal {} is not a watch journal (line {line}: {why}); it is left as it \
                 is: move both away to start from nothing",
                path.display()
            );
            self.error(reason, None)
        };
        bytes[..complete(&bytes)]
            .split(|&b| b == b'\n')
            .filter(|line| !line.is_empty())
            .enumerate()
            .map(|(index, line)| {
                serde_json::from_slice(line).map_err(|e| not_a_journal(index + 1, e.to_string()))
            })
            .collect()
    }

    /// Replaces the file with `bytes`: a temporary file, fsynced, renamed over it.
    fn replace(&self, bytes: &[u8]) -> io::Result<()> {
        let temporary = self.temporary();
        let written = fs::File::create(&temporary).and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        });
        if let Err(error) = written.and_then(|()| fs::rename(&temporary, &self.path)) {
            let _ = fs::remove_file(&temporary);
            return Err(error);
        }
        Ok(())
    }

    /// After a replacement: makes it durable, and empties the journal, whose lines the file
    /// holds now. (The journal's own handle appends, so it writes from the start again.)
    fn empty_journal(&self) -> io::Result<()> {
        self.sync_directory()?;
        match fs::OpenOptions::new().write(true).open(self.journal_path()) {
            Ok(journal) => journal.set_len(0).and_then(|()| journal.sync_data()),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Whether the journal lost lines this value wrote: removed (its directory deleted or
    /// replaced), or cut shorter by another hand. The lines would go into a file nobody
    /// reads, or after a hole: the journal is opened again by its path, and the next save
    /// writes the whole state.
    fn journal_lost(&self) -> bool {
        match &self.journal {
            Some(journal) => journal.metadata().is_ok_and(|m| {
                #[cfg(unix)]
                let unlinked = std::os::unix::fs::MetadataExt::nlink(&m) == 0;
                #[cfg(not(unix))]
                let unlinked = false;
                unlinked || m.len() < self.journal_len
            }),
            None => self.journal_len > 0 && !self.journal_path().exists(),
        }
    }

    fn append(&mut self, lines: &[u8]) -> io::Result<()> {
        if self.journal_lost() {
            (self.journal, self.held) = (None, None);
        }
        if self.journal.is_none() {
            let path = self.journal_path();
            let journal = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)?;
            self.sync_directory()?;
            // A last line a crash cut short is cut off: the next line would be glued to it.
            let length = complete(&fs::read(&path)?) as u64;
            if journal.metadata()?.len() != length {
                journal.set_len(length)?;
                journal.sync_data()?;
            }
            (self.journal, self.journal_len) = (Some(journal), length);
        }
        let journal = self.journal.as_mut().expect("opened above");
        // What an append that failed left, if cutting it back failed too, goes first: a
        // line cut short would be glued to the next one, which a load then refuses.
        let before = self.journal_len;
        if journal.metadata()?.len() > before {
            journal.set_len(before)?;
        }
        let appended = journal.write_all(lines).and_then(|()| journal.sync_data());
        match appended {
            Ok(()) => self.journal_len = before + lines.len() as u64,
            Err(_) => {
                let _ = journal.set_len(before);
            }
        }
        appended
    }
}

impl StateFile {
    /// What is saved now, journal included, without taking the lock: for looking at the
    /// state of a watch that may be running (its next save may change it).
    pub fn read(&self) -> Result<SeenEvents, StateError> {
        Ok(self.read_all()?.repositories)
    }

    /// The items pending now, oldest first, journal included, without taking the lock.
    pub fn read_pending(&self) -> Result<Vec<Pending>, StateError> {
        Ok(self.read_all()?.pending)
    }

    /// The saved file with its journal's lines applied. Without the lock, a watch may
    /// replace the file between the two reads: the journal's lines are then not the file's,
    /// and both are read again.
    fn read_all(&self) -> Result<Read, StateError> {
        for _ in 0..100 {
            let before = self.identity();
            let read = self.read_both()?;
            if self.identity() == before {
                return Ok(read);
            }
        }
        Err(self.error("it was replaced during each of 100 reads", None))
    }

    /// Which file the path names now (`None` when none, or not on unix).
    fn identity(&self) -> Option<(u64, u64)> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            fs::metadata(&self.path).ok().map(|m| (m.dev(), m.ino()))
        }
        #[cfg(not(unix))]
        None
    }

    fn read_both(&self) -> Result<Read, StateError> {
        let mut read = self.read_saved()?;
        let Read {
            repositories,
            pending,
            generation,
            newest,
            ..
        } = &mut read;
        *newest = *generation;
        for line in self.read_journal()? {
            // A line of an earlier generation is in the file already: a crash came between
            // the file's replacement and the emptying of the journal.
            if let Some(written) = line.generation() {
                if written < *generation {
                    continue;
                }
                *newest = written.max(*newest);
            }
            match line {
                // Perhaps older than the file's entry (the crash above): never over it.
                Line::First(Recorded {
                    repository_id,
                    seen,
                }) => {
                    repositories.entry(repository_id).or_insert(seen);
                }
                Line::Pending { pending: item, .. } => add_pending(pending, item),
                Line::Saved { saved, .. } => {
                    repositories.insert(saved.repository_id, saved.seen);
                }
                Line::Forgotten { forgotten, .. } => {
                    repositories.remove(&forgotten);
                }
                Line::Settled { settled, .. } => pending.retain(|p| !settled.is(p)),
            }
        }
        Ok(read)
    }

    /// Saves `seen`: what changed, appended to the journal, or the whole state once the
    /// journal would outgrow the file. `touched`: the only repositories whose entries may
    /// have changed or been added (entries may also have been dropped); `None`: any.
    fn save_repositories(
        &mut self,
        seen: &SeenEvents,
        touched: Option<Vec<RepositoryId>>,
    ) -> Result<(), StateError> {
        self.lock()?;
        self.read_pending_once()?;
        if self.journal_lost() {
            (self.journal, self.held) = (None, None);
        }
        // The first save writes the file, which then holds what the journal adds to (and
        // so does a save that finds the file is not the one it wrote).
        let file_is_ours = || fs::metadata(&self.path).is_ok_and(|m| m.len() == self.file_len);
        if let Some(held) = self
            .held
            .as_ref()
            .filter(|_| self.file_len > 0 && file_is_ours())
        {
            let generation = self.generation;
            let (changed, forgotten) = changes(held, seen, touched);
            let saved = changed
                .iter()
                .cloned()
                .map(|saved| Line::Saved { saved, generation });
            let mut lines: Vec<Line> = saved.collect();
            lines.extend(forgotten.iter().map(|&forgotten| Line::Forgotten {
                forgotten,
                generation,
            }));
            // Before the settled ones: an item recorded and settled since the last save.
            lines.extend(self.unwritten.iter().map(|pending| Line::Pending {
                pending: pending.clone(),
                generation,
            }));
            lines.extend(self.settled.iter().map(|settled| Line::Settled {
                settled: settled.clone(),
                generation,
            }));
            let bytes = self.lines(lines)?;
            if self.journal_len + bytes.len() as u64 <= self.file_len.max(JOURNAL_MIN) {
                if !bytes.is_empty() {
                    self.append_bytes(&bytes)?;
                }
                // Changed in place: a copy of the whole state per save would cost what the
                // journal spares.
                // (Unless the append found the journal lost: then the next save is whole.)
                if let Some(held) = &mut self.held {
                    held.extend(changed.iter().map(|r| (r.repository_id, digest(&r.seen))));
                    for id in forgotten {
                        held.remove(&id);
                    }
                }
                self.settled.clear();
                self.unwritten.clear();
                return Ok(());
            }
        }
        let written = Written {
            codearts_watch_state: FORMAT,
            generation: self.generation + 1,
            repositories: seen,
            pending: &self.pending,
        };
        let bytes = serde_json::to_vec(&written).map_err(|e| self.error(e.to_string(), None))?;
        let failed =
            |error: io::Error| self.error(format!("cannot write it: {error}"), Some(error));
        self.replace(&bytes).map_err(failed)?;
        // The rename is the commit: lines from here on are of the new generation, which a
        // load applies over the new file, or over the old one if the rename is lost.
        self.generation += 1;
        self.file_len = bytes.len() as u64;
        self.settled.clear();
        self.unwritten.clear();
        match self.empty_journal() {
            Ok(()) => {
                (self.held, self.journal_len) = (Some(digests(seen)), 0);
                Ok(())
            }
            // Not known durable, the journal not known empty: the next save writes it all,
            // and the journal is opened again, its length read anew.
            Err(error) => {
                (self.held, self.journal) = (None, None);
                Err(self.error(format!("cannot write it: {error}"), Some(error)))
            }
        }
    }

    /// `recorded` as journal lines.
    fn lines(&self, recorded: impl IntoIterator<Item = Line>) -> Result<Vec<u8>, StateError> {
        let mut lines = Vec::new();
        for line in recorded {
            serde_json::to_writer(&mut lines, &line)
                .map_err(|e| self.error(e.to_string(), None))?;
            lines.push(b'\n');
        }
        Ok(lines)
    }

    fn append_bytes(&mut self, lines: &[u8]) -> Result<(), StateError> {
        self.append(lines).map_err(|error| {
            let path = self.journal_path();
            let reason = format!("cannot append to its journal {}: {error}", path.display());
            self.error(reason, Some(error))
        })
    }

    fn append_lines(&mut self, recorded: impl Iterator<Item = Line>) -> Result<(), StateError> {
        let lines = self.lines(recorded)?;
        self.append_bytes(&lines)
    }

    /// The saved file's entries; none when there is no file yet.
    fn read_saved(&self) -> Result<Read, StateError> {
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Ok(Read {
                    codearts_watch_state: FORMAT,
                    generation: 0,
                    repositories: SeenEvents::new(),
                    pending: Vec::new(),
                    newest: 0,
                });
            }
            Err(error) => return Err(self.error(format!("cannot read it: {error}"), Some(error))),
        };
        let corrupt = |detail: String| {
            self.error(
                format!(
                    "is not a watch state ({detail}); it is left as it is: move it and its \
                     journal away to start from nothing (every repository then reports a \
                     baseline), or restore a good copy"
                ),
                None,
            )
        };
        let read: Read = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        if read.codearts_watch_state != FORMAT {
            return Err(corrupt(format!(
                "format {} where this version reads format {FORMAT}",
                read.codearts_watch_state
            )));
        }
        Ok(read)
    }
}

impl StateFile {
    fn read_pending_once(&mut self) -> Result<(), StateError> {
        if !self.pending_read {
            let read = self.read_all()?;
            (self.pending, self.generation) = (read.pending, read.newest);
            self.pending_read = true;
        }
        Ok(())
    }
}

impl WatchStore for StateFile {
    fn load(&mut self) -> Result<SeenEvents, StateError> {
        self.lock()?;
        // Everything is as read now (a second load, by a library, starts over).
        self.journal = None;
        self.settled.clear();
        self.unwritten.clear();
        self.unrecorded_firsts.clear();
        let read = self.read_all()?;
        (self.pending, self.generation, self.pending_read) = (read.pending, read.newest, true);
        let length = |path: &Path| fs::metadata(path).map_or(0, |m| m.len());
        (self.file_len, self.journal_len) = (length(&self.path), length(&self.journal_path()));
        self.held = Some(digests(&read.repositories));
        Ok(read.repositories)
    }

    fn save(&mut self, seen: &SeenEvents) -> Result<(), StateError> {
        self.save_repositories(seen, None)
    }

    /// Looks only at the entries of `handled` and of first entries not recorded (at every
    /// entry when entries were dropped): a save costs what changed, however many
    /// repositories the state holds. An entry of `seen` changed otherwise is not saved by
    /// it; [`WatchStore::save`] looks at every entry.
    fn save_handled(&mut self, seen: &SeenEvents, handled: &[Handled]) -> Result<(), StateError> {
        self.settle(handled)?;
        let mut touched: Vec<RepositoryId> = handled.iter().map(|h| h.repository_id).collect();
        touched.extend(self.unrecorded_firsts.iter().copied());
        self.save_repositories(seen, Some(touched))?;
        self.unrecorded_firsts.clear();
        Ok(())
    }

    fn record_new(&mut self, first: &[(RepositoryId, LastSeen)]) -> Result<(), StateError> {
        self.lock()?;
        let lines = first
            .iter()
            .map(|(repository_id, seen)| Line::First(Recorded::new(*repository_id, seen)));
        if let Err(error) = self.append_lines(lines) {
            self.unrecorded_firsts
                .extend(first.iter().map(|(id, _)| *id));
            return Err(error);
        }
        if let Some(held) = &mut self.held {
            for (repository_id, seen) in first {
                held.entry(*repository_id).or_insert_with(|| digest(seen));
            }
        }
        Ok(())
    }

    /// Kept in memory even when the journal cannot take them: the next save that succeeds
    /// writes them.
    fn record_pending(&mut self, pending: &[Pending]) -> Result<(), StateError> {
        self.lock()?;
        self.read_pending_once()?;
        for item in pending {
            add_pending(&mut self.pending, item.clone());
        }
        let generation = self.generation;
        let lines = pending.iter().map(|item| Line::Pending {
            pending: item.clone(),
            generation,
        });
        self.append_lines(lines).inspect_err(|_| {
            for item in pending {
                add_pending(&mut self.unwritten, item.clone());
            }
        })
    }

    fn load_pending(&mut self) -> Result<Vec<Pending>, StateError> {
        Ok(self.pending.clone())
    }

    /// Written by the next save.
    fn give_up(&mut self, given_up: &[Handled]) -> Result<(), StateError> {
        self.settle(given_up)
    }
}

impl StateFile {
    /// Takes the pending items of `events` out, for the next save to write.
    fn settle(&mut self, events: &[Handled]) -> Result<(), StateError> {
        self.read_pending_once()?;
        let (settled, pending) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| events.iter().any(|e| p.matches(e)));
        self.pending = pending;
        let settled: Vec<Pending> = settled;
        self.settled.extend(
            settled
                .iter()
                .map(|p| Recorded::new(p.repository_id, &p.seen())),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests;

/// Adds `item` to `pending` unless its event is there already.
fn add_pending(pending: &mut Vec<Pending>, item: Pending) {
    let seen = item.seen();
    if !pending
        .iter()
        .any(|p| p.repository_id == item.repository_id && p.seen() == seen)
    {
        pending.push(item);
    }
}

/// The length of `bytes` up to the end of its last complete line.
fn complete(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |end| end + 1)
}

/// A digest of an entry, to tell whether it changed.
fn digest(seen: &LastSeen) -> u64 {
    let mut hasher = DefaultHasher::new();
    seen.hash(&mut hasher);
    hasher.finish()
}

/// The entries of `seen` that `held` lacks or holds otherwise, and the repositories `held`
/// has that `seen` dropped. Only `touched` can have changed, or been added: unless entries
/// were dropped too (which the counts tell), only they are looked at.
fn changes(
    held: &HashMap<RepositoryId, u64>,
    seen: &SeenEvents,
    touched: Option<Vec<RepositoryId>>,
) -> (Vec<Recorded>, Vec<RepositoryId>) {
    let differs = |id: &RepositoryId, entry: &LastSeen| held.get(id) != Some(&digest(entry));
    if let Some(mut touched) = touched {
        touched.sort_unstable();
        touched.dedup();
        let changed: Vec<Recorded> = touched
            .iter()
            .filter_map(|id| seen.get_key_value(id))
            .filter(|&(id, entry)| differs(id, entry))
            .map(|(id, entry)| Recorded::new(*id, entry))
            .collect();
        let added = changed
            .iter()
            .filter(|r| !held.contains_key(&r.repository_id))
            .count();
        if held.len() + added == seen.len() {
            return (changed, Vec::new());
        }
    }
    let changed = seen
        .iter()
        .filter(|&(id, entry)| differs(id, entry))
        .map(|(id, entry)| Recorded::new(*id, entry))
        .collect();
    let forgotten = held
        .keys()
        .filter(|id| !seen.contains_key(id))
        .copied()
        .collect();
    (changed, forgotten)
}

fn digests(seen: &SeenEvents) -> HashMap<RepositoryId, u64> {
    seen.iter()
        .map(|(id, entry)| (*id, digest(entry)))
        .collect()
}
