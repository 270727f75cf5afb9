//! Client → server events: the body of `POST /v1/sessions/{id}/events`.

use serde::Deserialize;
use serde::Serialize;
use serde_json::Map;
use serde_json::Value;

use super::content::ContentBlock;
use super::content_validate::ContentKind;
use super::content_validate::content_array;
use super::event::SystemMessageEvent;
use super::event::UserCustomToolResultEvent;
use super::event::UserInterruptEvent;
use super::event::UserToolConfirmationEvent;
use super::event::UserToolResultEvent;
use super::validate::ValidationError;
use super::validate::array;
use super::validate::index;
use super::validate::join;
use super::validate::object;
use super::validate::one_of;
use super::validate::optional;
use super::validate::optional_bool;
use super::validate::optional_string;
use super::validate::required;
use super::validate::string_field;
use super::validate::typed;

/// Most items a `system.message` may carry.
pub const MAX_SYSTEM_MESSAGE_ITEMS: usize = 1000;

/// `{"events":[...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventSendParams {
    /// The events to send, in order.
    pub events: Vec<UserEventParams>,
}

/// The response of `POST .../events`: the echoed events with their ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventSendResponse {
    /// The accepted events, in order.
    pub data: Vec<super::event::Event>,
}

/// One event a client may send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
#[non_exhaustive]
pub enum UserEventParams {
    /// A user message.
    #[serde(rename = "user.message")]
    UserMessage(UserMessageParams),
    /// Interrupt the running turn.
    #[serde(rename = "user.interrupt")]
    UserInterrupt(UserInterruptEvent),
    /// Answer a tool use that asked for confirmation.
    #[serde(rename = "user.tool_confirmation")]
    UserToolConfirmation(UserToolConfirmationEvent),
    /// Answer a custom tool use.
    #[serde(rename = "user.custom_tool_result")]
    UserCustomToolResult(UserCustomToolResultEvent),
    /// Answer a tool use on a self-hosted environment.
    #[serde(rename = "user.tool_result")]
    UserToolResult(UserToolResultEvent),
    /// Define an outcome.
    #[serde(rename = "user.define_outcome")]
    UserDefineOutcome(UserDefineOutcomeParams),
    /// A mid-conversation system message.
    #[serde(rename = "system.message")]
    SystemMessage(SystemMessageEvent),
}

impl UserEventParams {
    /// The wire `type` string.
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::UserMessage(_) => "user.message",
            Self::UserInterrupt(_) => "user.interrupt",
            Self::UserToolConfirmation(_) => "user.tool_confirmation",
            Self::UserCustomToolResult(_) => "user.custom_tool_result",
            Self::UserToolResult(_) => "user.tool_result",
            Self::UserDefineOutcome(_) => "user.define_outcome",
            Self::SystemMessage(_) => "system.message",
        }
    }

    /// A `user.message` with one text block.
    #[must_use]
    pub fn text(text: impl Into<String>) -> Self {
        Self::UserMessage(UserMessageParams {
            content: vec![ContentBlock::text(text)],
        })
    }
}

/// `user.message` params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserMessageParams {
    /// Content blocks.
    pub content: Vec<ContentBlock>,
}

/// `user.define_outcome` params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserDefineOutcomeParams {
    /// What the agent should produce.
    pub description: String,
    /// `{type:"text",content}` or `{type:"file",file_id}`.
    pub rubric: Value,
    /// Evaluate-then-revise cycles (default 3, max 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_iterations: Option<u32>,
}

const EVENT_TYPES: &[&str] = &[
    "user.message",
    "user.interrupt",
    "user.tool_confirmation",
    "user.custom_tool_result",
    "user.tool_result",
    "user.define_outcome",
    "system.message",
];

/// Parses and validates a `POST .../events` body.
///
/// Unknown fields are ignored; the documented aliases (`"type":"interrupt"`,
/// `"type":"tool_confirmation"`, `message` for `deny_message`) are accepted.
/// `system.message` must be the last event and directly follow a
/// `user.message`, `user.tool_result` or `user.custom_tool_result`.
pub fn parse_send_params(body: &Value) -> Result<EventSendParams, ValidationError> {
    let obj = object(body, "")?;
    let events = array(required(obj, "events", "")?, "events")?;
    if events.is_empty() {
        return Err(ValidationError::new(
            "events",
            "expected at least 1 item(s)",
        ));
    }
    let parsed = events
        .iter()
        .enumerate()
        .map(|(i, event)| validate_event(normalize_aliases(event), &index("events", i)))
        .collect::<Result<Vec<_>, _>>()?;
    check_batch_rules(&parsed)?;
    Ok(EventSendParams { events: parsed })
}

/// Checks the rules that span a request: at most one `system.message`, last,
/// directly after a `user.message`, `user.tool_result` or `user.custom_tool_result`.
pub fn check_batch_rules(events: &[UserEventParams]) -> Result<(), ValidationError> {
    for (i, event) in events.iter().enumerate() {
        if let UserEventParams::SystemMessage(_) = event {
            let path = index("events", i);
            if i + 1 != events.len() {
                return Err(ValidationError::new(
                    path,
                    "system.message must be the last event of the request",
                ));
            }
            let follows = i
                .checked_sub(1)
                .and_then(|prev| events.get(prev))
                .map(UserEventParams::type_name);
            if !matches!(
                follows,
                Some("user.message" | "user.tool_result" | "user.custom_tool_result")
            ) {
                return Err(ValidationError::new(
                    path,
                    "system.message must immediately follow a user.message, user.tool_result or user.custom_tool_result",
                ));
            }
        }
    }
    Ok(())
}

/// Most `initial_events` a session create may carry.
pub const MAX_INITIAL_EVENTS: usize = 50;

/// Parses `initial_events` of a session create: only `user.message` and
/// `user.define_outcome`, at most 50, validated all-or-nothing.
pub fn parse_initial_events(value: &Value) -> Result<Vec<UserEventParams>, ValidationError> {
    let events = array(value, "initial_events")?;
    if events.len() > MAX_INITIAL_EVENTS {
        return Err(ValidationError::new(
            "initial_events",
            format!("at most {MAX_INITIAL_EVENTS} items"),
        ));
    }
    events
        .iter()
        .enumerate()
        .map(|(i, event)| {
            let path = index("initial_events", i);
            let parsed = validate_event(event.clone(), &path)?;
            match parsed {
                UserEventParams::UserMessage(_) | UserEventParams::UserDefineOutcome(_) => {
                    Ok(parsed)
                }
                _ => Err(ValidationError::new(
                    join(&path, "type"),
                    "only user.message and user.define_outcome are allowed",
                )),
            }
        })
        .collect()
}

/// Parses the `initial_events` a session is initialised with by the
/// platform itself (the sessions API, or a deployment): `user.message`,
/// `user.define_outcome` and one `system.message` (last, directly after a
/// `user.message`), at most 50. The public session create is stricter
/// ([`parse_initial_events`]), and checks first.
pub fn parse_init_events(value: &Value) -> Result<Vec<UserEventParams>, ValidationError> {
    let events = array(value, "initial_events")?;
    if events.len() > MAX_INITIAL_EVENTS {
        return Err(ValidationError::new(
            "initial_events",
            format!("at most {MAX_INITIAL_EVENTS} items"),
        ));
    }
    let parsed = events
        .iter()
        .enumerate()
        .map(|(i, event)| {
            let path = index("initial_events", i);
            let parsed = validate_event(event.clone(), &path)?;
            match parsed {
                UserEventParams::UserMessage(_)
                | UserEventParams::UserDefineOutcome(_)
                | UserEventParams::SystemMessage(_) => Ok(parsed),
                _ => Err(ValidationError::new(
                    join(&path, "type"),
                    "only user.message, user.define_outcome and system.message are allowed",
                )),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    check_batch_rules(&parsed).map_err(|e| {
        ValidationError::new(e.path.replacen("events", "initial_events", 1), e.message)
    })?;
    Ok(parsed)
}

/// Parses a deployment's `initial_events`: 1 to 50 `user.message`s, the
/// last of which may be followed by one `system.message`. Fields other
/// than `type` and `content` are refused, and so is `user.define_outcome`
/// (this platform does not evaluate outcomes).
pub fn parse_deployment_events(value: &Value) -> Result<Vec<UserEventParams>, ValidationError> {
    let events = array(value, "initial_events")?;
    if events.is_empty() {
        return Err(ValidationError::new(
            "initial_events",
            "expected at least 1 item(s)",
        ));
    }
    for (i, event) in events.iter().enumerate() {
        let path = index("initial_events", i);
        let obj = object(event, &path)?;
        match obj.get("type").and_then(Value::as_str) {
            Some("user.message" | "system.message") | None => {}
            Some("user.define_outcome") => {
                return Err(ValidationError::new(
                    join(&path, "type"),
                    "user.define_outcome is not supported: this platform does not evaluate outcomes",
                ));
            }
            Some(_) => {
                return Err(ValidationError::new(
                    join(&path, "type"),
                    "expected user.message or system.message",
                ));
            }
        }
        if let Some(key) = obj
            .keys()
            .find(|k| !matches!(k.as_str(), "type" | "content"))
        {
            return Err(ValidationError::new(join(&path, key), "unknown field"));
        }
    }
    parse_init_events(value)
}

/// Validates one event of `initial_events` or `events`.
pub fn parse_event(value: &Value, path: &str) -> Result<UserEventParams, ValidationError> {
    validate_event(normalize_aliases(value), path)
}

fn normalize_aliases(value: &Value) -> Value {
    let mut value = value.clone();
    if let Some(obj) = value.as_object_mut() {
        match obj.get("type").and_then(Value::as_str) {
            Some("interrupt") => {
                obj.insert("type".into(), "user.interrupt".into());
            }
            Some("tool_confirmation") => {
                obj.insert("type".into(), "user.tool_confirmation".into());
            }
            _ => {}
        }
        if obj.get("type").and_then(Value::as_str) == Some("user.tool_confirmation")
            && !obj.contains_key("deny_message")
            && let Some(message) = obj.remove("message")
        {
            obj.insert("deny_message".into(), message);
        }
    }
    value
}

fn validate_event(value: Value, path: &str) -> Result<UserEventParams, ValidationError> {
    let obj = object(&value, path)?;
    match one_of(obj, "type", path, EVENT_TYPES)? {
        "user.message" => {
            content_array(
                required(obj, "content", path)?,
                &join(path, "content"),
                ContentKind::Message,
                1,
                usize::MAX,
            )?;
        }
        "user.interrupt" => {
            optional_string(obj, "session_thread_id", path)?;
        }
        "user.tool_confirmation" => validate_confirmation(obj, path)?,
        "user.custom_tool_result" => validate_tool_result(obj, "custom_tool_use_id", path)?,
        "user.tool_result" => validate_tool_result(obj, "tool_use_id", path)?,
        "user.define_outcome" => validate_define_outcome(obj, path)?,
        _ => {
            let content = required(obj, "content", path)?;
            content_array(
                content,
                &join(path, "content"),
                ContentKind::SystemText,
                1,
                MAX_SYSTEM_MESSAGE_ITEMS,
            )?;
        }
    }
    typed(value, path)
}

fn validate_confirmation(obj: &Map<String, Value>, path: &str) -> Result<(), ValidationError> {
    string_field(obj, "tool_use_id", path)?;
    let result = one_of(obj, "result", path, &["allow", "deny"])?;
    if optional_string(obj, "deny_message", path)?.is_some() && result != "deny" {
        return Err(ValidationError::new(
            join(path, "deny_message"),
            "only allowed when result is \"deny\"",
        ));
    }
    optional_string(obj, "session_thread_id", path).map(drop)
}

fn validate_tool_result(
    obj: &Map<String, Value>,
    id_field: &str,
    path: &str,
) -> Result<(), ValidationError> {
    string_field(obj, id_field, path)?;
    if let Some(content) = optional(obj, "content") {
        content_array(
            content,
            &join(path, "content"),
            ContentKind::ToolResult,
            0,
            usize::MAX,
        )?;
    }
    optional_bool(obj, "is_error", path)?;
    optional_string(obj, "session_thread_id", path).map(drop)
}

fn validate_define_outcome(obj: &Map<String, Value>, path: &str) -> Result<(), ValidationError> {
    string_field(obj, "description", path)?;
    let rubric_path = join(path, "rubric");
    let rubric = object(required(obj, "rubric", path)?, &rubric_path)?;
    match one_of(rubric, "type", &rubric_path, &["text", "file"])? {
        "text" => string_field(rubric, "content", &rubric_path)?,
        _ => string_field(rubric, "file_id", &rubric_path)?,
    };
    if let Some(max) = optional(obj, "max_iterations") {
        match max.as_u64() {
            Some(1..=20) => {}
            _ => {
                return Err(ValidationError::new(
                    join(path, "max_iterations"),
                    "expected an integer between 1 and 20",
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "event_params_tests.rs"]
mod tests;
