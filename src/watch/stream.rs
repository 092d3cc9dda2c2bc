//! The consumer's side of a watch: items as a stream, and, with a store, what the consumer
//! has handled saved at most one flush period late.
//!
//! Only what the consumer has handled is saved, so a crash can only make a push reported
//! again (handled but not yet saved), never lost; [`WatchStream::close`] saves everything
//! handled, so a consumer that marks what it printed reports nothing twice after a stop.

use std::{
    pin::Pin,
    sync::{Arc, Mutex, PoisonError},
    task::{Context, Poll, ready},
    time::Duration,
};

use tokio::{
    sync::{Notify, mpsc},
    task::JoinHandle,
};

use super::{
    WatchItem, WatchStats,
    state::{LastSeen, SeenEvents, StateError, WatchStore},
};
use crate::RepositoryId;

/// How long the flusher gathers first entries (baselines come in bursts) before saving them.
const FIRST_SEEN_DELAY: Duration = Duration::from_millis(100);

/// What the watcher sends: an item to report and, when a repository's event changed, what to
/// remember once the item is handled (an unreported baseline carries no item).
pub(super) struct Delivery {
    pub(super) item: Option<WatchItem>,
    pub(super) seen: Option<(RepositoryId, LastSeen)>,
}

/// The stream of [`WatchItem`]s; polling stops when it is dropped or closed.
///
/// With a store, an item counts as handled when the next one is asked for or when
/// [`WatchStream::handled`] is called; [`WatchStream::close`] saves what is handled, and
/// dropping the stream saves nothing more (as after a crash, what was handled in the last
/// flush period is reported again by the next watch).
pub struct WatchStream {
    items: mpsc::Receiver<Delivery>,
    task: JoinHandle<()>,
    pending: Option<(RepositoryId, LastSeen)>,
    memory: Option<Memory>,
}

/// What was handled, and the task that saves it.
struct Memory {
    handled: Arc<Mutex<Handled>>,
    /// Wakes the flusher early when a repository is handled for the first time.
    first_seen: Arc<Notify>,
    store: Arc<Mutex<Box<dyn WatchStore>>>,
    stats: Arc<Mutex<WatchStats>>,
    flusher: JoinHandle<()>,
}

struct Handled {
    seen: SeenEvents,
    dirty: bool,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl WatchStream {
    pub(super) fn new(items: mpsc::Receiver<Delivery>, task: JoinHandle<()>) -> Self {
        Self {
            items,
            task,
            pending: None,
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
        let handled = Arc::new(Mutex::new(Handled { seen, dirty: false }));
        let store = Arc::new(Mutex::new(store));
        let first_seen = Arc::new(Notify::new());
        let flusher = tokio::spawn({
            let (handled, store, stats) = (handled.clone(), store.clone(), stats.clone());
            let first_seen = first_seen.clone();
            async move {
                let mut failing = false;
                loop {
                    tokio::select! {
                        () = tokio::time::sleep(period) => {}
                        // A repository's first entry is saved sooner: until it is, a crash
                        // would make its next observation a baseline again.
                        () = first_seen.notified() => tokio::time::sleep(FIRST_SEEN_DELAY.min(period)).await,
                    }
                    let Err(error) = save(&handled, &store, &stats, false).await else {
                        failing = false;
                        continue;
                    };
                    // Weak: reports must not keep a finished watch's stream open.
                    if let (false, Some(report)) = (failing, report.upgrade()) {
                        let item = Some(WatchItem::StateNotSaved { error });
                        let _ = report.send(Delivery { item, seen: None }).await;
                    }
                    failing = true;
                }
            }
        });
        self.memory = Some(Memory {
            handled,
            first_seen,
            store,
            stats,
            flusher,
        });
        self
    }

    /// The next item; `None` when a `once` watch is done. Marks the previous item handled.
    pub async fn next(&mut self) -> Option<WatchItem> {
        std::future::poll_fn(|cx| self.poll_item(cx)).await
    }

    /// Marks the item last returned as handled (printed, delivered...): it will be saved.
    pub fn handled(&mut self) {
        if let (Some((id, seen)), Some(memory)) = (self.pending.take(), &self.memory) {
            let mut handled = lock(&memory.handled);
            if handled.seen.insert(id, seen).is_none() {
                memory.first_seen.notify_one();
            }
            handled.dirty = true;
        }
    }

    /// Stops polling and saves everything handled. The item last returned is saved only if
    /// [`WatchStream::handled`] was called for it: the next watch reports it otherwise, as it
    /// reports items not yet returned.
    pub async fn close(mut self) -> Result<(), StateError> {
        self.task.abort();
        let Some(memory) = self.memory.take() else {
            return Ok(());
        };
        memory.flusher.abort();
        // Even when nothing changed: an aborted flush may have taken the last changes with it.
        save(&memory.handled, &memory.store, &memory.stats, true).await
    }

    fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<WatchItem>> {
        self.handled();
        // Cancel-safe: the only wait is the channel's, and what follows it does not wait.
        loop {
            let Some(Delivery { item, seen }) = ready!(self.items.poll_recv(cx)) else {
                return Poll::Ready(None);
            };
            self.pending = seen;
            match item {
                Some(item) => return Poll::Ready(Some(item)),
                None => self.handled(),
            }
        }
    }
}

/// Saves a copy of what is handled, when it changed (or always), on a blocking thread.
async fn save(
    handled: &Arc<Mutex<Handled>>,
    store: &Arc<Mutex<Box<dyn WatchStore>>>,
    stats: &Arc<Mutex<WatchStats>>,
    always: bool,
) -> Result<(), StateError> {
    let snapshot = {
        let mut handled = lock(handled);
        if !handled.dirty && !always {
            return Ok(());
        }
        handled.dirty = false;
        handled.seen.clone()
    };
    let store = store.clone();
    let started = tokio::time::Instant::now();
    let saved = tokio::task::spawn_blocking(move || lock(&store).save(&snapshot))
        .await
        .unwrap_or_else(|panic| Err(StateError::new("watch state", panic.to_string(), None)));
    let mut stats = lock(stats);
    match &saved {
        Ok(()) => {
            stats.state_saves += 1;
            stats.last_state_save = Some(started.elapsed());
        }
        Err(_) => {
            stats.state_save_failures += 1;
            lock(handled).dirty = true; // try again at the next flush
        }
    }
    saved
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
