//! The watcher against the embedded server, with push events changing over time, under
//! paused tokio time: every new push once and in order, backoff and recovery, no duplicates.

use std::time::Duration;

mod common;

use codearts_repo::{WatchItem, WatchOptions, server::InjectedFailure};
use common::{INTERVAL, event, id, next, push, setup};
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn baselines_then_every_new_push_once_and_in_order() {
    let (server, client) = setup(&[1, 2, 3]).await;
    let (_handle, mut stream) = client.watch(
        WatchOptions::default().interval(INTERVAL),
        [id(1), id(2), id(3)],
    );
    let started = Instant::now();
    let mut baselines: Vec<u32> = Vec::new();
    for _ in 0..3 {
        let (repo, _, baseline) = push(next(&mut stream, INTERVAL * 2).await);
        assert!(baseline);
        baselines.push(repo);
    }
    baselines.sort_unstable();
    assert_eq!(baselines, [1, 2, 3]);
    assert!(
        started.elapsed() <= INTERVAL,
        "first polls spread within one interval"
    );

    for minute in 1..=3 {
        let created = format!("2026-01-01T00:0{minute}:00+08:00");
        server.set_push_event(id(2), event("main", &created));
        assert_eq!(
            push(next(&mut stream, INTERVAL * 2).await),
            (2, created, false)
        );
    }
    // A new ref with the same time is a new push too.
    server.set_push_event(id(2), event("release", "2026-01-01T00:03:00+08:00"));
    assert_eq!(push(next(&mut stream, INTERVAL * 2).await).0, 2);
    // Nothing changes for ten intervals: nothing is reported.
    assert!(next(&mut stream, INTERVAL * 10).await.is_none());
}

#[tokio::test(start_paused = true)]
async fn errors_and_throttling_back_off_and_recover_without_duplicates() {
    let (server, client) = setup(&[1, 2]).await;
    let (handle, mut stream) =
        client.watch(WatchOptions::default().interval(INTERVAL), [id(1), id(2)]);
    for _ in 0..2 {
        assert!(push(next(&mut stream, INTERVAL * 2).await).2);
    }

    server.set_failure(
        id(1),
        Some(InjectedFailure {
            status: 429,
            retry_after: Some(300),
        }),
    );
    let first_error = match next(&mut stream, INTERVAL * 2).await {
        Some(WatchItem::Error {
            repository_id,
            error,
        }) => {
            assert_eq!((repository_id.get(), error.status()), (1, Some(429)));
            Instant::now()
        }
        other => panic!("expected an error, got {other:?}"),
    };
    // Repository 2 is not held up by 1's backoff.
    server.set_push_event(id(2), event("main", "2026-01-01T01:00:00+08:00"));
    assert_eq!(push(next(&mut stream, INTERVAL * 2).await).0, 2);
    // The next poll of 1 waits for Retry-After (300 s), not the 60 s interval.
    match next(&mut stream, Duration::from_secs(400)).await {
        Some(WatchItem::Error { repository_id, .. }) => {
            assert_eq!(repository_id.get(), 1);
            assert!(
                first_error.elapsed() >= Duration::from_secs(300),
                "{:?}",
                first_error.elapsed()
            );
        }
        other => panic!("expected a second error, got {other:?}"),
    }

    // 500s back off exponentially, and recovery reports nothing already seen.
    server.set_failure(
        id(1),
        Some(InjectedFailure {
            status: 500,
            retry_after: None,
        }),
    );
    assert!(matches!(
        next(&mut stream, Duration::from_secs(700)).await,
        Some(WatchItem::Error { .. })
    ));
    server.set_failure(id(1), None);
    assert!(
        matches!(
            next(&mut stream, Duration::from_secs(700)).await,
            Some(WatchItem::Recovered { repository_id }) if repository_id.get() == 1
        ),
        "the end of the trouble is said"
    );
    assert!(
        next(&mut stream, Duration::from_secs(1800)).await.is_none(),
        "no duplicate after recovery"
    );
    server.set_push_event(id(1), event("main", "2026-01-01T02:00:00+08:00"));
    assert_eq!(
        push(next(&mut stream, INTERVAL * 2).await),
        (1, "2026-01-01T02:00:00+08:00".into(), false)
    );
    let stats = handle.stats();
    let failed = stats.failures.total();
    assert!(failed >= 3 && stats.polls > failed, "{stats:?}");
    assert_eq!(stats.failures.status_4xx, 2, "the two 429s: {stats:?}");
    assert_eq!(
        stats.failures.status_4xx + stats.failures.status_5xx,
        failed
    );
    assert_eq!(stats.pushes, 2, "new pushes, baselines not counted");
    assert_eq!(stats.repositories.ok, 2, "both answer again: {stats:?}");
}

#[tokio::test(start_paused = true)]
async fn repositories_can_be_added_and_removed_while_it_runs() {
    let (server, client) = setup(&[1, 2]).await;
    let (handle, mut stream) = client.watch(WatchOptions::default().interval(INTERVAL), [id(1)]);
    assert_eq!(push(next(&mut stream, INTERVAL * 2).await).0, 1);
    handle.add(id(2));
    assert_eq!(
        push(next(&mut stream, INTERVAL * 2).await),
        (2, "2026-01-01T00:00:00+08:00".into(), true)
    );
    handle.remove(id(1));
    server.set_push_event(id(1), event("main", "2026-01-02T00:00:00+08:00"));
    assert!(
        next(&mut stream, INTERVAL * 5).await.is_none(),
        "a removed repository is not reported"
    );
    // Added again, it goes on from what the watch saw: the push made meanwhile is a push.
    handle.add(id(1));
    assert_eq!(
        push(next(&mut stream, INTERVAL * 2).await),
        (1, "2026-01-02T00:00:00+08:00".into(), false)
    );
    // And one added again with no push meanwhile is polled, and reports nothing.
    let polls_of_2 = || {
        let path = "/v4/repositories/2/last-push-event";
        server.requests().iter().filter(|r| r.path == path).count()
    };
    let before = polls_of_2();
    handle.remove(id(2));
    handle.add(id(2));
    assert!(next(&mut stream, INTERVAL * 3).await.is_none());
    assert!(polls_of_2() >= before + 2, "2 is polled again");
}

#[tokio::test(start_paused = true)]
async fn once_polls_each_repository_once_then_ends() {
    let (_server, client) = setup(&[1, 2]).await;
    let (_handle, mut stream) =
        client.watch(WatchOptions::default().once(true), [id(1), id(2), id(404)]);
    let mut pushes = 0;
    let mut errors = 0;
    while let Some(item) = stream.next().await {
        match item {
            WatchItem::Push { baseline: true, .. } => pushes += 1,
            WatchItem::Error {
                repository_id,
                error,
            } => {
                assert_eq!((repository_id.get(), error.status()), (404, Some(404)));
                errors += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((pushes, errors), (2, 1));
}

#[tokio::test(start_paused = true)]
async fn baselines_can_be_skipped() {
    let (server, client) = setup(&[1]).await;
    let (_handle, mut stream) = client.watch(
        WatchOptions::default().interval(INTERVAL).baselines(false),
        [id(1)],
    );
    assert!(next(&mut stream, INTERVAL * 3).await.is_none());
    server.set_push_event(id(1), event("main", "2026-03-01T00:00:00+08:00"));
    assert_eq!(
        push(next(&mut stream, INTERVAL * 2).await),
        (1, "2026-03-01T00:00:00+08:00".into(), false)
    );
}

#[tokio::test(start_paused = true)]
async fn an_absurd_retry_after_cannot_break_the_schedule() {
    let (server, client) = setup(&[1, 2]).await;
    server.set_failure(
        id(1),
        Some(InjectedFailure {
            status: 429,
            retry_after: Some(u64::MAX),
        }),
    );
    let (_handle, mut stream) =
        client.watch(WatchOptions::default().interval(INTERVAL), [id(1), id(2)]);
    // Repository 1 fails, repository 2 gets its baseline, in either order.
    let mut first = Vec::new();
    for _ in 0..2 {
        match next(&mut stream, INTERVAL * 2).await {
            Some(WatchItem::Error { repository_id, .. }) => {
                first.push((repository_id.get(), "error"))
            }
            Some(WatchItem::Push {
                repository_id,
                baseline: true,
                ..
            }) => first.push((repository_id.get(), "baseline")),
            other => panic!("{other:?}"),
        }
    }
    first.sort_unstable();
    assert_eq!(first, [(1, "error"), (2, "baseline")]);
    // Repository 2 is still polled on time.
    server.set_push_event(id(2), event("main", "2026-05-01T00:00:00+08:00"));
    assert_eq!(push(next(&mut stream, INTERVAL * 2).await).0, 2);
}

/// The user's case: a repository answering 404 ("no push yet") while the others are throttled
/// with `Retry-After: 1`. The 404 keeps the 1 s cadence and is reported once; the 429s wait
/// exactly what they were asked; the repository's baseline comes as soon as it has a push.
#[tokio::test(start_paused = true)]
async fn answers_that_are_not_trouble_keep_the_cadence_and_are_reported_once() {
    let interval = Duration::from_secs(1);
    let (server, client) = setup(&[2]).await;
    let not_found = Some(InjectedFailure {
        status: 404,
        retry_after: None,
    });
    server.set_failure(id(1), not_found);
    server.set_failure(
        id(2),
        Some(InjectedFailure {
            status: 429,
            retry_after: Some(1),
        }),
    );
    let (handle, mut stream) = client.watch(
        WatchOptions::default().interval(interval).jitter(false),
        [id(1), id(2)],
    );
    let started = Instant::now();
    let (mut not_found_reports, mut throttled) = (0, 0);
    while started.elapsed() < Duration::from_secs(5) {
        match next(&mut stream, Duration::from_secs(5)).await {
            Some(WatchItem::Error { repository_id, .. }) if repository_id.get() == 1 => {
                not_found_reports += 1
            }
            Some(WatchItem::Error { .. }) => throttled += 1,
            other => panic!("unexpected {other:?}"),
        }
        if throttled >= 4 {
            break;
        }
    }
    assert_eq!(
        not_found_reports, 1,
        "a 404 is reported when it starts, not every poll"
    );
    // Retry-After: 1 is honoured as given: about one 429 a second, not a doubling backoff.
    assert!(
        started.elapsed() <= Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );

    // The first push: the repository recovers, and its baseline follows within an interval.
    server.set_failure(id(1), None);
    server.set_failure(id(2), None);
    server.set_push_event(id(1), event("main", "2026-01-01T00:00:00+08:00"));
    let asked = Instant::now();
    let mut recovered = false;
    let mut baseline = false;
    while !(recovered && baseline) {
        match next(&mut stream, interval * 3).await {
            Some(WatchItem::Recovered { repository_id }) => {
                assert_eq!(repository_id.get(), 1);
                recovered = true;
            }
            Some(WatchItem::Push {
                repository_id,
                baseline: true,
                ..
            }) if repository_id.get() == 1 => baseline = true,
            Some(WatchItem::Push { .. }) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(asked.elapsed() <= interval * 2, "{:?}", asked.elapsed());
    // Polled at the normal cadence throughout: about one poll a second each.
    let stats = handle.stats();
    assert!(stats.polls >= 8, "{stats:?}");
}

#[tokio::test(start_paused = true)]
async fn a_stopped_watch_delivers_what_its_polls_in_flight_found_then_ends() {
    let (server, client) = setup(&[1, 2, 3]).await;
    let options = WatchOptions::default().interval(INTERVAL).jitter(false);
    let (handle, mut stream) = client.watch(options, [id(1), id(2), id(3)]);
    // Stop once the server has answered the three first polls, before the watch reads them.
    while server.requests().len() < 3 {
        tokio::task::yield_now().await;
    }
    handle.stop();
    let mut found = Vec::new();
    while let Some(item) = next(&mut stream, INTERVAL * 5).await {
        found.push(push(Some(item)).0);
    }
    found.sort_unstable();
    assert_eq!(found, [1, 2, 3], "nothing in flight is dropped");
    assert_eq!(server.requests().len(), 3, "and nothing more is polled");
}

#[tokio::test(start_paused = true)]
async fn an_absurd_concurrency_is_clamped_not_a_panic() {
    let (_server, client) = setup(&[1]).await;
    let (handle, mut stream) = client.watch(
        WatchOptions::default()
            .concurrency(usize::MAX)
            .interval(INTERVAL),
        [id(1)],
    );
    assert!(push(next(&mut stream, INTERVAL * 2).await).2);
    handle.stop();
}
