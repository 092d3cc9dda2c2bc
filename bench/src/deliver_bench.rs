//! The first start of `codearts watch --deliver --deliver-baselines` over many repositories:
//! how long until every baseline reached the receiver, and what it cost the watch (CPU, peak
//! memory, bytes written to its state directory), against the same first start without
//! delivery (each baseline printed to stdout) in the same round.
//!
//! ```sh
//! cargo build --release -p codearts-cli
//! cargo run --release -p codearts-bench --bin deliver_bench -- [--repositories 5000] [--interval 10s] [--rounds 3] [--parallel 8] [--dir PATH]
//! ```
//!
//! The first round spreads its polls over the interval, so "done" is at least the interval:
//! what matters is how far past it the last baseline is delivered (the deliveries keeping up
//! with the polls), and what each delivered push costs. The receiver, on loopback, answers
//! 204 at once and counts deliveries by id, each run at a path of its own. Usage is read a
//! second and a tenth after "done", when both runs have saved all they handled; saves are
//! counted by the watch's /metrics. Each run's state goes to a new directory under `--dir`
//! (the system's temporary directory by default), which must be on a disk: tmpfs counts no
//! writes.

use std::{
    collections::{HashMap, HashSet},
    io::{BufRead, BufReader, Read, Write},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, ExitCode, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use clap::Parser;
use codearts_repo::{PushEvent, Timestamp, server::ServerConfig};

mod codearts_bin;
// Its token client is for the benches that watch in-process.
#[allow(dead_code)]
mod loopback;
mod process;
mod stats;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 5000)]
    repositories: u32,
    /// The watch's interval: its first round spreads the polls over it.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    interval: Duration,
    /// Rounds of both runs, taken in turns (odd: the median is one of them).
    #[arg(long, default_value_t = 3, value_parser = stats::odd)]
    rounds: usize,
    /// `--deliver-parallel`.
    #[arg(long, default_value_t = 8)]
    parallel: u32,
    /// The `codearts` to run (default: the one beside this program).
    #[arg(long)]
    codearts: Option<PathBuf>,
    /// Where each run's state directory is made (on a disk).
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// What the receiver took for each run (by its path): distinct delivery ids, and requests.
#[derive(Default)]
struct Received(Mutex<HashMap<String, (HashSet<String>, usize)>>);

impl Received {
    /// Distinct ids and requests of `run`.
    fn of(&self, run: &str) -> (usize, usize) {
        let runs = self.0.lock().unwrap();
        runs.get(run)
            .map_or((0, 0), |(ids, requests)| (ids.len(), *requests))
    }
}

/// A receiver on loopback that answers 204 at once.
async fn receiver() -> (SocketAddr, Arc<Received>) {
    use axum::{
        extract::{self, State},
        http::{HeaderMap, StatusCode},
        routing::post,
    };
    let received = Arc::new(Received::default());
    let app = axum::Router::new()
        .route(
            "/hook/{run}",
            post(
                |State(received): State<Arc<Received>>,
                 extract::Path(run): extract::Path<String>,
                 headers: HeaderMap| async move {
                    let mut runs = received.0.lock().unwrap();
                    let (ids, requests) = runs.entry(run).or_default();
                    *requests += 1;
                    if let Some(id) = headers.get("x-codearts-delivery") {
                        ids.insert(String::from_utf8_lossy(id.as_bytes()).into_owned());
                    }
                    StatusCode::NO_CONTENT
                },
            ),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (address, received)
}

/// Where a run delivers: the receiver, and the run's path there.
struct Hook<'a> {
    address: SocketAddr,
    received: &'a Received,
    run: String,
}

/// One first start, measured once its last baseline was printed or delivered.
struct Run {
    seconds: f64,
    usage: process::Usage,
    /// Saves of the state file, from /metrics.
    saves: u64,
    /// Requests the receiver took (attempts, retries included).
    requests: usize,
}

/// A watch of every repository from a new state; `hook`: delivering there.
fn first_start(
    args: &Args,
    codearts: &Path,
    server: &str,
    hook: Option<&Hook>,
) -> Result<Run, String> {
    let dir = match &args.dir {
        Some(parent) => tempfile::tempdir_in(parent),
        None => tempfile::tempdir(),
    }
    .map_err(|e| e.to_string())?;
    let ids: String = (1..=args.repositories)
        .map(|id| format!("{id}\n"))
        .collect();
    std::fs::write(dir.path().join("ids"), ids).map_err(|e| e.to_string())?;
    std::fs::write(dir.path().join("secret"), "bench-secret").map_err(|e| e.to_string())?;
    let listen = free_port()?;
    let mut command = Command::new(codearts);
    command
        .current_dir(dir.path())
        .env("HUAWEICLOUD_SDK_TOKEN", "deliver-bench-token")
        .args(["--endpoint", server, "watch", "--ids-file", "ids"])
        .args(["--state", "watch.json", "--listen", &listen.to_string()])
        .arg("--interval")
        .arg(humantime::format_duration(args.interval).to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(hook) = hook {
        command
            .arg("--deliver")
            .arg(format!("http://{}/hook/{}", hook.address, hook.run))
            .args(["--deliver-baselines", "--deliver-secret-file", "secret"])
            .arg("--deliver-parallel")
            .arg(args.parallel.to_string());
    }
    let started = Instant::now();
    let mut child = Killed(command.spawn().map_err(|e| e.to_string())?);
    let printed = Arc::new(AtomicUsize::new(0));
    let stdout = BufReader::new(child.0.stdout.take().unwrap());
    std::thread::spawn({
        let printed = printed.clone();
        move || {
            for _ in stdout.lines().map_while(Result::ok) {
                printed.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let wanted = args.repositories as usize;
    let done = || match hook {
        Some(hook) => hook.received.of(&hook.run).0 >= wanted,
        None => printed.load(Ordering::Relaxed) >= wanted,
    };
    let limit = args.interval * 3 + Duration::from_secs(60);
    while !done() {
        if started.elapsed() > limit {
            return Err(format!("not done within {limit:?}"));
        }
        if let Ok(Some(status)) = child.0.try_wait() {
            return Err(format!("codearts exited: {status}"));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let seconds = started.elapsed().as_secs_f64();
    // Past the longer flush period (a second, without --deliver): all handled is saved.
    std::thread::sleep(Duration::from_millis(1100));
    let usage = process::Usage::of(child.0.id()).ok_or("cannot read /proc")?;
    if usage.written_bytes == 0 {
        return Err(format!(
            "{} counts no writes (tmpfs?): pass --dir on a disk",
            dir.path().display()
        ));
    }
    Ok(Run {
        seconds,
        usage,
        saves: state_writes(listen)?,
        requests: hook.map_or(0, |hook| hook.received.of(&hook.run).1),
    })
}

/// A port free now, for the watch's `--listen`.
fn free_port() -> Result<SocketAddr, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener.local_addr().map_err(|e| e.to_string())
}

/// `codearts_watch_state_writes_total` from the watch's /metrics.
fn state_writes(listen: SocketAddr) -> Result<u64, String> {
    let mut stream = std::net::TcpStream::connect(listen).map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: bench\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|e| e.to_string())?;
    answer
        .lines()
        .find_map(|line| line.strip_prefix("codearts_watch_state_writes_total "))
        .and_then(|value| value.trim().parse().ok())
        .ok_or_else(|| "no codearts_watch_state_writes_total in /metrics".to_owned())
}

/// A child killed when dropped, however the bench ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn event() -> PushEvent {
    PushEvent::builder()
        .ref_("main".to_owned())
        .created_at(Timestamp::from("2026-01-01T00:00:00+08:00".to_owned()))
        .try_into()
        .expect("a push event with every field given")
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let codearts = match codearts_bin::codearts(args.codearts.as_deref()) {
        Ok(path) => path,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    let (server, _) =
        loopback::repositories(args.repositories, event(), ServerConfig::default()).await;
    let (address, received) = receiver().await;
    let (mut printing, mut delivering) = (Vec::new(), Vec::new());
    for round in 1..=args.rounds {
        let hook = Hook {
            address,
            received: &received,
            run: round.to_string(),
        };
        // On a thread of its own: the runtime keeps serving the watch and the receiver.
        let measured = tokio::task::block_in_place(|| {
            let printed = first_start(&args, &codearts, &server.url(), None)?;
            let delivered = first_start(&args, &codearts, &server.url(), Some(&hook))?;
            Ok::<_, String>((printed, delivered))
        });
        let (printed, delivered) = match measured {
            Ok(runs) => runs,
            Err(error) => {
                eprintln!("round {round}: {error}");
                return ExitCode::FAILURE;
            }
        };
        eprintln!(
            "round {round}: printed in {:.2} s ({} saves), delivered in {:.2} s ({} saves, {} requests)",
            printed.seconds, printed.saves, delivered.seconds, delivered.saves, delivered.requests
        );
        printing.push(printed);
        delivering.push(delivered);
    }
    let n = f64::from(args.repositories);
    let median =
        |runs: &[Run], figure: fn(&Run) -> f64| stats::median(runs.iter().map(figure).collect());
    fn kib(bytes: u64) -> f64 {
        bytes as f64 / 1024.0
    }
    let report = |runs: &[Run]| {
        serde_json::json!({
            "done_s": median(runs, |r| r.seconds),
            "past_interval_s": median(runs, |r| r.seconds) - args.interval.as_secs_f64(),
            "cpu_ms_per_repository": median(runs, |r| r.usage.cpu_seconds * 1e3) / n,
            "peak_rss_mib": median(runs, |r| kib(r.usage.peak_rss_kib)),
            "state_saves": median(runs, |r| r.saves as f64),
            "written_kib_per_repository": median(runs, |r| kib(r.usage.written_bytes)) / n,
            "written_kib_per_save": median(runs, |r| kib(r.usage.written_bytes) / r.saves.max(1) as f64),
        })
    };
    // Ratios within each round, then their median: the machine's drift cancels out.
    let ratio = |figure: fn(&Run) -> f64| {
        stats::median(
            printing
                .iter()
                .zip(&delivering)
                .map(|(p, d)| figure(d) / figure(p).max(f64::MIN_POSITIVE))
                .collect(),
        )
    };
    println!(
        "{}",
        serde_json::json!({
            "repositories": args.repositories,
            "interval_s": args.interval.as_secs_f64(),
            "rounds": args.rounds,
            "deliver_parallel": args.parallel,
            "printing": report(&printing),
            "delivering": report(&delivering),
            "delivered_requests_per_repository":
                median(&delivering, |r| r.requests as f64) / n,
            "delivering_over_printing": {
                "cpu": ratio(|r| r.usage.cpu_seconds),
                "peak_rss": ratio(|r| r.usage.peak_rss_kib as f64),
                "written_bytes": ratio(|r| r.usage.written_bytes as f64),
            },
        })
    );
    ExitCode::SUCCESS
}
