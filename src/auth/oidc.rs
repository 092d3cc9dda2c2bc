//! Temporary access keys by OIDC federation, first in the official chain: an ID token from a
//! CI pipeline or a platform (`HUAWEICLOUD_OIDC_ID_TOKEN`, or the file in
//! `HUAWEICLOUD_OIDC_TOKEN_FILE`, read again at each fetch) exchanged with STS
//! (`POST /v5/agencies/assume-with-oidc`, unsigned) for keys of an agency.

use std::path::PathBuf;

use serde_json::json;

use super::{
    answer::{keys, read_token_file, unanswered},
    temporary::{Failure, Keys, Place},
};
use crate::{ConfigKind, Error, endpoint::base_url};

pub(crate) const PROVIDER_URN: &str = "HUAWEICLOUD_OIDC_PROVIDER_URN";
pub(crate) const AGENCY_URN: &str = "HUAWEICLOUD_OIDC_AGENCY_URN";
pub(crate) const ID_TOKEN: &str = "HUAWEICLOUD_OIDC_ID_TOKEN";
pub(crate) const TOKEN_FILE: &str = "HUAWEICLOUD_OIDC_TOKEN_FILE";
const SESSION_NAME: &str = "HUAWEICLOUD_OIDC_SESSION_NAME";
const DURATION_SECONDS: &str = "HUAWEICLOUD_OIDC_DURATION_SECONDS";
const POLICY: &str = "HUAWEICLOUD_OIDC_POLICY";
const POLICY_IDS: &str = "HUAWEICLOUD_OIDC_POLICY_IDS";
/// The official variable naming the STS endpoint.
pub(crate) const STS_ENDPOINT_VAR: &str = "HUAWEICLOUD_SDK_STS_ENDPOINT";
/// The official default, when neither the variable nor the region's table names one.
const DEFAULT_STS_ENDPOINT: &str = "https://sts.cn-north-4.myhuaweicloud.com";

/// Where the ID token is: given (never printed), or a file.
enum IdToken {
    Given(String),
    File(PathBuf),
}

impl std::fmt::Debug for IdToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Given(_) => f.write_str("Given(<redacted>)"),
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Oidc {
    provider_urn: String,
    agency_urn: String,
    id_token: IdToken,
    session_name: String,
    duration_seconds: u32,
    policy: Option<String>,
    policy_ids: Vec<String>,
    sts_endpoint: Option<String>,
}

impl Oidc {
    /// From the `HUAWEICLOUD_OIDC_*` variables; `None` when none of them is set, an error
    /// naming what is missing when some are.
    pub(crate) fn from_vars(var: &impl Fn(&str) -> Option<String>) -> Result<Option<Self>, Error> {
        let (provider, agency) = (var(PROVIDER_URN), var(AGENCY_URN));
        let id_token = match (var(ID_TOKEN), var(TOKEN_FILE)) {
            (Some(token), _) => Some(IdToken::Given(token)),
            (None, Some(path)) => Some(IdToken::File(PathBuf::from(path))),
            (None, None) => None,
        };
        let (provider_urn, agency_urn, id_token) = match (provider, agency, id_token) {
            (None, None, None) => return Ok(None),
            (Some(provider), Some(agency), Some(token)) => (provider, agency, token),
            (provider, agency, token) => {
                let missing: Vec<&str> = [
                    (provider.is_none(), PROVIDER_URN),
                    (agency.is_none(), AGENCY_URN),
                    (
                        token.is_none(),
                        "HUAWEICLOUD_OIDC_ID_TOKEN or HUAWEICLOUD_OIDC_TOKEN_FILE",
                    ),
                ]
                .into_iter()
                .filter_map(|(missing, name)| missing.then_some(name))
                .collect();
                return Err(Error::config(
                    ConfigKind::Credentials,
                    format!(
                        "OIDC federation is half set in the environment: {} missing",
                        missing.join(" and ")
                    ),
                ));
            }
        };
        let duration_seconds = match var(DURATION_SECONDS) {
            None => 3600,
            Some(text) => text.trim().parse().map_err(|_| {
                Error::config(
                    ConfigKind::Credentials,
                    format!("{DURATION_SECONDS} `{text}` is not a number of seconds"),
                )
            })?,
        };
        Ok(Some(Self {
            provider_urn,
            agency_urn,
            id_token,
            session_name: var(SESSION_NAME).unwrap_or_else(|| "oidc-sts-session".into()),
            duration_seconds,
            policy: var(POLICY),
            policy_ids: var(POLICY_IDS)
                .map(|ids| {
                    ids.split(',')
                        .map(str::trim)
                        .filter(|id| !id.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            sts_endpoint: var(STS_ENDPOINT_VAR),
        }))
    }

    /// The STS endpoint asked from `place`: the variable's, else the region's, else the
    /// official default.
    pub(crate) fn endpoint(&self, place: &Place) -> String {
        self.sts_endpoint
            .clone()
            .or_else(|| crate::endpoint::table::sts_endpoint(place.region.as_deref()?))
            .unwrap_or_else(|| DEFAULT_STS_ENDPOINT.into())
    }

    pub(crate) async fn fetch(
        &self,
        http: &reqwest::Client,
        place: &Place,
    ) -> Result<Keys, Failure> {
        let endpoint = self.endpoint(place);
        let base = base_url("STS", &endpoint, false).map_err(|e| e.to_string())?;
        let what = format!("OIDC federation with STS at {base}");
        let id_token = match &self.id_token {
            IdToken::Given(token) => token.clone(),
            IdToken::File(path) => read_token_file(path, &what)?,
        };
        let mut request = json!({
            "provider_urn": self.provider_urn,
            "agency_urn": self.agency_urn,
            "agency_session_name": self.session_name,
            "id_token": id_token,
            "duration_seconds": self.duration_seconds,
        });
        if let Some(policy) = &self.policy {
            request["policy"] = json!(policy);
        }
        if !self.policy_ids.is_empty() {
            request["policy_ids"] = json!(self.policy_ids);
        }
        let response = http
            .post(format!("{base}/v5/agencies/assume-with-oidc"))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/json;charset=UTF-8",
            )
            .body(request.to_string())
            .send()
            .await
            .map_err(|e| unanswered(&e, &what))?;
        keys(response, &what).await
    }
}
