//! `codearts watch --deliver --state` as issue 40 checks it: a push server that logs every
//! push it serves while pushes keep coming, a receiver over HTTPS and HTTP/2 that fails,
//! throttles, refuses and hangs on a schedule, and `kill -9` of the watch in the middle of
//! deliveries, with pushes made while no watch runs. Every push served after a repository's
//! first observation reaches the receiver and ends delivered (2xx) or refused (400); each
//! delivery's signature verifies (the `hmac` crate here, not the command's code); a push
//! has one id however often it is sent; and the state never holds a push as handled that
//! the receiver did not take.

mod common;

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use common::{
    codearts,
    push_server::PushServer,
    receiver::{Answer, Receiver, SECRET, verifies},
    watching::Watching,
};

const REPOSITORIES: u64 = 3;

fn created_at(n: u64) -> String {
    format!(
        "2026-01-01T{:02}:{:02}:{:02}+08:00",
        n / 3600,
        n / 60 % 60,
        n % 60
    )
}

/// Pushes to a repository at random every 60 to 140 ms, while not paused.
struct Pusher {
    paused: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Pusher {
    fn start(server: &Arc<PushServer>) -> Self {
        let (paused, stop) = (Arc::<AtomicBool>::default(), Arc::<AtomicBool>::default());
        let thread = std::thread::spawn({
            let (server, paused, stop) = (server.clone(), paused.clone(), stop.clone());
            move || {
                let mut rng = fastrand::Rng::with_seed(40);
                let mut n = 100;
                while !stop.load(Ordering::Relaxed) {
                    if !paused.load(Ordering::Relaxed) {
                        n += 1;
                        server.push(rng.u64(1..=REPOSITORIES), created_at(n));
                    }
                    std::thread::sleep(Duration::from_millis(rng.u64(60..140)));
                }
            }
        });
        Self {
            paused,
            stop,
            thread: Some(thread),
        }
    }

    fn pause(&self, paused: bool) {
        self.paused.store(paused, Ordering::Relaxed);
    }
}

impl Drop for Pusher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn spawn_watch(server: &PushServer, receiver: &Receiver, dir: &tempfile::TempDir) -> Watching {
    let secret = dir.path().join("secret");
    std::fs::write(&secret, SECRET).unwrap();
    let mut command = codearts();
    command
        .env("HUAWEICLOUD_SDK_TOKEN", "watch-token")
        .args(["--endpoint", &server.url(), "watch", "--interval", "100ms"])
        .args(["--state", dir.path().join("state.json").to_str().unwrap()])
        .args(receiver.args(REPOSITORIES as u32, &secret));
    Watching::spawn(command)
}

/// Until no push has been served for the first time in 300 ms: every push made before is
/// in the watch's outbox (or waits, unserved, behind a held one), none in a poll's answer
/// on its way. A kill inside that answer is no part of this test: nothing can record a push
/// before it arrives.
fn settle(server: &PushServer) {
    let distinct = || server.served().into_iter().collect::<BTreeSet<_>>().len();
    let mut last = (distinct(), Instant::now());
    while last.1.elapsed() < Duration::from_millis(300) {
        std::thread::sleep(Duration::from_millis(50));
        let now = distinct();
        if now != last.0 {
            last = (now, Instant::now());
        }
    }
}

/// Each repository's push the state file holds as handled.
fn saved(dir: &tempfile::TempDir) -> Vec<(u64, String)> {
    let text = std::fs::read_to_string(dir.path().join("state.json")).unwrap_or_default();
    let state: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let repositories = state["repositories"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    repositories
        .iter()
        .map(|(id, seen)| {
            let created_at = seen["created_at"].as_str().unwrap().to_owned();
            (id.parse().unwrap(), created_at)
        })
        .collect()
}

/// What the receiver took (answered 2xx): (repository, `created_at`).
fn taken(receiver: &Receiver) -> BTreeSet<(u64, String)> {
    receiver
        .delivered()
        .iter()
        .map(|r| (r.repository(), r.created_at()))
        .collect()
}

#[test]
fn every_served_push_is_delivered_through_kills_and_a_failing_receiver() {
    let server = Arc::new(PushServer::start());
    let baselines: BTreeSet<(u64, String)> =
        (1..=REPOSITORIES).map(|id| (id, created_at(id))).collect();
    for (id, created_at) in &baselines {
        server.push(*id, created_at.clone());
    }
    let receiver = Receiver::start(true);
    let dir = tempfile::tempdir().unwrap();
    let mut watch = spawn_watch(&server, &receiver, &dir);
    watch.expect(REPOSITORIES as usize);
    let pusher = Pusher::start(&server);
    let schedule = [
        (Answer::Ok, 1500),
        (Answer::Status(500), 400),
        (Answer::TooMany(1), 400),
        (Answer::Status(400), 150),
        (Answer::Hang, 600),
    ];
    for _ in 0..4 {
        for (answer, millis) in schedule {
            receiver.answer(answer);
            std::thread::sleep(Duration::from_millis(millis));
        }
        // Deliveries hang at the receiver: kill the watch in their middle.
        pusher.pause(true);
        settle(&server);
        assert_eq!(watch.stop("KILL"), None);
        let taken = taken(&receiver);
        for handled in saved(&dir) {
            assert!(
                baselines.contains(&handled) || taken.contains(&handled),
                "{handled:?} saved as handled, never taken by the receiver"
            );
        }
        // The service moves on while no watch runs.
        pusher.pause(false);
        std::thread::sleep(Duration::from_millis(300));
        receiver.answer(Answer::Ok);
        watch = spawn_watch(&server, &receiver, &dir);
    }
    drop(pusher);

    // Every push served after its repository's baseline ends delivered or refused.
    let ended = |receiver: &Receiver| -> BTreeSet<(u64, String)> {
        receiver
            .received()
            .iter()
            .filter(|r| matches!(r.answered, Answer::Ok | Answer::Status(400)))
            .map(|r| (r.repository(), r.created_at()))
            .collect()
    };
    let end = Instant::now() + Duration::from_secs(30);
    let missing = loop {
        let served: BTreeSet<_> = server.served().into_iter().collect();
        let missing: Vec<_> = served
            .difference(&baselines)
            .filter(|push| !ended(&receiver).contains(push))
            .cloned()
            .collect();
        if missing.is_empty() || Instant::now() > end {
            break missing;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let (code, stderr) = watch.stop_with_stderr("TERM");
    assert!(
        missing.is_empty(),
        "served, never delivered: {missing:?}\n{stderr}"
    );
    assert_eq!(code, Some(0), "{stderr}");

    let received = receiver.received();
    let mut ids: BTreeMap<(u64, String), BTreeSet<String>> = BTreeMap::new();
    for delivery in &received {
        assert!(
            verifies(&delivery.body, &delivery.signature),
            "{delivery:?}"
        );
        assert_eq!(delivery.event, "push", "no baseline delivered");
        let push = (delivery.repository(), delivery.created_at());
        ids.entry(push).or_default().insert(delivery.id.clone());
    }
    for (push, ids) in &ids {
        assert_eq!(ids.len(), 1, "{push:?} sent with several ids: {ids:?}");
    }
    let distinct: BTreeSet<_> = ids.values().flatten().collect();
    assert_eq!(distinct.len(), ids.len(), "one id per push");
    let taken = taken(&receiver);
    for handled in saved(&dir) {
        assert!(
            baselines.contains(&handled) || taken.contains(&handled),
            "{handled:?} saved as handled, never taken by the receiver"
        );
    }
    let redelivered = ids.len() < received.len();
    assert!(
        redelivered,
        "the kills landed mid-delivery: some push was sent again"
    );
}
