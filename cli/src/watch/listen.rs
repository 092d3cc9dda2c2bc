//! `watch --listen`: `/healthz`, `/readyz` and `/metrics` (OpenMetrics text, which
//! Prometheus scrapes), read from the watch's figures at each request.
//!
//! Health as Kubernetes means it. Liveness (`/healthz`) reports the process, never the
//! service: 503 only when restarting it could help (its loop stopped turning, a save that
//! hangs); an outage of the service restarts nothing, which would only reset backoff and
//! stall rollouts, and neither does a save that fails for a lasting reason (a full disk, a
//! read-only file system): a restart would print again every push since the last good save,
//! in a loop. Readiness (`/readyz`) reports the service and the state: 503 while saves fail,
//! while no poll has been answered for `--unhealthy-after` intervals, and ready at once for a
//! replica whose shard holds no ids (it has nothing to poll); a fleet replica's reports
//! reaching the database, so that a standby able to take over is ready. `metrics.rs` writes
//! `/metrics` (`codearts_watch_state_write_failures_total` counts failed saves).

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
    routing::get,
};
use codearts_repo::{WatchHandle, watch::WatchStats};
use prometheus_client::registry::Registry;
use serde_json::json;

use super::metrics::Figures;
use crate::error::{CliError, Result};

/// What the endpoints read: the watch (a fleet's standby has none), its loop's heartbeat,
/// how long is too long, and a fleet's state. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Health(Arc<Shared>);

struct Shared {
    /// No answer from the service for this long makes a single watch not ready; a loop that
    /// has not turned for this long makes it not alive.
    unanswered_for: Duration,
    /// When the command's loop last turned (it turns every second, and at every item).
    loop_turned: Mutex<Instant>,
    watch: Mutex<Option<WatchHandle>>,
    fleet: Mutex<Option<Fleet>>,
    /// Where pushes are delivered: its figures are served; its trouble never affects
    /// liveness, and readiness only names it when every repository waits for it (no poll is
    /// made then, and the service is not to blame).
    receiver: Mutex<Option<super::deliver::Receiver>>,
}

/// A fleet replica's view: its role, and whether it reaches the database.
#[derive(Clone, Debug)]
pub(crate) struct Fleet {
    /// The lease's epoch while this replica is the active watcher.
    pub(crate) leading: Option<i64>,
    /// When the database last answered.
    pub(crate) reached: Option<Instant>,
    /// Why it did not, the last time it did not.
    pub(crate) trouble: Option<String>,
    /// Reaching the database within this long is being able to take over.
    pub(crate) lease: Duration,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Health {
    pub(crate) fn new(unanswered_for: Duration) -> Self {
        Self(Arc::new(Shared {
            unanswered_for,
            loop_turned: Mutex::new(Instant::now()),
            watch: Mutex::new(None),
            fleet: Mutex::new(None),
            receiver: Mutex::new(None),
        }))
    }

    /// The loop turned.
    pub(crate) fn beat(&self) {
        *lock(&self.0.loop_turned) = Instant::now();
    }

    /// The watch whose figures are served (none while standing by).
    pub(crate) fn watching(&self, watch: Option<WatchHandle>) {
        *lock(&self.0.watch) = watch;
    }

    /// The receiver whose deliveries' figures are served.
    pub(crate) fn delivering(&self, receiver: Option<super::deliver::Receiver>) {
        *lock(&self.0.receiver) = receiver;
    }

    fn deliveries(&self) -> Option<super::deliver::Figures> {
        lock(&self.0.receiver)
            .as_ref()
            .map(super::deliver::Receiver::figures)
    }

    /// A fleet replica's state, as it changes.
    pub(crate) fn fleet(&self, change: impl FnOnce(&mut Fleet)) {
        let mut fleet = lock(&self.0.fleet);
        if let Some(fleet) = fleet.as_mut() {
            change(fleet);
        }
    }

    /// Serves as a fleet replica, which reaches the database within `lease` to be ready.
    pub(crate) fn in_fleet(&self, lease: Duration) {
        *lock(&self.0.fleet) = Some(Fleet {
            leading: None,
            reached: None,
            trouble: None,
            lease,
        });
    }

    fn stats(&self) -> WatchStats {
        lock(&self.0.watch)
            .as_ref()
            .map(WatchHandle::stats)
            .unwrap_or_default()
    }

    fn fleet_state(&self) -> Option<Fleet> {
        lock(&self.0.fleet).clone()
    }

    fn loop_age(&self) -> Duration {
        lock(&self.0.loop_turned).elapsed()
    }
}

/// Binds `address` now (so that a busy port fails the command at once) and serves until the
/// process ends.
pub(crate) async fn serve(address: SocketAddr, health: Health) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| CliError::Environment(format!("cannot listen on {address}: {e}")))?;
    if let Ok(bound) = listener.local_addr() {
        say!("serving /healthz, /readyz and /metrics on http://{bound}");
    }
    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(health);
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            say!("--listen {address}: {error}");
        }
    });
    Ok(())
}

/// Why the process cannot do its job in a way a restart cures, if so: its loop stopped
/// turning, or a save has not ended for too long. Nothing the service does counts here, nor
/// a save that fails (see [`readyz`]).
fn process_trouble(health: &Health, stats: &WatchStats) -> Option<String> {
    let too_long = health.0.unanswered_for.max(Duration::from_secs(10));
    // A fleet's saves go to the database: its outage is no trouble a restart cures.
    let in_fleet = health.fleet_state().is_some();
    let stats = match in_fleet {
        true => &WatchStats::default(),
        false => stats,
    };
    process_trouble_after(too_long, health.loop_age(), stats)
}

/// [`process_trouble`], with how long is too long and the age of the loop's last turn.
fn process_trouble_after(
    too_long: Duration,
    loop_age: Duration,
    stats: &WatchStats,
) -> Option<String> {
    if let Some(since) = stats.saving_since
        && since.elapsed() > too_long
    {
        let age = since.elapsed().as_secs();
        return Some(format!("a save of the state has not ended for {age}s"));
    }
    (loop_age > too_long).then(|| {
        format!(
            "the watch's loop has not turned for {}s",
            loop_age.as_secs()
        )
    })
}

/// Why the watch is not ready, if it is not: the service has answered no poll yet, or none
/// for too long. A replica with nothing to poll is ready.
fn service_trouble(stats: &WatchStats, unanswered_for: Duration) -> Option<String> {
    if stats.repositories.total() == 0 {
        return None;
    }
    let Some(answered) = stats.last_answered else {
        return Some("no poll answered yet".into());
    };
    (answered.elapsed() > unanswered_for).then(|| {
        format!(
            "the service has answered no poll for {}s",
            answered.elapsed().as_secs()
        )
    })
}

/// Why no poll is made, when that is the receiver's doing: every repository holds a delivery
/// that waits for it.
fn receiver_trouble(
    stats: &WatchStats,
    deliveries: Option<super::deliver::Figures>,
) -> Option<String> {
    let figures = deliveries?;
    let waiting = figures.backlog();
    (waiting > 0 && waiting as u64 >= stats.repositories.total()).then(|| {
        let oldest = figures.oldest(std::time::Instant::now()).as_secs();
        format!(
            "every repository waits for the receiver ({waiting} deliveries waiting, the \
             oldest for {oldest}s): none is polled until its delivery ends"
        )
    })
}

/// Why a fleet replica could not take over now, if it could not: the database has not
/// answered within the lease's length.
pub(super) fn database_trouble(fleet: &Fleet) -> Option<String> {
    let reached = fleet.reached.is_some_and(|at| at.elapsed() <= fleet.lease);
    (!reached).then(|| {
        let why = fleet.trouble.as_deref().unwrap_or("not reached yet");
        format!("the database cannot be reached: {why}")
    })
}

async fn healthz(State(health): State<Health>) -> impl IntoResponse {
    let stats = health.stats();
    let fleet = health.fleet_state();
    let states = stats.repositories;
    let trouble = process_trouble(&health, &stats);
    let status = match trouble {
        Some(_) => StatusCode::SERVICE_UNAVAILABLE,
        None => StatusCode::OK,
    };
    let body = Json(json!({
        "status": if trouble.is_some() { "unhealthy" } else { "watching" },
        "reason": trouble,
        "repositories": {
            "total": states.total(),
            "unseen": states.unseen,
            "ok": states.ok,
            "answering_error": states.answering_error,
            "backing_off": states.backing_off,
        },
        "polls": stats.polls,
        "throttled_answers": stats.throttled_answers,
        "allowed_rate": stats.allowed_rate,
        "round_seconds": stats.round.mean().map(|round| round.as_secs_f64()),
        "last_answered_seconds_ago": stats.last_answered.map(|at| at.elapsed().as_secs()),
        "fleet": fleet.map(|fleet| json!({
            "role": if fleet.leading.is_some() { "active" } else { "standby" },
            "epoch": fleet.leading,
            "database_reached_seconds_ago": fleet.reached.map(|at| at.elapsed().as_secs()),
            "database_trouble": fleet.trouble,
        })),
    }));
    (status, body)
}

/// A single watch: ready once the state is loaded (it is, when this serves), while its saves
/// succeed and the service answers polls; at once when there is nothing to poll. A fleet
/// replica: ready while it reaches the database, active or standing by, whatever the service
/// does, so that a standby able to take over never holds up a rollout.
async fn readyz(State(health): State<Health>) -> impl IntoResponse {
    let stats = health.stats();
    let trouble = match health.fleet_state() {
        Some(fleet) => database_trouble(&fleet),
        None if stats.state_save_failing => Some(
            "the state cannot be saved (see the log; pushes are printed, and printed again \
             after a restart until a save succeeds)"
                .into(),
        ),
        None => service_trouble(&stats, health.0.unanswered_for)
            .map(|why| receiver_trouble(&stats, health.deliveries()).unwrap_or(why)),
    };
    match trouble {
        None => (StatusCode::OK, Json(json!({"status": "ready"}))),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not ready", "reason": reason})),
        ),
    }
}

async fn metrics(State(health): State<Health>) -> impl IntoResponse {
    let mut registry = Registry::with_prefix("codearts_watch");
    registry.register_collector(Box::new(Figures(
        health.stats(),
        health.fleet_state(),
        health.deliveries(),
    )));
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &registry) {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use codearts_repo::watch::WatchStats;

    use super::process_trouble_after;

    const TOO_LONG: Duration = Duration::from_secs(300);

    /// A save that never ends (a hung network file system) makes the process unhealthy once
    /// it has lasted too long; a save in progress for less does not, nor does the service.
    #[test]
    fn a_save_that_does_not_end_makes_the_process_not_alive() {
        let turned = Duration::from_secs(1);
        let mut stats = WatchStats::default();
        assert_eq!(process_trouble_after(TOO_LONG, turned, &stats), None);
        stats.saving_since = Instant::now().checked_sub(Duration::from_secs(5));
        assert_eq!(process_trouble_after(TOO_LONG, turned, &stats), None);
        stats.saving_since = Instant::now().checked_sub(Duration::from_secs(301));
        let trouble = process_trouble_after(TOO_LONG, turned, &stats).unwrap();
        assert!(
            trouble.starts_with("a save of the state has not ended for 30"),
            "{trouble}"
        );
        stats.saving_since = None;
        stats.last_answered = None;
        assert_eq!(process_trouble_after(TOO_LONG, turned, &stats), None);
        // A save that fails, however long, is not cured by a restart: readiness says it.
        stats.state_save_failing = true;
        assert_eq!(process_trouble_after(TOO_LONG, turned, &stats), None);
        let stuck = process_trouble_after(TOO_LONG, TOO_LONG + turned, &stats).unwrap();
        assert!(stuck.contains("loop has not turned"), "{stuck}");
    }
}
