//! `ClientBuilder::signing_algorithm` on the wire, over HTTP/1.1 and HTTPS with HTTP/2: each of
//! the four algorithms signs both operations and the IAM project-id lookup, and temporary keys
//! from every keyless source; the embedded server verifies each and refuses a wrong secret
//! with the gateway's APIGW.0301.

#![cfg(feature = "server")]

mod common;

use std::{collections::HashMap, path::Path};

use axum::{
    Router,
    routing::{get, put},
};
use codearts_repo::{
    Client, Credentials, Error, RetryPolicy, SigningAlgorithm,
    server::{DEMO_AK, DEMO_SK, Keyless, POD_IDENTITY_PATH, RecordedRequest, Server, ServerConfig},
};
use common::protocol::Protocol;

fn header<'a>(request: &'a RecordedRequest, name: &str) -> Option<&'a str> {
    request
        .headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Every request the server saw was signed with `algorithm` and accepted.
fn all_signed_with(server: &Server, algorithm: SigningAlgorithm, context: &str) {
    let requests = server.requests();
    assert!(!requests.is_empty());
    for request in requests
        .iter()
        .filter(|r| header(r, "authorization").is_some())
    {
        assert_eq!(
            header(request, "authorization"),
            Some(format!("{} <redacted>", algorithm.name()).as_str()),
            "{context}: {request:?}"
        );
        assert_eq!(request.status, 200, "{context}: {request:?}");
    }
}

#[tokio::test]
async fn every_algorithm_signs_both_operations_and_the_iam_lookup() {
    for protocol in Protocol::ALL {
        for algorithm in SigningAlgorithm::ALL.iter().copied() {
            let server = protocol.server().await;
            let client = Protocol::builder(&server)
                .region("cn-north-4")
                .iam_endpoint(server.url())
                .credentials(Credentials::aksk(DEMO_AK, DEMO_SK).unwrap())
                .signing_algorithm(algorithm)
                .build()
                .unwrap();
            client.last_push_event(2112036131).await.unwrap();
            let commits = client
                .commits("3e1f6634946144c2b1ccb46fb8152b8f", "test")
                .repo_auth("a")
                .send()
                .await
                .unwrap();
            assert!(!commits.commits.is_empty());
            let context = format!("{protocol:?} {algorithm}");
            let requests = server.requests();
            assert_eq!(requests.len(), 3, "{context}: {requests:?}");
            assert!(
                requests.iter().any(|r| r.path == "/v3/projects"),
                "{context}"
            );
            assert!(requests.iter().all(|r| r.version == protocol.version()));
            all_signed_with(&server, algorithm, &context);
        }
    }
}

#[tokio::test]
async fn a_wrong_secret_is_refused_with_apigw_0301_for_every_algorithm() {
    for protocol in Protocol::ALL {
        let server = protocol.server().await;
        for algorithm in SigningAlgorithm::ALL.iter().copied() {
            let client = Protocol::builder(&server)
                .credentials(Credentials::aksk(DEMO_AK, "not-the-demo-secret").unwrap())
                .signing_algorithm(algorithm)
                .retry(RetryPolicy::none())
                .build()
                .unwrap();
            let error = client.last_push_event(2112036131).await.unwrap_err();
            let Error::Api(api) = &error else {
                panic!("{protocol:?} {algorithm}: {error:?}")
            };
            assert_eq!(api.status, 401, "{protocol:?} {algorithm}");
            assert_eq!(api.error_code, "APIGW.0301");
            assert!(
                api.error_msg.contains("signature does not match"),
                "{}",
                api.error_msg
            );
            assert!(!error.to_string().contains("not-the-demo-secret"));
        }
    }
}

/// The ECS metadata service, handing out the demo keys as temporary ones.
async fn metadata_service() -> String {
    let keys = || async {
        let expires_at = chrono::Utc::now() + chrono::Duration::hours(2);
        serde_json::json!({ "credential": {
            "access": DEMO_AK, "secret": DEMO_SK, "securitytoken": "metadata-security-token",
            "expires_at": expires_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        }})
        .to_string()
    };
    let app = Router::new()
        .route("/meta-data/latest/api/token", put(|| async { "session" }))
        .route("/openstack/latest/securitykey", get(keys));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

fn chain(home: &Path, vars: &[(&str, String)]) -> Credentials {
    let mut all: HashMap<String, String> = vars
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.clone()))
        .collect();
    all.insert("HOME".into(), home.to_str().unwrap().to_owned());
    Credentials::from_vars(|name| all.get(name).cloned()).unwrap()
}

#[tokio::test]
async fn temporary_keys_from_every_keyless_source_sign_with_the_clients_algorithm() {
    let metadata = metadata_service().await;
    for protocol in Protocol::ALL {
        let keyless = Keyless::default();
        let server = Server::start(ServerConfig {
            // The metadata fake hands out the demo keys, with its own security token.
            keyless: Some(keyless),
            ..protocol.config()
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, "demo-id-token").unwrap();
        let pod_file = dir.path().join("pod-token");
        std::fs::write(&pod_file, "demo-pod-token").unwrap();
        let file = |path: &Path| path.to_str().unwrap().to_owned();
        let flows: [(&str, Vec<(&str, String)>); 4] = [
            (
                "OIDC",
                vec![
                    ("HUAWEICLOUD_OIDC_PROVIDER_URN", "urn:provider".into()),
                    ("HUAWEICLOUD_OIDC_AGENCY_URN", "urn:agency".into()),
                    ("HUAWEICLOUD_OIDC_TOKEN_FILE", file(&token_file)),
                    ("HUAWEICLOUD_SDK_STS_ENDPOINT", server.url()),
                    (
                        "HUAWEICLOUD_SDK_METADATA_ENDPOINT",
                        "http://127.0.0.1:9".into(),
                    ),
                ],
            ),
            (
                "identity provider",
                vec![
                    ("HUAWEICLOUD_SDK_IDP_ID", "demo-idp".into()),
                    ("HUAWEICLOUD_SDK_ID_TOKEN_FILE", file(&token_file)),
                    (
                        "HUAWEICLOUD_SDK_METADATA_ENDPOINT",
                        "http://127.0.0.1:9".into(),
                    ),
                ],
            ),
            (
                "pod identity",
                vec![
                    (
                        "HC_CONTAINER_CREDENTIALS_FULL_URI",
                        format!("{}{POD_IDENTITY_PATH}", server.url()),
                    ),
                    ("HC_CONTAINER_AUTHORIZATION_TOKEN_FILE", file(&pod_file)),
                    (
                        "HUAWEICLOUD_SDK_METADATA_ENDPOINT",
                        "http://127.0.0.1:9".into(),
                    ),
                ],
            ),
            (
                "ECS metadata",
                vec![("HUAWEICLOUD_SDK_METADATA_ENDPOINT", metadata.clone())],
            ),
        ];
        for (source, vars) in flows {
            for algorithm in SigningAlgorithm::ALL.iter().copied() {
                let client: Client = Protocol::builder(&server)
                    .iam_endpoint(server.url())
                    .credentials(chain(dir.path(), &vars))
                    .signing_algorithm(algorithm)
                    .build()
                    .unwrap();
                client.last_push_event(2112036131).await.unwrap();
                let requests = server.requests();
                let last = requests.last().unwrap();
                let context = format!("{protocol:?} {source} {algorithm}");
                assert_eq!(last.status, 200, "{context}: {last:?}");
                assert!(header(last, "x-security-token").is_some(), "{context}");
                let expected = format!("{} <redacted>", algorithm.name());
                assert_eq!(
                    header(last, "authorization"),
                    Some(expected.as_str()),
                    "{context}"
                );
            }
        }
    }
}
