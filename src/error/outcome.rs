//! What a failure means for trying again, as data the error carries: [`Retry`] (what to do
//! next) and [`NoRetry`] (why no more attempts were made). The rule that decides is in
//! `retry.rs`, above the errors.

use std::{fmt, time::Duration};

/// What to do after a failure, for the call loop and the watch alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Retry {
    /// Try again, after a backoff of the caller's choosing.
    Backoff,
    /// Try again after this wait, which the service asked for (`Retry-After`).
    After(Duration),
    /// Trying again would fail the same way.
    Stop,
}

/// Why a call whose failure was worth a retry was not tried again before its attempts ran
/// out. Part of the error ([`crate::ApiError::not_retried`], [`crate::Error::not_retried`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoRetry {
    /// The retry budget shared by the client and its clones is spent: many calls are failing,
    /// and retrying them would only add load to a service in trouble.
    BudgetSpent,
    /// The service asked for a longer wait (`Retry-After`) than the retry policy's `max_retry_after`.
    RetryAfterTooLong {
        /// What the service asked for.
        asked: Duration,
        /// The longest wait allowed.
        allowed: Duration,
    },
    /// The wait before the next attempt would pass the call's overall deadline.
    Deadline {
        /// The wait.
        wait: Duration,
        /// What was left of the deadline.
        left: Duration,
    },
    /// The deadline passed before the next attempt could be sent (less than a millisecond
    /// was left once its turn came).
    DeadlinePassed,
    /// The credentials for the next attempt could not be had (their own error is logged at
    /// debug level).
    Credentials,
}

impl fmt::Display for NoRetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BudgetSpent => f.write_str(
                "the retry budget is spent (many calls are failing; retrying would add load)",
            ),
            Self::RetryAfterTooLong { asked, allowed } => write!(
                f,
                "the service asked to wait {} (Retry-After), longer than the {} allowed",
                human(*asked),
                human(*allowed)
            ),
            Self::Deadline { wait, left } => write!(
                f,
                "the next wait ({}) is longer than the {} left before the deadline",
                human(*wait),
                human(*left)
            ),
            Self::DeadlinePassed => {
                f.write_str("the deadline passed before the next attempt could be sent")
            }
            Self::Credentials => f.write_str("the credentials for the next attempt failed"),
        }
    }
}

/// A duration as a person reads it: `20s`, `1.5s`, `250ms`.
pub(crate) fn human(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis >= 1000 && millis.is_multiple_of(1000) {
        format!("{}s", millis / 1000)
    } else if millis >= 1000 {
        format!("{:.1}s", duration.as_secs_f64())
    } else {
        format!("{millis}ms")
    }
}
