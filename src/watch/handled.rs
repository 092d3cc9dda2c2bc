//! The watch's central promise, in one place: **only what the consumer handled is saved**.
//! The watcher sends [`Delivery`]s, the store ([`WatchStore`]) persists what it is given, and
//! this module decides what is handled and when it is saved.
//!
//! The rule:
//!
//! - An item is *handled* when the consumer asks for the next one, or calls
//!   [`super::WatchStream::handled`]. Only then is its event (`Delivery::seen`) a change to
//!   what is saved. A delivery without an item (an event that changed but is not reported,
//!   such as a baseline a watch does not print) is handled as soon as its turn comes.
//! - What is handled is saved by a flusher at most one flush period later, when something
//!   changed (and after a failed save, at every flush until one succeeds); a failure is
//!   reported once as [`WatchItem::StateNotSaved`] until a save succeeds again.
//! - A repository's *first* entry (the store has never held one) is the exception: it is
//!   recorded durably ([`WatchStore::record_new`]) before its baseline is returned.
//! - An item held for the consumer (`WatchOptions::hold_until_handled`) is recorded durably
//!   as pending ([`WatchStore::record_pending`], an outbox) before it is returned, and stays
//!   pending until it is handled (then saved as above) or given up; the next watch's
//!   watcher returns the pending items again first, one at a time per repository.
//! - [`Memory::close`] saves everything handled, and forgets the first entries of baselines
//!   that were never handled (returned, or waiting): the next watch reports them again,
//!   unless the store keeps what [`WatchStore::record_new`] recorded whatever is saved next
//!   (the PostgreSQL store does: a baseline is in its events table once recorded).
//!
//! What a crash does, at each moment:
//!
//! - after an item was handled, before the next save: the next watch reports it again (at
//!   most one flush period of items is repeated; nothing is missed);
//! - after a first entry was recorded, before its baseline was printed: the baseline line is
//!   missing (a baseline is not a push: nothing is lost), and a later push is still a push;
//! - while a held item waits for its consumer (a webhook delivery under way): the next watch
//!   returns it again, before any newer event of its repository;
//! - in the middle of a save: the store keeps the old state, the new one, or (a state file's
//!   journal) the old one with a leading part of the save's lines, in which an item's
//!   settlement never comes before its entry: at worst an item is delivered again;
//! - after a stop ([`Memory::close`]): nothing is reported twice.
//!
//! Lock order: `store`, then `changes`, so that a save and a recording never miss each other.

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, SystemTime},
};

use tokio::{sync::mpsc, task::JoinHandle};

use super::{
    WatchItem, WatchStats,
    state::{Handled, LastSeen, Pending, SeenEvents, StateError, WatchStore},
};
use crate::{RepositoryId, sync::lock};

/// What the watcher sends: an item to report and, when a repository's event changed, what to
/// remember once the item is handled.
pub(super) struct Delivery {
    pub(super) item: Option<WatchItem>,
    pub(super) seen: Option<(RepositoryId, LastSeen)>,
    /// `seen` is the repository's first entry: the store has never held one.
    pub(super) first: bool,
    /// A first entry's item is returned: the watch reports baselines.
    pub(super) baseline_reported: bool,
    /// When the poll was answered.
    pub(super) observed_at: SystemTime,
    /// Its repository is not polled until this item is handled or given up
    /// (`WatchOptions::hold_until_handled`).
    pub(super) holds: bool,
    /// A held item already recorded as pending (returned again by a new watch).
    pub(super) recorded: bool,
}

impl Delivery {
    /// Nothing to report, nothing to remember (a poll that was not sent).
    pub(super) fn none() -> Self {
        Self {
            item: None,
            seen: None,
            first: false,
            baseline_reported: true,
            observed_at: SystemTime::now(),
            holds: false,
            recorded: false,
        }
    }

    /// An item with nothing to remember.
    pub(super) fn only(item: WatchItem) -> Self {
        Self {
            item: Some(item),
            seen: None,
            first: false,
            baseline_reported: true,
            observed_at: SystemTime::now(),
            holds: false,
            recorded: false,
        }
    }

    /// Whether it has an item to return: a baseline only when the watch reports baselines.
    fn reports(&self) -> bool {
        self.item.is_some() && (!self.first || self.baseline_reported)
    }

    /// The item to return, if any.
    pub(super) fn take_item(&mut self) -> Option<WatchItem> {
        let reports = self.reports();
        self.item.take().filter(|_| reports)
    }

    /// A pending item from an earlier watch, returned again and held.
    pub(super) fn again(pending: Pending) -> Self {
        let Pending {
            repository_id,
            event,
            observed_at,
            baseline,
            ..
        } = pending;
        Self {
            seen: Some((repository_id, LastSeen::of(&event))),
            item: Some(WatchItem::Push {
                repository_id,
                event,
                baseline,
            }),
            first: false,
            baseline_reported: true,
            observed_at,
            holds: true,
            recorded: true,
        }
    }

    /// What to record before it is returned: a held item not recorded yet.
    fn to_record(&self) -> Option<Pending> {
        if !self.holds || self.recorded {
            return None;
        }
        match &self.item {
            Some(WatchItem::Push {
                repository_id,
                event,
                baseline,
            }) => Some(Pending::new(
                *repository_id,
                event.clone(),
                self.observed_at,
                *baseline,
            )),
            _ => None,
        }
    }

    fn handled(&self) -> Option<Handled> {
        let (repository_id, seen) = self.seen.clone()?;
        Some(Handled {
            repository_id,
            seen,
            observed_at: self.observed_at,
            baseline: self.first,
        })
    }
}

/// Saves what was handled into a store: the shared state, and the task that flushes it.
pub(super) struct Memory {
    shared: Arc<Shared>,
    flusher: JoinHandle<()>,
}

/// A recording of first entries in progress, and its outcome.
pub(super) type Recording = JoinHandle<Result<(), StateError>>;

struct Shared {
    store: Mutex<Saved>,
    /// What was handled since the last save: the consumer only appends here, so that it
    /// never waits behind a save (which works on the whole map, under `store`).
    changes: Mutex<Vec<Change>>,
    stats: Arc<Mutex<WatchStats>>,
    /// The last save or recording failed, and that was reported: the next failures are not,
    /// until one succeeds.
    failing: AtomicBool,
    /// Held items wait to be recorded again (`Saved::unrecorded`): each flush tries.
    unrecorded: AtomicBool,
}

impl Shared {
    /// What to report of `outcome`: only a failure that follows a success.
    fn report(&self, outcome: Result<(), StateError>) -> Option<WatchItem> {
        match outcome {
            Ok(()) => {
                self.failing.store(false, Ordering::Relaxed);
                None
            }
            Err(error) => (!self.failing.swap(true, Ordering::Relaxed))
                .then_some(WatchItem::StateNotSaved { error }),
        }
    }
}

/// The store, and the map it saves: what was handled, as of the last changes applied.
struct Saved {
    store: Box<dyn WatchStore>,
    seen: SeenEvents,
    /// The map changed since the store last took it (or a save failed).
    dirty: bool,
    /// What was handled since the last successful save, in order.
    journal: Vec<Handled>,
    /// Pending items given up since the store last took them.
    given_up: Vec<Handled>,
    /// Held items whose recording failed: recorded again at each flush until it succeeds
    /// (meanwhile they are returned, and handled, as any other).
    unrecorded: Vec<Pending>,
}

/// One change to the map of what was handled.
enum Change {
    /// The item of this event was handled.
    Handled(Handled),
    /// A first entry, recorded before its baseline is returned.
    First(RepositoryId, LastSeen),
    /// A held item the consumer gave up.
    GivenUp(Handled),
}

impl Saved {
    fn apply(&mut self, changes: Vec<Change>) {
        self.dirty |= !changes.is_empty();
        for change in changes {
            match change {
                Change::Handled(handled) => {
                    self.seen
                        .insert(handled.repository_id, handled.seen.clone());
                    self.journal.push(handled);
                }
                Change::First(id, seen) => {
                    self.seen.entry(id).or_insert(seen);
                }
                Change::GivenUp(given_up) => self.given_up.push(given_up),
            }
        }
    }
}

impl Memory {
    /// Saves what is handled every `period` (when something changed) into `store`, starting
    /// from `seen`; a failed save is reported through `report`.
    pub(super) fn start(
        store: Box<dyn WatchStore>,
        seen: SeenEvents,
        period: Duration,
        stats: Arc<Mutex<WatchStats>>,
        report: mpsc::WeakSender<Delivery>,
    ) -> Self {
        let shared = Arc::new(Shared {
            store: Mutex::new(Saved {
                store,
                seen,
                dirty: false,
                journal: Vec::new(),
                given_up: Vec::new(),
                unrecorded: Vec::new(),
            }),
            changes: Mutex::new(Vec::new()),
            stats,
            failing: AtomicBool::new(false),
            unrecorded: AtomicBool::new(false),
        });
        let flusher = tokio::spawn({
            // Weak, as the reports: a dropped stream releases the store (and a state file's
            // lock) at once, not when this task next wakes.
            let shared = Arc::downgrade(&shared);
            async move {
                loop {
                    tokio::time::sleep(period).await;
                    let Some(shared) = shared.upgrade() else {
                        return;
                    };
                    let Some(item) = shared.report(save(&shared, false, Vec::new()).await) else {
                        continue;
                    };
                    // Weak: reports must not keep a finished watch's stream open.
                    if let Some(report) = report.upgrade() {
                        let _ = report.send(Delivery::only(item)).await;
                    }
                }
            }
        });
        Self { shared, flusher }
    }

    /// What saves the items the consumer handled, at the next flush; for items handled after
    /// the stream moved on ([`super::Deferred`]) too: the store is not
    /// kept alive by them, and what is handled after the stream closed is not saved.
    pub(super) fn handler(&self) -> Handler {
        Handler(Arc::downgrade(&self.shared))
    }

    /// Starts recording the first entries and the held items among `ready` (none: `None`),
    /// which must not be returned before the recording is [`Memory::settle`]d.
    pub(super) fn record(&self, ready: &mut VecDeque<Delivery>) -> Option<Recording> {
        let first: Vec<_> = ready
            .iter()
            .filter(|delivery| delivery.first)
            .filter_map(|delivery| delivery.seen.clone())
            .collect();
        let pending: Vec<_> = ready.iter().filter_map(Delivery::to_record).collect();
        for delivery in ready.iter_mut() {
            delivery.recorded |= delivery.holds;
        }
        let shared = self.shared.clone();
        (!first.is_empty() || !pending.is_empty())
            .then(|| tokio::task::spawn_blocking(move || record(&shared, first, pending)))
    }

    /// What to report of a finished recording: a failure, if any.
    pub(super) fn settle(
        &self,
        recorded: Result<Result<(), StateError>, tokio::task::JoinError>,
    ) -> Option<WatchItem> {
        self.shared
            .report(recorded.unwrap_or_else(|p| Err(panicked(p))))
    }

    /// Saves everything handled, after `recording` (if one runs) ends; forgets the first
    /// entries of `pending` (returned, not handled) and of the items waiting in `ready`.
    pub(super) async fn close(
        self,
        recording: Option<Recording>,
        pending: Option<&Delivery>,
        ready: &VecDeque<Delivery>,
    ) -> Result<(), StateError> {
        self.flusher.abort();
        // A recording still running would put back what is forgotten below.
        if let Some(recording) = recording {
            let _ = recording.await;
        }
        // Returned but not handled, or not returned at all (silent records keep theirs).
        let waiting = ready.iter().filter(|delivery| delivery.reports());
        let unreported = pending
            .into_iter()
            .chain(waiting)
            .filter(|delivery| delivery.first)
            .filter_map(|delivery| delivery.seen.as_ref().map(|(id, _)| *id))
            .collect();
        // Even when nothing changed: an aborted flush may have taken the last changes with it.
        save(&self.shared, true, unreported).await
    }

    /// Stops the flusher (the stream is dropped: nothing more is saved).
    pub(super) fn abort(&self) {
        self.flusher.abort();
    }
}

/// Takes what is handled for a stream that may be gone.
#[derive(Clone)]
pub(super) struct Handler(std::sync::Weak<Shared>);

impl Handler {
    pub(super) fn handled(&self, delivery: &Delivery) {
        self.change(delivery, Change::Handled);
    }

    pub(super) fn given_up(&self, delivery: &Delivery) {
        self.change(delivery, Change::GivenUp);
    }

    fn change(&self, delivery: &Delivery, change: fn(Handled) -> Change) {
        if let (Some(shared), Some(handled)) = (self.0.upgrade(), delivery.handled()) {
            lock(&shared.changes).push(change(handled));
        }
    }
}

/// Makes the first entries and the held items durable, the first entries part of what the
/// next save writes.
fn record(
    shared: &Shared,
    first: Vec<(RepositoryId, LastSeen)>,
    pending: Vec<Pending>,
) -> Result<(), StateError> {
    let mut saved = lock(&shared.store);
    let recorded = match first.is_empty() {
        true => Ok(()),
        false => saved.store.record_new(&first),
    };
    let held = match pending.is_empty() {
        true => Ok(()),
        false => saved.store.record_pending(&pending),
    };
    if held.is_err() {
        saved.unrecorded.extend(pending);
        saved.dirty = true;
        shared.unrecorded.store(true, Ordering::Relaxed);
    }
    lock(&shared.changes).extend(first.into_iter().map(|(id, seen)| Change::First(id, seen)));
    drop(saved);
    if held.is_err() {
        // Not ready until the outbox takes them (readiness), whatever else succeeds.
        lock(&shared.stats).state_save_failing = true;
    }
    recorded.and(held)
}

/// Saves a copy of what is handled, when it changed (or always), on a blocking thread, without
/// the first entries of `unreported` repositories.
async fn save(
    shared: &Arc<Shared>,
    always: bool,
    unreported: Vec<RepositoryId>,
) -> Result<(), StateError> {
    // Checked again below, under the store's lock; this spares an idle watch a thread hop,
    // and never waits for a save in progress (a failed one is retried: `failing`).
    if !always
        && lock(&shared.changes).is_empty()
        && !shared.failing.load(Ordering::Relaxed)
        && !shared.unrecorded.load(Ordering::Relaxed)
    {
        return Ok(());
    }
    let started = tokio::time::Instant::now();
    lock(&shared.stats).saving_since = Some(std::time::Instant::now());
    let on_thread = shared.clone();
    let saved = tokio::task::spawn_blocking(move || {
        let mut saved = lock(&on_thread.store);
        let changes = std::mem::take(&mut *lock(&on_thread.changes));
        saved.apply(changes);
        for id in &unreported {
            saved.dirty |= saved.seen.remove(id).is_some();
        }
        if !saved.dirty && !always {
            return None;
        }
        let Saved {
            store,
            seen,
            dirty,
            journal,
            given_up,
            unrecorded,
        } = &mut *saved;
        // An item handled or given up since its recording failed needs it no more; the others
        // are recorded before what is handled, which they do not hold up when it fails.
        unrecorded.retain(|p| !journal.iter().chain(&*given_up).any(|h| p.matches(h)));
        let recorded = match unrecorded.is_empty() {
            true => Ok(()),
            false => store
                .record_pending(unrecorded)
                .inspect(|()| unrecorded.clear()),
        };
        on_thread
            .unrecorded
            .store(!unrecorded.is_empty(), Ordering::Relaxed);
        // Given up before handled: an event given up and handled again (observed anew) ends
        // handled.
        let handled = match given_up.is_empty() {
            true => Ok(()),
            false => store.give_up(given_up).inspect(|()| given_up.clear()),
        }
        .and_then(|()| store.save_handled(seen, journal));
        // A failed save is tried again at the next flush, with what is handled meanwhile.
        *dirty = handled.is_err() || !unrecorded.is_empty();
        if handled.is_ok() {
            journal.clear();
        }
        Some(handled.and(recorded))
    })
    .await
    .unwrap_or_else(|p| Some(Err(panicked(p))));
    let mut stats = lock(&shared.stats);
    stats.saving_since = None;
    let Some(saved) = saved else {
        return Ok(());
    };
    match &saved {
        Ok(()) => {
            stats.state_saves += 1;
            stats.last_state_save = Some(started.elapsed());
        }
        Err(_) => stats.state_save_failures += 1,
    }
    stats.state_save_failing = saved.is_err();
    saved
}

/// A store that panicked, as an error of the watch state.
fn panicked(error: tokio::task::JoinError) -> StateError {
    StateError::new("watch state", error.to_string(), None)
}
