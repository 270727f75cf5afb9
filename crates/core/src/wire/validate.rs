//! Structural validation of inbound JSON that names the offending field.
//!
//! serde's messages do not carry a path, so inbound bodies are first checked
//! against their schema here (`events[0].content[1].text: expected a string`)
//! and only then deserialized into typed params.

use serde::de::DeserializeOwned;
use serde_json::Map;
use serde_json::Value;

/// An invalid request body; `path` names the field (`events[0].content[1].text`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ValidationError {
    /// Dotted/indexed path of the offending field; empty for the body itself.
    pub path: String,
    /// What was wrong, e.g. `expected a string`.
    pub message: String,
}

impl ValidationError {
    /// An error at `path`.
    #[must_use]
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// The path of field `name` under `path`.
#[must_use]
pub fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

/// The path of element `index` under `path`.
#[must_use]
pub fn index(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

/// Requires `value` to be an object.
pub fn object<'a>(value: &'a Value, path: &str) -> Result<&'a Map<String, Value>, ValidationError> {
    value
        .as_object()
        .ok_or_else(|| ValidationError::new(path, "expected an object"))
}

/// Requires field `name` to be present and not null.
pub fn required<'a>(
    obj: &'a Map<String, Value>,
    name: &str,
    path: &str,
) -> Result<&'a Value, ValidationError> {
    match obj.get(name) {
        Some(Value::Null) | None => Err(ValidationError::new(join(path, name), "is required")),
        Some(value) => Ok(value),
    }
}

/// Field `name` unless absent or null.
#[must_use]
pub fn optional<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).filter(|value| !value.is_null())
}

/// Requires a string.
pub fn string<'a>(value: &'a Value, path: &str) -> Result<&'a str, ValidationError> {
    value
        .as_str()
        .ok_or_else(|| ValidationError::new(path, "expected a string"))
}

/// Requires a required string field.
pub fn string_field<'a>(
    obj: &'a Map<String, Value>,
    name: &str,
    path: &str,
) -> Result<&'a str, ValidationError> {
    string(required(obj, name, path)?, &join(path, name))
}

/// Requires an optional field to be a string when present.
pub fn optional_string<'a>(
    obj: &'a Map<String, Value>,
    name: &str,
    path: &str,
) -> Result<Option<&'a str>, ValidationError> {
    optional(obj, name)
        .map(|value| string(value, &join(path, name)))
        .transpose()
}

/// Requires an optional field to be a boolean when present.
pub fn optional_bool(
    obj: &Map<String, Value>,
    name: &str,
    path: &str,
) -> Result<Option<bool>, ValidationError> {
    optional(obj, name)
        .map(|value| {
            value
                .as_bool()
                .ok_or_else(|| ValidationError::new(join(path, name), "expected a boolean"))
        })
        .transpose()
}

/// Requires an array.
pub fn array<'a>(value: &'a Value, path: &str) -> Result<&'a [Value], ValidationError> {
    value
        .as_array()
        .map(Vec::as_slice)
        .ok_or_else(|| ValidationError::new(path, "expected an array"))
}

/// Requires a string field whose value is one of `allowed`.
pub fn one_of<'a>(
    obj: &'a Map<String, Value>,
    name: &str,
    path: &str,
    allowed: &[&str],
) -> Result<&'a str, ValidationError> {
    let value = string_field(obj, name, path)?;
    if allowed.contains(&value) {
        Ok(value)
    } else {
        Err(ValidationError::new(
            join(path, name),
            format!("expected one of {}, got {value:?}", allowed.join(", ")),
        ))
    }
}

/// Deserializes an already-validated value; a residual serde error is
/// reported at `path`.
pub fn typed<T: DeserializeOwned>(value: Value, path: &str) -> Result<T, ValidationError> {
    serde_json::from_value(value).map_err(|err| ValidationError::new(path, err.to_string()))
}
