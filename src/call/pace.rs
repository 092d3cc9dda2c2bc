//! The client's own pacing of a call: its turn at the rate limiter before each attempt, and
//! what the limiter hears back when the service throttles. A wait for a turn is the client's
//! waiting, not the service's failure: when the deadline passes during it, nothing was sent
//! and the error says so ([`Error::Paced`]), never a timeout of the service.

use tokio::time::Instant;

use crate::{
    Error, RetryPolicy,
    rate_limit::{RateLimiter, gateway_policy},
};

use super::deadline::Deadline;

/// Waits for the limiter's turn within the deadline; returns when the request goes out (for
/// [`throttled`]), or [`Error::Paced`] when no time is left to send it.
pub(crate) async fn turn(limiter: &RateLimiter, deadline: &Deadline) -> Result<Instant, Error> {
    let Some(at) = deadline.at() else {
        return Ok(limiter.acquire().await);
    };
    let started = Instant::now();
    match tokio::time::timeout_at(at, limiter.acquire()).await {
        // A turn that comes with (next to) nothing left leaves no time for an answer.
        Ok(sent) if !deadline.too_late_to_send(Instant::now()) => Ok(sent),
        _ => Err(Error::Paced {
            waited: Instant::now().saturating_duration_since(started),
        }),
    }
}

/// Tells the limiter that the request it let out at `sent` was throttled (`429`), with the
/// pause the service asked for (`Retry-After`, up to what the policy honours) and the
/// throttling policy the gateway stated: every request of the client slows down, not only
/// this call's. Every `429` tells, whether the call retries it or not.
pub(crate) fn throttled(limiter: &RateLimiter, sent: Instant, error: &Error, policy: &RetryPolicy) {
    if error.status() != Some(429) {
        return;
    }
    let pause = error
        .retry_after()
        .map(|wait| wait.min(policy.longest_retry_after()));
    limiter.throttled(sent, pause);
    if let Error::Api(answer) = error {
        match gateway_policy::stated(&answer.error_msg) {
            Some(Ok(stated)) => limiter.told(stated),
            Some(Err(why)) => limiter.told_absurd(why),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::{Instant, advance};

    use super::{Deadline, throttled, turn};
    use crate::{Error, RateLimit, RetryPolicy, rate_limit::RateLimiter};

    const SECOND: Duration = Duration::from_secs(1);

    fn too_many_requests(retry_after: Option<Duration>) -> Error {
        crate::call::answered(429, retry_after)
    }

    #[tokio::test(start_paused = true)]
    async fn a_turn_within_the_deadline_is_taken_when_it_comes() {
        let limiter = RateLimiter::new(RateLimit::fixed(1.0));
        let deadline = Deadline::starting_now(Some(5 * SECOND));
        let started = Instant::now();
        assert_eq!(turn(&limiter, &deadline).await.unwrap(), started);
        let second = turn(&limiter, &deadline).await.unwrap();
        assert!(second > started && second <= started + SECOND, "{second:?}");
        assert_eq!(Instant::now(), second);
    }

    /// The deadline passing while the client waits for its own limiter is `Paced`: nothing
    /// was sent, the service did not fail, and the call is not retried.
    #[tokio::test(start_paused = true)]
    async fn the_deadline_passing_in_the_clients_own_wait_is_paced_not_a_timeout() {
        let limiter = RateLimiter::new(RateLimit::fixed(1.0));
        let deadline = Deadline::starting_now(Some(SECOND / 2));
        turn(&limiter, &deadline).await.unwrap();
        let started = Instant::now();
        let error = turn(&limiter, &deadline).await.unwrap_err();
        assert_eq!(started.elapsed(), SECOND / 2);
        assert!(error.is_paced(), "{error:?}");
        assert!(matches!(error, Error::Paced { waited } if waited == SECOND / 2));
        assert!(!error.is_retryable());
        assert_eq!(error.status(), None);
        assert_eq!(
            error.to_string(),
            "not sent: the call's deadline passed after waiting 500ms for the client's turn to send (its rate limit, or a pause the service asked for)"
        );
    }

    /// A turn that comes exactly at the deadline leaves no time to send: paced too.
    #[tokio::test(start_paused = true)]
    async fn a_turn_at_the_deadline_is_paced() {
        let limiter = RateLimiter::new(RateLimit::fixed(100.0));
        let deadline = Deadline::starting_now(Some(3 * SECOND));
        let policy = RetryPolicy::default();
        let sent = turn(&limiter, &deadline).await.unwrap();
        throttled(
            &limiter,
            sent,
            &too_many_requests(Some(3 * SECOND)),
            &policy,
        );
        let error = turn(&limiter, &deadline).await.unwrap_err();
        assert!(
            matches!(error, Error::Paced { waited } if waited == 3 * SECOND),
            "{error:?}"
        );
    }

    /// A turn that comes with less than a millisecond left is paced too (a request sent then
    /// would be cancelled at once); one that leaves a millisecond is taken.
    #[tokio::test(start_paused = true)]
    async fn a_turn_with_less_than_a_millisecond_left_is_paced() {
        // When a second turn comes (a request may leave a little ahead of its slot).
        let probe = RateLimiter::new(RateLimit::fixed(1.0));
        let started = probe.acquire().await;
        let gap = probe.acquire().await - started;
        for (left, taken) in [
            (Duration::from_micros(999), false),
            (Duration::from_millis(1), true),
        ] {
            let limiter = RateLimiter::new(RateLimit::fixed(1.0));
            let deadline = Deadline::starting_now(Some(gap + left));
            turn(&limiter, &deadline).await.unwrap();
            let second = turn(&limiter, &deadline).await;
            assert_eq!(second.is_ok(), taken, "{left:?} left: {second:?}");
        }
    }

    /// A `Retry-After` on a `429` pauses every later turn (up to what the policy honours);
    /// other failures leave the limiter as it was.
    #[tokio::test(start_paused = true)]
    async fn a_throttled_answer_pauses_the_next_turns() {
        let limiter = RateLimiter::new(RateLimit::fixed(100.0));
        let deadline = Deadline::starting_now(None);
        let policy = RetryPolicy::default().max_retry_after(3 * SECOND);
        let sent = turn(&limiter, &deadline).await.unwrap();
        throttled(
            &limiter,
            sent,
            &Error::Internal("not a 429".into()),
            &policy,
        );
        advance(SECOND).await;
        let now = Instant::now();
        assert_eq!(turn(&limiter, &deadline).await.unwrap(), now);

        throttled(
            &limiter,
            now,
            &too_many_requests(Some(60 * SECOND)),
            &policy,
        );
        assert_eq!(turn(&limiter, &deadline).await.unwrap(), now + 3 * SECOND);
        assert_eq!(limiter.throttled_count(), 1);
    }
}
