//! Ops signals derived from the event log: one structured JSON log line per
//! lifecycle transition, tool-call outcome and model error, and an Analytics
//! Engine data point for transitions and tool calls. Nothing here ever sees a
//! secret: events carry none.

use std::cell::RefCell;
use std::collections::HashMap;

use openma_core::metrics;
use openma_core::metrics::Sample;
use openma_core::wire::EventPayload;
use openma_core::wire::SessionErrorType;
use openma_core::wire::SessionEvent;
use serde_json::json;
use worker::AnalyticsEngineDataPointBuilder;
use worker::AnalyticsEngineDataset;
use worker::Env;

/// Emits signals for one session.
pub(crate) struct Signals {
    session_id: String,
    tenant_id: String,
    dataset: Option<AnalyticsEngineDataset>,
    /// Tool names by tool-use id, to label results.
    tools: RefCell<HashMap<String, String>>,
    /// Whether `info` lines are written (`LOG_LEVEL`).
    info: bool,
    /// Where the deployment-wide counters are added (`None`: not counted).
    metrics: Option<Env>,
}

impl std::fmt::Debug for Signals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signals")
            .field("session_id", &self.session_id)
            .finish_non_exhaustive()
    }
}

impl Signals {
    pub(crate) fn new(
        session_id: String,
        tenant_id: String,
        dataset: Option<AnalyticsEngineDataset>,
        info: bool,
        metrics: Option<Env>,
    ) -> Self {
        Self {
            session_id,
            tenant_id,
            dataset,
            tools: RefCell::new(HashMap::new()),
            info,
            metrics,
        }
    }

    /// Logs and counts what these newly appended events mean.
    pub(crate) fn observe(&self, events: &[SessionEvent]) {
        // Counted before the results' calls are forgotten below.
        if let Some(env) = &self.metrics {
            let samples = samples(events, &self.tools.borrow());
            openma_cloudflare::store::metrics::spawn_add(env, samples);
        }
        self.log_and_point(events);
    }

    fn log_and_point(&self, events: &[SessionEvent]) {
        for record in events {
            match &record.event.payload {
                EventPayload::SessionStatusRunning(_) => self.transition("running", None),
                EventPayload::SessionStatusIdle(idle) => {
                    let reason = serde_json::to_value(&idle.stop_reason)
                        .ok()
                        .and_then(|v| v["type"].as_str().map(str::to_owned));
                    self.transition("idle", reason.as_deref());
                }
                EventPayload::SessionStatusRescheduled(_) => self.transition("rescheduling", None),
                EventPayload::SessionStatusTerminated(_) => self.transition("terminated", None),
                EventPayload::SessionDeleted(_) => self.transition("deleted", None),
                EventPayload::AgentToolUse(tool_use) => {
                    self.tools
                        .borrow_mut()
                        .insert(record.event.id.clone(), tool_use.name.clone());
                }
                EventPayload::AgentToolResult(result) => {
                    let tool = self
                        .tools
                        .borrow_mut()
                        .remove(&result.tool_use_id)
                        .unwrap_or_else(|| "unknown".to_owned());
                    let ok = !result.is_error.unwrap_or(false);
                    self.log(json!({
                        "event": "tool_call",
                        "tool": tool,
                        "tool_use_id": result.tool_use_id,
                        "outcome": if ok { "ok" } else { "error" },
                    }));
                    self.point("tool_call", &tool, if ok { "ok" } else { "error" });
                }
                EventPayload::AgentMcpToolUse(tool_use) => {
                    self.tools.borrow_mut().insert(
                        record.event.id.clone(),
                        format!("{}/{}", tool_use.mcp_server_name, tool_use.name),
                    );
                }
                EventPayload::AgentMcpToolResult(result) => {
                    let tool = self
                        .tools
                        .borrow_mut()
                        .remove(&result.mcp_tool_use_id)
                        .unwrap_or_else(|| "unknown".to_owned());
                    let outcome = if result.is_error.unwrap_or(false) {
                        "error"
                    } else {
                        "ok"
                    };
                    self.log(json!({
                        "event": "mcp_call",
                        "tool": tool,
                        "tool_use_id": result.mcp_tool_use_id,
                        "outcome": outcome,
                    }));
                    self.point("mcp_call", &tool, outcome);
                }
                EventPayload::SessionError(error) => {
                    let retry = serde_json::to_value(error.error.retry_status)
                        .ok()
                        .and_then(|v| v["type"].as_str().map(str::to_owned));
                    let source = match error.error.kind {
                        SessionErrorType::McpConnectionFailedError
                        | SessionErrorType::McpAuthenticationFailedError => "mcp",
                        _ => "model",
                    };
                    self.log(json!({
                        "event": format!("{source}_error"),
                        "level": "warn",
                        "error_type": error.error.kind,
                        "retry_status": retry,
                        "message": error.error.message,
                        "mcp_server_name": error.error.extra.get("mcp_server_name"),
                    }));
                    self.point(
                        "session_error",
                        source,
                        retry.as_deref().unwrap_or("unknown"),
                    );
                }
                _ => {}
            }
        }
    }

    fn transition(&self, status: &str, stop_reason: Option<&str>) {
        self.log(json!({"event": "session_status", "status": status, "stop_reason": stop_reason}));
        self.point("session_status", status, stop_reason.unwrap_or(""));
    }

    fn log(&self, mut line: serde_json::Value) {
        line["session_id"] = json!(self.session_id);
        line["tenant_id"] = json!(self.tenant_id);
        if line.get("level").is_none() {
            if !self.info {
                return;
            }
            line["level"] = json!("info");
        }
        worker::console_log!("{line}");
    }

    fn point(&self, kind: &str, what: &str, outcome: &str) {
        if let Some(dataset) = &self.dataset {
            let point = AnalyticsEngineDataPointBuilder::new()
                .indexes([self.tenant_id.as_str()])
                .blobs([kind, what, outcome, self.session_id.as_str()])
                .add_double(1.0)
                .build();
            if let Err(e) = dataset.write_data_point(&point) {
                worker::console_warn!(
                    "{}",
                    json!({"event": "analytics_write_failed", "error": e.to_string()})
                );
            }
        }
    }
}

/// The deployment-wide counters these events add to: turns ended, model
/// requests, built-in and MCP tool calls, and `session.error`s. `tools`
/// names the calls whose results are among the events.
fn samples(events: &[SessionEvent], tools: &HashMap<String, String>) -> Vec<Sample> {
    let mut samples = Vec::new();
    let error_in_batch = events
        .iter()
        .find_map(|record| match &record.event.payload {
            EventPayload::SessionError(error) => serde_json::to_value(error.error.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned)),
            _ => None,
        });
    let outcome = |is_error: Option<bool>| {
        if is_error.unwrap_or(false) {
            "error"
        } else {
            "ok"
        }
    };
    for record in events {
        match &record.event.payload {
            EventPayload::SessionStatusIdle(idle) => {
                let reason = serde_json::to_value(&idle.stop_reason)
                    .ok()
                    .and_then(|v| v["type"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                if reason != "requires_action" {
                    samples.push(metrics::increment(
                        metrics::TURNS,
                        &[("stop_reason", &reason)],
                    ));
                }
            }
            EventPayload::SessionStatusTerminated(_) => {
                samples.push(metrics::increment(
                    metrics::TURNS,
                    &[("stop_reason", "terminated")],
                ));
            }
            EventPayload::SpanModelRequestEnd(end) => {
                let failed = end.is_error == Some(true);
                let error_type = if failed {
                    error_in_batch.as_deref().unwrap_or("unknown")
                } else {
                    ""
                };
                samples.push(metrics::increment(
                    metrics::MODEL_REQUESTS,
                    &[
                        ("outcome", outcome(end.is_error)),
                        ("error_type", error_type),
                    ],
                ));
            }
            EventPayload::AgentToolResult(result) => {
                let tool = tools
                    .get(&result.tool_use_id)
                    .map_or("unknown", String::as_str);
                samples.push(metrics::increment(
                    metrics::TOOL_CALLS,
                    &[("tool", tool), ("outcome", outcome(result.is_error))],
                ));
            }
            EventPayload::AgentMcpToolResult(result) => {
                let tool = tools
                    .get(&result.mcp_tool_use_id)
                    .map_or("unknown", String::as_str);
                let server = tool.split_once('/').map_or(tool, |(server, _)| server);
                samples.push(metrics::increment(
                    metrics::MCP_CALLS,
                    &[("server", server), ("outcome", outcome(result.is_error))],
                ));
            }
            EventPayload::SessionError(error) => {
                let kind = serde_json::to_value(error.error.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                samples.push(metrics::increment(
                    metrics::SESSION_ERRORS,
                    &[("type", &kind)],
                ));
            }
            _ => {}
        }
    }
    samples
}
