//! Temporary access keys from CCE pod identity, last in the official chain:
//! `POST $HC_CONTAINER_CREDENTIALS_FULL_URI` with `Authorization` set to the content of
//! `$HC_CONTAINER_AUTHORIZATION_TOKEN_FILE` (read again at each fetch: the platform rotates
//! it) and the body `{}`.
//!
//! The agent is node-local: it is asked directly, never through a proxy, and over plain HTTP
//! only on a loopback or link-local host (as AWS's container provider requires), since the
//! request carries the pod's token.

use std::path::PathBuf;

use super::{
    answer::{keys, read_token_file, unanswered},
    temporary::{Failure, Keys},
};
use crate::{ConfigKind, Error, endpoint::local::node_local};

pub(crate) const URI_VAR: &str = "HC_CONTAINER_CREDENTIALS_FULL_URI";
pub(crate) const TOKEN_FILE_VAR: &str = "HC_CONTAINER_AUTHORIZATION_TOKEN_FILE";

#[derive(Debug)]
pub(crate) struct PodIdentity {
    uri: String,
    token_file: PathBuf,
}

impl PodIdentity {
    /// Refuses a URI that is not HTTPS unless its host is loopback or link-local.
    pub(crate) fn new(uri: String, token_file: PathBuf) -> Result<Self, Error> {
        let shown = crate::endpoint::without_userinfo(&uri);
        let refused = |why: &str| {
            Error::config(
                ConfigKind::Credentials,
                format!("{URI_VAR} `{shown}`: {why}"),
            )
        };
        let url = reqwest::Url::parse(&uri).map_err(|e| refused(&format!("not a URL: {e}")))?;
        match url.scheme() {
            "https" => {}
            "http" if url.host().is_some_and(|host| node_local(&host)) => {}
            "http" => {
                return Err(refused(
                    "plain HTTP would carry the pod's token in clear text off the node: use \
                     HTTPS, or a loopback or link-local address (127.0.0.1, 169.254.x.x, \
                     fd00:ec2::…)",
                ));
            }
            _ => return Err(refused("must be an HTTPS (or local HTTP) URL")),
        }
        Ok(Self { uri, token_file })
    }

    pub(crate) fn uri(&self) -> &str {
        &self.uri
    }

    /// `http`: a client that never goes through a proxy.
    pub(crate) async fn fetch(&self, http: &reqwest::Client) -> Result<Keys, Failure> {
        let what = format!(
            "CCE pod identity at {}",
            crate::endpoint::without_userinfo(&self.uri)
        );
        let token = read_token_file(&self.token_file, &what)?;
        let mut authorization = reqwest::header::HeaderValue::from_str(&token)
            .map_err(|_| format!("{what}: the token file does not hold a header value"))?;
        authorization.set_sensitive(true);
        let response = http
            .post(&self.uri)
            .header(reqwest::header::AUTHORIZATION, authorization)
            .json(&serde_json::json!({}))
            .send()
            .await
            .map_err(|e| unanswered(&e, &what))?;
        keys(response, &what).await
    }
}
