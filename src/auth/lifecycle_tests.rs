//! The state machine's rules under synthetic time (the state is a function of the calls and
//! of `now`), and its fetches in tasks that hang, panic or are cancelled.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::auth::signer::SigningKey;

const MINUTE: Duration = Duration::from_secs(60);

fn key(n: usize) -> Arc<AccessKey> {
    Arc::new(AccessKey {
        ak: format!("AK{n}"),
        key: SigningKey::new("SK"),
        security_token: None,
    })
}

fn fetched(n: usize, lifetime: Duration) -> Fetched {
    Fetched {
        key: key(n),
        lifetime,
    }
}

/// Calls every `step` over `span`, each fetch answered at once with keys of `lifetime`:
/// when each fetch started (counted from the first call), and whether a call ever went on
/// with keys past their use-by time or waited although keys were usable.
fn fetch_times(lifetime: Duration, step: Duration, span: Duration) -> Vec<Duration> {
    let start = Instant::now();
    let mut state = State::Empty;
    let mut times = Vec::new();
    let mut now = start;
    while now < start + span {
        match state.next(now) {
            Step::Use(_) => {
                let held = state.held().unwrap();
                assert!(now < held.use_until, "used in its last moments");
            }
            Step::Wait(_) => panic!("nothing runs between calls"),
            Step::Fetch { behind, .. } => {
                if times.is_empty() {
                    assert!(behind.is_none());
                } else {
                    assert!(behind.is_some(), "a refresh ahead of time never waits");
                }
                times.push(now - start);
                let outcome = state.finish(Ok(fetched(times.len(), lifetime)), now);
                assert!(outcome.is_ok());
            }
        }
        now += step;
    }
    times
}

#[test]
fn keys_are_refreshed_the_lesser_of_40_minutes_and_half_their_lifetime_ahead() {
    for (lifetime, refreshed_after) in [
        (15 * MINUTE, Duration::from_secs(450)),
        (60 * MINUTE, 30 * MINUTE),
        (360 * MINUTE, 320 * MINUTE),
    ] {
        let times = fetch_times(lifetime, Duration::from_secs(1), lifetime * 4);
        let expected: Vec<Duration> = (0..8)
            .map(|n| refreshed_after * n)
            .filter(|at| *at < lifetime * 4)
            .collect();
        assert_eq!(times, expected, "{lifetime:?}");
    }
}

/// A service that says its keys last for ever (or a year) cannot make a time overflow: the
/// lifetime counted is at most a day, refreshed 40 minutes before its end.
#[test]
fn an_absurd_lifetime_is_counted_as_the_longest_one() {
    let now = Instant::now();
    for lifetime in [
        Duration::MAX,
        Duration::from_secs(365 * 24 * 3600),
        LONGEST_LIFETIME,
    ] {
        let held = Held::new(fetched(1, lifetime), now);
        assert_eq!(held.refresh_at, now + LONGEST_LIFETIME - 40 * MINUTE);
        assert_eq!(held.use_until, now + LONGEST_LIFETIME - SAFETY_MARGIN);
    }
    let held = Held::new(fetched(1, LONGEST_LIFETIME - MINUTE), now);
    assert_eq!(
        held.use_until,
        now + LONGEST_LIFETIME - MINUTE - SAFETY_MARGIN
    );
}

#[test]
fn keys_are_never_used_in_their_last_moments() {
    let now = Instant::now();
    for (lifetime, margin) in [
        (15 * MINUTE, SAFETY_MARGIN),
        (Duration::from_secs(8), Duration::from_secs(2)),
    ] {
        let held = Held::new(fetched(1, lifetime), now);
        assert_eq!(held.use_until, now + lifetime - margin);
        let mut state = State::Valid(held.clone());
        assert!(matches!(
            state.next(held.use_until - Duration::from_millis(1)),
            Step::Fetch {
                behind: Some(_),
                ..
            }
        ));
        let mut state_at_the_end = State::Valid(held.clone());
        assert!(matches!(
            state_at_the_end.next(held.use_until),
            Step::Fetch { behind: None, .. }
        ));
        // While that refresh runs, a call at the use-by time waits for it.
        assert!(matches!(state.next(held.use_until), Step::Wait(_)));
    }
}

#[test]
fn a_failed_refresh_keeps_the_keys_and_backs_off() {
    let now = Instant::now();
    let mut state = State::Valid(Held::new(fetched(1, 60 * MINUTE), now));
    let later = now + 31 * MINUTE;
    assert!(matches!(state.next(later), Step::Fetch { .. }));
    let failure = Failure::from("STS is down".to_owned());
    assert!(state.finish(Err(failure.clone()), later).is_err());
    assert!(matches!(state.next(later + BACKOFF / 2), Step::Use(_)));
    assert!(matches!(
        state.next(later + BACKOFF),
        Step::Fetch {
            behind: Some(_),
            ..
        }
    ));
    // A fetch with nothing held that fails leaves nothing: the next call fetches again.
    let mut state = State::Empty;
    assert!(matches!(state.next(now), Step::Fetch { .. }));
    assert!(state.finish(Err(failure), now).is_err());
    assert!(matches!(state.next(now), Step::Fetch { behind: None, .. }));
}

/// Keys due for a refresh, still usable for an hour.
fn due() -> Arc<Lifecycle> {
    let now = Instant::now();
    let lifecycle = Lifecycle::default();
    *crate::sync::lock(&lifecycle.state) = State::Valid(Held {
        key: key(0),
        refresh_at: now,
        use_until: now + 60 * MINUTE,
    });
    Arc::new(lifecycle)
}

fn refreshing(lifecycle: &Lifecycle) -> bool {
    matches!(
        *crate::sync::lock(&lifecycle.state),
        State::Refreshing { .. }
    )
}

#[tokio::test]
async fn calls_go_on_with_usable_keys_while_one_refresh_hangs() {
    let lifecycle = due();
    let fetches = Arc::new(AtomicUsize::new(0));
    for _ in 0..5 {
        let counted = fetches.clone();
        let key = lifecycle
            .ready(move || {
                counted.fetch_add(1, Ordering::SeqCst);
                std::future::pending()
            })
            .await
            .unwrap();
        assert_eq!(key.ak, "AK0");
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn calls_without_keys_share_one_fetch() {
    let lifecycle = Arc::new(Lifecycle::default());
    let fetches = Arc::new(AtomicUsize::new(0));
    let (answer, answered) = tokio::sync::watch::channel(false);
    let call = || {
        let (lifecycle, fetches, answered) = (lifecycle.clone(), fetches.clone(), answered.clone());
        async move {
            lifecycle
                .ready(move || {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    let mut answered = answered.clone();
                    async move {
                        let _ = answered.wait_for(|done| *done).await;
                        Ok(fetched(1, 60 * MINUTE))
                    }
                })
                .await
        }
    };
    let calls = [
        tokio::spawn(call()),
        tokio::spawn(call()),
        tokio::spawn(call()),
    ];
    while !refreshing(&lifecycle) {
        tokio::task::yield_now().await;
    }
    answer.send_replace(true);
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap().ak, "AK1");
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_fetch_that_panics_never_blocks_the_next() {
    // A call waiting for it starts another.
    let lifecycle = Arc::new(Lifecycle::default());
    let fetches = Arc::new(AtomicUsize::new(0));
    let counted = fetches.clone();
    let key = lifecycle
        .ready(move || {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            async move {
                assert!(n > 0, "the first fetch panics");
                Ok(fetched(n, 60 * MINUTE))
            }
        })
        .await
        .unwrap();
    assert_eq!(
        (key.ak.as_str(), fetches.load(Ordering::SeqCst)),
        ("AK1", 2)
    );

    // A refresh behind usable keys: the next call after it starts another.
    let lifecycle = due();
    let fetches = Arc::new(AtomicUsize::new(0));
    for _ in 0..2 {
        let counted = fetches.clone();
        lifecycle
            .ready(move || {
                counted.fetch_add(1, Ordering::SeqCst);
                async { panic!("a refresh that panics") }
            })
            .await
            .unwrap();
        while refreshing(&lifecycle) {
            tokio::task::yield_now().await;
        }
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
}

#[test]
fn a_refresh_cancelled_with_its_runtime_never_blocks_the_next() {
    let lifecycle = due();
    let fetches = Arc::new(AtomicUsize::new(0));
    let refresh = |lifecycle: Arc<Lifecycle>, fetches: Arc<AtomicUsize>| async move {
        lifecycle
            .ready(move || {
                fetches.fetch_add(1, Ordering::SeqCst);
                std::future::pending()
            })
            .await
            .unwrap();
    };
    for expected in 1..=2 {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(refresh(lifecycle.clone(), fetches.clone()));
        assert!(refreshing(&lifecycle));
        // The refresh's task goes with its runtime (a program's, a test's).
        drop(runtime);
        assert!(!refreshing(&lifecycle));
        assert_eq!(fetches.load(Ordering::SeqCst), expected);
    }
}
