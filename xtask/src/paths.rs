//! Where things are in the repository.

use std::path::Path;
use std::path::PathBuf;

/// The repository root (the workspace that holds this crate).
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Cargo's target directory for this workspace.
pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// Where xtask keeps its own stamps (build fingerprints).
pub(crate) fn stamps_dir() -> PathBuf {
    target_dir().join("openma")
}
