//! Linear, Slack and GitHub on the wire, with no I/O: verifying a delivery's
//! signature over its raw bytes, reading a delivery into what the platform
//! does with it, building a reply's HTTP request, and classifying the
//! provider's answer for the outbox.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::Serialize;
use serde_json::Value;
use serde_json::json;

/// A provider whose webhooks the platform accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Slack Events API.
    Slack,
    /// Linear agent sessions.
    Linear,
    /// GitHub issue comments.
    Github,
}

impl Provider {
    /// Every provider.
    pub const ALL: [Self; 3] = [Self::Slack, Self::Linear, Self::Github];

    /// `slack`, `linear`, `github`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::Linear => "linear",
            Self::Github => "github",
        }
    }

    /// The provider named `name`.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// The public path its webhooks are delivered to.
    #[must_use]
    pub const fn webhook_path(self) -> &'static str {
        match self {
            Self::Slack => "/integrations/slack/events",
            Self::Linear => "/integrations/linear/webhook",
            Self::Github => "/integrations/github/webhook",
        }
    }

    /// The secret (worker setting) its deliveries are signed with.
    #[must_use]
    pub const fn secret_name(self) -> &'static str {
        match self {
            Self::Slack => "SLACK_SIGNING_SECRET",
            Self::Linear => "LINEAR_WEBHOOK_SECRET",
            Self::Github => "GITHUB_WEBHOOK_SECRET",
        }
    }

    /// The setting naming its API base, and that setting's default.
    #[must_use]
    pub const fn api_base_setting(self) -> (&'static str, &'static str) {
        match self {
            Self::Slack => ("SLACK_API_BASE", "https://slack.com/api"),
            Self::Linear => ("LINEAR_API_BASE", "https://api.linear.app"),
            Self::Github => ("GITHUB_API_BASE", "https://api.github.com"),
        }
    }
}

/// The additional authenticated data an integration's access token is
/// sealed with: it binds the ciphertext to the integration.
#[must_use]
pub fn token_aad(tenant_id: &str, integration_id: &str) -> Vec<u8> {
    format!("openma/integration-token/v1\n{tenant_id}\n{integration_id}").into_bytes()
}

/// The replay window of a Slack delivery, in seconds either side of now.
pub const SLACK_WINDOW_S: i64 = 300;

/// The replay window of a Linear delivery, in milliseconds either side of now.
pub const LINEAR_WINDOW_MS: i64 = 60_000;

/// Bytes in an HMAC-SHA256.
const MAC_LEN: usize = 32;

/// Why a delivery is refused (the webhook answers 401, stores nothing).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The signature header is absent or empty.
    #[error("the delivery carries no signature")]
    MissingSignature,
    /// The signature header lacks its prefix or is not 64 hex digits.
    #[error("the delivery's signature is malformed")]
    MalformedSignature,
    /// The signature does not match the body under the secret (or the secret
    /// is empty).
    #[error("the delivery's signature does not match")]
    BadSignature,
    /// The delivery carries no readable timestamp.
    #[error("the delivery carries no timestamp")]
    MissingTimestamp,
    /// The delivery's timestamp is outside the replay window.
    #[error("the delivery's timestamp is outside the replay window")]
    StaleTimestamp,
}

/// Verifies a Slack delivery: `X-Slack-Request-Timestamp` (`timestamp`, Unix
/// seconds) and `X-Slack-Signature` (`signature`, `v0=` + hex HMAC-SHA256 of
/// `v0:{timestamp}:{body}`), then `|now_s - timestamp| <= 300` (the edge is
/// accepted). The MAC is checked before the window.
pub fn verify_slack(
    secret: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_s: i64,
) -> Result<(), Rejection> {
    let signature = present(signature).ok_or(Rejection::MissingSignature)?;
    let timestamp = present(timestamp).ok_or(Rejection::MissingTimestamp)?;
    let claimed = signature
        .strip_prefix("v0=")
        .and_then(decode_mac)
        .ok_or(Rejection::MalformedSignature)?;
    let mut signed = Vec::with_capacity(body.len() + timestamp.len() + 4);
    signed.extend_from_slice(b"v0:");
    signed.extend_from_slice(timestamp.as_bytes());
    signed.push(b':');
    signed.extend_from_slice(body);
    check_mac(secret, &signed, &claimed)?;
    let sent_s: i64 = timestamp.parse().map_err(|_| Rejection::MissingTimestamp)?;
    within(now_s, sent_s, SLACK_WINDOW_S)
}

/// Verifies a Linear delivery: `Linear-Signature` (`signature`, hex
/// HMAC-SHA256 of the body, no prefix); then, only once the MAC holds, the
/// body's `webhookTimestamp` (Unix ms) within 60 s of `now_ms` (the edge is
/// accepted). A body that is not JSON or has no `webhookTimestamp` is
/// [`Rejection::MissingTimestamp`].
pub fn verify_linear(
    secret: &str,
    signature: Option<&str>,
    body: &[u8],
    now_ms: i64,
) -> Result<(), Rejection> {
    let signature = present(signature).ok_or(Rejection::MissingSignature)?;
    let claimed = decode_mac(signature).ok_or(Rejection::MalformedSignature)?;
    check_mac(secret, body, &claimed)?;
    let parsed: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| Rejection::MissingTimestamp)?;
    let sent_ms = parsed
        .get("webhookTimestamp")
        .and_then(as_integer)
        .ok_or(Rejection::MissingTimestamp)?;
    within(now_ms, sent_ms, LINEAR_WINDOW_MS)
}

/// Verifies a GitHub delivery: `X-Hub-Signature-256` (`signature`, the
/// prefix `sha256=` and the hex HMAC-SHA256 of the body). GitHub signs no
/// timestamp: de-duplication on `X-GitHub-Delivery` is the replay guard.
pub fn verify_github(secret: &str, signature: Option<&str>, body: &[u8]) -> Result<(), Rejection> {
    let signature = present(signature).ok_or(Rejection::MissingSignature)?;
    let claimed = signature
        .strip_prefix("sha256=")
        .and_then(decode_mac)
        .ok_or(Rejection::MalformedSignature)?;
    check_mac(secret, body, &claimed)
}

/// A header value that is there and not blank, without surrounding spaces.
fn present(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// The bytes of a hex HMAC-SHA256 (either case), if that is what `text` is.
fn decode_mac(text: &str) -> Option<Vec<u8>> {
    let bytes = decode_hex(text)?;
    (bytes.len() == MAC_LEN).then_some(bytes)
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let digits = text.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks_exact(2)
        .map(|pair| Some(hex_digit(pair[0])? << 4 | hex_digit(pair[1])?))
        .collect()
}

const fn hex_digit(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// Whether `claimed` is the HMAC of `signed` under `secret`, compared in
/// constant time. An empty secret never verifies: anyone can sign with it.
fn check_mac(secret: &str, signed: &[u8], claimed: &[u8]) -> Result<(), Rejection> {
    if secret.is_empty() {
        return Err(Rejection::BadSignature);
    }
    let expected = decode_hex(&crate::crypto::hmac_sha256_hex(secret.as_bytes(), signed))
        .ok_or(Rejection::BadSignature)?;
    if constant_time_eq(&expected, claimed) {
        Ok(())
    } else {
        Err(Rejection::BadSignature)
    }
}

/// Byte equality whose time depends on the lengths only.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn within(now: i64, sent: i64, window: i64) -> Result<(), Rejection> {
    if now.abs_diff(sent) <= window.unsigned_abs() {
        Ok(())
    } else {
        Err(Rejection::StaleTimestamp)
    }
}

/// A JSON integer, or a decimal string holding one.
fn as_integer(value: &serde_json::Value) -> Option<i64> {
    match value {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        serde_json::Value::Null
        | serde_json::Value::Bool(_)
        | serde_json::Value::Array(_)
        | serde_json::Value::Object(_) => None,
    }
}

/// What a verified delivery asks of the platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// Slack's `url_verification`: answer 200 with this challenge.
    Challenge(String),
    /// Nothing to do (acknowledge with 200); the reason is for logs.
    Ignored(String),
    /// Work for a session.
    Event(InboundEvent),
}

/// One delivery that starts, continues or stops the session of a thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundEvent {
    /// The install it belongs to: Slack `team_id`, Linear `organizationId`,
    /// GitHub `repository.full_name`.
    pub external_id: String,
    /// The primary de-dupe key: Slack `event_id`, the `Linear-Delivery`
    /// header (or `webhookId:webhookTimestamp:agentSession.id:action`), the
    /// `X-GitHub-Delivery` header.
    pub delivery_id: String,
    /// The second de-dupe key, the same for one human message delivered
    /// twice: Slack `{channel}:{ts}`, GitHub `comment:{comment.id}`, Linear
    /// `{agentSession.id}:{action}:{agentActivity.id}` (empty activity id
    /// when there is none).
    pub message_key: String,
    /// The conversation the delivery belongs to.
    pub thread: Thread,
    /// Who wrote it: Slack user id, GitHub login, Linear creator name or id.
    pub author: Option<String>,
    /// What it asks.
    pub action: InboundAction,
}

/// What an inbound event asks of its thread's session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum InboundAction {
    /// A new request: start a session for the thread (or continue the one
    /// it already has).
    Start {
        /// The user's text, mention of the agent removed.
        text: String,
    },
    /// A follow-up in a thread that has a session.
    Continue {
        /// The user's text.
        text: String,
    },
    /// The user asked the agent to stop (Linear's `stop` signal).
    Stop,
}

/// A provider conversation that maps to one session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum Thread {
    /// A Slack thread.
    Slack {
        /// The workspace (`team_id`).
        team: String,
        /// The channel id.
        channel: String,
        /// The `ts` of the thread's first message.
        thread_ts: String,
    },
    /// A Linear agent session.
    Linear {
        /// The workspace (`organizationId`).
        organization: String,
        /// `agentSession.id`.
        agent_session_id: String,
    },
    /// A GitHub issue or pull request conversation.
    Github {
        /// `owner/name`.
        repository: String,
        /// The issue or pull request number.
        issue_number: u64,
    },
}

impl Thread {
    /// The provider the thread lives on.
    #[must_use]
    pub const fn provider(&self) -> Provider {
        match self {
            Self::Slack { .. } => Provider::Slack,
            Self::Linear { .. } => Provider::Linear,
            Self::Github { .. } => Provider::Github,
        }
    }

    /// Stable key: `slack:{team}:{channel}:{thread_ts}`,
    /// `linear:{organization}:{agent_session_id}`,
    /// `github:{repository}#{issue_number}`.
    #[must_use]
    pub fn key(&self) -> String {
        match self {
            Self::Slack {
                team,
                channel,
                thread_ts,
            } => format!("slack:{team}:{channel}:{thread_ts}"),
            Self::Linear {
                organization,
                agent_session_id,
            } => format!("linear:{organization}:{agent_session_id}"),
            Self::Github {
                repository,
                issue_number,
            } => format!("github:{repository}#{issue_number}"),
        }
    }

    /// Session metadata naming the thread: `integration` (the provider) and
    /// `thread` (its [`key`](Self::key)), plus `slack_channel` and
    /// `slack_thread_ts`, `linear_agent_session_id`, or `github_repository`
    /// and `github_issue`.
    #[must_use]
    pub fn session_metadata(&self) -> BTreeMap<String, String> {
        let mut metadata = BTreeMap::new();
        metadata.insert(
            "integration".to_owned(),
            self.provider().as_str().to_owned(),
        );
        metadata.insert("thread".to_owned(), self.key());
        match self {
            Self::Slack {
                channel, thread_ts, ..
            } => {
                metadata.insert("slack_channel".to_owned(), channel.clone());
                metadata.insert("slack_thread_ts".to_owned(), thread_ts.clone());
            }
            Self::Linear {
                agent_session_id, ..
            } => {
                metadata.insert(
                    "linear_agent_session_id".to_owned(),
                    agent_session_id.clone(),
                );
            }
            Self::Github {
                repository,
                issue_number,
            } => {
                metadata.insert("github_repository".to_owned(), repository.clone());
                metadata.insert("github_issue".to_owned(), issue_number.to_string());
            }
        }
        metadata
    }

    /// A short session title: `Slack thread in C1`, `acme/app#7`,
    /// `Linear agent session ses_1`.
    #[must_use]
    pub fn session_title(&self) -> String {
        match self {
            Self::Slack { channel, .. } => format!("Slack thread in {channel}"),
            Self::Linear {
                agent_session_id, ..
            } => format!("Linear agent session {agent_session_id}"),
            Self::Github {
                repository,
                issue_number,
            } => format!("{repository}#{issue_number}"),
        }
    }
}

/// Reads a Slack Events API delivery.
///
/// `url_verification` is a [`Inbound::Challenge`]. An `app_mention` starts
/// the thread `event.thread_ts` (or `event.ts` for a top-level mention) with
/// its text, mentions of the bot user (`authorizations[0].user_id`; when
/// absent, the leading mentions) removed. A plain thread reply (`message`
/// with no `subtype` and `thread_ts != ts`) continues it. Messages from bots
/// or from the bot user itself, subtypes, top-level messages without a
/// mention, empty texts and other events are ignored.
#[must_use]
pub fn read_slack(body: &Value) -> Inbound {
    match str_at(body, "/type") {
        Some("url_verification") => {
            return match str_at(body, "/challenge") {
                Some(challenge) => Inbound::Challenge(challenge.to_owned()),
                None => ignored("url_verification without a challenge"),
            };
        }
        Some("event_callback") => {}
        Some(other) => return ignored(format!("slack envelope {other}")),
        None => return ignored("slack envelope without a type"),
    }
    let Some(event) = body.get("event").filter(|event| event.is_object()) else {
        return ignored("event_callback without an event");
    };
    let Some(event_id) = str_at(body, "/event_id") else {
        return ignored("event_callback without an event_id");
    };
    let Some(team) = str_at(body, "/team_id").or_else(|| str_at(event, "/team")) else {
        return ignored("event_callback without a team");
    };
    let Some(channel) = str_at(event, "/channel") else {
        return ignored("slack event without a channel");
    };
    let Some(ts) = str_at(event, "/ts") else {
        return ignored("slack event without a ts");
    };
    let bot_user = str_at(body, "/authorizations/0/user_id");
    let user = str_at(event, "/user");
    if event.get("bot_id").is_some_and(|bot| !bot.is_null()) {
        return ignored("a bot's message");
    }
    if user.is_some() && user == bot_user {
        return ignored("the bot user's own message");
    }
    let text = event
        .get("text")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let thread_ts = str_at(event, "/thread_ts");
    let (action, thread_ts) = match str_at(event, "/type") {
        Some("app_mention") => {
            let text = strip_slack_mentions(text, bot_user, true);
            if text.is_empty() {
                return ignored("a mention with no text");
            }
            (InboundAction::Start { text }, thread_ts.unwrap_or(ts))
        }
        Some("message") => {
            if let Some(subtype) = str_at(event, "/subtype") {
                return ignored(format!("message subtype {subtype}"));
            }
            let Some(thread_ts) = thread_ts.filter(|thread_ts| *thread_ts != ts) else {
                return ignored("a message outside a thread");
            };
            let text = strip_slack_mentions(text, bot_user, false);
            if text.is_empty() {
                return ignored("a message with no text");
            }
            (InboundAction::Continue { text }, thread_ts)
        }
        Some(other) => return ignored(format!("slack event {other}")),
        None => return ignored("slack event without a type"),
    };
    Inbound::Event(InboundEvent {
        external_id: team.to_owned(),
        delivery_id: event_id.to_owned(),
        message_key: format!("{channel}:{ts}"),
        thread: Thread::Slack {
            team: team.to_owned(),
            channel: channel.to_owned(),
            thread_ts: thread_ts.to_owned(),
        },
        author: user.map(str::to_owned),
        action,
    })
}

/// `text` without the bot user's mentions (`<@U…>` or `<@U…|name>`), or,
/// when the bot user is unknown and `leading` is set, without the mentions
/// it opens with; trimmed.
fn strip_slack_mentions(text: &str, bot_user: Option<&str>, leading: bool) -> String {
    match bot_user {
        Some(bot) => {
            let mut out = String::with_capacity(text.len());
            let mut rest = text;
            while let Some(start) = rest.find("<@") {
                let (before, from) = rest.split_at(start);
                let Some((inner, after)) = from[2..].split_once('>') else {
                    break;
                };
                let id = inner.split_once('|').map_or(inner, |(id, _)| id);
                out.push_str(before);
                if id == bot {
                    rest = close_gap(&out, after);
                } else {
                    out.push_str(&from[..inner.len() + 3]);
                    rest = after;
                }
            }
            out.push_str(rest);
            out.trim().to_owned()
        }
        None if leading => {
            let mut rest = text.trim_start();
            while let Some((_, after)) = rest
                .strip_prefix("<@")
                .and_then(|from| from.split_once('>'))
            {
                rest = after.trim_start();
            }
            rest.trim_end().to_owned()
        }
        None => text.trim().to_owned(),
    }
}

/// Reads a Linear webhook (`delivery_id` is the `Linear-Delivery` header).
///
/// Only `AgentSessionEvent`s are read: `created` starts the agent session
/// with `promptContext` (else the issue's title and description, else the
/// comment's body); `prompted` continues it with the activity's body, or
/// stops it when the activity carries the `stop` signal. Everything else,
/// and a session event with no text, is ignored.
#[must_use]
pub fn read_linear(delivery_id: Option<&str>, body: &Value) -> Inbound {
    match str_at(body, "/type") {
        Some("AgentSessionEvent") => {}
        Some(other) => return ignored(format!("linear {other} webhook")),
        None => return ignored("linear webhook without a type"),
    }
    let Some(action) = str_at(body, "/action") else {
        return ignored("AgentSessionEvent without an action");
    };
    let Some(organization) = str_at(body, "/organizationId") else {
        return ignored("AgentSessionEvent without an organizationId");
    };
    let Some(session) = str_at(body, "/agentSession/id") else {
        return ignored("AgentSessionEvent without an agentSession.id");
    };
    let delivery_id = if let Some(id) = present(delivery_id) {
        id.to_owned()
    } else {
        let (Some(webhook), Some(sent)) =
            (id_at(body, "/webhookId"), id_at(body, "/webhookTimestamp"))
        else {
            return ignored("AgentSessionEvent without a delivery id");
        };
        format!("{webhook}:{sent}:{session}:{action}")
    };
    let inbound = match action {
        "created" => {
            let text = linear_prompt(body);
            if text.is_empty() {
                return ignored("an agent session with no prompt");
            }
            InboundAction::Start { text }
        }
        "prompted" if str_at(body, "/agentActivity/signal") == Some("stop") => InboundAction::Stop,
        "prompted" => {
            let Some(text) = str_at(body, "/agentActivity/content/body")
                .or_else(|| str_at(body, "/agentActivity/body"))
            else {
                return ignored("a prompt with no text");
            };
            InboundAction::Continue {
                text: text.trim().to_owned(),
            }
        }
        other => return ignored(format!("agent session {other}")),
    };
    let activity = str_at(body, "/agentActivity/id").unwrap_or_default();
    Inbound::Event(InboundEvent {
        external_id: organization.to_owned(),
        delivery_id,
        message_key: format!("{session}:{action}:{activity}"),
        thread: Thread::Linear {
            organization: organization.to_owned(),
            agent_session_id: session.to_owned(),
        },
        author: str_at(body, "/agentSession/creator/name")
            .or_else(|| str_at(body, "/agentSession/creator/id"))
            .map(str::to_owned),
        action: inbound,
    })
}

/// The first prompt of a new Linear agent session, trimmed.
fn linear_prompt(body: &Value) -> String {
    if let Some(context) = str_at(body, "/promptContext") {
        return context.trim().to_owned();
    }
    if let Some(title) = str_at(body, "/agentSession/issue/title") {
        return match str_at(body, "/agentSession/issue/description") {
            Some(description) => format!("{}\n\n{}", title.trim(), description.trim()),
            None => title.trim().to_owned(),
        };
    }
    str_at(body, "/agentSession/comment/body")
        .map(|comment| comment.trim().to_owned())
        .unwrap_or_default()
}

/// Reads a GitHub webhook (`event` is the `X-GitHub-Event` header,
/// `delivery_id` the `X-GitHub-Delivery` header).
///
/// A created `issue_comment` is a [`InboundAction::Start`] with the
/// comment's body as it is: whether it engages the agent is
/// [`github_mention`]'s call. `ping` and everything else are ignored.
#[must_use]
pub fn read_github(event: Option<&str>, delivery_id: Option<&str>, body: &Value) -> Inbound {
    match present(event) {
        Some("issue_comment") => {}
        Some("ping") => return ignored("ping"),
        Some(other) => return ignored(format!("github event {other}")),
        None => return ignored("github delivery without an event"),
    }
    match str_at(body, "/action") {
        Some("created") => {}
        Some(other) => return ignored(format!("issue_comment {other}")),
        None => return ignored("issue_comment without an action"),
    }
    let Some(delivery_id) = present(delivery_id) else {
        return ignored("issue_comment without a delivery id");
    };
    let Some(repository) = str_at(body, "/repository/full_name") else {
        return ignored("issue_comment without a repository");
    };
    let Some(issue_number) = body.pointer("/issue/number").and_then(Value::as_u64) else {
        return ignored("issue_comment without an issue number");
    };
    let Some(comment_id) = id_at(body, "/comment/id") else {
        return ignored("issue_comment without a comment id");
    };
    let Some(text) = body.pointer("/comment/body").and_then(Value::as_str) else {
        return ignored("issue_comment without a body");
    };
    Inbound::Event(InboundEvent {
        external_id: repository.to_owned(),
        delivery_id: delivery_id.to_owned(),
        message_key: format!("comment:{comment_id}"),
        thread: Thread::Github {
            repository: repository.to_owned(),
            issue_number,
        },
        author: str_at(body, "/comment/user/login")
            .or_else(|| str_at(body, "/sender/login"))
            .map(str::to_owned),
        action: InboundAction::Start {
            text: text.to_owned(),
        },
    })
}

/// The text a GitHub comment asks the agent, when it engages `bot_login`:
/// the body mentions `@{bot_login}` (ASCII case-insensitive; the mention is
/// neither preceded by a letter or digit, as in an e-mail address, nor
/// followed by a login character `[A-Za-z0-9-]`) and its author is neither
/// `bot_login` nor `{bot_login}[bot]` (case-insensitive). A `bot_login`
/// given as `name[bot]` is read as `name`. The mentions are removed from the
/// returned text, which is trimmed (and may be empty).
#[must_use]
pub fn github_mention(text: &str, author: Option<&str>, bot_login: &str) -> Option<String> {
    let login = strip_suffix_ignore_case(bot_login.trim(), "[bot]");
    if login.is_empty() {
        return None;
    }
    if author.is_some_and(|author| {
        strip_suffix_ignore_case(author.trim(), "[bot]").eq_ignore_ascii_case(login)
    }) {
        return None;
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut found = false;
    let mut at = 0;
    while let Some(offset) = text[at..].find('@') {
        let start = at + offset;
        let end = start + 1 + login.len();
        let names_bot = bytes
            .get(start + 1..end)
            .is_some_and(|name| name.eq_ignore_ascii_case(login.as_bytes()));
        let open_before = !text[..start]
            .chars()
            .next_back()
            .is_some_and(char::is_alphanumeric);
        let closed_after = !bytes.get(end).is_some_and(|&b| is_login_byte(b));
        if names_bot && open_before && closed_after {
            out.push_str(&text[copied..start]);
            let after = close_gap(&out, &text[end..]);
            copied = text.len() - after.len();
            found = true;
            at = copied;
        } else {
            at = start + 1;
        }
    }
    if !found {
        return None;
    }
    out.push_str(&text[copied..]);
    Some(out.trim().to_owned())
}

const fn is_login_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'-'
}

fn strip_suffix_ignore_case<'a>(text: &'a str, suffix: &str) -> &'a str {
    match text.len().checked_sub(suffix.len()) {
        Some(cut) if text.is_char_boundary(cut) && text[cut..].eq_ignore_ascii_case(suffix) => {
            &text[..cut]
        }
        _ => text,
    }
}

/// The text after a removed mention, without the spaces that would double
/// the ones already written (`hi <@U1> there` reads `hi there`).
fn close_gap<'a>(written: &str, after: &'a str) -> &'a str {
    if written.is_empty() || written.ends_with(char::is_whitespace) {
        after.trim_start_matches([' ', '\t'])
    } else {
        after
    }
}

fn ignored(reason: impl Into<String>) -> Inbound {
    Inbound::Ignored(reason.into())
}

/// The non-blank string at `pointer`.
fn str_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|text| !text.trim().is_empty())
}

/// The non-blank string or the number at `pointer`, as text.
fn id_at(value: &Value, pointer: &str) -> Option<String> {
    match value.pointer(pointer)? {
        Value::String(text) if !text.trim().is_empty() => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::String(_) | Value::Null | Value::Bool(_) | Value::Array(_) | Value::Object(_) => {
            None
        }
    }
}

/// The kind of a reply posted to a thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplyKind {
    /// Progress (Linear shows it as a thought; it keeps the session alive).
    Thought,
    /// The agent's answer.
    Response,
    /// The run failed.
    Error,
}

impl ReplyKind {
    /// Every kind.
    pub const ALL: [Self; 3] = [Self::Thought, Self::Response, Self::Error];

    /// `thought`, `response`, `error` (Linear's activity content types).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Thought => "thought",
            Self::Response => "response",
            Self::Error => "error",
        }
    }

    /// The kind named `name`.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

/// The longest Slack message text we post, in characters.
const SLACK_TEXT_MAX: usize = 39_000;
/// The longest GitHub comment body, in characters.
const GITHUB_BODY_MAX: usize = 65_536;
/// Linear's mutation that posts an agent activity.
const LINEAR_ACTIVITY_MUTATION: &str = "mutation AgentActivityCreate($input: AgentActivityCreateInput!) { agentActivityCreate(input: $input) { success agentActivity { id } } }";

/// An HTTP POST to a provider's API, without its credentials.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplyRequest {
    /// The absolute URL.
    pub url: String,
    /// Provider-specific headers (lower-case names), beyond `Authorization`,
    /// `User-Agent` and `Content-Type`.
    pub headers: Vec<(&'static str, String)>,
    /// The JSON body.
    pub body: Value,
}

/// The POST that posts `text` to `thread` (the caller adds `Authorization`,
/// `User-Agent` and `Content-Type: application/json`). `api_base` is the
/// provider's API base; a trailing `/` is ignored.
///
/// Slack: `chat.postMessage` into the thread, the text capped at 39,000
/// characters and `reply_key` in the message metadata. GitHub: an issue
/// comment ending in the invisible `<!-- oma-reply:{reply_key} -->` marker,
/// the whole body capped at 65,536 characters. Linear: the
/// `agentActivityCreate` mutation with `kind` as the content type and
/// [`activity_id`] as the activity id, so a retry cannot post twice.
#[must_use]
pub fn reply_request(
    thread: &Thread,
    api_base: &str,
    kind: ReplyKind,
    text: &str,
    reply_key: &str,
) -> ReplyRequest {
    let base = api_base.trim_end_matches('/');
    match thread {
        Thread::Slack {
            channel, thread_ts, ..
        } => ReplyRequest {
            url: format!("{base}/chat.postMessage"),
            headers: Vec::new(),
            body: json!({
                "channel": channel,
                "thread_ts": thread_ts,
                "text": cap_chars(text, SLACK_TEXT_MAX),
                "metadata": {
                    "event_type": "openma_reply",
                    "event_payload": {"reply_key": reply_key},
                },
            }),
        },
        Thread::Github {
            repository,
            issue_number,
        } => {
            let marker = format!("\n\n<!-- oma-reply:{reply_key} -->");
            let room = GITHUB_BODY_MAX.saturating_sub(marker.chars().count());
            let mut body = cap_chars(text, room);
            body.push_str(&marker);
            ReplyRequest {
                url: format!("{base}/repos/{repository}/issues/{issue_number}/comments"),
                headers: vec![
                    ("accept", "application/vnd.github+json".to_owned()),
                    ("x-github-api-version", "2022-11-28".to_owned()),
                ],
                body: json!({"body": body}),
            }
        }
        Thread::Linear {
            agent_session_id, ..
        } => ReplyRequest {
            url: format!("{base}/graphql"),
            headers: Vec::new(),
            body: json!({
                "query": LINEAR_ACTIVITY_MUTATION,
                "variables": {
                    "input": {
                        "id": activity_id(reply_key),
                        "agentSessionId": agent_session_id,
                        "content": {"type": kind.as_str(), "body": text},
                    },
                },
            }),
        },
    }
}

/// `text` if it has at most `max` characters, else its first `max - 1`
/// characters and `…`.
fn cap_chars(text: &str, max: usize) -> String {
    if text.char_indices().nth(max).is_none() {
        return text.to_owned();
    }
    let Some(keep) = max.checked_sub(1) else {
        return String::new();
    };
    let cut = text
        .char_indices()
        .nth(keep)
        .map_or(text.len(), |(at, _)| at);
    let mut capped = text[..cut].to_owned();
    capped.push('…');
    capped
}

/// The deterministic outbox key of a reply: `rk_` and the first 32 hex
/// characters of SHA-256 of `{thread_key}\n{anchor}\n{kind}`. The anchor
/// names what is replied to (a turn, an event), so enqueuing the same reply
/// twice yields the same key.
#[must_use]
pub fn reply_key(thread_key: &str, anchor: &str, kind: ReplyKind) -> String {
    let digest =
        crate::crypto::sha256_hex(format!("{thread_key}\n{anchor}\n{}", kind.as_str()).as_bytes());
    format!("rk_{}", &digest[..32])
}

/// The Linear activity id of a reply: a UUID (version 5 bits, RFC 4122
/// variant) made of the first 16 bytes of SHA-256 of `reply_key`, so every
/// attempt at one reply carries the same id.
#[must_use]
pub fn activity_id(reply_key: &str) -> String {
    let digest = crate::crypto::sha256_hex(reply_key.as_bytes());
    let mut digits: Vec<char> = digest.chars().take(32).collect();
    digits[12] = '5';
    let variant = digits[16].to_digit(16).unwrap_or_default() & 0x3 | 0x8;
    digits[16] = char::from_digit(variant, 16).unwrap_or('8');
    let hex: String = digits.into_iter().collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// What to do with an outbox row after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyOutcome {
    /// Posted; the provider's id of the post (Slack `ts`, GitHub comment id,
    /// Linear activity id) when it gave one.
    Sent {
        /// The provider's id of the post.
        provider_ref: Option<String>,
    },
    /// A transient failure: try again, no sooner than `after_ms` when the
    /// provider said when.
    Retry {
        /// What went wrong, short and free of request headers.
        error: String,
        /// The provider's wait, in milliseconds from now.
        after_ms: Option<u64>,
    },
    /// A permanent failure: retrying cannot help.
    Dead {
        /// What went wrong, short and free of request headers.
        error: String,
    },
}

/// The longest error kept on an outbox row, in characters.
const ERROR_MAX: usize = 300;
/// The shortest wait derived from a reset time, so a reset already past
/// does not spin.
const MIN_RESET_WAIT_MS: u64 = 1_000;
/// GitHub's advice for a secondary rate limit that names no wait.
const GITHUB_DEFAULT_WAIT_MS: u64 = 60_000;
/// Slack `error` codes that are worth another attempt.
const SLACK_TRANSIENT: [&str; 6] = [
    "ratelimited",
    "rate_limited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
];

/// Classifies a provider's answer to a [`reply_request`]. `header` looks a
/// response header up by lower-case name; `now_ms` turns absolute reset
/// times into waits.
///
/// 2xx is sent unless the body says otherwise (Slack `ok:false`, Linear
/// `errors[]` or `success:false`); rate limits (429, Slack `ratelimited`,
/// GitHub 403 with `retry-after` or `x-ratelimit-remaining: 0`, Linear
/// `RATELIMITED`), 408 and 5xx are retried, with the provider's wait when it
/// gives one; other 4xx are dead.
#[must_use]
pub fn classify_reply(
    provider: Provider,
    status: u16,
    header: &dyn Fn(&str) -> Option<String>,
    body: &str,
    now_ms: i64,
) -> ReplyOutcome {
    match provider {
        Provider::Slack => classify_slack(status, header, body),
        Provider::Github => classify_github(status, header, body, now_ms),
        Provider::Linear => classify_linear(status, header, body, now_ms),
    }
}

fn classify_slack(
    status: u16,
    header: &dyn Fn(&str) -> Option<String>,
    body: &str,
) -> ReplyOutcome {
    let answer = serde_json::from_str::<Value>(body).ok();
    let code = answer.as_ref().and_then(|answer| str_at(answer, "/error"));
    match status {
        200..=299 => {}
        429 => return retry(format!("{status}: ratelimited"), retry_after_ms(header)),
        408 | 500..=599 => return retry(status.to_string(), None),
        400..=499 => return dead(format!("{status}: {}", code.unwrap_or("client error"))),
        _ => return dead(format!("{status}: unexpected status")),
    }
    let Some(answer) = answer.as_ref() else {
        return retry(format!("{status}: the answer is not JSON"), None);
    };
    match answer.get("ok").and_then(Value::as_bool) {
        Some(true) => ReplyOutcome::Sent {
            provider_ref: str_at(answer, "/ts").map(str::to_owned),
        },
        Some(false) => {
            let code = code.unwrap_or("unknown_error");
            match code {
                "ratelimited" | "rate_limited" => retry(code, retry_after_ms(header)),
                _ if SLACK_TRANSIENT.contains(&code) => retry(code, None),
                _ => dead(code),
            }
        }
        None => retry(format!("{status}: the answer has no ok"), None),
    }
}

fn classify_github(
    status: u16,
    header: &dyn Fn(&str) -> Option<String>,
    body: &str,
    now_ms: i64,
) -> ReplyOutcome {
    let answer = serde_json::from_str::<Value>(body).ok();
    let message = answer
        .as_ref()
        .and_then(|answer| str_at(answer, "/message"))
        .unwrap_or("no message");
    let exhausted = header("x-ratelimit-remaining").is_some_and(|left| left.trim() == "0");
    let wait = || {
        retry_after_ms(header)
            .or_else(|| {
                exhausted
                    .then(|| header("x-ratelimit-reset"))
                    .flatten()
                    .and_then(|reset| reset.trim().parse::<i64>().ok())
                    .map(|reset_s| wait_until_ms(reset_s.saturating_mul(1_000), now_ms))
            })
            .unwrap_or(GITHUB_DEFAULT_WAIT_MS)
    };
    match status {
        200..=299 => ReplyOutcome::Sent {
            provider_ref: answer.as_ref().and_then(|answer| id_at(answer, "/id")),
        },
        429 => retry(format!("{status}: {message}"), Some(wait())),
        403 if header("retry-after").is_some()
            || exhausted
            || message.to_ascii_lowercase().contains("rate limit") =>
        {
            retry(format!("{status}: {message}"), Some(wait()))
        }
        408 | 500..=599 => retry(format!("{status}: {message}"), None),
        400..=499 => dead(format!("{status}: {message}")),
        _ => dead(format!("{status}: unexpected status")),
    }
}

fn classify_linear(
    status: u16,
    header: &dyn Fn(&str) -> Option<String>,
    body: &str,
    now_ms: i64,
) -> ReplyOutcome {
    let answer = serde_json::from_str::<Value>(body).ok();
    let errors = answer
        .as_ref()
        .and_then(|answer| answer.get("errors"))
        .and_then(Value::as_array)
        .filter(|errors| !errors.is_empty());
    let rate_limited = errors.is_some_and(|errors| {
        errors
            .iter()
            .any(|error| str_at(error, "/extensions/code") == Some("RATELIMITED"))
    });
    let message = errors
        .and_then(|errors| errors.first())
        .and_then(|error| str_at(error, "/message"))
        .unwrap_or("no message");
    let reset = || {
        ["x-ratelimit-requests-reset", "x-ratelimit-complexity-reset"]
            .into_iter()
            .find_map(|name| header(name).and_then(|reset| reset.trim().parse::<i64>().ok()))
            .map(|reset_ms| wait_until_ms(reset_ms, now_ms))
    };
    match status {
        200..=299 if rate_limited => retry(format!("RATELIMITED: {message}"), reset()),
        200..=299 if errors.is_some() => dead(message),
        200..=299 => {
            let created = answer
                .as_ref()
                .and_then(|answer| answer.pointer("/data/agentActivityCreate"));
            match created
                .and_then(|created| created.get("success"))
                .and_then(Value::as_bool)
            {
                Some(true) => ReplyOutcome::Sent {
                    provider_ref: created.and_then(|created| id_at(created, "/agentActivity/id")),
                },
                Some(false) => dead("agentActivityCreate answered success: false"),
                None => retry(format!("{status}: unexpected answer"), None),
            }
        }
        400 if rate_limited => retry(format!("RATELIMITED: {message}"), reset()),
        429 => retry(
            format!("{status}: {message}"),
            retry_after_ms(header).or_else(reset),
        ),
        408 | 500..=599 => retry(format!("{status}: {message}"), None),
        400..=499 => dead(format!("{status}: {message}")),
        _ => dead(format!("{status}: unexpected status")),
    }
}

/// `Retry-After` (seconds) in milliseconds.
fn retry_after_ms(header: &dyn Fn(&str) -> Option<String>) -> Option<u64> {
    let seconds: f64 = header("retry-after")?.trim().parse().ok()?;
    if !seconds.is_finite() || seconds < 0.0 {
        return None;
    }
    Some((seconds * 1_000.0).ceil().min(u64::MAX as f64) as u64)
}

/// Milliseconds from `now_ms` to `reset_ms`, at least [`MIN_RESET_WAIT_MS`].
fn wait_until_ms(reset_ms: i64, now_ms: i64) -> u64 {
    u64::try_from(reset_ms.saturating_sub(now_ms))
        .unwrap_or_default()
        .max(MIN_RESET_WAIT_MS)
}

fn retry(error: impl AsRef<str>, after_ms: Option<u64>) -> ReplyOutcome {
    ReplyOutcome::Retry {
        error: short_error(error.as_ref()),
        after_ms,
    }
}

fn dead(error: impl AsRef<str>) -> ReplyOutcome {
    ReplyOutcome::Dead {
        error: short_error(error.as_ref()),
    }
}

fn short_error(error: &str) -> String {
    cap_chars(error.trim(), ERROR_MAX)
}

/// The longest back-off, in milliseconds.
const MAX_RETRY_DELAY_MS: u64 = 600_000;

/// Exponential back-off before the next attempt: `base_ms * 2^(attempts-1)`
/// (`attempts` is the number of attempts made; 0 counts as 1), capped at
/// 600,000 ms, with equal jitter: `d/2 + jitter * d/2`, `jitter` clamped to
/// `[0, 1]` (NaN counts as 0).
#[must_use]
pub fn retry_delay_ms(attempts: u32, base_ms: u64, jitter: f64) -> u64 {
    let doublings = attempts.saturating_sub(1);
    let delay = 1u64
        .checked_shl(doublings)
        .map_or(u64::MAX, |factor| base_ms.saturating_mul(factor))
        .min(MAX_RETRY_DELAY_MS);
    let jitter = if jitter.is_nan() {
        0.0
    } else {
        jitter.clamp(0.0, 1.0)
    };
    let half = delay / 2;
    let spread = delay - half;
    half + (jitter * spread as f64).round() as u64
}

/// The text of an `agent.message` event's `content` blocks: the text blocks,
/// joined with a blank line (a plain string is taken as it is).
#[must_use]
pub fn message_text(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter(|block| block.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|block| block.get("text").and_then(Value::as_str))
            .filter(|text| !text.is_empty())
            .collect::<Vec<_>>()
            .join("\n\n"),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::Object(_) => String::new(),
    }
}

#[cfg(test)]
#[path = "integrations_tests.rs"]
mod tests;
