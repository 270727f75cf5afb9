//! Test harness: an in-process server over temp dirs, called with `oneshot`,
//! plus a loopback upstream HTTP server for egress tests.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use openma_core::sandbox::ToolResult;
use openma_sandbox::{Config, Logger, RunningServer};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tower::ServiceExt;

/// The root token the test servers hold (as a local server does).
pub const TOKEN: &str = "test-token-0123456789";

/// The session's own token, derived from [`TOKEN`] as the platform derives it.
pub fn session_token(session: &str) -> String {
    openma_core::sandbox::session_token(TOKEN, session).unwrap()
}

/// A running in-process sandbox server with its own state dir.
pub struct Sandbox {
    pub dir: TempDir,
    pub server: RunningServer,
    pub logs: Arc<Mutex<Vec<String>>>,
}

pub async fn sandbox() -> Sandbox {
    sandbox_with(|_| {}).await
}

pub async fn sandbox_with(tweak: impl FnOnce(&mut Config)) -> Sandbox {
    let dir = tempfile::tempdir().unwrap();
    start_in(dir, tweak).await
}

pub async fn start_in(dir: TempDir, tweak: impl FnOnce(&mut Config)) -> Sandbox {
    let mut config = Config::local(dir.path().join("state"), TOKEN);
    tweak(&mut config);
    let (logger, logs) = Logger::memory();
    let server = openma_sandbox::start(config, logger).await.unwrap();
    Sandbox { dir, server, logs }
}

impl Sandbox {
    /// Stops the server and returns its state dir, for a restart.
    pub async fn stop(self) -> TempDir {
        self.server.shutdown().await;
        self.dir
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b.to_string()))
                .unwrap(),
            None => req.body(Body::empty()).unwrap(),
        };
        let res = self.server.router().oneshot(req).await.unwrap();
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        (status, value)
    }

    pub async fn setup(&self, session: &str, params: Value) -> Value {
        let (status, body) = self
            .call(
                "PUT",
                &format!("/v1/sessions/{session}"),
                Some(TOKEN),
                Some(params),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    pub async fn exec(&self, session: &str, id: &str, name: &str, input: Value) -> ToolResult {
        let body = json!({"session_id": session, "tool_use_id": id, "name": name, "input": input});
        let (status, body) = self
            .call("POST", "/v1/tools/execute", Some(TOKEN), Some(body))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        serde_json::from_value(body).unwrap()
    }

    /// Runs bash with a fresh tool-use id and returns the result.
    pub async fn bash(&self, session: &str, command: &str) -> ToolResult {
        self.exec(session, &next_id(), "bash", json!({"command": command}))
            .await
    }

    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    pub fn workspace(&self, session: &str) -> std::path::PathBuf {
        self.dir
            .path()
            .join("state/sessions")
            .join(session)
            .join("workspace")
    }
}

pub fn next_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!("toolu_{}", N.fetch_add(1, Ordering::SeqCst))
}

/// The text of a result, asserting it succeeded.
pub fn ok_text(r: &ToolResult) -> String {
    assert!(!r.is_error, "expected success, got {r:?}");
    r.joined_text()
}

/// The text of a result, asserting it failed.
pub fn err_text(r: &ToolResult) -> String {
    assert!(r.is_error, "expected an error, got {r:?}");
    r.joined_text()
}

/// A tiny HTTP server on 127.0.0.1 that records every request and answers
/// with `reply(request)`.
pub struct Upstream {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<String>>>,
}

pub async fn upstream(reply: fn(&str) -> String) -> Upstream {
    upstream_raw(move |request| {
        let body = reply(request);
        format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
    })
    .await
}

/// Like [`upstream`], but `respond(request)` is the whole HTTP response.
pub async fn upstream_raw(respond: impl Fn(&str) -> String + Send + Sync + 'static) -> Upstream {
    let respond = Arc::new(respond);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&requests);
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            let seen = Arc::clone(&seen);
            let respond = Arc::clone(&respond);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let n = conn.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap())
                            })
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                let request = String::from_utf8_lossy(&buf).to_string();
                seen.lock().unwrap().push(request.clone());
                let response = respond(&request);
                let _ = conn.write_all(response.as_bytes()).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    Upstream { port, requests }
}

impl Upstream {
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}
