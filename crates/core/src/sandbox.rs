//! The wire protocol between the agent worker and the sandbox server.
//!
//! The agent worker (or, locally, anything holding the shared token) talks
//! JSON over HTTP to the sandbox server (`openma-sandbox`):
//!
//! | route | body | answer |
//! |---|---|---|
//! | `GET /health` (no auth) | — | [`HealthResponse`] |
//! | `PUT /v1/sessions/{session_id}` | [`SessionSetupParams`] | [`SessionSetupResponse`] |
//! | `DELETE /v1/sessions/{session_id}` | — | [`SessionTeardownResponse`] |
//! | `POST /v1/tools/execute` | [`ToolExecuteParams`] | [`ToolExecuteResponse`] |
//!
//! Uploaded files, memory stores and outputs move through the routes that
//! [`mounts`] lists.
//!
//! Every route but `/health` needs `Authorization: Bearer <token>`, where the
//! token is the session's own ([`session_token`]): a server that serves many
//! sessions holds the platform's root sandbox token and derives each one; a
//! one-session container is given only its session's token. Failures
//! of the call itself (auth, malformed envelope) answer [`ErrorResponse`] with
//! a 4xx status; failures of the tool are a [`ToolResult`] with `is_error`.
//!
//! The typed tool inputs ([`ToolInput`]) are parsed from the model's JSON
//! with errors that name the offending field.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::egress::{CredentialNetworking, EgressPolicy, InjectionLocation, SecretValue};

mod input;
pub mod mounts;
pub use input::{
    BashInput, EditInput, GlobInput, GrepInput, ReadInput, ToolInput, ToolInputError, ToolName,
    WriteInput,
};
pub use mounts::{
    FileEntry, FileListing, MAX_LISTING, MountKind, MountParams, MountStatus, TreeFile, TreeParams,
    UPLOADS_DIR, file_content_path, files_path, memory_slug, tree_path, validate_mount_path,
};

/// `GET`: liveness, no authentication.
pub const HEALTH_PATH: &str = "/health";
/// `POST`: run one tool call.
pub const EXECUTE_PATH: &str = "/v1/tools/execute";

/// `PUT` (setup) and `DELETE` (teardown) path of a session.
pub fn session_path(session_id: &str) -> String {
    format!("/v1/sessions/{session_id}")
}

/// The token that authenticates the platform to one session's sandbox, and
/// that session's sandbox to the platform's egress path: HMAC-SHA256 of the
/// session id under the platform's root sandbox token (`SANDBOX_TOKEN`), in
/// hex. A container is given only its own session's token, from which
/// neither the root nor another session's token can be computed. `None`
/// without a root token: then nothing authenticates.
#[must_use]
pub fn session_token(root: &str, session_id: &str) -> Option<String> {
    if root.is_empty() || session_id.is_empty() {
        return None;
    }
    let data = format!("openma sandbox session v1\0{session_id}");
    let token = crate::crypto::hmac_sha256_hex(root.as_bytes(), data.as_bytes());
    (!token.is_empty()).then_some(token)
}

/// The port the sandbox server listens on inside the container.
pub const CONTAINER_PORT: u16 = 8080;
/// The directory the model works in; every session sees its workspace here.
pub const WORKSPACE_DIR: &str = "/workspace";
/// Where session outputs are collected; listed as files scoped to the session.
pub const OUTPUTS_DIR: &str = "/mnt/session/outputs";
/// Where memory stores are mounted, one directory per store.
pub const MEMORY_DIR: &str = "/mnt/memory";
/// Longest `timeout_ms` a bash call may ask for (10 minutes).
pub const MAX_BASH_TIMEOUT_MS: u64 = 600_000;

/// `GET /health` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthResponse {
    /// Always `"ok"` when the server answers.
    pub status: String,
    /// The server's version.
    pub version: String,
}

/// `PUT /v1/sessions/{session_id}`: creates the session or replaces its
/// egress policy and secrets. Idempotent; calling it again with the same
/// secret names keeps the placeholders, so a running shell stays valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SessionSetupParams {
    /// The environment's networking policy and the agent's MCP server hosts.
    #[serde(default)]
    pub egress: EgressPolicy,
    /// `environment_variable` vault credentials to expose as placeholders.
    #[serde(default)]
    pub secrets: Vec<SecretParams>,
    /// Plain (non-secret) environment variables for the session's processes.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Uploaded files and memory stores placed in the session.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<MountParams>,
}

/// One `environment_variable` credential (api-reference §7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretParams {
    /// The environment variable name (`secret_name`).
    pub name: String,
    /// The real secret, for a server that substitutes at its own egress proxy
    /// (local development). Production omits it: the agent worker's outbound
    /// handler substitutes, so the secret never enters the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<SecretValue>,
    /// The placeholder to expose; the server mints `oma_ph_<random>` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placeholder: Option<String>,
    /// Hosts the secret may be sent to.
    #[serde(default)]
    pub networking: CredentialNetworking,
    /// Where the placeholder is substituted; both when omitted.
    #[serde(default)]
    pub injection_location: InjectionLocation,
}

/// Answer to a session setup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSetupResponse {
    /// The session's id.
    pub session_id: String,
    /// The working directory as the model sees it (`/workspace`).
    pub workspace: String,
    /// Secret name → placeholder, as processes see them.
    pub placeholders: BTreeMap<String, String>,
    /// What set-up found at each mount, in the order asked.
    #[serde(default)]
    pub mounts: Vec<MountStatus>,
}

/// Answer to `DELETE /v1/sessions/{session_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionTeardownResponse {
    /// The session's id.
    pub session_id: String,
    /// Whether a running shell was stopped.
    pub stopped: bool,
}

/// `POST /v1/tools/execute`: run one tool call, at most once per `tool_use_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolExecuteParams {
    /// The session the call belongs to.
    pub session_id: String,
    /// The model's tool-use id; a repeated id replays the recorded result.
    pub tool_use_id: String,
    /// The tool name (`bash`, `read`, `write`, `edit`, `glob`, `grep`).
    pub name: String,
    /// The tool input as the model produced it.
    #[serde(default)]
    pub input: Value,
    /// Directories to fingerprint after the call, so the platform learns
    /// without another round trip whether anything under them changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub watch: Vec<String>,
}

/// The answer to `POST /v1/tools/execute`: the result, and a fingerprint of
/// each watched directory taken after the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolExecuteResponse {
    /// The tool's result.
    #[serde(flatten)]
    pub result: ToolResult,
    /// Watched directory → fingerprint of the paths, sizes and modification
    /// times under it (hex; equal fingerprints mean nothing changed).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub watched: BTreeMap<String, String>,
}

/// A tool's result, shaped as the Messages API `tool_result` content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolResult {
    /// The result blocks.
    pub content: Vec<ContentBlock>,
    /// Whether the tool failed.
    pub is_error: bool,
    /// Set when this is a recorded result replayed for a repeated `tool_use_id`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replayed: bool,
}

impl ToolResult {
    /// A successful text result.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            content: vec![ContentBlock::Text { text: text.into() }],
            is_error: false,
            replayed: false,
        }
    }

    /// A failed text result.
    pub fn error(text: impl Into<String>) -> Self {
        Self {
            content: vec![ContentBlock::Text { text: text.into() }],
            is_error: true,
            replayed: false,
        }
    }

    /// The concatenated text of all text blocks (handy for logs and tests).
    pub fn joined_text(&self) -> String {
        self.content
            .iter()
            .filter_map(|b| match b {
                ContentBlock::Text { text } => Some(text.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// One `tool_result` content block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ContentBlock {
    /// Plain text.
    Text {
        /// The text.
        text: String,
    },
    /// An image read from the workspace.
    Image {
        /// The image bytes.
        source: Base64Source,
    },
    /// A document (PDF) read from the workspace.
    Document {
        /// The document bytes.
        source: Base64Source,
    },
}

/// A base64 source block, `{type:"base64", media_type, data}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename = "base64")]
pub struct Base64Source {
    /// MIME type, e.g. `image/png`.
    pub media_type: String,
    /// Base64 (standard alphabet, padded) bytes.
    pub data: String,
}

/// The body of every non-2xx answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// The error.
    pub error: ErrorBody,
}

/// Error detail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Machine-readable kind: `authentication_error`, `invalid_request_error`, `not_found_error`, `api_error`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Human-readable message.
    pub message: String,
}

/// Errors in identifiers that travel on the wire and name directories.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The id is empty, longer than 128 characters or has characters other than `[A-Za-z0-9_-]`.
    #[error("{field} must be 1 to 128 characters of [A-Za-z0-9_-]")]
    Malformed {
        /// The field holding the id.
        field: &'static str,
    },
}

/// Validates a session or tool-use id, which the server uses as a file name.
pub fn validate_id(field: &'static str, id: &str) -> Result<(), IdError> {
    let ok = (1..=128).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(IdError::Malformed { field })
    }
}

#[cfg(test)]
mod tests;
