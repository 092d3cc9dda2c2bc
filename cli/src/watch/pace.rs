//! Whether the watch keeps its interval, said in words a person acts on: once when the
//! rounds take longer than the interval, again when that changes materially, and once when
//! the interval is held again.

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

#[derive(Debug)]
pub(super) struct Pace {
    interval: Duration,
    /// The round time last said, while the interval is not held.
    said: Option<Duration>,
    /// `(when, polls answered by then)`, over the last [`MEASURED_OVER`].
    answered: VecDeque<(Instant, u64)>,
}

impl Pace {
    pub(super) fn new(interval: Duration) -> Self {
        Self {
            interval,
            said: None,
            answered: VecDeque::new(),
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
        self.judge(round, stats.repositories.total(), accepted)
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
            (true, said)
                if said.is_none_or(|said| {
                    let ratio = round.as_secs_f64() / said.as_secs_f64().max(1e-3);
                    !(1.0 / SLACK..=SLACK).contains(&ratio)
                }) =>
            {
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
}
