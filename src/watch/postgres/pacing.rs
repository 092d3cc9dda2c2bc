//! What the active watcher's rate limiter learned of the account, kept beside the lease so
//! that the next active watcher starts from it rather than from "unlimited".

use super::Database;
use crate::{Learned, watch::StateError};

/// What the last active watcher of lease `name` learned, if it saved anything.
pub async fn load_pacing(database: &Database, name: &str) -> Result<Option<Learned>, StateError> {
    let client = database.connect().await?;
    let row = client
        .query_opt(
            "SELECT allowed_rate, stated_policy FROM codearts_watch_pacing WHERE name = $1",
            &[&name],
        )
        .await
        .map_err(|e| database.error("cannot read the pacing", e))?;
    Ok(row.map(|row| Learned::new(row.get(0), row.get(1))))
}

/// Saves what the limiter of the term with `epoch` learned; refused (nothing written,
/// `Ok(false)`) once the lease `name` has a later epoch.
pub async fn save_pacing(
    database: &Database,
    name: &str,
    epoch: i64,
    learned: Learned,
) -> Result<bool, StateError> {
    let client = database.connect().await?;
    let written = client
        .execute(
            "INSERT INTO codearts_watch_pacing AS p
                (name, allowed_rate, stated_policy, epoch, updated_at)
             SELECT $1, $2, $3, $4, now()
             WHERE EXISTS (SELECT 1 FROM codearts_watch_lease WHERE name = $1 AND epoch = $4)
             ON CONFLICT (name) DO UPDATE SET allowed_rate = excluded.allowed_rate,
                stated_policy = excluded.stated_policy, epoch = excluded.epoch,
                updated_at = excluded.updated_at
             WHERE p.epoch <= excluded.epoch",
            &[&name, &learned.allowed_rate, &learned.stated_policy, &epoch],
        )
        .await
        .map_err(|e| database.error("cannot save the pacing", e))?;
    Ok(written == 1)
}
