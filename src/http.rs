//! An HTTP client with the crate's network settings, for destinations other than the two
//! services (the command's webhook deliveries): one TLS and proxy policy for everything the
//! crate's users send.

use std::time::Duration;

use crate::{ConfigKind, Error};

/// A `reqwest::Client` as the crate's own: rustls with ring, the system's roots plus
/// `root_certificates` (PEM), HTTP/2 or HTTP/1.1 by ALPN, the environment's proxies
/// (`HTTPS_PROXY`, `NO_PROXY`...) with loopback and link-local never proxied, no redirects
/// followed, and these timeouts to connect and for a whole request.
pub fn client(
    root_certificates: &[Vec<u8>],
    connect_timeout: Duration,
    timeout: Duration,
) -> Result<reqwest::Client, Error> {
    crate::tls::reqwest_builder(root_certificates, None)?
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        .build()
        .map_err(|e| {
            Error::config(
                ConfigKind::HttpClient,
                format!("cannot build the HTTP client: {e}"),
            )
        })
}
