//! The canonical forms of the official signer: the URI, the query and the signed headers,
//! shared by every signing algorithm. Public only so that the project's tests can check each
//! step against the official vectors (hidden from the documentation, not covered by semver).

use std::borrow::Cow;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use reqwest::{Url, header::HeaderMap};

/// Everything but `A-Za-z0-9-_.~` is percent-encoded, with uppercase hex.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-decode the whole path, split it on `/`, encode each segment, end with `/`.
/// A `%2F` inside a segment therefore becomes a separator, as in the official signer.
#[doc(hidden)]
pub fn canonical_uri(raw_path: &str) -> String {
    let mut uri = String::with_capacity(raw_path.len() + 1);
    push_canonical_uri(&mut uri, raw_path);
    uri
}

pub(super) fn push_canonical_uri(out: &mut String, raw_path: &str) {
    if raw_path.bytes().all(|b| b == b'/' || is_unreserved(b)) {
        // Nothing to decode or encode: the common case, without a string per segment.
        out.push_str(raw_path);
    } else {
        let decoded = percent_decode_str(raw_path).decode_utf8_lossy();
        for (i, segment) in decoded.split('/').enumerate() {
            if i > 0 {
                out.push('/');
            }
            out.extend(utf8_percent_encode(segment, UNRESERVED));
        }
    }
    if !out.ends_with('/') {
        out.push('/');
    }
}

/// Query pairs decoded, sorted by key then value (before encoding, as the official signer
/// sorts), re-encoded, joined by `&`.
#[doc(hidden)]
pub fn canonical_query(url: &Url) -> String {
    let mut query = String::new();
    push_canonical_query(&mut query, url);
    query
}

pub(super) fn push_canonical_query(out: &mut String, url: &Url) {
    let Some(query) = url.query() else {
        return;
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
        for (i, (key, value)) in pairs.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            out.push_str(key);
            out.push('=');
            out.push_str(value);
        }
        return;
    }
    let mut pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    pairs.sort();
    out.push_str(&encoded_query(pairs));
}

/// The query as the official SDK writes it on the wire, which is also its canonical form.
#[doc(hidden)]
pub fn encoded_query(pairs: impl IntoIterator<Item = (String, String)>) -> String {
    pairs
        .into_iter()
        .map(|(k, v)| format!("{}={}", encode(&k), encode(&v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `A-Za-z0-9-_.~`: the bytes the signer never encodes.
pub(crate) fn is_unreserved(byte: u8) -> bool {
    UNRESERVED_BYTES[usize::from(byte)]
}

/// A table rather than comparisons: every request's path and query are checked byte by byte.
const UNRESERVED_BYTES: [bool; 256] = unreserved_and(b"");

/// The table of the unreserved bytes and `extra`.
pub(crate) const fn unreserved_and(extra: &[u8]) -> [bool; 256] {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~');
        byte += 1;
    }
    let mut i = 0;
    while i < extra.len() {
        table[extra[i] as usize] = true;
        i += 1;
    }
    table
}

/// Encodes everything but the unreserved characters.
#[doc(hidden)]
pub fn encode(text: &str) -> String {
    utf8_percent_encode(text, UNRESERVED).to_string()
}

/// Lowercased names (as `HeaderName` keeps them) and trimmed values, sorted by name, a
/// repeated name's values joined by `,` in the order sent; names with `_` are not signed.
/// `host`, when given, is signed as if it were among the headers.
pub(super) fn signed_headers<'a>(
    headers: &'a HeaderMap,
    host: Option<&'a str>,
) -> Vec<(&'a str, Cow<'a, str>)> {
    // One pass over the values rather than a lookup per name; a stable sort keeps each
    // name's values in order, and brings them together to be joined.
    let mut values: Vec<(&str, Cow<'_, str>)> = headers
        .iter()
        .filter(|(name, _)| !name.as_str().contains('_'))
        .map(|(name, value)| (name.as_str(), trimmed(value.as_bytes())))
        .chain(host.map(|host| ("host", Cow::Borrowed(host.trim()))))
        .collect();
    values.sort_by(|a, b| a.0.cmp(b.0));
    values.dedup_by(|next, kept| {
        let same = next.0 == kept.0;
        if same {
            let joined = kept.1.to_mut();
            joined.push(',');
            joined.push_str(&next.1);
        }
        same
    });
    values
}

fn trimmed(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text.trim()),
        Err(_) => Cow::Owned(String::from_utf8_lossy(bytes).trim().to_owned()),
    }
}
