use serde::Deserialize;
use serde::Serialize;
use serde_json::Map;
use serde_json::Value;

use crate::mcp::McpTool;
use crate::wire::ContentBlock;
use crate::wire::SessionError;

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
    /// The MCP server whose tool this is (`agent.mcp_tool_use`); `None` for
    /// a built-in tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp_server_name: Option<String>,
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

    /// The tools of the agent's MCP servers, for a turn about to call the
    /// model. Servers that cannot be listed are left out and reported in
    /// `errors`; an executor without MCP support lists nothing.
    async fn mcp_tools(&self) -> McpListing {
        McpListing::default()
    }
}

/// The tools of an agent's MCP servers, as listed for one turn.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct McpListing {
    /// Each reachable server's tools, by server name.
    pub servers: Vec<(String, Vec<McpTool>)>,
    /// One `session.error` per server that could not be listed
    /// (`mcp_connection_failed_error` or `mcp_authentication_failed_error`).
    pub errors: Vec<SessionError>,
}
