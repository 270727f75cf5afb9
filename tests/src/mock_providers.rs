//! Fake Slack, Linear and GitHub APIs for the integrations worker: one real
//! HTTP server on loopback that answers each provider under its own path
//! prefix (`/slack`, `/linear`, `/github`) the way the provider does,
//! records every call, and plays answers scripted by the test (rate limits,
//! outages, permanent errors). Alongside it, pure builders for the inbound
//! webhook deliveries, signed exactly as each provider signs them.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::MutexGuard;
use std::time::Duration;
use std::time::Instant;
use std::time::SystemTime;
use std::time::UNIX_EPOCH;

use anyhow::Result;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::HeaderName;
use axum::http::HeaderValue;
use axum::http::Method;
use axum::http::Uri;
use axum::response::Response;
use serde_json::Value;
use serde_json::json;

use crate::mock::json_response;
use crate::mock::serve;

/// The providers the fake serves, each under `/{name}`.
const PROVIDERS: [&str; 3] = ["slack", "linear", "github"];

/// The seconds part of the first `ts` the fake Slack hands out
/// (2025-01-01T00:00:00Z).
const SLACK_TS_BASE: u64 = 1_735_689_600;

/// The id of the first comment the fake GitHub creates.
const GITHUB_FIRST_COMMENT_ID: u64 = 1_000_001;

/// The `installation.id` of every GitHub delivery built here.
pub const GITHUB_INSTALLATION_ID: u64 = 99;

/// The `api_app_id` of every Slack delivery built here.
pub const SLACK_APP_ID: &str = "A0APP";

/// The `bot_id` of the bot's own Slack messages built here.
pub const SLACK_BOT_ID: &str = "B0BOT";

/// The `webhookId` of every Linear delivery built here.
pub const LINEAR_WEBHOOK_ID: &str = "webhook-test";

/// The `appUserId` of every Linear delivery built here.
pub const LINEAR_APP_USER_ID: &str = "app-user-test";

/// One API call the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// `slack`, `linear` or `github` (`unknown` for a path under none of
    /// them).
    pub provider: String,
    /// The HTTP method, e.g. `POST`.
    pub method: String,
    /// The path below the provider's prefix, with the query
    /// (e.g. `/chat.postMessage`).
    pub path: String,
    /// Header names (lower case) and values; repeated headers are joined
    /// with `, `.
    pub headers: BTreeMap<String, String>,
    /// The JSON body (`Value::Null` if it did not parse).
    pub body: Value,
    /// The status the fake answered with.
    pub status: u16,
    /// When the call arrived.
    pub at: Instant,
}

impl Recorded {
    /// The token of an `Authorization: Bearer <token>` header, if any.
    pub fn bearer(&self) -> Option<String> {
        let value = self.headers.get("authorization")?;
        let (scheme, token) = value.trim().split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_owned())
    }
}

/// An answer scripted by the test for a provider's next call.
#[derive(Debug, Clone)]
pub struct Scripted {
    /// HTTP status.
    pub status: u16,
    /// Extra response headers.
    pub headers: Vec<(String, String)>,
    /// The JSON body.
    pub body: Value,
}

impl Scripted {
    /// The provider's rate-limit answer, asking to retry after
    /// `retry_after_s` seconds: Slack 429 `ratelimited`, GitHub 403
    /// secondary rate limit, Linear 400 with a `RATELIMITED` GraphQL error
    /// (any other provider: 429).
    pub fn rate_limited(provider: &str, retry_after_s: u64) -> Self {
        let (status, body) = match provider {
            "slack" => (429, json!({"ok": false, "error": "ratelimited"})),
            "github" => (
                403,
                json!({
                    "message": "You have exceeded a secondary rate limit",
                    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
                }),
            ),
            "linear" => (
                400,
                json!({"errors": [{
                    "message": "Rate limit exceeded",
                    "extensions": {"code": "RATELIMITED"},
                }]}),
            ),
            _ => (429, json!({"error": "ratelimited"})),
        };
        Self {
            status,
            headers: vec![("retry-after".to_owned(), retry_after_s.to_string())],
            body,
        }
    }

    /// A transient outage: 503 `{"error":"unavailable"}`.
    pub fn server_error() -> Self {
        Self {
            status: 503,
            headers: Vec::new(),
            body: json!({"error": "unavailable"}),
        }
    }

    /// An error retrying cannot fix: Slack 200 `channel_not_found`, GitHub
    /// 404, Linear 200 with an `INVALID_INPUT` GraphQL error (any other
    /// provider: 404).
    pub fn permanent(provider: &str) -> Self {
        let (status, body) = match provider {
            "slack" => (200, json!({"ok": false, "error": "channel_not_found"})),
            "linear" => (
                200,
                json!({"errors": [{
                    "message": "Entity not found: AgentSession",
                    "extensions": {"code": "INVALID_INPUT"},
                }]}),
            ),
            _ => (404, json!({"message": "Not Found"})),
        };
        Self {
            status,
            headers: Vec::new(),
            body,
        }
    }
}

#[derive(Debug, Default)]
struct Script {
    requests: Vec<Recorded>,
    /// Scripted answers not yet used, per provider.
    scripted: HashMap<String, VecDeque<Scripted>>,
    /// Messages the fake Slack posted.
    slack_messages: u64,
    /// Comments the fake GitHub created.
    github_comments: u64,
    /// Activities the fake Linear created.
    linear_activities: u64,
    /// Keys the hash behind the UUIDs the fake mints, so they differ between
    /// runs.
    ids: std::collections::hash_map::RandomState,
}

#[derive(Debug, Default)]
struct Shared {
    script: Mutex<Script>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running fake of the Slack, Linear and GitHub APIs. Dropping it stops
/// the server.
#[derive(Debug)]
pub struct FakeProviders {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl FakeProviders {
    /// Starts the server on a free loopback port, on its own thread.
    pub fn start() -> Result<Self> {
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let (addr, shutdown) = serve(app, "the fake provider APIs")?;
        Ok(Self {
            addr,
            shared,
            shutdown: Some(shutdown),
        })
    }

    /// The value for `SLACK_API_BASE`: `http://127.0.0.1:<port>/slack`
    /// (so `chat.postMessage` is at `{slack_base}/chat.postMessage`).
    pub fn slack_base(&self) -> String {
        format!("http://{}/slack", self.addr)
    }

    /// The value for `LINEAR_API_BASE`: `http://127.0.0.1:<port>/linear`
    /// (GraphQL at `{linear_base}/graphql`).
    pub fn linear_base(&self) -> String {
        format!("http://{}/linear", self.addr)
    }

    /// The value for `GITHUB_API_BASE`: `http://127.0.0.1:<port>/github`.
    pub fn github_base(&self) -> String {
        format!("http://{}/github", self.addr)
    }

    /// Every API call received so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().requests.clone()
    }

    /// The calls to one provider (`slack`, `linear` or `github`), in order.
    pub fn requests_for(&self, provider: &str) -> Vec<Recorded> {
        self.shared
            .lock()
            .requests
            .iter()
            .filter(|r| r.provider == provider)
            .cloned()
            .collect()
    }

    /// Queues an answer for the provider's next call (whatever its path);
    /// once the queue is used up, the provider answers as usual again.
    pub fn push(&self, provider: &str, answer: Scripted) {
        self.shared
            .lock()
            .scripted
            .entry(provider.to_owned())
            .or_default()
            .push_back(answer);
    }

    /// Waits (polling every 20 ms) until the provider has received at least
    /// `count` calls, and returns them all; fails after `timeout`, naming
    /// the calls it saw.
    pub async fn wait_for(
        &self,
        provider: &str,
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<Recorded>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let seen = self.requests_for(provider);
            if seen.len() >= count {
                return Ok(seen);
            }
            if tokio::time::Instant::now() >= deadline {
                let calls: Vec<String> = seen
                    .iter()
                    .map(|r| format!("{} {} -> {}", r.method, r.path, r.status))
                    .collect();
                let others = self.requests().len().saturating_sub(seen.len());
                anyhow::bail!(
                    "the fake {provider} API received {} of the {count} calls expected within \
                     {timeout:?}: [{}] (and {others} calls to other providers)",
                    seen.len(),
                    calls.join(", "),
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for FakeProviders {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// The provider a request path is for, and the path below its prefix.
fn split_provider(path_and_query: &str) -> (&'static str, String) {
    for provider in PROVIDERS {
        let rest = path_and_query
            .strip_prefix('/')
            .and_then(|p| p.strip_prefix(provider));
        if let Some(rest) = rest
            && (rest.is_empty() || rest.starts_with('/') || rest.starts_with('?'))
        {
            let rest = if rest.starts_with('/') {
                rest.to_owned()
            } else {
                format!("/{rest}")
            };
            return (provider, rest);
        }
    }
    ("unknown", path_and_query.to_owned())
}

/// Every call, whatever the provider: decides the answer under the lock,
/// records the call with its status, and answers.
async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let at = Instant::now();
    let full = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned());
    let (provider, path) = split_provider(&full);
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut recorded_headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in &headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        recorded_headers
            .entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }

    let mut script = shared.lock();
    let answer = decide(&mut script, provider, &method, &path, &headers, &parsed);
    script.requests.push(Recorded {
        provider: provider.to_owned(),
        method: method.as_str().to_owned(),
        path,
        headers: recorded_headers,
        body: parsed,
        status: answer.status,
        at,
    });
    drop(script);

    let mut resp = json_response(answer.status, &answer.body);
    for (name, value) in &answer.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            resp.headers_mut().append(name, value);
        }
    }
    resp
}

/// The answer to one call: GitHub's User-Agent rule first (it consumes no
/// scripted answer), then the provider's next scripted answer, then the
/// provider's usual answer.
fn decide(
    script: &mut Script,
    provider: &str,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &Value,
) -> Scripted {
    if provider == "github" && !headers.contains_key("user-agent") {
        return answer(
            403,
            json!({"message": "Request forbidden by administrative rules. Please make sure your request has a User-Agent header"}),
        );
    }
    if let Some(scripted) = script
        .scripted
        .get_mut(provider)
        .and_then(VecDeque::pop_front)
    {
        return scripted;
    }
    let route = path.split('?').next().unwrap_or_default();
    match provider {
        "slack" => slack(script, method, route, body),
        "linear" => linear(script, method, route, body),
        "github" => github(script, method, route, body),
        _ => not_found(),
    }
}

fn answer(status: u16, body: Value) -> Scripted {
    Scripted {
        status,
        headers: Vec::new(),
        body,
    }
}

fn not_found() -> Scripted {
    answer(404, json!({"message": "Not Found"}))
}

/// Slack's Web API: `chat.postMessage` posts, other methods are unknown.
fn slack(script: &mut Script, method: &Method, route: &str, body: &Value) -> Scripted {
    if method != Method::POST {
        return not_found();
    }
    if route != "/chat.postMessage" {
        return answer(200, json!({"ok": false, "error": "unknown_method"}));
    }
    script.slack_messages += 1;
    let micros = script.slack_messages * 100;
    let ts = format!(
        "{}.{:06}",
        SLACK_TS_BASE + micros / 1_000_000,
        micros % 1_000_000
    );
    let mut message = json!({
        "type": "message",
        "text": body["text"],
        "ts": ts,
        "bot_id": SLACK_BOT_ID,
    });
    if let Some(thread_ts) = body.get("thread_ts") {
        message["thread_ts"] = thread_ts.clone();
    }
    answer(
        200,
        json!({"ok": true, "channel": body["channel"], "ts": ts, "message": message}),
    )
}

/// Linear's GraphQL endpoint: every operation creates an agent activity,
/// with the client's `variables.input.id` when it chose one.
fn linear(script: &mut Script, method: &Method, route: &str, body: &Value) -> Scripted {
    if method != Method::POST || route != "/graphql" {
        return not_found();
    }
    script.linear_activities += 1;
    let id = match body["variables"]["input"]["id"].as_str() {
        Some(id) => id.to_owned(),
        None => uuid_v4(&script.ids, script.linear_activities),
    };
    answer(
        200,
        json!({"data": {"agentActivityCreate": {"success": true, "agentActivity": {"id": id}}}}),
    )
}

/// GitHub's REST API: creating an issue comment.
fn github(script: &mut Script, method: &Method, route: &str, body: &Value) -> Scripted {
    let segments: Vec<&str> = route.split('/').collect();
    let ["", "repos", owner, repo, "issues", number, "comments"] = segments.as_slice() else {
        return not_found();
    };
    if method != Method::POST || number.parse::<u64>().is_err() {
        return not_found();
    }
    let id = GITHUB_FIRST_COMMENT_ID + script.github_comments;
    script.github_comments += 1;
    answer(
        201,
        json!({
            "id": id,
            "node_id": format!("IC_mock{id}"),
            "html_url": format!("https://github.com/{owner}/{repo}/issues/{number}#issuecomment-{id}"),
            "body": body["body"],
        }),
    )
}

/// A random-looking version 4 UUID, unique within the run for each `n`.
fn uuid_v4(keys: &std::collections::hash_map::RandomState, n: u64) -> String {
    let high = (keys.hash_one(n) & 0xffff_ffff_ffff_0fff) | 0x4000;
    let low = (keys.hash_one(!n) & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        high & 0xffff,
        low >> 48,
        low & 0xffff_ffff_ffff,
    )
}

/// An inbound webhook delivery: the exact body bytes and the headers to
/// send with them.
#[derive(Debug, Clone)]
pub struct SignedDelivery {
    /// The raw body.
    pub body: String,
    /// The headers, including `content-type: application/json` and the
    /// signature.
    pub headers: Vec<(String, String)>,
}

impl SignedDelivery {
    /// The value of a header (name compared without case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Lower-case hex HMAC-SHA256 of `message` under `key`.
fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    use hmac::KeyInit as _;
    use hmac::Mac as _;
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    match hmac::Hmac::<sha2::Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(message);
            mac.finalize()
                .into_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        }
        Err(_) => String::new(),
    }
}

fn delivery(body: &str, headers: &[(&str, String)]) -> SignedDelivery {
    let mut all = vec![("content-type".to_owned(), "application/json".to_owned())];
    all.extend(headers.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    SignedDelivery {
        body: body.to_owned(),
        headers: all,
    }
}

/// A Slack Events API delivery of `body`, signed with the signing secret
/// for `timestamp_s` (`X-Slack-Request-Timestamp`, `X-Slack-Signature`).
pub fn slack_delivery(secret: &str, body: &str, timestamp_s: i64) -> SignedDelivery {
    let base = format!("v0:{timestamp_s}:{body}");
    let signature = hmac_sha256_hex(secret.as_bytes(), base.as_bytes());
    delivery(
        body,
        &[
            ("X-Slack-Request-Timestamp", timestamp_s.to_string()),
            ("X-Slack-Signature", format!("v0={signature}")),
        ],
    )
}

/// A Linear webhook delivery of an `AgentSessionEvent` body
/// (`Linear-Signature`, `Linear-Delivery`, `Linear-Event`).
pub fn linear_delivery(secret: &str, body: &str, delivery_id: &str) -> SignedDelivery {
    let signature = hmac_sha256_hex(secret.as_bytes(), body.as_bytes());
    delivery(
        body,
        &[
            ("Linear-Signature", signature),
            ("Linear-Delivery", delivery_id.to_owned()),
            ("Linear-Event", "AgentSessionEvent".to_owned()),
        ],
    )
}

/// A GitHub App webhook delivery of `event` (`X-Hub-Signature-256`,
/// `X-GitHub-Event`, `X-GitHub-Delivery`, a Hookshot `User-Agent`).
pub fn github_delivery(secret: &str, body: &str, event: &str, delivery_id: &str) -> SignedDelivery {
    let signature = hmac_sha256_hex(secret.as_bytes(), body.as_bytes());
    delivery(
        body,
        &[
            ("X-Hub-Signature-256", format!("sha256={signature}")),
            ("X-GitHub-Event", event.to_owned()),
            ("X-GitHub-Delivery", delivery_id.to_owned()),
            ("User-Agent", "GitHub-Hookshot/test".to_owned()),
        ],
    )
}

/// The seconds part of a Slack `ts` (now if it has none).
fn ts_seconds(ts: &str) -> i64 {
    ts.split('.')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(now_s)
}

/// A Slack `event_callback` envelope around `event`.
fn slack_event_callback(
    event_id: &str,
    team: &str,
    bot_user: &str,
    ts: &str,
    event: Value,
) -> String {
    json!({
        "token": "test-verification-token",
        "team_id": team,
        "api_app_id": SLACK_APP_ID,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": ts_seconds(ts),
        "event": event,
        "authorizations": [{
            "enterprise_id": null,
            "team_id": team,
            "user_id": bot_user,
            "is_bot": true,
            "is_enterprise_install": false,
        }],
        "is_ext_shared_channel": false,
        "event_context": format!("4-{event_id}"),
    })
    .to_string()
}

/// An `app_mention` of the bot by `user` in `channel` (in the thread
/// `thread_ts` if given): the text is `<@{bot_user}> {text}`.
#[expect(
    clippy::too_many_arguments,
    reason = "the builders take the event's fields positionally, as the tests name them"
)]
pub fn slack_mention(
    event_id: &str,
    team: &str,
    channel: &str,
    ts: &str,
    thread_ts: Option<&str>,
    bot_user: &str,
    user: &str,
    text: &str,
) -> String {
    let mut event = json!({
        "type": "app_mention",
        "user": user,
        "text": format!("<@{bot_user}> {text}"),
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
        "team": team,
    });
    if let Some(thread_ts) = thread_ts {
        event["thread_ts"] = json!(thread_ts);
    }
    slack_event_callback(event_id, team, bot_user, ts, event)
}

/// A plain message by `user` in the thread `thread_ts` of a channel (no
/// mention).
#[expect(
    clippy::too_many_arguments,
    reason = "the builders take the event's fields positionally, as the tests name them"
)]
pub fn slack_thread_message(
    event_id: &str,
    team: &str,
    channel: &str,
    ts: &str,
    thread_ts: &str,
    bot_user: &str,
    user: &str,
    text: &str,
) -> String {
    let event = json!({
        "type": "message",
        "channel_type": "channel",
        "user": user,
        "text": text,
        "ts": ts,
        "thread_ts": thread_ts,
        "channel": channel,
        "event_ts": ts,
        "team": team,
    });
    slack_event_callback(event_id, team, bot_user, ts, event)
}

/// A message the bot itself posted in the thread `thread_ts` (its `user`
/// is `bot_user`, with `bot_id` [`SLACK_BOT_ID`]), as Slack echoes it back.
pub fn slack_bot_message(
    event_id: &str,
    team: &str,
    channel: &str,
    ts: &str,
    thread_ts: &str,
    bot_user: &str,
    text: &str,
) -> String {
    let event = json!({
        "type": "message",
        "channel_type": "channel",
        "user": bot_user,
        "bot_id": SLACK_BOT_ID,
        "app_id": SLACK_APP_ID,
        "text": text,
        "ts": ts,
        "thread_ts": thread_ts,
        "channel": channel,
        "event_ts": ts,
        "team": team,
    });
    slack_event_callback(event_id, team, bot_user, ts, event)
}

/// The `url_verification` Slack sends when the Request URL is saved, with
/// its fields in Slack's order (`token`, `challenge`, `type`).
pub fn slack_url_verification(challenge: &str) -> String {
    format!(
        r#"{{"token":"x","challenge":{},"type":"url_verification"}}"#,
        Value::from(challenge)
    )
}

/// The agent session part of a Linear delivery: its issue is derived from
/// the session id.
fn linear_session(agent_session_id: &str, status: &str) -> Value {
    json!({
        "id": agent_session_id,
        "status": status,
        "appUserId": LINEAR_APP_USER_ID,
        "issue": {
            "id": format!("issue-{agent_session_id}"),
            "identifier": "ENG-1",
            "title": "Test issue",
            "url": "https://linear.app/test/issue/ENG-1/test-issue",
        },
        "url": format!("https://linear.app/test/issue/ENG-1/test-issue#agent-session-{agent_session_id}"),
    })
}

/// The fields every Linear `AgentSessionEvent` carries.
fn linear_event(organization: &str, action: &str, timestamp_ms: i64) -> Value {
    json!({
        "type": "AgentSessionEvent",
        "action": action,
        "createdAt": rfc3339_ms(timestamp_ms),
        "organizationId": organization,
        "oauthClientId": "oauth-client-test",
        "appUserId": LINEAR_APP_USER_ID,
        "webhookId": LINEAR_WEBHOOK_ID,
        "webhookTimestamp": timestamp_ms,
    })
}

/// A new Linear agent session (`action: created`), with `prompt_context` as
/// its first prompt.
pub fn linear_created(
    organization: &str,
    agent_session_id: &str,
    prompt_context: &str,
    timestamp_ms: i64,
) -> String {
    let mut payload = linear_event(organization, "created", timestamp_ms);
    payload["agentSession"] = linear_session(agent_session_id, "pending");
    payload["promptContext"] = json!(prompt_context);
    payload.to_string()
}

/// A user's follow-up in a Linear agent session (`action: prompted`): the
/// activity `activity_id` with `content {type: prompt, body}`.
pub fn linear_prompted(
    organization: &str,
    agent_session_id: &str,
    activity_id: &str,
    body: &str,
    timestamp_ms: i64,
) -> String {
    let mut payload = linear_event(organization, "prompted", timestamp_ms);
    payload["agentSession"] = linear_session(agent_session_id, "active");
    payload["agentActivity"] = json!({
        "id": activity_id,
        "agentSessionId": agent_session_id,
        "content": {"type": "prompt", "body": body},
    });
    payload.to_string()
}

/// A stable id for a repository name (FNV-1a, kept in the safe-integer
/// range).
fn repository_id(full_name: &str) -> u64 {
    let hash = full_name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    hash % 1_000_000_000 + 1
}

/// A new comment by `author` on issue `issue_number` of `repository`
/// (`owner/name`): an `issue_comment` event with `action: created`.
pub fn github_comment(
    repository: &str,
    issue_number: u64,
    comment_id: u64,
    author: &str,
    body: &str,
) -> String {
    let (owner, name) = repository.split_once('/').unwrap_or(("", repository));
    json!({
        "action": "created",
        "issue": {
            "number": issue_number,
            "title": "Test issue",
            "state": "open",
            "html_url": format!("https://github.com/{repository}/issues/{issue_number}"),
            "user": {"login": author, "type": "User"},
        },
        "comment": {
            "id": comment_id,
            "body": body,
            "html_url": format!("https://github.com/{repository}/issues/{issue_number}#issuecomment-{comment_id}"),
            "user": {"login": author, "type": "User"},
        },
        "repository": {
            "id": repository_id(repository),
            "full_name": repository,
            "name": name,
            "owner": {"login": owner},
        },
        "sender": {"login": author, "type": "User"},
        "installation": {"id": GITHUB_INSTALLATION_ID},
    })
    .to_string()
}

/// The `ping` GitHub sends when a webhook is set up.
pub fn github_ping() -> String {
    json!({
        "zen": "Keep it logically awesome.",
        "hook_id": 1,
        "hook": {"type": "App", "id": 1, "active": true, "events": ["issue_comment", "issues"]},
        "installation": {"id": GITHUB_INSTALLATION_ID},
    })
    .to_string()
}

fn since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// The current Unix time in seconds.
pub fn now_s() -> i64 {
    i64::try_from(since_epoch().as_secs()).unwrap_or(i64::MAX)
}

/// The current Unix time in milliseconds.
pub fn now_ms() -> i64 {
    i64::try_from(since_epoch().as_millis()).unwrap_or(i64::MAX)
}

/// `ms` since the Unix epoch as RFC 3339 UTC with milliseconds.
fn rfc3339_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    // Days to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60,
        ms.rem_euclid(1000),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINEAR_SECRET: &str = "lin_wh_test_secret_0123456789";
    const LINEAR_BODY: &str = r#"{"action":"created","type":"AgentSessionEvent","organizationId":"org_1","webhookTimestamp":1735689600000,"agentSession":{"id":"ses_1"}}"#;
    const SLACK_SECRET: &str = "slack_signing_secret_test_0123";
    const SLACK_BODY: &str = r#"{"token":"x","team_id":"T1","api_app_id":"A1","type":"event_callback","event_id":"Ev1","event_time":1735689600,"event":{"type":"app_mention","user":"U1","text":"<@U0BOT> hi","ts":"1735689600.000100","channel":"C1"}}"#;
    const SLACK_CHALLENGE: &str = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P";
    const SLACK_VERIFICATION_BODY: &str = r#"{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    const GITHUB_SECRET: &str = "gh_webhook_secret_test_0123";
    const GITHUB_BODY: &str = r#"{"action":"created","issue":{"number":7},"comment":{"id":42,"body":"@agent please fix"},"repository":{"full_name":"acme/app"},"installation":{"id":99}}"#;

    #[test]
    fn linear_delivery_reproduces_the_reference_vector() {
        assert_eq!(LINEAR_BODY.len(), 135);
        let d = linear_delivery(LINEAR_SECRET, LINEAR_BODY, "d-1");
        assert_eq!(d.body, LINEAR_BODY);
        assert_eq!(
            d.header("linear-signature"),
            Some("eaae7e826f222e8003d9af4521cf8eca76a434fe27fc79ce0a4b080a9a809882")
        );
        assert_eq!(d.header("Linear-Delivery"), Some("d-1"));
        assert_eq!(d.header("Linear-Event"), Some("AgentSessionEvent"));
        assert_eq!(d.header("content-type"), Some("application/json"));
    }

    #[test]
    fn slack_delivery_reproduces_the_reference_vectors() {
        assert_eq!(SLACK_BODY.len(), 215);
        let d = slack_delivery(SLACK_SECRET, SLACK_BODY, 1_735_689_600);
        assert_eq!(d.body, SLACK_BODY);
        assert_eq!(d.header("x-slack-request-timestamp"), Some("1735689600"));
        assert_eq!(
            d.header("x-slack-signature"),
            Some("v0=0cf8f13bd08324797ad65586ad02b284d59761016d0d923196da8bbd118e6111")
        );
        assert_eq!(d.header("content-type"), Some("application/json"));

        let body = slack_url_verification(SLACK_CHALLENGE);
        assert_eq!(body, SLACK_VERIFICATION_BODY);
        let d = slack_delivery(SLACK_SECRET, &body, 1_735_689_600);
        assert_eq!(
            d.header("x-slack-signature"),
            Some("v0=9802add52fc426774b8006d30ecc68762c25b9c072f7eacedc22bb60ca7c539f")
        );
    }

    #[test]
    fn github_delivery_reproduces_the_reference_vectors() {
        assert_eq!(GITHUB_BODY.len(), 151);
        let d = github_delivery(GITHUB_SECRET, GITHUB_BODY, "issue_comment", "g-1");
        assert_eq!(
            d.header("x-hub-signature-256"),
            Some("sha256=a2eafee0d4e7824216328fc3cc988e1dd5813456436fc2009d60334c25d7c0e2")
        );
        assert_eq!(d.header("x-github-event"), Some("issue_comment"));
        assert_eq!(d.header("x-github-delivery"), Some("g-1"));
        assert_eq!(d.header("user-agent"), Some("GitHub-Hookshot/test"));
        assert_eq!(d.header("content-type"), Some("application/json"));

        // GitHub's own documentation example.
        let d = github_delivery("It's a Secret to Everybody", "Hello, World!", "ping", "g-2");
        assert_eq!(
            d.header("x-hub-signature-256"),
            Some("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
        );
    }

    #[test]
    fn slack_builders_carry_the_fields_the_worker_reads() {
        let mention: Value = serde_json::from_str(&slack_mention(
            "Ev1",
            "T1",
            "C1",
            "1735689600.000100",
            None,
            "U0BOT",
            "U1",
            "hi",
        ))
        .unwrap();
        assert_eq!(mention["type"], "event_callback");
        assert_eq!(mention["event_id"], "Ev1");
        assert_eq!(mention["team_id"], "T1");
        assert_eq!(mention["event_time"], 1_735_689_600);
        assert_eq!(mention["event"]["type"], "app_mention");
        assert_eq!(mention["event"]["text"], "<@U0BOT> hi");
        assert_eq!(mention["event"]["channel"], "C1");
        assert!(mention["event"].get("thread_ts").is_none());
        assert_eq!(
            mention["authorizations"][0],
            json!({"enterprise_id": null, "team_id": "T1", "user_id": "U0BOT", "is_bot": true, "is_enterprise_install": false})
        );
        let in_thread: Value = serde_json::from_str(&slack_mention(
            "Ev2",
            "T1",
            "C1",
            "2.0",
            Some("1.0"),
            "U0BOT",
            "U1",
            "hi",
        ))
        .unwrap();
        assert_eq!(in_thread["event"]["thread_ts"], "1.0");

        let reply: Value = serde_json::from_str(&slack_thread_message(
            "Ev3", "T1", "C1", "3.0", "1.0", "U0BOT", "U1", "more",
        ))
        .unwrap();
        assert_eq!(reply["event"]["type"], "message");
        assert_eq!(reply["event"]["channel_type"], "channel");
        assert_eq!(reply["event"]["thread_ts"], "1.0");
        assert_eq!(reply["event"]["text"], "more");
        assert!(reply["event"].get("bot_id").is_none());

        let own: Value = serde_json::from_str(&slack_bot_message(
            "Ev4", "T1", "C1", "4.0", "1.0", "U0BOT", "done",
        ))
        .unwrap();
        assert_eq!(own["event"]["user"], "U0BOT");
        assert_eq!(own["event"]["bot_id"], "B0BOT");
        assert_eq!(own["authorizations"][0]["user_id"], "U0BOT");
    }

    #[test]
    fn linear_and_github_builders_carry_the_fields_the_worker_reads() {
        let created: Value = serde_json::from_str(&linear_created(
            "org_1",
            "ses_1",
            "<issue>fix it</issue>",
            1_735_689_600_000,
        ))
        .unwrap();
        assert_eq!(created["type"], "AgentSessionEvent");
        assert_eq!(created["action"], "created");
        assert_eq!(created["organizationId"], "org_1");
        assert_eq!(created["webhookId"], LINEAR_WEBHOOK_ID);
        assert_eq!(created["webhookTimestamp"], 1_735_689_600_000_i64);
        assert_eq!(created["createdAt"], "2025-01-01T00:00:00.000Z");
        assert_eq!(created["agentSession"]["id"], "ses_1");
        assert_eq!(created["agentSession"]["issue"]["identifier"], "ENG-1");
        assert!(created["agentSession"]["issue"]["id"].is_string());
        assert!(created["agentSession"]["issue"]["title"].is_string());
        assert_eq!(created["promptContext"], "<issue>fix it</issue>");

        let prompted: Value = serde_json::from_str(&linear_prompted(
            "org_1",
            "ses_1",
            "act_1",
            "and the tests",
            1_735_689_601_234,
        ))
        .unwrap();
        assert_eq!(prompted["action"], "prompted");
        assert_eq!(prompted["createdAt"], "2025-01-01T00:00:01.234Z");
        assert_eq!(prompted["agentSession"]["id"], "ses_1");
        assert_eq!(prompted["agentActivity"]["id"], "act_1");
        assert_eq!(
            prompted["agentActivity"]["content"],
            json!({"type": "prompt", "body": "and the tests"})
        );

        let comment: Value = serde_json::from_str(&github_comment(
            "acme/app",
            7,
            42,
            "octocat",
            "@agent please fix",
        ))
        .unwrap();
        assert_eq!(comment["action"], "created");
        assert_eq!(comment["issue"]["number"], 7);
        assert!(comment["issue"]["title"].is_string());
        assert_eq!(comment["comment"]["id"], 42);
        assert_eq!(comment["comment"]["body"], "@agent please fix");
        assert_eq!(comment["comment"]["user"]["login"], "octocat");
        assert_eq!(comment["repository"]["full_name"], "acme/app");
        assert_eq!(comment["repository"]["name"], "app");
        assert_eq!(comment["repository"]["owner"]["login"], "acme");
        assert_eq!(
            comment["sender"],
            json!({"login": "octocat", "type": "User"})
        );
        assert_eq!(comment["installation"]["id"], GITHUB_INSTALLATION_ID);

        let ping: Value = serde_json::from_str(&github_ping()).unwrap();
        assert!(ping["zen"].is_string());
        assert!(ping["hook_id"].is_u64());
    }

    #[test]
    fn clocks_and_dates_agree() {
        assert!((now_ms() / 1000 - now_s()).abs() <= 1);
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_735_689_599_999), "2024-12-31T23:59:59.999Z");
    }

    fn client() -> reqwest::Client {
        reqwest::Client::new()
    }

    async fn post(url: &str, token: &str, body: Value) -> (u16, HeaderMap, Value) {
        let resp = client()
            .post(url)
            .bearer_auth(token)
            .header("user-agent", "openma-test")
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        (status, headers, resp.json().await.unwrap())
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn slack_posts_messages_with_increasing_ts() {
        let fake = FakeProviders::start().unwrap();
        let url = format!("{}/chat.postMessage", fake.slack_base());
        let body = json!({"channel": "C1", "text": "hello", "thread_ts": "1.0"});
        let (status, _, first) = post(&url, "xoxb-1", body.clone()).await;
        assert_eq!(status, 200);
        assert_eq!(first["ok"], true);
        assert_eq!(first["channel"], "C1");
        assert_eq!(first["ts"], "1735689600.000100");
        assert_eq!(first["message"]["text"], "hello");
        let (_, _, second) = post(&url, "xoxb-1", body).await;
        assert_eq!(second["ts"], "1735689600.000200");

        let (status, _, unknown) = post(
            &format!("{}/chat.nope", fake.slack_base()),
            "xoxb-1",
            json!({}),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(unknown, json!({"ok": false, "error": "unknown_method"}));

        let calls = fake.requests_for("slack");
        assert_eq!(calls.len(), 3);
        assert_eq!(calls[0].method, "POST");
        assert_eq!(calls[0].path, "/chat.postMessage");
        assert_eq!(calls[0].bearer().as_deref(), Some("xoxb-1"));
        assert_eq!(calls[0].body["text"], "hello");
        assert_eq!(calls[0].status, 200);
        assert_eq!(calls[0].headers["content-type"], "application/json");
        assert!(calls[0].at <= calls[1].at);
        assert_eq!(calls[2].path, "/chat.nope");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn linear_creates_activities_with_the_client_id() {
        let fake = FakeProviders::start().unwrap();
        let url = format!("{}/graphql", fake.linear_base());
        let mutation = "mutation AgentActivityCreate($input: AgentActivityCreateInput!) { agentActivityCreate(input: $input) { success agentActivity { id } } }";
        let (status, _, chosen) = post(
            &url,
            "lin_oauth_1",
            json!({"query": mutation, "variables": {"input": {
                "id": "7f1c0a52-0000-4000-8000-000000000001",
                "agentSessionId": "ses_1",
                "content": {"type": "thought", "body": "on it"},
            }}}),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(
            chosen,
            json!({"data": {"agentActivityCreate": {"success": true, "agentActivity": {"id": "7f1c0a52-0000-4000-8000-000000000001"}}}})
        );
        let (_, _, minted) = post(
            &url,
            "lin_oauth_1",
            json!({"query": mutation, "variables": {"input": {"agentSessionId": "ses_1"}}}),
        )
        .await;
        let id = minted["data"]["agentActivityCreate"]["agentActivity"]["id"]
            .as_str()
            .unwrap();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");

        let calls = fake.requests_for("linear");
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].path, "/graphql");
        assert_eq!(calls[0].bearer().as_deref(), Some("lin_oauth_1"));
        assert_eq!(
            calls[0].body["variables"]["input"]["content"]["body"],
            "on it"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn github_creates_comments_and_requires_a_user_agent() {
        let fake = FakeProviders::start().unwrap();
        let url = format!(
            "{}/repos/acme/app/issues/7/comments?x=1",
            fake.github_base()
        );
        let (status, _, first) = post(&url, "ghs_1", json!({"body": "done"})).await;
        assert_eq!(status, 201);
        assert_eq!(first["body"], "done");
        assert!(
            first["html_url"]
                .as_str()
                .unwrap()
                .starts_with("https://github.com/acme/app/issues/7#issuecomment-")
        );
        let (_, _, second) = post(&url, "ghs_1", json!({"body": "again"})).await;
        assert_ne!(first["id"], second["id"]);
        assert!(first["id"].is_u64());

        // reqwest sends no User-Agent of its own.
        let resp = client()
            .post(&url)
            .bearer_auth("ghs_1")
            .json(&json!({"body": "anonymous"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 403);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(
            body["message"],
            "Request forbidden by administrative rules. Please make sure your request has a User-Agent header"
        );

        let (status, _, missing) = post(
            &format!("{}/repos/acme/app/pulls/7", fake.github_base()),
            "ghs_1",
            json!({}),
        )
        .await;
        assert_eq!(status, 404);
        assert_eq!(missing["message"], "Not Found");

        let calls = fake.requests_for("github");
        let statuses: Vec<u16> = calls.iter().map(|r| r.status).collect();
        assert_eq!(statuses, [201, 201, 403, 404]);
        assert_eq!(calls[0].path, "/repos/acme/app/issues/7/comments?x=1");
        assert_eq!(calls[0].bearer().as_deref(), Some("ghs_1"));
        assert_eq!(calls[1].body, json!({"body": "again"}));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn scripted_answers_are_played_in_order_then_success_returns() {
        let fake = FakeProviders::start().unwrap();
        fake.push("slack", Scripted::rate_limited("slack", 1));
        fake.push("slack", Scripted::server_error());
        fake.push("slack", Scripted::permanent("slack"));
        fake.push("github", Scripted::rate_limited("github", 2));
        fake.push("linear", Scripted::rate_limited("linear", 3));
        fake.push("linear", Scripted::permanent("linear"));
        let slack = format!("{}/chat.postMessage", fake.slack_base());
        let body = json!({"channel": "C1", "text": "hi"});

        let (status, headers, limited) = post(&slack, "xoxb-1", body.clone()).await;
        assert_eq!(status, 429);
        assert_eq!(headers["retry-after"], "1");
        assert_eq!(limited, json!({"ok": false, "error": "ratelimited"}));
        let (status, _, down) = post(&slack, "xoxb-1", body.clone()).await;
        assert_eq!(status, 503);
        assert_eq!(down, json!({"error": "unavailable"}));
        let (status, _, gone) = post(&slack, "xoxb-1", body.clone()).await;
        assert_eq!(status, 200);
        assert_eq!(gone, json!({"ok": false, "error": "channel_not_found"}));
        let (status, _, ok) = post(&slack, "xoxb-1", body).await;
        assert_eq!(status, 200);
        assert_eq!(ok["ok"], true);

        let github = format!("{}/repos/acme/app/issues/1/comments", fake.github_base());
        let (status, headers, limited) = post(&github, "ghs_1", json!({"body": "x"})).await;
        assert_eq!(status, 403);
        assert_eq!(headers["retry-after"], "2");
        assert_eq!(
            limited["message"],
            "You have exceeded a secondary rate limit"
        );
        let (status, _, _) = post(&github, "ghs_1", json!({"body": "x"})).await;
        assert_eq!(status, 201);

        let linear = format!("{}/graphql", fake.linear_base());
        let (status, headers, limited) = post(&linear, "lin_1", json!({"query": "m"})).await;
        assert_eq!(status, 400);
        assert_eq!(headers["retry-after"], "3");
        assert_eq!(limited["errors"][0]["extensions"]["code"], "RATELIMITED");
        let (status, _, missing) = post(&linear, "lin_1", json!({"query": "m"})).await;
        assert_eq!(status, 200);
        assert_eq!(missing["errors"][0]["extensions"]["code"], "INVALID_INPUT");
        let (status, _, ok) = post(&linear, "lin_1", json!({"query": "m"})).await;
        assert_eq!(status, 200);
        assert_eq!(ok["data"]["agentActivityCreate"]["success"], true);

        let statuses: Vec<(String, u16)> = fake
            .requests()
            .iter()
            .map(|r| (r.provider.clone(), r.status))
            .collect();
        let expected = [
            ("slack", 429),
            ("slack", 503),
            ("slack", 200),
            ("slack", 200),
            ("github", 403),
            ("github", 201),
            ("linear", 400),
            ("linear", 200),
            ("linear", 200),
        ];
        assert_eq!(statuses, expected.map(|(p, s)| (p.to_owned(), s)).to_vec());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn wait_for_returns_the_calls_or_names_what_it_saw() {
        let fake = FakeProviders::start().unwrap();
        let url = format!("{}/chat.postMessage", fake.slack_base());
        post(&url, "xoxb-1", json!({"channel": "C1", "text": "one"})).await;

        let seen = fake
            .wait_for("slack", 1, Duration::from_secs(2))
            .await
            .unwrap();
        assert_eq!(seen.len(), 1);

        let started = Instant::now();
        let err = fake
            .wait_for("slack", 2, Duration::from_millis(100))
            .await
            .unwrap_err()
            .to_string();
        assert!(started.elapsed() >= Duration::from_millis(100));
        assert!(err.contains("slack"), "{err}");
        assert!(err.contains("1 of the 2"), "{err}");
        assert!(err.contains("POST /chat.postMessage -> 200"), "{err}");

        let err = fake
            .wait_for("github", 1, Duration::from_millis(50))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("0 of the 1"), "{err}");
        assert!(err.contains("1 calls to other providers"), "{err}");
    }
}
