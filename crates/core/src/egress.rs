//! Egress policy: which hosts a sandbox may reach, and which vault secret
//! placeholders are substituted for which hosts.
//!
//! Pure and runtime-free: the local egress proxy in the sandbox server and the
//! production outbound handler both decide with this code.
//!
//! - [`NetworkingPolicy`] is the environment's `config.networking` (api-reference §3.2).
//! - [`EgressPolicy::decide`] says whether a host may be reached, and why not.
//! - [`SecretInjector`] substitutes `environment_variable` credential
//!   placeholders (api-reference §7) in headers and bodies, only for the
//!   credential's allowed hosts and only in its enabled locations.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Registry hosts reachable under `limited` networking when
/// `allow_package_managers` is set (apt, pip, npm, cargo, gem, go).
pub const PACKAGE_MANAGER_HOSTS: &[&str] = &[
    // Debian and Ubuntu apt
    "deb.debian.org",
    "security.debian.org",
    "archive.ubuntu.com",
    "security.ubuntu.com",
    "ports.ubuntu.com",
    // Python
    "pypi.org",
    "files.pythonhosted.org",
    "pypi.python.org",
    // JavaScript
    "registry.npmjs.org",
    "registry.yarnpkg.com",
    // Rust
    "crates.io",
    "index.crates.io",
    "static.crates.io",
    "static.rust-lang.org",
    // Ruby
    "rubygems.org",
    "index.rubygems.org",
    // Go
    "proxy.golang.org",
    "sum.golang.org",
    "storage.googleapis.com",
];

/// Secrets shorter than this are not redacted from text: replacing every
/// occurrence of a two-letter "secret" would garble all output while hiding
/// nothing worth hiding.
pub const MIN_REDACTED_SECRET_LEN: usize = 6;

/// Prefix of every opaque secret placeholder the sandbox hands to processes.
pub const PLACEHOLDER_PREFIX: &str = "oma_ph_";

/// The environment's network policy (`config.networking`, api-reference §3.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NetworkingPolicy {
    /// Any host may be reached.
    #[default]
    Unrestricted,
    /// Only the listed hosts, plus package registries and MCP servers when enabled.
    Limited {
        /// Exact hosts, IPv4 addresses or `*.` wildcards (`*.a.com` does not match `a.com`).
        #[serde(default)]
        allowed_hosts: Vec<String>,
        /// Whether the agent's MCP server hosts are reachable.
        #[serde(default)]
        allow_mcp_servers: bool,
        /// Whether [`PACKAGE_MANAGER_HOSTS`] are reachable.
        #[serde(default)]
        allow_package_managers: bool,
    },
}

impl NetworkingPolicy {
    /// The policy of a session's environment `config` as stored: a config
    /// without `networking` gets the API's default (`unrestricted`); one
    /// whose `networking` does not parse is an error, never a wider policy.
    pub fn from_environment_config(config: &serde_json::Value) -> Result<Self, String> {
        match config.get("networking") {
            None | Some(serde_json::Value::Null) => Ok(Self::default()),
            Some(networking) => Self::deserialize(networking).map_err(|e| {
                format!("the environment's networking configuration is not usable: {e}")
            }),
        }
    }

    /// The policy's wire name (`unrestricted` or `limited`), used in denial messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Unrestricted => "unrestricted",
            Self::Limited { .. } => "limited",
        }
    }
}

/// A session's complete egress policy: the environment networking plus the
/// hosts of the agent's MCP servers (reachable when `allow_mcp_servers`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct EgressPolicy {
    /// The environment's networking configuration.
    #[serde(default)]
    pub networking: NetworkingPolicy,
    /// Hosts of the agent's MCP servers.
    #[serde(default)]
    pub mcp_server_hosts: Vec<String>,
}

/// Why a host was allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllowReason {
    /// The policy is `unrestricted`.
    Unrestricted,
    /// The host matched `allowed_hosts`.
    AllowedHost,
    /// The host is a package registry and `allow_package_managers` is set.
    PackageManager,
    /// The host is an MCP server's and `allow_mcp_servers` is set.
    McpServer,
}

/// A refusal, with enough detail to tell the sandboxed process what denied it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// The normalised host that was refused.
    pub host: String,
    /// The port it was refused on.
    pub port: u16,
    /// The name of the policy that refused it (`limited`, or `invalid_host`).
    pub policy: &'static str,
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.policy == "invalid_host" {
            write!(f, "egress denied: `{}` is not a valid host name", self.host)
        } else {
            write!(
                f,
                "egress denied by the environment's networking policy `{}`: host `{}` on port {} is not in allowed_hosts (an entry without a port allows ports 80 and 443 only; name others as `host:port`), nor an enabled package-manager or MCP server host",
                self.policy, self.host, self.port
            )
        }
    }
}

/// The outcome of [`EgressPolicy::decide`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EgressDecision {
    /// The connection may proceed.
    Allowed(AllowReason),
    /// The connection must be refused with a 403 naming the policy.
    Denied(Denial),
}

impl EgressDecision {
    /// Whether the decision lets the connection through.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allowed(_))
    }
}

impl EgressPolicy {
    /// Decides whether `host` (a name or an IP; a port on it is ignored) may
    /// be reached on `port`.
    ///
    /// A `limited` policy's entries name a host (`api.example.com`,
    /// `*.example.com`, `10.0.0.1`, `::1`) and optionally a port
    /// (`api.example.com:8443`, `[::1]:8080`): an entry without a port
    /// allows only [`DEFAULT_PORTS`], one with a port allows only that port.
    /// Package registries are reachable on [`DEFAULT_PORTS`]; MCP server
    /// hosts carry their URL's port when it is not the scheme's default.
    pub fn decide(&self, host: &str, port: u16) -> EgressDecision {
        let Some(host) = normalize_host(host) else {
            return EgressDecision::Denied(Denial {
                host: host.to_owned(),
                port,
                policy: "invalid_host",
            });
        };
        match &self.networking {
            NetworkingPolicy::Unrestricted => EgressDecision::Allowed(AllowReason::Unrestricted),
            NetworkingPolicy::Limited {
                allowed_hosts,
                allow_mcp_servers,
                allow_package_managers,
            } => {
                let listed = |entries: &[String]| {
                    entries
                        .iter()
                        .any(|entry| host_port_matches(entry, &host, port))
                };
                if listed(allowed_hosts) {
                    EgressDecision::Allowed(AllowReason::AllowedHost)
                } else if *allow_package_managers
                    && DEFAULT_PORTS.contains(&port)
                    && PACKAGE_MANAGER_HOSTS.iter().any(|p| host_matches(p, &host))
                {
                    EgressDecision::Allowed(AllowReason::PackageManager)
                } else if *allow_mcp_servers && listed(&self.mcp_server_hosts) {
                    EgressDecision::Allowed(AllowReason::McpServer)
                } else {
                    EgressDecision::Denied(Denial {
                        host,
                        port,
                        policy: "limited",
                    })
                }
            }
        }
    }
}

/// The ports an allowed host named without a port may be reached on.
pub const DEFAULT_PORTS: [u16; 2] = [80, 443];

/// Splits an allow-list entry into its host and the port it names, if any:
/// `host:port`, `[v6]:port`, or a bare host (an IPv6 address without
/// brackets names no port). `None` for a port that is not a number.
pub fn split_entry_port(entry: &str) -> Option<(&str, Option<u16>)> {
    let entry = entry.trim();
    let port_text = if let Some(rest) = entry.strip_prefix('[') {
        let (_, after) = rest.split_once(']')?;
        if after.is_empty() {
            None
        } else {
            Some(after.strip_prefix(':')?)
        }
    } else if entry.matches(':').count() == 1 {
        entry.split_once(':').map(|(_, port)| port)
    } else {
        None
    };
    match port_text {
        None => Some((entry, None)),
        Some(text) => {
            let port: u16 = text.parse().ok()?;
            let host = &entry[..entry.len() - text.len() - 1];
            Some((host, Some(port)))
        }
    }
}

/// Whether `entry` of an allow-list lets `host` be reached on `port` (see
/// [`EgressPolicy::decide`]). An entry whose port does not parse matches
/// nothing.
pub fn host_port_matches(entry: &str, host: &str, port: u16) -> bool {
    match split_entry_port(entry) {
        Some((pattern, Some(named))) => named == port && host_matches(pattern, host),
        Some((pattern, None)) => DEFAULT_PORTS.contains(&port) && host_matches(pattern, host),
        None => false,
    }
}

/// Normalises a host for matching: lower-case, no port, no IPv6 brackets, no
/// trailing dot. Returns `None` for an empty or malformed host.
pub fn normalize_host(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let host = if let Some(rest) = raw.strip_prefix('[') {
        // `[v6]` or `[v6]:port`
        rest.split_once(']').map(|(inside, _)| inside)?
    } else if raw.matches(':').count() == 1 {
        raw.split_once(':').map_or(raw, |(h, _)| h)
    } else {
        raw
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let valid = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '*'));
    valid.then_some(host)
}

/// An MCP server URL as credentials are matched on it (api-reference §6.3):
/// scheme and host lower-cased, the scheme's default port and a trailing
/// slash removed, no query or fragment. `None` when it is not an http(s) URL.
pub fn normalize_mcp_url(url: &str) -> Option<String> {
    let url = url.trim();
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => return None,
    };
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.contains('@') || authority.is_empty() {
        return None;
    }
    let authority = authority.to_ascii_lowercase();
    let authority = authority.strip_suffix(default_port).unwrap_or(&authority);
    Some(format!(
        "{scheme}://{authority}{}",
        path.trim_end_matches('/')
    ))
}

/// Whether the request URL `target` is at or under the MCP server URL
/// `server` (both as [`normalize_mcp_url`] gives them).
pub fn under_mcp_url(server: &str, target: &str) -> bool {
    target == server
        || target
            .strip_prefix(server)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Whether `host` matches `pattern`: exact (case-insensitive), or
/// `*.example.com`, which matches any subdomain but not `example.com` itself.
pub fn host_matches(pattern: &str, host: &str) -> bool {
    let (Some(pattern), Some(host)) = (normalize_host(pattern), normalize_host(host)) else {
        return false;
    };
    if host.contains('*') {
        return false;
    }
    match pattern.strip_prefix("*.") {
        Some(suffix) => {
            host.len() > suffix.len() + 1
                && host.ends_with(suffix)
                && host[..host.len() - suffix.len()].ends_with('.')
        }
        None => pattern == host,
    }
}

/// A secret value. Its `Debug` never shows the value, so it cannot leak into logs.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretValue(String);

impl SecretValue {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; only the egress substitution should call this.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

/// Which hosts an `environment_variable` credential may be sent to (api-reference §7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CredentialNetworking {
    /// Every host the environment lets through.
    #[default]
    Unrestricted,
    /// Only these hosts (exact, IPv4 or `*.` wildcard).
    Limited {
        /// Hosts that receive the substituted secret.
        #[serde(default)]
        allowed_hosts: Vec<String>,
    },
}

impl CredentialNetworking {
    /// Whether a request to `host` may carry the secret.
    pub fn allows(&self, host: &str) -> bool {
        match self {
            Self::Unrestricted => true,
            Self::Limited { allowed_hosts } => allowed_hosts.iter().any(|p| host_matches(p, host)),
        }
    }
}

/// Where the placeholder is replaced (api-reference §7 `injection_location`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct InjectionLocation {
    /// Substitute in request header values.
    #[serde(default)]
    pub header: bool,
    /// Substitute in the request body.
    #[serde(default)]
    pub body: bool,
}

impl Default for InjectionLocation {
    /// Omitting `injection_location` enables both locations.
    fn default() -> Self {
        Self {
            header: true,
            body: true,
        }
    }
}

/// One placeholder → secret substitution rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRule {
    /// The opaque value processes see, `oma_ph_…`.
    pub placeholder: String,
    /// The real secret sent upstream.
    pub value: SecretValue,
    /// Hosts the secret may be sent to.
    pub networking: CredentialNetworking,
    /// Locations where the placeholder is replaced.
    pub injection: InjectionLocation,
}

/// Errors in a placeholder chosen by a caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaceholderError {
    /// The placeholder does not start with [`PLACEHOLDER_PREFIX`] followed by at least 16 alphanumerics.
    #[error(
        "placeholder must be `{PLACEHOLDER_PREFIX}` followed by 16 to 64 ASCII letters or digits"
    )]
    Malformed,
}

/// Checks that a placeholder is long and distinctive enough that substituting
/// it can never rewrite unrelated text.
pub fn validate_placeholder(placeholder: &str) -> Result<(), PlaceholderError> {
    let tail = placeholder
        .strip_prefix(PLACEHOLDER_PREFIX)
        .ok_or(PlaceholderError::Malformed)?;
    if (16..=64).contains(&tail.len()) && tail.chars().all(|c| c.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(PlaceholderError::Malformed)
    }
}

/// All of a session's substitution rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretInjector {
    rules: Vec<SecretRule>,
}

impl SecretInjector {
    /// Builds an injector from rules.
    pub fn new(rules: Vec<SecretRule>) -> Self {
        Self { rules }
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[SecretRule] {
        &self.rules
    }

    /// Replaces the placeholders allowed for `host` in a header value.
    pub fn header_value<'a>(&self, host: &str, value: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(value);
        for rule in self
            .rules
            .iter()
            .filter(|r| r.injection.header && r.networking.allows(host))
        {
            if out.contains(rule.placeholder.as_str()) {
                out = Cow::Owned(out.replace(rule.placeholder.as_str(), rule.value.expose()));
            }
        }
        out
    }

    /// Replaces the placeholders allowed for `host` in a request body.
    pub fn body<'a>(&self, host: &str, body: &'a [u8]) -> Cow<'a, [u8]> {
        let mut out = Cow::Borrowed(body);
        for rule in self
            .rules
            .iter()
            .filter(|r| r.injection.body && r.networking.allows(host))
        {
            if let Some(replaced) = replace_bytes(
                &out,
                rule.placeholder.as_bytes(),
                rule.value.expose().as_bytes(),
            ) {
                out = Cow::Owned(replaced);
            }
        }
        out
    }

    /// Replaces every secret value in `text` by its placeholder, so text that
    /// may have echoed a secret back (a response, a log line) never shows it.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for rule in &self.rules {
            let secret = rule.value.expose();
            if secret.len() >= MIN_REDACTED_SECRET_LEN && out.contains(secret) {
                out = Cow::Owned(out.replace(secret, &rule.placeholder));
            }
        }
        out
    }

    /// Byte-level [`Self::redact`], for raw response bytes.
    pub fn redact_bytes<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        let mut out = Cow::Borrowed(bytes);
        for rule in &self.rules {
            let secret = rule.value.expose().as_bytes();
            if secret.len() < MIN_REDACTED_SECRET_LEN {
                continue;
            }
            if let Some(replaced) = replace_bytes(&out, secret, rule.placeholder.as_bytes()) {
                out = Cow::Owned(replaced);
            }
        }
        out
    }
}

/// Replaces every occurrence of `needle`; `None` when there is none.
fn replace_bytes(haystack: &[u8], needle: &[u8], with: &[u8]) -> Option<Vec<u8>> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    let mut out: Option<Vec<u8>> = None;
    let mut last = 0;
    let mut i = 0;
    while i + needle.len() <= haystack.len() {
        if &haystack[i..i + needle.len()] == needle {
            let buf = out.get_or_insert_with(|| Vec::with_capacity(haystack.len()));
            buf.extend_from_slice(&haystack[last..i]);
            buf.extend_from_slice(with);
            i += needle.len();
            last = i;
        } else {
            i += 1;
        }
    }
    let mut buf = out?;
    buf.extend_from_slice(&haystack[last..]);
    Some(buf)
}

#[cfg(test)]
mod tests;
