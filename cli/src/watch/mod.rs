//! `codearts watch`: one JSON line per baseline and new push, errors on stderr; with
//! `--state`, what was printed is remembered across restarts.

mod ids;
mod listen;
mod pace;
mod trouble;

use std::{io::Write, time::Duration};

use std::collections::HashSet;

use codearts_repo::{
    Client, RepositoryId, StateDir, StateFile, WatchItem, WatchOptions, watch::WatchStore,
};
use serde_json::json;

use crate::{
    args::WatchArgs,
    error::{CliError, Result},
};

/// Returns the exit code: 0, or with `--once` the code of the last failed poll (each failure
/// was already printed).
pub(crate) async fn run(client: Client, args: WatchArgs) -> Result<u8> {
    let repositories = ids::select(args.repository_ids, args.ids_file.as_deref(), args.shard)?;
    if repositories.is_empty() {
        match args.shard {
            Some(shard) => say!("shard {shard} holds none of the ids given"),
            None => return Err(CliError::Input("no repository ids given".into())),
        }
    }
    let options = WatchOptions::default()
        .interval(args.interval)
        .concurrency(args.concurrency as usize)
        .max_backoff(args.max_backoff)
        .once(args.once);
    // What every poll would fail with (no endpoint for the region, no credentials) stops
    // the command now, once, rather than once per repository per poll.
    client
        .preflight(codearts_repo::endpoint::Service::CodeArtsRepo)
        .await?;
    let count = repositories.len();
    let mut shutdown = Shutdown::new()?;
    // Read before anything is sent: a corrupt state stops the command here.
    let store: Option<Box<dyn WatchStore>> = match (&args.state, &args.state_dir) {
        (Some(path), _) => Some(Box::new(StateFile::new(path))),
        (None, Some(dir)) => {
            let watched: HashSet<RepositoryId> = repositories.iter().copied().collect();
            let index = args.shard.map_or(0, |shard| shard.index());
            let keep = move |id| watched.contains(&id);
            // A sibling's unreadable file is not this replica's to refuse: its ids start
            // from a baseline here, and the operator hears which file it was.
            let state = StateDir::new(dir, index, keep).on_skipped(|error| {
                say!("{error}; skipped: the repositories it held start from a baseline");
            });
            Some(Box::new(state))
        }
        (None, None) => None,
    };
    let (handle, mut stream) = match store {
        Some(store) => client
            .watch_with_store(options, repositories, store)
            .map_err(|e| CliError::Input(e.to_string()))?,
        None => client.watch(options, repositories),
    };
    let heartbeat = listen::Heartbeat::new();
    if let Some(address) = args.listen {
        let health = listen::Health {
            watch: handle.clone(),
            unanswered_for: args.interval.saturating_mul(args.unhealthy_after),
            loop_turned: heartbeat.clone(),
        };
        listen::serve(address, health).await?;
    }
    let every = humantime::format_duration(args.interval);
    let repositories = match count {
        1 => "1 repository".to_owned(),
        n => format!("{n} repositories"),
    };
    if args.once {
        say!("polling {repositories} once");
    } else {
        say!("watching {repositories} every {every}; first polls spread over the first {every}");
    }
    let mut trouble = trouble::Trouble::default();
    let mut pace = pace::Pace::new(args.interval);
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_error = None;
    let mut write_failed = None;
    let mut stopping = false;
    loop {
        heartbeat.beat();
        let item = tokio::select! {
            item = stream.next() => item,
            _ = ticks.tick() => {
                let now = std::time::Instant::now();
                for line in trouble.tick(now) {
                    say!("{line}");
                }
                if let Some(line) = pace.check(&handle.stats(), now) {
                    say!("{line}");
                }
                continue;
            }
            () = shutdown.requested() => {
                // The first signal lets the polls in flight finish and prints what they
                // found; a second one stops at once.
                if stopping {
                    break;
                }
                stopping = true;
                say!("stopping: finishing the polls in flight; a second Ctrl-C or SIGTERM quits at once");
                handle.stop();
                continue;
            }
        };
        match item {
            None => break,
            Some(WatchItem::Push {
                repository_id,
                event,
                baseline,
            }) => {
                let line = json!({
                    "repository_id": repository_id,
                    "ref": event.ref_,
                    "created_at": event.created_at,
                    "baseline": baseline,
                });
                let mut stdout = std::io::stdout().lock();
                // A closed pipe ends the watch quietly, any other failed write with an
                // error; either way the line was not printed, so it is not marked handled,
                // and the next watch prints it.
                if let Err(error) = writeln!(stdout, "{line}").and_then(|()| stdout.flush()) {
                    write_failed = crate::output::quiet_broken_pipe(error).err();
                    break;
                }
                stream.handled();
            }
            Some(WatchItem::Error {
                repository_id,
                error,
            }) => {
                // A one-shot watch says every failure: it ends before any summary.
                let line = match args.once {
                    true => Some(format!("repository {repository_id}: {error}")),
                    false => trouble.error(repository_id, &error),
                };
                if let Some(line) = line {
                    say!("{line}");
                }
                last_error = Some(error);
            }
            Some(WatchItem::Recovered { repository_id }) => {
                if let Some(line) = trouble.recovered(repository_id) {
                    say!("{line}");
                }
            }
            Some(WatchItem::StateNotSaved { error }) => {
                say!("{error}; retrying every second");
            }
            // Items a later version of the library may add.
            Some(_) => {}
        }
    }
    // Everything printed is saved before exiting, so a restart prints none of it again.
    stream
        .close()
        .await
        .map_err(|e| CliError::Environment(e.to_string()))?;
    if let Some(error) = write_failed {
        return Err(error);
    }
    // Only a `--once` watch ends by itself; a stopped one ends normally.
    Ok(last_error
        .filter(|_| !stopping)
        .map_or(0, |error| CliError::from(error).exit_code()))
}

/// SIGINT (Ctrl-C) and SIGTERM (how containers are stopped) end a watch normally.
pub(crate) struct Shutdown {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Shutdown {
    pub(crate) fn new() -> Result<Self> {
        Ok(Self {
            #[cfg(unix)]
            terminate: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .map_err(|e| CliError::Environment(format!("cannot handle SIGTERM: {e}")))?,
        })
    }

    pub(crate) async fn requested(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = self.terminate.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}
