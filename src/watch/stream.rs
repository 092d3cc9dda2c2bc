//! The consumer's side of a watch: items as a stream, and, with a store, what the consumer
//! has handled saved at most one flush period late.
//!
//! Only what the consumer has handled is saved, so a crash can only make a push reported
//! again (handled but not yet saved), never lost; [`WatchStream::close`] saves everything
//! handled, so a consumer that marks what it printed reports nothing twice after a stop. A
//! repository's first entry is the exception: it is recorded before its baseline is even
//! returned, so that a crash right after a baseline cannot make a later push look like one
//! (a baseline is not a push: losing its line loses nothing).

use std::{
    collections::VecDeque,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll, ready},
    time::Duration,
};

use tokio::{sync::mpsc, task::JoinHandle};

use super::{
    WatchItem, WatchStats,
    state::{LastSeen, SeenEvents, StateError, WatchStore},
};
use crate::{RepositoryId, sync::lock};

/// The most deliveries taken from the channel at once, to record their first entries together.
const BATCH: usize = 1024;

/// What the watcher sends: an item to report and, when a repository's event changed, what to
/// remember once the item is handled (an unreported baseline carries no item).
pub(super) struct Delivery {
    pub(super) item: Option<WatchItem>,
    pub(super) seen: Option<(RepositoryId, LastSeen)>,
    /// `seen` is the repository's first entry: the store has never held one.
    pub(super) first: bool,
}

impl Delivery {
    /// Nothing to report, nothing to remember.
    pub(super) fn none() -> Self {
        Self {
            item: None,
            seen: None,
            first: false,
        }
    }

    /// An item with nothing to remember.
    pub(super) fn only(item: WatchItem) -> Self {
        Self {
            item: Some(item),
            seen: None,
            first: false,
        }
    }
}

/// The stream of [`WatchItem`]s; polling stops when it is dropped or closed.
///
/// With a store, an item counts as handled when the next one is asked for or when
/// [`WatchStream::handled`] is called; [`WatchStream::close`] saves what is handled, and
/// dropping the stream saves nothing more (as after a crash, what was handled in the last
/// flush period is reported again by the next watch). A repository's first entry is recorded
/// ([`WatchStore::record_new`]) before its baseline is returned.
pub struct WatchStream {
    items: mpsc::Receiver<Delivery>,
    task: JoinHandle<()>,
    /// What to remember of the item last returned, once it is handled.
    pending: Option<Delivery>,
    /// Received, to be returned in order (once their first entries are recorded).
    ready: VecDeque<Delivery>,
    recording: Option<JoinHandle<Result<(), StateError>>>,
    memory: Option<Memory>,
}

/// What was handled, and the task that saves it.
struct Memory {
    shared: Arc<Shared>,
    flusher: JoinHandle<()>,
}

/// Locked in this order only: `store`, then `changes`, so that a save and a recording of
/// first entries never miss each other.
struct Shared {
    store: Mutex<Saved>,
    /// What was handled since the last save: the consumer only appends here, so that it
    /// never waits behind a save (which works on the whole map, under `store`).
    changes: Mutex<Vec<Change>>,
    stats: Arc<Mutex<WatchStats>>,
    /// The last save or recording failed, and that was reported: the next failures are not,
    /// until one succeeds.
    failing: AtomicBool,
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
}

/// One change to the map of what was handled.
enum Change {
    /// The item of this event was handled.
    Handled(RepositoryId, LastSeen),
    /// A first entry, recorded before its baseline is returned.
    First(RepositoryId, LastSeen),
}

impl Saved {
    fn apply(&mut self, changes: Vec<Change>) {
        self.dirty |= !changes.is_empty();
        for change in changes {
            match change {
                Change::Handled(id, seen) => {
                    self.seen.insert(id, seen);
                }
                Change::First(id, seen) => {
                    self.seen.entry(id).or_insert(seen);
                }
            }
        }
    }
}

impl WatchStream {
    pub(super) fn new(items: mpsc::Receiver<Delivery>, task: JoinHandle<()>) -> Self {
        Self {
            items,
            task,
            pending: None,
            ready: VecDeque::new(),
            recording: None,
            memory: None,
        }
    }

    /// Saves what is handled every `period` (when something changed) into `store`, starting
    /// from `seen`. A failed save is reported once as [`WatchItem::StateNotSaved`] (until one
    /// succeeds again) through `report`.
    pub(super) fn remember(
        mut self,
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
            }),
            changes: Mutex::new(Vec::new()),
            stats,
            failing: AtomicBool::new(false),
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
        self.memory = Some(Memory { shared, flusher });
        self
    }

    /// The next item; `None` when a `once` watch is done. Marks the previous item handled.
    pub async fn next(&mut self) -> Option<WatchItem> {
        std::future::poll_fn(|cx| self.poll_item(cx)).await
    }

    /// Marks the item last returned as handled (printed, delivered...): it will be saved.
    pub fn handled(&mut self) {
        let seen = self.pending.take().and_then(|delivery| delivery.seen);
        if let (Some((id, seen)), Some(memory)) = (seen, &self.memory) {
            lock(&memory.shared.changes).push(Change::Handled(id, seen));
        }
    }

    /// Stops polling and saves everything handled. The item last returned is saved only if
    /// [`WatchStream::handled`] was called for it: the next watch reports it otherwise, as it
    /// reports items not yet returned (baselines included: their first entries, recorded
    /// before they were returned, are forgotten).
    pub async fn close(mut self) -> Result<(), StateError> {
        self.task.abort();
        let Some(memory) = self.memory.take() else {
            return Ok(());
        };
        memory.flusher.abort();
        // A recording still running would put back what is forgotten below.
        if let Some(recording) = self.recording.take() {
            let _ = recording.await;
        }
        // Returned but not handled, or not returned at all (silent records keep theirs).
        let waiting = self.ready.iter().filter(|delivery| delivery.item.is_some());
        let unreported = self
            .pending
            .iter()
            .chain(waiting)
            .filter(|delivery| delivery.first)
            .filter_map(|delivery| delivery.seen.as_ref().map(|(id, _)| *id))
            .collect();
        // Even when nothing changed: an aborted flush may have taken the last changes with it.
        save(&memory.shared, true, unreported).await
    }

    /// Cancel-safe: what was received waits in `self.ready`, a recording in `self.recording`.
    fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<WatchItem>> {
        self.handled();
        loop {
            if let Some(recording) = &mut self.recording {
                let recorded =
                    ready!(Pin::new(recording).poll(cx)).unwrap_or_else(|p| Err(panicked(p)));
                self.recording = None;
                let shared = self.memory.as_ref().map(|memory| &memory.shared);
                if let Some(item) = shared.and_then(|shared| shared.report(recorded)) {
                    self.ready.push_front(Delivery::only(item));
                }
            }
            if let Some(mut delivery) = self.ready.pop_front() {
                let item = delivery.item.take();
                self.pending = Some(delivery);
                match item {
                    Some(item) => return Poll::Ready(Some(item)),
                    None => {
                        self.handled();
                        continue;
                    }
                }
            }
            let Some(delivery) = ready!(self.items.poll_recv(cx)) else {
                return Poll::Ready(None);
            };
            self.ready.push_back(delivery);
            let Some(shared) = self.memory.as_ref().map(|m| m.shared.clone()) else {
                continue;
            };
            // Baselines come in bursts: what is already waiting is recorded together.
            while self.ready.len() < BATCH
                && let Ok(more) = self.items.try_recv()
            {
                self.ready.push_back(more);
            }
            let first: Vec<_> = self
                .ready
                .iter()
                .filter(|delivery| delivery.first)
                .filter_map(|delivery| delivery.seen.clone())
                .collect();
            if !first.is_empty() {
                self.recording = Some(tokio::task::spawn_blocking(move || record(&shared, first)));
            }
        }
    }
}

/// Makes first entries durable, and part of what the next save writes.
fn record(shared: &Shared, first: Vec<(RepositoryId, LastSeen)>) -> Result<(), StateError> {
    let mut saved = lock(&shared.store);
    let recorded = saved.store.record_new(&first);
    let mut changes = lock(&shared.changes);
    changes.extend(first.into_iter().map(|(id, seen)| Change::First(id, seen)));
    recorded
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
    if !always && lock(&shared.changes).is_empty() && !shared.failing.load(Ordering::Relaxed) {
        return Ok(());
    }
    let started = tokio::time::Instant::now();
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
        let Saved { store, seen, dirty } = &mut *saved;
        let outcome = store.save(seen);
        // A failed save is tried again at the next flush.
        *dirty = outcome.is_err();
        Some(outcome)
    })
    .await
    .unwrap_or_else(|p| Some(Err(panicked(p))));
    let Some(saved) = saved else {
        return Ok(());
    };
    let mut stats = lock(&shared.stats);
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

impl futures_core::Stream for WatchStream {
    type Item = WatchItem;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<WatchItem>> {
        self.get_mut().poll_item(cx)
    }
}

impl Drop for WatchStream {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(memory) = &self.memory {
            memory.flusher.abort();
        }
    }
}
