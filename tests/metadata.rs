//! Temporary keys from the ECS metadata service, last in the credential chain: a loopback
//! metadata fake (with and without its token endpoint, keys about to expire) feeds a client
//! whose calls the embedded server verifies.

#![cfg(feature = "server")]

mod common;

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::{get, put},
};
use codearts_repo::{
    Client, Credentials, Error, RetryPolicy,
    server::{DEMO_AK, DEMO_SK, Server, ServerConfig},
};

#[derive(Default)]
struct Fake {
    /// `None`: a token endpoint; `Some(status)`: the token endpoint answers this.
    no_token: Option<u16>,
    /// How long the keys it hands out last.
    lifetime: Duration,
    key_fetches: AtomicUsize,
    /// The `X-Metadata-Token` of each key fetch.
    tokens_seen: Mutex<Vec<Option<String>>>,
}

async fn token(State(fake): State<Arc<Fake>>, headers: HeaderMap) -> (StatusCode, String) {
    if let Some(status) = fake.no_token {
        return (StatusCode::from_u16(status).unwrap(), String::new());
    }
    assert_eq!(headers["x-metadata-token-ttl-seconds"], "21600");
    (StatusCode::OK, "session-token-1".into())
}

async fn security_key(State(fake): State<Arc<Fake>>, headers: HeaderMap) -> (StatusCode, String) {
    let n = fake.key_fetches.fetch_add(1, Ordering::SeqCst);
    let token = headers
        .get("x-metadata-token")
        .map(|v| v.to_str().unwrap().to_owned());
    fake.tokens_seen.lock().unwrap().push(token.clone());
    if fake.no_token.is_none() && token.is_none() {
        return (StatusCode::UNAUTHORIZED, String::new());
    }
    let expires_at = chrono::Utc::now() + fake.lifetime;
    let body = serde_json::json!({ "credential": {
        "access": DEMO_AK,
        "secret": DEMO_SK,
        "securitytoken": format!("temporary-security-token-{n}"),
        "expires_at": expires_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    }});
    (StatusCode::OK, body.to_string())
}

async fn metadata(fake: Fake) -> (String, Arc<Fake>) {
    let fake = Arc::new(fake);
    let app = Router::new()
        .route("/meta-data/latest/api/token", put(token))
        .route("/openstack/latest/securitykey", get(security_key))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, fake)
}

/// The chain with nothing in the environment or the profile but the metadata endpoint.
fn chain(metadata_url: &str) -> Credentials {
    let home = tempfile::tempdir().unwrap();
    let vars: HashMap<&str, String> = HashMap::from([
        ("HOME", home.path().to_str().unwrap().to_owned()),
        ("HUAWEICLOUD_SDK_METADATA_ENDPOINT", metadata_url.to_owned()),
    ]);
    Credentials::from_vars(|name| vars.get(name).cloned()).unwrap()
}

fn client(server: &Server, credentials: Credentials) -> Client {
    Client::builder()
        .endpoint(server.url())
        .credentials(credentials)
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
}

fn security_tokens(server: &Server) -> Vec<String> {
    server
        .requests()
        .iter()
        .map(|r| {
            assert!(r.headers.iter().any(|(n, _)| n == "authorization"), "{r:?}");
            assert_eq!(r.status, 200, "the signature was accepted: {r:?}");
            r.headers
                .iter()
                .find(|(n, _)| n == "x-security-token")
                .map(|(_, v)| v.clone())
                .unwrap()
        })
        .collect()
}

#[tokio::test]
async fn keys_come_from_metadata_with_a_session_token_and_are_kept_while_fresh() {
    let (url, fake) = metadata(Fake {
        lifetime: Duration::from_secs(6 * 3600),
        ..Fake::default()
    })
    .await;
    let credentials = chain(&url);
    assert_eq!(credentials.kind(), "ECS metadata AK/SK");
    let server = Server::start(ServerConfig::default()).await.unwrap();
    let client = client(&server, credentials);
    client.last_push_event(2112036131).await.unwrap();
    client.last_push_event(2112036131).await.unwrap();
    assert_eq!(fake.key_fetches.load(Ordering::SeqCst), 1, "fetched once");
    assert_eq!(
        *fake.tokens_seen.lock().unwrap(),
        [Some("session-token-1".to_owned())]
    );
    // Redacted by the server's record, but present on both requests.
    assert_eq!(security_tokens(&server).len(), 2);
}

#[tokio::test]
async fn without_a_token_endpoint_the_keys_are_asked_for_without_one() {
    for status in [404, 405, 503] {
        let (url, fake) = metadata(Fake {
            no_token: Some(status),
            lifetime: Duration::from_secs(6 * 3600),
            ..Fake::default()
        })
        .await;
        let server = Server::start(ServerConfig::default()).await.unwrap();
        client(&server, chain(&url))
            .last_push_event(2112036131)
            .await
            .unwrap();
        assert_eq!(*fake.tokens_seen.lock().unwrap(), [None], "after {status}");
    }
}

/// Keys that last 30 minutes are refreshed 15 minutes before they expire, not at every call
/// (the official SDKs' 40-minute threshold alone would fetch them per call). When they are
/// refreshed, in the background and once per half-lifetime: `paused-time-tests`.
#[tokio::test]
async fn keys_with_less_than_40_minutes_left_are_not_fetched_per_call() {
    let (url, fake) = metadata(Fake {
        lifetime: Duration::from_secs(30 * 60),
        ..Fake::default()
    })
    .await;
    let server = Server::start(ServerConfig::default()).await.unwrap();
    let client = client(&server, chain(&url));
    for _ in 0..20 {
        client.last_push_event(2112036131).await.unwrap();
        // Room for a background refresh, were one started, to reach the fake.
        tokio::task::yield_now().await;
    }
    assert_eq!(fake.key_fetches.load(Ordering::SeqCst), 1, "fetched once");
    assert_eq!(security_tokens(&server).len(), 20);
}

/// Keys that expire as they are issued, by the metadata service's own clock (its `Date`),
/// are refused with a credentials error that says so, and no request is signed with them.
#[tokio::test]
async fn keys_that_expire_as_they_are_issued_are_refused() {
    let (url, fake) = metadata(Fake {
        lifetime: Duration::ZERO,
        ..Fake::default()
    })
    .await;
    let server = Server::start(ServerConfig::default()).await.unwrap();
    let error = client(&server, chain(&url))
        .last_push_event(2112036131)
        .await
        .unwrap_err();
    common::assert_credentials_error(&error, "metadata");
    let text = error.to_string();
    assert!(
        text.contains("ECS metadata AK/SK: refused keys that expire"),
        "{text}"
    );
    assert_eq!(fake.key_fetches.load(Ordering::SeqCst), 1);
    assert!(server.requests().is_empty(), "nothing signed with them");
}

#[tokio::test]
async fn with_no_source_at_all_the_call_says_what_each_source_said_and_sends_nothing() {
    // Port 9 on loopback: nothing listens, the connection is refused at once.
    let server = Server::start(ServerConfig::default()).await.unwrap();
    let error = client(&server, chain("http://127.0.0.1:9"))
        .last_push_event(2112036131)
        .await
        .unwrap_err();
    common::assert_credentials_error(&error, "metadata");
    let text = error.to_string();
    for says in [
        "HUAWEICLOUD_SDK_AK",
        ".huaweicloud/credentials",
        "no such file",
        "ECS metadata at http://127.0.0.1:9",
    ] {
        assert!(text.contains(says), "{says:?} not in {text}");
    }
    assert_eq!(text.matches("no credentials").count(), 1, "{text}");
    assert!(server.requests().is_empty());
    // Invalid input is still refused first, before any metadata I/O.
    let error = client(&server, chain("http://127.0.0.1:9"))
        .last_push_event(0)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::InvalidInput { .. }), "{error}");
}

/// The call's timeout bounds the whole call, waiting for credentials included: a metadata
/// service that accepts and never answers cannot hold a 500 ms call for seconds.
#[tokio::test]
async fn a_hanging_metadata_service_cannot_outlast_the_timeout() {
    let hanging = common::scripted(vec![common::Reply::Hang]).await;
    let url = hanging.url.clone();
    let server = Server::start(ServerConfig::default()).await.unwrap();
    let client = Client::builder()
        .endpoint(server.url())
        .credentials(chain(&url))
        .timeout(Some(Duration::from_millis(500)))
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let error = client.last_push_event(2112036131).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_millis(1500),
        "{elapsed:?}: {error}"
    );
    let text = error.to_string();
    assert!(
        text.contains("timeout") && text.contains("credentials"),
        "{text}"
    );
    assert!(server.requests().is_empty());
}
