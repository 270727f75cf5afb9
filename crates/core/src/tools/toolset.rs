//! The runtime view of an agent's tools: what the model is offered and
//! what each call is allowed to do.

use serde_json::json;

use super::builtin::BuiltinTool;
use crate::llm::ToolSpec;
use crate::mcp::McpTool;
use crate::mcp::model_tool_name;
use crate::wire::AgentTool;
use crate::wire::PermissionPolicy;
use crate::wire::event::EvaluatedPermission;
use crate::wire::event::ToolEvaluation;

/// Where a tool runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolKind {
    /// In the sandbox, through the `ToolExecutor`.
    Builtin(BuiltinTool),
    /// By the client (`agent.custom_tool_use`).
    Custom,
    /// By an MCP server, through the platform (`agent.mcp_tool_use`).
    Mcp {
        /// The server's name in `mcp_servers`.
        server: String,
        /// The server's name for the tool.
        tool: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
struct ToolEntry {
    spec: ToolSpec,
    kind: ToolKind,
    enabled: bool,
    policy: PermissionPolicy,
}

/// How a tool call the model made is handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolDecision {
    /// A built-in tool, with its recorded permission and evaluation.
    Builtin {
        /// The tool.
        tool: BuiltinTool,
        /// `allow` runs it; `ask` waits for a confirmation.
        permission: EvaluatedPermission,
        /// The policy that decided.
        evaluation: ToolEvaluation,
    },
    /// A custom tool, answered by the client.
    Custom,
    /// An MCP server's tool, with its recorded permission and evaluation.
    Mcp {
        /// The server's name in `mcp_servers`.
        server: String,
        /// The server's name for the tool.
        tool: String,
        /// `allow` runs it; `ask` waits for a confirmation.
        permission: EvaluatedPermission,
        /// The policy that decided.
        evaluation: ToolEvaluation,
    },
    /// Unknown or disabled: refused before any policy applied
    /// (`evaluated_permission: deny`, no `evaluation`).
    Refused,
}

/// An agent's resolved tools.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Toolset {
    entries: Vec<ToolEntry>,
}

impl Toolset {
    /// Builds the runtime view of resolved agent tools. MCP toolsets offer
    /// their server's tools once listed (see [`Toolset::with_mcp_tools`]).
    #[must_use]
    pub fn from_agent_tools(tools: &[AgentTool]) -> Self {
        let mut entries = Vec::new();
        for tool in tools {
            match tool {
                AgentTool::AgentToolset(toolset) => {
                    for builtin in [
                        BuiltinTool::Bash,
                        BuiltinTool::Read,
                        BuiltinTool::Write,
                        BuiltinTool::Edit,
                        BuiltinTool::Glob,
                        BuiltinTool::Grep,
                        BuiltinTool::WebFetch,
                    ] {
                        let config = toolset
                            .configs
                            .iter()
                            .find(|config| config.name == builtin.name());
                        entries.push(ToolEntry {
                            spec: ToolSpec {
                                name: builtin.name().to_owned(),
                                description: builtin.description().to_owned(),
                                input_schema: builtin.input_schema(),
                            },
                            kind: ToolKind::Builtin(builtin),
                            enabled: config.map_or(toolset.default_config.enabled, |c| c.enabled),
                            policy: config.map_or(toolset.default_config.permission_policy, |c| {
                                c.permission_policy
                            }),
                        });
                    }
                }
                AgentTool::Custom(custom) => entries.push(ToolEntry {
                    spec: ToolSpec {
                        name: custom.name.clone(),
                        description: custom.description.clone(),
                        input_schema: custom.input_schema.clone(),
                    },
                    kind: ToolKind::Custom,
                    enabled: true,
                    policy: PermissionPolicy::AlwaysAllow,
                }),
                AgentTool::McpToolset(_) => {}
            }
        }
        Self { entries }
    }

    /// This toolset with the MCP tools `servers` listed, replacing any listed
    /// before. A server's tools are offered only when the agent has an
    /// `mcp_toolset` for it, and each takes that toolset's `configs` entry
    /// or `default_config`. Model-facing names are
    /// [`crate::mcp::model_tool_name`]s; a name that would collide with a tool
    /// already offered is left out.
    #[must_use]
    pub fn with_mcp_tools(
        &self,
        agent_tools: &[AgentTool],
        servers: &[(String, Vec<McpTool>)],
    ) -> Self {
        let mut entries: Vec<ToolEntry> = self
            .entries
            .iter()
            .filter(|entry| !matches!(entry.kind, ToolKind::Mcp { .. }))
            .cloned()
            .collect();
        for (server, tools) in servers {
            let Some(toolset) = agent_tools.iter().find_map(|tool| match tool {
                AgentTool::McpToolset(toolset) if toolset.mcp_server_name == *server => {
                    Some(toolset)
                }
                _ => None,
            }) else {
                continue;
            };
            for tool in tools {
                let name = model_tool_name(server, &tool.name);
                if entries.iter().any(|entry| entry.spec.name == name) {
                    continue;
                }
                let config = toolset.configs.iter().find(|c| c.name == tool.name);
                entries.push(ToolEntry {
                    spec: ToolSpec {
                        name,
                        description: tool.description.clone(),
                        input_schema: tool.input_schema.clone(),
                    },
                    kind: ToolKind::Mcp {
                        server: server.clone(),
                        tool: tool.name.clone(),
                    },
                    enabled: config.map_or(toolset.default_config.enabled, |c| c.enabled),
                    policy: config.map_or(toolset.default_config.permission_policy, |c| {
                        c.permission_policy
                    }),
                });
            }
        }
        Self { entries }
    }

    /// The tools offered to the model, in a stable order (enabled only).
    #[must_use]
    pub fn specs(&self) -> Vec<ToolSpec> {
        self.entries
            .iter()
            .filter(|entry| entry.enabled)
            .map(|entry| entry.spec.clone())
            .collect()
    }

    /// Decides how a call to `name` is handled (§6.2). `auto` has no judge in
    /// core yet, so it asks, recording `reason_code: indeterminate`.
    #[must_use]
    pub fn decide(&self, name: &str) -> ToolDecision {
        let Some(entry) = self
            .entries
            .iter()
            .find(|entry| entry.spec.name == name && entry.enabled)
        else {
            return ToolDecision::Refused;
        };
        let (permission, evaluation) = evaluate(entry.policy);
        match &entry.kind {
            ToolKind::Custom => ToolDecision::Custom,
            ToolKind::Builtin(tool) => ToolDecision::Builtin {
                tool: *tool,
                permission,
                evaluation,
            },
            ToolKind::Mcp { server, tool } => ToolDecision::Mcp {
                server: server.clone(),
                tool: tool.clone(),
                permission,
                evaluation,
            },
        }
    }
}

/// What a policy decides for one call.
fn evaluate(policy: PermissionPolicy) -> (EvaluatedPermission, ToolEvaluation) {
    match policy {
        PermissionPolicy::AlwaysAllow => (EvaluatedPermission::Allow, ToolEvaluation::AlwaysAllow),
        PermissionPolicy::AlwaysAsk => (EvaluatedPermission::Ask, ToolEvaluation::AlwaysAsk),
        PermissionPolicy::Auto => (
            EvaluatedPermission::Ask,
            ToolEvaluation::Auto {
                evaluated_permission: json!({"type": "ask", "reason_code": "indeterminate"}),
            },
        ),
    }
}
