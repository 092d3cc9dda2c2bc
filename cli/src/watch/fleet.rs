//! `codearts watch --database URL`: a replica of a fleet. Replicas elect one active watcher
//! through the database; it polls, prints and records every event, under a lease whose epoch
//! fences its writes. The others stand by, send nothing to the service, and take over when
//! the lease ends (the active one was killed, paused, or lost the database).
//!
//! While the database cannot be written, the active watcher goes on polling and printing,
//! and holds what it handled in memory, in order, until the database takes it. Should its
//! lease end first (the outage outlasts it), it stands by and keeps what it held, which it
//! records as soon as the database answers, as events of its former term; its successor
//! starts from the rows. Only a process that dies while holding them loses them from the
//! table (not from stdout, which printed them).

use std::time::Duration;

use codearts_repo::{
    Client, RateLimit, WatchOptions,
    watch::{
        Handled,
        postgres::{Database, Election, Pacing, PgStore, Term, migrate, record_late},
    },
};

use super::{Ended, Printer, Shutdown, Watching, listen};
use crate::{
    args::{SecretUrl, WatchArgs},
    error::{CliError, Result},
};

/// How often a standby asks for the lease, and how often the active watcher saves what its
/// limiter learned.
const STANDBY_PERIOD: Duration = Duration::from_secs(1);
const PACING_PERIOD: Duration = Duration::from_secs(5);

pub(crate) struct Fleet {
    database: Database,
    name: String,
    holder: String,
    lease: Duration,
    max_rate: Option<codearts_repo::Rate>,
    listen: Option<std::net::SocketAddr>,
    unanswered_for: Duration,
}

impl Fleet {
    pub(crate) fn new(url: &SecretUrl, args: &WatchArgs) -> Result<Self> {
        let mut database =
            Database::from_url(&url.0).map_err(|e| CliError::Input(format!("--database: {e}")))?;
        if let Some(path) = &args.database_password_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                CliError::Input(format!("--database-password-file {}: {e}", path.display()))
            })?;
            let password = text
                .strip_suffix('\n')
                .map(|line| line.strip_suffix('\r').unwrap_or(line))
                .unwrap_or(&text);
            database = database.password(password);
        }
        // Unique per process: a restarted pod is a new holder, whose first term is new.
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "codearts".into());
        let holder = format!("{host}/{}/{:08x}", std::process::id(), fastrand_u32());
        Ok(Self {
            database,
            name: args.fleet.clone(),
            holder,
            lease: args.lease,
            max_rate: args.max_rate,
            listen: args.listen,
            unanswered_for: args.interval.saturating_mul(args.unhealthy_after),
        })
    }

    pub(crate) async fn run(
        self,
        client: Client,
        options: WatchOptions,
        watching: Watching,
        shutdown: &mut Shutdown,
    ) -> Result<u8> {
        let health = listen::Health::new(self.unanswered_for);
        health.in_fleet(self.lease);
        health.delivering(watching.receiver.clone());
        if let Some(address) = self.listen {
            listen::serve(address, health.clone()).await?;
        }
        let mut trouble = DatabaseTrouble::default();
        // The schema first: every replica may try, one migrates, the others wait for it.
        loop {
            health.beat();
            match migrate(&self.database).await {
                Ok(()) => break,
                Err(error) => trouble.failed(&health, &error.to_string()),
            }
            tokio::select! {
                () = tokio::time::sleep(trouble.backoff()) => {}
                () = shutdown.requested() => return Ok(0),
            }
        }
        trouble.reached(&health);
        let lease = humantime::format_duration(self.lease);
        say!(
            "fleet {}: standing by as {} (lease {lease}); database {}",
            self.name,
            self.holder,
            self.database.describe()
        );
        let mut election =
            Election::new(self.database.clone(), &self.name, &self.holder).ttl(self.lease);
        let mut pacing = Pacing::new(self.database.clone(), &self.name);
        // Events of former terms not yet in the table, by term.
        let mut unrecorded: Vec<(i64, Vec<Handled>)> = Vec::new();
        loop {
            health.beat();
            self.record_late(&mut unrecorded).await;
            election = match election.try_acquire().await {
                Ok(Ok(term)) => {
                    let epoch = term.epoch();
                    let term = Leading {
                        term,
                        client: &client,
                        options: &options,
                        watching: &watching,
                        health: &health,
                        pacing: &mut pacing,
                    };
                    let led = self.lead(term, shutdown).await?;
                    if !led.events.is_empty() {
                        unrecorded.push((epoch, led.events));
                    }
                    if led.ended != Ended::Interrupted || led.printer.stopping() {
                        self.record_late(&mut unrecorded).await;
                        self.lost(&unrecorded);
                        return led.printer.exit_code(led.ended);
                    }
                    // A term that cannot start (its rows cannot be read) backs off as any
                    // trouble of the database does, rather than taking the lease every second.
                    match &led.failed {
                        Some(why) => trouble.failed(&health, why),
                        None => trouble.reached(&health),
                    }
                    led.election
                }
                Ok(Err(back)) => {
                    trouble.reached(&health);
                    back
                }
                Err((back, error)) => {
                    trouble.failed(&health, &error.to_string());
                    back
                }
            };
            // A database in trouble is asked less and less often, never so rarely that a
            // standby misses its return by more than half a lease.
            let wait = match trouble.failing {
                Some(_) => trouble.backoff().min(self.lease / 2),
                None => STANDBY_PERIOD,
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = shutdown.requested() => {
                    self.record_late(&mut unrecorded).await;
                    self.lost(&unrecorded);
                    return Ok(0);
                }
            }
        }
    }

    /// Says which events of former terms leave the table for good with this process.
    fn lost(&self, unrecorded: &[(i64, Vec<Handled>)]) {
        for (epoch, events) in unrecorded {
            say!(
                "fleet {}: {} event(s) of epoch {epoch}, printed, are not in the table: the \
                 database did not take them before the stop",
                self.name,
                events.len()
            );
        }
    }

    /// Records the events of former terms that the database did not take then; says
    /// what it could not record yet, and keeps it.
    async fn record_late(&self, unrecorded: &mut Vec<(i64, Vec<Handled>)>) {
        // In order of terms, and none after one that fails: ids follow the terms.
        while let Some((epoch, events)) = unrecorded.first() {
            match record_late(&self.database, &self.name, *epoch, events).await {
                Ok(recorded) => say!(
                    "fleet {}: recorded {recorded} event(s) of epoch {epoch} that its term could not",
                    self.name
                ),
                Err(error) => {
                    say!(
                        "{error}; {} event(s) of epoch {epoch} kept for later",
                        events.len()
                    );
                    return;
                }
            }
            unrecorded.remove(0);
        }
    }

    /// One term as the active watcher: until the lease is lost (then the election is given
    /// back, to stand by again) or the watch ends (a signal, a failed write).
    async fn lead(&self, leading: Leading<'_>, shutdown: &mut Shutdown) -> Result<Led> {
        let Leading {
            term,
            client,
            options,
            watching,
            health,
            pacing,
        } = leading;
        let epoch = term.epoch();
        say!("fleet {}: active (epoch {epoch})", self.name);
        health.fleet(|fleet| fleet.leading = Some(epoch));
        // What the last active watcher learned of the account's quota is where this one
        // starts: never from "unlimited" after a takeover.
        let mut limit = RateLimit::adaptive();
        if let Some(rate) = self.max_rate {
            limit = limit.max_rate(rate.per_second());
        }
        if let Ok(Some(learned)) = pacing.load().await {
            limit = limit.resume(learned);
        }
        let client = client.paced_by(limit)?;
        let mut printer = Printer::new(watching);
        printer.lead_with(term.leadership().clone());
        let store = match PgStore::open(&term).await {
            Ok(store) => store,
            Err(error) => {
                health.fleet(|fleet| fleet.leading = None);
                let election = term.release().await;
                return Ok(Led::failed(printer, election, error.to_string()));
            }
        };
        let unrecorded = store.unrecorded();
        let watch_options = options.clone().leadership(term.leadership().clone());
        let (handle, mut stream) = client
            .watch_with_store(watch_options, watching.ids.clone(), store)
            .map_err(|e| CliError::Environment(e.to_string()))?;
        health.watching(Some(handle.clone()));
        watching.announce();
        // Every second, a lease still held is a database that answered a renewal within the
        // lease's length (readiness).
        let upkeep = tokio::spawn({
            let (health, leadership) = (health.clone(), term.leadership().clone());
            async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    if leadership.is_held() {
                        health.fleet(|fleet| fleet.reached = Some(std::time::Instant::now()));
                    }
                }
            }
        });
        let ended = {
            let printing = printer.print(&mut stream, &handle, shutdown, health, term.lost());
            // What the limiter learned is saved every few seconds while printing.
            let saving = async {
                loop {
                    tokio::time::sleep(PACING_PERIOD).await;
                    if let Some(learned) = client.learned_rate() {
                        let _ = pacing.save(epoch, learned).await;
                    }
                }
            };
            tokio::select! {
                ended = printing => ended,
                () = saving => unreachable!("saving never ends"),
            }
        };
        upkeep.abort();
        printer.finish_deliveries(ended).await;
        health.watching(None);
        health.fleet(|fleet| fleet.leading = None);
        if ended == Ended::Interrupted {
            say!(
                "fleet {}: the lease (epoch {epoch}) ended, taken over or not renewed in time; standing by",
                self.name
            );
        } else if let Some(learned) = client.learned_rate() {
            let _ = pacing.save(epoch, learned).await;
        }
        // Everything printed is recorded before the lease is given up; after the lease
        // ended, if no one took over meanwhile (the database was only away).
        if let Err(error) = stream.close().await {
            say!("{error}");
        }
        let election = term.release().await;
        Ok(Led {
            ended,
            printer,
            election,
            events: unrecorded.take(),
            failed: None,
        })
    }
}

/// What a term leads with.
struct Leading<'a> {
    term: Term,
    client: &'a Client,
    options: &'a WatchOptions,
    watching: &'a Watching,
    health: &'a listen::Health,
    pacing: &'a mut Pacing,
}

/// How a term ended: the election back, to stand by again, the events the database did
/// not take, and why the term could not start, if it could not.
struct Led {
    ended: Ended,
    printer: Printer,
    election: Election,
    events: Vec<Handled>,
    failed: Option<String>,
}

impl Led {
    fn failed(printer: Printer, election: Election, why: String) -> Self {
        Self {
            ended: Ended::Interrupted,
            printer,
            election,
            events: Vec::new(),
            failed: Some(why),
        }
    }
}

/// The database's trouble, said once per change on stderr, and told to the health endpoints.
#[derive(Default)]
struct DatabaseTrouble {
    failing: Option<String>,
    failures: u32,
}

impl DatabaseTrouble {
    fn failed(&mut self, health: &listen::Health, reason: &str) {
        self.failures = self.failures.saturating_add(1);
        if self.failing.as_deref() != Some(reason) {
            say!("{reason}; trying again");
        }
        self.failing = Some(reason.to_owned());
        health.fleet(|fleet| fleet.trouble = Some(reason.to_owned()));
    }

    fn reached(&mut self, health: &listen::Health) {
        if self.failing.take().is_some() {
            say!("the database answers again");
        }
        self.failures = 0;
        health.fleet(|fleet| {
            fleet.reached = Some(std::time::Instant::now());
            fleet.trouble = None;
        });
    }

    /// 1 s, doubling per failure, at most 30 s.
    fn backoff(&self) -> Duration {
        let doublings = self.failures.saturating_sub(1).min(5);
        Duration::from_secs(1 << doublings).min(Duration::from_secs(30))
    }
}

/// A random number for the holder's name (no cryptography needed: it only tells two
/// processes of one pod apart).
fn fastrand_u32() -> u32 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now()) as u32
}
