//! What a watch remembers across restarts: the last event it reported for each repository.
//! A [`WatchStore`] keeps it; [`StateFile`] keeps it in a JSON file that is replaced
//! atomically (temporary file, fsync, rename, fsync of the directory).

use std::{
    collections::HashMap,
    fs,
    io::{self, Write},
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use crate::{PushEvent, RepositoryId, Timestamp};

/// What tells one push event from the next: its time and its ref.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LastSeen {
    /// `created_at` of the event.
    pub created_at: Option<Timestamp>,
    /// `ref` of the event.
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
}

impl LastSeen {
    /// The identity of `event`.
    pub fn of(event: &PushEvent) -> Self {
        Self {
            created_at: event.created_at.clone(),
            git_ref: event.ref_.clone(),
        }
    }
}

/// The last event reported for each repository.
pub type SeenEvents = HashMap<RepositoryId, LastSeen>;

/// Where a watch keeps what it reported, so that a restart reports the pushes made while it
/// was down. `save` is called from a blocking thread, at most once per flush period.
pub trait WatchStore: Send + 'static {
    /// What was saved; empty the first time. An unreadable or corrupt store is an error, never
    /// an empty state: that would report every repository as a baseline and lose pushes.
    fn load(&mut self) -> Result<SeenEvents, StateError>;
    /// Replaces what is saved with `seen`.
    fn save(&mut self, seen: &SeenEvents) -> Result<(), StateError>;
}

/// A store could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("{store}: {reason}")]
pub struct StateError {
    store: String,
    reason: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl StateError {
    /// An error of the store described by `store` (for example "state file /var/lib/x").
    pub fn new(
        store: impl Into<String>,
        reason: impl Into<String>,
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            store: store.into(),
            reason: reason.into(),
            source,
        }
    }
}

/// The format this version writes and reads.
const FORMAT: u32 = 1;

#[derive(Serialize)]
struct Written<'a> {
    codearts_watch_state: u32,
    repositories: &'a SeenEvents,
}

#[derive(Deserialize)]
struct Read {
    codearts_watch_state: u32,
    repositories: SeenEvents,
}

/// A JSON file: `{"codearts_watch_state": 1, "repositories": {"<id>": {"created_at", "ref"}}}`.
///
/// A missing file is an empty state (the first run); anything else that cannot be read is an
/// error naming the file. Each save writes a temporary file beside it, fsyncs it, renames it
/// over the old one and fsyncs the directory: after a crash the file is the old state or the
/// new one, never a mix.
#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    /// The state kept at `path` (nothing is read until the watch starts).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
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

    fn temporary(&self) -> PathBuf {
        let name = self.path.file_name().unwrap_or_default().to_string_lossy();
        self.path
            .with_file_name(format!(".{name}.{}.tmp", std::process::id()))
    }

    fn write(&self, bytes: &[u8]) -> io::Result<()> {
        let temporary = self.temporary();
        let written = fs::File::create(&temporary).and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        });
        if let Err(error) = written.and_then(|()| fs::rename(&temporary, &self.path)) {
            let _ = fs::remove_file(&temporary);
            return Err(error);
        }
        // The rename itself is durable only once the directory is.
        #[cfg(unix)]
        {
            let directory = match self.path.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent,
                _ => Path::new("."),
            };
            fs::File::open(directory)?.sync_all()?;
        }
        Ok(())
    }
}

impl WatchStore for StateFile {
    fn load(&mut self) -> Result<SeenEvents, StateError> {
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(SeenEvents::new()),
            Err(error) => return Err(self.error(format!("cannot read it: {error}"), Some(error))),
        };
        let corrupt = |detail: String| {
            self.error(
                format!(
                    "is not a watch state ({detail}); it is left as it is: \
                     move it away to start from nothing (every repository then reports a \
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
        Ok(read.repositories)
    }

    fn save(&mut self, seen: &SeenEvents) -> Result<(), StateError> {
        let written = Written {
            codearts_watch_state: FORMAT,
            repositories: seen,
        };
        let bytes = serde_json::to_vec(&written).map_err(|e| self.error(e.to_string(), None))?;
        self.write(&bytes)
            .map_err(|error| self.error(format!("cannot write it: {error}"), Some(error)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(n: u32) -> SeenEvents {
        (1..=n)
            .map(|id| {
                let event = LastSeen {
                    created_at: Some(Timestamp::from(format!("2026-01-01T00:00:{id:02}Z"))),
                    git_ref: Some("main".into()),
                };
                (RepositoryId::new(id).unwrap(), event)
            })
            .collect()
    }

    #[test]
    fn a_missing_file_is_an_empty_state_and_saves_round_trip_leaving_one_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = StateFile::new(dir.path().join("state.json"));
        assert!(file.load().unwrap().is_empty());
        file.save(&seen(3)).unwrap();
        file.save(&seen(5)).unwrap();
        assert_eq!(file.load().unwrap(), seen(5));
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["state.json"]);
    }

    #[test]
    fn what_is_not_a_state_is_an_error_naming_the_file_and_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let cases = [
            ("", "EOF while parsing"),
            ("[1, 2]", "invalid type"),
            (
                r#"{"codearts_watch_state": 2, "repositories": {}}"#,
                "format 2",
            ),
            (
                r#"{"codearts_watch_state": 1, "repositories": {"0": {}}}"#,
                "from 1 to",
            ),
        ];
        for (text, why) in cases {
            fs::write(&path, text).unwrap();
            let error = StateFile::new(&path).load().unwrap_err().to_string();
            assert!(error.contains(&path.display().to_string()), "{error}");
            assert!(
                error.contains("is not a watch state") && error.contains(why),
                "{error}"
            );
            assert_eq!(fs::read_to_string(&path).unwrap(), text, "left as it was");
        }
    }

    #[test]
    fn an_unwritable_place_is_an_error_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("is-a-directory");
        fs::create_dir(&path).unwrap();
        let error = StateFile::new(&path)
            .save(&seen(1))
            .unwrap_err()
            .to_string();
        assert!(error.contains("cannot write it"), "{error}");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
