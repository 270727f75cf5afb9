//! The platform's own file operations on a session: placing uploaded files
//! and memory stores, listing and reading what the agent wrote (outputs,
//! memory changes), and the fingerprints `execute` answers with.
//!
//! Paths are the agent's (`/mnt/memory/notes/a.md`) and are confined by the
//! session's [`Workspace`] like the agent's own, except that read-only mounts
//! do not refuse the platform.

use std::io;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use openma_core::crypto::sha256_hex;
use openma_core::sandbox::{FileEntry, FileListing, MAX_LISTING, TreeParams};

use crate::workspace::{Access, PathError, Workspace};

/// Writes `bytes` to `path` (replacing it atomically), creating parents.
pub fn place(ws: &Workspace, path: &str, bytes: &[u8]) -> Result<FileEntry, PathError> {
    let target = ws.resolve_for_platform(path, Access::Write)?;
    let io_err = |source| PathError::Io {
        path: path.to_owned(),
        source,
    };
    if target.real.is_dir() {
        return Err(io_err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "a directory is in the way",
        )));
    }
    ws.create_parents(&target.real).map_err(io_err)?;
    write_atomically(&target.real, bytes).map_err(io_err)?;
    if !target.read_only {
        ws.adopt(&target.real).map_err(io_err)?;
    }
    entry(&target.real, target.display, true).map_err(io_err)
}

/// The bytes of a regular file.
pub fn read(ws: &Workspace, path: &str) -> Result<Vec<u8>, PathError> {
    let target = ws.resolve_for_platform(path, Access::Read)?;
    std::fs::read(&target.real).map_err(|source| PathError::Io {
        path: path.to_owned(),
        source,
    })
}

/// The regular files under `root` (symbolic links are not followed), sorted
/// by path; with `hash`, each with its SHA-256. A missing root lists nothing.
pub fn list(ws: &Workspace, root: &str, hash: bool) -> Result<FileListing, PathError> {
    let dir = match ws.resolve_for_platform(root, Access::Read) {
        Ok(dir) => dir,
        Err(PathError::NotFound(_)) => return Ok(FileListing::default()),
        Err(e) => return Err(e),
    };
    let mut found = Vec::new();
    let truncated = walk(&dir.real, &mut found).map_err(|source| PathError::Io {
        path: root.to_owned(),
        source,
    })?;
    let mut files = Vec::with_capacity(found.len());
    for real in found {
        let Ok(rest) = real.strip_prefix(&dir.real) else {
            continue;
        };
        let shown = Path::new(&dir.display)
            .join(rest)
            .to_string_lossy()
            .into_owned();
        match entry(&real, shown, hash) {
            Ok(e) => files.push(e),
            // Removed between the walk and now.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(PathError::Io {
                    path: root.to_owned(),
                    source,
                });
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(FileListing { files, truncated })
}

/// Makes the directory `params.root` hold exactly `params.files`: the new
/// tree is built beside it and swapped in, so a failure leaves the old one.
pub fn replace_tree(ws: &Workspace, params: &TreeParams) -> Result<FileListing, PathError> {
    let root = ws.resolve_for_platform(&params.root, Access::Write)?;
    let io_err = |source| PathError::Io {
        path: params.root.clone(),
        source,
    };
    let prefix = format!("{}/", params.root.trim_end_matches('/'));
    let mut relative = Vec::with_capacity(params.files.len());
    for file in &params.files {
        let rest = file
            .path
            .strip_prefix(&prefix)
            .filter(|rest| {
                !rest.is_empty()
                    && rest
                        .split('/')
                        .all(|s| !s.is_empty() && s != "." && s != ".." && !s.contains('\0'))
            })
            .ok_or_else(|| PathError::Outside {
                path: file.path.clone(),
                roots: params.root.clone(),
            })?;
        relative.push((rest, file.content.as_bytes()));
    }
    let (Some(parent), Some(name)) = (root.real.parent(), root.real.file_name()) else {
        return Err(PathError::Outside {
            path: params.root.clone(),
            roots: params.root.clone(),
        });
    };
    std::fs::create_dir_all(parent).map_err(io_err)?;
    let tag = crate::random_hex(6).map_err(io_err)?;
    let name = name.to_string_lossy();
    let fresh = parent.join(format!(".{name}.new-{tag}"));
    let stale = parent.join(format!(".{name}.old-{tag}"));
    let built = build_tree(&fresh, &relative, ws, root.read_only);
    if let Err(e) = built {
        let _ = std::fs::remove_dir_all(&fresh);
        return Err(io_err(e));
    }
    let had_old = root.real.exists();
    if had_old {
        std::fs::rename(&root.real, &stale).map_err(io_err)?;
    }
    if let Err(e) = std::fs::rename(&fresh, &root.real) {
        if had_old {
            let _ = std::fs::rename(&stale, &root.real);
        }
        let _ = std::fs::remove_dir_all(&fresh);
        return Err(io_err(e));
    }
    if had_old {
        let _ = std::fs::remove_dir_all(&stale);
    }
    list(ws, &params.root, true)
}

/// A digest of the paths, sizes and modification times under `root`:
/// equal digests mean nothing there changed. `"absent"` for a missing root.
pub fn fingerprint(ws: &Workspace, root: &str) -> String {
    let Ok(dir) = ws.resolve_for_platform(root, Access::Read) else {
        return "absent".to_owned();
    };
    let mut found = Vec::new();
    if walk(&dir.real, &mut found).is_err() {
        return "unreadable".to_owned();
    }
    let mut summary = String::new();
    for real in found {
        let Ok(meta) = real.symlink_metadata() else {
            continue;
        };
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        summary.push_str(&format!(
            "{}\0{}\0{modified}\n",
            real.to_string_lossy(),
            meta.len()
        ));
    }
    sha256_hex(summary.as_bytes())
}

fn build_tree(
    fresh: &Path,
    files: &[(&str, &[u8])],
    ws: &Workspace,
    read_only: bool,
) -> io::Result<()> {
    std::fs::create_dir(fresh)?;
    let owned = |p: &Path| if read_only { Ok(()) } else { ws.adopt(p) };
    owned(fresh)?;
    for (rest, bytes) in files {
        let path = fresh.join(rest);
        if let Some(dir) = path.parent() {
            let mut missing = Vec::new();
            let mut probe = dir.to_path_buf();
            while !probe.exists() {
                missing.push(probe.clone());
                if !probe.pop() {
                    break;
                }
            }
            std::fs::create_dir_all(dir)?;
            for d in missing {
                owned(&d)?;
            }
        }
        std::fs::write(&path, bytes)?;
        owned(&path)?;
    }
    Ok(())
}

fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}", crate::random_hex(6)?));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

fn entry(real: &Path, shown: String, hash: bool) -> io::Result<FileEntry> {
    let meta = real.symlink_metadata()?;
    let modified_ms = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let sha256 = if hash {
        Some(sha256_hex(&std::fs::read(real)?))
    } else {
        None
    };
    Ok(FileEntry {
        path: shown,
        size: meta.len(),
        modified_ms,
        sha256,
    })
}

/// Collects the regular files under `dir` (depth first, links not followed);
/// returns whether it stopped at [`MAX_LISTING`].
fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> io::Result<bool> {
    let meta = dir.symlink_metadata()?;
    if meta.is_file() {
        found.push(dir.to_path_buf());
        return Ok(false);
    }
    if !meta.is_dir() {
        return Ok(false);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        let entries = match std::fs::read_dir(&next) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for item in entries {
            let item = item?;
            let kind = item.file_type()?;
            if kind.is_dir() {
                stack.push(item.path());
            } else if kind.is_file() {
                if found.len() >= MAX_LISTING {
                    return Ok(true);
                }
                found.push(item.path());
            }
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests;
