//! Error answers read the way the official SDK reads them, for declared and undeclared
//! statuses, JSON bodies or not; failures without an answer are transport errors.

mod common;

use codearts_repo::Error;
use common::{Reply, client, http, json, scripted};

async fn push_event_error(reply: Reply) -> Error {
    let server = scripted(vec![reply]).await;
    client(&server.url)
        .last_push_event(2112036131)
        .await
        .unwrap_err()
}

#[tokio::test]
async fn every_documented_status_maps_to_an_api_error_whatever_the_body() {
    let mut rendered = String::new();
    for status in [400u16, 401, 403, 404, 429, 500] {
        let bodies: [(&str, Reply); 3] = [
            (
                "json",
                json(
                    status,
                    r#"{"error_code":"CH.004404","error_msg":"not here"}"#,
                ),
            ),
            (
                "html",
                Reply::Raw(http(
                    status,
                    &[("Content-Type", "text/html")],
                    b"<html><body>\n<h1>Bad gateway</h1></body></html>",
                )),
            ),
            ("empty", Reply::Raw(http(status, &[], b""))),
        ];
        for (kind, reply) in bodies {
            let error = push_event_error(reply).await;
            let Error::Api(api) = &error else {
                panic!("{status} {kind}: {error:?}")
            };
            assert_eq!(api.status, status);
            rendered.push_str(&format!("{status} {kind}: {error}\n"));
        }
    }
    insta::assert_snapshot!(rendered);
}

#[tokio::test]
async fn error_fields_follow_the_official_sdk_precedence() {
    let cases = [
        (
            r#"{"error_code":"A","error_msg":"a","code":"C","message":"c"}"#,
            "A",
            "a",
        ),
        (
            r#"{"errorCode":"B","errorMsg":"b","code":"C","message":"c"}"#,
            "B",
            "b",
        ),
        (r#"{"code":"C","message":"c"}"#, "C", "c"),
        (
            r#"{"error":{"code":"N","message":"nested"}}"#,
            "N",
            "nested",
        ),
        (r#"{"code":401,"message":"numeric"}"#, "401", "numeric"),
        (r#"{"unrelated":true}"#, "403", r#"{"unrelated":true}"#),
    ];
    for (body, code, message) in cases {
        let Error::Api(api) = push_event_error(json(403, body)).await else {
            panic!()
        };
        assert_eq!(
            (api.error_code.as_str(), api.error_msg.as_str()),
            (code, message),
            "{body}"
        );
        assert_eq!(api.request_id.as_deref(), Some("req-123"));
    }
}

#[tokio::test]
async fn encoded_authorization_message_is_kept() {
    let body =
        r#"{"error_code":"CH.004403","error_msg":"denied","encoded_authorization_message":"xyz"}"#;
    let Error::Api(api) = push_event_error(json(403, body)).await else {
        panic!()
    };
    assert_eq!(api.encoded_authorization_message.as_deref(), Some("xyz"));
}

#[tokio::test]
async fn an_undeclared_status_is_an_api_error_too() {
    let error = push_event_error(json(418, r#"{"error_code":"T.418","error_msg":"teapot"}"#)).await;
    assert_eq!(
        error.to_string(),
        "API error: HTTP 418 T.418: teapot (request id req-123)"
    );
    let error = push_event_error(Reply::Raw(http(
        302,
        &[("Location", "http://example.invalid/")],
        b"",
    )))
    .await;
    assert_eq!(error.status(), Some(302), "redirects are never followed");
}

#[tokio::test]
async fn a_200_that_does_not_decode_is_a_decode_error_with_an_excerpt() {
    let error = push_event_error(json(200, r#"{"ref": 42}"#)).await;
    let Error::Decode { excerpt, .. } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(excerpt, r#"{"ref": 42}"#);
    let error = push_event_error(Reply::Raw(http(200, &[], &[0xff, 0xfe, b'{']))).await;
    assert!(matches!(error, Error::Decode { .. }), "{error:?}");
    let error = push_event_error(json(200, &format!(r#"{{"ref":"{}"#, "x".repeat(5000)))).await;
    let Error::Decode { excerpt, .. } = &error else {
        panic!("{error:?}")
    };
    assert!(excerpt.chars().count() <= 201, "the excerpt is bounded");
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused() {
    let big = format!(r#"{{"ref":"{}"}}"#, "x".repeat(10_000));
    let server = scripted(vec![json(200, &big)]).await;
    let client = common::builder(&server.url)
        .max_body_bytes(1000)
        .build()
        .unwrap();
    let error = client.last_push_event(1).await.unwrap_err();
    assert!(
        matches!(error, Error::ResponseTooLarge { limit: 1000, .. }),
        "{error:?}"
    );
}

/// An answer's `Date`, `offset` seconds from now.
fn date_from_now(offset: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(offset))
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

fn answer(status: u16, date: &str, message: &str) -> Reply {
    let body = format!(r#"{{"error_code":"APIGW.0301","error_msg":"{message}"}}"#);
    Reply::Raw(http(
        status,
        &[("Content-Type", "application/json"), ("Date", date)],
        body.as_bytes(),
    ))
}

#[tokio::test]
async fn an_expired_signature_or_a_far_clock_names_the_measured_skew() {
    // The server is 10 minutes ahead and says the signature expired.
    let error = push_event_error(answer(401, &date_from_now(600), "the signature expired")).await;
    let Error::Api(api) = &error else {
        panic!("{error:?}")
    };
    let skew = api.clock_skew_secs.unwrap();
    assert!((597..=602).contains(&skew), "{skew}");
    let text = error.to_string();
    assert!(
        text.contains("local clock is 9m5") || text.contains("local clock is 10m0"),
        "{text}"
    );
    assert!(text.contains("behind the server's"), "{text}");

    // 7 minutes behind, whatever the message: named too.
    let error = push_event_error(answer(403, &date_from_now(-420), "forbidden")).await;
    assert!(error.to_string().contains("ahead of"), "{error}");

    // A small skew on an answer about something else is no news.
    let error = push_event_error(answer(403, &date_from_now(30), "forbidden")).await;
    let Error::Api(api) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(api.clock_skew_secs, None, "{error}");
}
