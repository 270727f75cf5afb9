//! The runtime's clock as core's `Clock`.

use openma_core::ports::Clock;
use openma_core::wire::Timestamp;

/// `Date.now()`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RuntimeClock;

impl Clock for RuntimeClock {
    fn now(&self) -> Timestamp {
        Timestamp(worker::Date::now().as_millis() as i64)
    }
}
