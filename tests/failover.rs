//! Regions files and endpoint lists: a made-up region served from a file, a list whose first
//! endpoint cannot be reached, and what does not move a call to the next endpoint (an HTTP
//! answer). Over HTTP/1.1 and HTTPS+HTTP/2 against the embedded server.

#![cfg(feature = "server")]

mod common;

use std::path::Path;

use codearts_repo::{
    Client, Credentials, Error, RetryPolicy,
    endpoint::Service,
    server::{InjectedFailure, Server},
};
use common::protocol::{Protocol, trusting};

/// Nothing listens on loopback port 9 (discard): connections are refused at once.
fn dead(protocol: Protocol) -> String {
    match protocol {
        Protocol::Http1 => "http://127.0.0.1:9".into(),
        Protocol::Https2 => "https://127.0.0.1:9".into(),
    }
}

fn regions_file(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("regions.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

fn client(trusted: &Server, region: &str, regions: &Path) -> Client {
    // No endpoint: the region is resolved through the file.
    let builder = Client::builder()
        .region(region)
        .regions_file(regions)
        .credentials(Credentials::token("failover-token").unwrap())
        .project_id("p")
        .retry(RetryPolicy::none());
    trusting(builder, trusted).build().unwrap()
}

#[tokio::test]
async fn a_made_up_region_from_the_file_fails_over_past_a_dead_endpoint() {
    for protocol in Protocol::ALL {
        let server = protocol.server().await;
        let dir = tempfile::tempdir().unwrap();
        let file = regions_file(
            dir.path(),
            &format!(
                "CodeArtsRepo:\n  - id: xx-private-1\n    endpoints: [{}, {}]\nservicestage:\n  - id: xx-private-1\n    endpoint: {}\n",
                dead(protocol),
                server.url(),
                server.url()
            ),
        );
        let client = client(&server, "xx-private-1", &file);
        assert_eq!(
            client.endpoint(Service::CodeArtsRepo).unwrap(),
            dead(protocol)
        );
        for _ in 0..2 {
            client.last_push_event(2112036131).await.unwrap();
        }
        client
            .commits("3e1f6634946144c2b1ccb46fb8152b8f", "test")
            .repo_auth("a")
            .send()
            .await
            .unwrap();
        assert_eq!(server.requests().len(), 3, "{protocol:?}");
    }
}

#[tokio::test]
async fn a_tls_handshake_failure_moves_on_but_an_http_answer_does_not() {
    // Two HTTPS servers with CAs of their own; the client trusts only the second's.
    let untrusted = Protocol::Https2.server().await;
    let trusted = Protocol::Https2.server().await;
    let dir = tempfile::tempdir().unwrap();
    let file = regions_file(
        dir.path(),
        &format!(
            "CodeArtsRepo:\n  - id: xx-tls-1\n    endpoints: [{}, {}]\n",
            untrusted.url(),
            trusted.url()
        ),
    );
    client(&trusted, "xx-tls-1", &file)
        .last_push_event(2112036131)
        .await
        .unwrap();
    assert!(untrusted.requests().is_empty());
    assert_eq!(trusted.requests().len(), 1);

    // The first endpoint answers 503: that is the service's answer, not another endpoint's
    // business.
    for protocol in Protocol::ALL {
        let first = protocol.server().await;
        let second = protocol.server().await;
        let id = 2112036131.try_into().unwrap();
        first.set_failure(
            id,
            Some(InjectedFailure {
                status: 503,
                retry_after: None,
            }),
        );
        let file = regions_file(
            dir.path(),
            &format!(
                "CodeArtsRepo:\n  - id: xx-http-1\n    endpoints: [{}, {}]\n",
                first.url(),
                second.url()
            ),
        );
        let builder = Client::builder()
            .region("xx-http-1")
            .regions_file(&file)
            .credentials(Credentials::token("t").unwrap())
            .retry(RetryPolicy::none());
        // Both servers of a protocol share nothing: trust the first's CA (the second is
        // never reached).
        let builder = trusting(builder, &first);
        let error = builder
            .build()
            .unwrap()
            .last_push_event(id)
            .await
            .unwrap_err();
        assert_eq!(error.status(), Some(503), "{error}");
        assert!(second.requests().is_empty(), "{protocol:?}");
    }
}

#[tokio::test]
async fn every_endpoint_unreachable_is_a_connect_error() {
    let server = Protocol::Http1.server().await;
    let dir = tempfile::tempdir().unwrap();
    let file = regions_file(
        dir.path(),
        "CodeArtsRepo:\n  - id: xx-dead-1\n    endpoints: [http://127.0.0.1:9, http://localhost:9]\n",
    );
    let error = client(&server, "xx-dead-1", &file)
        .last_push_event(1)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::Transport {
                kind: codearts_repo::TransportKind::Connect,
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn a_malformed_regions_file_is_refused_naming_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = regions_file(
        dir.path(),
        "CodeArtsRepo:\n  - id: xx-bad-1\n    endpoints: [https://a\n",
    );
    let error = Client::builder()
        .region("xx-bad-1")
        .regions_file(&file)
        .credentials(Credentials::token("t").unwrap())
        .build()
        .unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains(file.to_str().unwrap()) && text.contains("line"),
        "{text}"
    );
    let missing = Client::builder()
        .region("xx-bad-1")
        .regions_file(dir.path().join("nope.yaml"))
        .credentials(Credentials::token("t").unwrap())
        .build()
        .unwrap_err();
    assert!(missing.to_string().contains("nope.yaml"), "{missing}");
}
