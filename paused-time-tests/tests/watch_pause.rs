//! A pause the service asked for (`429` with `Retry-After: 45`) is the watch's own waiting:
//! the polls queued behind it are polled again in turn, never reported as failures, never
//! counted as trouble.

use std::time::Duration;

mod common;

use codearts_repo::{
    Client, Credentials, RetryPolicy, WatchItem, WatchOptions, server::InjectedFailure,
};
use common::{event, id, next, setup};

const INTERVAL: Duration = Duration::from_secs(1);

#[tokio::test(start_paused = true)]
async fn a_pause_the_service_asked_for_is_no_failure_of_the_service() {
    let ids = [1, 2, 3, 4, 5];
    let (server, _) = setup(&ids).await;
    // A call's deadline (5 s) far shorter than the pause: queued polls run out of time
    // while the client waits.
    let client = Client::builder()
        .endpoint(server.url())
        .credentials(Credentials::token("watch-token").unwrap())
        .retry(RetryPolicy::none().max_retry_after(Duration::from_secs(60)))
        .attempt_timeout(Duration::MAX)
        .timeout(Some(Duration::from_secs(5)))
        .build()
        .unwrap();
    let (handle, mut stream) = client.watch(
        WatchOptions::default().interval(INTERVAL),
        ids.iter().map(|n| id(*n)),
    );
    for _ in ids {
        assert!(matches!(
            next(&mut stream, INTERVAL * 2).await,
            Some(WatchItem::Push { baseline: true, .. })
        ));
    }
    server.set_failure(
        id(1),
        Some(InjectedFailure {
            status: 429,
            retry_after: Some(45),
        }),
    );
    match next(&mut stream, INTERVAL * 3).await {
        Some(WatchItem::Error {
            repository_id,
            error,
        }) => assert_eq!((repository_id.get(), error.status()), (1, Some(429))),
        other => panic!("expected the 429, got {other:?}"),
    }
    server.set_failure(id(1), None);

    // Through the pause and past it: nothing fails; then every repository is polled again.
    let mut items = Vec::new();
    let pause_over = tokio::time::Instant::now() + Duration::from_secs(50);
    while let Some(item) = next(
        &mut stream,
        pause_over.saturating_duration_since(tokio::time::Instant::now()),
    )
    .await
    {
        items.push(item);
    }
    let during = handle.stats();
    for n in ids {
        server.set_push_event(id(n), event("main", "2026-01-01T01:00:00+08:00"));
    }
    let mut pushed = Vec::new();
    while pushed.len() < ids.len() {
        match next(&mut stream, INTERVAL * 5).await {
            Some(WatchItem::Push {
                repository_id,
                baseline: false,
                ..
            }) => pushed.push(repository_id.get()),
            Some(item) => items.push(item),
            None => panic!("every repository polled again after the pause: {pushed:?}"),
        }
    }
    let failures: Vec<String> = items
        .iter()
        .filter_map(|item| match item {
            WatchItem::Error {
                repository_id,
                error,
            } => Some(format!("{repository_id}: {error}")),
            _ => None,
        })
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(
        during.paced > 0,
        "the pause outlasted queued calls' deadline"
    );
    let stats = handle.stats();
    assert_eq!(
        stats.failures.total(),
        1,
        "the 429 only: {:?}",
        stats.failures
    );
    assert_eq!(stats.failures.transport, 0);
    assert_eq!(stats.repositories.backing_off, 0);
    assert_eq!(stats.repositories.ok, ids.len() as u64);
    assert!(
        stats.answered >= 2 * ids.len() as u64,
        "baselines and pushes are answers: {}",
        stats.answered
    );
}
