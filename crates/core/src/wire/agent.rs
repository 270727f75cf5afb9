//! The agent object (`type:"agent"`) and its resolved tool configuration.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::Serialize;
use serde_json::Map;
use serde_json::Value;

use super::object_type::AgentType;
use super::time::Timestamp;

/// A versioned agent configuration, as returned by the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    /// `agent_` id.
    pub id: String,
    /// Always `"agent"`.
    #[serde(rename = "type")]
    pub kind: AgentType,
    /// Display name (1–256 chars).
    pub name: String,
    /// Description (≤2048 chars).
    #[serde(default)]
    pub description: Option<String>,
    /// System prompt (≤100,000 chars).
    #[serde(default)]
    pub system: Option<String>,
    /// Current version, from 1, +1 per effective update.
    pub version: u64,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last update time.
    pub updated_at: Timestamp,
    /// Archive time; archived agents are read-only.
    #[serde(default)]
    pub archived_at: Option<Timestamp>,
    /// Model and its settings.
    pub model: ModelConfig,
    /// Resolved tools.
    #[serde(default)]
    pub tools: Vec<AgentTool>,
    /// MCP servers the agent's MCP toolsets refer to.
    #[serde(default)]
    pub mcp_servers: Vec<McpServer>,
    /// Skills.
    #[serde(default)]
    pub skills: Vec<Skill>,
    /// Multiagent configuration (passed through).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiagent: Option<Value>,
    /// String metadata.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Execution principal.
    #[serde(default)]
    pub execution_identity: ExecutionIdentity,
}

/// An agent snapshot inside a session (`session.agent`), fixed at creation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionAgent {
    /// `agent_` id.
    pub id: String,
    /// Always `"agent"`.
    #[serde(rename = "type")]
    pub kind: AgentType,
    /// The snapshotted version.
    pub version: u64,
    /// Display name.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// System prompt.
    #[serde(default)]
    pub system: Option<String>,
    /// Model.
    pub model: ModelConfig,
    /// Resolved tools.
    #[serde(default)]
    pub tools: Vec<AgentTool>,
    /// MCP servers.
    #[serde(default)]
    pub mcp_servers: Vec<McpServer>,
    /// Skills.
    #[serde(default)]
    pub skills: Vec<Skill>,
    /// Multiagent configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiagent: Option<Value>,
    /// Execution principal.
    #[serde(default)]
    pub execution_identity: ExecutionIdentity,
}

impl From<&Agent> for SessionAgent {
    fn from(agent: &Agent) -> Self {
        Self {
            id: agent.id.clone(),
            kind: AgentType::Tag,
            version: agent.version,
            name: agent.name.clone(),
            description: agent.description.clone(),
            system: agent.system.clone(),
            model: agent.model.clone(),
            tools: agent.tools.clone(),
            mcp_servers: agent.mcp_servers.clone(),
            skills: agent.skills.clone(),
            multiagent: agent.multiagent.clone(),
            execution_identity: agent.execution_identity.clone(),
        }
    }
}

/// `model`: `{id, speed?, effort?, inference_geo?}`; a bare string is
/// accepted on input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "ModelConfigInput")]
pub struct ModelConfig {
    /// Model id, e.g. `claude-sonnet-4-5`.
    pub id: String,
    /// `standard` or `fast`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed: Option<String>,
    /// `{type:"low"|"medium"|"high"|"xhigh"|"max"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effort: Option<Effort>,
    /// Inference region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inference_geo: Option<String>,
}

impl ModelConfig {
    /// A model config with only an id.
    #[must_use]
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            speed: None,
            effort: None,
            inference_geo: None,
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ModelConfigInput {
    Bare(String),
    Full {
        id: String,
        #[serde(default)]
        speed: Option<String>,
        #[serde(default)]
        effort: Option<Effort>,
        #[serde(default)]
        inference_geo: Option<String>,
    },
}

impl From<ModelConfigInput> for ModelConfig {
    fn from(input: ModelConfigInput) -> Self {
        match input {
            ModelConfigInput::Bare(id) => Self::new(id),
            ModelConfigInput::Full {
                id,
                speed,
                effort,
                inference_geo,
            } => Self {
                id,
                speed,
                effort,
                inference_geo,
            },
        }
    }
}

/// Effort level, `{type:"high"}` (a bare `"high"` is accepted on input).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "EffortInput")]
pub struct Effort {
    /// `low`, `medium`, `high`, `xhigh` or `max`.
    #[serde(rename = "type")]
    pub level: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum EffortInput {
    Bare(String),
    Tagged {
        #[serde(rename = "type")]
        level: String,
    },
}

impl From<EffortInput> for Effort {
    fn from(input: EffortInput) -> Self {
        match input {
            EffortInput::Bare(level) | EffortInput::Tagged { level } => Self { level },
        }
    }
}

/// One entry of `tools`, resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
#[non_exhaustive]
pub enum AgentTool {
    /// The built-in toolset.
    #[serde(rename = "agent_toolset_20260401")]
    AgentToolset(AgentToolset),
    /// Tools of one MCP server.
    #[serde(rename = "mcp_toolset")]
    McpToolset(McpToolset),
    /// A client-executed tool.
    #[serde(rename = "custom")]
    Custom(CustomTool),
}

/// `agent_toolset_20260401` with every tool's config resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentToolset {
    /// Defaults for tools without their own config.
    pub default_config: ToolDefaultConfig,
    /// One resolved config per tool.
    #[serde(default)]
    pub configs: Vec<ToolConfig>,
}

/// `mcp_toolset` with every tool's config resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McpToolset {
    /// The `mcp_servers[].name` this toolset exposes.
    pub mcp_server_name: String,
    /// Defaults for the server's tools.
    pub default_config: ToolDefaultConfig,
    /// Per-tool overrides.
    #[serde(default)]
    pub configs: Vec<ToolConfig>,
}

/// Resolved `default_config`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolDefaultConfig {
    /// Whether tools are enabled.
    pub enabled: bool,
    /// Permission policy.
    pub permission_policy: PermissionPolicy,
}

/// A resolved per-tool config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolConfig {
    /// Tool name.
    pub name: String,
    /// Equal to `name` for built-in tools; absent for MCP tools.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Whether the tool is enabled.
    pub enabled: bool,
    /// Permission policy.
    pub permission_policy: PermissionPolicy,
    /// Tool-specific settings (`allowed_domains`, `max_content_tokens`, …).
    #[serde(flatten)]
    pub settings: Map<String, Value>,
}

/// `permission_policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PermissionPolicy {
    /// Run without asking.
    AlwaysAllow,
    /// Pause for `user.tool_confirmation`.
    AlwaysAsk,
    /// The server judges each call.
    Auto,
}

/// `{type:"custom", name, description, input_schema}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomTool {
    /// Tool name (1–128 chars, `[A-Za-z0-9_-]`).
    pub name: String,
    /// What the tool does, for the model.
    #[serde(default)]
    pub description: String,
    /// JSON Schema of the input (`type:"object"`).
    pub input_schema: Value,
}

/// `{type:"url", name, url}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct McpServer {
    /// Always `url`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Unique server name.
    pub name: String,
    /// Streamable HTTP endpoint.
    pub url: String,
}

/// `{type:"anthropic"|"custom", skill_id, version}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skill {
    /// `anthropic` or `custom`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Skill id.
    pub skill_id: String,
    /// Version.
    #[serde(default)]
    pub version: String,
}

/// `execution_identity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ExecutionIdentity {
    /// The platform's service account (the default).
    #[default]
    ServiceAccount,
    /// An AWS IAM role.
    AwsRole {
        /// The role's ARN.
        role_arn: String,
    },
}
