//! Agent create and update: validation that names the field, tool
//! resolution, and versioning (a no-op update creates no version).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Map;
use serde_json::Value;

use super::metadata::apply_metadata_patch;
use super::metadata::validate_metadata;
use super::patch::Patch;
use crate::tools::AGENT_TOOLSET_TYPE;
use crate::tools::AgentToolParams;
use crate::tools::BuiltinTool;
use crate::tools::resolve_tools;
use crate::wire::Agent;
use crate::wire::AgentTool;
use crate::wire::ModelConfig;
use crate::wire::Timestamp;
use crate::wire::ValidationError;
use crate::wire::agent::ExecutionIdentity;
use crate::wire::agent::McpServer;
use crate::wire::agent::Skill;
use crate::wire::object_type::AgentType;
use crate::wire::validate::array;
use crate::wire::validate::index;
use crate::wire::validate::join;
use crate::wire::validate::object;
use crate::wire::validate::one_of;
use crate::wire::validate::optional;
use crate::wire::validate::required;
use crate::wire::validate::string;
use crate::wire::validate::string_field;
use crate::wire::validate::typed;

const MAX_NAME: usize = 256;
const MAX_DESCRIPTION: usize = 2048;
const MAX_SYSTEM: usize = 100_000;
const MAX_TOOLS: usize = 256;
const MAX_MCP_SERVERS: usize = 20;
const MAX_SKILLS: usize = 20;

/// `POST /v1/agents` body.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AgentCreateParams {
    /// Display name.
    pub name: String,
    /// Model (a bare id or an object).
    pub model: ModelConfig,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// System prompt.
    #[serde(default)]
    pub system: Option<String>,
    /// Tools, unresolved.
    #[serde(default)]
    pub tools: Vec<AgentToolParams>,
    /// MCP servers.
    #[serde(default)]
    pub mcp_servers: Vec<McpServer>,
    /// Skills.
    #[serde(default)]
    pub skills: Vec<SkillParams>,
    /// Metadata.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Multiagent configuration (passed through).
    #[serde(default)]
    pub multiagent: Option<Value>,
    /// Execution principal (default: the service account).
    #[serde(default)]
    pub execution_identity: Option<ExecutionIdentity>,
}

/// A skill reference in params; `version` defaults to `latest`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SkillParams {
    /// `anthropic` or `custom`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Skill id.
    pub skill_id: String,
    /// Version.
    #[serde(default)]
    pub version: Option<String>,
}

/// `POST /v1/agents/{id}` body: omitted fields are kept.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct AgentUpdateParams {
    /// New name (cannot be cleared).
    #[serde(default)]
    pub name: Option<String>,
    /// New model (cannot be cleared).
    #[serde(default)]
    pub model: Option<ModelConfig>,
    /// Description; `null` or `""` clears.
    #[serde(default)]
    pub description: Patch<String>,
    /// System prompt; `null` or `""` clears.
    #[serde(default)]
    pub system: Patch<String>,
    /// Tools, full replacement; `null` clears.
    #[serde(default)]
    pub tools: Patch<Vec<AgentToolParams>>,
    /// MCP servers, full replacement; `null` clears.
    #[serde(default)]
    pub mcp_servers: Patch<Vec<McpServer>>,
    /// Skills, full replacement; `null` clears.
    #[serde(default)]
    pub skills: Patch<Vec<SkillParams>>,
    /// Multiagent configuration; `null` clears.
    #[serde(default)]
    pub multiagent: Patch<Value>,
    /// Execution principal; `null` resets to the service account.
    #[serde(default)]
    pub execution_identity: Patch<ExecutionIdentity>,
    /// Metadata patch: a string upserts, `null` deletes.
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, Option<String>>>,
    /// Optimistic concurrency: the version the caller last saw.
    #[serde(default)]
    pub version: Option<u64>,
}

/// Why an update was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentUpdateError {
    /// The body is invalid (400).
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The agent is archived and read-only (400).
    #[error("the agent is archived")]
    Archived,
    /// `version` does not match (409, with `x-should-retry: false`).
    #[error("version mismatch: expected {expected}, the agent is at {actual}")]
    VersionConflict {
        /// The caller's version.
        expected: u64,
        /// The agent's version.
        actual: u64,
    },
}

/// Reads openma's built-in tool shorthand in an agent's `tools`: each
/// `{"type": "bash"}` (or another built-in tool's name) stands for that tool
/// of the agent toolset. The entries become one `agent_toolset_20260401`
/// with exactly those tools enabled, at the first shorthand's place, so the
/// stored agent and every response have the canonical form. A list mixing
/// the shorthand with an `agent_toolset_20260401` entry would be ambiguous
/// and is refused; so is a shorthand entry with anything but `type`.
pub fn expand_tool_shorthand(tools: &Value, path: &str) -> Result<Value, ValidationError> {
    let Value::Array(items) = tools else {
        return Ok(tools.clone());
    };
    let shorthand = |item: &Value| {
        item.get("type")
            .and_then(Value::as_str)
            .and_then(BuiltinTool::from_name)
    };
    if !items.iter().any(|item| shorthand(item).is_some()) {
        return Ok(tools.clone());
    }
    let mut out = Vec::with_capacity(items.len());
    let mut enabled: Vec<BuiltinTool> = Vec::new();
    let mut placed = false;
    for (i, item) in items.iter().enumerate() {
        let item_path = index(path, i);
        if item.get("type").and_then(Value::as_str) == Some(AGENT_TOOLSET_TYPE) {
            return Err(ValidationError::new(
                join(&item_path, "type"),
                format!(
                    "a tool list uses either {AGENT_TOOLSET_TYPE} or the built-in tool shorthand (`{{\"type\": \"bash\"}}`), not both"
                ),
            ));
        }
        let Some(tool) = shorthand(item) else {
            out.push(item.clone());
            continue;
        };
        if let Some(extra) = item
            .as_object()
            .and_then(|obj| obj.keys().find(|key| *key != "type"))
        {
            return Err(ValidationError::new(
                join(&item_path, extra),
                format!(
                    "is not supported in the built-in tool shorthand; configure the tool in an {AGENT_TOOLSET_TYPE} entry instead"
                ),
            ));
        }
        if !enabled.contains(&tool) {
            enabled.push(tool);
        }
        if !placed {
            placed = true;
            out.push(Value::Null);
        }
    }
    let toolset = serde_json::json!({
        "type": AGENT_TOOLSET_TYPE,
        "default_config": {"enabled": false},
        "configs": enabled
            .iter()
            .map(|tool| serde_json::json!({"name": tool.name(), "enabled": true}))
            .collect::<Vec<_>>(),
    });
    Ok(Value::Array(
        out.into_iter()
            .map(|item| {
                if item.is_null() {
                    toolset.clone()
                } else {
                    item
                }
            })
            .collect(),
    ))
}

/// `body` with its `tools` shorthand expanded (see [`expand_tool_shorthand`]).
fn with_canonical_tools(body: &Value) -> Result<Value, ValidationError> {
    let mut body = body.clone();
    if let Some(tools) = body.get("tools") {
        let expanded = expand_tool_shorthand(tools, "tools")?;
        body["tools"] = expanded;
    }
    Ok(body)
}

/// Parses and validates a create body.
pub fn parse_agent_create(body: &Value) -> Result<AgentCreateParams, ValidationError> {
    let body = &with_canonical_tools(body)?;
    let obj = object(body, "")?;
    check_text(required(obj, "name", "")?, "name", 1, MAX_NAME)?;
    check_model(required(obj, "model", "")?)?;
    check_common(obj)?;
    typed(body.clone(), "")
}

/// Parses and validates an update body.
pub fn parse_agent_update(body: &Value) -> Result<AgentUpdateParams, ValidationError> {
    let body = &with_canonical_tools(body)?;
    let obj = object(body, "")?;
    for name in ["name", "model"] {
        if obj.get(name).is_some_and(Value::is_null) {
            return Err(ValidationError::new(name, "cannot be cleared"));
        }
    }
    if let Some(name) = optional(obj, "name") {
        check_text(name, "name", 1, MAX_NAME)?;
    }
    if let Some(model) = optional(obj, "model") {
        check_model(model)?;
    }
    if let Some(version) = optional(obj, "version")
        && version.as_u64().is_none_or(|v| v < 1)
    {
        return Err(ValidationError::new(
            "version",
            "expected an integer of at least 1",
        ));
    }
    if let Some(metadata) = optional(obj, "metadata") {
        for (key, value) in object(metadata, "metadata")? {
            if !(value.is_string() || value.is_null()) {
                return Err(ValidationError::new(
                    join("metadata", key),
                    "expected a string or null",
                ));
            }
        }
    }
    check_common(obj)?;
    typed(body.clone(), "")
}

/// The new agent (version 1) for validated params.
pub fn create_agent(
    params: AgentCreateParams,
    id: String,
    now: Timestamp,
) -> Result<Agent, ValidationError> {
    validate_metadata(&params.metadata, "metadata")?;
    let tools = resolve_tools(&params.tools)?;
    check_mcp_references(&tools, &params.mcp_servers)?;
    Ok(Agent {
        id,
        kind: AgentType::Tag,
        name: params.name,
        description: params.description.filter(|d| !d.is_empty()),
        system: params.system.filter(|s| !s.is_empty()),
        version: 1,
        created_at: now,
        updated_at: now,
        archived_at: None,
        model: params.model,
        tools,
        mcp_servers: params.mcp_servers,
        skills: params.skills.into_iter().map(skill).collect(),
        multiagent: params.multiagent,
        metadata: params.metadata,
        execution_identity: params.execution_identity.unwrap_or_default(),
    })
}

/// Applies an update. `Ok(None)` means nothing changed: no new version.
pub fn apply_agent_update(
    current: &Agent,
    params: AgentUpdateParams,
    now: Timestamp,
) -> Result<Option<Agent>, AgentUpdateError> {
    if current.archived_at.is_some() {
        return Err(AgentUpdateError::Archived);
    }
    if let Some(expected) = params.version
        && expected != current.version
    {
        return Err(AgentUpdateError::VersionConflict {
            expected,
            actual: current.version,
        });
    }
    let mut next = current.clone();
    if let Some(name) = params.name {
        next.name = name;
    }
    if let Some(model) = params.model {
        next.model = model;
    }
    next.description = params
        .description
        .apply(next.description)
        .filter(|d| !d.is_empty());
    next.system = params.system.apply(next.system).filter(|s| !s.is_empty());
    next.multiagent = params.multiagent.apply(next.multiagent);
    next.execution_identity = params
        .execution_identity
        .apply(Some(next.execution_identity))
        .unwrap_or_default();
    if let Some(patch) = &params.metadata {
        next.metadata = apply_metadata_patch(&next.metadata, patch, "metadata")?;
    }
    next.mcp_servers = match params.mcp_servers {
        Patch::Keep => next.mcp_servers,
        Patch::Clear => Vec::new(),
        Patch::Set(servers) => servers,
    };
    next.tools = match params.tools {
        Patch::Keep => next.tools,
        Patch::Clear => Vec::new(),
        Patch::Set(tools) => resolve_tools(&tools)?,
    };
    check_mcp_references(&next.tools, &next.mcp_servers)?;
    next.skills = match params.skills {
        Patch::Keep => next.skills,
        Patch::Clear => Vec::new(),
        Patch::Set(skills) => skills.into_iter().map(skill).collect(),
    };
    if next == *current {
        return Ok(None);
    }
    next.version = current.version + 1;
    next.updated_at = now;
    Ok(Some(next))
}

fn skill(params: SkillParams) -> Skill {
    Skill {
        kind: params.kind,
        skill_id: params.skill_id,
        version: params.version.unwrap_or_else(|| "latest".to_owned()),
    }
}

fn check_text(value: &Value, path: &str, min: usize, max: usize) -> Result<(), ValidationError> {
    let length = string(value, path)?.chars().count();
    if length < min || length > max {
        return Err(ValidationError::new(
            path,
            format!("expected {min}-{max} characters"),
        ));
    }
    Ok(())
}

fn check_model(model: &Value) -> Result<(), ValidationError> {
    match model {
        Value::String(id) if !id.is_empty() => Ok(()),
        Value::Object(obj) => string_field(obj, "id", "model").map(drop),
        _ => Err(ValidationError::new(
            "model",
            "expected a model id or an object with an id",
        )),
    }
}

fn check_array<'a>(
    obj: &'a Map<String, Value>,
    name: &str,
    max: usize,
) -> Result<&'a [Value], ValidationError> {
    let Some(value) = optional(obj, name) else {
        return Ok(&[]);
    };
    let items = array(value, name)?;
    if items.len() > max {
        return Err(ValidationError::new(name, format!("at most {max} items")));
    }
    Ok(items)
}

// Checks shared by create and update, before typed parsing.
fn check_common(obj: &Map<String, Value>) -> Result<(), ValidationError> {
    if let Some(description) = optional(obj, "description") {
        check_text(description, "description", 0, MAX_DESCRIPTION)?;
    }
    if let Some(system) = optional(obj, "system") {
        check_text(system, "system", 0, MAX_SYSTEM)?;
    }
    for (i, tool) in check_array(obj, "tools", MAX_TOOLS)?.iter().enumerate() {
        let path = index("tools", i);
        let tool = object(tool, &path)?;
        match one_of(
            tool,
            "type",
            &path,
            &["agent_toolset_20260401", "mcp_toolset", "custom"],
        )? {
            "custom" => {
                string_field(tool, "name", &path)?;
                let schema_path = join(&path, "input_schema");
                let schema = object(required(tool, "input_schema", &path)?, &schema_path)?;
                one_of(schema, "type", &schema_path, &["object"])?;
            }
            "mcp_toolset" => {
                string_field(tool, "mcp_server_name", &path)?;
            }
            _ => {}
        }
    }
    for (i, server) in check_array(obj, "mcp_servers", MAX_MCP_SERVERS)?
        .iter()
        .enumerate()
    {
        let path = index("mcp_servers", i);
        let server = object(server, &path)?;
        one_of(server, "type", &path, &["url"])?;
        check_text(
            required(server, "name", &path)?,
            &join(&path, "name"),
            1,
            255,
        )?;
        string_field(server, "url", &path)?;
    }
    for (i, skill) in check_array(obj, "skills", MAX_SKILLS)?.iter().enumerate() {
        let path = index("skills", i);
        let skill = object(skill, &path)?;
        one_of(skill, "type", &path, &["anthropic", "custom"])?;
        string_field(skill, "skill_id", &path)?;
    }
    Ok(())
}

/// Replaces a session's agent `tools` and `mcp_servers` with those `patch`
/// gives (session create's `agent_with_overrides`, or session update's
/// `agent`): each given list replaces the snapshot's (`null` or `[]`
/// clears it), and the result must still pair every server with a toolset.
/// Errors name the field under `path`.
pub fn apply_session_tools(
    agent: &mut crate::wire::SessionAgent,
    patch: &Map<String, Value>,
    path: &str,
) -> Result<(), ValidationError> {
    let under = |e: ValidationError| ValidationError::new(join(path, &e.path), e.message);
    let mut shaped = Map::new();
    let mut tools = agent.tools.clone();
    if let Some(given) = patch.get("tools") {
        let given = expand_tool_shorthand(given, &join(path, "tools"))?;
        let given = if given.is_null() {
            Value::Array(Vec::new())
        } else {
            given
        };
        shaped.insert("tools".to_owned(), given.clone());
        check_common(&shaped).map_err(under)?;
        let params: Vec<AgentToolParams> = serde_json::from_value(given)
            .map_err(|e| ValidationError::new(join(path, "tools"), e.to_string()))?;
        tools = resolve_tools(&params).map_err(under)?;
    }
    let mut servers = agent.mcp_servers.clone();
    if let Some(given) = patch.get("mcp_servers") {
        let given = if given.is_null() {
            Value::Array(Vec::new())
        } else {
            given.clone()
        };
        shaped.clear();
        shaped.insert("mcp_servers".to_owned(), given.clone());
        check_common(&shaped).map_err(under)?;
        servers = serde_json::from_value(given)
            .map_err(|e| ValidationError::new(join(path, "mcp_servers"), e.to_string()))?;
    }
    check_mcp_references(&tools, &servers).map_err(under)?;
    agent.tools = tools;
    agent.mcp_servers = servers;
    Ok(())
}

// Every MCP server is used by an `mcp_toolset`, and every toolset names a
// declared server; names are unique.
fn check_mcp_references(tools: &[AgentTool], servers: &[McpServer]) -> Result<(), ValidationError> {
    for (i, server) in servers.iter().enumerate() {
        if servers[..i]
            .iter()
            .any(|earlier| earlier.name == server.name)
        {
            return Err(ValidationError::new(
                format!("mcp_servers[{i}].name"),
                "duplicate server name",
            ));
        }
        let used = tools.iter().any(
            |tool| matches!(tool, AgentTool::McpToolset(t) if t.mcp_server_name == server.name),
        );
        if !used {
            return Err(ValidationError::new(
                format!("mcp_servers[{i}].name"),
                "not referenced by any mcp_toolset",
            ));
        }
    }
    for (i, tool) in tools.iter().enumerate() {
        if let AgentTool::McpToolset(toolset) = tool
            && !servers
                .iter()
                .any(|server| server.name == toolset.mcp_server_name)
        {
            return Err(ValidationError::new(
                format!("tools[{i}].mcp_server_name"),
                "no mcp_servers entry has this name",
            ));
        }
    }
    Ok(())
}
