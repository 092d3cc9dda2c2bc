//! `codearts watch`: one JSON line per baseline and new push, errors on stderr; with
//! `--state`, what was printed is remembered across restarts.

mod deliver;
mod drift;
mod fleet;
mod ids;
mod listen;
mod metrics;
mod pace;
mod trouble;

use std::{io::Write, time::Duration};

use codearts_repo::{
    Client, RepositoryId, StateFile, WatchHandle, WatchItem, WatchOptions, WatchStream,
};
use serde_json::json;

use crate::{
    args::WatchArgs,
    error::{CliError, Result},
};

/// How often a watch without `--deliver` saves what it printed: a crash prints again at most
/// the last second's pushes.
const SAVED_EVERY: Duration = Duration::from_secs(1);

/// Returns the exit code: 0, or with `--once` the code of the last failed poll (each failure
/// was already printed).
pub(crate) async fn run(client: Client, mut args: WatchArgs) -> Result<u8> {
    let given = std::mem::take(&mut args.repository_ids);
    let repositories = ids::select(given, args.ids_file.as_deref(), args.shard)?;
    if repositories.is_empty() {
        match args.shard {
            Some(shard) => say!("shard {shard} holds none of the ids given"),
            None => return Err(CliError::Input("no repository ids given".into())),
        }
    }
    // The receiver's options are read before anything is sent, as the repositories are.
    let receiver = deliver::Receiver::from_args(&args.delivery)?;
    let options = WatchOptions::default()
        .interval(args.interval)
        .concurrency(args.concurrency as usize)
        .max_backoff(args.max_backoff)
        .once(args.once)
        .hold_until_handled(receiver.is_some())
        .hold_baselines(args.delivery.deliver_baselines);
    // A delivered push is recorded promptly: only what was delivered in the last tenth of a
    // second before a crash (or a takeover) is delivered again, with the same id.
    let saves_every = match receiver {
        Some(_) => deliver::RECORDED_WITHIN,
        None => SAVED_EVERY,
    };
    let options = options.flush_every(saves_every);
    // What every poll would fail with (no endpoint for the region, no credentials) stops
    // the command now, once, rather than once per repository per poll.
    client
        .preflight(codearts_repo::endpoint::Service::CodeArtsRepo)
        .await?;
    let watching = Watching::new(&args, repositories, receiver, saves_every);
    let mut shutdown = Shutdown::new()?;
    if let Some(url) = &args.database {
        let fleet = fleet::Fleet::new(url, &args)?;
        return fleet.run(client, options, watching, &mut shutdown).await;
    }
    // Read before anything is sent: a corrupt state stops the command here.
    let (handle, mut stream) = match &args.state {
        Some(path) => client
            .watch_with_store(options, watching.ids.clone(), StateFile::new(path))
            .map_err(|e| CliError::Input(e.to_string()))?,
        None => client.watch(options, watching.ids.clone()),
    };
    let health = listen::Health::new(args.interval.saturating_mul(args.unhealthy_after));
    health.watching(Some(handle.clone()));
    health.delivering(watching.receiver.clone());
    if let Some(address) = args.listen {
        listen::serve(address, health.clone()).await?;
    }
    watching.announce();
    let mut printer = Printer::new(&watching);
    let ended = printer
        .print(
            &mut stream,
            &handle,
            &mut shutdown,
            &health,
            std::future::pending(),
        )
        .await;
    // Everything printed (and delivered) is saved before exiting, so a restart prints none
    // of it again.
    printer.finish_deliveries(ended).await;
    stream
        .close()
        .await
        .map_err(|e| CliError::Environment(e.to_string()))?;
    printer.exit_code(ended)
}

/// What is watched, and how it is announced.
pub(crate) struct Watching {
    pub(crate) ids: Vec<RepositoryId>,
    interval: Duration,
    once: bool,
    /// Where pushes are delivered (`--deliver`), if anywhere.
    receiver: Option<deliver::Receiver>,
    /// How often what was handled is saved, and a failed save tried again.
    saves_every: Duration,
}

impl Watching {
    fn new(
        args: &WatchArgs,
        ids: Vec<RepositoryId>,
        receiver: Option<deliver::Receiver>,
        saves_every: Duration,
    ) -> Self {
        Self {
            ids,
            interval: args.interval,
            once: args.once,
            receiver,
            saves_every,
        }
    }

    fn announce(&self) {
        let every = humantime::format_duration(self.interval);
        let repositories = match self.ids.len() {
            1 => "1 repository".to_owned(),
            n => format!("{n} repositories"),
        };
        if self.once {
            say!("polling {repositories} once");
        } else {
            say!(
                "watching {repositories} every {every}; first polls spread over the first {every}"
            );
        }
    }
}

/// How printing a watch's stream ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The stream ended by itself (a `--once` watch), or after a stop.
    Finished,
    /// A second signal: stop at once.
    Quit,
    /// The future given to [`Printer::print`] finished (a fleet's lease was lost).
    Interrupted,
    /// Standard output failed.
    WriteFailed,
}

/// Prints a watch's items: pushes on stdout, trouble on stderr, once per change.
pub(crate) struct Printer {
    trouble: trouble::Trouble,
    deliveries: Option<deliver::Deliveries>,
    pace: pace::Pace,
    once: bool,
    saves_every: Duration,
    last_error: Option<codearts_repo::Error>,
    write_failed: Option<CliError>,
    stopping: bool,
}

impl Printer {
    pub(crate) fn new(watching: &Watching) -> Self {
        Self {
            trouble: trouble::Trouble::default(),
            deliveries: watching
                .receiver
                .as_ref()
                .map(deliver::Receiver::deliveries),
            pace: pace::Pace::new(watching.interval),
            once: watching.once,
            saves_every: watching.saves_every,
            last_error: None,
            write_failed: None,
            stopping: false,
        }
    }

    /// After printing `ended`: a stop lets the deliveries under way end (for as long as one
    /// attempt may take); otherwise (a lost lease, a quit) they are abandoned at once, and
    /// the next active watcher or the next watch delivers them again, with the same ids.
    pub(crate) async fn finish_deliveries(&mut self, ended: Ended) {
        if let Some(deliveries) = self.deliveries.take()
            && ended == Ended::Finished
        {
            deliveries.finish().await;
        }
    }

    /// Deliveries under a fleet's lease (see `deliver::Deliveries::lead_with`).
    pub(crate) fn lead_with(&mut self, leadership: codearts_repo::watch::Leadership) {
        if let Some(deliveries) = &mut self.deliveries {
            deliveries.lead_with(leadership);
        }
    }

    /// Whether a signal asked the watch to stop.
    pub(crate) fn stopping(&self) -> bool {
        self.stopping
    }

    /// Prints items until the stream ends, a second signal, a failed write, or `until`.
    pub(crate) async fn print(
        &mut self,
        stream: &mut WatchStream,
        handle: &WatchHandle,
        shutdown: &mut Shutdown,
        health: &listen::Health,
        until: impl std::future::Future<Output = ()>,
    ) -> Ended {
        let mut until = std::pin::pin!(until);
        let mut ticks = tokio::time::interval(Duration::from_secs(1));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            health.beat();
            let item = tokio::select! {
                item = stream.next() => item,
                _ = ticks.tick() => {
                    let now = std::time::Instant::now();
                    for line in self.trouble.tick(now) {
                        say!("{line}");
                    }
                    let stats = handle.stats();
                    if let Some(line) = self.pace.check(&stats, now) {
                        say!("{line}");
                    }
                    for line in drift::new_lines(&stats) {
                        say!("{line}");
                    }
                    continue;
                }
                () = &mut until => return Ended::Interrupted,
                () = shutdown.requested() => {
                    // The first signal lets the polls in flight finish and prints what they
                    // found; a second one stops at once.
                    if self.stopping {
                        return Ended::Quit;
                    }
                    self.stopping = true;
                    say!("stopping: finishing the polls in flight; a second Ctrl-C or SIGTERM quits at once");
                    handle.stop();
                    continue;
                }
            };
            match item {
                None => {
                    // A `--once` watch ends before its next tick: what it saw is said now.
                    for line in drift::new_lines(&handle.stats()) {
                        say!("{line}");
                    }
                    return Ended::Finished;
                }
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
                    // error; either way the line was not printed, so it is not marked
                    // handled, and the next watch prints it.
                    if let Err(error) = writeln!(stdout, "{line}").and_then(|()| stdout.flush()) {
                        self.write_failed = crate::output::quiet_broken_pipe(error).err();
                        return Ended::WriteFailed;
                    }
                    drop(stdout);
                    // Delivered, it is handled once the receiver takes it; printed only,
                    // now.
                    match (&mut self.deliveries, stream.defer()) {
                        (Some(deliveries), Some(deferred)) if deliveries.wants(baseline) => {
                            deliveries.start(repository_id, &event, baseline, deferred);
                        }
                        (_, deferred) => {
                            if let Some(deferred) = deferred {
                                deferred.handled();
                            }
                        }
                    }
                }
                Some(WatchItem::Error {
                    repository_id,
                    error,
                }) => {
                    // A one-shot watch says every failure: it ends before any summary.
                    let line = match self.once {
                        true => Some(format!("repository {repository_id}: {error}")),
                        false => self.trouble.error(repository_id, &error),
                    };
                    if let Some(line) = line {
                        say!("{line}");
                    }
                    self.last_error = Some(error);
                }
                Some(WatchItem::Recovered { repository_id }) => {
                    if let Some(line) = self.trouble.recovered(repository_id) {
                        say!("{line}");
                    }
                }
                Some(WatchItem::StateNotSaved { error }) => {
                    let every = humantime::format_duration(self.saves_every);
                    say!("{error}; retrying every {every}");
                }
                // Items a later version of the library may add.
                Some(_) => {}
            }
        }
    }

    /// The command's exit code once printing `ended`.
    pub(crate) fn exit_code(self, ended: Ended) -> Result<u8> {
        if let Some(error) = self.write_failed {
            return Err(error);
        }
        if ended == Ended::WriteFailed {
            return Ok(0);
        }
        // Only a `--once` watch ends by itself; a stopped one ends normally.
        Ok(self
            .last_error
            .filter(|_| !self.stopping)
            .map_or(0, |error| CliError::from(error).exit_code()))
    }
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
