//! The project id from IAM when AK/SK credentials carry none, against the embedded server's
//! IAM over HTTP/1.1 and HTTPS+HTTP/2. A client (and its clones) keeps the one project id of
//! its region and identity; each case uses a region of its own.

#![cfg(feature = "server")]

mod common;

use codearts_repo::{
    Client, Credentials, Error, RetryPolicy,
    server::{DEMO_AK, DEMO_SK, Server, ServerConfig},
};
use common::protocol::Protocol;

const NAMESPACE: &str = "3e1f6634946144c2b1ccb46fb8152b8f";

async fn server(protocol: Protocol, projects: &[(&str, &str)]) -> Server {
    Server::start(ServerConfig {
        projects: projects
            .iter()
            .map(|(region, id)| ((*region).to_owned(), (*id).to_owned()))
            .collect(),
        ..protocol.config()
    })
    .await
    .unwrap()
}

fn client(server: &Server, region: &str, credentials: Credentials) -> Client {
    Protocol::builder(server)
        .region(region)
        .iam_endpoint(server.url())
        .credentials(credentials)
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
}

fn keys() -> Credentials {
    Credentials::aksk(DEMO_AK, DEMO_SK).unwrap()
}

async fn commits(client: &Client) -> Result<codearts_repo::CommitList, Error> {
    client
        .commits(NAMESPACE, "test")
        .repo_auth("gh-auth")
        .send()
        .await
}

#[tokio::test]
async fn one_project_is_looked_up_once_signed_and_used_in_the_path() {
    for (protocol, region) in Protocol::ALL.into_iter().zip(["xx-one-1", "xx-one-2"]) {
        let server = server(protocol, &[(region, "projectfromiam01"), ("other", "x")]).await;
        let client = client(&server, region, keys());
        commits(&client).await.unwrap();
        commits(&client).await.unwrap();
        let requests = server.requests();
        let paths: Vec<_> = requests.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/v3/projects",
                "/v1/projectfromiam01/git/repos/3e1f6634946144c2b1ccb46fb8152b8f/test/commits",
                "/v1/projectfromiam01/git/repos/3e1f6634946144c2b1ccb46fb8152b8f/test/commits",
            ],
            "asked once, then cached ({protocol:?})"
        );
        let iam = &requests[0];
        assert_eq!(iam.query.as_deref(), Some(&*format!("name={region}")));
        assert_eq!(iam.status, 200, "the server verified the signature");
        assert_eq!(iam.version, protocol.version());
        let names: Vec<_> = iam.headers.iter().map(|(name, _)| name.as_str()).collect();
        assert!(
            names.contains(&"authorization") && names.contains(&"x-sdk-date"),
            "{names:?}"
        );
        assert!(!names.contains(&"x-project-id"), "{names:?}");
    }
}

#[tokio::test]
async fn no_project_or_several_is_an_error_and_nothing_reaches_the_service() {
    for (protocol, (none, two)) in Protocol::ALL
        .into_iter()
        .zip([("xx-none-1", "xx-two-1"), ("xx-none-2", "xx-two-2")])
    {
        let server = server(protocol, &[(two, "first-id"), (two, "second-id")]).await;

        let error = commits(&client(&server, none, keys())).await.unwrap_err();
        let Error::ProjectId {
            region,
            found,
            trace_id,
            ..
        } = &error
        else {
            panic!("expected a project id error, got {error:?}");
        };
        assert_eq!((region.as_str(), found.len()), (none, 0));
        let text = error.to_string();
        assert!(text.contains(none) && text.contains("no project"), "{text}");
        assert!(text.contains(trace_id.as_deref().unwrap()), "{text}");

        let error = commits(&client(&server, two, keys())).await.unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("several") && text.contains("first-id") && text.contains("second-id"),
            "{text}"
        );
        assert!(
            server.requests().iter().all(|r| r.path == "/v3/projects"),
            "only IAM was asked: {:?}",
            server.requests()
        );
    }
}

#[tokio::test]
async fn iam_is_not_asked_when_a_project_id_is_known_or_without_a_region() {
    let server = server(Protocol::Http1, &[("xx-known-1", "from-iam")]).await;
    let known = Protocol::builder(&server)
        .region("xx-known-1")
        .iam_endpoint(server.url())
        .credentials(keys().with_project_id("given-id").unwrap())
        .build()
        .unwrap();
    commits(&known).await.unwrap();
    let without_region = Protocol::builder(&server)
        .credentials(keys())
        .build()
        .unwrap();
    let token = client(&server, "xx-known-1", Credentials::token("t").unwrap());
    for client in [without_region, token] {
        let error = commits(&client).await.unwrap_err();
        assert!(
            matches!(
                error,
                Error::InvalidInput {
                    field: "project_id",
                    ..
                }
            ),
            "{error}"
        );
    }
    let paths: Vec<_> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        ["/v1/given-id/git/repos/3e1f6634946144c2b1ccb46fb8152b8f/test/commits"]
    );
}

#[tokio::test]
async fn a_refused_iam_signature_is_an_api_error() {
    let server = server(Protocol::Http1, &[("xx-refused-1", "id")]).await;
    let client = client(
        &server,
        "xx-refused-1",
        Credentials::aksk(DEMO_AK, "wrong-secret").unwrap(),
    );
    let error = commits(&client).await.unwrap_err();
    assert_eq!(error.status(), Some(401), "{error}");
    assert_eq!(server.requests().len(), 1);
}

/// Temporary keys rotate (the embedded server issues a new access key at each fetch), but
/// their user does not: the project id is looked up once, not once per access key.
#[tokio::test]
async fn the_project_id_is_looked_up_once_whatever_the_keys_rotations() {
    use codearts_repo::server::Keyless;
    for (protocol, region) in Protocol::ALL.into_iter().zip(["xx-rot-1", "xx-rot-2"]) {
        let server = Server::start(ServerConfig {
            projects: vec![(region.to_owned(), "projectfromiam02".to_owned())],
            keyless: Some(Keyless {
                lifetime: std::time::Duration::from_secs(2),
                ..Keyless::default()
            }),
            ..protocol.config()
        })
        .await
        .unwrap();
        let home = tempfile::tempdir().unwrap();
        let vars = [
            ("HOME", home.path().to_str().unwrap().to_owned()),
            ("HUAWEICLOUD_OIDC_PROVIDER_URN", "urn:provider".into()),
            ("HUAWEICLOUD_OIDC_AGENCY_URN", "urn:agency".into()),
            ("HUAWEICLOUD_OIDC_ID_TOKEN", "demo-id-token".into()),
            ("HUAWEICLOUD_SDK_STS_ENDPOINT", server.url()),
            (
                "HUAWEICLOUD_SDK_METADATA_ENDPOINT",
                "http://127.0.0.1:9".into(),
            ),
        ];
        let credentials = Credentials::from_vars(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
        })
        .unwrap();
        let client = client(&server, region, credentials);
        commits(&client).await.unwrap();
        // Past the keys' end: the next call fetches new ones.
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        commits(&client).await.unwrap();
        assert_eq!(server.counts().keys_issued, 2, "{protocol:?}");
        let lookups = server
            .requests()
            .iter()
            .filter(|r| r.path == "/v3/projects")
            .count();
        assert_eq!(lookups, 1, "{protocol:?}");
    }
}
