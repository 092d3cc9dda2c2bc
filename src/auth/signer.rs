//! AK/SK signing, byte-identical to the official Huawei Cloud SDK's signer (checked against
//! its own vectors in tests/signer.rs and tests/signing_algorithms.rs): `SDK-HMAC-SHA256` and,
//! with the crate features `sm` and `ecdsa`, the official cores' three other algorithms
//! ([`SigningAlgorithm`]).
//!
//! [`sign`], [`sign_with`], [`verify`], [`SigningKey`], [`Signature`] and [`sdk_date`] are the
//! API. The canonical-form
//! helpers (`canonical_uri`, `canonical_query`, `encoded_query`, `encode`) are public only so
//! that the project's tests can check each step against the official vectors: hidden from
//! the documentation and not covered by semver.

use reqwest::{
    Method, Url,
    header::{HeaderMap, HeaderName},
};
use sha2::{Digest, Sha256};

pub(crate) use super::canonical::unreserved_and;
#[doc(hidden)]
pub use super::canonical::{canonical_query, canonical_uri, encode, encoded_query};
use super::canonical::{push_canonical_query, push_canonical_uri, signed_headers};
pub use super::{SigningAlgorithm, signing_key::SigningKey};
use crate::Error;

/// The default algorithm's name, first in the `Authorization` header and the string to sign.
pub const ALGORITHM: &str = "SDK-HMAC-SHA256";
/// The header carrying the signing time, `%Y%m%dT%H%M%SZ` in UTC.
pub const DATE_HEADER: &str = "X-Sdk-Date";
/// A header that, set to `UNSIGNED-PAYLOAD`, leaves the body out of the signature.
pub const CONTENT_SHA256_HEADER: &str = "X-Sdk-Content-Sha256";
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
// The same names, built at compile time: a `&str` name is parsed on every lookup.
pub(crate) const DATE_HEADER_NAME: HeaderName = HeaderName::from_static("x-sdk-date");
const CONTENT_SHA256_HEADER_NAME: HeaderName = HeaderName::from_static("x-sdk-content-sha256");
/// [`CONTENT_SHA256_HEADER`]'s counterpart for the algorithms that hash with SM3.
pub const CONTENT_SM3_HEADER: &str = "X-Sdk-Content-Sm3";
const CONTENT_SM3_HEADER_NAME: HeaderName = HeaderName::from_static("x-sdk-content-sm3");
/// Hex SHA-256 of nothing: every GET's body hash.
const EMPTY_BODY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// Hex SM3 of nothing, for the algorithms that hash with SM3.
#[cfg(feature = "sm")]
const EMPTY_BODY_SM3: &str = "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b";

/// The intermediate and final products of signing one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    /// The canonical request.
    pub canonical_request: String,
    /// `{algorithm}\n{date}\n{hex hash(canonical request)}`, e.g.
    /// `SDK-HMAC-SHA256\n{date}\n{hex sha256(canonical request)}`.
    pub string_to_sign: String,
    /// The signed header names, lowercased, sorted, joined by `;`.
    pub signed_headers: String,
    /// Hex HMAC of the string to sign keyed by the SK, or hex of the DER signature made with
    /// the key derived from the AK/SK (ECDSA, SM2).
    pub signature: String,
}

impl Signature {
    /// The `Authorization` header value for access key `ak`.
    pub fn authorization(&self, ak: &str) -> String {
        // The algorithm's name opens the string to sign.
        let algorithm = self.string_to_sign.split('\n').next().unwrap_or(ALGORITHM);
        authorization_value(algorithm, ak, &self.signed_headers, &self.signature)
    }
}

/// `X-Sdk-Date` for `time`: `%Y%m%dT%H%M%SZ` in UTC.
pub fn sdk_date(time: chrono::DateTime<chrono::Utc>) -> String {
    String::from_utf8_lossy(&sdk_date_bytes(time)).into_owned()
}

/// [`sdk_date`] without a formatter or an allocation: it is written for every signed request.
pub(crate) fn sdk_date_bytes(time: chrono::DateTime<chrono::Utc>) -> [u8; 16] {
    use chrono::{Datelike, Timelike};
    let mut date = *b"00000000T000000Z";
    // A year past 9999 cannot be written in four digits; chrono's own range stops at 262143.
    let year = u32::try_from(time.year()).unwrap_or(0).min(9999);
    for (at, width, value) in [
        (0, 4, year),
        (4, 2, time.month()),
        (6, 2, time.day()),
        (9, 2, time.hour()),
        (11, 2, time.minute()),
        (13, 2, time.second()),
    ] {
        let mut value = value;
        for digit in date[at..at + width].iter_mut().rev() {
            *digit = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
    date
}

/// Signs a request as it will be sent with `SDK-HMAC-SHA256`. `headers` must already hold
/// `X-Sdk-Date` and `Host`.
pub fn sign(
    key: &SigningKey,
    method: &Method,
    url: &Url,
    headers: &HeaderMap,
    body: &[u8],
) -> Signature {
    sign_with(
        SigningAlgorithm::HmacSha256,
        key,
        "",
        method,
        url,
        headers,
        body,
    )
    .expect("an HMAC always signs")
}

/// Signs a request as it will be sent with `algorithm`, for access key `ak` (the asymmetric
/// algorithms derive their key from the AK/SK). `headers` must already hold `X-Sdk-Date` and
/// `Host`. Fails only when no key can be derived from the AK/SK (odds of about 2^-8000).
pub fn sign_with(
    algorithm: SigningAlgorithm,
    key: &SigningKey,
    ak: &str,
    method: &Method,
    url: &Url,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Signature, Error> {
    let canonical = CanonicalRequest::new(algorithm, method, url, headers, None, body);
    let date = date_header(headers);
    let (mut hash_buffer, mut signature_buffer) = ([0u8; 64], [0u8; 64]);
    let hash = canonical.hash(algorithm, &mut hash_buffer);
    let signature = key
        .sign_string(algorithm, ak, date, hash, &mut signature_buffer)
        .ok_or_else(underivable)?;
    Ok(Signature {
        signed_headers: canonical.signed_headers().to_owned(),
        signature: signature.into_owned(),
        string_to_sign: format!("{}\n{date}\n{hash}", algorithm.name()),
        canonical_request: canonical.text,
    })
}

/// Whether `signature` (hex, as in the `Authorization` header) signs `string_to_sign` with
/// `algorithm` and the AK/SK `ak`/`key`: the HMACs recomputed and compared in constant time,
/// the ECDSA and SM2 signatures checked with the public key derived from the AK/SK.
pub fn verify(
    algorithm: SigningAlgorithm,
    key: &SigningKey,
    ak: &str,
    string_to_sign: &str,
    signature: &str,
) -> bool {
    key.verify_string(algorithm, ak, string_to_sign, signature)
}

/// The signed header names and the string to sign of a request: what a verifier recomputes
/// before it checks the signature with [`verify`].
pub fn string_to_sign(
    algorithm: SigningAlgorithm,
    method: &Method,
    url: &Url,
    headers: &HeaderMap,
    body: &[u8],
) -> (String, String) {
    let canonical = CanonicalRequest::new(algorithm, method, url, headers, None, body);
    let mut hash_buffer = [0u8; 64];
    let hash = canonical.hash(algorithm, &mut hash_buffer);
    let date = date_header(headers);
    let string_to_sign = format!("{}\n{date}\n{hash}", algorithm.name());
    (canonical.signed_headers().to_owned(), string_to_sign)
}

fn underivable() -> Error {
    Error::invalid(
        "sk",
        "no signing key can be derived from this AK/SK (all 255 candidates out of range)",
    )
}

/// The `Authorization` header value for a request as it will be sent: what [`sign`] and
/// [`Signature::authorization`] give, built with no intermediate strings.
///
/// `host` is signed but not among `headers`: the transport sends it (`Host` over HTTP/1.1,
/// `:authority` over HTTP/2), and a second `Host` is refused by nginx-based gateways.
///
/// `None` only when no key can be derived from the AK/SK (see [`sign_with`]).
#[allow(clippy::too_many_arguments)] // each is one part of what is signed
pub(crate) fn authorization(
    algorithm: SigningAlgorithm,
    key: &SigningKey,
    ak: &str,
    method: &Method,
    url: &Url,
    headers: &HeaderMap,
    host: &str,
    body: &[u8],
) -> Option<String> {
    let canonical = CanonicalRequest::new(algorithm, method, url, headers, Some(host), body);
    let (mut hash_buffer, mut signature_buffer) = ([0u8; 64], [0u8; 64]);
    let hash = canonical.hash(algorithm, &mut hash_buffer);
    let date = date_header(headers);
    let signature = key.sign_string(algorithm, ak, date, hash, &mut signature_buffer)?;
    Some(authorization_value(
        algorithm.name(),
        ak,
        canonical.signed_headers(),
        &signature,
    ))
}

fn authorization_value(algorithm: &str, ak: &str, signed_headers: &str, signature: &str) -> String {
    [
        algorithm,
        " Access=",
        ak,
        ", SignedHeaders=",
        signed_headers,
        ", Signature=",
        signature,
    ]
    .concat()
}

fn date_header(headers: &HeaderMap) -> &str {
    headers
        .get(DATE_HEADER_NAME)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// The canonical request, and where in it the signed header names are (its next-to-last line).
struct CanonicalRequest {
    text: String,
    signed_headers: std::ops::Range<usize>,
}

impl CanonicalRequest {
    fn new(
        algorithm: SigningAlgorithm,
        method: &Method,
        url: &Url,
        headers: &HeaderMap,
        host: Option<&str>,
        body: &[u8],
    ) -> Self {
        let signed = signed_headers(headers, host);
        let content_header = if algorithm.hashes_with_sm3() {
            CONTENT_SM3_HEADER_NAME
        } else {
            CONTENT_SHA256_HEADER_NAME
        };
        let unsigned_payload = headers
            .get(content_header)
            .is_some_and(|v| v.as_bytes() == UNSIGNED_PAYLOAD.as_bytes());
        let mut hex_buffer = [0u8; 64];
        let body_hash = if unsigned_payload {
            UNSIGNED_PAYLOAD
        } else if body.is_empty() {
            empty_body_hash(algorithm)
        } else {
            hex_hash(algorithm, body, &mut hex_buffer)
        };

        let mut text = String::with_capacity(512);
        text.push_str(method.as_str());
        text.push('\n');
        push_canonical_uri(&mut text, url.path());
        text.push('\n');
        push_canonical_query(&mut text, url);
        text.push('\n');
        for (name, value) in &signed {
            text.push_str(name);
            text.push(':');
            text.push_str(value);
            text.push('\n');
        }
        text.push('\n');
        let names_start = text.len();
        for (i, (name, _)) in signed.iter().enumerate() {
            if i > 0 {
                text.push(';');
            }
            text.push_str(name);
        }
        let signed_headers = names_start..text.len();
        text.push('\n');
        text.push_str(body_hash);
        Self {
            text,
            signed_headers,
        }
    }

    fn signed_headers(&self) -> &str {
        &self.text[self.signed_headers.clone()]
    }

    /// Hex hash of the canonical request: the last line of the string to sign.
    fn hash<'a>(&self, algorithm: SigningAlgorithm, buffer: &'a mut [u8; 64]) -> &'a str {
        hex_hash(algorithm, self.text.as_bytes(), buffer)
    }
}

/// Hex SHA-256 of `data`, or SM3 for the algorithms that hash with it.
fn hex_hash<'a>(algorithm: SigningAlgorithm, data: &[u8], buffer: &'a mut [u8; 64]) -> &'a str {
    #[cfg(feature = "sm")]
    if algorithm.hashes_with_sm3() {
        return hex_digest(&sm3::Sm3::digest(data), buffer);
    }
    let _ = algorithm;
    hex_digest(&Sha256::digest(data), buffer)
}

fn empty_body_hash(algorithm: SigningAlgorithm) -> &'static str {
    #[cfg(feature = "sm")]
    if algorithm.hashes_with_sm3() {
        return EMPTY_BODY_SM3;
    }
    let _ = algorithm;
    EMPTY_BODY_SHA256
}

/// Lowercase hex of a digest, written into `buffer` without allocating.
pub(crate) fn hex_digest<'a>(digest: &[u8], buffer: &'a mut [u8; 64]) -> &'a str {
    let out = &mut buffer[..digest.len() * 2];
    hex::encode_to_slice(digest, out).expect("the buffer fits a SHA-256 digest");
    std::str::from_utf8(out).expect("hex is ASCII")
}
