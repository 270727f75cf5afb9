//! `cargo xtask dev`: the whole platform on this machine. One `wrangler dev`
//! serves the three workers (main on `PORT`), beside the local sandbox server;
//! all state lives under `OMA_STATE_DIR`.

use std::collections::BTreeMap;
use std::io::Read;
use std::io::Write;
use std::path::Path;
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;
use std::time::Instant;

use anyhow::Context;
use anyhow::Result;
use anyhow::bail;
use signal_hook::consts::SIGHUP;
use signal_hook::consts::SIGINT;
use signal_hook::consts::SIGTERM;

use crate::build;
use crate::build::WORKERS;
use crate::configs;
use crate::http;
use crate::paths;
use crate::proc;
use crate::proc::Supervised;
use crate::setup;
use crate::wrangler;

const DEFAULT_PORT: u16 = 8787;
const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// The unprivileged user (`nobody:nogroup`) a root sandbox server runs the
/// agent's tools as.
const SANDBOX_USER: &str = "65534:65534";

/// How `dev` was invoked.
#[derive(Debug)]
pub(crate) struct Options {
    /// Install what is missing and build what is stale first.
    pub(crate) build: bool,
    /// Stop when standard input closes, so a supervising process that dies
    /// takes the platform with it.
    pub(crate) exit_on_stdin_eof: bool,
}

/// The resolved configuration of one local platform.
#[derive(Debug)]
struct Config {
    port: u16,
    state_dir: PathBuf,
    vars: BTreeMap<&'static str, String>,
    sandbox_port: Option<u16>,
    inspector_port: u16,
}

pub(crate) fn run(options: &Options) -> Result<()> {
    let started = Instant::now();
    let tools = if options.build {
        let tools = setup::ensure()?;
        build::workers(&tools)?;
        tools
    } else {
        setup::installed()?
    };
    let confinement = sandbox_confinement()?;
    let sandbox_bin = if options.build {
        build::sandbox_server()?
    } else {
        build::sandbox_server_path()
    };
    for worker in WORKERS {
        if !worker.entry().exists() {
            bail!(
                "{} is missing: run `cargo xtask build`",
                worker.entry().display()
            );
        }
    }
    if !sandbox_bin.exists() {
        bail!(
            "{} is missing: run `cargo xtask build`",
            sandbox_bin.display()
        );
    }

    let mut config = Config::resolve()?;
    let logs = config.state_dir.join("logs");
    std::fs::create_dir_all(&logs)?;

    let events = watch_for_stop(options.exit_on_stdin_eof)?;

    let sandbox_token = config
        .vars
        .get("SANDBOX_TOKEN")
        .cloned()
        .unwrap_or_default();
    // The sandbox server binds its ports itself (port 0 unless
    // `OMA_SANDBOX_PORT` names one) and says which in its `listening` line:
    // a port chosen here and bound there could be taken in between by
    // another platform starting beside this one.
    let sandbox_log = logs.join("sandbox.log");
    let log_start = std::fs::metadata(&sandbox_log).map_or(0, |m| m.len());
    let mut sandbox = Supervised::spawn(
        "sandbox server",
        std::process::Command::new(&sandbox_bin)
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", config.sandbox_port.unwrap_or(0)))
            .arg("--proxy-listen")
            .arg("127.0.0.1:0")
            .arg("--state-dir")
            .arg(config.state_dir.join("sandbox"))
            .args(&confinement)
            .env("OMA_SANDBOX_TOKEN", &sandbox_token)
            // Plain-HTTP egress goes through the platform, which adds the
            // vault secrets: the sandbox server never holds one.
            .env(
                "OMA_SANDBOX_EGRESS_FORWARD",
                format!("http://127.0.0.1:{}/internal/egress", config.port),
            )
            // What the server refuses itself is reported there too, so the
            // deployment's egress counters include it.
            .env("OMA_SANDBOX_EGRESS_REPORT_DENIALS", "1"),
        &sandbox_log,
        true,
    )?;
    let sandbox_port = listening_port(&mut sandbox, &sandbox_log, log_start)?;
    config
        .vars
        .insert("SANDBOX_URL", format!("http://127.0.0.1:{sandbox_port}"));
    wait_healthy(&mut [&mut sandbox], sandbox_port, Duration::from_secs(30))
    .context(if confinement.contains(&"bwrap") {
        "the sandbox server did not become healthy (when it cannot confine shells on this machine, its message above says why; OMA_SANDBOX_UNCONFINED=1 runs tools unconfined instead)"
    } else {
        "the sandbox server did not become healthy"
    })?;
    let configs = config.write_wrangler_configs()?;
    apply_migrations(&tools, &config, &configs[0])?;

    let mut dev = wrangler::offline(&tools);
    dev.arg("dev");
    for path in &configs {
        dev.arg("-c").arg(path);
    }
    dev.args(["--ip", "127.0.0.1", "--port"])
        .arg(config.port.to_string())
        .arg("--inspector-port")
        .arg(config.inspector_port.to_string())
        .arg("--show-interactive-dev-session=false");
    // `OMA_LOG_LEVEL` (debug, info, log, warn, error, none) quiets wrangler's
    // own request log and the workers' console output, e.g. for benchmarks.
    if let Some(level) = env_nonempty("OMA_LOG_LEVEL") {
        dev.arg("--log-level").arg(level);
    }
    // wrangler dev attaches its own inspector session to the workers, with
    // the network domain on, and writes every outbound request and response
    // body the runtime reports into its debug log: model replies, sandbox
    // answers and upstream responses to the sandbox's requests, on disk,
    // for ~60% of a core under load. wrangler 4 has no flag for it; its
    // inspector proxy stands down when `VSCODE_INSPECTOR_OPTIONS` is set (as
    // under VS Code's debugger), which changes nothing else without VS
    // Code's bootloader in `NODE_OPTIONS`. Logs do not depend on it.
    // `OMA_INSPECTOR=1` keeps it, for DevTools on `OMA_INSPECTOR_PORT`.
    if env_nonempty("OMA_INSPECTOR").as_deref() != Some("1")
        && std::env::var_os("VSCODE_INSPECTOR_OPTIONS").is_none()
    {
        dev.env("VSCODE_INSPECTOR_OPTIONS", "{}");
    }
    config.isolate(&mut dev);
    let mut wrangler =
        Supervised::spawn("wrangler dev", &mut dev, &logs.join("wrangler.log"), true)?;

    wait_healthy(
        &mut [&mut wrangler, &mut sandbox],
        config.port,
        READY_TIMEOUT,
    )
    .context("the platform did not become healthy")?;
    let api_key = config.vars.get("API_KEY").cloned().unwrap_or_default();
    println!(
        "openma ready url=http://127.0.0.1:{} api_key={} state_dir={} startup_ms={}",
        config.port,
        api_key,
        config.state_dir.display(),
        started.elapsed().as_millis()
    );
    std::io::stdout().flush()?;

    let outcome = supervise(&events, &mut [&mut wrangler, &mut sandbox]);
    wrangler.stop();
    sandbox.stop();
    outcome
}

impl Config {
    fn resolve() -> Result<Self> {
        let root = paths::root();
        let port = match std::env::var("PORT") {
            Ok(p) => p
                .parse()
                .with_context(|| format!("PORT={p} is not a port"))?,
            Err(_) => DEFAULT_PORT,
        };
        let state_dir = std::env::var_os("OMA_STATE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join(".wrangler/openma"));
        std::fs::create_dir_all(&state_dir)
            .with_context(|| format!("creating {}", state_dir.display()))?;
        let state_dir = state_dir.canonicalize()?;

        // API_KEY and PLATFORM_ROOT_SECRET: the environment wins; otherwise
        // the git-ignored .dev.vars keeps the ones generated on first run.
        let dev_vars_path = root.join(".dev.vars");
        let mut dev_vars = read_env_file(&dev_vars_path);
        let mut generated = false;
        let mut persistent = |name: &'static str, make: fn() -> Result<String>| -> Result<String> {
            if let Some(v) = env_nonempty(name) {
                return Ok(v);
            }
            if let Some(v) = dev_vars.get(name).filter(|v| !v.is_empty()) {
                return Ok(v.clone());
            }
            let v = make()?;
            dev_vars.insert(name.to_owned(), v.clone());
            generated = true;
            Ok(v)
        };
        let api_key = persistent("API_KEY", || Ok(format!("sk-oma-dev-{}", random_hex(20)?)))?;
        let root_secret = persistent("PLATFORM_ROOT_SECRET", || random_hex(32))?;
        if generated {
            write_env_file(
                &dev_vars_path,
                dev_vars.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            )?;
            eprintln!("xtask: wrote generated API_KEY and PLATFORM_ROOT_SECRET to .dev.vars");
        }

        let mut vars = BTreeMap::new();
        vars.insert("API_KEY", api_key);
        vars.insert("PLATFORM_ROOT_SECRET", root_secret);
        vars.insert(
            "ANTHROPIC_API_KEY",
            env_nonempty("ANTHROPIC_API_KEY").unwrap_or_default(),
        );
        vars.insert(
            "ANTHROPIC_BASE_URL",
            env_nonempty("ANTHROPIC_BASE_URL").unwrap_or_else(|| DEFAULT_BASE_URL.to_owned()),
        );
        vars.insert("OMA_ENVIRONMENT", "development".to_owned());
        // The workers' own `info` lines follow the same setting.
        if let Some(level) = env_nonempty("OMA_LOG_LEVEL") {
            vars.insert("LOG_LEVEL", level);
        }
        // Optional operator settings, passed through when set.
        for name in [
            "MODEL_RETRY_BASE_MS",
            "MODEL_MAX_ATTEMPTS",
            "SESSION_WATCHDOG_MS",
            "SESSION_ARCHIVE_AFTER_DAYS",
            "MODEL_FIRST_BYTE_TIMEOUT_MS",
            "MODEL_IDLE_TIMEOUT_MS",
            "TOOL_CALL_TIMEOUT_MS",
            "TENANT_REQUESTS_PER_MINUTE",
            "TENANT_RUNNING_SESSIONS",
            "PLATFORM_ROOT_SECRET_PREVIOUS",
            "PLATFORM_MODEL_KEY_FOR_TENANTS",
            // Integrations: provider signing secrets and API bases, and the
            // reply outbox's retry settings.
            "SLACK_SIGNING_SECRET",
            "LINEAR_WEBHOOK_SECRET",
            "GITHUB_WEBHOOK_SECRET",
            "SLACK_API_BASE",
            "LINEAR_API_BASE",
            "GITHUB_API_BASE",
            "OUTBOX_MAX_ATTEMPTS",
            "OUTBOX_RETRY_BASE_MS",
            // Outbound webhooks: retries, and private addresses (allowed
            // in local development anyway).
            "WEBHOOK_MAX_ATTEMPTS",
            "WEBHOOK_RETRY_BASE_MS",
            "WEBHOOK_ALLOW_PRIVATE_URLS",
            // Self-hosted environments: the work item lease's default TTL.
            "WORK_LEASE_TTL_SECONDS",
        ] {
            if let Some(value) = env_nonempty(name) {
                vars.insert(name, value);
            }
        }
        let sandbox_port = match env_nonempty("OMA_SANDBOX_PORT") {
            Some(p) => Some(
                p.parse()
                    .with_context(|| format!("OMA_SANDBOX_PORT={p} is not a port"))?,
            ),
            None => None,
        };
        let inspector_port = port_from_env("OMA_INSPECTOR_PORT")?;
        vars.insert("SANDBOX_TOKEN", random_hex(24)?);
        Ok(Self {
            port,
            state_dir,
            vars,
            sandbox_port,
            inspector_port,
        })
    }

    /// Writes this instance's copies of the three wrangler configs, and the
    /// `.dev.vars` beside them that every worker reads, into the state
    /// directory. Wrangler keeps each worker's local data beside its config,
    /// so all three share `<state>/wrangler/.wrangler/state`, and two
    /// instances with different state directories never share anything.
    /// Containers are left out: locally the sandbox server stands in.
    fn write_wrangler_configs(&self) -> Result<Vec<PathBuf>> {
        let dir = self.state_dir.join("wrangler");
        let mut written = Vec::new();
        for worker in WORKERS {
            written.push(configs::derive(worker, &dir, |block| {
                for key in ["env", "containers"] {
                    block.remove(key);
                }
            })?);
        }
        write_env_file(
            &dir.join(".dev.vars"),
            self.vars.iter().map(|(k, v)| (*k, v.as_str())),
        )?;
        Ok(written)
    }

    /// Keeps wrangler's registry, logs and caches inside the state directory.
    fn isolate(&self, cmd: &mut std::process::Command) {
        cmd.env("WRANGLER_REGISTRY_PATH", self.state_dir.join("registry"))
            .env("WRANGLER_LOG_PATH", self.state_dir.join("logs"))
            .env("WRANGLER_CACHE_DIR", self.state_dir.join("cache"));
    }
}

/// How the sandbox server confines each session's shell: inside bubblewrap,
/// with the container's layout and the egress proxy as the only way out (as
/// an unprivileged user when this runs as root), unless the operator opts out
/// with `OMA_SANDBOX_UNCONFINED=1`. Fails when bubblewrap is missing.
fn sandbox_confinement() -> Result<Vec<&'static str>> {
    if env_nonempty("OMA_SANDBOX_UNCONFINED").as_deref() == Some("1") {
        eprintln!(
            "xtask: OMA_SANDBOX_UNCONFINED=1: the agent's shell runs unconfined, as you: it can read this machine's files (.dev.vars, the local database, every session's workspace) and reach the network around the egress proxy"
        );
        return Ok(vec!["--confine", "none"]);
    }
    if setup::bubblewrap().is_none() {
        bail!(
            "bubblewrap is missing: the local sandbox confines each session's shell with it. Install it (`{}`; `cargo xtask setup` does it when run as root), or set OMA_SANDBOX_UNCONFINED=1 to run tools unconfined, with access to this machine's files and network",
            setup::BUBBLEWRAP_INSTALL
        );
    }
    let mut args = vec!["--confine", "bwrap"];
    if setup::running_as_root() {
        args.extend(["--sandbox-user", SANDBOX_USER]);
    }
    Ok(args)
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The API port of the sandbox server, from the `listening` line it
/// writes to its log (read from `from`, where this run's lines begin).
fn listening_port(server: &mut Supervised, log: &Path, from: u64) -> Result<u16> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read(log).unwrap_or_default();
        let ours = text
            .get(usize::try_from(from).unwrap_or(0)..)
            .unwrap_or(&[]);
        for line in String::from_utf8_lossy(ours).lines() {
            let Ok(line) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            if line["event"] == "listening"
                && let Some(port) = line["addr"]
                    .as_str()
                    .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
                    .map(|a| a.port())
            {
                return Ok(port);
            }
        }
        if let Some(status) = server.exited() {
            bail!(
                "the sandbox server exited with {status} before listening (its log: {})",
                log.display()
            );
        }
        if Instant::now() > deadline {
            bail!("the sandbox server did not say where it listens within 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn port_from_env(name: &str) -> Result<u16> {
    match env_nonempty(name) {
        Some(p) => p
            .parse()
            .with_context(|| format!("{name}={p} is not a port")),
        None => proc::free_port(),
    }
}

fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .context("reading /dev/urandom")?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

fn read_env_file(path: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .map(|v| v.replace("\\\"", "\"").replace("\\\\", "\\"))
                .unwrap_or_else(|| v.to_owned());
            (k.trim().to_owned(), v)
        })
        .collect()
}

fn write_env_file<'a>(path: &Path, vars: impl Iterator<Item = (&'a str, &'a str)>) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut text = String::from("# Written by `cargo xtask dev`.\n");
    for (key, value) in vars {
        let plain = value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:/+=@".contains(c));
        if plain {
            text.push_str(&format!("{key}={value}\n"));
        } else {
            let escaped = value
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            text.push_str(&format!("{key}=\"{escaped}\"\n"));
        }
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

/// Applies the D1 migrations to the local database, skipping the (slow)
/// wrangler call when they are unchanged since the last apply to this state
/// directory.
fn apply_migrations(tools: &setup::Tools, config: &Config, main_config: &Path) -> Result<()> {
    let dir = paths::root().join("migrations");
    let mut names: Vec<_> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    names.sort();
    let mut digest = String::new();
    for path in &names {
        digest.push_str(&path.to_string_lossy());
        digest.push_str(&std::fs::read_to_string(path).unwrap_or_default());
    }
    // The stamp lives beside the database it describes, so removing the data
    // removes the stamp too.
    let data_dir = main_config
        .parent()
        .map(|d| d.join(".wrangler/state"))
        .unwrap_or_else(|| config.state_dir.clone());
    let stamp = data_dir.join("openma-migrations.applied");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(digest.as_str()) {
        return Ok(());
    }
    let mut cmd = wrangler::offline(tools);
    cmd.args(["d1", "migrations", "apply", "DB", "--local", "-c"])
        .arg(main_config);
    config.isolate(&mut cmd);
    let out = cmd
        .output()
        .context("could not run `wrangler d1 migrations apply --local`")?;
    if !out.status.success() {
        bail!(
            "applying D1 migrations failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::fs::create_dir_all(&data_dir)?;
    std::fs::write(stamp, digest)?;
    Ok(())
}

/// Why the platform should stop.
#[derive(Debug)]
enum Stop {
    Signal(i32),
    StdinClosed,
}

fn watch_for_stop(stdin_eof: bool) -> Result<mpsc::Receiver<Stop>> {
    let (tx, rx) = mpsc::channel();
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    let signal_tx = tx.clone();
    thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            let _ = signal_tx.send(Stop::Signal(sig));
        }
    });
    if stdin_eof {
        thread::spawn(move || {
            let mut sink = [0u8; 256];
            let mut stdin = std::io::stdin();
            while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
            let _ = tx.send(Stop::StdinClosed);
        });
    }
    Ok(rx)
}

/// Polls `GET /health` on `port` until it answers 200, failing early if a
/// supervised child exits, or if the server answers but stays unhealthy for
/// longer than start-up can explain (a misconfiguration, not a slow start).
fn wait_healthy(children: &mut [&mut Supervised], port: u16, timeout: Duration) -> Result<()> {
    const UNHEALTHY_GRACE: Duration = Duration::from_secs(15);
    let deadline = Instant::now() + timeout;
    let mut first_answer: Option<Instant> = None;
    let mut last = String::from("no answer yet");
    while Instant::now() < deadline {
        for child in children.iter_mut() {
            if let Some(status) = child.exited() {
                bail!(
                    "{} exited with {status} (its log is in the state directory)",
                    child.name()
                );
            }
        }
        match http::get(port, "/health") {
            Ok((200, _)) => return Ok(()),
            Ok((status, body)) => {
                last = format!("{status} {body}");
                let since = *first_answer.get_or_insert_with(Instant::now);
                if since.elapsed() > UNHEALTHY_GRACE {
                    bail!("/health stayed unhealthy for {UNHEALTHY_GRACE:?}: {last}");
                }
            }
            Err(err) => last = err.to_string(),
        }
        thread::sleep(Duration::from_millis(100));
    }
    bail!("timed out after {timeout:?}; last /health answer: {last}")
}

fn supervise(events: &mpsc::Receiver<Stop>, children: &mut [&mut Supervised]) -> Result<()> {
    loop {
        match events.recv_timeout(Duration::from_millis(250)) {
            Ok(stop) => {
                let why = match stop {
                    Stop::Signal(sig) => format!("signal {sig}"),
                    Stop::StdinClosed => "standard input closed".to_owned(),
                };
                eprintln!("xtask: stopping ({why})");
                return Ok(());
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {}
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        for child in children.iter_mut() {
            if let Some(status) = child.exited() {
                bail!("{} exited unexpectedly with {status}", child.name());
            }
        }
    }
}
