//! Starting and stopping the real local platform.

use std::io::BufRead;
use std::io::BufReader;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Child;
use std::process::ChildStdin;
use std::process::Command;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::Context;
use anyhow::Result;
use anyhow::bail;
use nix::sys::signal::Signal;
use nix::sys::signal::kill;
use nix::unistd::Pid;

const START_TIMEOUT: Duration = Duration::from_secs(180);

/// Options for a platform instance.
#[derive(Debug, Default)]
pub struct PlatformBuilder {
    env: Vec<(String, String)>,
    state_dir: Option<PathBuf>,
    api_key: Option<String>,
    root_secret: Option<String>,
}

impl PlatformBuilder {
    /// Sets an environment variable for `cargo xtask dev` (for example
    /// `ANTHROPIC_BASE_URL` to a [`crate::MockModel`]).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Keeps the platform's state in `dir` (which the caller owns), so that
    /// another platform can be started on it later.
    pub fn state_dir(mut self, dir: &std::path::Path) -> Self {
        self.state_dir = Some(dir.to_path_buf());
        self
    }

    /// Uses this operator key and root secret (to restart on the same state).
    pub fn keys(mut self, api_key: &str, root_secret: &str) -> Self {
        self.api_key = Some(api_key.to_owned());
        self.root_secret = Some(root_secret.to_owned());
        self
    }

    /// Runs on the state and with the keys of `earlier` (stopped first), as
    /// the same deployment restarted.
    pub fn state_of(self, earlier: &Platform) -> Self {
        self.state_dir(earlier.state_dir())
            .keys(earlier.api_key(), earlier.root_secret())
    }

    /// Starts the platform and waits for its `ready` line. Fails with the
    /// platform's output if it does not become ready.
    pub fn start(self) -> Result<Platform> {
        let (state, state_dir) = match &self.state_dir {
            Some(dir) => (None, dir.clone()),
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("openma-e2e-")
                    .tempdir()
                    .context("creating a state directory")?;
                let dir = temp.path().to_path_buf();
                (Some(temp), dir)
            }
        };
        // A root platform runs the agent's tools as an unprivileged sandbox
        // user, whose file tools must reach the session directories inside.
        std::fs::create_dir_all(&state_dir).context("creating the state directory")?;
        std::fs::set_permissions(&state_dir, std::fs::Permissions::from_mode(0o755))
            .context("opening the state directory to the sandbox user")?;
        let port = free_port()?;
        let api_key = match &self.api_key {
            Some(key) => key.clone(),
            None => format!("sk-oma-test-{}", random_hex(16)?),
        };
        let root_secret = match &self.root_secret {
            Some(secret) => secret.clone(),
            None => random_hex(32)?,
        };
        let mut cmd = Command::new(xtask_bin()?);
        cmd.args(["dev", "--no-build", "--exit-on-stdin-eof"])
            .env("PORT", port.to_string())
            .env("OMA_STATE_DIR", &state_dir)
            .env("API_KEY", &api_key)
            .env("PLATFORM_ROOT_SECRET", &root_secret)
            .env("ANTHROPIC_API_KEY", "sk-ant-test-not-a-real-key")
            // Tenants' turns run on the mock model unless a test says
            // otherwise (`PLATFORM_MODEL_KEY_FOR_TENANTS=` for the default).
            .env("PLATFORM_MODEL_KEY_FOR_TENANTS", "true")
            .env("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in &self.env {
            cmd.env(key, value);
        }
        let mut child = cmd.spawn().context("starting `xtask dev`")?;
        let stdin = child.stdin.take();
        let output = Arc::new(Mutex::new(String::new()));
        let (ready_tx, ready_rx) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            collect(stdout, Arc::clone(&output), Some(ready_tx));
        }
        if let Some(stderr) = child.stderr.take() {
            collect(stderr, Arc::clone(&output), None);
        }
        let mut platform = Platform {
            child,
            stdin,
            output,
            base_url: format!("http://127.0.0.1:{port}"),
            api_key,
            root_secret,
            state_dir,
            _state: state,
        };
        match ready_rx.recv_timeout(START_TIMEOUT) {
            Ok(line) if line.contains(&platform.base_url) => Ok(platform),
            Ok(line) => bail!("unexpected ready line: {line}"),
            Err(_) => {
                platform.stop();
                bail!(
                    "the platform did not become ready; its output:\n{}",
                    platform.output()
                )
            }
        }
    }
}

/// A running local platform. Dropping it stops every process it started.
#[derive(Debug)]
pub struct Platform {
    child: Child,
    stdin: Option<ChildStdin>,
    output: Arc<Mutex<String>>,
    base_url: String,
    api_key: String,
    root_secret: String,
    state_dir: PathBuf,
    _state: Option<tempfile::TempDir>,
}

impl Platform {
    /// Options for a new platform.
    pub fn builder() -> PlatformBuilder {
        PlatformBuilder::default()
    }

    /// Starts a platform with default options.
    pub fn start() -> Result<Self> {
        Self::builder().start()
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The operator's API key for tenant `default`.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// The root secret it runs with.
    pub fn root_secret(&self) -> &str {
        &self.root_secret
    }

    /// Where this instance keeps all its state.
    pub fn state_dir(&self) -> &std::path::Path {
        &self.state_dir
    }

    /// `base_url` joined with `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Everything the platform printed so far (build, wrangler and worker
    /// logs), for assertions and failure messages.
    pub fn output(&self) -> String {
        self.output.lock().map(|o| o.clone()).unwrap_or_default()
    }

    /// Stops the platform: closes its standard input and signals it, then
    /// waits for `xtask dev` to stop the processes it started.
    pub fn stop(&mut self) {
        self.stdin.take();
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        for _ in 0..200 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The resident set, in bytes, of every `workerd` process this platform
    /// started (read from `/proc`).
    pub fn workerd_resident_bytes(&self) -> Result<u64> {
        let mut parents: Vec<(u32, u32, String)> = Vec::new();
        for entry in std::fs::read_dir("/proc").context("reading /proc")? {
            let Ok(entry) = entry else { continue };
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            // `pid (comm) state ppid ...`; comm may hold spaces and parens.
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
                continue;
            };
            let comm = stat[open + 1..close].to_owned();
            let ppid = stat[close + 1..]
                .split_whitespace()
                .nth(1)
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            parents.push((pid, ppid, comm));
        }
        let mut ours = vec![self.child.id()];
        let mut grew = true;
        while grew {
            grew = false;
            for (pid, ppid, _) in &parents {
                if ours.contains(ppid) && !ours.contains(pid) {
                    ours.push(*pid);
                    grew = true;
                }
            }
        }
        let mut total = 0;
        for (pid, _, comm) in &parents {
            if comm != "workerd" || !ours.contains(pid) {
                continue;
            }
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let kb: u64 = status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            total += kb * 1024;
        }
        Ok(total)
    }

    /// Whether `xtask dev` has exited.
    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        self.stop();
    }
}

fn collect(
    stream: impl std::io::Read + Send + 'static,
    output: Arc<Mutex<String>>,
    ready: Option<mpsc::Sender<String>>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if let Some(ready) = &ready
                && line.starts_with("openma ready ")
            {
                let _ = ready.send(line.clone());
            }
            if let Ok(mut out) = output.lock() {
                out.push_str(&line);
                out.push('\n');
            }
        }
    });
}

/// The `xtask` binary: `OMA_XTASK_BIN` (set by `cargo xtask test`), or the
/// workspace's debug build.
fn xtask_bin() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("OMA_XTASK_BIN") {
        return Ok(PathBuf::from(path));
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug/xtask");
    if !path.exists() {
        bail!(
            "{} is missing: run the end-to-end tests through `cargo xtask test`, or `cargo xtask build` first",
            path.display()
        );
    }
    Ok(path)
}

/// A free port for the platform's API, below the kernel's ephemeral range
/// (as `cargo xtask dev` chooses its own): a port the kernel hands to another
/// platform's runtime meanwhile can never be this one.
fn free_port() -> Result<u16> {
    const LOWEST: u16 = 20_000;
    let floor: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768);
    let ceiling = floor.max(LOWEST + 1000);
    for pair in random_hex(128)?.as_bytes().chunks_exact(4) {
        let n = u16::from_str_radix(std::str::from_utf8(pair)?, 16)?;
        let port = LOWEST + n % (ceiling - LOWEST);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

fn random_hex(bytes: usize) -> Result<String> {
    use std::io::Read;
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}
