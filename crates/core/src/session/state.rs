//! The fold: `SessionState::replay(log)`.

use super::history::HistoryItem;
use super::summary::SessionSummary;
use super::turn::ToolUseRecord;
use super::turn::ToolUseResolution;
use super::turn::TurnState;
use crate::wire::ContentBlock;
use crate::wire::EventPayload;
use crate::wire::SessionEvent;
use crate::wire::SessionStatus;
use crate::wire::SessionUsage;
use crate::wire::StopReason;
use crate::wire::Timestamp;
use crate::wire::event::ConfirmationResult;
use crate::wire::event::EvaluatedPermission;

/// Text of the synthetic result of a tool call whose turn ended first.
pub const INTERRUPTED_TOOL_RESULT: &str = "The tool call was interrupted before it completed.";

/// A queued (not yet processed) conversational input.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedInput {
    /// The event id.
    pub id: String,
    /// What it adds to the history once processed.
    pub item: HistoryItem,
}

/// Everything derived from a session's log. Only [`SessionState::apply`] and
/// [`SessionState::mark_processed`] change it, so replaying a log always
/// yields the same state.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionState {
    /// The session's id (event ids derive from it).
    pub session_id: String,
    /// Status, usage, running time and the last seq: what a reader of the
    /// session needs, which the store also keeps beside the log.
    pub summary: SessionSummary,
    /// The conversation as the model sees it.
    pub history: Vec<HistoryItem>,
    /// Queued `user.message` / `system.message` events.
    pub queued: Vec<QueuedInput>,
    /// Ids of unprocessed `user.interrupt` events.
    pub unprocessed_interrupts: Vec<String>,
    /// Ids of unprocessed `user.tool_confirmation` events.
    pub unprocessed_confirmations: Vec<String>,
    /// A `span.model_request_start` without its end (a call in flight or cut off).
    pub open_span: Option<String>,
    /// The current turn.
    pub turn: TurnState,
    /// The stop reason of the last `session.status_idle`.
    pub last_stop: Option<StopReason>,
    /// Event ids listed by the last `requires_action` idle.
    pub blocking_reported: Vec<String>,
    processed_unassigned: Vec<HistoryItem>,
}

impl SessionState {
    /// The state of an empty log.
    #[must_use]
    pub fn new(session_id: impl Into<String>) -> Self {
        Self {
            session_id: session_id.into(),
            summary: SessionSummary::default(),
            history: Vec::new(),
            queued: Vec::new(),
            unprocessed_interrupts: Vec::new(),
            unprocessed_confirmations: Vec::new(),
            open_span: None,
            turn: TurnState::default(),
            last_stop: None,
            blocking_reported: Vec::new(),
            processed_unassigned: Vec::new(),
        }
    }

    /// Whether the session has work in hand: a turn running or waiting to
    /// retry, or inputs (messages, interrupts, confirmations) not yet
    /// processed. A session without any is at rest until the client sends
    /// something, and needs no timer.
    #[must_use]
    pub fn has_outstanding_work(&self) -> bool {
        matches!(
            self.summary.status,
            SessionStatus::Running | SessionStatus::Rescheduling
        ) || !self.queued.is_empty()
            || !self.unprocessed_interrupts.is_empty()
            || !self.unprocessed_confirmations.is_empty()
    }

    /// Folds a whole log.
    #[must_use]
    pub fn replay<'a>(
        session_id: impl Into<String>,
        events: impl IntoIterator<Item = &'a SessionEvent>,
    ) -> Self {
        let mut state = Self::new(session_id);
        for event in events {
            state.apply(event);
        }
        state
    }

    /// Milliseconds spent running up to `now` (counting a turn in progress).
    #[must_use]
    pub fn active_ms_at(&self, now: Timestamp) -> u64 {
        self.summary.active_ms_at(now)
    }

    /// The session's cumulative usage as the API reports it, with `active_seconds`.
    #[must_use]
    pub fn usage_at(&self, now: Timestamp) -> SessionUsage {
        self.summary.usage_at(now)
    }

    /// Whether the last idle asked the client for action.
    #[must_use]
    pub fn awaits_action(&self) -> bool {
        matches!(self.last_stop, Some(StopReason::RequiresAction { .. }))
    }

    /// Tool calls of the turn that wait on the client.
    #[must_use]
    pub fn blocking_ids(&self) -> Vec<String> {
        self.turn
            .tool_uses
            .iter()
            .filter(|t| t.awaits_client())
            .map(|t| t.id.clone())
            .collect()
    }

    /// Records that queued user events were processed at this point of the log
    /// (done atomically with the next append; on reload the events already
    /// carry their `processed_at`).
    pub fn mark_processed(&mut self, ids: &[String]) {
        let (processed, queued): (Vec<_>, Vec<_>) = std::mem::take(&mut self.queued)
            .into_iter()
            .partition(|q| ids.contains(&q.id));
        self.queued = queued;
        self.processed_unassigned
            .extend(processed.into_iter().map(|q| q.item));
        self.unprocessed_interrupts.retain(|id| !ids.contains(id));
        self.unprocessed_confirmations
            .retain(|id| !ids.contains(id));
    }

    /// Applies one event.
    pub fn apply(&mut self, record: &SessionEvent) {
        self.summary.apply(record);
        let event = &record.event;
        let processed = event.processed_at.is_some();
        match &event.payload {
            EventPayload::UserMessage(message) => {
                self.enqueue(
                    &event.id,
                    processed,
                    HistoryItem::User {
                        content: message.content.clone(),
                    },
                );
            }
            EventPayload::SystemMessage(message) => {
                let text = message
                    .content
                    .iter()
                    .map(|c| c.text.as_str())
                    .collect::<Vec<_>>()
                    .join("\n");
                self.enqueue(&event.id, processed, HistoryItem::System { text });
            }
            EventPayload::UserInterrupt(_) if !processed => {
                self.unprocessed_interrupts.push(event.id.clone())
            }
            EventPayload::UserToolConfirmation(confirmation) => {
                if let Some(record) = self.tool_use_mut(&confirmation.tool_use_id)
                    && record.resolution == ToolUseResolution::Pending
                    && record.permission == Some(EvaluatedPermission::Ask)
                {
                    record.resolution = match confirmation.result {
                        ConfirmationResult::Allow => ToolUseResolution::Allowed,
                        ConfirmationResult::Deny => ToolUseResolution::Denied {
                            message: confirmation.deny_message.clone(),
                        },
                    };
                }
                if !processed {
                    self.unprocessed_confirmations.push(event.id.clone());
                }
            }
            EventPayload::UserCustomToolResult(result) => {
                self.complete_tool_use(
                    &result.custom_tool_use_id,
                    result.content.clone(),
                    result.is_error,
                );
            }
            EventPayload::UserToolResult(result) => {
                self.complete_tool_use(
                    &result.tool_use_id,
                    result.content.clone(),
                    result.is_error,
                );
            }
            EventPayload::AgentMessage(message) => self.history.push(HistoryItem::AgentText {
                content: message.content.clone(),
            }),
            EventPayload::AgentToolUse(tool_use) => {
                self.start_tool_use(
                    &event.id,
                    &tool_use.name,
                    &tool_use.input,
                    false,
                    tool_use.evaluated_permission,
                );
            }
            EventPayload::AgentMcpToolUse(tool_use) => {
                self.start_tool_use(
                    &event.id,
                    &tool_use.name,
                    &tool_use.input,
                    false,
                    tool_use.evaluated_permission,
                );
                if let Some(record) = self.turn.tool_uses.last_mut() {
                    record.mcp_server = Some(tool_use.mcp_server_name.clone());
                }
                // The model knows the call by the tool's model-facing name.
                if let Some(HistoryItem::ToolUse { name, .. }) = self.history.last_mut() {
                    *name = crate::mcp::model_tool_name(&tool_use.mcp_server_name, &tool_use.name);
                }
            }
            EventPayload::AgentMcpToolResult(result) => {
                self.complete_tool_use(
                    &result.mcp_tool_use_id,
                    result.content.clone(),
                    result.is_error,
                );
            }
            EventPayload::AgentCustomToolUse(tool_use) => {
                self.start_tool_use(&event.id, &tool_use.name, &tool_use.input, true, None);
            }
            EventPayload::AgentToolResult(result) => {
                self.complete_tool_use(
                    &result.tool_use_id,
                    result.content.clone(),
                    result.is_error,
                );
            }
            EventPayload::SessionStatusRunning(_) => {
                if !self.awaits_action() {
                    self.turn = TurnState {
                        started_seq: record.seq,
                        ..TurnState::default()
                    };
                }
                self.history.append(&mut self.processed_unassigned);
            }
            EventPayload::SessionStatusIdle(idle) => {
                match &idle.stop_reason {
                    StopReason::RequiresAction { event_ids } => {
                        self.blocking_reported.clone_from(event_ids)
                    }
                    other => {
                        if *other == StopReason::RetriesExhausted {
                            self.processed_unassigned.clear();
                        }
                        self.close_turn();
                    }
                }
                self.last_stop = Some(idle.stop_reason.clone());
            }
            EventPayload::SessionStatusTerminated(_) => {
                self.close_turn();
            }
            EventPayload::SessionError(error) => {
                self.turn.last_failure_at = event.processed_at;
                self.turn.last_retry_after_ms = error
                    .error
                    .extra
                    .get("retry_after_ms")
                    .and_then(serde_json::Value::as_u64);
            }
            EventPayload::SpanModelRequestStart(_) => {
                self.open_span = Some(event.id.clone());
            }
            EventPayload::SpanModelRequestEnd(end) => {
                self.open_span = None;
                if end.is_error == Some(true) {
                    self.turn.consecutive_failures += 1;
                } else {
                    self.turn.consecutive_failures = 0;
                    self.turn.model_requests += 1;
                }
            }
            _ => {}
        }
    }

    fn enqueue(&mut self, id: &str, processed: bool, item: HistoryItem) {
        if processed {
            self.processed_unassigned.push(item);
        } else {
            self.queued.push(QueuedInput {
                id: id.to_owned(),
                item,
            });
        }
    }

    fn tool_use_mut(&mut self, id: &str) -> Option<&mut ToolUseRecord> {
        self.turn
            .tool_uses
            .iter_mut()
            .find(|record| record.id == id)
    }

    fn start_tool_use(
        &mut self,
        id: &str,
        name: &str,
        input: &serde_json::Map<String, serde_json::Value>,
        custom: bool,
        permission: Option<EvaluatedPermission>,
    ) {
        self.history.push(HistoryItem::ToolUse {
            id: id.to_owned(),
            name: name.to_owned(),
            input: input.clone(),
        });
        self.turn.tool_uses.push(ToolUseRecord {
            id: id.to_owned(),
            name: name.to_owned(),
            input: input.clone(),
            custom,
            mcp_server: None,
            permission,
            resolution: ToolUseResolution::Pending,
        });
    }

    fn complete_tool_use(
        &mut self,
        id: &str,
        content: Option<Vec<ContentBlock>>,
        is_error: Option<bool>,
    ) {
        if let Some(record) = self.tool_use_mut(id) {
            if record.resolution == ToolUseResolution::Done {
                return;
            }
            record.resolution = ToolUseResolution::Done;
        }
        self.history.push(HistoryItem::ToolResult {
            tool_use_id: id.to_owned(),
            content: content.unwrap_or_default(),
            is_error: is_error.unwrap_or(false),
        });
    }

    // A turn that ends with calls still open (interrupt, termination) gives
    // each an error result, so the history stays valid for the next request.
    fn close_turn(&mut self) {
        let open: Vec<String> = self
            .turn
            .tool_uses
            .iter()
            .filter(|t| t.resolution != ToolUseResolution::Done)
            .map(|t| t.id.clone())
            .collect();
        for id in open {
            self.complete_tool_use(
                &id,
                Some(vec![ContentBlock::text(INTERRUPTED_TOOL_RESULT)]),
                Some(true),
            );
        }
        self.blocking_reported.clear();
    }
}
