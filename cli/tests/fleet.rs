//! A fleet of `codearts watch` replicas sharing a state directory, rescaled 2 → 3 → 2 while
//! pushes are made on the embedded server, and `/healthz` and `/readyz` while the server refuses
//! every poll.

mod common;

use std::{collections::BTreeSet, time::Duration};

use codearts_repo::server::{InjectedFailure, Outage};
use common::watching::{Loopback, Watching, created_at};

const IDS: u32 = 12;

/// What every replica printed so far: (repository, created_at, baseline).
#[derive(Default)]
struct Printed(Vec<(u64, String, bool)>);

impl Printed {
    fn drain(&mut self, replicas: &[&Watching]) {
        for replica in replicas {
            self.0.extend(replica.during(Duration::from_millis(1)));
        }
    }

    /// Stops `replica` with SIGTERM (as Kubernetes does), keeping what it printed.
    fn stop(&mut self, replica: Watching) {
        let (code, lines) = replica.stop_with_lines("TERM");
        assert_eq!(code, Some(0));
        self.0.extend(lines);
    }
}

/// A replica, started and given the time to poll its repositories once: a push made to a
/// repository that nobody polls is replaced by the next one before anyone sees it (the API
/// shows the latest push only), which no watch can report.
fn replica(loopback: &Loopback, dir: &str, shard: &str) -> Watching {
    let ids: Vec<String> = (1..=IDS).map(|id| id.to_string()).collect();
    let mut args: Vec<&str> = ids.iter().map(String::as_str).collect();
    args.extend(["--state-dir", dir, "--shard", shard]);
    let watching = loopback.spawn_watch(&args);
    std::thread::sleep(Duration::from_millis(700));
    watching
}

/// Push number `n` to every repository, then let the replicas poll.
fn push_all(loopback: &Loopback, n: u32, printed: &mut Printed, replicas: &[&Watching]) {
    for id in 1..=IDS {
        loopback.push(id, n);
    }
    std::thread::sleep(Duration::from_millis(900));
    printed.drain(replicas);
}

#[test]
fn rescaling_a_fleet_over_a_shared_state_directory_loses_no_push() {
    let loopback = Loopback::start(IDS);
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path().to_str().unwrap().to_owned();
    let mut printed = Printed::default();

    // Two replicas: every repository's first observation is a baseline.
    let r0 = replica(&loopback, &dir, "0/2");
    let r1 = replica(&loopback, &dir, "1/2");
    std::thread::sleep(Duration::from_millis(900));
    printed.drain(&[&r0, &r1]);
    let baselines: BTreeSet<u64> = printed.0.iter().map(|(id, _, _)| *id).collect();
    assert_eq!(baselines.len(), IDS as usize, "{:?}", printed.0);
    push_all(&loopback, 1, &mut printed, &[&r0, &r1]);

    // Scale to 3, as a StatefulSet does: the new replica first, then the others restarted
    // one by one with the new count; pushes are made at each step.
    let r2 = replica(&loopback, &dir, "2/3");
    push_all(&loopback, 2, &mut printed, &[&r0, &r1, &r2]);
    printed.stop(r1);
    push_all(&loopback, 3, &mut printed, &[&r0, &r2]);
    let r1 = replica(&loopback, &dir, "1/3");
    push_all(&loopback, 4, &mut printed, &[&r0, &r1, &r2]);
    printed.stop(r0);
    let r0 = replica(&loopback, &dir, "0/3");
    push_all(&loopback, 5, &mut printed, &[&r0, &r1, &r2]);

    // And back to 2: the last replica goes first, and its repositories wait for the others
    // to restart with the new count (jump hashing moves ids out of the last shard only);
    // the push made meanwhile is printed by their new owner.
    printed.stop(r2);
    push_all(&loopback, 6, &mut printed, &[&r0, &r1]);
    printed.stop(r1);
    let r1 = replica(&loopback, &dir, "1/2");
    printed.drain(&[&r0, &r1]);
    printed.stop(r0);
    let r0 = replica(&loopback, &dir, "0/2");
    push_all(&loopback, 7, &mut printed, &[&r0, &r1]);
    push_all(&loopback, 8, &mut printed, &[&r0, &r1]);
    printed.stop(r0);
    printed.stop(r1);

    let later_baselines: Vec<_> = printed
        .0
        .iter()
        .filter(|(_, created, baseline)| *baseline && *created != created_at(0))
        .collect();
    assert!(
        later_baselines.is_empty(),
        "an id that moved lost its state: {later_baselines:?}"
    );
    for (id, created, baseline) in &printed.0 {
        let n: u32 = created[17..19].parse().unwrap();
        assert!(
            n <= 8 && (*baseline == (n == 0)),
            "invented: {id} {created} {baseline}"
        );
    }
    for id in 1..=u64::from(IDS) {
        for n in 1..=8 {
            assert!(
                printed.0.contains(&(id, created_at(n), false)),
                "push {n} of repository {id} was never printed: {:?}",
                printed.0
            );
        }
    }
    let files: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".json"))
        .collect();
    assert!(
        files.contains("shard-0.json") && files.contains("shard-1.json"),
        "{files:?}"
    );
}

/// Replicas by index, each with the shard count it was started with.
struct Fleet<'a> {
    loopback: &'a Loopback,
    dir: String,
    replicas: Vec<Option<(u32, Watching)>>,
    printed: Printed,
}

impl Fleet<'_> {
    /// Starts replica `k` with `count` shards, stopping (SIGTERM) the one it replaces.
    fn restart(&mut self, k: u32, count: u32) {
        self.stop(k);
        let watching = replica(self.loopback, &self.dir, &format!("{k}/{count}"));
        self.replicas[k as usize] = Some((count, watching));
    }

    fn stop(&mut self, k: u32) {
        if let Some((_, watching)) = self.replicas[k as usize].take() {
            self.printed.stop(watching);
        }
    }

    /// Whether a running replica polls `id`.
    fn owns(&self, id: u32) -> bool {
        let id = codearts_repo::RepositoryId::new(id).unwrap();
        self.replicas.iter().enumerate().any(|(k, replica)| {
            replica
                .as_ref()
                .is_some_and(|(count, _)| codearts_repo::watch::Shard::of(id, *count) == k as u32)
        })
    }

    /// Push number `n` to every repository; returns those a replica polls now.
    fn push_all(&mut self, n: u32) -> Vec<u32> {
        let running: Vec<&Watching> = self.replicas.iter().flatten().map(|(_, w)| w).collect();
        push_all(self.loopback, n, &mut self.printed, &running);
        (1..=IDS).filter(|&id| self.owns(id)).collect()
    }
}

#[test]
fn rolling_one_replica_at_a_time_in_any_order_prints_every_served_push_as_a_push() {
    let loopback = Loopback::start(IDS);
    let dir = tempfile::tempdir().unwrap();
    let mut fleet = Fleet {
        loopback: &loopback,
        dir: dir.path().to_str().unwrap().to_owned(),
        replicas: (0..3).map(|_| None).collect(),
        printed: Printed::default(),
    };
    fleet.restart(0, 2);
    fleet.restart(1, 2);
    std::thread::sleep(Duration::from_millis(900));
    // The layouts, one replica changed at a time, each with the new count: the old
    // replicas restart with 3 before the new one starts (for a while nobody polls the ids
    // that move to it), and with 2 while the third still runs; pushes at every step.
    let steps: [&dyn Fn(&mut Fleet); 8] = [
        &|_| {},
        &|f| f.restart(1, 3),
        &|f| f.restart(0, 3),
        &|f| f.restart(2, 3),
        &|f| f.restart(1, 2),
        &|f| f.restart(0, 2),
        &|f| f.stop(2),
        &|_| {},
    ];
    // A push to an id nobody polls is served when its owner starts, before the next push;
    // otherwise the next push replaces it and no watch could see it.
    let mut polled: Vec<Vec<u32>> = Vec::new();
    for (n, step) in (1..).zip(steps) {
        step(&mut fleet);
        if let Some(last) = polled.last_mut() {
            last.extend((1..=IDS).filter(|&id| fleet.owns(id)));
        }
        polled.push(fleet.push_all(n));
    }
    fleet.stop(0);
    fleet.stop(1);
    let printed = &fleet.printed.0;
    let served: BTreeSet<(u64, String)> = (1..)
        .zip(&polled)
        .flat_map(|(n, ids)| ids.iter().map(move |&id| (u64::from(id), created_at(n))))
        .collect();
    let as_push: BTreeSet<(u64, String)> = printed
        .iter()
        .filter(|(_, _, baseline)| !baseline)
        .map(|(id, created, _)| (*id, created.clone()))
        .collect();
    let as_baseline: Vec<_> = printed
        .iter()
        .filter(|(_, created, baseline)| *baseline && *created != created_at(0))
        .collect();
    eprintln!(
        "pushes served {}, printed as a push {}, as a baseline {}",
        served.len(),
        served.intersection(&as_push).count(),
        as_baseline.len()
    );
    assert!(
        as_baseline.is_empty(),
        "pushes taken for baselines: {as_baseline:?}"
    );
    let missing: Vec<_> = served.difference(&as_push).collect();
    assert!(
        missing.is_empty(),
        "served, never printed as a push: {missing:?}"
    );
}

/// `path` on the watch's listener: status and body (status 0 while it does not listen yet).
fn probe(address: &str, path: &str) -> (u16, String) {
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            &format!("http://{address}{path}"),
        ])
        .output()
        .expect("curl");
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

fn free_address() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}")
}

/// Liveness reports the process and readiness the service: an outage of the service makes
/// replicas unready (no traffic, no rollout step), never restarted.
#[test]
fn readyz_turns_503_while_no_poll_is_answered_and_back_and_healthz_stays_200() {
    let loopback = Loopback::start(2);
    let address = free_address();
    let watching =
        loopback.spawn_watch(&["1", "2", "--listen", &address, "--unhealthy-after", "3"]);
    assert_eq!(watching.expect(2).len(), 2);
    assert_eq!(probe(&address, "/healthz").0, 200);
    assert_eq!(probe(&address, "/readyz").0, 200);

    loopback.server.set_outage(Some(Outage {
        failure: InjectedFailure {
            status: 503,
            retry_after: None,
        },
        share: 1.0,
    }));
    std::thread::sleep(Duration::from_millis(800));
    let (code, body) = probe(&address, "/readyz");
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("has answered no poll"), "{body}");
    let (code, body) = probe(&address, "/healthz");
    assert_eq!(code, 200, "the process is alive: {body}");

    loopback.server.set_outage(None);
    let mut code = 0;
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        code = probe(&address, "/readyz").0;
        if code == 200 {
            break;
        }
    }
    assert_eq!(code, 200, "ready again once polls are answered");
    assert_eq!(probe(&address, "/healthz").0, 200);
    assert_eq!(watching.stop("TERM"), Some(0));
}

/// With OrderedReady, a replica that never becomes ready stops the rollout: one whose shard
/// holds none of the ids (3 replicas, 2 ids) has nothing to poll and is ready.
#[test]
fn a_replica_whose_shard_holds_no_ids_is_ready() {
    let loopback = Loopback::start(0);
    let ids = [2112036131u32, 2112036132];
    let empty = (0..3)
        .find(|&k| {
            ids.iter().all(|&id| {
                let id = codearts_repo::RepositoryId::new(id).unwrap();
                codearts_repo::watch::Shard::of(id, 3) != k
            })
        })
        .unwrap();
    let address = free_address();
    let shard = format!("{empty}/3");
    let watching = loopback.spawn_watch(&[
        "2112036131",
        "2112036132",
        "--shard",
        &shard,
        "--listen",
        &address,
    ]);
    let mut answer = (0, String::new());
    for _ in 0..50 {
        answer = probe(&address, "/readyz");
        if answer.0 != 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(answer.0, 200, "{}", answer.1);
    assert_eq!(probe(&address, "/healthz").0, 200);
    assert_eq!(watching.stop("TERM"), Some(0));
}
