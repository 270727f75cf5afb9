use serde_json::Map;
use serde_json::Value;

use crate::wire::Timestamp;
use crate::wire::event::EvaluatedPermission;

/// A tool call of the current turn and how far it got.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolUseRecord {
    /// The `agent.tool_use` / `agent.custom_tool_use` event id.
    pub id: String,
    /// Tool name.
    pub name: String,
    /// Tool input.
    pub input: Map<String, Value>,
    /// Whether the client executes it (custom tool).
    pub custom: bool,
    /// The MCP server whose tool it is (`agent.mcp_tool_use`).
    pub mcp_server: Option<String>,
    /// The recorded permission (`None` for custom tools).
    pub permission: Option<EvaluatedPermission>,
    /// Where the call stands.
    pub resolution: ToolUseResolution,
}

/// Where a tool call stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolUseResolution {
    /// Waiting: to run (allow), for a confirmation (ask) or for the client (custom).
    Pending,
    /// Confirmed by the user; runs next.
    Allowed,
    /// Denied by the user; a denial result is recorded next.
    Denied {
        /// The user's `deny_message`.
        message: Option<String>,
    },
    /// Has its result.
    Done,
}

impl ToolUseRecord {
    /// Whether the call blocks the turn on the client (an unanswered custom
    /// tool or an unconfirmed `ask`).
    #[must_use]
    pub fn awaits_client(&self) -> bool {
        self.resolution == ToolUseResolution::Pending
            && (self.custom || self.permission == Some(EvaluatedPermission::Ask))
    }
}

/// Per-turn bookkeeping, reset when a new turn starts (not on a resume after
/// `requires_action`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TurnState {
    /// The seq of the `session.status_running` that started the turn.
    pub started_seq: u64,
    /// Tool calls of the turn, in log order.
    pub tool_uses: Vec<ToolUseRecord>,
    /// Completed model requests in the turn (the max-steps guard).
    pub model_requests: u32,
    /// Failed model requests since the last success.
    pub consecutive_failures: u32,
    /// When the last failure was recorded (the `session.error` time).
    pub last_failure_at: Option<Timestamp>,
    /// The server-requested delay of the last failure, if any.
    pub last_retry_after_ms: Option<u64>,
}
