//! The policies the gateway stated, kept by dimension. Huawei's gateway throttles per user,
//! IP, API and app, so a client may hear several: the limiter stays under the strictest one
//! still in force. A policy lapses once the service has not stated it for [`LAPSE`] (or two
//! of its windows, when longer), so that a quota raised meanwhile gets used: the limiter then
//! probes upward again, and the next `429` states the policy anew. A day at most, whatever
//! the window.

use std::time::Duration;

use tokio::time::Instant;

use super::Rate;
use super::gateway_policy::Policy;

/// How long a policy holds without being stated again.
pub(crate) const LAPSE: Duration = Duration::from_secs(10 * 60);
/// However long its window, a policy holds a day at most unless stated again: a service
/// that states `limit:400,time:365 day` does not pin the limiter for two years.
const LONGEST_HOLD: Duration = Duration::from_secs(24 * 3600);
/// Dimensions kept at most: the gateway has four; a service that names more is not trusted
/// with memory.
const MOST: usize = 8;

#[derive(Debug, Default)]
pub(crate) struct Policies {
    stated: Vec<Stated>,
}

#[derive(Debug)]
struct Stated {
    dimension: String,
    rate: Rate,
    until: Instant,
}

impl Policies {
    /// The service stated `policy` at `now`: it replaces the one of its dimension.
    pub(crate) fn stated(&mut self, policy: Policy, now: Instant) {
        let holds = LAPSE.max(policy.window.saturating_mul(2)).min(LONGEST_HOLD);
        let until = now + holds;
        self.stated
            .retain(|s| s.dimension != policy.dimension && s.until > now);
        if self.stated.len() >= MOST {
            self.stated.sort_by_key(|s| s.until);
            self.stated.remove(0);
        }
        self.stated.push(Stated {
            dimension: policy.dimension,
            rate: policy.rate,
            until,
        });
    }

    /// The strictest policy in force at `now`.
    pub(crate) fn strictest(&self, now: Instant) -> Option<Rate> {
        self.stated
            .iter()
            .filter(|s| s.until > now)
            .map(|s| s.rate)
            .min_by(|a, b| a.per_second().total_cmp(&b.per_second()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(dimension: &str, per_second: f64, window: Duration) -> Policy {
        Policy {
            dimension: dimension.into(),
            rate: Rate::new(per_second).unwrap(),
            window,
        }
    }

    #[test]
    fn the_strictest_dimension_holds_and_a_dimension_replaces_only_itself() {
        let (mut policies, now) = (Policies::default(), Instant::now());
        let minute = Duration::from_secs(60);
        policies.stated(policy("ip", 2.0, Duration::from_secs(10)), now);
        policies.stated(policy("user", 50.0, minute), now);
        assert_eq!(policies.strictest(now), Some(Rate::new(2.0).unwrap()));
        policies.stated(policy("ip", 5.0, Duration::from_secs(10)), now);
        assert_eq!(policies.strictest(now), Some(Rate::new(5.0).unwrap()));
    }

    #[test]
    fn a_policy_lapses_when_not_stated_again() {
        let (mut policies, now) = (Policies::default(), Instant::now());
        policies.stated(policy("ip", 2.0, Duration::from_secs(10)), now);
        policies.stated(policy("user", 1.0, Duration::from_secs(3600)), now);
        let later = now + LAPSE;
        // The hourly policy holds two windows; the other lapsed at ten minutes.
        assert_eq!(policies.strictest(later), Some(Rate::new(1.0).unwrap()));
        policies.stated(policy("user", 1.0, Duration::from_secs(3600)), later);
        assert!(
            policies
                .strictest(later + Duration::from_secs(7199))
                .is_some()
        );
        assert_eq!(policies.strictest(later + Duration::from_secs(7200)), None);
        let just_before = now + LAPSE - Duration::from_millis(1);
        let mut fresh = Policies::default();
        fresh.stated(policy("ip", 2.0, Duration::from_secs(10)), now);
        assert!(fresh.strictest(just_before).is_some());
        assert!(fresh.strictest(now + LAPSE).is_none());
    }

    #[test]
    fn a_policy_with_a_long_window_holds_a_day_at_most() {
        let (mut policies, now) = (Policies::default(), Instant::now());
        let year = Duration::from_secs(365 * 24 * 3600);
        policies.stated(policy("user", 400.0 / year.as_secs_f64(), year), now);
        assert!(
            policies
                .strictest(now + LONGEST_HOLD - Duration::from_millis(1))
                .is_some()
        );
        assert_eq!(policies.strictest(now + LONGEST_HOLD), None);
        policies.stated(policy("user", 1.0, Duration::MAX), now);
        assert_eq!(
            policies.strictest(now + LONGEST_HOLD),
            None,
            "no overflow either"
        );
    }

    #[test]
    fn at_most_eight_dimensions_are_kept() {
        let (mut policies, now) = (Policies::default(), Instant::now());
        for n in 0..100u32 {
            let at = now + Duration::from_millis(n.into());
            policies.stated(
                policy(&format!("d{n}"), 1.0 + f64::from(n), Duration::ZERO),
                at,
            );
        }
        assert_eq!(policies.stated.len(), MOST);
        assert_eq!(policies.strictest(now), Some(Rate::new(93.0).unwrap()));
    }
}
