//! The progenitor hooks: what happens to every request the generated code builds, and to
//! every response before the generated code reads it.
//!
//! - the `api-version` header progenitor always adds is removed (the API knows no such header);
//! - path and query are rewritten in the official SDK's encoding, which is also the
//!   signature's canonical form, so what is signed is exactly what is sent;
//! - credentials are applied last: the token, or an AK/SK signature over the final request;
//! - a 200 body is capped at the configured size while the generated code reads it;
//! - any other answer is read (capped) and rewritten into the canonical Huawei error body, so
//!   the generated code can always decode it and the status is never lost.

use std::{cell::RefCell, sync::Arc};

use bytes::Bytes;
use progenitor_client::{ClientHooks, ClientInfo, OperationInfo};
use reqwest::{
    Request, Response, StatusCode,
    header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue},
};

use crate::{
    ApiError,
    auth::{Auth, Credentials, signer},
    generated::Client,
};

/// What the generated client carries for the hooks (its "inner type").
#[derive(Clone, Debug)]
pub(crate) struct Hooks {
    config: Arc<HookConfig>,
    /// The host of the service's base URL (`host[:port]`), where every request of this
    /// client goes: built once, as AK/SK signs it on every request.
    host: Box<str>,
}

#[derive(Debug)]
pub(crate) struct HookConfig {
    pub(crate) credentials: Credentials,
    pub(crate) max_body_bytes: usize,
}

impl Hooks {
    pub(crate) fn new(config: Arc<HookConfig>, base_url: &reqwest::Url) -> Self {
        Self {
            config,
            host: host_header(base_url),
        }
    }
}

pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
// Header names built at compile time: a `&str` name is parsed and hashed on every use.
const API_VERSION: HeaderName = HeaderName::from_static("api-version");
const X_AUTH_TOKEN: HeaderName = HeaderName::from_static("x-auth-token");
const X_PROJECT_ID: HeaderName = HeaderName::from_static("x-project-id");
const X_SECURITY_TOKEN: HeaderName = HeaderName::from_static("x-security-token");

/// The `X-Request-Id` the gateway put on an answer.
pub(crate) fn request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

impl ClientHooks<Hooks> for Client {
    async fn exec(&self, mut request: Request, _info: &OperationInfo) -> reqwest::Result<Response> {
        let hooks = self.inner();
        let config = &hooks.config;
        request.headers_mut().remove(API_VERSION);
        canonicalise_url(request.url_mut());
        authenticate(&mut request, &config.credentials, &hooks.host);

        let response = self.client().execute(request).await?;
        let span = tracing::Span::current();
        if !span.is_disabled() {
            span.record("status", response.status().as_u16());
            if let Some(id) = response
                .headers()
                .get(REQUEST_ID)
                .and_then(|v| v.to_str().ok())
            {
                span.record("request_id", id);
            }
        }
        if response.status() == StatusCode::OK {
            let mut response = cap_body(response, config.max_body_bytes);
            // Nothing reads a success's headers, and the generated code would copy them all.
            *response.headers_mut() = HeaderMap::new();
            Ok(response)
        } else {
            // Boxed: a cold path whose state would otherwise enlarge every call's future.
            Box::pin(normalise_error(response, config.max_body_bytes)).await
        }
    }
}

/// Rewrites each path segment and the query with the signer's encoding (`%20`, `%3A`, ...).
fn canonicalise_url(url: &mut reqwest::Url) {
    // Ids and names without special characters are already canonical: leave them be. The
    // check runs on every request: no early exit, so the loop has no branch per byte.
    const PATH: [bool; 256] = signer::unreserved_and(b"/");
    const QUERY: [bool; 256] = signer::unreserved_and(b"=&");
    fn plain(text: &str, table: &[bool; 256]) -> bool {
        text.bytes()
            .fold(true, |plain, b| plain & table[usize::from(b)])
    }
    if plain(url.path(), &PATH) && url.query().is_none_or(|q| plain(q, &QUERY)) {
        return;
    }
    let path = url
        .path()
        .split('/')
        .map(|segment| {
            signer::encode(&percent_encoding::percent_decode_str(segment).decode_utf8_lossy())
        })
        .collect::<Vec<_>>()
        .join("/");
    url.set_path(&path);
    if url.query().is_some() {
        let query = signer::encoded_query(url.query_pairs().into_owned());
        url.set_query(Some(&query));
    }
}

fn authenticate(request: &mut Request, credentials: &Credentials, host: &str) {
    match &credentials.auth {
        Auth::Token(token) => {
            request.headers_mut().insert(X_AUTH_TOKEN, token.clone());
        }
        Auth::AkSk {
            ak,
            key,
            security_token,
        } => {
            let headers = request.headers_mut();
            headers.insert(signer::DATE_HEADER_NAME, sdk_date_now());
            if let Some(project_id) = &credentials.project_header {
                headers.insert(X_PROJECT_ID, project_id.clone());
            }
            if let Some(token) = security_token {
                headers.insert(X_SECURITY_TOKEN, token.clone());
            }
            let body = request
                .body()
                .and_then(|b| b.as_bytes())
                .unwrap_or_default();
            let authorization = signer::authorization(
                key,
                ak,
                request.method(),
                request.url(),
                request.headers(),
                host,
                body,
            );
            let mut authorization =
                HeaderValue::try_from(authorization).expect("the AK and hex are header-safe");
            authorization.set_sensitive(true);
            request.headers_mut().insert(AUTHORIZATION, authorization);
        }
    }
}

/// `X-Sdk-Date` for now. It changes once a second, so each thread formats it once a second
/// and hands out copies (a reference count) in between.
fn sdk_date_now() -> HeaderValue {
    thread_local! {
        static LAST: RefCell<Option<(u64, HeaderValue)>> = const { RefCell::new(None) };
    }
    let now = std::time::SystemTime::now();
    let second = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    LAST.with_borrow_mut(|last| match last {
        Some((cached, value)) if *cached == second => value.clone(),
        _ => {
            let date = signer::sdk_date_bytes(now.into());
            let value = HeaderValue::from_bytes(&date).expect("ASCII date");
            *last = Some((second, value.clone()));
            value
        }
    })
}

/// `host[:port]`, the port only when it is not the scheme's default, as the transport sends it.
fn host_header(url: &reqwest::Url) -> Box<str> {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}").into(),
        None => host.into(),
    }
}

/// Lets the generated code read the body only up to `limit` bytes: past it, reading fails
/// with `LengthLimitError` and the connection is dropped. A body whose `Content-Length` is
/// within the limit needs no wrapper: hyper never reads past the length it announced.
fn cap_body(response: Response, limit: usize) -> Response {
    if response
        .content_length()
        .is_some_and(|length| length <= limit as u64)
    {
        return response;
    }
    let (parts, body) = http::Response::<reqwest::Body>::from(response).into_parts();
    let capped = reqwest::Body::wrap(http_body_util::Limited::new(body, limit));
    Response::from(http::Response::from_parts(parts, capped))
}

/// Reads an error answer (at most `limit` bytes; the rest is dropped) and replaces its body
/// with the canonical `{"error_code", "error_msg"}` the spec declares.
async fn normalise_error(mut response: Response, limit: usize) -> reqwest::Result<Response> {
    let status = response.status();
    let mut headers = HeaderMap::new();
    std::mem::swap(&mut headers, response.headers_mut());
    let request_id = request_id(&headers);
    let mut body = Vec::new();
    while body.len() < limit {
        match response.chunk().await? {
            Some(chunk) => body.extend_from_slice(&chunk[..chunk.len().min(limit - body.len())]),
            None => break,
        }
    }
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
