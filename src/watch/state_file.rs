//! [`StateFile`]: the watch state in a JSON file replaced atomically (temporary file, fsync,
//! rename, fsync of the directory), and first entries in a journal beside it, appended and
//! fsynced before their baselines are reported.

use std::{
    fs,
    io::{self, Write},
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use super::state::{LastSeen, SeenEvents, StateError, WatchStore};
use crate::RepositoryId;

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

/// One line of the journal.
#[derive(Serialize, Deserialize)]
struct Recorded {
    repository_id: RepositoryId,
    #[serde(flatten)]
    seen: LastSeen,
}

/// A JSON file: `{"codearts_watch_state": 1, "repositories": {"<id>": {"created_at", "ref"}}}`,
/// and beside it `<name>.journal`, one JSON line per repository recorded since the last save.
///
/// A missing file is an empty state (the first run); anything else that cannot be read is an
/// error naming the file. Each save writes a temporary file beside it, fsyncs it, renames it
/// over the old one and fsyncs the directory (after a crash the file is the old state or the
/// new one, never a mix), then empties the journal. A journal line cut short by a crash is
/// ignored; the entries it held were not reported yet.
#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
    journal: Option<fs::File>,
}

impl StateFile {
    /// The state kept at `path` (nothing is read until the watch starts).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            journal: None,
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

    fn journal_path(&self) -> PathBuf {
        self.sibling(|name| format!("{name}.journal"))
    }

    fn directory(&self) -> &Path {
        match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        }
    }

    /// Fsyncs the directory, which makes a rename or a new file in it durable.
    fn sync_directory(&self) -> io::Result<()> {
        #[cfg(unix)]
        fs::File::open(self.directory())?.sync_all()?;
        Ok(())
    }

    /// The journal's entries, in order; a last line cut short by a crash is left out.
    fn read_journal(&self) -> Result<Vec<Recorded>, StateError> {
        let path = self.journal_path();
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => {
                let reason = format!("cannot read its journal {}: {error}", path.display());
                return Err(self.error(reason, Some(error)));
            }
        };
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        complete
            .lines()
            .enumerate()
            .map(|(index, line)| {
                serde_json::from_str(line).map_err(|e| {
                    let reason = format!(
                        "its journal {} is not a watch journal (line {}: {e}); it is left as \
                         it is: move both away to start from nothing",
                        path.display(),
                        index + 1
                    );
                    self.error(reason, None)
                })
            })
            .collect()
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
        self.sync_directory()?;
        // Everything the journal held is in the file now.
        match &self.journal {
            Some(journal) => journal.set_len(0).and_then(|()| journal.sync_data()),
            None => match fs::OpenOptions::new().write(true).open(self.journal_path()) {
                Ok(journal) => journal.set_len(0).and_then(|()| journal.sync_data()),
                Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(error) => Err(error),
            },
        }
    }

    fn append(&mut self, lines: &[u8]) -> io::Result<()> {
        if self.journal.is_none() {
            let journal = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.journal_path())?;
            self.sync_directory()?;
            self.journal = Some(journal);
        }
        let journal = self.journal.as_mut().expect("opened above");
        journal.write_all(lines)?;
        journal.sync_data()
    }
}

impl StateFile {
    /// The saved file's entries; none when there is no file yet.
    fn read_saved(&self) -> Result<SeenEvents, StateError> {
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
}

impl WatchStore for StateFile {
    fn load(&mut self) -> Result<SeenEvents, StateError> {
        let mut seen = self.read_saved()?;
        for Recorded {
            repository_id,
            seen: recorded,
        } in self.read_journal()?
        {
            // A journal left by a crash between a save and the emptying of the journal may
            // hold entries the save already has, perhaps older ones.
            seen.entry(repository_id).or_insert(recorded);
        }
        Ok(seen)
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

    fn record_new(&mut self, first: &[(RepositoryId, LastSeen)]) -> Result<(), StateError> {
        let mut lines = Vec::new();
        for (repository_id, seen) in first {
            let line = Recorded {
                repository_id: *repository_id,
                seen: seen.clone(),
            };
            serde_json::to_writer(&mut lines, &line)
                .map_err(|e| self.error(e.to_string(), None))?;
            lines.push(b'\n');
        }
        self.append(&lines).map_err(|error| {
            let path = self.journal_path();
            let reason = format!("cannot append to its journal {}: {error}", path.display());
            self.error(reason, Some(error))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Timestamp;

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

    fn entry(id: u32, second: u32) -> (RepositoryId, LastSeen) {
        let seen = LastSeen {
            created_at: Some(Timestamp::from(format!("2026-01-01T00:00:{second:02}Z"))),
            git_ref: Some("main".into()),
        };
        (RepositoryId::new(id).unwrap(), seen)
    }

    #[test]
    fn recorded_entries_are_loaded_until_a_save_takes_them_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut file = StateFile::new(&path);
        file.record_new(&[entry(1, 1), entry(2, 2)]).unwrap();
        file.record_new(&[entry(3, 3)]).unwrap();
        // As after a crash: nothing saved yet, the journal alone.
        let expected: SeenEvents = [entry(1, 1), entry(2, 2), entry(3, 3)].into();
        assert_eq!(StateFile::new(&path).load().unwrap(), expected);
        file.save(&expected).unwrap();
        let journal = dir.path().join("state.json.journal");
        assert_eq!(
            fs::metadata(&journal).unwrap().len(),
            0,
            "emptied by the save"
        );
        assert_eq!(StateFile::new(&path).load().unwrap(), expected);
    }

    #[test]
    fn a_journal_never_overrides_the_saved_state_and_a_cut_last_line_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        StateFile::new(&path).save(&[entry(1, 9)].into()).unwrap();
        // A crash between a save and the emptying of the journal, then one mid-append.
        let journal = dir.path().join("state.json.journal");
        let line = |id, second| {
            let (repository_id, seen) = entry(id, second);
            serde_json::to_string(&Recorded {
                repository_id,
                seen,
            })
            .unwrap()
        };
        let cut = line(3, 3);
        let text = format!("{}\n{}\n{}", line(1, 1), line(2, 2), &cut[..cut.len() / 2]);
        fs::write(&journal, text).unwrap();
        let expected: SeenEvents = [entry(1, 9), entry(2, 2)].into();
        assert_eq!(StateFile::new(&path).load().unwrap(), expected);

        fs::write(
            &journal,
            format!("{}\nnot json\n{}\n", line(1, 1), line(2, 2)),
        )
        .unwrap();
        let error = StateFile::new(&path).load().unwrap_err().to_string();
        assert!(
            error.contains("state.json.journal") && error.contains("line 2"),
            "{error}"
        );
    }
}
