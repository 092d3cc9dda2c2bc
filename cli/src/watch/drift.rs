//! What the service answered beyond the spec: one stderr line per kind and JSON path for the
//! life of the process, whichever term of a fleet or poll saw it first.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use codearts_repo::{drift::Drift, watch::WatchStats};

/// How many of the client's drifts were said. The client's list only grows, in the order
/// first seen, and one client serves the process (a fleet's terms share it).
static SAID: AtomicUsize = AtomicUsize::new(0);

/// Whether the client's list being full was said.
static SAID_FULL: AtomicBool = AtomicBool::new(false);

/// The lines for the drifts not said yet, and once that later ones will not be.
pub(super) fn new_lines(stats: &WatchStats) -> Vec<String> {
    let said = SAID.fetch_max(stats.drift.len(), Ordering::Relaxed);
    let mut lines: Vec<String> = stats.drift.iter().skip(said).map(line).collect();
    if stats.drift_truncated && !SAID_FULL.swap(true, Ordering::Relaxed) {
        lines.push(format!(
            "the service answers more kinds of drift than a client keeps ({} said): later \
             ones are not said; `codearts check-spec` lists the first",
            stats.drift.len()
        ));
    }
    lines
}

fn line(d: &Drift) -> String {
    crate::output::clean(&format!(
        "the service answers beyond the spec: {} `{}`: {} {} ({}), where the spec says {}; \
         `codearts check-spec` suggests the spec edit",
        d.operation, d.path, d.kind, d.seen, d.seen_type, d.expected
    ))
}
