//! Events produced by the agent: `agent.*`.

use serde::Deserialize;
use serde::Serialize;
use serde_json::Map;
use serde_json::Value;

use crate::wire::content::ContentBlock;

/// `agent.message`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentMessageEvent {
    /// Text (or redacted) blocks.
    pub content: Vec<ContentBlock>,
}

/// `agent.thinking`: a progress signal with no content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AgentThinkingEvent {}

/// The outcome of a permission evaluation on a tool use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvaluatedPermission {
    /// Runs without confirmation.
    Allow,
    /// Waits for a `user.tool_confirmation`.
    Ask,
    /// Refused.
    Deny,
}

/// Which policy produced `evaluated_permission`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ToolEvaluation {
    /// The policy was `always_allow`.
    AlwaysAllow,
    /// The policy was `always_ask`.
    AlwaysAsk,
    /// The policy was `auto`; the server judged this call.
    Auto {
        /// `{type:"allow"}`, `{type:"ask",reason_code}` or `{type:"deny",reason_code}`.
        evaluated_permission: Value,
    },
}

/// `agent.tool_use`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentToolUseEvent {
    /// Built-in tool name.
    pub name: String,
    /// Tool input.
    pub input: Map<String, Value>,
    /// The permission decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluated_permission: Option<EvaluatedPermission>,
    /// The policy behind the decision; absent when refused before any policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation: Option<ToolEvaluation>,
    /// Set when cross-posted from a subagent thread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_thread_id: Option<String>,
}

/// `agent.tool_result`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentToolResultEvent {
    /// The `agent.tool_use` event this answers.
    pub tool_use_id: String,
    /// The tool's output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Vec<ContentBlock>>,
    /// Whether the tool failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_error: Option<bool>,
}

/// `agent.mcp_tool_use`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentMcpToolUseEvent {
    /// MCP server providing the tool.
    pub mcp_server_name: String,
    /// Tool name.
    pub name: String,
    /// Tool input.
    pub input: Map<String, Value>,
    /// The permission decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluated_permission: Option<EvaluatedPermission>,
    /// The policy behind the decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation: Option<ToolEvaluation>,
    /// Set when cross-posted from a subagent thread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_thread_id: Option<String>,
}

/// `agent.mcp_tool_result`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentMcpToolResultEvent {
    /// The `agent.mcp_tool_use` event this answers.
    pub mcp_tool_use_id: String,
    /// The tool's output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Vec<ContentBlock>>,
    /// Whether the tool failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_error: Option<bool>,
}

/// `agent.custom_tool_use`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentCustomToolUseEvent {
    /// Custom tool name.
    pub name: String,
    /// Tool input.
    pub input: Map<String, Value>,
    /// Set when cross-posted from a subagent thread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_thread_id: Option<String>,
}

/// `agent.thread_context_compacted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AgentThreadContextCompactedEvent {}

/// `agent.thread_message_sent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentThreadMessageSentEvent {
    /// Receiving thread.
    pub to_session_thread_id: String,
    /// Receiving agent's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_agent_name: Option<String>,
    /// Message content.
    pub content: Vec<ContentBlock>,
}

/// `agent.thread_message_received`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentThreadMessageReceivedEvent {
    /// Sending thread.
    pub from_session_thread_id: String,
    /// Sending agent's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_agent_name: Option<String>,
    /// Message content.
    pub content: Vec<ContentBlock>,
}
