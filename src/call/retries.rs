//! Whether and when a call tries again after a failed attempt. Asked in this order: attempts
//! left, the failure worth a retry and the wait ([`RetryPolicy::delay`]: backoff, with the
//! service's `Retry-After` as a floor and a cap on it), the wait fitting in what is left of
//! the deadline, and the retry budget the client's clones share (drawn last, so that a retry
//! that is not made costs nothing, and given back when the retry is not sent after all: its
//! turn came too late, or its credentials failed).

use std::time::Duration;

use tokio::time::Instant;

use super::deadline::Deadline;
use crate::{
    Error, NoRetry, RetryPolicy, TransportKind,
    retry_budget::{RETRY_COST, RetryBudget, TIMEOUT_COST},
};

/// What follows a failed attempt.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Another attempt, after this wait.
    RetryAfter(Duration),
    /// None: the failure is the call's, with why no retry was made although attempts were
    /// left, if so.
    Stop(Option<NoRetry>),
}

/// The retry decisions of one call.
pub(crate) struct Retries<'a> {
    operation: &'static str,
    policy: &'a RetryPolicy,
    budget: Option<&'a RetryBudget>,
    rng: fastrand::Rng,
    /// What the last retry sent cost: given back to the budget when the call succeeds (1
    /// when it succeeds at once).
    last_cost: u32,
    /// What the retry decided but not yet sent cost.
    pending: u32,
}

impl<'a> Retries<'a> {
    pub(crate) fn new(
        operation: &'static str,
        policy: &'a RetryPolicy,
        budget: Option<&'a RetryBudget>,
    ) -> Self {
        Self {
            operation,
            policy,
            budget,
            rng: policy.rng(),
            last_cost: 1,
            pending: 0,
        }
    }

    /// What follows attempt number `attempt`, which failed with `error`.
    pub(crate) fn after(&mut self, error: &Error, attempt: u32, deadline: &Deadline) -> Next {
        if attempt >= self.policy.attempts() {
            return Next::Stop(None);
        }
        let delay = match self.policy.delay(attempt, error.retry(), &mut self.rng) {
            Ok(delay) => delay,
            Err(why) => return Next::Stop(why),
        };
        if let Some(left) = deadline.left(Instant::now())
            && delay >= left
        {
            return Next::Stop(Some(NoRetry::Deadline { wait: delay, left }));
        }
        let cost = if is_timeout(error) {
            TIMEOUT_COST
        } else {
            RETRY_COST
        };
        if let Some(budget) = self.budget
            && !budget.withdraw(cost)
        {
            tracing::warn!(
                operation = self.operation,
                "retry budget spent: not retrying"
            );
            return Next::Stop(Some(NoRetry::BudgetSpent));
        }
        self.pending = cost;
        Next::RetryAfter(delay)
    }

    /// The attempt is leaving: a retry's cost is spent.
    pub(crate) fn sent(&mut self) {
        if self.pending > 0 {
            self.last_cost = std::mem::take(&mut self.pending);
        }
    }

    /// The attempt never left: the budget gets back what its retry cost.
    pub(crate) fn unsent(&mut self) {
        if let Some(budget) = self.budget {
            budget.deposit(std::mem::take(&mut self.pending));
        }
    }

    /// The call succeeded: the budget gets back what its last retry cost.
    ///
    /// (A call dropped while a retry waits, by a caller's `timeout` or a watch that stops,
    /// gives that retry's cost back too: see `Drop`.)
    pub(crate) fn succeeded(&self) {
        if let Some(budget) = self.budget {
            budget.deposit(self.last_cost);
        }
    }
}

impl Drop for Retries<'_> {
    /// A retry decided but never sent (the call was dropped while it waited) costs nothing.
    fn drop(&mut self) {
        self.unsent();
    }
}

/// A timeout of the transport (an attempt, or the call's deadline before it).
pub(super) fn is_timeout(error: &Error) -> bool {
    matches!(
        error,
        Error::Transport {
            kind: TransportKind::Timeout,
            ..
        }
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::advance;

    use super::{Deadline, Next, Retries};
    use crate::call::answered as status;
    use crate::{
        Error, NoRetry, RetryPolicy, TransportKind,
        retry_budget::{RETRY_COST, RetryBudget, TIMEOUT_COST},
    };

    const SECOND: Duration = Duration::from_secs(1);

    fn timeout() -> Error {
        Error::transport(TransportKind::Timeout, "no answer".into(), None)
    }

    fn policy() -> RetryPolicy {
        RetryPolicy::default()
            .max_attempts(3)
            .base_delay(Duration::from_millis(100))
            .max_retry_after(10 * SECOND)
            .jitter_seed(7)
    }

    fn waits(next: Next) -> Duration {
        match next {
            Next::RetryAfter(wait) => wait,
            stop => panic!("expected a retry, got {stop:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_retryable_failure_is_retried_until_the_attempts_run_out() {
        let policy = policy();
        let mut retries = Retries::new("Unit", &policy, None);
        let deadline = Deadline::starting_now(None);
        let error = status(503, None);
        assert!(waits(retries.after(&error, 1, &deadline)) <= Duration::from_millis(100));
        assert!(waits(retries.after(&error, 2, &deadline)) <= Duration::from_millis(200));
        assert_eq!(retries.after(&error, 3, &deadline), Next::Stop(None));
        assert_eq!(
            retries.after(&status(404, None), 1, &deadline),
            Next::Stop(None)
        );
    }

    /// What the service asked for is a floor; past the policy's cap it ends the retries.
    #[tokio::test(start_paused = true)]
    async fn retry_after_is_a_floor_up_to_its_cap() {
        let policy = policy();
        let mut retries = Retries::new("Unit", &policy, None);
        let deadline = Deadline::starting_now(None);
        let asked = status(429, Some(2 * SECOND));
        assert_eq!(waits(retries.after(&asked, 1, &deadline)), 2 * SECOND);
        let too_long = status(429, Some(60 * SECOND));
        assert_eq!(
            retries.after(&too_long, 1, &deadline),
            Next::Stop(Some(NoRetry::RetryAfterTooLong {
                asked: 60 * SECOND,
                allowed: 10 * SECOND
            }))
        );
    }

    /// A wait that would end past the deadline is not begun; what was left is said.
    #[tokio::test(start_paused = true)]
    async fn a_wait_past_the_deadline_ends_the_call() {
        let policy = policy();
        let mut retries = Retries::new("Unit", &policy, None);
        let deadline = Deadline::starting_now(Some(5 * SECOND));
        advance(4 * SECOND).await;
        assert_eq!(
            retries.after(&status(503, Some(2 * SECOND)), 1, &deadline),
            Next::Stop(Some(NoRetry::Deadline {
                wait: 2 * SECOND,
                left: SECOND
            }))
        );
        assert_eq!(
            waits(retries.after(&status(503, Some(SECOND / 2)), 1, &deadline)),
            SECOND / 2
        );
    }

    /// Each retry draws on the shared budget (more after a timeout, which held a connection
    /// all along); a spent budget ends the call; a success gives back the last retry's cost.
    #[tokio::test(start_paused = true)]
    async fn retries_draw_on_the_budget_and_a_success_pays_back() {
        let policy = policy();
        let budget = RetryBudget::new(TIMEOUT_COST + RETRY_COST);
        let deadline = Deadline::starting_now(None);
        let mut retries = Retries::new("Unit", &policy, Some(&budget));
        waits(retries.after(&timeout(), 1, &deadline));
        retries.sent();
        waits(retries.after(&status(503, None), 2, &deadline));
        retries.sent();
        let mut next_call = Retries::new("Unit", &policy, Some(&budget));
        assert_eq!(
            next_call.after(&status(503, None), 1, &deadline),
            Next::Stop(Some(NoRetry::BudgetSpent))
        );
        retries.succeeded();
        assert!(
            budget.withdraw(RETRY_COST),
            "the last retry's cost came back"
        );
        assert!(!budget.withdraw(1));
    }

    /// A retry decided but never sent (its turn came after the deadline, its credentials
    /// failed) costs nothing: before, about 100 such calls drained a 500-token budget.
    #[tokio::test(start_paused = true)]
    async fn a_retry_never_sent_gives_its_cost_back() {
        let policy = policy();
        let budget = RetryBudget::new(RETRY_COST);
        let deadline = Deadline::starting_now(None);
        for _ in 0..1000 {
            let mut retries = Retries::new("Unit", &policy, Some(&budget));
            waits(retries.after(&status(503, None), 1, &deadline));
            retries.unsent();
        }
        assert!(budget.withdraw(RETRY_COST), "the budget is whole");
    }

    /// A call dropped while its retry waits (a caller's `timeout`, a watch stopping) gives
    /// the retry's cost back.
    #[tokio::test(start_paused = true)]
    async fn a_call_dropped_before_its_retry_leaves_gives_the_cost_back() {
        let policy = policy();
        let budget = RetryBudget::new(RETRY_COST);
        let deadline = Deadline::starting_now(None);
        {
            let mut retries = Retries::new("Unit", &policy, Some(&budget));
            waits(retries.after(&status(503, None), 1, &deadline));
        }
        assert_eq!(budget.tokens(), RETRY_COST, "the budget is whole");
        let mut sent = Retries::new("Unit", &policy, Some(&budget));
        waits(sent.after(&status(503, None), 1, &deadline));
        sent.sent();
        drop(sent);
        assert!(!budget.withdraw(1), "a retry that left is paid for");
    }
}
