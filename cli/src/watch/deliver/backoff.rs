//! When a failed delivery is tried again: capped exponential backoff with jitter, and never
//! sooner than the receiver's `Retry-After`.

use std::time::{Duration, SystemTime};

/// The first retry's wait, before jitter.
const FIRST: Duration = Duration::from_secs(1);

/// The longest `Retry-After` honoured: a receiver asking for more is asked again after this.
pub(crate) const LONGEST_ASKED: Duration = Duration::from_secs(3600);

/// The wait after the `failures`-th failure in a row (from 1): 1 s doubling per failure, at
/// most `cap`, of which a random half ("equal jitter", so that deliveries failed together
/// do not come back together), and at least what `Retry-After` asked (up to an hour).
pub(crate) fn wait(
    failures: u32,
    asked: Option<Duration>,
    cap: Duration,
    rng: &mut fastrand::Rng,
) -> Duration {
    let doubled = FIRST.saturating_mul(1 << failures.saturating_sub(1).min(20));
    let ceiling = doubled.min(cap);
    let half = ceiling / 2;
    let jitter =
        Duration::from_nanos(rng.u64(0..=u64::try_from(half.as_nanos()).unwrap_or(u64::MAX)));
    (ceiling - half + jitter).max(asked.unwrap_or_default().min(LONGEST_ASKED))
}

/// `Retry-After` as seconds or an HTTP date (RFC 9110 §10.2.3); a date past is no wait.
pub(crate) fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAP: Duration = Duration::from_secs(300);

    /// The bounds of each failure's wait, over many draws: [ceiling/2, ceiling], the ceiling
    /// doubling from 1 s and stopping at the cap.
    #[test]
    fn waits_double_from_a_second_up_to_the_cap_with_half_of_it_random() {
        let mut rng = fastrand::Rng::with_seed(7);
        for (failures, ceiling) in [(1, 1), (2, 2), (3, 4), (9, 256), (10, 300), (40, 300)] {
            let ceiling = Duration::from_secs(ceiling);
            let draws: Vec<_> = (0..1000)
                .map(|_| wait(failures, None, CAP, &mut rng))
                .collect();
            let (low, high) = (draws.iter().min().unwrap(), draws.iter().max().unwrap());
            assert!(
                *low >= ceiling / 2 && *high <= ceiling,
                "{failures}: {low:?}..{high:?}"
            );
            // The jitter spreads them: not all the same.
            assert!(high > low, "{failures}");
        }
        assert_eq!(wait(u32::MAX, None, CAP, &mut rng).max(CAP), CAP);
    }

    #[test]
    fn retry_after_is_a_floor_up_to_an_hour() {
        let mut rng = fastrand::Rng::with_seed(7);
        let asked = Duration::from_secs(120);
        assert_eq!(
            wait(1, Some(asked), CAP, &mut rng),
            asked,
            "more than the backoff"
        );
        assert!(wait(9, Some(Duration::from_secs(1)), CAP, &mut rng) >= Duration::from_secs(128));
        let day = Duration::from_secs(86_400);
        assert_eq!(wait(1, Some(day), CAP, &mut rng), LONGEST_ASKED);
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(retry_after(" 3 ", now), Some(Duration::from_secs(3)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(retry_after(&later, now), Some(Duration::from_secs(30)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("-1", now), None);
    }
}
