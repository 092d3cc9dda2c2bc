//! Part 3 (the report's 4 and 5): what the database costs under load. The fleet on
//! `--database`, each replica behind proxies that count its requests and its frontend
//! messages; then a single watch on `--state FILE` on the same load, whose CPU the active
//! replica's is compared with.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use crate::{
    Bench, FIRST_REQUEST_WITHIN,
    pg_wire::{self, Frontend, FrontendCounts},
    proc_cpu::{percent, postmaster, process_ticks, server_ticks},
    proxy::Requests,
    pushes::Pushing,
    replicas::Process,
    sleep_until, wait_for, write_ids,
};

/// SQL texts and how often each was sent per second, most frequent first.
pub type Rates = Vec<(String, f64)>;

/// One window of the fleet on `--database`.
pub struct LoadRound {
    pub seconds: f64,
    pub polls: usize,
    pub active: FrontendCounts,
    /// All the standbys' together.
    pub standbys: FrontendCounts,
    pub active_ticks: u64,
    pub server_ticks: u64,
}

/// One window of the watch on `--state`.
pub struct StateRound {
    pub seconds: f64,
    pub polls: usize,
    pub ticks: u64,
}

pub struct LoadFigures {
    pub repositories: u32,
    pub interval: Duration,
    pub pushes_per_s: f64,
    pub window: Duration,
    pub standbys: usize,
    pub database: Vec<LoadRound>,
    /// SQL texts prepared or queried per second over the windows: by the active replica,
    /// and by each standby.
    pub texts: (Rates, Rates),
    pub state: Vec<StateRound>,
    pub warnings: Vec<String>,
}

pub fn measure(bench: &Bench) -> Result<LoadFigures, String> {
    let args = bench.args;
    let warmup = args
        .warmup
        .unwrap_or(args.interval + Duration::from_secs(5));
    progress!(
        "part 3: {} repositories every {}, {} pushes/s; {} rounds of {} after {}",
        args.repositories,
        humantime::format_duration(args.interval),
        args.pushes_per_s,
        args.rounds,
        humantime::format_duration(args.window),
        humantime::format_duration(warmup)
    );
    let mut load = Load {
        bench,
        ids: bench.launcher.dir.join("load-ids.txt"),
        warmup,
        warnings: Vec::new(),
    };
    write_ids(&load.ids, args.repositories)?;
    let postmaster = postmaster(bench.cluster.port());
    progress!("PostgreSQL's postmaster: pid {postmaster:?}");
    if postmaster.is_none() {
        load.warnings
            .push("PostgreSQL's postmaster not found in /proc: its CPU is not measured".into());
    }
    let (database, texts) = load.database(postmaster)?;
    let state = load.state()?;
    Ok(LoadFigures {
        repositories: args.repositories,
        interval: args.interval,
        pushes_per_s: args.pushes_per_s,
        window: args.window,
        standbys: args.replicas as usize - 1,
        database,
        texts,
        state,
        warnings: load.warnings,
    })
}

struct Load<'a> {
    bench: &'a Bench<'a>,
    ids: PathBuf,
    /// From the first request to the first window.
    warmup: Duration,
    warnings: Vec<String>,
}

impl Load<'_> {
    /// `--pushes-per-s` on random repositories, if any.
    fn pushing(&self) -> Option<Pushing> {
        let (rate, n) = (self.bench.args.pushes_per_s, self.bench.args.repositories);
        (rate > 0.0).then(|| {
            let every = Duration::from_secs_f64(1.0 / rate);
            self.bench
                .pusher
                .pushing(every, move |_| fastrand::u32(1..=n))
        })
    }

    /// The replicas on `--database`, each behind proxies of its own: replica 0 first, so
    /// that it is the active one.
    fn start_fleet(&self, requests: &Requests) -> Result<Vec<(Process, Arc<Frontend>)>, String> {
        let (bench, args) = (self.bench, self.bench.args);
        let cluster = &bench.cluster;
        cluster.create_database("load");
        let mut fleet = Vec::new();
        for index in 0..args.replicas as usize {
            let (frontend, port) = Frontend::proxy(cluster.port())?;
            let url = format!(
                "postgres://codearts:{}@127.0.0.1:{port}/load",
                cluster.password()
            );
            let endpoint = requests.proxy(bench.pusher.server(), index)?;
            let name = format!("load-{index}");
            let replica =
                bench
                    .launcher
                    .watch(&name, &endpoint, &self.ids, args.interval, Some(&url))?;
            if index == 0 {
                wait_for(FIRST_REQUEST_WITHIN, || requests.first())
                    .ok_or_else(|| format!("load-0 did not poll:\n{}", replica.log_tail(10)))?;
            }
            fleet.push((replica, frontend));
        }
        Ok(fleet)
    }

    /// The fleet's windows, and the SQL texts sent meanwhile.
    fn database(
        &mut self,
        postmaster: Option<u32>,
    ) -> Result<(Vec<LoadRound>, (Rates, Rates)), String> {
        let args = self.bench.args;
        let requests = Requests::default();
        let (mut fleet, frontends): (Vec<_>, Vec<_>) =
            self.start_fleet(&requests)?.into_iter().unzip();
        let first = requests.first().unwrap();
        let pushes = self.pushing();
        sleep_until(first + self.warmup);

        let (active, standbys) = frontends.split_at(1);
        let snapshot = || Snapshot {
            at: Instant::now(),
            active: pg_wire::counts(active),
            standbys: pg_wire::counts(standbys),
            watch: process_ticks(fleet[0].pid()),
            server: postmaster.map_or(0, server_ticks),
        };
        let texts_before = (pg_wire::texts(active), pg_wire::texts(standbys));
        let measuring = Instant::now();
        let mut rounds = Vec::new();
        for round in 0..args.rounds {
            let before = snapshot();
            std::thread::sleep(args.window);
            let after = snapshot();
            let (from, to) = (before.at, after.at);
            let measured = LoadRound {
                seconds: (to - from).as_secs_f64(),
                polls: requests.count(from, to, |index| index == 0),
                active: after.active - before.active,
                standbys: after.standbys - before.standbys,
                active_ticks: after.watch - before.watch,
                server_ticks: after.server - before.server,
            };
            progress!(
                "--database round {}: {} polls, {} statements, {} round trips, watch CPU {:.1}%, PostgreSQL CPU {:.1}%",
                round + 1,
                measured.polls,
                measured.active.statements,
                measured.active.round_trips,
                percent(measured.active_ticks, measured.seconds),
                percent(measured.server_ticks, measured.seconds),
            );
            let standby_polls = requests.count(from, to, |index| index != 0);
            if standby_polls > 0 {
                self.warnings.push(format!(
                    "round {}: a standby polled ({standby_polls} requests): load-0 was not the only active replica",
                    round + 1,
                ));
            }
            rounds.push(measured);
        }
        let seconds = measuring.elapsed().as_secs_f64();
        let texts = (
            per_second(&texts_before.0, pg_wire::texts(active), seconds, 1),
            per_second(
                &texts_before.1,
                pg_wire::texts(standbys),
                seconds,
                standbys.len(),
            ),
        );
        for replica in &mut fleet {
            if let Some(exit) = replica.exited_by_itself() {
                self.warnings.push(format!("{} {exit}", replica.name));
            }
        }
        for replica in &mut fleet {
            replica.stop(libc::SIGTERM);
        }
        if let Some(pushing) = pushes {
            pushing.stop();
        }
        Ok((rounds, texts))
    }

    /// A single watch on `--state FILE`, for its CPU on the same load.
    fn state(&mut self) -> Result<Vec<StateRound>, String> {
        let (bench, args) = (self.bench, self.bench.args);
        let requests = Requests::default();
        let endpoint = requests.proxy(bench.pusher.server(), 0)?;
        let mut single =
            bench
                .launcher
                .watch("state", &endpoint, &self.ids, args.interval, None)?;
        let first = wait_for(FIRST_REQUEST_WITHIN, || requests.first())
            .ok_or_else(|| format!("the --state watch did not poll:\n{}", single.log_tail(10)))?;
        let pushes = self.pushing();
        sleep_until(first + self.warmup);
        let mut rounds = Vec::new();
        for round in 0..args.rounds {
            let (from, ticks) = (Instant::now(), process_ticks(single.pid()));
            std::thread::sleep(args.window);
            let (to, ticks_after) = (Instant::now(), process_ticks(single.pid()));
            let measured = StateRound {
                seconds: (to - from).as_secs_f64(),
                polls: requests.count(from, to, |_| true),
                ticks: ticks_after - ticks,
            };
            progress!(
                "--state round {}: {} polls, watch CPU {:.1}%",
                round + 1,
                measured.polls,
                percent(measured.ticks, measured.seconds)
            );
            rounds.push(measured);
        }
        if let Some(exit) = single.exited_by_itself() {
            self.warnings.push(format!("the --state watch {exit}"));
        }
        single.stop(libc::SIGTERM);
        if let Some(pushing) = pushes {
            pushing.stop();
        }
        Ok(rounds)
    }
}

/// The fleet's figures at one time.
struct Snapshot {
    at: Instant,
    active: FrontendCounts,
    standbys: FrontendCounts,
    watch: u64,
    server: u64,
}

/// Each text's count from `before` to `after`, per second over `seconds` and per one of `of`.
fn per_second(
    before: &HashMap<String, u64>,
    after: HashMap<String, u64>,
    seconds: f64,
    of: usize,
) -> Rates {
    let mut texts: Rates = after
        .into_iter()
        .map(|(text, n)| {
            let n = n - before.get(&text).copied().unwrap_or(0);
            (text, n as f64 / seconds / of as f64)
        })
        .filter(|(_, rate)| *rate > 0.0)
        .collect();
    texts.sort_by(|a, b| b.1.total_cmp(&a.1));
    texts
}
