//! [`PgStore`]: a watch's state in PostgreSQL, one row per repository of the fleet, and an
//! events table written in the same transaction as the rows (a transactional outbox). Every
//! write first locks the fleet's lease row and checks the term's holder and epoch: a replica
//! taking the lease waits for the write to end, and a former holder's write is refused.
//!
//! An event is inserted when a repository's row changes, and at most once per push (a
//! unique index on the fleet, repository, `created_at` and `ref`): writing the same handled
//! events again (a save retried after a commit whose answer was lost, a takeover that
//! observes the push again) inserts nothing more. What a term handled but could not write
//! before it ended is [`Unrecorded`], for [`record_late`].

use std::{
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use tokio::runtime::Handle;
use tokio_postgres::{Client, GenericClient, Transaction};

use super::{Database, Term};
use crate::{
    RepositoryId, Timestamp,
    sync::lock,
    watch::{Handled, LastSeen, Leadership, SeenEvents, StateError, WatchStore},
};

/// How long one save (one transaction, connecting included) may take.
const SAVE_TIMEOUT: Duration = Duration::from_secs(10);

/// The watch's state in PostgreSQL, written under a [`Term`]'s epoch. Its methods are called
/// from blocking threads, as [`WatchStore`]'s are; it reconnects after a lost connection.
pub struct PgStore {
    runtime: Handle,
    database: Database,
    client: Option<Client>,
    fleet: String,
    holder: String,
    epoch: i64,
    leadership: Leadership,
    loaded: Option<SeenEvents>,
    unrecorded: Unrecorded,
}

/// Events a term handled (printed) whose last save failed: what [`record_late`] writes once
/// the term is over. Cheap to clone; empty while saves succeed.
#[derive(Clone, Debug, Default)]
pub struct Unrecorded(Arc<Mutex<Vec<Handled>>>);

impl Unrecorded {
    /// Takes the events, leaving none.
    pub fn take(&self) -> Vec<Handled> {
        std::mem::take(&mut *lock(&self.0))
    }

    fn set(&self, events: &[Handled]) {
        *lock(&self.0) = events.to_vec();
    }
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("database", &self.database)
            .field("fleet", &self.fleet)
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Reads every repository's last event in the term's fleet (what [`WatchStore::load`]
    /// then returns), for writes under `term`. Must be called within a tokio runtime, which
    /// later writes use.
    pub async fn open(term: &Term) -> Result<Self, StateError> {
        let database = term.database().clone();
        let fleet = term.name().to_owned();
        let doing = "cannot read the repositories";
        let (client, rows) = database
            .bounded(doing, SAVE_TIMEOUT, async {
                let client = database.connect().await?;
                let rows = client
                    .query(
                        "SELECT repository_id, created_at, ref FROM codearts_watch_repositories
                         WHERE fleet = $1",
                        &[&fleet],
                    )
                    .await
                    .map_err(|e| database.error(doing, e))?;
                Ok((client, rows))
            })
            .await?;
        let mut loaded = SeenEvents::with_capacity(rows.len());
        for row in rows {
            // A row this build cannot have written (an id out of range) is left alone.
            let Ok(id) = RepositoryId::new(row.get::<_, i64>(0)) else {
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
            fleet,
            holder: term.holder().to_owned(),
            epoch: term.epoch(),
            leadership: term.leadership().clone(),
            loaded: Some(loaded),
            unrecorded: Unrecorded::default(),
        })
    }

    /// What this store could not record, as it stands after each save.
    pub fn unrecorded(&self) -> Unrecorded {
        self.unrecorded.clone()
    }

    /// Runs `write` in one transaction that locks the lease row and checks this term's
    /// holder and epoch.
    fn fenced<F>(&mut self, doing: &'static str, write: F) -> Result<(), StateError>
    where
        F: AsyncFnOnce(&Transaction<'_>, &str, i64) -> Result<(), tokio_postgres::Error>,
    {
        let Self {
            runtime,
            database,
            client,
            fleet,
            holder,
            epoch,
            leadership,
            ..
        } = self;
        let epoch = *epoch;
        runtime.block_on(
            database.on(client, doing, SAVE_TIMEOUT, async |connection| {
                let failed = |e| database.error(doing, e);
                let transaction = connection.transaction().await.map_err(failed)?;
                let held = lock_lease(&transaction, fleet).await.map_err(failed)?;
                if held.as_ref() != Some(&(holder.clone(), epoch)) {
                    leadership.revoke();
                    let now = held.map_or("none".into(), |(_, epoch)| epoch.to_string());
                    return Err(StateError::new(
                        format!("database {}", database.describe()),
                        format!(
                            "{doing}: refused, the lease was taken over (epoch {now} since {epoch})"
                        ),
                        None,
                    ));
                }
                write(&transaction, fleet, epoch).await.map_err(failed)?;
                transaction.commit().await.map_err(failed)
            }),
        )
    }
}

/// Locks the fleet's lease row until the transaction ends: its holder and epoch.
async fn lock_lease(
    transaction: &Transaction<'_>,
    fleet: &str,
) -> Result<Option<(String, i64)>, tokio_postgres::Error> {
    let row = transaction
        .query_opt(
            "SELECT holder, epoch FROM codearts_watch_lease WHERE name = $1 FOR UPDATE",
            &[&fleet],
        )
        .await?;
    Ok(row.map(|row| (row.get(0), row.get(1))))
}

/// The columns of a batch of rows, as the statements' array parameters.
#[derive(Default)]
struct Columns {
    ids: Vec<i64>,
    created_at: Vec<Option<String>>,
    refs: Vec<Option<String>>,
    observed_at: Vec<SystemTime>,
}

/// What a batch writes: the rows that changed and an event for each, or events alone.
#[derive(Clone, Copy, PartialEq)]
enum Write {
    /// First observations: new rows, each with a baseline.
    Baselines,
    /// Handled events: the rows that changed, each with an event.
    Pushes,
    /// A former term's events: no row, since the current holder keeps them.
    EventsOnly,
}

impl Columns {
    fn push(&mut self, id: RepositoryId, seen: &LastSeen, observed_at: SystemTime) {
        self.ids.push(i64::from(id.get()));
        self.created_at
            .push(seen.created_at.as_ref().map(|t| t.as_str().to_owned()));
        self.refs.push(seen.git_ref.clone());
        self.observed_at.push(observed_at);
    }

    async fn write(
        &self,
        client: &impl GenericClient,
        fleet: &str,
        epoch: i64,
        what: Write,
    ) -> Result<u64, tokio_postgres::Error> {
        const INPUT: &str = "WITH input AS (
                SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[])
                    AS t(repository_id, created_at, ref, observed_at)
             )";
        // Only a written row has an event, and a push has one event at most.
        let statement = match what {
            Write::Baselines => format!(
                "{INPUT}, written AS (
                    INSERT INTO codearts_watch_repositories
                        (fleet, repository_id, created_at, ref, epoch, updated_at)
                    SELECT $5, repository_id, created_at, ref, $6, now() FROM input
                    ON CONFLICT (fleet, repository_id) DO NOTHING
                    RETURNING repository_id
                 )
                 INSERT INTO codearts_watch_events
                    (fleet, repository_id, ref, created_at, baseline, observed_at, epoch)
                 SELECT $5, i.repository_id, i.ref, i.created_at, true, i.observed_at, $6
                 FROM written w JOIN input i USING (repository_id) ORDER BY i.repository_id
                 ON CONFLICT (fleet, repository_id, created_at, ref) DO NOTHING"
            ),
            Write::Pushes => format!(
                "{INPUT}, written AS (
                    INSERT INTO codearts_watch_repositories AS r
                        (fleet, repository_id, created_at, ref, epoch, updated_at)
                    SELECT $5, repository_id, created_at, ref, $6, now() FROM input
                    ON CONFLICT (fleet, repository_id) DO UPDATE SET
                        created_at = excluded.created_at, ref = excluded.ref,
                        epoch = excluded.epoch, updated_at = excluded.updated_at
                    WHERE (r.created_at, r.ref) IS DISTINCT FROM (excluded.created_at, excluded.ref)
                    RETURNING repository_id, xmax = 0 AS inserted
                 )
                 INSERT INTO codearts_watch_events
                    (fleet, repository_id, ref, created_at, baseline, observed_at, epoch)
                 SELECT $5, i.repository_id, i.ref, i.created_at, w.inserted, i.observed_at, $6
                 FROM written w JOIN input i USING (repository_id) ORDER BY i.observed_at
                 ON CONFLICT (fleet, repository_id, created_at, ref) DO NOTHING"
            ),
            Write::EventsOnly => format!(
                "{INPUT}
                 INSERT INTO codearts_watch_events
                    (fleet, repository_id, ref, created_at, baseline, observed_at, epoch)
                 SELECT $5, repository_id, ref, created_at, false, observed_at, $6
                 FROM input ORDER BY observed_at
                 ON CONFLICT (fleet, repository_id, created_at, ref) DO NOTHING"
            ),
        };
        client
            .execute(
                &statement,
                &[
                    &self.ids,
                    &self.created_at,
                    &self.refs,
                    &self.observed_at,
                    &fleet,
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

/// Records `events`, which a former term of this process handled but could not write
/// ([`Unrecorded`]), as events only: the rows are the current holder's. Under the lease
/// row's lock, so that event ids are still committed in increasing order; a push already
/// recorded (the current holder saw it too) is not recorded again. The number recorded.
pub async fn record_late(
    database: &Database,
    fleet: &str,
    epoch: i64,
    events: &[Handled],
) -> Result<u64, StateError> {
    let doing = "cannot record a former term's events";
    database
        .bounded(doing, SAVE_TIMEOUT, async {
            let failed = |e| database.error(doing, e);
            let mut client = database.connect().await?;
            let transaction = client.transaction().await.map_err(failed)?;
            lock_lease(&transaction, fleet).await.map_err(failed)?;
            let mut recorded = 0;
            for batch in batches(events) {
                recorded += batch
                    .write(&transaction, fleet, epoch, Write::EventsOnly)
                    .await
                    .map_err(failed)?;
            }
            transaction.commit().await.map_err(failed)?;
            Ok(recorded)
        })
        .await
}

impl WatchStore for PgStore {
    fn load(&mut self) -> Result<SeenEvents, StateError> {
        Ok(self.loaded.take().unwrap_or_default())
    }

    /// Writes the events of `seen` whose rows differ, as handled now: a program that calls
    /// `save` alone (not [`WatchStore::save_handled`]) has no order of events to give.
    fn save(&mut self, seen: &SeenEvents) -> Result<(), StateError> {
        let now = SystemTime::now();
        let handled: Vec<Handled> = seen
            .iter()
            .map(|(id, last)| {
                let mut event = Handled::new(*id, last.clone());
                event.observed_at = now;
                event
            })
            .collect();
        self.save_handled(seen, &handled)
    }

    fn save_handled(&mut self, _seen: &SeenEvents, handled: &[Handled]) -> Result<(), StateError> {
        if handled.is_empty() {
            return Ok(());
        }
        let batches = batches(handled);
        let outcome = self.fenced(
            "cannot record the events",
            async |transaction, fleet, epoch| {
                for batch in &batches {
                    batch
                        .write(transaction, fleet, epoch, Write::Pushes)
                        .await?;
                }
                Ok(())
            },
        );
        match &outcome {
            Ok(()) => self.unrecorded.set(&[]),
            Err(_) => self.unrecorded.set(handled),
        }
        outcome
    }

    fn record_new(&mut self, first: &[(RepositoryId, LastSeen)]) -> Result<(), StateError> {
        let mut columns = Columns::default();
        let now = SystemTime::now();
        for (id, seen) in first {
            columns.push(*id, seen, now);
        }
        self.fenced(
            "cannot record the baselines",
            async |transaction, fleet, epoch| {
                columns
                    .write(transaction, fleet, epoch, Write::Baselines)
                    .await
                    .map(drop)
            },
        )
    }
}
