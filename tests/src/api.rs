//! A small client for the public API and its event streams.

use std::time::Duration;

use anyhow::Context;
use anyhow::Result;
use anyhow::bail;
use futures_util::StreamExt;
use serde_json::Value;
use serde_json::json;
use tokio::sync::mpsc;

use crate::Platform;

/// The boundary [`multipart`] bodies use.
pub const MULTIPART_BOUNDARY: &str = "openma-e2e-boundary-7d1c";

/// A `multipart/form-data` body with a `file` part and extra text fields.
pub fn multipart(
    filename: &str,
    content_type: &str,
    bytes: &[u8],
    fields: &[(&str, &str)],
) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{MULTIPART_BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{MULTIPART_BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{MULTIPART_BOUNDARY}--\r\n").as_bytes());
    body
}

/// Calls the public API with a key.
#[derive(Debug, Clone)]
pub struct Api {
    base_url: String,
    key: String,
    beta: &'static str,
    client: reqwest::Client,
}

/// One SSE frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The `id:` line (the event's seq), for persisted events.
    pub id: Option<u64>,
    /// The `event:` line.
    pub event: String,
    /// The parsed `data:`.
    pub data: Value,
    /// When the client read it.
    pub received: std::time::Instant,
}

impl Api {
    /// The operator's client for `platform`.
    pub fn new(platform: &Platform) -> Self {
        Self::with_key(platform, platform.api_key())
    }

    /// A client for `platform` with another key.
    pub fn with_key(platform: &Platform, key: &str) -> Self {
        Self {
            base_url: platform.base_url().to_owned(),
            key: key.to_owned(),
            beta: "managed-agents-2026-04-01",
            client: reqwest::Client::new(),
        }
    }

    /// The same client sending another `anthropic-beta` header (memory
    /// stores' SDK sends `agent-memory-2026-07-22`).
    pub fn with_beta(mut self, beta: &'static str) -> Self {
        self.beta = beta;
        self
    }

    /// Sends a request; returns the status and the JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value)> {
        let (status, _, body) = self.call_with_headers(method, path, body).await?;
        Ok((status, body))
    }

    /// Sends a request; returns the status, the headers and the JSON body
    /// (the text as a string when it is not JSON).
    pub async fn call_with_headers(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, reqwest::header::HeaderMap, Value)> {
        let bytes = body.map(|b| serde_json::to_vec(&b)).transpose()?;
        let content_type = bytes.as_ref().map(|_| "application/json");
        let (status, headers, bytes) = self.raw(method, path, content_type, bytes).await?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, headers, body))
    }

    /// Sends raw bytes; returns the status, headers and body bytes.
    pub async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Result<(u16, reqwest::header::HeaderMap, Vec<u8>)> {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base_url))
            .header("x-api-key", &self.key)
            .header("anthropic-version", "2023-06-01")
            .header("anthropic-beta", self.beta);
        if let Some(content_type) = content_type {
            req = req.header("content-type", content_type);
        }
        if let Some(body) = body {
            req = req.body(body);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        Ok((status, headers, resp.bytes().await?.to_vec()))
    }

    /// Uploads a file through `POST /v1/files`; returns the `file` object.
    pub async fn upload(&self, filename: &str, content_type: &str, bytes: &[u8]) -> Result<Value> {
        let (status, _, body) = self
            .raw(
                reqwest::Method::POST,
                "/v1/files",
                Some(&format!(
                    "multipart/form-data; boundary={MULTIPART_BOUNDARY}"
                )),
                Some(multipart(filename, content_type, bytes, &[])),
            )
            .await?;
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if status != 200 {
            bail!("upload of {filename} answered {status}: {body}");
        }
        Ok(body)
    }

    /// A request that must answer 200; returns the body.
    pub async fn ok(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        let (status, value) = self.call(method.clone(), path, body).await?;
        if status != 200 {
            bail!("{method} {path} answered {status}: {value}");
        }
        Ok(value)
    }

    /// Creates an unrestricted cloud environment and the agent `agent`;
    /// returns both objects.
    pub async fn env_and_agent(&self, agent: Value) -> Result<(Value, Value)> {
        let env = self
            .ok(
                reqwest::Method::POST,
                "/v1/environments",
                Some(json!({"name": format!("env-{}", unique()), "config": {"type": "cloud", "networking": {"type": "unrestricted"}}})),
            )
            .await?;
        let agent = self
            .ok(reqwest::Method::POST, "/v1/agents", Some(agent))
            .await?;
        Ok((env, agent))
    }

    /// Creates a tenant named `name` (with the operator's key); returns a
    /// client with the new tenant's key and the tenant as created.
    pub async fn new_tenant(&self, name: &str) -> Result<(Self, Value)> {
        let created = self
            .ok(
                reqwest::Method::POST,
                "/v1/tenants",
                Some(json!({"name": name})),
            )
            .await?;
        let key = created["api_key"]["key"]
            .as_str()
            .context("the tenant's key")?;
        let api = Self {
            base_url: self.base_url.clone(),
            key: key.to_owned(),
            beta: self.beta,
            client: self.client.clone(),
        };
        Ok((api, created))
    }

    /// Creates a vault holding one credential with `auth`; returns the
    /// vault's id and the credential.
    pub async fn vault_with(&self, auth: Value) -> Result<(String, Value)> {
        let vault = self
            .ok(
                reqwest::Method::POST,
                "/v1/vaults",
                Some(json!({"display_name": format!("vault-{}", unique())})),
            )
            .await?;
        let id = vault["id"].as_str().context("the vault's id")?.to_owned();
        let credential = self
            .ok(
                reqwest::Method::POST,
                &format!("/v1/vaults/{id}/credentials"),
                Some(json!({"auth": auth})),
            )
            .await?;
        Ok((id, credential))
    }

    /// Creates a cloud environment with `networking`, the agent `agent` and
    /// a session of both with `vault_ids`; returns the session's id.
    pub async fn session_in(
        &self,
        agent: Value,
        networking: Value,
        vault_ids: &[&str],
    ) -> Result<String> {
        let env = self
            .ok(
                reqwest::Method::POST,
                "/v1/environments",
                Some(json!({
                    "name": format!("env-{}", unique()),
                    "config": {"type": "cloud", "networking": networking},
                })),
            )
            .await?;
        let agent = self
            .ok(reqwest::Method::POST, "/v1/agents", Some(agent))
            .await?;
        let session = self
            .ok(
                reqwest::Method::POST,
                "/v1/sessions",
                Some(json!({"agent": agent["id"], "environment_id": env["id"], "vault_ids": vault_ids})),
            )
            .await?;
        Ok(session["id"]
            .as_str()
            .context("the session's id")?
            .to_owned())
    }

    /// Creates an environment and an agent, then a session with `resources`;
    /// returns the session object.
    pub async fn session_with_resources(&self, agent: Value, resources: Value) -> Result<Value> {
        let (env, agent) = self.env_and_agent(agent).await?;
        self.ok(
            reqwest::Method::POST,
            "/v1/sessions",
            Some(
                json!({"agent": agent["id"], "environment_id": env["id"], "resources": resources}),
            ),
        )
        .await
    }

    /// Creates an environment and an agent, then a session; returns the
    /// session object.
    pub async fn session_with_agent(&self, agent: Value) -> Result<Value> {
        self.session_with_resources(agent, json!([])).await
    }

    /// Sends one `user.message` with `text`.
    pub async fn send_message(&self, session_id: &str, text: &str) -> Result<Value> {
        self.send(
            session_id,
            json!([{"type": "user.message", "content": [{"type": "text", "text": text}]}]),
        )
        .await
    }

    /// Sends user events.
    pub async fn send(&self, session_id: &str, events: Value) -> Result<Value> {
        self.ok(
            reqwest::Method::POST,
            &format!("/v1/sessions/{session_id}/events"),
            Some(json!({"events": events})),
        )
        .await
    }

    /// Every event of a session, following `next_page`.
    pub async fn events(&self, session_id: &str) -> Result<Vec<Value>> {
        let mut all = Vec::new();
        let mut path = format!("/v1/sessions/{session_id}/events?limit=100");
        loop {
            let page = self.ok(reqwest::Method::GET, &path, None).await?;
            all.extend(page["data"].as_array().cloned().unwrap_or_default());
            match page["next_page"].as_str() {
                Some(cursor) => {
                    path = format!("/v1/sessions/{session_id}/events?limit=100&page={cursor}")
                }
                None => return Ok(all),
            }
        }
    }

    /// Opens the session's event stream.
    pub async fn stream(
        &self,
        session_id: &str,
        last_event_id: Option<u64>,
        query: &str,
    ) -> Result<EventStream> {
        let mut req = self
            .client
            .get(format!(
                "{}/v1/sessions/{session_id}/events/stream{query}",
                self.base_url
            ))
            .header("x-api-key", &self.key)
            .header("accept", "application/json");
        if let Some(last) = last_event_id {
            req = req.header("last-event-id", last.to_string());
        }
        let resp = req.send().await?;
        if resp.status() != 200 {
            bail!("stream answered {}: {}", resp.status(), resp.text().await?);
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let mut bytes = resp.bytes_stream();
            let mut buffer = String::new();
            while let Some(Ok(chunk)) = bytes.next().await {
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buffer.find("\n\n") {
                    let raw: String = buffer.drain(..end + 2).collect();
                    if let Some(frame) = parse_frame(&raw)
                        && tx.send(frame).is_err()
                    {
                        return;
                    }
                }
            }
        });
        Ok(EventStream { rx, task })
    }
}

fn parse_frame(raw: &str) -> Option<Frame> {
    let mut id = None;
    let mut event = None;
    let mut data = String::new();
    for line in raw.lines() {
        if let Some(v) = line.strip_prefix("id: ") {
            id = v.trim().parse().ok();
        } else if let Some(v) = line.strip_prefix("event: ") {
            event = Some(v.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("data: ") {
            data.push_str(v);
        }
    }
    Some(Frame {
        id,
        event: event?,
        data: serde_json::from_str(&data).unwrap_or(Value::Null),
        received: std::time::Instant::now(),
    })
}

/// An open event stream, read in the background.
#[derive(Debug)]
pub struct EventStream {
    rx: mpsc::UnboundedReceiver<Frame>,
    task: tokio::task::JoinHandle<()>,
}

impl EventStream {
    /// The next frame that is not a ping, within `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Result<Frame> {
        loop {
            let frame = tokio::time::timeout(timeout, self.rx.recv())
                .await
                .context("no frame in time")?
                .context("the stream ended")?;
            if frame.event != "ping" {
                return Ok(frame);
            }
        }
    }

    /// The next frame, pings included, within `timeout`.
    pub async fn next_raw(&mut self, timeout: Duration) -> Result<Frame> {
        tokio::time::timeout(timeout, self.rx.recv())
            .await
            .context("no frame in time")?
            .context("the stream ended")
    }

    /// Frames up to and including the first of type `event`.
    pub async fn until(&mut self, event: &str, timeout: Duration) -> Result<Vec<Frame>> {
        let mut frames = Vec::new();
        loop {
            let frame = self.next(timeout).await?;
            let done = frame.event == event;
            frames.push(frame);
            if done {
                return Ok(frames);
            }
        }
    }

    /// Whether the stream has ended (within `timeout`).
    pub async fn ended(&mut self, timeout: Duration) -> bool {
        loop {
            match tokio::time::timeout(timeout, self.rx.recv()).await {
                Ok(None) => return true,
                Ok(Some(frame)) if frame.event == "ping" => {}
                Ok(Some(_)) | Err(_) => return false,
            }
        }
    }

    /// Drops the connection, as a client whose network failed would.
    pub fn disconnect(self) {
        self.task.abort();
    }
}

/// A name no other call in this test process returns.
pub fn unique() -> String {
    use std::sync::atomic::AtomicU64;
    use std::sync::atomic::Ordering;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
