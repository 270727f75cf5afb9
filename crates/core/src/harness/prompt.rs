//! Projecting the history into a provider-neutral model request.

use std::collections::HashSet;

use super::config::HarnessConfig;
use crate::llm::Message;
use crate::llm::ModelRequest;
use crate::llm::Part;
use crate::llm::Role;
use crate::session::HistoryItem;
use crate::session::INTERRUPTED_TOOL_RESULT;
use crate::session::SessionState;
use crate::tools::Toolset;
use crate::wire::ContentBlock;

/// Builds the request for the next model call from the folded state.
///
/// Messages alternate user/assistant and start with a user message; within a
/// user message tool results come first, and every tool call has exactly one
/// result (a call still open gets a synthetic error result).
#[must_use]
pub fn build_model_request(
    state: &SessionState,
    config: &HarnessConfig,
    toolset: &Toolset,
) -> ModelRequest {
    ModelRequest {
        model: config.agent.model.id.clone(),
        system: config
            .agent
            .system
            .clone()
            .filter(|system| !system.is_empty()),
        messages: project_history(&state.history),
        tools: toolset.specs(),
        max_tokens: config.max_tokens,
    }
}

/// The alternating message list for `history`.
#[must_use]
pub fn project_history(history: &[HistoryItem]) -> Vec<Message> {
    let mut seen_results = HashSet::new();
    let mut messages: Vec<Message> = Vec::new();
    for item in history {
        match item {
            HistoryItem::User { content } => {
                for block in content {
                    push(
                        &mut messages,
                        Role::User,
                        Part::Content {
                            block: block.clone(),
                        },
                    );
                }
            }
            HistoryItem::System { text } => push(
                &mut messages,
                Role::User,
                Part::System { text: text.clone() },
            ),
            HistoryItem::AgentText { content } => {
                for block in content {
                    push(
                        &mut messages,
                        Role::Assistant,
                        Part::Content {
                            block: block.clone(),
                        },
                    );
                }
            }
            HistoryItem::ToolUse { id, name, input } => {
                push(
                    &mut messages,
                    Role::Assistant,
                    Part::ToolUse {
                        id: id.clone(),
                        name: name.clone(),
                        input: input.clone(),
                    },
                );
            }
            HistoryItem::ToolResult {
                tool_use_id,
                content,
                is_error,
            } => {
                if seen_results.insert(tool_use_id.as_str()) {
                    let part = Part::ToolResult {
                        tool_use_id: tool_use_id.clone(),
                        content: content.clone(),
                        is_error: *is_error,
                    };
                    push(&mut messages, Role::User, part);
                }
            }
        }
    }
    answer_open_calls(&mut messages, &seen_results);
    for message in &mut messages {
        if message.role == Role::User {
            // Providers require tool results to open the user message that
            // follows the calls; user text queued meanwhile goes after them.
            message
                .content
                .sort_by_key(|part| !matches!(part, Part::ToolResult { .. }));
        }
    }
    messages
}

fn push(messages: &mut Vec<Message>, role: Role, part: Part) {
    match messages.last_mut() {
        Some(last) if last.role == role => last.content.push(part),
        _ => messages.push(Message {
            role,
            content: vec![part],
        }),
    }
}

// Gives every call without a result a synthetic error result in the user
// message that follows it, so the request is always well formed.
fn answer_open_calls(messages: &mut Vec<Message>, answered: &HashSet<&str>) {
    let mut i = 0;
    while i < messages.len() {
        let open: Vec<Part> = messages[i]
            .content
            .iter()
            .filter_map(|part| match part {
                Part::ToolUse { id, .. }
                    if messages[i].role == Role::Assistant && !answered.contains(id.as_str()) =>
                {
                    Some(Part::ToolResult {
                        tool_use_id: id.clone(),
                        content: vec![ContentBlock::text(INTERRUPTED_TOOL_RESULT)],
                        is_error: true,
                    })
                }
                _ => None,
            })
            .collect();
        if !open.is_empty() {
            match messages.get_mut(i + 1) {
                Some(next) if next.role == Role::User => next.content.extend(open),
                _ => messages.insert(
                    i + 1,
                    Message {
                        role: Role::User,
                        content: open,
                    },
                ),
            }
        }
        i += 1;
    }
}
