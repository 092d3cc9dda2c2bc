//! The lifecycle of temporary keys at one place, as one state machine behind one lock.
//!
//! - `Empty`: nothing usable.
//! - `Valid`: keys, the time to refresh them (`refresh_at`) and the time after which no
//!   request is signed with them (`use_until`).
//! - `Refreshing`: one fetch runs (never two), with the keys from before if any.
//! - `BackingOff`: a refresh behind usable keys failed; the next waits until `retry_at`.
//!
//! | from | event | to | the call |
//! | --- | --- | --- | --- |
//! | `Empty` | a call | `Refreshing` | waits for the fetch |
//! | `Valid` | a call before `refresh_at` | `Valid` | goes on with the keys |
//! | `Valid` | a call after `refresh_at` | `Refreshing` | goes on with the keys |
//! | `BackingOff` | a call before `retry_at` | `BackingOff` | goes on with the keys |
//! | `BackingOff` | a call after `retry_at` | `Refreshing` | goes on with the keys |
//! | `Valid`, `BackingOff` | a call after `use_until` | `Refreshing` | waits for the fetch |
//! | `Refreshing` | a call | `Refreshing` | goes on with usable keys, else waits |
//! | `Refreshing` | the fetch gives keys | `Valid` | waiting calls go on with them |
//! | `Refreshing` | the fetch fails | `BackingOff` with usable keys, else `Empty` | waiting calls fail with its error |
//! | `Refreshing` | the fetch is cancelled or panics | `Valid` with the keys from before, else `Empty` | waiting calls decide again |
//!
//! The rules, all in [`State::next`] and [`Held::new`]: keys that live `L` (as the service
//! counts it, from the fetch; at most [`LONGEST_LIFETIME`]) are refreshed `min(40 min, L / 2)` before they expire (so at
//! most one fetch per half-lifetime while fetches succeed: 15-minute keys are not fetched
//! per call), and are not used in their last `min(5 s, L / 4)` ([`SAFETY_MARGIN`]: a request
//! signed now must reach the service while they hold). Times are tokio's [`Instant`],
//! counted from the fetch: monotonic (a wall-clock jump changes nothing), and moved by
//! tokio's paused time in tests.
//!
//! A fetch runs in a task of its own, so that a call that gives up (its deadline) does not
//! waste it. Its [`Ticket`] puts the state back when the task is cancelled or panics: the
//! held keys become `Valid` again (or `Empty`), waiting calls wake and start another fetch.

use std::{
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{sync::watch, time::Instant};

use super::{credentials::AccessKey, temporary::Failure};

/// Keys are refreshed ahead of expiry by the lesser of this and half their lifetime (the
/// official SDKs' threshold, which alone would refresh short-lived keys at every call).
const REFRESH_AHEAD_AT_MOST: Duration = Duration::from_secs(40 * 60);
/// No request is signed with keys in their last moments (at most a quarter of their
/// lifetime): it covers a request's flight, a slow connection and the second-granularity of
/// the expiry and of the answer's `Date`.
pub(crate) const SAFETY_MARGIN: Duration = Duration::from_secs(5);
/// After a refresh behind usable keys failed, the next one waits this long.
pub(crate) const BACKOFF: Duration = Duration::from_secs(30);
/// The longest lifetime counted: a day, the longest IAM issues (`duration_seconds` at most
/// 86,400). Keys said to last longer are refreshed as if they lasted a day, and no time is
/// computed past it (an `Instant` far in the future overflows).
pub(crate) const LONGEST_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// What a fetch gave: the keys, and how long they last from now.
pub(crate) struct Fetched {
    pub(crate) key: Arc<AccessKey>,
    pub(crate) lifetime: Duration,
}

/// Keys at hand, with their times.
#[derive(Clone)]
struct Held {
    key: Arc<AccessKey>,
    refresh_at: Instant,
    use_until: Instant,
}

impl Held {
    fn new(fetched: Fetched, now: Instant) -> Self {
        let lifetime = fetched.lifetime.min(LONGEST_LIFETIME);
        let ahead = (lifetime / 2).min(REFRESH_AHEAD_AT_MOST);
        let margin = (lifetime / 4).min(SAFETY_MARGIN);
        Self {
            key: fetched.key,
            refresh_at: now + (lifetime - ahead),
            use_until: now + (lifetime - margin),
        }
    }

    fn usable(&self, now: Instant) -> bool {
        now < self.use_until
    }
}

/// The outcome of a fetch, for the calls waiting for it; `None` while it runs.
type Outcome = Option<Result<Arc<AccessKey>, Failure>>;

enum State {
    Empty,
    Valid(Held),
    Refreshing {
        /// The keys from before, while they are usable.
        held: Option<Held>,
        done: watch::Receiver<Outcome>,
    },
    BackingOff {
        held: Held,
        retry_at: Instant,
    },
}

/// What a call does next.
enum Step {
    Use(Arc<AccessKey>),
    Wait(watch::Receiver<Outcome>),
    /// Start a fetch (this call holds the only ticket); `behind`: keys to go on with
    /// meanwhile.
    Fetch {
        behind: Option<Arc<AccessKey>>,
        done: watch::Sender<Outcome>,
    },
}

impl State {
    /// The refresh rules: what a call at `now` does, and the state it leaves.
    fn next(&mut self, now: Instant) -> Step {
        match self {
            Self::Valid(held) if now < held.refresh_at => return Step::Use(held.key.clone()),
            Self::BackingOff { held, retry_at } if now < *retry_at && held.usable(now) => {
                return Step::Use(held.key.clone());
            }
            Self::Refreshing {
                held: Some(held), ..
            } if held.usable(now) => return Step::Use(held.key.clone()),
            Self::Refreshing { done, .. } => return Step::Wait(done.clone()),
            _ => {}
        }
        let held = match std::mem::replace(self, Self::Empty) {
            Self::Valid(held) | Self::BackingOff { held, .. } if held.usable(now) => Some(held),
            _ => None,
        };
        let (done, waiting) = watch::channel(None);
        let behind = held.as_ref().map(|held| held.key.clone());
        *self = Self::Refreshing {
            held,
            done: waiting,
        };
        Step::Fetch { behind, done }
    }

    /// The fetch ended: new keys, or the old ones while usable (backing off), or none.
    fn finish(
        &mut self,
        fetched: Result<Fetched, Failure>,
        now: Instant,
    ) -> Result<Arc<AccessKey>, Failure> {
        let held = match std::mem::replace(self, Self::Empty) {
            Self::Refreshing { held, .. } => held,
            _ => None,
        };
        match fetched {
            Ok(fetched) => {
                let held = Held::new(fetched, now);
                let key = held.key.clone();
                *self = Self::Valid(held);
                Ok(key)
            }
            Err(failure) => {
                if let Some(held) = held.filter(|held| held.usable(now)) {
                    tracing::warn!(
                        error = %failure.message,
                        "refreshing temporary credentials failed; using the current ones"
                    );
                    *self = Self::BackingOff {
                        held,
                        retry_at: now + BACKOFF,
                    };
                }
                Err(failure)
            }
        }
    }

    /// The fetch was cancelled or panicked: back to what was held, so that the next call
    /// starts another.
    fn abandon(&mut self) {
        if let Self::Refreshing { held, .. } = self {
            *self = held.take().map_or(Self::Empty, Self::Valid);
        }
    }

    fn held(&self) -> Option<&Held> {
        match self {
            Self::Empty => None,
            Self::Valid(held) | Self::BackingOff { held, .. } => Some(held),
            Self::Refreshing { held, .. } => held.as_ref(),
        }
    }
}

/// Temporary keys at one place, shared by the clients there and their clones.
pub(crate) struct Lifecycle {
    state: Mutex<State>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self {
            state: Mutex::new(State::Empty),
        }
    }
}

impl Lifecycle {
    /// The keys held now (even in their last moments: signing with them beats sending the
    /// request unsigned), if any.
    pub(crate) fn current(&self) -> Option<Arc<AccessKey>> {
        crate::sync::lock(&self.state)
            .held()
            .map(|held| held.key.clone())
    }

    /// Usable keys: the ones held, refreshed behind the call when due, or fetched now (with
    /// `fetch`) when none are usable; the calls without keys share one fetch.
    pub(crate) async fn ready<F, Fut>(self: &Arc<Self>, fetch: F) -> Result<Arc<AccessKey>, Failure>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Fetched, Failure>> + Send + 'static,
    {
        loop {
            let step = crate::sync::lock(&self.state).next(Instant::now());
            let mut waiting = match step {
                Step::Use(key) => return Ok(key),
                Step::Wait(waiting) => waiting,
                Step::Fetch { behind, done } => {
                    let waiting = done.subscribe();
                    let ticket = Ticket {
                        lifecycle: self.clone(),
                        done: Some(done),
                    };
                    let run = ticket.run(fetch());
                    match tokio::runtime::Handle::try_current() {
                        Ok(runtime) => drop(runtime.spawn(run)),
                        Err(_) => run.await,
                    }
                    match behind {
                        Some(key) => return Ok(key),
                        None => waiting,
                    }
                }
            };
            if let Ok(outcome) = waiting.wait_for(Option::is_some).await
                && let Some(outcome) = outcome.clone()
            {
                return outcome;
            }
            // The fetch was cancelled or panicked: decide again.
        }
    }
}

/// The one fetch running: it records the outcome, or, dropped before that (the task was
/// cancelled or panicked), puts the state back so that later calls are never blocked.
struct Ticket {
    lifecycle: Arc<Lifecycle>,
    done: Option<watch::Sender<Outcome>>,
}

impl Ticket {
    async fn run(mut self, fetch: impl Future<Output = Result<Fetched, Failure>>) {
        let fetched = fetch.await;
        let outcome = crate::sync::lock(&self.lifecycle.state).finish(fetched, Instant::now());
        if let Some(done) = self.done.take() {
            done.send_replace(Some(outcome));
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.done.is_some() {
            crate::sync::lock(&self.lifecycle.state).abandon();
        }
    }
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod tests;
