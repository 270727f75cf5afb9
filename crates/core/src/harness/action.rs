//! The pure decision: what the next step does, from the folded state alone.

use super::config::HarnessConfig;
use crate::session::SessionState;
use crate::session::ToolUseRecord;
use crate::session::ToolUseResolution;
use crate::tools::BuiltinTool;
use crate::wire::SessionStatus;
use crate::wire::Timestamp;
use crate::wire::event::EvaluatedPermission;

/// One unit of work.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Action {
    /// The session ended.
    Terminated,
    /// Nothing to do until the client sends something.
    Idle,
    /// Retry backoff: nothing to do before this time.
    Wait(Timestamp),
    /// Interrupts against an idle session: mark them processed (no-op).
    AckInterrupts,
    /// End the running turn (`end_turn`), closing open tool calls.
    InterruptTurn,
    /// `session.status_running`, consuming the queued inputs.
    StartTurn,
    /// Every blocking call is answered: `session.status_running` again.
    Resume,
    /// `session.status_idle{requires_action}` listing these ids.
    ReportBlocking(Vec<String>),
    /// Execute an allowed built-in tool.
    RunTool(ToolUseRecord),
    /// Record the denial result of a denied call.
    DenyTool {
        /// The call.
        record: ToolUseRecord,
        /// The user's `deny_message`.
        message: Option<String>,
    },
    /// Record the error result of a call to an unknown or disabled tool.
    RefuseTool(ToolUseRecord),
    /// The turn used its model requests: stop it.
    StepLimit,
    /// Issue (or re-issue) the model request.
    CallModel,
}

/// Decides the next unit of work.
pub(super) fn next_action(state: &SessionState, config: &HarnessConfig, now: Timestamp) -> Action {
    let active = matches!(
        state.summary.status,
        SessionStatus::Running | SessionStatus::Rescheduling
    );
    match state.summary.status {
        SessionStatus::Terminated => return Action::Terminated,
        _ if !state.unprocessed_interrupts.is_empty() => {
            let waiting_on_client =
                state.summary.status == SessionStatus::Idle && state.awaits_action();
            return if active || waiting_on_client {
                Action::InterruptTurn
            } else {
                Action::AckInterrupts
            };
        }
        SessionStatus::Idle => return idle_action(state, config),
        SessionStatus::Running | SessionStatus::Rescheduling => {}
    }
    let mut blocking = Vec::new();
    for record in &state.turn.tool_uses {
        match &record.resolution {
            ToolUseResolution::Done => {}
            _ if blocks(record, config) => blocking.push(record.id.clone()),
            ToolUseResolution::Allowed => return Action::RunTool(record.clone()),
            ToolUseResolution::Denied { message } => {
                return Action::DenyTool {
                    record: record.clone(),
                    message: message.clone(),
                };
            }
            ToolUseResolution::Pending => match record.permission {
                Some(EvaluatedPermission::Allow) => return Action::RunTool(record.clone()),
                _ => return Action::RefuseTool(record.clone()),
            },
        }
    }
    if !blocking.is_empty() {
        return Action::ReportBlocking(blocking);
    }
    if state.open_span.is_none() && state.turn.consecutive_failures > 0 {
        let delay = config.retry.backoff_delay_ms(
            state.turn.consecutive_failures,
            state.turn.last_retry_after_ms,
        );
        let retry_at = state
            .turn
            .last_failure_at
            .unwrap_or_default()
            .plus_ms(delay);
        if now < retry_at {
            return Action::Wait(retry_at);
        }
    }
    if state.open_span.is_none() && state.turn.model_requests >= config.max_model_requests_per_turn
    {
        return Action::StepLimit;
    }
    Action::CallModel
}

/// Whether the call waits on the client: an unanswered custom tool, an
/// unconfirmed `ask`, or, on a self-hosted environment, a sandbox tool the
/// client's worker runs (answered with `user.tool_result`).
pub(super) fn blocks(record: &ToolUseRecord, config: &HarnessConfig) -> bool {
    let client_runs = config.self_hosted
        && !record.custom
        && record.mcp_server.is_none()
        && BuiltinTool::from_name(&record.name).is_some_and(BuiltinTool::runs_in_sandbox);
    record.awaits_client()
        || (client_runs
            && match record.resolution {
                ToolUseResolution::Allowed => true,
                ToolUseResolution::Pending => record.permission == Some(EvaluatedPermission::Allow),
                ToolUseResolution::Denied { .. } | ToolUseResolution::Done => false,
            })
}

fn idle_action(state: &SessionState, config: &HarnessConfig) -> Action {
    if state.awaits_action() {
        let remaining: Vec<String> = state
            .turn
            .tool_uses
            .iter()
            .filter(|t| blocks(t, config))
            .map(|t| t.id.clone())
            .collect();
        if remaining.is_empty() {
            return Action::Resume;
        }
        if remaining != state.blocking_reported {
            return Action::ReportBlocking(remaining);
        }
        return Action::Idle;
    }
    if state.queued.is_empty() {
        Action::Idle
    } else {
        Action::StartTurn
    }
}
