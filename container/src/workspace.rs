//! Path confinement: maps the paths the model sees (`/workspace/...`,
//! `/mnt/session/outputs/...`, `/mnt/memory/<store>/...`, uploaded files)
//! onto real directories and files, and refuses anything that would leave
//! them (`..`, absolute paths elsewhere, symlinks pointing out).
//!
//! Each mount's real root is reached from an anchor: the directory holding
//! the fixed mounts (the session's directory locally; `/`, `/mnt` or
//! `/mnt/session` in the container), which belongs to this server or its
//! operator. Below the anchor nothing is followed: set-up creates a mount's
//! directories without following links (a link there fails the set-up), and
//! the platform's file routes ([`Workspace::locate`]) reach the mount again
//! from the anchor on every call, through [`safe_fs`].

use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};

use openma_core::sandbox::{MEMORY_DIR, WORKSPACE_DIR};

use crate::safe_fs::{self, Dir};

/// Mode of the directories set-up creates on the way to a mount (less the
/// umask): the server's, which the sandbox user cannot change.
const SERVER_DIR_MODE: u32 = 0o755;

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

/// A path the platform's own file routes act on, mapped onto its mount
/// but not yet opened: [`Located::open_root`] reaches the mount from its
/// anchor without following links, every time it is called.
#[derive(Debug, Clone)]
pub struct Located {
    /// The trusted directory the mount is reached from.
    anchor: PathBuf,
    /// The mount's root directory (a file mount's parent) beneath `anchor`.
    root: PathBuf,
    /// The path beneath `root` (a file mount's name; empty at a directory
    /// mount's root).
    inside: PathBuf,
    /// The path as the model sees it.
    pub display: String,
    /// The real path.
    pub real: PathBuf,
    /// Whether the mount is read-only for the agent.
    pub read_only: bool,
    /// Whether the mount is a single file (in a directory of the server's).
    pub file: bool,
}

impl Located {
    /// The path beneath [`Located::open_root`]'s directory.
    pub fn inside(&self) -> &Path {
        &self.inside
    }

    /// Opens the mount's root directory (a file mount's parent) from its
    /// anchor, no link followed on the way; with `create`, missing
    /// directories are made as the server's own.
    pub fn open_root(&self, create: bool) -> io::Result<Dir> {
        let anchor = Dir::open_trusted(&self.anchor)?;
        if create {
            anchor.create_dirs(&self.root, SERVER_DIR_MODE, &mut |_| Ok(()))
        } else {
            anchor.open_dir(&self.root)
        }
    }

    /// Opens the directory holding the mount's root, and names the root in
    /// it, like [`Located::open_root`].
    pub fn open_root_parent(&self, create: bool) -> io::Result<(Dir, OsString)> {
        let (Some(parent), Some(name)) = (self.root.parent(), self.root.file_name()) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the mount's root has no parent",
            ));
        };
        let anchor = Dir::open_trusted(&self.anchor)?;
        let dir = if create {
            anchor.create_dirs(parent, SERVER_DIR_MODE, &mut |_| Ok(()))?
        } else {
            anchor.open_dir(parent)?
        };
        Ok((dir, name.to_os_string()))
    }
}

/// A session's set of mounts; the first is the working directory.
#[derive(Debug, Clone)]
pub struct Workspace {
    mounts: Vec<Placed>,
    /// Where the fixed mounts are: later mounts are reached from these.
    anchors: Vec<Anchor>,
    owner: Option<(u32, u32)>,
}

/// A mount as set-up placed it.
#[derive(Debug, Clone)]
struct Placed {
    /// The mount; its real root is `anchor` joined with `below`.
    mount: Mount,
    /// The trusted directory it is reached from.
    anchor: PathBuf,
    /// Its real root beneath `anchor`: plain names, none a link at set-up.
    below: PathBuf,
}

/// The directory holding a fixed mount, as given and as it really is.
#[derive(Debug, Clone)]
struct Anchor {
    given: PathBuf,
    real: PathBuf,
}

impl Workspace {
    /// A workspace from mounts; the first one is `/workspace`. The directory
    /// holding each (the server's or the operator's) is created if missing
    /// and canonicalised; the real root itself is created without following
    /// links, and a link in its place is an error. With an `owner`, writable
    /// roots and everything the file tools create belong to that
    /// `(uid, gid)`, so sandboxed processes running as it can use them.
    pub fn new(mounts: Vec<Mount>, owner: Option<(u32, u32)>) -> io::Result<Self> {
        if mounts.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a workspace needs at least one mount",
            ));
        }
        let mut anchors = Vec::with_capacity(mounts.len());
        let mut placed = Vec::with_capacity(mounts.len());
        for m in mounts {
            let (Some(parent), Some(name)) = (m.real_root.parent(), m.real_root.file_name()) else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("mount `{}` needs a parent directory", m.real_root.display()),
                ));
            };
            let given = if parent.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                parent.to_path_buf()
            };
            std::fs::create_dir_all(&given)?;
            let real = given.canonicalize()?;
            let below = PathBuf::from(name);
            anchors.push(Anchor {
                given,
                real: real.clone(),
            });
            placed.push(prepare(m, real, below, owner)?);
        }
        Ok(Self {
            mounts: placed,
            anchors,
            owner,
        })
    }

    /// This workspace with `mount` added (replacing one at the same path);
    /// its directory, or a file mount's parent, is created if missing,
    /// reached from the anchor of the fixed mounts it lies under (`/` if
    /// none) without following links: a link on the way is an error.
    pub fn with_mount(&self, mount: Mount) -> io::Result<Self> {
        let (anchor, below) = self.anchor_for(&mount.real_root)?;
        let placed = prepare(mount, anchor, below, self.owner)?;
        if self.owner.is_some() {
            self.keep_store_holder(&placed)?;
        }
        let mut mounts: Vec<Placed> = self
            .mounts
            .iter()
            .filter(|p| p.mount.virtual_root != placed.mount.virtual_root)
            .cloned()
            .collect();
        mounts.push(placed);
        Ok(Self {
            mounts,
            anchors: self.anchors.clone(),
            owner: self.owner,
        })
    }

    /// The memory directory, once it holds a store (in the container, where
    /// stores are placed at their own paths), stays the server's: the agent
    /// cannot swap a store for a link.
    fn keep_store_holder(&self, store: &Placed) -> io::Result<()> {
        let holders = self.mounts.iter().filter(|p| {
            p.mount.virtual_root == Path::new(MEMORY_DIR)
                && !p.mount.file
                && store.mount.real_root != p.mount.real_root
                && store.mount.real_root.starts_with(&p.mount.real_root)
        });
        for holder in holders {
            let dir = Dir::open_trusted(&holder.anchor)?.open_dir(&holder.below)?;
            keep_servers(&dir)?;
        }
        Ok(())
    }

    /// The deepest anchor `real` lies under (as given or as it really is),
    /// and the plain names beneath it.
    fn anchor_for(&self, real: &Path) -> io::Result<(PathBuf, PathBuf)> {
        let found = self
            .anchors
            .iter()
            .flat_map(|a| [(&a.given, &a.real), (&a.real, &a.real)])
            .filter_map(|(prefix, anchor)| {
                let rest = real.strip_prefix(prefix).ok()?;
                Some((prefix.components().count(), anchor, rest))
            })
            .max_by_key(|(depth, ..)| *depth);
        let (anchor, below) = match found {
            Some((_, anchor, rest)) => (anchor.clone(), rest.to_path_buf()),
            None => (
                PathBuf::from("/"),
                real.strip_prefix("/")
                    .map_err(|_| {
                        io::Error::new(
                            io::ErrorKind::InvalidInput,
                            format!("mount `{}` is not an absolute path", real.display()),
                        )
                    })?
                    .to_path_buf(),
            ),
        };
        let plain = below
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
        if below.as_os_str().is_empty() || !plain {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "mount `{}` is not a plain path under `{}`",
                    real.display(),
                    anchor.display()
                ),
            ));
        }
        Ok((anchor, below))
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
        &self.mounts[0].mount.real_root
    }

    /// Maps a model path onto a real path inside a mount, or refuses it.
    pub fn resolve(&self, path: &str, access: Access) -> Result<Resolved, PathError> {
        let (placed, rest) = self.mount_of(path)?;
        let mount = &placed.mount;
        if access == Access::Write && mount.read_only {
            return Err(PathError::ReadOnly(path.to_owned()));
        }
        let display = under(&mount.virtual_root, &rest)
            .to_string_lossy()
            .into_owned();
        let real = self.confine(mount, &under(&mount.real_root, &rest), path, access)?;
        Ok(Resolved {
            real,
            display,
            read_only: mount.read_only,
        })
    }

    /// Maps a model path onto its mount for the platform's own file routes,
    /// which read-only mounts do not refuse. Nothing on disk is looked at:
    /// the caller opens it through [`Located::open_root`].
    pub fn locate(&self, path: &str) -> Result<Located, PathError> {
        let (placed, rest) = self.mount_of(path)?;
        let mount = &placed.mount;
        let (root, inside) = if mount.file {
            // A file mount has nothing beneath it.
            let (Some(parent), Some(name), true) = (
                placed.below.parent(),
                placed.below.file_name(),
                rest.as_os_str().is_empty(),
            ) else {
                return Err(self.outside(path));
            };
            (parent.to_path_buf(), PathBuf::from(name))
        } else {
            (placed.below.clone(), rest.clone())
        };
        Ok(Located {
            anchor: placed.anchor.clone(),
            root,
            inside,
            display: under(&mount.virtual_root, &rest)
                .to_string_lossy()
                .into_owned(),
            real: under(&mount.real_root, &rest),
            read_only: mount.read_only,
            file: mount.file,
        })
    }

    /// The mount a model path is in, and the path beneath its root.
    fn mount_of(&self, path: &str) -> Result<(&Placed, PathBuf), PathError> {
        let joined = if Path::new(path).is_absolute() {
            PathBuf::from(path)
        } else {
            Path::new(WORKSPACE_DIR).join(path)
        };
        let normal = normalize(&joined).ok_or_else(|| self.outside(path))?;
        self.find_mount(&normal).ok_or_else(|| self.outside(path))
    }

    /// Maps a real path back to the path the model sees, if it is in a mount.
    pub fn display(&self, real: &Path) -> Option<String> {
        self.mounts.iter().find_map(|p| {
            let m = &p.mount;
            let rest = real.strip_prefix(&m.real_root).ok()?;
            Some(m.virtual_root.join(rest).to_string_lossy().into_owned())
        })
    }

    fn find_mount(&self, normal: &Path) -> Option<(&Placed, PathBuf)> {
        // A real path (as `pwd` prints it locally) is accepted as well as a virtual one.
        self.mounts
            .iter()
            .filter_map(|p| {
                let m = &p.mount;
                let rest = normal
                    .strip_prefix(&m.virtual_root)
                    .or_else(|_| normal.strip_prefix(&m.real_root))
                    .ok()?;
                Some((p, rest.to_path_buf()))
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

    /// The refusal of a path outside every mount (or through a link).
    pub fn outside(&self, path: &str) -> PathError {
        let roots = self
            .mounts
            .iter()
            .map(|p| p.mount.virtual_root.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(", ");
        PathError::Outside {
            path: path.to_owned(),
            roots,
        }
    }
}

/// `base` joined with `rest`; `join("")` would add a trailing slash, which a
/// file mount cannot have.
fn under(base: &Path, rest: &Path) -> PathBuf {
    if rest.as_os_str().is_empty() {
        base.to_path_buf()
    } else {
        base.join(rest)
    }
}

/// Creates a mount's directory (a file mount's parent) beneath `anchor`
/// without following links (a link on the way fails), as the server's own;
/// a writable directory's root is then handed to `owner`.
fn prepare(
    m: Mount,
    anchor: PathBuf,
    below: PathBuf,
    owner: Option<(u32, u32)>,
) -> io::Result<Placed> {
    let dirs = if m.file {
        below.parent().unwrap_or(Path::new(""))
    } else {
        below.as_path()
    };
    let failed = |e: io::Error| {
        let why = if safe_fs::is_link_error(&e) {
            "a symbolic link is in the way, which set-up does not follow".to_owned()
        } else {
            e.to_string()
        };
        io::Error::new(
            e.kind(),
            format!(
                "cannot place mount `{}` at `{}`: {why}",
                m.virtual_root.display(),
                anchor.join(&below).display()
            ),
        )
    };
    let root = Dir::open_trusted(&anchor)
        .and_then(|a| a.create_dirs(dirs, SERVER_DIR_MODE, &mut |_| Ok(())))
        .map_err(failed)?;
    if let (Some((uid, gid)), false, false) = (owner, m.read_only, m.file) {
        root.set_owner(uid, gid).map_err(failed)?;
    }
    Ok(Placed {
        mount: Mount {
            real_root: anchor.join(&below),
            ..m
        },
        anchor,
        below,
    })
}

/// Makes a directory the server's own and not writable by anyone else.
fn keep_servers(dir: &Dir) -> io::Result<()> {
    let stat = dir.metadata()?;
    let (uid, gid) = (nix::unistd::geteuid(), nix::unistd::getegid());
    if stat.uid != uid.as_raw() {
        dir.set_owner(uid.as_raw(), gid.as_raw())?;
    }
    if stat.mode & 0o022 != 0 {
        dir.set_mode(stat.mode & !0o022)?;
    }
    Ok(())
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
