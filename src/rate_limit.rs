//! The client-side rate limiter: throttling is the account's, not one call's, so a `429`
//! slows every request of a client and its clones.
//!
//! Requests leave in the order they asked, spaced by `1 / rate` on average (a virtual
//! schedule, GCRA: a request may run up to [`TOLERANCE`] ahead of it, so that the timer's
//! millisecond resolution does not cap the rate near 1,000 requests/s). The rate
//! follows CUBIC, as the AWS SDKs' adaptive mode does: unlimited (or the ceiling) until the
//! first `429`; then cut to 70% of the rate in use, and grown back along a cubic curve that
//! returns to the rate of the last cut after `K = cbrt(W·0.3/0.4)` seconds (about 3 s at 50
//! requests/s, 7 s at 500), stays flat near it, then probes above. Why CUBIC rather than
//! AIMD: it spends most of its time just under the last rate that was throttled, so it uses
//! a quota well with few `429`s, and its recovery time grows only as the cube root of the
//! rate, where a fixed additive step would take minutes at hundreds of requests a second.
//! Only a `429` to a request sent after the last cut cuts again: the answers to requests
//! already in flight when the rate was cut say nothing new.
//!
//! The limiter remembers what was actually sent, as AWS's adaptive mode does: the send rate
//! is measured in half-second buckets (smoothed), a cut is taken from the lesser of the rate
//! allowed and the rate measured, and after a cut the rate never goes above twice the rate
//! measured. A quiet stretch (a pause the service asked for, a watch between rounds) thus
//! starts again slowly, doubling about every second, instead of at whatever the cubic curve
//! reached meanwhile. When the gateway states its policy in a throttled answer
//! (`limit:3000,time:1 minute`), the limiter never goes above its average, so that a
//! window's allowance is spread over the window rather than spent in its first seconds;
//! policies are kept by dimension, and lapse ([`policies`]). Every rate it is given is a
//! [`Rate`]: nothing absurd gets in.

use std::{sync::Mutex, time::Duration};

use tokio::time::{Instant, sleep_until};

use crate::{Error, sync::lock};

pub(crate) mod gateway_policy;
mod policies;
mod rate;

use gateway_policy::Policy;
use policies::Policies;
pub use rate::{Rate, RateError};

/// The rate of the cut: what is kept of the rate when a `429` arrives.
const BETA: f64 = 0.7;
/// CUBIC's scaling constant (requests/s per s³).
const SCALE: f64 = 0.4;
/// The slowest the limiter ever goes, in requests per second.
const MIN_RATE: f64 = 0.5;
/// How far ahead of its slot a request may leave.
const TOLERANCE: Duration = Duration::from_millis(20);
/// How long the send rate is measured over, per bucket.
const BUCKET: Duration = Duration::from_millis(500);
/// The weight of the last bucket in the measured rate.
const SMOOTHING: f64 = 0.8;
/// After a cut, the rate allowed is at most this many times the rate measured.
const GROWTH: f64 = 2.0;

/// How fast a client may send, shared by its clones
/// (`ClientBuilder::rate_limit`).
///
/// ```
/// use codearts_repo::RateLimit;
/// // Slow down on throttling, never above 50 requests/s (the account's known quota).
/// let limit = RateLimit::adaptive().max_rate(50.0);
/// # let _ = limit;
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    adaptive: bool,
    max_rate: Option<f64>,
    resumed: Learned,
}

/// What an adaptive limiter learned of the account: the rate it allowed, and the policy the
/// gateway stated. A fleet's next active watcher starts from its predecessor's
/// ([`RateLimit::resume`]) rather than from "unlimited".
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Learned {
    /// The rate allowed, in requests per second (`None`: unlimited so far).
    pub allowed_rate: Option<f64>,
    /// The average rate of the policy the gateway stated, in requests per second.
    pub stated_policy: Option<f64>,
}

impl Learned {
    /// What was learned: `allowed_rate` and `stated_policy` in requests per second.
    pub fn new(allowed_rate: Option<f64>, stated_policy: Option<f64>) -> Self {
        Self {
            allowed_rate,
            stated_policy,
        }
    }
}

impl RateLimit {
    /// No ceiling until the service throttles (`429`); then the rate is cut and grown back
    /// as answers succeed (CUBIC).
    pub fn adaptive() -> Self {
        Self {
            adaptive: true,
            max_rate: None,
            resumed: Learned::default(),
        }
    }

    /// Never more than `per_second` requests a second, whatever the answers.
    pub fn fixed(per_second: f64) -> Self {
        Self {
            adaptive: false,
            max_rate: Some(per_second),
            resumed: Learned::default(),
        }
    }

    /// A ceiling in requests per second (an account's known quota), checked by
    /// `ClientBuilder::build`: a [`Rate`], from one a day to a million a second.
    pub fn max_rate(mut self, per_second: f64) -> Self {
        self.max_rate = Some(per_second);
        self
    }

    /// An adaptive limit that starts where `learned` ended, as just after a throttled
    /// answer at its rate (at 70% of it, grown back along the curve) and under its stated
    /// policy (which lapses as a stated one does). Rates that are not numbers above 0 are
    /// ignored; others are brought within what a [`Rate`] can be.
    pub fn resume(mut self, learned: Learned) -> Self {
        // Kept within what the limiter can pace (a stored row may say anything): the rate
        // allowed never below the curve's floor, a policy within a `Rate`'s range.
        let usable = |rate: Option<f64>| rate.filter(|rate| rate.is_finite() && *rate > 0.0);
        self.resumed = Learned {
            allowed_rate: usable(learned.allowed_rate)
                .map(|rate| rate.clamp(MIN_RATE, Rate::FASTEST.per_second())),
            stated_policy: usable(learned.stated_policy)
                .map(|rate| Rate::clamped(rate).per_second()),
        };
        self
    }

    pub(crate) fn check(self) -> Result<Self, Error> {
        match self.max_rate.map(Rate::new) {
            Some(Err(why)) => Err(Error::invalid("max_rate", why.to_string())),
            _ => Ok(self),
        }
    }
}

/// A rate limit in force, shared by a client's clones (and a watch's polls).
#[derive(Debug)]
pub(crate) struct RateLimiter {
    config: RateLimit,
    /// Whose turn it is: requests go in the order they asked (tokio's mutex is fair).
    turn: tokio::sync::Mutex<()>,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// The slot of the next request on the virtual schedule.
    next_slot: Option<Instant>,
    /// No request leaves before this (a `Retry-After` the service sent).
    paused_until: Option<Instant>,
    /// The last cut, which the rate grows back from.
    cut: Option<Cut>,
    /// Requests sent in the current bucket, and when it began.
    bucket: (Instant, u32),
    /// The send rate of the last buckets, smoothed (requests/s); 0 before the first.
    measured: f64,
    /// The policies the service stated, by dimension.
    policies: Policies,
    /// Whether a policy pacing cannot honour was noted already (once per limiter).
    noted_absurd: bool,
    throttled: u64,
}

#[derive(Clone, Copy, Debug)]
struct Cut {
    at: Instant,
    /// The rate in use when it was throttled.
    w_max: f64,
    /// Seconds for the curve to come back to `w_max`.
    k: f64,
}

impl Cut {
    fn new(at: Instant, w_max: f64) -> Self {
        Self {
            at,
            w_max,
            k: (w_max * (1.0 - BETA) / SCALE).cbrt(),
        }
    }

    fn rate_at(&self, now: Instant) -> f64 {
        let t = now.saturating_duration_since(self.at).as_secs_f64();
        SCALE * (t - self.k).powi(3) + self.w_max
    }
}

impl RateLimiter {
    pub(crate) fn new(config: RateLimit) -> Self {
        let now = Instant::now();
        let resumed = config.resumed.allowed_rate.filter(|_| config.adaptive);
        let mut policies = Policies::default();
        if let Some(rate) = config.resumed.stated_policy.filter(|_| config.adaptive) {
            let resumed = Policy {
                dimension: "resumed".into(),
                rate: Rate::clamped(rate),
                window: Duration::ZERO,
            };
            policies.stated(resumed, now);
        }
        Self {
            config,
            turn: tokio::sync::Mutex::new(()),
            state: Mutex::new(State {
                next_slot: None,
                paused_until: None,
                cut: resumed.map(|rate| Cut::new(now, rate.max(MIN_RATE))),
                bucket: (now, 0),
                measured: resumed.unwrap_or(0.0),
                policies,
                noted_absurd: false,
                throttled: 0,
            }),
        }
    }

    /// What this limiter learned so far: the rate the curve allows now once the service
    /// throttled, and the policy it stated (the caller's ceiling is the caller's, not
    /// learned).
    pub(crate) fn learned(&self) -> Learned {
        let state = lock(&self.state);
        let now = Instant::now();
        let unlimited = RateLimit {
            max_rate: None,
            ..self.config
        };
        let allowed = state.rate(unlimited, now);
        Learned {
            allowed_rate: allowed.filter(|_| self.config.adaptive && state.cut.is_some()),
            stated_policy: state.policies.strictest(now).map(Rate::per_second),
        }
    }

    pub(crate) fn config(&self) -> RateLimit {
        self.config
    }

    /// Waits for this request's turn and slot; returns when it was sent, for
    /// [`RateLimiter::throttled`].
    pub(crate) async fn acquire(&self) -> Instant {
        let _turn = self.turn.lock().await;
        // The rate may change while this request waits (a cut, a `Retry-After`): look again
        // after each wait.
        loop {
            let next = lock(&self.state).next_send(self.config, Instant::now());
            match next {
                Some(at) => sleep_until(at).await,
                None => break,
            }
        }
        let now = Instant::now();
        lock(&self.state).sent(self.config, now);
        now
    }

    /// Whether a pause the service asked for (`Retry-After`) lasted into the stretch since
    /// `since`: a wait then was the service's request, not the client's own slowness.
    pub(crate) fn paused_since(&self, since: Instant) -> bool {
        lock(&self.state)
            .paused_until
            .is_some_and(|until| until >= since)
    }

    /// A request sent at `sent` was throttled; `pause` is the wait the service asked for.
    pub(crate) fn throttled(&self, sent: Instant, pause: Option<Duration>) {
        self.throttled_at(sent, pause, Instant::now());
    }

    fn throttled_at(&self, sent: Instant, pause: Option<Duration>, now: Instant) {
        let mut state = lock(&self.state);
        state.throttled += 1;
        if let Some(until) = pause.and_then(|wait| now.checked_add(wait)) {
            state.paused_until = Some(state.paused_until.map_or(until, |p| p.max(until)));
        }
        if !self.config.adaptive || state.cut.is_some_and(|cut| sent < cut.at) {
            return;
        }
        // What was sent, unless the rate allowed was lower: a rate never used is no
        // measure of what the service takes.
        let measured = state.measured(now);
        let in_use = state
            .rate(self.config, now)
            .map_or(measured, |allowed| allowed.min(measured));
        state.cut = Some(Cut::new(now, in_use.max(MIN_RATE)));
    }

    /// The service stated a policy: an adaptive limiter stays under the strictest one in
    /// force.
    pub(crate) fn told(&self, policy: Policy) {
        if self.config.adaptive {
            lock(&self.state).policies.stated(policy, Instant::now());
        }
    }

    /// The service stated a policy no pacing can honour: ignored, and noted once.
    pub(crate) fn told_absurd(&self, why: RateError) {
        let mut state = lock(&self.state);
        if !std::mem::replace(&mut state.noted_absurd, true) {
            tracing::warn!(
                target: "codearts_repo::pacing",
                "the gateway stated a throttling policy of {:e} requests per second, which no \
                 pacing can honour: ignored",
                why.given()
            );
        }
    }

    /// The rate allowed now in requests/s, `None` while unlimited.
    pub(crate) fn allowed_rate(&self) -> Option<f64> {
        lock(&self.state).rate(self.config, Instant::now())
    }

    /// Throttled answers seen.
    pub(crate) fn throttled_count(&self) -> u64 {
        lock(&self.state).throttled
    }
}

impl State {
    fn rate(&self, config: RateLimit, now: Instant) -> Option<f64> {
        // The floor is the curve's (a cut never stalls the client); a ceiling the caller set
        // or the gateway stated is kept to the letter, however low.
        let adaptive = self.cut.filter(|_| config.adaptive).map(|cut| {
            // Grown back from what was sent, not from time alone.
            cut.rate_at(now)
                .min(GROWTH * self.measured(now))
                .max(MIN_RATE)
        });
        let policy = self
            .policies
            .strictest(now)
            .filter(|_| config.adaptive)
            .map(Rate::per_second);
        // Checked at build; brought within range whatever the path here.
        let ceiling = config.max_rate.map(|rate| Rate::clamped(rate).per_second());
        [adaptive, ceiling, policy]
            .into_iter()
            .flatten()
            .reduce(f64::min)
    }

    /// When the next request may leave, if not now.
    fn next_send(&self, config: RateLimit, now: Instant) -> Option<Instant> {
        let spaced = self
            .next_slot
            .filter(|_| self.rate(config, now).is_some())
            .map(|slot| slot.checked_sub(TOLERANCE).unwrap_or(slot));
        spaced
            .into_iter()
            .chain(self.paused_until)
            .max()
            .filter(|at| *at > now)
    }

    fn sent(&mut self, config: RateLimit, now: Instant) {
        // Measured first: the slot after a quiet stretch follows what was sent in it.
        if now.saturating_duration_since(self.bucket.0) >= BUCKET {
            self.measured = self.measured(now);
            self.bucket = (now, 0);
        }
        self.bucket.1 = self.bucket.1.saturating_add(1);
        let slot = self.next_slot.map_or(now, |slot| slot.max(now));
        self.next_slot = self.rate(config, now).map(|rate| slot + spacing(rate));
    }

    /// The send rate, smoothed over the last buckets, the current one counted once it is a
    /// bucket long (so that one request is not a rate of thousands) and however long it has
    /// been: a quiet stretch lowers it.
    fn measured(&self, now: Instant) -> f64 {
        let (start, count) = self.bucket;
        let elapsed = now.saturating_duration_since(start);
        let current = f64::from(count) / elapsed.max(BUCKET).as_secs_f64();
        match (self.measured, elapsed >= BUCKET) {
            (0.0, _) => current,
            (measured, true) => SMOOTHING * current + (1.0 - SMOOTHING) * measured,
            (measured, false) => measured,
        }
    }
}

/// The time between two requests at `rate` (at most a day: every rate here is a [`Rate`]'s,
/// or the curve's above its floor).
fn spacing(rate: f64) -> Duration {
    Rate::clamped(rate).spacing()
}

#[cfg(test)]
mod tests;
