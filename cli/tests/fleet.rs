//! A fleet of real `codearts watch --database` processes on a throwaway PostgreSQL, with
//! pushes made throughout, put through `kill -9` of the active watcher, SIGSTOP past its
//! lease then SIGCONT, a restart of the database, a rolling restart of every replica, and
//! scaling 3 → 5 → 1. Each replica reaches the embedded server through a proxy of its own
//! that counts the requests it sends, so the test sees who polls, and when.
//!
//! At the end: every push is in the events table exactly once and printed at least once,
//! nothing is invented, each takeover came within its bound, and the replicas' requests
//! never interleave (one switch per new epoch at most).

mod common;

use std::{
    collections::{BTreeMap, BTreeSet},
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    process::{Child, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use common::{codearts, postgres::Cluster, watching::Loopback};

const IDS: u32 = 8;
/// The lease's length: a takeover comes within it, plus the standby's second, plus the
/// time to start polling.
const LEASE: &str = "3s";
/// The lease, the standby's second, and slack for a loaded machine.
const TAKEOVER_BOUND: Duration = Duration::from_millis(6500);
/// Pushes come one repository after another at this pace: each stays its repository's
/// latest for `IDS` times as long (4.8 s), longer than any takeover, so that every push is
/// served to some poll.
const PUSH_EVERY: Duration = Duration::from_millis(600);

/// When each replica sent each request, by replica.
type Sent = Arc<Mutex<Vec<(Instant, usize)>>>;

/// A TCP proxy in front of the server for replica `index`: it counts the requests that
/// replica sends (each starts with `GET /`).
fn proxy(server: &str, index: usize, sent: Sent) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let server = server.trim_start_matches("http://").to_owned();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { return };
            let Ok(mut upstream) = TcpStream::connect(&server) else {
                continue;
            };
            let (mut client_read, mut upstream_write) =
                (client.try_clone().unwrap(), upstream.try_clone().unwrap());
            let sent = sent.clone();
            std::thread::spawn(move || {
                let mut buffer = [0; 16384];
                while let Ok(n) = client_read.read(&mut buffer) {
                    if n == 0 {
                        break;
                    }
                    let requests = buffer[..n].windows(5).filter(|w| w == b"GET /").count();
                    let now = Instant::now();
                    sent.lock()
                        .unwrap()
                        .extend((0..requests).map(|_| (now, index)));
                    if upstream_write.write_all(&buffer[..n]).is_err() {
                        break;
                    }
                }
                let _ = upstream_write.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut upstream, &mut client);
                let _ = client.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    format!("http://{address}")
}

/// A replica: its process, and what it printed on stdout, read as it comes.
struct Replica {
    child: Child,
    printed: Arc<Mutex<Vec<(u64, String, bool)>>>,
}

impl Replica {
    fn signal(&self, signal: &str) {
        let sent = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }
}

/// A test that fails leaves no replica running behind it.
impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Fleet {
    loopback: Loopback,
    cluster: Cluster,
    url: String,
    sent: Sent,
    replicas: BTreeMap<usize, Replica>,
    /// Every line any replica printed.
    printed: Vec<(u64, String, bool)>,
    /// Every push made: (repository, created_at).
    pushed: Vec<(u64, String)>,
    next_push: u32,
    logs: tempfile::TempDir,
}

impl Fleet {
    fn start() -> Self {
        let loopback = Loopback::start(IDS);
        let cluster = Cluster::start();
        let url = cluster.create_database("fleet");
        Self {
            loopback,
            cluster,
            url,
            sent: Sent::default(),
            replicas: BTreeMap::new(),
            printed: Vec::new(),
            pushed: Vec::new(),
            next_push: 1,
            logs: tempfile::tempdir().unwrap(),
        }
    }

    fn spawn(&mut self, index: usize) {
        let endpoint = proxy(&self.loopback.server.url(), index, self.sent.clone());
        let ids: Vec<String> = (1..=IDS).map(|id| id.to_string()).collect();
        let log = std::fs::File::create(self.logs.path().join(format!("{index}.log"))).unwrap();
        let mut child = codearts()
            .env("HUAWEICLOUD_SDK_TOKEN", "fleet-token")
            .env("CODEARTS_WATCH_DATABASE_URL", &self.url)
            .env("HOSTNAME", format!("replica-{index}"))
            .args(["--endpoint", &endpoint, "watch"])
            .args(&ids)
            .args(["--interval", "200ms", "--lease", LEASE])
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let printed = Arc::new(Mutex::new(Vec::new()));
        let lines = printed.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let line: serde_json::Value = serde_json::from_str(&line).unwrap();
                lines.lock().unwrap().push(common::watching::parse(&line));
            }
        });
        self.replicas.insert(index, Replica { child, printed });
    }

    /// Stops replica `index` with `signal` (TERM as Kubernetes does, or KILL), keeping what
    /// it printed.
    fn stop(&mut self, index: usize, signal: &str) {
        let mut replica = self.replicas.remove(&index).unwrap();
        replica.signal(signal);
        let status = replica.child.wait().unwrap();
        if signal == "TERM" {
            assert_eq!(
                status.code(),
                Some(0),
                "replica {index}: {}",
                self.log(index)
            );
        }
        // The reader ends with stdout.
        std::thread::sleep(Duration::from_millis(50));
        self.printed
            .extend(replica.printed.lock().unwrap().drain(..));
    }

    fn log(&self, index: usize) -> String {
        std::fs::read_to_string(self.logs.path().join(format!("{index}.log"))).unwrap_or_default()
    }

    /// Pushes to one repository after another, one every [`PUSH_EVERY`], for `period`.
    fn push_during(&mut self, period: Duration) {
        let end = Instant::now() + period;
        while Instant::now() < end {
            let n = self.next_push;
            let id = n % IDS + 1;
            self.loopback.push(id, n);
            self.pushed
                .push((u64::from(id), common::watching::created_at(n)));
            self.next_push += 1;
            std::thread::sleep(PUSH_EVERY);
        }
    }

    /// The replica whose requests came last, and when.
    fn last_sender(&self) -> Option<(Instant, usize)> {
        self.sent.lock().unwrap().last().copied()
    }

    /// Waits until a replica other than `not` sends a request; returns how long after `since`.
    fn takeover(&self, not: usize, since: Instant) -> Duration {
        let deadline = since + Duration::from_secs(20);
        while Instant::now() < deadline {
            let taken = self
                .sent
                .lock()
                .unwrap()
                .iter()
                .find(|(at, index)| *at > since && *index != not)
                .map(|(at, _)| *at);
            if let Some(at) = taken {
                return at - since;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("no replica took over from {not}");
    }

    fn active(&self) -> usize {
        self.last_sender().expect("nobody polls").1
    }
}

#[test]
fn a_fleet_records_every_push_once_through_kills_pauses_a_database_restart_rollouts_and_scaling() {
    let mut fleet = Fleet::start();
    for index in 0..3 {
        fleet.spawn(index);
    }
    std::thread::sleep(Duration::from_secs(2));
    fleet.push_during(Duration::from_secs(2));
    let mut takeovers = Vec::new();

    // kill -9 of the active watcher: a standby takes over within the bound.
    let active = fleet.active();
    let killed = Instant::now();
    fleet.stop(active, "KILL");
    takeovers.push(fleet.takeover(active, killed));
    fleet.spawn(10);
    fleet.push_during(Duration::from_secs(2));

    // SIGSTOP past its lease: a standby takes over; after SIGCONT the former one sends
    // nothing more (it checks its lease before each request) and stands by.
    let active = fleet.active();
    let paused = Instant::now();
    fleet.replicas[&active].signal("STOP");
    takeovers.push(fleet.takeover(active, paused));
    fleet.push_during(Duration::from_secs(1));
    let resumed = Instant::now();
    fleet.replicas[&active].signal("CONT");
    fleet.push_during(Duration::from_secs(2));
    let after_resume = fleet
        .sent
        .lock()
        .unwrap()
        .iter()
        .filter(|(at, index)| *at > resumed && *index == active)
        .count();
    assert_eq!(
        after_resume, 0,
        "the paused former leader polled after SIGCONT"
    );

    // A restart of the database, shorter than the lease: the active watcher goes on,
    // holding what it printed until the database takes it.
    fleet.cluster.stop();
    fleet.push_during(Duration::from_secs(1));
    fleet.cluster.restart();
    fleet.push_during(Duration::from_secs(3));
    // An outage longer than the lease: the active watcher prints until its lease ends by its
    // own clock, then stands by holding what it printed, which it records once the database
    // is back, as a replica takes over.
    fleet.cluster.stop();
    fleet.push_during(Duration::from_secs(4));
    fleet.cluster.restart();
    fleet.push_during(Duration::from_secs(4));

    // A rolling restart of every replica, new before old, as a Deployment does.
    let running: Vec<usize> = fleet.replicas.keys().copied().collect();
    for (step, old) in running.into_iter().enumerate() {
        fleet.spawn(20 + step);
        fleet.push_during(Duration::from_millis(600));
        fleet.stop(old, "TERM");
        fleet.push_during(Duration::from_millis(900));
    }

    // Scaling 3 → 5 → 1.
    fleet.spawn(30);
    fleet.spawn(31);
    fleet.push_during(Duration::from_secs(1));
    let keep = fleet.active();
    let others: Vec<usize> = fleet
        .replicas
        .keys()
        .copied()
        .filter(|i| *i != keep)
        .collect();
    for index in others {
        fleet.stop(index, "TERM");
    }
    fleet.push_during(Duration::from_secs(2));
    // And the last one, whose active watcher then goes: at 1, nothing takes over; scaled
    // back to 1, the new replica takes over.
    let last = Instant::now();
    fleet.stop(keep, "TERM");
    fleet.spawn(40);
    takeovers.push(fleet.takeover(keep, last));
    fleet.push_during(Duration::from_secs(2));
    std::thread::sleep(Duration::from_secs(2));
    let remaining: Vec<usize> = fleet.replicas.keys().copied().collect();
    for index in remaining {
        fleet.stop(index, "TERM");
    }

    for (i, took) in takeovers.iter().enumerate() {
        assert!(*took <= TAKEOVER_BOUND, "takeover {i} took {took:?}");
    }

    // The table: each push once, baselines once per repository, nothing invented.
    let table = fleet.cluster.psql(
        "fleet",
        "SELECT repository_id, created_at, baseline FROM codearts_watch_events ORDER BY id",
    );
    let rows: Vec<(u64, String, bool)> = table
        .lines()
        .map(|line| {
            let mut columns = line.split('|');
            let id = columns.next().unwrap().parse().unwrap();
            let created = columns.next().unwrap().to_owned();
            (id, created, columns.next() == Some("t"))
        })
        .collect();
    let baselines: BTreeSet<u64> = rows.iter().filter(|r| r.2).map(|r| r.0).collect();
    assert_eq!(baselines.len(), IDS as usize, "{rows:?}");
    assert_eq!(
        rows.iter().filter(|r| r.2).count(),
        IDS as usize,
        "{rows:?}"
    );
    let recorded: Vec<(u64, String)> = rows
        .iter()
        .filter(|r| !r.2)
        .map(|r| (r.0, r.1.clone()))
        .collect();
    let unique: BTreeSet<&(u64, String)> = recorded.iter().collect();
    assert_eq!(unique.len(), recorded.len(), "recorded twice: {recorded:?}");
    let pushed: BTreeSet<&(u64, String)> = fleet.pushed.iter().collect();
    let invented: Vec<_> = unique.difference(&pushed).collect();
    assert!(invented.is_empty(), "invented: {invented:?}");
    let missing: Vec<_> = pushed.difference(&unique).collect();
    assert!(
        missing.is_empty(),
        "never recorded: {missing:?} of {}",
        pushed.len()
    );

    // stdout: every push at least once.
    let printed: BTreeSet<(u64, String)> = fleet
        .printed
        .iter()
        .filter(|line| !line.2)
        .map(|line| (line.0, line.1.clone()))
        .collect();
    let unprinted: Vec<_> = fleet
        .pushed
        .iter()
        .filter(|p| !printed.contains(p))
        .collect();
    assert!(unprinted.is_empty(), "never printed: {unprinted:?}");

    // One poller at a time: the requests switch from one replica to another at most as
    // often as the lease went from one replica to another (its terms, from their logs).
    let mut terms: Vec<(u64, usize)> = Vec::new();
    for entry in std::fs::read_dir(fleet.logs.path()).unwrap() {
        let path = entry.unwrap().path();
        let replica: usize = path.file_stem().unwrap().to_str().unwrap().parse().unwrap();
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            if let Some(epoch) = line.split("active (epoch ").nth(1) {
                terms.push((epoch.trim_end_matches(')').parse().unwrap(), replica));
            }
        }
    }
    terms.sort();
    // The outage longer than the lease left a former term holding printed events, which it
    // recorded once the database was back (none twice: the table's check above).
    let logs: Vec<String> = std::fs::read_dir(fleet.logs.path())
        .unwrap()
        .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
        .collect();
    assert!(
        logs.iter()
            .any(|log| log.contains("event(s) of epoch") && log.contains(": recorded ")),
        "no former term recorded its events late: {logs:?}"
    );
    let handovers = terms
        .windows(2)
        .filter(|pair| pair[0].1 != pair[1].1)
        .count();
    let sent = fleet.sent.lock().unwrap();
    let switches = sent
        .windows(2)
        .filter(|pair| pair[0].1 != pair[1].1)
        .count();
    assert!(
        switches <= handovers,
        "{switches} switches between pollers for {handovers} handovers ({terms:?}): \
         two replicas polled at once"
    );
    eprintln!(
        "takeovers: {takeovers:?}; {} pushes, {} requests, terms {terms:?}",
        fleet.pushed.len(),
        sent.len()
    );
}
