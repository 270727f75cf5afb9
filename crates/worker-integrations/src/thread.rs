//! `IntegrationThread`: one Durable Object per provider conversation (a
//! Slack thread, a Linear agent session, a GitHub issue). It records each
//! delivery once, turns its messages into the session's inputs, watches
//! the session's event stream for the turns that end, and posts their
//! replies through the outbox. Everything it must not lose is in its
//! storage before the webhook is answered; an alarm resumes the work after
//! an eviction or a crash.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use futures_util::StreamExt as _;
use futures_util::future::Either;
use futures_util::future::select;
use openma_core::integrations::Provider;
use openma_core::integrations::ReplyKind;
use openma_core::integrations::Thread;
use openma_core::llm::sse::SseDecoder;
use serde::Deserialize;
use serde::Serialize;
use serde_json::Value;
use serde_json::json;
use worker::Env;
use worker::Request;
use worker::Response;
use worker::Result;
use worker::SqlStorage;
use worker::SqlStorageValue;
use worker::State;
use worker::durable_object;

use crate::config::Config;
use crate::log;
use crate::outbox;
use crate::outbox::Reply;
use crate::platform::Called;
use crate::platform::Platform;
use crate::platform::user_message;
use crate::watch::TurnWatch;

/// The alarm that resumes a thread's work after a crash, while it has any.
const WATCHDOG_MS: i64 = 30_000;
/// How long to wait after the platform failed to take an input.
const RETRY_MS: i64 = 2_000;
/// How long one read of the session's stream lasts before it is opened
/// again (the alarm is re-armed in between).
const WATCH_MS: i64 = 20_000;
/// How often a read of the stream looks up from it (new inputs, replies
/// due for a retry).
const TICK_MS: u64 = 250;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS thread (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  name TEXT NOT NULL,
  integration_id TEXT NOT NULL,
  tenant_id TEXT NOT NULL,
  thread TEXT NOT NULL,
  session_id TEXT,
  cursor INTEGER NOT NULL DEFAULT 0,
  awaiting INTEGER NOT NULL DEFAULT 0,
  pending_id TEXT
);
CREATE TABLE IF NOT EXISTS inbox (
  delivery_id TEXT PRIMARY KEY,
  message_key TEXT NOT NULL UNIQUE,
  received_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS inputs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  delivery_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  text TEXT NOT NULL,
  state TEXT NOT NULL,
  received_at INTEGER NOT NULL
);
";

/// What the worker hands a thread for one verified delivery.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Delivery {
    /// The object's name: the integration and the thread's key.
    pub(crate) name: String,
    pub(crate) integration_id: String,
    pub(crate) tenant_id: String,
    pub(crate) delivery_id: String,
    pub(crate) message_key: String,
    pub(crate) thread: Thread,
    /// `start`, `continue` or `stop`.
    pub(crate) kind: String,
    pub(crate) text: String,
}

/// The thread's answer to a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Intake {
    /// Recorded; the work follows.
    Accepted,
    /// Seen before (the same delivery, or the same message by another
    /// delivery): nothing done.
    Duplicate,
    /// A follow-up in a conversation the agent is not part of.
    Ignored,
}

/// The object's name for `thread` of `integration_id`.
pub(crate) fn object_name(integration_id: &str, thread: &Thread) -> String {
    format!("{integration_id}/{}", thread.key())
}

#[derive(Debug, Clone, Deserialize)]
struct ThreadRow {
    name: String,
    integration_id: String,
    tenant_id: String,
    thread: String,
    session_id: Option<String>,
    cursor: i64,
    awaiting: i64,
    pending_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct InputRow {
    seq: i64,
    delivery_id: String,
    kind: String,
    text: String,
    state: String,
}

#[derive(Deserialize)]
struct Count {
    n: i64,
}

/// A conversation's Durable Object.
#[durable_object]
pub struct IntegrationThread {
    inner: Rc<Inner>,
}

struct Inner {
    state: State,
    env: Env,
    sql: SqlStorage,
    /// A pump is running.
    pumping: Cell<bool>,
    /// Something arrived that the running pump must look at.
    dirty: Cell<bool>,
}

impl worker::DurableObject for IntegrationThread {
    fn new(state: State, env: Env) -> Self {
        let sql = state.storage().sql();
        Self {
            inner: Rc::new(Inner {
                state,
                env,
                sql,
                pumping: Cell::new(false),
                dirty: Cell::new(false),
            }),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        match req.path().as_str() {
            "/deliver" => {
                let delivery: Delivery = req.json().await?;
                let accepted = self.inner.accept(&delivery)?;
                if accepted == Intake::Accepted {
                    self.inner.arm(Some(now_ms())).await;
                    self.inner.kick();
                }
                openma_cloudflare::json(200, &json!({"outcome": accepted}))
            }
            "/kick" => {
                self.inner.kick();
                openma_cloudflare::json(200, &json!({"outcome": "kicked"}))
            }
            _ => openma_cloudflare::json(404, &json!({"error": "no such route"})),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        if self.inner.pumping.replace(true) {
            self.inner.dirty.set(true);
        } else {
            self.inner.pump().await;
            self.inner.pumping.set(false);
        }
        Response::ok("ok")
    }
}

impl Inner {
    fn exec(&self, query: &str, params: Vec<SqlStorageValue>) -> Result<()> {
        self.sql.exec(query, params).map(|_| ())
    }

    fn rows<T: for<'de> Deserialize<'de>>(
        &self,
        query: &str,
        params: Vec<SqlStorageValue>,
    ) -> Result<Vec<T>> {
        self.sql.exec(query, params)?.to_array()
    }

    fn schema(&self) -> Result<()> {
        self.exec(SCHEMA, Vec::new())
    }

    fn thread_row(&self) -> Result<Option<ThreadRow>> {
        let tables: Vec<Count> = self.rows(
            "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'thread'",
            Vec::new(),
        )?;
        if tables.first().is_none_or(|c| c.n == 0) {
            return Ok(None);
        }
        Ok(self
            .rows::<ThreadRow>("SELECT * FROM thread WHERE id = 1", Vec::new())?
            .into_iter()
            .next())
    }

    /// Records a delivery once and queues its input. Nothing is written for
    /// a follow-up in a conversation without a session.
    fn accept(&self, delivery: &Delivery) -> Result<Intake> {
        let known = self.thread_row()?;
        if known.is_none() && delivery.kind != "start" {
            return Ok(Intake::Ignored);
        }
        self.schema()?;
        let seen: Vec<Count> = self.rows(
            "SELECT count(*) AS n FROM inbox WHERE delivery_id = ? OR message_key = ?",
            vec![
                delivery.delivery_id.as_str().into(),
                delivery.message_key.as_str().into(),
            ],
        )?;
        if seen.first().is_some_and(|c| c.n > 0) {
            return Ok(Intake::Duplicate);
        }
        let now = now_ms();
        self.exec(
            "INSERT INTO inbox (delivery_id, message_key, received_at) VALUES (?, ?, ?)",
            vec![
                delivery.delivery_id.as_str().into(),
                delivery.message_key.as_str().into(),
                now.into(),
            ],
        )?;
        if known.is_none() {
            self.exec(
                "INSERT INTO thread (id, name, integration_id, tenant_id, thread) VALUES (1, ?, ?, ?, ?)",
                vec![
                    delivery.name.as_str().into(),
                    delivery.integration_id.as_str().into(),
                    delivery.tenant_id.as_str().into(),
                    serde_json::to_string(&delivery.thread)?.into(),
                ],
            )?;
        }
        self.exec(
            "INSERT INTO inputs (delivery_id, kind, text, state, received_at) VALUES (?, ?, ?, 'queued', ?)",
            vec![
                delivery.delivery_id.as_str().into(),
                delivery.kind.as_str().into(),
                delivery.text.as_str().into(),
                now.into(),
            ],
        )?;
        Ok(Intake::Accepted)
    }

    /// Makes sure a pump will look at the thread soon.
    fn kick(self: &Rc<Self>) {
        self.dirty.set(true);
        if self.pumping.replace(true) {
            return;
        }
        let inner = Rc::clone(self);
        wasm_bindgen_futures::spawn_local(async move {
            inner.pump().await;
            inner.pumping.set(false);
        });
    }

    /// Works until nothing is left to do now; leaves an alarm for what is
    /// left for later. The caller holds `pumping`.
    async fn pump(self: &Rc<Self>) {
        loop {
            self.dirty.set(false);
            let next = match self.step().await {
                Ok(next) => next,
                Err(e) => {
                    let name = self.thread_row().ok().flatten().map(|row| row.name);
                    log::failure("thread_step", &e.to_string(), name.as_deref());
                    Some(now_ms() + RETRY_MS)
                }
            };
            if self.dirty.get() {
                continue;
            }
            self.arm(next).await;
            if !self.dirty.get() {
                return;
            }
        }
    }

    /// One round: inputs to the session, due replies out, then the
    /// session's stream until its turn ends. Answers when to look again.
    async fn step(self: &Rc<Self>) -> Result<Option<i64>> {
        let Some(row) = self.thread_row()? else {
            return Ok(None);
        };
        let config = Config::from_env(&self.env);
        let input_retry = self.send_inputs(&row, &config).await?;
        let mut next = outbox::deliver_due(&self.env, &config, &row.name).await?;
        let Some(row) = self.thread_row()? else {
            return Ok(None);
        };
        if row.awaiting != 0 && input_retry.is_none() {
            self.watch(&row, &config, next).await?;
            next = outbox::deliver_due(&self.env, &config, &row.name).await?;
        }
        let awaiting = self.thread_row()?.is_some_and(|row| row.awaiting != 0);
        if awaiting && input_retry.is_none() {
            // Still running: read on at once.
            self.dirty.set(true);
        }
        let watchdog = awaiting.then(|| now_ms() + WATCHDOG_MS);
        Ok([input_retry, next, watchdog].into_iter().flatten().min())
    }

    /// Arms the alarm at `at` (ms), or deletes it.
    async fn arm(&self, at: Option<i64>) {
        let storage = self.state.storage();
        let armed = match at {
            Some(at) => storage.set_alarm((at - now_ms()).max(0)).await,
            None => storage.delete_alarm().await,
        };
        if let Err(e) = armed {
            log::failure("alarm", &e.to_string(), None);
        }
    }

    /// Hands each queued input to the platform, in order. Answers when to
    /// try again if the platform could not take one.
    async fn send_inputs(&self, row: &ThreadRow, config: &Config) -> Result<Option<i64>> {
        let inputs: Vec<InputRow> = self.rows(
            "SELECT seq, delivery_id, kind, text, state FROM inputs WHERE state IN ('queued', 'sending') ORDER BY seq",
            Vec::new(),
        )?;
        let thread: Thread = serde_json::from_str(&row.thread)?;
        let platform = Platform::new(&self.env, &row.tenant_id);
        for input in inputs {
            let session_id = self.thread_row()?.and_then(|row| row.session_id);
            let called = match (&session_id, input.kind.as_str()) {
                (None, "start") => {
                    if thread.provider() == Provider::Linear {
                        // Linear shows the agent as unresponsive without a
                        // first activity within 10 s.
                        self.reply(
                            row,
                            &thread,
                            None,
                            ReplyKind::Thought,
                            &format!("thought:{}", input.delivery_id),
                            "Working on it.",
                        )
                        .await?;
                        outbox::deliver_due(&self.env, config, &row.name).await?;
                    }
                    match self.recovered_session(row, &platform, &input).await? {
                        Some(id) => Called::Ok(json!({"id": id})),
                        None => {
                            self.mark(&input, "sending")?;
                            let params = self.session_params(row, &thread, &input).await?;
                            match params {
                                Some(params) => platform.create_session(&params).await,
                                None => Called::Refused("the integration was deleted".to_owned()),
                            }
                        }
                    }
                }
                (None, _) => {
                    self.mark(&input, "dropped")?;
                    continue;
                }
                (Some(session_id), kind) => {
                    self.mark(&input, "sending")?;
                    let event = if kind == "stop" {
                        json!({"type": "user.interrupt"})
                    } else {
                        user_message(&input.text)
                    };
                    platform.send_event(session_id, event).await
                }
            };
            match called {
                Called::Ok(answer) => {
                    if session_id.is_none() {
                        let id = answer["id"].as_str().unwrap_or_default();
                        self.exec(
                            "UPDATE thread SET session_id = ?, cursor = 0, awaiting = 1, pending_id = NULL WHERE id = 1",
                            vec![id.into()],
                        )?;
                    } else {
                        let pending = answer["data"][0]["id"].as_str().map(str::to_owned);
                        self.exec(
                            "UPDATE thread SET awaiting = 1, pending_id = ? WHERE id = 1",
                            vec![pending.map_or(SqlStorageValue::Null, SqlStorageValue::from)],
                        )?;
                    }
                    self.mark(&input, "sent")?;
                }
                Called::Refused(message) => {
                    self.mark(&input, "failed")?;
                    let text = match session_id {
                        None => format!("The agent could not start: {message}"),
                        Some(_) => format!("The agent could not take this message: {message}"),
                    };
                    self.reply(
                        row,
                        &thread,
                        session_id.as_deref(),
                        ReplyKind::Error,
                        &format!("refused:{}", input.delivery_id),
                        &text,
                    )
                    .await?;
                }
                Called::Failed(message) => {
                    log::failure("platform_call", &message, Some(&row.name));
                    return Ok(Some(now_ms() + RETRY_MS));
                }
            }
        }
        Ok(None)
    }

    fn mark(&self, input: &InputRow, state: &str) -> Result<()> {
        self.exec(
            "UPDATE inputs SET state = ? WHERE seq = ?",
            vec![state.into(), input.seq.into()],
        )
    }

    /// The session a previous activation created for `input` before it
    /// could record it, if one did: the session's metadata names the
    /// delivery.
    async fn recovered_session(
        &self,
        row: &ThreadRow,
        platform: &Platform<'_>,
        input: &InputRow,
    ) -> Result<Option<String>> {
        if input.state != "sending" {
            return Ok(None);
        }
        match platform.recent_sessions().await {
            Called::Ok(page) => Ok(page["data"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|s| s["metadata"]["delivery"] == input.delivery_id.as_str())
                .and_then(|s| s["id"].as_str().map(str::to_owned))),
            Called::Refused(e) | Called::Failed(e) => Err(worker::Error::RustError(format!(
                "looking for the session of {}: {e}",
                row.name
            ))),
        }
    }

    /// The session a conversation starts: the integration's agent,
    /// environment and vaults, with metadata naming the thread.
    async fn session_params(
        &self,
        row: &ThreadRow,
        thread: &Thread,
        input: &InputRow,
    ) -> Result<Option<Value>> {
        let Some(integration) =
            openma_cloudflare::store::integrations::get_any(&self.env, &row.integration_id).await?
        else {
            return Ok(None);
        };
        let mut metadata = thread.session_metadata();
        metadata.insert("integration_id".to_owned(), integration.id.clone());
        metadata.insert("delivery".to_owned(), input.delivery_id.clone());
        Ok(Some(json!({
            "agent": integration.agent_id,
            "environment_id": integration.environment_id,
            "vault_ids": integration.vault_ids,
            "title": thread.session_title(),
            "metadata": metadata,
            "initial_events": [user_message(&input.text)],
        })))
    }

    async fn reply(
        &self,
        row: &ThreadRow,
        thread: &Thread,
        session_id: Option<&str>,
        kind: ReplyKind,
        anchor: &str,
        text: &str,
    ) -> Result<()> {
        outbox::enqueue(
            &self.env,
            &Reply {
                tenant_id: &row.tenant_id,
                integration_id: &row.integration_id,
                thread_name: &row.name,
                thread,
                session_id,
                kind,
                anchor,
                text,
            },
        )
        .await
        .map(|_| ())
    }

    /// Reads the session's stream from the last turn's end, queues (and
    /// posts) each ended turn's reply, and records the new cursor. Returns
    /// when the input waited on is answered, the stream closes, something
    /// new arrives, a reply falls due, or after [`WATCH_MS`].
    async fn watch(&self, row: &ThreadRow, config: &Config, due: Option<i64>) -> Result<()> {
        let Some(session_id) = row.session_id.as_deref() else {
            return Ok(());
        };
        let thread: Thread = serde_json::from_str(&row.thread)?;
        let platform = Platform::new(&self.env, &row.tenant_id);
        let cursor = u64::try_from(row.cursor).unwrap_or_default();
        let mut resp = platform.stream(session_id, cursor).await?;
        match resp.status_code() {
            200 => {}
            404 => {
                // The session was deleted: nothing more will come.
                self.exec("UPDATE thread SET awaiting = 0 WHERE id = 1", Vec::new())?;
                return Ok(());
            }
            status => {
                let text = resp.text().await.unwrap_or_default();
                return Err(worker::Error::RustError(format!(
                    "the session's stream answered {status}: {}",
                    text.chars().take(300).collect::<String>()
                )));
            }
        }
        let mut body = resp.stream()?;
        let mut decoder = SseDecoder::new();
        let mut watch = TurnWatch::new(row.pending_id.clone());
        let started = now_ms();
        let mut due = due;
        loop {
            let now = now_ms();
            if self.dirty.get() || due.is_some_and(|d| d <= now) || now - started > WATCH_MS {
                return Ok(());
            }
            let tick = worker::Delay::from(Duration::from_millis(TICK_MS));
            let chunk = match select(body.next(), tick).await {
                Either::Left((Some(chunk), _)) => chunk?,
                Either::Left((None, _)) => return Ok(()),
                Either::Right(_) => continue,
            };
            for frame in decoder.feed(&chunk) {
                let Some(seq) = frame.id.as_deref().and_then(|id| id.parse::<u64>().ok()) else {
                    continue;
                };
                if seq <= cursor {
                    continue;
                }
                let Ok(event) = serde_json::from_str::<Value>(&frame.data) else {
                    continue;
                };
                let Some(end) = watch.see(seq, &event) else {
                    continue;
                };
                if let Some((kind, text)) = &end.reply {
                    self.reply(
                        row,
                        &thread,
                        Some(session_id),
                        *kind,
                        &format!("{session_id}:{seq}"),
                        text,
                    )
                    .await?;
                }
                let pending = (!watch.pending_seen())
                    .then(|| row.pending_id.clone())
                    .flatten();
                self.exec(
                    "UPDATE thread SET cursor = ?, awaiting = ?, pending_id = ? WHERE id = 1",
                    vec![
                        i64::try_from(seq).unwrap_or(i64::MAX).into(),
                        i64::from(!end.settled).into(),
                        pending.map_or(SqlStorageValue::Null, SqlStorageValue::from),
                    ],
                )?;
                if end.reply.is_some() {
                    due = outbox::deliver_due(&self.env, config, &row.name).await?;
                }
                if end.settled {
                    return Ok(());
                }
            }
        }
    }
}

#[allow(clippy::cast_possible_truncation)]
fn now_ms() -> i64 {
    worker::Date::now().as_millis() as i64
}
