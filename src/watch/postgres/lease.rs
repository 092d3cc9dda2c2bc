//! One active watcher among the replicas: a lease row in the database, taken only once it
//! has expired by the database server's clock (the replicas' clocks are never compared),
//! renewed by its holder, and an epoch that grows at each taking, carried by every write of
//! the holder's (a fencing token: once another replica took the lease, a paused or
//! partitioned former holder's writes are refused, see `store.rs`).
//!
//! The holder counts its lease on its own monotonic clock from the moment it *sent* each
//! renewal, and stops a fifth of the lease before the database would let a standby take it
//! over: the database's expiry is at least `ttl` after that moment. Its polls check the lease
//! right before each request leaves ([`crate::watch::Leadership`]). A transaction that a
//! paused holder leaves open holding the lease row ends within the session's idle timeout
//! (`connect.rs`), so a standby never waits behind it for long.

use std::time::Duration;

use tokio::{task::JoinHandle, time::Instant};
use tokio_postgres::Client;

use super::Database;
use crate::watch::{Leadership, StateError};

/// The lease's length by default: a standby takes over at most this long (plus its retry
/// period) after the holder last renewed.
pub const DEFAULT_TTL: Duration = Duration::from_secs(10);

/// How long one statement on the lease may take, connecting included.
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

    /// Takes the lease if it is free or expired: `Ok(Err(self))` with the election back when
    /// another replica holds it.
    pub async fn try_acquire(mut self) -> Result<Result<Term, Self>, (Self, StateError)> {
        // Looked at first without a lock: a standby asking every second writes nothing,
        // and never waits behind the holder's transactions, while the lease is held.
        let held = self.holder_now().await;
        if let Ok(Some(lease)) = &held
            && !lease.expired
            && lease.holder != self.holder
        {
            return Ok(Err(self));
        }
        if let Err(error) = held {
            return Err((self, error));
        }
        let sent = Instant::now();
        let (name, holder, ttl) = (
            self.name.clone(),
            self.holder.clone(),
            self.ttl.as_secs_f64(),
        );
        // A holder that took the lease without hearing so (its answer was lost) takes it
        // again, with a new epoch, rather than waiting for it to expire.
        let taken = on_lease(
            &self.database,
            &mut self.client,
            "cannot take the lease",
            async |client| {
                let row = client
                    .query_opt(
                        "INSERT INTO codearts_watch_lease AS l
                             (name, holder, epoch, acquired_at, renewed_at, expires_at)
                         VALUES ($1, $2, 1, now(), now(), now() + make_interval(secs => $3))
                         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,
                             epoch = l.epoch + 1, acquired_at = now(), renewed_at = now(),
                             expires_at = excluded.expires_at
                         WHERE l.expires_at <= now() OR l.holder = excluded.holder
                         RETURNING epoch",
                        &[&name, &holder, &ttl],
                    )
                    .await?;
                Ok(row.map(|row| row.get::<_, i64>(0)))
            },
        )
        .await;
        let epoch = match taken {
            Ok(Some(epoch)) => epoch,
            Ok(None) => return Ok(Err(self)),
            Err(error) => return Err((self, error)),
        };
        let leadership = Leadership::held_until(sent + self.ttl - self.ttl / 5);
        let keeper = tokio::spawn(keep(
            self.database.clone(),
            self.name.clone(),
            self.holder.clone(),
            epoch,
            self.ttl,
            leadership.clone(),
        ));
        Ok(Ok(Term {
            epoch,
            keeper: Keeper(keeper, leadership.clone()),
            leadership,
            election: self,
        }))
    }

    /// Who holds the lease now, if anyone ever took it.
    pub async fn holder_now(&mut self) -> Result<Option<LeaseHolder>, StateError> {
        let name = self.name.clone();
        on_lease(
            &self.database,
            &mut self.client,
            "cannot read the lease",
            async |client| {
                let row = client
                    .query_opt(
                        "SELECT holder, epoch, expires_at <= now() FROM codearts_watch_lease
                         WHERE name = $1",
                        &[&name],
                    )
                    .await?;
                Ok(row.map(|row| LeaseHolder {
                    holder: row.get(0),
                    epoch: row.get(1),
                    expired: row.get(2),
                }))
            },
        )
        .await
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

    /// This process's name as the lease's holder.
    pub fn holder(&self) -> &str {
        &self.election.holder
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
        let (name, holder) = (election.name.clone(), election.holder.clone());
        let released = on_lease(
            &election.database,
            &mut election.client,
            "cannot release the lease",
            async |client| {
                client
                    .execute(
                        "UPDATE codearts_watch_lease SET expires_at = now()
                         WHERE name = $1 AND holder = $2 AND epoch = $3",
                        &[&name, &holder, &epoch],
                    )
                    .await
            },
        )
        .await;
        if let Err(error) = released {
            tracing::debug!(target: "codearts_repo::watch", %error, "lease not released");
        }
        election
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
    let seconds = ttl.as_secs_f64();
    let mut next = Instant::now() + period;
    loop {
        tokio::time::sleep_until(next).await;
        let sent = Instant::now();
        let renewed = on_lease(
            &database,
            &mut client,
            "cannot renew the lease",
            async |client| {
                client
                    .execute(
                        "UPDATE codearts_watch_lease
                         SET renewed_at = now(), expires_at = now() + make_interval(secs => $4)
                         WHERE name = $1 AND holder = $2 AND epoch = $3",
                        &[&name, &holder, &epoch, &seconds],
                    )
                    .await
            },
        )
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
                tracing::debug!(target: "codearts_repo::watch", %error, "lease not renewed");
                next = Instant::now() + period.min(Duration::from_secs(1));
            }
        }
    }
}

/// One statement on the lease over `client`, bounded by [`STATEMENT_TIMEOUT`].
async fn on_lease<T>(
    database: &Database,
    client: &mut Option<Client>,
    doing: &str,
    run: impl AsyncFnOnce(&Client) -> Result<T, tokio_postgres::Error>,
) -> Result<T, StateError> {
    database
        .on(client, doing, STATEMENT_TIMEOUT, async |client| {
            run(client).await.map_err(|e| database.error(doing, e))
        })
        .await
}
