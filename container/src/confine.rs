//! Confinement of each session's shell on a shared host (`--confine bwrap`):
//! bubblewrap gives the shell the container's layout and nothing else.
//!
//! Inside, the shell sees `/workspace`, `/mnt/session/outputs`, `/mnt/memory`
//! and every mount of the session's set-up at its own path, bound from the
//! session's real directories and files (read-only mounts read-only); the
//! system's `/usr` and `/etc` and the `/bin`, `/lib`… links, read-only; a
//! fresh `/proc` in its own PID namespace, a minimal `/dev`, a private `/tmp`
//! and `/dev/shm`; an empty `/mnt/skills`, reserved; and nothing else: not the
//! state directory (tool-call records, other sessions, the platform's data),
//! not the server's files, not its user's home. Everything but the writable
//! mounts and the private temporary directories is read-only.
//!
//! Its network namespace has only loopback, where the shim (this binary as
//! `netns-shim --init`) listens on the proxy port and relays to the server's
//! proxy over a Unix socket bound into the sandbox: a process that ignores
//! `http_proxy` finds no network.
//!
//! The shim is the sandbox's PID 1 (`--as-pid-1`). It makes itself
//! non-dumpable, so the shell cannot read `/proc/1/environ`, and it reaps the
//! orphans of the namespace. A root server runs bubblewrap without a user
//! namespace, keeping only `CAP_SETUID` and `CAP_SETGID` for the shim, which
//! starts bash as the sandbox user (`--sandbox-user`); any other server runs
//! it in a new user namespace, where the shell keeps the server's user id and
//! has no capabilities. Either way bubblewrap sets `no_new_privs` and starts
//! a new terminal session, so setuid programs grant nothing and the
//! developer's terminal is out of reach.

use std::ffi::OsString;
use std::io;
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Component, Path, PathBuf};
use std::process::Stdio;

use openma_core::sandbox::WORKSPACE_DIR;

use crate::config::Config;
use crate::egress::netns;
use crate::workspace::{FsIdentity, Mount};

/// Where the sandbox finds the shim and the proxy's socket; in a root
/// server only the shim (root, before it starts bash) can enter it.
const RUN_DIR: &str = "/run/openma";
/// The shim (this binary) inside the sandbox.
const SHIM: &str = "/run/openma/shim";
/// The proxy's Unix socket inside the sandbox.
const SOCKET: &str = "/run/openma/proxy.sock";
/// Reserved for skills: an empty directory until they are mounted.
const SKILLS_DIR: &str = "/mnt/skills";
/// The system's top-level links (or directories) beside `/usr`.
const SYSTEM_LINKS: [&str; 6] = ["bin", "sbin", "lib", "lib32", "lib64", "libx32"];
/// The system's read-only directories.
const SYSTEM_DIRS: [&str; 2] = ["usr", "etc"];
/// The shell's `PATH` inside the sandbox.
pub const SANDBOX_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How sessions' shells are confined (`--confine`, `OMA_SANDBOX_CONFINE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Confine {
    /// Host processes: in production the container is the boundary.
    #[default]
    None,
    /// Each shell inside bubblewrap, with the container's layout.
    Bwrap,
}

impl Confine {
    /// `none` or `bwrap`.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "none" => Some(Self::None),
            "bwrap" => Some(Self::Bwrap),
            _ => None,
        }
    }
}

/// Why shells cannot be confined; the server refuses to start.
#[derive(Debug, thiserror::Error)]
pub enum ConfineError {
    /// bubblewrap is not installed.
    #[error(
        "bubblewrap (`bwrap`) is not installed, so shells cannot be confined: install it (`apt-get install bubblewrap`), or start with `--confine none` to run tools unconfined"
    )]
    Missing,
    /// bubblewrap is installed but cannot build the sandbox on this machine.
    #[error(
        "bubblewrap cannot confine shells on this machine: {0}; start with `--confine none` to run tools unconfined"
    )]
    Unusable(String),
    /// The configuration cannot be confined as asked.
    #[error("{0}")]
    Config(String),
}

/// How a session's shell is kept apart from the host.
#[derive(Debug, Clone)]
pub enum Isolation {
    /// A host process (the container is the boundary in production).
    None,
    /// A host process in its own network namespace (`--isolate-network`).
    Netns(netns::Netns),
    /// Inside bubblewrap (`--confine bwrap`).
    Bwrap(Bwrap),
}

/// One directory or file of the session, visible in the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    /// The real path on this machine.
    pub source: PathBuf,
    /// Where the sandbox sees it (`/workspace`, `/mnt/memory/notes`, …).
    pub target: PathBuf,
    /// Whether it is bound read-only.
    pub read_only: bool,
    /// Whether it is a single file.
    pub file: bool,
    /// The source's device and inode when the spec was taken; `None` when it
    /// is missing (not bound). The platform replaces a mounted tree or file
    /// by swapping a new one in, and a shell bound to the old one must be
    /// restarted to see it.
    pub identity: Option<(u64, u64)>,
}

/// The binds for a session's mounts: one per target (the later wins),
/// parents before children.
pub fn binds<'a>(mounts: impl IntoIterator<Item = &'a Mount>) -> Vec<Bind> {
    let mut binds: Vec<Bind> = Vec::new();
    for mount in mounts {
        binds.retain(|b| b.target != mount.virtual_root);
        binds.push(Bind {
            source: mount.real_root.clone(),
            target: mount.virtual_root.clone(),
            read_only: mount.read_only,
            file: mount.file,
            identity: std::fs::metadata(&mount.real_root)
                .ok()
                .map(|m| (m.dev(), m.ino())),
        });
    }
    binds.sort_by(|a, b| {
        let depth = |bind: &Bind| bind.target.components().count();
        depth(a)
            .cmp(&depth(b))
            .then_with(|| a.target.cmp(&b.target))
    });
    binds
}

/// Creates the mount point of every bind nested in another bound directory
/// (a file resource at `/workspace/in/a.txt`, a store under `/mnt/memory`)
/// in that directory, without following symbolic links (and as `user` in a
/// directory of `user`'s), so that bubblewrap, which runs as root in a root
/// server, never creates anything in a directory the agent can change (a
/// link planted there would point it anywhere). Returns the binds that can
/// be made (present, with a mount point free of links), and, for each that
/// cannot, its path and why. Blocking; call it off the runtime's threads.
pub fn mount_points(binds: &[Bind], user: Option<(u32, u32)>) -> (Vec<Bind>, Vec<String>) {
    let mut kept: Vec<Bind> = Vec::with_capacity(binds.len());
    let mut refused = Vec::new();
    // Parents come first, so a bind's enclosing directory is among those
    // already kept; one that is not made leaves its place to bubblewrap's
    // own directories.
    for bind in binds.iter().filter(|bind| bind.identity.is_some()) {
        let enclosing = kept
            .iter()
            .filter(|outer| !outer.file)
            .filter_map(|outer| {
                let rest = bind.target.strip_prefix(&outer.target).ok()?;
                (!rest.as_os_str().is_empty()).then_some((outer, rest))
            })
            .min_by_key(|(_, rest)| rest.components().count());
        let made = match enclosing {
            None => Ok(()),
            Some((outer, rest)) => {
                // In a directory of the sandbox user's, as that user: even a
                // link swapped in mid-walk leads nowhere it could not write.
                // A directory of the server's the agent cannot change.
                let theirs = user.filter(|(uid, _)| {
                    std::fs::metadata(&outer.source).is_ok_and(|m| m.uid() == *uid)
                });
                let _identity = theirs.map(|(uid, gid)| FsIdentity::assume(uid, gid));
                make_mount_point(&outer.source, rest, bind.file)
            }
        };
        match made {
            Ok(()) => kept.push(bind.clone()),
            Err(e) => refused.push(format!("{} ({e})", bind.target.display())),
        }
    }
    (kept, refused)
}

/// Walks `rest` under `base`, creating what is missing (directories, and a
/// file at the end for a file bind) and refusing links and wrong kinds.
fn make_mount_point(base: &Path, rest: &Path, file: bool) -> io::Result<()> {
    let parts: Vec<Component<'_>> = rest.components().collect();
    let mut path = base.to_path_buf();
    for (i, part) in parts.iter().enumerate() {
        let Component::Normal(name) = part else {
            return Err(io::Error::other("not a plain path"));
        };
        path.push(name);
        let want_file = file && i + 1 == parts.len();
        match path.symlink_metadata() {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(io::Error::other("a symbolic link is in the way"));
            }
            Ok(meta) if (want_file && meta.is_file()) || (!want_file && meta.is_dir()) => {}
            Ok(_) => return Err(io::Error::other("something else is in the way")),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if want_file {
                    std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(&path)?;
                } else {
                    std::fs::create_dir(&path)?;
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// bubblewrap, as this server runs it.
#[derive(Debug, Clone)]
pub struct Bwrap {
    /// The `bwrap` executable.
    program: PathBuf,
    /// This binary, bound into the sandbox as the shim.
    shim: PathBuf,
    /// The proxy's Unix socket on this machine.
    socket: PathBuf,
    /// The proxy's port inside the sandbox.
    port: u16,
    /// Whether the server is root: bubblewrap then runs without a user
    /// namespace and the shim switches to the sandbox user.
    privileged: bool,
    /// The arguments that show the system's directories and links.
    system: Vec<OsString>,
}

impl Bwrap {
    /// Checks that shells can be confined here, and how: bubblewrap
    /// installed, this server able to build the sandbox (root, or user
    /// namespaces), and, as root, a sandbox user who can reach the session
    /// directories (the file tools take its identity).
    pub async fn prepare(
        config: &Config,
        socket: PathBuf,
        port: u16,
    ) -> Result<Self, ConfineError> {
        if config.workspace.is_some() {
            return Err(ConfineError::Config(
                "--confine bwrap serves many sessions on one host; with --workspace the container is the boundary".to_owned(),
            ));
        }
        let privileged = nix::unistd::geteuid().is_root();
        if privileged && config.sandbox_user.is_none() {
            return Err(ConfineError::Config(
                "a root server confines shells only with --sandbox-user UID:GID, so that they do not run as root".to_owned(),
            ));
        }
        let program = find_program("bwrap").ok_or(ConfineError::Missing)?;
        let shim = match &config.shim_exe {
            Some(exe) => exe.clone(),
            None => std::env::current_exe().map_err(|e| {
                ConfineError::Config(format!("cannot find this server's executable: {e}"))
            })?,
        };
        let bwrap = Self {
            program,
            shim,
            socket,
            port,
            privileged,
            system: system_args(),
        };
        bwrap.probe().await?;
        if let Some(user) = config.sandbox_user {
            let sessions = config.state_dir.join("sessions");
            tokio::task::spawn_blocking(move || reachable(&sessions, user))
                .await
                .map_err(|e| ConfineError::Config(e.to_string()))??;
        }
        Ok(bwrap)
    }

    /// Builds an empty sandbox once, as every shell's is built.
    async fn probe(&self) -> Result<(), ConfineError> {
        let out = tokio::process::Command::new(&self.program)
            .args(self.namespace_args())
            .args(&self.system)
            .args(["--proc", "/proc", "--dev", "/dev", "--", "true"])
            .env_clear()
            .env("PATH", SANDBOX_PATH)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .await
            .map_err(|e| {
                ConfineError::Unusable(format!("cannot run {}: {e}", self.program.display()))
            })?;
        if out.status.success() {
            return Ok(());
        }
        let said = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        let hint = if self.privileged {
            "a root server needs the right to create mount, PID and network namespaces"
        } else {
            "without root, bubblewrap needs unprivileged user namespaces (`sysctl kernel.unprivileged_userns_clone=1`; on Ubuntu also `kernel.apparmor_restrict_unprivileged_userns=0`, or bubblewrap's AppArmor profile)"
        };
        Err(ConfineError::Unusable(format!(
            "`bwrap` failed ({}): {said}; {hint}",
            out.status
        )))
    }

    /// The namespaces and privileges of every sandbox.
    fn namespace_args(&self) -> Vec<&'static str> {
        let mut args = vec![
            "--unshare-pid",
            "--unshare-net",
            "--unshare-ipc",
            "--unshare-uts",
            "--die-with-parent",
            "--new-session",
        ];
        if self.privileged {
            args.extend([
                "--cap-drop",
                "ALL",
                "--cap-add",
                "CAP_SETUID",
                "--cap-add",
                "CAP_SETGID",
            ]);
        } else {
            args.extend(["--unshare-user", "--disable-userns"]);
        }
        args
    }

    /// The command that starts `program args…` in a new sandbox with the
    /// session's `binds` (as [`mount_points`] returns them), as `user` in a
    /// root server. The caller gives it the shell's whole environment, which
    /// the shim and the shell inherit; bubblewrap adds nothing to it.
    pub fn command(
        &self,
        binds: &[Bind],
        user: Option<(u32, u32)>,
        program: &str,
        args: &[&str],
    ) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(&self.program);
        command
            .args(self.namespace_args())
            .arg("--as-pid-1")
            .args(&self.system)
            .args([
                "--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/dev/shm",
                "--perms", "1777", "--tmpfs", "/tmp", "--dir", SKILLS_DIR,
            ]);
        // bubblewrap would create the missing parents of a target for root
        // alone (mode 0700); the sandbox user must be able to walk them.
        let mut parents: Vec<&Path> = binds
            .iter()
            .flat_map(|bind| bind.target.ancestors().skip(1))
            .filter(|dir| *dir != Path::new("/"))
            .filter(|dir| !binds.iter().any(|bind| dir.starts_with(&bind.target)))
            .collect();
        parents.sort_by(|a, b| (a.components().count(), a).cmp(&(b.components().count(), b)));
        parents.dedup();
        for dir in parents {
            command.arg("--dir").arg(dir);
        }
        for bind in binds {
            command
                .arg(if bind.read_only {
                    "--ro-bind"
                } else {
                    "--bind"
                })
                .arg(&bind.source)
                .arg(&bind.target);
        }
        let user = match (self.privileged, user) {
            (true, Some((uid, gid))) => format!("{uid}:{gid}"),
            _ => "-".to_owned(),
        };
        command
            .args(["--perms", "0700", "--dir", RUN_DIR, "--ro-bind"])
            .arg(&self.shim)
            .arg(SHIM)
            .arg("--ro-bind")
            .arg(&self.socket)
            .arg(SOCKET)
            .args(["--remount-ro", "/", "--chdir", WORKSPACE_DIR, "--"])
            .args([SHIM, netns::SHIM_ARG, netns::INIT_FLAG, SOCKET])
            .arg(self.port.to_string())
            .arg(user)
            .arg(program)
            .args(args)
            .current_dir("/");
        command
    }
}

/// `--ro-bind` for `/usr` and `/etc`, and the top-level links (or, on a
/// system without merged `/usr`, directories) as they are on this machine.
fn system_args() -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    for dir in SYSTEM_DIRS {
        let path = Path::new("/").join(dir);
        args.extend(["--ro-bind".into(), path.clone().into(), path.into()]);
    }
    for name in SYSTEM_LINKS {
        let path = Path::new("/").join(name);
        match std::fs::read_link(&path) {
            Ok(target) => args.extend(["--symlink".into(), target.into(), path.into()]),
            Err(_) if path.is_dir() => {
                args.extend(["--ro-bind".into(), path.clone().into(), path.into()]);
            }
            Err(_) => {}
        }
    }
    args
}

/// An executable `name` in this server's `PATH`.
fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| SANDBOX_PATH.into());
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Whether `user` can reach `dir` (creating it first): the file tools work
/// on the session directories under it with that user's identity.
fn reachable(dir: &Path, (uid, gid): (u32, u32)) -> Result<(), ConfineError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| ConfineError::Config(format!("cannot create {}: {e}", dir.display())))?;
    let _identity = FsIdentity::assume(uid, gid);
    std::fs::metadata(dir).map(|_| ()).map_err(|e| {
        ConfineError::Config(format!(
            "the sandbox user {uid}:{gid} cannot reach {} ({e}): every directory above it must be searchable by that user (`chmod o+x`), or choose a state directory elsewhere",
            dir.display()
        ))
    })
}
