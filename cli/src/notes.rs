//! The library's notes to the person running the command, said on stderr without
//! `RUST_LOG`: a policy the gateway stated that no pacing can honour (target
//! `codearts_repo::pacing`), said once by the library.

use tracing::{
    Event, Subscriber,
    field::{Field, Visit},
};
use tracing_subscriber::{
    Layer,
    filter::{FilterFn, Filtered},
    layer::Context,
};

pub(crate) struct Notes;

impl Notes {
    /// The layer, hearing nothing but the library's notes.
    pub(crate) fn layer<S: Subscriber>() -> Filtered<Self, FilterFn, S> {
        Self.with_filter(tracing_subscriber::filter::filter_fn(|meta| {
            meta.target() == "codearts_repo::pacing"
        }))
    }
}

#[derive(Default)]
struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl<S: Subscriber> Layer<S> for Notes {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut message = Message::default();
        event.record(&mut message);
        say!("{}", message.0);
    }
}
