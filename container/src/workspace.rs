//! Path confinement: maps the paths the model sees (`/workspace/...`,
//! `/mnt/session/outputs/...`, `/mnt/memory/<store>/...`, uploaded files)
//! onto real directories and files, and refuses anything that would leave
//! them (`..`, absolute paths elsewhere, symlinks pointing out).

use std::io;
use std::path::{Component, Path, PathBuf};

use openma_core::sandbox::WORKSPACE_DIR;

/// One virtual root mapped onto a real directory.
#[derive(Debug, Clone)]
pub struct Mount {
    /// The path the model sees, e.g. `/workspace`.
    pub virtual_root: PathBuf,
    /// The directory on this machine.
    pub real_root: PathBuf,
    /// Whether file tools may write under it.
    pub read_only: bool,
    /// Whether the mount is a single file rather than a directory.
    pub file: bool,
}

/// Why a path was refused.
#[derive(Debug, thiserror::Error)]
pub enum PathError {
    /// The path leaves every mount.
    #[error("path `{path}` is outside the sandbox's directories ({roots})")]
    Outside {
        /// The path as given.
        path: String,
        /// The allowed roots, comma-separated.
        roots: String,
    },
    /// The path is under a read-only mount.
    #[error("path `{0}` is read-only")]
    ReadOnly(String),
    /// The path does not exist.
    #[error("no such file or directory: `{0}`")]
    NotFound(String),
    /// The file system failed.
    #[error("cannot access `{path}`: {source}")]
    Io {
        /// The path as the model sees it.
        path: String,
        /// The cause.
        source: io::Error,
    },
}

/// Whether the caller needs the path to exist already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read an existing file or directory.
    Read,
    /// Create or overwrite; missing parent directories may be created.
    Write,
}

/// A path inside a mount.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The real path, with existing components canonicalised.
    pub real: PathBuf,
    /// The path as the model sees it.
    pub display: String,
    /// Whether the mount it is in is read-only for the agent.
    pub read_only: bool,
}

/// A session's set of mounts; the first is the working directory.
#[derive(Debug, Clone)]
pub struct Workspace {
    mounts: Vec<Mount>,
    owner: Option<(u32, u32)>,
}

impl Workspace {
    /// A workspace from mounts; the first one is `/workspace`. Real roots are
    /// created if missing and canonicalised. With an `owner`, writable roots
    /// and everything the file tools create belong to that `(uid, gid)`, so
    /// sandboxed processes running as it can use them.
    pub fn new(mounts: Vec<Mount>, owner: Option<(u32, u32)>) -> io::Result<Self> {
        let mut canon = Vec::with_capacity(mounts.len());
        for m in mounts {
            canon.push(prepare(m, owner)?);
        }
        if canon.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a workspace needs at least one mount",
            ));
        }
        Ok(Self {
            mounts: canon,
            owner,
        })
    }

    /// This workspace with `mount` added (replacing one at the same path);
    /// its directory, or a file mount's parent, is created if missing.
    pub fn with_mount(&self, mount: Mount) -> io::Result<Self> {
        let mount = prepare(mount, self.owner)?;
        let mut mounts: Vec<Mount> = self
            .mounts
            .iter()
            .filter(|m| m.virtual_root != mount.virtual_root)
            .cloned()
            .collect();
        mounts.push(mount);
        Ok(Self {
            mounts,
            owner: self.owner,
        })
    }

    /// The `(uid, gid)` that owns what the file tools create, if any.
    pub fn owner(&self) -> Option<(u32, u32)> {
        self.owner
    }

    /// Creates the missing parents of `file` and hands them (and `file`, if it
    /// exists) to the workspace owner.
    pub fn create_parents(&self, file: &Path) -> io::Result<()> {
        let Some(parent) = file.parent() else {
            return Ok(());
        };
        let mut first_missing = None;
        let mut probe = parent;
        while !probe.exists() {
            first_missing = Some(probe.to_path_buf());
            match probe.parent() {
                Some(p) => probe = p,
                None => break,
            }
        }
        std::fs::create_dir_all(parent)?;
        if let (Some((uid, gid)), Some(first)) = (self.owner, first_missing) {
            let mut dir = parent.to_path_buf();
            loop {
                std::os::unix::fs::chown(&dir, Some(uid), Some(gid))?;
                if dir == first || !dir.pop() {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Hands a file the file tools created to the workspace owner.
    pub fn adopt(&self, file: &Path) -> io::Result<()> {
        match self.owner {
            Some((uid, gid)) => std::os::unix::fs::chown(file, Some(uid), Some(gid)),
            None => Ok(()),
        }
    }

    /// The real directory behind `/workspace` (the shell's starting directory).
    pub fn root(&self) -> &Path {
        &self.mounts[0].real_root
    }

    /// Maps a model path onto a real path inside a mount, or refuses it.
    pub fn resolve(&self, path: &str, access: Access) -> Result<Resolved, PathError> {
        self.resolve_as(path, access, true)
    }

    /// Like [`Workspace::resolve`], for the platform's own writes, which
    /// read-only mounts do not refuse.
    pub fn resolve_for_platform(&self, path: &str, access: Access) -> Result<Resolved, PathError> {
        self.resolve_as(path, access, false)
    }

    fn resolve_as(
        &self,
        path: &str,
        access: Access,
        enforce_read_only: bool,
    ) -> Result<Resolved, PathError> {
        let joined = if Path::new(path).is_absolute() {
            PathBuf::from(path)
        } else {
            Path::new(WORKSPACE_DIR).join(path)
        };
        let normal = normalize(&joined).ok_or_else(|| self.outside(path))?;
        let (mount, rest) = self.find_mount(&normal).ok_or_else(|| self.outside(path))?;
        if access == Access::Write && mount.read_only && enforce_read_only {
            return Err(PathError::ReadOnly(path.to_owned()));
        }
        // `join("")` would add a trailing slash, which a file mount cannot have.
        let under = |base: &Path| {
            if rest.as_os_str().is_empty() {
                base.to_path_buf()
            } else {
                base.join(&rest)
            }
        };
        let display = under(&mount.virtual_root).to_string_lossy().into_owned();
        let real = self.confine(mount, &under(&mount.real_root), path, access)?;
        Ok(Resolved {
            real,
            display,
            read_only: mount.read_only,
        })
    }

    /// Maps a real path back to the path the model sees, if it is in a mount.
    pub fn display(&self, real: &Path) -> Option<String> {
        self.mounts.iter().find_map(|m| {
            let rest = real.strip_prefix(&m.real_root).ok()?;
            Some(m.virtual_root.join(rest).to_string_lossy().into_owned())
        })
    }

    fn find_mount(&self, normal: &Path) -> Option<(&Mount, PathBuf)> {
        // A real path (as `pwd` prints it locally) is accepted as well as a virtual one.
        self.mounts
            .iter()
            .filter_map(|m| {
                let rest = normal
                    .strip_prefix(&m.virtual_root)
                    .or_else(|_| normal.strip_prefix(&m.real_root))
                    .ok()?;
                Some((m, rest.to_path_buf()))
            })
            .min_by_key(|(_, rest)| rest.components().count())
    }

    /// Canonicalises the deepest existing ancestor and checks it stays in the mount.
    fn confine(
        &self,
        mount: &Mount,
        real: &Path,
        shown: &str,
        access: Access,
    ) -> Result<PathBuf, PathError> {
        if mount.file {
            // A file mount is the file itself, never a symlink.
            if real != mount.real_root {
                return Err(self.outside(shown));
            }
            return match real.symlink_metadata() {
                Ok(m) if m.file_type().is_symlink() => Err(self.outside(shown)),
                Ok(_) => Ok(real.to_path_buf()),
                Err(e) if e.kind() == io::ErrorKind::NotFound && access == Access::Read => {
                    Err(PathError::NotFound(shown.to_owned()))
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(real.to_path_buf()),
                Err(source) => Err(PathError::Io {
                    path: shown.to_owned(),
                    source,
                }),
            };
        }
        let mut existing = real.to_path_buf();
        let mut missing: Vec<std::ffi::OsString> = Vec::new();
        loop {
            match existing.symlink_metadata() {
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    if access == Access::Read {
                        return Err(PathError::NotFound(shown.to_owned()));
                    }
                    let Some(name) = existing.file_name().map(|n| n.to_os_string()) else {
                        return Err(self.outside(shown));
                    };
                    missing.push(name);
                    if !existing.pop() {
                        return Err(self.outside(shown));
                    }
                }
                Err(source) => {
                    return Err(PathError::Io {
                        path: shown.to_owned(),
                        source,
                    });
                }
            }
        }
        // A dangling symlink fails here: following it could create a file anywhere.
        let canon = existing.canonicalize().map_err(|_| self.outside(shown))?;
        if !canon.starts_with(&mount.real_root) {
            return Err(self.outside(shown));
        }
        Ok(missing
            .into_iter()
            .rev()
            .fold(canon, |p, name| p.join(name)))
    }

    fn outside(&self, path: &str) -> PathError {
        let roots = self
            .mounts
            .iter()
            .map(|m| m.virtual_root.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(", ");
        PathError::Outside {
            path: path.to_owned(),
            roots,
        }
    }
}

/// Creates a mount's directory (a file mount's parent) and canonicalises its
/// real root; writable directories are handed to `owner`.
fn prepare(m: Mount, owner: Option<(u32, u32)>) -> io::Result<Mount> {
    let real_root = if m.file {
        let (Some(parent), Some(name)) = (m.real_root.parent(), m.real_root.file_name()) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a file mount needs a parent directory",
            ));
        };
        std::fs::create_dir_all(parent)?;
        parent.canonicalize()?.join(name)
    } else {
        std::fs::create_dir_all(&m.real_root)?;
        let root = m.real_root.canonicalize()?;
        if let (Some((uid, gid)), false) = (owner, m.read_only) {
            std::os::unix::fs::chown(&root, Some(uid), Some(gid))?;
        }
        root
    };
    Ok(Mount { real_root, ..m })
}

/// The calling thread's file-system identity (Linux `setfsuid`/`setfsgid`,
/// which are per thread), restored on drop. Without privilege it changes
/// nothing.
#[derive(Debug)]
pub struct FsIdentity {
    uid: nix::unistd::Uid,
    gid: nix::unistd::Gid,
}

impl FsIdentity {
    /// Makes file-system permission checks on this thread those of `uid:gid`.
    pub fn assume(uid: u32, gid: u32) -> Self {
        let gid = nix::unistd::setfsgid(nix::unistd::Gid::from_raw(gid));
        let uid = nix::unistd::setfsuid(nix::unistd::Uid::from_raw(uid));
        Self { uid, gid }
    }
}

impl Drop for FsIdentity {
    fn drop(&mut self) {
        nix::unistd::setfsuid(self.uid);
        nix::unistd::setfsgid(self.gid);
    }
}

/// Lexical normalisation of an absolute path; `None` if `..` climbs above `/`.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Normal(n) => out.push(n),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests;
