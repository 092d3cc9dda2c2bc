//! CPU per request of each signing algorithm: the commits request (path, `ref` query, the
//! headers the client sends) signed `--requests` times with each of the four algorithms, in
//! turns, `--rounds` times; the median round per algorithm is reported. Signing is all that
//! differs between the algorithms on the wire, so this is the cost each adds per request.
//!
//!     cargo build --release -p codearts-bench
//!     taskset -c 1 target/release/signing_bench --rounds 11 --requests 20000

use std::hint::black_box;

use clap::Parser;
use codearts_repo::{
    SigningAlgorithm,
    auth::signer::{self, SigningKey},
    server::{DEMO_AK, DEMO_SK},
};
use cpu::cpu_time;
use reqwest::{
    Method, Url,
    header::{HeaderMap, HeaderValue},
};

mod cpu;
mod stats;

#[derive(Parser)]
#[command(about = "CPU per request of each AK/SK signing algorithm")]
struct Args {
    /// Signatures per algorithm and round.
    #[arg(long, default_value_t = 20_000)]
    requests: u32,
    /// Rounds, taken in turns (odd: the median is one of them).
    #[arg(long, default_value_t = 5, value_parser = stats::odd)]
    rounds: usize,
}

fn main() {
    let args = Args::parse();
    let url = Url::parse(
        "https://servicestage.cn-north-4.myhuaweicloud.com/v1/3e1f6634946144c2b1ccb46fb8152b8f/git/repos/my-group/my-repo/commits?ref=master",
    )
    .unwrap();
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("content-type", "application/json;charset=utf8"),
        ("x-sdk-date", "20251203T073000Z"),
        ("x-project-id", "3e1f6634946144c2b1ccb46fb8152b8f"),
        ("x-repo-auth", "repo-auth-token"),
        ("user-agent", "codearts-repo/0.2.0"),
        ("host", "servicestage.cn-north-4.myhuaweicloud.com"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    // One key for the whole run, as a client keeps it: the asymmetric keys are derived by the
    // warm-up, not per request.
    let key = SigningKey::new(DEMO_SK);
    let sign = |algorithm| {
        signer::sign_with(algorithm, &key, DEMO_AK, &Method::GET, &url, &headers, b"").unwrap()
    };
    for algorithm in SigningAlgorithm::ALL {
        black_box(sign(*algorithm));
    }
    let mut rounds: Vec<Vec<f64>> = vec![Vec::new(); SigningAlgorithm::ALL.len()];
    for _ in 0..args.rounds {
        for (i, algorithm) in SigningAlgorithm::ALL.iter().enumerate() {
            let start = cpu_time();
            for _ in 0..args.requests {
                black_box(sign(*algorithm));
            }
            let spent = cpu_time() - start;
            rounds[i].push(spent.as_secs_f64() * 1e6 / f64::from(args.requests));
        }
    }
    println!(
        "| algorithm | CPU µs per request (median of {} rounds) | fastest round | slowest round |",
        args.rounds
    );
    println!("| --- | --- | --- | --- |");
    for (algorithm, rounds) in SigningAlgorithm::ALL.iter().zip(rounds) {
        let (min, max) = rounds
            .iter()
            .fold((f64::MAX, 0f64), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        println!(
            "| {} | {:.1} | {min:.1} | {max:.1} |",
            algorithm.name(),
            stats::median(rounds)
        );
    }
}
