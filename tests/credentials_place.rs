//! Where temporary keys are fetched: at the calling client's place (its IAM endpoint, its
//! HTTP client), never at the first client's; the node-local pod-identity agent directly,
//! never through a proxy, and over plain HTTP only on a loopback or link-local host; a
//! credentials service's 5xx keeps its status and code; the environment's project id applies
//! whichever source gave the keys.

#![cfg(feature = "server")]

mod common;

use std::{collections::HashMap, path::Path};

use codearts_repo::{
    Client, Credentials, Error,
    server::{Keyless, POD_IDENTITY_PATH, Server, ServerConfig},
};
use common::protocol::Protocol;

const EXCHANGE: &str = "/v3.0/OS-CREDENTIAL/securitytokens";

fn chain(home: &Path, vars: &[(&str, String)]) -> Result<Credentials, Error> {
    let mut all: HashMap<String, String> = vars
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.clone()))
        .collect();
    all.insert("HOME".into(), home.to_str().unwrap().to_owned());
    all.entry("HUAWEICLOUD_SDK_METADATA_ENDPOINT".into())
        .or_insert_with(|| "http://127.0.0.1:9".into());
    Credentials::from_vars(|name| all.get(name).cloned())
}

fn exchanges(server: &Server) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.path == EXCHANGE)
        .count()
}

/// Two clients sharing one identity-provider credentials, each with its own IAM (and API)
/// endpoint: each exchanges the token at its own IAM, whichever was built first.
#[tokio::test]
async fn each_client_fetches_keys_at_its_own_place() {
    for protocol in Protocol::ALL {
        let start = || async {
            Server::start(ServerConfig {
                keyless: Some(Keyless::default()),
                ..protocol.config()
            })
            .await
            .unwrap()
        };
        let (first, second) = (start().await, start().await);
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, "demo-id-token").unwrap();
        let credentials = chain(
            dir.path(),
            &[
                ("HUAWEICLOUD_SDK_IDP_ID", "demo-idp".into()),
                (
                    "HUAWEICLOUD_SDK_ID_TOKEN_FILE",
                    token_file.to_str().unwrap().into(),
                ),
            ],
        )
        .unwrap();
        let client = |server: &Server| {
            Protocol::builder(server)
                .iam_endpoint(server.url())
                .credentials(credentials.clone())
                .build()
                .unwrap()
        };
        let (built_first, built_second) = (client(&first), client(&second));
        built_second.last_push_event(2112036131).await.unwrap();
        assert_eq!(
            (exchanges(&first), exchanges(&second)),
            (0, 1),
            "{protocol:?}: the second client's call fetched at its own IAM"
        );
        built_first.last_push_event(2112036131).await.unwrap();
        built_second.last_push_event(2112036131).await.unwrap();
        assert_eq!(
            (exchanges(&first), exchanges(&second)),
            (1, 1),
            "{protocol:?}: each fetched once, at its own IAM"
        );
        for server in [&first, &second] {
            let last = server.requests().last().cloned().unwrap();
            assert_eq!(
                (last.status, last.version.as_str()),
                (200, protocol.version())
            );
        }
    }
}

fn pod_vars(dir: &Path, uri: &str) -> Vec<(&'static str, String)> {
    let token_file = dir.join("pod-token");
    std::fs::write(&token_file, "demo-pod-token").unwrap();
    vec![
        ("HC_CONTAINER_CREDENTIALS_FULL_URI", uri.to_owned()),
        (
            "HC_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            token_file.to_str().unwrap().into(),
        ),
    ]
}

/// The client's HTTP client sends every plain-HTTP request through a proxy (the API is
/// reached over HTTPS); the pod-identity agent (plain HTTP on loopback) is still asked
/// directly, and the proxy receives nothing (it would see the pod's token).
#[tokio::test]
async fn the_pod_identity_agent_is_never_asked_through_a_proxy() {
    let proxy = common::scripted(vec![common::Reply::Hang]).await;
    // Accepts the keys the agent issues first.
    let api = Server::start(ServerConfig {
        keys: vec![("DEMOTEMPORARYAK00001".into(), Keyless::default().secret_key)],
        ..Protocol::Https2.config()
    })
    .await
    .unwrap();
    let agent = Server::start(ServerConfig {
        keyless: Some(Keyless::default()),
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("{}{POD_IDENTITY_PATH}", agent.url());
    let credentials = chain(dir.path(), &pod_vars(dir.path(), &uri)).unwrap();
    let ca = reqwest::Certificate::from_pem(api.ca_pem().unwrap().as_bytes()).unwrap();
    let http = common::plain_http()
        .add_root_certificate(ca)
        .proxy(reqwest::Proxy::http(&proxy.url).unwrap())
        .build()
        .unwrap();
    let client = Client::builder()
        .endpoint(api.url())
        .http_client(http)
        .credentials(credentials)
        .retry(codearts_repo::RetryPolicy::none())
        .build()
        .unwrap();
    let called = client.last_push_event(2112036131).await;
    assert!(proxy.requests().is_empty(), "{:?}", proxy.requests());
    called.unwrap();
    let asked = agent
        .requests()
        .iter()
        .filter(|r| r.path == POD_IDENTITY_PATH && r.status == 200)
        .count();
    assert_eq!(asked, 1);
    assert_eq!(api.requests().last().unwrap().status, 200);
}

/// Clients whose HTTP settings differ (here their roots) are at different places, even at
/// the same endpoints: each fetches keys of its own, over both protocols; clients with the
/// same settings share them.
#[tokio::test]
async fn clients_with_other_http_settings_fetch_keys_of_their_own() {
    let other_ca = Protocol::Https2.server().await.ca_pem().unwrap().to_owned();
    for protocol in Protocol::ALL {
        let server = Server::start(ServerConfig {
            keyless: Some(Keyless::default()),
            ..protocol.config()
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let uri = format!("{}{POD_IDENTITY_PATH}", server.url());
        let credentials = chain(dir.path(), &pod_vars(dir.path(), &uri)).unwrap();
        let client = |extra_root: Option<&str>| {
            let builder = Protocol::builder(&server).credentials(credentials.clone());
            match extra_root {
                Some(pem) => builder.add_root_certificate_pem(pem),
                None => builder,
            }
            .build()
            .unwrap()
        };
        let clients = [client(None), client(None), client(Some(&other_ca))];
        for client in &clients {
            client.last_push_event(2112036131).await.unwrap();
        }
        assert_eq!(server.counts().keys_issued, 2, "{protocol:?}");
    }
}

/// The client's certificate (mutual TLS) is for the services: the pod-identity agent, here
/// the server that also answers the API and requires the certificate, is never shown it, so
/// its handshake fails and it issues nothing, while the same client's API calls present it.
#[tokio::test]
async fn the_client_certificate_is_never_shown_to_the_pod_identity_agent() {
    use codearts_repo::server::{DEMO_AK, DEMO_SK, TlsOptions};
    let server = Server::start(ServerConfig {
        keyless: Some(Keyless::default()),
        tls: Some(TlsOptions::new().require_client_certificate(true)),
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("{}{POD_IDENTITY_PATH}", server.url());
    let client_with = |credentials: Credentials| {
        Protocol::builder(&server)
            .identity_pem(server.client_identity_pem().unwrap())
            .credentials(credentials)
            .retry(codearts_repo::RetryPolicy::none())
            .build()
            .unwrap()
    };
    let error = client_with(chain(dir.path(), &pod_vars(dir.path(), &uri)).unwrap())
        .last_push_event(2112036131)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("CCE pod identity"), "{error}");
    assert_eq!(server.counts().keys_issued, 0, "{error}");
    assert!(server.requests().is_empty());
    // The same client settings present the certificate to the API.
    client_with(Credentials::aksk(DEMO_AK, DEMO_SK).unwrap())
        .last_push_event(2112036131)
        .await
        .unwrap();
}

#[test]
fn a_plain_http_pod_identity_uri_must_name_a_local_host() {
    let dir = tempfile::tempdir().unwrap();
    for uri in [
        "http://pod-agent.example.com/v1/credentials",
        "http://10.0.0.8/v1/credentials",
        "http://[fd00::1]/v1/credentials",
    ] {
        let error = chain(dir.path(), &pod_vars(dir.path(), uri)).unwrap_err();
        common::assert_credentials_error(&error, uri);
        let text = error.to_string();
        assert!(
            text.contains("HC_CONTAINER_CREDENTIALS_FULL_URI") && text.contains("HTTPS"),
            "{text}"
        );
        assert!(!text.contains("demo-pod-token"), "{text}");
    }
    for uri in [
        "http://127.0.0.1:8080/v1/credentials",
        "http://localhost/v1/credentials",
        "http://[::1]/v1/credentials",
        "http://169.254.170.2/v1/credentials",
        "http://[fd00:ec2::23]/v1/credentials",
        "https://pod-agent.example.com/v1/credentials",
    ] {
        let credentials = chain(dir.path(), &pod_vars(dir.path(), uri));
        assert!(credentials.is_ok(), "{uri}: {credentials:?}");
    }
}

/// A 503 from the pod-identity agent: its status and code stay readable, worth retrying.
#[tokio::test]
async fn a_credentials_services_5xx_keeps_its_status_and_code() {
    let agent = common::scripted(vec![common::Reply::Raw(common::http(
        503,
        &[
            ("Content-Type", "application/json"),
            ("X-Iam-Trace-Id", "trace-123"),
        ],
        br#"{"error_code":"IAM.0001","error_msg":"busy"}"#,
    ))])
    .await;
    let server = Server::start(ServerConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("{}/v1/credentials", agent.url);
    let credentials = chain(dir.path(), &pod_vars(dir.path(), &uri)).unwrap();
    let error = Client::builder()
        .endpoint(server.url())
        .credentials(credentials)
        .retry(codearts_repo::RetryPolicy::none())
        .build()
        .unwrap()
        .last_push_event(2112036131)
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(503), "{error:?}");
    assert!(error.is_retryable());
    let text = error.to_string();
    assert!(!text.contains("connection error"), "{text}");
    for says in ["CCE pod identity", "HTTP 503", "IAM.0001", "trace-123"] {
        assert!(text.contains(says), "{says:?} not in {text}");
    }
    assert!(server.requests().is_empty());
}

/// `HUAWEICLOUD_SDK_PROJECT_ID` applies to keys from the profile too, before the profile's
/// own `project_id`.
#[test]
fn the_environments_project_id_applies_to_keys_from_the_profile() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "demo-id-token").unwrap();
    let profile = dir.path().join("credentials");
    let project = "3e1f6634946144c2b1ccb46fb8152b8f";
    for (section, expected) in [
        (
            format!(
                "[basic]\nidp_id = demo-idp\nid_token_file = {}\n",
                token_file.display()
            ),
            project,
        ),
        ("[basic]\nak = AK\nsk = SK\n".to_owned(), project),
        (
            "[basic]\nak = AK\nsk = SK\nproject_id = 0000000000000000000000000000000a\n".to_owned(),
            project,
        ),
    ] {
        std::fs::write(&profile, &section).unwrap();
        let credentials = chain(
            dir.path(),
            &[
                (
                    "HUAWEICLOUD_SDK_CREDENTIALS_FILE",
                    profile.to_str().unwrap().into(),
                ),
                ("HUAWEICLOUD_SDK_PROJECT_ID", project.into()),
            ],
        )
        .unwrap();
        assert_eq!(
            credentials.project_id().map(|id| id.as_str()),
            Some(expected),
            "{section}"
        );
    }
    // Without the variable, the profile's own.
    let credentials = chain(
        dir.path(),
        &[(
            "HUAWEICLOUD_SDK_CREDENTIALS_FILE",
            profile.to_str().unwrap().into(),
        )],
    )
    .unwrap();
    assert_eq!(
        credentials.project_id().map(|id| id.as_str()),
        Some("0000000000000000000000000000000a")
    );
}
