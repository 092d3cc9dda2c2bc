//! One deadline per call, counted once from its start over credentials and every attempt:
//! slow credentials in front of a service that never answers end at the call's timeout, and
//! a slow service that answers within it is heard. Over HTTP/1.1 and HTTPS with HTTP/2.
//! (Times here are real, so the bounds are generous; `src/call/` tests the exact deadlines
//! under paused time.)

#![cfg(feature = "server")]

mod common;

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use axum::{
    Router,
    routing::{get, put},
};
use codearts_repo::{
    Credentials, Error, TransportKind,
    server::{DEMO_AK, DEMO_SK},
};
use common::protocol::Protocol;

/// An ECS metadata service that takes `delay` over each of its two answers (session token,
/// then keys): credentials that take twice `delay`.
async fn slow_metadata(delay: Duration) -> String {
    let token = move || async move {
        tokio::time::sleep(delay).await;
        "session-token"
    };
    let keys = move || async move {
        tokio::time::sleep(delay).await;
        let expires_at = chrono::Utc::now() + chrono::Duration::hours(6);
        serde_json::json!({ "credential": {
            "access": DEMO_AK,
            "secret": DEMO_SK,
            "securitytoken": "slow-security-token",
            "expires_at": expires_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        }})
        .to_string()
    };
    let app = Router::new()
        .route("/meta-data/latest/api/token", put(token))
        .route("/openstack/latest/securitykey", get(keys));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// The chain with nothing but the metadata service at `url`.
fn from_metadata(url: &str, home: &std::path::Path) -> Credentials {
    let vars = HashMap::from([
        ("HOME", home.to_str().unwrap().to_owned()),
        ("HUAWEICLOUD_SDK_METADATA_ENDPOINT", url.to_owned()),
    ]);
    Credentials::from_vars(|name| vars.get(name).cloned()).unwrap()
}

/// Credentials that take 2 s and a service that never answers: a 3 s call ends at about 3 s
/// (it took 5 s when the attempts counted a deadline of their own from their start).
#[tokio::test]
async fn slow_credentials_and_a_hanging_service_end_at_the_calls_timeout() {
    for protocol in Protocol::ALL {
        let home = tempfile::tempdir().unwrap();
        let metadata = slow_metadata(Duration::from_secs(1)).await;
        let server = protocol.server().await;
        server.set_delay(Some(Duration::from_secs(3600)));
        let client = Protocol::builder(&server)
            .credentials(from_metadata(&metadata, home.path()))
            .timeout(Some(Duration::from_secs(3)))
            .build()
            .unwrap();
        let started = Instant::now();
        let error = client.last_push_event(2112036131).await.unwrap_err();
        let elapsed = started.elapsed();
        assert!(
            elapsed < Duration::from_secs(4),
            "{protocol:?}: {elapsed:?}: {error}"
        );
        // The keys came and the service was asked: the deadline ended the attempt.
        assert!(
            matches!(
                error,
                Error::Transport {
                    kind: TransportKind::Timeout,
                    ..
                }
            ),
            "{protocol:?}: {error}"
        );
        assert!(error.to_string().contains("no complete answer"), "{error}");
        assert_eq!(server.counts().requests, 1, "{protocol:?}");
    }
}

/// With no attempt timeout of its own, an attempt may use what is left of the call: a
/// service that takes 1 s is heard within a 2 s call, although 3 attempts are allowed.
#[tokio::test]
async fn a_slow_service_that_answers_within_the_timeout_is_heard() {
    for protocol in Protocol::ALL {
        let server = protocol.server().await;
        server.set_delay(Some(Duration::from_secs(1)));
        let client = Protocol::builder(&server)
            .credentials(Credentials::token(common::TOKEN).unwrap())
            .timeout(Some(Duration::from_secs(2)))
            .build()
            .unwrap();
        let event = client.last_push_event(2112036131).await.unwrap();
        assert_eq!(event.ref_.as_deref(), Some("master"), "{protocol:?}");
        assert_eq!(server.counts().requests, 1, "{protocol:?}");
    }
}

/// An attempt timeout that is set is still each attempt's bound.
#[tokio::test]
async fn an_attempt_timeout_that_is_set_still_cuts_each_attempt() {
    for protocol in Protocol::ALL {
        let server = protocol.server().await;
        server.set_delay(Some(Duration::from_secs(1)));
        let client = Protocol::builder(&server)
            .credentials(Credentials::token(common::TOKEN).unwrap())
            .timeout(Some(Duration::from_secs(2)))
            .attempt_timeout(Duration::from_millis(300))
            .retry(codearts_repo::RetryPolicy::none())
            .build()
            .unwrap();
        let error = client.last_push_event(2112036131).await.unwrap_err();
        assert!(
            error
                .to_string()
                .contains("no complete answer within 300ms"),
            "{protocol:?}: {error}"
        );
    }
}
