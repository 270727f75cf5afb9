use std::cell::Cell;
use std::rc::Rc;

use crate::ports::Clock;
use crate::wire::Timestamp;

/// A clock that moves only when told to. Clones share the time.
#[derive(Debug, Clone)]
pub struct ManualClock(Rc<Cell<i64>>);

impl ManualClock {
    /// A clock at `start`.
    #[must_use]
    pub fn new(start: Timestamp) -> Self {
        Self(Rc::new(Cell::new(start.0)))
    }

    /// Moves the clock forward.
    pub fn advance_ms(&self, ms: u64) {
        self.set(Timestamp(self.0.get()).plus_ms(ms));
    }

    /// Sets the time.
    pub fn set(&self, at: Timestamp) {
        self.0.set(at.0);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        // 2026-04-01T12:00:00Z
        Self::new(Timestamp(1_775_044_800_000))
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.get())
    }
}
