//! The throttling policy Huawei's API gateway states in a `429 APIGW.0308` answer
//! (`... policy user over ratelimit,limit:3000,time:1 minute`): its dimension (user, ip, api,
//! app) and its average rate, so that a client can spread a window's allowance instead of
//! spending it in its first seconds.

use std::time::Duration;

use super::{Rate, RateError};

/// A policy the gateway stated.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Policy {
    /// What it counts by (`user`, `ip`, ...); `unnamed` when the answer does not say.
    pub(crate) dimension: String,
    pub(crate) rate: Rate,
    /// The window it counts over.
    pub(crate) window: Duration,
}

/// The policy `message` states: `None` when it states none that can be read, an error when
/// its rate is outside what pacing honours (`limit:1,time:1e30 day`).
pub(crate) fn stated(message: &str) -> Option<Result<Policy, RateError>> {
    let rest = &message[message.find("limit:")? + "limit:".len()..];
    let (limit, rest) = rest.split_once(',')?;
    let limit: f64 = limit.trim().parse().ok()?;
    let time = rest.trim_start().strip_prefix("time:")?.trim();
    let (count, unit) = time.split_once(' ').unwrap_or((time, "second"));
    let count: f64 = count.trim().parse().ok()?;
    let unit: String = unit.chars().take_while(char::is_ascii_alphabetic).collect();
    let seconds = match unit.trim_end_matches('s') {
        "second" | "sec" => 1.0,
        "minute" | "min" => 60.0,
        "hour" => 3600.0,
        "day" => 86_400.0,
        _ => return None,
    };
    let window = Duration::try_from_secs_f64(count * seconds).unwrap_or(Duration::MAX);
    let dimension = message
        .find("policy ")
        .and_then(|at| message[at + "policy ".len()..].split_whitespace().next())
        .filter(|word| *word != "over")
        .unwrap_or("unnamed")
        .chars()
        .take(16)
        .collect();
    Some(Rate::new(limit / (count * seconds)).map(|rate| Policy {
        dimension,
        rate,
        window,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(message: &str) -> Option<f64> {
        Some(stated(message)?.ok()?.rate.per_second())
    }

    #[test]
    fn the_gateways_wording_is_read_as_a_dimension_and_an_average_rate() {
        let gateway = "The throttling threshold has been reached: \
                       policy user over ratelimit,limit:3000,time:1 minute";
        let policy = stated(gateway).unwrap().unwrap();
        assert_eq!(policy.dimension, "user");
        assert_eq!(policy.rate.per_second(), 50.0);
        assert_eq!(policy.window, Duration::from_secs(60));
        let ip = stated("policy ip over ratelimit,limit:20,time:10 second");
        assert_eq!(ip.unwrap().unwrap().dimension, "ip");
        assert_eq!(
            rate("policy ip over ratelimit,limit:20,time:10 second"),
            Some(2.0)
        );
        assert_eq!(rate("limit:7200,time:2 hours."), Some(1.0));
        assert_eq!(
            stated("limit:1,time:1 hour").unwrap().unwrap().dimension,
            "unnamed"
        );
        for unclear in [
            "The throttling threshold has been reached",
            "limit:,time:1 minute",
            "limit:5,time:1 fortnight",
            "limit:5",
        ] {
            assert_eq!(stated(unclear), None, "{unclear}");
        }
    }

    /// Numbers that read but make no rate pacing can honour are said to be so, for a note.
    #[test]
    fn an_absurd_policy_is_an_error_not_a_rate() {
        for absurd in [
            "limit:0,time:1 minute",
            "limit:5,time:0 minute",
            "limit:-5,time:1 minute",
            "limit:1,time:1e30 day",
            "limit:1e30,time:1 second",
        ] {
            assert!(matches!(stated(absurd), Some(Err(_))), "{absurd}");
        }
    }
}
