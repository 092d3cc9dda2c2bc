//! The consumer's side of a watch: items as a stream, in order, each returned once its first
//! entry or its pending record (if it has one) is recorded. What is handled and when it is
//! saved is decided in [`super::handled`].

use std::{
    collections::VecDeque,
    pin::Pin,
    task::{Context, Poll, ready},
    time::Duration,
};

use std::sync::{Arc, Mutex};

use tokio::{sync::mpsc, task::JoinHandle};

use super::{
    Deferred, WatchItem, WatchStats,
    handled::{Delivery, Memory, Recording},
    state::{SeenEvents, StateError, WatchStore},
    watcher::Command,
};

/// The most deliveries taken from the channel at once, to record their first entries together.
const BATCH: usize = 1024;

/// How long first observations are gathered before they are recorded together: a baseline is
/// returned at most this much later.
const GATHER: Duration = Duration::from_millis(50);

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
    /// Where a held repository is released; weak, so that it never keeps the watch going.
    commands: mpsc::WeakUnboundedSender<Command>,
    /// With `WatchOptions::hold_until_handled`: the watch takes releases for as long as the
    /// stream lives, even once every `WatchHandle` is dropped.
    _releases: Option<mpsc::UnboundedSender<Command>>,
    /// What to remember of the item last returned, once it is handled.
    pending: Option<Delivery>,
    /// Received, to be returned in order (once their first entries are recorded).
    ready: VecDeque<Delivery>,
    recording: Option<Recording>,
    /// First observations are being gathered until this ends.
    gathering: Option<Pin<Box<tokio::time::Sleep>>>,
    memory: Option<Memory>,
}

impl WatchStream {
    pub(super) fn new(
        items: mpsc::Receiver<Delivery>,
        task: JoinHandle<()>,
        commands: &mpsc::UnboundedSender<Command>,
        holds: bool,
    ) -> Self {
        Self {
            items,
            task,
            commands: commands.downgrade(),
            _releases: holds.then(|| commands.clone()),
            pending: None,
            ready: VecDeque::new(),
            recording: None,
            gathering: None,
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
        self.memory = Some(Memory::start(store, seen, period, stats, report));
        self
    }

    /// The next item; `None` when a `once` watch is done. Marks the previous item handled.
    pub async fn next(&mut self) -> Option<WatchItem> {
        std::future::poll_fn(|cx| self.poll_item(cx)).await
    }

    /// Marks the item last returned as handled (printed, delivered...): it will be saved.
    pub fn handled(&mut self) {
        if let Some(delivery) = self.pending.take() {
            Deferred::new(delivery, self.memory.as_ref(), &self.commands).handled();
        }
    }

    /// Takes the item last returned out of the stream's order, to be handled later (by a
    /// task that delivers it, for example): asking for the next item no longer marks it
    /// handled, [`Deferred::handled`] does. `None` when there is no such item, or it was
    /// handled already.
    pub fn defer(&mut self) -> Option<Deferred> {
        let delivery = self.pending.take()?;
        Some(Deferred::new(
            delivery,
            self.memory.as_ref(),
            &self.commands,
        ))
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
        let recording = self.recording.take();
        memory
            .close(recording, self.pending.as_ref(), &self.ready)
            .await
    }

    /// Cancel-safe: what was received waits in `self.ready`, a recording in `self.recording`.
    fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<WatchItem>> {
        self.handled();
        loop {
            if let Some(recording) = &mut self.recording {
                let recorded = ready!(Pin::new(recording).poll(cx));
                self.recording = None;
                if let Some(memory) = &self.memory
                    && let Some(item) = memory.settle(recorded)
                {
                    self.ready.push_front(Delivery::only(item));
                }
            }
            // While first observations are gathered, nothing is returned: they are not
            // recorded yet, and what follows them waits its turn.
            if self.gathering.is_none()
                && let Some(mut delivery) = self.ready.pop_front()
            {
                let item = delivery.take_item();
                self.pending = Some(delivery);
                match item {
                    Some(item) => return Poll::Ready(Some(item)),
                    None => {
                        self.handled();
                        continue;
                    }
                }
            }
            if self.gathering.is_none() {
                let Some(delivery) = ready!(self.items.poll_recv(cx)) else {
                    return Poll::Ready(None);
                };
                self.ready.push_back(delivery);
            }
            if self.memory.is_none() {
                continue;
            }
            // Baselines come in bursts: what is already waiting is recorded together.
            while self.ready.len() < BATCH
                && let Ok(more) = self.items.try_recv()
            {
                self.ready.push_back(more);
            }
            // In a watch's first round they come one per poll, milliseconds apart: gathered
            // for a moment, they are recorded in one write rather than one each.
            if self.ready.len() < BATCH && self.ready.iter().any(|delivery| delivery.first) {
                let gathering = self
                    .gathering
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(GATHER)));
                if gathering.as_mut().poll(cx).is_pending() {
                    match self.items.poll_recv(cx) {
                        Poll::Ready(Some(more)) => {
                            self.ready.push_back(more);
                            continue;
                        }
                        // The watch ended: what was gathered is recorded now.
                        Poll::Ready(None) => {}
                        Poll::Pending => return Poll::Pending,
                    }
                }
            }
            self.gathering = None;
            if let Some(memory) = &self.memory {
                self.recording = memory.record(&mut self.ready);
            }
        }
    }
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
            memory.abort();
        }
    }
}
