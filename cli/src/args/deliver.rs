//! `watch --deliver URL` and its options: where each push is POSTed, signed, and how.

use std::{path::PathBuf, time::Duration};

use clap::Args;

/// Webhook delivery: each push POSTed to a receiver, signed, retried until it answers 2xx.
#[derive(Debug, Args)]
pub(crate) struct DeliverArgs {
    /// POST each push to this URL (http or https) as one JSON document, signed with
    /// HMAC-SHA256 (X-Codearts-Signature-256); a push counts as handled once it answers 2xx.
    /// See docs/delivery.md.
    #[arg(long, value_name = "URL", value_parser = parse_url, conflicts_with = "once")]
    pub(crate) deliver: Option<url::Url>,
    /// The shared secret of the signatures, read from this file (a trailing newline is not
    /// part of it); else from the variable CODEARTS_WATCH_DELIVER_SECRET.
    #[arg(long, value_name = "PATH", requires = "deliver")]
    pub(crate) deliver_secret_file: Option<PathBuf>,
    /// Deliver baselines (each repository's first observation) too, not only new pushes.
    #[arg(long, requires = "deliver")]
    pub(crate) deliver_baselines: bool,
    /// Also trust the CA certificates (PEM) in this file for the receiver, as for a private
    /// receiver; the system's roots are trusted too.
    #[arg(long, value_name = "PATH", requires = "deliver")]
    pub(crate) deliver_ca_file: Option<PathBuf>,
    /// How long one delivery attempt may take, connection included, before it is retried.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_timeout, requires = "deliver")]
    pub(crate) deliver_timeout: Duration,
    /// Deliveries in flight at most, each to its own repository (one repository's go in order).
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=256), requires = "deliver")]
    pub(crate) deliver_parallel: u32,
    /// The longest wait between two attempts of a delivery (a Retry-After asks for more, up to
    /// an hour).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_timeout, requires = "deliver")]
    pub(crate) deliver_max_backoff: Duration,
    /// Append each delivery the receiver refused for good (a 4xx other than 408 and 429) to
    /// this file, one JSON line with the exact body sent, to inspect and replay.
    #[arg(long, value_name = "PATH", requires = "deliver")]
    pub(crate) deliver_rejected: Option<PathBuf>,
}

fn parse_url(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("must be http or https, not {}", url.scheme()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("must name a host".into());
    }
    Ok(url)
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if duration < Duration::from_millis(10) || duration > Duration::from_secs(24 * 3600) {
        return Err("must be from 10ms to 24h".into());
    }
    Ok(duration)
}
