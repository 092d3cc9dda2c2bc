//! Reading what a credentials service (STS, IAM, the metadata service, the pod-identity
//! agent) answered: the body up to a bound, the error it gave (with its trace id), and the
//! temporary keys in any shape the official core accepts; and reading token files.

use std::{sync::Arc, time::SystemTime};

use serde::Deserialize;
use serde_json::value::RawValue;
use zeroize::Zeroizing;

use super::{
    credentials::{AccessKey, secret_header},
    signer::SigningKey,
    temporary::{Failure, Keys},
};
use crate::{TransportKind, params::check_header_value};

/// The largest answer read from a credentials service.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// The body of an answer, read up to a bound, or why not.
/// The body is wiped when dropped: it may hold keys.
pub(crate) async fn body(
    mut response: reqwest::Response,
    what: &str,
) -> Result<Zeroizing<Vec<u8>>, Failure> {
    let status = response.status();
    let body = crate::error_answer::read_capped(&mut response, MAX_BODY_BYTES)
        .await
        .map(Zeroizing::new)
        .map_err(|e| unanswered(&e, what))?;
    if !status.is_success() {
        let request_id = crate::error_answer::request_id(response.headers())
            .or_else(|| trace_id(response.headers()));
        let error = crate::ApiError::from_body(status.as_u16(), request_id, &body);
        // A 5xx is worth trying again, and keeps its status and code for the caller.
        let server_error = status.is_server_error();
        return Err(Failure {
            message: format!("{what} answered {error}"),
            transient: server_error.then_some(TransportKind::Connection),
            answer: server_error.then(|| Box::new(error)),
        });
    }
    Ok(body)
}

/// IAM's and STS's own request id.
fn trace_id(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get("x-iam-trace-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Why a request got no answer, in one line; worth trying again later.
pub(crate) fn unanswered(error: &reqwest::Error, what: &str) -> Failure {
    let (kind, message) = crate::transport::describe(error);
    Failure {
        message: format!("{what}: {message}"),
        transient: Some(kind),
        answer: None,
    }
}

/// The keys of an answer, with when it was given (its `Date`, else now).
pub(crate) async fn keys(response: reqwest::Response, what: &str) -> Result<Keys, Failure> {
    let date = crate::error_answer::date(response.headers())
        .and_then(|date| httpdate::parse_http_date(date).ok());
    let mut keys = parse_keys(&body(response, what).await?, what)?;
    // `Date` counts whole seconds: the answer was made within the second after it.
    if let Some(date) = date {
        keys.issued_at = date + std::time::Duration::from_secs(1);
    }
    Ok(keys)
}

/// Temporary keys from an answer, in any shape the official core accepts: the fields at the
/// top or in a `credential` or `credentials` object; `access`, `accessKeyId` or
/// `access_key_id` (and likewise for the secret and the security token); `expires_at` or
/// `expiration`. The answer is read into [`Fields`], never into an untyped tree, so that the
/// secrets are held only where they are wiped.
pub(crate) fn parse_keys(body: &[u8], what: &str) -> Result<Keys, String> {
    // serde's message may quote a value: only its kind and place are said.
    let unread = |e: serde_json::Error| match e.classify() {
        serde_json::error::Category::Data => format!(
            "{what}: the answer holds a value of the wrong type (line {}, column {})",
            e.line(),
            e.column()
        ),
        _ => format!(
            "{what}: the answer is not JSON (line {}, column {})",
            e.line(),
            e.column()
        ),
    };
    let envelope: Envelope<'_> = serde_json::from_slice(body).map_err(unread)?;
    let nested = [envelope.credential, envelope.credentials]
        .into_iter()
        .flatten()
        .find(|raw| raw.get().starts_with('{'));
    let fields: Fields = match nested {
        Some(raw) => serde_json::from_str(raw.get()),
        None => serde_json::from_slice(body),
    }
    .map_err(unread)?;
    let missing = |name: &str| format!("{what}: the answer has no {name}");
    let access = first([
        fields.access,
        fields.access_key_id_camel,
        fields.access_key_id,
    ])
    .ok_or_else(|| missing("access"))?;
    let secret = first([
        fields.secret,
        fields.secret_access_key_camel,
        fields.secret_access_key,
    ])
    .ok_or_else(|| missing("secret"))?;
    let token = first([
        fields.securitytoken,
        fields.security_token_camel,
        fields.security_token,
    ])
    .ok_or_else(|| missing("securitytoken"))?;
    let expires =
        first([fields.expires_at, fields.expiration]).ok_or_else(|| missing("expires_at"))?;
    check_header_value("access", &access).map_err(|e| format!("{what}: {e}"))?;
    check_header_value("security_token", &token).map_err(|e| format!("{what}: {e}"))?;
    let expires_at = chrono::DateTime::parse_from_rfc3339(&expires)
        .map_err(|_| format!("{what}: the expiry `{expires}` is not a date"))?;
    Ok(Keys {
        key: Arc::new(AccessKey {
            ak: access,
            key: SigningKey::new(&secret),
            security_token: Some(secret_header(&token)),
        }),
        expires_at: SystemTime::from(expires_at),
        issued_at: SystemTime::now(),
    })
}

/// Where the fields may be nested, borrowed from the body as they are.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    credential: Option<&'a RawValue>,
    #[serde(borrow, default)]
    credentials: Option<&'a RawValue>,
}

/// Every name the official core reads each field by; the secrets wiped when dropped.
#[derive(Deserialize)]
struct Fields {
    access: Option<String>,
    #[serde(rename = "accessKeyId")]
    access_key_id_camel: Option<String>,
    access_key_id: Option<String>,
    secret: Option<Zeroizing<String>>,
    #[serde(rename = "secretAccessKey")]
    secret_access_key_camel: Option<Zeroizing<String>>,
    secret_access_key: Option<Zeroizing<String>>,
    securitytoken: Option<Zeroizing<String>>,
    #[serde(rename = "securityToken")]
    security_token_camel: Option<Zeroizing<String>>,
    security_token: Option<Zeroizing<String>>,
    expires_at: Option<String>,
    expiration: Option<String>,
}

/// The first field given and not empty, in the official core's order.
fn first<T: AsRef<str>, const N: usize>(names: [Option<T>; N]) -> Option<T> {
    names.into_iter().flatten().find(|v| !v.as_ref().is_empty())
}

/// A token file's content, read now (a file that a platform rotates is read at every fetch).
pub(crate) fn read_token_file(path: &std::path::Path, what: &str) -> Result<String, String> {
    let content = std::fs::read_to_string(path)
        .map_err(|e| format!("{what}: cannot read {}: {e}", path.display()))?;
    let content = content.trim();
    if content.is_empty() {
        return Err(format!("{what}: {} is empty", path.display()));
    }
    Ok(content.to_owned())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn every_shape_the_official_core_accepts_is_read() {
        for body in [
            r#"{"credential":{"access":"A","secret":"S","securitytoken":"T","expires_at":"2030-01-01T00:00:00.000000Z"}}"#,
            r#"{"credentials":{"access_key_id":"A","secret_access_key":"S","security_token":"T","expiration":"2030-01-01T00:00:00Z"}}"#,
            r#"{"accessKeyId":"A","secretAccessKey":"S","securityToken":"T","expiration":"2030-01-01T08:00:00+08:00"}"#,
        ] {
            let keys = parse_keys(body.as_bytes(), "test").unwrap();
            assert_eq!(keys.key.ak, "A");
            assert_eq!(
                keys.expires_at,
                SystemTime::UNIX_EPOCH + Duration::from_secs(1_893_456_000)
            );
        }
    }

    #[test]
    fn a_missing_field_is_named_and_no_value_is_quoted() {
        let error = parse_keys(br#"{"credential":{"access":"A","secret":"S3CR3T"}}"#, "STS")
            .err()
            .unwrap();
        assert_eq!(error, "STS: the answer has no securitytoken");
        let error = parse_keys(b"<html>", "STS").err().unwrap();
        assert!(error.starts_with("STS: the answer is not JSON"), "{error}");
        // A value of the wrong type is placed, never quoted.
        let error = parse_keys(br#"{"access":"A","secret":7777777}"#, "STS")
            .err()
            .unwrap();
        assert!(!error.contains("7777777"), "{error}");
        assert!(error.contains("wrong type"), "{error}");
    }
}

#[cfg(test)]
mod lifetime_tests {
    use std::time::Duration;

    use super::*;

    /// An answer given by a clock an hour behind the local one: the keys' lifetime is counted
    /// by the answer's `Date`, so they are not taken for expired (and fetched at every call).
    #[tokio::test]
    async fn the_lifetime_is_counted_by_the_answers_clock() {
        let answered = SystemTime::now() - Duration::from_secs(3600);
        let expires = chrono::DateTime::<chrono::Utc>::from(answered + Duration::from_secs(900));
        let body = format!(
            r#"{{"access":"A","secret":"S","securitytoken":"T","expires_at":"{}"}}"#,
            expires.to_rfc3339()
        );
        let response = http::Response::builder()
            .header("date", httpdate::fmt_http_date(answered))
            .body(body)
            .unwrap();
        let keys = keys(reqwest::Response::from(response), "STS")
            .await
            .unwrap();
        let lifetime = keys.expires_at.duration_since(keys.issued_at).unwrap();
        // Less the second `Date` cannot tell.
        assert!(
            (Duration::from_secs(898)..Duration::from_secs(900)).contains(&lifetime),
            "{lifetime:?}"
        );
    }
}
