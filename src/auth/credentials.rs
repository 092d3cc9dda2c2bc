//! Credentials: an IAM token, or an access key pair (with an optional security token for
//! temporary keys), plus the project id they belong to. Secrets never reach `Debug`.

use reqwest::header::HeaderValue;

use super::signer::SigningKey;
use crate::{
    Error,
    params::{ProjectId, check_header_value},
};

/// A secret ready to send: a header value marked sensitive, which `Debug` prints as
/// `Sensitive` and HTTP/2 never indexes. Built once, cloned per request (a reference count).
fn secret_header(value: &str) -> HeaderValue {
    // Callers checked the value: visible ASCII only.
    let mut value = HeaderValue::from_str(value).expect("checked header value");
    value.set_sensitive(true);
    value
}

/// The documented bounds of an IAM token.
const TOKEN_MAX_CHARS: usize = 100_000;

/// How requests are authenticated.
#[derive(Clone, Debug)]
pub(crate) enum Auth {
    /// `X-Auth-Token`.
    Token(HeaderValue),
    /// `SDK-HMAC-SHA256` signing.
    AkSk {
        ak: String,
        key: SigningKey,
        security_token: Option<HeaderValue>,
    },
}

/// Credentials for both services.
///
/// ```
/// use codearts_repo::Credentials;
/// let token = Credentials::token("MIIZ-example-token").unwrap();
/// assert!(!format!("{token:?}").contains("MIIZ"));
/// let keys = Credentials::aksk("HPUAEXAMPLEAK0000001", "example-secret")
///     .unwrap()
///     .with_project_id("3e1f6634946144c2b1ccb46fb8152b8f")
///     .unwrap();
/// assert_eq!(keys.project_id().unwrap().as_str(), "3e1f6634946144c2b1ccb46fb8152b8f");
/// assert!(Credentials::token("").is_err());
/// ```
#[derive(Clone, Debug)]
pub struct Credentials {
    pub(crate) auth: Auth,
    project_id: Option<ProjectId>,
    /// `X-Project-Id`, built once.
    pub(crate) project_header: Option<HeaderValue>,
}

impl Credentials {
    /// An IAM token (`X-Auth-Token`): 1 to 100,000 visible ASCII characters.
    pub fn token(token: impl Into<String>) -> Result<Self, Error> {
        let token = token.into();
        check_header_value("token", &token)?;
        if token.chars().count() > TOKEN_MAX_CHARS {
            return Err(Error::invalid(
                "token",
                "must be at most 100,000 characters",
            ));
        }
        Ok(Self::new(Auth::Token(secret_header(&token))))
    }

    /// An access key id and secret access key, for `SDK-HMAC-SHA256` signing.
    pub fn aksk(ak: impl Into<String>, sk: impl Into<String>) -> Result<Self, Error> {
        let (ak, sk) = (ak.into(), sk.into());
        check_header_value("ak", &ak)?;
        check_secret("sk", &sk)?;
        Ok(Self::new(Auth::AkSk {
            ak,
            key: SigningKey::new(&sk),
            security_token: None,
        }))
    }

    fn new(auth: Auth) -> Self {
        Self {
            auth,
            project_id: None,
            project_header: None,
        }
    }

    /// The project id sent as `X-Project-Id` and used by the commits call when it is given none.
    pub fn with_project_id(mut self, project_id: impl Into<String>) -> Result<Self, Error> {
        let project_id = ProjectId::new(project_id)?;
        // It travels as the X-Project-Id header too.
        check_header_value("project_id", project_id.as_str())?;
        self.project_header =
            Some(HeaderValue::from_str(project_id.as_str()).expect("checked header value"));
        self.project_id = Some(project_id);
        Ok(self)
    }

    /// The security token of temporary access keys (`X-Security-Token`).
    pub fn with_security_token(mut self, token: impl Into<String>) -> Result<Self, Error> {
        let token = token.into();
        check_header_value("security_token", &token)?;
        match &mut self.auth {
            Auth::AkSk { security_token, .. } => *security_token = Some(secret_header(&token)),
            Auth::Token(_) => {
                return Err(Error::invalid(
                    "security_token",
                    "goes with AK/SK credentials, not with a token",
                ));
            }
        }
        Ok(self)
    }

    /// The project id these credentials carry, if any.
    pub fn project_id(&self) -> Option<&ProjectId> {
        self.project_id.as_ref()
    }

    /// `"token"` or `"AK/SK"`, for messages.
    pub fn kind(&self) -> &'static str {
        match self.auth {
            Auth::Token(_) => "token",
            Auth::AkSk { .. } => "AK/SK",
        }
    }
}

/// A signing key may hold any printable characters, but never control characters.
fn check_secret(field: &'static str, value: &str) -> Result<(), Error> {
    if value.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::invalid(field, "must not contain control characters"));
    }
    Ok(())
}
