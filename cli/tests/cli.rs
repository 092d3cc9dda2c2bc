//! The `codearts` binary, run as a user would, against the embedded server.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

fn codearts() -> Command {
    let mut command = Command::cargo_bin("codearts").unwrap();
    // Only what a test sets: no credentials or profile from the machine running the tests.
    command.env_clear().env("HOME", env!("CARGO_TARGET_TMPDIR"));
    // The chain ends at the ECS metadata service: aim it at a loopback port where nothing
    // listens, never at 169.254.169.254.
    command.env("HUAWEICLOUD_SDK_METADATA_ENDPOINT", "http://127.0.0.1:9");
    command
}

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Output {
    /// Asserts that stderr mentions every one of `needles`.
    fn assert_stderr_has(&self, needles: &[&str]) {
        for needle in needles {
            assert!(
                self.stderr.contains(needle),
                "no {needle:?} in stderr: {}",
                self.stderr
            );
        }
    }
}

fn run(command: &mut Command) -> Output {
    let output = command.output().unwrap();
    Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// `codearts serve` on an ephemeral port, killed on drop.
struct Serve {
    child: Child,
    url: String,
}

/// The first line a child printed on its (piped) stdout.
fn first_stdout_line(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout is piped"))
        .read_line(&mut line)
        .unwrap();
    line
}

impl Serve {
    fn start() -> Self {
        Self::with_args(&[])
    }

    fn with_args(args: &[&str]) -> Self {
        let mut child = codearts()
            .arg("serve")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let url = first_stdout_line(&mut child).trim().to_owned();
        assert!(
            url.starts_with("http://127.0.0.1:") || url.starts_with("https://127.0.0.1:"),
            "serve printed {url:?}"
        );
        Self { child, url }
    }

    fn client(&self) -> Command {
        let mut command = codearts();
        command
            .args(["--endpoint", &self.url, "--max-attempts", "1"])
            .env("HUAWEICLOUD_SDK_TOKEN", "cli-token")
            .env(
                "HUAWEICLOUD_SDK_PROJECT_ID",
                "3e1f6634946144c2b1ccb46fb8152b8f",
            );
        command
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn https_needs_the_servers_ca_and_an_unknown_issuer_exits_4_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let serve = Serve::with_args(&["--tls", "--write-ca", ca.to_str().unwrap()]);
    assert!(serve.url.starts_with("https://"), "{}", serve.url);

    let out = run(serve.client().args([
        "--ca-file",
        ca.to_str().unwrap(),
        "push-event",
        "2112036131",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("master"), "{}", out.stdout);

    // `client()` allows one attempt; the CLI's default is three.
    let out = run(codearts()
        .args(["--endpoint", &serve.url, "push-event", "2112036131"])
        .env("HUAWEICLOUD_SDK_TOKEN", "cli-token"));
    assert_eq!(out.code, 4, "{}", out.stderr);
    out.assert_stderr_has(&["TLS error after 1 attempt(s)", "unknown issuer"]);

    let out = run(serve
        .client()
        .args(["--ca-file", "/nonexistent/ca.pem", "push-event", "1"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    out.assert_stderr_has(&["--ca-file", "/nonexistent/ca.pem"]);
}

#[test]
fn regions_come_from_the_environment_list_then_the_regions_file() {
    let serve = Serve::start();
    let push = |command: &mut Command| {
        run(command
            .args([
                "--region",
                "xx-cli-1",
                "--max-attempts",
                "1",
                "push-event",
                "2112036131",
            ])
            .env("HUAWEICLOUD_SDK_TOKEN", "cli-token"))
    };
    // The environment's list, whose first endpoint is dead.
    let out = push(codearts().env(
        "HUAWEICLOUD_SDK_REGION_CODEARTSREPO_XX_CLI_1",
        format!("http://127.0.0.1:9, {}", serve.url),
    ));
    assert_eq!(out.code, 0, "{}", out.stderr);

    // ~/.huaweicloud/regions.yaml.
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join(".huaweicloud")).unwrap();
    let file = home.path().join(".huaweicloud/regions.yaml");
    std::fs::write(
        &file,
        format!(
            "codeartsrepo:\n  - id: xx-cli-1\n    endpoint: {}\n",
            serve.url
        ),
    )
    .unwrap();
    let out = push(codearts().env("HOME", home.path()));
    assert_eq!(out.code, 0, "{}", out.stderr);

    // A broken one is a configuration error naming it.
    std::fs::write(&file, "codeartsrepo: [\n").unwrap();
    let out = push(codearts().env("HOME", home.path()));
    assert_eq!(out.code, 2, "{}", out.stderr);
    out.assert_stderr_has(&["regions.yaml", "line"]);
}

#[test]
fn demo_runs_both_operations_and_prints_one_json_document() {
    let out = run(codearts().arg("demo"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let json: Value = serde_json::from_str(&out.stdout).expect("exactly one JSON document");
    assert_eq!(json["push_event"]["ref"], "master");
    assert_eq!(
        json["commits"]["commits"][0]["sha"],
        "6dcb09b5b57875f334f61aebed695e2e4193db5e"
    );
    let statuses: Vec<u64> = json["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [200, 200, 200, 404]);
    // No project id was given: the AK/SK client asked the server's IAM for it.
    assert_eq!(json["requests"][1]["path"], "/v3/projects");
    assert!(json["server"].as_str().unwrap().starts_with("https://"));
}

#[test]
fn demo_as_a_table_tells_what_happened() {
    let out = run(codearts().args(["demo", "--output", "table"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    for expected in [
        "2112036131",
        "master",
        "6dcb09b5b578",
        "AK/SK",
        "invalid repository_id",
        "CH.004404",
        "4 requests",
        "HTTP/2.0",
        "IAM",
    ] {
        assert!(
            out.stdout.contains(expected),
            "missing {expected:?} in\n{}",
            out.stdout
        );
    }
}

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
fn a_dead_endpoint_fails_promptly_with_a_transport_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = Instant::now();
    let out = run(codearts()
        .args([
            "--endpoint",
            &format!("http://127.0.0.1:{port}"),
            "--max-attempts",
            "1",
            "push-event",
            "1",
        ])
        .env("HUAWEICLOUD_SDK_TOKEN", "t"));
    assert_eq!(out.code, 4, "{}", out.stderr);
    out.assert_stderr_has(&["connect"]);
    assert!(started.elapsed() < Duration::from_secs(10));

    // A deadline too far to represent is no deadline, not a panic.
    let out = run(codearts()
        .args([
            "--endpoint",
            &format!("http://127.0.0.1:{port}"),
            "--timeout",
            "100000000000years",
            "push-event",
            "1",
        ])
        .env("HUAWEICLOUD_SDK_TOKEN", "t"));
    assert_eq!(out.code, 4, "{}", out.stderr);
}

#[test]
fn plain_http_to_another_host_is_refused() {
    let out = run(codearts()
        .args(["--endpoint", "http://example.com", "push-event", "1"])
        .env("HUAWEICLOUD_SDK_TOKEN", "t"));
    assert_eq!(out.code, 2);
    out.assert_stderr_has(&["plain HTTP"]);
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
fn per_service_endpoint_overrides_come_from_the_sdk_variables() {
    let server = Serve::start();
    let out = run(codearts()
        .args(["--region", "cn-north-4", "push-event", "2112036131"])
        .env("HUAWEICLOUD_SDK_TOKEN", "t")
        .env(
            "HUAWEICLOUD_SDK_REGION_CODEARTSREPO_CN_NORTH_4",
            format!("{},https://unused.example.com", server.url),
        ));
    assert_eq!(out.code, 0, "{}", out.stderr);
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
fn watch_once_prints_one_line_per_repository_and_reports_failures() {
    let server = Serve::start();
    let out = run(server.client().args(["watch", "2112036131", "--once"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let line: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(
        line,
        serde_json::json!({
            "repository_id": 2112036131u32, "ref": "master", "created_at": "2025-06-19T21:27:31.000+08:00", "baseline": true
        })
    );
    let out = run(server.client().args(["watch", "2112036131", "7", "--once"]));
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_eq!(out.stdout.lines().count(), 1);
    out.assert_stderr_has(&["repository 7", "CH.004404"]);
}

#[test]
fn watch_streams_until_interrupted_and_exits_0() {
    let server = Serve::start();
    let mut child = server
        .client()
        .args(["watch", "2112036131", "--interval", "50ms"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let line = first_stdout_line(&mut child);
    assert!(line.contains("\"baseline\":true"), "{line}");
    // Let it poll a few more times (nothing changes, so nothing is printed), then Ctrl-C.
    std::thread::sleep(Duration::from_millis(300));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn serve_answers_from_a_fixtures_file() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = dir.path().join("fixtures.json");
    std::fs::write(
        &fixtures,
        r#"{"push_events": [{"repository_id": 42, "event": {"ref": "dev"}}]}"#,
    )
    .unwrap();
    let server = Serve::with_args(&["--fixtures", fixtures.to_str().unwrap()]);
    let out = run(server.client().args(["push-event", "42"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        serde_json::from_str::<Value>(&out.stdout).unwrap(),
        serde_json::json!({"ref": "dev"})
    );
    assert_eq!(
        run(server.client().args(["push-event", "2112036131"])).code,
        3,
        "the file replaces the defaults"
    );

    std::fs::write(&fixtures, "{not json").unwrap();
    let out = run(codearts().args(["serve", "--fixtures", fixtures.to_str().unwrap()]));
    assert_eq!(out.code, 2);
    out.assert_stderr_has(&["invalid fixtures"]);
}
