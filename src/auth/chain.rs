//! The credential chain of the official SDKs (huaweicloudsdkcore 3.1.219's order for regional
//! services), after this crate's own `HUAWEICLOUD_SDK_TOKEN`: OIDC federation
//! (`HUAWEICLOUD_OIDC_*`), the `HUAWEICLOUD_SDK_*` environment variables (an identity
//! provider's ID token before AK/SK), the profile file (`~/.huaweicloud/credentials`, section
//! `[basic]`, likewise), the ECS metadata service, and CCE pod identity (`HC_CONTAINER_*`).

use std::{path::PathBuf, sync::Arc};

use super::{
    credentials::Auth,
    idp::{self, IdpToken},
    metadata::{DEFAULT_METADATA_ENDPOINT, METADATA_ENDPOINT_VAR, Metadata},
    oidc::Oidc,
    pod_identity::{self, PodIdentity},
    temporary::{Fetcher, TemporaryKeys},
};
use crate::{ConfigKind, Credentials, Error};

const AK: &str = "HUAWEICLOUD_SDK_AK";
const SK: &str = "HUAWEICLOUD_SDK_SK";
const TOKEN: &str = "HUAWEICLOUD_SDK_TOKEN";
const PROJECT_ID: &str = "HUAWEICLOUD_SDK_PROJECT_ID";
const SECURITY_TOKEN: &str = "HUAWEICLOUD_SDK_SECURITY_TOKEN";
const CREDENTIALS_FILE: &str = "HUAWEICLOUD_SDK_CREDENTIALS_FILE";
const PROFILE_SECTION: &str = "basic";

impl Credentials {
    /// The official SDKs' chain, after this crate's own `HUAWEICLOUD_SDK_TOKEN`:
    ///
    /// 1. OIDC federation: `HUAWEICLOUD_OIDC_PROVIDER_URN`, `HUAWEICLOUD_OIDC_AGENCY_URN` and
    ///    the ID token (`HUAWEICLOUD_OIDC_ID_TOKEN`, or the file in
    ///    `HUAWEICLOUD_OIDC_TOKEN_FILE`), exchanged with STS (`HUAWEICLOUD_SDK_STS_ENDPOINT`,
    ///    else the region's) for temporary keys of the agency;
    /// 2. the environment: an identity provider's ID token (`HUAWEICLOUD_SDK_IDP_ID` and
    ///    `HUAWEICLOUD_SDK_ID_TOKEN_FILE`, exchanged with IAM), else `HUAWEICLOUD_SDK_AK` +
    ///    `HUAWEICLOUD_SDK_SK` (with `HUAWEICLOUD_SDK_SECURITY_TOKEN`);
    /// 3. the `[basic]` section of the profile file (`HUAWEICLOUD_SDK_CREDENTIALS_FILE`, or
    ///    `~/.huaweicloud/credentials`): `idp_id` and `id_token_file`, else `ak` and `sk`
    ///    (with `security_token`, `project_id`, `iam_endpoint`);
    /// 4. temporary keys from the ECS metadata service (`HUAWEICLOUD_SDK_METADATA_ENDPOINT`,
    ///    this crate's own variable, or `http://169.254.169.254`), and, when it has none, from
    ///    CCE pod identity (`HC_CONTAINER_CREDENTIALS_FULL_URI` and
    ///    `HC_CONTAINER_AUTHORIZATION_TOKEN_FILE`; plain HTTP only to a loopback or
    ///    link-local host, never through a proxy).
    ///
    /// Temporary keys are fetched at the first call, by each client where it is (its STS or
    /// IAM endpoint, its HTTP client), and again the lesser of 40 minutes and half their
    /// lifetime before they expire (token files are read again each time); when no source
    /// has any, that call fails with what each source said. The project id comes from
    /// `HUAWEICLOUD_SDK_PROJECT_ID` (else the profile's), whichever source gave the keys,
    /// else from IAM. Partial credentials are an error, never skipped.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// The same chain, reading variables from `var` instead of the process environment.
    ///
    /// ```
    /// use codearts_repo::Credentials;
    /// let vars = |name: &str| match name {
    ///     "HUAWEICLOUD_SDK_AK" => Some("HPUAEXAMPLEAK0000001".to_owned()),
    ///     "HUAWEICLOUD_SDK_SK" => Some("example-secret".to_owned()),
    ///     _ => None,
    /// };
    /// assert_eq!(Credentials::from_vars(vars).unwrap().kind(), "AK/SK");
    /// let partial = |name: &str| (name == "HUAWEICLOUD_SDK_AK").then(|| "AK".to_owned());
    /// assert!(Credentials::from_vars(partial).unwrap_err().to_string().contains("HUAWEICLOUD_SDK_SK"));
    /// ```
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        // An empty variable is no value, and the error says so rather than "not found".
        let empty: Vec<&str> = [TOKEN, AK, SK, idp::IDP_ID, PROJECT_ID]
            .into_iter()
            .filter(|name| var(name).is_some_and(|v| v.is_empty()))
            .collect();
        let var = |name: &str| var(name).filter(|v| !v.is_empty());
        let environment = |var: &dyn Fn(&str) -> Option<String>| {
            from_fields(
                "the environment",
                [AK, SK, TOKEN, PROJECT_ID, SECURITY_TOKEN].map(|name| (name, var(name))),
            )
        };
        // This crate's own token first: an explicit choice, checked with the environment's
        // AK/SK (both at once is an error).
        if var(TOKEN).is_some() {
            return environment(&var).map(|found| found.expect("a token was found"));
        }
        if let Some(oidc) = Oidc::from_vars(&var)? {
            return temporary(vec![Fetcher::Oidc(oidc)], var(PROJECT_ID));
        }
        if let Some(idp) = idp_token("the environment", var(idp::IDP_ID), var(idp::ID_TOKEN_FILE))?
        {
            return temporary(vec![Fetcher::IdpToken(idp)], var(PROJECT_ID));
        }
        if let Some(credentials) = environment(&var)? {
            return Ok(credentials);
        }
        let (path, explicit) = match var(CREDENTIALS_FILE) {
            Some(path) => (PathBuf::from(path), true),
            None => (
                home_dir(&var).join(".huaweicloud").join("credentials"),
                false,
            ),
        };
        let empty = match empty.as_slice() {
            [] => String::new(),
            names => format!(" ({} empty)", names.join(", ")),
        };
        let looked_for = format!(
            "nothing configured: looked, in order, for {TOKEN}, OIDC federation \
             ({}), an identity provider's token ({}), {AK} and {SK} in the environment{empty}, \
             then a [{PROFILE_SECTION}] section in {}",
            crate::auth::oidc::PROVIDER_URN,
            idp::IDP_ID,
            path.display()
        );
        if !explicit && !path.exists() {
            return metadata(&var, format!("{looked_for} (no such file){LAST}"));
        }
        let profile = ini::Ini::load_from_file(&path).map_err(|e| {
            // The parser's own words name its expected characters as Rust values.
            let why = match e {
                ini::Error::Parse(at) => format!(
                    "line {}: not a `[section]` or a `key = value` line",
                    first_bad_line(&path).unwrap_or(at.line)
                ),
                ini::Error::Io(io) => io.to_string(),
            };
            Error::config(
                ConfigKind::Credentials,
                format!("cannot read the credentials file {}: {why}", path.display()),
            )
        })?;
        let Some(section) = profile.section(Some(PROFILE_SECTION)) else {
            return metadata(&var, format!("{looked_for} (no such section){LAST}"));
        };
        let field = |key: &str| {
            section
                .get(key)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let place = format!("[{PROFILE_SECTION}] of {}", path.display());
        // The environment's project id applies whichever source gave the keys.
        let project_id = var(PROJECT_ID).or_else(|| field("project_id"));
        if let Some(idp) = idp_token(&place, field("idp_id"), field("id_token_file"))? {
            let mut credentials = temporary(vec![Fetcher::IdpToken(idp)], project_id.clone())?;
            credentials.iam_endpoint = field("iam_endpoint");
            return Ok(credentials);
        }
        let found = from_fields(
            &place,
            [
                ("ak", field("ak")),
                ("sk", field("sk")),
                ("token", field("token")),
                ("project_id", project_id),
                ("security_token", field("security_token")),
            ],
        )?;
        match found {
            Some(mut credentials) => {
                credentials.iam_endpoint = field("iam_endpoint");
                Ok(credentials)
            }
            None => metadata(
                &var,
                format!("{looked_for} (the section has no ak and sk){LAST}"),
            ),
        }
    }
}

/// The first line of an INI file that is neither blank, a comment, a section nor a
/// `key = value` (the parser notices only further on, at the line after).
fn first_bad_line(path: &std::path::Path) -> Option<usize> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .position(|line| {
            let line = line.trim();
            !(line.is_empty() || line.starts_with([';', '#', '[']) || line.contains(['=', ':']))
        })
        .map(|index| index + 1)
}

/// How the chain's "nothing configured" ends: the metadata service is tried last.
const LAST: &str = ", and last asked the ECS metadata service";

/// Keys from the metadata service, else from CCE pod identity when its variables are set,
/// fetched at the first call; `before` says why the environment and the profile gave none.
/// The project id may still come from the environment.
fn metadata(var: &impl Fn(&str) -> Option<String>, before: String) -> Result<Credentials, Error> {
    let endpoint = var(METADATA_ENDPOINT_VAR).unwrap_or_else(|| DEFAULT_METADATA_ENDPOINT.into());
    let mut sources = vec![Fetcher::Metadata(Metadata::new(endpoint))];
    match (
        var(pod_identity::URI_VAR),
        var(pod_identity::TOKEN_FILE_VAR),
    ) {
        (Some(uri), Some(file)) => {
            sources.push(Fetcher::PodIdentity(PodIdentity::new(
                uri,
                PathBuf::from(file),
            )?));
        }
        (None, None) => {}
        _ => {
            return Err(Error::config(
                ConfigKind::Credentials,
                format!(
                    "CCE pod identity needs both {} and {}",
                    pod_identity::URI_VAR,
                    pod_identity::TOKEN_FILE_VAR
                ),
            ));
        }
    }
    let credentials = Credentials::new(Auth::Temporary(Arc::new(TemporaryKeys::new(
        sources, before,
    ))));
    match var(PROJECT_ID) {
        Some(id) => credentials.with_project_id(id),
        None => Ok(credentials),
    }
}

/// Temporary keys from `sources`, with a project id if one is given.
fn temporary(sources: Vec<Fetcher>, project_id: Option<String>) -> Result<Credentials, Error> {
    let credentials = Credentials::new(Auth::Temporary(Arc::new(TemporaryKeys::new(
        sources,
        String::new(),
    ))));
    match project_id {
        Some(id) => credentials.with_project_id(id),
        None => Ok(credentials),
    }
}

/// An identity provider's ID token in `place`, when both its fields are set; half of them is
/// an error.
fn idp_token(
    place: &str,
    idp_id: Option<String>,
    token_file: Option<String>,
) -> Result<Option<IdpToken>, Error> {
    match (idp_id, token_file) {
        (Some(id), Some(file)) => IdpToken::new(id, PathBuf::from(file)).map(Some),
        (None, None) => Ok(None),
        (id, _) => Err(Error::config(
            ConfigKind::Credentials,
            format!(
                "{place} names {} but not {}: set both or neither",
                if id.is_some() {
                    "an identity provider"
                } else {
                    "an ID token file"
                },
                if id.is_some() {
                    "its ID token file"
                } else {
                    "the identity provider"
                },
            ),
        )),
    }
}

/// Builds credentials from one place's fields, in the order AK, SK, token, project id,
/// security token. `Ok(None)`: the place holds no credentials at all.
fn from_fields(
    place: &str,
    fields: [(&str, Option<String>); 5],
) -> Result<Option<Credentials>, Error> {
    let [
        (ak_name, ak),
        (sk_name, sk),
        (token_name, token),
        (_, project_id),
        (_, security_token),
    ] = fields;
    let partial = |set: &str, unset: &str| {
        Error::config(
            ConfigKind::Credentials,
            format!("{set} is set in {place} but {unset} is not: set both or neither"),
        )
    };
    // Wiped however this ends.
    let sk = sk.map(zeroize::Zeroizing::new);
    let credentials = match (ak, sk, token) {
        (None, None, None) => return Ok(None),
        (Some(_), Some(_), Some(_)) => {
            return Err(Error::config(
                ConfigKind::Credentials,
                format!(
                    "{place} holds both an access key ({ak_name}) and a token ({token_name}): keep one"
                ),
            ));
        }
        (Some(ak), Some(mut sk), None) => Credentials::aksk(ak, std::mem::take(&mut *sk))?,
        (None, None, Some(token)) => Credentials::token(token)?,
        (Some(_), None, _) => return Err(partial(ak_name, sk_name)),
        (None, Some(_), _) => return Err(partial(sk_name, ak_name)),
    };
    let credentials = match project_id {
        Some(id) => credentials.with_project_id(id)?,
        None => credentials,
    };
    Ok(Some(match security_token {
        Some(token) => credentials.with_security_token(token)?,
        None => credentials,
    }))
}

fn home_dir(var: &impl Fn(&str) -> Option<String>) -> PathBuf {
    var("HOME")
        .or_else(|| var("USERPROFILE"))
        .map_or_else(|| PathBuf::from("."), PathBuf::from)
}
