//! What goes on the wire, captured by the embedded server on 127.0.0.1, and what comes back:
//! every test over plain HTTP/1.1 and over HTTPS with HTTP/2, as real endpoints speak both.
//! The server refuses a request carrying `Host` twice (or beside `:authority`), as nginx does.

#![cfg(feature = "server")]

mod common;

use codearts_repo::{
    Client, Credentials, RetryPolicy,
    server::{DEMO_AK, DEMO_SK, RecordedRequest, Server},
};
use common::protocol::Protocol;

const NAMESPACE: &str = "3e1f6634946144c2b1ccb46fb8152b8f";
const TOKEN: &str = "wire-test-token";

fn client(server: &Server, credentials: Credentials) -> Client {
    Protocol::builder(server)
        .credentials(credentials)
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
}

/// The server's record of each request, checked to have come over `protocol`.
fn requests(server: &Server, protocol: Protocol) -> Vec<RecordedRequest> {
    let requests = server.requests();
    for request in &requests {
        assert_eq!(request.version, protocol.version(), "{request:?}");
    }
    requests
}

/// Host port, signing date and the crate version change from run to run.
fn stable(request: &RecordedRequest) -> RecordedRequest {
    let mut request = request.clone();
    for (name, value) in &mut request.headers {
        match name.as_str() {
            "host" => *value = "127.0.0.1:<port>".into(),
            "x-sdk-date" => *value = "<date>".into(),
            // The crate's version changes with every release; the snapshot need not.
            "user-agent" => {
                assert_eq!(value, concat!("codearts-repo/", env!("CARGO_PKG_VERSION")));
                *value = "codearts-repo/<version>".into();
            }
            _ => {}
        }
    }
    request
}

/// Headers the documents name, plus standard ones; nothing else may be sent.
fn assert_only_documented_headers(request: &RecordedRequest, documented: &[&str]) {
    for (name, _) in &request.headers {
        assert!(
            documented.contains(&name.as_str())
                || ["accept", "user-agent", "host"].contains(&name.as_str()),
            "undocumented header {name} in {request:?}"
        );
    }
}

#[tokio::test]
async fn push_event_with_a_token() {
    for protocol in Protocol::ALL {
        push_event_with_a_token_over(protocol).await;
    }
}

async fn push_event_with_a_token_over(protocol: Protocol) {
    let server = protocol.server().await;
    let event = client(&server, Credentials::token(TOKEN).unwrap())
        .last_push_event(2112036131)
        .await
        .unwrap();
    insta::assert_json_snapshot!("push_event_decoded", event);
    let created = event.created_at.as_ref().unwrap();
    assert_eq!(
        created.as_str(),
        "2025-06-19T21:27:31.000+08:00",
        "kept as sent"
    );
    assert_eq!(
        created.parse().unwrap().offset().local_minus_utc(),
        8 * 3600
    );
    assert_eq!(event.repository.unwrap().id.unwrap().get(), 2112036131);

    let requests = requests(&server, protocol);
    assert_eq!(requests.len(), 1);
    assert_only_documented_headers(&requests[0], &["x-auth-token"]);
    insta::with_settings!({ snapshot_suffix => protocol.name() }, {
        insta::assert_yaml_snapshot!("push_event_token_request", stable(&requests[0]));
    });
}

#[tokio::test]
async fn commits_with_a_token_ref_and_a_slash_in_the_project() {
    for protocol in Protocol::ALL {
        commits_with_a_token_over(protocol).await;
    }
}

async fn commits_with_a_token_over(protocol: Protocol) {
    let server = protocol.server().await;
    server.set_commits("my-group", "team/app", vec![]);
    let list = client(&server, Credentials::token(TOKEN).unwrap())
        .commits("my-group", "team/app")
        .project_id(NAMESPACE)
        .git_ref("feature/a b+c~d*e")
        .repo_auth("gh-auth")
        .send()
        .await
        .unwrap();
    assert!(list.commits.is_empty());
    let requests = requests(&server, protocol);
    assert_only_documented_headers(
        &requests[0],
        &["x-auth-token", "content-type", "x-repo-auth"],
    );
    // The official SDK's encoding: `:` for the slash, %20 for a space, %2B for a plus.
    assert_eq!(
        requests[0].path,
        format!("/v1/{NAMESPACE}/git/repos/my-group/team%3Aapp/commits")
    );
    assert_eq!(
        requests[0].query.as_deref(),
        Some("ref=feature%2Fa%20b%2Bc~d%2Ae")
    );
    insta::with_settings!({ snapshot_suffix => protocol.name() }, {
        insta::assert_yaml_snapshot!("commits_token_request", stable(&requests[0]));
    });
}

#[tokio::test]
async fn documented_commits_example_decodes_though_its_date_is_not_a_date() {
    for protocol in Protocol::ALL {
        let server = protocol.server().await;
        let list = client(&server, Credentials::token(TOKEN).unwrap())
            .commits(NAMESPACE, "test")
            .project_id("any-project")
            .repo_auth("gh-auth")
            .send()
            .await
            .unwrap();
        insta::assert_json_snapshot!("commits_decoded", list);
        assert_eq!(
            list.commits[0].authored_date.as_deref(),
            Some("Fix all the bugs")
        );
        requests(&server, protocol);
    }
}

#[tokio::test]
async fn aksk_requests_are_signed_and_accepted() {
    for protocol in Protocol::ALL {
        aksk_requests_over(protocol).await;
    }
}

async fn aksk_requests_over(protocol: Protocol) {
    let server = protocol.server().await;
    let keys = Credentials::aksk(DEMO_AK, DEMO_SK)
        .unwrap()
        .with_project_id(NAMESPACE)
        .unwrap()
        .with_security_token("temporary-security-token")
        .unwrap();
    let client = client(&server, keys);
    client.last_push_event(2112036131).await.unwrap();
    client
        .commits("grp:team", "项目/répo")
        .git_ref("分支/dev")
        .repo_auth("repo-auth-token")
        .send()
        .await
        .unwrap_err(); // unknown project: 404, but only after the signature was accepted
    let requests = requests(&server, protocol);
    assert_eq!(requests[0].status, 200);
    assert_eq!(requests[1].status, 404, "{:?}", requests[1]);
    assert_only_documented_headers(
        &requests[1],
        &[
            "content-type",
            "x-repo-auth",
            "x-sdk-date",
            "x-project-id",
            "x-security-token",
            "authorization",
        ],
    );
    insta::with_settings!({ snapshot_suffix => protocol.name() }, {
        insta::assert_yaml_snapshot!(
            "aksk_requests",
            requests.iter().map(stable).collect::<Vec<_>>()
        );
    });
}

#[tokio::test]
async fn a_wrong_secret_key_is_refused_by_the_server() {
    for protocol in Protocol::ALL {
        let server = protocol.server().await;
        let client = client(
            &server,
            Credentials::aksk(DEMO_AK, "not-the-secret").unwrap(),
        );
        let error = client.last_push_event(2112036131).await.unwrap_err();
        assert_eq!(error.status(), Some(401), "{error}");
        assert!(error.to_string().contains("APIGW.0301"), "{error}");
    }
}

/// What nginx-based gateways do, and the client must never provoke: `Host` twice, or `Host`
/// beside HTTP/2's `:authority`, is a 400 with the Huawei error body.
#[tokio::test]
async fn the_server_refuses_a_duplicate_host_as_gateways_do() {
    for protocol in Protocol::ALL {
        let server = protocol.server().await;
        let mut http = common::plain_http();
        if let Some(ca) = server.ca_pem() {
            http =
                http.tls_certs_merge(reqwest::Certificate::from_pem_bundle(ca.as_bytes()).unwrap());
        }
        let http = http.build().unwrap();
        let url = format!(
            "{}/v4/repositories/2112036131/last-push-event",
            server.url()
        );
        let host = server.addr().to_string();
        let mut request = http.get(&url).header("x-auth-token", TOKEN);
        request = match protocol {
            // Over HTTP/1.1 a single Host is the request's own: send a second one.
            Protocol::Http1 => request.header("host", &host).header("host", &host),
            // Over HTTP/2 the host is `:authority`: any Host header is a duplicate.
            Protocol::Https2 => request.header("host", &host),
        };
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 400, "{protocol:?}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error_code"], "APIGW.0201", "{body}");
        assert!(
            body["error_msg"]
                .as_str()
                .unwrap()
                .contains("duplicate Host"),
            "{body}"
        );
        // The same request without the extra Host is served.
        let response = http
            .get(&url)
            .header("x-auth-token", TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        requests(&server, protocol);
    }
}
