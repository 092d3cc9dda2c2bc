//! A fleet's watch, in PostgreSQL (feature `postgres`): one active watcher among replicas
//! that stand by, its state in a row per repository, and every event it observes in a
//! table, exactly once.
//!
//! - [`Database`]: where the database is (a `postgres://` URL, TLS by rustls).
//! - [`migrate`]: creates and migrates the tables, safely when replicas start at once.
//! - [`Election`] and [`Term`]: the lease that makes one replica the active watcher, and the
//!   epoch (a fencing token) that its writes carry.
//! - [`PgStore`]: the [`super::WatchStore`] of a term.
//!
//! # Tables
//!
//! | table | one row per | columns |
//! | --- | --- | --- |
//! | `codearts_watch_events` | event observed | `id` (unique, increasing in commit order), `fleet`, `repository_id`, `ref`, `created_at` (as the service sent it), `baseline`, `observed_at`, `recorded_at`, `epoch` |
//! | `codearts_watch_repositories` | fleet and repository | `fleet`, `repository_id`, `created_at`, `ref` (its last event handled), `epoch`, `updated_at` |
//! | `codearts_watch_lease` | fleet | `name` (the fleet), `holder`, `epoch`, `acquired_at`, `renewed_at`, `expires_at` |
//! | `codearts_watch_pacing` | fleet | `name`, `allowed_rate`, `stated_policy` (requests/s), `epoch`, `updated_at` |
//! | `codearts_watch_schema` | migration | `version`, `migrated_at` |
//!
//! Fleets of different names share the tables, each with its own lease and rows. A consumer
//! reads a fleet's events by `id` (`WHERE fleet = $1 AND id > $last ORDER BY id`): only the
//! lease's holder writes them, one transaction at a time under the lease row's lock, and a
//! new holder's first write waits for its predecessor's last, so a fleet's ids are
//! committed in increasing order and a reader never skips one. Each insert also sends
//! `NOTIFY codearts_watch_events` with the id, for a consumer that `LISTEN`s rather than
//! polls. Events that a former holder could not write before its term ended are written
//! later, under the same lock ([`record_late`]): they may follow newer ones, which
//! `observed_at` tells.

mod connect;
mod lease;
mod pacing;
mod schema;
mod store;

pub use connect::Database;
pub use lease::{DEFAULT_TTL, Election, LeaseHolder, Term};
pub use pacing::{FRESH_FOR, Pacing};
pub use schema::SCHEMA_VERSION;
pub use store::{PgStore, Unrecorded, record_late};

use super::StateError;

/// Creates or migrates the tables to [`SCHEMA_VERSION`] (see the [module](self) for them).
pub async fn migrate(database: &Database) -> Result<(), StateError> {
    let doing = "cannot migrate the schema";
    database
        .bounded(doing, std::time::Duration::from_secs(30), async {
            let mut client = database.connect().await?;
            schema::migrate(database, &mut client).await
        })
        .await
}
