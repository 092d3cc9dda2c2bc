//! A client as a citizen of a shared account, on the embedded server on loopback:
//!
//! - `retries`: calls through one client with default settings against a service in full
//!   outage (503 to everything) and one failing a share of requests: attempts per call and
//!   calls that succeeded, with the retry budget and without it.
//! - `watch`: a watch of many repositories against an account quota (`429 APIGW.0308`, no
//!   `Retry-After`) that is below what the interval wants: offered load against the quota,
//!   throttled share, repositories answered, and the round time against the ideal
//!   (repositories ÷ quota), and the busiest second. With `--window 60s` the quota is counted
//!   per fixed window (`--quota 50 --window 60s`: 3,000 a minute, as the gateway's
//!   `limit:3000,time:1 minute`) instead of a token bucket.
//!
//! ```sh
//! cargo run --release -p codearts-bench --bin quota_bench -- retries [--calls 2000] [--in-flight 64] [--failing 0.05]
//! cargo run --release -p codearts-bench --bin quota_bench -- watch [--repositories 100000] [--quota 500] [--interval 60s] [--duration 420s] [--window 60s]
//! ```

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use clap::{Parser, Subcommand};
use codearts_repo::{
    Client, Credentials, PushEvent, RetryPolicy, WatchItem, WatchOptions,
    server::{InjectedFailure, Outage, Quota, Server, ServerConfig, WindowQuota},
};
use serde_json::json;
use tokio::{sync::Semaphore, task::JoinSet};

mod loopback;

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    run: Run,
}

#[derive(Subcommand)]
enum Run {
    /// Retry amplification under an outage and under a few failures.
    Retries {
        #[arg(long, default_value_t = 2000)]
        calls: usize,
        #[arg(long, default_value_t = 64)]
        in_flight: usize,
        /// The share of requests failing in the second case.
        #[arg(long, default_value_t = 0.05)]
        failing: f64,
    },
    /// A watch against an account quota.
    Watch {
        #[arg(long, default_value_t = 100_000)]
        repositories: u32,
        /// The account's quota, requests per second.
        #[arg(long, default_value_t = 500.0)]
        quota: f64,
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        interval: Duration,
        #[arg(long, default_value = "420s", value_parser = humantime::parse_duration)]
        duration: Duration,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Count the quota per fixed window of this length (quota × window requests per
        /// window) rather than as a token bucket.
        #[arg(long, value_parser = humantime::parse_duration)]
        window: Option<Duration>,
    },
}

#[tokio::main]
async fn main() {
    match Args::parse().run {
        Run::Retries {
            calls,
            in_flight,
            failing,
        } => {
            println!("case                 budget   attempts/call   calls ok");
            for (case, share) in [("full outage", 1.0), ("failing", failing)] {
                for budget in [true, false] {
                    let (attempts, ok) = retries(calls, in_flight, share, budget).await;
                    println!(
                        "{:<20} {:<8} {:>13.3} {:>9.1}%",
                        format!("{case} {:.0}%", share * 100.0),
                        if budget { "on" } else { "off" },
                        attempts,
                        ok * 100.0
                    );
                    println!(
                        "{}",
                        json!({"case": case, "share": share, "budget": budget,
                               "attempts_per_call": attempts, "calls_ok": ok})
                    );
                }
            }
        }
        Run::Watch {
            repositories,
            quota,
            interval,
            duration,
            concurrency,
            window,
        } => {
            let shape = Shape {
                repositories,
                quota,
                interval,
                duration,
                concurrency,
                window,
            };
            watch(shape).await
        }
    }
}

/// Attempts per call and the share of calls that succeeded.
async fn retries(calls: usize, in_flight: usize, share: f64, budget: bool) -> (f64, f64) {
    let server = Server::start(ServerConfig::default()).await.unwrap();
    server.set_outage(Some(Outage {
        failure: InjectedFailure {
            status: 503,
            retry_after: None,
        },
        share,
    }));
    let policy = if budget {
        RetryPolicy::default()
    } else {
        RetryPolicy::default().retry_budget(None)
    };
    let client = Client::builder()
        .endpoint(server.url())
        .credentials(Credentials::token("bench").unwrap())
        .retry(policy)
        .build()
        .unwrap();
    let permits = Arc::new(Semaphore::new(in_flight));
    let mut tasks = JoinSet::new();
    for _ in 0..calls {
        let permit = permits.clone().acquire_owned().await.unwrap();
        let client = client.clone();
        tasks.spawn(async move {
            let ok = client.last_push_event(2112036131).await.is_ok();
            drop(permit);
            ok
        });
    }
    let mut ok = 0;
    while let Some(done) = tasks.join_next().await {
        ok += usize::from(done.unwrap());
    }
    let sent = server.counts().requests as f64;
    (sent / calls as f64, ok as f64 / calls as f64)
}

/// What the watch benchmark runs.
struct Shape {
    repositories: u32,
    quota: f64,
    interval: Duration,
    duration: Duration,
    concurrency: usize,
    window: Option<Duration>,
}

async fn watch(shape: Shape) {
    let Shape {
        repositories,
        quota,
        interval,
        duration,
        concurrency,
        window,
    } = shape;
    let event: PushEvent =
        serde_json::from_str(r#"{"ref":"main","created_at":"2026-01-01T00:00:00+08:00"}"#).unwrap();
    let config = ServerConfig {
        quota: window.is_none().then(|| Quota::per_second(quota)),
        ..ServerConfig::default()
    };
    let (server, ids) = loopback::repositories(repositories, event, config).await;
    if let Some(window) = window {
        let limit = (quota * window.as_secs_f64()).round() as u64;
        server.set_quota_window(Some(WindowQuota::new(limit, window)));
    }
    // The watch's own adaptive limit paces it.
    let client = loopback::watch_client(&server);
    let options = WatchOptions::default()
        .interval(interval)
        .concurrency(concurrency);
    let (handle, mut stream) = client.watch(options, ids);
    let started = Instant::now();
    let mut answered = std::collections::HashSet::new();
    let mut errors = 0u64;
    let end = tokio::time::sleep(duration);
    tokio::pin!(end);
    let mut report = tokio::time::interval(Duration::from_secs(30));
    // Requests in each second, and whether any had been throttled by then.
    let mut second = tokio::time::interval(Duration::from_secs(1));
    let (mut seconds, mut last): (Vec<(u64, bool)>, u64) = (Vec::new(), 0);
    loop {
        tokio::select! {
            item = stream.next() => match item {
                Some(WatchItem::Push { repository_id, .. }) => {
                    answered.insert(repository_id);
                }
                Some(WatchItem::Error { .. }) => errors += 1,
                Some(_) => {}
                None => break,
            },
            _ = report.tick() => {
                let stats = handle.stats();
                eprintln!(
                    "{:>4.0}s: {} requests, {} throttled, {} repositories answered, allowed {:?}/s, round {:?}",
                    started.elapsed().as_secs_f64(),
                    server.counts().requests,
                    server.counts().throttled,
                    answered.len(),
                    stats.allowed_rate.map(|r| r.round()),
                    stats.round.mean().map(|r| r.as_secs()),
                );
            }
            _ = second.tick() => {
                let counts = server.counts();
                seconds.push((counts.requests - last, counts.throttled > 0));
                last = counts.requests;
            }
            () = &mut end => break,
        }
    }
    let busiest = seconds.iter().map(|(n, _)| *n).max().unwrap_or(0);
    // Before the first 429 the client cannot know the quota.
    let told = seconds.iter().position(|(_, throttled)| *throttled);
    let busiest_told = told.and_then(|t| seconds[t + 1..].iter().map(|(n, _)| *n).max());
    let elapsed = started.elapsed().as_secs_f64();
    let counts = server.counts();
    let stats = handle.stats();
    handle.stop();
    drop(stream);
    let offered = counts.requests as f64 / elapsed;
    let throttled = counts.throttled as f64 / counts.requests.max(1) as f64;
    let ideal = f64::from(repositories) / quota;
    let round = stats.round.mean().map(|r| r.as_secs_f64());
    let against = match window {
        Some(window) => format!(
            "{:.0} per {} (a window; {quota}/s on average)",
            quota * window.as_secs_f64(),
            humantime::format_duration(window)
        ),
        None => format!("{quota}/s"),
    };
    println!(
        "{repositories} repositories every {} against {against} for {elapsed:.0}s",
        humantime::format_duration(interval)
    );
    println!(
        "offered {offered:.1}/s = {:.2}x the quota; throttled {:.1}% of requests; \
         {} of {repositories} answered; {errors} error items",
        offered / quota,
        throttled * 100.0,
        answered.len()
    );
    println!(
        "round time {} against the ideal {ideal:.0}s (repositories / quota) = {}",
        round.map_or("n/a".into(), |r| format!("{r:.0}s")),
        round.map_or("n/a".into(), |r| format!("{:.2}x", r / ideal))
    );
    println!(
        "busiest second {busiest} = {:.2}x the quota; after the first 429 {} = {}",
        busiest as f64 / quota,
        busiest_told.map_or("n/a".into(), |n| n.to_string()),
        busiest_told.map_or("n/a".into(), |n| format!("{:.2}x", n as f64 / quota)),
    );
    println!(
        "{}",
        json!({"repositories": repositories, "quota": quota, "seconds": elapsed,
               "window_s": window.map(|w| w.as_secs_f64()),
               "busiest_second": busiest, "busiest_second_after_429": busiest_told,
               "offered_vs_quota": offered / quota, "throttled_share": throttled,
               "answered": answered.len(), "round_s": round, "ideal_round_s": ideal,
               "allowed_rate": stats.allowed_rate})
    );
}
