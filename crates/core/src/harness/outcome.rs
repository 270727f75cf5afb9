use crate::wire::Timestamp;

/// What the driver should do after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepOutcome {
    /// More work is ready: step again (persisting in between is fine).
    Continue,
    /// Nothing to do before this time (retry backoff): set an alarm.
    WaitUntil(Timestamp),
    /// Waiting for client events.
    Idle,
    /// The session ended.
    Terminated,
}
