//! A self-hosted environment's work queue on the wire: work items
//! (`type:"work"`), heartbeat answers, queue statistics, and the environment
//! keys its workers authenticate with.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::Serialize;

use super::object_type::EnvironmentKeyType;
use super::object_type::WorkHeartbeatType;
use super::object_type::WorkQueueStatsType;
use super::object_type::WorkType;
use super::time::Timestamp;

/// Where a work item is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkState {
    /// Waiting for a worker, or handed out by a poll and not acknowledged yet.
    Queued,
    /// Acknowledged by the worker a poll handed it to.
    Starting,
    /// Its worker holds the lease with heartbeats.
    Active,
    /// A stop was asked for while a worker held it; the worker's next
    /// heartbeat tells it to stop.
    Stopping,
    /// Done; a session that needs a worker again gets a new item.
    Stopped,
}

impl WorkState {
    /// The state's wire name, as stored.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Starting => "starting",
            Self::Active => "active",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
        }
    }

    /// Parses a stored state.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Queued,
            Self::Starting,
            Self::Active,
            Self::Stopping,
            Self::Stopped,
        ]
        .into_iter()
        .find(|state| state.as_str() == text)
    }
}

/// `data` of a work item: the session it serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkData {
    /// Always `"session"` on this platform.
    #[serde(rename = "type")]
    pub kind: String,
    /// The `sesn_` id.
    pub id: String,
}

/// A work item, as the work routes answer it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Work {
    /// `work_` id.
    pub id: String,
    /// Always `"work"`.
    #[serde(rename = "type")]
    pub kind: WorkType,
    /// The environment whose queue holds it.
    pub environment_id: String,
    /// Its state.
    pub state: WorkState,
    /// The session it serves.
    pub data: WorkData,
    /// Metadata set through the update route.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// The credential payload (URL-safe base64 JSON with `sessions_token`):
    /// only on the poll that hands the item out, `null` everywhere else.
    #[serde(default)]
    pub secret: Option<String>,
    /// When it was queued.
    pub created_at: Timestamp,
    /// When the worker that holds it acknowledged it.
    #[serde(default)]
    pub acknowledged_at: Option<Timestamp>,
    /// When that worker's first heartbeat claimed the lease.
    #[serde(default)]
    pub started_at: Option<Timestamp>,
    /// The latest heartbeat.
    #[serde(default)]
    pub latest_heartbeat_at: Option<Timestamp>,
    /// When a stop was asked for.
    #[serde(default)]
    pub stop_requested_at: Option<Timestamp>,
    /// When it stopped.
    #[serde(default)]
    pub stopped_at: Option<Timestamp>,
}

/// The answer to a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkHeartbeat {
    /// Always `"work_heartbeat"`.
    #[serde(rename = "type")]
    pub kind: WorkHeartbeatType,
    /// The heartbeat now stored (echoed by the next heartbeat), or `""`
    /// when there is none.
    pub last_heartbeat: String,
    /// Whether the lease was extended; `false` tells the worker to stop.
    pub lease_extended: bool,
    /// The item's state.
    pub state: WorkState,
    /// The lease's TTL.
    pub ttl_seconds: u32,
}

/// A lease as the server holds it: `details.current_state` of a refused
/// heartbeat (412 `heartbeat_precondition_failed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkLeaseState {
    /// The stored heartbeat, `null` when there is none.
    pub last_heartbeat: Option<String>,
    /// Always `false`: a refused heartbeat extends nothing.
    pub lease_extended: bool,
    /// The item's state.
    pub state: WorkState,
    /// The lease's TTL.
    pub ttl_seconds: u32,
}

/// An environment's queue statistics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkQueueStats {
    /// Always `"work_queue_stats"`.
    #[serde(rename = "type")]
    pub kind: WorkQueueStatsType,
    /// Items waiting for a worker.
    pub depth: u64,
    /// Items handed out by a poll and not acknowledged.
    pub pending: u64,
    /// The oldest queued item's creation time (waiting or handed out).
    pub oldest_queued_at: Option<Timestamp>,
    /// Workers (by `Anthropic-Worker-ID`) that polled in the last 30 s.
    pub workers_polling: Option<u64>,
}

/// An environment key (openma's addition: the credential a self-hosted
/// environment's workers poll with).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvironmentKey {
    /// `envkey_` id.
    pub id: String,
    /// Always `"environment_key"`.
    #[serde(rename = "type")]
    pub kind: EnvironmentKeyType,
    /// The environment it opens.
    pub environment_id: String,
    /// The key itself: only in the answer that creates it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Creation time.
    pub created_at: Timestamp,
}
