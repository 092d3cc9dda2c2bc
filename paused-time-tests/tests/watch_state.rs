//! The watcher with a state file, under paused time: a restart reports what changed while no
//! watch ran and nothing else; only what the consumer handled is saved; a failing save is
//! reported once and retried.

mod common;

use std::time::Duration;

use codearts_repo::{
    Client, RepositoryId, StateFile, WatchHandle, WatchItem, WatchOptions, WatchStream,
    watch::{LastSeen, SeenEvents, StateError, WatchStore},
};
use common::{INTERVAL, event, id, next, push, setup};

fn options() -> WatchOptions {
    WatchOptions::default().interval(INTERVAL)
}

/// A watch of `ids` with its state in the file at `path`.
fn watch(
    client: &Client,
    options: WatchOptions,
    ids: &[u32],
    path: &std::path::Path,
) -> (WatchHandle, WatchStream) {
    client
        .watch_with_store(options, ids.iter().map(|&n| id(n)), StateFile::new(path))
        .unwrap()
}

fn saved(path: &std::path::Path) -> Vec<(u32, String)> {
    let mut saved: Vec<(u32, String)> = StateFile::new(path)
        .read()
        .unwrap()
        .into_iter()
        .map(|(id, LastSeen { created_at, .. })| (id.get(), created_at.unwrap().to_string()))
        .collect();
    saved.sort();
    saved
}

const T0: &str = "2026-01-01T00:00:00+08:00";
const T1: &str = "2026-01-01T01:00:00+08:00";
const T2: &str = "2026-01-01T02:00:00+08:00";

#[tokio::test(start_paused = true)]
async fn a_restart_reports_what_changed_while_down_and_nothing_else() {
    let (server, client) = setup(&[1, 2, 3]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let (_, mut stream) = watch(&client, options(), &[1, 2, 3], &path);
    for _ in 0..3 {
        assert!(push(next(&mut stream, INTERVAL * 2).await).2, "a baseline");
    }
    server.set_push_event(id(1), event("main", T1));
    assert_eq!(
        push(next(&mut stream, INTERVAL * 2).await),
        (1, T1.into(), false)
    );
    stream.handled(); // printed, say
    stream.close().await.unwrap();
    assert_eq!(
        saved(&path),
        [(1, T1.into()), (2, T0.into()), (3, T0.into())]
    );

    // While no watch runs: repository 2 gets a push; 4 joins the list.
    server.set_push_event(id(2), event("main", T2));
    server.set_push_event(id(4), event("main", T0));
    let (_, mut stream) = watch(&client, options(), &[1, 2, 3, 4], &path);
    let mut items = vec![
        push(next(&mut stream, INTERVAL * 2).await),
        push(next(&mut stream, INTERVAL * 2).await),
    ];
    items.sort();
    assert_eq!(items, [(2, T2.into(), false), (4, T0.into(), true)]);
    assert!(
        next(&mut stream, INTERVAL * 10).await.is_none(),
        "1 and 3 are silent"
    );
}

#[tokio::test(start_paused = true)]
async fn only_what_the_consumer_handled_is_saved_but_first_entries_at_once() {
    let (server, client) = setup(&[1, 2]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let options = options().jitter(false);
    let (_, mut stream) = watch(&client, options.clone(), &[1, 2], &path);
    // Baselines are recorded before they are returned, handled or not.
    assert!(push(next(&mut stream, INTERVAL).await).2);
    assert_eq!(saved(&path), [(1, T0.into()), (2, T0.into())]);
    assert!(push(next(&mut stream, INTERVAL).await).2);
    server.set_push_event(id(1), event("main", T1));
    server.set_push_event(id(2), event("main", T1));
    let (first, _, _) = push(next(&mut stream, INTERVAL * 2).await);
    stream.handled();
    let (second, _, _) = push(next(&mut stream, INTERVAL * 2).await);
    // Returned but not marked handled (not printed, say): closing does not save it.
    stream.close().await.unwrap();
    let mut expected = vec![(first, T1.to_owned()), (second, T0.to_owned())];
    expected.sort();
    assert_eq!(saved(&path), expected);

    let (_, mut stream) = watch(&client, options, &[1, 2], &path);
    assert_eq!(
        push(next(&mut stream, INTERVAL).await),
        (second, T1.into(), false),
        "the unhandled push comes again"
    );
    assert!(next(&mut stream, INTERVAL * 3).await.is_none());
}

#[tokio::test(start_paused = true)]
async fn a_baseline_not_printed_before_close_comes_again() {
    let (_server, client) = setup(&[1, 2, 3]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let options = options().jitter(false);
    let ids = [1, 2, 3];
    let (_, mut stream) = watch(&client, options.clone(), &ids, &path);
    // Three baselines arrive together and are recorded; one is printed, one returned only,
    // one never returned.
    let (printed, _, _) = push(next(&mut stream, INTERVAL).await);
    stream.handled();
    let (returned, _, _) = push(next(&mut stream, INTERVAL).await);
    stream.close().await.unwrap();
    assert_eq!(saved(&path), [(printed, T0.into())]);

    let (_, mut stream) = watch(&client, options, &ids, &path);
    let mut again = vec![
        push(next(&mut stream, INTERVAL).await),
        push(next(&mut stream, INTERVAL).await),
    ];
    again.sort();
    let never = 6 - printed - returned;
    let mut expected = vec![(returned, T0.into(), true), (never, T0.into(), true)];
    expected.sort();
    assert_eq!(again, expected);
    assert!(next(&mut stream, INTERVAL * 3).await.is_none());
}

#[tokio::test(start_paused = true)]
async fn unreported_baselines_are_saved_too() {
    let (server, client) = setup(&[1, 2]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let quiet = options().baselines(false);
    let (handle, mut stream) = watch(&client, quiet.clone(), &[1, 2], &path);
    assert!(next(&mut stream, INTERVAL * 3).await.is_none());
    // Saved by the flusher, within a second of being seen, without any close.
    assert_eq!(saved(&path), [(1, T0.into()), (2, T0.into())]);
    assert!(handle.stats().state_saves >= 1);
    drop(stream);

    server.set_push_event(id(2), event("main", T1));
    let (_, mut stream) = watch(&client, quiet, &[1, 2], &path);
    assert_eq!(
        push(next(&mut stream, INTERVAL * 2).await),
        (2, T1.into(), false)
    );
}

#[tokio::test(start_paused = true)]
async fn a_failing_save_is_reported_once_and_retried() {
    let (_server, client) = setup(&[1]).await;
    let dir = tempfile::tempdir().unwrap();
    let place = dir.path().join("state");
    std::fs::create_dir(&place).unwrap();
    let path = place.join("state.json");
    let (handle, mut stream) = watch(&client, options(), &[1], &path);
    // The directory goes away: the baseline's entry cannot be recorded, which is reported
    // first, and the watch goes on.
    std::fs::remove_dir_all(&place).unwrap();
    match next(&mut stream, INTERVAL * 2).await {
        Some(WatchItem::StateNotSaved { error }) => {
            assert!(error.to_string().contains("state.json.journal"), "{error}");
        }
        other => panic!("expected a failed save, got {other:?}"),
    }
    assert!(push(next(&mut stream, Duration::from_secs(5)).await).2);
    assert!(
        next(&mut stream, Duration::from_secs(5)).await.is_none(),
        "once"
    );
    assert!(handle.stats().state_save_failures >= 3);

    std::fs::create_dir(&place).unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(saved(&path), [(1, T0.into())]);
    assert_eq!(handle.stats().state_saves, 1);
    stream.close().await.unwrap();
}

/// A store whose saves wait until the test lets them end, as a hung network file system.
struct HangingSaves {
    started: tokio::sync::mpsc::UnboundedSender<()>,
    release: std::sync::mpsc::Receiver<()>,
}

impl WatchStore for HangingSaves {
    fn load(&mut self) -> Result<SeenEvents, StateError> {
        Ok(Default::default())
    }

    fn save(&mut self, _: &SeenEvents) -> Result<(), StateError> {
        let _ = self.started.send(());
        let _ = self.release.recv();
        Ok(())
    }
}

/// A save in progress is in the watch's figures from its start to its end, so that liveness
/// can tell a save that never ends.
#[tokio::test(start_paused = true)]
async fn a_save_in_progress_is_in_the_figures_until_it_ends() {
    let (_server, client) = setup(&[1]).await;
    let (started, mut saves) = tokio::sync::mpsc::unbounded_channel();
    let (release, released) = std::sync::mpsc::channel();
    let store = HangingSaves {
        started,
        release: released,
    };
    let (handle, mut stream) = client.watch_with_store(options(), [id(1)], store).unwrap();
    assert!(push(next(&mut stream, INTERVAL * 2).await).2, "a baseline");
    stream.handled();
    assert_eq!(handle.stats().saving_since, None);
    saves.recv().await.unwrap();
    assert!(handle.stats().saving_since.is_some());
    release.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), async {
        while handle.stats().saving_since.is_some() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the save's end is in the figures");
    drop(release);
}

/// A store that counts its recordings of first entries.
struct CountedRecordings(std::sync::Arc<std::sync::Mutex<Vec<usize>>>);

impl WatchStore for CountedRecordings {
    fn load(&mut self) -> Result<SeenEvents, StateError> {
        Ok(Default::default())
    }

    fn save(&mut self, _: &SeenEvents) -> Result<(), StateError> {
        Ok(())
    }

    fn record_new(&mut self, first: &[(RepositoryId, LastSeen)]) -> Result<(), StateError> {
        self.0.lock().unwrap().push(first.len());
        Ok(())
    }
}

/// A first round spreads its polls over the interval, each with a baseline: they are
/// gathered for 50 ms and recorded together, not one write each. In real time: under paused
/// time, the clock jumps while a recording runs on its thread, which batches them anyway.
#[tokio::test]
async fn a_first_round_records_its_baselines_in_a_few_writes() {
    let ids: Vec<u32> = (1..=200).collect();
    let (_server, client) = setup(&ids).await;
    let recordings = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let store = CountedRecordings(recordings.clone());
    let interval = Duration::from_secs(1);
    let (_, mut stream) = client
        .watch_with_store(
            WatchOptions::default().interval(interval),
            ids.iter().map(|&n| id(n)),
            store,
        )
        .unwrap();
    for _ in 0..200 {
        assert!(push(next(&mut stream, interval * 2).await).2, "a baseline");
    }
    stream.close().await.unwrap();
    let recordings = recordings.lock().unwrap();
    assert_eq!(recordings.iter().sum::<usize>(), 200);
    // 1 s of first polls in 50 ms gatherings: about 20 writes, not 200.
    assert!(
        recordings.len() <= 30,
        "{} writes: {recordings:?}",
        recordings.len()
    );
}
