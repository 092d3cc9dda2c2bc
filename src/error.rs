//! The crate's one error type. `Display` is one readable line; no variant holds a secret.

use std::fmt;

mod fix;
mod outcome;
pub use fix::Fix;
pub(crate) use fix::Refusal;
pub(crate) use outcome::human;
pub use outcome::{NoRetry, Retry};

/// A cause kept for [`std::error::Error::source`].
pub(crate) type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Everything a call can fail with. Whether to try again: [`Error::is_retryable`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A parameter broke a documented rule; nothing was sent.
    #[error("invalid {field}: {rule}")]
    #[non_exhaustive]
    InvalidInput {
        /// The parameter, as the documents name it.
        field: &'static str,
        /// The rule it broke.
        rule: String,
    },
    /// The client cannot be used as configured (endpoint, credentials, ...); nothing was
    /// sent. `kind` tells which part and `fix` what to do, for a program; `message` is for a
    /// person.
    #[error("configuration error: {message}{}", fix::note(fix))]
    #[non_exhaustive]
    Config {
        /// Which part of the configuration.
        kind: ConfigKind,
        /// What is wrong (and what to do, when `fix` does not say it).
        message: String,
        /// What to do, when the crate knows: `Display` ends with it in the builder's words.
        fix: Option<Fix>,
    },
    /// The service answered with an error (boxed: it is the largest variant, and every
    /// `Result` of the crate would carry its size).
    #[error(transparent)]
    Api(Box<ApiError>),
    /// IAM listed no project, or several, for the region, so the project id is unknown;
    /// nothing was sent to the service.
    #[non_exhaustive]
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
    #[error(
        "{kind} error after {attempts} attempt(s): {message}{}",
        not_retried_note(not_retried)
    )]
    #[non_exhaustive]
    Transport {
        /// What failed.
        kind: TransportKind,
        /// What the transport said, with its causes on one line (never a header value).
        message: String,
        /// How many attempts were made.
        attempts: u32,
        /// Why no more attempts were made although some were left, if so.
        not_retried: Option<NoRetry>,
        /// The transport's own error (reqwest's, with hyper's, rustls's... below it).
        #[source]
        source: Option<Cause>,
    },
    /// The call's deadline passed while the client itself waited before sending (for its
    /// rate limiter's turn, or out a pause the service asked for with `Retry-After`): the
    /// service was not asked this time, and did not fail.
    #[error("not sent: the call's deadline passed after waiting {} for the client's turn to send (its rate limit, or a pause the service asked for)", human(*waited))]
    #[non_exhaustive]
    Paced {
        /// How long the call waited for its turn.
        waited: std::time::Duration,
    },
    /// The watch this call belongs to no longer holds its fleet's lease
    /// ([`crate::watch::Leadership`]): nothing was sent, since another replica may be polling.
    #[error("not sent: this watch no longer holds the fleet's lease")]
    NotLeading,
    /// The response body was larger than the configured limit; the connection was dropped.
    #[error("response body exceeds the limit of {limit} bytes")]
    #[non_exhaustive]
    ResponseTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// A 200 answer whose body does not match the spec.
    #[error("cannot decode the response: {message} (body starts: {excerpt:?})")]
    #[non_exhaustive]
    Decode {
        /// What the decoder said.
        message: String,
        /// The first bytes of the body, lossily decoded.
        excerpt: String,
        /// The decoder's own error.
        #[source]
        source: Option<Cause>,
    },
    /// A credentials service (STS, IAM, the ECS metadata service, the pod-identity agent)
    /// answered with an error worth trying again (5xx); nothing was sent to the service.
    /// `answer` keeps its status, code and request id.
    #[error("{message}")]
    #[non_exhaustive]
    CredentialsService {
        /// What was asked and what it answered, with what the sources before it said.
        message: String,
        /// The service's answer.
        answer: Box<ApiError>,
    },
    /// Asking IAM for the project id failed (its API error carries IAM's trace id as
    /// `request_id`); nothing was sent to the service.
    #[error("asking IAM for the project id: {0}")]
    Iam(Box<Error>),
    /// A defect of this crate (for example a watch's poll that panicked); please report it.
    #[error("internal error (a defect of codearts-repo; please report it): {0}")]
    Internal(String),
}

impl Error {
    pub(crate) fn invalid(field: &'static str, rule: impl Into<String>) -> Self {
        Self::InvalidInput {
            field,
            rule: rule.into(),
        }
    }

    pub(crate) fn decode<E>(error: E, body: &[u8]) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        Self::Decode {
            message: error.to_string(),
            excerpt: excerpt(body),
            source: Some(Box::new(error)),
        }
    }

    pub(crate) fn transport(kind: TransportKind, message: String, source: Option<Cause>) -> Self {
        Self::Transport {
            kind,
            message,
            attempts: 1,
            not_retried: None,
            source,
        }
    }

    pub(crate) fn config(kind: ConfigKind, message: impl Into<String>) -> Self {
        Self::Config {
            kind,
            message: message.into(),
            fix: None,
        }
    }

    /// A configuration error with the fix that applies.
    pub(crate) fn config_fix(kind: ConfigKind, message: impl Into<String>, fix: Fix) -> Self {
        Self::Config {
            kind,
            message: message.into(),
            fix: Some(fix),
        }
    }

    /// What to do about a configuration error, when the crate knows, for a program to say
    /// in its own words (its flags, its settings) instead of reading the message.
    pub fn fix(&self) -> Option<Fix> {
        match self {
            Self::Config { fix, .. } => *fix,
            Self::Iam(cause) => cause.fix(),
            _ => None,
        }
    }

    /// Whether the call ended in the client's own wait before sending ([`Error::Paced`]):
    /// nothing was sent, so this says nothing of the service.
    pub fn is_paced(&self) -> bool {
        matches!(self, Self::Paced { .. })
    }

    /// Why the call was not tried again although its failure was worth a retry and attempts
    /// were left (the retry budget is spent, the service asked for too long a wait, the
    /// deadline is near), if so.
    pub fn not_retried(&self) -> Option<NoRetry> {
        match self {
            Self::Api(api) => api.not_retried,
            Self::Transport { not_retried, .. } => *not_retried,
            _ => None,
        }
    }

    /// The wait the service asked for (`Retry-After`), for API errors that carry one.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Self::Api(api) => api.retry_after,
            _ => None,
        }
    }

    /// The HTTP status, for API errors (IAM's too).
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api(api) => Some(api.status),
            Self::CredentialsService { answer, .. } => Some(answer.status),
            Self::Iam(cause) => cause.status(),
            _ => None,
        }
    }
}

impl From<ApiError> for Error {
    fn from(error: ApiError) -> Self {
        Self::Api(Box::new(error))
    }
}

/// Which part of a client's configuration is wrong ([`Error::Config`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigKind {
    /// No endpoint, an unknown region, an endpoint that is not a usable URL (or plain HTTP
    /// to a remote host), an IAM endpoint.
    Endpoint,
    /// No credentials anywhere in the chain, or a source that holds half of a pair or a
    /// file that cannot be read.
    Credentials,
    /// The regions file cannot be read or is not in the official format.
    RegionsFile,
    /// TLS cannot be set up (certificates, client identity).
    Tls,
    /// A proxy from the environment is not a usable URL.
    Proxy,
    /// The HTTP client cannot be built as asked.
    HttpClient,
    /// The embedded server's fixtures cannot be read.
    Fixtures,
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

/// An error answer from the service, read the way the official SDK reads it. Fields may be
/// added in minor versions: read them, match with `..`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
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
    /// Why no more attempts were made although the answer was worth a retry, if so.
    pub not_retried: Option<NoRetry>,
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
        f.write_str(&not_retried_note(&self.not_retried))?;
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

/// `; not retried: why`, or nothing.
fn not_retried_note(why: &Option<NoRetry>) -> String {
    why.map(|why| format!("; not retried: {why}"))
        .unwrap_or_default()
}

/// Keeps `Display` on one line whatever the server sent (HTML, stack traces).
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
