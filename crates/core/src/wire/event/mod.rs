//! The persisted session event union (`BetaManagedAgentsSessionEvent`).
//!
//! Every event is `{"id","type","processed_at",...payload}`. The log record
//! [`SessionEvent`] adds the session-local `seq`, which is not on the wire.

mod agent;
mod session;
mod span;
mod user;

use serde::Deserialize;
use serde::Serialize;

pub use self::agent::AgentCustomToolUseEvent;
pub use self::agent::AgentMcpToolResultEvent;
pub use self::agent::AgentMcpToolUseEvent;
pub use self::agent::AgentMessageEvent;
pub use self::agent::AgentThinkingEvent;
pub use self::agent::AgentThreadContextCompactedEvent;
pub use self::agent::AgentThreadMessageReceivedEvent;
pub use self::agent::AgentThreadMessageSentEvent;
pub use self::agent::AgentToolResultEvent;
pub use self::agent::AgentToolUseEvent;
pub use self::agent::EvaluatedPermission;
pub use self::agent::ToolEvaluation;
pub use self::session::SessionDeletedEvent;
pub use self::session::SessionErrorEvent;
pub use self::session::SessionStatusIdleEvent;
pub use self::session::SessionStatusRescheduledEvent;
pub use self::session::SessionStatusRunningEvent;
pub use self::session::SessionStatusTerminatedEvent;
pub use self::session::SessionThreadCreatedEvent;
pub use self::session::SessionThreadStatusEvent;
pub use self::session::SessionThreadStatusIdleEvent;
pub use self::session::SessionUpdatedEvent;
pub use self::session::SessionUsageEvent;
pub use self::span::SpanModelRequestEndEvent;
pub use self::span::SpanModelRequestStartEvent;
pub use self::span::SpanOutcomeEvaluationEndEvent;
pub use self::span::SpanOutcomeEvaluationEvent;
pub use self::user::ConfirmationResult;
pub use self::user::SystemMessageEvent;
pub use self::user::UserCustomToolResultEvent;
pub use self::user::UserDefineOutcomeEvent;
pub use self::user::UserInterruptEvent;
pub use self::user::UserMessageEvent;
pub use self::user::UserToolConfirmationEvent;
pub use self::user::UserToolResultEvent;
use super::ids::EventSeq;
use super::time::Timestamp;

/// One entry of a session's log: the wire event plus its position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionEvent {
    /// Position in the log, strictly increasing from 1.
    pub seq: EventSeq,
    /// The event as the API returns it.
    pub event: Event,
}

/// A persisted event as listed and streamed by the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// `sevt_` id.
    pub id: String,
    /// When the event was processed; `null` for queued user events.
    #[serde(default)]
    pub processed_at: Option<Timestamp>,
    /// The typed payload, tagged by `type`.
    #[serde(flatten)]
    pub payload: EventPayload,
}

impl Event {
    /// The wire `type` string, e.g. `agent.tool_use`.
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        self.payload.type_name()
    }
}

macro_rules! event_union {
    ($( $(#[$doc:meta])* $variant:ident($payload:ident) = $tag:literal, )*) => {
        /// The payload of an [`Event`], discriminated by the wire `type`.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "type")]
        #[non_exhaustive]
        pub enum EventPayload {
            $( $(#[$doc])* #[serde(rename = $tag)] $variant($payload), )*
        }

        impl EventPayload {
            /// The wire `type` string of this payload.
            #[must_use]
            pub fn type_name(&self) -> &'static str {
                match self { $( Self::$variant(_) => $tag, )* }
            }
        }

        /// Every persisted event type, in declaration order.
        pub const EVENT_TYPES: &[&str] = &[$($tag),*];
    };
}

event_union! {
    /// A user message (queued until processed).
    UserMessage(UserMessageEvent) = "user.message",
    /// An interrupt; jumps the queue and ends the turn.
    UserInterrupt(UserInterruptEvent) = "user.interrupt",
    /// Allow or deny a tool use that asked for confirmation.
    UserToolConfirmation(UserToolConfirmationEvent) = "user.tool_confirmation",
    /// The result of a custom tool, sent by the client.
    UserCustomToolResult(UserCustomToolResultEvent) = "user.custom_tool_result",
    /// A tool result sent by a self-hosted worker.
    UserToolResult(UserToolResultEvent) = "user.tool_result",
    /// An outcome the agent should work toward.
    UserDefineOutcome(UserDefineOutcomeEvent) = "user.define_outcome",
    /// A mid-conversation system message.
    SystemMessage(SystemMessageEvent) = "system.message",
    /// Agent text.
    AgentMessage(AgentMessageEvent) = "agent.message",
    /// Progress signal during extended thinking.
    AgentThinking(AgentThinkingEvent) = "agent.thinking",
    /// The agent called a built-in tool.
    AgentToolUse(AgentToolUseEvent) = "agent.tool_use",
    /// Result of a built-in tool.
    AgentToolResult(AgentToolResultEvent) = "agent.tool_result",
    /// The agent called an MCP tool.
    AgentMcpToolUse(AgentMcpToolUseEvent) = "agent.mcp_tool_use",
    /// Result of an MCP tool.
    AgentMcpToolResult(AgentMcpToolResultEvent) = "agent.mcp_tool_result",
    /// The agent called a custom tool; the client answers.
    AgentCustomToolUse(AgentCustomToolUseEvent) = "agent.custom_tool_use",
    /// Context was compacted.
    AgentThreadContextCompacted(AgentThreadContextCompactedEvent) = "agent.thread_context_compacted",
    /// Agent-to-agent message sent (multiagent).
    AgentThreadMessageSent(AgentThreadMessageSentEvent) = "agent.thread_message_sent",
    /// Agent-to-agent message received (multiagent).
    AgentThreadMessageReceived(AgentThreadMessageReceivedEvent) = "agent.thread_message_received",
    /// The session started working.
    SessionStatusRunning(SessionStatusRunningEvent) = "session.status_running",
    /// The session stopped working and waits for input.
    SessionStatusIdle(SessionStatusIdleEvent) = "session.status_idle",
    /// A transient error; the session retries automatically.
    SessionStatusRescheduled(SessionStatusRescheduledEvent) = "session.status_rescheduled",
    /// The session ended.
    SessionStatusTerminated(SessionStatusTerminatedEvent) = "session.status_terminated",
    /// An error during execution.
    SessionError(SessionErrorEvent) = "session.error",
    /// The session was deleted; ends every stream.
    SessionDeleted(SessionDeletedEvent) = "session.deleted",
    /// The session was updated (only changed fields).
    SessionUpdated(SessionUpdatedEvent) = "session.updated",
    /// A cumulative usage snapshot.
    SessionUsage(SessionUsageEvent) = "session.usage",
    /// A child thread was created.
    SessionThreadCreated(SessionThreadCreatedEvent) = "session.thread_created",
    /// A thread started running.
    SessionThreadStatusRunning(SessionThreadStatusEvent) = "session.thread_status_running",
    /// A thread went idle.
    SessionThreadStatusIdle(SessionThreadStatusIdleEvent) = "session.thread_status_idle",
    /// A thread is retrying after a transient error.
    SessionThreadStatusRescheduled(SessionThreadStatusEvent) = "session.thread_status_rescheduled",
    /// A thread terminated.
    SessionThreadStatusTerminated(SessionThreadStatusEvent) = "session.thread_status_terminated",
    /// A model request started.
    SpanModelRequestStart(SpanModelRequestStartEvent) = "span.model_request_start",
    /// A model request ended.
    SpanModelRequestEnd(SpanModelRequestEndEvent) = "span.model_request_end",
    /// An outcome evaluation started.
    SpanOutcomeEvaluationStart(SpanOutcomeEvaluationEvent) = "span.outcome_evaluation_start",
    /// An outcome evaluation heartbeat.
    SpanOutcomeEvaluationOngoing(SpanOutcomeEvaluationEvent) = "span.outcome_evaluation_ongoing",
    /// An outcome evaluation ended.
    SpanOutcomeEvaluationEnd(SpanOutcomeEvaluationEndEvent) = "span.outcome_evaluation_end",
}
