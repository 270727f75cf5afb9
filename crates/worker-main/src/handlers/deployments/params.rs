//! The bodies of `POST /v1/deployments` and `POST /v1/deployments/{id}`,
//! checked field by field before anything is looked up. Every field is
//! known or refused, and the schema's fields this platform cannot honour
//! (`budget`, `user.define_outcome` events, `github_repository` resources)
//! are refused as not supported rather than ignored.

use std::collections::BTreeMap;

use openma_core::schedule::Cron;
use openma_core::schedule::TimeZone;
use openma_core::wire::ValidationError;
use serde_json::Map;
use serde_json::Value;
use serde_json::json;

use crate::error::ApiError;
use crate::error::ApiResult;

/// Most vaults one deployment's sessions may get.
const MAX_VAULTS: usize = 50;
/// Most resources one deployment's sessions may get.
const MAX_RESOURCES: usize = 500;
/// Longest name, in characters.
const MAX_NAME: usize = 256;
/// Longest description, in characters.
const MAX_DESCRIPTION: usize = 2048;

const CREATE_FIELDS: [&str; 10] = [
    "agent",
    "environment_id",
    "initial_events",
    "name",
    "budget",
    "description",
    "metadata",
    "resources",
    "schedule",
    "vault_ids",
];

pub(super) fn field(name: &str, message: &str) -> ApiError {
    let error = ValidationError::new(name, message);
    crate::handlers::agents::invalid(error)
}

/// The agent a deployment runs: a version, or the latest when `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct AgentSpec {
    pub(super) id: String,
    pub(super) version: Option<u64>,
}

/// A cron schedule: the expression and the zone's database name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ScheduleSpec {
    pub(super) expression: String,
    pub(super) timezone: String,
}

/// A create body, checked.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct CreateParams {
    pub(super) agent: AgentSpec,
    pub(super) environment_id: String,
    pub(super) initial_events: Vec<Value>,
    pub(super) name: String,
    pub(super) description: Option<String>,
    pub(super) metadata: BTreeMap<String, String>,
    pub(super) resources: Vec<Value>,
    pub(super) schedule: Option<ScheduleSpec>,
    pub(super) vault_ids: Vec<String>,
}

/// An update body, checked: `None` leaves a field as it is.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct UpdateParams {
    pub(super) agent: Option<AgentSpec>,
    pub(super) environment_id: Option<String>,
    pub(super) initial_events: Option<Vec<Value>>,
    pub(super) name: Option<String>,
    /// `Some(None)` clears it.
    pub(super) description: Option<Option<String>>,
    pub(super) metadata: Option<BTreeMap<String, Option<String>>>,
    pub(super) resources: Option<Vec<Value>>,
    /// `Some(None)` clears it (manual runs only).
    pub(super) schedule: Option<Option<ScheduleSpec>>,
    pub(super) vault_ids: Option<Vec<String>>,
}

fn object(body: &Value) -> ApiResult<&Map<String, Value>> {
    body.as_object()
        .ok_or_else(|| ApiError::invalid("the body must be a JSON object"))
}

fn known(body: &Map<String, Value>, fields: &[&str], path: &str) -> ApiResult<()> {
    match body.keys().find(|k| !fields.contains(&k.as_str())) {
        Some(key) if path.is_empty() => Err(field(key, "unknown field")),
        Some(key) => Err(field(&format!("{path}.{key}"), "unknown field")),
        None => Ok(()),
    }
}

fn name(value: &Value) -> ApiResult<String> {
    match value {
        Value::String(text) if !text.trim().is_empty() && text.chars().count() <= MAX_NAME => {
            Ok(text.clone())
        }
        Value::String(_) => Err(field(
            "name",
            &format!("must be 1 to {MAX_NAME} characters"),
        )),
        _ => Err(field("name", "expected a string")),
    }
}

/// `description`: `null` or `""` is none.
fn description(value: &Value) -> ApiResult<Option<String>> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) if text.is_empty() => Ok(None),
        Value::String(text) if text.chars().count() <= MAX_DESCRIPTION => Ok(Some(text.clone())),
        Value::String(_) => Err(field(
            "description",
            &format!("at most {MAX_DESCRIPTION} characters"),
        )),
        _ => Err(field("description", "expected a string or null")),
    }
}

fn id_string(value: &Value, name: &str) -> ApiResult<String> {
    match value {
        Value::String(text) if !text.trim().is_empty() => Ok(text.clone()),
        Value::String(_) => Err(field(name, "must not be empty")),
        _ => Err(field(name, "expected a string")),
    }
}

/// `agent`: an id (the latest version), or `{type: "agent", id, version?}`.
fn agent(value: &Value) -> ApiResult<AgentSpec> {
    match value {
        Value::String(_) => Ok(AgentSpec {
            id: id_string(value, "agent")?,
            version: None,
        }),
        Value::Object(obj) => {
            known(obj, &["type", "id", "version"], "agent")?;
            match obj.get("type") {
                None | Some(Value::Null) => {}
                Some(Value::String(kind)) if kind == "agent" => {}
                Some(_) => return Err(field("agent.type", "expected \"agent\"")),
            }
            let id = id_string(
                obj.get("id").ok_or_else(|| field("agent.id", "required"))?,
                "agent.id",
            )?;
            let version =
                match obj.get("version") {
                    None | Some(Value::Null) => None,
                    Some(v) => Some(v.as_u64().filter(|v| *v >= 1).ok_or_else(|| {
                        field("agent.version", "expected an integer of at least 1")
                    })?),
                };
            Ok(AgentSpec { id, version })
        }
        _ => Err(field("agent", "expected an agent id or an agent object")),
    }
}

/// `schedule`: `{type: "cron", expression, timezone}`; the error names the
/// cron field at fault.
fn schedule(value: &Value) -> ApiResult<Option<ScheduleSpec>> {
    let obj = match value {
        Value::Null => return Ok(None),
        Value::Object(obj) => obj,
        _ => return Err(field("schedule", "expected an object or null")),
    };
    known(obj, &["type", "expression", "timezone"], "schedule")?;
    match obj.get("type") {
        Some(Value::String(kind)) if kind == "cron" => {}
        None | Some(Value::Null) => return Err(field("schedule.type", "required: \"cron\"")),
        Some(_) => {
            return Err(field(
                "schedule.type",
                "expected \"cron\" (the only kind of schedule)",
            ));
        }
    }
    let expression = match obj.get("expression") {
        Some(Value::String(text)) => text.trim().to_owned(),
        None | Some(Value::Null) => return Err(field("schedule.expression", "required")),
        Some(_) => return Err(field("schedule.expression", "expected a string")),
    };
    Cron::parse(&expression).map_err(|e| field("schedule.expression", &e.to_string()))?;
    let timezone = match obj.get("timezone") {
        Some(Value::String(text)) => text,
        None | Some(Value::Null) => return Err(field("schedule.timezone", "required")),
        Some(_) => return Err(field("schedule.timezone", "expected a string")),
    };
    let zone = TimeZone::get(timezone).ok_or_else(|| {
        field(
            "schedule.timezone",
            &format!(
                "`{timezone}` is not an IANA time zone (e.g. \"America/Los_Angeles\", \"UTC\")"
            ),
        )
    })?;
    Ok(Some(ScheduleSpec {
        expression,
        timezone: zone.name().to_owned(),
    }))
}

/// `initial_events`: 1 to 50 `user.message`s, optionally closed by one
/// `system.message`.
fn initial_events(value: &Value) -> ApiResult<Vec<Value>> {
    openma_core::wire::event_params::parse_deployment_events(value)?;
    Ok(value.as_array().cloned().unwrap_or_default())
}

/// `vault_ids`: at most 50 ids; `null` is none.
fn vault_ids(value: &Value) -> ApiResult<Vec<String>> {
    let ids: Vec<String> = match value {
        Value::Null => Vec::new(),
        value => serde_json::from_value(value.clone())
            .map_err(|_| field("vault_ids", "expected an array of strings"))?,
    };
    if ids.len() > MAX_VAULTS {
        return Err(field("vault_ids", &format!("at most {MAX_VAULTS} vaults")));
    }
    Ok(ids)
}

fn optional_text(obj: &Map<String, Value>, name: &str, path: &str) -> ApiResult<Value> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(Value::Null),
        Some(Value::String(text)) => Ok(Value::String(text.clone())),
        Some(_) => Err(field(&format!("{path}.{name}"), "expected a string")),
    }
}

/// `resources`: files and memory stores, in the form the deployment echoes
/// (the sessions' own checks follow, with the lookups).
fn resources(value: &Value) -> ApiResult<Vec<Value>> {
    let items = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        _ => return Err(field("resources", "expected an array")),
    };
    if items.len() > MAX_RESOURCES {
        return Err(field(
            "resources",
            &format!("at most {MAX_RESOURCES} resources"),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let path = format!("resources[{i}]");
            let Value::Object(obj) = item else {
                return Err(field(&path, "expected an object"));
            };
            let required = |name: &str| match obj.get(name) {
                Some(Value::String(text)) if !text.is_empty() => Ok(text.clone()),
                None | Some(Value::Null) => Err(field(&format!("{path}.{name}"), "required")),
                Some(_) => Err(field(&format!("{path}.{name}"), "expected a string")),
            };
            match obj.get("type").and_then(Value::as_str) {
                Some("file") => {
                    known(obj, &["type", "file_id", "mount_path"], &path)?;
                    Ok(json!({
                        "type": "file",
                        "file_id": required("file_id")?,
                        "mount_path": optional_text(obj, "mount_path", &path)?,
                    }))
                }
                Some("memory_store") => {
                    known(
                        obj,
                        &["type", "memory_store_id", "access", "instructions"],
                        &path,
                    )?;
                    Ok(json!({
                        "type": "memory_store",
                        "memory_store_id": required("memory_store_id")?,
                        "access": optional_text(obj, "access", &path)?,
                        "instructions": optional_text(obj, "instructions", &path)?,
                    }))
                }
                Some("github_repository") => Err(field(
                    &format!("{path}.type"),
                    "github_repository resources are not supported: this platform does not clone repositories",
                )),
                Some(_) => Err(field(
                    &format!("{path}.type"),
                    "expected `file`, `memory_store` or `github_repository`",
                )),
                None => Err(field(&format!("{path}.type"), "required")),
            }
        })
        .collect()
}

fn metadata(value: &Value) -> ApiResult<BTreeMap<String, String>> {
    let metadata: BTreeMap<String, String> = match value {
        Value::Null => BTreeMap::new(),
        value => serde_json::from_value(value.clone())
            .map_err(|_| field("metadata", "expected an object of strings"))?,
    };
    openma_core::control::validate_metadata(&metadata, "metadata")
        .map_err(crate::handlers::agents::invalid)?;
    Ok(metadata)
}

/// `budget` is refused unless it is absent or `null`: this platform does
/// not track spend against a ceiling.
fn no_budget(body: &Map<String, Value>) -> ApiResult<()> {
    match body.get("budget") {
        None | Some(Value::Null) => Ok(()),
        Some(_) => Err(field(
            "budget",
            "not supported: this platform does not enforce spend ceilings",
        )),
    }
}

/// Checks a create body.
pub(super) fn create_params(body: &Value) -> ApiResult<CreateParams> {
    let body = object(body)?;
    known(body, &CREATE_FIELDS, "")?;
    no_budget(body)?;
    let required = |name: &str| {
        body.get(name)
            .filter(|v| !v.is_null())
            .ok_or_else(|| field(name, "required"))
    };
    let absent = Value::Null;
    let get = |name: &str| body.get(name).unwrap_or(&absent);
    Ok(CreateParams {
        agent: agent(required("agent")?)?,
        environment_id: id_string(required("environment_id")?, "environment_id")?,
        initial_events: initial_events(required("initial_events")?)?,
        name: name(required("name")?)?,
        description: description(get("description"))?,
        metadata: metadata(get("metadata"))?,
        resources: resources(get("resources"))?,
        schedule: schedule(get("schedule"))?,
        vault_ids: vault_ids(get("vault_ids"))?,
    })
}

/// Checks an update body.
pub(super) fn update_params(body: &Value) -> ApiResult<UpdateParams> {
    let body = object(body)?;
    known(body, &CREATE_FIELDS, "")?;
    no_budget(body)?;
    let not_null = |name: &str| -> ApiResult<Option<&Value>> {
        match body.get(name) {
            None => Ok(None),
            Some(Value::Null) => Err(field(name, "cannot be cleared")),
            Some(value) => Ok(Some(value)),
        }
    };
    let metadata = match body.get("metadata") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            serde_json::from_value::<BTreeMap<String, Option<String>>>(value.clone()).map_err(
                |_| {
                    field(
                        "metadata",
                        "expected an object of strings (or null to delete a key)",
                    )
                },
            )?,
        ),
    };
    Ok(UpdateParams {
        agent: not_null("agent")?.map(agent).transpose()?,
        environment_id: not_null("environment_id")?
            .map(|v| id_string(v, "environment_id"))
            .transpose()?,
        initial_events: not_null("initial_events")?
            .map(initial_events)
            .transpose()?,
        name: not_null("name")?.map(name).transpose()?,
        description: body.get("description").map(description).transpose()?,
        metadata,
        resources: body.get("resources").map(resources).transpose()?,
        schedule: body.get("schedule").map(schedule).transpose()?,
        vault_ids: body.get("vault_ids").map(vault_ids).transpose()?,
    })
}

#[cfg(test)]
#[path = "params_tests.rs"]
mod tests;
