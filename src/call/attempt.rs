//! One attempt: the request sent and its answer read within the attempt's time, in a span of
//! its own (the hooks record the status and request id into it), its failure in the crate's
//! words.

use std::{future::Future, pin::Pin, time::Duration};

use progenitor_client::ResponseValue;
use tokio::time::Instant;
use tracing::{Instrument, field::Empty};

use super::failure::{GeneratedError, failure};
use crate::{Error, TransportKind};

/// Waits at most `time` (`None`: as long as it takes) for `request`, the generated code's
/// future, boxed by the caller: it is large, and moving it through the tracing and timeout
/// wrappers would copy it twice per attempt.
pub(crate) async fn send<T, Fut>(
    operation: &'static str,
    attempt: u32,
    request: Pin<Box<Fut>>,
    time: Option<Duration>,
    max_body_bytes: usize,
) -> Result<T, Error>
where
    Fut: Future<Output = Result<ResponseValue<T>, GeneratedError>>,
{
    let span = tracing::info_span!(
        "codearts_request",
        operation,
        attempt,
        status = Empty,
        request_id = Empty
    );
    let started = super::debug_clock();
    let request = request.instrument(span.clone());
    // A time past the clock's range never runs out. The time is looked at before the
    // request at each wake-up (`biased`): a process stopped (SIGSTOP) past it, or past the
    // lease that bounds it, never writes the request when it resumes.
    let result = match time.and_then(|time| Instant::now().checked_add(time)) {
        Some(at) => tokio::select! {
            biased;
            () = tokio::time::sleep_until(at) => Err(()),
            answer = request => Ok(answer),
        },
        None => Ok(request.await),
    };
    let error = match result {
        Ok(Ok(value)) => {
            span.in_scope(|| {
                tracing::debug!(elapsed_ms = super::elapsed_ms(started), "response decoded")
            });
            return Ok(value.into_inner());
        }
        // Boxed: a cold path whose state would otherwise enlarge every call's future.
        Ok(Err(error)) => Box::pin(failure(error, max_body_bytes)).await,
        Err(()) => Error::transport(
            TransportKind::Timeout,
            format!(
                "no complete answer within {}",
                crate::error::human(time.unwrap_or_default())
            ),
            None,
        ),
    };
    span.in_scope(|| {
        tracing::debug!(
            elapsed_ms = super::elapsed_ms(started),
            error = %error,
            retry = ?error.retry(),
            "attempt failed"
        )
    });
    Err(error)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use progenitor_client::ResponseValue;
    use tokio::time::{Instant, sleep};

    use super::{GeneratedError, send};
    use crate::{Error, TransportKind};

    const SECOND: Duration = Duration::from_secs(1);

    async fn answer_after(wait: Duration) -> Result<ResponseValue<u8>, GeneratedError> {
        sleep(wait).await;
        Ok(ResponseValue::new(
            7,
            reqwest::StatusCode::OK,
            Default::default(),
        ))
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_within_the_attempts_time_is_its_value() {
        let value = send(
            "Unit",
            1,
            Box::pin(answer_after(SECOND)),
            Some(2 * SECOND),
            1024,
        )
        .await;
        assert_eq!(value.unwrap(), 7);
        let unbounded = send("Unit", 1, Box::pin(answer_after(3600 * SECOND)), None, 1024).await;
        assert_eq!(unbounded.unwrap(), 7);
    }

    /// No answer in time is a timeout, retryable, that says how long it waited.
    #[tokio::test(start_paused = true)]
    async fn no_answer_within_the_attempts_time_is_a_timeout() {
        let started = Instant::now();
        let error = send(
            "Unit",
            1,
            Box::pin(std::future::pending::<Result<ResponseValue<u8>, _>>()),
            Some(1500 * Duration::from_millis(1)),
            1024,
        )
        .await
        .unwrap_err();
        assert_eq!(started.elapsed(), Duration::from_millis(1500));
        assert!(
            matches!(
                error,
                Error::Transport {
                    kind: TransportKind::Timeout,
                    attempts: 1,
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(
            error.to_string().contains("no complete answer within 1.5s"),
            "{error}"
        );
        assert!(error.is_retryable());
    }

    /// What the generated code failed with is told in the crate's words.
    #[tokio::test(start_paused = true)]
    async fn a_failure_is_the_crates_error() {
        let refused =
            async { Err::<ResponseValue<u8>, _>(GeneratedError::InvalidRequest("no".into())) };
        let error = send("Unit", 1, Box::pin(refused), Some(SECOND), 1024)
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                Error::InvalidInput {
                    field: "request",
                    ..
                }
            ),
            "{error:?}"
        );
    }
}
