//! Where each service lives, in the official SDKs' order: `HUAWEICLOUD_SDK_REGION_<SERVICE>_<REGION>`
//! (a comma list), then the regions file, then the built-in region tables; and the transport
//! policy (HTTPS, or plain HTTP to loopback or when explicitly allowed).

pub(crate) mod local;
mod regions_file;
pub(crate) mod table;

use std::{fmt, path::Path};

use reqwest::Url;

use crate::{ConfigKind, Error, Fix};
use table::{CODEARTS_REPO, SERVICESTAGE};

pub use local::is_loopback;
pub(crate) use regions_file::RegionsFile;

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
                Error::config_fix(
                    ConfigKind::Endpoint,
                    format!(
                        "region `{region}` has no {self} endpoint in the official SDK's table \
                     (known: {})",
                        self.regions().collect::<Vec<_>>().join(", ")
                    ),
                    Fix::GiveEndpoint,
                )
            })
    }
}

/// Every endpoint of `service` in `region`, in the order to try them: the environment's list,
/// else the regions file's, else the built-in table's one. `env` reads a variable.
pub(crate) fn region_endpoints(
    service: Service,
    region: &str,
    regions_file: Option<&RegionsFile>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Vec<String>, Error> {
    let name = format!(
        "HUAWEICLOUD_SDK_REGION_{}_{}",
        service.sdk_name(),
        region.to_ascii_uppercase().replace('-', "_")
    );
    let listed: Vec<String> = env(&name)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .map(str::to_owned)
        .collect();
    if !listed.is_empty() {
        return Ok(listed);
    }
    if let Some(found) = regions_file.and_then(|file| file.endpoints(service, region)) {
        return Ok(found.to_vec());
    }
    Ok(vec![service.region_endpoint(region)?.to_owned()])
}

/// The regions file the official SDKs read: `HUAWEICLOUD_SDK_REGIONS_FILE`, else
/// `~/.huaweicloud/regions.yaml` when it exists.
pub(crate) fn default_regions_file(
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<RegionsFile>, Error> {
    if let Some(path) = env("HUAWEICLOUD_SDK_REGIONS_FILE").filter(|p| !p.is_empty()) {
        return RegionsFile::load(Path::new(&path)).map(Some);
    }
    let Some(home) = env("HOME").or_else(|| env("USERPROFILE")) else {
        return Ok(None);
    };
    let path = Path::new(&home).join(".huaweicloud").join("regions.yaml");
    if path.exists() {
        RegionsFile::load(&path).map(Some)
    } else {
        Ok(None)
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
    let shown = without_userinfo(url);
    let message = |why: &str| format!("{service} endpoint `{shown}`: {why}");
    let bad = |why: &str| Error::config(ConfigKind::Endpoint, message(why));
    let parsed = Url::parse(url).map_err(|e| match e {
        url::ParseError::RelativeUrlWithoutBase => Error::config_fix(
            ConfigKind::Endpoint,
            message(&e.to_string()),
            Fix::AbsoluteUrl,
        ),
        _ => bad(&e.to_string()),
    })?;
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
        "http" if allow_http || parsed.host().is_some_and(|host| local::loopback(&host)) => {}
        "http" => {
            return Err(Error::config_fix(
                ConfigKind::Endpoint,
                message("plain HTTP is only allowed to loopback"),
                Fix::UseHttpsOrAllowHttp,
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

/// `url` with a user name and password replaced by `<redacted>`, for messages: found by
/// hand, so that it holds for text the URL parser refuses too.
pub(crate) fn without_userinfo(url: &str) -> std::borrow::Cow<'_, str> {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.into();
    };
    let rest = &url[start..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    match authority.rfind('@') {
        Some(at) => format!("{}<redacted>@{}", &url[..start], &rest[at + 1..]).into(),
        None => url.into(),
    }
}
