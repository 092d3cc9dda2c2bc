//! The drift check on the wire: the embedded server answers with each kind of drift the spec
//! has a place for, over HTTP/1.1 and HTTPS with HTTP/2, and the client says each kind at
//! each JSON path once (a `tracing` event with target `codearts_repo::drift`, and
//! `Client::drift`), while every call returns what it returns without the check.

#![cfg(feature = "server")]

mod common;

use std::sync::{Arc, Mutex};

use codearts_repo::{
    Client, Credentials, RetryPolicy,
    drift::{Drift, DriftKind},
    server::{AnswerDrift, Server, ServerConfig},
};
use common::protocol::{Protocol, trusting};
use tracing_subscriber::{Layer, layer::SubscriberExt};

const REPOSITORY: u32 = 2112036131;
const NAMESPACE: &str = "3e1f6634946144c2b1ccb46fb8152b8f";
const CALLS: usize = 3;

/// The `codearts_repo::drift` events, each as its fields' text.
#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> Layer<S> for Events {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != "codearts_repo::drift" {
            return;
        }
        struct Fields(String);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!("{}={value:?} ", field.name()));
            }
        }
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }
}

fn client(server: &Server, check: bool) -> Client {
    trusting(Client::builder().endpoint(server.url()), server)
        .credentials(Credentials::token("drift-test-token").unwrap())
        .retry(RetryPolicy::none())
        .check_drift(check)
        .build()
        .unwrap()
}

/// Both operations, `CALLS` times each; each result as text, so that results with and
/// without the check can be compared whole.
async fn call_both(client: &Client) -> Vec<String> {
    let mut results = Vec::new();
    for _ in 0..CALLS {
        let event = client.last_push_event(REPOSITORY).await;
        results.push(format!("{:?}", event.map_err(|e| e.to_string())));
        let commits = client
            .commits(NAMESPACE, "test")
            .project_id("demo")
            .repo_auth("gh-auth")
            .send()
            .await;
        results.push(format!("{:?}", commits.map_err(|e| e.to_string())));
    }
    results
}

/// What `kind` must be reported as, where, against today's spec.
fn expected(kind: AnswerDrift) -> Vec<(&'static str, &'static str, DriftKind)> {
    const PUSH: &str = "ShowLastPushEventInRepository";
    const COMMITS: &str = "ListCommits";
    match kind {
        AnswerDrift::AddedField => vec![
            (PUSH, "$.user_name", DriftKind::AddedField),
            (COMMITS, "$.user_name", DriftKind::AddedField),
        ],
        // Past `maximum: 2147483647`, which is also past `format: int32`.
        AnswerDrift::OutOfRange => vec![
            (PUSH, "$.repository.id", DriftKind::OutOfRange),
            (PUSH, "$.repository.id", DriftKind::Format),
        ],
        AnswerDrift::ChangedType => vec![
            (PUSH, "$.ref", DriftKind::ChangedType),
            (COMMITS, "$.commits[*].sha", DriftKind::ChangedType),
        ],
        AnswerDrift::Format => vec![(PUSH, "$.created_at", DriftKind::Format)],
        other => panic!("today's spec has no place for {other}; possible() said it has"),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn each_kind_of_drift_is_said_once_and_changes_no_result() {
    for protocol in Protocol::ALL {
        let kinds = AnswerDrift::ALL.into_iter().filter(|k| k.possible());
        for kind in kinds {
            each_kind_over(protocol, kind).await;
        }
    }
}

async fn each_kind_over(protocol: Protocol, kind: AnswerDrift) {
    let events = Events::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(events.clone()));
    let server = Server::start(ServerConfig {
        drift: Some(kind),
        ..protocol.config()
    })
    .await
    .unwrap();
    let checked = client(&server, true);
    let with_check = call_both(&checked).await;
    let without_check = call_both(&client(&server, false)).await;
    assert_eq!(
        with_check, without_check,
        "{protocol:?} {kind}: the check changes no result"
    );
    for request in server.requests() {
        assert_eq!(request.version, protocol.version());
    }

    let drift = checked.drift();
    let found: Vec<(&str, &str, DriftKind)> = drift
        .iter()
        .map(|d| (d.operation, d.path.as_str(), d.kind))
        .collect();
    assert_eq!(found, expected(kind), "{protocol:?} {kind}");
    for drift in &drift {
        assert_eq!(
            drift.times, CALLS as u64,
            "{drift:?}: counted each time it was seen"
        );
    }
    let events = events.0.lock().unwrap().clone();
    assert_eq!(
        events.len(),
        found.len(),
        "{protocol:?} {kind}: one event per kind and path, not per answer: {events:#?}"
    );
    for ((operation, path, drift), event) in found.iter().zip(&events) {
        assert!(
            event.contains(&format!("operation=\"{operation}\"")),
            "{event}"
        );
        assert!(event.contains(&format!("path={path}")), "{event}");
        assert!(
            event.contains(&format!("kind=\"{}\"", drift.name())),
            "{event}"
        );
    }
}

/// A conforming answer says nothing, and a client built without the check has nothing.
#[tokio::test(flavor = "current_thread")]
async fn conforming_answers_have_no_drift() {
    for protocol in Protocol::ALL {
        let server = protocol.server().await;
        let checked = client(&server, true);
        let results = call_both(&checked).await;
        assert!(results.iter().all(|r| r.starts_with("Ok")), "{results:?}");
        assert_eq!(checked.drift(), Vec::<Drift>::new(), "{protocol:?}");
    }
}

/// The clones of a client share what it has said: a watch's polls are clones.
#[tokio::test(flavor = "current_thread")]
async fn clones_share_one_log() {
    let server = Server::start(ServerConfig {
        drift: Some(AnswerDrift::AddedField),
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let original = client(&server, true);
    let clone = original.clone();
    clone.last_push_event(REPOSITORY).await.unwrap();
    original.last_push_event(REPOSITORY).await.unwrap();
    let drift = original.drift();
    assert_eq!(drift.len(), 1);
    assert_eq!(drift[0].times, 2);
    assert_eq!(drift, clone.drift());
}

/// A kind the spec has no place for is refused with a reason, before anything listens.
#[tokio::test]
async fn a_drift_the_spec_has_no_place_for_is_refused() {
    for kind in AnswerDrift::ALL.into_iter().filter(|k| !k.possible()) {
        let error = Server::start(ServerConfig {
            drift: Some(kind),
            ..ServerConfig::default()
        })
        .await
        .err()
        .expect("refused");
        assert!(error.to_string().contains(kind.name()), "{error}");
    }
    // Today's spec lists no answer enum and no required answer field.
    assert!(!AnswerDrift::EnumValue.possible());
    assert!(!AnswerDrift::MissingRequired.possible());
}

// docs/drift.md's example, to the byte (a test below holds the page to it).
async fn run(client: codearts_repo::Client) -> Result<(), codearts_repo::Error> {
    client.last_push_event(2112036131).await?;
    for drift in client.drift() {
        eprintln!(
            "{} {}: {} (the spec says {})",
            drift.operation, drift.path, drift.kind, drift.expected
        );
    }
    Ok(())
}
// End of the example.

/// docs/drift.md's example is this file's `run`, and runs against a drifting server.
#[tokio::test(flavor = "current_thread")]
async fn the_docs_example_is_this_code_and_runs() {
    let source = std::fs::read_to_string(file!()).unwrap();
    let code = source
        .split("// docs/drift.md's example, to the byte (a test below holds the page to it).\n")
        .nth(1)
        .and_then(|rest| rest.split("// End of the example.\n").next())
        .unwrap();
    let page =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/drift.md")).unwrap();
    assert!(
        page.contains(&format!("```rust\n{code}```\n")),
        "docs/drift.md shows:\n{code}"
    );
    let server = Server::start(ServerConfig {
        drift: Some(AnswerDrift::AddedField),
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let client = client(&server, true);
    run(client.clone()).await.unwrap();
    assert_eq!(client.drift().len(), 1);
}
