//! One active watcher among the replicas: a lease row in the database, taken only once it
//! has expired by the database's clock (so no node's clock is trusted), renewed by its
//! holder, and an epoch that grows at each taking, carried by every write of the holder's
//! (a fencing token: once another replica took the lease, a paused or partitioned former
//! holder's writes are refused, see `store.rs`).
//!
//! The holder counts its lease on its own monotonic clock from the moment it *sent* each
//! renewal, and stops a margin before the database would let a standby take it over: the
//! database's expiry is at least `ttl` after that moment, the holder's end at most
//! `ttl - margin`. Its polls check the lease right before each request leaves
//! ([`crate::watch::Leadership`]).

use std::time::Duration;

use tokio::{task::JoinHandle, time::Instant};
use tokio_postgres::Client;

use super::Database;
use crate::watch::{Leadership, StateError};

/// The lease's length by default: a standby takes over at most this long (plus its retry
/// period) after the holder last renewed.
pub const DEFAULT_TTL: Duration = Duration::from_secs(10);

/// How long one statement on the lease may take.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(3);

/// Replicas that compete for one lease, as one of them.
#[derive(Debug)]
pub struct Election {
    database: Database,
    name: String,
    holder: String,
    ttl: Duration,
    client: Option<Client>,
}

/// The lease, as a replica sees it: who holds it, and until when.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LeaseHolder {
    /// The holder's name (its pod's, and its process's).
    pub holder: String,
    /// How many times the lease was taken.
    pub epoch: i64,
    /// Whether it expired by the database's clock (then the next try takes it).
    pub expired: bool,
}

/// A term as the active watcher: the lease's epoch, and the lease as this process counts it
/// (renewed in the background until it is lost or [`Term::release`]d).
#[derive(Debug)]
pub struct Term {
    epoch: i64,
    leadership: Leadership,
    keeper: Keeper,
    election: Election,
}

impl Election {
    /// Competes for the lease `name` (one per fleet: replicas of one fleet share it) as
    /// `holder` (unique per process: a restarted process is a new holder).
    pub fn new(database: Database, name: impl Into<String>, holder: impl Into<String>) -> Self {
        Self {
            database,
            name: name.into(),
            holder: holder.into(),
            ttl: DEFAULT_TTL,
            client: None,
        }
    }

    /// The lease's length (default [`DEFAULT_TTL`]; at least 2 s). A holder renews it five
    /// times per length, and stops polling a fifth of it before it would expire.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl.max(Duration::from_secs(2));
        self
    }

    /// The database this election runs in.
    pub fn database(&self) -> &Database {
        &self.database
    }

    /// The lease's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Takes the lease if it is free or expired: `Ok(Err(self))` with the election back when
    /// another replica holds it.
    pub async fn try_acquire(mut self) -> Result<Result<Term, Self>, (Self, StateError)> {
        let sent = Instant::now();
        let taken = self
            .statement(
                "INSERT INTO codearts_watch_lease AS l
                     (name, holder, epoch, acquired_at, renewed_at, expires_at)
                 VALUES ($1, $2, 1, now(), now(), now() + make_interval(secs => $3))
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,
                     epoch = l.epoch + 1, acquired_at = now(), renewed_at = now(),
                     expires_at = excluded.expires_at
                 WHERE l.expires_at <= now()
                 RETURNING epoch",
                "cannot take the lease",
            )
            .await;
        let epoch = match taken {
            Ok(Some(epoch)) => epoch,
            Ok(None) => return Ok(Err(self)),
            Err(error) => return Err((self, error)),
        };
        let leadership = Leadership::held_until(self.held_until(sent));
        let keeper = tokio::spawn(keep(
            self.database.clone(),
            self.name.clone(),
            self.holder.clone(),
            epoch,
            self.ttl,
            leadership.clone(),
        ));
        let keeper = Keeper(keeper, leadership.clone());
        Ok(Ok(Term {
            epoch,
            leadership,
            keeper,
            election: self,
        }))
    }

    /// Who holds the lease now, if anyone ever took it.
    pub async fn holder(&mut self) -> Result<Option<LeaseHolder>, StateError> {
        let name = self.name.clone();
        let client = self.client().await?;
        let row = tokio::time::timeout(
            STATEMENT_TIMEOUT,
            client.query_opt(
                "SELECT holder, epoch, expires_at <= now() FROM codearts_watch_lease
                 WHERE name = $1",
                &[&name],
            ),
        )
        .await;
        match row {
            Ok(Ok(row)) => Ok(row.map(|row| LeaseHolder {
                holder: row.get(0),
                epoch: row.get(1),
                expired: row.get(2),
            })),
            Ok(Err(error)) => {
                self.client = None;
                Err(self.database.error("cannot read the lease", error))
            }
            Err(_) => {
                self.client = None;
                Err(timed_out(&self.database, "reading the lease"))
            }
        }
    }

    /// Until when a lease renewed by a statement sent at `sent` is held, as this process
    /// counts it: a fifth of the length before the database lets another take it.
    fn held_until(&self, sent: Instant) -> Instant {
        sent + self.ttl - self.ttl / 5
    }

    async fn client(&mut self) -> Result<&Client, StateError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = Some(self.database.connect().await?);
        }
        Ok(self.client.as_ref().expect("connected just above"))
    }

    /// Runs `sql` with (name, holder, ttl in seconds), returning the first column of its row.
    async fn statement(&mut self, sql: &str, doing: &str) -> Result<Option<i64>, StateError> {
        let (name, holder, ttl) = (self.name.clone(), self.holder.clone(), self.ttl.as_secs_f64());
        let client = self.client().await?;
        let row = tokio::time::timeout(
            STATEMENT_TIMEOUT,
            client.query_opt(sql, &[&name, &holder, &ttl]),
        )
        .await;
        match row {
            Ok(Ok(row)) => Ok(row.map(|row| row.get(0))),
            Ok(Err(error)) => {
                self.client = None;
                Err(self.database.error(doing, error))
            }
            Err(_) => {
                self.client = None;
                Err(timed_out(&self.database, doing))
            }
        }
    }
}

impl Term {
    /// The lease's epoch in this term: every write of this term carries it.
    pub fn epoch(&self) -> i64 {
        self.epoch
    }

    /// The lease as this process counts it, for [`crate::watch::WatchOptions::leadership`].
    pub fn leadership(&self) -> &Leadership {
        &self.leadership
    }

    /// The lease's name.
    pub fn name(&self) -> &str {
        &self.election.name
    }

    /// The database of the election.
    pub fn database(&self) -> &Database {
        &self.election.database
    }

    /// Waits until the lease is lost: taken over, or not renewed in time.
    pub async fn lost(&self) {
        while let Some(left) = self.leadership.left() {
            tokio::time::sleep(left.min(Duration::from_millis(100))).await;
        }
    }

    /// Ends the term: stops renewing and, if the lease is still this term's, lets it expire
    /// now, so that a standby takes over at its next try rather than after the lease's
    /// length (a rolling update). The election is given back, to compete again.
    pub async fn release(self) -> Election {
        let Self {
            epoch,
            keeper,
            mut election,
            ..
        } = self;
        drop(keeper);
        let released = election
            .statement_with_epoch(
                "UPDATE codearts_watch_lease SET expires_at = now()
                 WHERE name = $1 AND holder = $2 AND epoch = $3",
                epoch,
            )
            .await;
        if let Err(error) = released {
            tracing::debug!(target: "codearts_repo::watch", %error, "lease not released");
        }
        election
    }
}

impl Election {
    async fn statement_with_epoch(&mut self, sql: &str, epoch: i64) -> Result<u64, StateError> {
        let (name, holder) = (self.name.clone(), self.holder.clone());
        let client = self.client().await?;
        match tokio::time::timeout(STATEMENT_TIMEOUT, client.execute(sql, &[&name, &holder, &epoch]))
            .await
        {
            Ok(Ok(count)) => Ok(count),
            Ok(Err(error)) => Err(self.database.error("cannot release the lease", error)),
            Err(_) => Err(timed_out(&self.database, "releasing the lease")),
        }
    }
}

/// The task that renews a term's lease, stopped (and the lease counted as lost) when the
/// term ends however it ends.
#[derive(Debug)]
struct Keeper(JoinHandle<()>, Leadership);

impl Drop for Keeper {
    fn drop(&mut self) {
        self.0.abort();
        self.1.revoke();
    }
}

/// Renews the lease five times per length while it is held; revokes it when the database
/// says another took it. A renewal that fails (the database is away) is tried again every
/// second: the lease then ends by itself, on time, as `leadership` counts it.
async fn keep(
    database: Database,
    name: String,
    holder: String,
    epoch: i64,
    ttl: Duration,
    leadership: Leadership,
) {
    let mut client: Option<Client> = None;
    let period = ttl / 5;
    let mut next = Instant::now() + period;
    loop {
        tokio::time::sleep_until(next).await;
        let sent = Instant::now();
        let renewed = async {
            if client.as_ref().is_none_or(Client::is_closed) {
                client = Some(database.connect().await?);
            }
            let connected = client.as_ref().expect("connected just above");
            let seconds = ttl.as_secs_f64();
            let answered = tokio::time::timeout(
                STATEMENT_TIMEOUT,
                connected.execute(
                    "UPDATE codearts_watch_lease
                     SET renewed_at = now(), expires_at = now() + make_interval(secs => $4)
                     WHERE name = $1 AND holder = $2 AND epoch = $3",
                    &[&name, &holder, &epoch, &seconds],
                ),
            )
            .await;
            match answered {
                Ok(Ok(count)) => Ok(count),
                Ok(Err(error)) => Err(database.error("cannot renew the lease", error)),
                Err(_) => Err(timed_out(&database, "renewing the lease")),
            }
        }
        .await;
        match renewed {
            Ok(1) => {
                leadership.extend_to(sent + ttl - ttl / 5);
                next = sent + period;
            }
            Ok(_) => {
                // Taken over: another replica holds a later epoch.
                leadership.revoke();
                return;
            }
            Err(error) => {
                client = None;
                tracing::debug!(target: "codearts_repo::watch", %error, "lease not renewed");
                next = Instant::now() + period.min(Duration::from_secs(1));
            }
        }
    }
}

fn timed_out(database: &Database, doing: &str) -> StateError {
    StateError::new(
        format!("database {}", database.describe()),
        format!("{doing}: no answer within {}s", STATEMENT_TIMEOUT.as_secs()),
        None,
    )
}
