//! Temporary access keys from the ECS metadata service, as in the official SDKs:
//! `PUT /meta-data/latest/api/token` (a session token; a service without one answers 404,
//! 405 or 503 and is asked without it), then `GET /openstack/latest/securitykey`.

use reqwest::{StatusCode, header::HeaderValue};

use super::{
    answer::{keys, unanswered},
    temporary::{Failure, Keys},
};

/// The metadata service of ECS instances.
pub const DEFAULT_METADATA_ENDPOINT: &str = "http://169.254.169.254";
/// This crate's own variable (the official SDKs have none): where the metadata service is.
pub const METADATA_ENDPOINT_VAR: &str = "HUAWEICLOUD_SDK_METADATA_ENDPOINT";
const TOKEN_TTL_SECONDS: &str = "21600";

#[derive(Debug)]
pub(crate) struct Metadata {
    endpoint: String,
}

impl Metadata {
    pub(crate) fn new(endpoint: String) -> Self {
        Self {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
        }
    }

    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub(crate) async fn fetch(&self, http: &reqwest::Client) -> Result<Keys, Failure> {
        let what = format!("ECS metadata at {}", self.endpoint);
        let token = self.session_token(http, &what).await?;
        let mut request = http.get(format!("{}/openstack/latest/securitykey", self.endpoint));
        if let Some(token) = token {
            request = request.header("X-Metadata-Token", token);
        }
        let response = request.send().await.map_err(|e| unanswered(&e, &what))?;
        if response.status() != StatusCode::OK {
            return Err(format!(
                "{what}: GET /openstack/latest/securitykey answered {}",
                response.status()
            )
            .into());
        }
        keys(response, &what).await
    }

    /// The session token, or `None` where the service has no token endpoint.
    async fn session_token(
        &self,
        http: &reqwest::Client,
        what: &str,
    ) -> Result<Option<HeaderValue>, Failure> {
        let response = http
            .put(format!("{}/meta-data/latest/api/token", self.endpoint))
            .header("X-Metadata-Token-Ttl-Seconds", TOKEN_TTL_SECONDS)
            .send()
            .await
            .map_err(|e| unanswered(&e, what))?;
        match response.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND
            | StatusCode::METHOD_NOT_ALLOWED
            | StatusCode::SERVICE_UNAVAILABLE => return Ok(None),
            status => {
                return Err(
                    format!("{what}: PUT /meta-data/latest/api/token answered {status}").into(),
                );
            }
        }
        let token = response.text().await.map_err(|e| unanswered(&e, what))?;
        let mut token = HeaderValue::from_str(token.trim())
            .map_err(|_| format!("{what}: the session token is not a header value"))?;
        token.set_sensitive(true);
        Ok(Some(token))
    }
}
