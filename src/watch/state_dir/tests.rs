//! The fleet's merge rule, on a temporary directory.

use std::sync::{Arc, Mutex};

use super::*;
use crate::Timestamp;

fn id(n: u32) -> RepositoryId {
    RepositoryId::new(n).unwrap()
}

fn seen(second: u32) -> LastSeen {
    LastSeen {
        created_at: Some(Timestamp::from(format!("2026-01-01T00:00:{second:02}Z"))),
        git_ref: Some("main".into()),
    }
}

/// Writes `shard-{index}.json` with `(id, event second, saved_ms)` entries.
fn write(dir: &Path, index: u32, entries: &[(u32, u32, u64)]) {
    let entries: StampedEvents = entries
        .iter()
        .map(|&(n, second, saved)| {
            let entry = Stamped {
                seen: seen(second),
                saved_ms: Some(saved),
            };
            (id(n), entry)
        })
        .collect();
    let mut file = StateFile::new(dir.join(format!("shard-{index}.json")));
    file.save_stamped(&entries).unwrap();
}

fn replica(dir: &Path, index: u32, ids: &'static [u32]) -> StateDir {
    StateDir::new(dir, index, move |id| ids.contains(&id.get()))
}

#[test]
fn the_entry_saved_last_wins_whatever_the_files_times() {
    let dir = tempfile::tempdir().unwrap();
    // shard-1 is written last (its file is the newest) but holds the older entry of 1.
    write(dir.path(), 0, &[(1, 20, 2_000)]);
    write(dir.path(), 1, &[(1, 10, 1_000), (2, 10, 1_000)]);
    let restored = replica(dir.path(), 2, &[1, 2]).load().unwrap();
    assert_eq!(restored, [(id(1), seen(20)), (id(2), seen(10))].into());
}

#[test]
fn files_are_ordered_by_number_so_shard_10_comes_after_shard_2() {
    let dir = tempfile::tempdir().unwrap();
    // Saved at the same time: the higher-numbered file wins, in every replica.
    write(dir.path(), 10, &[(1, 10, 1_000)]);
    write(dir.path(), 2, &[(1, 2, 1_000)]);
    assert_eq!(file_number(&dir.path().join("shard-10.json")), Some(10));
    let files: Vec<u32> = numbered_files(dir.path())
        .unwrap()
        .into_iter()
        .map(|(number, _)| number)
        .collect();
    assert_eq!(files, [2, 10]);
    let restored = replica(dir.path(), 0, &[1]).load().unwrap();
    assert_eq!(restored[&id(1)], seen(10));
}

#[test]
fn a_corrupt_sibling_is_skipped_with_a_warning_naming_it_and_a_corrupt_own_file_refused() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), 0, &[(1, 10, 1_000)]);
    fs::write(dir.path().join("shard-1.json"), "{not json").unwrap();
    let said = Arc::new(Mutex::new(Vec::new()));
    let mut state = replica(dir.path(), 2, &[1, 2]).on_skipped({
        let said = said.clone();
        move |error| said.lock().unwrap().push(error.to_string())
    });
    // Its ids (2) start from nothing: a baseline, never an invented push.
    assert_eq!(state.load().unwrap(), [(id(1), seen(10))].into());
    assert!(state.look_up(&[id(2)]).is_empty());
    let said = said.lock().unwrap().clone();
    assert_eq!(said.len(), 1, "said once per version of the file: {said:?}");
    assert!(
        said[0].contains("shard-1.json") && said[0].contains("is not a watch state"),
        "{said:?}"
    );

    let error = replica(dir.path(), 1, &[2]).load().unwrap_err().to_string();
    assert!(error.contains("shard-1.json"), "{error}");
}

#[test]
fn a_replica_keeps_the_entries_it_no_longer_owns_until_their_new_owner_saved_later_ones() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), 1, &[(1, 10, 1_000), (2, 10, 1_000)]);
    // Replica 1 restarts owning 1 only; 2 moves to replica 2, which has not started yet.
    let mut one = replica(dir.path(), 1, &[1]);
    assert_eq!(one.load().unwrap(), [(id(1), seen(10))].into());
    one.save(&[(id(1), seen(11))].into()).unwrap();
    drop(one);
    let mut two = replica(dir.path(), 2, &[2]);
    assert_eq!(two.load().unwrap(), [(id(2), seen(10))].into());
    two.save(&[(id(2), seen(12))].into()).unwrap();
    let saved = StateFile::new(dir.path().join("shard-2.json"))
        .read_stamped()
        .unwrap();
    assert!(saved[&id(2)].saved_ms.unwrap() > 1_000);
    // At its next start, replica 1 drops 2: replica 2 holds a later entry of it.
    let mut one = replica(dir.path(), 1, &[1]);
    one.load().unwrap();
    one.save(&[(id(1), seen(11))].into()).unwrap();
    let kept = StateFile::new(dir.path().join("shard-1.json"))
        .read()
        .unwrap();
    assert_eq!(kept, [(id(1), seen(11))].into());
}

#[test]
fn a_copied_entry_keeps_its_time_so_it_never_beats_a_later_one() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), 0, &[(1, 10, 1_000)]);
    let mut two = replica(dir.path(), 2, &[1]);
    two.load().unwrap();
    two.save(&[(id(1), seen(10))].into()).unwrap();
    let copy = StateFile::new(dir.path().join("shard-2.json"))
        .read_stamped()
        .unwrap();
    assert_eq!(copy[&id(1)].saved_ms, Some(1_000));
}

#[test]
fn an_id_new_to_a_replica_is_looked_up_in_the_siblings_files_as_they_are_now() {
    let dir = tempfile::tempdir().unwrap();
    let mut two = replica(dir.path(), 2, &[1, 2]);
    assert!(two.load().unwrap().is_empty());
    // Saved by its old owner after this replica started.
    write(dir.path(), 0, &[(1, 10, 1_000)]);
    assert_eq!(two.look_up(&[id(1), id(2)]), [(id(1), seen(10))].into());
    // Recorded with the time of the original, as a copy.
    two.record_new(&[(id(1), seen(10))]).unwrap();
    let recorded = StateFile::new(dir.path().join("shard-2.json"))
        .read_stamped()
        .unwrap();
    assert_eq!(recorded[&id(1)].saved_ms, Some(1_000));
}

#[test]
fn files_of_older_versions_take_their_file_time() {
    let dir = tempfile::tempdir().unwrap();
    StateFile::new(dir.path().join("shard-0.json"))
        .save(&[(id(1), seen(10))].into())
        .unwrap();
    write(dir.path(), 1, &[(1, 5, 1_000)]);
    assert_eq!(
        replica(dir.path(), 2, &[1]).load().unwrap()[&id(1)],
        seen(10)
    );
}
