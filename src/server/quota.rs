//! What the server does to the account as a whole, before any API runs: an account quota
//! answered as Huawei's API gateway answers it (`429 APIG.0308`), an outage failing all or a
//! share of the requests, and the counts a test or a benchmark reads.

use std::{
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Instant,
};

use axum::{
    extract::{Request, State as Extract},
    http::{HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::{InjectedFailure, SharedState, handlers::Failure};
use crate::sync::lock;

/// A quota for the whole server (the account), in requests per second, as a token bucket
/// holding one second's worth: past it the server answers `429` with `APIG.0308` and the
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
    /// Of those, answered `429 APIG.0308` by the quota.
    pub throttled: u64,
    /// Of those, failed by an outage.
    pub failed: u64,
}

#[derive(Debug)]
pub(crate) struct Gate {
    quota: Option<(Quota, Mutex<Bucket>)>,
    pub(crate) outage: Mutex<Option<Outage>>,
    requests: AtomicU64,
    throttled: AtomicU64,
    failed: AtomicU64,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Gate {
    pub(crate) fn new(quota: Option<Quota>) -> Self {
        let quota = quota.map(|quota| {
            let bucket = Bucket {
                tokens: quota.per_second.max(1.0),
                at: Instant::now(),
            };
            (quota, Mutex::new(bucket))
        });
        Self {
            quota,
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
        }
    }

    /// The quota's answer, if this request is over it.
    fn over_quota(&self) -> Option<Response> {
        let (quota, bucket) = self.quota.as_ref()?;
        let mut bucket = lock(bucket);
        let now = Instant::now();
        let refill = now.duration_since(bucket.at).as_secs_f64() * quota.per_second;
        bucket.tokens = (bucket.tokens + refill).min(quota.per_second.max(1.0));
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return None;
        }
        let message = format!(
            "The throttling threshold has been reached: policy user over ratelimit,limit:{},time:1 minute",
            (quota.per_second * 60.0).round()
        );
        let mut response =
            Failure::new(StatusCode::TOO_MANY_REQUESTS, "APIG.0308", message).into_response();
        if let Some(seconds) = quota.retry_after {
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
