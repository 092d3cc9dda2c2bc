//! The `codearts` binary, run as a user would, against the embedded server: the two
//! operations, credentials, errors and exit codes.

mod common;

use common::*;
use serde_json::Value;

#[test]
fn push_event_and_commits_against_codearts_serve() {
    let server = Serve::start();
    let out = run(server.client().args(["push-event", "2112036131"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let json: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["created_at"], "2025-06-19T21:27:31.000+08:00");

    let out = run(server.client().args([
        "commits",
        "3e1f6634946144c2b1ccb46fb8152b8f",
        "test",
        "--repo-auth",
        "a",
        "--ref",
        "master",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let json: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["commits"][0]["message"], "Fix all the bugs");

    let out = run(server.client().args([
        "--output",
        "table",
        "commits",
        "3e1f6634946144c2b1ccb46fb8152b8f",
        "test",
        "--repo-auth",
        "a",
    ]));
    assert!(out.stdout.starts_with("SHA"), "{}", out.stdout);
}

#[test]
fn aksk_from_the_environment_and_from_a_profile_file() {
    let server = Serve::start();
    let out = run(codearts()
        .args(["--endpoint", &server.url, "push-event", "2112036131"])
        .env("HUAWEICLOUD_SDK_AK", codearts_repo::server::DEMO_AK)
        .env("HUAWEICLOUD_SDK_SK", codearts_repo::server::DEMO_SK));
    assert_eq!(out.code, 0, "{}", out.stderr);

    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("credentials");
    std::fs::write(
        &profile,
        format!(
            "[basic]\nak = {}\nsk = {}\nproject_id = p\n",
            codearts_repo::server::DEMO_AK,
            codearts_repo::server::DEMO_SK
        ),
    )
    .unwrap();
    let out = run(codearts()
        .args([
            "--endpoint",
            &server.url,
            "commits",
            "3e1f6634946144c2b1ccb46fb8152b8f",
            "test",
            "--repo-auth",
            "a",
        ])
        .env("HUAWEICLOUD_SDK_CREDENTIALS_FILE", &profile));
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn api_errors_exit_3_with_code_and_request_id() {
    let server = Serve::start();
    let out = run(server.client().args(["push-event", "1"]));
    assert_eq!(out.code, 3);
    assert!(out.stdout.is_empty());
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    out.assert_stderr_has(&["CH.004404", "request id"]);
}

#[test]
fn bad_input_exits_2_and_sends_nothing() {
    // The endpoint is dead: a request would be a transport error (4), not 2.
    let cases: &[&[&str]] = &[
        &["push-event", "0"],
        &["push-event", "2147483648"],
        &["push-event", "-5"],
        &["push-event", "abc"],
        &["commits", "..", "p", "--repo-auth", "a"],
        &["commits", "n", "", "--repo-auth", "a"],
        &["commits", "n", "p", "--repo-auth", "a\r\nX-Evil: 1"],
        &["commits", "n", "p", "--repo-auth", "a", "--ref", "x\ny"],
        &["commits", "n", "p"],
        &["--timeout", "soon", "push-event", "1"],
    ];
    for args in cases {
        let out = run(codearts()
            .args(["--endpoint", "http://127.0.0.1:9", "--project-id", "p"])
            .args(*args)
            .env("HUAWEICLOUD_SDK_TOKEN", "t"));
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(!out.stderr.is_empty() && out.stdout.is_empty(), "{args:?}");
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    }
    let long_token = "a".repeat(100_001);
    let out = run(codearts()
        .args(["--endpoint", "http://127.0.0.1:9", "push-event", "1"])
        .env("HUAWEICLOUD_SDK_TOKEN", &long_token));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("100,000") && !out.stderr.contains(&long_token),
        "{}",
        out.stderr
    );
}

#[test]
fn missing_credentials_say_where_they_were_looked_for() {
    let out = run(codearts().args(["--endpoint", "http://127.0.0.1:9", "push-event", "1"]));
    assert_eq!(out.code, 2);
    out.assert_stderr_has(&["HUAWEICLOUD_SDK_AK", ".huaweicloud/credentials"]);
}

#[test]
fn help_is_useful_for_every_command() {
    for command in ["push-event", "commits", "serve", "demo", "watch"] {
        let out = run(codearts().args([command, "--help"]));
        assert_eq!(out.code, 0);
        assert!(out.stdout.contains("Example"), "{command}: {}", out.stdout);
    }
    let out = run(codearts().arg("--help"));
    assert!(out.stdout.contains("Exit codes") && out.stdout.contains("HUAWEICLOUD_SDK_AK"));
}

#[test]
fn the_most_verbose_trace_carries_no_secret() {
    let server = Serve::start();
    let secret_sk = codearts_repo::server::DEMO_SK;
    let runs = [
        vec![("HUAWEICLOUD_SDK_TOKEN", "TOKEN-SECRET-do-not-print")],
        vec![
            ("HUAWEICLOUD_SDK_AK", codearts_repo::server::DEMO_AK),
            ("HUAWEICLOUD_SDK_SK", secret_sk),
            (
                "HUAWEICLOUD_SDK_SECURITY_TOKEN",
                "SECURITY-SECRET-do-not-print",
            ),
        ],
    ];
    for vars in runs {
        for args in [
            &["push-event", "2112036131"][..],
            &["push-event", "7"],
            &["commits", "n", "p", "--repo-auth", "a", "--project-id", "x"],
        ] {
            let out = run(codearts()
                .args(["--endpoint", &server.url])
                .args(args)
                .env("RUST_LOG", "trace")
                .envs(vars.iter().copied()));
            assert!(
                out.stderr.contains("codearts_call"),
                "the trace was printed: {}",
                out.stderr
            );
            for secret in [
                secret_sk,
                "TOKEN-SECRET-do-not-print",
                "SECURITY-SECRET-do-not-print",
            ] {
                assert!(
                    !out.stderr.contains(secret) && !out.stdout.contains(secret),
                    "{secret} leaked"
                );
            }
        }
    }
}

#[test]
fn an_empty_commit_list_prints_as_an_empty_list() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = dir.path().join("fixtures.json");
    std::fs::write(
        &fixtures,
        r#"{"commits": [{"namespace": "n", "project": "p", "commits": []}]}"#,
    )
    .unwrap();
    let server = Serve::with_args(&["--fixtures", fixtures.to_str().unwrap()]);
    let out = run(server
        .client()
        .args(["commits", "n", "p", "--repo-auth", "a"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let json: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json, serde_json::json!({ "commits": [] }));
}

#[test]
fn a_failed_write_is_an_error_and_a_zero_timeout_is_refused() {
    let server = Serve::start();
    for args in [
        &["push-event", "2112036131"][..],
        &["watch", "--once", "2112036131"],
    ] {
        let full = std::fs::File::create("/dev/full").unwrap();
        let out = run(server.client().args(args).stdout(full));
        assert_ne!(out.code, 0, "{args:?}: {}", out.stderr);
        out.assert_stderr_has(&["cannot write the output"]);
    }
    let out = run(server
        .client()
        .args(["--timeout", "0s", "push-event", "2112036131"]));
    assert_eq!(out.code, 2);
    out.assert_stderr_has(&["--timeout", "must be above 0"]);
}

/// Messages speak of the command's own flags, say things once, and translate parsers.
#[test]
fn messages_name_the_commands_flags() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("credentials");
    std::fs::write(&profile, "[basic]\nak = x\nsk\n").unwrap();
    let profile = profile.to_str().unwrap();
    // (arguments, environment, what stderr says)
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a [&'a str]);
    let cases: [Case; 6] = [
        (
            &[
                "--endpoint",
                "http://127.0.0.1:9",
                "commits",
                "n",
                "p",
                "--repo-auth",
                "a",
            ],
            &[("HUAWEICLOUD_SDK_TOKEN", "t")],
            &["--project-id", "HUAWEICLOUD_SDK_PROJECT_ID"],
        ),
        (
            &["--region", "xx-nowhere-1", "push-event", "1"],
            &[("HUAWEICLOUD_SDK_TOKEN", "t")],
            &["xx-nowhere-1", "--endpoint"],
        ),
        (
            &["--endpoint", "http://10.0.0.1", "push-event", "1"],
            &[("HUAWEICLOUD_SDK_TOKEN", "t")],
            &["--allow-http"],
        ),
        (
            &["--endpoint", "127.0.0.1:8080", "push-event", "1"],
            &[("HUAWEICLOUD_SDK_TOKEN", "t")],
            &["http://"],
        ),
        (
            &[
                "--endpoint",
                "http://127.0.0.1:9",
                "--project-id",
                "p",
                "commits",
                "n",
                "p",
            ],
            &[("HUAWEICLOUD_SDK_TOKEN", "t")],
            &["--repo-auth"],
        ),
        (
            &["--endpoint", "http://127.0.0.1:9", "push-event", "1"],
            &[("HUAWEICLOUD_SDK_CREDENTIALS_FILE", profile)],
            &[profile, "line 3", "`key = value`"],
        ),
    ];
    for (args, env, says) in cases {
        let out = run(codearts().args(args).envs(env.iter().copied()));
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        out.assert_stderr_has(says);
        assert!(!out.stderr.contains("expecting"), "{}", out.stderr);
        // The command's words only: its flags, never the builder's, and each fix said once.
        for library_words in ["builder", "allow HTTP explicitly", "absolute URL, e.g."] {
            assert!(!out.stderr.contains(library_words), "{}", out.stderr);
        }
        for word in ["configuration error", "invalid", "no credentials"] {
            assert!(out.stderr.matches(word).count() <= 1, "{}", out.stderr);
        }
    }
}

/// The help's loopback examples run as written against `codearts serve` (on its port).
#[test]
fn the_helps_loopback_examples_run_against_serve() {
    let help = run(codearts().arg("--help")).stdout;
    let server = Serve::start();
    let examples: Vec<&str> = help
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("codearts --endpoint http://127.0.0.1:8080"))
        .collect();
    assert_eq!(examples.len(), 2, "{help}");
    for example in examples {
        let args = example
            .replace("http://127.0.0.1:8080", &server.url)
            .split_whitespace()
            .skip(1)
            .map(str::to_owned)
            .collect::<Vec<_>>();
        let out = run(codearts().args(&args).env("HUAWEICLOUD_SDK_TOKEN", "t"));
        assert_eq!(out.code, 0, "{example}: {}", out.stderr);
        assert!(!out.stdout.is_empty(), "{example}");
    }
}

/// An option a command would ignore is refused, naming it (each command's help lists only
/// its own); `watch --once` honours `--max-attempts`.
#[test]
fn options_a_command_would_ignore_are_refused() {
    for (args, flag) in [
        (&["--output", "table", "watch", "1"][..], "--output"),
        (&["watch", "1", "--max-attempts", "5"], "--max-attempts"),
        (&["serve", "--endpoint", "http://127.0.0.1:1"], "--endpoint"),
        (
            &["spec-diff", "a", "b", "--region", "cn-north-4"],
            "--region",
        ),
        (&["demo", "--project-id", "p"], "--project-id"),
        (&["push-event", "1", "--project-id", "p"], "--project-id"),
    ] {
        let out = run(codearts().args(args));
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        out.assert_stderr_has(&[flag]);
    }
    for (command, foreign) in [
        ("serve", "--endpoint"),
        ("spec-diff", "--region"),
        ("demo", "--ca-file"),
    ] {
        let help = run(codearts().args([command, "--help"])).stdout;
        let options = help.split("Options:").nth(1).unwrap_or_default();
        let options = options.split("\n\n").next().unwrap_or_default();
        assert!(!options.contains(foreign), "{command}: {options}");
    }
    let loopback = watching::Loopback::start(0);
    let id = codearts_repo::RepositoryId::new(7).unwrap();
    loopback.server.set_failure(
        id,
        Some(codearts_repo::server::InjectedFailure {
            status: 503,
            retry_after: None,
        }),
    );
    let out = run(codearts()
        .args(["--endpoint", &loopback.server.url(), "--max-attempts", "3"])
        .args(["watch", "--once", "7"])
        .env("HUAWEICLOUD_SDK_TOKEN", "t"));
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_eq!(loopback.server.requests().len(), 3);
}
