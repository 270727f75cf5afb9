//! Sessions: each has a workspace, a tool-call journal, a persistent shell
//! and an egress policy with its secret placeholders.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use openma_core::egress::{EgressPolicy, SecretInjector, SecretRule, validate_placeholder};
use openma_core::sandbox::{
    BashInput, MEMORY_DIR, MountKind, MountParams, MountStatus, OUTPUTS_DIR, SessionSetupParams,
    SessionSetupResponse, ToolResult, WORKSPACE_DIR, validate_mount_path,
};

use crate::config::Config;
use crate::confine::{self, Isolation, SANDBOX_PATH};
use crate::idempotency::Journal;
use crate::tools::bash::{self, GroupHandle, Shell, ShellSpec};
use crate::workspace::{Mount, Workspace};

/// The authority the platform signs intercepted HTTPS with, when it does.
const PLATFORM_CA: &str = "/etc/cloudflare/certs/cloudflare-containers-ca.crt";
/// Debian's system bundle, which the entrypoint adds [`PLATFORM_CA`] to.
const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Why a session operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The session was never set up here (or the server restarted since).
    #[error(
        "session `{0}` is not set up on this sandbox; call PUT /v1/sessions/{0} first (the sandbox may have restarted)"
    )]
    NotSetUp(String),
    /// A one-session container was asked to serve a second session.
    #[error("this sandbox serves session `{bound}` only, not `{requested}`")]
    OtherSession {
        /// The session bound to this container.
        bound: String,
        /// The session asked for.
        requested: String,
    },
    /// The setup parameters are invalid.
    #[error("{0}")]
    Invalid(String),
    /// The file system or the random source failed.
    #[error("session storage: {0}")]
    Io(#[from] std::io::Error),
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] crate::idempotency::JournalError),
}

/// The egress side of a session, replaced by each setup.
#[derive(Debug, Clone, Default)]
pub struct SessionEgress {
    /// Which hosts may be reached.
    pub policy: EgressPolicy,
    /// Placeholder substitution.
    pub injector: SecretInjector,
    /// Secret name → placeholder.
    pub placeholders: BTreeMap<String, String>,
    /// Extra (non-secret) environment variables.
    pub env: BTreeMap<String, String>,
}

/// One session.
#[derive(Debug)]
pub struct Session {
    /// The session id.
    pub id: String,
    /// File-tool confinement: `base` plus the mounts of the latest set-up.
    workspace: RwLock<Workspace>,
    /// The fixed mounts (`/workspace` and, locally, outputs and memory).
    base: Workspace,
    /// Where mounts other than the fixed ones go (`None`: at their own path).
    mount_base: Option<PathBuf>,
    /// The fixed mounts as given, which a confined shell binds.
    fixed_mounts: Vec<Mount>,
    /// The platform's mounts of the latest set-up, which a confined shell
    /// binds after the fixed ones.
    mounts: RwLock<Vec<Mount>>,
    /// At-most-once record of tool calls; outlives teardown, so a call still
    /// running when its session is torn down and set up again is still known.
    pub journal: Arc<Journal>,
    /// Credential for this session's use of the egress proxy.
    pub proxy_token: String,
    proxy_addr: Option<SocketAddr>,
    user: Option<(u32, u32)>,
    isolation: Isolation,
    group: GroupHandle,
    shell: tokio::sync::Mutex<Option<Shell>>,
    egress: RwLock<SessionEgress>,
}

impl Session {
    /// The session's current mounts.
    pub fn workspace(&self) -> Workspace {
        self.workspace
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Makes the platform's mounts exactly `mounts` (beside the fixed ones);
    /// says for each whether it was missing.
    fn apply_mounts(&self, mounts: &[MountParams]) -> Result<Vec<MountStatus>, SessionError> {
        let mut statuses = Vec::with_capacity(mounts.len());
        let mut ws = self.base.clone();
        let mut binds = Vec::with_capacity(mounts.len());
        for m in mounts {
            validate_mount_path(&m.path)
                .map_err(|e| SessionError::Invalid(format!("mount `{}` {e}", m.path)))?;
            let real_root = match &self.mount_base {
                Some(base) => base.join(m.path.trim_start_matches('/')),
                None => PathBuf::from(&m.path),
            };
            let created = match m.kind {
                MountKind::Directory => !real_root.is_dir(),
                MountKind::File => !real_root.is_file(),
            };
            let mount = Mount {
                virtual_root: PathBuf::from(&m.path),
                real_root,
                read_only: m.read_only,
                file: m.kind == MountKind::File,
            };
            ws = ws.with_mount(mount.clone())?;
            binds.push(mount);
            statuses.push(MountStatus {
                path: m.path.clone(),
                created,
            });
        }
        *self
            .workspace
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = ws;
        *self
            .mounts
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = binds;
        Ok(statuses)
    }

    /// A snapshot of the session's egress policy and secrets.
    pub fn egress(&self) -> SessionEgress {
        self.egress.read().map(|e| e.clone()).unwrap_or_default()
    }

    /// Runs a bash call on the persistent shell (calls in one session queue up).
    pub async fn bash(&self, input: &BashInput, default_timeout_ms: u64, cap: usize) -> ToolResult {
        let spec = self.shell_spec();
        let mut slot = self.shell.lock().await;
        bash::execute(&mut slot, &spec, input, default_timeout_ms, cap).await
    }

    /// Stops the shell and everything it started; returns whether one ran.
    pub async fn stop_shell(&self) -> bool {
        // Kill first: a call in progress holds the shell until its command ends.
        let killed = self.group.kill();
        let mut slot = self.shell.lock().await;
        slot.take().map(|mut s| s.kill()).is_some() || killed
    }

    fn shell_spec(&self) -> ShellSpec {
        let egress = self.egress();
        let root = self.workspace().root().to_path_buf();
        let mut env = BTreeMap::new();
        // A confined shell sees the container's layout, not the host's.
        let confined = matches!(self.isolation, Isolation::Bwrap(_));
        let (path, home) = if confined {
            (SANDBOX_PATH.to_owned(), WORKSPACE_DIR.to_owned())
        } else {
            (
                std::env::var("PATH").unwrap_or_else(|_| SANDBOX_PATH.to_owned()),
                root.to_string_lossy().into_owned(),
            )
        };
        env.insert("PATH".to_owned(), path);
        env.insert("HOME".to_owned(), home);
        env.insert("LANG".to_owned(), "C.UTF-8".to_owned());
        env.insert("TERM".to_owned(), "dumb".to_owned());
        env.insert("PAGER".to_owned(), "cat".to_owned());
        env.insert("GIT_PAGER".to_owned(), "cat".to_owned());
        // In a container whose HTTPS egress the platform intercepts, tools
        // that keep their own certificate bundles must trust its authority
        // too (the entrypoint has added it to the system bundle).
        if std::path::Path::new(PLATFORM_CA).is_file() {
            env.insert("NODE_EXTRA_CA_CERTS".to_owned(), PLATFORM_CA.to_owned());
            for name in [
                "SSL_CERT_FILE",
                "REQUESTS_CA_BUNDLE",
                "PIP_CERT",
                "CURL_CA_BUNDLE",
            ] {
                env.insert(name.to_owned(), SYSTEM_CA_BUNDLE.to_owned());
            }
        }
        env.extend(egress.env);
        env.extend(egress.placeholders);
        if let Some(addr) = self.proxy_addr {
            let url = format!("http://oma:{}@{addr}", self.proxy_token);
            for name in [
                "http_proxy",
                "https_proxy",
                "HTTP_PROXY",
                "HTTPS_PROXY",
                "all_proxy",
                "ALL_PROXY",
            ] {
                env.insert(name.to_owned(), url.clone());
            }
            env.insert("no_proxy".to_owned(), String::new());
            env.insert("NO_PROXY".to_owned(), String::new());
        }
        let binds = if confined {
            let mounts = self
                .mounts
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            confine::binds(self.fixed_mounts.iter().chain(mounts.iter()))
        } else {
            Vec::new()
        };
        ShellSpec {
            cwd: root,
            env,
            user: self.user,
            isolation: self.isolation.clone(),
            binds,
            group: self.group.clone(),
        }
    }
}

/// All sessions this server knows.
#[derive(Debug)]
pub struct Sessions {
    config: Arc<Config>,
    proxy_addr: Option<SocketAddr>,
    isolation: Isolation,
    map: Mutex<HashMap<String, Arc<Session>>>,
    journals: Mutex<HashMap<String, Arc<Journal>>>,
}

impl Sessions {
    /// An empty registry; `proxy_addr` is the egress proxy processes are
    /// pointed at, `isolation` how their shells are kept apart from the host.
    pub fn new(config: Arc<Config>, proxy_addr: Option<SocketAddr>, isolation: Isolation) -> Self {
        Self {
            config,
            proxy_addr,
            isolation,
            map: Mutex::new(HashMap::new()),
            journals: Mutex::new(HashMap::new()),
        }
    }

    /// The server's configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A session that was set up, or [`SessionError::NotSetUp`].
    pub fn get(&self, id: &str) -> Result<Arc<Session>, SessionError> {
        self.lock()
            .get(id)
            .cloned()
            .ok_or_else(|| SessionError::NotSetUp(id.to_owned()))
    }

    /// The session whose processes present this proxy credential.
    pub fn by_proxy_token(&self, token: &str) -> Option<Arc<Session>> {
        self.lock()
            .values()
            .find(|s| crate::auth::constant_time_eq(s.proxy_token.as_bytes(), token.as_bytes()))
            .cloned()
    }

    /// Creates the session or replaces its policy, secrets and environment.
    pub async fn setup(
        &self,
        id: &str,
        params: SessionSetupParams,
    ) -> Result<SessionSetupResponse, SessionError> {
        let session = self.get_or_create(id)?;
        let previous = session.egress();
        let mut placeholders = BTreeMap::new();
        let mut rules = Vec::new();
        for secret in params.secrets {
            check_env_name(&secret.name)?;
            let placeholder = match secret.placeholder {
                Some(p) => {
                    validate_placeholder(&p).map_err(|e| {
                        SessionError::Invalid(format!("secret `{}`: {e}", secret.name))
                    })?;
                    p
                }
                None => match previous.placeholders.get(&secret.name) {
                    Some(p) => p.clone(),
                    None => format!(
                        "{}{}",
                        openma_core::egress::PLACEHOLDER_PREFIX,
                        crate::random_hex(16)?
                    ),
                },
            };
            if let Some(value) = secret.value {
                rules.push(SecretRule {
                    placeholder: placeholder.clone(),
                    value,
                    networking: secret.networking,
                    injection: secret.injection_location,
                });
            }
            placeholders.insert(secret.name, placeholder);
        }
        for name in params.env.keys() {
            check_env_name(name)?;
        }
        let mounts = session.apply_mounts(&params.mounts)?;
        let next = SessionEgress {
            policy: params.egress,
            injector: SecretInjector::new(rules),
            placeholders,
            env: params.env,
        };
        let response = SessionSetupResponse {
            session_id: id.to_owned(),
            workspace: WORKSPACE_DIR.to_owned(),
            placeholders: next.placeholders.clone(),
            mounts,
        };
        if let Ok(mut e) = session.egress.write() {
            *e = next;
        }
        // A shell started with a different environment is replaced at its next
        // call (see `bash::execute`), never in the middle of a command.
        Ok(response)
    }

    /// Forgets a session and stops its processes; files and records stay.
    pub async fn teardown(&self, id: &str) -> bool {
        let removed = self.lock().remove(id);
        match removed {
            Some(session) => session.stop_shell().await,
            None => false,
        }
    }

    /// Stops every session's shell (server shutdown).
    pub async fn stop_all(&self) {
        let all: Vec<Arc<Session>> = self.lock().drain().map(|(_, s)| s).collect();
        for s in all {
            s.stop_shell().await;
        }
    }

    fn get_or_create(&self, id: &str) -> Result<Arc<Session>, SessionError> {
        if let Some(s) = self.lock().get(id) {
            return Ok(Arc::clone(s));
        }
        let session_dir = self.config.state_dir.join("sessions").join(id);
        let mount_base = match &self.config.workspace {
            Some(_) => None,
            None => Some(session_dir.join("mounts")),
        };
        let mounts = match &self.config.workspace {
            Some(workspace) => {
                self.bind_single_session(id)?;
                let mut mounts = vec![mount(WORKSPACE_DIR, workspace.clone(), false)];
                // Extra roots exist only once the platform mounts them.
                for extra in [OUTPUTS_DIR, MEMORY_DIR] {
                    if std::path::Path::new(extra).is_dir() {
                        mounts.push(mount(extra, PathBuf::from(extra), false));
                    }
                }
                mounts
            }
            None => vec![
                mount(WORKSPACE_DIR, session_dir.join("workspace"), false),
                mount(OUTPUTS_DIR, session_dir.join("outputs"), false),
                mount(MEMORY_DIR, session_dir.join("memory"), false),
            ],
        };
        let fixed_mounts = mounts.clone();
        let base = Workspace::new(mounts, self.config.sandbox_user)?;
        let session = Arc::new(Session {
            id: id.to_owned(),
            workspace: RwLock::new(base.clone()),
            base,
            mount_base,
            fixed_mounts,
            mounts: RwLock::new(Vec::new()),
            journal: self.journal(id, &session_dir)?,
            proxy_token: crate::random_hex(16)?,
            proxy_addr: self.proxy_addr,
            user: self.config.sandbox_user,
            isolation: self.isolation.clone(),
            group: GroupHandle::default(),
            shell: tokio::sync::Mutex::new(None),
            egress: RwLock::new(SessionEgress::default()),
        });
        Ok(Arc::clone(
            self.lock().entry(id.to_owned()).or_insert(session),
        ))
    }

    fn journal(
        &self,
        id: &str,
        session_dir: &std::path::Path,
    ) -> Result<Arc<Journal>, SessionError> {
        let mut journals = self
            .journals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(j) = journals.get(id) {
            return Ok(Arc::clone(j));
        }
        let journal = Arc::new(Journal::open(session_dir.join("calls"))?);
        journals.insert(id.to_owned(), Arc::clone(&journal));
        Ok(journal)
    }

    /// In a one-session container, the first session set up owns it for good.
    fn bind_single_session(&self, id: &str) -> Result<(), SessionError> {
        let path = self.config.state_dir.join("bound_session");
        match std::fs::read_to_string(&path) {
            Ok(bound) if bound.trim() == id => Ok(()),
            Ok(bound) => Err(SessionError::OtherSession {
                bound: bound.trim().to_owned(),
                requested: id.to_owned(),
            }),
            Err(_) => {
                std::fs::create_dir_all(&self.config.state_dir)?;
                std::fs::write(&path, id)?;
                Ok(())
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn mount(virtual_root: &str, real_root: PathBuf, read_only: bool) -> Mount {
    Mount {
        virtual_root: PathBuf::from(virtual_root),
        real_root,
        read_only,
        file: false,
    }
}

fn check_env_name(name: &str) -> Result<(), SessionError> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.to_ascii_lowercase().ends_with("_proxy");
    if ok {
        Ok(())
    } else {
        Err(SessionError::Invalid(format!(
            "`{name}` is not a usable environment variable name"
        )))
    }
}
