//! What a delivery sends: one JSON document per push, and the id that names the push.

use std::time::SystemTime;

use codearts_repo::{PushEvent, RepositoryId};
use serde_json::json;
use sha2::{Digest, Sha256};

/// One delivery's body and what its headers say.
#[derive(Debug)]
pub(crate) struct Document {
    /// The push's id: the same for every delivery of the same push, by any process.
    pub(crate) id: String,
    /// `push`, or `baseline` for a repository's first observation.
    pub(crate) kind: &'static str,
    pub(crate) repository_id: RepositoryId,
    /// The exact bytes sent and signed.
    pub(crate) body: Vec<u8>,
}

impl Document {
    pub(crate) fn new(
        repository_id: RepositoryId,
        event: &PushEvent,
        baseline: bool,
        observed_at: SystemTime,
    ) -> Self {
        let id = event_id(repository_id, event);
        let kind = if baseline { "baseline" } else { "push" };
        let body = json!({
            "id": id,
            "kind": kind,
            "repository_id": repository_id,
            "ref": event.ref_,
            "created_at": event.created_at,
            "baseline": baseline,
            "observed_at": humantime::format_rfc3339_millis(observed_at).to_string(),
            "event": event,
        });
        Self {
            id,
            kind,
            repository_id,
            body: body.to_string().into_bytes(),
        }
    }
}

/// A UUID-shaped digest of what tells one push from the next (repository, `created_at`,
/// `ref`): a redelivery after a restart or by another replica carries the same id.
fn event_id(repository_id: RepositoryId, event: &PushEvent) -> String {
    let mut digest = Sha256::new();
    let created_at = event.created_at.as_ref().map(|t| t.as_str()).unwrap_or("");
    let git_ref = event.ref_.as_deref().unwrap_or("");
    for part in [&repository_id.to_string(), created_at, git_ref] {
        // Lengths first, so that no two different triples hash the same text.
        digest.update((part.len() as u64).to_be_bytes());
        digest.update(part.as_bytes());
    }
    let hex = hex::encode(&digest.finalize()[..16]);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use codearts_repo::Timestamp;

    use super::*;

    fn push(created_at: &str, git_ref: &str) -> PushEvent {
        PushEvent::builder()
            .ref_(git_ref.to_owned())
            .created_at(Timestamp::from(created_at.to_owned()))
            .try_into()
            .unwrap()
    }

    #[test]
    fn the_id_names_the_push_not_the_delivery() {
        let id = |repository: u32, event: &PushEvent| {
            Document::new(
                RepositoryId::new(repository).unwrap(),
                event,
                false,
                SystemTime::now(),
            )
            .id
        };
        let first = push("2026-01-01T00:00:01+08:00", "main");
        assert_eq!(id(1, &first), id(1, &first.clone()));
        assert_ne!(id(1, &first), id(2, &first));
        assert_ne!(
            id(1, &first),
            id(1, &push("2026-01-01T00:00:02+08:00", "main"))
        );
        assert_ne!(
            id(1, &first),
            id(1, &push("2026-01-01T00:00:01+08:00", "dev"))
        );
        assert_eq!(id(1, &first).len(), 36);
    }

    #[test]
    fn the_document_carries_the_events_fields() {
        let event = push("2026-01-01T00:00:01+08:00", "main");
        let document = Document::new(
            RepositoryId::new(7).unwrap(),
            &event,
            true,
            SystemTime::UNIX_EPOCH,
        );
        let body: serde_json::Value = serde_json::from_slice(&document.body).unwrap();
        assert_eq!(body["id"], document.id);
        assert_eq!(body["kind"], "baseline");
        assert_eq!(body["repository_id"], 7);
        assert_eq!(body["ref"], "main");
        assert_eq!(body["created_at"], "2026-01-01T00:00:01+08:00");
        assert_eq!(body["observed_at"], "1970-01-01T00:00:00.000Z");
        assert_eq!(body["event"]["ref"], "main");
    }
}
