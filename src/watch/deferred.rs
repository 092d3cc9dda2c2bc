//! An item handled after the stream moved on: saved when the consumer says it is handled,
//! and its repository polled again then (or when it is given up).

use tokio::sync::mpsc;

use super::{
    super::RepositoryId,
    handled::{Delivery, Handler, Memory},
    watcher::Command,
};

/// An item taken out of the stream's order by [`super::WatchStream::defer`]. Dropped without
/// [`Deferred::handled`], it is given up: not saved (the next watch reports it again, unless
/// a later event of its repository is handled first), and its repository is polled again.
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
            let held = held(&delivery);
            if let Some(handler) = &self.handler {
                handler.handled(delivery);
            }
            self.release(held);
        }
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
