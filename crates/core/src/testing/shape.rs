use std::collections::HashMap;

use serde_json::Value;

use crate::wire::ContentBlock;
use crate::wire::EventPayload;
use crate::wire::SessionEvent;
use crate::wire::StopReason;

/// Renders a log one line per event, for snapshot assertions:
/// `3 agent.tool_use bash {"command":"ls"} allow`. Event ids are shown as
/// `#<seq>`; queued (unprocessed) user events end with `(queued)`.
#[must_use]
pub fn log_shape(events: &[SessionEvent]) -> String {
    let seqs: HashMap<&str, u64> = events
        .iter()
        .map(|e| (e.event.id.as_str(), e.seq))
        .collect();
    let reference = |id: &str| {
        seqs.get(id)
            .map_or_else(|| id.to_owned(), |seq| format!("#{seq}"))
    };
    events
        .iter()
        .map(|record| {
            let event = &record.event;
            let detail = match &event.payload {
                EventPayload::UserMessage(m) => texts(&m.content),
                EventPayload::SystemMessage(m) => {
                    format!(
                        "{:?}",
                        m.content
                            .iter()
                            .map(|c| c.text.as_str())
                            .collect::<Vec<_>>()
                            .join(" ")
                    )
                }
                EventPayload::UserToolConfirmation(c) => {
                    let result = match c.result {
                        crate::wire::event::ConfirmationResult::Allow => "allow",
                        crate::wire::event::ConfirmationResult::Deny => "deny",
                    };
                    format!(
                        "{} {result}{}",
                        reference(&c.tool_use_id),
                        c.deny_message
                            .as_ref()
                            .map(|m| format!(" {m:?}"))
                            .unwrap_or_default()
                    )
                }
                EventPayload::UserCustomToolResult(r) => {
                    format!(
                        "{} {}{}",
                        reference(&r.custom_tool_use_id),
                        texts(r.content.as_deref().unwrap_or_default()),
                        error_flag(r.is_error)
                    )
                }
                EventPayload::UserToolResult(r) => format!(
                    "{} {}{}",
                    reference(&r.tool_use_id),
                    texts(r.content.as_deref().unwrap_or_default()),
                    error_flag(r.is_error)
                ),
                EventPayload::AgentMessage(m) => texts(&m.content),
                EventPayload::AgentToolUse(t) => {
                    let permission = t
                        .evaluated_permission
                        .map(|p| format!(" {}", to_str(&p)))
                        .unwrap_or_default();
                    format!("{} {}{permission}", t.name, Value::Object(t.input.clone()))
                }
                EventPayload::AgentMcpToolUse(t) => {
                    let permission = t
                        .evaluated_permission
                        .map(|p| format!(" {}", to_str(&p)))
                        .unwrap_or_default();
                    format!(
                        "{}/{} {}{permission}",
                        t.mcp_server_name,
                        t.name,
                        Value::Object(t.input.clone())
                    )
                }
                EventPayload::AgentMcpToolResult(r) => format!(
                    "{} {}{}",
                    reference(&r.mcp_tool_use_id),
                    texts(r.content.as_deref().unwrap_or_default()),
                    error_flag(r.is_error)
                ),
                EventPayload::AgentCustomToolUse(t) => {
                    format!("{} {}", t.name, Value::Object(t.input.clone()))
                }
                EventPayload::AgentToolResult(r) => {
                    format!(
                        "{} {}{}",
                        reference(&r.tool_use_id),
                        texts(r.content.as_deref().unwrap_or_default()),
                        error_flag(r.is_error)
                    )
                }
                EventPayload::SessionStatusIdle(idle) => match &idle.stop_reason {
                    StopReason::RequiresAction { event_ids } => {
                        format!(
                            "requires_action [{}]",
                            event_ids
                                .iter()
                                .map(|id| reference(id))
                                .collect::<Vec<_>>()
                                .join(",")
                        )
                    }
                    other => to_str(other),
                },
                EventPayload::SessionError(e) => format!(
                    "{} {}",
                    to_str(&e.error.kind),
                    to_str(&e.error.retry_status)
                ),
                EventPayload::SpanModelRequestEnd(end) => format!(
                    "{} in={} out={}{}",
                    reference(&end.model_request_start_id),
                    end.model_usage.input_tokens,
                    end.model_usage.output_tokens,
                    error_flag(end.is_error)
                ),
                _ => String::new(),
            };
            let queued = if event.processed_at.is_none() {
                " (queued)"
            } else {
                ""
            };
            format!("{} {} {detail}{queued}", record.seq, event.type_name())
                .trim_end()
                .replace("  ", " ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn texts(content: &[ContentBlock]) -> String {
    content
        .iter()
        .map(|block| format!("{:?}", block.as_text().unwrap_or("[non-text]")))
        .collect::<Vec<_>>()
        .join(" ")
}

fn error_flag(is_error: Option<bool>) -> &'static str {
    if is_error == Some(true) { " error" } else { "" }
}

// The `type` tag (or bare string) of a serializable value.
fn to_str<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        Ok(Value::Object(map)) => map
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        _ => String::new(),
    }
}

/// Renders the model-visible conversation of a request, one line per part:
/// `assistant: tool_use sevt_..._000004 bash {"command":"ls"}`.
#[must_use]
pub fn request_shape(request: &crate::llm::ModelRequest) -> String {
    use crate::llm::Part;
    use crate::llm::Role;
    let mut lines = Vec::new();
    if let Some(system) = &request.system {
        lines.push(format!("system: {system:?}"));
    }
    for message in &request.messages {
        let role = match message.role {
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        for part in &message.content {
            let text = match part {
                Part::Content { block } => texts(std::slice::from_ref(block)),
                Part::System { text } => format!("system {text:?}"),
                Part::ToolUse { id, name, input } => {
                    format!("tool_use {id} {name} {}", Value::Object(input.clone()))
                }
                Part::ToolResult {
                    tool_use_id,
                    content,
                    is_error,
                } => {
                    format!(
                        "tool_result {tool_use_id} {}{}",
                        texts(content),
                        error_flag(Some(*is_error))
                    )
                }
            };
            lines.push(format!("{role}: {text}"));
        }
    }
    lines.join("\n")
}
