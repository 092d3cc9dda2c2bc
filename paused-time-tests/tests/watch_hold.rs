//! `WatchOptions::hold_until_handled` under paused time: a repository whose push the
//! consumer still holds (`WatchStream::defer`) is not polled, for however many intervals,
//! while the others are; handling the push polls it again at once and saves it; giving it
//! up polls it again and saves nothing; a watch that dies holding it returns it again first.

mod common;

use std::time::Duration;

use codearts_repo::{
    Client, RepositoryId, StateFile, WatchHandle, WatchItem, WatchOptions, WatchStream,
    server::Server,
    watch::{Handled, LastSeen, Pending, SeenEvents, StateError, WatchStore},
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
) -> (WatchHandle, WatchStream, codearts_repo::watch::Deferred) {
    let options = WatchOptions::default()
        .interval(INTERVAL)
        .hold_until_handled(true);
    let (handle, mut stream) = client
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
    (handle, stream, deferred)
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
    let (_, mut stream, deferred) = holding(&client, &server, &path).await;
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
        let (_, mut stream, deferred) = holding(&client, &server, &path).await;
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
    let (_, stream, deferred) = holding(&client, &server, &path).await;
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

fn pending(n: u32, created_at: &str) -> Pending {
    let observed_at = std::time::UNIX_EPOCH + Duration::from_secs(1_765_000_000);
    Pending::new(id(n), event("main", created_at), observed_at, false)
}

fn holding_options() -> WatchOptions {
    WatchOptions::default()
        .interval(INTERVAL)
        .hold_until_handled(true)
}

/// Two items of 1 left pending (the first handled but not saved when the watch died, the
/// second recorded after it), one of 2, and one of 3, which is not watched: one item per
/// repository is out at a time, in order, and 1 is polled only after its last one.
#[tokio::test(start_paused = true)]
async fn pending_items_come_back_one_at_a_time_per_repository_in_order() {
    let (server, client) = setup(&[1, 2, 3]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let mut store = StateFile::new(&path);
    store.load().unwrap();
    store
        .record_pending(&[
            pending(1, T1),
            pending(3, T1),
            pending(1, T2),
            pending(2, T1),
        ])
        .unwrap();
    drop(store);
    server.set_push_event(id(1), event("main", T2));

    server.set_push_event(id(3), event("main", T1));

    let (handle, mut stream) = client
        .watch_with_store(holding_options(), [id(1), id(2)], StateFile::new(&path))
        .unwrap();
    let mut out = std::collections::BTreeMap::new();
    for _ in 0..3 {
        let (n, created_at, baseline) = push(next(&mut stream, Duration::from_millis(1)).await);
        assert_eq!((created_at.as_str(), baseline), (T1, false), "{n}");
        out.insert(n, stream.defer().expect("held"));
    }
    assert_eq!(out.keys().copied().collect::<Vec<_>>(), [1, 2, 3]);
    assert!(
        next(&mut stream, INTERVAL * 3).await.is_none(),
        "T2 of 1 waits for T1"
    );
    assert_eq!(polls(&server, 1), 0, "held");
    out.remove(&1).unwrap().handled();
    assert_eq!(
        push(next(&mut stream, Duration::from_millis(1)).await),
        (1, T2.into(), false)
    );
    let second = stream.defer().expect("held");
    assert!(next(&mut stream, INTERVAL * 3).await.is_none());
    assert_eq!(polls(&server, 1), 0, "held by its second item");
    second.handled();
    assert!(
        next(&mut stream, INTERVAL * 2).await.is_none(),
        "T2 is what 1 serves"
    );
    assert!(polls(&server, 1) >= 1, "polled once its items are handled");
    // 3 is not watched: its item comes back all the same; added once it is handled, 3 is
    // polled (not held by it any more).
    out.remove(&3).unwrap().handled();
    handle.add(id(3));
    assert!(next(&mut stream, INTERVAL * 2).await.is_none());
    assert!(polls(&server, 3) >= 1, "3 is polled");
    out.remove(&2).unwrap().handled();
    stream.close().await.unwrap();
    assert_eq!(saved(&path, 1), T2);
    assert!(StateFile::new(&path).read_pending().unwrap().is_empty());
}

/// A state file whose journal refuses the first recording of a held item, as a full disk.
struct FailsOnce(StateFile, bool);

impl WatchStore for FailsOnce {
    fn load(&mut self) -> Result<SeenEvents, StateError> {
        self.0.load()
    }

    fn save(&mut self, seen: &SeenEvents) -> Result<(), StateError> {
        self.0.save(seen)
    }

    fn save_handled(&mut self, seen: &SeenEvents, handled: &[Handled]) -> Result<(), StateError> {
        self.0.save_handled(seen, handled)
    }

    fn record_new(&mut self, first: &[(RepositoryId, LastSeen)]) -> Result<(), StateError> {
        self.0.record_new(first)
    }

    fn record_pending(&mut self, pending: &[Pending]) -> Result<(), StateError> {
        if std::mem::take(&mut self.1) {
            return Err(StateError::new("the test's store", "no space left", None));
        }
        self.0.record_pending(pending)
    }
}

/// A held item whose recording fails is returned all the same (after the failure is
/// reported), and recorded at the next flush; handled, it leaves the outbox.
#[tokio::test(start_paused = true)]
async fn a_held_item_whose_recording_failed_is_recorded_at_the_next_flush() {
    let (server, client) = setup(&[1]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let (_, mut stream) = client
        .watch_with_store(
            holding_options().flush_every(Duration::from_secs(1)),
            [id(1)],
            FailsOnce(StateFile::new(&path), false),
        )
        .unwrap();
    assert!(push(next(&mut stream, INTERVAL * 2).await).2, "a baseline");
    stream.handled();
    stream.close().await.unwrap();
    let (_, mut stream) = client
        .watch_with_store(
            holding_options().flush_every(Duration::from_secs(1)),
            [id(1)],
            FailsOnce(StateFile::new(&path), true),
        )
        .unwrap();
    server.set_push_event(id(1), event("main", T1));
    let reported = next(&mut stream, INTERVAL * 2).await;
    assert!(
        matches!(&reported, Some(WatchItem::StateNotSaved { error }) if error.to_string().contains("no space left")),
        "{reported:?}"
    );
    assert_eq!(
        push(next(&mut stream, Duration::from_millis(1)).await),
        (1, T1.into(), false),
        "returned all the same"
    );
    let deferred = stream.defer().unwrap();
    // The first recording failed: only a flush's retry can have recorded it.
    let pending_now = || StateFile::new(&path).read_pending().unwrap().len();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(pending_now(), 1, "recorded at a flush");
    deferred.handled();
    stream.close().await.unwrap();
    assert_eq!(pending_now(), 0);
    assert_eq!(saved(&path, 1), T1);
}

/// A repository removed and added again while its push waits is still held: polled only
/// once the push is handled.
#[tokio::test(start_paused = true)]
async fn a_repository_added_again_while_its_push_waits_is_still_held() {
    let (server, client) = setup(&[1, 2]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let (handle, mut stream, deferred) = holding(&client, &server, &path).await;
    handle.remove(id(1));
    handle.add(id(1));
    let one = polls(&server, 1);
    assert!(next(&mut stream, INTERVAL * 5).await.is_none());
    assert_eq!(polls(&server, 1), one, "still held");
    deferred.handled();
    // It goes on from the push it held: the same push again is nothing new.
    assert!(
        next(&mut stream, Duration::from_secs(1)).await.is_none(),
        "no second item of T1"
    );
    assert!(polls(&server, 1) > one, "polled once handled");
    stream.close().await.unwrap();
}

/// When a save came, and the handled events it held.
type Save = (tokio::time::Instant, Vec<Handled>);

/// A store that logs its saves of handled events.
#[derive(Clone, Default)]
struct TimedSaves(std::sync::Arc<std::sync::Mutex<Vec<Save>>>);

impl TimedSaves {
    /// When the first save holding `created_at` of 1 came.
    fn saved_at(&self, created_at: &str) -> Option<tokio::time::Instant> {
        let saves = self.0.lock().unwrap();
        let has = |h: &Handled| {
            h.repository_id == id(1)
                && h.seen
                    .created_at
                    .as_ref()
                    .is_some_and(|at| at.to_string() == created_at)
        };
        saves
            .iter()
            .find(|(_, handled)| handled.iter().any(has))
            .map(|(at, _)| *at)
    }
}

impl WatchStore for TimedSaves {
    fn load(&mut self) -> Result<SeenEvents, StateError> {
        Ok(SeenEvents::default())
    }

    fn save(&mut self, _: &SeenEvents) -> Result<(), StateError> {
        Ok(())
    }

    fn save_handled(&mut self, _: &SeenEvents, handled: &[Handled]) -> Result<(), StateError> {
        let now = tokio::time::Instant::now();
        self.0.lock().unwrap().push((now, handled.to_vec()));
        Ok(())
    }
}

/// What is handled is saved within one flush period, the command's tenth of a second with
/// `--deliver`: a push handled just after a flush is saved by the next one, 99 ms later.
#[tokio::test(start_paused = true)]
async fn a_push_handled_just_after_a_flush_is_saved_within_the_period() {
    const PERIOD: Duration = Duration::from_millis(100);
    let (server, client) = setup(&[1]).await;
    let saves = TimedSaves::default();
    let options = holding_options().jitter(false).flush_every(PERIOD);
    let (_, mut stream) = client
        .watch_with_store(options, [id(1)], saves.clone())
        .unwrap();
    assert!(push(next(&mut stream, INTERVAL * 2).await).2, "a baseline");
    stream.handled();
    // The baseline's save is a flush: the flusher wakes every period from it.
    let flush = tokio::time::timeout(INTERVAL, async {
        loop {
            if let Some(at) = saves.saved_at(T0) {
                return at;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("the baseline is saved");
    server.set_push_event(id(1), event("main", T1));
    assert_eq!(
        push(next(&mut stream, INTERVAL * 2).await),
        (1, T1.into(), false)
    );
    let deferred = stream.defer().expect("held");
    let periods = (tokio::time::Instant::now() - flush).as_nanos() / PERIOD.as_nanos() + 1;
    let just_after = flush + PERIOD * periods as u32 + Duration::from_millis(1);
    tokio::time::sleep_until(just_after).await;
    deferred.handled();
    tokio::time::sleep(PERIOD * 2).await;
    let saved_at = saves.saved_at(T1).expect("saved");
    assert_eq!(
        saved_at - just_after,
        PERIOD - Duration::from_millis(1),
        "saved by the next flush, the latest it may be"
    );
}
