//! [`PgStore`]: a watch's state in PostgreSQL, one row per repository, and an events table
//! written in the same transaction as the rows (a transactional outbox). Every write first
//! takes the lease row `FOR SHARE` and checks the term's epoch: a replica that took the lease
//! since waits for the write to end, and a former holder's write is refused.
//!
//! An event is inserted when a repository's row changes, and at most once per push (a
//! unique index on the repository, `created_at` and `ref`): writing the same handled events
//! again (a save retried after a commit whose answer was lost, a takeover that observes the
//! push again) inserts nothing more.

use std::time::{Duration, SystemTime};

use tokio::runtime::Handle;
use tokio_postgres::{Client, GenericClient};

use super::{Database, Term};
use crate::{
    RepositoryId, Timestamp,
    watch::{Handled, LastSeen, Leadership, SeenEvents, StateError, WatchStore},
};

/// How long one save (one transaction) may take before it counts as failed.
const SAVE_TIMEOUT: Duration = Duration::from_secs(10);

/// The watch's state in PostgreSQL, written under a [`Term`]'s epoch. Its methods are called
/// from blocking threads, as [`WatchStore`]'s are; it reconnects after a lost connection.
pub struct PgStore {
    runtime: Handle,
    database: Database,
    client: Option<Client>,
    lease: String,
    epoch: i64,
    leadership: Leadership,
    loaded: Option<SeenEvents>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("database", &self.database)
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Reads every repository's last event (what [`WatchStore::load`] then returns), for
    /// writes under `term`. Must be called within a tokio runtime, which later writes use.
    pub async fn open(term: &Term) -> Result<Self, StateError> {
        let database = term.database().clone();
        let client = database.connect().await?;
        let rows = client
            .query(
                "SELECT repository_id, created_at, ref FROM codearts_watch_repositories",
                &[],
            )
            .await
            .map_err(|e| database.error("cannot read the repositories", e))?;
        let mut loaded = SeenEvents::with_capacity(rows.len());
        for row in rows {
            let id: i64 = row.get(0);
            // A row this build cannot have written (an id out of range) is left alone.
            let Ok(id) = RepositoryId::new(id) else {
                continue;
            };
            let created_at: Option<String> = row.get(1);
            let seen = LastSeen {
                created_at: created_at.map(Timestamp::from),
                git_ref: row.get(2),
            };
            loaded.insert(id, seen);
        }
        Ok(Self {
            runtime: Handle::current(),
            database,
            client: Some(client),
            lease: term.name().to_owned(),
            epoch: term.epoch(),
            leadership: term.leadership().clone(),
            loaded: Some(loaded),
        })
    }

    /// Runs `write` in one transaction that holds the lease row and checks this term's epoch.
    fn fenced<F>(&mut self, doing: &'static str, write: F) -> Result<(), StateError>
    where
        F: AsyncFnOnce(&tokio_postgres::Transaction<'_>) -> Result<(), tokio_postgres::Error>,
    {
        let Self {
            runtime,
            database,
            client,
            lease,
            epoch,
            leadership,
            ..
        } = self;
        let epoch = *epoch;
        let outcome = runtime.block_on(async {
            tokio::time::timeout(SAVE_TIMEOUT, async {
                if client.as_ref().is_none_or(Client::is_closed) {
                    *client = Some(database.connect().await?);
                }
                let connection = client.as_mut().expect("connected just above");
                let transaction = connection
                    .transaction()
                    .await
                    .map_err(|e| database.error(doing, e))?;
                let held: Option<i64> = transaction
                    .query_opt(
                        "SELECT epoch FROM codearts_watch_lease WHERE name = $1 FOR SHARE",
                        &[&*lease],
                    )
                    .await
                    .map_err(|e| database.error(doing, e))?
                    .map(|row| row.get(0));
                if held != Some(epoch) {
                    leadership.revoke();
                    return Err(StateError::new(
                        format!("database {}", database.describe()),
                        format!(
                            "{doing}: refused, the lease was taken over (epoch {} since {epoch})",
                            held.map_or("none".into(), |held| held.to_string())
                        ),
                        None,
                    ));
                }
                write(&transaction)
                    .await
                    .map_err(|e| database.error(doing, e))?;
                transaction
                    .commit()
                    .await
                    .map_err(|e| database.error(doing, e))
            })
            .await
            .unwrap_or_else(|_| {
                Err(StateError::new(
                    format!("database {}", database.describe()),
                    format!("{doing}: not done within {}s", SAVE_TIMEOUT.as_secs()),
                    None,
                ))
            })
        });
        if outcome.is_err() {
            // A connection in an unknown state (a timed-out transaction) is not reused.
            *client = None;
        }
        outcome
    }
}

/// The columns of a batch of rows, as the statements' array parameters.
#[derive(Default)]
struct Columns {
    ids: Vec<i64>,
    created_at: Vec<Option<String>>,
    refs: Vec<Option<String>>,
    observed_at: Vec<SystemTime>,
}

impl Columns {
    fn push(&mut self, id: RepositoryId, seen: &LastSeen, observed_at: SystemTime) {
        self.ids.push(i64::from(id.get()));
        self.created_at
            .push(seen.created_at.as_ref().map(|t| t.as_str().to_owned()));
        self.refs.push(seen.git_ref.clone());
        self.observed_at.push(observed_at);
    }

    /// Writes the rows that changed, and an event for each: a baseline for a row that is
    /// new when `first`, else a push.
    async fn write(
        &self,
        transaction: &impl GenericClient,
        epoch: i64,
        first: bool,
    ) -> Result<u64, tokio_postgres::Error> {
        // Only a changed row is written, and only a written row has an event: writing the
        // same event again changes nothing.
        let statement = if first {
            "WITH input AS (
                SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[])
                    AS t(repository_id, created_at, ref, observed_at)
             ), written AS (
                INSERT INTO codearts_watch_repositories
                    (repository_id, created_at, ref, epoch, updated_at)
                SELECT repository_id, created_at, ref, $5, now() FROM input
                ON CONFLICT (repository_id) DO NOTHING
                RETURNING repository_id
             )
             INSERT INTO codearts_watch_events
                (repository_id, ref, created_at, baseline, observed_at, epoch)
             SELECT i.repository_id, i.ref, i.created_at, true, i.observed_at, $5
             FROM written w JOIN input i USING (repository_id) ORDER BY i.repository_id
             ON CONFLICT (repository_id, created_at, ref) DO NOTHING"
        } else {
            "WITH input AS (
                SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[])
                    AS t(repository_id, created_at, ref, observed_at)
             ), written AS (
                INSERT INTO codearts_watch_repositories AS r
                    (repository_id, created_at, ref, epoch, updated_at)
                SELECT repository_id, created_at, ref, $5, now() FROM input
                ON CONFLICT (repository_id) DO UPDATE SET created_at = excluded.created_at,
                    ref = excluded.ref, epoch = excluded.epoch, updated_at = excluded.updated_at
                WHERE (r.created_at, r.ref) IS DISTINCT FROM (excluded.created_at, excluded.ref)
                RETURNING repository_id, xmax = 0 AS inserted
             )
             INSERT INTO codearts_watch_events
                (repository_id, ref, created_at, baseline, observed_at, epoch)
             SELECT i.repository_id, i.ref, i.created_at, w.inserted, i.observed_at, $5
             FROM written w JOIN input i USING (repository_id) ORDER BY i.observed_at
             ON CONFLICT (repository_id, created_at, ref) DO NOTHING"
        };
        transaction
            .execute(
                statement,
                &[
                    &self.ids,
                    &self.created_at,
                    &self.refs,
                    &self.observed_at,
                    &epoch,
                ],
            )
            .await
    }
}

/// `handled` cut into batches in which each repository appears once, in order: one
/// statement cannot write a row twice.
fn batches(handled: &[Handled]) -> Vec<Columns> {
    let mut batches: Vec<Columns> = Vec::new();
    let mut next_batch_of = std::collections::HashMap::new();
    for event in handled {
        let index = next_batch_of.entry(event.repository_id).or_insert(0);
        if *index == batches.len() {
            batches.push(Columns::default());
        }
        batches[*index].push(event.repository_id, &event.seen, event.observed_at);
        *index += 1;
    }
    batches
}

impl WatchStore for PgStore {
    fn load(&mut self) -> Result<SeenEvents, StateError> {
        Ok(self.loaded.take().unwrap_or_default())
    }

    /// Writes each repository's row as in `seen`, without events (a program that calls
    /// `save` directly has no order of events to give).
    fn save(&mut self, seen: &SeenEvents) -> Result<(), StateError> {
        let mut columns = Columns::default();
        let now = SystemTime::now();
        for (id, last) in seen {
            columns.push(*id, last, now);
        }
        let epoch = self.epoch;
        self.fenced("cannot save the repositories", async |transaction| {
            transaction
                .execute(
                    "INSERT INTO codearts_watch_repositories AS r
                        (repository_id, created_at, ref, epoch, updated_at)
                     SELECT *, $4, now() FROM unnest($1::bigint[], $2::text[], $3::text[])
                     ON CONFLICT (repository_id) DO UPDATE SET created_at = excluded.created_at,
                        ref = excluded.ref, epoch = excluded.epoch, updated_at = excluded.updated_at
                     WHERE (r.created_at, r.ref) IS DISTINCT FROM (excluded.created_at, excluded.ref)",
                    &[&columns.ids, &columns.created_at, &columns.refs, &epoch],
                )
                .await
                .map(drop)
        })
    }

    fn save_handled(&mut self, _seen: &SeenEvents, handled: &[Handled]) -> Result<(), StateError> {
        if handled.is_empty() {
            return Ok(());
        }
        let batches = batches(handled);
        let epoch = self.epoch;
        self.fenced("cannot record the events", async |transaction| {
            for batch in &batches {
                batch.write(transaction, epoch, false).await?;
            }
            Ok(())
        })
    }

    fn record_new(&mut self, first: &[(RepositoryId, LastSeen)]) -> Result<(), StateError> {
        let mut columns = Columns::default();
        let now = SystemTime::now();
        for (id, seen) in first {
            columns.push(*id, seen, now);
        }
        let epoch = self.epoch;
        self.fenced("cannot record the baselines", async |transaction| {
            columns.write(transaction, epoch, true).await.map(drop)
        })
    }
}
