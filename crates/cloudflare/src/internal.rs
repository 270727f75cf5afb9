//! The internal protocol between the main worker and the agent worker's
//! SessionDO (over the `AGENT` service binding). Not part of the public API.

use std::collections::BTreeMap;

use openma_core::wire::SessionAgent;
use openma_core::wire::Timestamp;
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
