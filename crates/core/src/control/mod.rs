//! Control-plane rules that are pure: agent create/update params (with
//! field-naming validation, tool resolution and versioning) and metadata.

mod agents;
pub mod environments;
pub mod memory;
mod metadata;
mod patch;
pub mod vaults;
pub mod work;

pub use agents::AgentCreateParams;
pub use agents::AgentUpdateError;
pub use agents::AgentUpdateParams;
pub use agents::SkillParams;
pub use agents::apply_agent_update;
pub use agents::apply_session_tools;
pub use agents::create_agent;
pub use agents::expand_tool_shorthand;
pub use agents::parse_agent_create;
pub use agents::parse_agent_update;
pub use environments::EnvironmentCreateParams;
pub use environments::EnvironmentError;
pub use environments::EnvironmentUpdateParams;
pub use environments::apply_environment_update;
pub use environments::create_environment;
pub use environments::parse_environment_create;
pub use environments::parse_environment_update;
pub use metadata::apply_metadata_patch;
pub use metadata::validate_metadata;
pub use patch::Patch;

#[cfg(test)]
#[path = "agents_tests.rs"]
mod tests;
