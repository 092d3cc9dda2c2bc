//! The crate's one error type. `Display` is one readable line; no variant holds a secret.

use std::fmt;

use serde_json::{Map, Value};

/// Everything a call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A parameter broke a documented rule; nothing was sent.
    #[error("invalid {field}: {rule}")]
    InvalidInput {
        /// The parameter, as the documents name it.
        field: &'static str,
        /// The rule it broke.
        rule: String,
    },
    /// The client cannot be used as configured (endpoint, credentials); nothing was sent.
    #[error("configuration error: {0}")]
    Config(String),
    /// The service answered with an error (boxed: it is the largest variant, and every
    /// `Result` of the crate would carry its size).
    #[error(transparent)]
    Api(Box<ApiError>),
    /// IAM listed no project, or several, for the region, so the project id is unknown;
    /// nothing was sent to the service.
    #[error(
        "cannot find the project id for region `{region}`: IAM lists {}{}; \
         give it with HUAWEICLOUD_SDK_PROJECT_ID or the builder",
        if found.is_empty() {
            "no project of that name".to_owned()
        } else {
            format!("several projects of that name ({})", found.join(", "))
        },
        trace_id.as_ref().map(|id| format!(" (X-IAM-Trace-Id {id})")).unwrap_or_default()
    )]
    ProjectId {
        /// The region asked for.
        region: String,
        /// The project ids IAM listed for it.
        found: Vec<String>,
        /// IAM's `X-IAM-Trace-Id`, to quote to support.
        trace_id: Option<String>,
    },
    /// No usable answer arrived: connection, TLS, timeout or a broken body.
    #[error("{kind} error after {attempts} attempt(s): {message}")]
    Transport {
        /// What failed.
        kind: TransportKind,
        /// What the transport said (never a header value).
        message: String,
        /// How many attempts were made.
        attempts: u32,
    },
    /// The response body was larger than the configured limit; the connection was dropped.
    #[error("response body exceeds the limit of {limit} bytes")]
    ResponseTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// A 200 answer whose body does not match the spec.
    #[error("cannot decode the response: {message} (body starts: {excerpt:?})")]
    Decode {
        /// What the decoder said.
        message: String,
        /// The first bytes of the body, lossily decoded.
        excerpt: String,
    },
}

impl Error {
    pub(crate) fn invalid(field: &'static str, rule: impl Into<String>) -> Self {
        Self::InvalidInput {
            field,
            rule: rule.into(),
        }
    }

    pub(crate) fn decode(message: impl fmt::Display, body: &[u8]) -> Self {
        Self::Decode {
            message: message.to_string(),
            excerpt: excerpt(body),
        }
    }

    /// The HTTP status, for API errors.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api(api) => Some(api.status),
            _ => None,
        }
    }
}

impl From<ApiError> for Error {
    fn from(error: ApiError) -> Self {
        Self::Api(Box::new(error))
    }
}

/// The kind of a transport failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportKind {
    /// The connection could not be made (refused, DNS, unreachable).
    Connect,
    /// A deadline passed (connect, attempt or overall).
    Timeout,
    /// The TLS handshake failed.
    Tls,
    /// The connection broke while the request or response was in flight.
    Connection,
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "connect",
            Self::Timeout => "timeout",
            Self::Tls => "TLS",
            Self::Connection => "connection",
        })
    }
}

/// An error answer from the service, read the way the official SDK reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// `error_code` (or the SDK's fallbacks; the status when the body has none).
    pub error_code: String,
    /// `error_msg` (or the SDK's fallbacks; an excerpt of the body when it has none).
    pub error_msg: String,
    /// The `X-Request-Id` response header.
    pub request_id: Option<String>,
    /// `encoded_authorization_message`, sometimes sent with 403.
    pub encoded_authorization_message: Option<String>,
    /// How many attempts were made before this answer was final.
    pub attempts: u32,
    /// The wait the service asked for (`Retry-After`), if any.
    pub retry_after: Option<std::time::Duration>,
    /// How far the server's clock (its `Date` header) is ahead of the local one, in seconds
    /// (negative: behind), when it matters: the answer says a signature expired, or the
    /// clocks are more than 5 minutes apart. AK/SK signatures carry the local time.
    pub clock_skew_secs: Option<i32>,
}

impl std::error::Error for ApiError {}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "API error: HTTP {}", self.status)?;
        if self.error_code != self.status.to_string() {
            write!(f, " {}", one_line(&self.error_code))?;
        }
        match one_line(&self.error_msg) {
            message if message.is_empty() => f.write_str(" (empty body)")?,
            message => write!(f, ": {message}")?,
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request id {})", one_line(id))?;
        }
        if self.attempts > 1 {
            write!(f, " after {} attempts", self.attempts)?;
        }
        if let Some(skew) = self.clock_skew_secs {
            let (magnitude, direction) = (
                skew.unsigned_abs(),
                if skew >= 0 { "behind" } else { "ahead of" },
            );
            write!(
                f,
                "; the local clock is {}m{:02}s {direction} the server's (its Date header): \
                 signatures carry the local time, so set the clock right",
                magnitude / 60,
                magnitude % 60
            )?;
        }
        Ok(())
    }
}

/// The most of a body an error keeps.
const EXCERPT_CHARS: usize = 200;

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
            retry_after: None,
            clock_skew_secs: None,
        }
    }

    /// Notes the clock skew the answer's `Date` shows, when the answer says a signature
    /// expired or the skew passes 5 minutes.
    pub(crate) fn note_clock_skew(&mut self, date: Option<&str>) {
        const TOLERATED_SECS: i32 = 5 * 60;
        let skew = date
            .and_then(|date| httpdate::parse_http_date(date.trim()).ok())
            .map(|server| {
                let server = chrono::DateTime::<chrono::Utc>::from(server);
                let seconds = (server - chrono::Utc::now()).num_seconds();
                i32::try_from(seconds).unwrap_or(if seconds < 0 { i32::MIN } else { i32::MAX })
            });
        let expired = self.error_msg.to_ascii_lowercase().contains("expired");
        self.clock_skew_secs = skew.filter(|skew| expired || skew.abs() > TOLERATED_SECS);
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

/// The start of a body, lossily decoded and cut at a character boundary.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let head = &body[..body.len().min(EXCERPT_CHARS * 4)];
    let text = String::from_utf8_lossy(head);
    let mut out: String = text.chars().take(EXCERPT_CHARS).collect();
    if head.len() < body.len() || text.chars().count() > EXCERPT_CHARS {
        out.push('…');
    }
    out
}

/// Keeps `Display` on one line whatever the server sent (HTML, stack traces).
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
