//! The polling task: a schedule of due polls, bounded concurrency, backoff only for trouble,
//! and what each repository last showed.

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    sync::mpsc,
    task::JoinSet,
    time::{Instant, sleep_until},
};

use super::{
    WatchItem, WatchOptions, WatchStats,
    handled::Delivery,
    state::{LastSeen, Pending, SeenEvents},
    stats::RepositoryState,
};
use crate::{Client, Error, PushEvent, RepositoryId, Retry, sync::lock};

pub(super) enum Command {
    Add(RepositoryId),
    Remove(RepositoryId),
    /// Start no poll, finish those in flight, then end the stream.
    Stop,
    /// The consumer is done with the item that held this repository's polls.
    Release(RepositoryId),
}

/// What is known of one repository.
struct RepoState {
    /// Tells a poll of this repository from one of an earlier, removed watch of it.
    generation: u64,
    /// The last event seen (by this watch, or by an earlier one if restored).
    last: Option<LastSeen>,
    /// Answered normally at least once since this watch started.
    observed: bool,
    failures: u32,
    /// The status (0 without one) of the error answer it keeps giving, reported once.
    answering: Option<u16>,
    /// When its last poll started, for the round time.
    last_poll: Option<Instant>,
    /// A poll came due while it was held: it starts when the hold ends.
    parked: bool,
}

impl RepoState {
    fn state(&self) -> RepositoryState {
        if self.answering.is_some() {
            RepositoryState::AnsweringError
        } else if self.failures > 0 {
            RepositoryState::BackingOff
        } else if self.observed {
            RepositoryState::Ok
        } else {
            RepositoryState::Unseen
        }
    }
}

pub(super) struct Watcher {
    client: Client,
    rng: fastrand::Rng,
    repos: HashMap<RepositoryId, RepoState>,
    /// What an earlier watch saw, or this one before the repository was removed: taken by
    /// each repository when it is added.
    restored: SeenEvents,
    /// The repositories whose item waits for the consumer (`WatchOptions::hold_until_handled`):
    /// not polled. With the earlier watch's held items still to come after it, returned one
    /// at a time. Kept apart from `repos`, so that a repository removed and added again
    /// while its item waits is still held.
    held: HashMap<RepositoryId, VecDeque<Pending>>,
    /// What [`Watcher::run`] starts with: the first of those items of each repository
    /// (all of them, without holds).
    first: Vec<Delivery>,
    /// Next poll times: (when, repository, generation).
    due: BinaryHeap<Reverse<(Instant, RepositoryId, u64)>>,
    generation: u64,
    options: WatchOptions,
    stats: Arc<Mutex<WatchStats>>,
    items: mpsc::Sender<Delivery>,
    /// The polls in flight, by task: what a panicked one was polling.
    in_flight: HashMap<tokio::task::Id, (RepositoryId, u64, Instant)>,
    /// Stopped: no poll starts any more, not even one that never got its turn.
    stopped: bool,
}

type PollResult = (RepositoryId, u64, Instant, Result<PushEvent, Error>);

impl Watcher {
    pub(super) fn new(
        client: Client,
        options: WatchOptions,
        restored: SeenEvents,
        pending: Vec<Pending>,
        stats: Arc<Mutex<WatchStats>>,
        items: mpsc::Sender<Delivery>,
    ) -> Self {
        let (held, first) = earlier_items(pending, options.hold_until_handled);
        Self {
            client,
            rng: fastrand::Rng::new(),
            repos: HashMap::new(),
            restored,
            held,
            first,
            due: BinaryHeap::new(),
            generation: 0,
            options,
            stats,
            items,
            in_flight: HashMap::new(),
            stopped: false,
        }
    }

    fn stats(&self) -> std::sync::MutexGuard<'_, WatchStats> {
        lock(&self.stats)
    }

    pub(super) fn add(&mut self, id: RepositoryId) {
        if self.repos.contains_key(&id) {
            return;
        }
        self.generation += 1;
        let first = if self.options.jitter && !self.options.once {
            jitter(&mut self.rng, self.options.interval)
        } else {
            Duration::ZERO
        };
        let state = RepoState {
            generation: self.generation,
            last: self.restored.remove(&id),
            observed: false,
            failures: 0,
            answering: None,
            last_poll: None,
            parked: false,
        };
        self.stats().repositories.moved(None, Some(state.state()));
        self.repos.insert(id, state);
        self.due
            .push(Reverse((Instant::now() + first, id, self.generation)));
    }

    fn remove(&mut self, id: RepositoryId) {
        if let Some(state) = self.repos.remove(&id) {
            self.stats().repositories.moved(Some(state.state()), None);
            // Added again, it goes on from what it saw: a push made meanwhile is a push, as
            // after a restart with a store.
            if let Some(last) = state.last {
                self.restored.insert(id, last);
            }
        }
    }

    pub(super) async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        for delivery in std::mem::take(&mut self.first) {
            if self.items.send(delivery).await.is_err() {
                return;
            }
        }
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
                    Some(Command::Remove(id)) => self.remove(id),
                    // As a `once` watch whose polls have all started.
                    Some(Command::Stop) => {
                        self.due.clear();
                        self.options.once = true;
                        self.stopped = true;
                    }
                    Some(Command::Release(id)) => {
                        if let Some(next) = self.release(id)
                            && self.items.send(next).await.is_err()
                        {
                            return; // the stream was dropped
                        }
                    }
                    None => commands_open = false,
                },
                () = sleep_until(next_due.unwrap_or_else(Instant::now)), if can_start && next_due.is_some() => {
                    if let Some(Reverse((scheduled, id, generation))) = self.due.pop() {
                        self.start(&mut polls, scheduled, id, generation);
                    }
                }
                Some(done) = polls.join_next_with_id(), if !polls.is_empty() => {
                    let result = match done {
                        Ok((task, result)) => {
                            self.in_flight.remove(&task);
                            Some(result)
                        }
                        // A poll that panicked is an error of its repository, which is
                        // polled again on its schedule.
                        Err(error) => self.in_flight.remove(&error.id()).map(
                            |(id, generation, scheduled)| {
                                let why = Error::Internal(format!("the poll panicked: {error}"));
                                (id, generation, scheduled, Err(why))
                            },
                        ),
                    };
                    if let Some(result) = result
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

    /// Ends `id`'s hold, or passes it to the repository's next item of the earlier watch,
    /// which is returned (that item); a poll that came due meanwhile starts once the hold
    /// ends.
    fn release(&mut self, id: RepositoryId) -> Option<Delivery> {
        if let Some(queued) = self.held.get_mut(&id) {
            // Once stopped, the items still queued are left to the next watch.
            if !self.stopped
                && let Some(next) = queued.pop_front()
            {
                return Some(Delivery::again(next));
            }
            self.held.remove(&id);
        }
        let state = self.repos.get_mut(&id)?;
        if std::mem::take(&mut state.parked) && !self.stopped {
            // The hold is no round of the watch.
            state.last_poll = None;
            let generation = state.generation;
            self.due.push(Reverse((Instant::now(), id, generation)));
        }
        None
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
        if self.held.contains_key(&id) {
            if let Some(state) = self.repos.get_mut(&id) {
                state.parked = true;
            }
            return;
        }
        let now = Instant::now();
        let lag = now.saturating_duration_since(scheduled);
        // A round is measured between two polls of a repository in good health: a backoff
        // is not the pace of the watch.
        let previous = self.repos.get_mut(&id).and_then(|r| {
            let healthy = r.failures == 0;
            r.last_poll.replace(now).filter(|_| healthy)
        });
        let mut stats = self.stats();
        stats.lag.record(lag);
        if let Some(previous) = previous {
            stats.round.record(now.saturating_duration_since(previous));
        }
        drop(stats);
        let client = self.client.clone();
        let task = polls
            .spawn(async move { (id, generation, scheduled, client.last_push_event(id).await) });
        self.in_flight
            .insert(task.id(), (id, generation, scheduled));
    }

    /// Sends what a poll found. `false` when nobody listens any more.
    async fn finish(&mut self, result: PollResult) -> bool {
        let Some((recovered, delivery)) = self.record(result) else {
            return true; // removed while in flight
        };
        if let Some(repository_id) = recovered {
            let item = WatchItem::Recovered { repository_id };
            if self.items.send(Delivery::only(item)).await.is_err() {
                return false;
            }
        }
        if delivery.item.is_none() && delivery.seen.is_none() {
            return !self.items.is_closed();
        }
        self.items.send(delivery).await.is_ok()
    }

    /// Records a poll's outcome and schedules the next one: whether the repository recovered,
    /// and what to send.
    fn record(
        &mut self,
        (id, generation, scheduled, result): PollResult,
    ) -> Option<(Option<RepositoryId>, Delivery)> {
        let options = &self.options;
        let state = self
            .repos
            .get_mut(&id)
            .filter(|r| r.generation == generation)?;
        if let Err(Error::NotLeading) = &result {
            // Not sent: the lease ran out. Nothing was learnt; polled again at its cadence,
            // should the lease be renewed after all.
            state.last_poll = None;
            if !self.stopped {
                let next = (scheduled + self.options.interval).max(Instant::now());
                self.due.push(Reverse((next, id, generation)));
            }
            return Some((None, Delivery::none()));
        }
        if let Err(error) = &result
            && error.is_paced()
        {
            // Not polled yet: the call's deadline passed while the client waited its own
            // turn (a slow limit, or out a pause the service asked for). Nothing failed and
            // nothing was learnt: polled again in turn, its state as it was.
            let mut stats = lock(&self.stats);
            stats.paced += 1;
            // The watch is doing what the service asked (a waited pause is no silence of the
            // service's), once the service has answered at all; a wait behind the client's own
            // slow limit says nothing of the service, and readiness keeps counting.
            let asked = match (&self.client.limiter, &result) {
                (Some(limiter), Err(Error::Paced { waited, .. })) => Instant::now()
                    .checked_sub(*waited)
                    .is_some_and(|since| limiter.paused_since(since)),
                _ => false,
            };
            if asked && stats.last_answered.is_some() {
                stats.last_answered = Some(std::time::Instant::now());
            }
            drop(stats);
            // Its interrupted wait is not a round of the watch.
            state.last_poll = None;
            if !self.stopped {
                self.due.push(Reverse((Instant::now(), id, generation)));
            }
            return Some((None, Delivery::none()));
        }
        let before = state.state();
        // Answering again after an error answer or after trouble.
        let recovered = result.is_ok() && (state.answering.take().is_some() || state.failures > 0);
        let mut stats = lock(&self.stats);
        stats.polls += 1;
        // Answered: normally, or with an answer of its own such as 404 (not trouble, not a
        // failure before any answer such as missing credentials).
        let answered = result.as_ref().map_or_else(
            |e| e.status().is_some() && e.retry() == Retry::Stop,
            |_| true,
        );
        if answered {
            stats.answered += 1;
            stats.last_answered = Some(std::time::Instant::now());
        }
        let mut delivery = Delivery {
            item: None,
            seen: None,
            first: false,
            baseline_reported: options.baselines,
            observed_at: std::time::SystemTime::now(),
            holds: false,
            recorded: false,
        };
        let next = match result {
            Ok(event) => {
                state.failures = 0;
                state.observed = true;
                let seen = LastSeen::of(&event);
                let baseline = state.last.is_none();
                if state.last.as_ref() != Some(&seen) {
                    stats.pushes += u64::from(!baseline);
                    state.last = Some(seen.clone());
                    delivery.seen = Some((id, seen));
                    delivery.first = baseline;
                    // Held until the consumer is done with it, if it is returned at all.
                    delivery.holds = options.hold_until_handled
                        && (!baseline || (options.baselines && options.hold_baselines));
                    if delivery.holds {
                        self.held.entry(id).or_default();
                    }
                    // A baseline's item is kept even when baselines are not reported: the
                    // store may know the repository after all (see `handled`).
                    delivery.item = Some(WatchItem::Push {
                        repository_id: id,
                        event,
                        baseline,
                    });
                }
                // Keep the cadence: the next poll is one interval after this one was due.
                (scheduled + options.interval).max(Instant::now())
            }
            Err(error) => {
                stats.failures.count(&error);
                // Back off only for trouble (the same rule as the call loop's retries): an
                // answer such as 404 keeps the cadence, and is reported once.
                let mut report = true;
                let cadence = (scheduled + options.interval).max(Instant::now());
                let next = match error.retry() {
                    Retry::Stop => {
                        let status = Some(error.status().unwrap_or(0));
                        report = state.answering != status;
                        state.answering = status;
                        cadence
                    }
                    decision => {
                        state.answering = None;
                        state.failures = state.failures.saturating_add(1);
                        // What the service asked for is a floor, never a licence: a
                        // `Retry-After` of 0 or in the past still waits.
                        let asked = match decision {
                            Retry::After(asked) => asked.min(options.max_backoff),
                            _ => Duration::ZERO,
                        };
                        if error.status() == Some(429) {
                            // Throttling is the account's: the client's rate limiter slows
                            // every poll, so this one only waits for its next turn.
                            cadence.max(later(asked))
                        } else {
                            let exponent = state.failures.saturating_sub(1).min(16);
                            let doubled = options.interval.saturating_mul(1 << exponent);
                            let wait = doubled.min(options.max_backoff).max(asked);
                            later(wait.saturating_add(jitter(&mut self.rng, wait / 10)))
                        }
                    }
                };
                delivery.item = report.then_some(WatchItem::Error {
                    repository_id: id,
                    error,
                });
                next
            }
        };
        stats.repositories.moved(Some(before), Some(state.state()));
        if !options.once {
            self.due.push(Reverse((next, id, generation)));
        }
        Some((recovered.then_some(id), delivery))
    }
}

/// An earlier watch's items to return first: with holds, the first of each repository, and
/// the others queued behind it (they follow one at a time, as each is released); else all.
fn earlier_items(
    pending: Vec<Pending>,
    holds: bool,
) -> (HashMap<RepositoryId, VecDeque<Pending>>, Vec<Delivery>) {
    let mut outbox: HashMap<_, VecDeque<_>> = HashMap::new();
    let mut first = Vec::new();
    for item in pending {
        match outbox.get_mut(&item.repository_id) {
            Some(queued) => queued.push_back(item),
            None => {
                if holds {
                    outbox.insert(item.repository_id, VecDeque::new());
                }
                first.push(Delivery::again(item));
            }
        }
    }
    (outbox, first)
}

/// `wait` from now, clamped to a year: far below the clock's range, so it cannot overflow.
fn later(wait: Duration) -> Instant {
    Instant::now() + wait.min(super::options::LONGEST)
}

/// A random duration up to `span`.
fn jitter(rng: &mut fastrand::Rng, span: Duration) -> Duration {
    let nanos = u64::try_from(span.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(rng.u64(0..nanos.max(1)))
}
