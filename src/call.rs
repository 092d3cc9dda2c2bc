//! Running one operation: attempts with timeouts and retries, tracing, and the mapping of the
//! generated client's errors onto the crate's [`Error`].

use std::future::Future;

use progenitor_client::ResponseValue;
use tokio::time::Instant;
use tracing::{Instrument, field::Empty};

use crate::{
    Error, TransportKind,
    error_answer::{self, Generated},
    generated::types::HuaweiError,
    settings::Settings,
    transport::{self, source_is},
};

type GeneratedError = progenitor_client::Error<HuaweiError>;

impl Settings {
    /// Runs `send` until it succeeds, fails for good, or runs out of attempts or time.
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
        let started = Instant::now();
        // A deadline too far to represent is no deadline.
        let deadline = self.overall_timeout.and_then(|t| started.checked_add(t));
        let mut rng = self.retry.rng();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let now = if attempt == 1 {
                started
            } else {
                Instant::now()
            };
            let budget = deadline.map_or(self.attempt_timeout, |d| {
                self.attempt_timeout.min(d.saturating_duration_since(now))
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
                let result = match now.checked_add(budget) {
                    Some(at) => tokio::time::timeout_at(at, call).await,
                    // A budget past the clock's range never runs out.
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
                    format!("no complete answer within {budget:?}"),
                    None,
                ),
            };
            let decision = error.retry();
            span.in_scope(|| {
                tracing::debug!(
                    elapsed_ms = elapsed_ms(attempt_started),
                    error = %error,
                    retry = ?decision,
                    "attempt failed"
                )
            });
            let delay = (attempt < self.retry.attempts())
                .then(|| self.retry.delay(attempt, decision, &mut rng))
                .flatten()
                .filter(|delay| deadline.is_none_or(|d| Instant::now() + *delay < d));
            match delay {
                Some(delay) => Box::pin(tokio::time::sleep(delay)).await,
                None => return Err(with_attempts(error, attempt)),
            }
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
                    limit: self.max_body_bytes,
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

fn with_attempts(mut error: Error, attempts: u32) -> Error {
    match &mut error {
        Error::Transport { attempts: a, .. } => *a = attempts,
        Error::Api(api) => api.attempts = attempts,
        _ => {}
    }
    error
}
