//! Long waits said on stderr: a one-shot command that sits silent for 20 seconds looks hung.
//! The library tells each wait before a retry as a `tracing` event (target
//! `codearts_repo::wait`); this layer hears only those and says the long ones.

use std::time::Duration;

use tracing::{
    Event, Subscriber,
    field::{Field, Visit},
};
use tracing_subscriber::{
    Layer,
    filter::{FilterFn, Filtered},
    layer::Context,
};

/// Shorter waits pass unsaid.
const LONG: Duration = Duration::from_secs(2);

pub(crate) struct Waits;

impl Waits {
    /// The layer, hearing nothing but the library's waits (so that no other event is made
    /// for it).
    pub(crate) fn layer<S: Subscriber>() -> Filtered<Self, FilterFn, S> {
        Self.with_filter(tracing_subscriber::filter::filter_fn(|meta| {
            meta.target() == "codearts_repo::wait"
        }))
    }
}

#[derive(Default)]
struct Wait {
    millis: u64,
    asked: bool,
    attempt: u64,
}

impl Visit for Wait {
    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "wait_ms" => self.millis = value,
            "attempt" => self.attempt = value,
            _ => {}
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if field.name() == "asked" {
            self.asked = value;
        }
    }

    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

impl<S: Subscriber> Layer<S> for Waits {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut wait = Wait::default();
        event.record(&mut wait);
        let duration = Duration::from_millis(wait.millis);
        if duration < LONG {
            return;
        }
        let seconds = format!("{:.0}s", duration.as_secs_f64());
        if wait.asked {
            say!("waiting {seconds} as the service asked (Retry-After)");
        } else {
            say!("waiting {seconds} before attempt {}", wait.attempt);
        }
    }
}
