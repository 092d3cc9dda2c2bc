//! What the server does to the account as a whole, before any API runs: an account quota
//! answered as Huawei's API gateway answers it (`429 APIGW.0308`), an outage failing all or a
//! share of the requests, and the counts a test or a benchmark reads.

use std::{
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::{
    extract::{Request, State as Extract},
    http::{HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};

// Tokio's clock, so that tests under paused time can run a window of a minute in no time.
use tokio::time::Instant;

use super::{InjectedFailure, SharedState, answer::Failure};
use crate::sync::lock;

/// A quota for the whole server (the account), in requests per second, as a token bucket
/// holding one second's worth: past it the server answers `429` with `APIGW.0308` and the
/// gateway's message, as Huawei's API gateway does (usually without `Retry-After`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quota {
    /// Requests accepted per second, on average.
    pub per_second: f64,
    /// `Retry-After` in seconds on throttled answers (default none, as the gateway).
    pub retry_after: Option<u64>,
}

impl Quota {
    /// `per_second` requests a second, no `Retry-After`.
    pub fn per_second(per_second: f64) -> Self {
        Self {
            per_second,
            retry_after: None,
        }
    }
}

/// A quota for the whole server (the account) counted in fixed windows, as Huawei's API
/// gateway states its policies (`limit:3000,time:1 minute`): past `limit` requests in a
/// window, `429 APIGW.0308` until the next window starts. Set with
/// [`super::Server::set_quota_window`].
///
/// ```
/// use codearts_repo::server::WindowQuota;
/// let quota = WindowQuota::per_minute(3000);
/// assert_eq!(quota.per_second(), 50.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WindowQuota {
    /// Requests accepted per window.
    pub limit: u64,
    /// How long a window lasts (at least a second).
    pub period: Duration,
    /// `Retry-After` in seconds on throttled answers (default none, as the gateway).
    pub retry_after: Option<u64>,
}

impl WindowQuota {
    /// `limit` requests a minute.
    pub fn per_minute(limit: u64) -> Self {
        Self::new(limit, Duration::from_secs(60))
    }

    /// `limit` requests per `period` (rounded up to whole seconds, at least one).
    pub fn new(limit: u64, period: Duration) -> Self {
        let seconds = period
            .as_secs()
            .saturating_add(u64::from(period.subsec_nanos() > 0));
        Self {
            limit,
            period: Duration::from_secs(seconds.max(1)),
            retry_after: None,
        }
    }

    /// The average rate it allows, in requests per second.
    pub fn per_second(&self) -> f64 {
        self.limit as f64 / self.period.as_secs_f64()
    }

    /// The window as the gateway words it: `1 minute`, `10 second`.
    fn time(&self) -> String {
        match self.period.as_secs() {
            s if s % 3600 == 0 => format!("{} hour", s / 3600),
            s if s % 60 == 0 => format!("{} minute", s / 60),
            s => format!("{s} second"),
        }
    }
}

/// Every API failing, or a share of the requests chosen at random ([`super::Server::set_outage`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Outage {
    /// The answer of a failing request.
    pub failure: InjectedFailure,
    /// The share of requests that fail, 0 to 1 (1: a full outage).
    pub share: f64,
}

/// What the server answered, for tests and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerCounts {
    /// API requests received (IAM's and STS's not counted).
    pub requests: u64,
    /// Of those, answered `429 APIGW.0308` by the quota.
    pub throttled: u64,
    /// Of those, failed by an outage.
    pub failed: u64,
    /// Temporary keys issued by the keyless flows (one per fetch).
    pub keys_issued: u64,
}

#[derive(Debug)]
pub(crate) struct Gate {
    quota: Mutex<Option<Limit>>,
    pub(crate) outage: Mutex<Option<Outage>>,
    requests: AtomicU64,
    throttled: AtomicU64,
    failed: AtomicU64,
}

/// The quota in force and what it has counted.
#[derive(Debug)]
enum Limit {
    Bucket {
        quota: Quota,
        tokens: f64,
        at: Instant,
    },
    Window {
        quota: WindowQuota,
        /// When the current window began, and the requests accepted in it.
        started: Instant,
        accepted: u64,
    },
}

impl Limit {
    /// Whether a request now is over the quota; if so, the throttled answer's message and
    /// `Retry-After`.
    fn over(&mut self, now: Instant) -> Option<(String, Option<u64>)> {
        match self {
            Self::Bucket { quota, tokens, at } => {
                let refill = now.duration_since(*at).as_secs_f64() * quota.per_second;
                *tokens = (*tokens + refill).min(quota.per_second.max(1.0));
                *at = now;
                if *tokens >= 1.0 {
                    *tokens -= 1.0;
                    return None;
                }
                let limit = (quota.per_second * 60.0).round();
                Some((format!("limit:{limit},time:1 minute"), quota.retry_after))
            }
            Self::Window {
                quota,
                started,
                accepted,
            } => {
                let elapsed = now.duration_since(*started);
                if elapsed >= quota.period {
                    // Windows follow each other from the first: a quiet one is skipped whole.
                    let skipped = (elapsed.as_nanos() / quota.period.as_nanos()) as u32;
                    *started += quota.period * skipped;
                    *accepted = 0;
                }
                if *accepted < quota.limit {
                    *accepted += 1;
                    return None;
                }
                let policy = format!("limit:{},time:{}", quota.limit, quota.time());
                Some((policy, quota.retry_after))
            }
        }
    }
}

impl Gate {
    pub(crate) fn new(quota: Option<Quota>) -> Self {
        let quota = quota.map(|quota| Limit::Bucket {
            quota,
            tokens: quota.per_second.max(1.0),
            at: Instant::now(),
        });
        Self {
            quota: Mutex::new(quota),
            outage: Mutex::new(None),
            requests: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    }

    pub(crate) fn counts(&self) -> ServerCounts {
        ServerCounts {
            requests: self.requests.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            keys_issued: 0,
        }
    }

    /// Replaces the quota in force with a window quota, its first window starting now
    /// (`None`: no quota at all).
    pub(crate) fn set_window(&self, quota: Option<WindowQuota>) {
        *lock(&self.quota) = quota.map(|quota| Limit::Window {
            quota,
            started: Instant::now(),
            accepted: 0,
        });
    }

    /// The quota's answer, if this request is over it.
    fn over_quota(&self) -> Option<Response> {
        let (policy, retry_after) = lock(&self.quota).as_mut()?.over(Instant::now())?;
        let message = format!(
            "The throttling threshold has been reached: policy user over ratelimit,{policy}"
        );
        let mut response =
            Failure::new(StatusCode::TOO_MANY_REQUESTS, "APIGW.0308", message).into_response();
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from(seconds));
        }
        Some(response)
    }

    fn outage(&self) -> Option<Response> {
        let outage = (*lock(&self.outage))?;
        (fastrand::f64() < outage.share).then(|| outage.failure.response())
    }
}

/// Before any API: counts the request, then the quota, then the outage.
pub(crate) async fn gate(Extract(state): SharedState, request: Request, next: Next) -> Response {
    let gate = &state.gate;
    let path = request.uri().path();
    if !(path.starts_with("/v1/") || path.starts_with("/v4/")) {
        // IAM and STS are other services, with quotas of their own.
        return next.run(request).await;
    }
    gate.requests.fetch_add(1, Ordering::Relaxed);
    if let Some(throttled) = gate.over_quota() {
        gate.throttled.fetch_add(1, Ordering::Relaxed);
        return throttled;
    }
    if let Some(failed) = gate.outage() {
        gate.failed.fetch_add(1, Ordering::Relaxed);
        return failed;
    }
    next.run(request).await
}
