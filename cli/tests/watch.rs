//! `codearts watch` as a long-running service: restarts with `--state` (SIGTERM and kill -9),
//! ids from a file or stdin, shards, and `/healthz` + `/metrics`, against the embedded server
//! on loopback whose push events the tests change while the command runs.

mod common;

use std::{
    collections::BTreeSet,
    io::{Read, Write},
    process::Stdio,
    time::Duration,
};

use common::{
    listen::{self, get, get_any},
    run,
    watching::{Loopback, created_at, parse, sorted, state_path},
};
use serde_json::Value;

#[test]
fn across_a_sigterm_restart_every_push_is_printed_exactly_once() {
    let loopback = Loopback::start(4);
    let dir = tempfile::tempdir().unwrap();
    let state = state_path(&dir);
    let first = loopback.spawn_watch(&["1", "2", "3", "4", "--state", &state]);
    let baselines = sorted(first.expect(4));
    let expected: Vec<_> = (1..=4).map(|id| (id, created_at(0), true)).collect();
    assert_eq!(baselines, expected);
    loopback.push(1, 1);
    assert_eq!(first.expect(1), [(1, created_at(1), false)]);
    assert_eq!(first.stop("TERM"), Some(0));

    // While it is down: repository 2 gets a push, repository 3 two.
    loopback.push(2, 2);
    loopback.push(3, 3);
    loopback.push(3, 4);
    let second = loopback.spawn_watch(&["1", "2", "3", "4", "--state", &state]);
    assert_eq!(
        sorted(second.expect(2)),
        [(2, created_at(2), false), (3, created_at(4), false)]
    );
    assert_eq!(second.during(Duration::from_millis(600)), []);
    assert_eq!(second.stop("TERM"), Some(0));
    let mut files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(
        files,
        ["watch.json", "watch.json.journal", "watch.json.lock"],
        "no temporary file left"
    );
    // The file and its journal hold the last push of each repository.
    let saved: BTreeSet<(u32, String)> = codearts_repo::StateFile::new(&state)
        .read()
        .unwrap()
        .into_iter()
        .map(|(id, seen)| (id.get(), seen.created_at.unwrap().to_string()))
        .collect();
    let expected = [(1, 1), (2, 2), (3, 4), (4, 0)].map(|(id, n)| (id, created_at(n)));
    assert_eq!(saved, BTreeSet::from(expected));
}

#[test]
fn over_https_with_http2_a_restart_prints_the_push_made_while_down() {
    let loopback = Loopback::start_https(2);
    let dir = tempfile::tempdir().unwrap();
    let state = state_path(&dir);
    let first = loopback.spawn_watch(&["1", "2", "--state", &state]);
    assert_eq!(first.expect(2).len(), 2);
    assert_eq!(first.stop("TERM"), Some(0));

    loopback.push(1, 1);
    let second = loopback.spawn_watch(&["1", "2", "--state", &state]);
    assert_eq!(second.expect(1), [(1, created_at(1), false)]);
    assert_eq!(second.during(Duration::from_millis(300)), []);
    assert_eq!(second.stop("TERM"), Some(0));
    let requests = loopback.server.requests();
    assert!(!requests.is_empty());
    assert!(
        requests.iter().all(|r| r.version == "HTTP/2.0"),
        "every poll over HTTP/2"
    );
}

#[test]
fn across_a_kill_9_restart_no_push_is_lost() {
    let loopback = Loopback::start(3);
    let dir = tempfile::tempdir().unwrap();
    let state = state_path(&dir);
    let first = loopback.spawn_watch(&["1", "2", "3", "--state", &state]);
    assert_eq!(first.expect(3).len(), 3);
    // Past a flush, so that the baselines are saved; then a push, killed as soon as printed.
    std::thread::sleep(Duration::from_millis(1500));
    loopback.push(1, 1);
    assert_eq!(first.expect(1), [(1, created_at(1), false)]);
    assert_eq!(first.stop("KILL"), None);

    loopback.push(2, 2);
    let second = loopback.spawn_watch(&["1", "2", "3", "--state", &state]);
    let mut lines = second.expect(1);
    lines.extend(second.during(Duration::from_millis(800)));
    assert!(
        lines.contains(&(2, created_at(2), false)),
        "the push made while it was down: {lines:?}"
    );
    // Repository 1's push may come again (printed, perhaps not saved); nothing else may.
    for line in &lines {
        assert!(
            [(2, created_at(2), false), (1, created_at(1), false)].contains(line),
            "{line:?}"
        );
    }
    assert_eq!(second.stop("TERM"), Some(0));
}

#[test]
fn a_kill_9_right_after_a_baseline_still_loses_no_push() {
    let loopback = Loopback::start(1);
    let dir = tempfile::tempdir().unwrap();
    let state = state_path(&dir);
    let first = loopback.spawn_watch(&["1", "--state", &state]);
    assert_eq!(first.expect(1), [(1, created_at(0), true)]);
    // Well within the first periodic save: only the journal has the baseline.
    assert_eq!(first.stop("KILL"), None);

    loopback.push(1, 1);
    let second = loopback.spawn_watch(&["1", "--state", &state]);
    assert_eq!(
        second.expect(1),
        [(1, created_at(1), false)],
        "a push, not a baseline"
    );
    assert_eq!(second.stop("TERM"), Some(0));
}

#[test]
fn a_corrupt_state_file_is_refused_and_left_alone() {
    let loopback = Loopback::start(1);
    let dir = tempfile::tempdir().unwrap();
    let state = state_path(&dir);
    std::fs::write(
        &state,
        "{\"codearts_watch_state\": 1, \"repositories\": {\"1\": ",
    )
    .unwrap();
    let out = run(loopback.watch().args(["1", "--once", "--state", &state]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    out.assert_stderr_has(&[&format!("state file {state}"), "is not a watch state"]);
    assert_eq!(out.stdout, "");
    assert!(
        std::fs::read_to_string(&state)
            .unwrap()
            .ends_with("\"1\": ")
    );
    assert_eq!(loopback.server.requests(), [], "nothing was sent");
}

/// `--state` in a directory that does not exist names that directory (not the lock file
/// the watch could not create in it), and nothing is sent.
#[test]
fn a_state_in_a_missing_directory_names_the_directory() {
    let loopback = Loopback::start(1);
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let state = missing.join("watch.json");
    let out = run(loopback
        .watch()
        .args(["1", "--once", "--state"])
        .arg(&state));
    assert_eq!(out.code, 2, "{}", out.stderr);
    out.assert_stderr_has(&[&format!(
        "its directory {} does not exist",
        missing.display()
    )]);
    assert!(!out.stderr.contains(".lock"), "{}", out.stderr);
    assert!(!missing.exists(), "no directory created");
    assert_eq!(loopback.server.requests(), [], "nothing was sent");
}

#[test]
fn ids_come_from_a_file_or_stdin_and_bad_lines_are_named() {
    let loopback = Loopback::start(40);
    let dir = tempfile::tempdir().unwrap();
    let ids = dir.path().join("ids.txt");
    let list: String = (1..=40).map(|id| format!("{id}\n")).collect();
    std::fs::write(&ids, format!("# the fleet\n{list}\n")).unwrap();
    let ids = ids.to_str().unwrap();

    // Two shards of the same list cover it exactly once; one reads its ids from stdin.
    let first = run(loopback
        .watch()
        .args(["--ids-file", ids, "--shard", "0/2", "--once"]));
    let mut second = loopback.watch();
    second
        .args(["--ids-file", "-", "--shard", "1/2", "--once"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut child = second.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(list.as_bytes())
        .unwrap();
    let mut second = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut second)
        .unwrap();
    assert!(child.wait().unwrap().success());
    let watched = |out: &str| -> BTreeSet<u64> {
        out.lines()
            .map(|l| parse(&serde_json::from_str(l).unwrap()).0)
            .collect()
    };
    let (a, b) = (watched(&first.stdout), watched(&second));
    assert!(!a.is_empty() && !b.is_empty(), "{a:?} {b:?}");
    assert!(a.is_disjoint(&b), "{a:?} {b:?}");
    assert_eq!(
        a.union(&b).copied().collect::<Vec<_>>(),
        (1..=40).collect::<Vec<_>>()
    );

    std::fs::write(dir.path().join("bad.txt"), "1\n2\n\nabc\n").unwrap();
    let bad = dir.path().join("bad.txt");
    let out = run(loopback
        .watch()
        .args(["--ids-file", bad.to_str().unwrap(), "--once"]));
    assert_eq!(out.code, 2);
    out.assert_stderr_has(&["line 4", "`abc`", "repository_id"]);
    let out = run(loopback.watch().args(["1", "--shard", "2/2"]));
    assert_eq!(out.code, 2);
    out.assert_stderr_has(&["--shard", "K from 0 to N-1"]);
}

/// A save that fails for a lasting reason (here the state's directory is gone) is not cured
/// by a restart: liveness stays 200 (before, it turned 503 and the kubelet restarted the
/// watch in a loop, each start printing again every push since the last good save),
/// readiness turns 503 saying why, and the failures are counted.
#[test]
fn a_lasting_save_failure_is_not_ready_but_alive() {
    let loopback = Loopback::start(1);
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("state");
    std::fs::create_dir(&state_dir).unwrap();
    let state = state_dir.join("watch.json");
    let mut watching = loopback.spawn_watch(&[
        "1",
        "--state",
        state.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    let announced = watching.stderr_line();
    let address = listen::announced_address(&announced);
    watching.expect(1);
    assert_eq!(get_any(&address, "/readyz").0, 200);
    std::fs::remove_dir_all(&state_dir).unwrap();
    loopback.push(1, 1);
    assert_eq!(watching.expect(1), [(1, created_at(1), false)]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let (status, body) = loop {
        let (status, body) = get_any(&address, "/readyz");
        if status != 200 || std::time::Instant::now() > deadline {
            break (status, body);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("the state cannot be saved"), "{body}");
    let (status, body) = get_any(&address, "/healthz");
    assert_eq!(status, 200, "alive: {body}");
    let metrics = get(&address, "/metrics");
    assert!(
        sample(&metrics, "codearts_watch_state_write_failures_total") >= 1.0,
        "{metrics}"
    );
    watching.stop("KILL");
}

/// The value of the sample `name` (with its labels) in a metrics text.
fn sample(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in {metrics}"))
        .parse()
        .unwrap()
}

#[test]
fn listen_serves_health_and_prometheus_metrics_while_it_runs() {
    let loopback = Loopback::start(2);
    let mut watching = loopback.spawn_watch(&["1", "2", "404404", "--listen", "127.0.0.1:0"]);
    let announced = watching.stderr_line();
    let address = listen::announced_address(&announced);
    assert_eq!(watching.expect(2).len(), 2);
    std::thread::sleep(Duration::from_millis(300));

    let health: Value = serde_json::from_str(&get(&address, "/healthz")).unwrap();
    assert_eq!(health["status"], "watching");
    assert_eq!(health["repositories"]["total"], 3);
    assert_eq!(health["repositories"]["ok"], 2);
    assert_eq!(health["repositories"]["answering_error"], 1);

    let metrics = get(&address, "/metrics");
    assert!(
        sample(&metrics, "codearts_watch_polls_total") >= 6.0,
        "{metrics}"
    );
    assert!(
        sample(
            &metrics,
            "codearts_watch_poll_failures_total{class=\"4xx\"}"
        ) >= 2.0
    );
    assert_eq!(
        sample(
            &metrics,
            "codearts_watch_poll_failures_total{class=\"5xx\"}"
        ),
        0.0
    );
    assert_eq!(
        sample(&metrics, "codearts_watch_repositories{state=\"ok\"}"),
        2.0
    );
    let polls = sample(&metrics, "codearts_watch_poll_lag_seconds_count");
    assert_eq!(
        sample(
            &metrics,
            "codearts_watch_poll_lag_seconds_bucket{le=\"+Inf\"}"
        ),
        polls
    );
    assert!(metrics.contains("# TYPE codearts_watch_poll_lag_seconds histogram"));
    assert!(metrics.ends_with("# EOF\n"));
    loopback.push(1, 1);
    assert_eq!(watching.expect(1), [(1, created_at(1), false)]);
    let metrics = get(&address, "/metrics");
    assert_eq!(sample(&metrics, "codearts_watch_pushes_total"), 1.0);
    assert_eq!(watching.stop("TERM"), Some(0));
}

/// An outage of the whole service is one summary line, not a line per repository per
/// failure, and its end is said; so is the start of the watch.
#[test]
fn an_outage_is_summarised_once_and_its_end_said() {
    use codearts_repo::server::{InjectedFailure, Outage};
    let loopback = Loopback::start(30);
    let ids: Vec<String> = (1..=30).map(|id| id.to_string()).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let watching = loopback.spawn_watch(&ids);
    assert_eq!(watching.expect(30).len(), 30);
    loopback.server.set_outage(Some(Outage {
        failure: InjectedFailure {
            status: 503,
            retry_after: None,
        },
        share: 1.0,
    }));
    std::thread::sleep(Duration::from_millis(2500));
    let failed = loopback.server.counts().failed;
    loopback.server.set_outage(None);
    std::thread::sleep(Duration::from_millis(3000));
    let (code, stderr) = watching.stop_with_stderr("TERM");
    assert_eq!(code, Some(0));
    let lines: Vec<&str> = stderr
        .lines()
        .map(|line| line.trim_start_matches("codearts: "))
        .collect();
    assert!(
        lines[0].starts_with("watching 30 repositories every 100ms"),
        "{stderr}"
    );
    let summaries = lines
        .iter()
        .filter(|l| l.contains("30 repositories failing on the service's side (5xx)"))
        .count();
    assert_eq!(summaries, 1, "{failed} failed polls: {stderr}");
    assert!(
        lines.contains(&"the service no longer fails: every repository answers again"),
        "{stderr}"
    );
    // A loaded machine may not hold 300 polls a second, and the watch says so: true, and
    // not about the outage (it made this test flaky under load).
    let about_the_outage = lines
        .iter()
        .filter(|l| !l.contains("cannot be held"))
        .count();
    assert!(about_the_outage <= 5, "{failed} failed polls: {stderr}");
}

/// A repository's lines follow its answers, whatever the ticks between them: a 503 (alone,
/// its own line), then a 404, said and not followed by "answering again" until it answers.
#[test]
fn a_404_after_a_503_is_said_and_answering_again_only_once_it_answers() {
    use codearts_repo::{RepositoryId, server::InjectedFailure};
    let loopback = Loopback::start(2);
    let mut watching = loopback.spawn_watch(&["1", "2", "--max-backoff", "300ms"]);
    assert_eq!(watching.expect(2).len(), 2);
    let lines = watching.stderr_lines();
    let about_1 = |within: Duration| -> Option<String> {
        let end = std::time::Instant::now() + within;
        while let Ok(line) =
            lines.recv_timeout(end.saturating_duration_since(std::time::Instant::now()))
        {
            if line.starts_with("repository 1: ") {
                return Some(line);
            }
        }
        None
    };
    let fail = |status: Option<u16>| {
        let failure = status.map(|status| InjectedFailure {
            status,
            retry_after: None,
        });
        loopback
            .server
            .set_failure(RepositoryId::new(1).unwrap(), failure);
    };
    let wait = Duration::from_secs(10);

    fail(Some(503));
    let line = about_1(wait).unwrap();
    assert!(
        line.starts_with("repository 1: API error: HTTP 503"),
        "{line}"
    );
    fail(Some(404));
    let line = about_1(wait).unwrap();
    assert!(
        line.starts_with("repository 1: API error: HTTP 404"),
        "{line}"
    );
    // Three ticks of the trouble lines, and polls of the 404 meanwhile.
    assert_eq!(
        about_1(Duration::from_secs(3)),
        None,
        "nothing more until it answers"
    );
    fail(None);
    assert_eq!(
        about_1(wait).as_deref(),
        Some("repository 1: answering again")
    );
    assert_eq!(about_1(Duration::from_millis(1500)), None, "said once");
    assert_eq!(watching.stop("TERM"), Some(0));
}

#[test]
fn an_interval_of_zero_and_a_bad_rate_are_refused_before_anything_runs() {
    let loopback = Loopback::start(1);
    let watch = |args: &[&str]| {
        let mut command = common::codearts();
        command
            .args(["--endpoint", &loopback.server.url(), "watch", "1"])
            .args(args)
            .env("HUAWEICLOUD_SDK_TOKEN", "watch-token");
        run(&mut command)
    };
    let out = watch(&["--interval", "0s"]);
    assert_eq!(out.code, 2);
    out.assert_stderr_has(&["--interval", "at least 50ms"]);
    for (flag, absurd, rule) in [
        ("--interval", "500000000y", "at most 365days"),
        ("--max-backoff", "500000000y", "at most 365days"),
        ("--timeout", "2days", "at most 1day"),
    ] {
        let out = watch(&[flag, absurd]);
        assert_eq!(out.code, 2, "{flag} {absurd}: {}", out.stderr);
        out.assert_stderr_has(&[flag, rule]);
    }
    // An absurd rate is refused here, not paced a request a century or panicking per poll.
    for absurd in ["0", "1e-20", "2e6", "NaN", "inf", "fast"] {
        let out = watch(&["--max-rate", absurd]);
        assert_eq!(out.code, 2, "{absurd}: {}", out.stderr);
        out.assert_stderr_has(&["--max-rate", "from one a day (1/86400) to 1000000"]);
    }
    let out = watch(&["--listen", "nonsense"]);
    assert_eq!(out.code, 2);
    out.assert_stderr_has(&["--listen", "expected an address and a port"]);
    assert!(loopback.server.requests().is_empty());
}

/// A watch that could not poll anything (an unknown region, no credentials) exits 2 at once
/// with one message, before it starts, as `push-event` does.
#[test]
fn a_watch_that_cannot_poll_refuses_to_start() {
    let out = run(common::codearts()
        .args(["--region", "xx-nowhere-1", "watch", "1", "2", "3"])
        .env("HUAWEICLOUD_SDK_TOKEN", "t"));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    out.assert_stderr_has(&["xx-nowhere-1"]);

    let loopback = Loopback::start(1);
    let out = run(common::codearts().args(["--endpoint", &loopback.server.url(), "watch", "1"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    out.assert_stderr_has(&["no credentials"]);
    assert!(loopback.server.requests().is_empty());
}

/// A gateway that states a policy no pacing can honour (one request in some 10^11 years) is
/// not obeyed: the note is said once, and the watch goes on without panicking per poll.
#[test]
fn an_absurd_stated_policy_is_noted_once_and_ignored() {
    use codearts_repo::server::WindowQuota;
    let loopback = Loopback::start(3);
    let forever = WindowQuota::new(1, Duration::from_secs(u64::MAX / 2));
    loopback.server.set_quota_window(Some(forever));
    let out = run(loopback.watch().args(["1", "2", "3", "--once"]));
    assert_ne!(out.code, 0, "polls were throttled: {}", out.stderr);
    let notes = out
        .stderr
        .matches("which no pacing can honour: ignored")
        .count();
    assert_eq!(notes, 1, "{}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
}
