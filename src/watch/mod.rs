//! A stream of new push events across many repositories: polling spread over the interval,
//! bounded concurrency, per-repository backoff, errors as items, no duplicates.

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashMap},
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use tokio::{
    sync::mpsc,
    task::JoinSet,
    time::{Instant, sleep_until},
};

use crate::{Client, Error, PushEvent, RepositoryId, Retry, Timestamp};

mod options;
pub use options::WatchOptions;

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
    /// with backoff; any other answer (404, 403, ...) is reported once, when the repository
    /// starts answering it, and polled at the normal cadence. The stream goes on.
    Error {
        /// The repository.
        repository_id: RepositoryId,
        /// What went wrong.
        error: Error,
    },
    /// A repository that had been answering an error (reported once) answers normally again.
    Recovered {
        /// The repository.
        repository_id: RepositoryId,
    },
}

/// Polling figures, for benchmarks and dashboards.
#[derive(Clone, Debug, Default)]
pub struct WatchStats {
    /// Polls finished.
    pub polls: u64,
    /// Polls that failed.
    pub errors: u64,
    /// How late each recent poll started after its scheduled time (up to the last 100,000).
    pub lag: Vec<Duration>,
}

const LAG_SAMPLES: usize = 100_000;

enum Command {
    Add(RepositoryId),
    Remove(RepositoryId),
}

/// Adds and removes repositories while the watch runs. Cheap to clone.
#[derive(Clone, Debug)]
pub struct WatchHandle {
    commands: mpsc::UnboundedSender<Command>,
    stats: Arc<Mutex<WatchStats>>,
}

impl WatchHandle {
    /// Starts watching `repository_id` (its first observation is a baseline).
    pub fn add(&self, repository_id: RepositoryId) {
        let _ = self.commands.send(Command::Add(repository_id));
    }

    /// Stops watching `repository_id`; a poll in flight is discarded.
    pub fn remove(&self, repository_id: RepositoryId) {
        let _ = self.commands.send(Command::Remove(repository_id));
    }

    /// A copy of the figures so far.
    pub fn stats(&self) -> WatchStats {
        self.stats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// The stream of [`WatchItem`]s; polling stops when it is dropped.
pub struct WatchStream {
    items: mpsc::Receiver<WatchItem>,
    task: tokio::task::JoinHandle<()>,
}

impl futures_core::Stream for WatchStream {
    type Item = WatchItem;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<WatchItem>> {
        self.items.poll_recv(cx)
    }
}

impl WatchStream {
    /// The next item; `None` when a `once` watch is done.
    pub async fn next(&mut self) -> Option<WatchItem> {
        self.items.recv().await
    }
}

impl Drop for WatchStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Client {
    /// Watches `repositories` for new pushes. Must be called within a tokio runtime.
    ///
    /// A new push is a change of `created_at` or `ref` from the last event seen for that
    /// repository. The client's own retries add to the watch's backoff: a client built with
    /// [`crate::RetryPolicy::none`] leaves backoff to the watch alone.
    pub fn watch(
        &self,
        options: WatchOptions,
        repositories: impl IntoIterator<Item = RepositoryId>,
    ) -> (WatchHandle, WatchStream) {
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (item_tx, items) = mpsc::channel(options.concurrency.max(64));
        let stats = Arc::new(Mutex::new(WatchStats::default()));
        let mut watcher = Watcher {
            client: self.clone(),
            rng: fastrand::Rng::new(),
            repos: HashMap::new(),
            due: BinaryHeap::new(),
            generation: 0,
            options,
            stats: stats.clone(),
            items: item_tx,
        };
        for id in repositories {
            watcher.add(id);
        }
        let task = tokio::spawn(watcher.run(command_rx));
        (WatchHandle { commands, stats }, WatchStream { items, task })
    }
}

/// What is known of one repository.
struct RepoState {
    /// Tells a poll of this repository from one of an earlier, removed watch of it.
    generation: u64,
    /// `(created_at, ref)` of the last event seen.
    last: Option<(Option<Timestamp>, Option<String>)>,
    failures: u32,
    /// The status (0 without one) of the error answer it keeps giving, reported once.
    answering: Option<u16>,
}

struct Watcher {
    client: Client,
    rng: fastrand::Rng,
    repos: HashMap<RepositoryId, RepoState>,
    /// Next poll times: (when, repository, generation).
    due: BinaryHeap<Reverse<(Instant, RepositoryId, u64)>>,
    generation: u64,
    options: WatchOptions,
    stats: Arc<Mutex<WatchStats>>,
    items: mpsc::Sender<WatchItem>,
}

type PollResult = (RepositoryId, u64, Instant, Result<PushEvent, Error>);

impl Watcher {
    fn add(&mut self, id: RepositoryId) {
        if self.repos.contains_key(&id) {
            return;
        }
        self.generation += 1;
        let first = if self.options.jitter && !self.options.once {
            self.jitter(self.options.interval)
        } else {
            Duration::ZERO
        };
        self.repos.insert(
            id,
            RepoState {
                generation: self.generation,
                last: None,
                failures: 0,
                answering: None,
            },
        );
        self.due
            .push(Reverse((Instant::now() + first, id, self.generation)));
    }

    fn jitter(&mut self, span: Duration) -> Duration {
        let nanos = u64::try_from(span.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(self.rng.u64(0..nanos.max(1)))
    }

    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut polls: JoinSet<PollResult> = JoinSet::new();
        let mut commands_open = true;
        loop {
            if self.options.once && self.due.is_empty() && polls.is_empty() {
                return;
            }
            // Drop entries of removed repositories so they never hold up the schedule.
            while let Some(Reverse((_, id, generation))) = self.due.peek() {
                if self
                    .repos
                    .get(id)
                    .is_some_and(|r| r.generation == *generation)
                {
                    break;
                }
                self.due.pop();
            }
            let next_due = self.due.peek().map(|Reverse((when, _, _))| *when);
            let can_start = polls.len() < self.options.concurrency;
            tokio::select! {
                command = commands.recv(), if commands_open => match command {
                    Some(Command::Add(id)) => self.add(id),
                    Some(Command::Remove(id)) => { self.repos.remove(&id); }
                    None => commands_open = false,
                },
                () = sleep_until(next_due.unwrap_or_else(Instant::now)), if can_start && next_due.is_some() => {
                    if let Some(Reverse((scheduled, id, generation))) = self.due.pop() {
                        self.start(&mut polls, scheduled, id, generation);
                    }
                }
                Some(done) = polls.join_next(), if !polls.is_empty() => {
                    if let Ok(result) = done
                        && !self.finish(result).await
                    {
                        return; // the stream was dropped
                    }
                }
                // Nothing due, nothing in flight, and nobody left to add a repository.
                else => return,
            }
        }
    }

    fn start(
        &mut self,
        polls: &mut JoinSet<PollResult>,
        scheduled: Instant,
        id: RepositoryId,
        generation: u64,
    ) {
        if self
            .repos
            .get(&id)
            .is_none_or(|r| r.generation != generation)
        {
            return;
        }
        let lag = Instant::now().saturating_duration_since(scheduled);
        {
            let mut stats = self
                .stats
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if stats.lag.len() >= LAG_SAMPLES {
                let half = LAG_SAMPLES / 2;
                stats.lag.drain(..half); // amortised: keep the most recent samples
            }
            stats.lag.push(lag);
        }
        let client = self.client.clone();
        polls.spawn(async move { (id, generation, scheduled, client.last_push_event(id).await) });
    }

    /// Records a poll's outcome, schedules the next one, emits what is new. `false` when
    /// nobody listens any more.
    async fn finish(&mut self, (id, generation, scheduled, result): PollResult) -> bool {
        {
            let mut stats = self
                .stats
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            stats.polls += 1;
            stats.errors += u64::from(result.is_err());
        }
        let interval = self.options.interval;
        let max_backoff = self.options.max_backoff;
        let Some(state) = self
            .repos
            .get_mut(&id)
            .filter(|r| r.generation == generation)
        else {
            return true; // removed while in flight
        };
        let recovered = result.is_ok() && state.answering.take().is_some();
        let (item, next) = match result {
            Ok(event) => {
                state.failures = 0;
                let seen = (event.created_at.clone(), event.ref_.clone());
                let baseline = state.last.is_none();
                let changed = state.last.as_ref() != Some(&seen);
                state.last = Some(seen);
                // Keep the cadence: the next poll is one interval after this one was due.
                let next = (scheduled + interval).max(Instant::now());
                let report = changed && (!baseline || self.options.baselines);
                let item = report.then_some(WatchItem::Push {
                    repository_id: id,
                    event,
                    baseline,
                });
                (item, next)
            }
            Err(error) => {
                // Back off only for trouble (the same rule as the call loop's retries): an
                // answer such as 404 keeps the cadence.
                let mut report = true;
                let next = match error.retry() {
                    Retry::Stop => {
                        let status = Some(error.status().unwrap_or(0));
                        report = state.answering != status;
                        state.answering = status;
                        (scheduled + interval).max(Instant::now())
                    }
                    decision => {
                        state.answering = None;
                        state.failures = state.failures.saturating_add(1);
                        let wait = match decision {
                            // Honoured as given, within the backoff cap.
                            Retry::After(asked) => asked.min(max_backoff),
                            _ => {
                                let exponent = state.failures.saturating_sub(1).min(16);
                                interval.saturating_mul(1 << exponent).min(max_backoff)
                            }
                        };
                        Instant::now() + wait + self.jitter(wait / 10)
                    }
                };
                let item = report.then_some(WatchItem::Error {
                    repository_id: id,
                    error,
                });
                (item, next)
            }
        };
        if !self.options.once {
            self.due.push(Reverse((next, id, generation)));
        }
        if recovered {
            let item = WatchItem::Recovered { repository_id: id };
            if self.items.send(item).await.is_err() {
                return false;
            }
        }
        match item {
            Some(item) => self.items.send(item).await.is_ok(),
            None => !self.items.is_closed(),
        }
    }
}
