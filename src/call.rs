//! Running one operation: attempts with timeouts and retries, tracing, and the mapping of the
//! generated client's errors onto the crate's [`Error`].

use std::future::Future;

use progenitor_client::ResponseValue;
use tokio::time::Instant;
use tracing::{Instrument, field::Empty};

use crate::{
    Error, NoRetry, TransportKind,
    error_answer::{self, Generated},
    generated::types::HuaweiError,
    rate_limit::RateLimiter,
    retry_budget::{RETRY_COST, TIMEOUT_COST},
    settings::Settings,
    transport::{self, source_is},
};

type GeneratedError = progenitor_client::Error<HuaweiError>;

/// One call: the client's settings, the rate limiter its requests wait for, and its
/// deadline, counted from its start.
pub(crate) struct Call<'a> {
    settings: &'a Settings,
    limiter: Option<&'a RateLimiter>,
    deadline: Option<Instant>,
}

impl<'a> Call<'a> {
    pub(crate) fn new(settings: &'a Settings, limiter: Option<&'a RateLimiter>) -> Self {
        // A deadline too far to represent is no deadline.
        let deadline = settings
            .overall_timeout
            .and_then(|t| Instant::now().checked_add(t));
        Self {
            settings,
            limiter,
            deadline,
        }
    }

    /// Runs a step before the attempts (credentials, the IAM lookup) within the deadline.
    pub(crate) async fn before_deadline<T>(
        &self,
        step: &str,
        work: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        let Some(deadline) = self.deadline else {
            return work.await;
        };
        tokio::time::timeout_at(deadline, work)
            .await
            .unwrap_or_else(|_| {
                let timeout = self.settings.overall_timeout.unwrap_or_default();
                let message = format!(
                    "the call's timeout ({}) passed while waiting for {step}",
                    crate::retry::human(timeout)
                );
                Err(Error::transport(TransportKind::Timeout, message, None))
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
        let result = self
            .attempts(operation, send)
            .instrument(span.clone())
            .await;
        let attempts = match &result {
            Ok((_, attempts)) => *attempts,
            Err(error) => error_attempts(error),
        };
        span.record("attempts", attempts);
        span.record("outcome", if result.is_ok() { "ok" } else { "error" });
        span.in_scope(|| tracing::debug!(elapsed_ms = elapsed_ms(started), "call finished"));
        result.map(|(value, _)| value)
    }

    async fn attempts<T, F, Fut>(
        &self,
        operation: &'static str,
        mut send: F,
    ) -> Result<(T, u32), Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<ResponseValue<T>, GeneratedError>>,
    {
        let settings = self.settings;
        let started = Instant::now();
        // A deadline too far to represent is no deadline.
        let deadline = settings
            .overall_timeout
            .and_then(|t| started.checked_add(t));
        let mut rng = settings.retry.rng();
        let mut attempt = 0;
        let mut last_cost = 1;
        loop {
            attempt += 1;
            let sent = match self.limiter {
                Some(limiter) => Some(Box::pin(paced(limiter, deadline)).await?),
                None => None,
            };
            let now = if attempt == 1 && sent.is_none() {
                started
            } else {
                Instant::now()
            };
            let time = deadline.map_or(settings.attempt_timeout, |d| {
                settings
                    .attempt_timeout
                    .min(d.saturating_duration_since(now))
            });
            let span = tracing::info_span!(
                "codearts_request",
                operation,
                attempt,
                status = Empty,
                request_id = Empty
            );
            let attempt_started = debug_clock();
            // The result lives in this block only, so that the future of every call does not
            // keep room for it (it is copied whenever that future moves).
            let error = {
                // Boxed once: the generated future is large, and moving it through the
                // tracing and timeout wrappers would copy it twice per attempt.
                let call = Box::pin(send()).instrument(span.clone());
                let result = match now.checked_add(time) {
                    Some(at) => tokio::time::timeout_at(at, call).await,
                    // A time past the clock's range never runs out.
                    None => Ok(call.await),
                };
                match result {
                    Ok(Ok(value)) => {
                        span.in_scope(|| {
                            tracing::debug!(
                                elapsed_ms = elapsed_ms(attempt_started),
                                "response decoded"
                            )
                        });
                        if let Some(budget) = &settings.budget {
                            budget.deposit(last_cost);
                        }
                        return Ok((value.into_inner(), attempt));
                    }
                    Ok(Err(error)) => Some(error),
                    Err(_elapsed) => None,
                }
            };
            let error = match error {
                // Boxed, as the retry wait below: cold paths whose state would otherwise
                // enlarge every call's future.
                Some(error) => Box::pin(self.failure(error)).await,
                None => Error::transport(
                    TransportKind::Timeout,
                    format!("no complete answer within {}", crate::retry::human(time)),
                    None,
                ),
            };
            if let (Some(limiter), Some(sent), Some(429)) = (self.limiter, sent, error.status()) {
                let pause = error
                    .retry_after()
                    .map(|wait| wait.min(settings.retry.longest_retry_after()));
                limiter.throttled(sent, pause);
            }
            let decision = error.retry();
            span.in_scope(|| {
                tracing::debug!(
                    elapsed_ms = elapsed_ms(attempt_started),
                    error = %error,
                    retry = ?decision,
                    "attempt failed"
                )
            });
            if attempt >= settings.retry.attempts() {
                return Err(finished(error, attempt, None));
            }
            let delay = match settings.retry.delay(attempt, decision, &mut rng) {
                Ok(delay) => delay,
                Err(why) => return Err(finished(error, attempt, why)),
            };
            if let Some(left) = deadline.map(|d| d.saturating_duration_since(Instant::now()))
                && delay >= left
            {
                let why = NoRetry::Deadline { wait: delay, left };
                return Err(finished(error, attempt, Some(why)));
            }
            last_cost = if is_timeout(&error) {
                TIMEOUT_COST
            } else {
                RETRY_COST
            };
            if let Some(budget) = &settings.budget
                && !budget.withdraw(last_cost)
            {
                tracing::warn!(operation, "retry budget spent: not retrying");
                return Err(finished(error, attempt, Some(NoRetry::BudgetSpent)));
            }
            // For programs that tell their user about long waits (the `codearts` command).
            tracing::debug!(
                target: "codearts_repo::wait",
                wait_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                asked = error.retry_after().is_some(),
                attempt = attempt + 1,
                "waiting before the next attempt"
            );
            Box::pin(tokio::time::sleep(delay)).await;
        }
    }

    /// The crate's error for what the generated code returned.
    async fn failure(&self, error: GeneratedError) -> Error {
        match error {
            GeneratedError::ErrorResponse(value) => {
                error_answer::from_generated(Generated::Declared(value))
                    .await
                    .into()
            }
            GeneratedError::UnexpectedResponse(response) => {
                error_answer::from_generated(Generated::Undeclared(response))
                    .await
                    .into()
            }
            GeneratedError::InvalidResponsePayload(body, error) => Error::decode(error, &body),
            GeneratedError::ResponseBodyError(error)
                if source_is::<http_body_util::LengthLimitError>(&error) =>
            {
                Error::ResponseTooLarge {
                    limit: self.settings.max_body_bytes,
                }
            }
            GeneratedError::CommunicationError(error)
            | GeneratedError::ResponseBodyError(error)
            | GeneratedError::InvalidUpgrade(error) => {
                let (kind, message) = transport::describe(&error);
                Error::transport(kind, message, Some(Box::new(error)))
            }
            GeneratedError::InvalidRequest(message) | GeneratedError::Custom(message) => {
                Error::invalid("request", message)
            }
        }
    }
}

/// The system clock's now, when debug events (which log durations) are enabled.
fn debug_clock() -> Option<std::time::Instant> {
    tracing::enabled!(tracing::Level::DEBUG).then(std::time::Instant::now)
}

fn elapsed_ms(since: Option<std::time::Instant>) -> Option<u64> {
    since.map(|t| u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX))
}

fn error_attempts(error: &Error) -> u32 {
    match error {
        Error::Transport { attempts, .. } => *attempts,
        Error::Api(api) => api.attempts,
        _ => 1,
    }
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

fn is_timeout(error: &Error) -> bool {
    matches!(
        error,
        Error::Transport {
            kind: TransportKind::Timeout,
            ..
        }
    )
}

/// Waits for the rate limiter's slot, within the deadline.
async fn paced(limiter: &RateLimiter, deadline: Option<Instant>) -> Result<Instant, Error> {
    let Some(deadline) = deadline else {
        return Ok(limiter.acquire().await);
    };
    let started = Instant::now();
    tokio::time::timeout_at(deadline, limiter.acquire())
        .await
        .map_err(|_| Error::Paced {
            waited: started.elapsed(),
        })
}
