//! [`StateDir`]: the state of one replica of a fleet, in a directory the fleet shares. Each
//! replica writes only its own file there (`shard-K.json`, a [`StateFile`]) and, at start,
//! reads its siblings' files too, so that an id that moved between shards keeps its last
//! event: a push made while it moved is reported as a push, not taken for a baseline. Where
//! several files hold an id, the one saved last wins (a replica that watched it until now
//! knows better than a file left from an earlier layout). Ids this replica does not watch
//! are left out, so its file holds its own shard only.

use std::{
    fs,
    path::{Path, PathBuf},
    time::SystemTime,
};

use super::{
    StateFile,
    state::{LastSeen, SeenEvents, StateError, WatchStore},
};
use crate::RepositoryId;

/// A replica's state in the fleet's directory.
pub struct StateDir {
    dir: PathBuf,
    own: StateFile,
    keep: Box<dyn Fn(RepositoryId) -> bool + Send>,
}

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
            keep: Box::new(keep),
        }
    }

    /// The replicas' state files in the directory, oldest save first.
    fn files(&self) -> Result<Vec<(SystemTime, PathBuf)>, StateError> {
        let unreadable = |error: std::io::Error| {
            StateError::new(
                self.dir.display().to_string(),
                format!("cannot list the state directory: {error}"),
                Some(Box::new(error)),
            )
        };
        let mut files = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(unreadable)? {
            let path = entry.map_err(unreadable)?.path();
            if !is_state_file(&path) {
                continue;
            }
            let saved = fs::metadata(&path)
                .and_then(|m| m.modified())
                .unwrap_or(SystemTime::UNIX_EPOCH);
            files.push((saved, path));
        }
        files.sort();
        Ok(files)
    }
}

/// `shard-K.json`, K a number.
fn is_state_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|name| name.to_str())
        .and_then(|name| name.strip_prefix("shard-")?.strip_suffix(".json"))
        .is_some_and(|index| !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit()))
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
        // Its own file first: locked, with its journal.
        let own = self.own.load()?;
        let mut merged = SeenEvents::new();
        for (_, path) in self.files()? {
            let entries = if path == self.own.path() {
                own.clone()
            } else {
                StateFile::new(&path).read()?
            };
            merged.extend(entries.into_iter().filter(|(id, _)| (self.keep)(*id)));
        }
        // Its journal's first entries, when its file was never saved.
        for (id, seen) in own {
            if (self.keep)(id) {
                merged.entry(id).or_insert(seen);
            }
        }
        Ok(merged)
    }

    fn save(&mut self, seen: &SeenEvents) -> Result<(), StateError> {
        self.own.save(seen)
    }

    fn record_new(&mut self, first: &[(RepositoryId, LastSeen)]) -> Result<(), StateError> {
        self.own.record_new(first)
    }
}
