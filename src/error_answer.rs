//! Error answers, in one place. Their round trip through progenitor's types:
//!
//! 1. [`normalise`], called by the hooks before the generated code sees a non-200 answer,
//!    reads the body (bounded), parses it with the official SDK's precedence
//!    ([`ApiError::from_body`]) and replaces it with the canonical
//!    `{"error_code", "error_msg", "encoded_authorization_message"}` the spec declares,
//!    keeping the status and headers: whatever the gateway sent (HTML, nothing, another
//!    JSON shape), the generated code can decode it.
//! 2. The generated code decodes it into `types::HuaweiError` for the statuses the spec
//!    declares (`Error::ErrorResponse`), or hands the response back for the others
//!    (`Error::UnexpectedResponse`).
//! 3. [`from_generated`] turns either into an [`ApiError`], with the request id,
//!    `Retry-After` and the clock skew read from the headers.

use bytes::Bytes;
use progenitor_client::ResponseValue;
use reqwest::{
    Response,
    header::{CONTENT_TYPE, DATE, HeaderMap, HeaderName, HeaderValue},
};
use serde_json::{Map, Value};

use crate::{ApiError, error::excerpt, generated::types::HuaweiError, retry::retry_after};

/// The header carrying the gateway's id of a request.
pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The `X-Request-Id` the gateway put on an answer.
pub(crate) fn request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

impl ApiError {
    /// Reads an error body with the official SDK's precedence: `error_code`/`error_msg`, then
    /// `errorCode`/`errorMsg`, then `code`/`message`, then a nested object holding one of
    /// those pairs; with no JSON or no pair, the status is the code and the text the message.
    pub fn from_body(status: u16, request_id: Option<String>, body: &[u8]) -> Self {
        let json = serde_json::from_slice::<Value>(body).ok();
        let object = json.as_ref().and_then(Value::as_object);
        let pair = object.and_then(|o| {
            code_and_message(o).or_else(|| {
                o.values()
                    .filter_map(Value::as_object)
                    .find_map(code_and_message)
            })
        });
        let (error_code, error_msg) = pair.unwrap_or_else(|| (status.to_string(), excerpt(body)));
        let encoded_authorization_message = object
            .and_then(|o| o.get("encoded_authorization_message"))
            .map(text);
        Self {
            status,
            error_code,
            error_msg,
            request_id,
            encoded_authorization_message,
            attempts: 1,
            not_retried: None,
            retry_after: None,
            clock_skew_secs: None,
        }
    }
}

const PAIRS: [(&str, &str); 3] = [
    ("error_code", "error_msg"),
    ("errorCode", "errorMsg"),
    ("code", "message"),
];

fn code_and_message(object: &Map<String, Value>) -> Option<(String, String)> {
    PAIRS
        .iter()
        .find_map(|(code, message)| Some((text(object.get(*code)?), text(object.get(*message)?))))
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Reads an error answer (at most `limit` bytes; the rest is dropped) and replaces its body
/// with the canonical `{"error_code", "error_msg"}` the spec declares.
pub(crate) async fn normalise(mut response: Response, limit: usize) -> reqwest::Result<Response> {
    let status = response.status();
    let mut headers = HeaderMap::new();
    std::mem::swap(&mut headers, response.headers_mut());
    let request_id = request_id(&headers);
    let body = read_capped(&mut response, limit).await?;
    let error = ApiError::from_body(status.as_u16(), request_id, &body);
    let canonical = serde_json::json!({
        "error_code": error.error_code,
        "error_msg": error.error_msg,
        "encoded_authorization_message": error.encoded_authorization_message,
    });
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.remove(reqwest::header::CONTENT_LENGTH);
    headers.remove(reqwest::header::TRANSFER_ENCODING);
    let mut rebuilt = http::Response::new(Bytes::from(canonical.to_string()));
    *rebuilt.status_mut() = status;
    *rebuilt.headers_mut() = headers;
    Ok(Response::from(rebuilt))
}

/// A body up to `limit` bytes; the rest is left unread (and the connection dropped with it).
pub(crate) async fn read_capped(response: &mut Response, limit: usize) -> reqwest::Result<Vec<u8>> {
    let mut body = Vec::new();
    while body.len() < limit {
        match response.chunk().await? {
            Some(chunk) => body.extend_from_slice(&chunk[..chunk.len().min(limit - body.len())]),
            None => break,
        }
    }
    Ok(body)
}

/// The service's error, once the generated code has read it.
pub(crate) enum Generated {
    /// A declared status, decoded into the spec's error type.
    Declared(ResponseValue<HuaweiError>),
    /// Any other status, with the canonical body [`normalise`] put in.
    Undeclared(Response),
}

/// The [`ApiError`] for an error answer the generated code returned.
pub(crate) async fn from_generated(answer: Generated) -> ApiError {
    let (mut error, headers) = match answer {
        Generated::Declared(value) => {
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
                not_retried: None,
                retry_after: None,     // read from the headers below
                clock_skew_secs: None, // likewise
            };
            (error, headers)
        }
        Generated::Undeclared(response) => {
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = response.bytes().await.unwrap_or_default();
            (
                ApiError::from_body(status, request_id(&headers), &body),
                headers,
            )
        }
    };
    error.retry_after = retry_after(&headers);
    error.note_clock_skew(date(&headers));
    error
}

/// The answer's `Date` header.
pub(crate) fn date(headers: &HeaderMap) -> Option<&str> {
    headers.get(DATE).and_then(|v| v.to_str().ok())
}
