//! Accumulating a streamed model reply into events.

use serde_json::Map;
use serde_json::Value;

use crate::llm::ModelError;
use crate::llm::ModelErrorKind;
use crate::llm::ModelEvent;
use crate::llm::ModelStopReason;
use crate::tools::ToolDecision;
use crate::tools::Toolset;
use crate::wire::ContentBlock;
use crate::wire::EventPayload;
use crate::wire::ModelUsage;
use crate::wire::event::AgentCustomToolUseEvent;
use crate::wire::event::AgentMcpToolUseEvent;
use crate::wire::event::AgentMessageEvent;
use crate::wire::event::AgentThinkingEvent;
use crate::wire::event::AgentToolUseEvent;
use crate::wire::event::EvaluatedPermission;

#[derive(Debug, Clone, PartialEq)]
enum Block {
    Text(String),
    ToolUse {
        name: String,
        input: Map<String, Value>,
    },
}

/// The reply so far.
#[derive(Debug, Default)]
pub(super) struct Reply {
    blocks: Vec<Block>,
    thinking: bool,
    usage: ModelUsage,
    stop_reason: Option<ModelStopReason>,
}

impl Reply {
    /// Adds one streamed event; events after `Completed` are a protocol error.
    pub(super) fn push(&mut self, event: ModelEvent) -> Result<(), ModelError> {
        if self.stop_reason.is_some() {
            return Err(ModelError::new(
                ModelErrorKind::MalformedStream,
                "event after the response completed",
            ));
        }
        match event {
            ModelEvent::Started { usage } => self.usage = usage,
            ModelEvent::TextDelta { text } => match self.blocks.last_mut() {
                Some(Block::Text(current)) => current.push_str(&text),
                _ => self.blocks.push(Block::Text(text)),
            },
            ModelEvent::ThinkingDelta { .. } => self.thinking = true,
            ModelEvent::ToolUse { name, input, .. } => {
                self.blocks.push(Block::ToolUse { name, input })
            }
            ModelEvent::Completed { stop_reason, usage } => {
                self.usage = usage;
                self.stop_reason = Some(stop_reason);
            }
        }
        Ok(())
    }

    /// Position, within the reply's events, of the block the last event
    /// extended (the text block being streamed), and whether thinking was seen.
    pub(super) fn current_text_offset(&self) -> Option<usize> {
        let Some(Block::Text(_)) = self.blocks.last() else {
            return None;
        };
        let before = self.blocks[..self.blocks.len() - 1]
            .iter()
            .filter(|block| !matches!(block, Block::Text(text) if text.is_empty()))
            .count();
        Some(before + usize::from(self.thinking))
    }

    pub(super) fn stop_reason(&self) -> Option<&ModelStopReason> {
        self.stop_reason.as_ref()
    }

    pub(super) fn usage(&self) -> ModelUsage {
        self.usage
    }

    pub(super) fn has_tool_uses(&self) -> bool {
        self.blocks
            .iter()
            .any(|block| matches!(block, Block::ToolUse { .. }))
    }

    /// Only the text, for a reply cut short by an interrupt.
    pub(super) fn partial_text_events(&self) -> Vec<EventPayload> {
        self.blocks
            .iter()
            .filter_map(|block| match block {
                Block::Text(text) if !text.is_empty() => Some(message(text)),
                Block::Text(_) | Block::ToolUse { .. } => None,
            })
            .collect()
    }

    /// The agent events of a complete reply, each tool call with its decision.
    pub(super) fn into_events(self, toolset: &Toolset) -> Vec<EventPayload> {
        let mut events = Vec::with_capacity(self.blocks.len() + 1);
        if self.thinking {
            events.push(EventPayload::AgentThinking(AgentThinkingEvent {}));
        }
        for block in self.blocks {
            match block {
                Block::Text(text) if text.is_empty() => {}
                Block::Text(text) => events.push(message(&text)),
                Block::ToolUse { name, input } => events.push(match toolset.decide(&name) {
                    ToolDecision::Custom => {
                        EventPayload::AgentCustomToolUse(AgentCustomToolUseEvent {
                            name,
                            input,
                            session_thread_id: None,
                        })
                    }
                    ToolDecision::Builtin {
                        permission,
                        evaluation,
                        ..
                    } => EventPayload::AgentToolUse(AgentToolUseEvent {
                        name,
                        input,
                        evaluated_permission: Some(permission),
                        evaluation: Some(evaluation),
                        session_thread_id: None,
                    }),
                    ToolDecision::Mcp {
                        server,
                        tool,
                        permission,
                        evaluation,
                    } => EventPayload::AgentMcpToolUse(AgentMcpToolUseEvent {
                        mcp_server_name: server,
                        name: tool,
                        input,
                        evaluated_permission: Some(permission),
                        evaluation: Some(evaluation),
                        session_thread_id: None,
                    }),
                    ToolDecision::Refused => EventPayload::AgentToolUse(AgentToolUseEvent {
                        name,
                        input,
                        evaluated_permission: Some(EvaluatedPermission::Deny),
                        evaluation: None,
                        session_thread_id: None,
                    }),
                }),
            }
        }
        events
    }
}

fn message(text: &str) -> EventPayload {
    EventPayload::AgentMessage(AgentMessageEvent {
        content: vec![ContentBlock::text(text)],
    })
}
