//! Throughput and latency of the client against a raw reqwest loop doing the same exchange.
//!
//! ```sh
//! cargo run --release -p codearts-bench --bin bench -- [--endpoint URL] [--requests N] [--concurrency C]
//! ```
//!
//! Without `--endpoint` it starts the embedded server. Prints one JSON document on stdout and a
//! table with the ratios to raw reqwest on stderr. Each variant runs `--rounds` rounds in
//! turns; the median round is reported, and the ratio to raw reqwest is the median of the
//! ratios of rounds run one after the other (a pair shares the machine's state of the moment,
//! so the ratio cancels most of a shared VM's drift).
//!
//! `--variant client-token-no-drift-check` is the token client built with
//! `check_drift(false)`: beside `client-token`, what the drift check costs (docs/drift.md
//! counts its instructions with callgrind, against `codearts serve` in another process).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use clap::Parser;
use codearts_repo::{
    Client, CommitList, Credentials, PushEvent,
    server::{DEMO_AK, DEMO_SK, Server, ServerConfig},
};
use cpu::cpu_time;
use serde::Serialize;

mod cpu;
mod stats;
use stats::{median, odd};

const REPOSITORY: u32 = 2112036131;
const NAMESPACE: &str = "3e1f6634946144c2b1ccb46fb8152b8f";
const PROJECT: &str = "test";

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
    /// Rounds per variant, in turns (odd, for a true median).
    #[arg(long, default_value_t = 5, value_parser = odd)]
    rounds: usize,
    /// Runtime worker threads (1: a current-thread runtime).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Only this operation.
    #[arg(long, value_enum)]
    operation: Option<Operation>,
    /// Trust this CA (PEM) for an HTTPS endpoint, in the client and in raw reqwest alike
    /// (`SSL_CERT_FILE` works too).
    #[arg(long, value_name = "PATH")]
    ca_file: Option<std::path::PathBuf>,
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
    /// The client with a token, built without the drift check (`check_drift(false)`).
    ClientTokenNoDriftCheck,
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
    /// User and system CPU time of this process over the measurement, per request.
    cpu_us_per_request: f64,
    /// Median over rounds of this variant's requests per second over raw reqwest's in the
    /// same round.
    vs_raw: Option<f64>,
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

/// One measurement: requests per second, CPU per request, and the sorted latencies.
struct Round {
    rps: f64,
    cpu_us_per_request: f64,
    latencies: Vec<Duration>,
}

async fn measure(
    caller: &Caller,
    operation: Operation,
    concurrency: usize,
    requests: usize,
) -> Round {
    let per_task = requests.div_ceil(concurrency);
    let cpu_started = cpu_time();
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
    let cpu_us_per_request =
        (cpu_time() - cpu_started).as_secs_f64() * 1e6 / latencies.len() as f64;
    latencies.sort_unstable();
    Round {
        rps,
        cpu_us_per_request,
        latencies,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> u64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_micros() as u64
}

fn client(endpoint: &str, ca: Option<&[u8]>, credentials: Credentials, drift: bool) -> Client {
    let builder = Client::builder()
        .check_drift(drift)
        .endpoint(endpoint)
        .allow_http(true)
        .credentials(credentials)
        .project_id(NAMESPACE);
    match ca {
        Some(pem) => builder.add_root_certificate_pem(pem),
        None => builder,
    }
    .build()
    .unwrap()
}

fn main() {
    let args = Args::parse();
    // Raw reqwest on the client's TLS provider, so that the two compare like for like.
    // Deprecated since rustls 0.23.48 (no post-quantum key exchange): ring is the choice.
    #[allow(deprecated)]
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
    let ca = args
        .ca_file
        .as_ref()
        .map(|path| std::fs::read(path).expect("the --ca-file"));
    let mut raw = reqwest::Client::builder();
    if let Some(pem) = &ca {
        raw = raw.tls_certs_merge(reqwest::Certificate::from_pem_bundle(pem).expect("PEM"));
    }
    let callers = [
        (
            Variant::ClientToken,
            Caller::Client(client(
                &endpoint,
                ca.as_deref(),
                Credentials::token("bench-token").unwrap(),
                true,
            )),
        ),
        (
            Variant::ClientTokenNoDriftCheck,
            Caller::Client(client(
                &endpoint,
                ca.as_deref(),
                Credentials::token("bench-token").unwrap(),
                false,
            )),
        ),
        (
            Variant::ClientAksk,
            Caller::Client(client(
                &endpoint,
                ca.as_deref(),
                Credentials::aksk(DEMO_AK, DEMO_SK).unwrap(),
                true,
            )),
        ),
        (
            Variant::RawReqwest,
            Caller::Raw {
                http: raw.build().expect("a reqwest client"),
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
            let mut rounds: Vec<Vec<Round>> = (0..callers.len()).map(|_| Vec::new()).collect();
            for _ in 0..args.rounds {
                for (i, (_, caller)) in callers.iter().enumerate() {
                    rounds[i].push(measure(caller, operation, concurrency, args.requests).await);
                }
            }
            let raw = callers
                .iter()
                .position(|(v, _)| *v == Variant::RawReqwest)
                .map(|i| rounds[i].iter().map(|r| r.rps).collect::<Vec<_>>());
            for ((variant, _), mut runs) in callers.iter().zip(rounds) {
                let vs_raw = raw.as_ref().map(|raw| {
                    let ratios = runs
                        .iter()
                        .zip(raw)
                        .map(|(run, raw)| run.rps / raw)
                        .collect();
                    (median(ratios) * 1000.0).round() / 1000.0
                });
                runs.sort_by(|a, b| a.rps.total_cmp(&b.rps));
                let median = &runs[runs.len() / 2];
                results.push(Measurement {
                    operation,
                    variant: *variant,
                    concurrency,
                    requests: median.latencies.len(),
                    rps: (median.rps * 10.0).round() / 10.0,
                    p50_us: percentile(&median.latencies, 0.50),
                    p99_us: percentile(&median.latencies, 0.99),
                    cpu_us_per_request: (median.cpu_us_per_request * 100.0).round() / 100.0,
                    vs_raw,
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
        "{:<11} {:<13} {:>5} {:>10} {:>8} {:>8} {:>9} {:>8}",
        "operation", "variant", "conc", "rps", "p50_us", "p99_us", "vs raw", "cpu_us"
    );
    for m in results {
        let name = serde_json::to_value(m.variant).unwrap();
        let op = serde_json::to_value(m.operation).unwrap();
        eprintln!(
            "{:<11} {:<13} {:>5} {:>10.0} {:>8} {:>8} {:>8.3}x {:>8.2}",
            op.as_str().unwrap(),
            name.as_str().unwrap(),
            m.concurrency,
            m.rps,
            m.p50_us,
            m.p99_us,
            m.vs_raw.unwrap_or(f64::NAN),
            m.cpu_us_per_request
        );
    }
}
