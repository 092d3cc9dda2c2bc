//! Watches many repositories on the embedded server, with pushes arriving while it runs and
//! its state saved to a file, and reports poll rate, lag, memory and the state file's cost
//! (whole saves, and journal appends of first entries).
//!
//! ```sh
//! cargo run --release -p codearts-bench --bin watch_bench -- [--repositories 100000] [--interval 60s] [--duration 130s] [--concurrency 32] [--pushes-per-s 50] [--state PATH]
//! ```
//!
//! Lag is how late each poll started after its scheduled time (upper bounds of histogram
//! buckets): a repository is polled within its interval when lag stays far below it.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use clap::Parser;
use codearts_repo::{
    PushEvent, RepositoryId, StateFile, Timestamp, WatchItem, WatchOptions,
    server::ServerConfig,
    watch::{Handled, LastSeen, SeenEvents, StateError, WatchStore},
};

mod loopback;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 100_000)]
    repositories: u32,
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    interval: Duration,
    #[arg(long, default_value = "130s", value_parser = humantime::parse_duration)]
    duration: Duration,
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// New pushes made on the server per second, on random repositories.
    #[arg(long, default_value_t = 50)]
    pushes_per_s: u32,
    /// The state file (default: a new one in the temporary directory, removed at the end).
    #[arg(long)]
    state: Option<PathBuf>,
}

/// Peak resident memory of this process, from /proc (Linux).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The state file, timing each save and each journal append.
struct TimedStore {
    file: StateFile,
    saves: Arc<Mutex<Vec<Duration>>>,
    appends: Arc<Mutex<Vec<Duration>>>,
}

fn timed<T>(times: &Mutex<Vec<Duration>>, run: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let result = run();
    times.lock().unwrap().push(started.elapsed());
    result
}

impl WatchStore for TimedStore {
    fn load(&mut self) -> Result<SeenEvents, StateError> {
        self.file.load()
    }
    fn save(&mut self, seen: &SeenEvents) -> Result<(), StateError> {
        timed(&self.saves, || self.file.save(seen))
    }
    fn save_handled(&mut self, seen: &SeenEvents, handled: &[Handled]) -> Result<(), StateError> {
        timed(&self.saves, || self.file.save_handled(seen, handled))
    }
    fn record_new(&mut self, first: &[(RepositoryId, LastSeen)]) -> Result<(), StateError> {
        timed(&self.appends, || self.file.record_new(first))
    }
}

/// Count, median and largest of `times`, in milliseconds.
fn summary(times: &Mutex<Vec<Duration>>) -> (usize, f64, f64) {
    let mut times = times.lock().unwrap().clone();
    times.sort_unstable();
    let median = times.get(times.len() / 2).copied().unwrap_or_default();
    let max = times.last().copied().unwrap_or_default();
    (times.len(), ms(median), ms(max))
}

fn event(n: u64) -> PushEvent {
    PushEvent::builder()
        .ref_("main".to_owned())
        .created_at(Timestamp::from(format!("2026-01-01T00:00:00.{n:09}+08:00")))
        .try_into()
        .expect("a push event with every field given")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let (server, ids) =
        loopback::repositories(args.repositories, event(0), ServerConfig::default()).await;
    let client = loopback::watch_client(&server);
    let temporary = args.state.is_none();
    let path = args.state.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("codearts-watch-bench-{}.json", std::process::id()))
    });
    let (saves, appends) = (Arc::default(), Arc::default());
    let store = TimedStore {
        file: StateFile::new(&path),
        saves: Arc::clone(&saves),
        appends: Arc::clone(&appends),
    };
    let options = WatchOptions::default()
        .interval(args.interval)
        .concurrency(args.concurrency);
    let (handle, mut stream) = client
        .watch_with_store(options, ids.iter().copied(), store)
        .unwrap();
    // Pushes arrive while it runs, on repositories picked at random.
    let mut push_timer = tokio::time::interval(Duration::from_secs(1) / args.pushes_per_s.max(1));
    let (mut rng, mut made) = (fastrand::Rng::with_seed(7), 0u64);
    let started = Instant::now();
    let (mut baselines, mut pushes, mut errors) = (0u64, 0u64, 0u64);
    let deadline = tokio::time::sleep(args.duration);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            () = &mut deadline => break,
            _ = push_timer.tick() => {
                made += 1;
                server.set_push_event(ids[rng.usize(..ids.len())], event(made));
            }
            item = stream.next() => match item {
                Some(WatchItem::Push { baseline: true, .. }) => baselines += 1,
                Some(WatchItem::Push { .. }) => pushes += 1,
                Some(WatchItem::Error { .. } | WatchItem::StateNotSaved { .. }) => errors += 1,
                Some(_) => {}
                None => break,
            },
        }
    }
    let elapsed = started.elapsed();
    let closing = Instant::now();
    stream.close().await.unwrap();
    let close_ms = ms(closing.elapsed());
    let stats = handle.stats();
    let state_bytes = std::fs::metadata(&path).map(|m| m.len()).ok();
    if temporary {
        let _ = std::fs::remove_file(&path);
    }
    let (save_count, save_median, save_max) = summary(&saves);
    let (append_count, append_median, append_max) = summary(&appends);
    let report = serde_json::json!({
        "repositories": args.repositories,
        "interval_s": args.interval.as_secs_f64(),
        "duration_s": elapsed.as_secs_f64(),
        "concurrency": args.concurrency,
        "polls": stats.polls,
        "polls_per_s": stats.polls as f64 / elapsed.as_secs_f64(),
        "expected_polls_per_s": f64::from(args.repositories) / args.interval.as_secs_f64(),
        "baselines": baselines,
        "pushes_made": made,
        "new_pushes": pushes,
        "errors": errors,
        "lag_p50_ms_at_most": ms(stats.lag.quantile(0.50)),
        "lag_p99_ms_at_most": ms(stats.lag.quantile(0.99)),
        "lag_max_ms": ms(stats.lag.max()),
        "peak_rss_mib": peak_rss_kib().map(|k| k as f64 / 1024.0),
        "state_saves": save_count,
        "state_save_median_ms": save_median,
        "state_save_max_ms": save_max,
        "journal_appends": append_count,
        "journal_append_median_ms": append_median,
        "journal_append_max_ms": append_max,
        "state_file_bytes": state_bytes,
        "close_ms": close_ms,
    });
    println!("{report}");
}
