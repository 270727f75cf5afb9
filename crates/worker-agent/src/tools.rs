//! Core's `ToolExecutor` over the session's `Sandbox` object: every call goes
//! to the sandbox server, which runs it at most once per tool-use id.

use std::cell::Cell;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use openma_cloudflare::internal::SessionRecord;
use openma_core::egress::EgressPolicy;
use openma_core::egress::NetworkingPolicy;
use openma_core::metrics;
use openma_core::ports::McpListing;
use openma_core::ports::ToolCall;
use openma_core::ports::ToolExecError;
use openma_core::ports::ToolExecutor;
use openma_core::ports::ToolOutput;
use openma_core::sandbox::SessionSetupParams;
use openma_core::sandbox::SessionSetupResponse;
use openma_core::sandbox::ToolExecuteParams;
use openma_core::sandbox::ToolExecuteResponse;
use worker::Env;
use worker::Headers;
use worker::Method;
use worker::RequestInit;
use worker::SqlStorage;
use worker::wasm_bindgen::JsValue;

use crate::egress::SandboxSetup;
use crate::interrupts::Cut;
use crate::interrupts::InterruptSignal;
use crate::mcp::McpTools;
use crate::mounts::Mounts;
use crate::sandbox::INTERNAL_HEADER;
use crate::sandbox::INTERNAL_HOST;

/// The sandbox object's answer when its server does not know the session.
pub(crate) const NEEDS_SETUP: u16 = 409;

/// How long one tool call may take in the sandbox: the longest bash timeout
/// a call may ask for, and a minute for everything around it.
pub(crate) const TOOL_CALL_MS: u64 = openma_core::sandbox::MAX_BASH_TIMEOUT_MS + 60_000;

/// Runs tools in one session's sandbox.
#[derive(Debug, Clone)]
pub(crate) struct SandboxTools {
    env: Env,
    record: SessionRecord,
    session_id: String,
    /// The session's egress policy, sent with its secrets before the first
    /// call; an environment whose networking does not parse runs no tools.
    egress: Result<EgressPolicy, String>,
    /// Uploaded files and memory stores, and the outputs directory.
    mounts: RefCell<Mounts>,
    set_up: Cell<bool>,
    /// The longest one call may take.
    deadline_ms: u64,
    /// Ends a call in progress when an interrupt is recorded.
    interrupts: InterruptSignal,
    /// The agent's MCP servers (called by the platform, not the sandbox).
    mcp: Rc<McpTools>,
}

impl SandboxTools {
    /// The tools of the session `record` describes; `sql` is the session's
    /// storage, where what its mounts hold is kept.
    pub(crate) fn new(
        env: Env,
        sql: SqlStorage,
        record: &SessionRecord,
        deadline_ms: u64,
        interrupts: InterruptSignal,
    ) -> Self {
        let mcp_server_hosts = record
            .agent
            .mcp_servers
            .iter()
            .filter_map(|server| host_of(&server.url))
            .collect();
        let egress = NetworkingPolicy::from_environment_config(&record.environment_config).map(
            |networking| EgressPolicy {
                networking,
                mcp_server_hosts,
            },
        );
        Self {
            mcp: Rc::new(McpTools::new(
                env.clone(),
                sql.clone(),
                record,
                deadline_ms,
                interrupts.clone(),
            )),
            mounts: RefCell::new(Mounts::new(env.clone(), sql, record)),
            env,
            record: record.clone(),
            session_id: record.id.clone(),
            egress,
            set_up: Cell::new(false),
            deadline_ms,
            interrupts,
        }
    }

    /// Sets the session up in its sandbox, once per activation and again
    /// whenever the sandbox server has forgotten it. Vault credentials go by
    /// name and rule only; the sandbox never receives a secret value.
    async fn ensure_set_up(&self) -> Result<(), ToolExecError> {
        if self.set_up.get() {
            return Ok(());
        }
        let egress = self.egress.clone().map_err(ToolExecError)?;
        // Names and rules only: values are opened by the egress path, per request.
        let secrets = crate::secrets::credentials(
            &self.env,
            &self.record.tenant_id,
            &self.record.vault_ids,
            false,
        )
        .await
        .map_err(|e| ToolExecError(format!("vault credentials unavailable: {e}")))?
        .variables;
        let setup = SandboxSetup {
            tenant_id: self.record.tenant_id.clone(),
            vault_ids: self.record.vault_ids.clone(),
            params: SessionSetupParams {
                egress,
                secrets,
                env: BTreeMap::new(),
                mounts: self.mounts().setup_params(),
            },
        };
        let body = serde_json::to_string(&setup)
            .map_err(|e| ToolExecError(format!("sandbox set-up: {e}")))?;
        let path = format!("/session/{}", self.session_id);
        let mut resp = self
            .call(Method::Put, &path, Some(JsValue::from_str(&body)))
            .await
            .map_err(|e| ToolExecError(format!("sandbox unavailable: {e}")))?;
        if resp.status_code() != 200 {
            let text = resp.text().await.unwrap_or_default();
            return Err(ToolExecError(format!(
                "sandbox set-up failed with {}: {text}",
                resp.status_code()
            )));
        }
        let answer: SessionSetupResponse = resp
            .json()
            .await
            .map_err(|e| ToolExecError(format!("sandbox set-up: {e}")))?;
        self.mounts()
            .fill(self, &answer.mounts)
            .await
            .map_err(|e| ToolExecError(format!("placing the session's resources failed: {e}")))?;
        self.set_up.set(true);
        openma_cloudflare::store::metrics::spawn_add(
            &self.env,
            vec![metrics::increment(metrics::SANDBOX_STARTS, &[])],
        );
        Ok(())
    }

    /// The session's resources changed: take the new mounts, and set the
    /// sandbox up again before the next call.
    pub(crate) fn refresh(&self, record: &SessionRecord) {
        let fresh = self.mounts.borrow().with_resources(record);
        *self.mounts.borrow_mut() = fresh;
        self.set_up.set(false);
    }

    /// A snapshot of the mounts, safe to hold across awaits.
    fn mounts(&self) -> Mounts {
        self.mounts.borrow().clone()
    }

    /// Ends the session in its sandbox (stops its processes and container).
    pub(crate) async fn teardown(&self) -> worker::Result<()> {
        let path = format!("/session/{}", self.session_id);
        self.call(Method::Delete, &path, None).await.map(|_| ())
    }

    /// Sends an internal request to this session's `Sandbox` object.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<JsValue>,
    ) -> worker::Result<worker::Response> {
        let stub = self
            .env
            .durable_object("SANDBOX")?
            .id_from_name(&self.session_id)?
            .get_stub()?;
        let headers = Headers::new();
        headers.set("content-type", "application/json")?;
        let token = self
            .env
            .secret("SANDBOX_TOKEN")
            .map(|s| s.to_string())
            .unwrap_or_default();
        headers.set(INTERNAL_HEADER, &token)?;
        let mut init = RequestInit::new();
        init.with_method(method).with_headers(headers);
        if body.is_some() {
            init.with_body(body);
        }
        let req = worker::Request::new_with_init(&format!("https://{INTERNAL_HOST}{path}"), &init)?;
        stub.fetch_with_request(req).await
    }
}

impl ToolExecutor for SandboxTools {
    /// Runs the call, within its deadline; an interrupt recorded meanwhile
    /// ends the wait at once (the call itself stays idempotent by its id).
    async fn execute(&self, call: ToolCall) -> Result<ToolOutput, ToolExecError> {
        if call.mcp_server_name.is_some() {
            return self.mcp.execute(call).await;
        }
        let seen = self.interrupts.seen();
        let work = self.execute_unbounded(call);
        match self.interrupts.bounded(work, self.deadline_ms, seen).await {
            Ok(result) => result,
            Err(Cut::Deadline) => Err(ToolExecError(format!(
                "the sandbox did not answer the tool call within {} ms",
                self.deadline_ms
            ))),
            Err(Cut::Interrupt) => Err(ToolExecError(
                "the tool call was cut short by an interrupt".to_owned(),
            )),
        }
    }

    async fn mcp_tools(&self) -> McpListing {
        self.mcp.list().await
    }
}

impl SandboxTools {
    async fn execute_unbounded(&self, call: ToolCall) -> Result<ToolOutput, ToolExecError> {
        self.ensure_set_up().await?;
        let unavailable = |e: String| ToolExecError(format!("sandbox unavailable: {e}"));
        let params = ToolExecuteParams {
            session_id: self.session_id.clone(),
            tool_use_id: call.tool_use_id,
            name: call.name,
            input: serde_json::Value::Object(call.input),
            watch: self.mounts().watch(),
        };
        let body = serde_json::to_string(&params).map_err(|e| unavailable(e.to_string()))?;
        let mut resp = self
            .call(Method::Post, "/execute", Some(JsValue::from_str(&body)))
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        if resp.status_code() == NEEDS_SETUP {
            // The sandbox server restarted and forgot the session: set it up
            // again and retry; the call is idempotent by tool-use id.
            self.set_up.set(false);
            self.ensure_set_up().await?;
            resp = self
                .call(Method::Post, "/execute", Some(JsValue::from_str(&body)))
                .await
                .map_err(|e| unavailable(e.to_string()))?;
        }
        let status = resp.status_code();
        let text = resp.text().await.map_err(|e| unavailable(e.to_string()))?;
        if status != 200 {
            return Err(unavailable(format!("status {status}: {text}")));
        }
        let ToolExecuteResponse { result, watched } =
            serde_json::from_str(&text).map_err(|e| unavailable(e.to_string()))?;
        self.mounts().after_call(self, &watched).await;
        // The sandbox's content blocks have the wire's shape.
        let content = serde_json::to_value(&result.content)
            .and_then(serde_json::from_value)
            .map_err(|e| unavailable(e.to_string()))?;
        Ok(ToolOutput {
            content,
            is_error: result.is_error,
        })
    }
}

/// The egress allow-list entry of an MCP server's `http(s)://host[:port]/...`
/// URL: its host, with the port when it is not the scheme's default.
fn host_of(url: &str) -> Option<String> {
    let url = worker::Url::parse(url).ok()?;
    let host = url.host_str()?.to_ascii_lowercase();
    Some(match url.port() {
        Some(port) if host.contains(':') => format!("[{}]:{port}", host.trim_matches(['[', ']'])),
        Some(port) => format!("{host}:{port}"),
        None => host,
    })
}
