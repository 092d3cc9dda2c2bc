//! What a newcomer meets first: the top-level help, an endpoint without a scheme, an empty
//! region, a watch with nothing to watch, and a loopback `--endpoint` that must be IAM's too.

mod common;

use std::net::TcpListener;

use common::*;

#[test]
fn the_top_level_help_names_the_connection_options_every_credential_and_exit_1() {
    let out = run(codearts().arg("--help"));
    assert_eq!(out.code, 0);
    let help = out.stdout;
    assert!(
        help.contains("Usage: codearts [CONNECTION OPTIONS] <COMMAND>"),
        "{help}"
    );
    for says in [
        "--endpoint URL",
        "--region REGION",
        "--ca-file PATH",
        "HUAWEICLOUD_SDK_TOKEN",
        "HUAWEICLOUD_OIDC_PROVIDER_URN",
        "HUAWEICLOUD_OIDC_TOKEN_FILE",
        "HUAWEICLOUD_SDK_IDP_ID",
        "HUAWEICLOUD_SDK_ID_TOKEN_FILE",
        "HC_CONTAINER_CREDENTIALS_FULL_URI",
        "HC_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        "codearts serve --keyless",
        "1 spec-diff and release-gate",
    ] {
        assert!(help.contains(says), "{says:?} not in\n{help}");
    }
    // The endpoint's help says where IAM is asked.
    let out = run(codearts().args(["push-event", "--help"]));
    assert!(
        out.stdout.contains("HUAWEICLOUD_SDK_IAM_ENDPOINT"),
        "{}",
        out.stdout
    );
}

#[test]
fn an_endpoint_without_a_scheme_gets_the_url_it_meant() {
    for given in ["localhost:18080", "127.0.0.1:18080"] {
        let out = run(codearts()
            .args(["--endpoint", given, "push-event", "2112036131"])
            .env("HUAWEICLOUD_SDK_TOKEN", "t"));
        assert_eq!(out.code, 2, "{given}: {}", out.stderr);
        out.assert_stderr_has(&[&format!(
            "did you mean http://{given} (loopback) or https://{given}?"
        )]);
    }
}

#[test]
fn an_empty_region_is_refused_by_name_before_anything_is_sent() {
    for region in ["", " ", "cn north 4"] {
        let out = run(codearts()
            .args(["--region", region, "push-event", "2112036131"])
            .env("HUAWEICLOUD_SDK_TOKEN", "t"));
        assert_eq!(out.code, 2, "{region:?}: {}", out.stderr);
        out.assert_stderr_has(&["invalid region", "cn-north-4"]);
    }
}

#[test]
fn a_watch_with_nothing_to_watch_names_ids_file_and_one_repository_is_one() {
    let out = run(codearts().arg("watch"));
    assert_eq!(out.code, 2, "{}", out.stderr);
    out.assert_stderr_has(&["nothing to watch", "--ids-file PATH"]);

    let server = Serve::start();
    let out = run(server.client().args(["watch", "2112036131", "--once"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.assert_stderr_has(&["polling 1 repository once"]);
}

/// `commits --endpoint http://127.0.0.1:PORT --region cn-north-4` with AK/SK and no project id
/// asks the embedded server's IAM, never the region's public host: a proxy that every
/// request to a public host would go through sees nothing.
#[test]
fn a_loopback_endpoint_is_iams_too_and_no_public_host_is_asked() {
    let server = Serve::start();
    let trap = TcpListener::bind("127.0.0.1:0").unwrap();
    trap.set_nonblocking(true).unwrap();
    let proxy = format!("http://{}", trap.local_addr().unwrap());
    let out = run(codearts()
        .args(["--endpoint", &server.url, "--region", "cn-north-4"])
        .args(["--timeout", "5s", "--max-attempts", "1"])
        .args(["commits", "3e1f6634946144c2b1ccb46fb8152b8f", "test"])
        .args(["--repo-auth", "gh-auth"])
        .env("HUAWEICLOUD_SDK_AK", "DEMOAK00000000000001")
        .env("HUAWEICLOUD_SDK_SK", "demo-secret-key-not-for-production")
        .env("HTTPS_PROXY", &proxy)
        .env("HTTP_PROXY", &proxy));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("6dcb09b5b57875f334f61aebed695e2e4193db5e")
    );
    assert_eq!(
        trap.accept().map(|_| ()).unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock,
        "a public host was asked through the proxy"
    );

    // A variable naming IAM elsewhere still wins (here a port where nothing listens).
    let out = run(codearts()
        .args(["--endpoint", &server.url, "--region", "cn-north-4"])
        .args(["--max-attempts", "1"])
        .args(["commits", "3e1f6634946144c2b1ccb46fb8152b8f", "test"])
        .args(["--repo-auth", "gh-auth"])
        .env("HUAWEICLOUD_SDK_AK", "DEMOAK00000000000001")
        .env("HUAWEICLOUD_SDK_SK", "demo-secret-key-not-for-production")
        .env("HUAWEICLOUD_SDK_IAM_ENDPOINT", "http://127.0.0.1:9"));
    assert_eq!(out.code, 4, "{}", out.stderr);
    out.assert_stderr_has(&["127.0.0.1:9"]);
}

/// With no credentials anywhere, the error lists each source looked at, in the chain's
/// order, says the metadata service was asked last, and calls an empty variable empty.
#[test]
fn with_nothing_configured_the_error_lists_each_source_in_order() {
    for (token, empty) in [(None, false), (Some(""), true)] {
        let mut command = codearts();
        command.args(["--endpoint", "http://127.0.0.1:9", "push-event", "1"]);
        if let Some(token) = token {
            command.env("HUAWEICLOUD_SDK_TOKEN", token);
        }
        let out = run(&mut command);
        assert_eq!(out.code, 2, "{}", out.stderr);
        let said = out.stderr.trim_end();
        assert!(
            said.starts_with("codearts: ") && !said.contains('\n'),
            "{said}"
        );
        let order = [
            "nothing configured",
            "HUAWEICLOUD_SDK_TOKEN",
            "HUAWEICLOUD_OIDC_PROVIDER_URN",
            "HUAWEICLOUD_SDK_IDP_ID",
            "HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK",
            "[basic] section in",
            "(no such file), and last asked the ECS metadata service",
        ];
        let at: Vec<usize> = order.iter().map(|word| said.find(word).unwrap()).collect();
        assert!(at.is_sorted(), "in the chain's order: {said}");
        assert_eq!(
            said.contains("HUAWEICLOUD_SDK_TOKEN empty"),
            empty,
            "{said}"
        );
    }
}

/// A usage error has the command's one prefix and the command's real syntax.
#[test]
fn a_usage_error_has_the_one_prefix_and_the_real_usage_line() {
    let out = run(codearts().args(["push-event", "--endpoint", "http://x", "--bogus", "1"]));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .starts_with("codearts: unexpected argument '--bogus'"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("error:"), "{}", out.stderr);
    assert!(out.stderr.contains(
        "Usage: codearts [CONNECTION OPTIONS] push-event [--output json|table] <REPOSITORY_ID>"
    ));
}

/// IAM lists no project for the region: the error says which flag or variable gives one.
#[test]
fn no_project_from_iam_names_the_flag_and_the_variable() {
    let serve = Serve::start();
    let out = run(codearts()
        .args([
            "--endpoint",
            &serve.url,
            "--region",
            "eu-west-101",
            "--max-attempts",
            "1",
        ])
        .args([
            "commits",
            "3e1f6634946144c2b1ccb46fb8152b8f",
            "test",
            "--repo-auth",
            "a",
        ])
        .env("HUAWEICLOUD_SDK_AK", codearts_repo::server::DEMO_AK)
        .env("HUAWEICLOUD_SDK_SK", codearts_repo::server::DEMO_SK));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_eq!(
        out.stderr.trim_end(),
        "codearts: no project id: IAM lists no project for region eu-west-101; give it with \
         --project-id ID or HUAWEICLOUD_SDK_PROJECT_ID"
    );
}
