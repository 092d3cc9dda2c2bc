//! An attempt that never left: what it needed ([`Ready`]), and why it could not go
//! ([`Unsent`]), put in the call's words: after a failed attempt, that failure with the
//! attempts really made and why no more; before any, why nothing was sent.

use std::time::Duration;

use tokio::time::Instant;

use super::finished;
use crate::{Error, NoRetry};

/// An attempt ready to leave.
pub(super) struct Ready {
    /// When the limiter let it out (with a limiter).
    pub(super) sent: Option<Instant>,
    /// The time it has, if bounded.
    pub(super) time: Option<Duration>,
    /// Whether that time is the lease's rather than the deadline's.
    pub(super) cut_by_lease: bool,
}

/// Why an attempt was not sent.
#[derive(Debug)]
pub(super) enum Unsent {
    /// Its turn at the limiter came with the deadline ([`Error::Paced`]).
    Paced(Error),
    /// The credentials step failed.
    Credentials(Error),
    /// Less than a millisecond of the deadline was left.
    Deadline(Error),
    /// The lease it must leave under is not held.
    NotLeading,
}

impl Unsent {
    /// The call's error, `failed` being the last sent attempt's failure, of `attempts`.
    pub(super) fn into_error(self, failed: Option<Error>, attempts: u32) -> Error {
        let Some(failed) = failed else {
            return match self {
                Self::Paced(error) | Self::Credentials(error) | Self::Deadline(error) => error,
                Self::NotLeading => Error::NotLeading,
            };
        };
        let why = match self {
            Self::NotLeading => return Error::NotLeading,
            Self::Paced(Error::Paced { waited }) => NoRetry::Deadline {
                wait: waited,
                left: Duration::ZERO,
            },
            Self::Paced(_) | Self::Deadline(_) => NoRetry::DeadlinePassed,
            Self::Credentials(error) => {
                tracing::debug!(%error, "no credentials for the next attempt");
                NoRetry::Credentials
            }
        };
        finished(failed, attempts, Some(why))
    }
}

#[cfg(test)]
mod tests {
    use super::Unsent;
    use crate::{Error, NoRetry, call::answered};

    /// After attempts were sent, the call reports the service's last answer with their real
    /// number and why no more, whatever stopped the next one; before any, why nothing was sent.
    #[test]
    fn the_error_counts_the_attempts_sent_and_says_why_no_more() {
        let credentials = || Error::Internal("no keys".into());
        for (unsent, why) in [
            (Unsent::Credentials(credentials()), NoRetry::Credentials),
            (Unsent::Deadline(credentials()), NoRetry::DeadlinePassed),
        ] {
            let error = unsent.into_error(Some(answered(503, None)), 2);
            let Error::Api(api) = &error else {
                panic!("{error:?}")
            };
            assert_eq!((api.attempts, api.not_retried), (2, Some(why)));
        }
        let error = Unsent::Credentials(credentials()).into_error(None, 0);
        assert!(matches!(error, Error::Internal(_)), "{error:?}");
        let error = Unsent::NotLeading.into_error(Some(answered(503, None)), 1);
        assert!(matches!(error, Error::NotLeading), "{error:?}");
    }
}
