//! Authentication as the API gateway checks it: a token, or an AK/SK signature with any of the
//! four algorithms, checked with the crate's own signer from exactly what arrived (the HMACs
//! recomputed, the ECDSA and SM2 signatures verified with the key derived from the AK/SK).

use axum::http::{HeaderMap, Method, StatusCode, Uri, Version, header::HOST};
use chrono::{NaiveDateTime, Utc};
use reqwest::Url;

use super::{State, answer::Failure};
use crate::auth::{
    SigningAlgorithm,
    signer::{self, DATE_HEADER},
};

/// The gateway refuses signatures older or newer than this.
const MAX_CLOCK_SKEW_SECS: i64 = 15 * 60;
const TOKEN_MAX_CHARS: usize = 100_000;

pub(crate) fn authenticate(
    state: &State,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<(), Failure> {
    let unauthorized = |why: &str| {
        Failure::new(
            StatusCode::UNAUTHORIZED,
            "APIGW.0301",
            format!("Incorrect IAM authentication information: {why}"),
        )
    };
    if let Some(authorization) = headers.get("authorization") {
        let text = authorization
            .to_str()
            .map_err(|_| unauthorized("Authorization is not ASCII"))?;
        return verify_signature(state, method, uri, headers, text)
            .map_err(|why| unauthorized(&why));
    }
    let token = headers
        .get("x-auth-token")
        .ok_or_else(|| unauthorized("send X-Auth-Token or an AK/SK signature"))?;
    let token = token
        .to_str()
        .map_err(|_| unauthorized("the token is not ASCII"))?;
    if token.is_empty() || token.len() > TOKEN_MAX_CHARS {
        return Err(unauthorized("the token must be 1 to 100,000 characters"));
    }
    match &state.tokens {
        Some(accepted) if !accepted.iter().any(|t| t == token) => {
            Err(unauthorized("unknown token"))
        }
        _ => Ok(()),
    }
}

fn verify_signature(
    state: &State,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    authorization: &str,
) -> Result<(), String> {
    let (scheme, fields) = authorization
        .split_once(' ')
        .ok_or("the Authorization header has no scheme")?;
    let algorithm = SigningAlgorithm::ALL
        .iter()
        .copied()
        .find(|a| a.name() == scheme)
        .ok_or_else(|| {
            let names: Vec<&str> = SigningAlgorithm::ALL.iter().map(|a| a.name()).collect();
            format!(
                "the Authorization scheme must be one of {}",
                names.join(", ")
            )
        })?;
    let field = |name: &str| {
        fields
            .split(',')
            .map(str::trim)
            .find_map(|part| part.strip_prefix(name)?.strip_prefix('='))
            .ok_or(format!("the Authorization header has no {name}"))
    };
    let (ak, signed_names, signature) = (
        field("Access")?,
        field("SignedHeaders")?,
        field("Signature")?,
    );
    // Temporary keys go with their security token, and only until they expire.
    let security_token = headers
        .get("x-security-token")
        .and_then(|v| v.to_str().ok());
    let issued = crate::sync::lock(&state.issued).check(ak, security_token)?;
    let key = match &issued {
        Some(key) => key,
        None => state
            .keys
            .iter()
            .find(|(key, _)| key == ak)
            .map(|(_, key)| key)
            .ok_or("unknown access key")?,
    };

    let date = headers
        .get(DATE_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or("X-Sdk-Date is required")?;
    let signed_at = NaiveDateTime::parse_from_str(date, "%Y%m%dT%H%M%SZ")
        .map_err(|_| "X-Sdk-Date must be YYYYMMDDTHHMMSSZ")?
        .and_utc();
    if (Utc::now() - signed_at).num_seconds().abs() > MAX_CLOCK_SKEW_SECS {
        return Err("the signature expired: X-Sdk-Date is more than 15 minutes off".into());
    }

    let mut signed = HeaderMap::new();
    for name in signed_names.split(';') {
        let name: axum::http::HeaderName = name.parse().map_err(|_| "bad SignedHeaders")?;
        if name == HOST {
            // Over HTTP/2 the host travels as `:authority`, which the URI holds.
            let host = host(uri, headers).ok_or("signed header `host` is missing")?;
            signed.insert(HOST, host.parse().map_err(|_| "bad host")?);
            continue;
        }
        let values = headers.get_all(&name);
        if values.iter().next().is_none() {
            return Err(format!("signed header `{name}` is missing"));
        }
        for value in values {
            signed.append(name.clone(), value.clone());
        }
    }
    if !signed.contains_key(DATE_HEADER) || !signed.contains_key("host") {
        return Err("host and x-sdk-date must be signed".into());
    }
    // Over HTTP/2 the URI is absolute: only its path and query are signed.
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    let url = Url::parse(&format!("http://signed.invalid{target}")).map_err(|e| e.to_string())?;
    let (expected_names, string_to_sign) =
        signer::string_to_sign(algorithm, method, &url, &signed, b"");
    if expected_names == signed_names
        && signer::verify(algorithm, key, ak, &string_to_sign, signature)
    {
        Ok(())
    } else {
        Err("the signature does not match".into())
    }
}

/// The host the client addressed: `:authority` (HTTP/2, in the URI) or the `Host` header.
fn host<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> Option<&'a str> {
    uri.authority()
        .map(|a| a.as_str())
        .or_else(|| headers.get(HOST)?.to_str().ok())
}

/// Refuses what nginx-based gateways refuse with 400: `Host` twice, or `Host` beside HTTP/2's
/// `:authority` (nginx takes `:authority` as the host, so a `Host` header is a duplicate even
/// when equal), or a `Host` that disagrees with the URI's authority.
pub(crate) fn check_host(version: Version, uri: &Uri, headers: &HeaderMap) -> Result<(), Failure> {
    let bad = |why: String| Failure::new(StatusCode::BAD_REQUEST, "APIGW.0201", why);
    let mut hosts = headers.get_all(HOST).iter();
    let first = hosts.next();
    if let Some(second) = hosts.next() {
        return Err(bad(format!(
            "duplicate Host header: {:?} after {:?}",
            String::from_utf8_lossy(second.as_bytes()),
            String::from_utf8_lossy(first.map(|v| v.as_bytes()).unwrap_or_default())
        )));
    }
    match (first, uri.authority()) {
        (Some(host), Some(_)) if version == Version::HTTP_2 => Err(bad(format!(
            "duplicate Host header: {:?} beside :authority",
            String::from_utf8_lossy(host.as_bytes())
        ))),
        (Some(host), Some(authority)) if host.as_bytes() != authority.as_str().as_bytes() => {
            Err(bad(format!(
                "Host {:?} disagrees with the request target's authority {authority}",
                String::from_utf8_lossy(host.as_bytes())
            )))
        }
        _ => Ok(()),
    }
}
