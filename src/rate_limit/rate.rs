//! A rate of requests that pacing can honour, parsed once where it comes in (a caller's
//! ceiling, a command-line flag, a policy the gateway states) so that no arithmetic on it
//! can panic or overflow later.

use std::{fmt, str::FromStr, time::Duration};

/// Requests per second, from one a day to a million a second.
///
/// ```
/// use codearts_repo::Rate;
/// assert_eq!("50".parse::<Rate>().unwrap().per_second(), 50.0);
/// let error = Rate::new(1e-20).unwrap_err().to_string();
/// assert!(error.contains("from one a day"), "{error}");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct Rate(f64);

/// A number that is not a [`Rate`]: not a number, or outside one a day to a million a
/// second. Its `Display` states the rule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateError(f64);

impl RateError {
    /// The number given (NaN when the text was not a number).
    pub fn given(self) -> f64 {
        self.0
    }
}

impl Rate {
    /// One request a day.
    pub const SLOWEST: Self = Self(1.0 / 86_400.0);
    /// A million requests a second.
    pub const FASTEST: Self = Self(1.0e6);

    /// `per_second` requests a second, if it is within [`Rate::SLOWEST`]..=[`Rate::FASTEST`].
    pub fn new(per_second: f64) -> Result<Self, RateError> {
        if (Self::SLOWEST.0..=Self::FASTEST.0).contains(&per_second) {
            Ok(Self(per_second))
        } else {
            Err(RateError(per_second))
        }
    }

    /// `count` requests every `period` (a gateway's `limit:3000,time:1 minute`).
    pub fn over(count: f64, period: Duration) -> Result<Self, RateError> {
        Self::new(count / period.as_secs_f64())
    }

    /// The nearest rate to `per_second`, for numbers already stored or computed (a fleet's
    /// row, the curve); not a number is the slowest.
    pub(crate) fn clamped(per_second: f64) -> Self {
        if per_second.is_nan() {
            return Self::SLOWEST;
        }
        Self(per_second.clamp(Self::SLOWEST.0, Self::FASTEST.0))
    }

    /// Requests per second.
    pub fn per_second(self) -> f64 {
        self.0
    }

    /// The time between two requests: at most a day, by construction.
    pub(crate) fn spacing(self) -> Duration {
        Duration::from_secs_f64(1.0 / self.0)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/s", self.0)
    }
}

impl FromStr for Rate {
    type Err = RateError;

    /// A number of requests per second (`50`, `0.5`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::new(text.trim().parse().unwrap_or(f64::NAN))
    }
}

impl fmt::Display for RateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("must be a number of requests per second from one a day (1/86400) to 1000000")
    }
}

impl std::error::Error for RateError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_edges_are_rates_and_beyond_them_nothing_is() {
        assert_eq!(Rate::new(1.0 / 86_400.0), Ok(Rate::SLOWEST));
        assert_eq!(Rate::new(1.0e6), Ok(Rate::FASTEST));
        for absurd in [0.0, -1.0, 1e-20, 1.0e6 + 1.0, f64::NAN, f64::INFINITY] {
            assert!(Rate::new(absurd).is_err(), "{absurd}");
        }
        assert!(
            Rate::SLOWEST
                .spacing()
                .abs_diff(Duration::from_secs(86_400))
                < Duration::from_millis(1)
        );
        assert!("fast".parse::<Rate>().unwrap_err().given().is_nan());
        assert_eq!(Rate::clamped(f64::NAN), Rate::SLOWEST);
        assert_eq!(Rate::clamped(1e300), Rate::FASTEST);
    }
}
