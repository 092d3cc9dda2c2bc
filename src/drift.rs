//! Drift: what the service answers that the spec does not describe. Each successful answer
//! is compared with its operation's schema (compiled from the spec at build time,
//! `schema.rs`), as the body is read; the answer itself is decoded as before, so the call's
//! result never changes. Each kind of drift at each JSON path is said once per client: a
//! `tracing` event with target `codearts_repo::drift`, and a [`Drift`] in
//! [`Client::drift`](crate::Client::drift).

use std::{
    fmt,
    sync::{Arc, Mutex},
};

mod body;
mod check;
pub(crate) mod schema;

pub(crate) use body::watch_body;

/// What kind of difference between an answer and the spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DriftKind {
    /// A field the spec does not have.
    AddedField,
    /// A value of another JSON type than the spec's.
    ChangedType,
    /// A field the spec requires is absent.
    MissingRequired,
    /// A number outside the spec's `minimum`/`maximum`.
    OutOfRange,
    /// A value the spec's `enum` does not list.
    NotInEnum,
    /// A value that does not have the spec's `format` (`date-time`, `int32`, ...).
    Format,
    /// A string outside the spec's `minLength`/`maxLength`.
    Length,
    /// A string that does not match the spec's `pattern`.
    Pattern,
}

impl DriftKind {
    /// The kind's name in reports and metrics: `added_field`, `changed_type`, ...
    pub fn name(self) -> &'static str {
        match self {
            DriftKind::AddedField => "added_field",
            DriftKind::ChangedType => "changed_type",
            DriftKind::MissingRequired => "missing_required",
            DriftKind::OutOfRange => "out_of_range",
            DriftKind::NotInEnum => "not_in_enum",
            DriftKind::Format => "format",
            DriftKind::Length => "length",
            DriftKind::Pattern => "pattern",
        }
    }
}

impl fmt::Display for DriftKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One kind of drift at one JSON path of one operation's answers, as first seen.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Drift {
    /// The spec's `operationId`, e.g. `ShowLastPushEventInRepository`.
    pub operation: &'static str,
    /// Where in the answer, as a JSONPath: `$.repository.id`, `$.commits[*].sha`.
    pub path: String,
    /// What kind of difference.
    pub kind: DriftKind,
    /// What the spec says there: `integer`, `minimum 1, maximum 2147483647`, `no such field`.
    pub expected: String,
    /// What the service answered: the JSON type and at most a short excerpt of the value.
    pub seen: String,
    /// The JSON type of what was answered (`string`, `object`, ..., or `absent`).
    pub seen_type: &'static str,
    /// The spec's schema that describes (or, for an added field, lacks) it, as a JSON
    /// pointer: where an edit would go.
    pub spec_at: &'static str,
    /// How many times it was seen since the client was built.
    pub times: u64,
}

/// The kinds and paths a client keeps: a service that names a new field in every answer
/// must not grow a long-lived watch's memory without bound. Past it, one event says so.
pub(crate) const MAX_KEPT: usize = 256;

/// What a client has seen, shared by its clones. Checking takes no lock: only an answer
/// that drifted does.
#[derive(Debug, Default)]
pub(crate) struct DriftLog {
    seen: Mutex<Log>,
}

#[derive(Debug, Default)]
struct Log {
    kept: Vec<Drift>,
    /// Whether the event saying the log is full was sent.
    full: bool,
}

impl DriftLog {
    pub(crate) fn new() -> Arc<Self> {
        Arc::default()
    }

    /// Compares a success body of `operation_id` (progenitor's name) with its schema.
    pub(crate) fn check(&self, operation_id: &str, body: &[u8]) {
        let Some(answer) = schema::answer_schema(operation_id) else {
            return;
        };
        let mut found = Vec::new();
        check::check(&answer.schema, body, &mut found);
        if found.is_empty() {
            return;
        }
        let mut log = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        for new in found {
            let known = log.kept.iter_mut().find(|d| {
                d.operation == answer.operation && d.kind == new.kind && d.path == new.path
            });
            if let Some(known) = known {
                known.times += 1;
                continue;
            }
            if log.kept.len() >= MAX_KEPT {
                if !std::mem::replace(&mut log.full, true) {
                    tracing::warn!(
                        target: "codearts_repo::drift",
                        operation = answer.operation,
                        kept = MAX_KEPT,
                        "the service answers more kinds of drift than are kept: later ones are \
                         not said"
                    );
                }
                continue;
            }
            tracing::warn!(
                target: "codearts_repo::drift",
                operation = answer.operation,
                path = %new.path,
                kind = new.kind.name(),
                expected = %new.expected,
                seen = %new.seen,
                "the service answered what the spec does not describe"
            );
            log.kept.push(Drift {
                operation: answer.operation,
                path: new.path,
                kind: new.kind,
                expected: new.expected,
                seen: new.seen,
                seen_type: new.seen_type,
                spec_at: new.at,
                times: 1,
            });
        }
    }

    /// Whether a kind of drift came past [`MAX_KEPT`], and was not kept.
    pub(crate) fn truncated(&self) -> bool {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).full
    }

    pub(crate) fn summary(&self) -> Vec<Drift> {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .kept
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::{DriftLog, MAX_KEPT};

    /// A service naming a new field in every answer fills the log up to its bound, no further;
    /// what is kept still counts.
    #[test]
    fn the_log_keeps_at_most_its_bound() {
        let log = DriftLog::default();
        let answer = |n: usize| {
            let body = format!(r#"{{"ref":"main","field_{n}":1,"user_name":"x"}}"#);
            log.check("show_last_push_event_in_repository", body.as_bytes());
        };
        // `user_name` and 255 new fields: the bound, every kind kept.
        (0..MAX_KEPT - 1).for_each(&answer);
        assert!(!log.truncated());
        (MAX_KEPT - 1..MAX_KEPT + 44).for_each(&answer);
        let kept = log.summary();
        assert_eq!(kept.len(), MAX_KEPT);
        assert!(log.truncated(), "later kinds are not listed");
        assert_eq!(kept[0].path, "$.field_0");
        assert_eq!(kept[1].path, "$.user_name");
        assert_eq!(kept[1].times, (MAX_KEPT + 44) as u64);
    }
}
