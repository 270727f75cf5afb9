//! The environment object (`type:"environment"`): a sandbox template.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::Serialize;

use super::object_type::EnvironmentType;
use super::time::Timestamp;

/// An environment, as returned by the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Environment {
    /// `env_` id.
    pub id: String,
    /// Always `"environment"`.
    #[serde(rename = "type")]
    pub kind: EnvironmentType,
    /// Display name.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// String metadata.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Sandbox configuration.
    pub config: EnvironmentConfig,
    /// `organization` or `account`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last update time.
    pub updated_at: Timestamp,
    /// Archive time.
    #[serde(default)]
    pub archived_at: Option<Timestamp>,
}

/// `config`: a cloud sandbox or a self-hosted worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EnvironmentConfig {
    /// A platform-run sandbox.
    Cloud(CloudConfig),
    /// Tools are run by the customer's worker.
    SelfHosted,
}

/// `config` of a cloud environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CloudConfig {
    /// Outbound network policy.
    #[serde(default)]
    pub networking: Networking,
    /// Packages installed at start.
    #[serde(default)]
    pub packages: Packages,
}

/// `networking`: the policy the sandbox's egress path enforces, so the API
/// and the proxy share one definition.
pub use crate::egress::NetworkingPolicy as Networking;

/// `packages`, by package manager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Packages {
    /// apt packages.
    #[serde(default)]
    pub apt: Vec<String>,
    /// cargo crates.
    #[serde(default)]
    pub cargo: Vec<String>,
    /// Ruby gems.
    #[serde(default)]
    pub gem: Vec<String>,
    /// Go modules.
    #[serde(default)]
    pub go: Vec<String>,
    /// npm packages.
    #[serde(default)]
    pub npm: Vec<String>,
    /// pip packages.
    #[serde(default)]
    pub pip: Vec<String>,
}
