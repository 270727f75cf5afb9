//! A mock OpenAI-compatible provider: a real HTTP server on loopback that
//! speaks the Chat Completions API (`POST /v1/chat/completions`, streamed as
//! `chat.completion.chunk` SSE frames ending in `data: [DONE]`) and lists its
//! one model at `GET /v1/models`. It plays replies scripted by the test and
//! records every request.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;

use anyhow::Result;
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::routing::post;
use serde_json::Value;
use serde_json::json;

use crate::mock::RecordedRequest;
use crate::mock::json_response;
use crate::mock::serve;
use crate::mock::sse_response;

/// The `created` timestamp of every chunk and of the listed model
/// (2026-01-01T00:00:00Z).
const CREATED: u64 = 1_767_225_600;

/// What the mock answers to one chat completion.
#[derive(Debug, Clone)]
pub enum OpenAiReply {
    /// A streamed text reply, finish_reason "stop".
    Text(String),
    /// One streamed tool call (arguments streamed in several fragments),
    /// finish_reason "tool_calls".
    ToolCall {
        /// `tool_calls[0].id`.
        id: String,
        /// `tool_calls[0].function.name`.
        name: String,
        /// The arguments, streamed as fragments of their JSON text.
        input: Value,
    },
    /// A non-streamed HTTP error with OpenAI's error body
    /// `{"error":{"message","type","code"}}` (a 429 also has `retry-after: 1`).
    Error {
        /// HTTP status.
        status: u16,
        /// `error.code`, e.g. `rate_limit_exceeded`.
        code: String,
    },
}

impl OpenAiReply {
    /// A streamed text reply.
    pub fn text(text: &str) -> Self {
        Self::Text(text.to_owned())
    }

    /// One streamed tool call.
    pub fn tool_call(id: &str, name: &str, input: Value) -> Self {
        Self::ToolCall {
            id: id.to_owned(),
            name: name.to_owned(),
            input,
        }
    }

    /// An HTTP error reply.
    pub fn error(status: u16, code: &str) -> Self {
        Self::Error {
            status,
            code: code.to_owned(),
        }
    }
}

#[derive(Debug, Default)]
struct Script {
    replies: VecDeque<OpenAiReply>,
    requests: Vec<RecordedRequest>,
    served: u64,
    /// Bearer keys answered with 401.
    rejected: Vec<String>,
}

impl Script {
    /// Whether the request's `authorization: Bearer <key>` is one the test
    /// rejected.
    fn rejects(&self, headers: &HeaderMap) -> bool {
        headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|key| self.rejected.iter().any(|r| r == key.trim()))
    }
}

/// A running mock OpenAI-compatible server. Dropping it stops the server.
#[derive(Debug)]
pub struct MockOpenAi {
    addr: SocketAddr,
    script: Arc<Mutex<Script>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl MockOpenAi {
    /// Starts the server on a free loopback port, on its own thread.
    pub fn start() -> Result<Self> {
        let script = Arc::new(Mutex::new(Script::default()));
        let app = Router::new()
            .route("/v1/chat/completions", post(chat_completions))
            .route("/v1/models", get(models))
            .with_state(Arc::clone(&script));
        let (addr, shutdown) = serve(app, "the mock OpenAI server")?;
        Ok(Self {
            addr,
            script,
            shutdown: Some(shutdown),
        })
    }

    /// The provider's base URL, `http://127.0.0.1:<port>` (the platform
    /// appends `/v1/chat/completions`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues the reply to the next chat completion.
    pub fn push(&self, reply: OpenAiReply) {
        if let Ok(mut script) = self.script.lock() {
            script.replies.push_back(reply);
        }
    }

    /// Every request received so far (chat completions and model lists), in
    /// order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.script
            .lock()
            .map(|s| s.requests.clone())
            .unwrap_or_default()
    }

    /// From now on, answers every request with `authorization: Bearer <key>`
    /// with 401 `invalid_api_key`, consuming no scripted reply (the request is
    /// still recorded).
    pub fn reject_key(&self, key: &str) {
        if let Ok(mut script) = self.script.lock() {
            script.rejected.push(key.to_owned());
        }
    }

    /// Scripted replies not yet served.
    pub fn pending(&self) -> usize {
        self.script.lock().map(|s| s.replies.len()).unwrap_or(0)
    }
}

impl Drop for MockOpenAi {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// OpenAI's error envelope.
fn error_body(message: &str, error_type: &str, code: Option<&str>) -> Value {
    json!({"error": {"message": message, "type": error_type, "code": code}})
}

/// The 401 OpenAI answers an invalid key with.
fn invalid_key() -> Response {
    json_response(
        401,
        &error_body(
            "Incorrect API key provided",
            "invalid_request_error",
            Some("invalid_api_key"),
        ),
    )
}

/// `error.type` for a scripted error status, as OpenAI reports it.
fn error_type(status: u16) -> &'static str {
    match status {
        429 => "requests",
        500.. => "server_error",
        _ => "invalid_request_error",
    }
}

/// Splits `text` into 2 or 3 pieces (fewer only when it is shorter than 2
/// characters).
fn fragments(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let size = chars.len().div_ceil(3).max(1);
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

/// The `data` of every SSE frame of a streamed reply, before `[DONE]`.
fn chunks(reply: &OpenAiReply, id: &str, model: &str, include_usage: bool) -> Vec<Value> {
    let chunk = |delta: Value, finish_reason: Option<&str>| {
        let mut chunk = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        });
        // With `include_usage`, OpenAI sends `usage: null` on every chunk but
        // the last.
        if include_usage {
            chunk["usage"] = Value::Null;
        }
        chunk
    };
    let mut chunks = vec![chunk(json!({"role": "assistant", "content": ""}), None)];
    let finish_reason = match reply {
        OpenAiReply::Text(text) => {
            for piece in fragments(text) {
                chunks.push(chunk(json!({"content": piece}), None));
            }
            "stop"
        }
        OpenAiReply::ToolCall { id, name, input } => {
            chunks.push(chunk(
                json!({"tool_calls": [{"index": 0, "id": id, "type": "function",
                    "function": {"name": name, "arguments": ""}}]}),
                None,
            ));
            for piece in fragments(&input.to_string()) {
                chunks.push(chunk(
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}),
                    None,
                ));
            }
            "tool_calls"
        }
        // Errors are not streamed.
        OpenAiReply::Error { .. } => return Vec::new(),
    };
    chunks.push(chunk(json!({}), Some(finish_reason)));
    if include_usage {
        chunks.push(json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": model,
            "choices": [],
            "usage": {
                "prompt_tokens": 12,
                "completion_tokens": 5,
                "total_tokens": 17,
                "prompt_tokens_details": {"cached_tokens": 2},
            },
        }));
    }
    chunks
}

/// `POST /v1/chat/completions`.
async fn chat_completions(
    State(script): State<Arc<Mutex<Script>>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let parsed: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let Ok(mut state) = script.lock() else {
        return json_response(
            500,
            &error_body("mock state poisoned", "server_error", None),
        );
    };
    state.requests.push(RecordedRequest::new(
        "/v1/chat/completions",
        &headers,
        parsed.clone(),
    ));
    if state.rejects(&headers) {
        return invalid_key();
    }
    if parsed.get("messages").and_then(Value::as_array).is_none() || parsed.get("model").is_none() {
        return json_response(
            400,
            &error_body(
                "model and messages are required",
                "invalid_request_error",
                None,
            ),
        );
    }
    if parsed["stream"].as_bool() != Some(true) {
        return json_response(
            400,
            &error_body(
                "the mock requires \"stream\": true (the platform always streams)",
                "invalid_request_error",
                None,
            ),
        );
    }
    let Some(reply) = state.replies.pop_front() else {
        return json_response(500, &error_body("no scripted reply", "server_error", None));
    };
    state.served += 1;
    let serial = state.served;
    drop(state);
    if let OpenAiReply::Error { status, code } = &reply {
        let mut resp = json_response(
            *status,
            &error_body("scripted error", error_type(*status), Some(code)),
        );
        if *status == 429
            && let Ok(value) = "1".parse()
        {
            resp.headers_mut().insert("retry-after", value);
        }
        return resp;
    }
    let model = parsed["model"].as_str().unwrap_or("gpt-mock");
    let include_usage = parsed["stream_options"]["include_usage"].as_bool() == Some(true);
    let frames = chunks(
        &reply,
        &format!("chatcmpl-mock-{serial}"),
        model,
        include_usage,
    );
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(16);
    tokio::spawn(async move {
        let frames = frames
            .into_iter()
            .map(|data| format!("data: {data}\n\n"))
            .chain(std::iter::once("data: [DONE]\n\n".to_owned()));
        for frame in frames {
            if tx.send(Ok(frame)).await.is_err() {
                return;
            }
        }
    });
    sse_response(
        rx,
        &[],
        &error_body("building the stream failed", "server_error", None),
    )
}

/// `GET /v1/models`: the one model the mock serves.
async fn models(State(script): State<Arc<Mutex<Script>>>, headers: HeaderMap) -> Response {
    let Ok(mut state) = script.lock() else {
        return json_response(
            500,
            &error_body("mock state poisoned", "server_error", None),
        );
    };
    state
        .requests
        .push(RecordedRequest::new("/v1/models", &headers, Value::Null));
    if state.rejects(&headers) {
        return invalid_key();
    }
    drop(state);
    json_response(
        200,
        &json!({
            "object": "list",
            "data": [{"id": "gpt-test", "object": "model", "created": CREATED, "owned_by": "mock"}],
        }),
    )
}
