//! Retries where they are safe, with the attempt count in the final error.

mod common;

use std::time::{Duration, Instant};

use codearts_repo::RetryPolicy;
use common::{Reply, builder, http, json, scripted};

const EVENT: &str = r#"{"ref":"main","created_at":"2025-06-19T21:27:31.000+08:00"}"#;

fn retrying(url: &str, attempts: u32) -> codearts_repo::Client {
    builder(url)
        .retry(
            RetryPolicy::default()
                .max_attempts(attempts)
                .base_delay(Duration::from_millis(5))
                .jitter_seed(7),
        )
        .build()
        .unwrap()
}

#[tokio::test]
async fn transient_statuses_are_retried_until_success() {
    for status in [408u16, 429, 500, 502, 503, 504] {
        let server = scripted(vec![
            json(status, r#"{"error_code":"X","error_msg":"busy"}"#),
            json(200, EVENT),
        ])
        .await;
        let event = retrying(&server.url, 3).last_push_event(1).await.unwrap();
        assert_eq!(event.ref_.as_deref(), Some("main"));
        assert_eq!(server.requests().len(), 2, "{status}");
    }
}

#[tokio::test]
async fn other_statuses_are_not_retried() {
    for status in [400u16, 401, 403, 404, 418] {
        let server = scripted(vec![json(status, "{}"), json(200, EVENT)]).await;
        let error = retrying(&server.url, 3)
            .last_push_event(1)
            .await
            .unwrap_err();
        assert_eq!(error.status(), Some(status));
        assert_eq!(server.requests().len(), 1);
    }
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let busy = Reply::Raw(http(429, &[("Retry-After", "1")], b"{}"));
    let server = scripted(vec![busy, json(200, EVENT)]).await;
    let started = Instant::now();
    retrying(&server.url, 2).last_push_event(1).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn every_retry_is_signed() {
    let server = scripted(vec![json(503, "{}"), json(200, EVENT)]).await;
    let keys = codearts_repo::Credentials::aksk("AK", "SK").unwrap();
    let client = builder(&server.url)
        .credentials(keys)
        .retry(RetryPolicy::default().base_delay(Duration::from_millis(5)))
        .build()
        .unwrap();
    client.last_push_event(1).await.unwrap();
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    for request in &requests {
        assert!(
            request.contains("authorization: SDK-HMAC-SHA256 Access=AK"),
            "{request}"
        );
        assert!(request.contains("x-sdk-date: "), "{request}");
        assert!(!request.contains("api-version"), "{request}");
    }
}

/// The one classifier, as a program sees it: `Error::retry` / `is_retryable`, and the
/// causes kept as `source()`.
#[tokio::test]
async fn every_failure_says_whether_to_try_again_and_keeps_its_causes() {
    use codearts_repo::{Error, Retry};
    let once = |url: &str| retrying(url, 1);

    let server = scripted(vec![Reply::Raw(http(
        429,
        &[("Retry-After", "2"), ("Content-Type", "application/json")],
        br#"{"error_code":"X","error_msg":"slow down"}"#,
    ))])
    .await;
    let error = once(&server.url).last_push_event(1).await.unwrap_err();
    assert_eq!(error.retry(), Retry::After(Duration::from_secs(2)));
    assert!(error.is_retryable());

    let server = scripted(vec![json(404, r#"{"error_code":"X","error_msg":"no"}"#)]).await;
    let error = once(&server.url).last_push_event(1).await.unwrap_err();
    assert_eq!(error.retry(), Retry::Stop);

    let server = scripted(vec![json(503, r#"{"error_code":"X","error_msg":"busy"}"#)]).await;
    let error = once(&server.url).last_push_event(1).await.unwrap_err();
    assert_eq!(error.retry(), Retry::Backoff);

    let error = once("http://127.0.0.1:9")
        .last_push_event(1)
        .await
        .unwrap_err();
    assert!(error.is_retryable(), "{error}");
    // The causes are there to walk, down to the operating system's refusal.
    let mut causes = Vec::new();
    let mut cause = std::error::Error::source(&error);
    while let Some(e) = cause {
        causes.push(e.to_string());
        cause = e.source();
    }
    assert!(causes.len() >= 2, "{causes:?}");
    assert!(
        causes.iter().any(|c| c.to_lowercase().contains("refused")),
        "{causes:?}"
    );

    let server = scripted(vec![json(200, "{not json")]).await;
    let error = once(&server.url).last_push_event(1).await.unwrap_err();
    assert!(matches!(error, Error::Decode { .. }) && !error.is_retryable());
    assert!(
        std::error::Error::source(&error).is_some(),
        "the decoder's error is kept"
    );

    let error = once(&server.url).last_push_event(0).await.unwrap_err();
    assert!(!error.is_retryable());
}
