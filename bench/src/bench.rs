//! Throughput and latency of the client against a raw reqwest loop doing the same exchange.
//!
//! ```sh
//! cargo run --release -p codearts-bench --bin bench -- [--endpoint URL] [--requests N] [--concurrency C]
//! ```
//!
//! Without `--endpoint` it starts the embedded server. Prints one JSON document on stdout and a
//! table with the ratios to raw reqwest on stderr. Each variant runs five rounds in turns;
//! the median round is reported.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use clap::Parser;
use codearts_repo::{
    Client, CommitList, Credentials, PushEvent,
    server::{DEMO_AK, DEMO_SK, Server, ServerConfig},
};
use serde::Serialize;

const REPOSITORY: u32 = 2112036131;
const NAMESPACE: &str = "3e1f6634946144c2b1ccb46fb8152b8f";
const PROJECT: &str = "test";
// Odd, for a true median; five, because single rounds on a shared machine vary by a few percent.
const ROUNDS: usize = 5;

#[derive(Parser)]
struct Args {
    /// Base URL serving both operations (default: the embedded server).
    #[arg(long)]
    endpoint: Option<String>,
    /// Requests per measurement.
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Requests in flight (default: 1 and 64).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Only these variants (for profiling one path).
    #[arg(long, value_enum)]
    variant: Vec<Variant>,
    /// Runtime worker threads (1: a current-thread runtime).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Only this operation.
    #[arg(long, value_enum)]
    operation: Option<Operation>,
}

#[derive(Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
enum Operation {
    PushEvent,
    Commits,
}

#[derive(Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
enum Variant {
    ClientToken,
    ClientAksk,
    RawReqwest,
}

#[derive(Clone, Serialize)]
struct Measurement {
    operation: Operation,
    variant: Variant,
    concurrency: usize,
    requests: usize,
    rps: f64,
    p50_us: u64,
    p99_us: u64,
}

/// One way of doing one exchange.
#[derive(Clone)]
enum Caller {
    Client(Client),
    Raw {
        http: reqwest::Client,
        base: Arc<str>,
    },
}

impl Caller {
    async fn call(&self, operation: Operation) {
        match (self, operation) {
            (Self::Client(client), Operation::PushEvent) => {
                client
                    .last_push_event(REPOSITORY)
                    .await
                    .expect("push event");
            }
            (Self::Client(client), Operation::Commits) => {
                client
                    .commits(NAMESPACE, PROJECT)
                    .repo_auth("bench")
                    .send()
                    .await
                    .expect("commits");
            }
            (Self::Raw { http, base }, Operation::PushEvent) => {
                let url = format!("{base}/v4/repositories/{REPOSITORY}/last-push-event");
                let body = raw_get(http, url, &[]).await;
                serde_json::from_slice::<PushEvent>(&body).expect("push event");
            }
            (Self::Raw { http, base }, Operation::Commits) => {
                let url = format!("{base}/v1/{NAMESPACE}/git/repos/{NAMESPACE}/{PROJECT}/commits");
                let headers = [
                    ("content-type", "application/json;charset=utf8"),
                    ("x-repo-auth", "bench"),
                ];
                let body = raw_get(http, url, &headers).await;
                serde_json::from_slice::<CommitList>(&body).expect("commits");
            }
        }
    }
}

/// The same exchange as the client's, written directly with reqwest.
async fn raw_get(http: &reqwest::Client, url: String, headers: &[(&str, &str)]) -> bytes::Bytes {
    let mut request = http
        .get(url)
        .header("accept", "application/json")
        .header("x-auth-token", "bench-token");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap().bytes().await.unwrap()
}

async fn measure(
    caller: &Caller,
    operation: Operation,
    concurrency: usize,
    requests: usize,
) -> (f64, Vec<Duration>) {
    let per_task = requests.div_ceil(concurrency);
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let caller = caller.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_task);
                for _ in 0..per_task {
                    let t = Instant::now();
                    caller.call(operation).await;
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(per_task * concurrency);
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let rps = latencies.len() as f64 / started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    (rps, latencies)
}

fn percentile(sorted: &[Duration], p: f64) -> u64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_micros() as u64
}

fn client(endpoint: &str, credentials: Credentials) -> Client {
    Client::builder()
        .endpoint(endpoint)
        .allow_http(true)
        .credentials(credentials)
        .project_id(NAMESPACE)
        .build()
        .unwrap()
}

fn main() {
    let args = Args::parse();
    // Raw reqwest on the client's TLS provider, so that the two compare like for like.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match args.threads {
        0 | 1 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
    };
    runtime.expect("a tokio runtime").block_on(run(args));
}

async fn run(args: Args) {
    let _server;
    let endpoint = match args.endpoint {
        Some(url) => url,
        None => {
            let server = Server::start(ServerConfig::default()).await.unwrap();
            let url = server.url();
            _server = server;
            url
        }
    };
    let callers = [
        (
            Variant::ClientToken,
            Caller::Client(client(
                &endpoint,
                Credentials::token("bench-token").unwrap(),
            )),
        ),
        (
            Variant::ClientAksk,
            Caller::Client(client(
                &endpoint,
                Credentials::aksk(DEMO_AK, DEMO_SK).unwrap(),
            )),
        ),
        (
            Variant::RawReqwest,
            Caller::Raw {
                http: reqwest::Client::new(),
                base: endpoint.trim_end_matches('/').into(),
            },
        ),
    ];
    let callers: Vec<_> = callers
        .into_iter()
        .filter(|(v, _)| args.variant.is_empty() || args.variant.contains(v))
        .collect();
    let concurrencies = args
        .concurrency
        .map_or_else(|| vec![1, 64], |c| vec![c.max(1)]);
    let mut results = Vec::new();
    let operations = args.operation.map_or_else(
        || vec![Operation::PushEvent, Operation::Commits],
        |o| vec![o],
    );
    for operation in operations {
        for &concurrency in &concurrencies {
            // Warm up every variant (connections, allocator, caches) before measuring.
            for (_, caller) in &callers {
                measure(
                    caller,
                    operation,
                    concurrency,
                    (args.requests / 10).max(concurrency),
                )
                .await;
            }
            // Rounds in turns, so drift on the machine hits every variant alike.
            let mut rounds: Vec<Vec<(f64, Vec<Duration>)>> = vec![Vec::new(); callers.len()];
            for _ in 0..ROUNDS {
                for (i, (_, caller)) in callers.iter().enumerate() {
                    rounds[i].push(measure(caller, operation, concurrency, args.requests).await);
                }
            }
            for ((variant, _), mut runs) in callers.iter().zip(rounds) {
                runs.sort_by(|a, b| a.0.total_cmp(&b.0));
                let (rps, latencies) = &runs[runs.len() / 2];
                results.push(Measurement {
                    operation,
                    variant: *variant,
                    concurrency,
                    requests: latencies.len(),
                    rps: (rps * 10.0).round() / 10.0,
                    p50_us: percentile(latencies, 0.50),
                    p99_us: percentile(latencies, 0.99),
                });
            }
        }
    }
    print_table(&results);
    println!(
        "{}",
        serde_json::json!({ "endpoint": endpoint, "results": results })
    );
}

fn print_table(results: &[Measurement]) {
    eprintln!(
        "{:<11} {:<13} {:>5} {:>10} {:>8} {:>8} {:>9}",
        "operation", "variant", "conc", "rps", "p50_us", "p99_us", "vs raw"
    );
    for m in results {
        let raw = results
            .iter()
            .find(|r| {
                r.operation == m.operation
                    && r.concurrency == m.concurrency
                    && r.variant == Variant::RawReqwest
            })
            .map_or(f64::NAN, |r| r.rps);
        let name = serde_json::to_value(m.variant).unwrap();
        let op = serde_json::to_value(m.operation).unwrap();
        eprintln!(
            "{:<11} {:<13} {:>5} {:>10.0} {:>8} {:>8} {:>8.3}x",
            op.as_str().unwrap(),
            name.as_str().unwrap(),
            m.concurrency,
            m.rps,
            m.p50_us,
            m.p99_us,
            m.rps / raw
        );
    }
}
