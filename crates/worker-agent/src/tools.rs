//! Core's `ToolExecutor` over the session's `Sandbox` object: every call goes
//! to the sandbox server, which runs it at most once per tool-use id.

use std::cell::Cell;
use std::collections::BTreeMap;

use openma_cloudflare::internal::SessionRecord;
use openma_core::egress::EgressPolicy;
use openma_core::ports::ToolCall;
use openma_core::ports::ToolExecError;
use openma_core::ports::ToolExecutor;
use openma_core::ports::ToolOutput;
use openma_core::sandbox::SessionSetupParams;
use openma_core::sandbox::ToolExecuteParams;
use openma_core::sandbox::ToolResult;
use worker::Env;
use worker::Headers;
use worker::Method;
use worker::RequestInit;
use worker::wasm_bindgen::JsValue;

/// Runs tools in one session's sandbox.
#[derive(Debug, Clone)]
pub(crate) struct SandboxTools {
    env: Env,
    session_id: String,
    /// The session's set-up (egress policy), sent before the first call.
    setup: String,
    set_up: Cell<bool>,
}

impl SandboxTools {
    /// The tools of the session `record` describes.
    pub(crate) fn new(env: Env, record: &SessionRecord) -> Self {
        let networking = serde_json::from_value(record.environment_config["networking"].clone())
            .unwrap_or_default();
        let mcp_server_hosts = record
            .agent
            .mcp_servers
            .iter()
            .filter_map(|server| host_of(&server.url))
            .collect();
        let params = SessionSetupParams {
            egress: EgressPolicy {
                networking,
                mcp_server_hosts,
            },
            secrets: Vec::new(),
            env: BTreeMap::new(),
        };
        Self {
            env,
            session_id: record.id.clone(),
            setup: serde_json::to_string(&params).unwrap_or_else(|_| "{}".to_owned()),
            set_up: Cell::new(false),
        }
    }

    /// Sets the session up in its sandbox, once per activation (the sandbox
    /// object repeats it by itself if its server restarts).
    async fn ensure_set_up(&self) -> Result<(), ToolExecError> {
        if self.set_up.get() {
            return Ok(());
        }
        let path = format!("/session/{}", self.session_id);
        let mut resp = self
            .call(Method::Put, &path, Some(self.setup.clone()))
            .await
            .map_err(|e| ToolExecError(format!("sandbox unavailable: {e}")))?;
        if resp.status_code() != 200 {
            let text = resp.text().await.unwrap_or_default();
            return Err(ToolExecError(format!(
                "sandbox set-up failed with {}: {text}",
                resp.status_code()
            )));
        }
        self.set_up.set(true);
        Ok(())
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
        body: Option<String>,
    ) -> worker::Result<worker::Response> {
        let stub = self
            .env
            .durable_object("SANDBOX")?
            .id_from_name(&self.session_id)?
            .get_stub()?;
        let headers = Headers::new();
        headers.set("content-type", "application/json")?;
        let mut init = RequestInit::new();
        init.with_method(method).with_headers(headers);
        if let Some(body) = body {
            init.with_body(Some(JsValue::from_str(&body)));
        }
        let req =
            worker::Request::new_with_init(&format!("https://sandbox.internal{path}"), &init)?;
        stub.fetch_with_request(req).await
    }
}

impl ToolExecutor for SandboxTools {
    async fn execute(&self, call: ToolCall) -> Result<ToolOutput, ToolExecError> {
        self.ensure_set_up().await?;
        let unavailable = |e: String| ToolExecError(format!("sandbox unavailable: {e}"));
        let params = ToolExecuteParams {
            session_id: self.session_id.clone(),
            tool_use_id: call.tool_use_id,
            name: call.name,
            input: serde_json::Value::Object(call.input),
        };
        let body = serde_json::to_string(&params).map_err(|e| unavailable(e.to_string()))?;
        let mut resp = self
            .call(Method::Post, "/execute", Some(body))
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let status = resp.status_code();
        let text = resp.text().await.map_err(|e| unavailable(e.to_string()))?;
        if status != 200 {
            return Err(unavailable(format!("status {status}: {text}")));
        }
        let result: ToolResult =
            serde_json::from_str(&text).map_err(|e| unavailable(e.to_string()))?;
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

/// The host of an `http(s)://host[:port]/...` URL.
fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = host.split(':').next()?;
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}
