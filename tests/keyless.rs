//! Keyless credentials, found as the official chain finds them: OIDC federation, an identity
//! provider's ID token (in the environment or the profile), and CCE pod identity. A loopback
//! fake plays STS, IAM and the pod identity endpoint; the embedded server verifies that every
//! call is signed with the temporary keys and carries their security token.

#![cfg(feature = "server")]

mod common;

use std::{
    collections::HashMap,
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode, Uri},
    response::IntoResponse,
    routing::post,
};
use codearts_repo::{
    Client, Credentials, Error,
    server::{Server, ServerConfig},
};
use serde_json::{Value, json};

const TEMP_AK: &str = "TEMPORARYAK000000001";
const TEMP_SK: &str = "temporary-secret-key";

/// What the fake was asked: path, headers, JSON body; and how it misbehaves.
#[derive(Default)]
struct Fake {
    seen: Mutex<Vec<(String, HeaderMap, Value)>>,
    /// Answers every request with this status and no keys.
    fail_with: Option<StatusCode>,
}

impl Fake {
    fn seen(&self) -> Vec<(String, HeaderMap, Value)> {
        self.seen.lock().unwrap().clone()
    }

    /// What it was asked, once it was asked `n` times (refreshes run in the background).
    async fn seen_at_least(&self, n: usize) -> Vec<(String, HeaderMap, Value)> {
        for _ in 0..500 {
            if self.seen.lock().unwrap().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.seen()
    }
}

/// Keys that last two seconds (keys expiring as they are handed out are refused), so that a
/// call after [`KEYS_UNUSABLE`] fetches again. (Keys that last are fetched about once per
/// lifetime: `paused-time-tests/tests/keys_lifetime.rs`.)
fn expiry() -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339()
}

/// When keys of [`expiry`] are no longer used: at most 1.5 s after the fetch (the answer's
/// `Date` counts whole seconds, so they last 1 to 2 s as the client counts; none is used in
/// its last quarter).
const KEYS_UNUSABLE: Duration = Duration::from_millis(1600);

async fn answer(
    State(fake): State<Arc<Fake>>,
    uri: Uri,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> impl IntoResponse {
    let path = uri.path().to_owned();
    fake.seen
        .lock()
        .unwrap()
        .push((path.clone(), headers.clone(), body.clone()));
    let mut out = HeaderMap::new();
    if let Some(status) = fake.fail_with {
        out.insert("x-iam-trace-id", "trace-123".parse().unwrap());
        let body = json!({"error_code": "IAM.0001", "error_msg": "busy"});
        return (status, out, Json(body));
    }
    let keys = match path.as_str() {
        "/v3.0/OS-AUTH/id-token/tokens" => {
            let token = body["auth"]["id_token"]["id"].as_str().unwrap_or_default();
            out.insert(
                "x-subject-token",
                format!("unscoped-{token}").parse().unwrap(),
            );
            return (StatusCode::CREATED, out, Json(json!({"token": {}})));
        }
        "/v5/agencies/assume-with-oidc" => json!({"credentials": {
            "access_key_id": TEMP_AK, "secret_access_key": TEMP_SK,
            "security_token": "oidc-security-token", "expiration": expiry()}}),
        "/v3.0/OS-CREDENTIAL/securitytokens" => json!({"credential": {
            "access": TEMP_AK, "secret": TEMP_SK,
            "securitytoken": "idp-security-token", "expires_at": expiry()}}),
        // Pod identity, in the camel-case shape.
        _ => json!({"accessKeyId": TEMP_AK, "secretAccessKey": TEMP_SK,
            "securityToken": "pod-security-token", "expiration": expiry()}),
    };
    (StatusCode::OK, out, Json(keys))
}

async fn fake() -> (String, Arc<Fake>) {
    fake_like(Fake::default()).await
}

async fn fake_like(fake: Fake) -> (String, Arc<Fake>) {
    let fake = Arc::new(fake);
    let app = Router::new()
        .fallback(post(answer))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, fake)
}

/// The embedded server, accepting signatures by the temporary keys only.
async fn service() -> Server {
    Server::start(ServerConfig {
        keys: vec![(TEMP_AK.to_owned(), TEMP_SK.to_owned())],
        ..ServerConfig::default()
    })
    .await
    .unwrap()
}

fn chain(home: &Path, vars: &[(&str, String)]) -> Result<Credentials, Error> {
    let mut all: HashMap<String, String> = vars
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.clone()))
        .collect();
    all.insert("HOME".into(), home.to_str().unwrap().to_owned());
    // Never the real metadata service.
    all.entry("HUAWEICLOUD_SDK_METADATA_ENDPOINT".into())
        .or_insert_with(|| "http://127.0.0.1:9".into());
    Credentials::from_vars(|name| all.get(name).cloned())
}

/// Two calls, each signed and carrying the security token (each fetches keys: the first
/// ones are no longer used by the second call); returns the security tokens the service saw.
async fn two_signed_calls(client: &Client, server: &Server, between: impl FnOnce()) -> Vec<String> {
    client.last_push_event(2112036131).await.unwrap();
    between();
    tokio::time::sleep(KEYS_UNUSABLE).await;
    client.last_push_event(2112036131).await.unwrap();
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    requests
        .iter()
        .map(|request| {
            assert_eq!(request.status, 200, "signature verified");
            let header = |name: &str| {
                request
                    .headers
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
            };
            assert!(header("authorization").is_some());
            header("x-security-token").expect("a security token")
        })
        .collect()
}

#[tokio::test]
async fn oidc_federation_is_first_and_its_token_file_is_read_at_every_fetch() {
    let (sts, fake) = fake().await;
    let server = service().await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("oidc-token");
    std::fs::write(&token_file, "id-token-1\n").unwrap();
    let credentials = chain(
        dir.path(),
        &[
            (
                "HUAWEICLOUD_OIDC_PROVIDER_URN",
                "iam::1:identity-provider:ci".into(),
            ),
            ("HUAWEICLOUD_OIDC_AGENCY_URN", "iam::1:agency:deploy".into()),
            (
                "HUAWEICLOUD_OIDC_TOKEN_FILE",
                token_file.to_str().unwrap().into(),
            ),
            ("HUAWEICLOUD_OIDC_POLICY_IDS", "p1, p2".into()),
            ("HUAWEICLOUD_SDK_STS_ENDPOINT", sts),
            // OIDC comes before the environment's keys, as in the official chain.
            ("HUAWEICLOUD_SDK_AK", "LONGLIVEDAK".into()),
            ("HUAWEICLOUD_SDK_SK", "long-lived-sk".into()),
        ],
    )
    .unwrap();
    assert_eq!(credentials.kind(), "OIDC federation AK/SK");
    let client = Client::builder()
        .endpoint(server.url())
        .credentials(credentials)
        .build()
        .unwrap();
    let tokens = two_signed_calls(&client, &server, || {
        std::fs::write(&token_file, "id-token-2").unwrap();
    })
    .await;
    assert_eq!(tokens, ["<redacted>", "<redacted>"]);
    let seen = fake.seen_at_least(2).await;
    assert_eq!(seen.len(), 2);
    for ((path, headers, body), id_token) in seen.iter().zip(["id-token-1", "id-token-2"]) {
        assert_eq!(path, "/v5/agencies/assume-with-oidc");
        assert!(
            headers.get("authorization").is_none(),
            "STS is asked unsigned"
        );
        assert_eq!(
            *body,
            json!({
                "provider_urn": "iam::1:identity-provider:ci",
                "agency_urn": "iam::1:agency:deploy",
                "agency_session_name": "oidc-sts-session",
                "id_token": id_token,
                "duration_seconds": 3600,
                "policy_ids": ["p1", "p2"],
            })
        );
    }
}

#[tokio::test]
async fn an_identity_providers_token_comes_before_aksk_in_the_environment_and_the_profile() {
    let (iam, fake) = fake().await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("id-token");
    std::fs::write(&token_file, "the-id-token").unwrap();
    let token_path = token_file.to_str().unwrap().to_owned();
    let from_env = chain(
        dir.path(),
        &[
            ("HUAWEICLOUD_SDK_IDP_ID", "my-idp".into()),
            ("HUAWEICLOUD_SDK_ID_TOKEN_FILE", token_path.clone()),
            ("HUAWEICLOUD_SDK_AK", "LONGLIVEDAK".into()),
            ("HUAWEICLOUD_SDK_SK", "long-lived-sk".into()),
        ],
    )
    .unwrap();
    let profile = dir.path().join("credentials");
    std::fs::write(
        &profile,
        format!("[basic]\nidp_id = my-idp\nid_token_file = {token_path}\nak = A\nsk = S\n"),
    )
    .unwrap();
    let from_profile = chain(
        dir.path(),
        &[(
            "HUAWEICLOUD_SDK_CREDENTIALS_FILE",
            profile.to_str().unwrap().into(),
        )],
    )
    .unwrap();
    for credentials in [from_env, from_profile] {
        assert_eq!(credentials.kind(), "identity-provider AK/SK");
        let server = service().await;
        let client = Client::builder()
            .endpoint(server.url())
            .iam_endpoint(iam.clone())
            .credentials(credentials)
            .build()
            .unwrap();
        two_signed_calls(&client, &server, || {}).await;
    }
    let seen = fake.seen_at_least(8).await;
    assert_eq!(
        seen.len(),
        8,
        "two exchanges per fetch, two fetches per client"
    );
    let (path, headers, body) = &seen[0];
    assert_eq!(path, "/v3.0/OS-AUTH/id-token/tokens");
    assert_eq!(headers["x-idp-id"], "my-idp");
    assert_eq!(*body, json!({"auth": {"id_token": {"id": "the-id-token"}}}));
    let (path, _, body) = &seen[1];
    assert_eq!(path, "/v3.0/OS-CREDENTIAL/securitytokens");
    assert_eq!(
        *body,
        json!({"auth": {"identity": {"methods": ["token"],
            "token": {"id": "unscoped-the-id-token", "duration_seconds": 21600}}}})
    );
}

#[tokio::test]
async fn cce_pod_identity_is_asked_when_the_metadata_service_has_no_keys() {
    let (endpoint, fake) = fake().await;
    let server = service().await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("pod-token");
    std::fs::write(&token_file, "pod-token-1").unwrap();
    let credentials = chain(
        dir.path(),
        &[
            (
                "HC_CONTAINER_CREDENTIALS_FULL_URI",
                format!("{endpoint}/v1/credentials"),
            ),
            (
                "HC_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                token_file.to_str().unwrap().into(),
            ),
        ],
    )
    .unwrap();
    let client = Client::builder()
        .endpoint(server.url())
        .credentials(credentials.clone())
        .build()
        .unwrap();
    two_signed_calls(&client, &server, || {
        std::fs::write(&token_file, "pod-token-2").unwrap();
    })
    .await;
    assert_eq!(credentials.kind(), "CCE pod identity AK/SK");
    let seen = fake.seen_at_least(2).await;
    let authorizations: Vec<&str> = seen
        .iter()
        .map(|(path, headers, body)| {
            assert_eq!(path, "/v1/credentials");
            assert_eq!(*body, json!({}));
            headers["authorization"].to_str().unwrap()
        })
        .collect();
    assert_eq!(authorizations, ["pod-token-1", "pod-token-2"]);
}

#[tokio::test]
async fn half_set_keyless_variables_are_errors_and_no_token_reaches_debug_or_errors() {
    let dir = tempfile::tempdir().unwrap();
    let error = chain(
        dir.path(),
        &[(
            "HUAWEICLOUD_OIDC_PROVIDER_URN",
            "iam::1:identity-provider:ci".into(),
        )],
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("HUAWEICLOUD_OIDC_AGENCY_URN")
            && error.contains("HUAWEICLOUD_OIDC_ID_TOKEN or HUAWEICLOUD_OIDC_TOKEN_FILE"),
        "{error}"
    );
    let error = chain(dir.path(), &[("HUAWEICLOUD_SDK_IDP_ID", "my-idp".into())])
        .unwrap_err()
        .to_string();
    assert!(error.contains("ID token file"), "{error}");
    let error = chain(
        dir.path(),
        &[(
            "HC_CONTAINER_CREDENTIALS_FULL_URI",
            "http://127.0.0.1:9".into(),
        )],
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("HC_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
        "{error}"
    );

    // An inline ID token and an STS that refuses: the token is in neither Debug nor the error.
    let credentials = chain(
        dir.path(),
        &[
            ("HUAWEICLOUD_OIDC_PROVIDER_URN", "urn:p".into()),
            ("HUAWEICLOUD_OIDC_AGENCY_URN", "urn:a".into()),
            ("HUAWEICLOUD_OIDC_ID_TOKEN", "SECRET-ID-TOKEN".into()),
            ("HUAWEICLOUD_SDK_STS_ENDPOINT", "http://127.0.0.1:9".into()),
        ],
    )
    .unwrap();
    assert!(!format!("{credentials:?}").contains("SECRET-ID-TOKEN"));
    let server = service().await;
    let client = Client::builder()
        .endpoint(server.url())
        .credentials(credentials)
        .timeout(Some(Duration::from_secs(10)))
        .build()
        .unwrap();
    let error = client.last_push_event(1).await.unwrap_err();
    let text = format!("{error} {error:?}");
    assert!(
        text.contains("OIDC federation with STS at http://127.0.0.1:9"),
        "{text}"
    );
    assert!(!text.contains("SECRET-ID-TOKEN"), "{text}");
    assert!(server.requests().is_empty());
}

/// Pod identity credentials from a fake at `endpoint`, and a client using them.
fn pod_client(server: &Server, endpoint: &str, dir: &Path) -> Client {
    let token_file = dir.join("pod-token");
    std::fs::write(&token_file, "pod-token").unwrap();
    let credentials = chain(
        dir,
        &[
            (
                "HC_CONTAINER_CREDENTIALS_FULL_URI",
                format!("{endpoint}/v1/credentials"),
            ),
            (
                "HC_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                token_file.to_str().unwrap().into(),
            ),
        ],
    )
    .unwrap();
    Client::builder()
        .endpoint(server.url())
        .credentials(credentials)
        .build()
        .unwrap()
}

/// A credentials service that fails (5xx) is trouble worth retrying, told with its status,
/// code and trace id, not "no credentials"; nothing reaches the API.
#[tokio::test]
async fn a_failing_credentials_service_is_retryable_with_its_answer() {
    let (endpoint, _) = fake_like(Fake {
        fail_with: Some(StatusCode::SERVICE_UNAVAILABLE),
        ..Fake::default()
    })
    .await;
    let server = service().await;
    let dir = tempfile::tempdir().unwrap();
    let error = pod_client(&server, &endpoint, dir.path())
        .last_push_event(2112036131)
        .await
        .unwrap_err();
    // Its status and code are kept (it used to be a "connection error" without either).
    assert!(
        matches!(error, Error::CredentialsService { .. }),
        "{error:?}"
    );
    assert_eq!(error.status(), Some(503));
    assert!(error.is_retryable());
    let text = error.to_string();
    for says in ["CCE pod identity", "HTTP 503", "IAM.0001", "trace-123"] {
        assert!(text.contains(says), "{says:?} not in {text}");
    }
    assert!(server.requests().is_empty());

    // Refused (4xx): not worth retrying, and said as such.
    let (endpoint, _) = fake_like(Fake {
        fail_with: Some(StatusCode::FORBIDDEN),
        ..Fake::default()
    })
    .await;
    let error = pod_client(&server, &endpoint, dir.path())
        .last_push_event(2112036131)
        .await
        .unwrap_err();
    common::assert_credentials_error(&error, "pod identity");
    assert!(!error.is_retryable());
}

/// Each flow end to end against the embedded server playing STS, IAM and the pod-identity
/// agent, over HTTP/1.1 and HTTPS with HTTP/2: the exchange, then a call the server verifies
/// with the keys it issued and their security token.
#[tokio::test]
async fn every_flow_end_to_end_over_both_protocols() {
    use codearts_repo::server::Keyless;
    use common::protocol::Protocol;
    for protocol in Protocol::ALL {
        let server = Server::start(ServerConfig {
            keyless: Some(Keyless::default()),
            ..protocol.config()
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        for Flow { exchange, vars, .. } in flows(&server, dir.path()) {
            let credentials = chain(dir.path(), &vars).unwrap();
            let client = Protocol::builder(&server)
                .iam_endpoint(server.url())
                .credentials(credentials)
                .build()
                .unwrap();
            client.last_push_event(2112036131).await.unwrap();
            let requests = server.requests();
            let last = requests.last().unwrap();
            assert_eq!(last.status, 200, "{protocol:?} {exchange}: {last:?}");
            assert_eq!(last.version, protocol.version());
            assert!(
                last.headers
                    .iter()
                    .any(|(name, _)| name == "x-security-token"),
                "{protocol:?} {exchange}"
            );
            assert!(
                requests
                    .iter()
                    .any(|r| r.path == exchange && r.status == 200),
                "{protocol:?}: {exchange} was not asked: {requests:?}"
            );
        }
    }
}

/// Keys that expire are fetched again before the next call, from a token file that changed
/// meanwhile; a refused ID token is a clear error and nothing reaches the API.
#[tokio::test]
async fn expired_keys_are_fetched_again_and_a_refused_token_says_so() {
    use codearts_repo::server::Keyless;
    let server = Server::start(ServerConfig {
        keyless: Some(Keyless {
            id_tokens: vec!["token-1".into(), "token-2".into()],
            lifetime: Duration::from_secs(2),
            ..Keyless::default()
        }),
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "token-1").unwrap();
    let credentials = chain(
        dir.path(),
        &[
            ("HUAWEICLOUD_OIDC_PROVIDER_URN", "urn:provider".into()),
            ("HUAWEICLOUD_OIDC_AGENCY_URN", "urn:agency".into()),
            (
                "HUAWEICLOUD_OIDC_TOKEN_FILE",
                token_file.to_str().unwrap().into(),
            ),
            ("HUAWEICLOUD_SDK_STS_ENDPOINT", server.url()),
        ],
    )
    .unwrap();
    let client = Client::builder()
        .endpoint(server.url())
        .credentials(credentials)
        .build()
        .unwrap();
    client.last_push_event(2112036131).await.unwrap();
    std::fs::write(&token_file, "token-2").unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    client.last_push_event(2112036131).await.unwrap();
    let statuses: Vec<(String, u16)> = server
        .requests()
        .iter()
        .map(|r| (r.path.clone(), r.status))
        .filter(|(path, _)| path.starts_with("/v5") || path.starts_with("/v4"))
        .collect();
    let exchange = ("/v5/agencies/assume-with-oidc".to_owned(), 200);
    let call = (
        "/v4/repositories/2112036131/last-push-event".to_owned(),
        200,
    );
    assert_eq!(
        &statuses[..2],
        [exchange.clone(), call.clone()],
        "{statuses:?}"
    );
    assert!(statuses[2..].contains(&exchange) && statuses.last() == Some(&call));

    std::fs::write(&token_file, "a-refused-token").unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let before = server.requests().len();
    let error = client.last_push_event(2112036131).await.unwrap_err();
    let text = error.to_string();
    for says in ["OIDC federation with STS", "HTTP 403", "STS.0101", "token"] {
        assert!(text.contains(says), "{says:?} not in {text}");
    }
    assert!(!text.contains("a-refused-token"), "{text}");
    let after = server.requests();
    assert!(after[before..].iter().all(|r| !r.path.starts_with("/v4")));
}

/// The embedded server's keyless flows, over both protocols, with the pod-identity agent and
/// OIDC federation as sources: `lifetime` for the keys they issue.
/// A keyless flow as the variables that choose it.
struct Flow {
    /// The path of the exchange it asks for keys.
    exchange: &'static str,
    /// The name its errors give.
    source: &'static str,
    vars: Vec<(&'static str, String)>,
}

/// The flows against `server` playing STS, IAM and the pod-identity agent, their token
/// files written in `dir`.
fn flows(server: &Server, dir: &Path) -> [Flow; 3] {
    use codearts_repo::server::POD_IDENTITY_PATH;
    let token_file = dir.join("token");
    std::fs::write(&token_file, "demo-id-token").unwrap();
    let pod_file = dir.join("pod-token");
    std::fs::write(&pod_file, "demo-pod-token").unwrap();
    let file = |path: &Path| path.to_str().unwrap().to_owned();
    [
        Flow {
            exchange: "/v5/agencies/assume-with-oidc",
            source: "OIDC federation AK/SK",
            vars: vec![
                ("HUAWEICLOUD_OIDC_PROVIDER_URN", "urn:provider".into()),
                ("HUAWEICLOUD_OIDC_AGENCY_URN", "urn:agency".into()),
                ("HUAWEICLOUD_OIDC_TOKEN_FILE", file(&token_file)),
                ("HUAWEICLOUD_SDK_STS_ENDPOINT", server.url()),
            ],
        },
        Flow {
            exchange: "/v3.0/OS-CREDENTIAL/securitytokens",
            source: "identity-provider AK/SK",
            vars: vec![
                ("HUAWEICLOUD_SDK_IDP_ID", "demo-idp".into()),
                ("HUAWEICLOUD_SDK_ID_TOKEN_FILE", file(&token_file)),
            ],
        },
        Flow {
            exchange: POD_IDENTITY_PATH,
            source: "CCE pod identity AK/SK",
            vars: vec![
                (
                    "HC_CONTAINER_CREDENTIALS_FULL_URI",
                    format!("{}{POD_IDENTITY_PATH}", server.url()),
                ),
                ("HC_CONTAINER_AUTHORIZATION_TOKEN_FILE", file(&pod_file)),
            ],
        },
    ]
}

async fn keyless_server(protocol: common::protocol::Protocol, lifetime: Duration) -> Server {
    use codearts_repo::server::Keyless;
    Server::start(ServerConfig {
        keyless: Some(Keyless {
            lifetime,
            ..Keyless::default()
        }),
        ..protocol.config()
    })
    .await
    .unwrap()
}

/// A service that issues keys expiring as they are issued (by its own clock) gets a
/// credentials error that says so, from every flow and over both protocols; no request is
/// signed with them.
#[tokio::test]
async fn keys_that_expire_as_they_are_issued_are_refused_over_both_protocols() {
    use common::protocol::Protocol;
    for protocol in Protocol::ALL {
        let server = keyless_server(protocol, Duration::ZERO).await;
        let dir = tempfile::tempdir().unwrap();
        let flows = flows(&server, dir.path())
            .into_iter()
            .filter(|flow| flow.source != "identity-provider AK/SK");
        for Flow { source, vars, .. } in flows {
            let client = Protocol::builder(&server)
                .credentials(chain(dir.path(), &vars).unwrap())
                .build()
                .unwrap();
            let error = client.last_push_event(2112036131).await.unwrap_err();
            common::assert_credentials_error(&error, &format!("{protocol:?} {source}"));
            let text = error.to_string();
            assert!(
                text.contains(&format!("{source}: refused keys that expire")),
                "{protocol:?}: {text}"
            );
        }
        assert_eq!(server.counts().keys_issued, 2, "{protocol:?}");
        assert_eq!(server.counts().requests, 0, "{protocol:?}: nothing signed");
    }
}

/// The embedded server issues a new access key at each fetch and refuses a request signed
/// with issued keys once they expired, with the gateway's code (`APIGW.0301`, "token
/// expires"), over both protocols.
#[tokio::test]
async fn the_server_issues_new_keys_at_each_fetch_and_refuses_expired_ones() {
    use codearts_repo::server::POD_IDENTITY_PATH;
    use common::protocol::Protocol;
    for protocol in Protocol::ALL {
        let server = keyless_server(protocol, Duration::from_secs(1)).await;
        let mut http = common::plain_http();
        if let Some(ca) = server.ca_pem() {
            http =
                http.add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap());
        }
        let http = http.build().unwrap();
        let mut keys = Vec::new();
        for _ in 0..2 {
            let answer: Value = http
                .post(format!("{}{POD_IDENTITY_PATH}", server.url()))
                .header("authorization", "demo-pod-token")
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let field = |name: &str| answer[name].as_str().unwrap().to_owned();
            keys.push((
                field("accessKeyId"),
                field("secretAccessKey"),
                field("securityToken"),
            ));
        }
        assert_eq!(keys[0].0, "DEMOTEMPORARYAK00001");
        assert_eq!(keys[1].0, "DEMOTEMPORARYAK00002");
        let signed_with = |(ak, sk, token): &(String, String, String)| {
            Protocol::builder(&server)
                .credentials(
                    Credentials::aksk(ak, sk)
                        .unwrap()
                        .with_security_token(token)
                        .unwrap(),
                )
                .retry(codearts_repo::RetryPolicy::none())
                .build()
                .unwrap()
        };
        // Each key goes with its own security token.
        let crossed = (keys[0].0.clone(), keys[0].1.clone(), keys[1].2.clone());
        let error = signed_with(&crossed)
            .last_push_event(2112036131)
            .await
            .unwrap_err();
        assert!(error.to_string().contains("X-Security-Token"), "{error}");
        signed_with(&keys[1])
            .last_push_event(2112036131)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let error = signed_with(&keys[1])
            .last_push_event(2112036131)
            .await
            .unwrap_err();
        let Error::Api(answer) = &error else {
            panic!("{protocol:?}: {error:?}");
        };
        assert_eq!(answer.status, 401, "{protocol:?}");
        assert_eq!(answer.error_code, "APIGW.0301");
        assert!(answer.error_msg.contains("token expires"), "{answer:?}");
    }
}
