//! What the platform places in a session besides its workspace: uploaded
//! files, memory stores and the outputs directory, and the routes that move
//! their bytes between the platform and the sandbox.
//!
//! | route | body | answer |
//! |---|---|---|
//! | `PUT /v1/sessions/{id}/files?path=` | the bytes | [`FileEntry`] |
//! | `GET /v1/sessions/{id}/files?root=[&hash=true]` | — | [`FileListing`] |
//! | `GET /v1/sessions/{id}/files/content?path=` | — | the bytes |
//! | `POST /v1/sessions/{id}/tree` | [`TreeParams`] | [`FileListing`] |
//!
//! These are the platform's own writes: a read-only mount refuses the
//! agent's file tools, never them.

use serde::{Deserialize, Serialize};

/// Where file resources are mounted unless they name a `mount_path`.
pub const UPLOADS_DIR: &str = "/mnt/session/uploads";
/// Most entries a listing returns.
pub const MAX_LISTING: usize = 10_000;

/// `PUT /v1/sessions/{id}/files`, relative to the session.
pub fn files_path(session_id: &str) -> String {
    format!("/v1/sessions/{session_id}/files")
}

/// `GET /v1/sessions/{id}/files/content`.
pub fn file_content_path(session_id: &str) -> String {
    format!("/v1/sessions/{session_id}/files/content")
}

/// `POST /v1/sessions/{id}/tree`.
pub fn tree_path(session_id: &str) -> String {
    format!("/v1/sessions/{session_id}/tree")
}

/// Whether a mount is a directory (a memory store) or one file (an upload).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MountKind {
    /// A directory tree.
    Directory,
    /// A single file.
    File,
}

/// A path the platform places in the session at set-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountParams {
    /// Absolute path as the agent sees it, e.g. `/mnt/memory/notes`.
    pub path: String,
    /// Directory or file.
    pub kind: MountKind,
    /// Whether the agent's tools may change it.
    #[serde(default)]
    pub read_only: bool,
}

/// What set-up found at a mount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountStatus {
    /// The mount's path.
    pub path: String,
    /// Whether it did not exist before this set-up, so the platform must
    /// fill it.
    pub created: bool,
}

/// One regular file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Absolute path as the agent sees it.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Last modification, milliseconds since the Unix epoch.
    pub modified_ms: u64,
    /// Hex SHA-256 of the content, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// The regular files under a directory, sorted by path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct FileListing {
    /// The files.
    pub files: Vec<FileEntry>,
    /// Whether more than [`MAX_LISTING`] files were found.
    #[serde(default)]
    pub truncated: bool,
}

/// `POST /v1/sessions/{id}/tree`: make the directory `root` hold exactly
/// `files` (text content), replacing whatever it held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeParams {
    /// The directory, absolute as the agent sees it.
    pub root: String,
    /// The files, with absolute paths under `root`.
    #[serde(default)]
    pub files: Vec<TreeFile>,
}

/// One file of a [`TreeParams`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeFile {
    /// Absolute path under the tree's root.
    pub path: String,
    /// UTF-8 content.
    pub content: String,
}

/// Directories a mount may be placed under.
pub const MOUNT_ROOTS: [&str; 5] = ["/workspace/", "/mnt/", "/tmp/", "/home/", "/data/"];

/// Checks a mount path: absolute, at most 1024 bytes, no empty, `.` or `..`
/// segment, and under one of [`MOUNT_ROOTS`] (never over the system's own
/// directories). Returns what is wrong.
pub fn validate_mount_path(path: &str) -> Result<(), String> {
    if path.len() > 1024 {
        return Err("must be at most 1024 bytes".to_owned());
    }
    if !MOUNT_ROOTS.iter().any(|root| path.starts_with(root)) {
        return Err(format!("must be under one of {}", MOUNT_ROOTS.join(", ")));
    }
    let bad_segment = path[1..]
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == ".." || s.contains('\0'));
    if bad_segment {
        return Err("must be an absolute path without empty, `.` or `..` segments".to_owned());
    }
    Ok(())
}

/// The directory name a memory store is mounted under: the store's name in
/// lower case, with runs of anything but `[a-z0-9_-]` turned into `-`, at
/// most 64 characters; `fallback` (the store id) when nothing is left.
pub fn memory_slug(name: &str, fallback: &str) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug: String = slug.trim_matches('-').chars().take(64).collect();
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() || slug == "." || slug == ".." {
        fallback.to_owned()
    } else {
        slug.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_paths_stay_in_the_sandbox_s_own_directories() {
        for ok in [
            "/mnt/session/uploads/file_1",
            "/workspace/data/a.csv",
            "/tmp/x",
        ] {
            assert_eq!(validate_mount_path(ok), Ok(()), "{ok}");
        }
        for bad in [
            "/etc/passwd",
            "/",
            "relative/x",
            "/mnt/",
            "/mnt/a/../../etc",
            "/mnt//a",
            "/workspace/./a",
            "/workspace",
        ] {
            assert!(validate_mount_path(bad).is_err(), "{bad}");
        }
        assert!(validate_mount_path(&format!("/mnt/{}", "a".repeat(1100))).is_err());
    }

    #[test]
    fn slugs_are_lower_case_words_joined_by_dashes() {
        assert_eq!(
            memory_slug("User Preferences", "memstore_1"),
            "user-preferences"
        );
        assert_eq!(memory_slug("  a/b\\c..d  ", "x"), "a-b-c-d");
        assert_eq!(memory_slug("Ünïcode ✓ ok", "x"), "n-code-ok");
        assert_eq!(memory_slug("../..", "memstore_9"), "memstore_9");
        assert_eq!(memory_slug("", "memstore_9"), "memstore_9");
        assert_eq!(memory_slug(&"a".repeat(100), "x").len(), 64);
    }
}
