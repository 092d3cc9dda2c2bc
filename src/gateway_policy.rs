//! The throttling policy Huawei's API gateway states in a `429 APIGW.0308` answer
//! (`... policy user over ratelimit,limit:3000,time:1 minute`), read as an average rate so
//! that a client can spread a window's allowance instead of spending it in its first
//! seconds.

/// The policy's average rate in requests per second, if `message` states one.
pub(crate) fn per_second(message: &str) -> Option<f64> {
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
    let rate = limit / (count * seconds);
    (rate.is_finite() && rate > 0.0).then_some(rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gateways_wording_is_read_as_an_average_rate() {
        let gateway = "The throttling threshold has been reached: \
                       policy user over ratelimit,limit:3000,time:1 minute";
        assert_eq!(per_second(gateway), Some(50.0));
        assert_eq!(
            per_second("policy ip over ratelimit,limit:20,time:10 second"),
            Some(2.0)
        );
        assert_eq!(per_second("limit:7200,time:2 hours."), Some(1.0));
        for unclear in [
            "The throttling threshold has been reached",
            "limit:,time:1 minute",
            "limit:0,time:1 minute",
            "limit:5,time:0 minute",
            "limit:5,time:1 fortnight",
            "limit:5",
            "limit:-5,time:1 minute",
        ] {
            assert_eq!(per_second(unclear), None, "{unclear}");
        }
    }
}
