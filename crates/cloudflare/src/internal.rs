//! The internal protocol between the main worker and the agent worker's
//! SessionDO (over the `AGENT` service binding). Not part of the public API.

use std::collections::BTreeMap;

use openma_core::SessionSummary;
use openma_core::wire::Session;
use openma_core::wire::SessionAgent;
use openma_core::wire::Timestamp;
use openma_core::wire::object_type::SessionType;
use openma_core::wire::usage::SessionStats;
use serde::Deserialize;
use serde::Serialize;
use serde_json::Value;

/// The header carrying the caller's tenant; the SessionDO answers 404 when
/// it does not match the session's.
pub const TENANT_HEADER: &str = "x-openma-tenant";

/// Everything a session is created with; kept by its SessionDO.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// `sesn_` id.
    pub id: String,
    /// Owner.
    pub tenant_id: String,
    /// The environment's id.
    pub environment_id: String,
    /// The environment's `config` at creation (networking, packages).
    #[serde(default)]
    pub environment_config: Value,
    /// The agent snapshot.
    pub agent: SessionAgent,
    /// Title.
    #[serde(default)]
    pub title: Option<String>,
    /// Metadata.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Resources as returned by the API.
    #[serde(default)]
    pub resources: Vec<Value>,
    /// Vaults.
    #[serde(default)]
    pub vault_ids: Vec<String>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last update of the record.
    pub updated_at: Timestamp,
    /// Archive time; an archived session is read-only.
    #[serde(default)]
    pub archived_at: Option<Timestamp>,
    /// The deployment that created the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<String>,
}

/// `POST /init`: creates the session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InitParams {
    /// The record.
    pub record: SessionRecord,
    /// `initial_events`, already validated by the caller (validated again).
    #[serde(default)]
    pub initial_events: Vec<Value>,
}

/// The summary the sessions index holds for a session just created: idle,
/// or running when it was created with events that start a turn.
#[must_use]
pub fn created_summary(starts_running: bool) -> SessionSummary {
    SessionSummary {
        status: if starts_running {
            openma_core::wire::SessionStatus::Running
        } else {
            openma_core::wire::SessionStatus::Idle
        },
        ..SessionSummary::default()
    }
}

impl SessionRecord {
    /// The session as the API returns it at `now`: this record, with the
    /// status, usage and running time of the log's `summary`.
    #[must_use]
    pub fn view(&self, summary: &SessionSummary, now: Timestamp) -> Session {
        Session {
            id: self.id.clone(),
            kind: SessionType::Tag,
            title: self.title.clone(),
            status: summary.status,
            environment_id: self.environment_id.clone(),
            agent: self.agent.clone(),
            resources: self.resources.clone(),
            vault_ids: self.vault_ids.clone(),
            metadata: self.metadata.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            archived_at: self.archived_at,
            deployment_id: self.deployment_id.clone(),
            usage: summary.usage_at(now),
            stats: SessionStats {
                active_seconds: Some(summary.active_ms_at(now) as f64 / 1000.0),
                duration_seconds: Some(now.millis_since(self.created_at) as f64 / 1000.0),
            },
            budget: None,
            outcome_evaluations: Vec::new(),
        }
    }
}
