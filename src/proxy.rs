//! Proxies from the environment, as reqwest reads them (`HTTP_PROXY`, `HTTPS_PROXY`,
//! `ALL_PROXY`, `NO_PROXY`, and their lower-case forms), except that loopback and link-local
//! hosts are never proxied: a plain-HTTP request to 127.0.0.1 carries its token in clear text,
//! and the metadata service (169.254.169.254) is only reachable from the machine itself. Go's
//! and curl's rules leave loopback alone too.

use reqwest::{NoProxy, Proxy};

use crate::{ConfigKind, Error};

/// A proxy for some schemes, from its URL.
type ForSchemes = fn(String) -> reqwest::Result<Proxy>;

/// Hosts never proxied, whatever `NO_PROXY` says: the node-local ones.
const NEVER: &str = crate::endpoint::local::NEVER_PROXIED;

/// The proxies the environment names, for each kind the variables' names and the URL.
fn read() -> Vec<(&'static [&'static str], ForSchemes, String)> {
    // A CGI program's HTTP_PROXY may come from a request header (httpoxy): ignored there.
    let http_names: &[&str] = if std::env::var_os("REQUEST_METHOD").is_some() {
        &["http_proxy"]
    } else {
        &["HTTP_PROXY", "http_proxy"]
    };
    let proxies: [(&[&str], ForSchemes); 3] = [
        (http_names, Proxy::http),
        (&["HTTPS_PROXY", "https_proxy"], Proxy::https),
        (&["ALL_PROXY", "all_proxy"], Proxy::all),
    ];
    proxies
        .into_iter()
        .filter_map(|(names, proxy)| {
            let url = first(names).filter(|url| !url.trim().is_empty())?;
            Some((names, proxy, url))
        })
        .collect()
}

/// What [`from_env`] reads, as text: the proxies and the hosts they skip.
pub(crate) fn settings() -> Vec<String> {
    read()
        .into_iter()
        .map(|(names, _, url)| format!("{}={url}", names[0]))
        .chain(first(&["NO_PROXY", "no_proxy"]))
        .collect()
}

/// `builder` with the environment's proxies, loopback excepted.
pub(crate) fn from_env(
    mut builder: reqwest::ClientBuilder,
) -> Result<reqwest::ClientBuilder, Error> {
    let no_proxy = first(&["NO_PROXY", "no_proxy"]);
    // Any proxy given to the builder turns reqwest's own reading of the environment off.
    builder = builder.no_proxy();
    for (names, proxy, url) in read() {
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
        builder = builder.proxy(never_local(proxy, no_proxy.as_deref()));
    }
    Ok(builder)
}

/// `proxy`, skipping the hosts of `no_proxy` (a `NO_PROXY` list) and the node-local ones.
fn never_local(proxy: Proxy, no_proxy: Option<&str>) -> Proxy {
    let skipped = match no_proxy {
        Some(list) if !list.trim().is_empty() => format!("{list},{NEVER}"),
        _ => NEVER.to_owned(),
    };
    proxy.no_proxy(NoProxy::from_string(&skipped))
}

fn first(names: &[&str]) -> Option<String> {
    names.iter().find_map(|name| std::env::var(name).ok())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::endpoint::local::tests::TABLE;

    /// The proxy settings and the node-local predicate agree on every host of its table: a
    /// request to a node-local host goes direct, any other through the proxy.
    #[tokio::test]
    async fn node_local_hosts_and_only_they_go_direct() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy_url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorded = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let recorded = recorded.clone();
                tokio::spawn(async move {
                    let mut head = vec![0u8; 4096];
                    let read = socket.read(&mut head).await.unwrap_or(0);
                    let line = String::from_utf8_lossy(&head[..read]);
                    let line = line.lines().next().unwrap_or_default().to_owned();
                    recorded.lock().unwrap().push(line);
                    let answer = "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
                    let _ = socket.write_all(answer.as_bytes()).await;
                });
            }
        });
        let proxy = never_local(Proxy::all(&proxy_url).unwrap(), Some("example.org"));
        let client = crate::tls::reqwest_builder(&[], None)
            .unwrap()
            .proxy(proxy)
            .connect_timeout(std::time::Duration::from_millis(300))
            .timeout(std::time::Duration::from_secs(2))
            .build()
            .unwrap();
        let sent: Vec<_> = TABLE
            .iter()
            .enumerate()
            .map(|(index, (host, _, _))| {
                let request = client.get(format!("http://{host}:1/{index}")).send();
                tokio::spawn(async move { drop(request.await) })
            })
            .collect();
        for request in sent {
            request.await.unwrap();
        }
        let seen = seen.lock().unwrap().clone();
        for (index, (host, _, node_local)) in TABLE.iter().enumerate() {
            let proxied = seen
                .iter()
                .any(|line| line.ends_with(&format!(":1/{index} HTTP/1.1")));
            assert_eq!(proxied, !node_local, "{host}: {seen:?}");
        }
    }
}
