//! Session lifecycle events: `session.*`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::Serialize;
use serde_json::Value;

use crate::wire::stop::RefusalStopDetails;
use crate::wire::stop::SessionError;
use crate::wire::stop::StopReason;
use crate::wire::usage::SessionUsage;

/// `session.status_running`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SessionStatusRunningEvent {}

/// `session.status_idle`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionStatusIdleEvent {
    /// Why the session stopped.
    pub stop_reason: StopReason,
    /// Details, for refusals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_details: Option<RefusalStopDetails>,
}

/// `session.status_rescheduled`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SessionStatusRescheduledEvent {}

/// `session.status_terminated`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SessionStatusTerminatedEvent {}

/// `session.error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionErrorEvent {
    /// The error.
    pub error: SessionError,
}

/// `session.deleted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SessionDeletedEvent {}

/// `session.updated`: only the fields that changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SessionUpdatedEvent {
    /// Full agent snapshot, when tools or MCP servers changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<Value>,
    /// New budget (`null` when removed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Value>,
    /// Full metadata after the update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
    /// New title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// `session.usage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionUsageEvent {
    /// Cumulative usage.
    pub usage: SessionUsage,
    /// Configured budget, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Value>,
}

/// `session.thread_created`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionThreadCreatedEvent {
    /// The new thread.
    pub session_thread_id: String,
    /// The agent the thread runs.
    pub agent_name: String,
    /// The workflow run that created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_run_id: Option<String>,
}

/// `session.thread_status_running` / `_rescheduled` / `_terminated`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionThreadStatusEvent {
    /// The thread.
    pub session_thread_id: String,
    /// The agent the thread runs.
    pub agent_name: String,
}

/// `session.thread_status_idle`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionThreadStatusIdleEvent {
    /// The thread.
    pub session_thread_id: String,
    /// The agent the thread runs.
    pub agent_name: String,
    /// Why the thread stopped.
    pub stop_reason: StopReason,
    /// Details, for refusals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_details: Option<RefusalStopDetails>,
}
