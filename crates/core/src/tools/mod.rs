//! The agent toolset `agent_toolset_20260401`, custom tools, and permission
//! policies: resolving request configs, and deciding per tool call.

mod builtin;
mod resolve;
mod toolset;

pub use builtin::AGENT_TOOLSET_TYPE;
pub use builtin::BuiltinTool;
pub use resolve::AgentToolParams;
pub use resolve::ToolConfigParams;
pub use resolve::ToolDefaultConfigParams;
pub use resolve::resolve_tools;
pub use toolset::ToolDecision;
pub use toolset::ToolKind;
pub use toolset::Toolset;

#[cfg(test)]
#[path = "tools_tests.rs"]
mod tests;
