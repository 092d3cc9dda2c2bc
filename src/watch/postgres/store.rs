//! [`PgStore`]: a watch's state in PostgreSQL, one row per repository of the fleet, and an
//! events table written in the same transaction as the rows (a transactional outbox). Every
//! write first locks the fleet's lease row and checks the term's holder and epoch: a replica
//! taking the lease waits for the write to end, and a former holder's write is refused.
//!
//! Each handled event is inserted once (a unique index on the fleet, repository,
//! `created_at` and `ref`): writing the same events again (a save retried after a commit
//! whose answer was lost, a takeover that observes the push again) inserts nothing more.
//! A held item (a webhook delivery) is inserted before it is returned, `pending`, with its
//! whole event; handled, it is marked so (`handled_at`), given up, `given_up_at`. The next
//! term returns the pending events again, in id order, before it polls their repositories.
//! A save is two statements however many events waited: the events in order, then each
//! repository's row as its last event says. What a term handled but could not write
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
    watch::{Handled, LastSeen, Leadership, Pending, SeenEvents, StateError, WatchStore},
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
    pending: Vec<Pending>,
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
        let (client, rows, pending) = database
            .bounded(doing, SAVE_TIMEOUT, async {
                let client = database.connect().await?;
                let failed = |e| database.error(doing, e);
                let rows = client
                    .query(
                        "SELECT repository_id, created_at, ref FROM codearts_watch_repositories
                         WHERE fleet = $1",
                        &[&fleet],
                    )
                    .await
                    .map_err(failed)?;
                let pending = client
                    .query(
                        "SELECT repository_id, event::text, observed_at, baseline, id
                         FROM codearts_watch_events WHERE fleet = $1 AND pending ORDER BY id",
                        &[&fleet],
                    )
                    .await
                    .map_err(failed)?;
                Ok((client, rows, pending))
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
        // A pending event that cannot be read back stops the term: it would be lost. (A row
        // whose id is out of range this build cannot have written: it is left alone.)
        let mut pending_events = Vec::with_capacity(pending.len());
        for row in &pending {
            let Ok(id) = RepositoryId::new(row.get::<_, i64>(0)) else {
                continue;
            };
            let event = row.get::<_, Option<&str>>(1).unwrap_or("null");
            let event = serde_json::from_str(event).map_err(|e| {
                let row = row.get::<_, i64>(4);
                StateError::new(
                    format!("database {}", database.describe()),
                    format!(
                        "the pending event {row} of codearts_watch_events cannot be read \
                         ({e}): deliver it by hand, then set its pending to false"
                    ),
                    None,
                )
            })?;
            pending_events.push(Pending::new(id, event, row.get(2), row.get(3)));
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
            pending: pending_events,
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

/// Events as the statements' array parameters, in the order handled.
#[derive(Default)]
struct Columns {
    ids: Vec<i64>,
    created_at: Vec<Option<String>>,
    refs: Vec<Option<String>>,
    observed_at: Vec<SystemTime>,
    baseline: Vec<bool>,
    /// The whole event, as JSON: pending items only.
    events: Vec<Option<String>>,
}

/// What an insert of events writes besides the columns every row has, and how it updates
/// an event already recorded.
struct Upsert {
    columns: &'static str,
    values: &'static str,
    update: &'static str,
}

/// The events as rows of `input`, numbered in order (`n`).
const INPUT: &str = "WITH input AS (
    SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[], $5::bool[],
            $8::text[])
        WITH ORDINALITY AS t(repository_id, created_at, ref, observed_at, baseline, event, n)
)";

/// One row per event of `input`, in order (ON CONFLICT DO UPDATE takes each row once).
const DISTINCT_INPUT: &str = "(SELECT DISTINCT ON (repository_id, created_at, ref) *
    FROM input ORDER BY repository_id, created_at, ref, n) AS distinct_input";

impl Columns {
    fn of<'a>(events: impl IntoIterator<Item = &'a Handled>) -> Self {
        let mut columns = Self::default();
        for event in events {
            columns.push(event.repository_id, &event.seen, event.observed_at);
            columns.baseline.push(event.baseline);
            columns.events.push(None);
        }
        columns
    }

    fn of_pending(pending: &[Pending]) -> Result<Self, serde_json::Error> {
        let mut columns = Self::default();
        for item in pending {
            columns.push(item.repository_id, &item.seen(), item.observed_at);
            columns.baseline.push(item.baseline);
            columns
                .events
                .push(Some(serde_json::to_string(&item.event)?));
        }
        Ok(columns)
    }

    fn push(&mut self, id: RepositoryId, seen: &LastSeen, observed_at: SystemTime) {
        self.ids.push(i64::from(id.get()));
        let created_at = seen.created_at.as_ref().map(|t| t.as_str().to_owned());
        self.created_at.push(created_at);
        self.refs.push(seen.git_ref.clone());
        self.observed_at.push(observed_at);
    }

    /// Runs `statement` (which starts with [`INPUT`]) with these columns, the fleet ($6)
    /// and the epoch ($7).
    async fn run(
        &self,
        client: &impl GenericClient,
        statement: &str,
        fleet: &str,
        epoch: i64,
    ) -> Result<u64, tokio_postgres::Error> {
        let statement = format!("{INPUT} {statement}");
        let parameters: [&(dyn tokio_postgres::types::ToSql + Sync); 8] = [
            &self.ids,
            &self.created_at,
            &self.refs,
            &self.observed_at,
            &self.baseline,
            &fleet,
            &epoch,
            &self.events,
        ];
        client.execute(&statement, &parameters).await
    }

    /// Every event, in order, handled now; a push already recorded is not recorded again,
    /// only marked handled (and no longer pending).
    async fn insert_events(
        &self,
        client: &impl GenericClient,
        fleet: &str,
        epoch: i64,
    ) -> Result<u64, tokio_postgres::Error> {
        let upsert = Upsert {
            columns: "handled_at",
            values: "now()",
            update: "pending = false, handled_at = coalesce(e.handled_at, now())
                WHERE e.pending OR e.handled_at IS NULL",
        };
        self.upsert_events(client, fleet, epoch, upsert).await
    }

    /// Pending items, in order, with their whole events: recorded again (a takeover that
    /// observes one anew, an item given up then observed again), pending again, unless it
    /// was handled.
    async fn insert_pending(
        &self,
        client: &impl GenericClient,
        fleet: &str,
        epoch: i64,
    ) -> Result<u64, tokio_postgres::Error> {
        let upsert = Upsert {
            columns: "event, pending",
            values: "event::jsonb, true",
            update: "pending = true, event = excluded.event, given_up_at = NULL,
                observed_at = excluded.observed_at, epoch = excluded.epoch
                WHERE e.handled_at IS NULL",
        };
        self.upsert_events(client, fleet, epoch, upsert).await
    }

    /// Inserts each event once, in order, with `upsert`'s columns; an event already in the
    /// table (`e`) gets `upsert`'s update instead.
    async fn upsert_events(
        &self,
        client: &impl GenericClient,
        fleet: &str,
        epoch: i64,
        Upsert {
            columns,
            values,
            update,
        }: Upsert,
    ) -> Result<u64, tokio_postgres::Error> {
        let statement = format!(
            "INSERT INTO codearts_watch_events AS e
                (fleet, repository_id, ref, created_at, baseline, observed_at, epoch, {columns})
             SELECT $6, repository_id, ref, created_at, baseline, observed_at, $7, {values}
             FROM {DISTINCT_INPUT} ORDER BY n
             ON CONFLICT (fleet, repository_id, created_at, ref) DO UPDATE SET {update}"
        );
        self.run(client, &statement, fleet, epoch).await
    }

    /// Pending items given up: no longer pending.
    async fn give_up(
        &self,
        client: &impl GenericClient,
        fleet: &str,
        epoch: i64,
    ) -> Result<u64, tokio_postgres::Error> {
        let statement = "UPDATE codearts_watch_events AS e
             SET pending = false, given_up_at = now(), epoch = $7
             FROM input i
             WHERE e.fleet = $6 AND e.repository_id = i.repository_id
                AND e.created_at IS NOT DISTINCT FROM i.created_at
                AND e.ref IS NOT DISTINCT FROM i.ref AND e.pending";
        self.run(client, statement, fleet, epoch).await
    }

    /// Each repository's row, as its last event says.
    async fn upsert_rows(
        &self,
        client: &impl GenericClient,
        fleet: &str,
        epoch: i64,
    ) -> Result<u64, tokio_postgres::Error> {
        let statement = "INSERT INTO codearts_watch_repositories AS r
                (fleet, repository_id, created_at, ref, epoch, updated_at)
             SELECT DISTINCT ON (repository_id) $6, repository_id, created_at, ref, $7, now()
             FROM input ORDER BY repository_id, n DESC
             ON CONFLICT (fleet, repository_id) DO UPDATE SET
                created_at = excluded.created_at, ref = excluded.ref,
                epoch = excluded.epoch, updated_at = excluded.updated_at
             WHERE (r.created_at, r.ref) IS DISTINCT FROM (excluded.created_at, excluded.ref)";
        self.run(client, statement, fleet, epoch).await
    }

    /// First observations: a row for each repository that has none, and its baseline.
    async fn insert_firsts(
        &self,
        client: &impl GenericClient,
        fleet: &str,
        epoch: i64,
    ) -> Result<u64, tokio_postgres::Error> {
        let statement = ", written AS (
                INSERT INTO codearts_watch_repositories
                    (fleet, repository_id, created_at, ref, epoch, updated_at)
                SELECT DISTINCT ON (repository_id) $6, repository_id, created_at, ref, $7, now()
                FROM input ORDER BY repository_id, n
                ON CONFLICT (fleet, repository_id) DO NOTHING
                RETURNING repository_id
             )
             INSERT INTO codearts_watch_events
                (fleet, repository_id, ref, created_at, baseline, observed_at, epoch)
             SELECT DISTINCT ON (i.repository_id) $6, i.repository_id, i.ref, i.created_at,
                true, i.observed_at, $7
             FROM written w JOIN input i USING (repository_id) ORDER BY i.repository_id, i.n
             ON CONFLICT (fleet, repository_id, created_at, ref) DO NOTHING";
        self.run(client, statement, fleet, epoch).await
    }
}

/// Records `events`, which a former term of this process handled but could not write
/// ([`Unrecorded`]), as events only: the rows are the current holder's. Under the lease
/// row's lock, so that event ids are still committed in increasing order; an event already
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
            let recorded = Columns::of(events)
                .insert_events(&transaction, fleet, epoch)
                .await
                .map_err(failed)?;
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

    /// The events, in one statement, then each repository's row as its last event says, in
    /// another: two statements however many events waited.
    fn save_handled(&mut self, _seen: &SeenEvents, handled: &[Handled]) -> Result<(), StateError> {
        if handled.is_empty() {
            return Ok(());
        }
        let columns = Columns::of(handled);
        let outcome = self.fenced(
            "cannot record the events",
            async |transaction, fleet, epoch| {
                columns.insert_events(transaction, fleet, epoch).await?;
                columns.upsert_rows(transaction, fleet, epoch).await?;
                Ok(())
            },
        );
        match &outcome {
            Ok(()) => self.unrecorded.set(&[]),
            Err(_) => self.unrecorded.set(handled),
        }
        outcome
    }

    fn record_pending(&mut self, pending: &[Pending]) -> Result<(), StateError> {
        let columns = Columns::of_pending(pending).map_err(|e| {
            let store = format!("database {}", self.database.describe());
            StateError::new(store, format!("cannot record a pending event: {e}"), None)
        })?;
        self.fenced(
            "cannot record the pending events",
            async |transaction, fleet, epoch| {
                columns
                    .insert_pending(transaction, fleet, epoch)
                    .await
                    .map(drop)
            },
        )
    }

    fn load_pending(&mut self) -> Result<Vec<Pending>, StateError> {
        Ok(std::mem::take(&mut self.pending))
    }

    fn give_up(&mut self, given_up: &[Handled]) -> Result<(), StateError> {
        let columns = Columns::of(given_up);
        self.fenced(
            "cannot record the events given up",
            async |transaction, fleet, epoch| {
                columns.give_up(transaction, fleet, epoch).await.map(drop)
            },
        )
    }

    fn record_new(&mut self, first: &[(RepositoryId, LastSeen)]) -> Result<(), StateError> {
        let now = SystemTime::now();
        let firsts: Vec<Handled> = first
            .iter()
            .map(|(id, seen)| {
                let mut event = Handled::new(*id, seen.clone());
                (event.observed_at, event.baseline) = (now, true);
                event
            })
            .collect();
        let columns = Columns::of(&firsts);
        self.fenced(
            "cannot record the baselines",
            async |transaction, fleet, epoch| {
                columns
                    .insert_firsts(transaction, fleet, epoch)
                    .await
                    .map(drop)
            },
        )
    }
}
