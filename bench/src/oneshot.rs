//! What a user of the command feels: one `codearts push-event`, start to finish (process
//! start, TLS handshake, request, output), against `curl` fetching the same URL from the same
//! server with the same CA.
//!
//! ```sh
//! cargo build --release -p codearts-cli
//! cargo run --release -p codearts-bench --bin oneshot -- --endpoint https://127.0.0.1:18443 --ca-file ca.pem [--runs 31]
//! ```
//!
//! Each round runs curl, the command with a token and the command with AK/SK, in turns; the
//! figures are the medians of the wall times, and `time_vs_curl` the median of each round's
//! ratio to curl's time in that round (lower is faster). Prints one JSON document on stdout
//! and a table on stderr.

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    process::{Command, ExitCode, Stdio},
    time::Instant,
};

use clap::Parser;
use codearts_repo::server::{DEMO_AK, DEMO_SK};
use serde::Serialize;

mod codearts_bin;
mod stats;
use stats::{median, odd};

const REPOSITORY: &str = "2112036131";
const TOKEN: &str = "bench-token";

#[derive(Parser)]
struct Args {
    /// Base URL serving the push-event operation (nginx with `bench/bench-nginx-tls.conf`).
    #[arg(long)]
    endpoint: String,
    /// Trust this CA (PEM): curl's `--cacert`, the command's `--ca-file`.
    #[arg(long, value_name = "PATH")]
    ca_file: Option<PathBuf>,
    /// Rounds (odd, for a true median).
    #[arg(long, default_value_t = 31, value_parser = odd)]
    runs: usize,
    /// The `codearts` binary (default: the one beside this program).
    #[arg(long, value_name = "PATH")]
    codearts: Option<PathBuf>,
}

#[derive(Serialize)]
struct Measurement {
    variant: &'static str,
    runs: usize,
    median_ms: f64,
    /// Median over rounds of this variant's time over curl's in the same round.
    time_vs_curl: f64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("oneshot: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let codearts = codearts_bin::codearts(args.codearts.as_deref())?;
    let variants = [
        ("curl", Invocation::curl(args)),
        (
            "codearts-token",
            Invocation::codearts(&codearts, args, &[("TOKEN", TOKEN)]),
        ),
        (
            "codearts-aksk",
            Invocation::codearts(&codearts, args, &[("AK", DEMO_AK), ("SK", DEMO_SK)]),
        ),
    ];
    // Warm up: the binaries in the page cache, the server's first connection.
    for (name, invocation) in &variants {
        time(name, invocation)?;
    }
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    for _ in 0..args.runs {
        for (i, (name, invocation)) in variants.iter().enumerate() {
            times[i].push(time(name, invocation)?);
        }
    }
    let results: Vec<_> = variants
        .iter()
        .zip(&times)
        .map(|((variant, _), runs)| {
            let ratios = runs.iter().zip(&times[0]).map(|(t, curl)| t / curl);
            Measurement {
                variant,
                runs: runs.len(),
                median_ms: (median(runs.clone()) * 100.0).round() / 100.0,
                time_vs_curl: (median(ratios.collect()) * 1000.0).round() / 1000.0,
            }
        })
        .collect();
    eprintln!(
        "{:<16} {:>5} {:>10} {:>13}",
        "variant", "runs", "median_ms", "time_vs_curl"
    );
    for m in &results {
        eprintln!(
            "{:<16} {:>5} {:>10.2} {:>12.3}x",
            m.variant, m.runs, m.median_ms, m.time_vs_curl
        );
    }
    let report = serde_json::json!({ "endpoint": args.endpoint, "results": results });
    println!("{report}");
    Ok(())
}

/// A program, its arguments and the credentials it is given.
struct Invocation {
    program: PathBuf,
    args: Vec<OsString>,
    credentials: &'static [(&'static str, &'static str)],
}

impl Invocation {
    /// `curl` fetching the push event as the command does, over HTTP/2 where the server
    /// offers it.
    fn curl(args: &Args) -> Self {
        let url = format!(
            "{}/v4/repositories/{REPOSITORY}/last-push-event",
            args.endpoint.trim_end_matches('/')
        );
        let mut curl: Vec<OsString> = ["--silent", "--show-error", "--fail", "--http2"]
            .into_iter()
            .map(Into::into)
            .collect();
        curl.extend(["--header".into(), "accept: application/json".into()]);
        curl.extend(["--header".into(), format!("x-auth-token: {TOKEN}").into()]);
        if let Some(ca) = &args.ca_file {
            curl.extend(["--cacert".into(), ca.into()]);
        }
        curl.push(url.into());
        Self {
            program: "curl".into(),
            args: curl,
            credentials: &[],
        }
    }

    /// `codearts push-event` with the credentials `HUAWEICLOUD_SDK_<name>` = value.
    fn codearts(
        program: &Path,
        args: &Args,
        credentials: &'static [(&'static str, &'static str)],
    ) -> Self {
        let mut command: Vec<OsString> = ["push-event", "--endpoint", &args.endpoint, REPOSITORY]
            .into_iter()
            .map(Into::into)
            .collect();
        if let Some(ca) = &args.ca_file {
            command.extend(["--ca-file".into(), ca.into()]);
        }
        if args.endpoint.starts_with("http://") {
            command.push("--allow-http".into());
        }
        Self {
            program: program.to_owned(),
            args: command,
            credentials,
        }
    }

    /// The command, with no `HUAWEICLOUD_SDK_*` variable but its own credentials.
    fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command.args(&self.args);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("HUAWEICLOUD_SDK_") {
                command.env_remove(name);
            }
        }
        for (name, value) in self.credentials {
            command.env(format!("HUAWEICLOUD_SDK_{name}"), value);
        }
        command
    }
}

/// Wall time of one run, in milliseconds; a failed run ends the measurement.
fn time(name: &str, invocation: &Invocation) -> Result<f64, String> {
    let started = Instant::now();
    let output = invocation
        .command()
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("{name}: cannot start: {e}"))?;
    let elapsed = started.elapsed().as_secs_f64() * 1e3;
    if !output.status.success() {
        return Err(format!(
            "{name} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(elapsed)
}
