//! An item handled after the stream moved on: saved when the consumer says it is handled,
//! and its repository polled again then (or when it is given up, or abandoned).

use tokio::sync::mpsc;

use super::{
    super::RepositoryId,
    handled::{Delivery, Handler, Memory},
    watcher::Command,
};

/// An item taken out of the stream's order by [`super::WatchStream::defer`]: handled
/// ([`Deferred::handled`]), given up ([`Deferred::give_up`]), or dropped, which abandons it.
/// Given up or abandoned, it is not saved, and its repository is polled again. A held item
/// (`WatchOptions::hold_until_handled`) in a store that keeps pending items stays pending
/// when abandoned: the next watch returns it again. That is what a stop without waiting, a
/// lost lease or a crash does to an item under way; within a watch that goes on, a newer
/// item of its repository may then come before it (the next watch's), so a consumer that
/// knows an item's fate says it.
pub struct Deferred {
    delivery: Option<Delivery>,
    handler: Option<Handler>,
    commands: mpsc::WeakUnboundedSender<Command>,
}

impl Deferred {
    pub(super) fn new(
        delivery: Delivery,
        memory: Option<&Memory>,
        commands: &mpsc::WeakUnboundedSender<Command>,
    ) -> Self {
        Self {
            delivery: Some(delivery),
            handler: memory.map(Memory::handler),
            commands: commands.clone(),
        }
    }

    /// The item is handled: it is saved at the next flush, and its repository polled again.
    pub fn handled(mut self) {
        if let Some(delivery) = self.delivery.take() {
            if let Some(handler) = &self.handler {
                handler.handled(&delivery);
            }
            self.release(held(&delivery));
        }
    }

    /// The consumer is done with the item without handling it (a webhook refused it for
    /// good): it is not saved, no longer pending, and its repository is polled again (the
    /// next watch reports the item again if it is still its repository's latest event).
    pub fn give_up(mut self) {
        if let Some(delivery) = self.delivery.take() {
            if let Some(handler) = &self.handler {
                handler.given_up(&delivery);
            }
            self.release(held(&delivery));
        }
    }

    /// When the poll that found the item was answered (for an item of an earlier watch,
    /// returned again: that watch's poll).
    pub fn observed_at(&self) -> std::time::SystemTime {
        self.delivery
            .as_ref()
            .map_or_else(std::time::SystemTime::now, |d| d.observed_at)
    }

    fn release(&self, held: Option<RepositoryId>) {
        if let (Some(id), Some(commands)) = (held, self.commands.upgrade()) {
            let _ = commands.send(Command::Release(id));
        }
    }
}

impl Drop for Deferred {
    fn drop(&mut self) {
        if let Some(delivery) = self.delivery.take() {
            self.release(held(&delivery));
        }
    }
}

/// The repository whose polls `delivery` holds, if it holds any.
fn held(delivery: &Delivery) -> Option<RepositoryId> {
    delivery
        .seen
        .as_ref()
        .filter(|_| delivery.holds)
        .map(|(id, _)| *id)
}

impl std::fmt::Debug for Deferred {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let repository = self
            .delivery
            .as_ref()
            .and_then(|d| d.seen.as_ref().map(|(id, _)| *id));
        f.debug_struct("Deferred")
            .field("repository_id", &repository)
            .finish_non_exhaustive()
    }
}
