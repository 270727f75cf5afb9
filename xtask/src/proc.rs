//! Running commands, and supervising long-lived children as process groups so
//! that everything they start (workerd under wrangler) stops with them.

use std::io::BufRead;
use std::io::BufReader;
use std::io::Read;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Child;
use std::process::Command;
use std::process::Stdio;
use std::thread;
use std::time::Duration;

use anyhow::Context;
use anyhow::Result;
use anyhow::bail;
use nix::sys::signal::Signal;
use nix::sys::signal::killpg;
use nix::unistd::Pid;

/// Runs a command to completion, inheriting stdio; fails on a non-zero exit.
pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    let shown = describe(cmd);
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{shown}`"))?;
    if !status.success() {
        bail!("`{shown}` failed with {status}");
    }
    Ok(())
}

/// Runs a command and returns its trimmed stdout, or `None` if it cannot run
/// or fails.
pub(crate) fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.stderr(Stdio::null()).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// A command line as text, for messages.
pub(crate) fn describe(cmd: &Command) -> String {
    let mut parts = vec![cmd.get_program().to_string_lossy().into_owned()];
    parts.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    parts.join(" ")
}

/// A free TCP port on the loopback interface, below the kernel's ephemeral
/// range. The local runtime binds its own sockets on ports the kernel hands
/// out (and checks them free in ways that miss a port bound on 127.0.0.1
/// only), so a port of ours from that range could be handed to it again
/// while we hold it; one below it never is.
pub(crate) fn free_port() -> Result<u16> {
    const LOWEST: u16 = 20_000;
    let ceiling = ephemeral_floor().max(LOWEST + 1000);
    let mut random = [0u8; 2 * 64];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut random))
        .context("reading /dev/urandom")?;
    for pair in random.chunks_exact(2) {
        let port = LOWEST + u16::from_le_bytes([pair[0], pair[1]]) % (ceiling - LOWEST);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0").context("binding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// The first port of the kernel's ephemeral range.
fn ephemeral_floor() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// A child process that leads its own process group. Dropping it stops the
/// whole group: SIGTERM, then SIGKILL after a grace period.
#[derive(Debug)]
pub(crate) struct Supervised {
    name: &'static str,
    child: Child,
}

impl Supervised {
    /// Spawns `cmd` in a new process group. Its stdout and stderr are copied,
    /// line by line, to `log` and (when `echo` is set) to our stdout.
    pub(crate) fn spawn(
        name: &'static str,
        cmd: &mut Command,
        log: &Path,
        echo: bool,
    ) -> Result<Self> {
        let shown = describe(cmd);
        let mut child = cmd
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("could not start {name}: `{shown}`"))?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        if let Some(stdout) = child.stdout.take() {
            tee(stdout, file.try_clone()?, echo);
        }
        if let Some(stderr) = child.stderr.take() {
            tee(stderr, file, echo);
        }
        Ok(Self { name, child })
    }

    /// The child's name, for messages.
    pub(crate) fn name(&self) -> &'static str {
        self.name
    }

    /// `Some(status)` once the child has exited.
    pub(crate) fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Stops the whole process group, waiting up to five seconds before
    /// killing it.
    pub(crate) fn stop(&mut self) {
        let Ok(raw) = i32::try_from(self.child.id()) else {
            return;
        };
        let group = Pid::from_raw(raw);
        let _ = killpg(group, Signal::SIGTERM);
        for _ in 0..50 {
            if self.exited().is_some() && killpg(group, None).is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
        let _ = killpg(group, Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.stop();
    }
}

fn tee(stream: impl Read + Send + 'static, mut log: std::fs::File, echo: bool) {
    thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            // One write per line: the server's stdout and stderr share the
            // log, and a line written in pieces could be split by the other.
            let _ = log.write_all(format!("{line}\n").as_bytes());
            if echo {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
        }
    });
}
