//! `codearts watch --deliver`: real receivers on loopback (cli/tests/common/receiver.rs),
//! over HTTP/1.1 and HTTPS with HTTP/2, in front of the embedded server. Each delivery's
//! signature is checked with the `hmac` crate here, not the command's code.

mod common;

use std::{
    collections::BTreeSet,
    time::{Duration, Instant},
};

use common::{
    listen,
    receiver::{Answer, Receiver, SECRET, verifies},
    watching::{Loopback, created_at, state_path},
};

fn secret_file(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let path = dir.path().join("secret");
    std::fs::write(&path, format!("{SECRET}\n")).unwrap();
    path
}

/// Each delivery verifies, names its push, and says what it is.
fn assert_well_formed(received: &[common::receiver::Received]) {
    for delivery in received {
        assert!(
            verifies(&delivery.body, &delivery.signature),
            "{delivery:?}"
        );
        assert_eq!(delivery.document["id"], delivery.id.as_str());
        assert_eq!(delivery.event, delivery.document["kind"].as_str().unwrap());
        assert!(delivery.user_agent.starts_with("codearts-watch/"));
    }
}

/// Polls of repository `id` the server answered so far.
fn polls_of(loopback: &Loopback, id: u64) -> usize {
    let path = format!("/v4/repositories/{id}/last-push-event");
    loopback
        .server
        .requests()
        .iter()
        .filter(|r| r.path == path)
        .count()
}

fn pushes_are_delivered_signed_and_baselines_only_when_asked(https: bool) {
    let loopback = if https {
        Loopback::start_https(3)
    } else {
        Loopback::start(3)
    };
    let receiver = Receiver::start(https);
    let dir = tempfile::tempdir().unwrap();
    let watch = loopback.spawn_watch(
        &receiver
            .args(3, &secret_file(&dir))
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_eq!(watch.expect(3).len(), 3, "three baselines printed");
    loopback.push(1, 1);
    loopback.push(2, 2);
    let received = receiver.wait_for(Duration::from_secs(10), |r| r.len() >= 2);
    std::thread::sleep(Duration::from_millis(500));
    let received = receiver
        .received()
        .into_iter()
        .chain(received)
        .collect::<Vec<_>>();
    assert_well_formed(&received);
    let pushes: BTreeSet<_> = received
        .iter()
        .map(|r| (r.repository(), r.created_at(), r.event.clone()))
        .collect();
    assert_eq!(
        pushes,
        BTreeSet::from([
            (1, created_at(1), "push".to_owned()),
            (2, created_at(2), "push".to_owned())
        ]),
        "the pushes, and no baseline"
    );
    let expected = if https {
        axum::http::Version::HTTP_2
    } else {
        axum::http::Version::HTTP_11
    };
    assert!(received.iter().all(|r| r.version == expected));
    drop(watch);

    // With --deliver-baselines, a new watch delivers the three baselines too.
    let watch = loopback.spawn_watch(
        &receiver
            .args(3, &secret_file(&dir))
            .iter()
            .map(String::as_str)
            .chain(["--deliver-baselines"])
            .collect::<Vec<_>>(),
    );
    let before = receiver.received().len();
    let received = receiver.wait_for(Duration::from_secs(10), |r| r.len() >= before + 3);
    assert_well_formed(&received);
    let baselines: BTreeSet<_> = received[before..]
        .iter()
        .filter(|r| r.event == "baseline")
        .map(|r| r.repository())
        .collect();
    assert_eq!(baselines, BTreeSet::from([1, 2, 3]));
    drop(watch);
}

#[test]
fn over_http_pushes_are_delivered_signed_and_baselines_only_when_asked() {
    pushes_are_delivered_signed_and_baselines_only_when_asked(false);
}

#[test]
fn over_https_with_http2_pushes_are_delivered_signed_and_baselines_only_when_asked() {
    pushes_are_delivered_signed_and_baselines_only_when_asked(true);
}

/// A receiver that fails (500), throttles (429 with Retry-After), hangs, dies and comes
/// back: the waiting repository is not polled, every other one is, and once the receiver
/// is back the waiting push and then the latest one are delivered, in order.
fn a_failing_receiver_holds_its_repository_only_and_gets_every_served_push(https: bool) {
    let loopback = if https {
        Loopback::start_https(2)
    } else {
        Loopback::start(2)
    };
    let mut receiver = Receiver::start(https);
    let dir = tempfile::tempdir().unwrap();
    let mut args = receiver.args(2, &secret_file(&dir));
    args.extend(["--listen".into(), "127.0.0.1:0".into()]);
    let watch = loopback.spawn_watch(&args.iter().map(String::as_str).collect::<Vec<_>>());
    watch.expect(2);
    receiver.answer_for(1, Answer::Status(500));
    loopback.push(1, 1);
    receiver.wait_for(Duration::from_secs(10), |r| r.len() >= 2);

    // Held: no poll of repository 1 while its push waits; repository 2 goes on, and its
    // push is delivered meanwhile.
    let held_since = polls_of(&loopback, 1);
    loopback.push(1, 2);
    loopback.push(2, 3);
    receiver.wait_for(Duration::from_secs(10), |r| {
        r.iter()
            .any(|r| r.repository() == 2 && r.answered == Answer::Ok)
    });
    let polls_of_2 = polls_of(&loopback, 2);
    receiver.answer_for(1, Answer::TooMany(2));
    let throttled = receiver.wait_for(Duration::from_secs(10), |r| {
        r.iter()
            .filter(|r| r.answered == Answer::TooMany(2))
            .count()
            >= 2
    });
    let times: Vec<Instant> = throttled
        .iter()
        .filter(|r| r.answered == Answer::TooMany(2))
        .map(|r| r.at)
        .collect();
    assert!(
        times[1] - times[0] >= Duration::from_millis(1990),
        "Retry-After honoured: {:?}",
        times[1] - times[0]
    );
    receiver.answer_for(1, Answer::Hang);
    std::thread::sleep(Duration::from_secs(2));
    receiver.stop();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        polls_of(&loopback, 1),
        held_since,
        "repository 1 was not polled"
    );
    assert!(polls_of(&loopback, 2) > polls_of_2 + 10, "repository 2 was");

    receiver.restart();
    receiver.answer_for(1, Answer::Ok);
    let received = receiver.wait_for(Duration::from_secs(10), |r| {
        r.iter()
            .any(|r| r.created_at() == created_at(2) && r.answered == Answer::Ok)
    });
    assert_well_formed(&received);
    // In order: push 1 (which waited), then push 2 (which the next poll found); each id
    // delivered once; all attempts of push 1 carried one id.
    let delivered: Vec<_> = received
        .iter()
        .filter(|r| r.answered == Answer::Ok && r.repository() == 1)
        .map(|r| r.created_at())
        .collect();
    assert_eq!(delivered, [created_at(1), created_at(2)]);
    let ids: BTreeSet<_> = received
        .iter()
        .filter(|r| r.created_at() == created_at(1))
        .map(|r| r.id.clone())
        .collect();
    assert_eq!(ids.len(), 1);

    let (_, stderr) = watch.stop_with_stderr("TERM");
    // One line per change of the receiver's state, and never the secret or the query.
    let lines: Vec<_> = stderr.lines().filter(|l| l.contains("receiver ")).collect();
    assert!(lines.iter().any(|l| l.contains("HTTP 500")), "{stderr}");
    assert!(lines.iter().any(|l| l.contains("HTTP 429")), "{stderr}");
    assert!(lines.iter().any(|l| l.contains("no answer")), "{stderr}");
    assert!(
        lines.iter().any(|l| l.contains("answering again")),
        "{stderr}"
    );
    assert!(lines.len() <= 8, "one line per change: {lines:#?}");
    assert!(
        !stderr.contains(SECRET) && !stderr.contains("query-secret"),
        "{stderr}"
    );
}

#[test]
fn over_http_a_failing_receiver_holds_its_repository_only_and_gets_every_served_push() {
    a_failing_receiver_holds_its_repository_only_and_gets_every_served_push(false);
}

#[test]
fn over_https_a_failing_receiver_holds_its_repository_only_and_gets_every_served_push() {
    a_failing_receiver_holds_its_repository_only_and_gets_every_served_push(true);
}

/// A 400 is said once, kept with the exact body, never retried, and not saved as handled;
/// the repository is polled again and its next push delivered.
#[test]
fn a_refused_delivery_is_said_once_kept_for_replay_and_not_retried() {
    let loopback = Loopback::start(1);
    let receiver = Receiver::start(false);
    let dir = tempfile::tempdir().unwrap();
    let rejected = dir.path().join("rejected.jsonl");
    let mut args = receiver.args(1, &secret_file(&dir));
    args.extend([
        "--deliver-rejected".into(),
        rejected.to_str().unwrap().into(),
    ]);
    args.extend(["--state".into(), state_path(&dir)]);
    let watch = loopback.spawn_watch(&args.iter().map(String::as_str).collect::<Vec<_>>());
    watch.expect(1);
    receiver.answer(Answer::Status(400));
    loopback.push(1, 1);
    receiver.wait_for(Duration::from_secs(10), |r| !r.is_empty());
    let polls = polls_of(&loopback, 1);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(receiver.received().len(), 1, "not retried");
    assert!(polls_of(&loopback, 1) > polls + 5, "polled again");
    let kept: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&rejected).unwrap().trim()).unwrap();
    let sent = &receiver.received()[0];
    assert_eq!(
        kept["body"].as_str().unwrap().as_bytes(),
        sent.body.as_slice()
    );
    assert_eq!(kept["status"], 400);
    assert_eq!(kept["id"], sent.id.as_str());

    receiver.answer(Answer::Ok);
    loopback.push(1, 2);
    receiver.wait_for(Duration::from_secs(10), |r| {
        r.iter().any(|r| r.answered == Answer::Ok)
    });
    let (code, stderr) = watch.stop_with_stderr("TERM");
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        stderr.matches("refused by the receiver: HTTP 400").count(),
        1,
        "{stderr}"
    );
    // Given up, it is no longer pending: the next watch does not send it again.
    let pending = codearts_repo::StateFile::new(state_path(&dir))
        .read_pending()
        .unwrap();
    assert!(pending.is_empty(), "{pending:?}");
    let polls = polls_of(&loopback, 1);
    let again = loopback.spawn_watch(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let end = Instant::now() + Duration::from_secs(10);
    while polls_of(&loopback, 1) < polls + 5 {
        assert!(Instant::now() < end, "the next watch polls");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(receiver.received().len(), 2, "nothing sent again");
    drop(again);
}

/// `kill -9` while a delivery hangs, and a newer push of that repository before the next
/// watch starts: the push in flight was recorded before it was sent (an outbox), so the next
/// watch delivers it again, with the same id and body, before the newer one; what was
/// delivered and saved is not delivered again.
#[test]
fn a_kill_9_mid_delivery_delivers_again_with_the_same_id_and_nothing_else_twice() {
    let loopback = Loopback::start(2);
    let receiver = Receiver::start(false);
    let dir = tempfile::tempdir().unwrap();
    let mut args = receiver.args(2, &secret_file(&dir));
    args.extend(["--state".into(), state_path(&dir)]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let watch = loopback.spawn_watch(&args);
    watch.expect(2);
    loopback.push(2, 2);
    receiver.wait_for(Duration::from_secs(10), |r| !r.is_empty());
    // Until a flush saved repository 2's delivered push (a fixed sleep would race on a
    // loaded machine).
    let saved = std::time::Instant::now() + Duration::from_secs(20);
    let saved_2 = || {
        let saved = codearts_repo::StateFile::new(state_path(&dir)).read();
        saved.is_ok_and(|saved| {
            saved.iter().any(|(id, seen)| {
                id.get() == 2
                    && seen.created_at.as_ref().map(ToString::to_string) == Some(created_at(2))
            })
        })
    };
    while !saved_2() {
        assert!(std::time::Instant::now() < saved, "push 2 never saved");
        std::thread::sleep(Duration::from_millis(50));
    }
    receiver.answer_for(1, Answer::Hang);
    loopback.push(1, 1);
    receiver.wait_for(Duration::from_secs(10), |r| {
        r.iter().any(|r| r.repository() == 1)
    });
    assert_eq!(watch.stop("KILL"), None);
    // The service moves on while no watch runs: the push in flight is no longer served.
    loopback.push(1, 3);

    receiver.answer_for(1, Answer::Ok);
    let again = loopback.spawn_watch(&args);
    receiver.wait_for(Duration::from_secs(10), |r| {
        r.iter().any(|r| {
            r.repository() == 1 && r.answered == Answer::Ok && r.created_at() == created_at(3)
        })
    });
    std::thread::sleep(Duration::from_secs(1));
    let received = receiver.received();
    assert_well_formed(&received);
    let ones: Vec<_> = received.iter().filter(|r| r.repository() == 1).collect();
    let in_flight: Vec<_> = ones
        .iter()
        .filter(|r| r.created_at() == created_at(1))
        .collect();
    assert_eq!(in_flight.len(), 2, "sent, then again: {received:#?}");
    assert_eq!(in_flight[0].id, in_flight[1].id, "the same id");
    assert_eq!(in_flight[0].body, in_flight[1].body, "the same document");
    assert_eq!(in_flight[1].answered, Answer::Ok);
    let newer: Vec<_> = ones
        .iter()
        .filter(|r| r.created_at() == created_at(3))
        .collect();
    assert_eq!(newer.len(), 1, "{received:#?}");
    assert!(in_flight[1].at < newer[0].at, "in order: {received:#?}");
    assert_ne!(in_flight[0].id, newer[0].id);
    let twos = receiver
        .received()
        .iter()
        .filter(|r| r.repository() == 2)
        .count();
    assert_eq!(twos, 1, "delivered and saved: not again");
    drop(again);
}

/// /metrics counts the outcomes and the backlog, and its oldest wait.
#[test]
fn metrics_count_outcomes_and_the_backlog() {
    let loopback = Loopback::start(2);
    let receiver = Receiver::start(false);
    let dir = tempfile::tempdir().unwrap();
    let mut args = receiver.args(2, &secret_file(&dir));
    args.extend(["--listen".into(), "127.0.0.1:0".into()]);
    let mut watch = loopback.spawn_watch(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let address = listen::announced_address(&watch.stderr_line());
    watch.expect(2);
    receiver.answer_for(1, Answer::Status(503));
    loopback.push(1, 1);
    loopback.push(2, 2);
    receiver.wait_for(Duration::from_secs(10), |r| {
        r.iter().filter(|r| r.repository() == 1).count() >= 2
            && r.iter().any(|r| r.repository() == 2)
    });
    std::thread::sleep(Duration::from_millis(1200));
    let text = listen::get(&address, "/metrics");
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
    };
    assert_eq!(
        value("codearts_watch_deliveries_total{outcome=\"delivered\"}"),
        1.0
    );
    assert!(value("codearts_watch_deliveries_total{outcome=\"retried\"}") >= 2.0);
    assert_eq!(
        value("codearts_watch_deliveries_total{outcome=\"refused\"}"),
        0.0
    );
    assert_eq!(value("codearts_watch_delivery_backlog"), 1.0);
    assert!(value("codearts_watch_delivery_oldest_waiting_seconds") >= 1.0);
    // Liveness does not depend on the receiver.
    assert_eq!(listen::get_any(&address, "/healthz").0, 200);
}

/// A receiver that holds every repository stops the polls: readiness names it (not the
/// service), liveness does not care, and both are as before once it answers again.
#[test]
fn readiness_names_a_receiver_every_repository_waits_for() {
    let loopback = Loopback::start(1);
    let receiver = Receiver::start(false);
    let dir = tempfile::tempdir().unwrap();
    let mut args = receiver.args(1, &secret_file(&dir));
    args.extend(["--listen", "127.0.0.1:0", "--unhealthy-after", "3"].map(String::from));
    let mut watch = loopback.spawn_watch(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let address = listen::announced_address(&watch.stderr_line());
    watch.expect(1);
    receiver.answer(Answer::Status(503));
    loopback.push(1, 1);
    receiver.wait_for(Duration::from_secs(10), |r| !r.is_empty());
    // Three intervals without a poll, and some.
    let (status, body) = wait_for_readiness(&address, 503);
    assert!(
        body.contains("every repository waits for the receiver (1 deliveries waiting"),
        "{body}"
    );
    assert_eq!(listen::get_any(&address, "/healthz").0, 200);
    receiver.answer(Answer::Ok);
    let (status_after, body_after) = wait_for_readiness(&address, 200);
    assert_eq!((status, status_after), (503, 200), "{body_after}");
}

/// /readyz once it answers `status`, within 15 s.
fn wait_for_readiness(address: &str, status: u16) -> (u16, String) {
    let end = Instant::now() + Duration::from_secs(15);
    loop {
        let answer = listen::get_any(address, "/readyz");
        if answer.0 == status {
            return answer;
        }
        assert!(Instant::now() < end, "{answer:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Bad options are refused before anything is sent, naming the option.
#[test]
fn bad_delivery_options_are_refused_before_any_request() {
    let loopback = Loopback::start(1);
    let requests = loopback.server.requests().len();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut command = loopback.watch();
        command.args(["1"]).args(args);
        for (name, value) in env {
            command.env(name, value);
        }
        common::run(&mut command)
    };
    let out = run(&["--deliver", "ftp://example.com/x"], &[]);
    assert_eq!(out.code, 2);
    out.assert_stderr_has(&["--deliver", "must be http or https"]);
    let out = run(&["--deliver", "http://127.0.0.1:9/x"], &[]);
    assert_eq!(out.code, 2);
    out.assert_stderr_has(&["--deliver-secret-file", "CODEARTS_WATCH_DELIVER_SECRET"]);
    let out = run(
        &["--deliver", "http://127.0.0.1:9/x"],
        &[("CODEARTS_WATCH_DELIVER_SECRET", "")],
    );
    assert_eq!(out.code, 2);
    out.assert_stderr_has(&["CODEARTS_WATCH_DELIVER_SECRET", "must not be empty"]);
    let out = run(&["--deliver-baselines"], &[]);
    assert_eq!(out.code, 2);
    out.assert_stderr_has(&["--deliver"]);
    assert_eq!(loopback.server.requests().len(), requests, "nothing sent");
}

/// A save that fails says how often it is tried again: every second, and with `--deliver`
/// every tenth of a second, as a delivered push is recorded that promptly.
#[test]
fn a_failing_save_says_how_often_it_is_tried_again() {
    let loopback = Loopback::start(1);
    let receiver = Receiver::start(false);
    let dir = tempfile::tempdir().unwrap();
    let delivering = receiver.args(1, &secret_file(&dir));
    let printing = vec!["1".to_owned()];
    for (push, (args, every)) in [(printing, "1s"), (delivering, "100ms")]
        .into_iter()
        .enumerate()
    {
        let place = tempfile::tempdir().unwrap();
        let state = place.path().join("watch.json");
        let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
        args.extend(["--state", state.to_str().unwrap()]);
        let mut watch = loopback.spawn_watch(&args);
        assert_eq!(watch.expect(1).len(), 1, "the baseline");
        let lines = watch.stderr_lines();
        // The state's directory goes away: the next push cannot be saved (nor, delivered,
        // recorded).
        drop(place);
        loopback.push(1, push as u32 + 1);
        let said = std::iter::from_fn(|| lines.recv_timeout(Duration::from_secs(10)).ok())
            .find(|line| line.contains("retrying"))
            .expect("the failed save is said");
        assert!(
            said.ends_with(&format!("; retrying every {every}")),
            "{said}"
        );
        assert!(said.contains("watch.json"), "{said}");
    }
}
