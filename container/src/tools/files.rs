//! `read`, `write` and `edit`, confined to the session's workspace.

use std::fs;
use std::io;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use openma_core::sandbox::{
    Base64Source, ContentBlock, EditInput, ReadInput, ToolResult, WriteInput,
};

use crate::config::Limits;
use crate::workspace::{Access, Workspace};

/// `read`: text (optionally a line range), images and PDFs as base64 blocks,
/// and a clear error for other binary files.
pub fn read(ws: &Workspace, input: &ReadInput, limits: &Limits) -> ToolResult {
    let resolved = match ws.resolve(&input.file_path, Access::Read) {
        Ok(r) => r,
        Err(e) => return ToolResult::error(e.to_string()),
    };
    let path = &resolved.display;
    let meta = match fs::metadata(&resolved.real) {
        Ok(m) => m,
        Err(e) => return io_error(path, &e),
    };
    if meta.is_dir() {
        return ToolResult::error(format!(
            "{path} is a directory; use glob or bash `ls` to list it"
        ));
    }
    if meta.len() > limits.max_file_bytes as u64 {
        return ToolResult::error(format!(
            "{path} is {} bytes, more than the {} bytes read returns; use bash (head, sed -n) to read parts of it",
            meta.len(),
            limits.max_file_bytes
        ));
    }
    let bytes = match fs::read(&resolved.real) {
        Ok(b) => b,
        Err(e) => return io_error(path, &e),
    };
    if let Some(media_type) = sniff_media(&bytes) {
        let source = Base64Source {
            media_type: media_type.to_owned(),
            data: STANDARD.encode(&bytes),
        };
        let block = if media_type == "application/pdf" {
            ContentBlock::Document { source }
        } else {
            ContentBlock::Image { source }
        };
        return ToolResult {
            content: vec![block],
            is_error: false,
            replayed: false,
        };
    }
    let Some(text) = as_text(&bytes) else {
        return ToolResult::error(format!(
            "{path} is a binary file ({} bytes) and cannot be shown as text",
            bytes.len()
        ));
    };
    let selected = match input.view_range {
        None => text.to_owned(),
        Some((start, end)) => {
            let lines: Vec<&str> = text.split_inclusive('\n').collect();
            let first = usize::try_from(start)
                .unwrap_or(usize::MAX)
                .saturating_sub(1);
            if first >= lines.len() && !(first == 0 && lines.is_empty()) {
                return ToolResult::error(format!(
                    "view_range starts at line {start} but {path} has {} lines",
                    lines.len()
                ));
            }
            let last = end.map_or(lines.len(), |e| {
                usize::try_from(e).unwrap_or(usize::MAX).min(lines.len())
            });
            lines[first..last].concat()
        }
    };
    if selected.is_empty() {
        return ToolResult::text(format!("({path} is empty)"));
    }
    ToolResult::text(cap_text(
        selected,
        limits.max_output_bytes,
        "use view_range to read the rest",
    ))
}

/// `write`: overwrites the file, creating parent directories.
pub fn write(ws: &Workspace, input: &WriteInput, limits: &Limits) -> ToolResult {
    if input.content.len() > limits.max_file_bytes {
        return ToolResult::error(format!(
            "content is {} bytes; write accepts at most {} bytes per call",
            input.content.len(),
            limits.max_file_bytes
        ));
    }
    let resolved = match ws.resolve(&input.file_path, Access::Write) {
        Ok(r) => r,
        Err(e) => return ToolResult::error(e.to_string()),
    };
    if resolved.real.is_dir() {
        return ToolResult::error(format!("{} is a directory", resolved.display));
    }
    if let Err(e) = ws.create_parents(&resolved.real) {
        return io_error(&resolved.display, &e);
    }
    let existed = resolved.real.exists();
    match fs::write(&resolved.real, input.content.as_bytes()).and_then(|()| {
        if existed {
            Ok(())
        } else {
            ws.adopt(&resolved.real)
        }
    }) {
        Ok(()) => ToolResult::text(format!(
            "wrote {} bytes to {}",
            input.content.len(),
            resolved.display
        )),
        Err(e) => io_error(&resolved.display, &e),
    }
}

/// `edit`: replaces a unique `old_string`, or every occurrence with `replace_all`.
pub fn edit(ws: &Workspace, input: &EditInput, limits: &Limits) -> ToolResult {
    let resolved = match ws.resolve(&input.file_path, Access::Write) {
        Ok(r) => r,
        Err(e) => return ToolResult::error(e.to_string()),
    };
    let path = &resolved.display;
    let bytes = match fs::read(&resolved.real) {
        Ok(b) => b,
        Err(e) => return io_error(path, &e),
    };
    let Some(text) = as_text(&bytes) else {
        return ToolResult::error(format!(
            "{path} is a binary file and cannot be edited as text"
        ));
    };
    let count = text.matches(input.old_string.as_str()).count();
    if count == 0 {
        return ToolResult::error(format!(
            "old_string was not found in {path}; read the file and copy the text exactly"
        ));
    }
    if count > 1 && !input.replace_all {
        return ToolResult::error(format!(
            "old_string occurs {count} times in {path}; include more surrounding text to make it unique, or set replace_all"
        ));
    }
    let edited = if input.replace_all {
        text.replace(input.old_string.as_str(), &input.new_string)
    } else {
        text.replacen(input.old_string.as_str(), &input.new_string, 1)
    };
    if edited.len() > limits.max_file_bytes {
        return ToolResult::error(format!(
            "the edited file would exceed {} bytes",
            limits.max_file_bytes
        ));
    }
    match fs::write(&resolved.real, edited.as_bytes()) {
        Ok(()) => ToolResult::text(format!("edited {path} ({count} replacement(s))")),
        Err(e) => io_error(path, &e),
    }
}

/// Truncates `text` to `cap` bytes (on a char boundary) with a marker.
pub fn cap_text(mut text: String, cap: usize, hint: &str) -> String {
    if text.len() <= cap {
        return text;
    }
    let total = text.len();
    let mut cut = cap;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    text.push_str(&format!(
        "\n[output truncated: {} more bytes not shown; {hint}]",
        total - cut
    ));
    text
}

/// UTF-8 text without NUL bytes, or `None` for binary content.
pub fn as_text(bytes: &[u8]) -> Option<&str> {
    if bytes.iter().take(8192).any(|b| *b == 0) {
        return None;
    }
    std::str::from_utf8(bytes).ok()
}

fn sniff_media(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else if bytes.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else {
        None
    }
}

fn io_error(path: &str, e: &io::Error) -> ToolResult {
    let reason = match e.kind() {
        io::ErrorKind::NotFound => "no such file or directory".to_owned(),
        io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => e.to_string(),
    };
    ToolResult::error(format!("{path}: {reason}"))
}
