//! `SDK-HMAC-SHA256`, byte-identical to the official Huawei Cloud SDK's signer
//! (checked against its own vectors in tests/signer.rs).

use std::borrow::Cow;

use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use reqwest::{Method, Url, header::HeaderMap};
use sha2::{Digest, Sha256};

/// The algorithm name, first in the `Authorization` header and the string to sign.
pub const ALGORITHM: &str = "SDK-HMAC-SHA256";
/// The header carrying the signing time, `%Y%m%dT%H%M%SZ` in UTC.
pub const DATE_HEADER: &str = "X-Sdk-Date";
/// A header that, set to `UNSIGNED-PAYLOAD`, leaves the body out of the signature.
pub const CONTENT_SHA256_HEADER: &str = "X-Sdk-Content-Sha256";
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// Hex SHA-256 of nothing: every GET's body hash.
const EMPTY_BODY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Everything but `A-Za-z0-9-_.~` is percent-encoded, with uppercase hex.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The intermediate and final products of signing one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    /// The canonical request.
    pub canonical_request: String,
    /// `SDK-HMAC-SHA256\n{date}\n{hex sha256(canonical request)}`.
    pub string_to_sign: String,
    /// The signed header names, lowercased, sorted, joined by `;`.
    pub signed_headers: String,
    /// Hex HMAC-SHA256 of the string to sign, keyed by the SK.
    pub signature: String,
}

impl Signature {
    /// The `Authorization` header value for access key `ak`.
    pub fn authorization(&self, ak: &str) -> String {
        format!(
            "{ALGORITHM} Access={ak}, SignedHeaders={}, Signature={}",
            self.signed_headers, self.signature
        )
    }
}

/// A secret key ready to sign: the HMAC key schedule is computed once, not per request.
#[derive(Clone)]
pub struct SigningKey(Hmac<Sha256>);

impl SigningKey {
    /// Prepares `sk` for signing.
    pub fn new(sk: &str) -> Self {
        Self(Hmac::new_from_slice(sk.as_bytes()).expect("HMAC accepts keys of any length"))
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

/// `X-Sdk-Date` for `time`: `%Y%m%dT%H%M%SZ` in UTC.
pub fn sdk_date(time: chrono::DateTime<chrono::Utc>) -> String {
    use chrono::{Datelike, Timelike};
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        time.year(),
        time.month(),
        time.day(),
        time.hour(),
        time.minute(),
        time.second()
    )
}

/// Signs a request as it will be sent. `headers` must already hold `X-Sdk-Date` and `Host`.
pub fn sign(
    key: &SigningKey,
    method: &Method,
    url: &Url,
    headers: &HeaderMap,
    body: &[u8],
) -> Signature {
    let signed = signed_headers(headers);
    let mut signed_headers = String::with_capacity(signed.len() * 16);
    for (i, (name, _)) in signed.iter().enumerate() {
        if i > 0 {
            signed_headers.push(';');
        }
        signed_headers.push_str(name);
    }
    let unsigned_payload = headers
        .get(CONTENT_SHA256_HEADER)
        .is_some_and(|v| v.as_bytes() == UNSIGNED_PAYLOAD.as_bytes());
    let mut hex_buffer = [0u8; 64];
    let body_hash = if unsigned_payload {
        UNSIGNED_PAYLOAD
    } else if body.is_empty() {
        EMPTY_BODY_SHA256
    } else {
        hex_digest(&Sha256::digest(body), &mut hex_buffer)
    };

    let mut canonical_request = String::with_capacity(512);
    canonical_request.push_str(method.as_str());
    canonical_request.push('\n');
    canonical_request.push_str(&canonical_uri(url.path()));
    canonical_request.push('\n');
    canonical_request.push_str(&canonical_query(url));
    canonical_request.push('\n');
    for (name, value) in &signed {
        canonical_request.push_str(name);
        canonical_request.push(':');
        canonical_request.push_str(value);
        canonical_request.push('\n');
    }
    canonical_request.push('\n');
    canonical_request.push_str(&signed_headers);
    canonical_request.push('\n');
    canonical_request.push_str(body_hash);

    let date = headers
        .get(DATE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let digest = Sha256::digest(canonical_request.as_bytes());
    let mut string_to_sign = String::with_capacity(ALGORITHM.len() + date.len() + 66);
    string_to_sign.push_str(ALGORITHM);
    string_to_sign.push('\n');
    string_to_sign.push_str(date);
    string_to_sign.push('\n');
    string_to_sign.push_str(hex_digest(&digest, &mut hex_buffer));
    let mut mac = key.0.clone();
    mac.update(string_to_sign.as_bytes());
    let signature = hex_digest(&mac.finalize().into_bytes(), &mut hex_buffer).to_owned();

    Signature {
        canonical_request,
        string_to_sign,
        signed_headers,
        signature,
    }
}

/// Percent-decode the whole path, split it on `/`, encode each segment, end with `/`.
/// A `%2F` inside a segment therefore becomes a separator, as in the official signer.
pub fn canonical_uri(raw_path: &str) -> String {
    if raw_path.bytes().all(|b| b == b'/' || is_unreserved(b)) {
        // Nothing to decode or encode: the common case, without a string per segment.
        let mut uri = String::with_capacity(raw_path.len() + 1);
        uri.push_str(raw_path);
        if !uri.ends_with('/') {
            uri.push('/');
        }
        return uri;
    }
    let decoded = percent_decode_str(raw_path).decode_utf8_lossy();
    let mut uri = decoded.split('/').map(encode).collect::<Vec<_>>().join("/");
    if !uri.ends_with('/') {
        uri.push('/');
    }
    uri
}

/// Query pairs decoded, sorted by key then value (before encoding, as the official signer
/// sorts), re-encoded, joined by `&`.
pub fn canonical_query(url: &Url) -> String {
    let Some(query) = url.query() else {
        return String::new();
    };
    if query
        .bytes()
        .all(|b| is_unreserved(b) || b == b'=' || b == b'&')
    {
        // Nothing encoded: sorting the raw pairs sorts the decoded ones.
        let mut pairs: Vec<(&str, &str)> = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
            .collect();
        pairs.sort_unstable();
        let mut canonical = String::with_capacity(query.len() + 1);
        for (i, (key, value)) in pairs.iter().enumerate() {
            if i > 0 {
                canonical.push('&');
            }
            canonical.push_str(key);
            canonical.push('=');
            canonical.push_str(value);
        }
        return canonical;
    }
    let mut pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    pairs.sort();
    encoded_query(pairs)
}

/// The query as the official SDK writes it on the wire, which is also its canonical form.
pub fn encoded_query(pairs: impl IntoIterator<Item = (String, String)>) -> String {
    pairs
        .into_iter()
        .map(|(k, v)| format!("{}={}", encode(&k), encode(&v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `A-Za-z0-9-_.~`: the bytes the signer never encodes.
pub(crate) fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~')
}

/// Encodes everything but the unreserved characters.
pub fn encode(text: &str) -> String {
    utf8_percent_encode(text, UNRESERVED).to_string()
}

/// Lowercased names (as `HeaderName` keeps them) and trimmed values, sorted by name; names
/// with `_` are not signed.
fn signed_headers(headers: &HeaderMap) -> Vec<(&str, Cow<'_, str>)> {
    let mut signed = Vec::with_capacity(headers.keys_len());
    for name in headers.keys() {
        if name.as_str().contains('_') {
            continue;
        }
        let mut values = headers.get_all(name).iter().map(|v| trimmed(v.as_bytes()));
        let first = values.next().unwrap_or_default();
        let value = match values.next() {
            None => first,
            Some(second) => {
                let rest = values.fold(format!("{first},{second}"), |acc, v| acc + "," + &v);
                Cow::Owned(rest)
            }
        };
        signed.push((name.as_str(), value));
    }
    signed.sort_unstable_by(|a, b| a.0.cmp(b.0));
    signed
}

fn trimmed(bytes: &[u8]) -> Cow<'_, str> {
    match String::from_utf8_lossy(bytes) {
        Cow::Borrowed(text) => Cow::Borrowed(text.trim()),
        Cow::Owned(text) => Cow::Owned(text.trim().to_owned()),
    }
}

/// Lowercase hex of a digest, written into `buffer` without allocating.
fn hex_digest<'a>(digest: &[u8], buffer: &'a mut [u8; 64]) -> &'a str {
    let out = &mut buffer[..digest.len() * 2];
    hex::encode_to_slice(digest, out).expect("the buffer fits a SHA-256 digest");
    std::str::from_utf8(out).expect("hex is ASCII")
}
