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
//! | `codearts_watch_events` | event observed | `id` (unique, increasing in commit order), `repository_id`, `ref`, `created_at` (as the service sent it), `baseline`, `observed_at`, `recorded_at`, `epoch` |
//! | `codearts_watch_repositories` | repository | `repository_id`, `created_at`, `ref` (its last event handled), `epoch`, `updated_at` |
//! | `codearts_watch_lease` | fleet | `name`, `holder`, `epoch`, `acquired_at`, `renewed_at`, `expires_at` |
//! | `codearts_watch_pacing` | fleet | `name`, `allowed_rate`, `stated_policy` (requests/s), `epoch`, `updated_at` |
//! | `codearts_watch_schema` | migration | `version`, `migrated_at` |
//!
//! A consumer reads `codearts_watch_events` by `id` (`WHERE id > $last ORDER BY id`): only
//! the lease's holder writes, one transaction at a time, and a new holder's first write
//! waits for its predecessor's last, so ids are committed in increasing order and a reader
//! never skips one. Each insert also sends `NOTIFY codearts_watch_events` with the id, for a
//! consumer that `LISTEN`s rather than polls.

mod connect;
mod lease;
mod pacing;
mod schema;
mod store;

pub use connect::Database;
pub use lease::{DEFAULT_TTL, Election, LeaseHolder, Term};
pub use pacing::{load_pacing, save_pacing};
pub use schema::SCHEMA_VERSION;
pub use store::PgStore;

use super::StateError;

/// Creates or migrates the tables to [`SCHEMA_VERSION`] (see the [module](self) for them).
pub async fn migrate(database: &Database) -> Result<(), StateError> {
    let mut client = database.connect().await?;
    schema::migrate(database, &mut client).await
}
