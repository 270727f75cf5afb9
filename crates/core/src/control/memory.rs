//! Memory stores: the pure rules. Path and prefix validation, the content
//! limit and digest, path conflicts (a memory cannot sit where another one's
//! directory is, or under another memory), and the `depth` roll-up of a
//! listing into `memory` and `memory_prefix` items with a resumable cursor.

use crate::wire::ValidationError;

/// The largest memory content, in UTF-8 bytes.
pub const MAX_CONTENT_BYTES: usize = 102_400;
/// The longest path, in bytes.
pub const MAX_PATH_BYTES: usize = 1024;
/// The most segments in a path.
pub const MAX_SEGMENTS: usize = 20;
/// The longest store name, in characters.
pub const MAX_STORE_NAME: usize = 255;
/// The longest store description, in characters.
pub const MAX_STORE_DESCRIPTION: usize = 1024;

/// Characters a path may not contain: control characters, the Unicode
/// format characters that hide or reorder text, and line/paragraph
/// separators.
fn forbidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{061C}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{206F}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
        )
}

/// Checks a memory path: starts with `/`, at most [`MAX_PATH_BYTES`] bytes,
/// 1 to [`MAX_SEGMENTS`] segments, none empty, `.` or `..`, and no control,
/// format or separator characters. `field` names the field in errors.
pub fn validate_path(path: &str, field: &str) -> Result<(), ValidationError> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(ValidationError::new(field, "must start with /"));
    };
    if path.len() > MAX_PATH_BYTES {
        return Err(ValidationError::new(
            field,
            format!("must be at most {MAX_PATH_BYTES} bytes"),
        ));
    }
    if path.chars().any(forbidden) {
        return Err(ValidationError::new(
            field,
            "must not contain control, format or line-separator characters",
        ));
    }
    let segments: Vec<&str> = rest.split('/').collect();
    if segments.len() > MAX_SEGMENTS {
        return Err(ValidationError::new(
            field,
            format!("must have 1 to {MAX_SEGMENTS} segments"),
        ));
    }
    if segments.iter().any(|s| s.is_empty()) {
        return Err(ValidationError::new(
            field,
            "segments must not be empty (no trailing or double /)",
        ));
    }
    if segments.iter().any(|s| *s == "." || *s == "..") {
        return Err(ValidationError::new(field, "segments must not be . or .."));
    }
    Ok(())
}

/// Checks a `path_prefix`: `/`, or a valid path followed by `/`.
pub fn validate_prefix(prefix: &str) -> Result<(), ValidationError> {
    let field = "path_prefix";
    if prefix == "/" {
        return Ok(());
    }
    let Some(dir) = prefix.strip_suffix('/') else {
        return Err(ValidationError::new(field, "must end with /"));
    };
    validate_path(dir, field)
}

/// Checks content against [`MAX_CONTENT_BYTES`].
pub fn validate_content(content: &str) -> Result<(), ValidationError> {
    if content.len() > MAX_CONTENT_BYTES {
        return Err(ValidationError::new(
            "content",
            format!("must be at most {MAX_CONTENT_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// Checks an expected digest: 64 lowercase hex characters.
pub fn validate_sha256(value: &str, field: &str) -> Result<(), ValidationError> {
    if value.len() == 64
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(ValidationError::new(
            field,
            "expected 64 lowercase hexadecimal characters",
        ))
    }
}

/// Lowercase hex SHA-256 of the content's UTF-8 bytes.
#[must_use]
pub fn content_sha256(content: &str) -> String {
    crate::crypto::sha256_hex(content.as_bytes())
}

/// The proper ancestors of a path that a memory could occupy:
/// `/a/b/c` → `["/a", "/a/b"]`.
#[must_use]
pub fn ancestors(path: &str) -> Vec<String> {
    path.match_indices('/')
        .skip(1)
        .map(|(i, _)| path[..i].to_owned())
        .collect()
}

/// Whether a memory at `a` and one at `b` cannot both exist: the same
/// path, or one is a directory of the other.
#[must_use]
pub fn paths_conflict(a: &str, b: &str) -> bool {
    a == b || is_under(a, b) || is_under(b, a)
}

fn is_under(path: &str, dir: &str) -> bool {
    path.len() > dir.len() && path.starts_with(dir) && path.as_bytes()[dir.len()] == b'/'
}

/// Checks a store name: 1 to [`MAX_STORE_NAME`] characters, no control
/// characters.
pub fn validate_store_name(name: &str) -> Result<(), ValidationError> {
    let len = name.chars().count();
    if len == 0 || len > MAX_STORE_NAME {
        return Err(ValidationError::new(
            "name",
            format!("must be 1-{MAX_STORE_NAME} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(ValidationError::new(
            "name",
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// Checks a store description: at most [`MAX_STORE_DESCRIPTION`] characters.
pub fn validate_store_description(description: &str) -> Result<(), ValidationError> {
    if description.chars().count() > MAX_STORE_DESCRIPTION {
        return Err(ValidationError::new(
            "description",
            format!("must be at most {MAX_STORE_DESCRIPTION} characters"),
        ));
    }
    Ok(())
}

/// One item of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListItem {
    /// The memory at this index of the input.
    Memory(usize),
    /// A roll-up of deeper memories: the directory, ending in `/`.
    Prefix(String),
}

/// A page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPage {
    /// The items, in path order.
    pub items: Vec<ListItem>,
    /// The cursor of the next page (the last item's path), if any.
    pub next: Option<String>,
}

/// Lists `paths` (sorted by byte order, all under `prefix`) as memories
/// and, with `depth > 0`, `memory_prefix` roll-ups of anything more than
/// `depth` segments below `prefix`. `after` is the previous page's cursor:
/// a memory path, or a prefix ending in `/` whose whole subtree is skipped.
#[must_use]
pub fn list_page(
    paths: &[&str],
    prefix: &str,
    depth: usize,
    after: &str,
    limit: usize,
) -> ListPage {
    let mut items = Vec::new();
    let mut last_prefix: Option<String> = None;
    let mut last_key = String::new();
    for (index, path) in paths.iter().enumerate() {
        if !after.is_empty() {
            if *path <= after {
                continue;
            }
            if after.ends_with('/') && path.starts_with(after) {
                continue;
            }
        }
        let below = path.strip_prefix(prefix).unwrap_or(path);
        let segments: Vec<&str> = below.split('/').filter(|s| !s.is_empty()).collect();
        let item = if depth > 0 && segments.len() > depth {
            let dir = format!("{prefix}{}/", segments[..depth].join("/"));
            if last_prefix.as_deref() == Some(dir.as_str()) {
                continue;
            }
            last_prefix = Some(dir.clone());
            ListItem::Prefix(dir)
        } else {
            ListItem::Memory(index)
        };
        if items.len() == limit {
            return ListPage {
                items,
                next: Some(last_key),
            };
        }
        last_key = match &item {
            ListItem::Memory(_) => (*path).to_owned(),
            ListItem::Prefix(dir) => dir.clone(),
        };
        items.push(item);
    }
    ListPage { items, next: None }
}

#[cfg(test)]
#[path = "memory_tests.rs"]
mod tests;
