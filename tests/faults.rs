//! One test per fault a server or the network can produce: the exact error kind, the number
//! of attempts, and no panic. Short explicit deadlines, never long sleeps.

mod common;

use std::time::{Duration, Instant};

use codearts_repo::{Error, RetryPolicy, TransportKind};
use common::{Reply, builder, http, json, scripted};

const EVENT: &str = r#"{"ref":"main","created_at":"2025-06-19T21:27:31.000+08:00"}"#;

/// Three attempts with tiny backoff, short deadlines.
fn client(url: &str) -> codearts_repo::Client {
    builder(url)
        .retry(
            RetryPolicy::default()
                .max_attempts(3)
                .base_delay(Duration::from_millis(5))
                .jitter_seed(1),
        )
        .attempt_timeout(Duration::from_millis(400))
        .build()
        .unwrap()
}

async fn fault(reply: Reply) -> (Error, usize) {
    let server = scripted(vec![reply]).await;
    let error = client(&server.url).last_push_event(1).await.unwrap_err();
    (error, server.requests().len())
}

fn transport(error: &Error) -> (TransportKind, u32) {
    match error {
        Error::Transport { kind, attempts, .. } => (*kind, *attempts),
        other => panic!("not a transport error: {other:?}"),
    }
}

fn head(status: u16, content_type: &str, length: usize) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\n\r\n"
    )
    .into_bytes()
}

#[tokio::test]
async fn connection_refused() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let error = client(&format!("http://127.0.0.1:{port}"))
        .last_push_event(1)
        .await
        .unwrap_err();
    assert_eq!(transport(&error), (TransportKind::Connect, 3));
}

#[tokio::test]
async fn reset_before_headers() {
    let (error, requests) = fault(Reply::Close).await;
    assert_eq!(transport(&error), (TransportKind::Connection, 3));
    assert_eq!(requests, 3);
}

#[tokio::test]
async fn reset_mid_body() {
    let reply = Reply::Stream {
        head: head(200, "application/json", 1000),
        chunk: b"{\"ref\":".to_vec(),
        count: 1,
        delay: Duration::ZERO,
    };
    let (error, requests) = fault(reply).await;
    assert_eq!(transport(&error), (TransportKind::Connection, 3));
    assert_eq!(requests, 3);
}

#[tokio::test]
async fn truncated_json() {
    let (error, requests) = fault(json(200, r#"{"ref":"ma"#)).await;
    assert!(
        matches!(&error, Error::Decode { excerpt, .. } if excerpt == r#"{"ref":"ma"#),
        "{error:?}"
    );
    assert_eq!(requests, 1, "a bad body is not retried");
}

#[tokio::test]
async fn bad_gateway_with_an_html_page() {
    let page = "<html><head><title>502 Bad Gateway</title></head>\n<body>nginx</body></html>";
    let (error, requests) = fault(Reply::Raw(http(
        502,
        &[("Content-Type", "text/html")],
        page.as_bytes(),
    )))
    .await;
    let Error::Api(api) = &error else {
        panic!("{error:?}")
    };
    assert_eq!((api.status, api.attempts, requests), (502, 3, 3));
    assert_eq!(api.error_code, "502");
    assert!(!error.to_string().contains('\n'), "one line: {error}");
}

#[tokio::test]
async fn ok_with_text_html() {
    let (error, requests) = fault(Reply::Raw(http(
        200,
        &[("Content-Type", "text/html")],
        b"<html>hi</html>",
    )))
    .await;
    assert!(matches!(error, Error::Decode { .. }), "{error:?}");
    assert_eq!(requests, 1);
}

#[tokio::test]
async fn ok_with_invalid_utf8() {
    let (error, _) = fault(Reply::Raw(http(200, &[], b"{\"ref\":\"\xff\xfe\"}"))).await;
    assert!(matches!(error, Error::Decode { .. }), "{error:?}");
}

#[tokio::test]
async fn empty_ok() {
    let (error, _) = fault(Reply::Raw(http(200, &[], b""))).await;
    assert!(
        matches!(&error, Error::Decode { excerpt, .. } if excerpt.is_empty()),
        "{error:?}"
    );
}

#[tokio::test]
async fn huge_body() {
    // 64 MiB announced and streamed; the client stops at its 4 MiB cap.
    let chunk = vec![b' '; 64 * 1024];
    let reply = Reply::Stream {
        head: head(200, "application/json", 64 << 20),
        chunk,
        count: 1024,
        delay: Duration::ZERO,
    };
    let (error, requests) = fault(reply).await;
    assert!(
        matches!(error, Error::ResponseTooLarge { limit, .. } if limit == codearts_repo::DEFAULT_MAX_BODY_BYTES),
        "{error:?}"
    );
    assert_eq!(requests, 1);
}

#[tokio::test]
async fn slow_headers() {
    let started = Instant::now();
    let (error, requests) = fault(Reply::Hang).await;
    assert_eq!(transport(&error), (TransportKind::Timeout, 3));
    assert_eq!(requests, 3);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn slow_body() {
    let reply = Reply::Stream {
        head: head(200, "application/json", 100),
        chunk: b" ".to_vec(),
        count: 100,
        delay: Duration::from_millis(50),
    };
    let started = Instant::now();
    let (error, _) = fault(reply).await;
    assert_eq!(transport(&error), (TransportKind::Timeout, 3));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_overall_deadline_bounds_retries() {
    let server = scripted(vec![Reply::Hang]).await;
    let client = builder(&server.url)
        .retry(RetryPolicy::default().max_attempts(10))
        .attempt_timeout(Duration::from_secs(5))
        .timeout(Some(Duration::from_millis(300)))
        .build()
        .unwrap();
    let started = Instant::now();
    let error = client.last_push_event(1).await.unwrap_err();
    assert_eq!(transport(&error), (TransportKind::Timeout, 1));
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn too_many_requests_then_ok() {
    let busy = Reply::Raw(http(429, &[("Retry-After", "0")], b"{}"));
    let server = scripted(vec![busy, json(200, EVENT)]).await;
    assert_eq!(
        client(&server.url)
            .last_push_event(1)
            .await
            .unwrap()
            .ref_
            .as_deref(),
        Some("main")
    );
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn a_retry_after_beyond_the_cap_ends_the_retries() {
    let busy = Reply::Raw(http(429, &[("Retry-After", "3600")], b"{}"));
    let (error, requests) = fault(busy).await;
    assert_eq!((error.status(), requests), (Some(429), 1));
}

#[tokio::test]
async fn service_unavailable_then_ok() {
    let server = scripted(vec![json(503, "{}"), json(200, EVENT)]).await;
    client(&server.url).last_push_event(1).await.unwrap();
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn internal_error_forever() {
    let (error, requests) = fault(json(500, r#"{"error_code":"E","error_msg":"boom"}"#)).await;
    let Error::Api(api) = &error else {
        panic!("{error:?}")
    };
    assert_eq!((api.attempts, requests), (3, 3));
}

#[tokio::test]
async fn a_redirect_to_another_host_is_never_followed() {
    let elsewhere = scripted(vec![json(200, EVENT)]).await;
    let location = format!("{}/v4/repositories/1/last-push-event", elsewhere.url);
    let (error, requests) = fault(Reply::Raw(http(307, &[("Location", &location)], b""))).await;
    assert_eq!((error.status(), requests), (Some(307), 1));
    assert!(
        elsewhere.requests().is_empty(),
        "the credentials never left for another host"
    );
}

#[tokio::test]
async fn unknown_extra_fields_decode() {
    let body = r#"{"ref":"main","extra":{"nested":[1,2]},"repository":{"id":5,"new_field":true}}"#;
    let server = scripted(vec![json(200, body)]).await;
    let event = client(&server.url).last_push_event(1).await.unwrap();
    assert_eq!(event.repository.unwrap().id.unwrap().get(), 5);
}
