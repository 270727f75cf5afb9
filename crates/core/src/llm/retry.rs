//! Retry budget and backoff for transient model errors.

/// How transient model errors are retried within a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Failed attempts after which the turn ends with `retries_exhausted`.
    pub max_attempts: u32,
    /// Delay after the first failure, in milliseconds.
    pub base_delay_ms: u64,
    /// Upper bound of the delay, in milliseconds.
    pub max_delay_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay_ms: 1_000,
            max_delay_ms: 60_000,
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `failures` (1 after the first failure):
    /// exponential from `base_delay_ms`, capped at `max_delay_ms`, and never
    /// shorter than a server-requested `retry_after_ms`.
    ///
    /// Pure: the driver decides how to wait (a DO alarm, a test clock).
    #[must_use]
    pub fn backoff_delay_ms(&self, failures: u32, retry_after_ms: Option<u64>) -> u64 {
        let exponent = failures.saturating_sub(1).min(32);
        let delay = self
            .base_delay_ms
            .saturating_mul(1_u64 << exponent)
            .min(self.max_delay_ms);
        delay.max(retry_after_ms.unwrap_or(0))
    }
}
