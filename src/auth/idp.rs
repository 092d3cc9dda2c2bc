//! Temporary access keys from an identity provider's ID token, which the official chain
//! prefers to AK/SK in the same source (`HUAWEICLOUD_SDK_IDP_ID` and
//! `HUAWEICLOUD_SDK_ID_TOKEN_FILE`, or the profile's `idp_id` and `id_token_file`): the token
//! (read again at each fetch) is exchanged with IAM for an unscoped token
//! (`POST /v3.0/OS-AUTH/id-token/tokens`), and that for keys
//! (`POST /v3.0/OS-CREDENTIAL/securitytokens`, six hours).

use std::path::PathBuf;

use reqwest::header::{CONTENT_TYPE, HeaderValue};
use serde_json::json;

use super::{
    answer::{body, keys, read_token_file, unanswered},
    temporary::{Failure, Keys, Place},
};
use crate::{Error, endpoint::base_url, params::check_header_value};

pub(crate) const IDP_ID: &str = "HUAWEICLOUD_SDK_IDP_ID";
pub(crate) const ID_TOKEN_FILE: &str = "HUAWEICLOUD_SDK_ID_TOKEN_FILE";
/// The official default when no IAM endpoint is known.
const DEFAULT_IAM_ENDPOINT: &str = "https://iam.myhuaweicloud.com";
const JSON: &str = "application/json;charset=UTF-8";

#[derive(Debug)]
pub(crate) struct IdpToken {
    idp_id: String,
    token_file: PathBuf,
}

impl IdpToken {
    pub(crate) fn new(idp_id: String, token_file: PathBuf) -> Result<Self, Error> {
        check_header_value("idp_id", &idp_id)?;
        Ok(Self { idp_id, token_file })
    }

    /// The IAM endpoint asked from `place`: the client's, else the variable's, else the
    /// official default.
    pub(crate) fn endpoint(&self, place: &Place) -> String {
        place
            .iam_endpoint
            .clone()
            .or_else(|| std::env::var(super::iam::IAM_ENDPOINT_VAR).ok())
            .unwrap_or_else(|| DEFAULT_IAM_ENDPOINT.into())
    }

    pub(crate) async fn fetch(
        &self,
        http: &reqwest::Client,
        place: &Place,
    ) -> Result<Keys, Failure> {
        let endpoint = self.endpoint(place);
        let base = base_url("IAM", &endpoint, false).map_err(|e| e.to_string())?;
        let what = format!("identity provider {} with IAM at {base}", self.idp_id);
        let id_token = read_token_file(&self.token_file, &what)?;
        let response = http
            .post(format!("{base}/v3.0/OS-AUTH/id-token/tokens"))
            .header("X-Idp-Id", &self.idp_id)
            .header(CONTENT_TYPE, JSON)
            .body(json!({"auth": {"id_token": {"id": id_token}}}).to_string())
            .send()
            .await
            .map_err(|e| unanswered(&e, &what))?;
        let subject = response.headers().get("X-Subject-Token").cloned();
        body(response, &what).await?;
        let subject = subject
            .as_ref()
            .and_then(|token| HeaderValue::to_str(token).ok())
            .ok_or_else(|| format!("{what}: the answer has no X-Subject-Token"))?
            .to_owned();
        let response = http
            .post(format!("{base}/v3.0/OS-CREDENTIAL/securitytokens"))
            .header(CONTENT_TYPE, JSON)
            .body(
                json!({"auth": {"identity": {
                    "methods": ["token"],
                    "token": {"id": subject, "duration_seconds": 21600}
                }}})
                .to_string(),
            )
            .send()
            .await
            .map_err(|e| unanswered(&e, &what))?;
        keys(response, &what).await
    }
}
