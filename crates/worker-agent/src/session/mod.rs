//! One session: its event log (SQLite), its live streams, and the driver of
//! its turns. The core harness does the work; this object persists it, serves
//! it, and keeps it moving across evictions.

mod archive;
mod command;
mod driver;
mod gate;
mod handlers;
mod hub;
mod ledger;
mod schema;
mod sse;
mod store;

use std::cell::Cell;
use std::cell::RefCell;
use std::rc::Rc;
use std::rc::Weak;

use openma_cloudflare::internal::SessionRecord;
use openma_cloudflare::internal::TENANT_HEADER;
use openma_core::Harness;
use openma_core::HarnessConfig;
use openma_core::Ports;
use openma_core::SessionSummary;
use openma_core::wire::ApiErrorType;
use openma_core::wire::EventSeq;
use serde_json::json;
use worker::Env;
use worker::Request;
use worker::Response;
use worker::Result;
use worker::State;
use worker::durable_object;

use self::archive::Swept;
use self::command::Command;
use self::gate::Gate;
use self::gate::InFlight;
use self::hub::Hub;
use self::store::DoEventStore;
use self::store::HeadCache;
use self::store::SummaryCache;
use crate::clock::RuntimeClock;
use crate::interrupts::InterruptSignal;
use crate::model::Deadlines;
use crate::model::FetchTransport;
use crate::providers::RoutedModelClient;
use crate::signals::Signals;
use crate::tools::SandboxTools;

/// The harness with this worker's ports.
pub(crate) type SessionHarness =
    Harness<RoutedModelClient, DoEventStore, SandboxTools, RuntimeClock>;

/// A session's Durable Object.
#[durable_object]
pub struct SessionDO {
    inner: Rc<Inner>,
}

/// The object's state, shared with the driver that outlives a request.
pub(crate) struct Inner {
    /// This object, for what outlives a borrow of it (the ledger's writes).
    me: Weak<Self>,
    state: State,
    env: Env,
    hub: Rc<Hub>,
    harness: RefCell<Option<Rc<SessionHarness>>>,
    /// A driver loop is running.
    driving: Cell<bool>,
    /// The agent's tools changed while a driver loop ran.
    pub(crate) agent_stale: Cell<bool>,
    /// Something happened that the running driver loop must look at.
    dirty: Cell<bool>,
    /// Why the schema could not be applied, if it could not.
    schema_error: Option<String>,
    /// The storage holds a session's schema (false for an id never created,
    /// or a deleted session: nothing is written for those).
    schema_ready: Cell<bool>,
    /// The summary last handed to the sessions index.
    indexed_summary: RefCell<Option<SessionSummary>>,
    /// An index write is in flight.
    index_writing: Cell<bool>,
    /// The summary the sessions index holds, as far as this activation knows.
    index_written: RefCell<Option<SessionSummary>>,
    /// The seq up to which the usage ledger holds the log, once read.
    ledger_cursor: Cell<Option<EventSeq>>,
    /// A ledger write is in flight.
    ledger_writing: Cell<bool>,
    /// Something was appended that the ledger write in flight may not have
    /// read.
    ledger_wanted: Cell<bool>,
    /// The session record, read once per activation.
    record_cache: RefCell<Option<SessionRecord>>,
    /// When the armed alarm fires (ms), as far as this activation knows.
    armed_at: Cell<Option<u64>>,
    /// The log's head, shared by the stores of every harness opened.
    head: HeadCache,
    /// The log's summary, shared the same way.
    summary: SummaryCache,
    /// A request for the session has reached this activation.
    activated: Cell<bool>,
    /// Raised when a `user.interrupt` is recorded: ends a waiting model or
    /// tool call at once.
    pub(crate) interrupts: InterruptSignal,
    /// Closed while the storage moves to R2 or back.
    gate: Gate,
    /// The requests (and alarms) being served.
    in_flight: InFlight,
    /// The session, while its storage is swept into R2.
    swept: RefCell<Option<Rc<Swept>>>,
    /// The session was deleted by this activation.
    deleted: Cell<bool>,
}

/// Where a request finds its session.
enum Found {
    /// In the object's storage.
    Stored(Box<SessionRecord>),
    /// Swept into R2.
    Swept(Rc<Swept>),
    /// Nowhere: never created, or deleted.
    Absent,
}

impl worker::DurableObject for SessionDO {
    fn new(state: State, env: Env) -> Self {
        // Only an existing session's storage is migrated; an id that was
        // never created gets no storage at all.
        let sql = state.storage().sql();
        let (schema_ready, schema_error) = match schema::exists(&sql) {
            Ok(false) => (false, None),
            Ok(true) => match schema::apply(&sql) {
                Ok(()) => (true, None),
                Err(e) => (false, Some(e.to_string())),
            },
            Err(e) => (false, Some(e.to_string())),
        };
        Self {
            inner: Rc::new_cyclic(|me| Inner {
                me: me.clone(),
                state,
                env,
                hub: Rc::new(Hub::default()),
                harness: RefCell::new(None),
                driving: Cell::new(false),
                agent_stale: Cell::new(false),
                dirty: Cell::new(false),
                schema_error,
                schema_ready: Cell::new(schema_ready),
                indexed_summary: RefCell::new(None),
                index_writing: Cell::new(false),
                index_written: RefCell::new(None),
                ledger_cursor: Cell::new(None),
                ledger_writing: Cell::new(false),
                ledger_wanted: Cell::new(false),
                record_cache: RefCell::new(None),
                armed_at: Cell::new(None),
                head: HeadCache::default(),
                summary: SummaryCache::default(),
                activated: Cell::new(false),
                interrupts: InterruptSignal::default(),
                gate: Gate::default(),
                in_flight: InFlight::default(),
                swept: RefCell::new(None),
                deleted: Cell::new(false),
            }),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        if let Some(error) = &self.inner.schema_error {
            return handlers::internal(format!("session storage schema: {error}"));
        }
        let Some(command) = Command::parse(&req.method(), &req.path()) else {
            return handlers::error(ApiErrorType::NotFoundError, "no such session route");
        };
        if command == Command::Health {
            return handlers::health(&self.inner);
        }
        // A sweep or restore in progress finishes first.
        self.inner.gate.pass().await;
        let _serving = self.inner.in_flight.enter();
        if command == Command::Init {
            return handlers::init(&self.inner, req).await;
        }
        let path = req.path();
        let session_id = path
            .strip_prefix("/sessions/")
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_default();
        let tenant = req.headers().get(TENANT_HEADER)?.unwrap_or_default();
        // Every other command needs the session, owned by the caller's tenant.
        loop {
            let found = match self.inner.find(session_id).await {
                Ok(found) => found,
                Err(e) => return handlers::internal(e),
            };
            let swept = match found {
                Found::Stored(record) if record.tenant_id == tenant => {
                    return self.serve(command, *record, req).await;
                }
                Found::Swept(swept) if swept.record.tenant_id == tenant => swept,
                Found::Stored(_) | Found::Swept(_) | Found::Absent => {
                    return handlers::error(ApiErrorType::NotFoundError, "session not found");
                }
            };
            let restores = command.changes() && swept.record.archived_at.is_none();
            if !restores && command != Command::Delete {
                return archive::serve(&self.inner, &swept, &command, &req).await;
            }
            // Moving the storage (or deleting it) shuts the gate; if another
            // request has, it finishes first and the session is found anew.
            let Some(_closed) = self.inner.gate.close() else {
                self.inner.gate.pass().await;
                continue;
            };
            if command == Command::Delete {
                return archive::delete(&self.inner, &swept).await;
            }
            if let Err(e) = archive::restore(&self.inner, &swept).await {
                return handlers::internal(format!("restoring {session_id}: {e}"));
            }
        }
    }

    async fn alarm(&self) -> Result<Response> {
        self.inner.gate.pass().await;
        let _serving = self.inner.in_flight.enter();
        driver::on_alarm(&self.inner).await;
        Response::ok("ok")
    }
}

impl SessionDO {
    /// A command to a session whose storage is in the object.
    async fn serve(
        &self,
        command: Command,
        record: SessionRecord,
        req: Request,
    ) -> Result<Response> {
        if !self.inner.activated.replace(true) {
            self.inner.log_info(json!({
                "event": "session_activated",
                "session_id": record.id,
                "command": format!("{command:?}"),
            }));
        }
        // The first request after a restart resumes any unfinished work. A
        // read looks for some in the log first, so that reading an idle
        // session never folds its whole log.
        if self.inner.harness.borrow().is_none() && command != Command::Delete {
            let resume = match command {
                Command::Get
                | Command::ListEvents
                | Command::Stream
                | Command::Sweep
                | Command::Storage => self
                    .inner
                    .read_store(&record)
                    .ok()
                    .is_none_or(|store| store.has_work_in_hand().unwrap_or(true)),
                _ => true,
            };
            if resume {
                self.inner.kick();
            }
        }
        match command {
            Command::Get => handlers::get(&self.inner, &record).await,
            Command::Update => handlers::update(&self.inner, record, req).await,
            Command::Archive => handlers::archive(&self.inner, record).await,
            Command::AddResource => handlers::add_resource(&self.inner, record, req).await,
            Command::DeleteResource(id) => {
                handlers::delete_resource(&self.inner, record, &id).await
            }
            Command::Delete => handlers::delete(&self.inner, &record).await,
            Command::SendEvents => handlers::send_events(&self.inner, &record, req).await,
            Command::ListEvents => handlers::list_events(&self.inner, &record, &req).await,
            Command::Stream => handlers::stream(&self.inner, &record, &req).await,
            Command::Sweep => archive::sweep(&self.inner, &record, req).await,
            Command::Storage => archive::storage(&self.inner, &record, false).await,
            Command::Health | Command::Init => handlers::internal("unreachable command"),
        }
    }
}

impl Inner {
    /// Where the session `session_id` is: in the storage, swept into R2
    /// (the sessions index says), or nowhere.
    async fn find(&self, session_id: &str) -> Result<Found> {
        if let Some(record) = self.record()? {
            return Ok(Found::Stored(Box::new(record)));
        }
        if self.deleted.get() {
            return Ok(Found::Absent);
        }
        Ok(match archive::swept(self, session_id).await? {
            Some(swept) => Found::Swept(swept),
            None => Found::Absent,
        })
    }

    /// The storage was cleared by a sweep: nothing of it stays in memory
    /// (open streams stay open).
    fn storage_cleared(&self) {
        self.schema_ready.set(false);
        self.record_cache.borrow_mut().take();
        self.armed_at.set(None);
        self.head.forget();
        self.summary.forget();
        self.harness.borrow_mut().take();
    }

    /// The storage was restored from the archive: it is read afresh.
    fn storage_restored(&self) {
        self.schema_ready.set(true);
        self.record_cache.borrow_mut().take();
        self.head.forget();
        self.summary.forget();
        self.swept.borrow_mut().take();
    }

    /// The session's event log, shared with the harness (same hub, same
    /// head); for reads, opened without folding the log.
    pub(crate) fn event_store(
        &self,
        record: &SessionRecord,
        signals: Rc<Signals>,
    ) -> Result<DoEventStore> {
        Ok(DoEventStore {
            sql: self.state.storage().sql(),
            blobs: self.env.bucket("BLOBS")?,
            session_id: record.id.clone(),
            hub: Rc::clone(&self.hub),
            signals,
            head: self.head.clone(),
            summary: self.summary.clone(),
            ledger: self.me.clone(),
        })
    }

    /// The log for a read: events are neither appended nor observed
    /// through it.
    pub(crate) fn read_store(&self, record: &SessionRecord) -> Result<DoEventStore> {
        let signals = Rc::new(Signals::new(
            record.id.clone(),
            record.tenant_id.clone(),
            None,
            false,
            None,
        ));
        let mut store = self.event_store(record, signals)?;
        store.ledger = Weak::new();
        Ok(store)
    }

    /// The session record, if the session exists.
    pub(crate) fn record(&self) -> Result<Option<SessionRecord>> {
        if !self.schema_ready.get() {
            return Ok(None);
        }
        if let Some(record) = self.record_cache.borrow().as_ref() {
            return Ok(Some(record.clone()));
        }
        match self.meta("record")? {
            Some(value) => {
                let record: SessionRecord = serde_json::from_str(&value)?;
                *self.record_cache.borrow_mut() = Some(record.clone());
                Ok(Some(record))
            }
            None => Ok(None),
        }
    }

    /// The value of `key` in the storage's `meta` table.
    pub(crate) fn meta(&self, key: &str) -> Result<Option<String>> {
        #[derive(serde::Deserialize)]
        struct Row {
            value: String,
        }
        let rows: Vec<Row> = self
            .state
            .storage()
            .sql()
            .exec("SELECT value FROM meta WHERE key = ?", vec![key.into()])?
            .to_array()?;
        Ok(rows.into_iter().next().map(|row| row.value))
    }

    /// Stores the session record, creating the storage schema first when
    /// this is a new session.
    pub(crate) fn save_record(&self, record: &SessionRecord) -> Result<()> {
        if !self.schema_ready.get() {
            schema::apply(&self.state.storage().sql())?;
            self.schema_ready.set(true);
        }
        let value = serde_json::to_string(record)?;
        self.state.storage().sql().exec(
            "INSERT INTO meta (key, value) VALUES ('record', ?)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            vec![value.into()],
        )?;
        *self.record_cache.borrow_mut() = Some(record.clone());
        Ok(())
    }

    /// Stores a changed session record and hands it to the sessions index.
    /// The change stands even if the index cannot be written (it is logged;
    /// the next change writes the whole record again).
    pub(crate) async fn save_and_index_record(&self, record: &SessionRecord) -> Result<()> {
        self.save_record(record)?;
        if let Err(e) = self.index_record(record).await {
            worker::console_error!(
                "{}",
                serde_json::json!({
                    "level": "error",
                    "event": "session_index_failure",
                    "session_id": record.id,
                    "error": e.to_string(),
                })
            );
        }
        Ok(())
    }

    /// The session's harness, opened (and the log replayed) on first use.
    pub(crate) async fn harness(&self) -> Result<Rc<SessionHarness>> {
        if let Some(harness) = self.harness.borrow().as_ref() {
            return Ok(Rc::clone(harness));
        }
        let record = self
            .record()?
            .ok_or_else(|| worker::Error::RustError("session not found".into()))?;
        let base_url = self
            .env
            .var("ANTHROPIC_BASE_URL")
            .map(|v| v.to_string())
            .or_else(|_| self.env.secret("ANTHROPIC_BASE_URL").map(|s| s.to_string()))
            .unwrap_or_else(|_| "https://api.anthropic.com".to_owned());
        let signals = Rc::new(Signals::new(
            record.id.clone(),
            record.tenant_id.clone(),
            self.env.analytics_engine("ANALYTICS").ok(),
            openma_cloudflare::info_logs(&self.env),
            Some(self.env.clone()),
        ));
        let ports = Ports {
            model: RoutedModelClient::new(
                self.env.clone(),
                record.tenant_id.clone(),
                FetchTransport::new(self.model_deadlines(), self.interrupts.clone()),
                base_url,
            ),
            store: self.event_store(&record, signals)?,
            tools: SandboxTools::new(
                self.env.clone(),
                self.state.storage().sql(),
                &record,
                self.tool_deadline_ms(),
                self.interrupts.clone(),
            ),
            clock: RuntimeClock,
        };
        let mut agent = record.agent.clone();
        if let Some(section) = crate::mounts::prompt_section(&record) {
            agent.system = Some(match agent.system.take() {
                Some(system) if !system.is_empty() => format!("{system}\n\n{section}"),
                _ => section,
            });
        }
        let mut config = HarnessConfig::new(record.id.clone(), agent);
        // The environment's worker runs the sandbox tools of a self-hosted
        // session: they wait for its `user.tool_result`.
        config.self_hosted = record.environment_config["type"] == "self_hosted";
        // Operator settings: how hard to retry a failing model provider.
        if let Some(ms) = self.setting("MODEL_RETRY_BASE_MS") {
            config.retry.base_delay_ms = ms;
        }
        if let Some(attempts) = self.setting("MODEL_MAX_ATTEMPTS") {
            config.retry.max_attempts = u32::try_from(attempts).unwrap_or(u32::MAX);
        }
        let started = worker::Date::now().as_millis();
        let opened = Rc::new(
            Harness::open(config, ports)
                .await
                .map_err(|e| worker::Error::RustError(e.to_string()))?,
        );
        self.log_info(json!({
            "event": "session_replayed",
            "session_id": record.id,
            "events": opened.state().summary.last_seq,
            "ms": worker::Date::now().as_millis().saturating_sub(started),
        }));
        // Another request may have opened it while this one awaited.
        let mut slot = self.harness.borrow_mut();
        Ok(Rc::clone(slot.get_or_insert(opened)))
    }

    /// The model calls' deadlines: `MODEL_FIRST_BYTE_TIMEOUT_MS` and
    /// `MODEL_IDLE_TIMEOUT_MS` override the defaults.
    fn model_deadlines(&self) -> Deadlines {
        let defaults = Deadlines::default();
        Deadlines {
            first_byte_ms: self
                .duration_setting("MODEL_FIRST_BYTE_TIMEOUT_MS", defaults.first_byte_ms),
            idle_ms: self.duration_setting("MODEL_IDLE_TIMEOUT_MS", defaults.idle_ms),
        }
    }

    /// The longest a tool call may take in the sandbox (`TOOL_CALL_TIMEOUT_MS`).
    fn tool_deadline_ms(&self) -> u64 {
        self.duration_setting("TOOL_CALL_TIMEOUT_MS", crate::tools::TOOL_CALL_MS)
    }

    /// A duration in milliseconds from a variable, or `default` when it is
    /// unset, invalid or zero.
    pub(crate) fn duration_setting(&self, name: &str, default: u64) -> u64 {
        self.setting(name).filter(|ms| *ms > 0).unwrap_or(default)
    }

    /// A numeric variable, if set and valid.
    fn setting(&self, name: &str) -> Option<u64> {
        let value = self
            .env
            .var(name)
            .map(|v| v.to_string())
            .or_else(|_| self.env.secret(name).map(|s| s.to_string()))
            .ok()?;
        value.trim().parse().ok()
    }

    /// The session's resources changed: an idle session opens its harness
    /// afresh (new mounts and system prompt); a running one keeps its
    /// harness and sets its sandbox up again before the next tool call.
    pub(crate) fn resources_changed(&self, record: &SessionRecord) {
        if self.driving.get() {
            if let Some(harness) = self.harness.borrow().as_ref() {
                harness.ports().tools.refresh(record);
            }
        } else {
            self.harness.borrow_mut().take();
        }
    }

    /// The session's agent tools or MCP servers changed while it was idle:
    /// the next turn opens its harness afresh, with the new toolset.
    pub(crate) fn agent_changed(&self) {
        if self.driving.get() {
            self.agent_stale.set(true);
        } else {
            self.harness.borrow_mut().take();
        }
    }

    /// Writes an info line (when the log level shows them).
    pub(crate) fn log_info(&self, mut line: serde_json::Value) {
        if openma_cloudflare::info_logs(&self.env) {
            line["level"] = json!("info");
            worker::console_log!("{line}");
        }
    }

    /// Forgets everything in memory (the session was deleted).
    pub(crate) fn reset(&self) {
        self.deleted.set(true);
        self.swept.borrow_mut().take();
        self.schema_ready.set(false);
        self.record_cache.borrow_mut().take();
        self.armed_at.set(None);
        self.ledger_cursor.set(None);
        self.head.forget();
        self.summary.forget();
        self.harness.borrow_mut().take();
        self.hub.close_all();
    }
}
