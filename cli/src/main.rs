//! `codearts`: the two operations from a shell or a CI job, the embedded server, and a demo.
//!
//! Exit codes: 0 success, 1 `spec-diff`, `release-gate` and `check-spec` findings, 2 usage or
//! invalid input (nothing sent), 3 API error,
//! 4 transport error (connect, TLS, timeout, broken or oversized answer), 5 undecodable answer.

/// One line on stderr, `codearts: ` first. A closed stderr must not end the command, as
/// `eprintln!` would by panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = std::io::Write::write_fmt(
            &mut std::io::stderr(),
            format_args!("codearts: {}\n", format_args!($($arg)*)),
        );
    }};
}

mod args;
mod check_spec;
mod demo;
mod error;
mod git;
mod keyless;
mod loopback;
mod notes;
mod output;
mod release_gate;
mod spec_diff;
mod waits;
mod watch;

use std::process::ExitCode;

use clap::Parser;
use codearts_repo::{Client, ClientBuilder, RateLimit, RetryPolicy};

use crate::{
    args::{Cli, Command, Connection, TextFormat},
    error::{CliError, Result},
    output::Output,
};

fn main() -> ExitCode {
    // Whatever happens, one line on stderr and no backtrace.
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("panic");
        say!("internal error: {message}");
    }));
    let cli = match Cli::try_parse_from(args::command_first(std::env::args_os())) {
        Ok(cli) => cli,
        // --help and --version as clap prints them; a usage error with the command's one
        // prefix, like every other error.
        Err(error) if !error.use_stderr() => error.exit(),
        Err(error) => {
            let text = error.render().to_string();
            let text = text.strip_prefix("error: ").unwrap_or(&text);
            eprint!("codearts: {text}");
            return ExitCode::from(2);
        }
    };
    logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            say!("cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            say!("{error}");
            ExitCode::from(error.exit_code())
        }
    }
}

/// Runs one command; `Ok` carries the exit code (non-zero only for `spec-diff` findings).
/// Long waits said on stderr, and with `RUST_LOG` the library's events too.
fn logging() {
    use tracing_subscriber::{Layer, layer::SubscriberExt, util::SubscriberInitExt};
    let log = std::env::var_os("RUST_LOG").is_some().then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_filter(tracing_subscriber::EnvFilter::from_default_env())
    });
    tracing_subscriber::registry()
        .with(waits::Waits::layer())
        .with(notes::Notes::layer())
        .with(log)
        .init();
}

async fn run(cli: Cli) -> Result<u8> {
    let done = match cli.command {
        Command::PushEvent {
            repository_id,
            connection,
            output,
        } => {
            let client = builder(&connection)?.build()?;
            Output::new(output.into()).push_event(&client.last_push_event(repository_id).await?)
        }
        Command::Commits(commits) => {
            let mut builder = builder(&commits.connection)?;
            if let Some(id) = &commits.project_id {
                builder = builder.project_id(id);
            }
            let client = builder.build()?;
            let mut request = client.commits(commits.namespace, commits.project);
            if let Some(git_ref) = commits.git_ref {
                request = request.git_ref(git_ref);
            }
            if let Some(name) = commits.repo_auth {
                request = request.repo_auth(name);
            }
            Output::new(commits.output.into()).commits(&request.send().await?)
        }
        Command::Serve(serve) => demo::serve(serve).await,
        Command::CheckSpec(check) => {
            if check.repository_ids.is_empty() && check.project.is_none() {
                return Err(CliError::Input(
                    "nothing to call: give --repository-id ID, or --namespace and --project \
                     (with --repo-auth) for the commits"
                        .into(),
                ));
            }
            let mut builder = builder(&check.connection)?.check_drift(true);
            if let Some(id) = &check.project_id {
                builder = builder.project_id(id);
            }
            return check_spec::run(builder.build()?, &check).await;
        }
        Command::Demo { output } => {
            // A person at a terminal reads the walk-through; a pipe gets the document.
            let output =
                output.unwrap_or(if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                    TextFormat::Table
                } else {
                    TextFormat::Json
                });
            demo::run(Output::new(output.into())).await
        }
        Command::Watch(watch) => {
            if watch.repository_ids.is_empty() && watch.ids_file.is_none() {
                return Err(CliError::Input(
                    "nothing to watch: give repository ids, or --ids-file PATH (one id a \
                     line; `-` reads them from stdin)"
                        .into(),
                ));
            }
            if !watch.once && watch.connection.max_attempts.is_some() {
                return Err(CliError::Input(
                    "--max-attempts applies to `watch --once` only: a watch backs off by itself"
                        .into(),
                ));
            }
            // The watch backs off per repository; client retries would only delay the others.
            // A one-shot watch makes one call per repository, with the attempts asked for.
            let connection = args::Connection {
                max_attempts: Some(if watch.once {
                    watch.connection.attempts()
                } else {
                    1
                }),
                ..watch.connection.clone()
            };
            // Throttling is the account's: every poll slows down together.
            let limit = match watch.max_rate {
                Some(rate) => RateLimit::adaptive().max_rate(rate.per_second()),
                None => RateLimit::adaptive(),
            };
            let client = builder(&connection)?
                .rate_limit(limit)
                .check_drift(true)
                .build()?;
            return watch::run(client, watch).await;
        }
        Command::ReleaseGate(gate) => {
            let out = Output::new(gate.output);
            return release_gate::run(&gate, out);
        }
        Command::SpecDiff {
            old,
            new,
            check_version,
            old_version,
            output,
        } => {
            let gate = check_version
                .as_deref()
                .map(|manifest| spec_diff::VersionGate {
                    manifest,
                    old_version: old_version.as_deref(),
                });
            return spec_diff::run(&old, &new, gate, Output::new(output));
        }
    };
    done.map(|()| 0)
}

/// A builder with the connection options applied.
pub(crate) fn builder(global: &Connection) -> Result<ClientBuilder> {
    let mut builder = Client::builder()
        .allow_http(global.allow_http)
        // The one bound on the call, credentials included. No attempt timeout: an attempt may
        // use what is left, so a slow service that answers within --timeout is heard.
        .timeout(Some(global.timeout))
        .retry(RetryPolicy::default().max_attempts(global.attempts()))
        .signing_algorithm(global.signing_algorithm);
    if let Some(region) = &global.region {
        builder = builder.region(region);
    }
    if let Some(endpoint) = &global.endpoint {
        builder = builder.endpoint(endpoint);
        if codearts_repo::endpoint::is_loopback(endpoint) {
            builder = loopback::cover_iam_and_sts(builder, endpoint)?;
        }
    }
    if let Some(path) = &global.ca_file {
        let pem = std::fs::read(path).map_err(|e| {
            CliError::Input(format!("cannot read --ca-file {}: {e}", path.display()))
        })?;
        builder = builder.add_root_certificate_pem(pem);
    }
    Ok(builder)
}
