//! A mock MCP server: a real HTTP server on loopback that speaks the Model
//! Context Protocol's Streamable HTTP transport (protocol revision
//! 2025-06-18) at `POST /mcp`, serving tools scripted by the test, and an
//! OAuth 2.0 token endpoint at `POST /oauth/token` that refreshes access
//! tokens (RFC 6749 §6). It records every request, and can require a bearer
//! token, hold tool calls, answer as SSE, paginate its tool list, forget its
//! sessions and announce a changed tool list.

use std::collections::HashSet;
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::MutexGuard;

use anyhow::Result;
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::HeaderValue;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::routing::post;
use serde_json::Map;
use serde_json::Value;
use serde_json::json;

use crate::mock::RecordedRequest;
use crate::mock::json_response;
use crate::mock::serve;
use crate::mock::sse_response;

/// The protocol revisions the mock speaks, the preferred one first.
const PROTOCOL_VERSIONS: [&str; 2] = ["2025-06-18", "2025-03-26"];

/// The prefix of every `nextCursor` the mock hands out.
const CURSOR_PREFIX: &str = "mock-cursor-";

/// How long the access tokens the token endpoint issues claim to live.
const EXPIRES_IN: u64 = 3600;

/// What a tool answers.
#[derive(Debug, Clone)]
pub enum McpToolReply {
    /// A successful result with this one text content block.
    Text(String),
    /// A tool execution error: `isError: true` with this one text content
    /// block (a result, not a JSON-RPC error).
    Error(String),
}

/// A tool the mock serves.
#[derive(Debug, Clone)]
struct Tool {
    name: String,
    description: String,
    input_schema: Value,
    reply: McpToolReply,
}

/// An OAuth client the token endpoint knows.
#[derive(Debug, Clone)]
struct OauthClient {
    client_id: String,
    /// `None` for a public client (`token_endpoint_auth_method: none`).
    client_secret: Option<String>,
    /// The refresh token currently valid for this client.
    refresh_token: String,
    /// The access token every refresh issues.
    new_access_token: String,
}

#[derive(Debug, Default)]
struct Script {
    tools: Vec<Tool>,
    requests: Vec<RecordedRequest>,
    token_requests: Vec<RecordedRequest>,
    calls: Vec<(String, Value)>,
    /// Session ids issued and not forgotten or deleted.
    sessions: HashSet<String>,
    /// How many session ids and refresh tokens were issued.
    issued: u64,
    /// Whether `/mcp` requires a bearer token.
    require_bearer: bool,
    /// The bearer tokens `/mcp` accepts.
    accepted_tokens: Vec<String>,
    clients: Vec<OauthClient>,
    /// Whether requests with an id are answered as `text/event-stream`.
    sse: bool,
    /// The most tools one `tools/list` page holds.
    page_size: Option<usize>,
    /// Whether the next SSE answer first announces a changed tool list.
    announce_list_changed: bool,
    /// Whether SSE answers stay open after their message (until the client
    /// goes away), as a server that streams more may do.
    keep_open: bool,
}

impl Script {
    /// A fresh unique id of visible ASCII, for a session or a refresh token.
    fn fresh_id(&mut self, prefix: &str) -> String {
        self.issued += 1;
        let random = std::collections::hash_map::RandomState::new().hash_one(self.issued);
        format!("{prefix}-{random:016x}-{}", self.issued)
    }

    /// Whether the request carries a bearer token `/mcp` accepts.
    fn authorized(&self, headers: &HeaderMap) -> bool {
        bearer(headers).is_some_and(|token| self.accepted_tokens.iter().any(|t| t == token))
    }
}

/// The state the handlers share with the [`MockMcp`] handle.
#[derive(Debug)]
struct Shared {
    script: Mutex<Script>,
    /// `true` while tool calls are held.
    held: tokio::sync::watch::Sender<bool>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running mock MCP server. Dropping it stops the server (and releases
/// held calls).
#[derive(Debug)]
pub struct MockMcp {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl MockMcp {
    /// Starts the server on a free loopback port, on its own thread.
    pub fn start() -> Result<Self> {
        let (held, _) = tokio::sync::watch::channel(false);
        let shared = Arc::new(Shared {
            script: Mutex::new(Script::default()),
            held,
        });
        let app = Router::new()
            .route("/mcp", post(mcp_post).get(mcp_other).delete(mcp_delete))
            .route("/oauth/token", post(token))
            .with_state(Arc::clone(&shared));
        let (addr, shutdown) = serve(app, "the mock MCP server")?;
        Ok(Self {
            addr,
            shared,
            shutdown: Some(shutdown),
        })
    }

    /// The MCP endpoint, `http://127.0.0.1:<port>/mcp`.
    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    /// The OAuth token endpoint, `http://127.0.0.1:<port>/oauth/token`.
    pub fn token_endpoint(&self) -> String {
        format!("http://{}/oauth/token", self.addr)
    }

    /// Serves a tool (listed in the order added; a tool of the same name is
    /// replaced in place).
    pub fn add_tool(
        &self,
        name: &str,
        description: &str,
        input_schema: Value,
        reply: McpToolReply,
    ) {
        let tool = Tool {
            name: name.to_owned(),
            description: description.to_owned(),
            input_schema,
            reply,
        };
        let mut script = self.shared.lock();
        match script.tools.iter_mut().find(|t| t.name == name) {
            Some(existing) => *existing = tool,
            None => script.tools.push(tool),
        }
    }

    /// From now on, every `/mcp` request must carry `Authorization: Bearer
    /// <token>` with `token` or another accepted token (one the token
    /// endpoint issued, or another `require_bearer` token); otherwise it is
    /// answered with 401, `WWW-Authenticate: Bearer error="invalid_token"`
    /// and a JSON body (and still recorded).
    pub fn require_bearer(&self, token: &str) {
        let mut script = self.shared.lock();
        script.require_bearer = true;
        if !script.accepted_tokens.iter().any(|t| t == token) {
            script.accepted_tokens.push(token.to_owned());
        }
    }

    /// Registers an OAuth client at the token endpoint (replacing one with
    /// the same id): `client_secret` `None` makes it a public client (auth
    /// method `none`), otherwise it authenticates with `client_secret_basic`
    /// or `client_secret_post`. Its grant `refresh_token` is valid; a
    /// refresh issues `new_access_token` (which `/mcp` then accepts) and a
    /// new refresh token that replaces the old one.
    pub fn oauth_client(
        &self,
        client_id: &str,
        client_secret: Option<&str>,
        refresh_token: &str,
        new_access_token: &str,
    ) {
        let client = OauthClient {
            client_id: client_id.to_owned(),
            client_secret: client_secret.map(str::to_owned),
            refresh_token: refresh_token.to_owned(),
            new_access_token: new_access_token.to_owned(),
        };
        let mut script = self.shared.lock();
        script.clients.retain(|c| c.client_id != client_id);
        script.clients.push(client);
    }

    /// Every `/mcp` request received so far, in order: its headers and its
    /// JSON-RPC message as the body (`Value::Null` when the body did not
    /// parse, and for a `GET` or `DELETE`).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Every `/oauth/token` request received so far, in order; the body is
    /// the form's fields as a JSON object of strings (`Value::Null` when the
    /// request was not `application/x-www-form-urlencoded`).
    pub fn token_requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().token_requests.clone()
    }

    /// Every `tools/call` received so far, known tool or not, as (tool
    /// name, `params.arguments` or `Value::Null` when absent), in order,
    /// counted on receipt (before any hold).
    pub fn calls(&self) -> Vec<(String, Value)> {
        self.shared.lock().calls.clone()
    }

    /// From now on, `tools/call` requests are not answered until
    /// [`MockMcp::release_calls`] (an SSE answer sends its headers, and any
    /// announcement, first).
    pub fn hold_calls(&self) {
        self.shared.held.send_replace(true);
    }

    /// Answers every held `tools/call`, and stops holding new ones.
    pub fn release_calls(&self) {
        self.shared.held.send_replace(false);
    }

    /// Whether requests that have an id are answered as `text/event-stream`
    /// (one `event: message` per JSON-RPC message) instead of
    /// `application/json`.
    pub fn answer_with_sse(&self, on: bool) {
        self.shared.lock().sse = on;
    }

    /// From now on SSE answers stay open after their message until the
    /// client goes away (the client must not wait for the stream's end).
    pub fn keep_sse_streams_open(&self, on: bool) {
        self.shared.lock().keep_open = on;
    }

    /// `tools/list` returns at most `n` tools per page, with an opaque
    /// `nextCursor` until the last page (0: no pagination, the default).
    pub fn page_size(&self, n: usize) {
        self.shared.lock().page_size = (n > 0).then_some(n);
    }

    /// Forgets every session id issued so far: requests carrying one are
    /// answered with 404, and the client must initialize again.
    pub fn forget_sessions(&self) {
        self.shared.lock().sessions.clear();
    }

    /// The next SSE-answered response first sends a
    /// `notifications/tools/list_changed` notification event, then the
    /// response event (JSON-answered responses leave it pending).
    pub fn announce_list_changed(&self) {
        self.shared.lock().announce_list_changed = true;
    }
}

impl Drop for MockMcp {
    fn drop(&mut self) {
        // Held calls would keep their connections, and so the server, alive.
        self.shared.held.send_replace(false);
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// The bearer token of an `Authorization` header, if any.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// A header's value, if it is present and visible ASCII.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A JSON-RPC error response.
fn rpc_error(id: &Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// A JSON-RPC success response.
fn rpc_result(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// The 401 for a missing or unaccepted bearer token.
fn invalid_token() -> Response {
    let mut resp = json_response(
        401,
        &json!({"error": "invalid_token", "error_description": "missing or invalid bearer token"}),
    );
    resp.headers_mut().insert(
        "www-authenticate",
        HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    resp
}

/// What to do with one `POST /mcp`, decided under the lock.
enum Step {
    /// Answer with this.
    Done(Response),
    /// Answer with this JSON-RPC message.
    Answer {
        message: Value,
        /// A fresh `Mcp-Session-Id` to send (for `initialize`).
        session: Option<String>,
        /// Answer as SSE.
        sse: bool,
        /// Send a `notifications/tools/list_changed` event first (SSE only).
        announce: bool,
        /// Keep the SSE stream open after the message.
        keep_open: bool,
        /// Wait for held calls to be released first.
        hold: bool,
    },
}

/// `POST /mcp`: one JSON-RPC message.
async fn mcp_post(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: String) -> Response {
    let (message, session, sse, announce, keep_open, hold) = match decide(&shared, &headers, &body)
    {
        Step::Done(resp) => return resp,
        Step::Answer {
            message,
            session,
            sse,
            announce,
            keep_open,
            hold,
        } => (message, session, sse, announce, keep_open, hold),
    };
    let mut resp = if sse {
        sse_answer(&shared, message, announce, keep_open, hold)
    } else {
        if hold {
            let mut released = shared.held.subscribe();
            let _ = released.wait_for(|held| !*held).await;
        }
        json_response(200, &message)
    };
    if let Some(session) = session
        && let Ok(value) = HeaderValue::from_str(&session)
    {
        resp.headers_mut().insert("mcp-session-id", value);
    }
    resp
}

/// An SSE response that sends the announcement (if any) at once, then
/// `message` once held calls are released (if `hold`), and then ends, or
/// stays open until the client goes (if `keep_open`).
fn sse_answer(
    shared: &Shared,
    message: Value,
    announce: bool,
    keep_open: bool,
    hold: bool,
) -> Response {
    let mut released = shared.held.subscribe();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(4);
    tokio::spawn(async move {
        if announce {
            let notification =
                json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"});
            if tx.send(Ok(sse_event(&notification))).await.is_err() {
                return;
            }
        }
        if hold {
            tokio::select! {
                () = tx.closed() => return,
                _ = released.wait_for(|held| !*held) => {}
            }
        }
        if tx.send(Ok(sse_event(&message))).await.is_ok() && keep_open {
            tx.closed().await;
        }
    });
    sse_response(
        rx,
        &[],
        &rpc_error(&Value::Null, -32603, "building the stream failed"),
    )
}

/// One SSE event carrying a JSON-RPC message.
fn sse_event(message: &Value) -> String {
    format!("event: message\ndata: {message}\n\n")
}

/// Records the request and decides the answer (without awaiting).
fn decide(shared: &Shared, headers: &HeaderMap, body: &str) -> Step {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let mut script = shared.lock();
    script.requests.push(RecordedRequest::new(
        "/mcp",
        headers,
        parsed.clone().unwrap_or(Value::Null),
    ));
    if script.require_bearer && !script.authorized(headers) {
        return Step::Done(invalid_token());
    }
    let Some(message) = parsed else {
        return Step::Done(json_response(
            400,
            &rpc_error(&Value::Null, -32700, "Parse error: the body is not JSON"),
        ));
    };
    let Some(object) = message.as_object() else {
        return Step::Done(json_response(
            400,
            &rpc_error(
                &Value::Null,
                -32600,
                "Invalid Request: the body must be one JSON-RPC message (no batches)",
            ),
        ));
    };
    let id = object.get("id").cloned();
    let reply_id = id.clone().unwrap_or(Value::Null);
    let method = object.get("method").and_then(Value::as_str);
    let is_response = method.is_none()
        && id.is_some()
        && (object.contains_key("result") || object.contains_key("error"));
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0")
        || (method.is_none() && !is_response)
    {
        return Step::Done(json_response(
            400,
            &rpc_error(
                &reply_id,
                -32600,
                "Invalid Request: not a JSON-RPC 2.0 message",
            ),
        ));
    }
    let params = object.get("params").cloned().unwrap_or(Value::Null);

    if method == Some("initialize")
        && let Some(id) = &id
    {
        let asked = params["protocolVersion"].as_str();
        let version = asked
            .filter(|v| PROTOCOL_VERSIONS.contains(v))
            .unwrap_or(PROTOCOL_VERSIONS[0]);
        let session = script.fresh_id("mock-session");
        script.sessions.insert(session.clone());
        let result = json!({
            "protocolVersion": version,
            "capabilities": {"tools": {"listChanged": true}},
            "serverInfo": {"name": "mock-mcp", "version": "1.0.0"},
        });
        return answer(&mut script, rpc_result(id, result), Some(session), false);
    }

    if let Some(done) = check_session(&script, headers, &reply_id) {
        return Step::Done(done);
    }
    if let Some(version) = header(headers, "mcp-protocol-version")
        && !PROTOCOL_VERSIONS.contains(&version)
    {
        return Step::Done(json_response(
            400,
            &rpc_error(
                &reply_id,
                -32600,
                &format!("Bad Request: unsupported MCP-Protocol-Version {version:?}"),
            ),
        ));
    }
    // Notifications and responses are accepted without an answer.
    let (Some(id), Some(method)) = (id, method) else {
        return Step::Done(StatusCode::ACCEPTED.into_response());
    };
    match method {
        "ping" => answer(&mut script, rpc_result(&id, json!({})), None, false),
        "tools/list" => {
            let message = match list_tools(&script, &params) {
                Ok(result) => rpc_result(&id, result),
                Err(message) => rpc_error(&id, -32602, &message),
            };
            answer(&mut script, message, None, false)
        }
        "tools/call" => {
            let Some(name) = params["name"].as_str() else {
                let message = rpc_error(&id, -32602, "Invalid params: name is required");
                return answer(&mut script, message, None, false);
            };
            let arguments = params.get("arguments").cloned().unwrap_or(Value::Null);
            script.calls.push((name.to_owned(), arguments));
            let message = match script.tools.iter().find(|t| t.name == name) {
                Some(tool) => {
                    let (text, is_error) = match &tool.reply {
                        McpToolReply::Text(text) => (text, false),
                        McpToolReply::Error(text) => (text, true),
                    };
                    rpc_result(
                        &id,
                        json!({"content": [{"type": "text", "text": text}], "isError": is_error}),
                    )
                }
                None => rpc_error(&id, -32602, &format!("Unknown tool: {name}")),
            };
            let hold = *shared.held.borrow();
            answer(&mut script, message, None, hold)
        }
        other => {
            let message = rpc_error(&id, -32601, &format!("Method not found: {other}"));
            answer(&mut script, message, None, false)
        }
    }
}

/// The answer to a request, in the current answer mode.
fn answer(script: &mut Script, message: Value, session: Option<String>, hold: bool) -> Step {
    let sse = script.sse;
    let announce = sse && std::mem::take(&mut script.announce_list_changed);
    Step::Answer {
        message,
        session,
        sse,
        announce,
        keep_open: script.keep_open,
        hold,
    }
}

/// The error response for a request whose `Mcp-Session-Id` is missing (400)
/// or unknown (404), if it is.
fn check_session(script: &Script, headers: &HeaderMap, id: &Value) -> Option<Response> {
    let Some(session) = headers.get("mcp-session-id") else {
        return Some(json_response(
            400,
            &rpc_error(id, -32600, "Bad Request: Mcp-Session-Id header is required"),
        ));
    };
    let known = session.to_str().is_ok_and(|s| script.sessions.contains(s));
    (!known).then(|| json_response(404, &rpc_error(id, -32001, "Session not found")))
}

/// The `tools/list` result for `params` (its optional `cursor`), or the
/// message of an invalid-params error.
fn list_tools(script: &Script, params: &Value) -> Result<Value, String> {
    let start = match params.get("cursor") {
        None | Some(Value::Null) => 0,
        Some(cursor) => cursor
            .as_str()
            .and_then(|c| c.strip_prefix(CURSOR_PREFIX))
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n <= script.tools.len())
            .ok_or_else(|| format!("Invalid cursor: {cursor}"))?,
    };
    let end = match script.page_size {
        Some(size) => (start + size).min(script.tools.len()),
        None => script.tools.len(),
    };
    let tools: Vec<Value> = script.tools[start..end]
        .iter()
        .map(|t| json!({"name": t.name, "description": t.description, "inputSchema": t.input_schema}))
        .collect();
    let mut result = json!({"tools": tools});
    if end < script.tools.len() {
        result["nextCursor"] = json!(format!("{CURSOR_PREFIX}{end}"));
    }
    Ok(result)
}

/// `DELETE /mcp`: the client ends its session (200), if it is known.
async fn mcp_delete(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let mut script = shared.lock();
    script
        .requests
        .push(RecordedRequest::new("/mcp", &headers, Value::Null));
    if script.require_bearer && !script.authorized(&headers) {
        return invalid_token();
    }
    if let Some(done) = check_session(&script, &headers, &Value::Null) {
        return done;
    }
    if let Some(session) = header(&headers, "mcp-session-id") {
        script.sessions.remove(session);
    }
    StatusCode::OK.into_response()
}

/// `GET /mcp`: the mock offers no server-initiated SSE stream (405, as the
/// transport allows).
async fn mcp_other(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let mut script = shared.lock();
    script
        .requests
        .push(RecordedRequest::new("/mcp", &headers, Value::Null));
    if script.require_bearer && !script.authorized(&headers) {
        return invalid_token();
    }
    let mut resp = StatusCode::METHOD_NOT_ALLOWED.into_response();
    resp.headers_mut()
        .insert("allow", HeaderValue::from_static("POST, DELETE"));
    resp
}

/// An OAuth error response (RFC 6749 §5.2).
fn oauth_error(status: u16, error: &str, description: &str) -> Response {
    let mut resp = json_response(
        status,
        &json!({"error": error, "error_description": description}),
    );
    resp.headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-store"));
    resp
}

/// `invalid_client` (401); with the `WWW-Authenticate` challenge RFC 6749
/// requires when the client authenticated with the `Authorization` header.
fn invalid_client(basic: bool, description: &str) -> Response {
    let mut resp = oauth_error(401, "invalid_client", description);
    if basic {
        resp.headers_mut().insert(
            "www-authenticate",
            HeaderValue::from_static("Basic realm=\"mock-mcp\""),
        );
    }
    resp
}

/// `POST /oauth/token`: the refresh token grant.
async fn token(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: String) -> Response {
    let is_form = header(&headers, "content-type").is_some_and(|ct| {
        ct.split(';').next().is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
    });
    let fields = is_form.then(|| form_decode(&body));
    let recorded = fields.as_ref().map_or(Value::Null, |fields| {
        let object: Map<String, Value> = fields
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        Value::Object(object)
    });
    let mut script = shared.lock();
    script
        .token_requests
        .push(RecordedRequest::new("/oauth/token", &headers, recorded));
    let Some(fields) = fields else {
        return oauth_error(
            400,
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        );
    };
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    for (n, (name, _)) in fields.iter().enumerate() {
        if fields[..n].iter().any(|(k, _)| k == name) {
            return oauth_error(
                400,
                "invalid_request",
                &format!("parameter {name} is repeated"),
            );
        }
    }
    let Some(grant_type) = field("grant_type") else {
        return oauth_error(400, "invalid_request", "grant_type is required");
    };

    // Client authentication: HTTP Basic, or the form's client_id (and
    // client_secret), never both.
    let basic = match header(&headers, "authorization") {
        None => None,
        Some(value) => match basic_credentials(value) {
            Some(credentials) => Some(credentials),
            None => return invalid_client(true, "malformed Authorization header"),
        },
    };
    let (client_id, secret) = match &basic {
        Some((id, secret)) => {
            if field("client_secret").is_some() {
                return oauth_error(
                    400,
                    "invalid_request",
                    "more than one client authentication method",
                );
            }
            if field("client_id").is_some_and(|form_id| form_id != id) {
                return invalid_client(true, "client_id does not match the Authorization header");
            }
            (id.as_str(), Some(secret.as_str()))
        }
        None => {
            let Some(id) = field("client_id") else {
                return invalid_client(false, "no client authentication");
            };
            (id, field("client_secret"))
        }
    };
    let Some(index) = script.clients.iter().position(|c| c.client_id == client_id) else {
        return invalid_client(basic.is_some(), "unknown client");
    };
    let client = &script.clients[index];
    let authenticated = match (&client.client_secret, secret) {
        (Some(expected), Some(given)) => expected == given,
        // A public client authenticates with its id alone.
        (None, None) => basic.is_none(),
        _ => false,
    };
    if !authenticated {
        return invalid_client(basic.is_some(), "client authentication failed");
    }
    if grant_type != "refresh_token" {
        return oauth_error(
            400,
            "unsupported_grant_type",
            &format!("grant_type {grant_type} is not supported"),
        );
    }
    let Some(refresh_token) = field("refresh_token") else {
        return oauth_error(400, "invalid_request", "refresh_token is required");
    };
    if refresh_token != client.refresh_token {
        return oauth_error(400, "invalid_grant", "the refresh token is invalid");
    }

    let access_token = client.new_access_token.clone();
    let new_refresh = script.fresh_id("mock-refresh");
    script.clients[index].refresh_token = new_refresh.clone();
    if !script.accepted_tokens.contains(&access_token) {
        script.accepted_tokens.push(access_token.clone());
    }
    drop(script);
    let mut resp = json_response(
        200,
        &json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": EXPIRES_IN,
            "refresh_token": new_refresh,
        }),
    );
    resp.headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-store"));
    resp.headers_mut()
        .insert("pragma", HeaderValue::from_static("no-cache"));
    resp
}

/// The client id and secret of an `Authorization: Basic` header (each
/// form-urlencoded before base64, RFC 6749 §2.3.1).
fn basic_credentials(value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(base64_decode(encoded.trim())?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((percent_decode(id), percent_decode(secret)))
}

/// Decodes standard base64 (padding optional); `None` if it is not base64.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let digits = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for byte in digits.bytes() {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

/// The fields of an `application/x-www-form-urlencoded` body, decoded, in
/// order.
fn form_decode(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(name), percent_decode(value))
        })
        .collect()
}

/// Decodes one form-urlencoded component: `+` is a space, `%XX` a byte.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push((high * 16 + low) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
