//! Timing spans: `span.*`.

use serde::Deserialize;
use serde::Serialize;

use crate::wire::usage::ModelUsage;

/// `span.model_request_start`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SpanModelRequestStartEvent {}

/// `span.model_request_end`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpanModelRequestEndEvent {
    /// The matching `span.model_request_start`.
    pub model_request_start_id: String,
    /// Whether the request failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_error: Option<bool>,
    /// Usage of this request.
    pub model_usage: ModelUsage,
}

/// `span.outcome_evaluation_start` / `_ongoing`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpanOutcomeEvaluationEvent {
    /// The `outc_` id.
    pub outcome_id: String,
    /// 0-indexed revision cycle.
    pub iteration: u32,
}

/// `span.outcome_evaluation_end`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpanOutcomeEvaluationEndEvent {
    /// The `outc_` id.
    pub outcome_id: String,
    /// 0-indexed revision cycle.
    pub iteration: u32,
    /// The matching start event.
    pub outcome_evaluation_start_id: String,
    /// `satisfied`, `needs_revision`, `max_iterations_reached`, `failed`, `interrupted`.
    pub result: String,
    /// The grader's explanation.
    pub explanation: String,
    /// Aggregate grader usage.
    pub usage: ModelUsage,
}
