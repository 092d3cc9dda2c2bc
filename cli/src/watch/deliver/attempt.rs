//! One POST of a delivery, and what its answer means: delivered, try again, or refused.

use std::time::{Duration, SystemTime};

use reqwest::header::{CONTENT_TYPE, RETRY_AFTER, USER_AGENT};

use super::{backoff, document::Document, secret::DeliverSecret};

const AGENT: &str = concat!("codearts-watch/", env!("CARGO_PKG_VERSION"));

/// How much of a refusal's answer is quoted.
const QUOTED: usize = 200;

/// What one attempt came to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// 2xx: the push is handled.
    Delivered,
    /// 5xx, 408, 429, another status a sender cannot act on (1xx, 3xx), or no answer: tried
    /// again, not sooner than `asked`. `why` is the receiver's trouble in a few words.
    Again {
        why: String,
        asked: Option<Duration>,
    },
    /// Any other 4xx: the receiver refuses this document, and would refuse it again.
    Refused { status: u16, answer: String },
}

pub(crate) async fn send(
    client: &reqwest::Client,
    url: &url::Url,
    secret: &DeliverSecret,
    document: &Document,
) -> Outcome {
    let signature = secret.sign(&document.body);
    let request = client
        .post(url.clone())
        .header(CONTENT_TYPE, "application/json")
        .header(USER_AGENT, AGENT)
        .header("X-Codearts-Event", document.kind)
        .header("X-Codearts-Delivery", &document.id)
        // Also under GitHub's name, which receivers such as Tekton's `github` interceptor
        // check without configuration.
        .header("X-Hub-Signature-256", &signature)
        .header("X-Codearts-Signature-256", signature)
        .body(document.body.clone());
    let mut response = match request.send().await {
        Ok(response) => response,
        Err(error) => return again(no_answer(&error), None),
    };
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        return Outcome::Delivered;
    }
    if (400..500).contains(&status) && status != 408 && status != 429 {
        // The first bytes are enough to say why; the rest is not waited for.
        let chunk = tokio::time::timeout(Duration::from_secs(1), response.chunk()).await;
        let bytes = chunk
            .ok()
            .and_then(Result::ok)
            .flatten()
            .unwrap_or_default();
        return Outcome::Refused {
            status,
            answer: quote(&bytes),
        };
    }
    let asked = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| backoff::retry_after(value, SystemTime::now()));
    again(format!("HTTP {status}"), asked)
}

fn again(why: String, asked: Option<Duration>) -> Outcome {
    Outcome::Again { why, asked }
}

/// A transport failure in a few words, without the URL (which may hold credentials).
fn no_answer(error: &reqwest::Error) -> String {
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else {
        "the connection failed"
    };
    // The innermost cause says what happened (refused, reset, certificate...).
    let mut source: &dyn std::error::Error = error;
    while let Some(next) = source.source() {
        source = next;
    }
    format!("no answer ({what}: {source})").replace(error.url().map_or("\0", url::Url::as_str), "")
}

/// At most `QUOTED` bytes of `bytes` as one line of text.
fn quote(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(QUOTED)]);
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}
