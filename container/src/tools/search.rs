//! `glob` (newest first) and `grep` (ripgrep-style `path:line:text`), walking
//! only inside the workspace and never following symlinks.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use globset::GlobBuilder;
use openma_core::sandbox::{GlobInput, GrepInput, ToolResult, WORKSPACE_DIR};
use regex::Regex;

use super::files::{as_text, cap_text};
use crate::config::Limits;
use crate::workspace::{Access, Workspace};

/// Most entries a walk visits, so a huge tree cannot stall the server.
const MAX_WALK_ENTRIES: usize = 200_000;
/// Most paths glob lists.
const MAX_GLOB_RESULTS: usize = 1_000;
/// Largest file grep searches.
const MAX_GREP_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// `glob`: files under `path` matching a doublestar pattern, newest first.
pub fn glob(ws: &Workspace, input: &GlobInput, limits: &Limits) -> ToolResult {
    let base = input.path.as_deref().unwrap_or(WORKSPACE_DIR);
    let root = match ws.resolve(base, Access::Read) {
        Ok(r) => r.real,
        Err(e) => return ToolResult::error(e.to_string()),
    };
    // An absolute pattern under the base (`/workspace/src/**/*.rs`) is made relative to it.
    let shown_base = ws.display(&root).unwrap_or_default();
    let pattern = match input
        .pattern
        .strip_prefix(&format!("{}/", shown_base.trim_end_matches('/')))
    {
        Some(rest) => rest,
        None if input.pattern.starts_with('/') => {
            return ToolResult::error(format!(
                "glob pattern `{}` must be relative to `{shown_base}` (or start with it)",
                input.pattern
            ));
        }
        None => input.pattern.trim_start_matches("./"),
    };
    let matcher = match GlobBuilder::new(pattern).literal_separator(true).build() {
        Ok(g) => g.compile_matcher(),
        Err(e) => {
            return ToolResult::error(format!("invalid glob pattern `{}`: {e}", input.pattern));
        }
    };
    let mut hits: Vec<(SystemTime, PathBuf)> = Vec::new();
    walk(&root, &mut |path, meta| {
        if meta.is_file()
            && let Ok(rel) = path.strip_prefix(&root)
            && matcher.is_match(rel)
        {
            hits.push((
                meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                path.to_path_buf(),
            ));
        }
    });
    if hits.is_empty() {
        return ToolResult::text("no matches");
    }
    hits.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let total = hits.len();
    let mut lines: Vec<String> = hits
        .into_iter()
        .take(MAX_GLOB_RESULTS)
        .filter_map(|(_, p)| ws.display(&p))
        .collect();
    if total > MAX_GLOB_RESULTS {
        lines.push(format!(
            "[{} more matches not shown; narrow the pattern]",
            total - MAX_GLOB_RESULTS
        ));
    }
    ToolResult::text(cap_text(
        lines.join("\n"),
        limits.max_output_bytes,
        "narrow the pattern",
    ))
}

/// `grep`: lines matching a regex in a file or under a directory.
pub fn grep(ws: &Workspace, input: &GrepInput, limits: &Limits) -> ToolResult {
    let regex = match Regex::new(&input.pattern) {
        Ok(r) => r,
        Err(e) => return ToolResult::error(format!("invalid regex `{}`: {e}", input.pattern)),
    };
    let base = input.path.as_deref().unwrap_or(WORKSPACE_DIR);
    let root = match ws.resolve(base, Access::Read) {
        Ok(r) => r.real,
        Err(e) => return ToolResult::error(e.to_string()),
    };
    let mut files: Vec<PathBuf> = Vec::new();
    match fs::symlink_metadata(&root) {
        Ok(m) if m.is_file() => files.push(root),
        _ => walk(&root, &mut |path, meta| {
            if meta.is_file() && meta.len() <= MAX_GREP_FILE_BYTES {
                files.push(path.to_path_buf());
            }
        }),
    }
    files.sort();
    let mut out = String::new();
    for file in files {
        let Ok(bytes) = fs::read(&file) else { continue };
        let Some(text) = as_text(&bytes) else {
            continue;
        };
        let shown = ws.display(&file).unwrap_or_default();
        for (n, line) in text.lines().enumerate() {
            if regex.is_match(line) {
                out.push_str(&format!("{shown}:{}:{line}\n", n + 1));
            }
        }
        if out.len() > limits.max_output_bytes {
            break;
        }
    }
    if out.is_empty() {
        return ToolResult::text("no matches");
    }
    out.pop();
    ToolResult::text(cap_text(
        out,
        limits.max_output_bytes,
        "narrow the pattern or the path",
    ))
}

/// Depth-first walk that skips symlinks and `.git`, bounded by [`MAX_WALK_ENTRIES`].
fn walk(root: &Path, visit: &mut dyn FnMut(&Path, &fs::Metadata)) {
    let mut stack = vec![root.to_path_buf()];
    let mut seen = 0usize;
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            seen += 1;
            if seen > MAX_WALK_ENTRIES {
                return;
            }
            let Ok(meta) = entry.metadata() else { continue };
            let path = entry.path();
            if meta.is_dir() {
                if entry.file_name() != ".git" {
                    stack.push(path);
                }
            } else if meta.is_file() {
                visit(&path, &meta);
            }
        }
    }
}
