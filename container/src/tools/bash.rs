//! The persistent bash shell: one per session, so the working directory and
//! exported variables survive between calls.
//!
//! Each call's command is sent on the shell's stdin as a quoted here-document
//! and `eval`ed with stdin from `/dev/null`; a marker line carrying a
//! per-shell nonce and the exit status ends its output. The shell leads its own process group, so a timeout kills
//! the shell and everything it started; the next call starts a fresh shell.
//!
//! A confined shell ([`crate::confine`]) is bound to the session's mounts as
//! they were when it started: when a set-up changes them (or the platform
//! swaps a mounted tree for a new one), the next call starts a fresh shell
//! with the new binds, as it does when the environment changes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use openma_core::sandbox::ToolResult;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};

use crate::confine::{self, Bind, Isolation};

/// How to start a session's shell.
#[derive(Debug, Clone)]
pub struct ShellSpec {
    /// Starting directory (the real `/workspace`; a confined shell starts in
    /// its own `/workspace`).
    pub cwd: PathBuf,
    /// The complete environment; nothing is inherited from the server.
    pub env: BTreeMap<String, String>,
    /// Run as this `(uid, gid)` instead of the server's user.
    pub user: Option<(u32, u32)>,
    /// How the shell is kept apart from the host.
    pub isolation: Isolation,
    /// What a confined shell sees of the session (empty otherwise).
    pub binds: Vec<Bind>,
    /// Where the running shell's process group is published.
    pub group: GroupHandle,
}

/// The session's running process group, killable from outside while a call
/// holds the shell (teardown must not wait for a long command).
#[derive(Debug, Clone, Default)]
pub struct GroupHandle(Arc<AtomicI32>);

impl GroupHandle {
    /// Kills the running group, if any; returns whether there was one.
    pub fn kill(&self) -> bool {
        let pgid = self.0.swap(0, Ordering::SeqCst);
        pgid > 0 && killpg(Pid::from_raw(pgid), Signal::SIGKILL).is_ok()
    }

    fn publish(&self, pgid: Option<Pid>) {
        self.0.store(pgid.map_or(0, Pid::as_raw), Ordering::SeqCst);
    }

    fn retract(&self, pgid: Pid) {
        let _ = self
            .0
            .compare_exchange(pgid.as_raw(), 0, Ordering::SeqCst, Ordering::SeqCst);
    }
}

/// A running shell.
#[derive(Debug)]
pub struct Shell {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
    /// What the shell's wrapper said before bash took over its stderr (why
    /// a sandbox could not be built, say).
    stderr: Option<ChildStderr>,
    pgid: Option<Pid>,
    group: GroupHandle,
    marker: String,
    nonce: String,
    /// Output read but not yet known to precede the marker.
    pending: Vec<u8>,
    /// The environment it was started with.
    env: BTreeMap<String, String>,
    /// The binds it was started with.
    binds: Vec<Bind>,
    /// The session's mounts it could not be given, each with why; said in
    /// the result of its first call.
    unbound: Vec<String>,
}

/// How a command ended.
#[derive(Debug)]
pub enum Outcome {
    /// The command finished with this status.
    Finished(i32),
    /// The deadline passed; the process group was killed.
    TimedOut,
    /// The shell itself exited (e.g. `exit`), with this status if known.
    ShellExited(Option<i32>),
}

/// Collected output, capped: the first and the last half of the budget are
/// kept (errors tend to be at the end), the middle is counted and dropped.
#[derive(Debug, Default)]
pub struct Output {
    head: Vec<u8>,
    tail: std::collections::VecDeque<u8>,
    dropped: usize,
    cap: usize,
}

impl Output {
    fn new(cap: usize) -> Self {
        Self {
            head: Vec::new(),
            tail: std::collections::VecDeque::new(),
            dropped: 0,
            cap,
        }
    }

    fn push(&mut self, mut bytes: &[u8]) {
        let head_room = (self.cap / 2).saturating_sub(self.head.len());
        if head_room > 0 && self.tail.is_empty() {
            let take = head_room.min(bytes.len());
            self.head.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
        }
        let tail_cap = self.cap - self.cap / 2;
        self.tail.extend(bytes);
        let excess = self.tail.len().saturating_sub(tail_cap);
        self.tail.drain(..excess);
        self.dropped += excess;
    }

    /// The text, with a truncation marker where output was dropped.
    pub fn render(self) -> String {
        let mut tail: Vec<u8> = self.tail.into_iter().collect();
        // Trailing newlines (one of them printed by the wrapper) carry no information.
        let mut head = self.head;
        let last = if tail.is_empty() {
            &mut head
        } else {
            &mut tail
        };
        while last.last() == Some(&b'\n') {
            last.pop();
        }
        let mut text = String::from_utf8_lossy(&head).into_owned();
        if self.dropped > 0 {
            text.push_str(&format!(
                "\n[output truncated: {} bytes in the middle not shown; redirect long output to a file and read it in parts]\n",
                self.dropped
            ));
        }
        text.push_str(&String::from_utf8_lossy(&tail));
        text
    }
}

impl Shell {
    /// Starts bash in its own process group with exactly `spec.env`.
    pub async fn spawn(spec: &ShellSpec) -> std::io::Result<Self> {
        const BASH_ARGS: [&str; 3] = ["--noprofile", "--norc", "-s"];
        let mut unbound = Vec::new();
        let mut command = match &spec.isolation {
            Isolation::None => {
                let mut command = Command::new("bash");
                command.args(BASH_ARGS).current_dir(&spec.cwd);
                if let Some((uid, gid)) = spec.user {
                    command.uid(uid).gid(gid);
                }
                command
            }
            Isolation::Netns(netns) => {
                let mut command = netns.command(spec.user, "bash", &BASH_ARGS);
                command.current_dir(&spec.cwd);
                command
            }
            Isolation::Bwrap(bwrap) => {
                let (binds, user) = (spec.binds.clone(), spec.user);
                let (binds, refused) =
                    tokio::task::spawn_blocking(move || confine::mount_points(&binds, user))
                        .await
                        .map_err(std::io::Error::other)?;
                unbound = refused;
                bwrap.command(&binds, spec.user, "bash", &BASH_ARGS)
            }
        };
        let mut child = command
            .env_clear()
            .envs(&spec.env)
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let pgid = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw);
        let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(std::io::Error::other("bash started without pipes"));
        };
        let stderr = child.stderr.take();
        spec.group.publish(pgid);
        // A wrapper that failed has already closed the pipe; the first call
        // then finds the shell gone and reports what the wrapper said.
        let _ = stdin.write_all(b"exec 2>&1\n").await;
        let nonce = crate::random_hex(12)?;
        let marker = format!("__OMA_DONE_{nonce}__");
        Ok(Self {
            child,
            stdin,
            stdout,
            stderr,
            pgid,
            group: spec.group.clone(),
            marker,
            nonce,
            pending: Vec::new(),
            env: spec.env.clone(),
            binds: spec.binds.clone(),
            unbound,
        })
    }

    /// Runs one command, reading until its marker, the deadline or the shell's end.
    pub async fn run(&mut self, command: &str, timeout: Duration, cap: usize) -> (Outcome, Output) {
        let mut out = Output::new(cap);
        self.pending.clear();
        // The command travels as a quoted here-document whose delimiter carries
        // the nonce, and runs with stdin from /dev/null, so it can neither end
        // early nor read the control stream. The marker is split in the printf
        // so `set -x` tracing cannot print it whole.
        let nonce = &self.nonce;
        let line = format!(
            "IFS= read -r -d '' __oma_cmd <<'__OMA_CMD_{nonce}__' || true\n{command}\n__OMA_CMD_{nonce}__\n\
             eval \"$__oma_cmd\" < /dev/null; __oma_rc=$?; printf '\\n__OMA_DONE_%s__ %s\\n' {nonce} \"$__oma_rc\"\n"
        );
        if self.stdin.write_all(line.as_bytes()).await.is_err() {
            return (Outcome::ShellExited(self.exit_status().await), out);
        }
        let outcome = tokio::time::timeout(timeout, self.read_until_marker(&mut out)).await;
        match outcome {
            Ok(Some(rc)) => (Outcome::Finished(rc), out),
            Ok(None) => (Outcome::ShellExited(self.exit_status().await), out),
            Err(_) => {
                self.terminate().await;
                out.push(&std::mem::take(&mut self.pending));
                (Outcome::TimedOut, out)
            }
        }
    }

    async fn read_until_marker(&mut self, out: &mut Output) -> Option<i32> {
        let keep = self.marker.len() + 16;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = self.stdout.read(&mut buf).await.ok().filter(|n| *n > 0);
            let Some(n) = n else {
                out.push(&std::mem::take(&mut self.pending));
                return None;
            };
            self.pending.extend_from_slice(&buf[..n]);
            if let Some(pos) = find(&self.pending, self.marker.as_bytes()) {
                let after = &self.pending[pos + self.marker.len()..];
                if let Some(nl) = after.iter().position(|b| *b == b'\n') {
                    let rc = String::from_utf8_lossy(&after[..nl])
                        .trim()
                        .parse()
                        .unwrap_or(-1);
                    out.push(&self.pending[..pos]);
                    self.pending.clear();
                    return Some(rc);
                }
                continue;
            }
            if self.pending.len() > keep {
                let flush = self.pending.len() - keep;
                out.push(&self.pending[..flush]);
                self.pending.drain(..flush);
            }
        }
    }

    async fn exit_status(&mut self) -> Option<i32> {
        tokio::time::timeout(Duration::from_secs(2), self.child.wait())
            .await
            .ok()?
            .ok()?
            .code()
    }

    /// What the shell's wrapper wrote to stderr before it ended (bash's own
    /// stderr goes to stdout), at most a few kilobytes.
    async fn wrapper_errors(&mut self) -> String {
        let Some(stderr) = self.stderr.take() else {
            return String::new();
        };
        let mut said = Vec::new();
        let mut limited = stderr.take(4096);
        let _ = tokio::time::timeout(Duration::from_secs(1), limited.read_to_end(&mut said)).await;
        String::from_utf8_lossy(&said).trim().to_owned()
    }

    /// Kills the shell and its whole process group, and waits (briefly) until
    /// it is gone, so that nothing of it outlives the start of the next one.
    pub async fn terminate(&mut self) {
        self.kill();
        let _ = tokio::time::timeout(Duration::from_secs(2), self.child.wait()).await;
    }

    /// Kills the shell and its whole process group.
    pub fn kill(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            self.group.retract(pgid);
            let _ = killpg(pgid, Signal::SIGKILL);
        }
        let _ = self.child.start_kill();
    }
}

impl Drop for Shell {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs a bash call on the session's shell slot, starting a shell if needed.
pub async fn execute(
    slot: &mut Option<Shell>,
    spec: &ShellSpec,
    input: &openma_core::sandbox::BashInput,
    default_timeout_ms: u64,
    cap: usize,
) -> ToolResult {
    let mut notes: Vec<String> = Vec::new();
    if input.restart
        && let Some(mut old) = slot.take()
    {
        old.terminate().await;
    }
    if input.command.as_deref().is_some_and(|c| c.contains('\0')) {
        return ToolResult::error("bash: field `command` must not contain NUL characters");
    }
    let Some(command) = &input.command else {
        return match Shell::spawn(spec).await {
            Ok(shell) => {
                *slot = Some(shell);
                ToolResult::text("shell restarted")
            }
            Err(e) => ToolResult::error(format!("cannot start bash: {e}")),
        };
    };
    // The session's set-up changed the environment or the mounts since this
    // shell started.
    let preface = match slot.as_ref() {
        Some(shell) if shell.env != spec.env => {
            Some("[the session environment changed, so this ran in a fresh shell in /workspace]")
        }
        Some(shell) if shell.binds != spec.binds => {
            Some("[the session's mounts changed, so this ran in a fresh shell in /workspace]")
        }
        _ => None,
    };
    if preface.is_some()
        && let Some(mut stale) = slot.take()
    {
        stale.terminate().await;
    }
    let shell = match slot {
        Some(shell) => shell,
        None => match Shell::spawn(spec).await {
            Ok(shell) => slot.insert(shell),
            Err(e) => return ToolResult::error(format!("cannot start bash: {e}")),
        },
    };
    if !shell.unbound.is_empty() {
        notes.push(format!(
            "[not available in this shell, because its mount point could not be made safely: {}]",
            std::mem::take(&mut shell.unbound).join(", ")
        ));
    }
    let timeout_ms = input.timeout_ms.unwrap_or(default_timeout_ms);
    let (outcome, output) = shell
        .run(command, Duration::from_millis(timeout_ms), cap)
        .await;
    let mut text = output.render();
    let is_error = match outcome {
        Outcome::Finished(0) => false,
        Outcome::Finished(rc) => {
            notes.push(format!("[exit code: {rc}]"));
            true
        }
        Outcome::TimedOut => {
            *slot = None;
            notes.push(format!(
                "[command timed out after {timeout_ms} ms; the shell and every process it started were killed; the next call starts a fresh shell in /workspace]"
            ));
            true
        }
        Outcome::ShellExited(code) => {
            let said = match slot.take() {
                Some(mut shell) => shell.wrapper_errors().await,
                None => String::new(),
            };
            if !said.is_empty() {
                notes.push(said);
            }
            let code = code.map_or_else(|| "unknown".to_owned(), |c| c.to_string());
            notes.push(format!("[the shell exited (status {code}); the next call starts a fresh shell in /workspace]"));
            true
        }
    };
    if text.is_empty() && notes.is_empty() {
        text.push_str("(no output)");
    }
    let text = preface
        .into_iter()
        .map(str::to_owned)
        .chain((!text.is_empty()).then_some(text))
        .chain(notes)
        .collect::<Vec<_>>()
        .join("\n");
    ToolResult {
        content: vec![openma_core::sandbox::ContentBlock::Text { text }],
        is_error,
        replayed: false,
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
