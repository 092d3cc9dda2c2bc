//! The embedded server checks requests as the documents say and answers as the spec says.

#![cfg(feature = "server")]

mod common;

use codearts_repo::server::{Fixtures, Server, ServerConfig};
use common::protocol::Protocol;
use reqwest::StatusCode;
use serde_json::{Value, json};

const COMMITS: &str = "/v1/p/git/repos/3e1f6634946144c2b1ccb46fb8152b8f/test/commits";
const PUSH: &str = "/v4/repositories/2112036131/last-push-event";

/// Path, headers, expected status and error code.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16, &'a str);

async fn server() -> Server {
    Server::start(ServerConfig::default()).await.unwrap()
}

/// Sends a raw request; returns status, request id and the JSON body.
async fn get(
    server: &Server,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, Option<String>, Value) {
    // ring, the crate's provider, as the plain client's default (no aws-lc in the tests).
    // Deprecated since rustls 0.23.48 (no post-quantum key exchange): ring is the choice.
    #[allow(deprecated)]
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut request = reqwest::Client::new().get(format!("{}{path}", server.url()));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    assert_eq!(response.headers()["content-type"], "application/json");
    let id = response
        .headers()
        .get("x-request-id")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, id, response.json().await.unwrap())
}

fn assert_huawei_error(body: &Value, code: &str) {
    let spec: Value = serde_norway::from_str(codearts_repo::OPENAPI_SPEC).unwrap();
    let schema =
        json!({ "$ref": "#/components/schemas/HuaweiError", "components": spec["components"] });
    assert!(
        jsonschema::is_valid(&schema, body),
        "{body} is not a Huawei error body"
    );
    assert_eq!(body["error_code"], code, "{body}");
}

#[tokio::test]
async fn every_error_is_a_documented_status_with_the_huawei_body_and_a_request_id() {
    let server = server().await;
    let token = ("x-auth-token", "t");
    let json_type = ("content-type", "application/json;charset=utf8");
    let auth = ("x-repo-auth", "a");
    let cases: Vec<Case> = vec![
        (PUSH, vec![], 401, "APIGW.0301"),
        (PUSH, vec![("authorization", "Bearer x")], 401, "APIGW.0301"),
        (
            PUSH,
            vec![(
                "authorization",
                "SDK-HMAC-SHA256 Access=nobody, SignedHeaders=host, Signature=00",
            )],
            401,
            "APIGW.0301",
        ),
        (
            "/v4/repositories/0/last-push-event",
            vec![token],
            400,
            "CH.004400",
        ),
        (
            "/v4/repositories/2147483648/last-push-event",
            vec![token],
            400,
            "CH.004400",
        ),
        (
            "/v4/repositories/abc/last-push-event",
            vec![token],
            400,
            "CH.004400",
        ),
        (
            "/v4/repositories/7/last-push-event",
            vec![token],
            404,
            "CH.004404",
        ),
        (COMMITS, vec![token, auth], 400, "SVCSTG.REPO.0400"),
        (
            COMMITS,
            vec![token, auth, ("content-type", "text/plain")],
            400,
            "SVCSTG.REPO.0400",
        ),
        (COMMITS, vec![token, json_type], 400, "SVCSTG.REPO.0400"),
        (
            "/v1/p/git/repos/n/unknown/commits",
            vec![token, json_type, auth],
            404,
            "SVCSTG.REPO.0404",
        ),
        (
            "/v1/p/git/repos/n/%FF%FE/commits",
            vec![token, json_type, auth],
            400,
            "SVCSTG.REPO.0400",
        ),
        ("/nowhere", vec![token], 404, "APIGW.0101"),
    ];
    for (path, headers, status, code) in cases {
        let (got, id, body) = get(&server, path, &headers).await;
        assert_eq!(got.as_u16(), status, "{path} {headers:?}: {body}");
        assert_huawei_error(&body, code);
        assert_eq!(id.unwrap().len(), 32);
    }
    let (status, _, body) = get(
        &server,
        COMMITS,
        &[token, auth, ("content-type", "application/json")],
    )
    .await;
    assert_eq!(
        status, 200,
        "the official SDK's plain application/json is accepted: {body}"
    );
}

/// The query parameters the spec declares are taken; any other is refused with the
/// operation's 400, naming it and those declared, over HTTP/1.1 and HTTPS+HTTP/2.
#[tokio::test]
async fn a_query_parameter_the_spec_does_not_declare_is_refused() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let headers = [
        ("x-auth-token", "t"),
        ("content-type", "application/json;charset=utf8"),
        ("x-repo-auth", "a"),
    ];
    for protocol in Protocol::ALL {
        let server = protocol.server().await;
        let mut client = reqwest::Client::builder();
        if let Some(ca) = server.ca_pem() {
            client =
                client.add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap());
        }
        let client = client.build().unwrap();
        let cases = [
            (format!("{COMMITS}?ref=master"), 200, None),
            (
                format!("{COMMITS}?ref=master&bogus=1"),
                400,
                Some((
                    "SVCSTG.REPO.0400",
                    "unknown query parameter `bogus`: this API takes ref",
                )),
            ),
            (
                format!("{PUSH}?ref=master"),
                400,
                Some((
                    "CH.004400",
                    "unknown query parameter `ref`: this API takes none",
                )),
            ),
        ];
        for (path, status, error) in cases {
            let mut request = client.get(format!("{}{path}", server.url()));
            for (name, value) in headers {
                request = request.header(name, value);
            }
            let response = request.send().await.unwrap();
            let version = format!("{:?}", response.version());
            assert_eq!(version, protocol.version(), "{path}");
            assert_eq!(response.status().as_u16(), status, "{protocol:?} {path}");
            let body: Value = response.json().await.unwrap();
            if let Some((code, message)) = error {
                assert_huawei_error(&body, code);
                assert_eq!(body["error_msg"], message);
            }
        }
    }
}

#[tokio::test]
async fn a_token_list_restricts_tokens() {
    let server = Server::start(ServerConfig {
        tokens: Some(vec!["good".into()]),
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    assert_eq!(get(&server, PUSH, &[("x-auth-token", "good")]).await.0, 200);
    assert_eq!(get(&server, PUSH, &[("x-auth-token", "bad")]).await.0, 401);
}

#[tokio::test]
async fn fixtures_come_from_json_and_from_code() {
    let fixtures = Fixtures::from_json(
        r#"{"push_events": [{"repository_id": 5, "event": {"ref": "dev", "created_at": "not a date"}}],
            "commits": [{"namespace": "n", "project": "team/app", "commits": [{"sha": "abc"}]}]}"#,
    )
    .unwrap();
    let server = Server::start(ServerConfig {
        fixtures,
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let token = ("x-auth-token", "t");
    let (_, _, body) = get(&server, "/v4/repositories/5/last-push-event", &[token]).await;
    assert_eq!(body, json!({"ref": "dev", "created_at": "not a date"}));
    let headers = [
        token,
        ("content-type", "application/json;charset=utf8"),
        ("x-repo-auth", "a"),
    ];
    let (_, _, body) = get(&server, "/v1/x/git/repos/n/team%3Aapp/commits", &headers).await;
    assert_eq!(body["commits"][0]["sha"], "abc");
    assert_eq!(
        get(&server, PUSH, &[token]).await.0,
        404,
        "a fixtures file replaces the defaults"
    );

    server.set_push_event(
        codearts_repo::RepositoryId::new(9).unwrap(),
        codearts_repo::PushEvent::builder().try_into().unwrap(),
    );
    assert_eq!(
        get(&server, "/v4/repositories/9/last-push-event", &[token])
            .await
            .0,
        200
    );

    let error =
        Fixtures::from_json(r#"{"push_events": [{"repository_id": 0, "event": {}}]}"#).unwrap_err();
    assert!(error.to_string().contains("repository_id"), "{error}");
}

#[tokio::test]
async fn malformed_requests_never_take_the_server_down() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = server().await;
    let garbage: [&[u8]; 4] = [
        b"\x00\x01\x02\r\n\r\n",
        b"GET /v4/repositories/1/last-push-event HTTP/1.1\r\nHost: x\r\nX-Auth-Token: \xff\xfe\r\n\r\n",
        b"POST /v4/repositories/1/last-push-event HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\nabc",
        b"GET /v4/repositories/99999999999999999999999999/last-push-event HTTP/1.1\r\nHost: x\r\nX-Auth-Token: t\r\n\r\n",
    ];
    for bytes in garbage {
        let mut socket = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
        socket.write_all(bytes).await.unwrap();
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(
            std::time::Duration::from_millis(500),
            socket.read_to_end(&mut answer),
        )
        .await;
    }
    assert_eq!(
        get(&server, PUSH, &[("x-auth-token", "t")]).await.0,
        200,
        "still serving"
    );
}
