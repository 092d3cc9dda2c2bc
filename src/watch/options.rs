//! How a watch polls: interval, concurrency, jitter, baselines, once, backoff cap, and how
//! often it saves its state.

use std::time::Duration;

/// Longer waits are clamped to this, so schedule arithmetic can never overflow.
pub(super) const LONGEST: Duration = Duration::from_secs(365 * 24 * 3600);

/// The most polls in flight: far more than a quota allows, far less than a channel's bound.
const MAX_CONCURRENCY: usize = 4096;

/// How a watch polls.
#[derive(Clone, Debug)]
pub struct WatchOptions {
    pub(super) interval: Duration,
    pub(super) concurrency: usize,
    pub(super) jitter: bool,
    pub(super) baselines: bool,
    pub(super) once: bool,
    pub(super) max_backoff: Duration,
    pub(super) flush_every: Duration,
    pub(super) adaptive_rate: bool,
    pub(super) leadership: Option<super::Leadership>,
    pub(super) hold_until_handled: bool,
    pub(super) hold_baselines: bool,
}

impl Default for WatchOptions {
    /// Every 60 s, 16 polls in flight, first polls spread over the interval, baselines
    /// reported, backoff up to 10 minutes, state saved every second, an adaptive rate limit.
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(60),
            concurrency: 16,
            jitter: true,
            baselines: true,
            once: false,
            max_backoff: Duration::from_secs(600),
            flush_every: Duration::from_secs(1),
            adaptive_rate: true,
            leadership: None,
            hold_until_handled: false,
            hold_baselines: true,
        }
    }
}

impl WatchOptions {
    /// Time between two polls of one repository (at least 1 ms).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval.clamp(Duration::from_millis(1), LONGEST);
        self
    }

    /// Polls in flight at most (1 to 4,096; beyond, clamped): a bound on connections too.
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.clamp(1, MAX_CONCURRENCY);
        self
    }

    /// Spread first polls at random over the interval (default), or poll all at once.
    pub fn jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    /// Report each repository's first observation as a baseline (default) or skip it.
    pub fn baselines(mut self, report: bool) -> Self {
        self.baselines = report;
        self
    }

    /// Poll each repository once, then end the stream.
    pub fn once(mut self, once: bool) -> Self {
        self.once = once;
        self
    }

    /// The longest wait after failures.
    pub fn max_backoff(mut self, max: Duration) -> Self {
        self.max_backoff = max.min(LONGEST);
        self
    }

    /// For a client without a rate limit of its own: pace the polls by an adaptive one
    /// ([`crate::RateLimit::adaptive`], the default), so that a throttled account slows the
    /// whole watch, or not at all.
    pub fn adaptive_rate(mut self, adaptive: bool) -> Self {
        self.adaptive_rate = adaptive;
        self
    }

    /// How often a watch with a store saves what was handled (at least 1 ms): how much a
    /// crash may report again.
    pub fn flush_every(mut self, period: Duration) -> Self {
        self.flush_every = period.clamp(Duration::from_millis(1), LONGEST);
        self
    }

    /// Poll only while `leadership` is held: each request is checked right before it leaves,
    /// so that a fleet's former leader sends nothing once its lease has run out (see
    /// the `postgres` module, feature `postgres`, for the lease).
    pub fn leadership(mut self, leadership: super::Leadership) -> Self {
        self.leadership = Some(leadership);
        self
    }

    /// Once a push (or a reported baseline) of a repository is returned, poll that repository
    /// no more until the consumer has handled the item ([`super::WatchStream::handled`], or
    /// [`super::Deferred`] for an item handled later, such as a webhook delivery); the other
    /// repositories go on at their pace. The service then never serves a newer push of a
    /// repository whose last one the consumer still works on, so no push it served is
    /// superseded unhandled, and the consumer holds at most one item per repository. Off by
    /// default.
    ///
    /// With a store that keeps pending items ([`super::WatchStore::record_pending`], as
    /// [`super::StateFile`] and the PostgreSQL store do), each held item is recorded before it
    /// is returned, and one the consumer had not handled or given up when the watch ended is
    /// returned again by the next watch, before anything newer of its repository (one at a
    /// time per repository): a push under way when the process died is not lost to a newer
    /// push made meanwhile. A [`WatchOptions::once`] watch returns only the first of a
    /// repository's earlier items, and does not poll it.
    pub fn hold_until_handled(mut self, hold: bool) -> Self {
        self.hold_until_handled = hold;
        self
    }

    /// With [`WatchOptions::hold_until_handled`]: hold reported baselines too (the default),
    /// or only pushes, for a consumer that handles baselines at once.
    pub fn hold_baselines(mut self, hold: bool) -> Self {
        self.hold_baselines = hold;
        self
    }
}
