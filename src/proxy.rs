//! Proxies from the environment, as reqwest reads them (`HTTP_PROXY`, `HTTPS_PROXY`,
//! `ALL_PROXY`, `NO_PROXY`, and their lower-case forms), except that loopback and link-local
//! hosts are never proxied: a plain-HTTP request to 127.0.0.1 carries its token in clear text,
//! and the metadata service (169.254.169.254) is only reachable from the machine itself. Go's
//! and curl's rules leave loopback alone too.

use reqwest::{NoProxy, Proxy};

use crate::{ConfigKind, Error};

/// A proxy for some schemes, from its URL.
type ForSchemes = fn(String) -> reqwest::Result<Proxy>;

/// Hosts never proxied, whatever `NO_PROXY` says.
const NEVER: &str = "127.0.0.0/8,::1,localhost,169.254.0.0/16,fe80::/10";

/// `builder` with the environment's proxies, loopback excepted.
pub(crate) fn from_env(
    mut builder: reqwest::ClientBuilder,
) -> Result<reqwest::ClientBuilder, Error> {
    let cgi = std::env::var_os("REQUEST_METHOD").is_some();
    let no_proxy = match first(&["NO_PROXY", "no_proxy"]) {
        Some(list) if !list.trim().is_empty() => format!("{list},{NEVER}"),
        _ => NEVER.to_owned(),
    };
    // A CGI program's HTTP_PROXY may come from a request header (httpoxy): ignored there.
    let http_names: &[&str] = if cgi {
        &["http_proxy"]
    } else {
        &["HTTP_PROXY", "http_proxy"]
    };
    let proxies: [(&[&str], ForSchemes); 3] = [
        (http_names, Proxy::http),
        (&["HTTPS_PROXY", "https_proxy"], Proxy::https),
        (&["ALL_PROXY", "all_proxy"], Proxy::all),
    ];
    // Any proxy given to the builder turns reqwest's own reading of the environment off.
    builder = builder.no_proxy();
    for (names, proxy) in proxies {
        let Some(url) = first(names).filter(|url| !url.trim().is_empty()) else {
            continue;
        };
        let proxy = proxy(url).map_err(|e| {
            Error::config(
                ConfigKind::Proxy,
                format!(
                    "the proxy in {}: {}",
                    names[0],
                    crate::endpoint::without_userinfo(&e.to_string())
                ),
            )
        })?;
        builder = builder.proxy(proxy.no_proxy(NoProxy::from_string(&no_proxy)));
    }
    Ok(builder)
}

fn first(names: &[&str]) -> Option<String> {
    names.iter().find_map(|name| std::env::var(name).ok())
}
