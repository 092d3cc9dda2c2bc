//! When to try again and how long to wait: the one classifier of failures ([`Retry`]), and
//! the policy: exponential backoff with full jitter, `Retry-After` honoured up to a cap (as a
//! floor, never as a licence to hammer), a bounded number of attempts, a retry budget.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::{
    Error, TransportKind,
    error::{NoRetry, Retry},
};

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
    budget: Option<u32>,
    seed: Option<u64>,
}

impl Default for RetryPolicy {
    /// Three attempts, 200 ms base, 5 s backoff cap, `Retry-After` up to 30 s, a retry budget
    /// of 500 tokens.
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(30),
            budget: Some(crate::retry_budget::DEFAULT_CAPACITY),
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

    /// The retry budget shared by a client and its clones, in tokens (default 500), or `None`
    /// for no budget. A retry costs 5 tokens (10 after a timeout), a call that succeeds gives
    /// back 1 (or what its last retry cost): under an outage a client stops retrying after
    /// about `tokens / 5` retries, while a client whose calls fail less than one time in five
    /// never runs dry. An exhausted budget ends the call with its failure, marked
    /// [`NoRetry::BudgetSpent`].
    pub fn retry_budget(mut self, tokens: Option<u32>) -> Self {
        self.budget = tokens;
        self
    }

    pub(crate) fn longest_retry_after(&self) -> Duration {
        self.max_retry_after
    }

    pub(crate) fn budget(&self) -> Option<u32> {
        self.budget
    }

    /// A fixed jitter seed, for reproducible delays in tests.
    #[doc(hidden)]
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

    /// The wait before retry number `retry` (1 for the first retry), or why there is none.
    /// What the server asked for (`Retry-After`) is a floor under the backoff, never a
    /// shorter wait: `Retry-After: 0` or a date already past still backs off.
    pub(crate) fn delay(
        &self,
        retry: u32,
        decision: Retry,
        rng: &mut fastrand::Rng,
    ) -> Result<Duration, Option<NoRetry>> {
        let asked = match decision {
            Retry::Stop => return Err(None),
            Retry::After(wait) if wait > self.max_retry_after => {
                return Err(Some(NoRetry::RetryAfterTooLong {
                    asked: wait,
                    allowed: self.max_retry_after,
                }));
            }
            Retry::After(wait) => wait,
            Retry::Backoff => Duration::ZERO,
        };
        let ceiling = self
            .base_delay
            .saturating_mul(1u32 << retry.saturating_sub(1).min(16))
            .min(self.max_delay);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Ok(Duration::from_nanos(rng.u64(0..=nanos)).max(asked))
    }
}

/// The one rule, as [`Error`]'s own answers: the error says what it was, this module what to
/// do about it.
impl Error {
    /// Whether trying again may succeed: connect failures, timeouts, broken connections,
    /// 408, 429, 500, 502, 503 and 504. Not: invalid input, configuration, other statuses,
    /// TLS (an untrusted certificate stays untrusted), oversized or undecodable answers.
    /// The call loop and the watch decide with the same rule ([`Error::retry`]).
    pub fn is_retryable(&self) -> bool {
        self.retry() != Retry::Stop
    }

    /// What to do after this failure: try again (after the wait the service asked for, if
    /// it did), or stop.
    pub fn retry(&self) -> Retry {
        classify(self)
    }
}

/// The one rule: connect failures, timeouts and broken connections, and 408, 429, 500, 502,
/// 503 and 504 (both operations are GETs, so a retry is always safe); nothing else.
fn classify(error: &Error) -> Retry {
    match error {
        Error::Api(api) | Error::CredentialsService { answer: api, .. }
            if matches!(api.status, 408 | 429 | 500 | 502 | 503 | 504) =>
        {
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
