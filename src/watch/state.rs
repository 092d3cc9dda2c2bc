//! What a watch remembers across restarts: the last event it reported for each repository,
//! kept by a [`WatchStore`] (such as [`super::StateFile`]).

use std::{collections::HashMap, time::SystemTime};

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

/// An event the watch observed and its consumer handled: what a store with a history
/// (such as the events table of `postgres::PgStore`, feature `postgres`) records, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Handled {
    /// The repository.
    pub repository_id: RepositoryId,
    /// The event.
    pub seen: LastSeen,
    /// When the poll that found it was answered.
    pub observed_at: SystemTime,
    /// The repository's first observation, not a push.
    pub baseline: bool,
}

impl Handled {
    /// `seen` of `repository_id`, a push observed now.
    pub fn new(repository_id: RepositoryId, seen: LastSeen) -> Self {
        Self {
            repository_id,
            seen,
            observed_at: SystemTime::now(),
            baseline: false,
        }
    }
}

/// An item held for its consumer ([`super::WatchOptions::hold_until_handled`]) and recorded
/// before it was returned: an outbox entry. A store that keeps them
/// ([`WatchStore::record_pending`]) gives them to the next watch, which returns each again,
/// before it polls that repository, until the consumer handles it or gives it up
/// ([`super::Deferred`]). So a push the consumer was still working on when the watch died is
/// not lost when its repository has a newer one by the next watch.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Pending {
    /// The repository.
    pub repository_id: RepositoryId,
    /// The event as the service returned it.
    pub event: PushEvent,
    /// When the poll that found it was answered.
    pub observed_at: SystemTime,
    /// The repository's first observation, not a push.
    pub baseline: bool,
}

impl Pending {
    /// `event` of `repository_id`, observed at `observed_at`.
    pub fn new(
        repository_id: RepositoryId,
        event: PushEvent,
        observed_at: SystemTime,
        baseline: bool,
    ) -> Self {
        Self {
            repository_id,
            event,
            observed_at,
            baseline,
        }
    }

    /// What tells it from the repository's other events.
    pub fn seen(&self) -> LastSeen {
        LastSeen::of(&self.event)
    }

    /// Whether `handled` is this entry's event.
    pub fn matches(&self, handled: &Handled) -> bool {
        self.repository_id == handled.repository_id && self.seen() == handled.seen
    }
}

/// Where a watch keeps what it reported, so that a restart reports the pushes made while it
/// was down. `save` is called from a blocking thread, at most once per flush period.
pub trait WatchStore: Send + 'static {
    /// What was saved; empty the first time. An unreadable or corrupt store is an error, never
    /// an empty state: that would report every repository as a baseline and lose pushes.
    fn load(&mut self) -> Result<SeenEvents, StateError>;
    /// Replaces what is saved with `seen`.
    fn save(&mut self, seen: &SeenEvents) -> Result<(), StateError>;

    /// Saves what was handled since the last successful save: `seen` is the whole map (as
    /// for [`WatchStore::save`]), `handled` the events in the order the consumer handled
    /// them, a repository possibly more than once. A failed save is retried with the same
    /// events and those handled since. The default saves `seen`.
    fn save_handled(&mut self, seen: &SeenEvents, handled: &[Handled]) -> Result<(), StateError> {
        let _ = handled;
        self.save(seen)
    }

    /// Makes durable, before their baselines are reported, the entries of repositories the
    /// store has never held; `load` must return them until a `save` includes them. The
    /// default keeps them only at the next `save`: a crash before it makes those repositories'
    /// next observations baselines again, and a push made meanwhile looks like one.
    fn record_new(&mut self, first: &[(RepositoryId, LastSeen)]) -> Result<(), StateError> {
        let _ = first;
        Ok(())
    }

    /// Makes `pending` (items held for the consumer) durable before they are returned; from
    /// then on [`WatchStore::load_pending`] returns them, oldest first, until a save has
    /// their event in `handled`, or [`WatchStore::give_up`] names it. The default keeps none:
    /// a crash while an item is held loses it if its repository has a newer push by the next
    /// watch.
    fn record_pending(&mut self, pending: &[Pending]) -> Result<(), StateError> {
        let _ = pending;
        Ok(())
    }

    /// The items recorded by [`WatchStore::record_pending`] and not handled or given up yet,
    /// oldest first; called once, after [`WatchStore::load`].
    fn load_pending(&mut self) -> Result<Vec<Pending>, StateError> {
        Ok(Vec::new())
    }

    /// The consumer gave these pending items up (for example a webhook refused them for
    /// good): they are no longer pending, and not handled either; durable by the next save
    /// at the latest.
    fn give_up(&mut self, given_up: &[Handled]) -> Result<(), StateError> {
        let _ = given_up;
        Ok(())
    }
}

/// A boxed store is a store, so that a program can choose one at run time.
impl<S: WatchStore + ?Sized> WatchStore for Box<S> {
    fn load(&mut self) -> Result<SeenEvents, StateError> {
        (**self).load()
    }

    fn save(&mut self, seen: &SeenEvents) -> Result<(), StateError> {
        (**self).save(seen)
    }

    fn save_handled(&mut self, seen: &SeenEvents, handled: &[Handled]) -> Result<(), StateError> {
        (**self).save_handled(seen, handled)
    }

    fn record_new(&mut self, first: &[(RepositoryId, LastSeen)]) -> Result<(), StateError> {
        (**self).record_new(first)
    }

    fn record_pending(&mut self, pending: &[Pending]) -> Result<(), StateError> {
        (**self).record_pending(pending)
    }

    fn load_pending(&mut self) -> Result<Vec<Pending>, StateError> {
        (**self).load_pending()
    }

    fn give_up(&mut self, given_up: &[Handled]) -> Result<(), StateError> {
        (**self).give_up(given_up)
    }
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
