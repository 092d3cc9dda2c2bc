//! Arbitrary statuses, headers and bodies through the whole response path (hooks, generated
//! decoding, error mapping) over real HTTP: always a value or a typed error, never a panic.

mod common;

use codearts_repo::Error;
use common::{Reply, builder, http, scripted};
use proptest::prelude::*;

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        any::<Vec<u8>>(),
        Just(br#"{"ref":"main","created_at":"2025-06-19T21:27:31.000+08:00"}"#.to_vec()),
        Just(br#"{"error_code":"X","error_msg":"y"}"#.to_vec()),
        "\\PC{0,40}".prop_map(String::into_bytes),
        prop::collection::vec(
            prop_oneof![
                Just("{"),
                Just("}"),
                Just("["),
                Just("\"ref\""),
                Just(":"),
                Just(","),
                Just("1"),
                Just("null")
            ],
            0..20
        )
        .prop_map(|parts| parts.concat().into_bytes()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn any_answer_is_a_value_or_a_typed_error(
        status in prop_oneof![Just(200u16), Just(404u16), Just(429u16), 100u16..600],
        content_type in prop_oneof![Just("application/json"), Just("text/html"), Just("\u{1}")],
        request_id in "[ -~]{0,40}",
        body in body(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let reply = Reply::Raw(http(status, &[("Content-Type", content_type), ("X-Request-Id", &request_id)], &body));
            let server = scripted(vec![reply]).await;
            let client = builder(&server.url).attempt_timeout(std::time::Duration::from_secs(2)).build().unwrap();
            match client.last_push_event(1).await {
                Ok(_) => assert_eq!(status, 200),
                Err(Error::Api(api)) => assert_eq!(api.status, status),
                Err(Error::Decode { excerpt, .. }) => assert!(status == 200 && excerpt.chars().count() <= 201),
                // 1xx/101 and malformed answers end as transport errors.
                Err(Error::Transport { .. }) => {}
                Err(other) => panic!("unexpected {other:?}"),
            }
        });
    }
}
