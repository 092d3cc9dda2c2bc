//! `--endpoint` with a loopback URL, as `codearts serve` gives: the embedded server answers
//! IAM (project ids, identity-provider tokens) and STS (OIDC federation) too, so a session on
//! loopback asks no public host. The one rule: loopback stands in for IAM and STS only where
//! nothing names them. A variable (`HUAWEICLOUD_SDK_IAM_ENDPOINT`,
//! `HUAWEICLOUD_SDK_STS_ENDPOINT`) or the profile's `iam_endpoint` keeps its IAM or STS, so an
//! ID token meant for them never goes to whatever listens on loopback.

use codearts_repo::{ClientBuilder, Credentials};

use crate::error::Result;

const IAM_ENDPOINT: &str = "HUAWEICLOUD_SDK_IAM_ENDPOINT";
const STS_ENDPOINT: &str = "HUAWEICLOUD_SDK_STS_ENDPOINT";
/// Only OIDC federation asks STS.
const OIDC_PROVIDER: &str = "HUAWEICLOUD_OIDC_PROVIDER_URN";

/// IAM and STS at `endpoint` too, where neither a variable nor the profile names them.
pub(crate) fn cover_iam_and_sts(builder: ClientBuilder, endpoint: &str) -> Result<ClientBuilder> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut builder = builder;
    let mut credentials = Credentials::from_env()?;
    if var(IAM_ENDPOINT).is_none() && credentials.iam_endpoint().is_none() {
        builder = builder.iam_endpoint(endpoint);
    }
    if var(OIDC_PROVIDER).is_some() && var(STS_ENDPOINT).is_none() {
        credentials = Credentials::from_vars(|name| match name {
            STS_ENDPOINT => Some(endpoint.to_owned()),
            _ => var(name),
        })?;
    }
    Ok(builder.credentials(credentials))
}
