//! What the embedded server answers with: push events per repository and commits per
//! (namespace, project). By default the documents' own examples.

use std::{collections::HashMap, path::Path};

use serde::{Deserialize, Serialize};

use crate::{Commit, ConfigKind, Error, PushEvent, RepositoryId};

/// The fixtures file format (JSON); [`Fixtures::documented`] shows it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FixturesFile {
    #[serde(default)]
    push_events: Vec<PushEventFixture>,
    #[serde(default)]
    commits: Vec<CommitsFixture>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PushEventFixture {
    repository_id: RepositoryId,
    event: PushEvent,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommitsFixture {
    namespace: String,
    project: String,
    commits: Vec<Commit>,
}

/// Push events and commits the server knows.
#[derive(Clone, Debug, Default)]
pub struct Fixtures {
    push_events: HashMap<RepositoryId, PushEvent>,
    commits: HashMap<(String, String), Vec<Commit>>,
}

const DOCUMENTED: &str = include_str!("fixtures.json");

impl Fixtures {
    /// Nothing: every repository and project is unknown (404).
    pub fn empty() -> Self {
        Self::default()
    }

    /// The documents' examples: repository 2112036131, and namespace
    /// `3e1f6634946144c2b1ccb46fb8152b8f` with project `test` (under any project id).
    pub fn documented() -> Self {
        Self::from_json(DOCUMENTED).expect("the built-in fixtures are valid")
    }

    /// Reads the JSON format of `src/server/fixtures.json`.
    pub fn from_json(text: &str) -> Result<Self, Error> {
        let file: FixturesFile = serde_json::from_str(text)
            .map_err(|e| Error::config(ConfigKind::Fixtures, format!("invalid fixtures: {e}")))?;
        let mut fixtures = Self::empty();
        for f in file.push_events {
            fixtures.push_events.insert(f.repository_id, f.event);
        }
        for f in file.commits {
            fixtures.set_commits(&f.namespace, &f.project, f.commits);
        }
        Ok(fixtures)
    }

    /// Reads a fixtures file.
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::config(
                ConfigKind::Fixtures,
                format!("cannot read fixtures {}: {e}", path.display()),
            )
        })?;
        Self::from_json(&text).map_err(|e| match e {
            Error::Config { kind, message, fix } => Error::Config {
                kind,
                message: format!("{}: {message}", path.display()),
                fix,
            },
            other => other,
        })
    }

    /// Sets the latest push event of a repository.
    pub fn set_push_event(&mut self, repository_id: RepositoryId, event: PushEvent) {
        self.push_events.insert(repository_id, event);
    }

    /// Sets the commits of a project; a `/` in `project` is stored as `:`, as it arrives.
    pub fn set_commits(&mut self, namespace: &str, project: &str, commits: Vec<Commit>) {
        self.commits
            .insert((namespace.to_owned(), project.replace('/', ":")), commits);
    }

    /// The repositories it has a push event for, in order.
    pub fn repositories(&self) -> impl Iterator<Item = RepositoryId> + '_ {
        let mut ids: Vec<RepositoryId> = self.push_events.keys().copied().collect();
        ids.sort_unstable();
        ids.into_iter()
    }

    /// The (namespace, project) pairs it has commits for, in order (`/` stored as `:`).
    pub fn projects(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        let mut pairs: Vec<(&str, &str)> = self
            .commits
            .keys()
            .map(|(namespace, project)| (namespace.as_str(), project.as_str()))
            .collect();
        pairs.sort_unstable();
        pairs.into_iter()
    }

    pub(crate) fn push_event(&self, repository_id: RepositoryId) -> Option<&PushEvent> {
        self.push_events.get(&repository_id)
    }

    pub(crate) fn commits(&self, namespace: &str, project: &str) -> Option<&[Commit]> {
        self.commits
            .get(&(namespace.to_owned(), project.to_owned()))
            .map(Vec::as_slice)
    }
}
