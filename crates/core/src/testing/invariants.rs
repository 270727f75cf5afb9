use std::collections::HashMap;

use crate::wire::EventPayload;
use crate::wire::SessionEvent;
use crate::wire::StopReason;

/// Panics unless the log keeps the harness's invariants:
/// - `seq` strictly increases and ids are unique;
/// - every `agent.tool_use` gets exactly one `agent.tool_result` (or, on a
///   self-hosted environment, `user.tool_result`), after it;
/// - every `agent.custom_tool_use` gets at most one `user.custom_tool_result`,
///   and none only when its turn was ended by the user;
/// - every `session.status_running` is followed by exactly one
///   `session.status_idle` or `session.status_terminated` before the next
///   running (further idles may only re-list `requires_action`);
/// - every `span.model_request_end` closes the open `span.model_request_start`.
pub fn check_invariants(events: &[SessionEvent]) {
    let mut last_seq = 0;
    let mut ids = HashMap::new();
    for record in events {
        assert!(
            record.seq > last_seq,
            "seq {} does not increase",
            record.seq
        );
        last_seq = record.seq;
        assert!(
            ids.insert(record.event.id.clone(), record.seq).is_none(),
            "duplicate id {}",
            record.event.id
        );
    }
    let mut tool_results: HashMap<&str, usize> = HashMap::new();
    let mut custom_results: HashMap<&str, usize> = HashMap::new();
    for record in events {
        match &record.event.payload {
            EventPayload::AgentToolResult(r) => {
                let use_seq = ids.get(&r.tool_use_id).copied().unwrap_or(u64::MAX);
                assert!(
                    use_seq < record.seq,
                    "result #{} precedes or lacks its call",
                    record.seq
                );
                *tool_results.entry(r.tool_use_id.as_str()).or_default() += 1;
            }
            EventPayload::UserToolResult(r) => {
                *tool_results.entry(r.tool_use_id.as_str()).or_default() += 1;
            }
            EventPayload::AgentMcpToolResult(r) => {
                let use_seq = ids.get(&r.mcp_tool_use_id).copied().unwrap_or(u64::MAX);
                assert!(
                    use_seq < record.seq,
                    "result #{} precedes or lacks its call",
                    record.seq
                );
                *tool_results.entry(r.mcp_tool_use_id.as_str()).or_default() += 1;
            }
            EventPayload::UserCustomToolResult(r) => {
                *custom_results
                    .entry(r.custom_tool_use_id.as_str())
                    .or_default() += 1
            }
            _ => {}
        }
    }
    let mut running = false;
    let mut closed_since_running = false;
    let mut open_span: Option<&str> = None;
    let mut interrupted_turn = false;
    let mut turn_custom_uses: Vec<&str> = Vec::new();
    for record in events {
        let event = &record.event;
        match &event.payload {
            EventPayload::AgentToolUse(_) | EventPayload::AgentMcpToolUse(_) => {
                let count = tool_results.get(event.id.as_str()).copied().unwrap_or(0);
                assert_eq!(count, 1, "tool use #{} has {count} results", record.seq);
            }
            EventPayload::AgentCustomToolUse(_) => turn_custom_uses.push(event.id.as_str()),
            EventPayload::UserInterrupt(_) => interrupted_turn = true,
            EventPayload::SessionStatusRunning(_) => {
                assert!(
                    !running || closed_since_running,
                    "status_running #{} while already running",
                    record.seq
                );
                running = true;
                closed_since_running = false;
            }
            EventPayload::SessionStatusIdle(idle) => {
                let reemit = matches!(idle.stop_reason, StopReason::RequiresAction { .. })
                    || closed_since_running;
                assert!(
                    running || reemit || interrupted_turn,
                    "status_idle #{} without a running turn",
                    record.seq
                );
                if !matches!(idle.stop_reason, StopReason::RequiresAction { .. }) {
                    for id in turn_custom_uses.drain(..) {
                        let count = custom_results.get(id).copied().unwrap_or(0);
                        assert!(
                            count == 1 || (count == 0 && interrupted_turn),
                            "custom tool use {id} has {count} results"
                        );
                    }
                    interrupted_turn = false;
                }
                closed_since_running = true;
                running = false;
            }
            EventPayload::SessionStatusTerminated(_) => {
                running = false;
                closed_since_running = true;
            }
            EventPayload::SpanModelRequestStart(_) => {
                assert!(
                    open_span.is_none(),
                    "span #{} starts inside another span",
                    record.seq
                );
                open_span = Some(event.id.as_str());
            }
            EventPayload::SpanModelRequestEnd(end) => {
                assert_eq!(
                    open_span,
                    Some(end.model_request_start_id.as_str()),
                    "span end #{} does not close the open span",
                    record.seq
                );
                open_span = None;
            }
            _ => {}
        }
    }
    assert!(open_span.is_none(), "a model request span is left open");
}
