//! Why a session went idle, and the errors a session reports.

use serde::Deserialize;
use serde::Serialize;
use serde_json::Map;
use serde_json::Value;

/// `session.status_idle.stop_reason`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum StopReason {
    /// The agent finished its turn (also reported for interrupted turns).
    EndTurn,
    /// The agent waits on the listed events (custom tool uses, tool
    /// confirmations); resolving only some re-emits idle with the rest.
    RequiresAction {
        /// Ids of the blocking `agent.custom_tool_use` / `agent.tool_use` events.
        event_ids: Vec<String>,
    },
    /// Repeated errors exhausted the retry budget.
    RetriesExhausted,
    /// The session's budget was reached.
    BudgetReached,
    /// The model refused.
    Refusal,
}

/// `session.status_idle.stop_details` for refusals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename = "refusal")]
pub struct RefusalStopDetails {
    /// Policy category, when named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Human-readable explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
}

/// What the client should do after a `session.error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RetryStatus {
    /// The server retries automatically; wait.
    Retrying,
    /// The turn is dead; the session goes idle with `retries_exhausted`.
    Exhausted,
    /// The session will be terminated.
    Terminal,
}

/// `session.error.error.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SessionErrorType {
    /// The model is overloaded (HTTP 529).
    ModelOverloadedError,
    /// The model request was rate limited (HTTP 429).
    ModelRateLimitedError,
    /// The model request failed for another reason.
    ModelRequestFailedError,
    /// An MCP server could not be reached (`mcp_server_name` in `extra`).
    McpConnectionFailedError,
    /// An MCP server rejected our credentials (`mcp_server_name` in `extra`).
    McpAuthenticationFailedError,
    /// Out of credits or over a spend limit.
    BillingError,
    /// A credential's host is not allowed by the environment.
    CredentialHostUnreachableError,
    /// The turn hit the limit on tool-use rounds.
    ToolUseLimitReachedError,
    /// The context was compacted too many times in a row.
    CompactionLimitReachedError,
    /// The repository host rejected the credentials.
    RepositoryAuthenticationError,
    /// The repository host refused access.
    RepositoryForbiddenError,
    /// The repository was not found.
    RepositoryNotFoundError,
    /// The requested branch or commit does not exist.
    RepositoryCheckoutError,
    /// The repository could not be cloned.
    RepositoryCloneError,
    /// Fallback for errors without a type of their own (and unknown types).
    #[serde(other)]
    UnknownError,
}

/// The `error` object of a `session.error` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionError {
    /// The error's type.
    #[serde(rename = "type")]
    pub kind: SessionErrorType,
    /// Human-readable description.
    pub message: String,
    /// What happens next.
    pub retry_status: RetryStatus,
    /// Type-specific fields (`mcp_server_name`, `credential_id`, `vault_id`,
    /// `repository_url`), passed through unchanged.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl SessionError {
    /// An error of `kind` with no extra fields.
    #[must_use]
    pub fn new(
        kind: SessionErrorType,
        message: impl Into<String>,
        retry_status: RetryStatus,
    ) -> Self {
        Self {
            kind,
            message: message.into(),
            retry_status,
            extra: Map::new(),
        }
    }
}
