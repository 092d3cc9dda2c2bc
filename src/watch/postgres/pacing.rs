//! What the active watcher's rate limiter learned of the account, kept beside the lease so
//! that the next active watcher starts from it rather than from "unlimited". What is older
//! than [`FRESH_FOR`] is not used: a quota may have been raised since.

use std::time::Duration;

use tokio_postgres::Client;

use super::Database;
use crate::{Learned, watch::StateError};

/// How long what was learned stays worth starting from.
pub const FRESH_FOR: Duration = Duration::from_secs(3600);

/// How long one statement may take, connecting included.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);

/// A fleet's pacing row, over a connection kept between statements.
#[derive(Debug)]
pub struct Pacing {
    database: Database,
    fleet: String,
    client: Option<Client>,
}

impl Pacing {
    /// The pacing of fleet `fleet` (the lease's name).
    pub fn new(database: Database, fleet: impl Into<String>) -> Self {
        Self {
            database,
            fleet: fleet.into(),
            client: None,
        }
    }

    /// What the last active watcher learned, if it saved anything within [`FRESH_FOR`].
    pub async fn load(&mut self) -> Result<Option<Learned>, StateError> {
        let fleet = self.fleet.clone();
        let fresh = FRESH_FOR.as_secs_f64();
        let row = self
            .statement("cannot read the pacing", async |client| {
                client
                    .query_opt(
                        "SELECT allowed_rate, stated_policy FROM codearts_watch_pacing
                         WHERE name = $1 AND updated_at > now() - make_interval(secs => $2)",
                        &[&fleet, &fresh],
                    )
                    .await
            })
            .await?;
        Ok(row.map(|row| Learned::new(row.get(0), row.get(1))))
    }

    /// Saves what the limiter of the term with `epoch` learned; refused (nothing written,
    /// `Ok(false)`) once the lease has a later epoch.
    pub async fn save(&mut self, epoch: i64, learned: Learned) -> Result<bool, StateError> {
        let fleet = self.fleet.clone();
        let written = self
            .statement("cannot save the pacing", async |client| {
                client
                    .execute(
                        "INSERT INTO codearts_watch_pacing AS p
                            (name, allowed_rate, stated_policy, epoch, updated_at)
                         SELECT $1, $2, $3, $4, now()
                         WHERE EXISTS (SELECT 1 FROM codearts_watch_lease
                                       WHERE name = $1 AND epoch = $4)
                         ON CONFLICT (name) DO UPDATE SET allowed_rate = excluded.allowed_rate,
                            stated_policy = excluded.stated_policy, epoch = excluded.epoch,
                            updated_at = excluded.updated_at
                         WHERE p.epoch <= excluded.epoch",
                        &[
                            &fleet,
                            &learned.allowed_rate,
                            &learned.stated_policy,
                            &epoch,
                        ],
                    )
                    .await
            })
            .await?;
        Ok(written == 1)
    }

    async fn statement<T>(
        &mut self,
        doing: &str,
        run: impl AsyncFnOnce(&Client) -> Result<T, tokio_postgres::Error>,
    ) -> Result<T, StateError> {
        let database = &self.database;
        database
            .on(&mut self.client, doing, STATEMENT_TIMEOUT, async |client| {
                run(client).await.map_err(|e| database.error(doing, e))
            })
            .await
    }
}
