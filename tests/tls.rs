//! TLS as real endpoints use it, against the embedded server's HTTPS on 127.0.0.1: which CA
//! is trusted, what a certificate failure says, mutual TLS, and a caller's own reqwest client.

#![cfg(feature = "server")]

mod common;

use codearts_repo::{
    Client, Credentials, Error, RetryPolicy, TransportKind,
    server::{DEMO_AK, DEMO_SK, Server, ServerConfig, TlsOptions},
};
use common::protocol::Protocol;

async fn https(options: TlsOptions) -> Server {
    Server::start(ServerConfig {
        tls: Some(options),
        ..ServerConfig::default()
    })
    .await
    .unwrap()
}

fn token() -> Credentials {
    Credentials::token("tls-test-token").unwrap()
}

/// A TLS failure, tried once whatever the retry policy allows.
fn assert_tls_error(error: &Error, says: &str) {
    match error {
        Error::Transport {
            kind: TransportKind::Tls,
            message,
            attempts,
            ..
        } => {
            assert!(message.contains(says), "{message}");
            assert_eq!(*attempts, 1, "a certificate error is not retried: {error}");
        }
        other => panic!("expected a TLS error, got {other:?}"),
    }
    assert!(error.to_string().starts_with("TLS error"), "{error}");
}

#[tokio::test]
async fn an_unknown_issuer_is_a_tls_error_tried_once() {
    let server = https(TlsOptions::new()).await;
    let client = Client::builder()
        .endpoint(server.url())
        .credentials(token())
        .retry(RetryPolicy::default().max_attempts(3))
        .build()
        .unwrap();
    let error = client.last_push_event(2112036131).await.unwrap_err();
    assert_tls_error(&error, "unknown issuer");
    assert!(server.requests().is_empty());
}

/// A client whose own reqwest client trusts `server`'s CA and resolves `name` to it.
fn resolving(server: &Server, name: &str, credentials: Credentials) -> Client {
    let ca = reqwest::Certificate::from_pem(server.ca_pem().unwrap().as_bytes()).unwrap();
    let http = common::plain_http()
        .tls_certs_merge([ca])
        .resolve(name, server.addr())
        .build()
        .unwrap();
    Client::builder()
        .endpoint(format!("https://{name}:{}", server.addr().port()))
        .http_client(http)
        .credentials(credentials)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_certificate_for_another_name_is_a_tls_error() {
    let server = https(TlsOptions::new()).await;
    // The certificate holds localhost and loopback addresses, not this name.
    let client = resolving(&server, "other-name.test", token());
    let error = client.last_push_event(2112036131).await.unwrap_err();
    assert_tls_error(&error, "not valid for the host name");
}

#[tokio::test]
async fn a_callers_reqwest_client_still_gets_signing_and_checks() {
    let server = https(TlsOptions::new()).await;
    let client = resolving(
        &server,
        "localhost",
        Credentials::aksk(DEMO_AK, DEMO_SK).unwrap(),
    );
    client.last_push_event(2112036131).await.unwrap();
    let error = client.last_push_event(0).await.unwrap_err();
    assert!(matches!(error, Error::InvalidInput { .. }), "{error}");
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].version, "HTTP/2.0");
    assert!(
        requests[0]
            .headers
            .iter()
            .any(|(name, _)| name == "authorization"),
        "signed: {requests:?}"
    );
}

#[tokio::test]
async fn mutual_tls_needs_the_client_identity() {
    let server = https(TlsOptions::new().require_client_certificate(true)).await;
    let without = Protocol::builder(&server)
        .credentials(token())
        .build()
        .unwrap();
    let error = without.last_push_event(2112036131).await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::Transport {
                kind: TransportKind::Tls | TransportKind::Connection,
                ..
            }
        ),
        "{error:?}"
    );
    let with = Protocol::builder(&server)
        .identity_pem(server.client_identity_pem().unwrap())
        .credentials(token())
        .build()
        .unwrap();
    with.last_push_event(2112036131).await.unwrap();
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn bad_pem_is_refused_at_build_naming_the_field() {
    let builder = || {
        Client::builder()
            .endpoint("https://127.0.0.1:9")
            .credentials(token())
    };
    let error = builder()
        .add_root_certificate_pem("not a certificate")
        .build()
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::InvalidInput {
                field: "root_certificate",
                ..
            }
        ),
        "{error}"
    );
    let secret = "-----BEGIN PRIVATE KEY-----\nSECRETSECRET\n-----END PRIVATE KEY-----\n";
    let error = builder().identity_pem(secret).build().unwrap_err();
    assert!(
        matches!(
            error,
            Error::InvalidInput {
                field: "identity",
                ..
            }
        ),
        "{error}"
    );
    assert!(!format!("{error} {error:?}").contains("SECRETSECRET"));
    let debug = format!("{:?}", builder().identity_pem(secret));
    assert!(!debug.contains("SECRETSECRET"), "{debug}");
}
