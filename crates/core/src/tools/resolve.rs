//! Resolving `tools` from create/update params into the response shape,
//! with every tool's `enabled` and `permission_policy` filled in (§6.2).

use serde::Deserialize;
use serde::Serialize;
use serde_json::Map;
use serde_json::Value;

use super::builtin::BuiltinTool;
use crate::wire::CustomTool;
use crate::wire::PermissionPolicy;
use crate::wire::ValidationError;
use crate::wire::agent::AgentTool;
use crate::wire::agent::AgentToolset;
use crate::wire::agent::McpToolset;
use crate::wire::agent::ToolConfig;
use crate::wire::agent::ToolDefaultConfig;

/// One entry of `tools` in agent create/update params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
#[non_exhaustive]
pub enum AgentToolParams {
    /// The built-in toolset.
    #[serde(rename = "agent_toolset_20260401")]
    AgentToolset {
        /// Defaults for every tool.
        #[serde(default)]
        default_config: Option<ToolDefaultConfigParams>,
        /// Per-tool overrides.
        #[serde(default)]
        configs: Option<Vec<ToolConfigParams>>,
    },
    /// Tools of one MCP server.
    #[serde(rename = "mcp_toolset")]
    McpToolset {
        /// The server's name in `mcp_servers`.
        mcp_server_name: String,
        /// Defaults for the server's tools.
        #[serde(default)]
        default_config: Option<ToolDefaultConfigParams>,
        /// Per-tool overrides.
        #[serde(default)]
        configs: Option<Vec<ToolConfigParams>>,
    },
    /// A client-executed tool.
    #[serde(rename = "custom")]
    Custom(CustomTool),
}

/// `default_config` in params.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ToolDefaultConfigParams {
    /// Whether tools are enabled (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Policy (default: toolset `always_allow`, MCP `always_ask`).
    #[serde(default)]
    pub permission_policy: Option<PermissionPolicy>,
}

/// One entry of `configs` in params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolConfigParams {
    /// Tool name.
    pub name: String,
    /// Equal to `name` when given.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// Overrides `default_config.enabled`.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Overrides `default_config.permission_policy`.
    #[serde(default)]
    pub permission_policy: Option<PermissionPolicy>,
    /// Tool-specific settings, kept as given.
    #[serde(flatten)]
    pub settings: Map<String, Value>,
}

/// Resolves request `tools` into the response shape.
///
/// Errors name the field: an unknown built-in tool name, a `type` that does
/// not match `name`, a duplicate config, or an invalid custom tool name.
pub fn resolve_tools(params: &[AgentToolParams]) -> Result<Vec<AgentTool>, ValidationError> {
    params
        .iter()
        .enumerate()
        .map(|(i, tool)| {
            let path = format!("tools[{i}]");
            match tool {
                AgentToolParams::AgentToolset {
                    default_config,
                    configs,
                } => resolve_agent_toolset(
                    default_config.as_ref(),
                    configs.as_deref().unwrap_or_default(),
                    &path,
                ),
                AgentToolParams::McpToolset {
                    mcp_server_name,
                    default_config,
                    configs,
                } => {
                    let default_config =
                        resolve_default(default_config.as_ref(), PermissionPolicy::AlwaysAsk);
                    let configs = configs
                        .as_deref()
                        .unwrap_or_default()
                        .iter()
                        .map(|config| ToolConfig {
                            name: config.name.clone(),
                            kind: None,
                            enabled: config.enabled.unwrap_or(default_config.enabled),
                            permission_policy: config
                                .permission_policy
                                .unwrap_or(default_config.permission_policy),
                            settings: Map::new(),
                        })
                        .collect();
                    Ok(AgentTool::McpToolset(McpToolset {
                        mcp_server_name: mcp_server_name.clone(),
                        default_config,
                        configs,
                    }))
                }
                AgentToolParams::Custom(custom) => {
                    let valid = (1..=128).contains(&custom.name.len())
                        && custom
                            .name
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                    if !valid {
                        return Err(ValidationError::new(
                            format!("{path}.name"),
                            "expected 1-128 characters of [A-Za-z0-9_-]",
                        ));
                    }
                    Ok(AgentTool::Custom(custom.clone()))
                }
            }
        })
        .collect()
}

fn resolve_default(
    params: Option<&ToolDefaultConfigParams>,
    policy: PermissionPolicy,
) -> ToolDefaultConfig {
    ToolDefaultConfig {
        enabled: params.and_then(|p| p.enabled).unwrap_or(true),
        permission_policy: params.and_then(|p| p.permission_policy).unwrap_or(policy),
    }
}

fn resolve_agent_toolset(
    default_config: Option<&ToolDefaultConfigParams>,
    configs: &[ToolConfigParams],
    path: &str,
) -> Result<AgentTool, ValidationError> {
    let default_config = resolve_default(default_config, PermissionPolicy::AlwaysAllow);
    for (i, config) in configs.iter().enumerate() {
        let config_path = format!("{path}.configs[{i}]");
        if BuiltinTool::from_name(&config.name).is_none() {
            return Err(ValidationError::new(
                format!("{config_path}.name"),
                format!("unknown tool {:?}", config.name),
            ));
        }
        if config
            .kind
            .as_deref()
            .is_some_and(|kind| kind != config.name)
        {
            return Err(ValidationError::new(
                format!("{config_path}.type"),
                "must equal name",
            ));
        }
        if configs[..i]
            .iter()
            .any(|earlier| earlier.name == config.name)
        {
            return Err(ValidationError::new(
                format!("{config_path}.name"),
                "duplicate tool config",
            ));
        }
    }
    let configs = BuiltinTool::ALL
        .into_iter()
        .map(|tool| {
            let given = configs.iter().find(|config| config.name == tool.name());
            ToolConfig {
                name: tool.name().to_owned(),
                kind: Some(tool.name().to_owned()),
                enabled: given
                    .and_then(|c| c.enabled)
                    .unwrap_or(default_config.enabled),
                permission_policy: given
                    .and_then(|c| c.permission_policy)
                    .unwrap_or(default_config.permission_policy),
                settings: given.map(|c| c.settings.clone()).unwrap_or_default(),
            }
        })
        .collect();
    Ok(AgentTool::AgentToolset(AgentToolset {
        default_config,
        configs,
    }))
}
