//! A client for remote MCP servers over the Streamable HTTP transport, and
//! the `mcp_oauth` credentials it authenticates with. The platform makes
//! these calls itself (from the session's object, or for a credential's
//! validation), never the sandbox.
//!
//! The protocol's messages and their parsing are [`openma_core::mcp`]; this
//! module sends them: one `POST` per message, a deadline on each, the
//! server's `Mcp-Session-Id` kept and the session initialised again when
//! the server forgets it.

use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::Either;
use futures_util::future::select;
use openma_core::control::vaults::Credential;
use openma_core::control::vaults::CredentialAuth;
use openma_core::control::vaults::CredentialSecrets;
use openma_core::control::vaults::credential_aad;
use openma_core::crypto::Keyring;
use openma_core::crypto::NONCE_LEN;
use openma_core::egress::normalize_mcp_url;
use openma_core::mcp;
use openma_core::mcp::McpTool;
use openma_core::mcp::RpcAnswer;
use openma_core::mcp::RpcError;
use openma_core::wire::Timestamp;
use serde_json::Value;
use worker::Env;
use worker::Fetch;
use worker::Headers;
use worker::Method;
use worker::RequestInit;

use crate::store::Param;

/// How much of an error response body is kept for a report.
const CAPTURE_LIMIT: usize = 2048;

/// The most pages of `tools/list` read from one server.
const MAX_TOOL_PAGES: usize = 20;

/// An HTTP response captured for a report, with secrets scrubbed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCapture {
    /// Status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: String,
    /// The body, scrubbed and cut at [`CAPTURE_LIMIT`] bytes.
    pub body: String,
    /// Whether the body was cut.
    pub truncated: bool,
}

impl HttpCapture {
    /// The wire shape (`status_code`, `content_type`, `body`, `body_truncated`).
    #[must_use]
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "status_code": self.status,
            "content_type": self.content_type,
            "body": self.body,
            "body_truncated": self.truncated,
        })
    }
}

/// Why a call to an MCP server failed. No variant carries a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum McpFailure {
    /// No answer: the server could not be reached, or did not answer in time.
    Connect {
        /// The MCP method that failed.
        method: String,
        /// What happened.
        message: String,
    },
    /// The server refused the credential (401 or 403).
    Auth {
        /// The MCP method that failed.
        method: String,
        /// The server's answer.
        capture: HttpCapture,
    },
    /// The server answered, but not as MCP requires.
    Protocol {
        /// The MCP method that failed.
        method: String,
        /// What was wrong.
        message: String,
        /// The server's answer, when it was an HTTP error.
        capture: Option<HttpCapture>,
    },
}

impl McpFailure {
    /// The MCP method that failed.
    #[must_use]
    pub fn method(&self) -> &str {
        match self {
            Self::Connect { method, .. }
            | Self::Auth { method, .. }
            | Self::Protocol { method, .. } => method,
        }
    }

    /// A one-line description.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::Connect { method, message } => format!("{method}: {message}"),
            Self::Auth { method, capture } => format!(
                "{method}: the server refused the credential (HTTP {})",
                capture.status
            ),
            Self::Protocol {
                method, message, ..
            } => format!("{method}: {message}"),
        }
    }
}

/// One session with one MCP server. Cheap to clone: an owner keeps it
/// between calls and clones it out for each.
#[derive(Clone)]
pub struct McpConnection {
    url: String,
    bearer: Option<String>,
    session_id: Option<String>,
    version: String,
    next_id: u64,
    deadline_ms: u64,
    /// The server said its tool list changed since it was last read.
    pub list_changed: bool,
}

impl std::fmt::Debug for McpConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpConnection")
            .field("url", &self.url)
            .field("bearer", &self.bearer.is_some())
            .field("session_id", &self.session_id.is_some())
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl McpConnection {
    /// Initialises a session with the server at `url`, sending `bearer` as
    /// `Authorization: Bearer` when given; each request waits at most
    /// `deadline_ms`.
    pub async fn open(
        url: &str,
        bearer: Option<String>,
        deadline_ms: u64,
    ) -> Result<Self, McpFailure> {
        let mut connection = Self {
            url: url.to_owned(),
            bearer,
            session_id: None,
            version: mcp::PROTOCOL_VERSION.to_owned(),
            next_id: 0,
            deadline_ms,
            list_changed: false,
        };
        connection.initialize().await?;
        Ok(connection)
    }

    /// Replaces the bearer token (after a refresh).
    pub fn set_bearer(&mut self, bearer: Option<String>) {
        self.bearer = bearer;
    }

    async fn initialize(&mut self) -> Result<(), McpFailure> {
        self.session_id = None;
        self.version = mcp::PROTOCOL_VERSION.to_owned();
        let id = self.id();
        let (answer, session_id) = self
            .post("initialize", &mcp::initialize_request(id), Some(id))
            .await?;
        let result = rpc_result("initialize", answer.ok_or_else(|| no_answer("initialize"))?)?;
        self.version =
            mcp::negotiated_version(&result).map_err(|message| McpFailure::Protocol {
                method: "initialize".to_owned(),
                message,
                capture: None,
            })?;
        self.session_id = session_id;
        self.post(
            "notifications/initialized",
            &mcp::initialized_notification(),
            None,
        )
        .await?;
        Ok(())
    }

    /// Every tool the server lists, following `nextCursor`.
    pub async fn list_tools(&mut self) -> Result<Vec<McpTool>, McpFailure> {
        let mut tools = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_TOOL_PAGES {
            let id = self.id();
            let body = mcp::list_tools_request(id, cursor.as_deref());
            let result = rpc_result("tools/list", self.send("tools/list", &body, id).await?)?;
            let (page, next) =
                mcp::read_tools_page(&result).map_err(|message| McpFailure::Protocol {
                    method: "tools/list".to_owned(),
                    message,
                    capture: None,
                })?;
            tools.extend(page);
            match next {
                Some(next) => cursor = Some(next),
                None => {
                    self.list_changed = false;
                    return Ok(tools);
                }
            }
        }
        Err(McpFailure::Protocol {
            method: "tools/list".to_owned(),
            message: format!("the server listed more than {MAX_TOOL_PAGES} pages of tools"),
            capture: None,
        })
    }

    /// Calls `name` with `arguments`: the `tools/call` result, or the
    /// JSON-RPC error the server answered with.
    pub async fn call_tool(
        &mut self,
        name: &str,
        arguments: &serde_json::Map<String, Value>,
    ) -> Result<Result<Value, RpcError>, McpFailure> {
        let id = self.id();
        let body = mcp::call_tool_request(id, name, arguments);
        Ok(self.send("tools/call", &body, id).await?.outcome)
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Sends a request in the current session; a server that forgot the
    /// session (404) gets a new one and the request once more.
    async fn send(&mut self, method: &str, body: &Value, id: u64) -> Result<RpcAnswer, McpFailure> {
        match self.post(method, body, Some(id)).await {
            Err(McpFailure::Protocol {
                capture: Some(capture),
                ..
            }) if capture.status == 404 && self.session_id.is_some() => {
                self.initialize().await?;
                let (answer, _) = self.post(method, body, Some(id)).await?;
                answer.ok_or_else(|| no_answer(method))
            }
            Err(failure) => Err(failure),
            Ok((answer, _)) => answer.ok_or_else(|| no_answer(method)),
        }
    }

    /// One `POST`: the answer to `id` (none for a notification) and the
    /// session id the server gave.
    async fn post(
        &mut self,
        method: &str,
        body: &Value,
        id: Option<u64>,
    ) -> Result<(Option<RpcAnswer>, Option<String>), McpFailure> {
        let connect = |message: String| McpFailure::Connect {
            method: method.to_owned(),
            message,
        };
        let headers = Headers::new();
        let set = |name: &str, value: &str| {
            headers
                .set(name, value)
                .map_err(|e| connect(format!("building the request: {e}")))
        };
        set("content-type", "application/json")?;
        set("accept", mcp::ACCEPT)?;
        if method != "initialize" {
            set(mcp::PROTOCOL_HEADER, &self.version)?;
        }
        if let Some(session_id) = &self.session_id {
            set(mcp::SESSION_HEADER, session_id)?;
        }
        if let Some(bearer) = &self.bearer {
            set("authorization", &format!("Bearer {bearer}"))?;
        }
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_body(Some(body.to_string().into()));
        let request = worker::Request::new_with_init(&self.url, &init)
            .map_err(|e| connect(format!("building the request: {e}")))?;
        let deadline_ms = self.deadline_ms;
        let Answer {
            status,
            content_type,
            session_id,
            text,
        } = exchange(request, deadline_ms, id)
            .await
            .map_err(|e| connect(e.to_string()))?;
        let capture = || self.capture(status, &content_type, &text);
        if status == 401 || status == 403 {
            return Err(McpFailure::Auth {
                method: method.to_owned(),
                capture: capture(),
            });
        }
        if !(200..300).contains(&status) {
            return Err(McpFailure::Protocol {
                method: method.to_owned(),
                message: format!("the server answered HTTP {status}"),
                capture: Some(capture()),
            });
        }
        let Some(id) = id else {
            return Ok((None, session_id));
        };
        let answer =
            mcp::read_answer(&content_type, &text, id).map_err(|message| McpFailure::Protocol {
                method: method.to_owned(),
                message,
                capture: Some(capture()),
            })?;
        if answer.list_changed {
            self.list_changed = true;
        }
        Ok((Some(answer), session_id))
    }

    fn capture(&self, status: u16, content_type: &str, body: &str) -> HttpCapture {
        capture(
            status,
            content_type,
            body,
            self.bearer.as_deref().into_iter(),
        )
    }
}

/// A response captured for a report: every secret in `secrets` replaced,
/// the body cut at [`CAPTURE_LIMIT`] bytes.
pub fn capture<'a>(
    status: u16,
    content_type: &str,
    body: &str,
    secrets: impl Iterator<Item = &'a str>,
) -> HttpCapture {
    let mut body = body.to_owned();
    for secret in secrets.filter(|s| s.len() >= 4) {
        body = body.replace(secret, "[redacted]");
    }
    let truncated = body.len() > CAPTURE_LIMIT;
    if truncated {
        let mut end = CAPTURE_LIMIT;
        while !body.is_char_boundary(end) {
            end -= 1;
        }
        body.truncate(end);
    }
    HttpCapture {
        status,
        content_type: content_type.to_owned(),
        body,
        truncated,
    }
}

fn no_answer(method: &str) -> McpFailure {
    McpFailure::Protocol {
        method: method.to_owned(),
        message: "the server sent no answer".to_owned(),
        capture: None,
    }
}

fn rpc_result(method: &str, answer: RpcAnswer) -> Result<Value, McpFailure> {
    answer.outcome.map_err(|error| McpFailure::Protocol {
        method: method.to_owned(),
        message: format!("JSON-RPC error {}: {}", error.code, error.message),
        capture: None,
    })
}

/// What an HTTP exchange brought back.
struct Answer {
    status: u16,
    content_type: String,
    /// The MCP session id the server gave, if any.
    session_id: Option<String>,
    text: String,
}

/// Sends `request` and reads its answer, within `deadline_ms`. An SSE body
/// is read only until it holds the answer to request `answer_id`: a server
/// may keep the stream open after it.
async fn exchange(
    request: worker::Request,
    deadline_ms: u64,
    answer_id: Option<u64>,
) -> worker::Result<Answer> {
    within(deadline_ms, async {
        let mut response = Fetch::Request(request).send().await?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .ok()
                .flatten()
                .filter(|value| !value.is_empty())
        };
        let status = response.status_code();
        let content_type = header("content-type").unwrap_or_default();
        let session_id = header(mcp::SESSION_HEADER);
        let streamed = content_type
            .to_ascii_lowercase()
            .starts_with("text/event-stream");
        let text = match answer_id {
            Some(id) if streamed && (200..300).contains(&status) => {
                let mut body = response.stream()?;
                let mut bytes = Vec::new();
                while let Some(chunk) = body.next().await {
                    bytes.extend(chunk?);
                    let text = String::from_utf8_lossy(&bytes);
                    if mcp::read_answer(&content_type, &text, id).is_ok() {
                        break;
                    }
                }
                String::from_utf8_lossy(&bytes).into_owned()
            }
            _ => response.text().await?,
        };
        Ok(Answer {
            status,
            content_type,
            session_id,
            text,
        })
    })
    .await
}

/// `work`, or an error once `deadline_ms` have passed without its answer.
pub async fn within<T>(
    deadline_ms: u64,
    work: impl std::future::Future<Output = worker::Result<T>>,
) -> worker::Result<T> {
    let deadline = worker::Delay::from(Duration::from_millis(deadline_ms));
    match select(std::pin::pin!(work), std::pin::pin!(deadline)).await {
        Either::Left((answer, _)) => answer,
        Either::Right(_) => Err(worker::Error::RustError(format!(
            "no answer within {deadline_ms} ms"
        ))),
    }
}

// ---- credentials ----------------------------------------------------------

/// An MCP server's credential from a session's vaults, opened.
#[derive(Clone)]
pub struct McpCredential {
    /// The credential as stored (non-secret part).
    pub credential: Credential,
    /// Its secrets.
    pub secrets: CredentialSecrets,
    /// The sealed form it was read from (a write-back is conditional on it).
    key_id: String,
    ciphertext: String,
}

impl std::fmt::Debug for McpCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpCredential")
            .field("id", &self.credential.id)
            .field("secrets", &self.secrets)
            .finish_non_exhaustive()
    }
}

impl McpCredential {
    /// The token sent as `Authorization: Bearer`.
    #[must_use]
    pub fn bearer(&self) -> Option<String> {
        self.secrets
            .token
            .clone()
            .or_else(|| self.secrets.access_token.clone())
    }

    /// Whether this is an `mcp_oauth` credential whose access token expired
    /// (or expires within a minute) at `now`.
    #[must_use]
    pub fn expired(&self, now: Timestamp) -> bool {
        match &self.credential.auth {
            CredentialAuth::McpOauth {
                expires_at: Some(expires_at),
                ..
            } => now.plus_ms(60_000) >= *expires_at,
            _ => false,
        }
    }

    /// Whether a refresh can be tried.
    #[must_use]
    pub fn refreshable(&self) -> bool {
        matches!(
            &self.credential.auth,
            CredentialAuth::McpOauth {
                refresh: Some(_),
                ..
            }
        ) && self.secrets.refresh_token.is_some()
    }

    /// Every secret value, for scrubbing captured responses.
    pub fn secret_values(&self) -> impl Iterator<Item = &str> {
        [
            &self.secrets.token,
            &self.secrets.access_token,
            &self.secrets.refresh_token,
            &self.secrets.client_secret,
        ]
        .into_iter()
        .filter_map(|s| s.as_deref())
    }
}

fn keyring(env: &Env) -> Result<Keyring, String> {
    let root =
        crate::setting(env, "PLATFORM_ROOT_SECRET").ok_or("PLATFORM_ROOT_SECRET is not set")?;
    let previous = crate::setting(env, "PLATFORM_ROOT_SECRET_PREVIOUS");
    Keyring::new(&root, previous.as_deref()).map_err(|e| e.to_string())
}

/// The active `static_bearer` or `mcp_oauth` credential for the MCP server
/// at `server_url` (matched normalised) in the vaults `vault_ids`, opened;
/// the first by id when several vaults have one. Errors carry no secret.
pub async fn mcp_credential(
    env: &Env,
    tenant_id: &str,
    vault_ids: &[String],
    server_url: &str,
) -> Result<Option<McpCredential>, String> {
    let Some(target) = normalize_mcp_url(server_url) else {
        return Ok(None);
    };
    let rows = crate::store::vault_credentials::active(env, tenant_id, vault_ids)
        .await
        .map_err(|e| e.to_string())?;
    for row in rows {
        let credential: Credential = serde_json::from_str(&row.snapshot)
            .map_err(|e| format!("credential {}: {e}", row.id))?;
        let url = match &credential.auth {
            CredentialAuth::StaticBearer { mcp_server_url }
            | CredentialAuth::McpOauth { mcp_server_url, .. } => mcp_server_url,
            CredentialAuth::EnvironmentVariable { .. } => continue,
        };
        if normalize_mcp_url(url).as_deref() != Some(target.as_str()) {
            continue;
        }
        let (Some(key_id), Some(ciphertext)) = (row.key_id, row.ciphertext) else {
            continue;
        };
        let ring = keyring(env)?;
        let opened = ring
            .open(&key_id, &ciphertext, &credential_aad(tenant_id, &row.id))
            .map_err(|e| format!("credential {}: {e}", row.id))?;
        let secrets: CredentialSecrets = serde_json::from_slice(&opened.plaintext)
            .map_err(|_| format!("credential {}: sealed secrets are malformed", row.id))?;
        return Ok(Some(McpCredential {
            credential,
            secrets,
            key_id,
            ciphertext,
        }));
    }
    Ok(None)
}

/// How a refresh went, as `mcp_oauth_validate` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshFailure {
    /// The credential has no refresh token or configuration.
    NoRefreshToken,
    /// The token endpoint could not be reached.
    ConnectError(String),
    /// The token endpoint refused (its answer, scrubbed).
    Failed(HttpCapture),
}

impl RefreshFailure {
    /// `refresh.status` of a validation.
    #[must_use]
    pub fn status(&self) -> &'static str {
        match self {
            Self::NoRefreshToken => "no_refresh_token",
            Self::ConnectError(_) => "connect_error",
            Self::Failed(_) => "failed",
        }
    }

    /// A one-line description.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::NoRefreshToken => "the credential has no refresh token".to_owned(),
            Self::ConnectError(message) => {
                format!("the token endpoint could not be reached: {message}")
            }
            Self::Failed(capture) => format!(
                "the token endpoint refused the refresh (HTTP {})",
                capture.status
            ),
        }
    }
}

/// Refreshes an `mcp_oauth` credential's access token with the
/// `refresh_token` grant and stores the new tokens sealed, unless the
/// credential changed meanwhile (then the stored one wins and is returned).
pub async fn refresh(
    env: &Env,
    tenant_id: &str,
    credential: &McpCredential,
    now: Timestamp,
    deadline_ms: u64,
) -> Result<McpCredential, RefreshFailure> {
    let refreshed = attempt_refresh(env, tenant_id, credential, now, deadline_ms).await;
    if let Err(failure) = &refreshed
        && !matches!(failure, RefreshFailure::NoRefreshToken)
    {
        // Subscribers hear of it (`vault_credential.refresh_failed`), once
        // per failed attempt.
        let id = &credential.credential.id;
        crate::webhooks::notify(
            env,
            tenant_id,
            "vault_credential.refresh_failed",
            id,
            serde_json::json!({"vault_id": credential.credential.vault_id}),
            &format!("vault_credential.refresh_failed:{id}:{}", now.0),
        )
        .await;
    }
    refreshed
}

/// [`refresh`] without the notification.
async fn attempt_refresh(
    env: &Env,
    tenant_id: &str,
    credential: &McpCredential,
    now: Timestamp,
    deadline_ms: u64,
) -> Result<McpCredential, RefreshFailure> {
    let CredentialAuth::McpOauth {
        refresh: Some(config),
        ..
    } = &credential.credential.auth
    else {
        return Err(RefreshFailure::NoRefreshToken);
    };
    let Some(refresh_token) = credential.secrets.refresh_token.as_deref() else {
        return Err(RefreshFailure::NoRefreshToken);
    };
    let grant = mcp::refresh_request(
        config,
        refresh_token,
        credential.secrets.client_secret.as_deref(),
    );
    let connect = |e: String| RefreshFailure::ConnectError(e);
    let headers = Headers::new();
    let set =
        |name: &str, value: &str| headers.set(name, value).map_err(|e| connect(e.to_string()));
    set("content-type", "application/x-www-form-urlencoded")?;
    set("accept", "application/json")?;
    if let Some(authorization) = &grant.authorization {
        set("authorization", authorization)?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(grant.body.into()));
    let request = worker::Request::new_with_init(&config.token_endpoint, &init)
        .map_err(|e| connect(e.to_string()))?;
    let Answer {
        status,
        content_type,
        text,
        ..
    } = exchange(request, deadline_ms, None)
        .await
        .map_err(|e| connect(e.to_string()))?;
    let refused = || {
        RefreshFailure::Failed(capture(
            status,
            &content_type,
            &text,
            credential.secret_values(),
        ))
    };
    if !(200..300).contains(&status) {
        return Err(refused());
    }
    let granted = mcp::read_token_grant(&text).map_err(|_| refused())?;
    let mut fresh = credential.clone();
    fresh.secrets.access_token = Some(granted.access_token);
    if let Some(rotated) = granted.refresh_token {
        fresh.secrets.refresh_token = Some(rotated);
    }
    if let CredentialAuth::McpOauth { expires_at, .. } = &mut fresh.credential.auth {
        *expires_at = granted
            .expires_in
            .map(|seconds| now.plus_ms(seconds.saturating_mul(1000)));
    }
    fresh.credential.updated_at = now;
    store_refreshed(env, tenant_id, credential, &mut fresh)
        .await
        .map_err(RefreshFailure::ConnectError)?;
    Ok(fresh)
}

/// Seals `fresh`'s secrets and writes them over `old`'s, only if the row
/// still holds `old`'s ciphertext (a concurrent update or refresh wins).
async fn store_refreshed(
    env: &Env,
    tenant_id: &str,
    old: &McpCredential,
    fresh: &mut McpCredential,
) -> Result<(), String> {
    let ring = keyring(env)?;
    let mut nonce = [0u8; NONCE_LEN];
    crate::ids::random_bytes(&mut nonce)?;
    let plaintext = serde_json::to_vec(&fresh.secrets).map_err(|e| e.to_string())?;
    let id = &fresh.credential.id;
    let sealed = ring
        .seal(&plaintext, &credential_aad(tenant_id, id), nonce)
        .map_err(|e| e.to_string())?;
    let snapshot = serde_json::to_string(&fresh.credential).map_err(|e| e.to_string())?;
    crate::store::run(
        env,
        "UPDATE vault_credentials SET snapshot = ?4, key_id = ?5, ciphertext = ?6
         WHERE tenant_id = ?1 AND id = ?2 AND ciphertext = ?3 AND archived_at IS NULL",
        &[
            Param::from(tenant_id),
            Param::from(id.as_str()),
            Param::from(old.ciphertext.as_str()),
            Param::from(snapshot.as_str()),
            Param::from(sealed.key_id.as_str()),
            Param::from(sealed.ciphertext.as_str()),
        ],
    )
    .await
    .map_err(|e| e.to_string())?;
    fresh.key_id = sealed.key_id;
    fresh.ciphertext = sealed.ciphertext;
    Ok(())
}
