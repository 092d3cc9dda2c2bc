//! A fleet of `codearts watch --database` replicas, measured as an operator sizes it: how long
//! a takeover takes after `kill -9` of the active watcher, whether a push is lost or recorded
//! twice meanwhile, what the service sees during a failover, and what the database costs at
//! 5,000 repositories (statements, round trips and CPU).
//!
//! ```sh
//! cargo build --release -p codearts-cli
//! cargo run --release -p codearts-bench --bin fleet_bench -- [--runs 5] [--repositories 5000] [--interval 30s] [--pushes-per-s 5] [--window 20s] [--rounds 3]
//! ```
//!
//! Everything stays on loopback: the embedded server, a throwaway PostgreSQL cluster (the
//! machine's own binaries, 15 or later, run as `postgres` when root, as the tests do), and
//! for each replica a TCP proxy in front of the server that notes when it sends each request,
//! and, under load, one in front of PostgreSQL that counts the frontend protocol's messages.
//!
//! 1. Takeovers (`--runs`, the replicas' default lease unless `--lease`): `--replicas`
//!    replicas watch `--takeover-repositories` every `--takeover-interval`; the active one
//!    (whose proxy saw the last request) is killed with SIGKILL, and the takeover time is
//!    until another one's proxy sees a request; a replica is started again after each run.
//!    Each kill comes `--settle` plus a random part of a renewal period (a fifth of the
//!    lease) after the last takeover, so that kills do not fall at one point of the renewals.
//!    Meanwhile one push every `--push-every`, repository after repository, so that each push
//!    stays its repository's latest for `--takeover-repositories` × `--push-every` (20 s by
//!    default, longer than any takeover plus an interval): the events table then must hold
//!    each push exactly once.
//! 2. Requests per second to the service, from the proxies' notes in 1-s buckets: the
//!    steady state's median, and for each failover (from the kill to 5 s after the takeover)
//!    the largest bucket after the takeover and the window's total.
//! 3. Load (`--repositories` every `--interval`, `--pushes-per-s` on random repositories):
//!    after `--warmup` (the interval plus 5 s: the first round of baselines is done),
//!    `--rounds` windows of `--window`, each giving the active replica's statements (Execute
//!    and simple Query messages) and round trips (Sync and simple Query) per poll and per
//!    second, the standbys' per second, the active watcher's CPU and PostgreSQL's own. Then a
//!    single `codearts watch --state FILE` on the same load, for its CPU: the difference is
//!    the database's share of the watch's CPU. Figures are the medians of the rounds.
//!
//! Progress goes to stderr; the figures, and a table to paste into a README, to stdout.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    sync::OnceLock,
    time::{Duration, Instant},
};

use clap::Parser;
use codearts_repo::server::ServerConfig;

static START: OnceLock<Instant> = OnceLock::new();

/// Seconds since this program started, for progress lines and the replicas' logs.
fn clock(at: Instant) -> f64 {
    at.saturating_duration_since(*START.get_or_init(Instant::now))
        .as_secs_f64()
}

// Before the modules, so that they can use it.
macro_rules! progress {
    ($($arg:tt)*) => {
        eprintln!("[{:7.2}s] {}", crate::clock(std::time::Instant::now()), format_args!($($arg)*))
    };
}

#[path = "../codearts_bin.rs"]
mod codearts_bin;
mod events;
mod load;
#[allow(dead_code)]
#[path = "../loopback.rs"]
mod loopback;
mod pg_wire;
#[path = "../../../tests/common/postgres.rs"]
mod postgres;
mod proc_cpu;
mod proxy;
mod pushes;
mod replicas;
mod report;
#[path = "../stats.rs"]
mod stats;
mod takeover;

use pushes::Pusher;
use replicas::Launcher;
use stats::odd;

/// The window after each takeover in which a burst of requests would show.
const AFTER_TAKEOVER: Duration = Duration::from_secs(5);
/// The replicas' lease when `--lease` is not given (theirs by default).
const DEFAULT_LEASE: Duration = Duration::from_secs(10);
/// How long a replica may take to send its first request once started.
const FIRST_REQUEST_WITHIN: Duration = Duration::from_secs(30);

#[derive(Parser)]
struct Args {
    /// Takeovers measured (odd, for a true median).
    #[arg(long, default_value_t = 5, value_parser = odd)]
    runs: usize,
    /// The replicas' --lease (default: not given, so theirs: 10s).
    #[arg(long, value_parser = humantime::parse_duration)]
    lease: Option<Duration>,
    /// Replicas in the fleet: one active, the others standing by.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(2..=10))]
    replicas: u32,
    /// Repositories watched during the takeovers.
    #[arg(long, default_value_t = 200)]
    takeover_repositories: u32,
    /// The watch's --interval during the takeovers.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    takeover_interval: Duration,
    /// One push every this long during the takeovers, one repository after another.
    #[arg(long, default_value = "100ms", value_parser = humantime::parse_duration)]
    push_every: Duration,
    /// Steady state after a takeover before the next kill (at least the 5 s looked at for a
    /// burst).
    #[arg(long, default_value = "8s", value_parser = humantime::parse_duration)]
    settle: Duration,
    /// Repositories watched under load.
    #[arg(long, default_value_t = 5000)]
    repositories: u32,
    /// The watch's --interval under load.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    interval: Duration,
    /// New pushes per second under load, on random repositories (0: none).
    #[arg(long, default_value_t = 5.0)]
    pushes_per_s: f64,
    /// From the first request under load to the first window (default: the interval plus
    /// 5 s, past the first round of baselines).
    #[arg(long, value_parser = humantime::parse_duration)]
    warmup: Option<Duration>,
    /// One measuring window under load.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    window: Duration,
    /// Windows under load, for each of --database and --state (odd, for a true median).
    #[arg(long, default_value_t = 3, value_parser = odd)]
    rounds: usize,
    /// The `codearts` binary (default: the one beside this program).
    #[arg(long, value_name = "PATH")]
    codearts: Option<PathBuf>,
    /// Skip the takeovers (parts 1 and 2).
    #[arg(long)]
    skip_takeovers: bool,
    /// Skip the load (part 3).
    #[arg(long)]
    skip_load: bool,
}

fn main() -> ExitCode {
    START.get_or_init(Instant::now);
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("fleet_bench: {message}");
            ExitCode::FAILURE
        }
    }
}

/// What both parts work with.
struct Bench<'a> {
    args: &'a Args,
    cluster: postgres::Cluster,
    pusher: Pusher,
    launcher: Launcher,
}

fn run(args: &Args) -> Result<(), String> {
    let codearts = codearts_bin::codearts(args.codearts.as_deref())?;
    if args.settle < AFTER_TAKEOVER {
        return Err(format!(
            "--settle must be at least {}s",
            AFTER_TAKEOVER.as_secs()
        ));
    }
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let most = args.takeover_repositories.max(args.repositories);
    progress!("embedded server with {most} repositories; PostgreSQL cluster");
    let (server, _) = runtime.block_on(loopback::repositories(
        most,
        pushes::push_event(&pushes::created_at(0)),
        ServerConfig::default(),
    ));
    let cluster = postgres::Cluster::start();
    let dir = tempfile::Builder::new()
        .prefix("fleet-bench-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let bench = Bench {
        args,
        cluster,
        pusher: Pusher::new(server),
        launcher: Launcher {
            codearts,
            dir: dir.path().to_owned(),
            lease: args.lease,
        },
    };
    let takeovers = match args.skip_takeovers {
        true => None,
        false => Some(takeover::measure(&bench)?),
    };
    let load = match args.skip_load {
        true => None,
        false => Some(load::measure(&bench)?),
    };

    let mut table = Vec::new();
    println!();
    println!("fleet_bench, {} s in all", clock(Instant::now()).round());
    if let Some(t) = &takeovers {
        report::takeovers(t, &mut table);
    }
    if let Some(l) = &load {
        report::load(l, &mut table);
    }
    println!();
    println!("| Figure | Value |");
    println!("|---|---|");
    for (figure, value) in &table {
        println!("| {figure} | {value} |");
    }
    Ok(())
}

/// Waits until `found` gives something, for at most `within`.
fn wait_for<T>(within: Duration, mut found: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = found() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn sleep_until(at: Instant) {
    std::thread::sleep(at.saturating_duration_since(Instant::now()));
}

fn write_ids(path: &Path, n: u32) -> Result<(), String> {
    let ids: String = (1..=n).map(|id| format!("{id}\n")).collect();
    std::fs::write(path, ids).map_err(|e| format!("{}: {e}", path.display()))
}
