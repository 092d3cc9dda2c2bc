//! The retry budget: a token bucket shared by a client and its clones, so that an outage
//! does not multiply the load on a service that is already failing (the AWS SDKs' "standard"
//! retry quota, gRPC's retry throttling).
//!
//! A retry costs [`RETRY_COST`] tokens (a retry after a timeout [`TIMEOUT_COST`]: it held a
//! connection for the whole attempt); a call that succeeds at once gives one back, one that
//! succeeds after retries gives back what its last retry cost. With the default 500 tokens a
//! client that fails everything stops retrying after about 100 retries, and one that fails
//! fewer than one call in five (five successes pay for one retry) never runs dry.

use std::sync::atomic::{AtomicU32, Ordering};

/// What one retry costs.
pub(crate) const RETRY_COST: u32 = 5;
/// What a retry after a timeout costs.
pub(crate) const TIMEOUT_COST: u32 = 10;
/// The default size of a budget.
pub(crate) const DEFAULT_CAPACITY: u32 = 500;

#[derive(Debug)]
pub(crate) struct RetryBudget {
    capacity: u32,
    tokens: AtomicU32,
}

impl RetryBudget {
    pub(crate) fn new(capacity: u32) -> Self {
        Self {
            capacity,
            tokens: AtomicU32::new(capacity),
        }
    }

    /// Takes `cost` tokens for a retry; `false` (and nothing taken) when there are fewer.
    pub(crate) fn withdraw(&self, cost: u32) -> bool {
        self.tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |tokens| {
                tokens.checked_sub(cost)
            })
            .is_ok()
    }

    /// Gives back `amount` tokens, up to the capacity.
    pub(crate) fn deposit(&self, amount: u32) {
        let _ = self
            .tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |tokens| {
                (tokens < self.capacity).then(|| tokens.saturating_add(amount).min(self.capacity))
            });
    }

    #[cfg(test)]
    pub(crate) fn tokens(&self) -> u32 {
        self.tokens.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_budget_refuses_and_successes_refill_it_up_to_the_capacity() {
        let budget = RetryBudget::new(12);
        assert!(budget.withdraw(RETRY_COST));
        assert!(budget.withdraw(RETRY_COST));
        assert!(!budget.withdraw(RETRY_COST), "2 tokens left, 5 asked");
        assert_eq!(budget.tokens(), 2);
        budget.deposit(3);
        assert!(budget.withdraw(RETRY_COST));
        for _ in 0..100 {
            budget.deposit(1);
        }
        assert_eq!(budget.tokens(), 12);
    }

    #[test]
    fn a_budget_of_zero_never_retries() {
        let budget = RetryBudget::new(0);
        budget.deposit(10);
        assert!(!budget.withdraw(1));
    }
}
