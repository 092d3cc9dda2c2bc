//! Putting credentials on a request: the token, or an AK/SK signature (with the client's
//! [`SigningAlgorithm`](super::SigningAlgorithm)) over the request exactly as it will be sent.

use std::cell::RefCell;

use reqwest::{
    Request,
    header::{AUTHORIZATION, HeaderName, HeaderValue},
};

use super::{
    Credentials,
    credentials::{AccessKey, Auth},
    signer,
};

// Header names built at compile time: a `&str` name is parsed and hashed on every use.
const X_AUTH_TOKEN: HeaderName = HeaderName::from_static("x-auth-token");
const X_PROJECT_ID: HeaderName = HeaderName::from_static("x-project-id");
const X_SECURITY_TOKEN: HeaderName = HeaderName::from_static("x-security-token");

impl Credentials {
    /// Authenticates `request`, whose URL's host is `host` (`host[:port]`). Call it last:
    /// a signature covers the method, path, query and headers as they are now. Temporary
    /// keys must have been fetched (`ready`); without them the request goes unsigned and the
    /// service refuses it.
    pub(crate) fn apply(&self, request: &mut Request, host: &str) {
        match &self.auth {
            Auth::Token(token) => {
                request.headers_mut().insert(X_AUTH_TOKEN, token.clone());
            }
            Auth::AkSk(key) => key.sign(self, request, host),
            Auth::Temporary(_) => {
                if let Some(key) = self.temporary_key() {
                    key.sign(self, request, host);
                }
            }
        }
    }
}

impl AccessKey {
    fn sign(&self, credentials: &Credentials, request: &mut Request, host: &str) {
        let headers = request.headers_mut();
        // `host` is signed but not sent: the transport sends it (`Host` over HTTP/1.1,
        // `:authority` over HTTP/2), and a second one is refused by nginx-based gateways.
        headers.insert(signer::DATE_HEADER_NAME, sdk_date_now());
        if let Some(project_id) = &credentials.project_header {
            headers.insert(X_PROJECT_ID, project_id.clone());
        }
        if let Some(token) = &self.security_token {
            headers.insert(X_SECURITY_TOKEN, token.clone());
        }
        let body = request
            .body()
            .and_then(|b| b.as_bytes())
            .unwrap_or_default();
        let authorization = signer::authorization(
            credentials.algorithm,
            &self.key,
            &self.ak,
            request.method(),
            request.url(),
            request.headers(),
            host,
            body,
        );
        // No key could be derived from the AK/SK (odds of about 2^-8000): the request goes
        // unsigned, and the service refuses it.
        let Some(authorization) = authorization else {
            tracing::warn!(ak = %self.ak, "no signing key can be derived from this AK/SK");
            return;
        };
        let mut authorization =
            HeaderValue::try_from(authorization).expect("the AK and hex are header-safe");
        authorization.set_sensitive(true);
        request.headers_mut().insert(AUTHORIZATION, authorization);
    }
}

/// `X-Sdk-Date` for now. It changes once a second, so each thread formats it once a second
/// and hands out copies (a reference count) in between.
///
/// Marked never to be indexed, though it is no secret: HTTP/2 would add each second's date to
/// the connection's header table, where stale dates push out the headers worth keeping, and
/// the encoder walks every date of the table on each request (they share one name).
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
            let mut value = HeaderValue::from_bytes(&date).expect("ASCII date");
            value.set_sensitive(true);
            *last = Some((second, value.clone()));
            value
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(credentials: &Credentials) -> Request {
        let url = "https://codeartsrepo.example/v4/repositories/1/last-push-event";
        let mut request = Request::new(reqwest::Method::GET, url.parse().unwrap());
        credentials.apply(&mut request, "codeartsrepo.example");
        request
    }

    #[test]
    fn secrets_and_the_date_are_never_indexed_by_http2() {
        let signed = applied(&Credentials::aksk("AK", "SK").unwrap());
        for name in [AUTHORIZATION, signer::DATE_HEADER_NAME] {
            assert!(signed.headers()[&name].is_sensitive(), "{name}");
        }
        let token = applied(&Credentials::token("a-token").unwrap());
        assert!(token.headers()[X_AUTH_TOKEN].is_sensitive());
    }
}
