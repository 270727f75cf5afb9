//! The session object (`type:"session"`).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::Serialize;
use serde_json::Value;

use super::agent::SessionAgent;
use super::object_type::SessionType;
use super::time::Timestamp;
use super::usage::SessionStats;
use super::usage::SessionUsage;

/// A session's lifecycle status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    /// Waiting for input (the initial status).
    #[default]
    Idle,
    /// The agent is working.
    Running,
    /// A transient error occurred; retrying automatically.
    Rescheduling,
    /// Ended; accepts no further input.
    Terminated,
}

/// A session, as returned by the API. It has no `stop_reason`: that lives
/// only on `session.status_idle` events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// `sesn_` id.
    pub id: String,
    /// Always `"session"`.
    #[serde(rename = "type")]
    pub kind: SessionType,
    /// Title.
    #[serde(default)]
    pub title: Option<String>,
    /// Status, derived from the event log.
    pub status: SessionStatus,
    /// The environment the sandbox is built from.
    pub environment_id: String,
    /// Agent snapshot taken at creation.
    pub agent: SessionAgent,
    /// Attached resources (repositories, files, memory stores).
    #[serde(default)]
    pub resources: Vec<Value>,
    /// Vaults whose credentials the session may use.
    #[serde(default)]
    pub vault_ids: Vec<String>,
    /// String metadata.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last update time.
    pub updated_at: Timestamp,
    /// Archive time.
    #[serde(default)]
    pub archived_at: Option<Timestamp>,
    /// Deployment the session came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<String>,
    /// Cumulative usage.
    #[serde(default)]
    pub usage: SessionUsage,
    /// Timing statistics.
    #[serde(default)]
    pub stats: SessionStats,
    /// Spend ceiling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Value>,
    /// Per-outcome evaluation state.
    #[serde(default)]
    pub outcome_evaluations: Vec<Value>,
}
