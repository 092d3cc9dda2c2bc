//! Parts 1 and 2 (the report's 1 to 3): takeovers after `kill -9` of the active replica,
//! with pushes all along whose events must each be recorded once, and the requests the
//! service sees meanwhile.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    time::{Duration, Instant},
};

use crate::{
    AFTER_TAKEOVER, Bench, DEFAULT_LEASE, FIRST_REQUEST_WITHIN, clock,
    events::Events,
    proxy::Requests,
    replicas::{Process, log_tails},
    sleep_until,
    stats::median,
    wait_for, write_ids,
};

/// One takeover.
pub struct Takeover {
    pub killed: Instant,
    pub taken: Instant,
    pub from: String,
    pub to: String,
    /// The largest 1-s bucket of requests from the takeover on, within [`AFTER_TAKEOVER`].
    pub peak: usize,
    /// Requests from the kill to [`AFTER_TAKEOVER`] after the takeover.
    pub window_total: usize,
}

impl Takeover {
    pub fn seconds(&self) -> f64 {
        (self.taken - self.killed).as_secs_f64()
    }
}

pub struct TakeoverFigures {
    pub replicas: u32,
    pub lease: Duration,
    pub repositories: u32,
    pub interval: Duration,
    pub runs: Vec<Takeover>,
    /// Requests per second in 1-s buckets of the steady state.
    pub steady: Vec<usize>,
    pub pushes: usize,
    pub events: Events,
    /// How often the poller changed, and the lease's epochs.
    pub switches: usize,
    pub epochs: u64,
    pub lingering: Vec<String>,
    pub warnings: Vec<String>,
}

impl TakeoverFigures {
    pub fn steady_median(&self) -> f64 {
        match self.steady.is_empty() {
            true => 0.0,
            false => median(self.steady.iter().map(|n| *n as f64).collect()),
        }
    }
}

/// Whether `peak` requests in a second after a takeover are a burst against `steady`.
pub fn burst(peak: usize, steady: f64) -> bool {
    peak as f64 > steady * 1.5 + 2.0
}

pub fn measure(bench: &Bench) -> Result<TakeoverFigures, String> {
    let args = bench.args;
    let (n, interval) = (args.takeover_repositories, args.takeover_interval);
    let lease = args.lease.unwrap_or(DEFAULT_LEASE);
    let latest_for = args.push_every.mul_f64(f64::from(n));
    progress!(
        "part 1: {} replicas, {n} repositories every {}, lease {}; one push every {} (each the latest for {})",
        args.replicas,
        humantime::format_duration(interval),
        humantime::format_duration(lease),
        humantime::format_duration(args.push_every),
        humantime::format_duration(latest_for),
    );
    let mut warnings = Vec::new();
    if latest_for < lease + Duration::from_secs(1) + interval {
        warnings.push(format!(
            "each push is its repository's latest for only {}, less than a takeover plus an interval: some may be superseded before any poll (not a loss)",
            humantime::format_duration(latest_for)
        ));
    }
    let mut fleet = Fleet {
        bench,
        url: bench.cluster.create_database("takeovers"),
        ids: bench.launcher.dir.join("takeover-ids.txt"),
        interval,
        requests: Requests::default(),
        running: BTreeMap::new(),
        gone: Vec::new(),
    };
    write_ids(&fleet.ids, n)?;
    for index in 0..args.replicas as usize {
        fleet.start(index)?;
    }
    let requests = fleet.requests.clone();
    let first = wait_for(FIRST_REQUEST_WITHIN, || requests.first()).ok_or_else(|| {
        format!(
            "no replica polled within {FIRST_REQUEST_WITHIN:?}:\n{}",
            log_tails(fleet.running.values(), 10)
        )
    })?;
    progress!("first request; the first round of baselines takes an interval");
    // Pushes only once every repository has its baseline: an earlier one would be it.
    sleep_until(first + interval + Duration::from_secs(1));
    let pushing = bench
        .pusher
        .pushing(args.push_every, move |k| (k % u64::from(n)) as u32 + 1);
    sleep_until(first + interval + args.settle);
    let mut runs = Vec::new();
    for run in 0..args.runs {
        // Kills spread over the renewal period: one `settle` after each takeover would be
        // at the same point of the new holder's renewals every time.
        std::thread::sleep((lease / 5).mul_f64(fastrand::f64()));
        let takeover = fleet.takeover(run, lease)?;
        warnings.extend(fleet.exited_by_themselves());
        sleep_until(takeover.taken + args.settle);
        runs.push(takeover);
    }
    let pushes = pushing.stop();
    let steady_end = Instant::now();
    progress!(
        "{} pushes made; waiting 2 intervals for the last ones to be recorded",
        pushes.len()
    );
    std::thread::sleep(interval * 2 + Duration::from_secs(2));
    let lingering = fleet.stop();

    let table = bench.cluster.psql(
        "takeovers",
        "SELECT repository_id, created_at, baseline FROM codearts_watch_events ORDER BY id",
    );
    let printed: Vec<_> = fleet.gone.iter().flat_map(Process::printed).collect();
    let events = Events::reconcile(&table, &pushes, &printed)?;
    let epochs = bench
        .cluster
        .psql("takeovers", "SELECT epoch FROM codearts_watch_lease")
        .parse()
        .unwrap_or(0);

    // Steady state: whole seconds from the end of the first round, away from failovers.
    let mut steady = Vec::new();
    let mut bucket = first + interval;
    while bucket + Duration::from_secs(1) <= steady_end {
        let end = bucket + Duration::from_secs(1);
        let near_failover = runs
            .iter()
            .any(|r| bucket < r.taken + AFTER_TAKEOVER && end > r.killed);
        if !near_failover {
            steady.push(requests.count(bucket, end, |_| true));
        }
        bucket = end;
    }

    let mut figures = TakeoverFigures {
        replicas: args.replicas,
        lease,
        repositories: n,
        interval,
        runs,
        steady,
        pushes: pushes.len(),
        events,
        switches: requests.switches(),
        epochs,
        lingering,
        warnings,
    };
    figures.warnings.extend(explain(&figures, &fleet.gone));
    Ok(figures)
}

/// What a reader of the report needs when something is off, from the replicas' logs.
fn explain(figures: &TakeoverFigures, replicas: &[Process]) -> Vec<String> {
    let logs = |keep: &dyn Fn(&str) -> bool| -> String {
        replicas.iter().map(|p| p.log_lines(keep)).collect()
    };
    let fleet_lines = |line: &str| line.contains("fleet") || line.contains("database");
    let mut warnings = Vec::new();
    for r in &figures.runs {
        if r.taken - r.killed > figures.lease + Duration::from_secs(1) {
            warnings.push(format!(
                "takeover from {} (killed at {:.2}s) by {} at {:.2}s took {:.2}s, more than the lease plus 1 s; their logs:\n{}",
                r.from,
                clock(r.killed),
                r.to,
                clock(r.taken),
                r.seconds(),
                logs(&|line: &str| !line.contains("repository ") && fleet_lines(line))
            ));
        }
    }
    let steady = figures.steady_median();
    for r in &figures.runs {
        if burst(r.peak, steady) {
            warnings.push(format!(
                "burst after the takeover by {} at {:.2}s: {} requests in one second (steady median {steady})",
                r.to,
                clock(r.taken),
                r.peak
            ));
        }
    }
    if figures.events.differ() {
        warnings.push(format!(
            "the events table differs from the pushes; the replicas' fleet lines:\n{}",
            logs(&fleet_lines)
        ));
    }
    warnings
}

/// The replicas, each behind a proxy of its own to the service, and those stopped.
struct Fleet<'a> {
    bench: &'a Bench<'a>,
    url: String,
    ids: PathBuf,
    interval: Duration,
    requests: Requests,
    running: BTreeMap<usize, Process>,
    gone: Vec<Process>,
}

impl Fleet<'_> {
    fn start(&mut self, index: usize) -> Result<(), String> {
        let endpoint = self.requests.proxy(self.bench.pusher.server(), index)?;
        let name = format!("replica-{index}");
        let replica = self.bench.launcher.watch(
            &name,
            &endpoint,
            &self.ids,
            self.interval,
            Some(&self.url),
        )?;
        self.running.insert(index, replica);
        Ok(())
    }

    /// Kills the active replica (whose proxy saw the last request), waits for another one to
    /// poll and starts a new one in place of the one killed, as a Deployment does; then the
    /// requests until [`AFTER_TAKEOVER`] after the takeover.
    fn takeover(&mut self, run: usize, lease: Duration) -> Result<Takeover, String> {
        let (last, active) = self.requests.last().unwrap();
        if last.elapsed() > Duration::from_secs(2) {
            return Err(format!(
                "nobody has polled for {:?} before run {run}:\n{}",
                last.elapsed(),
                log_tails(self.running.values(), 10)
            ));
        }
        let mut victim = self
            .running
            .remove(&active)
            .ok_or_else(|| format!("replica-{active} polls but is not running"))?;
        // Requests after the kill are noted after this count was taken.
        let seen = self.requests.len();
        let killed = Instant::now();
        victim.stop(libc::SIGKILL);
        let within = lease + Duration::from_secs(30);
        let found = wait_for(within, || self.requests.first_after(seen, killed, active));
        let Some((taken, successor)) = found else {
            return Err(format!(
                "run {run}: nobody took over from replica-{active} within {within:?}:\n{}{}",
                victim.log_tail(10),
                log_tails(self.running.values(), 15)
            ));
        };
        progress!(
            "run {}: killed replica-{active} (pid {}); replica-{successor} took over after {:.2}s",
            run + 1,
            victim.pid(),
            (taken - killed).as_secs_f64()
        );
        self.gone.push(victim);
        self.start(self.bench.args.replicas as usize + run)?;
        sleep_until(taken + AFTER_TAKEOVER + Duration::from_millis(200));
        let buckets = self.requests.per_second(taken, AFTER_TAKEOVER.as_secs());
        Ok(Takeover {
            killed,
            taken,
            from: format!("replica-{active}"),
            to: format!("replica-{successor}"),
            peak: buckets.into_iter().max().unwrap_or(0),
            window_total: self
                .requests
                .count(killed, taken + AFTER_TAKEOVER, |_| true),
        })
    }

    fn exited_by_themselves(&mut self) -> Vec<String> {
        let running = self.running.values_mut();
        running
            .filter_map(|p| {
                let exit = p.exited_by_itself()?;
                Some(format!("{} {exit}", p.name))
            })
            .collect()
    }

    /// Stops every replica with SIGTERM; what did not end well.
    fn stop(&mut self) -> Vec<String> {
        let mut lingering = Vec::new();
        for (_, mut replica) in std::mem::take(&mut self.running) {
            let status = replica.stop(libc::SIGTERM);
            if status.is_none_or(|s| s.code() != Some(0)) {
                lingering.push(format!(
                    "{} ended with {status:?} on SIGTERM:\n{}",
                    replica.name,
                    replica.log_tail(10)
                ));
            }
            self.gone.push(replica);
        }
        lingering
    }
}
