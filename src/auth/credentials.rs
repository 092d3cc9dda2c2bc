//! Credentials: an IAM token, or an access key pair (with an optional security token for
//! temporary keys), plus the project id they belong to. Secrets never reach `Debug`.

use reqwest::header::HeaderValue;

use std::sync::Arc;

use super::{
    SigningAlgorithm,
    signer::SigningKey,
    temporary::{Located, Place, TemporaryKeys},
};
use crate::{
    ConfigKind, Error,
    params::{ProjectId, check_header_value},
};

/// A secret ready to send: a header value marked sensitive, which `Debug` prints as
/// `Sensitive` and HTTP/2 never indexes. Built once, cloned per request (a reference count).
pub(crate) fn secret_header(value: &str) -> HeaderValue {
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
    /// AK/SK signing.
    AkSk(AccessKey),
    /// Temporary access keys from a keyless source (OIDC federation, an identity provider,
    /// the ECS metadata service, CCE pod identity), fetched and refreshed as needed.
    Temporary(Arc<TemporaryKeys>),
}

/// An access key ready to sign.
#[derive(Clone, Debug)]
pub(crate) struct AccessKey {
    pub(crate) ak: String,
    pub(crate) key: SigningKey,
    /// `X-Security-Token`, for temporary keys.
    pub(crate) security_token: Option<HeaderValue>,
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
    /// `iam_endpoint` of the profile these credentials came from.
    pub(crate) iam_endpoint: Option<String>,
    /// Temporary keys as the client holding this copy fetches them (set by the builder):
    /// each client fetches at its own place.
    located: Option<Located>,
    /// How AK/SK requests are signed: the client's choice, set by its builder.
    pub(crate) algorithm: SigningAlgorithm,
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

    /// An access key id and secret access key, for AK/SK signing (`SDK-HMAC-SHA256` unless
    /// the client is built with another [`SigningAlgorithm`]).
    ///
    /// The SK is wiped from memory once it is made ready to sign, and so is every key made
    /// from it when the last copy of these credentials is dropped.
    pub fn aksk(ak: impl Into<String>, sk: impl Into<String>) -> Result<Self, Error> {
        let (ak, sk) = (ak.into(), zeroize::Zeroizing::new(sk.into()));
        check_header_value("ak", &ak)?;
        check_secret("sk", &sk)?;
        Ok(Self::new(Auth::AkSk(AccessKey {
            ak,
            key: SigningKey::new(&sk),
            security_token: None,
        })))
    }

    pub(crate) fn new(auth: Auth) -> Self {
        Self {
            auth,
            project_id: None,
            project_header: None,
            iam_endpoint: None,
            located: None,
            algorithm: SigningAlgorithm::default(),
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
            Auth::AkSk(key) => key.security_token = Some(secret_header(&token)),
            Auth::Token(_) | Auth::Temporary(_) => {
                return Err(Error::invalid(
                    "security_token",
                    "goes with AK/SK credentials, not with a token or temporary keys",
                ));
            }
        }
        Ok(self)
    }

    /// The `iam_endpoint` of the profile these credentials came from, if any: the IAM a
    /// client asks (for the project id, and an identity provider's token exchange) unless
    /// [`crate::ClientBuilder::iam_endpoint`] or `HUAWEICLOUD_SDK_IAM_ENDPOINT` names another.
    pub fn iam_endpoint(&self) -> Option<&str> {
        self.iam_endpoint.as_deref()
    }

    /// The project id these credentials carry, if any.
    pub fn project_id(&self) -> Option<&ProjectId> {
        self.project_id.as_ref()
    }

    /// `"token"`, `"AK/SK"`, or where temporary keys come from (`"ECS metadata AK/SK"`,
    /// `"OIDC federation AK/SK"`, `"identity-provider AK/SK"`, `"CCE pod identity AK/SK"`),
    /// for messages.
    pub fn kind(&self) -> &'static str {
        match &self.auth {
            Auth::Token(_) => "token",
            Auth::AkSk(_) => "AK/SK",
            Auth::Temporary(source) => source.kind(),
        }
    }

    /// Makes sure temporary keys are usable, fetching or refreshing them as their lifecycle
    /// says (`super::lifecycle`); other credentials are always ready.
    pub(crate) async fn ready(&self) -> Result<(), Error> {
        match (&self.auth, &self.located) {
            (Auth::Temporary(_), Some(located)) => located.ready().await,
            (Auth::Temporary(_), None) => Err(Error::config(
                ConfigKind::Credentials,
                "temporary keys are fetched by a client: build one with these credentials",
            )),
            (Auth::Token(_) | Auth::AkSk(_), _) => Ok(()),
        }
    }

    /// Whether these credentials fetch temporary keys (and so need a [`Place`]).
    pub(crate) fn fetches_keys(&self) -> bool {
        matches!(self.auth, Auth::Temporary(_))
    }

    /// This copy, fetching temporary keys at `place` (a client's: region, IAM endpoint,
    /// HTTP clients). Other copies are not affected.
    pub(crate) fn located(mut self, place: Place) -> Self {
        if let Auth::Temporary(source) = &self.auth {
            self.located = Some(source.at(place));
        }
        self
    }

    /// The temporary keys this copy holds now, if any.
    pub(crate) fn temporary_key(&self) -> Option<Arc<AccessKey>> {
        self.located.as_ref().and_then(Located::current)
    }

    /// Whether requests are signed with an access key (and so IAM can be asked for the
    /// project id).
    pub(crate) fn signs(&self) -> bool {
        !matches!(self.auth, Auth::Token(_))
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
