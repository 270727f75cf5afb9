use serde::Deserialize;
use serde::Serialize;
use serde_json::Map;
use serde_json::Value;

use crate::wire::ContentBlock;

/// One tool invocation. `tool_use_id` is the `agent.tool_use` event id and
/// the idempotency key: executing the same id twice must return the first
/// result without running the tool again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The `agent.tool_use` event id.
    pub tool_use_id: String,
    /// Tool name (`bash`, `read`, …).
    pub name: String,
    /// Tool input as the model sent it.
    pub input: Map<String, Value>,
}

/// What a tool produced. Failures the model should see are data
/// (`is_error: true`), not errors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolOutput {
    /// Output blocks.
    pub content: Vec<ContentBlock>,
    /// Whether the tool failed.
    pub is_error: bool,
}

impl ToolOutput {
    /// A successful text output.
    #[must_use]
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            content: vec![ContentBlock::text(text)],
            is_error: false,
        }
    }

    /// A failed text output.
    #[must_use]
    pub fn error(text: impl Into<String>) -> Self {
        Self {
            content: vec![ContentBlock::text(text)],
            is_error: true,
        }
    }
}

/// The executor could not run the tool at all (the sandbox is unreachable).
/// The step fails and is retried later with the same `tool_use_id`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tool executor unavailable: {0}")]
pub struct ToolExecError(pub String);

/// Runs built-in tools (in the sandbox).
#[expect(
    async_fn_in_trait,
    reason = "core's ports are deliberately not Send (Durable Object futures are !Send)"
)]
pub trait ToolExecutor {
    /// Runs one call; idempotent by `call.tool_use_id`.
    async fn execute(&self, call: ToolCall) -> Result<ToolOutput, ToolExecError>;
}
