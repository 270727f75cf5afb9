//! The platform's own file operations on a session: placing uploaded files
//! and memory stores, listing and reading what the agent wrote (outputs,
//! memory changes), and the fingerprints `execute` answers with.
//!
//! Paths are the agent's (`/mnt/memory/notes/a.md`) and are confined by the
//! session's [`Workspace`] like the agent's own, except that read-only mounts
//! do not refuse the platform. The agent can change what lies under its
//! mounts at any moment, so nothing here opens a path by name: each mount is
//! reached from its anchor and everything beneath it through open
//! directories, never following a link ([`crate::safe_fs`]); a link where
//! a file or directory should be is refused, or left out of a listing.
//! Reads run with the sandbox user's file-system identity; so do writes into
//! writable mounts, while read-only mounts and trees (swapped in beside the
//! mount, in a directory only the server may change) are written by the
//! server itself.

use std::ffi::{OsStr, OsString};
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use openma_core::crypto::sha256_hex;
use openma_core::sandbox::{FileEntry, FileListing, MAX_LISTING, TreeParams};

use crate::safe_fs::{self, Create, Dir, Kind, Opened, Stat};
use crate::workspace::{FsIdentity, Located, PathError, Workspace};

/// Mode of the directories made inside a mount, less the umask.
const DIR_MODE: u32 = 0o777;

/// Writes `bytes` to `path` (replacing it atomically), creating parents.
pub fn place(ws: &Workspace, path: &str, bytes: &[u8]) -> Result<FileEntry, PathError> {
    let target = ws.locate(path)?;
    let owner = owner_of(ws, &target);
    // A file mount's directory is the server's: the server writes there.
    let _identity = identity(if target.file { None } else { owner });
    let fail = |e: io::Error| refusal(ws, path, e, false);
    let inside = target.inside();
    let Some(name) = inside.file_name() else {
        return Err(fail(is_a_directory()));
    };
    let root = target.open_root(true).map_err(fail)?;
    let dir = root
        .create_dirs(
            inside.parent().unwrap_or(Path::new("")),
            DIR_MODE,
            &mut |d| hand_over(d, owner),
        )
        .map_err(fail)?;
    match dir.stat(name).map_err(fail)? {
        Some(Stat {
            kind: Kind::Dir, ..
        }) => return Err(fail(is_a_directory())),
        Some(Stat {
            kind: Kind::Link, ..
        }) => return Err(ws.outside(path)),
        _ => {}
    }
    let stat = write_atomically(&dir, name, bytes, owner).map_err(fail)?;
    Ok(FileEntry {
        path: target.display,
        size: stat.size,
        modified_ms: millis(stat.modified),
        sha256: Some(sha256_hex(bytes)),
    })
}

/// The bytes of a regular file.
pub fn read(ws: &Workspace, path: &str) -> Result<Vec<u8>, PathError> {
    let target = ws.locate(path)?;
    let _identity = identity(ws.owner());
    let fail = |e: io::Error| refusal(ws, path, e, true);
    let root = target.open_root(false).map_err(fail)?;
    match root.open(target.inside()).map_err(fail)? {
        Opened::File(mut file, _) => {
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).map_err(fail)?;
            Ok(bytes)
        }
        Opened::Dir(_) => Err(fail(is_a_directory())),
        Opened::Other(_) => Err(fail(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ))),
    }
}

/// The regular files under `root` (symbolic links are not followed), sorted
/// by path; with `hash`, each with its SHA-256. A missing root lists nothing.
pub fn list(ws: &Workspace, root: &str, hash: bool) -> Result<FileListing, PathError> {
    let target = ws.locate(root)?;
    let _identity = identity(ws.owner());
    let found = match collect(&target, hash) {
        Ok(found) => found,
        Err(e) => {
            return match refusal(ws, root, e, true) {
                PathError::NotFound(_) => Ok(FileListing::default()),
                other => Err(other),
            };
        }
    };
    let mut files: Vec<FileEntry> = found
        .files
        .into_iter()
        .map(|f| FileEntry {
            path: joined(Path::new(&target.display), &f.rel)
                .to_string_lossy()
                .into_owned(),
            size: f.stat.size,
            modified_ms: millis(f.stat.modified),
            sha256: f.sha256,
        })
        .collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(FileListing {
        files,
        truncated: found.truncated,
    })
}

/// Makes the directory `params.root` hold exactly `params.files`: the new
/// tree is built beside it and swapped in, so a failure leaves the old one.
pub fn replace_tree(ws: &Workspace, params: &TreeParams) -> Result<FileListing, PathError> {
    let target = ws.locate(&params.root)?;
    let fail = |e: io::Error| refusal(ws, &params.root, e, false);
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
        relative.push((Path::new(rest), file.content.as_bytes()));
    }
    let owner = owner_of(ws, &target);
    // The swap happens beside the root, in the mount's parent, which is the
    // server's: so the server builds the tree there, in a directory only it
    // can enter until the tree is complete.
    let (parent, name) = if target.inside().as_os_str().is_empty() {
        target.open_root_parent(true).map_err(fail)?
    } else {
        let inside = target.inside();
        let (Some(dirs), Some(name)) = (inside.parent(), inside.file_name()) else {
            return Err(ws.outside(&params.root));
        };
        let root = target.open_root(true).map_err(fail)?;
        let dir = root
            .create_dirs(dirs, DIR_MODE, &mut |d| hand_over(d, owner))
            .map_err(fail)?;
        (dir, name.to_os_string())
    };
    let old = parent.stat(&name).map_err(fail)?;
    if old.is_some_and(|s| s.kind == Kind::Link) {
        return Err(ws.outside(&params.root));
    }
    let tag = crate::random_hex(6).map_err(fail)?;
    let name_text = name.to_string_lossy();
    let fresh = OsString::from(format!(".{name_text}.new-{tag}"));
    let stale = OsString::from(format!(".{name_text}.old-{tag}"));
    // The new root keeps the old one's permissions (its owner's always).
    let mode = old.map_or(0o755, |s| s.mode & 0o777 | 0o700);
    if let Err(e) = build_tree(&parent, &fresh, &relative, owner, mode) {
        let _ = parent.remove_tree(&fresh);
        return Err(fail(e));
    }
    let had_old = old.is_some();
    if had_old && let Err(e) = parent.rename(&name, &parent, &stale) {
        let _ = parent.remove_tree(&fresh);
        return Err(fail(e));
    }
    if let Err(e) = parent.rename(&fresh, &parent, &name) {
        if had_old {
            let _ = parent.rename(&stale, &parent, &name);
        }
        let _ = parent.remove_tree(&fresh);
        return Err(fail(e));
    }
    if had_old {
        let _ = parent.remove_tree(&stale);
    }
    list(ws, &params.root, true)
}

/// A digest of the paths, sizes and modification times under `root`:
/// equal digests mean nothing there changed. `"absent"` for a missing root.
pub fn fingerprint(ws: &Workspace, root: &str) -> String {
    let Ok(target) = ws.locate(root) else {
        return "absent".to_owned();
    };
    let _identity = identity(ws.owner());
    let found = match collect(&target, false) {
        Ok(found) => found,
        // Missing, or a link in the way (refused like a path outside).
        Err(e) if safe_fs::is_link_error(&e) || e.raw_os_error() == Some(Errno::ENOENT as i32) => {
            return "absent".to_owned();
        }
        Err(_) => return "unreadable".to_owned(),
    };
    let mut summary = String::new();
    for f in found.files {
        let modified = f.stat.modified.map_or(0, |d| d.as_nanos());
        summary.push_str(&format!(
            "{}\0{}\0{modified}\n",
            joined(&target.real, &f.rel).to_string_lossy(),
            f.stat.size
        ));
    }
    sha256_hex(summary.as_bytes())
}

/// The sandbox user, when `target` is in a mount the agent may write.
fn owner_of(ws: &Workspace, target: &Located) -> Option<(u32, u32)> {
    if target.read_only { None } else { ws.owner() }
}

/// This thread's file-system identity as `owner`'s, if there is one.
fn identity(owner: Option<(u32, u32)>) -> Option<FsIdentity> {
    owner.map(|(uid, gid)| FsIdentity::assume(uid, gid))
}

fn hand_over(dir: &Dir, owner: Option<(u32, u32)>) -> io::Result<()> {
    match owner {
        Some((uid, gid)) => dir.set_owner(uid, gid),
        None => Ok(()),
    }
}

fn is_a_directory() -> io::Error {
    io::Error::new(io::ErrorKind::IsADirectory, "a directory is in the way")
}

/// Maps a file-system failure on `path`: a link on the way is a refusal
/// like a path outside the mounts; with `missing_is_not_found`, a missing
/// file is [`PathError::NotFound`].
fn refusal(ws: &Workspace, path: &str, e: io::Error, missing_is_not_found: bool) -> PathError {
    if safe_fs::is_link_error(&e) || e.raw_os_error() == Some(Errno::EXDEV as i32) {
        ws.outside(path)
    } else if missing_is_not_found && e.raw_os_error() == Some(Errno::ENOENT as i32) {
        PathError::NotFound(path.to_owned())
    } else {
        PathError::Io {
            path: path.to_owned(),
            source: e,
        }
    }
}

/// Writes a temporary file beside `name` in `dir` and renames it over
/// `name` (whatever is there is replaced, never followed).
fn write_atomically(
    dir: &Dir,
    name: &OsStr,
    bytes: &[u8],
    owner: Option<(u32, u32)>,
) -> io::Result<Stat> {
    let tmp = OsString::from(format!(
        ".{}.{}",
        name.to_string_lossy(),
        crate::random_hex(6)?
    ));
    let mut file = dir.create_file(&tmp, Create::New)?;
    let written = file
        .write_all(bytes)
        .and_then(|()| match owner {
            Some((uid, gid)) => std::os::unix::fs::fchown(&file, Some(uid), Some(gid)),
            None => Ok(()),
        })
        .and_then(|()| Stat::of(&file))
        .and_then(|stat| dir.rename(&tmp, dir, name).map(|()| stat));
    if written.is_err() {
        let _ = dir.remove_file(&tmp);
    }
    written
}

/// Builds `files` in a new directory `fresh` of `parent`: private to the
/// server while it is built, then handed to `owner` with `mode`.
fn build_tree(
    parent: &Dir,
    fresh: &OsStr,
    files: &[(&Path, &[u8])],
    owner: Option<(u32, u32)>,
    mode: u32,
) -> io::Result<()> {
    let root = parent.create_dir(fresh, 0o700)?;
    for (rest, bytes) in files {
        let (Some(dirs), Some(name)) = (rest.parent(), rest.file_name()) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a file path has a name",
            ));
        };
        let dir = root.create_dirs(dirs, DIR_MODE, &mut |d| hand_over(d, owner))?;
        let mut file = dir.create_file(name, Create::Truncate)?;
        file.write_all(bytes)?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::fchown(&file, Some(uid), Some(gid))?;
        }
    }
    hand_over(&root, owner)?;
    root.set_mode(mode)
}

/// One regular file found under a listed root.
struct Found {
    /// Its path beneath the root (empty when the root is the file).
    rel: PathBuf,
    stat: Stat,
    sha256: Option<String>,
}

/// The files found under a root, and whether there were more.
struct Collected {
    files: Vec<Found>,
    truncated: bool,
}

/// The regular files at or under `target`; with `hash`, their digests.
fn collect(target: &Located, hash: bool) -> io::Result<Collected> {
    let root = target.open_root(false)?;
    let mut collected = Collected {
        files: Vec::new(),
        truncated: false,
    };
    match root.open(target.inside())? {
        Opened::Dir(dir) => walk(&dir, hash, &mut collected)?,
        Opened::File(file, stat) => {
            let sha256 = if hash { Some(digest(file)?) } else { None };
            collected.files.push(Found {
                rel: PathBuf::new(),
                stat,
                sha256,
            });
        }
        Opened::Other(_) => {}
    }
    Ok(collected)
}

/// Collects the regular files under `top` (depth first, links not followed,
/// each directory opened again from `top` without following links); stops
/// at [`MAX_LISTING`]. What changes meanwhile is left out.
fn walk(top: &Dir, hash: bool, out: &mut Collected) -> io::Result<()> {
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = match top.open_dir(&rel) {
            Ok(dir) => dir,
            Err(e) if changed(&e) => continue,
            Err(e) => return Err(e),
        };
        let entries = match dir.entries() {
            Ok(entries) => entries,
            Err(e) if changed(&e) => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            match entry.kind {
                Kind::Dir => stack.push(rel.join(&entry.name)),
                Kind::File => {
                    if out.files.len() >= MAX_LISTING {
                        out.truncated = true;
                        return Ok(());
                    }
                    match regular(&dir, &entry.name, hash) {
                        Ok(Some((stat, sha256))) => out.files.push(Found {
                            rel: rel.join(&entry.name),
                            stat,
                            sha256,
                        }),
                        Ok(None) => {}
                        Err(e) if changed(&e) => {}
                        Err(e) => return Err(e),
                    }
                }
                Kind::Link | Kind::Other => {}
            }
        }
    }
    Ok(())
}

/// The status (and digest) of the entry `name` of `dir`, if it is still a
/// regular file.
fn regular(dir: &Dir, name: &OsStr, hash: bool) -> io::Result<Option<(Stat, Option<String>)>> {
    if !hash {
        return Ok(dir
            .stat(name)?
            .filter(|s| s.kind == Kind::File)
            .map(|s| (s, None)));
    }
    match dir.open(Path::new(name))? {
        Opened::File(file, stat) => Ok(Some((stat, Some(digest(file)?)))),
        Opened::Dir(_) | Opened::Other(_) => Ok(None),
    }
}

fn digest(mut file: std::fs::File) -> io::Result<String> {
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(sha256_hex(&bytes))
}

/// Whether a failure means the entry was removed, replaced by a link or
/// something else, or moved out from under the directory (`EXDEV`) while
/// it was being opened.
fn changed(e: &io::Error) -> bool {
    safe_fs::is_link_error(e)
        || [Errno::ENOENT, Errno::ENOTDIR, Errno::EXDEV]
            .iter()
            .any(|code| e.raw_os_error() == Some(*code as i32))
}

/// `base` joined with `rel`, without a trailing slash for an empty `rel`.
fn joined(base: &Path, rel: &Path) -> PathBuf {
    if rel.as_os_str().is_empty() {
        base.to_path_buf()
    } else {
        base.join(rel)
    }
}

fn millis(modified: Option<Duration>) -> u64 {
    modified.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests;
