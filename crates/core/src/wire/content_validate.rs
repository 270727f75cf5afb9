//! Validation of content blocks in inbound events.

use serde_json::Value;

use super::validate::ValidationError;
use super::validate::array;
use super::validate::index;
use super::validate::join;
use super::validate::object;
use super::validate::one_of;
use super::validate::optional_string;
use super::validate::required;
use super::validate::string_field;

/// Which block types a content array accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentKind {
    /// `user.message`: text, image, document, redacted.
    Message,
    /// Tool results: text, image, document, search_result.
    ToolResult,
    /// `system.message`: text only.
    SystemText,
}

impl ContentKind {
    fn allowed(self) -> &'static [&'static str] {
        match self {
            Self::Message => &["text", "image", "document", "redacted"],
            Self::ToolResult => &["text", "image", "document", "search_result"],
            Self::SystemText => &["text"],
        }
    }
}

/// Validates a content array at `path`, with `min..=max` items.
pub fn content_array(
    value: &Value,
    path: &str,
    kind: ContentKind,
    min: usize,
    max: usize,
) -> Result<(), ValidationError> {
    let items = array(value, path)?;
    if items.len() < min {
        return Err(ValidationError::new(
            path,
            format!("expected at least {min} item(s)"),
        ));
    }
    if items.len() > max {
        return Err(ValidationError::new(
            path,
            format!("expected at most {max} items"),
        ));
    }
    for (i, item) in items.iter().enumerate() {
        content_block(item, &index(path, i), kind)?;
    }
    Ok(())
}

/// Validates one content block.
pub fn content_block(value: &Value, path: &str, kind: ContentKind) -> Result<(), ValidationError> {
    let obj = object(value, path)?;
    match one_of(obj, "type", path, kind.allowed())? {
        "text" => string_field(obj, "text", path).map(drop),
        "image" => source(
            required(obj, "source", path)?,
            &join(path, "source"),
            &["base64", "url", "file"],
        ),
        "document" => {
            source(
                required(obj, "source", path)?,
                &join(path, "source"),
                &["base64", "text", "url", "file"],
            )?;
            optional_string(obj, "title", path)?;
            optional_string(obj, "context", path).map(drop)
        }
        "search_result" => {
            string_field(obj, "source", path)?;
            string_field(obj, "title", path)?;
            content_array(
                required(obj, "content", path)?,
                &join(path, "content"),
                ContentKind::SystemText,
                0,
                usize::MAX,
            )
        }
        _ => Ok(()),
    }
}

fn source(value: &Value, path: &str, allowed: &[&str]) -> Result<(), ValidationError> {
    let obj = object(value, path)?;
    match one_of(obj, "type", path, allowed)? {
        "base64" | "text" => {
            string_field(obj, "media_type", path)?;
            string_field(obj, "data", path).map(drop)
        }
        "url" => string_field(obj, "url", path).map(drop),
        "file" => string_field(obj, "file_id", path).map(drop),
        _ => Ok(()),
    }
}
