//! `WatchOptions::hold_until_handled` under paused time: a repository whose push the
//! consumer still holds (`WatchStream::defer`) is not polled, for however many intervals,
//! while the others are; handling the push polls it again at once and saves it; giving it
//! up polls it again and saves nothing; a watch that dies holding it returns it again first.

mod common;

use std::time::Duration;

use codearts_repo::{
    Client, StateFile, WatchOptions, WatchStream, server::Server, watch::LastSeen,
};
use common::{INTERVAL, event, id, next, push, setup};

const T0: &str = "2026-01-01T00:00:00+08:00";
const T1: &str = "2026-01-01T01:00:00+08:00";
const T2: &str = "2026-01-01T02:00:00+08:00";

fn polls(server: &Server, n: u32) -> usize {
    let path = format!("/v4/repositories/{n}/last-push-event");
    server.requests().iter().filter(|r| r.path == path).count()
}

/// A watch of 1 and 2 that holds, past its baselines, and the push T1 of 1, deferred.
async fn holding(
    client: &Client,
    server: &Server,
    path: &std::path::Path,
) -> (WatchStream, codearts_repo::watch::Deferred) {
    let options = WatchOptions::default()
        .interval(INTERVAL)
        .hold_until_handled(true);
    let (_, mut stream) = client
        .watch_with_store(options, [id(1), id(2)], StateFile::new(path))
        .unwrap();
    for _ in 0..2 {
        assert!(push(next(&mut stream, INTERVAL * 2).await).2, "a baseline");
    }
    server.set_push_event(id(1), event("main", T1));
    assert_eq!(
        push(next(&mut stream, INTERVAL * 2).await),
        (1, T1.into(), false)
    );
    let deferred = stream.defer().expect("the push just returned");
    (stream, deferred)
}

fn saved(path: &std::path::Path, n: u32) -> String {
    let saved = StateFile::new(path).read().unwrap();
    let LastSeen { created_at, .. } = &saved[&id(n)];
    created_at.clone().unwrap().to_string()
}

#[tokio::test(start_paused = true)]
async fn a_held_repository_is_not_polled_until_its_push_is_handled_then_at_once() {
    let (server, client) = setup(&[1, 2]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let (mut stream, deferred) = holding(&client, &server, &path).await;
    let (one, two) = (polls(&server, 1), polls(&server, 2));
    // A newer push the held repository must not be asked for yet.
    server.set_push_event(id(1), event("main", T2));
    assert!(
        next(&mut stream, INTERVAL * 10).await.is_none(),
        "nothing new is served"
    );
    assert_eq!(polls(&server, 1), one, "1 is held");
    assert!(
        polls(&server, 2) >= two + 9,
        "2 goes on: {}",
        polls(&server, 2) - two
    );

    deferred.handled();
    // Polled at once, not at its next interval: the newer push comes within a second.
    let found = push(next(&mut stream, Duration::from_secs(1)).await);
    assert_eq!(found, (1, T2.into(), false));
    stream.close().await.unwrap();
    // T1 was handled; T2 was returned but not handled: T1 is what is saved.
    assert_eq!(saved(&path, 1), T1);
}

/// Given up (a webhook refused it) or abandoned (dropped: a stop without waiting), the push
/// is not saved and its repository is polled again; given up, it is no longer pending;
/// abandoned, it stays pending for the next watch.
#[tokio::test(start_paused = true)]
async fn a_push_given_up_or_abandoned_is_not_saved_and_its_repository_is_polled_again() {
    for give_up in [true, false] {
        let (server, client) = setup(&[1, 2]).await;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let (mut stream, deferred) = holding(&client, &server, &path).await;
        let one = polls(&server, 1);
        match give_up {
            true => deferred.give_up(),
            false => drop(deferred),
        }
        assert!(
            next(&mut stream, INTERVAL * 3).await.is_none(),
            "T1 was seen already"
        );
        assert!(polls(&server, 1) >= one + 2, "polled again");
        stream.close().await.unwrap();
        assert_eq!(saved(&path, 1), T0, "T1 was never handled");
        let pending: Vec<_> = StateFile::new(&path)
            .read_pending()
            .unwrap()
            .iter()
            .map(|p| p.seen().created_at.unwrap().to_string())
            .collect();
        let expected: &[&str] = if give_up { &[] } else { &[T1] };
        assert_eq!(pending, expected, "given up: {give_up}");
    }
}

/// The watch dies (no close, no save) while the consumer holds T1, and the service moves on
/// to T2 before the next watch: T1 was recorded before it was returned, so the next watch
/// returns it first, with its first observation's time, and polls 1 only once it is
/// handled; then T2 comes. Without the outbox, T2 alone would come: T1 lost.
#[tokio::test(start_paused = true)]
async fn a_held_push_the_watch_died_with_comes_back_first_before_a_newer_one() {
    let (server, client) = setup(&[1, 2]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let (stream, deferred) = holding(&client, &server, &path).await;
    let observed = deferred.observed_at();
    // As a crash: nothing more is saved, the consumer never answers.
    std::mem::forget(deferred);
    drop(stream);
    server.set_push_event(id(1), event("main", T2));

    let options = WatchOptions::default()
        .interval(INTERVAL)
        .hold_until_handled(true);
    let before = polls(&server, 1);
    let (_, mut stream) = client
        .watch_with_store(options, [id(1), id(2)], StateFile::new(&path))
        .unwrap();
    assert_eq!(
        push(next(&mut stream, Duration::from_millis(1)).await),
        (1, T1.into(), false),
        "returned again, before any poll"
    );
    let again = stream.defer().expect("held again");
    assert_eq!(again.observed_at(), observed);
    assert!(
        next(&mut stream, INTERVAL * 5).await.is_none(),
        "nothing else meanwhile"
    );
    assert_eq!(polls(&server, 1), before, "1 is held until T1 is handled");
    again.handled();
    assert_eq!(
        push(next(&mut stream, Duration::from_secs(1)).await),
        (1, T2.into(), false)
    );
    stream.handled();
    stream.close().await.unwrap();
    assert_eq!(saved(&path, 1), T2);
    assert!(StateFile::new(&path).read_pending().unwrap().is_empty());
}
