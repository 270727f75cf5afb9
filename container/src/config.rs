//! Server configuration, from command-line flags with environment fallbacks.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::confine::Confine;

/// Sizes and times the server enforces.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Bash timeout when the call gives none.
    pub default_timeout_ms: u64,
    /// Most bytes of tool output returned to the model.
    pub max_output_bytes: usize,
    /// Largest file `write`/`edit` produce and `read` returns.
    pub max_file_bytes: usize,
    /// Largest HTTP request body accepted.
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            default_timeout_ms: 120_000,
            max_output_bytes: 30_000,
            max_file_bytes: 10 * 1024 * 1024,
            max_body_bytes: 32 * 1024 * 1024,
        }
    }
}

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// API address (`--listen`, `OMA_SANDBOX_LISTEN`; default `127.0.0.1:0`).
    pub listen: SocketAddr,
    /// Egress proxy address (`--proxy-listen`, `OMA_SANDBOX_PROXY_LISTEN`; default `127.0.0.1:0`).
    pub proxy_listen: SocketAddr,
    /// Durable state: per-session workspaces and tool-call records (`--state-dir`, `OMA_STATE_DIR`).
    pub state_dir: PathBuf,
    /// Container mode: the one session's fixed `/workspace` directory (`--workspace`, `OMA_SANDBOX_WORKSPACE`).
    pub workspace: Option<PathBuf>,
    /// Run sandboxed processes as this `(uid, gid)` (`--sandbox-user UID:GID`,
    /// `OMA_SANDBOX_USER`); needs a root server. The container image sets it.
    pub sandbox_user: Option<(u32, u32)>,
    /// Run each shell in its own network namespace whose only way out is the
    /// proxy (`--isolate-network`, `OMA_SANDBOX_ISOLATE_NETWORK=1`); needs root,
    /// `unshare` and `ip`, and is skipped with a warning when unavailable.
    pub isolate_network: bool,
    /// How each session's shell is confined on a shared host (`--confine
    /// bwrap|none`, `OMA_SANDBOX_CONFINE`; default `none`). `bwrap` runs it
    /// inside bubblewrap with the container's layout, and refuses to start
    /// where that cannot be done.
    pub confine: Confine,
    /// The binary that serves as the namespace shim; this executable by default.
    pub shim_exe: Option<PathBuf>,
    /// The token required on every call but `/health` (`--token`,
    /// `OMA_SANDBOX_TOKEN`): the platform's root sandbox token for a server
    /// that serves many sessions, from which each session's own token is
    /// derived; a one-session container's (`--workspace`) session token.
    pub token: String,
    /// Where plain-HTTP egress is handed to the platform instead of being sent
    /// upstream (`--egress-forward`, `OMA_SANDBOX_EGRESS_FORWARD`): an
    /// `http://host:port/path` base; each request goes to `<base>/<session_id>`
    /// with its target in `x-oma-egress-url`. The platform then substitutes
    /// vault secrets, so they never enter this server.
    pub egress_forward: Option<String>,
    /// Whether each request the proxy refuses is also reported to the
    /// platform at the forward URL (`--egress-report-denials`,
    /// `OMA_SANDBOX_EGRESS_REPORT_DENIALS=1`), so the deployment's counters
    /// include denials made here. The report carries the target only.
    pub egress_report_denials: bool,
    /// Limits.
    pub limits: Limits,
}

/// A configuration problem, reported before the server starts.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A flag is unknown or lacks its value.
    #[error("{0}\n\n{USAGE}")]
    Usage(String),
    /// A value does not parse.
    #[error("invalid value for {flag}: {value}")]
    Invalid {
        /// The flag.
        flag: &'static str,
        /// The value given.
        value: String,
    },
    /// A required setting is absent.
    #[error("{0} is required\n\n{USAGE}")]
    Missing(&'static str),
}

/// Command-line help.
pub const USAGE: &str = "usage: openma-sandbox [--listen ADDR] [--proxy-listen ADDR] --state-dir DIR [--workspace DIR] --token TOKEN
  [--sandbox-user UID:GID] [--isolate-network] [--confine bwrap|none] [--default-timeout-ms N] [--max-output-bytes N]
  [--egress-forward http://HOST:PORT/PATH]
env fallbacks: OMA_SANDBOX_LISTEN, OMA_SANDBOX_PROXY_LISTEN, OMA_STATE_DIR, OMA_SANDBOX_WORKSPACE, OMA_SANDBOX_TOKEN, OMA_SANDBOX_USER, OMA_SANDBOX_ISOLATE_NETWORK,
OMA_SANDBOX_CONFINE, OMA_SANDBOX_EGRESS_FORWARD
(prefer OMA_SANDBOX_TOKEN to --token: command lines are visible to other processes)";

impl Config {
    /// The token that authenticates requests about `session_id`, and that
    /// session's egress hand-offs to the platform: derived from the root
    /// token on a many-session server, the server's own token in a
    /// one-session container (which serves no other session).
    pub fn session_token(&self, session_id: &str) -> Option<String> {
        if self.workspace.is_some() {
            return Some(self.token.clone());
        }
        openma_core::sandbox::session_token(&self.token, session_id)
    }

    /// Parses flags (without the program name), falling back to `env`.
    pub fn parse(
        args: impl IntoIterator<Item = String>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut listen = env("OMA_SANDBOX_LISTEN");
        let mut proxy_listen = env("OMA_SANDBOX_PROXY_LISTEN");
        let mut state_dir = env("OMA_STATE_DIR");
        let mut workspace = env("OMA_SANDBOX_WORKSPACE");
        let mut token = env("OMA_SANDBOX_TOKEN");
        let mut sandbox_user = env("OMA_SANDBOX_USER");
        let mut egress_forward = env("OMA_SANDBOX_EGRESS_FORWARD");
        let mut confine = env("OMA_SANDBOX_CONFINE");
        let mut isolate_network =
            env("OMA_SANDBOX_ISOLATE_NETWORK").is_some_and(|v| v == "1" || v == "true");
        let mut egress_report_denials =
            env("OMA_SANDBOX_EGRESS_REPORT_DENIALS").is_some_and(|v| v == "1" || v == "true");
        let mut limits = Limits::default();
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            if flag == "--help" || flag == "-h" {
                return Err(ConfigError::Usage(String::new()));
            }
            if flag == "--isolate-network" {
                isolate_network = true;
                continue;
            }
            if flag == "--egress-report-denials" {
                egress_report_denials = true;
                continue;
            }
            let value = args
                .next()
                .ok_or_else(|| ConfigError::Usage(format!("{flag} needs a value")))?;
            match flag.as_str() {
                "--listen" => listen = Some(value),
                "--proxy-listen" => proxy_listen = Some(value),
                "--state-dir" => state_dir = Some(value),
                "--workspace" => workspace = Some(value),
                "--token" => token = Some(value),
                "--sandbox-user" => sandbox_user = Some(value),
                "--egress-forward" => egress_forward = Some(value),
                "--confine" => confine = Some(value),
                "--default-timeout-ms" => {
                    limits.default_timeout_ms = number("--default-timeout-ms", &value)?
                }
                "--max-output-bytes" => {
                    limits.max_output_bytes = number("--max-output-bytes", &value)?
                }
                other => return Err(ConfigError::Usage(format!("unknown flag {other}"))),
            }
        }
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or(ConfigError::Missing("--token / OMA_SANDBOX_TOKEN"))?;
        let state_dir = state_dir
            .filter(|s| !s.is_empty())
            .ok_or(ConfigError::Missing("--state-dir / OMA_STATE_DIR"))?;
        Ok(Self {
            listen: addr("--listen", listen)?,
            proxy_listen: addr("--proxy-listen", proxy_listen)?,
            state_dir: PathBuf::from(state_dir),
            workspace: workspace.filter(|w| !w.is_empty()).map(PathBuf::from),
            sandbox_user: sandbox_user
                .filter(|u| !u.is_empty())
                .map(|u| user(&u))
                .transpose()?,
            isolate_network,
            confine: match confine.filter(|c| !c.is_empty()) {
                None => Confine::None,
                Some(value) => Confine::parse(&value).ok_or(ConfigError::Invalid {
                    flag: "--confine",
                    value,
                })?,
            },
            shim_exe: None,
            token,
            egress_forward: egress_forward
                .filter(|f| !f.is_empty())
                .map(|f| {
                    if f.starts_with("http://") {
                        Ok(f.trim_end_matches('/').to_owned())
                    } else {
                        Err(ConfigError::Usage(format!(
                            "--egress-forward must be an http:// URL, got {f}"
                        )))
                    }
                })
                .transpose()?,
            egress_report_denials,
            limits,
        })
    }

    /// A local-mode configuration on loopback, for tests and embedding.
    pub fn local(state_dir: impl Into<PathBuf>, token: impl Into<String>) -> Self {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        Self {
            listen: loopback,
            proxy_listen: loopback,
            state_dir: state_dir.into(),
            workspace: None,
            sandbox_user: None,
            isolate_network: false,
            confine: Confine::None,
            shim_exe: None,
            token: token.into(),
            egress_forward: None,
            egress_report_denials: false,
            limits: Limits::default(),
        }
    }
}

fn addr(flag: &'static str, value: Option<String>) -> Result<SocketAddr, ConfigError> {
    match value {
        None => Ok(SocketAddr::from(([127, 0, 0, 1], 0))),
        Some(v) => v
            .parse()
            .map_err(|_| ConfigError::Invalid { flag, value: v }),
    }
}

fn user(value: &str) -> Result<(u32, u32), ConfigError> {
    let invalid = || ConfigError::Invalid {
        flag: "--sandbox-user",
        value: value.to_owned(),
    };
    let (uid, gid) = value.split_once(':').ok_or_else(invalid)?;
    Ok((
        uid.parse().map_err(|_| invalid())?,
        gid.parse().map_err(|_| invalid())?,
    ))
}

fn number<T: std::str::FromStr>(flag: &'static str, value: &str) -> Result<T, ConfigError> {
    value.parse().map_err(|_| ConfigError::Invalid {
        flag,
        value: value.to_owned(),
    })
}

#[cfg(test)]
mod tests;
