//! One model request: open (or reuse) the span, stream, record the outcome.

use std::collections::HashSet;

use serde_json::Value;

use super::Harness;
use super::action;
use super::action::Action;
use super::append::Draft;
use super::append::idle;
use super::append::session_error;
use super::error::HarnessError;
use super::join::join;
use super::observer::StepObserver;
use super::prompt::build_model_request;
use super::reply::Reply;
use crate::llm::ModelError;
use crate::llm::ModelErrorKind;
use crate::llm::ModelEvent;
use crate::llm::ModelStopReason;
use crate::ports::Clock;
use crate::ports::EventStore;
use crate::ports::ModelClient;
use crate::ports::ModelStream;
use crate::ports::ToolExecutor;
use crate::wire::ContentBlock;
use crate::wire::EventPayload;
use crate::wire::ModelUsage;
use crate::wire::RetryStatus;
use crate::wire::SessionError;
use crate::wire::StopReason;
use crate::wire::StreamPreview;
use crate::wire::event::SessionStatusRescheduledEvent;
use crate::wire::event::SessionStatusTerminatedEvent;
use crate::wire::event::SpanModelRequestEndEvent;
use crate::wire::event::SpanModelRequestStartEvent;
use crate::wire::event_id;
use crate::wire::preview::ContentDelta;
use crate::wire::preview::PreviewedEvent;

/// How a streamed call ended.
enum Streamed {
    Complete(Reply),
    Failed(ModelError),
    Interrupted(Reply),
}

impl<M: ModelClient, S: EventStore, T: ToolExecutor, C: Clock> Harness<M, S, T, C> {
    /// Issues the model request. A span left open by a crash is reused, so
    /// the re-issued call leaves the same log as an uninterrupted one.
    pub(super) async fn call_model<O: StepObserver>(
        &self,
        observer: &O,
    ) -> Result<(), HarnessError> {
        self.list_mcp_tools().await?;
        let open_span = self.state.borrow().open_span.clone();
        let span_id = match open_span {
            Some(id) => id,
            None => {
                let appended = self
                    .append(vec![Draft::done(span_start())], Vec::new())
                    .await?;
                appended
                    .into_iter()
                    .next()
                    .map(|event| event.id)
                    .ok_or(HarnessError::ContendedLog)?
            }
        };
        let request =
            build_model_request(&self.state.borrow(), &self.config, &self.toolset.borrow());
        let started = self.ports.model.stream(request).await;
        self.finish_call(&span_id, started, observer).await
    }

    /// Appends a tool's `result` and, when the model is to be called
    /// next, calls it in the same step: the request is sent before the
    /// result and the span's start are written, so it does not wait for
    /// their commit (a Durable Object holds every outgoing request until the
    /// writes before it are durable). If the object dies before the commit,
    /// the log ends at the tool's call: the call is re-run, answered by the
    /// sandbox's journal, and the model called again. Nothing runs twice.
    pub(super) async fn record_and_call_model<O: StepObserver>(
        &self,
        result: EventPayload,
        observer: &O,
    ) -> Result<(), HarnessError> {
        self.refresh_if_behind().await?;
        self.list_mcp_tools().await?;
        let mut drafts = vec![Draft::done(result), Draft::done(span_start())];
        let now = self.ports.clock.now();
        let (request, expected_id) = {
            let state = self.state.borrow();
            let events = self.drafted(&drafts, state.summary.last_seq, now);
            let mut request = None;
            if let [result, start] = events.as_slice() {
                let mut next = state.clone();
                next.apply(result);
                if action::next_action(&next, &self.config, now) == Action::CallModel
                    && next.open_span.is_none()
                {
                    next.apply(start);
                    request = Some(build_model_request(
                        &next,
                        &self.config,
                        &self.toolset.borrow(),
                    ));
                }
            }
            (request, events.first().map(|e| e.event.id.clone()))
        };
        let Some(request) = request else {
            drafts.truncate(1);
            return self.append(drafts, Vec::new()).await.map(drop);
        };
        let (started, appended) = join(
            self.ports.model.stream(request),
            self.append(drafts, Vec::new()),
        )
        .await;
        match appended?.as_slice() {
            // Another writer got in first: the request may miss its events.
            // The span stays open, and the next step issues the call again.
            [result, _] if Some(&result.id) != expected_id.as_ref() => Ok(()),
            [_, start] => self.finish_call(&start.id, started, observer).await,
            _ => Err(HarnessError::ContendedLog),
        }
    }

    /// Lists the MCP servers' tools once per turn, before its first model
    /// request (or the first after the object restarted): the toolset offers
    /// what was listed, and each server that could not be listed gets a
    /// `session.error` while the turn goes on without its tools.
    async fn list_mcp_tools(&self) -> Result<(), HarnessError> {
        let has_mcp = self
            .config
            .agent
            .tools
            .iter()
            .any(|tool| matches!(tool, crate::wire::AgentTool::McpToolset(_)));
        let turn = self.state.borrow().turn.started_seq;
        if !has_mcp || self.mcp_listed_for.get() == Some(turn) {
            return Ok(());
        }
        let listing = self.ports.tools.mcp_tools().await;
        let toolset = self
            .toolset
            .borrow()
            .with_mcp_tools(&self.config.agent.tools, &listing.servers);
        *self.toolset.borrow_mut() = toolset;
        self.mcp_listed_for.set(Some(turn));
        if listing.errors.is_empty() {
            return Ok(());
        }
        let drafts = listing
            .errors
            .into_iter()
            .map(|error| Draft::done(session_error(error)))
            .collect();
        self.append(drafts, Vec::new()).await.map(drop)
    }

    // Streams a started call and records how it ended.
    async fn finish_call<O: StepObserver>(
        &self,
        span_id: &str,
        started: Result<M::Stream, ModelError>,
        observer: &O,
    ) -> Result<(), HarnessError> {
        match self.stream_reply(started, observer).await? {
            Streamed::Complete(reply) => self.record_reply(span_id, reply).await,
            Streamed::Failed(error) => self.record_failure(span_id, error).await,
            Streamed::Interrupted(reply) => {
                let mut drafts: Vec<Draft> = reply
                    .partial_text_events()
                    .into_iter()
                    .map(Draft::done)
                    .collect();
                drafts.push(Draft::done(span_end(span_id, None, reply.usage())));
                self.append(drafts, Vec::new()).await.map(drop)
            }
        }
    }

    // Polls the store's head after every event so an interrupt sent while
    // the model streams stops the turn without waiting for the reply.
    async fn stream_reply<O: StepObserver>(
        &self,
        started: Result<M::Stream, ModelError>,
        observer: &O,
    ) -> Result<Streamed, HarnessError> {
        let mut previewed = HashSet::new();
        let mut reply = Reply::default();
        let mut stream = match started {
            Ok(stream) => stream,
            Err(error) => return self.failed_unless_interrupted(reply, error).await,
        };
        loop {
            match stream.next().await {
                None if reply.stop_reason().is_some() => return Ok(Streamed::Complete(reply)),
                None => {
                    let error = ModelError::new(
                        ModelErrorKind::BrokenStream,
                        "the model stream ended before the response completed",
                    );
                    return self.failed_unless_interrupted(reply, error).await;
                }
                Some(Err(error)) => return self.failed_unless_interrupted(reply, error).await,
                Some(Ok(event)) => {
                    let piece = match &event {
                        ModelEvent::TextDelta { text } => Some(("agent.message", text.clone())),
                        ModelEvent::ThinkingDelta { .. } => Some(("agent.thinking", String::new())),
                        ModelEvent::Started { .. }
                        | ModelEvent::ToolUse { .. }
                        | ModelEvent::Completed { .. } => None,
                    };
                    if let Err(error) = reply.push(event) {
                        return Ok(Streamed::Failed(error));
                    }
                    if let Some((kind, text)) = piece {
                        self.preview(observer, &reply, kind, text, &mut previewed);
                    }
                    // The interrupt may come from another writer (seen by
                    // polling the head) or through this harness's `submit`.
                    self.refresh_if_behind().await?;
                    if !self.state.borrow().unprocessed_interrupts.is_empty() {
                        return Ok(Streamed::Interrupted(reply));
                    }
                }
            }
        }
    }

    // A call that failed because an interrupt cut it short (the adapter
    // ends a call when one arrives) ends the turn as the interrupt says.
    async fn failed_unless_interrupted(
        &self,
        reply: Reply,
        error: ModelError,
    ) -> Result<Streamed, HarnessError> {
        self.refresh_if_behind().await?;
        if self.state.borrow().unprocessed_interrupts.is_empty() {
            Ok(Streamed::Failed(error))
        } else {
            Ok(Streamed::Interrupted(reply))
        }
    }

    // The previewed id is the one the event will get if nothing else is
    // appended first: the reply's events follow the current head in order.
    fn preview<O: StepObserver>(
        &self,
        observer: &O,
        reply: &Reply,
        kind: &str,
        text: String,
        previewed: &mut HashSet<String>,
    ) {
        let offset = if kind == "agent.thinking" {
            Some(0)
        } else {
            reply.current_text_offset()
        };
        let Some(offset) = offset else { return };
        let seq = self.state.borrow().summary.last_seq + 1 + offset as u64;
        let id = event_id(&self.config.session_id, seq);
        if previewed.insert(id.clone()) {
            let event = PreviewedEvent {
                kind: kind.to_owned(),
                id: id.clone(),
            };
            observer.preview(StreamPreview::EventStart { event });
        }
        if kind == "agent.message" && !text.is_empty() {
            let delta = ContentDelta {
                index: 0,
                content: ContentBlock::text(text),
            };
            observer.preview(StreamPreview::EventDelta {
                event_id: id,
                delta,
            });
        }
    }

    /// Records a complete reply. How the turn goes on depends on why the
    /// model stopped: a natural end, a stop sequence or tool calls as usual;
    /// a refusal ends the turn as one; a paused turn (`pause_turn`) goes on
    /// with another model request that passes the reply back as it is; a
    /// reply cut at `max_tokens`, or stopped for a reason this platform does
    /// not know, is no clean end: what it said is kept, its calls (the last
    /// of which was cut) are not run, and the turn ends with a
    /// `session.error` and `retries_exhausted`.
    async fn record_reply(&self, span_id: &str, reply: Reply) -> Result<(), HarnessError> {
        let usage = reply.usage();
        let cut = match reply.stop_reason() {
            Some(ModelStopReason::MaxTokens) => Some(
                "the model's reply reached its output limit (max_tokens) and was cut off; \
                 its tool calls were not run"
                    .to_owned(),
            ),
            Some(ModelStopReason::Other(reason)) => Some(format!(
                "the model stopped for a reason this platform does not know (`{reason}`); \
                 its tool calls were not run"
            )),
            _ => None,
        };
        if let Some(message) = cut {
            let mut drafts: Vec<Draft> = reply
                .partial_text_events()
                .into_iter()
                .map(Draft::done)
                .collect();
            drafts.push(Draft::done(span_end(span_id, None, usage)));
            drafts.push(Draft::done(session_error(SessionError::new(
                crate::wire::SessionErrorType::ModelRequestFailedError,
                message,
                RetryStatus::Exhausted,
            ))));
            drafts.push(Draft::done(idle(StopReason::RetriesExhausted)));
            // The turn is dead: queued inputs are flushed with it.
            return self.append(drafts, self.queued_ids()).await.map(drop);
        }
        // With tool calls, or paused, the turn goes on: the next step runs
        // the calls or calls the model again.
        let stop_reason = match reply.stop_reason() {
            _ if reply.has_tool_uses() => None,
            Some(ModelStopReason::PauseTurn) => None,
            Some(ModelStopReason::Refusal) => Some(StopReason::Refusal),
            _ => Some(StopReason::EndTurn),
        };
        let mut drafts: Vec<Draft> = reply
            .into_events(&self.toolset.borrow())
            .into_iter()
            .map(Draft::done)
            .collect();
        drafts.push(Draft::done(span_end(span_id, None, usage)));
        if let Some(stop_reason) = stop_reason {
            drafts.push(Draft::done(idle(stop_reason)));
        }
        self.append(drafts, Vec::new()).await.map(drop)
    }

    async fn record_failure(&self, span_id: &str, error: ModelError) -> Result<(), HarnessError> {
        let failures = self.state.borrow().turn.consecutive_failures + 1;
        let retrying = error.is_retryable() && failures < self.config.retry.max_attempts;
        let retry_status = if retrying {
            RetryStatus::Retrying
        } else {
            error.final_retry_status()
        };
        let mut session_error_body = SessionError::new(
            error.session_error_type(),
            error.message.clone(),
            retry_status,
        );
        if let (true, Some(ms)) = (retrying, error.retry_after_ms) {
            session_error_body
                .extra
                .insert("retry_after_ms".into(), Value::from(ms));
        }
        let mut drafts = vec![
            Draft::done(span_end(span_id, Some(true), ModelUsage::default())),
            Draft::done(session_error(session_error_body)),
        ];
        let mut mark = Vec::new();
        match retry_status {
            RetryStatus::Retrying => {
                drafts.push(Draft::done(EventPayload::SessionStatusRescheduled(
                    SessionStatusRescheduledEvent {},
                )));
            }
            RetryStatus::Exhausted => {
                // The turn is dead: queued inputs are flushed with it.
                mark = self.queued_ids();
                drafts.push(Draft::done(idle(StopReason::RetriesExhausted)));
            }
            RetryStatus::Terminal => {
                drafts.push(Draft::done(EventPayload::SessionStatusTerminated(
                    SessionStatusTerminatedEvent {},
                )));
            }
        }
        self.append(drafts, mark).await.map(drop)
    }
}

fn span_start() -> EventPayload {
    EventPayload::SpanModelRequestStart(SpanModelRequestStartEvent {})
}

fn span_end(start_id: &str, is_error: Option<bool>, model_usage: ModelUsage) -> EventPayload {
    EventPayload::SpanModelRequestEnd(SpanModelRequestEndEvent {
        model_request_start_id: start_id.to_owned(),
        is_error,
        model_usage,
    })
}
