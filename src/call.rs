//! Running one operation: attempts with timeouts and retries, tracing, and the mapping of the
//! generated client's errors onto the crate's [`Error`].

use std::{future::Future, time::Duration};

use progenitor_client::ResponseValue;
use tokio::time::Instant;
use tracing::{Instrument, field::Empty};

use crate::{
    ApiError, Error, RetryPolicy, TransportKind,
    generated::types::HuaweiError,
    hooks::request_id,
    retry::{retry_after, retryable_status},
    transport::{self, source_is},
};

type GeneratedError = progenitor_client::Error<HuaweiError>;

/// Per-client settings that shape every call.
#[derive(Clone, Debug)]
pub(crate) struct CallSettings {
    pub(crate) retry: RetryPolicy,
    pub(crate) attempt_timeout: Duration,
    pub(crate) overall_timeout: Option<Duration>,
    pub(crate) max_body_bytes: usize,
}

/// One failed attempt, with what the retry decision needs.
struct Failure {
    error: Error,
    retryable: bool,
}

impl Failure {
    /// The wait the service asked for, if it answered.
    fn retry_after(&self) -> Option<Duration> {
        match &self.error {
            Error::Api(api) => api.retry_after,
            _ => None,
        }
    }
}

impl CallSettings {
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
            let failure = match error {
                // Boxed, as the retry wait below: cold paths whose state would otherwise
                // enlarge every call's future.
                Some(error) => Box::pin(self.failure(error)).await,
                None => Failure {
                    error: transport(
                        TransportKind::Timeout,
                        format!("no complete answer within {budget:?}"),
                    ),
                    retryable: true,
                },
            };
            span.in_scope(|| {
                tracing::debug!(
                    elapsed_ms = elapsed_ms(attempt_started),
                    error = %failure.error,
                    retryable = failure.retryable,
                    "attempt failed"
                )
            });
            let delay = (failure.retryable && attempt < self.retry.attempts())
                .then(|| self.retry.delay(attempt, failure.retry_after(), &mut rng))
                .flatten()
                .filter(|delay| deadline.is_none_or(|d| Instant::now() + *delay < d));
            match delay {
                Some(delay) => Box::pin(tokio::time::sleep(delay)).await,
                None => return Err(with_attempts(failure.error, attempt)),
            }
        }
    }

    async fn failure(&self, error: GeneratedError) -> Failure {
        let api = |mut api: ApiError, headers: &reqwest::header::HeaderMap| {
            api.retry_after = retry_after(headers);
            api.note_clock_skew(
                headers
                    .get(reqwest::header::DATE)
                    .and_then(|v| v.to_str().ok()),
            );
            Failure {
                retryable: retryable_status(api.status),
                error: api.into(),
            }
        };
        match error {
            GeneratedError::ErrorResponse(value) => {
                let status = value.status().as_u16();
                let headers = value.headers().clone();
                let body = value.into_inner();
                let error = ApiError {
                    status,
                    error_code: body.error_code,
                    error_msg: body.error_msg,
                    request_id: request_id(&headers),
                    encoded_authorization_message: body.encoded_authorization_message,
                    attempts: 1,
                    retry_after: None,     // set by `api` from the headers
                    clock_skew_secs: None, // likewise
                };
                api(error, &headers)
            }
            GeneratedError::UnexpectedResponse(response) => {
                let status = response.status().as_u16();
                let headers = response.headers().clone();
                // The hooks already replaced the body with a small canonical one.
                let body = response.bytes().await.unwrap_or_default();
                api(
                    ApiError::from_body(status, request_id(&headers), &body),
                    &headers,
                )
            }
            GeneratedError::InvalidResponsePayload(body, error) => Failure {
                error: Error::decode(error, &body),
                retryable: false,
            },
            GeneratedError::ResponseBodyError(error)
                if source_is::<http_body_util::LengthLimitError>(&error) =>
            {
                Failure {
                    error: Error::ResponseTooLarge {
                        limit: self.max_body_bytes,
                    },
                    retryable: false,
                }
            }
            GeneratedError::CommunicationError(error)
            | GeneratedError::ResponseBodyError(error)
            | GeneratedError::InvalidUpgrade(error) => {
                let (kind, message) = transport::describe(&error);
                Failure {
                    error: transport(kind, message),
                    // A certificate the client does not trust will not be trusted next time.
                    retryable: kind != TransportKind::Tls,
                }
            }
            GeneratedError::InvalidRequest(message) | GeneratedError::Custom(message) => Failure {
                error: Error::invalid("request", message),
                retryable: false,
            },
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

fn transport(kind: TransportKind, message: String) -> Error {
    Error::Transport {
        kind,
        message,
        attempts: 1,
    }
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
