//! Where each service lives: the official SDKs' region tables, overrides, and the transport
//! policy (HTTPS, or plain HTTP to loopback or when explicitly allowed).

use std::{fmt, net::IpAddr};

use reqwest::Url;

use crate::Error;

/// The two services this crate talks to; they live on different hosts in each region.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    /// CodeArts Repo: the latest push event.
    CodeArtsRepo,
    /// ServiceStage: the latest commits.
    ServiceStage,
}

impl Service {
    /// The name the official SDKs use in `HUAWEICLOUD_SDK_REGION_<SERVICE>_<REGION>`.
    pub fn sdk_name(self) -> &'static str {
        match self {
            Self::CodeArtsRepo => "CODEARTSREPO",
            Self::ServiceStage => "SERVICESTAGE",
        }
    }

    fn table(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Self::CodeArtsRepo => CODEARTS_REPO,
            Self::ServiceStage => SERVICESTAGE,
        }
    }

    /// The regions the official SDK knows for this service, sorted.
    pub fn regions(self) -> impl Iterator<Item = &'static str> {
        self.table().iter().map(|(region, _)| *region)
    }

    /// The endpoint of this service in `region`, from the official SDK's table.
    pub fn region_endpoint(self, region: &str) -> Result<&'static str, Error> {
        self.table()
            .binary_search_by(|(r, _)| (*r).cmp(region))
            .map(|i| self.table()[i].1)
            .map_err(|_| {
                Error::Config(format!(
                    "region `{region}` has no {self} endpoint in the official SDK's table \
                     (known: {}); give one with the builder's endpoint options",
                    self.regions().collect::<Vec<_>>().join(", ")
                ))
            })
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::CodeArtsRepo => "CodeArts Repo",
            Self::ServiceStage => "ServiceStage",
        })
    }
}

/// Checks an endpoint URL and returns it without a trailing slash, ready to be a base URL.
/// Plain HTTP is refused unless the host is loopback or `allow_http` is set: a token or a
/// signature sent in clear text can be replayed.
pub(crate) fn base_url(
    service: impl fmt::Display,
    url: &str,
    allow_http: bool,
) -> Result<String, Error> {
    let bad = |why: &str| Error::Config(format!("{service} endpoint `{url}`: {why}"));
    let parsed = Url::parse(url).map_err(|e| bad(&e.to_string()))?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("must not carry credentials"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(bad("must not have a query or fragment"));
    }
    match parsed.scheme() {
        "https" => {}
        "http" if allow_http || is_loopback(&parsed) => {}
        "http" => {
            return Err(bad(
                "plain HTTP is only allowed to loopback; use https or allow HTTP explicitly",
            ));
        }
        other => return Err(bad(&format!("unsupported scheme `{other}`"))),
    }
    Ok(parsed.as_str().trim_end_matches('/').to_owned())
}

/// `host[:port]`, the port only when it is not the scheme's default, as the transport sends
/// it (`Host`, or `:authority` over HTTP/2) and AK/SK signs it.
pub(crate) fn host_port(url: &Url) -> Box<str> {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}").into(),
        None => host.into(),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

// The official SDKs' region tables (huaweicloudsdkcodeartsrepo and huaweicloudsdkservicestage
// 3.1.219), sorted by region for binary search. tests/endpoint.rs checks them against
// tests/fixtures/regions.json.
const CODEARTS_REPO: &[(&str, &str)] = &[
    ("af-north-1", "https://repo.af-north-1.myhuaweicloud.com"),
    ("af-south-1", "https://repo.af-south-1.myhuaweicloud.com"),
    (
        "ap-southeast-3",
        "https://codehub-ext.ap-southeast-3.myhuaweicloud.com",
    ),
    (
        "cn-east-2",
        "https://codehub-ext.cn-east-2.myhuaweicloud.com",
    ),
    (
        "cn-east-3",
        "https://codehub-ext.cn-east-3.myhuaweicloud.com",
    ),
    (
        "cn-north-1",
        "https://codehub-ext.cn-north-1.myhuaweicloud.com",
    ),
    (
        "cn-north-4",
        "https://codehub-ext.cn-north-4.myhuaweicloud.com",
    ),
    (
        "cn-south-1",
        "https://codehub-ext.cn-south-1.myhuaweicloud.com",
    ),
    (
        "cn-south-2",
        "https://codehub-ext.cn-south-2.myhuaweicloud.com",
    ),
    (
        "cn-southwest-2",
        "https://codehub-ext.cn-southwest-2.myhuaweicloud.com",
    ),
    (
        "eu-west-101",
        "https://codeartsrepo-ext.eu-west-101.myhuaweicloud.com",
    ),
    (
        "la-north-2",
        "https://codehub-ext.la-north-2.myhuaweicloud.com",
    ),
    (
        "la-south-2",
        "https://codeartsrepo-ext.la-south-2.myhuaweicloud.com",
    ),
    ("me-east-1", "https://repo.me-east-1.myhuaweicloud.com"),
    (
        "sa-brazil-1",
        "https://codehub-ext.sa-brazil-1.myhuaweicloud.com",
    ),
    (
        "tr-west-1",
        "https://codeartsrepo-ext.tr-west-1.myhuaweicloud.com",
    ),
];

const SERVICESTAGE: &[(&str, &str)] = &[
    (
        "af-south-1",
        "https://servicestage.af-south-1.myhuaweicloud.com",
    ),
    (
        "ap-southeast-1",
        "https://servicestage.ap-southeast-1.myhuaweicloud.com",
    ),
    (
        "ap-southeast-2",
        "https://servicestage.ap-southeast-2.myhuaweicloud.com",
    ),
    (
        "ap-southeast-3",
        "https://servicestage.ap-southeast-3.myhuaweicloud.com",
    ),
    (
        "ap-southeast-4",
        "https://servicestage.ap-southeast-4.myhuaweicloud.com",
    ),
    (
        "cn-east-2",
        "https://servicestage.cn-east-2.myhuaweicloud.com",
    ),
    (
        "cn-east-3",
        "https://servicestage.cn-east-3.myhuaweicloud.com",
    ),
    (
        "cn-east-4",
        "https://servicestage.cn-east-4.myhuaweicloud.com",
    ),
    (
        "cn-north-1",
        "https://servicestage.cn-north-1.myhuaweicloud.com",
    ),
    (
        "cn-north-12",
        "https://servicestage.cn-north-12.myhuaweicloud.com",
    ),
    (
        "cn-north-4",
        "https://servicestage.cn-north-4.myhuaweicloud.com",
    ),
    (
        "cn-north-9",
        "https://servicestage.cn-north-9.myhuaweicloud.com",
    ),
    (
        "cn-south-1",
        "https://servicestage.cn-south-1.myhuaweicloud.com",
    ),
    (
        "cn-south-4",
        "https://servicestage.cn-south-4.myhuaweicloud.com",
    ),
    (
        "cn-southwest-2",
        "https://servicestage.cn-southwest-2.myhuaweicloud.com",
    ),
    (
        "la-north-2",
        "https://servicestage.la-north-2.myhuaweicloud.com",
    ),
    (
        "la-south-2",
        "https://servicestage.la-south-2.myhuaweicloud.com",
    ),
    (
        "me-east-1",
        "https://servicestage.me-east-1.myhuaweicloud.com",
    ),
    (
        "my-kualalumpur-1",
        "https://servicestage.my-kualalumpur-1.myhuaweicloud.com",
    ),
    (
        "ru-moscow-1",
        "https://servicestage.ru-moscow-1.myhuaweicloud.com",
    ),
    (
        "sa-brazil-1",
        "https://servicestage.sa-brazil-1.myhuaweicloud.com",
    ),
    (
        "tr-west-1",
        "https://servicestage.tr-west-1.myhuaweicloud.com",
    ),
];
