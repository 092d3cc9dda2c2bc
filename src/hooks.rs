//! The progenitor hooks: what happens to every request the generated code builds, and to
//! every response before the generated code reads it.
//!
//! - the `api-version` header progenitor always adds is removed (the API knows no such header);
//! - path and query are rewritten in the official SDK's encoding, which is also the
//!   signature's canonical form, so what is signed is exactly what is sent;
//! - credentials are applied last ([`Credentials::apply`]), over the final request;
//! - a 200 body is capped at the configured size while the generated code reads it, and
//!   compared with the spec once read (src/drift/), unless the client was built without;
//! - any other answer goes to [`error_answer::normalise`], which rewrites it into the
//!   canonical Huawei error body, so the generated code can always decode it.

use std::sync::Arc;

use progenitor_client::{ClientHooks, ClientInfo, OperationInfo};
use reqwest::{
    Request, Response, StatusCode,
    header::{HeaderMap, HeaderName},
};

use crate::{
    auth::signer, drift, error_answer, failover::Endpoints, generated::Client, settings::Settings,
};

/// What the generated client carries for the hooks (its "inner type").
#[derive(Clone, Debug)]
pub(crate) struct Hooks {
    settings: Arc<Settings>,
    /// Where this service's requests go (usually one endpoint).
    endpoints: Arc<Endpoints>,
}

impl Hooks {
    pub(crate) fn new(settings: Arc<Settings>, endpoints: Endpoints) -> Self {
        Self {
            settings,
            endpoints: Arc::new(endpoints),
        }
    }
}

// Header names built at compile time: a `&str` name is parsed and hashed on every use.
const API_VERSION: HeaderName = HeaderName::from_static("api-version");

impl ClientHooks<Hooks> for Client {
    async fn exec(&self, mut request: Request, info: &OperationInfo) -> reqwest::Result<Response> {
        let hooks = self.inner();
        let settings = &hooks.settings;
        request.headers_mut().remove(API_VERSION);
        canonicalise_url(request.url_mut());
        let response = hooks
            .endpoints
            .send(self.client(), request, &settings.credentials)
            .await?;
        let span = tracing::Span::current();
        if !span.is_disabled() {
            span.record("status", response.status().as_u16());
            if let Some(id) = response
                .headers()
                .get(error_answer::REQUEST_ID)
                .and_then(|v| v.to_str().ok())
            {
                span.record("request_id", id);
            }
        }
        if response.status() == StatusCode::OK {
            let mut response = cap_body(response, settings.max_body_bytes);
            // Nothing reads a success's headers, and the generated code would copy them all.
            *response.headers_mut() = HeaderMap::new();
            Ok(match &settings.drift {
                Some(log) => drift::watch_body(response, info.operation_id, log.clone()),
                None => response,
            })
        } else {
            // Boxed: a cold path whose state would otherwise enlarge every call's future.
            Box::pin(error_answer::normalise(response, settings.max_body_bytes)).await
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
