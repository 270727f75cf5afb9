//! The usage ledger's rules, kept pure: what one event of a session's log
//! adds to its tenant's usage, the UTC day it counts on, and the query of a
//! usage report (`GET /v1/usage`).
//!
//! A model request counts at its `span.model_request_end`: its tokens exactly
//! as the session's `usage` folds them (see [`crate::SessionSummary`]), and
//! one request. A tool call counts at its result (`agent.tool_result`,
//! `agent.mcp_tool_result`): one call and, for a built-in tool, the wall
//! time the sandbox had it, from the call (or the confirmation that allowed
//! it) to its result. Each contribution is named by the id of the event it
//! comes from, so that a store which records it twice counts it once.

use serde::Serialize;

use crate::wire::EventPayload;
use crate::wire::SessionEvent;
use crate::wire::Timestamp;
use crate::wire::ValidationError;

/// Milliseconds in a day.
const DAY_MS: i64 = 86_400_000;

/// The span of days a report's bounds may name (days are four-digit-year
/// dates): `0000-01-01T00:00:00Z` up to, not including,
/// `10000-01-01T00:00:00Z`.
const EARLIEST: Timestamp = Timestamp(-62_167_219_200_000);
const END_OF_TIME: Timestamp = Timestamp(253_402_300_800_000);

/// Counters of the ledger: what a contribution adds, and what a report sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UsageCounts {
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Tokens read from the prompt cache.
    pub cache_read_input_tokens: u64,
    /// Tokens written to the prompt cache.
    pub cache_creation_input_tokens: u64,
    /// Model requests (each `span.model_request_end`, failed ones included).
    pub model_requests: u64,
    /// Tool calls answered (built-in and MCP).
    pub tool_calls: u64,
    /// Milliseconds built-in tool calls held the sandbox.
    pub sandbox_ms: u64,
}

impl UsageCounts {
    /// Adds `other` to these counts.
    pub fn add(&mut self, other: &Self) {
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        self.cache_read_input_tokens = self
            .cache_read_input_tokens
            .saturating_add(other.cache_read_input_tokens);
        self.cache_creation_input_tokens = self
            .cache_creation_input_tokens
            .saturating_add(other.cache_creation_input_tokens);
        self.model_requests = self.model_requests.saturating_add(other.model_requests);
        self.tool_calls = self.tool_calls.saturating_add(other.tool_calls);
        self.sandbox_ms = self.sandbox_ms.saturating_add(other.sandbox_ms);
    }
}

/// The counters as a usage report shows them (sandbox time in seconds).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct UsageTotals {
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Tokens read from the prompt cache.
    pub cache_read_input_tokens: u64,
    /// Tokens written to the prompt cache.
    pub cache_creation_input_tokens: u64,
    /// Model requests.
    pub model_requests: u64,
    /// Tool calls.
    pub tool_calls: u64,
    /// Seconds built-in tool calls held the sandbox, to the millisecond.
    pub sandbox_seconds: f64,
}

impl From<&UsageCounts> for UsageTotals {
    fn from(counts: &UsageCounts) -> Self {
        Self {
            input_tokens: counts.input_tokens,
            output_tokens: counts.output_tokens,
            cache_read_input_tokens: counts.cache_read_input_tokens,
            cache_creation_input_tokens: counts.cache_creation_input_tokens,
            model_requests: counts.model_requests,
            tool_calls: counts.tool_calls,
            sandbox_seconds: counts.sandbox_ms as f64 / 1000.0,
        }
    }
}

/// What one event adds to the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contribution {
    /// The id of the event it comes from: the key that makes recording it
    /// again a no-op.
    pub id: String,
    /// When the event was processed; the contribution counts on its UTC day.
    pub at: Timestamp,
    /// What it adds.
    pub counts: UsageCounts,
}

impl Contribution {
    /// The UTC day it counts on, `YYYY-MM-DD`.
    #[must_use]
    pub fn day(&self) -> String {
        utc_day(self.at)
    }
}

/// Whether an event of this payload adds to the ledger.
#[must_use]
pub fn contributes(payload: &EventPayload) -> bool {
    matches!(
        payload,
        EventPayload::SpanModelRequestEnd(_)
            | EventPayload::AgentToolResult(_)
            | EventPayload::AgentMcpToolResult(_)
    )
}

/// What `record` adds to the ledger, if anything. `tool_started` answers,
/// for the `agent.tool_use` event id a built-in tool result names, when that
/// call started running (`None` when unknown: no sandbox time is counted).
pub fn contribution(
    record: &SessionEvent,
    tool_started: impl FnOnce(&str) -> Option<Timestamp>,
) -> Option<Contribution> {
    let event = &record.event;
    // Every event the agent appends is processed as it is appended.
    let at = event.processed_at?;
    let counts = match &event.payload {
        EventPayload::SpanModelRequestEnd(end) => {
            let usage = &end.model_usage;
            UsageCounts {
                input_tokens: usage.input_tokens,
                output_tokens: usage.output_tokens,
                cache_read_input_tokens: usage.cache_read_input_tokens,
                cache_creation_input_tokens: usage.cache_creation_input_tokens,
                model_requests: 1,
                ..UsageCounts::default()
            }
        }
        EventPayload::AgentToolResult(result) => UsageCounts {
            tool_calls: 1,
            sandbox_ms: tool_started(&result.tool_use_id).map_or(0, |from| at.millis_since(from)),
            ..UsageCounts::default()
        },
        EventPayload::AgentMcpToolResult(_) => UsageCounts {
            tool_calls: 1,
            ..UsageCounts::default()
        },
        _ => return None,
    };
    Some(Contribution {
        id: event.id.clone(),
        at,
        counts,
    })
}

/// The UTC day of `at`, `YYYY-MM-DD`.
#[must_use]
pub fn utc_day(at: Timestamp) -> String {
    let mut text = at.to_rfc3339();
    text.truncate(10);
    text
}

/// How a usage report groups its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UsageGroupBy {
    /// One row per UTC day.
    #[default]
    Day,
    /// One row per agent.
    Agent,
    /// One row per model.
    Model,
}

impl UsageGroupBy {
    /// The `group_by` value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Agent => "agent",
            Self::Model => "model",
        }
    }

    /// The name of the ledger column (and of the row's `group` field) it
    /// groups by.
    #[must_use]
    pub fn column(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Agent => "agent_id",
            Self::Model => "model",
        }
    }
}

/// `GET /v1/usage` query parameters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UsageQuery {
    /// The report covers the days that end after this.
    pub starting_at: Option<Timestamp>,
    /// The report covers the days that start before this.
    pub ending_at: Option<Timestamp>,
    /// How rows are grouped (`day` by default).
    pub group_by: UsageGroupBy,
    /// Another tenant to report (the operator's key only).
    pub tenant_id: Option<String>,
}

impl UsageQuery {
    /// Parses decoded query pairs. Every parameter may be given once; an
    /// unknown one is refused (`beta`, which the SDKs add to every beta
    /// call, is accepted as `true` or `false`).
    pub fn from_pairs<K: AsRef<str>, V: AsRef<str>>(
        pairs: &[(K, V)],
    ) -> Result<Self, ValidationError> {
        let mut query = Self::default();
        let mut seen: Vec<&str> = Vec::new();
        for (key, value) in pairs {
            let (key, value) = (key.as_ref(), value.as_ref());
            if seen.contains(&key) {
                return Err(ValidationError::new(key, "given more than once"));
            }
            seen.push(key);
            let time = || match Timestamp::parse_rfc3339(value) {
                Some(at) if (EARLIEST..END_OF_TIME).contains(&at) => Ok(at),
                Some(_) => Err(ValidationError::new(
                    key,
                    "expected a time in the years 0000 to 9999 (UTC)",
                )),
                None => Err(ValidationError::new(key, "expected an RFC 3339 timestamp")),
            };
            match key {
                "starting_at" => query.starting_at = Some(time()?),
                "ending_at" => query.ending_at = Some(time()?),
                "group_by" => {
                    query.group_by = match value {
                        "day" => UsageGroupBy::Day,
                        "agent" => UsageGroupBy::Agent,
                        "model" => UsageGroupBy::Model,
                        _ => {
                            return Err(ValidationError::new(
                                "group_by",
                                "expected day, agent or model",
                            ));
                        }
                    }
                }
                "tenant_id" if !value.is_empty() && value.len() <= 256 => {
                    query.tenant_id = Some(value.to_owned());
                }
                "tenant_id" => {
                    return Err(ValidationError::new(
                        "tenant_id",
                        "expected a tenant id of 1 to 256 characters",
                    ));
                }
                "beta" if matches!(value, "true" | "false") => {}
                "beta" => return Err(ValidationError::new("beta", "expected true or false")),
                _ => return Err(ValidationError::new(key, "unknown query parameter")),
            }
        }
        if let (Some(start), Some(end)) = (query.starting_at, query.ending_at)
            && end <= start
        {
            return Err(ValidationError::new(
                "ending_at",
                "must be after starting_at",
            ));
        }
        Ok(query)
    }

    /// The first day the report covers: the UTC day of `starting_at`.
    #[must_use]
    pub fn first_day(&self) -> Option<String> {
        self.starting_at.map(utc_day)
    }

    /// The first day past the report: the day after the last one that
    /// starts before `ending_at` (`None` past the last day there is).
    #[must_use]
    pub fn end_day(&self) -> Option<String> {
        self.ending_at
            .map(|end| Timestamp(end.0.saturating_sub(1).saturating_add(DAY_MS)))
            .filter(|next| *next < END_OF_TIME)
            .map(utc_day)
    }
}

#[cfg(test)]
#[path = "ledger_tests.rs"]
mod tests;
