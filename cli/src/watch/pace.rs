//! Whether the watch keeps its interval, said in words a person acts on: once when the
//! rounds take longer than the interval, again when that changes materially, and once when
//! the interval is held again.

use std::time::Duration;

use codearts_repo::watch::WatchStats;

/// A round this much longer than the interval is "not held"; a change of this ratio in the
/// round time is worth saying again.
const SLACK: f64 = 1.25;

#[derive(Debug)]
pub(super) struct Pace {
    interval: Duration,
    /// The round time last said, while the interval is not held.
    said: Option<Duration>,
}

impl Pace {
    pub(super) fn new(interval: Duration) -> Self {
        Self {
            interval,
            said: None,
        }
    }

    pub(super) fn check(&mut self, stats: &WatchStats) -> Option<String> {
        let round = stats.round.mean()?;
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
                let repositories = stats.repositories.total();
                let accepted = stats
                    .allowed_rate
                    .unwrap_or(repositories as f64 / round.as_secs_f64());
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
