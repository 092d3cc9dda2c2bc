//! `--endpoint` with a loopback URL, as `codearts serve` gives: the embedded server answers
//! IAM (project ids, identity-provider tokens) and STS (OIDC federation) too, so a session on
//! loopback asks no public host, unless a variable names another IAM or STS.

use codearts_repo::{ClientBuilder, Credentials};

use crate::error::Result;

const IAM_ENDPOINT: &str = "HUAWEICLOUD_SDK_IAM_ENDPOINT";
const STS_ENDPOINT: &str = "HUAWEICLOUD_SDK_STS_ENDPOINT";
/// Only OIDC federation asks STS.
const OIDC_PROVIDER: &str = "HUAWEICLOUD_OIDC_PROVIDER_URN";

/// Whether `endpoint` is a URL on `localhost` or a loopback address.
pub(crate) fn is_loopback(endpoint: &str) -> bool {
    match url::Url::parse(endpoint)
        .ok()
        .and_then(|u| u.host().map(|h| h.to_owned()))
    {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// IAM and STS at `endpoint` too, where no variable names them.
pub(crate) fn cover_iam_and_sts(builder: ClientBuilder, endpoint: &str) -> Result<ClientBuilder> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut builder = builder;
    if var(IAM_ENDPOINT).is_none() {
        builder = builder.iam_endpoint(endpoint);
    }
    if var(OIDC_PROVIDER).is_some() && var(STS_ENDPOINT).is_none() {
        let credentials = Credentials::from_vars(|name| match name {
            STS_ENDPOINT => Some(endpoint.to_owned()),
            _ => var(name),
        })?;
        builder = builder.credentials(credentials);
    }
    Ok(builder)
}
