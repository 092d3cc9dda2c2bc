//! `codearts demo`, `serve` and `watch`: the embedded server and the long-running commands.

mod common;

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use common::*;
use serde_json::Value;

#[test]
fn demo_piped_runs_both_operations_and_prints_one_json_document() {
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

/// On a terminal the demo is the walk-through, as `gh` and `kubectl` print tables there:
/// run under `script` (util-linux, in every Debian), which gives it a pseudo-terminal.
#[test]
fn demo_on_a_terminal_prints_the_walk_through() {
    let out = std::process::Command::new("script")
        .args(["--quiet", "--return", "--command"])
        .arg(format!("{} demo", env!("CARGO_BIN_EXE_codearts")))
        .arg("/dev/null")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap())
        .env("HOME", env!("CARGO_TARGET_TMPDIR"))
        .env("HUAWEICLOUD_SDK_METADATA_ENDPOINT", "http://127.0.0.1:9")
        .output()
        .expect("`script` from util-linux gives the demo a terminal");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("1. Latest push event"), "{stdout}");
    assert!(
        stdout.contains("4. What reached the server: 4 requests"),
        "{stdout}"
    );
    assert!(!stdout.trim_start().starts_with('{'), "{stdout}");
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
    let mut child = codearts()
        .args([
            "--endpoint",
            &server.url,
            "watch",
            "2112036131",
            "--interval",
            "50ms",
        ])
        .env("HUAWEICLOUD_SDK_TOKEN", "cli-token")
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

/// `serve` says what it serves, enforces a quota when asked, and stops on SIGTERM as on
/// Ctrl-C.
#[test]
fn serve_says_what_it_serves_and_stops_on_sigterm() {
    let mut child = codearts()
        .args(["serve", "--quota", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let url = first_stdout_line(&mut child).trim().to_owned();
    for expected in [0, 3] {
        let out = run(codearts()
            .args([
                "--endpoint",
                &url,
                "--max-attempts",
                "1",
                "push-event",
                "2112036131",
            ])
            .env("HUAWEICLOUD_SDK_TOKEN", "t"));
        assert_eq!(out.code, expected, "{}", out.stderr);
        if expected == 3 {
            out.assert_stderr_has(&["HTTP 429 APIGW.0308"]);
        }
    }
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let stderr = String::from_utf8(output.stderr).unwrap();
    for says in [
        "repositories: 2112036131",
        "projects (namespace/project, any project id): 3e1f6634946144c2b1ccb46fb8152b8f/test",
        "account quota: 1 requests/s",
        "stopping",
    ] {
        assert!(stderr.contains(says), "{says:?} not in {stderr}");
    }
}
