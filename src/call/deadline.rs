//! The call's one deadline: set once at its start, read by every step after it (credentials,
//! the IAM lookup, the rate limiter's wait, each attempt, each wait between attempts), never
//! set again. A second deadline counted from the first attempt once let a 5 s call run for
//! 8.5 s behind slow credentials.

use std::{future::Future, time::Duration};

use tokio::time::Instant;

use crate::{Error, TransportKind};

/// Less than this left and no request is sent: its answer could not come in time, and a
/// request cancelled on a pooled HTTP/2 connection after its headers went out is one the
/// service serves for nothing.
const LEAST_FOR_A_REQUEST: Duration = Duration::from_millis(1);

#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline {
    /// The call's timeout, for messages.
    timeout: Option<Duration>,
    /// When it passes; `None`: never (no timeout, or one too far to represent).
    at: Option<Instant>,
}

impl Deadline {
    /// A deadline `timeout` from now (`None`: none).
    pub(crate) fn starting_now(timeout: Option<Duration>) -> Self {
        Self {
            timeout,
            // A deadline too far to represent is no deadline.
            at: timeout.and_then(|timeout| Instant::now().checked_add(timeout)),
        }
    }

    /// When it passes, if it does.
    pub(crate) fn at(&self) -> Option<Instant> {
        self.at
    }

    /// What is left of it at `now` (`None`: no deadline).
    pub(crate) fn left(&self, now: Instant) -> Option<Duration> {
        self.at.map(|at| at.saturating_duration_since(now))
    }

    /// Whether too little is left at `now` to send a request ([`LEAST_FOR_A_REQUEST`]).
    pub(crate) fn too_late_to_send(&self, now: Instant) -> bool {
        self.left(now)
            .is_some_and(|left| left < LEAST_FOR_A_REQUEST)
    }

    /// How long an attempt starting at `now` may take: all that is left, or less when the
    /// attempt has a timeout of its own (`None`: as long as it takes).
    pub(crate) fn for_attempt(
        &self,
        now: Instant,
        attempt_timeout: Option<Duration>,
    ) -> Option<Duration> {
        match (self.left(now), attempt_timeout) {
            (Some(left), Some(own)) => Some(left.min(own)),
            (left, own) => left.or(own),
        }
    }

    /// Runs a step before the attempts (credentials, the IAM lookup) within the deadline.
    pub(crate) async fn bound<T>(
        &self,
        step: &str,
        work: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        let Some(at) = self.at else {
            return work.await;
        };
        tokio::time::timeout_at(at, work)
            .await
            .unwrap_or_else(|_| Err(self.passed(&format!("while waiting for {step}"))))
    }

    /// The error of a call whose deadline passed `when`.
    pub(crate) fn passed(&self, when: &str) -> Error {
        let message = format!(
            "the call's timeout ({}) passed {when}",
            crate::error::human(self.timeout.unwrap_or_default())
        );
        Error::transport(TransportKind::Timeout, message, None)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::{Instant, advance, sleep};

    use super::Deadline;

    const SECOND: Duration = Duration::from_secs(1);

    #[tokio::test(start_paused = true)]
    async fn what_is_left_counts_from_the_start_and_never_goes_below_zero() {
        let deadline = Deadline::starting_now(Some(5 * SECOND));
        advance(3 * SECOND).await;
        assert_eq!(deadline.left(Instant::now()), Some(2 * SECOND));
        advance(10 * SECOND).await;
        assert_eq!(deadline.left(Instant::now()), Some(Duration::ZERO));
        assert_eq!(Deadline::starting_now(None).left(Instant::now()), None);
        // Too far to represent: no deadline, not a panic.
        assert_eq!(Deadline::starting_now(Some(Duration::MAX)).at(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempt_may_use_all_that_is_left_unless_it_has_a_timeout_of_its_own() {
        let deadline = Deadline::starting_now(Some(5 * SECOND));
        advance(2 * SECOND).await;
        let now = Instant::now();
        assert_eq!(deadline.for_attempt(now, None), Some(3 * SECOND));
        assert_eq!(deadline.for_attempt(now, Some(SECOND)), Some(SECOND));
        assert_eq!(
            deadline.for_attempt(now, Some(10 * SECOND)),
            Some(3 * SECOND)
        );
        let none = Deadline::starting_now(None);
        assert_eq!(none.for_attempt(now, Some(SECOND)), Some(SECOND));
        assert_eq!(none.for_attempt(now, None), None);
    }

    /// A step that outlasts the deadline ends at it, and says which step it was.
    #[tokio::test(start_paused = true)]
    async fn a_step_before_the_attempts_ends_at_the_deadline() {
        let started = Instant::now();
        let deadline = Deadline::starting_now(Some(2 * SECOND));
        let error = deadline
            .bound("credentials", async {
                sleep(60 * SECOND).await;
                Ok(())
            })
            .await
            .unwrap_err();
        assert_eq!(started.elapsed(), 2 * SECOND);
        assert!(crate::call::retries::is_timeout(&error), "{error}");
        assert!(
            error
                .to_string()
                .contains("the call's timeout (2s) passed while waiting for credentials"),
            "{error}"
        );
        // A step within it is awaited as it is.
        let value = deadline.bound("the IAM project id", async { Ok(7) }).await;
        assert_eq!(value.unwrap(), 7);
    }
}
