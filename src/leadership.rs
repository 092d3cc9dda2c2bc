//! Whether this process may poll the service now: a fleet's active watcher holds a lease
//! until a moment its own clock knows, and sends nothing after it, whatever its tasks were
//! doing when it was paused (SIGSTOP) or cut off from the database.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use tokio::time::{Duration, Instant};

/// The lease a watch polls under, as its own clock counts it: held until a moment that the
/// lease's keeper moves forward at each renewal, or never again once revoked. Cheap to clone.
///
/// Checked by the client right before each request is sent
/// ([`crate::WatchOptions::leadership`]): a poll whose turn comes after the lease ran out is
/// not sent, so a former leader that wakes from a pause sends nothing once its successor may
/// have started.
#[derive(Clone, Debug)]
pub struct Leadership(Arc<Held>);

#[derive(Debug)]
struct Held {
    /// The clock's origin for `until`.
    origin: Instant,
    /// Nanoseconds after `origin` until which the lease is held; 0: revoked.
    until: AtomicU64,
}

impl Leadership {
    /// Held until `until`.
    pub fn held_until(until: Instant) -> Self {
        let origin = Instant::now();
        Self(Arc::new(Held {
            origin,
            until: AtomicU64::new(nanos_after(origin, until)),
        }))
    }

    /// Held until `until` (a renewal); never moves the end back, and never revives a lease
    /// that was revoked.
    pub fn extend_to(&self, until: Instant) {
        let nanos = nanos_after(self.0.origin, until);
        let _ = self
            .0
            .until
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                (held != 0 && nanos > held).then_some(nanos)
            });
    }

    /// Given up, or taken over: held no more, for good.
    pub fn revoke(&self) {
        self.0.until.store(0, Ordering::Release);
    }

    /// Whether the lease is held now.
    pub fn is_held(&self) -> bool {
        self.left().is_some()
    }

    /// How long the lease is still held, if it is.
    pub fn left(&self) -> Option<Duration> {
        let until = self.0.until.load(Ordering::Acquire);
        let now = Instant::now().saturating_duration_since(self.0.origin);
        (until != 0)
            .then(|| Duration::from_nanos(until).checked_sub(now))
            .flatten()
            .filter(|left| !left.is_zero())
    }
}

/// `until` in nanoseconds after `origin`, at least 1 (0 means revoked).
fn nanos_after(origin: Instant, until: Instant) -> u64 {
    u64::try_from(until.saturating_duration_since(origin).as_nanos())
        .unwrap_or(u64::MAX)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[tokio::test(start_paused = true)]
    async fn held_until_its_last_renewal_ends_and_never_after_a_revocation() {
        let leadership = Leadership::held_until(Instant::now() + 10 * SECOND);
        tokio::time::sleep(9 * SECOND).await;
        assert_eq!(leadership.left(), Some(SECOND));
        // A renewal that arrives late (an older answer) never shortens the lease.
        leadership.extend_to(Instant::now() + 15 * SECOND);
        leadership.extend_to(Instant::now() + 5 * SECOND);
        tokio::time::sleep(14 * SECOND).await;
        assert!(leadership.is_held());
        tokio::time::sleep(SECOND).await;
        assert!(!leadership.is_held(), "held at its very end");
        leadership.revoke();
        leadership.extend_to(Instant::now() + 60 * SECOND);
        assert!(!leadership.is_held(), "a revoked lease came back");
    }
}
