//! Whether the watch keeps its interval, said in words a person acts on: once when the
//! rounds take longer than the interval, again when that changes materially, and once when
//! the interval is held again; each only once the round time has settled, so that a watch
//! slowing down at its start says one figure, not every figure it passes through.

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

use codearts_repo::watch::WatchStats;

/// A round this much longer than the interval is "not held"; a change of this ratio in the
/// round time is worth saying again.
const SLACK: f64 = 1.25;
/// How long the accepted rate is measured over.
const MEASURED_OVER: Duration = Duration::from_secs(60);
/// The round time has settled once it has stayed within this ratio of a value for
/// [`SETTLED_FOR`].
const STEADY: f64 = 1.1;
const SETTLED_FOR: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub(super) struct Pace {
    interval: Duration,
    /// The round time last said, while the interval is not held.
    said: Option<Duration>,
    /// `(when, polls answered by then)`, over the last [`MEASURED_OVER`].
    answered: VecDeque<(Instant, u64)>,
    /// Since when the round time has stayed within [`STEADY`] of the value it had then.
    steady: Option<(Instant, Duration)>,
}

impl Pace {
    pub(super) fn new(interval: Duration) -> Self {
        Self {
            interval,
            said: None,
            answered: VecDeque::new(),
            steady: None,
        }
    }

    /// What the service accepted lately, in requests per second: polls it answered over
    /// time, measured (never the rate a limiter allows, which no service may have taken).
    fn accepted(&mut self, answered: u64, now: Instant) -> Option<f64> {
        self.answered.push_back((now, answered));
        while self
            .answered
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) > MEASURED_OVER)
        {
            self.answered.pop_front();
        }
        let (since, before) = *self.answered.front()?;
        let seconds = now.saturating_duration_since(since).as_secs_f64();
        (seconds >= 1.0).then(|| answered.saturating_sub(before) as f64 / seconds)
    }

    pub(super) fn check(&mut self, stats: &WatchStats, now: Instant) -> Option<String> {
        let accepted = self.accepted(stats.answered, now);
        let round = stats.round.mean()?;
        if !self.settled(round, now) {
            return None;
        }
        self.judge(round, stats.repositories.total(), accepted)
    }

    /// Whether `round` has stayed within [`STEADY`] of one value for [`SETTLED_FOR`].
    fn settled(&mut self, round: Duration, now: Instant) -> bool {
        let (since, from) = match self.steady {
            Some((since, from)) if within(round, from, STEADY) => (since, from),
            _ => (now, round),
        };
        self.steady = Some((since, from));
        now.saturating_duration_since(since) >= SETTLED_FOR
    }

    /// What to say of a round time, given the rate accepted if measured.
    fn judge(
        &mut self,
        round: Duration,
        repositories: u64,
        accepted: Option<f64>,
    ) -> Option<String> {
        let slow = round.as_secs_f64() > self.interval.as_secs_f64() * SLACK;
        let interval = humantime::format_duration(self.interval);
        match (slow, self.said) {
            (true, said) if said.is_none_or(|said| !within(round, said, SLACK)) => {
                self.said = Some(round);
                // Measured: answers over the last minute, or else the rounds' own pace.
                let accepted = accepted.unwrap_or(repositories as f64 / round.as_secs_f64());
                Some(format!(
                    "interval {interval} cannot be held: about {accepted:.0} requests/s \
                     accepted, a round of {repositories} repositories takes about {}",
                    seconds(round)
                ))
            }
            (false, Some(_)) => {
                self.said = None;
                Some(format!(
                    "interval {interval} is held again (a round takes about {})",
                    seconds(round)
                ))
            }
            _ => None,
        }
    }
}

/// Whether `a` is within `ratio` of `b`, either way.
fn within(a: Duration, b: Duration, ratio: f64) -> bool {
    let ratio_of = a.as_secs_f64() / b.as_secs_f64().max(1e-3);
    (1.0 / ratio..=ratio).contains(&ratio_of)
}

fn seconds(duration: Duration) -> String {
    match duration.as_secs_f64() {
        s if s < 10.0 => format!("{s:.1}s"),
        s => format!("{s:.0}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A limiter may allow tens of thousands of requests a second during a pause; the line
    /// says what the service answered.
    #[test]
    fn the_rate_said_is_the_answers_measured_over_the_last_minute() {
        let mut pace = Pace::new(Duration::from_secs(1));
        let start = Instant::now();
        assert_eq!(pace.accepted(0, start), None, "nothing measured yet");
        let mut accepted = None;
        for second in 1..=90 {
            // 2 answers a second, then none at all for the last 30 s (a pause).
            let answered = 2 * second.min(60);
            accepted = pace.accepted(answered, start + Duration::from_secs(second));
            if second == 60 {
                assert_eq!(accepted, Some(2.0));
            }
        }
        assert_eq!(accepted, Some(1.0), "60 answers in the last minute");
        let line = pace
            .judge(Duration::from_secs(26), 50, accepted)
            .expect("a round of 26 s does not hold 1 s");
        assert_eq!(
            line,
            "interval 1s cannot be held: about 1 requests/s accepted, a round of 50 \
             repositories takes about 26s"
        );
        // Unmeasured: the rounds' own pace.
        let mut pace = Pace::new(Duration::from_secs(1));
        let line = pace.judge(Duration::from_secs(25), 50, None).unwrap();
        assert!(line.contains("about 2 requests/s accepted"), "{line}");
    }

    /// What the line says of a round time observed once a second, `rounds` in seconds.
    fn lines(pace: &mut Pace, start: Instant, rounds: &[f64]) -> Vec<String> {
        rounds
            .iter()
            .enumerate()
            .filter_map(|(second, &round)| {
                let now = start + Duration::from_secs(second as u64);
                let round = Duration::from_secs_f64(round);
                pace.settled(round, now)
                    .then(|| pace.judge(round, 200, None))
                    .flatten()
            })
            .collect()
    }

    /// A watch slowing down at its start (1.3 s, 1.8 s, 2.8 s, 4.1 s, 5.2 s a round, one a
    /// second) says one figure once it has settled; again only when it changed materially,
    /// and once when the interval is held again.
    #[test]
    fn the_line_is_said_once_per_settled_change() {
        let mut pace = Pace::new(Duration::from_secs(1));
        let start = Instant::now();
        let mut rounds = vec![1.3, 1.8, 2.8, 4.1, 5.2, 5.4, 5.5, 5.5];
        rounds.extend([5.6; 10]);
        let said = lines(&mut pace, start, &rounds);
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(
            said[0].ends_with("a round of 200 repositories takes about 5.6s"),
            "{said:?}"
        );

        // Within the slack, then a material change; then held again.
        let mut rounds = vec![6.0; 10];
        rounds.extend([9.0; 10]);
        rounds.extend([0.9; 10]);
        let said = lines(&mut pace, start + Duration::from_secs(20), &rounds);
        assert_eq!(said.len(), 2, "{said:?}");
        assert!(said[0].ends_with("takes about 9.0s"), "{said:?}");
        assert_eq!(
            said[1],
            "interval 1s is held again (a round takes about 0.9s)"
        );
    }
}
