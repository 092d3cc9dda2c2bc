//! Watches many repositories on the embedded server and reports poll rate, lag and memory.
//!
//! ```sh
//! cargo run --release -p codearts-bench --bin watch_bench -- [--repositories 10000] [--interval 60s] [--duration 130s] [--concurrency 32]
//! ```
//!
//! Lag is how late each poll started after its scheduled time: a repository is polled
//! within its interval when lag stays far below the interval.

use std::time::{Duration, Instant};

use clap::Parser;
use codearts_repo::{
    Client, Credentials, PushEvent, RepositoryId, RetryPolicy, Timestamp, WatchItem, WatchOptions,
    server::{Fixtures, Server, ServerConfig},
};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 10_000)]
    repositories: u32,
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    interval: Duration,
    #[arg(long, default_value = "130s", value_parser = humantime::parse_duration)]
    duration: Duration,
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
}

/// Peak resident memory of this process, from /proc (Linux).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let mut fixtures = Fixtures::empty();
    let ids: Vec<RepositoryId> = (1..=args.repositories)
        .map(|n| RepositoryId::new(n).unwrap())
        .collect();
    for &id in &ids {
        let event = PushEvent {
            ref_: Some("main".into()),
            created_at: Some(Timestamp::from("2026-01-01T00:00:00+08:00")),
            repository: None,
        };
        fixtures.set_push_event(id, event);
    }
    let server = Server::start(ServerConfig {
        fixtures,
        remember: 0,
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let client = Client::builder()
        .endpoint(server.url())
        .credentials(Credentials::token("watch-bench").unwrap())
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let options = WatchOptions::default()
        .interval(args.interval)
        .concurrency(args.concurrency);
    let (handle, mut stream) = client.watch(options, ids.iter().copied());
    let started = Instant::now();
    let (mut baselines, mut pushes, mut errors) = (0u64, 0u64, 0u64);
    let deadline = tokio::time::sleep(args.duration);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            () = &mut deadline => break,
            item = stream.next() => match item {
                Some(WatchItem::Push { baseline: true, .. }) => baselines += 1,
                Some(WatchItem::Push { .. }) => pushes += 1,
                Some(WatchItem::Error { .. }) => errors += 1,
                Some(_) => {}
                None => break,
            },
        }
    }
    let elapsed = started.elapsed();
    let stats = handle.stats();
    let mut lag = stats.lag.clone();
    lag.sort_unstable();
    let report = serde_json::json!({
        "repositories": args.repositories,
        "interval_s": args.interval.as_secs_f64(),
        "duration_s": elapsed.as_secs_f64(),
        "concurrency": args.concurrency,
        "polls": stats.polls,
        "polls_per_s": stats.polls as f64 / elapsed.as_secs_f64(),
        "expected_polls_per_s": f64::from(args.repositories) / args.interval.as_secs_f64(),
        "baselines": baselines,
        "new_pushes": pushes,
        "errors": errors,
        "lag_p50_ms": percentile(&lag, 0.50).as_secs_f64() * 1e3,
        "lag_p99_ms": percentile(&lag, 0.99).as_secs_f64() * 1e3,
        "lag_max_ms": lag.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        "peak_rss_mib": peak_rss_kib().map(|k| k as f64 / 1024.0),
    });
    println!("{report}");
}
