//! Response decoding and error parsing on arbitrary bytes: the functions every answer goes
//! through. Run with `cargo fuzz run decode` (see the README).
#![no_main]

use codearts_repo::{ApiError, CommitList, PushEvent, Timestamp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (status, body) = match data.split_first_chunk::<2>() {
        Some((status, body)) => (u16::from_be_bytes(*status), body),
        None => (500, data),
    };
    let error = ApiError::from_body(status, None, body);
    assert_eq!(error.status, status);
    let _ = error.to_string();
    if let Ok(event) = serde_json::from_slice::<PushEvent>(body) {
        if let Some(created) = event.created_at {
            let _ = created.parse();
        }
    }
    let _ = serde_json::from_slice::<CommitList>(body);
    if let Ok(text) = std::str::from_utf8(body) {
        let _ = Timestamp::from(text).parse();
    }
});
