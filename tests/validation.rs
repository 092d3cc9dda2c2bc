//! Every parameter rule refuses bad input before any I/O, naming the field and the rule.

#![cfg(feature = "server")]

use codearts_repo::{
    Client, Credentials, Error, GitRef, ProjectPath, RepoAuth, RepositoryId,
    server::{Server, ServerConfig},
};
use proptest::prelude::*;

async fn server_and_client() -> (Server, Client) {
    let server = Server::start(ServerConfig::default()).await.unwrap();
    let client = Client::builder()
        .endpoint(server.url())
        .credentials(Credentials::token("t").unwrap())
        .build()
        .unwrap();
    (server, client)
}

fn field(error: &Error) -> &'static str {
    match error {
        Error::InvalidInput { field, .. } => field,
        other => panic!("not an input error: {other:?}"),
    }
}

#[tokio::test]
async fn bad_repository_ids_are_refused_without_a_request() {
    let (server, client) = server_and_client().await;
    for id in [0i64, -1, 2_147_483_648, 3_000_000_000, i64::MAX] {
        let error = client.last_push_event(id).await.unwrap_err();
        assert_eq!(field(&error), "repository_id");
        assert!(
            error.to_string().contains("from 1 to 2147483647"),
            "{error}"
        );
    }
    for text in ["", "abc", "1.5", "0x10", "99999999999999999999"] {
        assert!(text.parse::<RepositoryId>().is_err(), "{text}");
    }
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn bad_commits_parameters_are_refused_without_a_request() {
    let (server, client) = server_and_client().await;
    let cases: Vec<(&str, _)> = vec![
        (
            "namespace",
            client.commits("", "p").project_id("x").repo_auth("a"),
        ),
        (
            "namespace",
            client.commits(".", "p").project_id("x").repo_auth("a"),
        ),
        (
            "namespace",
            client.commits("..", "p").project_id("x").repo_auth("a"),
        ),
        (
            "namespace",
            client.commits("a\nb", "p").project_id("x").repo_auth("a"),
        ),
        (
            "project",
            client.commits("n", "").project_id("x").repo_auth("a"),
        ),
        (
            "project",
            client.commits("n", "..").project_id("x").repo_auth("a"),
        ),
        (
            "project",
            client
                .commits("n", "a\u{7f}")
                .project_id("x")
                .repo_auth("a"),
        ),
        (
            "project_id",
            client.commits("n", "p").project_id("..").repo_auth("a"),
        ),
        (
            "project_id",
            client.commits("n", "p").project_id("").repo_auth("a"),
        ),
        ("project_id", client.commits("n", "p").repo_auth("a")),
        (
            "ref",
            client
                .commits("n", "p")
                .project_id("x")
                .repo_auth("a")
                .git_ref(""),
        ),
        (
            "ref",
            client
                .commits("n", "p")
                .project_id("x")
                .repo_auth("a")
                .git_ref("main\r\nX: y"),
        ),
        ("repo_auth", client.commits("n", "p").project_id("x")),
        (
            "repo_auth",
            client.commits("n", "p").project_id("x").repo_auth(""),
        ),
        (
            "repo_auth",
            client
                .commits("n", "p")
                .project_id("x")
                .repo_auth("a\r\nX-Evil: 1"),
        ),
        (
            "repo_auth",
            client.commits("n", "p").project_id("x").repo_auth("授权"),
        ),
    ];
    let mut rendered = String::new();
    for (expected, request) in cases {
        let error = request.send().await.unwrap_err();
        assert_eq!(field(&error), expected, "{error}");
        rendered.push_str(&format!("{error}\n"));
    }
    insta::assert_snapshot!(rendered);
    assert!(server.requests().is_empty());
}

#[test]
fn bad_credentials_are_refused() {
    let cases = [
        ("token", Credentials::token("")),
        ("token", Credentials::token("a".repeat(100_001))),
        ("token", Credentials::token("abc\r\ndef")),
        ("token", Credentials::token("tökén")),
        ("ak", Credentials::aksk("", "sk")),
        ("sk", Credentials::aksk("ak", "")),
        ("sk", Credentials::aksk("ak", "s\nk")),
    ];
    for (expected, result) in cases {
        let error = result.unwrap_err();
        assert_eq!(field(&error), expected, "{error}");
    }
    assert!(
        Credentials::token("a".repeat(100_000)).is_ok(),
        "100,000 characters is the documented maximum"
    );
    assert!(
        Credentials::token("x")
            .unwrap()
            .with_security_token("t")
            .is_err()
    );
}

#[test]
fn repository_id_bounds_are_the_specs_numbers() {
    let spec: serde_json::Value = serde_norway::from_str(codearts_repo::OPENAPI_SPEC).unwrap();
    let id = &spec["components"]["schemas"]["RepositoryId"];
    assert_eq!(Some(u64::from(RepositoryId::MIN)), id["minimum"].as_u64());
    assert_eq!(Some(u64::from(RepositoryId::MAX)), id["maximum"].as_u64());
    let (min, max) = (i64::from(RepositoryId::MIN), i64::from(RepositoryId::MAX));
    assert!(RepositoryId::new(min).is_ok() && RepositoryId::new(max).is_ok());
    let error = RepositoryId::new(max + 1).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("invalid repository_id: must be an integer from {min} to {max}")
    );
    assert!(RepositoryId::new(min - 1).is_err());
}

#[test]
fn the_project_slash_becomes_a_colon() {
    assert_eq!(ProjectPath::new("a/b/c").unwrap().as_str(), "a:b:c");
    assert!(ProjectPath::new("/").is_ok(), "`:` is a valid segment");
}

proptest! {
    #[test]
    fn repository_ids_are_accepted_exactly_in_range(id in any::<i64>()) {
        prop_assert_eq!(RepositoryId::new(id).is_ok(), (1..=2_147_483_647).contains(&id));
        prop_assert_eq!(id.to_string().parse::<RepositoryId>().is_ok(), (1..=2_147_483_647).contains(&id));
    }

    #[test]
    fn header_values_never_carry_control_characters(value in "\\PC{0,5}[\\x00-\\x1f\\x7f]\\PC{0,5}") {
        prop_assert!(RepoAuth::new(value.clone()).is_err());
        prop_assert!(Credentials::token(value.clone()).is_err());
        prop_assert!(GitRef::new(value).is_err());
    }

    #[test]
    fn a_project_path_never_holds_a_slash(value in "[a-z/.:]{1,8}") {
        if let Ok(path) = ProjectPath::new(value) {
            prop_assert!(!path.as_str().contains('/'));
            prop_assert!(path.as_str() != "." && path.as_str() != "..");
        }
    }
}
