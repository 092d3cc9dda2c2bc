//! The tables, created and migrated by the watch itself: versioned, idempotent, and safe
//! when several replicas start at once (one migrates under a transaction-scoped advisory
//! lock; the others wait for it, then find nothing left to do).

use tokio_postgres::Client;

use super::Database;
use crate::watch::StateError;

/// The advisory lock's key: any fixed number, the same for every replica ("codearts" in
/// ASCII, folded into 63 bits).
const MIGRATION_LOCK: i64 = 0x636f_6465_6172_7473 & i64::MAX;

/// Each version's statements, in order: a released migration is never edited, only
/// followed by a new one.
const MIGRATIONS: &[&str] = &[
    // 1: per fleet (the lease's name), the lease, each repository's last event, the events,
    // what the limiter learned.
    "CREATE TABLE codearts_watch_lease (
        name text PRIMARY KEY,
        holder text NOT NULL,
        epoch bigint NOT NULL,
        acquired_at timestamptz NOT NULL,
        renewed_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL
    );
    CREATE TABLE codearts_watch_repositories (
        fleet text NOT NULL,
        repository_id bigint NOT NULL,
        created_at text,
        ref text,
        epoch bigint NOT NULL,
        updated_at timestamptz NOT NULL,
        PRIMARY KEY (fleet, repository_id)
    );
    -- The events are also the outbox of held items (webhook deliveries): an event is
    -- recorded `pending` with its whole `event` before it is sent; `handled_at` says when
    -- its handling was recorded (a delivery: after the receiver answered 2xx), `given_up_at`
    -- when it was given up (refused for good).
    CREATE TABLE codearts_watch_events (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        fleet text NOT NULL,
        repository_id bigint NOT NULL,
        ref text,
        created_at text,
        baseline boolean NOT NULL,
        observed_at timestamptz NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now(),
        epoch bigint NOT NULL,
        event jsonb,
        pending boolean NOT NULL DEFAULT false,
        handled_at timestamptz,
        given_up_at timestamptz
    );
    CREATE INDEX codearts_watch_events_by_fleet ON codearts_watch_events (fleet, id);
    CREATE INDEX codearts_watch_events_pending ON codearts_watch_events (fleet, id)
        WHERE pending;
    -- One row per push: a journal written again after a commit whose answer was lost, or
    -- recorded late by a former leader, finds its events there.
    CREATE UNIQUE INDEX codearts_watch_events_once ON codearts_watch_events
        (fleet, repository_id, created_at, ref) NULLS NOT DISTINCT;
    CREATE TABLE codearts_watch_pacing (
        name text PRIMARY KEY,
        allowed_rate double precision,
        stated_policy double precision,
        epoch bigint NOT NULL,
        updated_at timestamptz NOT NULL
    );
    CREATE FUNCTION codearts_watch_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('codearts_watch_events', NEW.id::text);
        RETURN NULL;
    END $$;
    CREATE TRIGGER codearts_watch_events_notify AFTER INSERT ON codearts_watch_events
        FOR EACH ROW EXECUTE FUNCTION codearts_watch_notify();",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// Brings the database's tables to [`SCHEMA_VERSION`]; refuses a database that a newer
/// version migrated further.
pub(crate) async fn migrate(database: &Database, client: &mut Client) -> Result<(), StateError> {
    let failed = |e| database.error("cannot migrate the schema", e);
    let version: i32 = client
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await
        .map_err(failed)?
        .get(0);
    if version < 150_000 {
        return Err(StateError::new(
            format!("database {}", database.describe()),
            format!("PostgreSQL 15 or later is needed; this server is {version}"),
            None,
        ));
    }
    let transaction = client.transaction().await.map_err(failed)?;
    // A migration may wait for another replica's, and take its time: not the watch's
    // statements' bounds (migrate() has its own).
    transaction
        .batch_execute("SET LOCAL lock_timeout = 0; SET LOCAL statement_timeout = 0")
        .await
        .map_err(failed)?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(failed)?;
    transaction
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS codearts_watch_schema (
                version integer NOT NULL, migrated_at timestamptz NOT NULL)",
        )
        .await
        .map_err(failed)?;
    let found: i32 = transaction
        .query_opt("SELECT max(version) FROM codearts_watch_schema", &[])
        .await
        .map_err(failed)?
        .and_then(|row| row.get::<_, Option<i32>>(0))
        .unwrap_or(0);
    if found > SCHEMA_VERSION {
        return Err(StateError::new(
            format!("database {}", database.describe()),
            format!(
                "its schema is at version {found}, newer than this build's {SCHEMA_VERSION}: \
                 a newer codearts migrated it; run that version"
            ),
            None,
        ));
    }
    for (version, statements) in (found + 1..).zip(&MIGRATIONS[found as usize..]) {
        transaction
            .batch_execute(statements)
            .await
            .map_err(failed)?;
        transaction
            .execute(
                "INSERT INTO codearts_watch_schema (version, migrated_at) VALUES ($1, now())",
                &[&version],
            )
            .await
            .map_err(failed)?;
    }
    transaction.commit().await.map_err(failed)
}
