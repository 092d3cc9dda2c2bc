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
    process::{Child, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use common::{
    codearts,
    postgres::Cluster,
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

/// What the scenario kills and starts again: one watch with a state file, or a fleet.
trait Watch {
    /// `kill -9` of the watch that delivers.
    fn kill(&mut self);
    /// A watch in place of the one killed.
    fn replace(&mut self);
    /// Each push the state holds as handled (a baseline, or delivered).
    fn handled(&self) -> Vec<(u64, String)>;
    /// Stops gracefully: the exit codes, and what was said on stderr.
    fn stop(self: Box<Self>) -> (Vec<Option<i32>>, String);
    /// Trouble of its own store, if it has one to give.
    fn disturb(&mut self) {}
}

fn secret(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let secret = dir.path().join("secret");
    std::fs::write(&secret, SECRET).unwrap();
    secret
}

/// One watch, its state in a file.
struct Single {
    server: Arc<PushServer>,
    receiver: Arc<Receiver>,
    dir: tempfile::TempDir,
    watch: Option<Watching>,
}

impl Single {
    fn start(server: &Arc<PushServer>, receiver: &Arc<Receiver>) -> Self {
        let mut single = Self {
            server: server.clone(),
            receiver: receiver.clone(),
            dir: tempfile::tempdir().unwrap(),
            watch: None,
        };
        single.replace();
        single.watch.as_ref().unwrap().expect(REPOSITORIES as usize);
        single
    }
}

impl Watch for Single {
    fn kill(&mut self) {
        assert_eq!(self.watch.take().unwrap().stop("KILL"), None);
    }

    fn replace(&mut self) {
        let mut command = codearts();
        command
            .env("HUAWEICLOUD_SDK_TOKEN", "watch-token")
            .args([
                "--endpoint",
                &self.server.url(),
                "watch",
                "--interval",
                "100ms",
            ])
            .args([
                "--state",
                self.dir.path().join("state.json").to_str().unwrap(),
            ])
            .args(self.receiver.args(REPOSITORIES as u32, &secret(&self.dir)));
        self.watch = Some(Watching::spawn(command));
    }

    fn handled(&self) -> Vec<(u64, String)> {
        // The file with its journal, as the next watch reads them.
        let state = codearts_repo::StateFile::new(self.dir.path().join("state.json"));
        state
            .read()
            .unwrap()
            .into_iter()
            .map(|(id, seen)| (id.get().into(), seen.created_at.unwrap().to_string()))
            .collect()
    }

    fn stop(mut self: Box<Self>) -> (Vec<Option<i32>>, String) {
        let (code, stderr) = self.watch.take().unwrap().stop_with_stderr("TERM");
        (vec![code], stderr)
    }
}

/// Two replicas on PostgreSQL: the active one is killed, a new standby started in its
/// place, and the other takes over once the lease runs out.
struct Fleet {
    server: Arc<PushServer>,
    receiver: Arc<Receiver>,
    cluster: Cluster,
    url: String,
    dir: tempfile::TempDir,
    replicas: Vec<Child>,
    started: usize,
}

impl Fleet {
    fn start(server: &Arc<PushServer>, receiver: &Arc<Receiver>) -> Self {
        let cluster = Cluster::start();
        let url = cluster.create_database("deliver");
        let mut fleet = Self {
            server: server.clone(),
            receiver: receiver.clone(),
            cluster,
            url,
            dir: tempfile::tempdir().unwrap(),
            replicas: Vec::new(),
            started: 0,
        };
        fleet.replace();
        fleet.wait_for_leader(Duration::from_secs(20));
        fleet.replace();
        // The first round's baselines are recorded (the events table has them).
        wait_until(Duration::from_secs(20), "the baselines", || {
            fleet.psql("SELECT count(*) FROM codearts_watch_events WHERE baseline")
                == REPOSITORIES.to_string()
        });
        fleet
    }

    fn psql(&self, sql: &str) -> String {
        self.cluster.psql("deliver", sql)
    }

    /// The pid of the lease's holder while it holds it.
    fn leader(&self) -> Option<u32> {
        if self.psql("SELECT to_regclass('codearts_watch_lease') IS NOT NULL") != "t" {
            return None; // not migrated yet
        }
        let holder = self.psql("SELECT holder FROM codearts_watch_lease WHERE expires_at > now()");
        holder.split('/').nth(1).and_then(|pid| pid.parse().ok())
    }

    fn wait_for_leader(&self, within: Duration) -> u32 {
        let end = Instant::now() + within;
        loop {
            if let Some(pid) = self.leader() {
                return pid;
            }
            assert!(Instant::now() < end, "no active watcher:\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn logs(&self) -> String {
        (0..self.started)
            .map(|i| {
                let log = std::fs::read_to_string(self.dir.path().join(format!("{i}.log")));
                format!("--- replica {i}\n{}", log.unwrap_or_default())
            })
            .collect()
    }
}

impl Watch for Fleet {
    fn kill(&mut self) {
        let pid = self.wait_for_leader(Duration::from_secs(20));
        let index = self
            .replicas
            .iter()
            .position(|child| child.id() == pid)
            .expect("the holder is one of the replicas");
        let mut active = self.replicas.remove(index);
        active.kill().unwrap();
        active.wait().unwrap();
    }

    fn replace(&mut self) {
        let log = std::fs::File::create(self.dir.path().join(format!("{}.log", self.started)));
        let child = codearts()
            .env("HUAWEICLOUD_SDK_TOKEN", "fleet-token")
            .env("CODEARTS_WATCH_DATABASE_URL", &self.url)
            .env("HOSTNAME", format!("replica-{}", self.started))
            .args(["--endpoint", &self.server.url(), "watch"])
            .args(self.receiver.args(REPOSITORIES as u32, &secret(&self.dir)))
            .args(["--interval", "100ms", "--lease", "2s"])
            .stdout(Stdio::null())
            .stderr(log.unwrap())
            .spawn()
            .unwrap();
        self.replicas.push(child);
        self.started += 1;
    }

    fn handled(&self) -> Vec<(u64, String)> {
        let rows = self.psql(
            "SELECT repository_id || ' ' || created_at FROM codearts_watch_repositories
             UNION SELECT repository_id || ' ' || created_at FROM codearts_watch_events
             WHERE handled_at IS NOT NULL",
        );
        rows.lines()
            .filter_map(|row| row.split_once(' '))
            .map(|(id, created_at)| (id.parse().unwrap(), created_at.to_owned()))
            .collect()
    }

    fn stop(mut self: Box<Self>) -> (Vec<Option<i32>>, String) {
        let mut codes = Vec::new();
        for mut child in std::mem::take(&mut self.replicas) {
            let pid = child.id().to_string();
            let sent = std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status();
            assert!(sent.unwrap().success());
            codes.push(child.wait().unwrap().code());
        }
        (codes, self.logs())
    }

    /// The database restarts under the fleet (a failover, a maintenance window).
    fn disturb(&mut self) {
        self.cluster.stop();
        std::thread::sleep(Duration::from_secs(1));
        self.cluster.restart();
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for child in &mut self.replicas {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn wait_until(within: Duration, what: &str, done: impl Fn() -> bool) {
    let end = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < end, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Until no push has been served for the first time in 500 ms: every push made before is
/// in the watch's outbox (or waits, unserved, behind a held one), none in a poll's answer
/// on its way. A kill inside that answer is no part of this test: nothing can record a push
/// before it arrives.
fn settle(server: &PushServer) {
    let distinct = || server.served().into_iter().collect::<BTreeSet<_>>().len();
    let mut last = (distinct(), Instant::now());
    while last.1.elapsed() < Duration::from_millis(500) {
        std::thread::sleep(Duration::from_millis(50));
        let now = distinct();
        if now != last.0 {
            last = (now, Instant::now());
        }
    }
}

/// What the receiver took (answered 2xx): (repository, `created_at`).
fn taken(receiver: &Receiver) -> BTreeSet<(u64, String)> {
    receiver
        .delivered()
        .iter()
        .map(|r| (r.repository(), r.created_at()))
        .collect()
}

/// Pushes keep coming, the receiver fails on a schedule, and the watch is killed `kills`
/// times in the middle of deliveries, with pushes made while it is down; its store is
/// disturbed once.
fn scenario(
    server: &Arc<PushServer>,
    receiver: &Receiver,
    mut watch: Box<dyn Watch>,
    kills: usize,
) {
    let baselines: BTreeSet<(u64, String)> =
        (1..=REPOSITORIES).map(|id| (id, created_at(id))).collect();
    let pusher = Pusher::start(server);
    let schedule = [
        (Answer::Ok, 1500),
        (Answer::Status(500), 400),
        (Answer::TooMany(1), 400),
        (Answer::Status(400), 150),
        (Answer::Hang, 600),
    ];
    for round in 0..kills {
        if round == 1 {
            watch.disturb();
        }
        for (answer, millis) in schedule {
            receiver.answer(answer);
            std::thread::sleep(Duration::from_millis(millis));
        }
        // Deliveries hang at the receiver: kill the watch in their middle.
        pusher.pause(true);
        settle(server);
        watch.kill();
        let taken = taken(receiver);
        for handled in watch.handled() {
            assert!(
                baselines.contains(&handled) || taken.contains(&handled),
                "{handled:?} saved as handled, never taken by the receiver"
            );
        }
        // The service moves on while no watch runs.
        pusher.pause(false);
        std::thread::sleep(Duration::from_millis(300));
        receiver.answer(Answer::Ok);
        watch.replace();
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
            .filter(|push| !ended(receiver).contains(push))
            .cloned()
            .collect();
        if missing.is_empty() || Instant::now() > end {
            break missing;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let handled = watch.handled();
    let (codes, stderr) = watch.stop();
    assert!(
        missing.is_empty(),
        "served, never delivered: {missing:?}\n{stderr}"
    );
    assert!(
        codes.iter().all(|code| *code == Some(0)),
        "{codes:?}\n{stderr}"
    );

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
    // In order per repository: each push first reaches the receiver after the older ones.
    for id in 1..=REPOSITORIES {
        let mut first_seen: Vec<String> = Vec::new();
        for delivery in received.iter().filter(|r| r.repository() == id) {
            if !first_seen.contains(&delivery.created_at()) {
                first_seen.push(delivery.created_at());
            }
        }
        assert!(first_seen.is_sorted(), "repository {id}: {first_seen:?}");
    }
    let taken = taken(receiver);
    for handled in handled {
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

/// The pushes' server, each repository at its baseline, and the receiver (HTTPS, HTTP/2).
fn setup() -> (Arc<PushServer>, Arc<Receiver>) {
    let server = Arc::new(PushServer::start());
    for id in 1..=REPOSITORIES {
        server.push(id, created_at(id));
    }
    (server, Arc::new(Receiver::start(true)))
}

#[test]
fn every_served_push_is_delivered_through_kills_and_a_failing_receiver() {
    let (server, receiver) = setup();
    let watch = Single::start(&server, &receiver);
    scenario(&server, &receiver, Box::new(watch), 4);
}

/// The same through a fleet: each kill is the active watcher's, and the standby takes over
/// and delivers what was pending, first; the database restarts once.
#[test]
fn a_fleet_delivers_every_served_push_through_takeovers() {
    let (server, receiver) = setup();
    let fleet = Fleet::start(&server, &receiver);
    scenario(&server, &receiver, Box::new(fleet), 3);
}
