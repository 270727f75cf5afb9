//! Appending to the log (with optimistic concurrency) and the small steps
//! that only record status changes.

use super::Harness;
use super::error::HarnessError;
use crate::ports::AppendParams;
use crate::ports::Clock;
use crate::ports::EventStore;
use crate::ports::ModelClient;
use crate::ports::StoreError;
use crate::ports::ToolExecutor;
use crate::session::ToolUseRecord;
use crate::wire::ContentBlock;
use crate::wire::Event;
use crate::wire::EventPayload;
use crate::wire::RetryStatus;
use crate::wire::SessionError;
use crate::wire::SessionErrorType;
use crate::wire::SessionEvent;
use crate::wire::StopReason;
use crate::wire::event::AgentMcpToolResultEvent;
use crate::wire::event::AgentToolResultEvent;
use crate::wire::event::SessionErrorEvent;
use crate::wire::event::SessionStatusIdleEvent;
use crate::wire::event::SessionStatusRunningEvent;
use crate::wire::event::SpanModelRequestEndEvent;
use crate::wire::event_id;

/// How many times an append is retried after losing a race.
const APPEND_ATTEMPTS: usize = 8;
/// Page size when loading the log.
const LOAD_PAGE: usize = 500;

/// Result text of a call the user interrupted.
pub(super) const INTERRUPTED_BY_USER: &str =
    "Interrupted by the user before the tool ran to completion.";

/// An event to append; `queued` user events keep `processed_at: null`.
pub(super) struct Draft {
    pub(super) payload: EventPayload,
    pub(super) queued: bool,
}

impl Draft {
    pub(super) fn done(payload: EventPayload) -> Self {
        Self {
            payload,
            queued: false,
        }
    }
}

impl<M: ModelClient, S: EventStore, T: ToolExecutor, C: Clock> Harness<M, S, T, C> {
    /// Loads events appended since the last fold (by this or another writer).
    pub(super) async fn refresh(&self) -> Result<(), HarnessError> {
        loop {
            let after = self.state.borrow().summary.last_seq;
            let events = self.ports.store.load(after, LOAD_PAGE).await?;
            if events.is_empty() {
                return Ok(());
            }
            let mut state = self.state.borrow_mut();
            let applied = state.summary.last_seq;
            for event in events.iter().filter(|e| e.seq > applied) {
                state.apply(event);
            }
        }
    }

    pub(super) async fn refresh_if_behind(&self) -> Result<bool, HarnessError> {
        let head = self.ports.store.head().await?;
        if head > self.state.borrow().summary.last_seq {
            self.refresh().await?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Appends `drafts` and marks `mark` processed, atomically; on a lost
    /// race, reloads and retries with fresh seqs (and so fresh ids).
    pub(super) async fn append(
        &self,
        drafts: Vec<Draft>,
        mark: Vec<String>,
    ) -> Result<Vec<Event>, HarnessError> {
        for _ in 0..APPEND_ATTEMPTS {
            let now = self.ports.clock.now();
            let last_seq = self.state.borrow().summary.last_seq;
            let events = self.drafted(&drafts, last_seq, now);
            let params = AppendParams {
                expected_last_seq: last_seq,
                events: events.clone(),
                mark_processed: mark.clone(),
                processed_at: now,
            };
            match self.ports.store.append(params).await {
                Ok(()) => {
                    let mut state = self.state.borrow_mut();
                    state.mark_processed(&mark);
                    // A concurrent refresh may have applied them already.
                    let applied = state.summary.last_seq;
                    for event in events.iter().filter(|e| e.seq > applied) {
                        state.apply(event);
                    }
                    return Ok(events.into_iter().map(|e| e.event).collect());
                }
                Err(StoreError::Conflict { .. }) => self.refresh().await?,
                Err(err) => return Err(err.into()),
            }
        }
        Err(HarnessError::ContendedLog)
    }

    /// The events `drafts` become when appended after `last_seq` at `now`.
    pub(super) fn drafted(
        &self,
        drafts: &[Draft],
        last_seq: crate::wire::EventSeq,
        now: crate::wire::Timestamp,
    ) -> Vec<SessionEvent> {
        drafts
            .iter()
            .zip(last_seq + 1..)
            .map(|(draft, seq)| SessionEvent {
                seq,
                event: Event {
                    id: event_id(&self.config.session_id, seq),
                    processed_at: (!draft.queued).then_some(now),
                    payload: draft.payload.clone(),
                },
            })
            .collect()
    }

    pub(super) async fn ack_interrupts(&self) -> Result<(), HarnessError> {
        let mark = self.state.borrow().unprocessed_interrupts.clone();
        self.append(Vec::new(), mark).await.map(drop)
    }

    pub(super) async fn interrupt_turn(&self) -> Result<(), HarnessError> {
        let (mut drafts, mark) = {
            let state = self.state.borrow();
            let mut drafts: Vec<Draft> = state
                .turn
                .tool_uses
                .iter()
                .filter(|t| !t.custom && t.resolution != crate::session::ToolUseResolution::Done)
                .map(|t| {
                    Draft::done(tool_result(
                        t,
                        vec![ContentBlock::text(INTERRUPTED_BY_USER)],
                        true,
                    ))
                })
                .collect();
            if let Some(span) = &state.open_span {
                drafts.insert(0, Draft::done(span_end(span, true)));
            }
            let mut mark = state.unprocessed_interrupts.clone();
            mark.extend(state.unprocessed_confirmations.iter().cloned());
            (drafts, mark)
        };
        drafts.push(Draft::done(idle(StopReason::EndTurn)));
        self.append(drafts, mark).await.map(drop)
    }

    /// The ids of the inputs waiting to be processed: what starting a turn
    /// consumes, and what ending one dead flushes.
    pub(super) fn queued_ids(&self) -> Vec<String> {
        self.state
            .borrow()
            .queued
            .iter()
            .map(|q| q.id.clone())
            .collect()
    }

    pub(super) async fn start_turn(&self) -> Result<(), HarnessError> {
        let mark = self.queued_ids();
        self.append(vec![Draft::done(running())], mark)
            .await
            .map(drop)
    }

    pub(super) async fn resume(&self) -> Result<(), HarnessError> {
        let mark = {
            let state = self.state.borrow();
            state
                .unprocessed_confirmations
                .iter()
                .chain(state.queued.iter().map(|q| &q.id))
                .cloned()
                .collect()
        };
        self.append(vec![Draft::done(running())], mark)
            .await
            .map(drop)
    }

    pub(super) async fn report_blocking(&self, event_ids: Vec<String>) -> Result<(), HarnessError> {
        let mark = self.state.borrow().unprocessed_confirmations.clone();
        self.append(
            vec![Draft::done(idle(StopReason::RequiresAction { event_ids }))],
            mark,
        )
        .await
        .map(drop)
    }

    pub(super) async fn deny_tool(
        &self,
        record: &ToolUseRecord,
        message: Option<String>,
    ) -> Result<(), HarnessError> {
        let text = match message {
            Some(message) => format!("The user denied this tool call: {message}"),
            None => "The user denied this tool call.".to_owned(),
        };
        self.append(
            vec![Draft::done(tool_result(
                record,
                vec![ContentBlock::text(text)],
                true,
            ))],
            Vec::new(),
        )
        .await
        .map(drop)
    }

    pub(super) async fn refuse_tool(&self, record: &ToolUseRecord) -> Result<(), HarnessError> {
        let text = format!("Tool {:?} is not available to this agent.", record.name);
        self.append(
            vec![Draft::done(tool_result(
                record,
                vec![ContentBlock::text(text)],
                true,
            ))],
            Vec::new(),
        )
        .await
        .map(drop)
    }

    // Stopped by the guard, not by a failed request: the error is reported
    // as exhausted and the turn ends normally.
    pub(super) async fn step_limit(&self) -> Result<(), HarnessError> {
        let limit = self.config.max_model_requests_per_turn;
        let error = SessionError::new(
            SessionErrorType::ToolUseLimitReachedError,
            format!("The turn reached its limit of {limit} model requests."),
            RetryStatus::Exhausted,
        );
        let drafts = vec![
            Draft::done(session_error(error)),
            Draft::done(idle(StopReason::EndTurn)),
        ];
        self.append(drafts, Vec::new()).await.map(drop)
    }
}

pub(super) fn running() -> EventPayload {
    EventPayload::SessionStatusRunning(SessionStatusRunningEvent {})
}

pub(super) fn idle(stop_reason: StopReason) -> EventPayload {
    EventPayload::SessionStatusIdle(SessionStatusIdleEvent {
        stop_reason,
        stop_details: None,
    })
}

pub(super) fn session_error(error: SessionError) -> EventPayload {
    EventPayload::SessionError(SessionErrorEvent { error })
}

pub(super) fn span_end(start_id: &str, is_error: bool) -> EventPayload {
    EventPayload::SpanModelRequestEnd(SpanModelRequestEndEvent {
        model_request_start_id: start_id.to_owned(),
        is_error: is_error.then_some(true),
        model_usage: crate::wire::ModelUsage::default(),
    })
}

/// The result event of a call: `agent.mcp_tool_result` for an MCP tool,
/// `agent.tool_result` for the others.
pub(super) fn tool_result(
    record: &ToolUseRecord,
    content: Vec<ContentBlock>,
    is_error: bool,
) -> EventPayload {
    match record.mcp_server {
        Some(_) => EventPayload::AgentMcpToolResult(AgentMcpToolResultEvent {
            mcp_tool_use_id: record.id.clone(),
            content: Some(content),
            is_error: Some(is_error),
        }),
        None => EventPayload::AgentToolResult(AgentToolResultEvent {
            tool_use_id: record.id.clone(),
            content: Some(content),
            is_error: Some(is_error),
        }),
    }
}
