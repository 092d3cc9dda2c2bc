//! Figures of a running watch, for health checks, metrics and benchmarks.

use std::time::Duration;

use crate::{Error, NoRetry};

/// Polling figures since the watch started. Counters only grow; `repositories` is now.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct WatchStats {
    /// Polls finished.
    pub polls: u64,
    /// Of those, the polls the service answered: normally, or with an answer of the
    /// repository's own such as 404 (not 429, 5xx, or no answer). Over time, the rate the
    /// service accepts.
    pub answered: u64,
    /// Polls not sent because their call's deadline passed while the client waited for its
    /// own rate limit (a pause the service asked for with `Retry-After`, or a slow limit):
    /// polled again in turn, not counted in `polls` nor as failures.
    pub paced: u64,
    /// Polls that failed, by what failed.
    pub failures: Failures,
    /// New pushes found (baselines not counted).
    pub pushes: u64,
    /// How many repositories are in each state.
    pub repositories: RepositoryStates,
    /// How late polls started after their scheduled time.
    pub lag: LagHistogram,
    /// How long a round takes: the time between two polls of a repository.
    pub round: RoundTime,
    /// The rate the watch's rate limiter allows now, in requests per second; `None` while
    /// nothing was throttled and no ceiling is set. A limit, not a measure: what the service
    /// accepts is `answered` over time.
    pub allowed_rate: Option<f64>,
    /// Throttled answers (429) the rate limiter saw, retries of a poll included.
    pub throttled_answers: u64,
    /// Saves of the state store that succeeded, and that failed.
    pub state_saves: u64,
    /// Saves of the state store that failed.
    pub state_save_failures: u64,
    /// How long the last save took.
    pub last_state_save: Option<Duration>,
    /// The last save of the state store failed (saves are retried at every flush).
    pub state_save_failing: bool,
    /// When the save in progress started, while one is (a save that never ends, on a hung
    /// network file system, say, stops the watch's memory as surely as one that fails).
    pub saving_since: Option<std::time::Instant>,
    /// When the service last answered a poll (normally, or with an answer such as 404), or,
    /// once it has, when a poll last waited out the client's own rate limit (a pause the
    /// service asked for is the watch doing its job): long ago, or never, means the watch
    /// cannot do its job.
    pub last_answered: Option<std::time::Instant>,
    /// When the watch started.
    pub started: Option<std::time::Instant>,
    /// What the answers held beyond the spec, each kind at each JSON path once, with how
    /// many times it was seen ([`Client::drift`](crate::Client::drift)).
    pub drift: Vec<crate::drift::Drift>,
    /// The answers held more kinds of drift than are kept: `drift` lists the first
    /// ([`Client::drift_truncated`](crate::Client::drift_truncated)).
    pub drift_truncated: bool,
}

/// Failed polls by class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Failures {
    /// 4xx answers (429 among them).
    pub status_4xx: u64,
    /// 5xx answers.
    pub status_5xx: u64,
    /// No answer: connection, TLS, timeout.
    pub transport: u64,
    /// Anything else: an answer that could not be read, a credentials failure.
    pub other: u64,
    /// Of the 4xx, the throttled ones (429).
    pub throttled: u64,
    /// Polls whose call was not retried because the client's retry budget was spent.
    pub budget_spent: u64,
}

impl Failures {
    /// All failed polls.
    pub fn total(&self) -> u64 {
        self.status_4xx + self.status_5xx + self.transport + self.other
    }

    pub(super) fn count(&mut self, error: &Error) {
        self.throttled += u64::from(error.status() == Some(429));
        self.budget_spent += u64::from(error.not_retried() == Some(NoRetry::BudgetSpent));
        match (error.status(), error) {
            (Some(400..=499), _) => self.status_4xx += 1,
            (Some(500..=599), _) => self.status_5xx += 1,
            (_, Error::Transport { .. }) => self.transport += 1,
            _ => self.other += 1,
        }
    }
}

/// Repositories by state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RepositoryStates {
    /// Not yet answered normally since the watch started.
    pub unseen: u64,
    /// Answered normally at the last poll.
    pub ok: u64,
    /// Keep giving an answer such as 404 or 403 (reported once), polled at the normal cadence.
    pub answering_error: u64,
    /// In trouble (429, 5xx, transport): polled again after a backoff.
    pub backing_off: u64,
}

impl RepositoryStates {
    /// All repositories watched.
    pub fn total(&self) -> u64 {
        self.unseen + self.ok + self.answering_error + self.backing_off
    }

    pub(super) fn slot(&mut self, state: RepositoryState) -> &mut u64 {
        match state {
            RepositoryState::Unseen => &mut self.unseen,
            RepositoryState::Ok => &mut self.ok,
            RepositoryState::AnsweringError => &mut self.answering_error,
            RepositoryState::BackingOff => &mut self.backing_off,
        }
    }

    /// Moves one repository from `from` to `to`.
    pub(super) fn moved(&mut self, from: Option<RepositoryState>, to: Option<RepositoryState>) {
        if from == to {
            return;
        }
        if let Some(from) = from {
            let slot = self.slot(from);
            *slot = slot.saturating_sub(1);
        }
        if let Some(to) = to {
            *self.slot(to) += 1;
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RepositoryState {
    Unseen,
    Ok,
    AnsweringError,
    BackingOff,
}

/// The time between two polls of a repository, averaged over the last few hundred polls
/// (an exponentially weighted mean): how long a round of the whole watch takes.
#[derive(Clone, Copy, Debug, Default)]
pub struct RoundTime {
    mean: Option<Duration>,
}

impl RoundTime {
    /// The weight of one poll.
    const WEIGHT: f64 = 1.0 / 256.0;

    pub(super) fn record(&mut self, round: Duration) {
        self.mean = Some(match self.mean {
            None => round,
            Some(mean) => mean.mul_f64(1.0 - Self::WEIGHT) + round.mul_f64(Self::WEIGHT),
        });
    }

    /// The mean, once a repository was polled twice.
    pub fn mean(&self) -> Option<Duration> {
        self.mean
    }
}

/// Upper bounds of the lag buckets, in milliseconds.
const LAG_BOUNDS_MS: [u64; 14] = [
    1, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000,
];

/// A histogram of poll lag: how many polls started at most each bound late.
#[derive(Clone, Debug, Default)]
pub struct LagHistogram {
    /// Polls per bucket (not cumulative); the last slot is above every bound.
    counts: [u64; LAG_BOUNDS_MS.len() + 1],
    sum: Duration,
    max: Duration,
}

impl LagHistogram {
    pub(super) fn record(&mut self, lag: Duration) {
        let ms = lag.as_millis();
        let bucket = LAG_BOUNDS_MS.partition_point(|&bound| u128::from(bound) < ms);
        self.counts[bucket] += 1;
        self.sum += lag;
        self.max = self.max.max(lag);
    }

    /// `(upper bound, polls at most that late)`, cumulative, ending with `Duration::MAX` and
    /// every poll.
    pub fn buckets(&self) -> impl Iterator<Item = (Duration, u64)> + '_ {
        let bounds = LAG_BOUNDS_MS
            .iter()
            .map(|&ms| Duration::from_millis(ms))
            .chain([Duration::MAX]);
        bounds.zip(self.counts.iter().scan(0, |total, &n| {
            *total += n;
            Some(*total)
        }))
    }

    /// Polls recorded.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The sum of their lags.
    pub fn sum(&self) -> Duration {
        self.sum
    }

    /// The largest lag.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// An upper bound of the `q` quantile (0 to 1): the bound of the bucket it falls in, or
    /// the largest lag seen when it falls above every bound.
    pub fn quantile(&self, q: f64) -> Duration {
        let rank = (q.clamp(0.0, 1.0) * self.count() as f64).ceil().max(1.0) as u64;
        self.buckets()
            .find(|&(_, below)| below >= rank)
            .map_or(Duration::ZERO, |(bound, _)| bound.min(self.max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_lands_in_the_first_bucket_whose_bound_it_does_not_pass() {
        let mut histogram = LagHistogram::default();
        for ms in [0, 1, 2, 10, 11, 70_000] {
            histogram.record(Duration::from_millis(ms));
        }
        let buckets: Vec<(u128, u64)> = histogram
            .buckets()
            .take(4)
            .map(|(bound, n)| (bound.as_millis(), n))
            .collect();
        assert_eq!(buckets, [(1, 2), (5, 3), (10, 4), (25, 5)]);
        assert_eq!(histogram.buckets().last().unwrap().1, 6);
        assert_eq!(histogram.count(), 6);
        assert_eq!(histogram.max(), Duration::from_secs(70));
        assert_eq!(histogram.quantile(0.5), Duration::from_millis(5));
        assert_eq!(histogram.quantile(1.0), Duration::from_secs(70));
    }

    #[test]
    fn the_round_time_follows_the_polls_slowly() {
        let mut round = RoundTime::default();
        assert_eq!(round.mean(), None);
        round.record(Duration::from_secs(10));
        assert_eq!(round.mean(), Some(Duration::from_secs(10)));
        for _ in 0..2000 {
            round.record(Duration::from_secs(40));
        }
        let mean = round.mean().unwrap().as_secs_f64();
        assert!((mean - 40.0).abs() < 0.1, "{mean}");
    }
}
