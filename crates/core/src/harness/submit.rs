//! Accepting client events: validate against the session, mint ids, append.

use super::Harness;
use super::action::blocks;
use super::append::Draft;
use super::config::HarnessConfig;
use super::error::HarnessError;
use crate::ports::Clock;
use crate::ports::EventStore;
use crate::ports::ModelClient;
use crate::ports::ToolExecutor;
use crate::session::SessionState;
use crate::session::ToolUseResolution;
use crate::wire::Event;
use crate::wire::EventPayload;
use crate::wire::SessionStatus;
use crate::wire::UserEventParams;
use crate::wire::ValidationError;
use crate::wire::event::EvaluatedPermission;
use crate::wire::event::UserMessageEvent;
use crate::wire::event_params::check_batch_rules;

impl<M: ModelClient, S: EventStore, T: ToolExecutor, C: Clock> Harness<M, S, T, C> {
    /// Appends client events (already parsed with `wire::parse_send_params`)
    /// and returns their echo with the minted ids.
    ///
    /// `user.message`, `system.message`, `user.interrupt` and
    /// `user.tool_confirmation` are queued (`processed_at: null`) until a
    /// step processes them; `user.custom_tool_result` and (self-hosted only)
    /// `user.tool_result` are processed on receipt.
    /// Drive the session with [`Harness::step`] afterwards.
    pub async fn submit(&self, events: Vec<UserEventParams>) -> Result<Vec<Event>, HarnessError> {
        self.refresh_if_behind().await?;
        let drafts = drafts_for(&self.state.borrow(), &self.config, events)?;
        self.append(drafts, Vec::new()).await
    }
}

fn drafts_for(
    state: &SessionState,
    config: &HarnessConfig,
    events: Vec<UserEventParams>,
) -> Result<Vec<Draft>, ValidationError> {
    check_batch_rules(&events)?;
    if state.summary.status == SessionStatus::Terminated {
        return Err(ValidationError::new("events", "the session is terminated"));
    }
    let mut answered: Vec<String> = Vec::new();
    let mut drafts = Vec::with_capacity(events.len());
    for (i, event) in events.into_iter().enumerate() {
        let path = format!("events[{i}]");
        let draft = match event {
            UserEventParams::UserMessage(message) => Draft {
                payload: EventPayload::UserMessage(UserMessageEvent {
                    content: message.content,
                }),
                queued: true,
            },
            UserEventParams::SystemMessage(message) => Draft {
                payload: EventPayload::SystemMessage(message),
                queued: true,
            },
            UserEventParams::UserInterrupt(interrupt) => Draft {
                payload: EventPayload::UserInterrupt(interrupt),
                queued: true,
            },
            UserEventParams::UserToolConfirmation(confirmation) => {
                let awaiting = state.turn.tool_uses.iter().any(|t| {
                    t.id == confirmation.tool_use_id
                        && !t.custom
                        && t.permission == Some(EvaluatedPermission::Ask)
                        && t.resolution == ToolUseResolution::Pending
                });
                if !awaiting || answered.contains(&confirmation.tool_use_id) {
                    return Err(ValidationError::new(
                        format!("{path}.tool_use_id"),
                        "no tool use is awaiting confirmation with this id",
                    ));
                }
                answered.push(confirmation.tool_use_id.clone());
                Draft {
                    payload: EventPayload::UserToolConfirmation(confirmation),
                    queued: true,
                }
            }
            UserEventParams::UserCustomToolResult(result) => {
                let awaiting = state.turn.tool_uses.iter().any(|t| {
                    t.id == result.custom_tool_use_id
                        && t.custom
                        && t.resolution == ToolUseResolution::Pending
                });
                if !awaiting || answered.contains(&result.custom_tool_use_id) {
                    return Err(ValidationError::new(
                        format!("{path}.custom_tool_use_id"),
                        "no custom tool use is awaiting a result with this id",
                    ));
                }
                answered.push(result.custom_tool_use_id.clone());
                Draft {
                    payload: EventPayload::UserCustomToolResult(result),
                    queued: false,
                }
            }
            UserEventParams::UserToolResult(result) => {
                if !config.self_hosted {
                    return Err(ValidationError::new(
                        format!("{path}.type"),
                        "user.tool_result is only accepted on self_hosted environments",
                    ));
                }
                let awaiting = state.turn.tool_uses.iter().any(|t| {
                    t.id == result.tool_use_id
                        && !t.custom
                        && blocks(t, config)
                        && !t.awaits_client()
                });
                if !awaiting || answered.contains(&result.tool_use_id) {
                    return Err(ValidationError::new(
                        format!("{path}.tool_use_id"),
                        "no tool use is awaiting a result with this id",
                    ));
                }
                answered.push(result.tool_use_id.clone());
                Draft {
                    payload: EventPayload::UserToolResult(result),
                    queued: false,
                }
            }
            UserEventParams::UserDefineOutcome(_) => {
                return Err(ValidationError::new(
                    format!("{path}.type"),
                    "user.define_outcome is not supported yet",
                ));
            }
        };
        drafts.push(draft);
    }
    Ok(drafts)
}
