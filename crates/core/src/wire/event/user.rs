//! Events sent by the client: `user.*` and `system.message`.

use serde::Deserialize;
use serde::Serialize;
use serde_json::Value;

use crate::wire::content::ContentBlock;
use crate::wire::content::TextContent;

/// `user.message`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserMessageEvent {
    /// The message content.
    pub content: Vec<ContentBlock>,
}

/// `user.interrupt`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct UserInterruptEvent {
    /// Thread to interrupt; absent interrupts every thread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_thread_id: Option<String>,
}

/// `allow` or `deny` in a `user.tool_confirmation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfirmationResult {
    /// Run the tool.
    Allow,
    /// Do not run the tool; the agent receives a denial result.
    Deny,
}

/// `user.tool_confirmation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserToolConfirmationEvent {
    /// The `agent.tool_use` / `agent.mcp_tool_use` event being answered.
    pub tool_use_id: String,
    /// Allow or deny.
    pub result: ConfirmationResult,
    /// Context for a denial, shown to the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny_message: Option<String>,
    /// Thread the confirmation was routed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_thread_id: Option<String>,
}

/// `user.custom_tool_result`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserCustomToolResultEvent {
    /// The `agent.custom_tool_use` event being answered.
    pub custom_tool_use_id: String,
    /// The tool's output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Vec<ContentBlock>>,
    /// Whether the tool failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_error: Option<bool>,
    /// Thread the result was routed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_thread_id: Option<String>,
}

/// `user.tool_result` (self-hosted environments only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserToolResultEvent {
    /// The `agent.tool_use` event being answered.
    pub tool_use_id: String,
    /// The tool's output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Vec<ContentBlock>>,
    /// Whether the tool failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_error: Option<bool>,
    /// Thread the result was routed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_thread_id: Option<String>,
}

/// `user.define_outcome` (echo carries the minted `outcome_id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserDefineOutcomeEvent {
    /// What the agent should produce.
    pub description: String,
    /// `{type:"text",content}` or `{type:"file",file_id}`.
    pub rubric: Value,
    /// Evaluate-then-revise cycles (default 3, max 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_iterations: Option<u32>,
    /// The `outc_` id.
    pub outcome_id: String,
}

/// `system.message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemMessageEvent {
    /// Text-only content.
    pub content: Vec<TextContent>,
}
