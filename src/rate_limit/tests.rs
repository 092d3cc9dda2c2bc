//! The limiter on a simulated clock: sends and answers at chosen instants.

use super::*;

/// A policy the gateway states for `dimension`: `per_second` on average over a minute.
fn policy(dimension: &str, per_second: f64) -> Policy {
    Policy {
        dimension: dimension.into(),
        rate: Rate::new(per_second).unwrap(),
        window: Duration::from_secs(60),
    }
}

#[test]
fn the_curve_starts_at_the_cut_and_comes_back_to_the_throttled_rate_after_k() {
    let at = Instant::now();
    let cut = Cut::new(at, 50.0);
    assert!((cut.rate_at(at) - 35.0).abs() < 1e-9);
    let k = Duration::from_secs_f64(cut.k);
    assert!((cut.rate_at(at + k) - 50.0).abs() < 1e-9);
    assert!(cut.rate_at(at + k + Duration::from_secs(2)) > 50.0);
    assert!((cut.k - 3.347).abs() < 0.01, "{}", cut.k);
}

#[test]
fn a_bad_ceiling_is_refused_naming_the_field() {
    for rate in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-20, 2e6] {
        let error = RateLimit::fixed(rate).check().unwrap_err().to_string();
        assert!(error.starts_with("invalid max_rate:"), "{error}");
        assert!(error.contains("from one a day"), "{error}");
    }
    assert!(RateLimit::adaptive().max_rate(0.1).check().is_ok());
    assert!(RateLimit::fixed(1.0 / 86_400.0).check().is_ok());
}

/// Sends as fast as the limiter lets, from `start` until `until`; returns the send times.
fn send_until(limiter: &RateLimiter, start: Instant, until: Instant) -> Vec<Instant> {
    let mut state = lock(&limiter.state);
    let (mut now, mut sent) = (start, Vec::new());
    while now < until {
        match state.next_send(limiter.config, now) {
            Some(at) => now = at,
            None => {
                state.sent(limiter.config, now);
                sent.push(now);
                // An unlimited limiter would send forever at one instant: fail, not hang.
                assert!(sent.len() < 1_000_000, "unlimited at {now:?}");
            }
        }
    }
    sent
}

#[test]
fn requests_are_spaced_by_the_ceiling_on_average() {
    for rate in [10.0, 5000.0] {
        let limiter = RateLimiter::new(RateLimit::fixed(rate));
        let start = Instant::now();
        let sent = send_until(&limiter, start, start + Duration::from_secs(10));
        let per_second = sent.len() as f64 / 10.0;
        assert!(
            (per_second - rate).abs() <= rate * 0.01 + 0.1,
            "{rate}: {per_second}"
        );
        // Never more than the tolerance's worth at once.
        let burst = sent.iter().filter(|at| **at == start).count();
        assert!(burst as f64 <= (rate * TOLERANCE.as_secs_f64()).max(1.0) + 1.0);
    }
}

/// A ceiling below the curve's floor (a caller's, or a gateway's `limit:10,time:1 minute`) is
/// kept to the letter: the floor keeps a cut from stalling the client, not a ceiling from
/// holding.
#[test]
fn a_ceiling_below_the_curves_floor_is_kept() {
    let start = Instant::now();
    let fixed = RateLimiter::new(RateLimit::fixed(0.1));
    let sent = send_until(&fixed, start, start + Duration::from_secs(100));
    assert!(sent.len() <= 11, "{} sent in 100 s at 0.1/s", sent.len());
    let told = RateLimiter::new(RateLimit::adaptive());
    told.told(policy("user", 10.0 / 60.0));
    let sent = send_until(&told, start, start + Duration::from_secs(120));
    assert!(
        sent.len() <= 21,
        "{} sent in 120 s at 10 a minute",
        sent.len()
    );
}

#[test]
fn a_throttle_cuts_once_for_the_requests_already_in_flight() {
    let limiter = RateLimiter::new(RateLimit::adaptive());
    assert_eq!(limiter.allowed_rate(), None, "unlimited until throttled");
    let start = Instant::now();
    let mut sent = Vec::new();
    {
        let mut state = lock(&limiter.state);
        for i in 0..=40 {
            let at = start + Duration::from_millis(50 * i);
            state.sent(limiter.config, at);
            sent.push(at);
        }
    }
    // 20 requests/s measured; all come back throttled after the first cut.
    let now = start + Duration::from_millis(2050);
    for at in &sent {
        limiter.throttled_at(*at, None, now);
    }
    let rate = limiter.allowed_rate().unwrap();
    assert!((rate - 14.0).abs() < 1.0, "one cut to 70%: {rate}");
    assert_eq!(limiter.throttled_count(), 41);
    // A request sent after the cut and throttled cuts again.
    limiter.throttled_at(now, None, now + Duration::from_millis(1));
    assert!(limiter.allowed_rate().unwrap() < 11.0);
}

/// Sends at `demand` requests/s, or as fast as the limiter lets when that is less, from
/// `start` until `until`; returns the send times.
fn send_at(limiter: &RateLimiter, start: Instant, until: Instant, demand: f64) -> Vec<Instant> {
    let mut state = lock(&limiter.state);
    let gap = Duration::from_secs_f64(1.0 / demand);
    let (mut now, mut sent) = (start, Vec::new());
    while now < until {
        match state.next_send(limiter.config, now) {
            Some(at) => now = at,
            None => {
                state.sent(limiter.config, now);
                sent.push(now);
                now += gap;
            }
        }
    }
    sent
}

fn rate_at(limiter: &RateLimiter, now: Instant) -> f64 {
    lock(&limiter.state).rate(limiter.config, now).unwrap()
}

/// Throttled at 50 requests/s, then quiet for a minute (a pause, a watch between rounds),
/// then everything at once: the limiter starts again from what it sent, not from where
/// the cubic curve went meanwhile (tens of thousands of requests/s).
#[test]
fn a_quiet_stretch_does_not_become_a_burst() {
    let limiter = RateLimiter::new(RateLimit::adaptive());
    let start = Instant::now();
    let secs = |s: u64| start + Duration::from_secs(s);
    let sent = send_at(&limiter, start, secs(10), 50.0);
    limiter.throttled_at(*sent.last().unwrap(), None, secs(10));
    send_at(&limiter, secs(10), secs(20), 50.0);
    let backlog = send_at(&limiter, secs(80), secs(90), 1e9);
    let in_second = |n: u64| {
        let range = secs(80 + n)..secs(81 + n);
        backlog.iter().filter(|at| range.contains(at)).count()
    };
    assert!(
        in_second(0) <= 50,
        "a burst of {} in a second",
        in_second(0)
    );
    assert!(in_second(0) >= 1);
    // It grows back, doubling about every second, until the service says otherwise.
    assert!((1..5).any(|n| in_second(n) >= 50), "{backlog:?}");
    assert!(in_second(2) > in_second(0));
}

/// After a cut, the curve keeps growing with time; sending 10 requests/s, the rate
/// allowed stays near that, and the next cut is taken from it.
#[test]
fn a_cut_is_taken_from_what_was_sent_not_from_an_unused_allowance() {
    let limiter = RateLimiter::new(RateLimit::adaptive());
    let start = Instant::now();
    let secs = |s: u64| start + Duration::from_secs(s);
    let sent = send_at(&limiter, start, secs(10), 50.0);
    limiter.throttled_at(*sent.last().unwrap(), None, secs(10));
    let sent = send_at(&limiter, secs(10), secs(40), 10.0);
    let allowed = rate_at(&limiter, secs(40));
    assert!(allowed <= 2.0 * 10.0 + 1.0, "{allowed}");
    limiter.throttled_at(*sent.last().unwrap(), None, secs(40));
    let allowed = rate_at(&limiter, secs(40));
    assert!((allowed - 7.0).abs() < 1.0, "70% of the 10 sent: {allowed}");
}

#[test]
fn a_stated_policy_caps_an_adaptive_limiter_only() {
    let adaptive = RateLimiter::new(RateLimit::adaptive());
    adaptive.told(policy("user", 50.0));
    assert_eq!(adaptive.allowed_rate(), Some(50.0));
    let fixed = RateLimiter::new(RateLimit::fixed(80.0));
    fixed.told(policy("user", 50.0));
    assert_eq!(
        fixed.allowed_rate(),
        Some(80.0),
        "a fixed rate is the caller's"
    );
}

#[test]
fn retry_after_pauses_every_request() {
    let limiter = RateLimiter::new(RateLimit::adaptive());
    let now = Instant::now();
    limiter.throttled(now, Some(Duration::from_secs(3)));
    let next = lock(&limiter.state).next_send(limiter.config, now).unwrap();
    assert!(next >= now + Duration::from_secs(3));
}

/// A fleet's next active watcher resumes what its predecessor learned: it starts at 70% of
/// the rate allowed (as just after a cut there), under the stated policy, never unlimited;
/// a rate that is not a number above 0 is ignored and an absurd one is kept in range.
#[test]
fn a_resumed_limiter_starts_below_what_was_learned_and_never_unlimited() {
    let learned = Learned::new(Some(40.0), Some(25.0));
    let limiter = RateLimiter::new(RateLimit::adaptive().resume(learned));
    let start = Instant::now();
    let sent = send_until(&limiter, start, start + Duration::from_secs(1));
    // The policy (25/s) is below the curve's start (28/s): it holds from the first second.
    assert!((24..=27).contains(&sent.len()), "{}", sent.len());
    let learned_again = limiter.learned();
    assert_eq!(learned_again.stated_policy, Some(25.0));

    let limiter = RateLimiter::new(RateLimit::adaptive().resume(Learned::new(Some(40.0), None)));
    let sent = send_until(&limiter, start, start + Duration::from_secs(1));
    // From 28/s, grown back along the curve towards 40/s: below 40 in the first second.
    assert!((28..40).contains(&sent.len()), "{}", sent.len());

    for absurd in [f64::NAN, 0.0, -3.0, f64::INFINITY] {
        let limit = RateLimit::adaptive().resume(Learned::new(Some(absurd), Some(absurd)));
        assert_eq!(RateLimiter::new(limit).allowed_rate(), None, "{absurd}");
    }
    // A tiny rate is brought within range: a stated policy to one a day (until it
    // lapses), the rate allowed to the curve's floor; no panic either.
    let limit = RateLimit::adaptive().resume(Learned::new(Some(1e-300), Some(1e-300)));
    let limiter = RateLimiter::new(limit);
    assert_eq!(
        limiter.learned().stated_policy,
        Some(Rate::SLOWEST.per_second())
    );
    let sent = send_until(&limiter, start, start + policies::LAPSE);
    assert_eq!(sent.len(), 1, "one a day while the policy holds");
    let limit = RateLimit::adaptive().resume(Learned::new(Some(1e-300), None));
    let limiter = RateLimiter::new(limit);
    let sent = send_until(&limiter, start, start + Duration::from_secs(4));
    let gaps: Vec<Duration> = sent.windows(2).map(|pair| pair[1] - pair[0]).collect();
    assert!(
        gaps[0] >= Duration::from_millis(1950),
        "from the floor: {gaps:?}"
    );
    // A ceiling alone is the caller's, not learned.
    let limiter = RateLimiter::new(RateLimit::adaptive().max_rate(50.0));
    assert_eq!(limiter.learned(), Learned::default());
}

/// The slowest rate a limiter can hold spaces requests a day apart, and no ceiling is
/// slower whatever path it came by.
#[test]
fn the_slowest_rate_spaces_requests_a_day_apart() {
    let day = Duration::from_secs(24 * 3600);
    // A stated policy holds a day at most: one request in it.
    let stated = RateLimiter::new(RateLimit::adaptive());
    stated.told(Policy {
        dimension: "user".into(),
        rate: Rate::SLOWEST,
        window: 3 * day,
    });
    let start = Instant::now();
    let sent = send_until(&stated, start, start + day - Duration::from_secs(1));
    assert_eq!(sent.len(), 1, "one a day while the policy holds");
    let fixed = RateLimiter::new(RateLimit::fixed(1.0 / 86_400.0));
    let unchecked = RateLimiter::new(RateLimit::fixed(f64::MIN_POSITIVE));
    for limiter in [fixed, unchecked] {
        let start = Instant::now();
        let sent = send_until(&limiter, start, start + 2 * day + Duration::from_secs(1));
        let gaps: Vec<Duration> = sent.windows(2).map(|pair| pair[1] - pair[0]).collect();
        assert_eq!(gaps.len(), 2, "{gaps:?}");
        assert!(gaps.iter().all(|gap| *gap >= day - TOLERANCE), "{gaps:?}");
    }
}

/// A service that states an IP policy (20 per 10 s) and then a user policy (3,000 a minute)
/// is paced under the IP one while it holds: before, the second replaced the first and the
/// limiter climbed to 50/s.
#[test]
fn two_stated_policies_keep_the_limiter_under_the_strictest() {
    let limiter = RateLimiter::new(RateLimit::adaptive());
    let start = Instant::now();
    let message = |dimension: &str, limit: u32, time: &str| {
        let text = format!("policy {dimension} over ratelimit,limit:{limit},time:{time}");
        gateway_policy::stated(&text).unwrap().unwrap()
    };
    limiter.told(message("ip", 20, "10 second"));
    limiter.told(message("user", 3000, "1 minute"));
    let sent = send_until(&limiter, start, start + Duration::from_secs(60));
    assert!(
        (118..=122).contains(&sent.len()),
        "2/s for a minute: {}",
        sent.len()
    );
    assert_eq!(limiter.learned().stated_policy, Some(2.0));
}

/// Once the service has not stated a policy for the lapse, the limiter no longer holds to
/// it: a raised quota gets used.
#[test]
fn a_policy_no_longer_stated_lapses_and_the_limiter_goes_above_it() {
    let limiter = RateLimiter::new(RateLimit::adaptive());
    let start = Instant::now();
    lock(&limiter.state)
        .policies
        .stated(policy("ip", 2.0), start);
    let before = start + policies::LAPSE - Duration::from_secs(1);
    assert_eq!(lock(&limiter.state).rate(limiter.config, before), Some(2.0));
    let after = start + policies::LAPSE;
    assert_eq!(
        lock(&limiter.state).rate(limiter.config, after),
        None,
        "unlimited again"
    );
}
