//! The keyless flows, as STS, IAM and the CCE pod-identity agent answer them, so that tests
//! can run each one end to end: the exchange, then calls signed with the keys it issued.
//!
//! - `POST /v5/agencies/assume-with-oidc` (STS): an accepted ID token gives `credentials`.
//! - `POST /v3.0/OS-AUTH/id-token/tokens` (IAM) with `X-Idp-Id`: an accepted ID token gives
//!   an unscoped token in `X-Subject-Token`; `POST /v3.0/OS-CREDENTIAL/securitytokens` turns
//!   it into a `credential`.
//! - `POST /pod-identity/credentials`: the accepted `Authorization` token gives keys.
//!
//! Each fetch issues new keys (a new access key, its security token, an expiry by the
//! server's clock); a signature by issued keys is accepted only with their security token and
//! before they expire, as the gateway checks them.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, SystemTime},
};

use axum::{
    Json,
    extract::State as Extract,
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::{SharedState, answer::Failure};
use crate::auth::signer::SigningKey;

/// The path of the pod-identity agent: give `{server url}/pod-identity/credentials` as
/// `HC_CONTAINER_CREDENTIALS_FULL_URI`.
pub const POD_IDENTITY_PATH: &str = "/pod-identity/credentials";

/// What the server accepts and issues for the keyless flows ([`super::ServerConfig::keyless`]).
#[derive(Clone, Debug)]
pub struct Keyless {
    /// ID tokens accepted by STS (OIDC federation) and by IAM (identity-provider tokens).
    pub id_tokens: Vec<String>,
    /// The identity provider IAM knows (`X-Idp-Id`).
    pub idp_id: String,
    /// The token the pod-identity agent accepts in `Authorization`.
    pub pod_token: String,
    /// The temporary access keys it issues are this followed by the fetch's number in five
    /// digits (`DEMOTEMPORARYAK00001`, then `DEMOTEMPORARYAK00002`, ...): a new one for each
    /// fetch.
    pub access_key_prefix: String,
    /// Their secret key.
    pub secret_key: String,
    /// Their security token, followed by `-` and the fetch's number.
    pub security_token: String,
    /// How long issued keys last, from the fetch (zero: they expire as they are issued).
    pub lifetime: Duration,
}

impl Default for Keyless {
    fn default() -> Self {
        Self {
            id_tokens: vec!["demo-id-token".into()],
            idp_id: "demo-idp".into(),
            pod_token: "demo-pod-token".into(),
            access_key_prefix: "DEMOTEMPORARYAK".into(),
            secret_key: "demo-temporary-secret-key".into(),
            security_token: "demo-security-token".into(),
            lifetime: Duration::from_secs(3600),
        }
    }
}

/// Keys issued and not yet expired, by access key, and how many were ever issued.
#[derive(Default)]
pub(crate) struct Issued {
    count: u64,
    keys: HashMap<String, IssuedKey>,
}

struct IssuedKey {
    key: SigningKey,
    security_token: String,
    expires_at: SystemTime,
}

impl Issued {
    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    /// The key of `ak` if these are issued keys that go with `security_token` and have not
    /// expired; `Ok(None)`: `ak` was not issued here (or expired long ago, forgotten).
    pub(crate) fn check(
        &self,
        ak: &str,
        security_token: Option<&str>,
    ) -> Result<Option<SigningKey>, String> {
        let Some(issued) = self.keys.get(ak) else {
            return Ok(None);
        };
        if security_token != Some(issued.security_token.as_str()) {
            return Err("temporary keys need their X-Security-Token".into());
        }
        if SystemTime::now() >= issued.expires_at {
            // The gateway's words for an expired token (Huawei's APIG.0301 FAQ).
            let expires_at = chrono::DateTime::<chrono::Utc>::from(issued.expires_at)
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            return Err(format!("security token expires, expires_at: {expires_at}"));
        }
        Ok(Some(issued.key.clone()))
    }
}

impl Keyless {
    /// New keys, recorded in `issued`, in the answer's `shape`.
    fn issue(&self, issued: &Mutex<Issued>, shape: &str) -> Value {
        // A lifetime past chrono's range is the furthest time it can say.
        let now = chrono::Utc::now();
        let expires = chrono::Duration::from_std(self.lifetime)
            .ok()
            .and_then(|lifetime| now.checked_add_signed(lifetime))
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC);
        let mut issued = crate::sync::lock(issued);
        issued.count += 1;
        let n = issued.count;
        let access_key = format!("{}{n:05}", self.access_key_prefix);
        let security_token = format!("{}-{n}", self.security_token);
        // Expired keys are refused as expired for a minute, then forgotten.
        let forget_before = SystemTime::from(now) - Duration::from_secs(60);
        issued.keys.retain(|_, key| key.expires_at > forget_before);
        issued.keys.insert(
            access_key.clone(),
            IssuedKey {
                key: SigningKey::new(&self.secret_key),
                security_token: security_token.clone(),
                expires_at: SystemTime::from(expires),
            },
        );
        let expires = expires.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        match shape {
            "credentials" => json!({"credentials": {
                "access_key_id": access_key, "secret_access_key": self.secret_key,
                "security_token": security_token, "expiration": expires}}),
            "credential" => json!({"credential": {
                "access": access_key, "secret": self.secret_key,
                "securitytoken": security_token, "expires_at": expires}}),
            _ => json!({"AccessKeyId": access_key, "accessKeyId": access_key,
                "secretAccessKey": self.secret_key, "securityToken": security_token,
                "expiration": expires}),
        }
    }
}

fn refused(status: StatusCode, code: &'static str, why: &str) -> Failure {
    Failure::new(status, code, why)
}

fn configured(state: &super::State) -> Result<&Keyless, Failure> {
    state.keyless.as_ref().ok_or_else(|| {
        refused(
            StatusCode::NOT_FOUND,
            "APIGW.0101",
            "The API does not exist or has not been published in the environment.",
        )
    })
}

/// STS: `assume-with-oidc`.
pub(crate) async fn assume_with_oidc(
    Extract(state): SharedState,
    Json(body): Json<Value>,
) -> Result<Response, Failure> {
    let keyless = configured(&state)?;
    let has = |name: &str| body[name].as_str().is_some_and(|v| !v.is_empty());
    if !(has("provider_urn") && has("agency_urn") && has("agency_session_name")) {
        return Err(refused(
            StatusCode::BAD_REQUEST,
            "STS.0001",
            "missing a required field",
        ));
    }
    let token = body["id_token"].as_str().unwrap_or_default();
    if !keyless.id_tokens.iter().any(|t| t == token) {
        return Err(refused(
            StatusCode::FORBIDDEN,
            "STS.0101",
            "the id_token is not valid",
        ));
    }
    Ok(Json(keyless.issue(&state.issued, "credentials")).into_response())
}

/// IAM: an ID token for an unscoped token.
pub(crate) async fn id_token_tokens(
    Extract(state): SharedState,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Result<Response, Failure> {
    let keyless = configured(&state)?;
    if headers.get("x-idp-id").and_then(|v| v.to_str().ok()) != Some(keyless.idp_id.as_str()) {
        return Err(refused(
            StatusCode::BAD_REQUEST,
            "IAM.0005",
            "unknown identity provider",
        ));
    }
    let token = body["auth"]["id_token"]["id"].as_str().unwrap_or_default();
    if !keyless.id_tokens.iter().any(|t| t == token) {
        return Err(refused(
            StatusCode::UNAUTHORIZED,
            "IAM.0003",
            "the id_token is not valid",
        ));
    }
    let mut response = (
        StatusCode::CREATED,
        Json(json!({"token": {"methods": ["mapped"]}})),
    )
        .into_response();
    response.headers_mut().insert(
        "x-subject-token",
        HeaderValue::from_static("unscoped-token-from-demo-idp"),
    );
    Ok(response)
}

/// IAM: an unscoped token for temporary keys.
pub(crate) async fn security_tokens(
    Extract(state): SharedState,
    Json(body): Json<Value>,
) -> Result<Response, Failure> {
    let keyless = configured(&state)?;
    let token = &body["auth"]["identity"]["token"];
    if token["id"] != "unscoped-token-from-demo-idp"
        || body["auth"]["identity"]["methods"][0] != "token"
    {
        return Err(refused(
            StatusCode::UNAUTHORIZED,
            "IAM.0003",
            "the token is not valid",
        ));
    }
    Ok(Json(keyless.issue(&state.issued, "credential")).into_response())
}

/// The CCE pod-identity agent.
pub(crate) async fn pod_identity(
    Extract(state): SharedState,
    headers: HeaderMap,
) -> Result<Response, Failure> {
    let keyless = configured(&state)?;
    let token = headers.get("authorization").and_then(|v| v.to_str().ok());
    if token != Some(keyless.pod_token.as_str()) {
        return Err(refused(
            StatusCode::UNAUTHORIZED,
            "CCE.0401",
            "the pod token is not valid",
        ));
    }
    Ok(Json(keyless.issue(&state.issued, "camel")).into_response())
}
