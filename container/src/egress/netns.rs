//! Optional network isolation for a root server on Linux: each shell runs in
//! a fresh network namespace whose only way out is the egress proxy.
//!
//! The shell is started as `unshare --net -- <this binary> netns-shim …`. The
//! shim, inside the new namespace, brings up loopback, listens on
//! `127.0.0.1:<proxy port>` and relays each connection to the server's proxy
//! over a Unix socket (which crosses namespaces), then runs bash (as the
//! sandbox user, if any) and exits with its status. A process that ignores
//! `http_proxy` finds no network at all.
//!
//! Under bubblewrap (`crate::confine`) the shim runs as `netns-shim --init …`:
//! bubblewrap has already brought loopback up, and the shim is the
//! sandbox's PID 1, so it makes itself non-dumpable (the shell cannot read
//! its `/proc/1/environ`) and reaps every orphan of the namespace.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use nix::errno::Errno;
use nix::sys::wait::{WaitStatus, wait};
use nix::unistd::Pid;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, UnixStream};

/// The argument that selects shim mode in the server binary.
pub const SHIM_ARG: &str = "netns-shim";
/// The shim's first argument when it is the first process of a sandbox
/// whose loopback is already up.
pub const INIT_FLAG: &str = "--init";

/// How to wrap a shell in a network namespace.
#[derive(Debug, Clone)]
pub struct Netns {
    /// This binary (the shim).
    pub exe: PathBuf,
    /// The proxy's Unix socket.
    pub socket: PathBuf,
    /// The port processes use for the proxy (inside the namespace).
    pub port: u16,
}

impl Netns {
    /// The command that starts `program args…` isolated, as `user` if given.
    pub fn command(
        &self,
        user: Option<(u32, u32)>,
        program: &str,
        args: &[&str],
    ) -> tokio::process::Command {
        let mut command = tokio::process::Command::new("unshare");
        command
            .args(["--net", "--"])
            .arg(&self.exe)
            .arg(SHIM_ARG)
            .arg(&self.socket)
            .arg(self.port.to_string());
        command.arg(user.map_or_else(|| "-".to_owned(), |(u, g)| format!("{u}:{g}")));
        command.arg(program).args(args);
        command
    }
}

/// Whether namespaces can be created here (root, `unshare` and `ip` present).
pub async fn available() -> bool {
    let probe = tokio::process::Command::new("unshare")
        .args(["--net", "--", "ip", "link", "set", "lo", "up"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await;
    probe.is_ok_and(|s| s.success())
}

/// Shim entry point: `netns-shim [--init] SOCKET PORT USER|- PROGRAM ARGS…`;
/// returns the exit code.
pub async fn shim(args: &[String]) -> i32 {
    match run_shim(args).await {
        Ok(code) => code,
        Err(e) => {
            // stdout is the server's pipe: the message ends up in the tool result.
            let mut out = tokio::io::stdout();
            let _ = out
                .write_all(format!("network isolation failed: {e}\n").as_bytes())
                .await;
            let _ = out.flush().await;
            1
        }
    }
}

async fn run_shim(args: &[String]) -> std::io::Result<i32> {
    let (init, args) = match args.split_first() {
        Some((flag, rest)) if flag == INIT_FLAG => (true, rest),
        _ => (false, args),
    };
    let [socket, port, user, program, rest @ ..] = args else {
        return Err(std::io::Error::other(
            "usage: netns-shim [--init] SOCKET PORT USER|- PROGRAM ARGS…",
        ));
    };
    let port: u16 = port
        .parse()
        .map_err(|_| std::io::Error::other("bad port"))?;
    if init {
        nix::sys::prctl::set_dumpable(false).map_err(std::io::Error::from)?;
    } else {
        let up = tokio::process::Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .await?;
        if !up.success() {
            return Err(std::io::Error::other("cannot bring up loopback"));
        }
    }
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    tokio::spawn(relay(listener, PathBuf::from(socket)));
    let mut command = std::process::Command::new(program);
    command.args(rest);
    if let Some((uid, gid)) = user.split_once(':') {
        let uid = uid.parse().map_err(|_| std::io::Error::other("bad uid"))?;
        let gid = gid.parse().map_err(|_| std::io::Error::other("bad gid"))?;
        command.uid(uid).gid(gid);
    }
    if init {
        let child = command.spawn()?;
        let main = i32::try_from(child.id())
            .map(Pid::from_raw)
            .map_err(std::io::Error::other)?;
        return tokio::task::spawn_blocking(move || reap_until(main))
            .await
            .map_err(std::io::Error::other)?;
    }
    let status = tokio::process::Command::from(command).status().await?;
    Ok(status.code().unwrap_or(1))
}

/// Reaps every child until `main` ends, and returns its exit code: PID 1
/// inherits the orphans of its namespace, which would otherwise stay
/// zombies. `main` is reaped here too, never by a `Child` handle.
fn reap_until(main: Pid) -> std::io::Result<i32> {
    loop {
        match wait() {
            Ok(WaitStatus::Exited(pid, code)) if pid == main => return Ok(code),
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == main => {
                return Ok(128 + signal as i32);
            }
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(std::io::Error::from(e)),
        }
    }
}

async fn relay(listener: TcpListener, socket: PathBuf) {
    loop {
        let Ok((mut conn, _)) = listener.accept().await else {
            continue;
        };
        let socket = socket.clone();
        tokio::spawn(async move {
            if let Ok(mut upstream) = UnixStream::connect(Path::new(&socket)).await {
                let _ = tokio::io::copy_bidirectional(&mut conn, &mut upstream).await;
            }
        });
    }
}
