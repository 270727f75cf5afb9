//! The runtime view of an agent's tools: what the model is offered and
//! what each call is allowed to do.

use serde_json::json;

use super::builtin::BuiltinTool;
use crate::llm::ToolSpec;
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
    /// Builds the runtime view of resolved agent tools. MCP toolsets are not
    /// offered to the model yet (no MCP client in core).
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
        match entry.kind {
            ToolKind::Custom => ToolDecision::Custom,
            ToolKind::Builtin(tool) => {
                let (permission, evaluation) = match entry.policy {
                    PermissionPolicy::AlwaysAllow => {
                        (EvaluatedPermission::Allow, ToolEvaluation::AlwaysAllow)
                    }
                    PermissionPolicy::AlwaysAsk => {
                        (EvaluatedPermission::Ask, ToolEvaluation::AlwaysAsk)
                    }
                    PermissionPolicy::Auto => (
                        EvaluatedPermission::Ask,
                        ToolEvaluation::Auto {
                            evaluated_permission: json!({"type": "ask", "reason_code": "indeterminate"}),
                        },
                    ),
                };
                ToolDecision::Builtin {
                    tool,
                    permission,
                    evaluation,
                }
            }
        }
    }
}
