//! When to try again and how long to wait: the one classifier of failures ([`Retry`]), and
//! the policy: exponential backoff with full jitter, `Retry-After` honoured up to a cap, a
//! bounded number of attempts.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::{Error, TransportKind};

/// Retry settings. Both operations are GETs, so every retry is safe.
///
/// ```
/// use std::time::Duration;
/// use codearts_repo::RetryPolicy;
/// let policy = RetryPolicy::default().max_attempts(5).base_delay(Duration::from_millis(50));
/// assert_eq!(RetryPolicy::none().attempts(), 1);
/// # let _ = policy;
/// ```
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    max_attempts: u32,
    base_delay: Duration,
    max_delay: Duration,
    max_retry_after: Duration,
    seed: Option<u64>,
}

impl Default for RetryPolicy {
    /// Three attempts, 200 ms base, 5 s backoff cap, `Retry-After` up to 30 s.
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(30),
            seed: None,
        }
    }
}

impl RetryPolicy {
    /// One attempt, no retries.
    pub fn none() -> Self {
        Self::default().max_attempts(1)
    }

    /// Attempts in all, the first included (at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The first backoff ceiling; it doubles with each retry up to [`Self::max_delay`].
    pub fn base_delay(mut self, delay: Duration) -> Self {
        self.base_delay = delay;
        self
    }

    /// The largest backoff ceiling.
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// The longest `Retry-After` honoured; a longer one ends the retries.
    pub fn max_retry_after(mut self, delay: Duration) -> Self {
        self.max_retry_after = delay;
        self
    }

    /// A fixed jitter seed, for reproducible delays in tests.
    pub fn jitter_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Attempts in all.
    pub fn attempts(&self) -> u32 {
        self.max_attempts
    }

    pub(crate) fn rng(&self) -> fastrand::Rng {
        self.seed
            .map_or_else(fastrand::Rng::new, fastrand::Rng::with_seed)
    }

    /// The wait before retry number `retry` (1 for the first retry), or `None` when the
    /// failure is not worth a retry or the server asked for a longer wait than allowed.
    pub(crate) fn delay(
        &self,
        retry: u32,
        decision: Retry,
        rng: &mut fastrand::Rng,
    ) -> Option<Duration> {
        match decision {
            Retry::Stop => return None,
            Retry::After(wait) => return (wait <= self.max_retry_after).then_some(wait),
            Retry::Backoff => {}
        }
        let ceiling = self
            .base_delay
            .saturating_mul(1u32 << retry.saturating_sub(1).min(16))
            .min(self.max_delay);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Some(Duration::from_nanos(rng.u64(0..=nanos)))
    }
}

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

/// The one rule: connect failures, timeouts and broken connections, and 408, 429, 500, 502,
/// 503 and 504 (both operations are GETs, so a retry is always safe); nothing else.
pub(crate) fn classify(error: &Error) -> Retry {
    match error {
        Error::Api(api) if matches!(api.status, 408 | 429 | 500 | 502 | 503 | 504) => {
            api.retry_after.map_or(Retry::Backoff, Retry::After)
        }
        Error::Transport { kind, .. } if *kind != TransportKind::Tls => Retry::Backoff,
        _ => Retry::Stop,
    }
}

/// `Retry-After` as seconds or an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or_default())
}
