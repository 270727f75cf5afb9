//! Session state as a pure fold over the event log: a restarted session
//! replays its log and derives exactly the same state.

mod history;
mod state;
mod summary;
mod turn;

pub use history::HistoryItem;
pub use state::INTERRUPTED_TOOL_RESULT;
pub use state::QueuedInput;
pub use state::SessionState;
pub use summary::SessionSummary;
pub use turn::ToolUseRecord;
pub use turn::ToolUseResolution;
pub use turn::TurnState;

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
