use crate::ports::StoreError;
use crate::ports::ToolExecError;
use crate::wire::ValidationError;

/// Why a harness call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
    /// The event store failed; retry the step later (it is idempotent).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The sandbox could not run a tool; retry the step later (the executor
    /// is idempotent by tool-use id).
    #[error(transparent)]
    Tool(#[from] ToolExecError),
    /// Submitted events were rejected (maps to HTTP 400).
    #[error("invalid events: {0}")]
    Rejected(#[from] ValidationError),
    /// Another step is running.
    #[error("a step is already in progress")]
    StepInProgress,
    /// Appends kept conflicting with concurrent writers.
    #[error("the event log kept changing under the harness")]
    ContendedLog,
    /// `run_until_blocked` took too many steps.
    #[error("the session did not block within {0} steps")]
    RunawayLoop(usize),
}
