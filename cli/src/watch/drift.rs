//! What the service answered beyond the spec: one stderr line per kind and JSON path for the
//! life of the process, whichever term of a fleet or poll saw it first.

use std::sync::atomic::{AtomicUsize, Ordering};

use codearts_repo::drift::Drift;

/// How many of the client's drifts were said. The client's list only grows, in the order
/// first seen, and one client serves the process (a fleet's terms share it).
static SAID: AtomicUsize = AtomicUsize::new(0);

/// The lines for the drifts not said yet.
pub(super) fn new_lines(drift: &[Drift]) -> Vec<String> {
    let said = SAID.fetch_max(drift.len(), Ordering::Relaxed);
    drift.iter().skip(said).map(line).collect()
}

fn line(d: &Drift) -> String {
    crate::output::clean(&format!(
        "the service answers beyond the spec: {} `{}`: {} {} ({}), where the spec says {}; \
         `codearts check-spec` suggests the spec edit",
        d.operation, d.path, d.kind, d.seen, d.seen_type, d.expected
    ))
}
