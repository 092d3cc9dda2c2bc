//! A client is one citizen of a shared account: its retries draw on a budget shared by its
//! clones, and throttling slows every request of a rate-limited client. Against the embedded
//! server with an account quota or an outage, over HTTP/1.1 and HTTPS with HTTP/2.

#![cfg(feature = "server")]

mod common;

use std::{sync::Arc, time::Duration};

use codearts_repo::{
    Client, Credentials, Error, NoRetry, RateLimit, RetryPolicy,
    server::{InjectedFailure, Outage, Quota, Server, ServerConfig, WindowQuota},
};
use common::protocol::Protocol;
use tokio::{sync::Semaphore, task::JoinSet};

fn client(server: &Server, policy: RetryPolicy) -> codearts_repo::ClientBuilder {
    Protocol::builder(server)
        .credentials(Credentials::token("quota-test").unwrap())
        .retry(policy.base_delay(Duration::from_millis(2)))
}

/// Makes `calls` push-event calls, `in_flight` at a time; returns how many succeeded and the
/// errors.
async fn calls(client: &Client, calls: usize, in_flight: usize) -> (usize, Vec<Error>) {
    let permits = Arc::new(Semaphore::new(in_flight));
    let mut tasks = JoinSet::new();
    for _ in 0..calls {
        let permit = permits.clone().acquire_owned().await.unwrap();
        let client = client.clone();
        tasks.spawn(async move {
            let result = client.last_push_event(2112036131).await;
            drop(permit);
            result
        });
    }
    let (mut ok, mut errors) = (0, Vec::new());
    while let Some(done) = tasks.join_next().await {
        match done.unwrap() {
            Ok(_) => ok += 1,
            Err(error) => errors.push(error),
        }
    }
    (ok, errors)
}

fn unavailable(share: f64) -> Outage {
    Outage {
        failure: InjectedFailure {
            status: 503,
            retry_after: None,
        },
        share,
    }
}

#[tokio::test]
async fn an_outage_does_not_multiply_the_load() {
    for protocol in Protocol::ALL {
        let server = protocol.server().await;
        server.set_outage(Some(unavailable(1.0)));
        let client = client(&server, RetryPolicy::default()).build().unwrap();
        let (ok, errors) = calls(&client, 2000, 64).await;
        assert_eq!(ok, 0);
        let sent = server.counts().requests;
        assert!(
            sent as f64 / 2000.0 <= 1.3,
            "{protocol:?}: {sent} requests for 2000 calls"
        );
        let refused = errors
            .iter()
            .filter(|e| e.not_retried() == Some(NoRetry::BudgetSpent))
            .count();
        assert!(refused > 1500, "{protocol:?}: {refused}");
        let error = errors
            .iter()
            .find(|e| e.not_retried().is_some())
            .unwrap()
            .to_string();
        assert!(
            error.contains("not retried: the retry budget is spent"),
            "{error}"
        );
    }
}

#[tokio::test]
async fn a_few_failures_are_still_retried_away() {
    for protocol in Protocol::ALL {
        let server = protocol.server().await;
        server.set_outage(Some(unavailable(0.05)));
        let client = client(&server, RetryPolicy::default()).build().unwrap();
        let (ok, errors) = calls(&client, 2000, 64).await;
        assert!(
            ok >= 1990,
            "{protocol:?}: {ok} of 2000: {:?}",
            errors.first()
        );
        assert!(server.counts().failed > 30, "{:?}", server.counts());
    }
}

#[tokio::test]
async fn without_a_budget_every_attempt_is_made() {
    let server = Protocol::Http1.server().await;
    server.set_outage(Some(unavailable(1.0)));
    let policy = RetryPolicy::default().retry_budget(None);
    let client = client(&server, policy).build().unwrap();
    calls(&client, 200, 16).await;
    assert_eq!(server.counts().requests, 600);
}

#[tokio::test]
async fn the_quota_answers_as_huaweis_gateway() {
    for protocol in Protocol::ALL {
        let server = Server::start(ServerConfig {
            quota: Some(Quota {
                per_second: 2.0,
                retry_after: Some(7),
            }),
            ..protocol.config()
        })
        .await
        .unwrap();
        let client = client(&server, RetryPolicy::none()).build().unwrap();
        let (ok, errors) = calls(&client, 5, 1).await;
        assert_eq!((ok, errors.len()), (2, 3), "{protocol:?}: a burst of 2");
        let Error::Api(api) = &errors[0] else {
            panic!("{:?}", errors[0])
        };
        assert_eq!((api.status, api.error_code.as_str()), (429, "APIGW.0308"));
        // The spec's example of a 429 is the same code.
        let spec: serde_json::Value = serde_norway::from_str(codearts_repo::OPENAPI_SPEC).unwrap();
        let example = &spec["components"]["responses"]["TooManyRequests"]["content"]["application/json"]
            ["example"];
        assert_eq!(example["error_code"], api.error_code.as_str());
        assert_eq!(
            api.error_msg,
            "The throttling threshold has been reached: policy user over ratelimit,limit:120,time:1 minute"
        );
        assert_eq!(api.retry_after, Some(Duration::from_secs(7)));
        assert_eq!(server.counts().throttled, 3);
    }
}

#[tokio::test]
async fn a_window_quota_answers_with_its_policy_until_the_window_ends() {
    for protocol in Protocol::ALL {
        let server = protocol.server().await;
        server.set_quota_window(Some(WindowQuota::per_minute(3)));
        let client = client(&server, RetryPolicy::none()).build().unwrap();
        let (ok, errors) = calls(&client, 5, 1).await;
        assert_eq!((ok, errors.len()), (3, 2), "{protocol:?}: 3 a minute");
        let Error::Api(api) = &errors[0] else {
            panic!("{:?}", errors[0])
        };
        assert_eq!((api.status, api.error_code.as_str()), (429, "APIGW.0308"));
        assert_eq!(
            api.error_msg,
            "The throttling threshold has been reached: policy user over ratelimit,limit:3,time:1 minute"
        );
        assert_eq!(api.retry_after, None, "as the gateway: no Retry-After");
        server.set_quota_window(None);
        assert_eq!(calls(&client, 3, 1).await.0, 3, "no quota any more");
    }
}

#[tokio::test]
async fn a_fixed_rate_spaces_every_request_of_the_client_and_its_clones() {
    for protocol in Protocol::ALL {
        let server = protocol.server().await;
        let client = client(&server, RetryPolicy::none())
            .rate_limit(RateLimit::fixed(40.0))
            .build()
            .unwrap();
        let started = std::time::Instant::now();
        let (ok, _) = calls(&client, 21, 8).await;
        assert_eq!(ok, 21);
        // 20 gaps of 25 ms, whichever clone sent them, less the 20 ms a request may leave
        // ahead of its slot.
        assert!(
            started.elapsed() >= Duration::from_millis(480),
            "{protocol:?}: {:?}",
            started.elapsed()
        );
        assert_eq!(client.allowed_rate(), Some(40.0));
    }
}

#[tokio::test]
async fn throttling_slows_the_whole_client() {
    for protocol in Protocol::ALL {
        let server = Server::start(ServerConfig {
            quota: Some(Quota::per_second(20.0)),
            ..protocol.config()
        })
        .await
        .unwrap();
        let client = client(&server, RetryPolicy::default())
            .rate_limit(RateLimit::adaptive())
            .build()
            .unwrap();
        assert_eq!(client.allowed_rate(), None, "unlimited until throttled");
        let (ok, _) = calls(&client, 100, 16).await;
        let counts = server.counts();
        let allowed = client.allowed_rate().expect("throttled, so limited");
        assert!(allowed < 60.0, "{protocol:?}: {allowed}");
        // Unpaced, 16 in flight on loopback would be throttled on almost every request.
        let share = counts.throttled as f64 / counts.requests as f64;
        assert!(share < 0.5, "{protocol:?}: {counts:?}");
        assert!(ok >= 90, "{protocol:?}: {ok} of 100, {counts:?}");
    }
}

#[tokio::test]
async fn retry_after_is_a_floor_and_a_huge_one_cannot_overflow() {
    let server = Protocol::Http1.server().await;
    let id = codearts_repo::RepositoryId::new(2112036131).unwrap();
    server.set_failure(
        id,
        Some(InjectedFailure {
            status: 429,
            retry_after: Some(0),
        }),
    );
    let client_100 = Protocol::builder(&server)
        .credentials(Credentials::token("quota-test").unwrap())
        .retry(RetryPolicy::default().base_delay(Duration::from_millis(100)))
        .build()
        .unwrap();
    let mut waited = Duration::ZERO;
    for _ in 0..5 {
        let started = std::time::Instant::now();
        client_100.last_push_event(id).await.unwrap_err();
        waited += started.elapsed();
    }
    // Full jitter over 100 ms then 200 ms: 150 ms expected a call, not 0.
    assert!(waited >= Duration::from_millis(250), "{waited:?}");

    server.set_failure(
        id,
        Some(InjectedFailure {
            status: 503,
            retry_after: Some(u64::MAX),
        }),
    );
    let patient = Protocol::builder(&server)
        .credentials(Credentials::token("quota-test").unwrap())
        .retry(RetryPolicy::default().max_retry_after(Duration::MAX))
        .timeout(Some(Duration::from_secs(5)))
        .build()
        .unwrap();
    let error = patient.last_push_event(id).await.unwrap_err();
    assert!(
        matches!(error.not_retried(), Some(NoRetry::Deadline { .. })),
        "{error}"
    );
    assert!(error.to_string().contains("before the deadline"), "{error}");
}

/// A watch wanting three times the account's quota: its pace follows the quota, few polls
/// are throttled, and every repository is polled once per round, in a stable order, before
/// any is polled twice.
#[tokio::test]
async fn a_watch_over_quota_stretches_its_rounds_evenly() {
    // Both at once: each takes seconds of real time.
    tokio::join!(
        watch_over_quota(Protocol::Http1),
        watch_over_quota(Protocol::Https2)
    );
}

async fn watch_over_quota(protocol: Protocol) {
    use codearts_repo::{RepositoryId, WatchOptions, server::Fixtures};
    {
        const REPOSITORIES: u32 = 60;
        let ids: Vec<RepositoryId> = (1..=REPOSITORIES)
            .map(|n| RepositoryId::new(n).unwrap())
            .collect();
        let mut fixtures = Fixtures::empty();
        let event: codearts_repo::PushEvent =
            serde_json::from_str(r#"{"ref":"main","created_at":"2026-01-01T00:00:00+08:00"}"#)
                .unwrap();
        for id in &ids {
            fixtures.set_push_event(*id, event.clone());
        }
        let server = Server::start(ServerConfig {
            quota: Some(Quota::per_second(20.0)),
            fixtures,
            remember: 10_000,
            ..protocol.config()
        })
        .await
        .unwrap();
        // The watch backs off by itself: one attempt per poll, as `codearts watch` does.
        let client = client(&server, RetryPolicy::none()).build().unwrap();
        let options = WatchOptions::default().interval(Duration::from_secs(1));
        let (handle, stream) = client.watch(options, ids.iter().copied());
        tokio::time::sleep(Duration::from_secs(7)).await;
        handle.stop();
        drop(stream);

        let counts = server.counts();
        let share = counts.throttled as f64 / counts.requests as f64;
        assert!(share <= 0.25, "{protocol:?}: {counts:?}");
        // Offered: 60 a second wanted; the quota is 20 (plus a burst of 20).
        let offered = counts.requests as f64 / 7.0;
        assert!(
            offered <= 20.0 * 1.5,
            "{protocol:?}: {offered}/s, {counts:?}"
        );
        let requests = server.requests();
        let polled: Vec<u32> = requests
            .iter()
            .filter_map(|r| r.path.strip_prefix("/v4/repositories/"))
            .filter_map(|rest| rest.split('/').next()?.parse().ok())
            .collect();
        let mut times = vec![0usize; REPOSITORIES as usize + 1];
        for (i, id) in polled.iter().enumerate() {
            let round = i / REPOSITORIES as usize;
            assert_eq!(
                times[*id as usize], round,
                "{protocol:?}: repository {id} polled out of its round at request {i}"
            );
            times[*id as usize] += 1;
        }
        let mut answered: Vec<&str> = requests
            .iter()
            .filter(|r| r.status == 200)
            .map(|r| r.path.as_str())
            .collect();
        answered.sort_unstable();
        answered.dedup();
        // A repository throttled in its last round may not have been answered yet.
        assert!(
            polled.len() >= REPOSITORIES as usize,
            "{protocol:?}: {polled:?}"
        );
        assert!(
            answered.len() as u64 >= u64::from(REPOSITORIES) - counts.throttled,
            "{protocol:?}: {} answered, {counts:?}",
            answered.len()
        );
    }
}

/// `Retry-After: 0` is not a licence to hammer: one throttled repository, watched every
/// second, costs a few requests in seconds (it cost thousands when the wait was taken as
/// given).
#[tokio::test]
async fn a_watch_told_retry_after_0_still_waits() {
    use codearts_repo::{RepositoryId, WatchOptions};
    let server = Protocol::Http1.server().await;
    let id = RepositoryId::new(7).unwrap();
    server.set_failure(
        id,
        Some(InjectedFailure {
            status: 429,
            retry_after: Some(0),
        }),
    );
    let client = client(&server, RetryPolicy::default()).build().unwrap();
    let options = WatchOptions::default().interval(Duration::from_secs(1));
    let (handle, stream) = client.watch(options, [id]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    handle.stop();
    drop(stream);
    let sent = server.counts().requests;
    assert!((1..=12).contains(&sent), "{sent} requests in 3 s");
}

/// A `429` that the call's retries absorb still tells the limiter the policy it states:
/// before, only a watch's final error did, and a library caller never learned it.
#[tokio::test]
async fn a_retried_throttle_teaches_the_limiter_its_policy() {
    for protocol in Protocol::ALL {
        let server = protocol.server().await;
        server.set_quota_window(Some(WindowQuota::new(2, Duration::from_secs(1))));
        let client = client(&server, RetryPolicy::default().max_attempts(6))
            .rate_limit(RateLimit::adaptive())
            .build()
            .unwrap();
        let (ok, errors) = calls(&client, 3, 1).await;
        assert_eq!((ok, errors.len()), (3, 0), "{protocol:?}: {errors:?}");
        assert!(server.counts().throttled >= 1, "{protocol:?}");
        let learned = client.learned_rate().unwrap();
        assert_eq!(learned.stated_policy, Some(2.0), "{protocol:?}");
        assert!(client.allowed_rate().unwrap() <= 2.0, "{protocol:?}");
    }
}
