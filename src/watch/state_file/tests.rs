//! The state file and its journal, on a temporary directory.

use super::*;
use crate::Timestamp;

fn seen(n: u32) -> SeenEvents {
    (1..=n)
        .map(|id| {
            let event = LastSeen {
                created_at: Some(Timestamp::from(format!("2026-01-01T00:00:{id:02}Z"))),
                git_ref: Some("main".into()),
            };
            (RepositoryId::new(id).unwrap(), event)
        })
        .collect()
}

#[test]
fn a_missing_file_is_an_empty_state_and_saves_round_trip_leaving_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut file = StateFile::new(dir.path().join("state.json"));
    assert!(file.load().unwrap().is_empty());
    file.save(&seen(3)).unwrap();
    file.save(&seen(5)).unwrap();
    assert_eq!(file.load().unwrap(), seen(5));
    let mut names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["state.json", "state.json.journal", "state.json.lock"]
    );
}

#[test]
fn what_is_not_a_state_is_an_error_naming_the_file_and_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let cases = [
        ("", "EOF while parsing"),
        ("[1, 2]", "invalid type"),
        (
            r#"{"codearts_watch_state": 2, "repositories": {}}"#,
            "format 2",
        ),
        (
            r#"{"codearts_watch_state": 1, "repositories": {"0": {}}}"#,
            "from 1 to",
        ),
    ];
    for (text, why) in cases {
        fs::write(&path, text).unwrap();
        let error = StateFile::new(&path).load().unwrap_err().to_string();
        assert!(error.contains(&path.display().to_string()), "{error}");
        assert!(
            error.contains("is not a watch state") && error.contains(why),
            "{error}"
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), text, "left as it was");
    }
}

#[test]
fn an_unwritable_place_is_an_error_and_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("is-a-directory");
    let mut file = StateFile::new(&path);
    file.load().unwrap();
    fs::create_dir(&path).unwrap();
    let error = file.save(&seen(1)).unwrap_err().to_string();
    assert!(error.contains("cannot write it"), "{error}");
    // The directory and the lock file, no temporary file.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
}

/// A state in a directory that does not exist (or is a file) is refused naming that
/// directory, not the lock file the watch could not create in it.
#[test]
fn a_missing_directory_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let error = StateFile::new(missing.join("watch.json"))
        .load()
        .unwrap_err()
        .to_string();
    let expected = format!("its directory {} does not exist", missing.display());
    assert!(error.contains(&expected), "{error}");
    assert!(!error.contains("lock"), "{error}");

    let file = dir.path().join("a-file");
    fs::write(&file, "").unwrap();
    let error = StateFile::new(file.join("watch.json"))
        .load()
        .unwrap_err()
        .to_string();
    let expected = format!("{} is not a directory", file.display());
    assert!(error.contains(&expected), "{error}");
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        1,
        "nothing created"
    );
}

/// `state.json` in `dir`, loaded (and so locked).
fn loaded(dir: &tempfile::TempDir) -> (PathBuf, StateFile) {
    let path = dir.path().join("state.json");
    let mut file = StateFile::new(&path);
    file.load().unwrap();
    (path, file)
}

fn entry(id: u32, second: u32) -> (RepositoryId, LastSeen) {
    let seen = LastSeen {
        created_at: Some(Timestamp::from(format!("2026-01-01T00:00:{second:02}Z"))),
        git_ref: Some("main".into()),
    };
    (RepositoryId::new(id).unwrap(), seen)
}

#[test]
fn recorded_entries_are_loaded_until_a_save_takes_them_over() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let mut file = StateFile::new(&path);
    file.record_new(&[entry(1, 1), entry(2, 2)]).unwrap();
    file.record_new(&[entry(3, 3)]).unwrap();
    // As after a crash: nothing saved yet, the journal alone.
    let expected: SeenEvents = [entry(1, 1), entry(2, 2), entry(3, 3)].into();
    assert_eq!(StateFile::new(&path).read().unwrap(), expected);
    file.save(&expected).unwrap();
    let journal = dir.path().join("state.json.journal");
    assert_eq!(
        fs::metadata(&journal).unwrap().len(),
        0,
        "emptied by the save"
    );
    drop(file);
    assert_eq!(StateFile::new(&path).load().unwrap(), expected);
}

#[test]
fn first_entries_never_override_the_saved_state_and_a_cut_last_line_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    StateFile::new(&path).save(&[entry(1, 9)].into()).unwrap();
    // A crash between a save and the emptying of the journal, then one mid-append.
    let journal = dir.path().join("state.json.journal");
    let line = |id, second| {
        let (repository_id, seen) = entry(id, second);
        serde_json::to_string(&Recorded {
            repository_id,
            seen,
        })
        .unwrap()
    };
    let cut = line(3, 3);
    let text = format!("{}\n{}\n{}", line(1, 1), line(2, 2), &cut[..cut.len() / 2]);
    fs::write(&journal, text).unwrap();
    let expected: SeenEvents = [entry(1, 9), entry(2, 2)].into();
    assert_eq!(StateFile::new(&path).load().unwrap(), expected);

    fs::write(
        &journal,
        format!("{}\nnot json\n{}\n", line(1, 1), line(2, 2)),
    )
    .unwrap();
    let error = StateFile::new(&path).load().unwrap_err().to_string();
    assert!(
        error.contains("state.json.journal") && error.contains("line 2"),
        "{error}"
    );
}

fn pending(id: u32, second: u32) -> Pending {
    let (repository_id, seen) = entry(id, second);
    let event = crate::PushEvent::builder()
        .ref_(seen.git_ref.clone())
        .created_at(seen.created_at.clone())
        .try_into()
        .unwrap();
    let observed_at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_765_000_000_123);
    Pending::new(repository_id, event, observed_at, false)
}

fn identities(pending: &[Pending]) -> Vec<(RepositoryId, LastSeen, std::time::SystemTime)> {
    pending
        .iter()
        .map(|p| (p.repository_id, p.seen(), p.observed_at))
        .collect()
}

/// Pending items are in the journal as soon as they are recorded (a crash keeps them, in
/// order, an event once however often recorded, a cut last line ignored), in the file from
/// the next save, and gone once a save has them handled or they are given up.
#[test]
fn pending_items_last_until_handled_or_given_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let mut file = StateFile::new(&path);
    assert!(file.load().unwrap().is_empty());
    file.save(&SeenEvents::new()).unwrap();
    file.record_pending(&[pending(2, 5), pending(1, 7)])
        .unwrap();
    file.record_pending(&[pending(2, 5), pending(3, 1)])
        .unwrap();
    drop(file);
    let journal = dir.path().join("state.json.journal");
    let mut text = fs::read_to_string(&journal).unwrap();
    let cut = serde_json::to_string(&Line::Pending {
        pending: pending(4, 4),
        generation: 0,
    })
    .unwrap();
    text.push_str(&cut[..cut.len() / 2]);
    fs::write(&journal, text).unwrap();
    let recorded = [pending(2, 5), pending(1, 7), pending(3, 1)];
    assert_eq!(
        identities(&StateFile::new(&path).read_pending().unwrap()),
        identities(&recorded),
        "as after a crash: the journal alone"
    );

    // The next watch cuts the cut line off before it appends: what it appends stays readable
    // (the file exists, so its save appends).
    let mut file = StateFile::new(&path);
    file.load().unwrap();
    let (one, seen) = entry(1, 7);
    let handled = Handled::new(one, seen.clone());
    file.save_handled(&[(one, seen)].into(), &[handled])
        .unwrap();
    let left = StateFile::new(&path).read_pending().unwrap();
    assert_eq!(
        identities(&left),
        identities(&[pending(2, 5), pending(3, 1)])
    );
    assert_eq!(
        left[0].event.ref_.as_deref(),
        Some("main"),
        "the whole event"
    );
    assert_eq!(identities(&file.load_pending().unwrap()), identities(&left));

    let (three, seen) = entry(3, 1);
    file.give_up(&[Handled::new(three, seen)]).unwrap();
    file.save_handled(&SeenEvents::new(), &[]).unwrap();
    assert_eq!(
        identities(&StateFile::new(&path).read_pending().unwrap()),
        identities(&[pending(2, 5)])
    );
}

#[test]
fn a_state_in_use_by_another_watch_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let mut first = StateFile::new(&path);
    first.load().unwrap();
    let error = StateFile::new(&path).load().unwrap_err().to_string();
    assert!(error.contains("in use by another watch"), "{error}");
    drop(first);
    StateFile::new(&path).load().unwrap();
}

/// A crash between a save and the emptying of the journal leaves pending lines the save
/// already settled: those it handled (two of one repository) or gave up are not pending
/// again, one it kept pending is pending once, and one recorded since is pending.
#[test]
fn pending_lines_the_last_save_settled_are_not_pending_again() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut file) = loaded(&dir);
    file.record_pending(&[pending(1, 6), pending(1, 7), pending(3, 1), pending(4, 2)])
        .unwrap();
    let journal = dir.path().join("state.json.journal");
    let lines = fs::read_to_string(&journal).unwrap();
    let handled = [entry(1, 6), entry(1, 7)].map(|(id, seen)| Handled::new(id, seen));
    let (three, seen) = entry(3, 1);
    file.give_up(&[Handled::new(three, seen)]).unwrap();
    let (one, seen) = entry(1, 7);
    file.save_handled(&[(one, seen)].into(), &handled).unwrap();
    file.record_pending(&[pending(2, 5)]).unwrap();
    let newer = fs::read_to_string(&journal).unwrap();
    fs::write(&journal, format!("{lines}{newer}")).unwrap();
    assert_eq!(
        identities(&StateFile::new(&path).read_pending().unwrap()),
        identities(&[pending(4, 2), pending(2, 5)])
    );
}

/// A save by a `StateFile` that never loaded keeps the pending items the file holds.
#[test]
fn a_save_without_a_load_keeps_the_pending_items() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut file) = loaded(&dir);
    file.record_pending(&[pending(1, 7)]).unwrap();
    drop(file);
    StateFile::new(&path).save(&seen(2)).unwrap();
    assert_eq!(
        identities(&StateFile::new(&path).read_pending().unwrap()),
        identities(&[pending(1, 7)])
    );
}

/// A loaded state file in a directory of its own (`state` in `dir`): the directory, and it.
fn in_a_directory(dir: &tempfile::TempDir) -> (PathBuf, StateFile) {
    let place = dir.path().join("state");
    fs::create_dir(&place).unwrap();
    let mut file = StateFile::new(place.join("state.json"));
    file.load().unwrap();
    (place, file)
}

/// Runs `away` while the directory `place` is moved away (nothing opens in it).
fn while_away<T>(place: &Path, away: impl FnOnce() -> T) -> T {
    let moved = place.with_file_name("away");
    fs::rename(place, &moved).unwrap();
    let result = away();
    fs::rename(&moved, place).unwrap();
    result
}

/// A journal removed under the watch (its directory deleted, then made again) is not
/// written into unseen: a recording fails while the directory is gone, and goes to a new
/// journal, which a load reads, once it is back.
#[test]
fn a_removed_journal_is_opened_again_not_written_unseen() {
    let dir = tempfile::tempdir().unwrap();
    let (place, mut file) = in_a_directory(&dir);
    let path = file.path().to_owned();
    file.record_new(&[entry(1, 1)]).unwrap();
    fs::remove_dir_all(&place).unwrap();
    let error = file
        .record_pending(&[pending(1, 2)])
        .unwrap_err()
        .to_string();
    assert!(error.contains("state.json.journal"), "{error}");
    fs::create_dir(&place).unwrap();
    file.record_pending(&[pending(2, 3)]).unwrap();
    assert_eq!(
        identities(&StateFile::new(&path).read_pending().unwrap()),
        identities(&[pending(2, 3)])
    );
    // The file went with the directory: the next save writes the whole state again, not
    // what changed since the file it had written.
    file.save(&seen(2)).unwrap();
    assert_eq!(StateFile::new(&path).read().unwrap(), seen(2));
    assert_eq!(
        identities(&StateFile::new(&path).read_pending().unwrap()),
        identities(&[pending(1, 2), pending(2, 3)])
    );
}

/// The state file `path` as written last, whole.
fn whole(path: &Path) -> SeenEvents {
    let bytes = fs::read(path).unwrap();
    serde_json::from_slice::<Read>(&bytes).unwrap().repositories
}

/// Once the file exists, a save appends what changed (entries changed, added or dropped) to
/// the journal and leaves the file alone, until the journal would outgrow the file: then
/// the save writes the whole state and empties the journal.
#[test]
fn a_save_appends_what_changed_until_the_journal_outgrows_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut file) = loaded(&dir);
    let journal = dir.path().join("state.json.journal");
    file.save(&seen(3)).unwrap();
    assert_eq!(whole(&path), seen(3), "the first save writes the file");

    let mut now = seen(3);
    now.insert(entry(2, 40).0, entry(2, 40).1);
    now.remove(&entry(3, 0).0);
    now.insert(entry(4, 41).0, entry(4, 41).1);
    file.save(&now).unwrap();
    assert_eq!(whole(&path), seen(3), "the file is left alone");
    assert_eq!(fs::read_to_string(&journal).unwrap().lines().count(), 3);
    assert_eq!(StateFile::new(&path).read().unwrap(), now);
    file.save(&now).unwrap();
    assert_eq!(
        fs::read_to_string(&journal).unwrap().lines().count(),
        3,
        "nothing changed, nothing appended"
    );

    // 64 KiB of changes (the file is smaller): a whole write takes them in.
    let mut saves = 0;
    while fs::metadata(&journal).unwrap().len() > 0 {
        saves += 1;
        assert!(saves < 10_000, "the journal is never folded in");
        now.insert(entry(1, saves % 60).0, entry(1, saves % 60).1);
        file.save(&now).unwrap();
        if saves % 64 == 0 {
            assert_eq!(StateFile::new(&path).read().unwrap(), now);
        }
        assert!(fs::metadata(&journal).unwrap().len() <= JOURNAL_MIN);
    }
    assert!(saves > 500, "{saves} saves appended");
    assert_eq!(whole(&path), now);
}

/// A crash between a whole write and the emptying of the journal leaves lines the file
/// holds already, perhaps older than it: they are not applied again.
#[test]
fn lines_a_whole_write_took_in_are_not_applied_again() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut file) = loaded(&dir);
    let journal = dir.path().join("state.json.journal");
    file.save(&seen(2)).unwrap();
    let mut older = seen(2);
    older.insert(entry(1, 30).0, entry(1, 30).1);
    older.remove(&entry(2, 0).0);
    file.save(&older).unwrap();
    let lines = fs::read_to_string(&journal).unwrap();
    assert_eq!(lines.lines().count(), 2, "one saved, one forgotten");
    // A whole write of a newer state (as once the journal outgrew the file).
    drop(file);
    let newer = seen(3);
    StateFile::new(&path).save(&newer).unwrap();
    fs::write(&journal, lines).unwrap();
    assert_eq!(StateFile::new(&path).load().unwrap(), newer);
}

/// `save_handled` looks at the handled entries, and at first entries whose recording
/// failed; entries dropped (baselines not reported) make it look at every entry, even when
/// as many were added as dropped.
#[test]
fn a_save_of_handled_events_writes_those_and_the_first_entries_not_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let (place, mut file) = in_a_directory(&dir);
    let path = file.path().to_owned();
    file.save(&seen(3)).unwrap();

    // 4's first entry cannot be recorded (the directory is away); 3 is dropped, 2 handled.
    assert!(while_away(&place, || file.record_new(&[entry(4, 4)])).is_err());
    let mut now = seen(3);
    now.insert(entry(4, 4).0, entry(4, 4).1);
    now.remove(&entry(3, 0).0);
    let (two, later) = entry(2, 50);
    now.insert(two, later.clone());
    file.save_handled(&now, &[Handled::new(two, later)])
        .unwrap();
    assert_eq!(StateFile::new(&path).read().unwrap(), now);

    // Then 1 alone, handled anew: one line.
    let journal = fs::read_to_string(place.join("state.json.journal")).unwrap();
    let (one, later) = entry(1, 51);
    now.insert(one, later.clone());
    file.save_handled(&now, &[Handled::new(one, later)])
        .unwrap();
    assert_eq!(StateFile::new(&path).read().unwrap(), now);
    let added = fs::read_to_string(place.join("state.json.journal")).unwrap();
    assert_eq!(added.lines().count(), journal.lines().count() + 1);
}

/// A crash can cut a line in the middle of a character (a commit message in Chinese): the
/// load leaves the cut line out, and the next append is not glued to it.
#[test]
fn a_line_cut_in_the_middle_of_a_character_is_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut file) = loaded(&dir);
    let journal = dir.path().join("state.json.journal");
    file.save(&seen(1)).unwrap();
    file.record_pending(&[pending(1, 1)]).unwrap();
    let whole = fs::read(&journal).unwrap();
    let mut item = pending(2, 2);
    item.event.ref_ = Some("功能/登录".into());
    file.record_pending(&[item]).unwrap();
    drop(file);
    let text = fs::read(&journal).unwrap();
    let cut = whole.len()
        + text[whole.len()..]
            .windows(3)
            .position(|w| w == "功".as_bytes())
            .unwrap()
        + 1;
    fs::write(&journal, &text[..cut]).unwrap();

    let mut file = StateFile::new(&path);
    file.load().unwrap();
    assert_eq!(
        identities(&file.load_pending().unwrap()),
        identities(&[pending(1, 1)])
    );
    file.record_pending(&[pending(3, 3)]).unwrap();
    assert_eq!(
        identities(&StateFile::new(&path).read_pending().unwrap()),
        identities(&[pending(1, 1), pending(3, 3)])
    );
}

/// An item whose journal line could not be written is written by the next save, before its
/// settlement when it is settled by then.
#[test]
fn a_pending_item_not_written_is_written_by_the_next_save() {
    let dir = tempfile::tempdir().unwrap();
    let (place, mut file) = in_a_directory(&dir);
    let path = file.path().to_owned();
    file.save(&seen(2)).unwrap();
    let recorded = while_away(&place, || {
        file.record_pending(&[pending(1, 5), pending(2, 6)])
    });
    assert!(recorded.is_err());
    let (two, seen_2) = entry(2, 6);
    file.give_up(&[Handled::new(two, seen_2)]).unwrap();
    file.save_handled(&seen(2), &[]).unwrap();
    assert_eq!(
        identities(&StateFile::new(&path).read_pending().unwrap()),
        identities(&[pending(1, 5)])
    );
    assert_eq!(whole(&path), seen(2), "appended, not written whole");
}

/// A save with nothing to write touches nothing: no journal is even made.
#[test]
fn a_save_with_nothing_changed_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_, mut file) = loaded(&dir);
    file.save(&seen(2)).unwrap();
    file.save_handled(&seen(2), &[]).unwrap();
    assert!(!dir.path().join("state.json.journal").exists());
}

/// A journal deleted under the watch, the file left: the next save writes the whole state
/// (what the journal held is gone), and goes on appending after it.
#[test]
fn a_journal_deleted_alone_makes_the_next_save_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut file) = loaded(&dir);
    let journal = dir.path().join("state.json.journal");
    file.save(&seen(1)).unwrap();
    file.save(&seen(2)).unwrap();
    assert_eq!(whole(&path), seen(1), "2 is in the journal");
    fs::remove_file(&journal).unwrap();
    let (one, later) = entry(1, 30);
    let mut now = seen(3);
    now.insert(one, later.clone());
    file.save_handled(&now, &[Handled::new(one, later)])
        .unwrap();
    assert_eq!(whole(&path), now);
    assert_eq!(StateFile::new(&path).read().unwrap(), now);
}

/// A journal newer than its file (the file restored from a backup, or moved away): the
/// next whole write is newer still, so that a crash before the journal is emptied does
/// not apply those lines over it.
#[test]
fn the_next_whole_write_is_newer_than_the_journals_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let journal = dir.path().join("state.json.journal");
    // The file moved away; its journal's lines are of generation 5.
    let (one, later) = entry(1, 40);
    let line = serde_json::to_string(&Line::Saved {
        saved: Recorded::new(one, &later),
        generation: 5,
    })
    .unwrap();
    fs::write(&journal, format!("{line}\n")).unwrap();
    let mut file = StateFile::new(&path);
    assert_eq!(file.load().unwrap(), [(one, later)].into());
    file.save(&seen(2)).unwrap();
    // A crash between that write and the emptying of the journal.
    fs::write(&journal, format!("{line}\n")).unwrap();
    drop(file);
    assert_eq!(StateFile::new(&path).load().unwrap(), seen(2));
}
