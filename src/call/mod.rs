//! Running one operation as named steps, within one deadline counted from the call's start
//! ([`deadline`]): credentials and the IAM lookup ([`Call::before_deadline`]), then for each
//! attempt the client's own pacing ([`pace`]), sending ([`attempt`], whose failure
//! [`failure`] puts in the crate's words), and the decision to try again ([`retries`]).
//! [`Call::attempts`] strings them together; tracing spans are kept here.

mod attempt;
mod deadline;
mod failure;
mod pace;
mod retries;
mod unsent;

use std::future::Future;

use progenitor_client::ResponseValue;
use tokio::time::Instant;
use tracing::{Instrument, field::Empty};

use self::{
    deadline::Deadline,
    failure::GeneratedError,
    retries::{Next, Retries},
    unsent::{Ready, Unsent},
};
use crate::{Error, NoRetry, leadership::Leadership, rate_limit::RateLimiter, settings::Settings};

/// One call: the client's settings, the rate limiter its requests wait for, and its one
/// deadline, set when the call starts and never again.
pub(crate) struct Call<'a> {
    settings: &'a Settings,
    limiter: Option<&'a RateLimiter>,
    deadline: Deadline,
    /// A lease that must be held when each request leaves.
    leadership: Option<&'a Leadership>,
}

impl<'a> Call<'a> {
    pub(crate) fn new(settings: &'a Settings, limiter: Option<&'a RateLimiter>) -> Self {
        Self {
            settings,
            limiter,
            deadline: Deadline::starting_now(settings.overall_timeout),
            leadership: None,
        }
    }

    /// Sends each request only while `leadership` (if any) is held.
    pub(crate) fn under(mut self, leadership: Option<&'a Leadership>) -> Self {
        self.leadership = leadership;
        self
    }

    /// Runs a step before the attempts (credentials, the IAM lookup) within the deadline.
    // Not `async`: a wrapper's future would hold `work` a second time (as its argument).
    pub(crate) fn before_deadline<T>(
        &self,
        step: &str,
        work: impl Future<Output = Result<T, Error>>,
    ) -> impl Future<Output = Result<T, Error>> {
        self.deadline.bound(step, work)
    }

    /// The steps before attempt number `attempt` leaves: its turn at the limiter, the
    /// credentials as they are now, time left, and the lease; or why it cannot leave.
    async fn ready_to_send(&self, attempt: u32) -> Result<Ready, Unsent> {
        // Boxed, as the waits below: state that would otherwise enlarge every call's
        // future, for clients that have a limiter.
        let sent = match self.limiter {
            Some(limiter) => Some(
                Box::pin(pace::turn(limiter, &self.deadline))
                    .await
                    .map_err(Unsent::Paced)?,
            ),
            None => None,
        };
        // Temporary keys as they are now, not as they were at the call's start: the waits
        // since may have brought them to their last moments (a no-op for other keys).
        if attempt > 1 || sent.is_some() {
            let ready = self.settings.credentials.ready();
            Box::pin(self.deadline.bound("credentials", ready))
                .await
                .map_err(Unsent::Credentials)?;
        }
        let now = Instant::now();
        if self.deadline.too_late_to_send(now) {
            // Next to nothing left (the steps before took it): a request polled once would
            // still go out, for an answer no one waits for.
            let error = self.deadline.passed("before the request could be sent");
            return Err(Unsent::Deadline(error));
        }
        let mut time = self
            .deadline
            .for_attempt(now, self.settings.attempt_timeout);
        // Checked last, after every wait: a process paused (SIGSTOP) in one of them may
        // wake after its lease ended and a successor started polling.
        // A request still connecting when the lease ends is dropped unsent; one cut
        // short by the lease's end is the lease's doing, not the service's.
        let mut cut_by_lease = false;
        if let Some(held) = self.leadership {
            let left = held.left().ok_or(Unsent::NotLeading)?;
            cut_by_lease = time.is_none_or(|time| left < time);
            time = Some(time.map_or(left, |time| time.min(left)));
        }
        Ok(Ready {
            sent,
            time,
            cut_by_lease,
        })
    }

    /// Runs `send` until it succeeds, fails for good, or runs out of attempts, time or
    /// retry budget.
    pub(crate) async fn run<T, F, Fut>(&self, operation: &'static str, send: F) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<ResponseValue<T>, GeneratedError>>,
    {
        let span = tracing::info_span!(
            "codearts_call",
            operation,
            attempts = Empty,
            outcome = Empty
        );
        // Durations for logs come from the system clock (read only when they are logged);
        // deadlines from tokio's, which tests pause.
        let started = debug_clock();
        let (result, attempts) = self
            .attempts(operation, send)
            .instrument(span.clone())
            .await;
        span.record("attempts", attempts);
        span.record("outcome", if result.is_ok() { "ok" } else { "error" });
        span.in_scope(|| tracing::debug!(elapsed_ms = elapsed_ms(started), "call finished"));
        result
    }

    /// The steps of each attempt, until one succeeds or no more is made; with the number of
    /// requests sent.
    async fn attempts<T, F, Fut>(
        &self,
        operation: &'static str,
        mut send: F,
    ) -> (Result<T, Error>, u32)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<ResponseValue<T>, GeneratedError>>,
    {
        let settings = self.settings;
        let mut retries = Retries::new(operation, &settings.retry, settings.budget.as_ref());
        let mut attempt = 0;
        // The last attempt's failure: what the call reports if a retry is never sent.
        let mut failed: Option<Error> = None;
        loop {
            attempt += 1;
            let Ready {
                sent,
                time,
                cut_by_lease,
            } = match self.ready_to_send(attempt).await {
                Ok(ready) => ready,
                Err(unsent) => {
                    // What a retry that never left cost is given back.
                    retries.unsent();
                    return (Err(unsent.into_error(failed, attempt - 1)), attempt - 1);
                }
            };
            retries.sent();
            // Boxed once here: the generated future is large (see `attempt::send`).
            let request = Box::pin(send());
            let answer = attempt::send(operation, attempt, request, time, settings.max_body_bytes);
            let error = match answer.await {
                Ok(value) => {
                    retries.succeeded();
                    return (Ok(value), attempt);
                }
                Err(error) if cut_by_lease && retries::is_timeout(&error) => {
                    // Renewed meanwhile: the lease is not what cut it, the service was slow.
                    if self.leadership.is_none_or(|held| !held.is_held()) {
                        return (Err(Error::NotLeading), attempt);
                    }
                    error
                }
                Err(error) => error,
            };
            if let (Some(limiter), Some(sent)) = (self.limiter, sent) {
                pace::throttled(limiter, sent, &error, &settings.retry);
            }
            match retries.after(&error, attempt, &self.deadline) {
                Next::Stop(why) => return (Err(finished(error, attempt, why)), attempt),
                Next::RetryAfter(delay) => {
                    tell_wait(delay, &error, attempt + 1);
                    Box::pin(tokio::time::sleep(delay)).await;
                }
            }
            failed = Some(error);
        }
    }
}

/// Tells the wait before attempt number `next`, for programs that tell their user about long
/// waits (the `codearts` command).
fn tell_wait(delay: std::time::Duration, error: &Error, next: u32) {
    tracing::debug!(
        target: "codearts_repo::wait",
        wait_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
        asked = error.retry_after().is_some(),
        attempt = next,
        "waiting before the next attempt"
    );
}

/// The system clock's now, when debug events (which log durations) are enabled.
fn debug_clock() -> Option<std::time::Instant> {
    tracing::enabled!(tracing::Level::DEBUG).then(std::time::Instant::now)
}

fn elapsed_ms(since: Option<std::time::Instant>) -> Option<u64> {
    since.map(|t| u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX))
}

/// The call's error, with how many attempts were made and why no more, if attempts were left.
fn finished(mut error: Error, attempts: u32, why: Option<NoRetry>) -> Error {
    match &mut error {
        Error::Transport {
            attempts: a,
            not_retried,
            ..
        } => (*a, *not_retried) = (attempts, why),
        Error::Api(api) => (api.attempts, api.not_retried) = (attempts, why),
        _ => {}
    }
    error
}

/// A service's answer with `status` (and its `Retry-After`), for the steps' unit tests.
#[cfg(test)]
pub(crate) fn answered(status: u16, retry_after: Option<std::time::Duration>) -> Error {
    crate::ApiError {
        status,
        error_code: status.to_string(),
        error_msg: String::new(),
        request_id: None,
        encoded_authorization_message: None,
        attempts: 1,
        not_retried: None,
        retry_after,
        clock_skew_secs: None,
    }
    .into()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use progenitor_client::ResponseValue;
    use tokio::time::{Instant, sleep};

    use super::{Call, GeneratedError};
    use crate::{
        Client, Credentials, Error, NoRetry, RateLimit, RetryPolicy, TransportKind,
        rate_limit::RateLimiter,
    };

    const SECOND: Duration = Duration::from_secs(1);

    fn client(builder: crate::ClientBuilder) -> Client {
        builder
            .endpoint("http://127.0.0.1:9")
            .credentials(Credentials::token("unit-token").unwrap())
            .build()
            .unwrap()
    }

    async fn answer_after(wait: Duration) -> Result<ResponseValue<u8>, GeneratedError> {
        sleep(wait).await;
        Ok(ResponseValue::new(
            7,
            reqwest::StatusCode::OK,
            Default::default(),
        ))
    }

    async fn hang() -> Result<ResponseValue<u8>, GeneratedError> {
        std::future::pending().await
    }

    /// Credentials that take 3.5 s and a service that never answers: a 5 s call ends at 5 s,
    /// not 3.5 s later than that.
    #[tokio::test(start_paused = true)]
    async fn one_deadline_bounds_credentials_and_attempts() {
        let client = client(Client::builder().timeout(Some(5 * SECOND)));
        let started = Instant::now();
        let call = Call::new(&client.settings, None);
        call.before_deadline("credentials", async {
            sleep(Duration::from_millis(3500)).await;
            Ok(())
        })
        .await
        .unwrap();
        let error = call.run("Unit", hang).await.unwrap_err();
        assert_eq!(started.elapsed(), 5 * SECOND, "{error}");
        assert!(super::retries::is_timeout(&error), "{error}");
        assert!(
            error.to_string().contains("no complete answer within 1.5s"),
            "{error}"
        );
    }

    /// Credentials that end less than a millisecond before the deadline leave nothing for a
    /// request: none is sent (a request polled once goes out, for an answer no one waits
    /// for). With a millisecond left, one is.
    #[tokio::test(start_paused = true)]
    async fn no_request_is_sent_with_less_than_a_millisecond_left() {
        let client = client(Client::builder().timeout(Some(5 * SECOND)));
        let millisecond = Duration::from_millis(1);
        for (left, sends) in [
            (Duration::ZERO, 0),
            (Duration::from_micros(999), 0),
            (millisecond, 1),
        ] {
            let call = Call::new(&client.settings, None);
            // `advance`, not `sleep`: timers fire on whole milliseconds.
            call.before_deadline("credentials", async {
                tokio::time::advance(5 * SECOND - left).await;
                Ok(())
            })
            .await
            .unwrap();
            let sent = std::cell::Cell::new(0);
            let error = call
                .run("Unit", || {
                    sent.set(sent.get() + 1);
                    hang()
                })
                .await
                .unwrap_err();
            assert_eq!(sent.get(), sends, "{left:?} left: {error}");
            if sends == 0 {
                assert!(
                    error.to_string().contains(
                        "the call's timeout (5s) passed before the request could be sent"
                    ),
                    "{error}"
                );
            }
        }
    }

    /// Without an attempt timeout of its own, an attempt may use all that is left of the
    /// call's: a service that answers in 20 s is heard within a 60 s call.
    #[tokio::test(start_paused = true)]
    async fn an_attempt_may_use_what_is_left_of_the_call() {
        let client = client(Client::builder().timeout(Some(60 * SECOND)));
        let call = Call::new(&client.settings, None);
        let value = call.run("Unit", || answer_after(20 * SECOND)).await;
        assert_eq!(value.unwrap(), 7);
    }

    /// An attempt timeout that is set still cuts each attempt; the retries share what is left,
    /// and the last one ends at the deadline.
    #[tokio::test(start_paused = true)]
    async fn an_attempt_timeout_that_is_set_cuts_each_attempt_and_retries_use_what_is_left() {
        let client = client(
            Client::builder()
                .timeout(Some(5 * SECOND))
                .attempt_timeout(2 * SECOND)
                .retry(
                    RetryPolicy::default()
                        .base_delay(Duration::ZERO)
                        .max_attempts(5),
                ),
        );
        let started = Instant::now();
        let error = Call::new(&client.settings, None)
            .run("Unit", hang)
            .await
            .unwrap_err();
        assert_eq!(started.elapsed(), 5 * SECOND);
        assert!(
            matches!(
                error,
                Error::Transport {
                    kind: TransportKind::Timeout,
                    attempts: 3,
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(error.to_string().contains("within 1s"), "{error}");
        assert!(
            matches!(error.not_retried(), Some(NoRetry::Deadline { left, .. }) if left.is_zero()),
            "{error:?}"
        );
    }

    /// Calls queued behind the client's own limiter whose deadline passes before their turn
    /// end `Paced` at the deadline, without being sent.
    #[tokio::test(start_paused = true)]
    async fn a_call_whose_turn_comes_after_its_deadline_is_paced_and_not_sent() {
        let client = client(Client::builder().timeout(Some(SECOND)));
        // One request every 2 s.
        let limiter = RateLimiter::new(RateLimit::fixed(0.5));
        Call::new(&client.settings, Some(&limiter))
            .run("Unit", || answer_after(Duration::ZERO))
            .await
            .unwrap();
        let started = Instant::now();
        let mut sent = 0;
        let error = Call::new(&client.settings, Some(&limiter))
            .run("Unit", || {
                sent += 1;
                answer_after(Duration::ZERO)
            })
            .await
            .unwrap_err();
        assert_eq!(started.elapsed(), SECOND);
        assert!(
            matches!(error, Error::Paced { waited } if waited == SECOND),
            "{error:?}"
        );
        assert_eq!(sent, 0);
    }

    async fn unavailable() -> Result<ResponseValue<u8>, GeneratedError> {
        let body = crate::generated::types::HuaweiError::builder()
            .error_code("CH.000503")
            .error_msg("busy")
            .try_into()
            .unwrap();
        let status = reqwest::StatusCode::SERVICE_UNAVAILABLE;
        Err(GeneratedError::ErrorResponse(ResponseValue::new(
            body,
            status,
            Default::default(),
        )))
    }

    /// A retry whose turn at the limiter comes after the deadline: the call reports what the
    /// service answered the attempt before (a 503, not retried for the deadline), not a wait
    /// that "says nothing of the service".
    #[tokio::test(start_paused = true)]
    async fn a_retry_that_never_gets_its_turn_reports_the_services_answer() {
        let client = client(
            Client::builder()
                .timeout(Some(SECOND))
                .retry(RetryPolicy::default().base_delay(Duration::from_millis(10))),
        );
        // One request every 2 s: the retry's turn comes after the 1 s deadline.
        let limiter = RateLimiter::new(RateLimit::fixed(0.5));
        let error = Call::new(&client.settings, Some(&limiter))
            .run("Unit", unavailable)
            .await
            .unwrap_err();
        assert_eq!(error.status(), Some(503), "{error:?}");
        assert!(
            matches!(error.not_retried(), Some(NoRetry::Deadline { .. })),
            "{error:?}"
        );
    }

    /// At a fixed 0.5/s with a 1 s timeout and a 503 service, every retry's turn comes past
    /// the deadline: never sent, so never paid for. Before, 100 such calls drained the
    /// 500-token budget and later calls were not retried at all; each error also says how
    /// many attempts were made and why no more.
    #[tokio::test(start_paused = true)]
    async fn retries_never_sent_leave_the_budget_whole_and_the_error_says_so() {
        let client = client(
            Client::builder()
                .timeout(Some(SECOND))
                .retry(RetryPolicy::default().base_delay(Duration::from_millis(10))),
        );
        let limiter = RateLimiter::new(RateLimit::fixed(0.5));
        for call in 0..300 {
            sleep(2 * SECOND).await;
            let sent = std::cell::Cell::new(0);
            let error = Call::new(&client.settings, Some(&limiter))
                .run("Unit", || {
                    sent.set(sent.get() + 1);
                    unavailable()
                })
                .await
                .unwrap_err();
            let Error::Api(api) = &error else {
                panic!("{error:?}")
            };
            assert_eq!((api.attempts, sent.get()), (1, 1), "call {call}: {error:?}");
            assert!(
                matches!(api.not_retried, Some(NoRetry::Deadline { .. })),
                "call {call}: {error:?}"
            );
        }
        let budget = client.settings.budget.as_ref().unwrap();
        assert_eq!(budget.tokens(), crate::retry_budget::DEFAULT_CAPACITY);
    }
}
