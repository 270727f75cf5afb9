//! File-system access that never follows a symbolic link, for the server's
//! own work in directories the agent can change.
//!
//! A [`Dir`] is an open directory. Every path beneath it is resolved by the
//! kernel one component at a time (`openat2` with `RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS`, or, where the kernel lacks it, a walk that opens
//! each component with `O_NOFOLLOW` from the previous one), and files are
//! read, created, renamed and removed relative to open directories. A link
//! anywhere on the way is refused (`ELOOP`), and a swap between a check and
//! a use cannot redirect the use: what was opened stays what is used.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Component, Path};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{FileStat, Mode, SFlag};
use nix::unistd::UnlinkatFlags;

/// An open directory; everything beneath it is reached without following links.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
}

/// What a directory entry is, seen without following links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Link,
    /// Anything else (FIFO, socket, device).
    Other,
}

/// The status of a file, directory or link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// What it is.
    pub kind: Kind,
    /// Size in bytes.
    pub size: u64,
    /// Last modification since the Unix epoch (`None` before it).
    pub modified: Option<Duration>,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
}

/// One entry of a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its name.
    pub name: OsString,
    /// What it is.
    pub kind: Kind,
}

/// What [`Dir::open`] found.
#[derive(Debug)]
pub enum Opened {
    /// A directory.
    Dir(Dir),
    /// A regular file, open for reading.
    File(File, Stat),
    /// Anything else; not opened for use.
    Other(Stat),
}

/// How [`Dir::create_file`] treats an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    /// Fail if the name exists (whatever it is).
    New,
    /// Empty an existing regular file (never through a link).
    Truncate,
}

/// Whether an error means a path crossed a symbolic link.
pub fn is_link_error(e: &io::Error) -> bool {
    e.raw_os_error() == Some(Errno::ELOOP as i32)
}

impl Dir {
    /// Opens a directory this server trusts by path (its own state, or a
    /// directory the operator configured); links on the way are followed.
    /// The directory is opened for resolving paths beneath it only.
    pub fn open_trusted(path: &Path) -> io::Result<Self> {
        let fd = nix::fcntl::open(
            path,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Self { fd })
    }

    /// Opens the directory at `rel` beneath this one (this one again when
    /// `rel` is empty).
    pub fn open_dir(&self, rel: &Path) -> io::Result<Self> {
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY;
        let fd = if rel.as_os_str().is_empty() {
            nix::fcntl::openat(&self.fd, ".", flags | OFlag::O_CLOEXEC, Mode::empty())?
        } else {
            open_beneath(self.fd.as_fd(), rel, flags)?
        };
        Ok(Self { fd })
    }

    /// Opens `rel` beneath this directory: a directory as a [`Dir`], a
    /// regular file for reading (never blocking on a FIFO swapped in).
    pub fn open(&self, rel: &Path) -> io::Result<Opened> {
        if rel.as_os_str().is_empty() {
            return Ok(Opened::Dir(self.open_dir(rel)?));
        }
        let fd = open_beneath(self.fd.as_fd(), rel, OFlag::O_RDONLY | OFlag::O_NONBLOCK)?;
        let stat = Stat::from(nix::sys::stat::fstat(&fd)?);
        Ok(match stat.kind {
            Kind::Dir => Opened::Dir(Self { fd }),
            Kind::File => Opened::File(File::from(fd), stat),
            Kind::Link | Kind::Other => Opened::Other(stat),
        })
    }

    /// The status of this directory.
    pub fn metadata(&self) -> io::Result<Stat> {
        Ok(Stat::from(nix::sys::stat::fstat(&self.fd)?))
    }

    /// The status of the entry `name` (a link is described, not followed);
    /// `None` when there is none.
    pub fn stat(&self, name: &OsStr) -> io::Result<Option<Stat>> {
        check_name(name)?;
        match nix::sys::stat::fstatat(&self.fd, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(Stat::from(st))),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The entries of this directory (without `.` and `..`).
    pub fn entries(&self) -> io::Result<Vec<Entry>> {
        let mut dir = nix::dir::Dir::openat(
            &self.fd,
            ".",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        let mut entries = Vec::new();
        for entry in dir.iter() {
            let entry = entry?;
            let name = OsStr::from_bytes(entry.file_name().to_bytes());
            if name == "." || name == ".." {
                continue;
            }
            let kind = match entry.file_type() {
                Some(nix::dir::Type::File) => Kind::File,
                Some(nix::dir::Type::Directory) => Kind::Dir,
                Some(nix::dir::Type::Symlink) => Kind::Link,
                Some(_) => Kind::Other,
                // The file system does not say: ask without following.
                None => match self.stat(name)? {
                    Some(stat) => stat.kind,
                    None => continue,
                },
            };
            entries.push(Entry {
                name: name.to_os_string(),
                kind,
            });
        }
        Ok(entries)
    }

    /// Creates the directory `name` with `mode` (less the umask) and opens it.
    pub fn create_dir(&self, name: &OsStr, mode: u32) -> io::Result<Self> {
        check_name(name)?;
        nix::sys::stat::mkdirat(&self.fd, name, Mode::from_bits_truncate(mode))?;
        self.open_dir(Path::new(name))
    }

    /// Opens the directory at `rel`, creating what is missing with `mode`
    /// (less the umask) and passing each directory it created to `created`.
    /// An existing link on the way is an error, never followed.
    pub fn create_dirs(
        &self,
        rel: &Path,
        mode: u32,
        created: &mut dyn FnMut(&Self) -> io::Result<()>,
    ) -> io::Result<Self> {
        check_relative(rel)?;
        let mut here: Option<Self> = None;
        for part in rel.iter() {
            let at = here.as_ref().unwrap_or(self);
            let next = match at.open_dir(Path::new(part)) {
                Ok(dir) => dir,
                Err(e) if e.raw_os_error() == Some(Errno::ENOENT as i32) => {
                    match at.create_dir(part, mode) {
                        Ok(dir) => {
                            created(&dir)?;
                            dir
                        }
                        // Made by someone else meanwhile: use it as found.
                        Err(e) if e.raw_os_error() == Some(Errno::EEXIST as i32) => {
                            at.open_dir(Path::new(part))?
                        }
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            };
            here = Some(next);
        }
        match here {
            Some(dir) => Ok(dir),
            None => self.open_dir(rel),
        }
    }

    /// Creates the regular file `name` for writing, with mode `0o666` less
    /// the umask; a link in its place is refused, and a FIFO does not block.
    pub fn create_file(&self, name: &OsStr, how: Create) -> io::Result<File> {
        check_name(name)?;
        let extra = match how {
            Create::New => OFlag::O_EXCL,
            Create::Truncate => OFlag::O_TRUNC,
        };
        let fd = nix::fcntl::openat(
            &self.fd,
            name,
            OFlag::O_WRONLY
                | OFlag::O_CREAT
                | OFlag::O_NOFOLLOW
                | OFlag::O_NONBLOCK
                | OFlag::O_CLOEXEC
                | extra,
            Mode::from_bits_truncate(0o666),
        )?;
        Ok(File::from(fd))
    }

    /// Renames the entry `from` to `to` in `to_dir`, replacing what is
    /// there (a link is moved or replaced, never followed).
    pub fn rename(&self, from: &OsStr, to_dir: &Self, to: &OsStr) -> io::Result<()> {
        check_name(from)?;
        check_name(to)?;
        Ok(nix::fcntl::renameat(&self.fd, from, &to_dir.fd, to)?)
    }

    /// Removes the entry `name` (not a directory).
    pub fn remove_file(&self, name: &OsStr) -> io::Result<()> {
        check_name(name)?;
        Ok(nix::unistd::unlinkat(
            &self.fd,
            name,
            UnlinkatFlags::NoRemoveDir,
        )?)
    }

    /// Removes the entry `name` and, for a directory, everything beneath it;
    /// links are removed, never followed. Missing is not an error.
    pub fn remove_tree(&self, name: &OsStr) -> io::Result<()> {
        check_name(name)?;
        let dir = match self.open_dir(Path::new(name)) {
            Ok(dir) => dir,
            Err(e) if e.raw_os_error() == Some(Errno::ENOENT as i32) => return Ok(()),
            Err(e) if is_link_error(&e) || e.raw_os_error() == Some(Errno::ENOTDIR as i32) => {
                return match self.remove_file(name) {
                    Err(e) if e.raw_os_error() == Some(Errno::ENOENT as i32) => Ok(()),
                    other => other,
                };
            }
            Err(e) => return Err(e),
        };
        for entry in dir.entries()? {
            match entry.kind {
                Kind::Dir => dir.remove_tree(&entry.name)?,
                Kind::File | Kind::Link | Kind::Other => match dir.remove_file(&entry.name) {
                    Err(e) if e.raw_os_error() == Some(Errno::ENOENT as i32) => {}
                    other => other?,
                },
            }
        }
        match nix::unistd::unlinkat(&self.fd, name, UnlinkatFlags::RemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Hands this directory to `uid:gid`.
    pub fn set_owner(&self, uid: u32, gid: u32) -> io::Result<()> {
        std::os::unix::fs::fchown(&self.fd, Some(uid), Some(gid))
    }

    /// Sets this directory's permission bits.
    pub fn set_mode(&self, mode: u32) -> io::Result<()> {
        Ok(nix::sys::stat::fchmod(
            &self.fd,
            Mode::from_bits_truncate(mode),
        )?)
    }
}

impl Stat {
    /// The status of an open file.
    pub fn of(file: &File) -> io::Result<Self> {
        let meta = file.metadata()?;
        let kind = if meta.is_file() {
            Kind::File
        } else if meta.is_dir() {
            Kind::Dir
        } else if meta.file_type().is_symlink() {
            Kind::Link
        } else {
            Kind::Other
        };
        Ok(Self {
            kind,
            size: meta.len(),
            modified: since_epoch(meta.mtime(), meta.mtime_nsec()),
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
        })
    }
}

impl From<FileStat> for Stat {
    fn from(st: FileStat) -> Self {
        let format = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
        let kind = if format == SFlag::S_IFREG {
            Kind::File
        } else if format == SFlag::S_IFDIR {
            Kind::Dir
        } else if format == SFlag::S_IFLNK {
            Kind::Link
        } else {
            Kind::Other
        };
        Self {
            kind,
            size: u64::try_from(st.st_size).unwrap_or(0),
            modified: since_epoch(st.st_mtime, st.st_mtime_nsec),
            mode: st.st_mode & 0o7777,
            uid: st.st_uid,
        }
    }
}

fn since_epoch(secs: i64, nanos: i64) -> Option<Duration> {
    Some(Duration::new(
        u64::try_from(secs).ok()?,
        u32::try_from(nanos).ok()?,
    ))
}

/// Opens `rel` beneath `dir` with `flags`, no component a link, nothing
/// outside `dir`.
fn open_beneath(dir: BorrowedFd<'_>, rel: &Path, flags: OFlag) -> io::Result<OwnedFd> {
    check_relative(rel)?;
    if rel.as_os_str().is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "an empty path"));
    }
    // No `O_NOFOLLOW`: with it, a final link opened with `O_DIRECTORY`
    // would be "not a directory"; `RESOLVE_NO_SYMLINKS` refuses it as a link.
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
    match nix::fcntl::openat2(dir, rel, how) {
        // A kernel (or a seccomp profile) without `openat2`.
        Err(Errno::ENOSYS | Errno::EPERM) => walk_beneath(dir, rel, flags),
        other => Ok(other?),
    }
}

/// [`open_beneath`] by hand: each component opened with `O_NOFOLLOW` from
/// the one before it.
fn walk_beneath(dir: BorrowedFd<'_>, rel: &Path, flags: OFlag) -> io::Result<OwnedFd> {
    check_relative(rel)?;
    let parts: Vec<&OsStr> = rel.iter().collect();
    let mut held: Option<OwnedFd> = None;
    for (i, part) in parts.iter().enumerate() {
        let at = held.as_ref().map_or(dir, AsFd::as_fd);
        let last = i + 1 == parts.len();
        let part_flags = if last {
            flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC
        } else {
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC
        };
        let opened = match nix::fcntl::openat(at, *part, part_flags, Mode::empty()) {
            Ok(fd) => fd,
            // `O_DIRECTORY` reports a link as "not a directory": say what it is.
            Err(Errno::ENOTDIR)
                if nix::sys::stat::fstatat(at, *part, AtFlags::AT_SYMLINK_NOFOLLOW)
                    .is_ok_and(|st| Stat::from(st).kind == Kind::Link) =>
            {
                return Err(Errno::ELOOP.into());
            }
            Err(e) => return Err(e.into()),
        };
        held = Some(opened);
    }
    held.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "an empty path"))
}

/// A relative path of plain names only (no root, `.` or `..`); empty is
/// the directory itself.
fn check_relative(rel: &Path) -> io::Result<()> {
    if rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("`{}` is not a plain relative path", rel.display()),
    ))
}

/// A single plain name.
fn check_name(name: &OsStr) -> io::Result<()> {
    let mut parts = Path::new(name).components();
    match (parts.next(), parts.next()) {
        (Some(Component::Normal(n)), None) if n == name => Ok(()),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{}` is not a plain name", name.to_string_lossy()),
        )),
    }
}

#[cfg(test)]
mod tests;
