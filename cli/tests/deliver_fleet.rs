//! `codearts watch --database --deliver`: a fleet delivers through its active watcher from
//! its events table: an event is recorded there, pending, before it is sent, and marked
//! handled once its receiver took it. `kill -9` of the active watcher while a delivery hangs,
//! and a newer push of that repository before the standby takes over: the standby delivers
//! the push in flight again, with the same id, then the newer one; nothing delivered before
//! is delivered again.

mod common;

use std::{
    collections::BTreeMap,
    process::{Child, Stdio},
    time::Duration,
};

use common::{
    codearts,
    postgres::Cluster,
    receiver::{Answer, Receiver, SECRET, verifies},
    watching::{Loopback, created_at},
};

struct Replica(Child);

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn replica(
    loopback: &Loopback,
    receiver: &Receiver,
    url: &str,
    dir: &tempfile::TempDir,
    index: usize,
) -> Replica {
    let secret = dir.path().join("secret");
    std::fs::write(&secret, SECRET).unwrap();
    let log = std::fs::File::create(dir.path().join(format!("{index}.log"))).unwrap();
    let child = codearts()
        .env("HUAWEICLOUD_SDK_TOKEN", "fleet-token")
        .env("CODEARTS_WATCH_DATABASE_URL", url)
        .env("HOSTNAME", format!("replica-{index}"))
        .args(["--endpoint", &loopback.server.url(), "watch"])
        .args(receiver.args(4, &secret))
        .args(["--interval", "100ms", "--lease", "2s"])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    Replica(child)
}

fn log(dir: &tempfile::TempDir, index: usize) -> String {
    std::fs::read_to_string(dir.path().join(format!("{index}.log"))).unwrap_or_default()
}

fn wait_until(within: Duration, what: &str, done: impl Fn() -> bool) {
    let end = std::time::Instant::now() + within;
    while !done() {
        assert!(
            std::time::Instant::now() < end,
            "{what}: not within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_takeover_delivers_the_push_in_flight_again_with_its_id_and_nothing_else_twice() {
    let loopback = Loopback::start(4);
    let receiver = Receiver::start(false);
    let cluster = Cluster::start();
    let url = cluster.create_database("deliver");
    let dir = tempfile::tempdir().unwrap();
    let first = replica(&loopback, &receiver, &url, &dir, 0);
    wait_until(Duration::from_secs(20), "replica 0 active", || {
        log(&dir, 0).contains("active (epoch")
    });
    let second = replica(&loopback, &receiver, &url, &dir, 1);
    wait_until(Duration::from_secs(20), "replica 1 standing by", || {
        log(&dir, 1).contains("standing by")
    });

    // Past the first round: the baselines are recorded (not delivered).
    std::thread::sleep(Duration::from_secs(1));
    loopback.push(1, 1);
    loopback.push(2, 2);
    receiver.wait_for(Duration::from_secs(10), |r| r.len() >= 2);
    // Delivered pushes are recorded within 0.1 s of their acknowledgement: wait until they
    // are the table's (a fixed sleep would race on a loaded machine).
    wait_until(Duration::from_secs(20), "pushes 1 and 2 recorded", || {
        cluster
            .psql(
                "deliver",
                "SELECT count(*) FROM codearts_watch_events \
             WHERE repository_id IN (1, 2) AND NOT baseline AND handled_at IS NOT NULL",
            )
            .trim()
            == "2"
    });
    receiver.answer_for(3, Answer::Hang);
    loopback.push(3, 3);
    receiver.wait_for(Duration::from_secs(10), |r| {
        r.iter().any(|r| r.repository() == 3)
    });
    drop(first); // kill -9
    // docs/delivery.md's query shows what waits for the receiver: push 3 alone.
    let waiting = cluster.psql("deliver", &pending_query());
    let rows: Vec<&str> = waiting.lines().collect();
    assert_eq!(rows.len(), 1, "{waiting}");
    assert!(
        rows[0].contains("|3|main|") && rows[0].contains(&created_at(3)),
        "{waiting}"
    );
    // The service moves on before the standby polls: push 3 is no longer served.
    loopback.push(3, 5);
    receiver.answer_for(3, Answer::Ok);
    wait_until(Duration::from_secs(20), "replica 1 active", || {
        log(&dir, 1).contains("active (epoch")
    });
    loopback.push(4, 4);
    receiver.wait_for(Duration::from_secs(15), |r| {
        r.iter()
            .any(|r| r.created_at() == created_at(5) && r.answered == Answer::Ok)
            && r.iter()
                .any(|r| r.repository() == 4 && r.answered == Answer::Ok)
    });
    std::thread::sleep(Duration::from_secs(2));
    let received = receiver.received();
    let mut ids: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for delivery in &received {
        assert!(
            verifies(&delivery.body, &delivery.signature),
            "{delivery:?}"
        );
        ids.entry(delivery.repository())
            .or_default()
            .push(delivery.id.clone());
    }
    assert!(
        received.iter().all(|r| r.event == "push"),
        "no baseline delivered"
    );
    // Delivered once each, but push 3: the one in flight, twice with one id, before the
    // newer push 5 of its repository.
    assert_eq!(ids[&1].len(), 1, "{ids:?}");
    assert_eq!(ids[&2].len(), 1, "{ids:?}");
    assert_eq!(ids[&3].len(), 3, "{ids:?}");
    assert_eq!(ids[&3][0], ids[&3][1]);
    assert_ne!(ids[&3][1], ids[&3][2]);
    let threes: Vec<_> = received.iter().filter(|r| r.repository() == 3).collect();
    assert_eq!(threes[1].body, threes[0].body, "the same document");
    assert_eq!(threes[2].created_at(), created_at(5));
    assert_eq!(ids[&4].len(), 1, "{ids:?}");
    // The events table holds each delivered push once (in the order the receiver took
    // them: across repositories, deliveries run in parallel).
    let table = cluster.psql(
        "deliver",
        "SELECT repository_id || ' ' || created_at FROM codearts_watch_events \
         WHERE NOT baseline ORDER BY id",
    );
    let mut rows: Vec<&str> = table
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    rows.sort();
    let mut expected: Vec<String> = (1..=4).map(|n| format!("{n} {}", created_at(n))).collect();
    expected.insert(3, format!("3 {}", created_at(5)));
    assert_eq!(rows, expected, "{}\n{}", log(&dir, 0), log(&dir, 1));
    assert_eq!(
        cluster.psql("deliver", &pending_query()),
        "",
        "nothing waits"
    );
    drop(second);
}

/// The page's query of what waits for the receiver.
fn pending_query() -> String {
    let page = include_str!("../../docs/delivery.md");
    let start = page.find("```sql\n").expect("docs/delivery.md's query") + 7;
    let end = start + page[start..].find("```").unwrap();
    page[start..end].to_owned()
}
