//! A stream of new push events across many repositories: polling spread over the interval,
//! bounded concurrency, backoff only for trouble, errors as items, no duplicates, and with a
//! [`WatchStore`] nothing lost across restarts.
//!
//! # Restarts
//!
//! With a store (for example [`StateFile`]), a repository whose event changed while no watch
//! ran is reported as a new push (`baseline: false`) and one that did not change is silent.
//! Only what the consumer has handled is saved (see [`WatchStream`]), at most one flush
//! period late: after a crash (`kill -9`, power loss) no push is missed, but a push handled
//! in the last flush period may be reported again; after [`WatchStream::close`] nothing is.
//! A repository's first entry is recorded ([`WatchStore::record_new`]) before its baseline is
//! returned, so that a crash right after a baseline cannot turn a later push into a baseline.
//! The rule and its crash cases are in one module, `handled.rs`.
//!
//! # A fleet
//!
//! The account's quota bounds the work, not the machine: one watch polls thousands of
//! repositories a second, far beyond any account's API quota. A fleet of replicas is there
//! for availability, so one of them is active and the others stand by: with the feature
//! `postgres`, the `postgres` module elects the active watcher through a lease in
//! PostgreSQL, fences its writes by the lease's epoch, and records every event once. The
//! active watcher's polls go out only while it holds the lease ([`Leadership`],
//! [`WatchOptions::leadership`]).

use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::{
    Client, Error, PushEvent, RateLimit, RepositoryId, rate_limit::RateLimiter, sync::lock,
};

mod deferred;
mod handled;
mod options;
#[cfg(feature = "postgres")]
pub mod postgres;
mod shard;
mod state;
mod state_file;
mod stats;
mod stream;
mod watcher;

pub use crate::leadership::Leadership;
pub use deferred::Deferred;
pub use options::WatchOptions;
pub use shard::Shard;
pub use state::{Handled, LastSeen, Pending, SeenEvents, StateError, WatchStore};
pub use state_file::StateFile;
pub use stats::{Failures, LagHistogram, RepositoryStates, RoundTime, WatchStats};
pub use stream::WatchStream;
use watcher::{Command, Watcher};

/// One item of a watch.
#[derive(Debug)]
#[non_exhaustive]
pub enum WatchItem {
    /// A push event: the first one seen for the repository (`baseline`) or a new push.
    Push {
        /// The repository.
        repository_id: RepositoryId,
        /// The event as the service returned it.
        event: PushEvent,
        /// The first observation of this repository, not a new push.
        baseline: bool,
    },
    /// A poll failed. Trouble (429, 5xx, transport) is reported on every failure and retried
    /// with backoff (a throttled poll at its next turn: the rate limiter slows them all); any
    /// other answer (404, 403, ...) is reported once, when the repository starts answering
    /// it, and polled at the normal cadence. The stream goes on.
    Error {
        /// The repository.
        repository_id: RepositoryId,
        /// What went wrong.
        error: Error,
    },
    /// A repository that had been failing (an error answer, or trouble) answers normally
    /// again.
    Recovered {
        /// The repository.
        repository_id: RepositoryId,
    },
    /// The store could not be saved; reported once until a save succeeds, and retried at
    /// every flush. The watch goes on, but a restart would report again what was handled
    /// since the last save.
    StateNotSaved {
        /// Why.
        error: StateError,
    },
}

/// Adds and removes repositories while the watch runs. Cheap to clone.
#[derive(Clone, Debug)]
pub struct WatchHandle {
    commands: mpsc::UnboundedSender<Command>,
    stats: Arc<Mutex<WatchStats>>,
    limiter: Option<Arc<RateLimiter>>,
    /// The client's drift log, shared with its clones (`None`: not checked).
    drift: Option<Arc<crate::drift::DriftLog>>,
}

impl WatchHandle {
    /// Starts watching `repository_id`: its first observation is a baseline, unless this
    /// watch saw it before it was removed, or the store remembers it (then a push made
    /// meanwhile is reported as a push).
    pub fn add(&self, repository_id: RepositoryId) {
        let _ = self.commands.send(Command::Add(repository_id));
    }

    /// Stops watching `repository_id`; a poll in flight is discarded. What the watch saw of it
    /// is kept, for a later [`WatchHandle::add`] (one entry per repository ever watched).
    pub fn remove(&self, repository_id: RepositoryId) {
        let _ = self.commands.send(Command::Remove(repository_id));
    }

    /// Stops the watch gracefully: no poll starts any more, those in flight finish and their
    /// items are delivered, then the stream ends. What a poll brought back is not dropped, so
    /// nothing the service answered is missing from the stream (see [`WatchStream::close`]
    /// for dropping what is left at once).
    pub fn stop(&self) {
        let _ = self.commands.send(Command::Stop);
    }

    /// A copy of the figures so far.
    pub fn stats(&self) -> WatchStats {
        let mut stats = lock(&self.stats).clone();
        if let Some(limiter) = &self.limiter {
            stats.allowed_rate = limiter.allowed_rate();
            stats.throttled_answers = limiter.throttled_count();
        }
        if let Some(log) = &self.drift {
            stats.drift = log.summary();
            stats.drift_truncated = log.truncated();
        }
        stats
    }
}

impl Client {
    /// Watches `repositories` for new pushes. Must be called within a tokio runtime.
    ///
    /// A new push is a change of `created_at` or `ref` from the last event seen for that
    /// repository. The client's own retries add to the watch's backoff: a client built with
    /// [`crate::RetryPolicy::none`] leaves backoff to the watch alone.
    ///
    /// The polls follow the client's rate limit ([`crate::ClientBuilder::rate_limit`]), or,
    /// for a client without one, an adaptive limit of the watch's own
    /// ([`WatchOptions::adaptive_rate`]): when the account is throttled, every poll slows
    /// down and the rounds stretch evenly, each repository polled once per round in the
    /// order of its schedule.
    pub fn watch(
        &self,
        options: WatchOptions,
        repositories: impl IntoIterator<Item = RepositoryId>,
    ) -> (WatchHandle, WatchStream) {
        let (handle, stream, _) =
            self.start_watch(options, repositories, SeenEvents::new(), Vec::new());
        (handle, stream)
    }

    /// Like [`Client::watch`], remembering in `store` what was reported so that a restart
    /// loses nothing (see the [module](self) documentation). Fails, before polling, when the
    /// store cannot be read.
    pub fn watch_with_store(
        &self,
        options: WatchOptions,
        repositories: impl IntoIterator<Item = RepositoryId>,
        mut store: impl WatchStore,
    ) -> Result<(WatchHandle, WatchStream), StateError> {
        let seen = store.load()?;
        let pending = store.load_pending()?;
        // A repository is polled from its last pending item on, once its items are handled.
        let mut restored = seen.clone();
        restored.extend(pending.iter().map(|p| (p.repository_id, p.seen())));
        let period = options.flush_every;
        let (handle, stream, report) = self.start_watch(options, repositories, restored, pending);
        let stats = handle.stats.clone();
        let stream = stream.remember(Box::new(store), seen, period, stats, report);
        Ok((handle, stream))
    }

    fn start_watch(
        &self,
        options: WatchOptions,
        repositories: impl IntoIterator<Item = RepositoryId>,
        restored: SeenEvents,
        pending: Vec<Pending>,
    ) -> (
        WatchHandle,
        WatchStream,
        mpsc::WeakSender<handled::Delivery>,
    ) {
        let (commands, command_rx) = mpsc::unbounded_channel();
        let holds = options.hold_until_handled;
        let (item_tx, items) = mpsc::channel(options.concurrency.max(64));
        let stats = Arc::new(Mutex::new(WatchStats {
            started: Some(std::time::Instant::now()),
            ..WatchStats::default()
        }));
        let report = item_tx.downgrade();
        let mut client = match &self.limiter {
            None if options.adaptive_rate => self.with_rate_limit(RateLimit::adaptive()),
            _ => self.clone(),
        };
        client.leadership = options.leadership.clone();
        let limiter = client.limiter.clone();
        let mut watcher = Watcher::new(client, options, restored, pending, stats.clone(), item_tx);
        for id in repositories {
            watcher.add(id);
        }
        let task = tokio::spawn(watcher.run(command_rx));
        let handle = WatchHandle {
            commands,
            stats,
            limiter,
            drift: self.settings.drift.clone(),
        };
        let stream = WatchStream::new(items, task, &handle.commands, holds);
        (handle, stream, report)
    }
}
