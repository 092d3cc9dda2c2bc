//! Temporary access keys from the ECS metadata service, last in the credential chain as in
//! the official SDKs: `PUT /meta-data/latest/api/token` (a session token; a service without
//! one answers 404, 405 or 503 and is asked without it), then
//! `GET /openstack/latest/securitykey`. Keys are refreshed when fewer than 40 minutes remain.

use std::{
    sync::{Arc, OnceLock, RwLock},
    time::{Duration, SystemTime},
};

use reqwest::{StatusCode, header::HeaderValue};
use serde::Deserialize;

use super::{credentials::AccessKey, signer::SigningKey};
use crate::{ConfigKind, Error, params::check_header_value};

/// The metadata service of ECS instances.
pub const DEFAULT_METADATA_ENDPOINT: &str = "http://169.254.169.254";
/// This crate's own variable (the official SDKs have none): where the metadata service is.
pub const METADATA_ENDPOINT_VAR: &str = "HUAWEICLOUD_SDK_METADATA_ENDPOINT";
const TIMEOUT: Duration = Duration::from_secs(3);
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(40 * 60);
const TOKEN_TTL_SECONDS: &str = "21600";

/// Where the keys come from, and the keys while they last.
pub(crate) struct MetadataSource {
    endpoint: String,
    /// What the sources before this one said, for the error when this one fails too.
    before: String,
    http: OnceLock<Result<reqwest::Client, String>>,
    cached: RwLock<Option<Cached>>,
    /// One fetch at a time: concurrent calls wait for it rather than each fetching.
    refreshing: tokio::sync::Mutex<()>,
}

#[derive(Clone)]
struct Cached {
    key: Arc<AccessKey>,
    expires_at: SystemTime,
}

impl std::fmt::Debug for MetadataSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataSource")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct SecurityKey {
    credential: Credential,
}

#[derive(Deserialize)]
struct Credential {
    access: String,
    secret: String,
    securitytoken: String,
    expires_at: String,
}

impl MetadataSource {
    /// `endpoint` of the metadata service; `before`: why the earlier sources gave nothing.
    pub(crate) fn new(endpoint: String, before: String) -> Self {
        Self {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            before,
            http: OnceLock::new(),
            cached: RwLock::new(None),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    /// The keys fetched last, if any.
    pub(crate) fn current(&self) -> Option<Arc<AccessKey>> {
        self.read().map(|cached| cached.key)
    }

    fn read(&self) -> Option<Cached> {
        crate::sync::read(&self.cached).clone()
    }

    fn fresh(&self) -> bool {
        self.read().is_some_and(|cached| {
            cached
                .expires_at
                .duration_since(SystemTime::now())
                .is_ok_and(|left| left > REFRESH_BEFORE_EXPIRY)
        })
    }

    /// Makes sure keys with more than 40 minutes left are at hand, fetching them if not.
    /// A failed refresh keeps keys that have not expired yet.
    pub(crate) async fn ready(&self) -> Result<(), Error> {
        if self.fresh() {
            return Ok(());
        }
        let _one_at_a_time = self.refreshing.lock().await;
        if self.fresh() {
            return Ok(());
        }
        match self.fetch().await {
            Ok(cached) => {
                *crate::sync::write(&self.cached) = Some(cached);
                Ok(())
            }
            Err(why) => {
                let unexpired = self
                    .read()
                    .is_some_and(|cached| cached.expires_at > SystemTime::now());
                if unexpired {
                    tracing::warn!(error = %why, "refreshing metadata credentials failed; using the current ones");
                    Ok(())
                } else {
                    Err(Error::config(
                        ConfigKind::Credentials,
                        format!(
                            "no credentials: {}; ECS metadata at {}: {why}",
                            self.before, self.endpoint
                        ),
                    ))
                }
            }
        }
    }

    fn http(&self) -> Result<&reqwest::Client, String> {
        self.http
            .get_or_init(|| {
                crate::tls::reqwest_builder(&[], None)
                    .map_err(|e| e.to_string())?
                    .timeout(TIMEOUT)
                    .connect_timeout(TIMEOUT)
                    // The service is link-local: a proxy could not reach it, and must not see it.
                    .no_proxy()
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    async fn fetch(&self) -> Result<Cached, String> {
        let token = self.session_token().await?;
        let mut request = self
            .http()?
            .get(format!("{}/openstack/latest/securitykey", self.endpoint));
        if let Some(token) = token {
            request = request.header("X-Metadata-Token", token);
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        if status != StatusCode::OK {
            return Err(format!(
                "GET /openstack/latest/securitykey answered {status}"
            ));
        }
        let body = response.bytes().await.map_err(|e| e.to_string())?;
        // serde's message names the field, never a value.
        let SecurityKey { credential } = serde_json::from_slice(&body)
            .map_err(|e| format!("the security key does not decode: {e}"))?;
        check_header_value("access", &credential.access).map_err(|e| e.to_string())?;
        check_header_value("securitytoken", &credential.securitytoken)
            .map_err(|e| e.to_string())?;
        let expires_at = chrono::DateTime::parse_from_rfc3339(&credential.expires_at)
            .map_err(|_| format!("expires_at `{}` is not a date", credential.expires_at))?;
        Ok(Cached {
            key: Arc::new(AccessKey {
                ak: credential.access,
                key: SigningKey::new(&credential.secret),
                security_token: Some(super::credentials::secret_header(&credential.securitytoken)),
            }),
            expires_at: SystemTime::from(expires_at),
        })
    }

    /// The session token, or `None` where the service has no token endpoint.
    async fn session_token(&self) -> Result<Option<HeaderValue>, String> {
        let response = self
            .http()?
            .put(format!("{}/meta-data/latest/api/token", self.endpoint))
            .header("X-Metadata-Token-Ttl-Seconds", TOKEN_TTL_SECONDS)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        match response.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND
            | StatusCode::METHOD_NOT_ALLOWED
            | StatusCode::SERVICE_UNAVAILABLE => return Ok(None),
            status => return Err(format!("PUT /meta-data/latest/api/token answered {status}")),
        }
        let token = response.text().await.map_err(|e| e.to_string())?;
        let mut token = HeaderValue::from_str(token.trim())
            .map_err(|_| "the session token is not a header value".to_owned())?;
        token.set_sensitive(true);
        Ok(Some(token))
    }
}
