//! A mock model provider: a real HTTP server on loopback that speaks the
//! Anthropic Messages API (`POST /v1/messages`, streaming SSE or plain JSON)
//! and plays replies scripted by the test, recording every request. It also
//! lists its one model at `GET /v1/models`, and answers keys a test rejected
//! with 401.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;
use anyhow::Result;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::routing::get;
use axum::routing::post;
use axum::serve::ListenerExt;
use serde_json::Value;
use serde_json::json;

/// One content block of a scripted assistant message.
#[derive(Debug, Clone)]
enum Block {
    Text(String),
    Thinking(String),
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
}

/// A scripted assistant message, streamed the way the real API streams it.
#[derive(Debug, Clone)]
pub struct Message {
    blocks: Vec<Block>,
    stop_reason: Option<String>,
    input_tokens: u64,
    output_tokens: u64,
    cache_read_input_tokens: u64,
    cache_creation_input_tokens: u64,
}

impl Default for Message {
    fn default() -> Self {
        Self::new()
    }
}

impl Message {
    /// An empty message with small default usage.
    pub fn new() -> Self {
        Self {
            blocks: Vec::new(),
            stop_reason: None,
            input_tokens: 10,
            output_tokens: 5,
            cache_read_input_tokens: 0,
            cache_creation_input_tokens: 0,
        }
    }

    /// Appends a text block.
    pub fn text(mut self, text: &str) -> Self {
        self.blocks.push(Block::Text(text.to_owned()));
        self
    }

    /// Appends a thinking block.
    pub fn thinking(mut self, text: &str) -> Self {
        self.blocks.push(Block::Thinking(text.to_owned()));
        self
    }

    /// Appends a `tool_use` block; its input is streamed as JSON fragments.
    pub fn tool_use(mut self, id: &str, name: &str, input: Value) -> Self {
        self.blocks.push(Block::ToolUse {
            id: id.to_owned(),
            name: name.to_owned(),
            input,
        });
        self
    }

    /// Overrides the stop reason (default: `tool_use` when the message has a
    /// tool call, `end_turn` otherwise).
    pub fn stop_reason(mut self, reason: &str) -> Self {
        self.stop_reason = Some(reason.to_owned());
        self
    }

    /// Sets the reported usage.
    pub fn usage(mut self, input_tokens: u64, output_tokens: u64) -> Self {
        self.input_tokens = input_tokens;
        self.output_tokens = output_tokens;
        self
    }

    /// Sets the reported prompt-cache usage.
    pub fn cache_usage(mut self, read: u64, creation: u64) -> Self {
        self.cache_read_input_tokens = read;
        self.cache_creation_input_tokens = creation;
        self
    }

    fn resolved_stop_reason(&self) -> String {
        self.stop_reason.clone().unwrap_or_else(|| {
            let tool = self
                .blocks
                .iter()
                .any(|b| matches!(b, Block::ToolUse { .. }));
            if tool { "tool_use" } else { "end_turn" }.to_owned()
        })
    }

    /// The SSE frames of this message: `(event name, data)`.
    fn events(&self, id: &str, model: &str) -> Vec<(String, Value)> {
        let mut events = vec![
            (
                "message_start".to_owned(),
                json!({"type": "message_start", "message": {
                    "id": id, "type": "message", "role": "assistant", "model": model,
                    "content": [], "stop_reason": null, "stop_sequence": null,
                    "usage": {
                        "input_tokens": self.input_tokens, "output_tokens": 1,
                        "cache_creation_input_tokens": self.cache_creation_input_tokens,
                        "cache_read_input_tokens": self.cache_read_input_tokens,
                    },
                }}),
            ),
            ("ping".to_owned(), json!({"type": "ping"})),
        ];
        for (index, block) in self.blocks.iter().enumerate() {
            let (start, deltas) = match block {
                Block::Text(text) => (
                    json!({"type": "text", "text": ""}),
                    chunks(text, 8)
                        .map(|c| json!({"type": "text_delta", "text": c}))
                        .collect::<Vec<_>>(),
                ),
                Block::Thinking(text) => {
                    let mut deltas: Vec<Value> = chunks(text, 8)
                        .map(|c| json!({"type": "thinking_delta", "thinking": c}))
                        .collect();
                    deltas.push(json!({"type": "signature_delta", "signature": "c2lnbmF0dXJl"}));
                    (json!({"type": "thinking", "thinking": ""}), deltas)
                }
                Block::ToolUse { id, name, input } => {
                    let text = input.to_string();
                    (
                        json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
                        chunks(&text, 5)
                            .map(|c| json!({"type": "input_json_delta", "partial_json": c}))
                            .collect(),
                    )
                }
            };
            events.push((
                "content_block_start".to_owned(),
                json!({"type": "content_block_start", "index": index, "content_block": start}),
            ));
            for delta in deltas {
                events.push((
                    "content_block_delta".to_owned(),
                    json!({"type": "content_block_delta", "index": index, "delta": delta}),
                ));
            }
            events.push((
                "content_block_stop".to_owned(),
                json!({"type": "content_block_stop", "index": index}),
            ));
        }
        events.push((
            "message_delta".to_owned(),
            json!({"type": "message_delta",
                "delta": {"stop_reason": self.resolved_stop_reason(), "stop_sequence": null},
                "usage": {"output_tokens": self.output_tokens}}),
        ));
        events.push(("message_stop".to_owned(), json!({"type": "message_stop"})));
        events
    }

    /// The whole message as the non-streaming API returns it.
    fn to_json(&self, id: &str, model: &str) -> Value {
        let content: Vec<Value> = self
            .blocks
            .iter()
            .map(|block| match block {
                Block::Text(text) => json!({"type": "text", "text": text}),
                Block::Thinking(text) => {
                    json!({"type": "thinking", "thinking": text, "signature": "c2lnbmF0dXJl"})
                }
                Block::ToolUse { id, name, input } => {
                    json!({"type": "tool_use", "id": id, "name": name, "input": input})
                }
            })
            .collect();
        json!({
            "id": id, "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": self.resolved_stop_reason(), "stop_sequence": null,
            "usage": {
                "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                "cache_creation_input_tokens": self.cache_creation_input_tokens,
                "cache_read_input_tokens": self.cache_read_input_tokens,
            },
        })
    }
}

fn chunks(text: &str, size: usize) -> impl Iterator<Item = String> + '_ {
    let chars: Vec<char> = text.chars().collect();
    let parts: Vec<String> = chars
        .chunks(size.max(1))
        .map(|c| c.iter().collect())
        .collect();
    parts.into_iter()
}

/// What the mock answers to one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A successful message (streamed when the request asks for a stream).
    Message(Message),
    /// An HTTP error with the API's error envelope, e.g. 429 `rate_limit_error`
    /// (with `retry-after`), 529 `overloaded_error`, 500 `api_error`.
    Error {
        /// HTTP status.
        status: u16,
        /// `error.type`.
        error_type: String,
        /// Seconds for a `retry-after` header.
        retry_after: Option<u64>,
    },
    /// A message streamed with a pause before every frame.
    Slow {
        /// The message.
        message: Message,
        /// The pause.
        delay: Duration,
    },
    /// A stream cut off (the connection closes) after `after` frames.
    Broken {
        /// The message whose stream is cut.
        message: Message,
        /// How many frames are sent first.
        after: usize,
    },
    /// A stream that sends `after` frames and then an `event: error` frame.
    StreamError {
        /// The message whose stream fails.
        message: Message,
        /// How many frames are sent first.
        after: usize,
        /// `error.type` of the error frame, e.g. `overloaded_error`.
        error_type: String,
    },
}

impl Reply {
    /// A plain text answer that ends the turn.
    pub fn text(text: &str) -> Self {
        Self::Message(Message::new().text(text))
    }

    /// One tool call.
    pub fn tool_use(id: &str, name: &str, input: Value) -> Self {
        Self::Message(Message::new().tool_use(id, name, input))
    }

    /// An HTTP error reply.
    pub fn error(status: u16, error_type: &str) -> Self {
        Self::Error {
            status,
            error_type: error_type.to_owned(),
            retry_after: (status == 429).then_some(1),
        }
    }
}

/// One request the mock received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// The request path.
    pub path: String,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// The JSON body (`Value::Null` if it did not parse).
    pub body: Value,
}

impl RecordedRequest {
    /// A request as received: its path, headers and parsed body.
    pub(crate) fn new(path: &str, headers: &HeaderMap, body: Value) -> Self {
        Self {
            path: path.to_owned(),
            headers: headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        v.to_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect(),
            body,
        }
    }

    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Chooses a reply from the request, when nothing is scripted.
type Responder = Arc<dyn Fn(&Value) -> Reply + Send + Sync>;

#[derive(Default)]
struct Script {
    replies: VecDeque<Reply>,
    requests: Vec<RecordedRequest>,
    served: u64,
    responder: Option<Responder>,
    /// Whether to keep every request (off for load tests).
    record: bool,
    /// `x-api-key` values answered with 401.
    rejected: Vec<String>,
}

impl Script {
    /// Keeps the request, unless recording is off.
    fn record(&mut self, request: RecordedRequest) {
        if self.record {
            self.requests.push(request);
        }
    }

    /// Whether the request's `x-api-key` is one the test rejected.
    fn rejects(&self, headers: &HeaderMap) -> bool {
        headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|key| self.rejected.iter().any(|r| r == key))
    }
}

impl std::fmt::Debug for Script {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Script")
            .field("replies", &self.replies.len())
            .field("requests", &self.requests.len())
            .field("served", &self.served)
            .finish_non_exhaustive()
    }
}

/// A running mock model server. Dropping it stops the server.
#[derive(Debug)]
pub struct MockModel {
    addr: SocketAddr,
    script: Arc<Mutex<Script>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl MockModel {
    /// Starts the server on a free loopback port, on its own thread.
    pub fn start() -> Result<Self> {
        let script = Arc::new(Mutex::new(Script {
            record: true,
            ..Script::default()
        }));
        let app = Router::new()
            .route("/v1/messages", post(messages))
            .route("/v1/models", get(models))
            .with_state(Arc::clone(&script));
        let (addr, shutdown) = serve(app, "the mock model")?;
        Ok(Self {
            addr,
            script,
            shutdown: Some(shutdown),
        })
    }

    /// The value for `ANTHROPIC_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues the reply to the next request.
    pub fn push(&self, reply: Reply) {
        if let Ok(mut script) = self.script.lock() {
            script.replies.push_back(reply);
        }
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.script
            .lock()
            .map(|s| s.requests.clone())
            .unwrap_or_default()
    }

    /// Answers every request nothing is scripted for with `responder(body)`,
    /// and stops recording requests (for load).
    pub fn respond_with(&self, responder: impl Fn(&Value) -> Reply + Send + Sync + 'static) {
        if let Ok(mut script) = self.script.lock() {
            script.responder = Some(Arc::new(responder));
            script.record = false;
        }
    }

    /// How many requests were answered with a reply.
    pub fn served(&self) -> u64 {
        self.script.lock().map(|s| s.served).unwrap_or(0)
    }

    /// Scripted replies not yet served.
    pub fn pending(&self) -> usize {
        self.script.lock().map(|s| s.replies.len()).unwrap_or(0)
    }

    /// From now on, answers every request whose `x-api-key` is `key` with
    /// 401 `authentication_error`, consuming no scripted reply (the request
    /// is still recorded).
    pub fn reject_key(&self, key: &str) {
        if let Ok(mut script) = self.script.lock() {
            script.rejected.push(key.to_owned());
        }
    }
}

/// Serves `app` on a free loopback port, on its own thread with a
/// current-thread runtime, until the returned sender is used or dropped.
pub(crate) fn serve(
    app: Router,
    what: &str,
) -> Result<(SocketAddr, tokio::sync::oneshot::Sender<()>)> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").with_context(|| format!("binding {what}"))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::spawn(move || {
        runtime.block_on(async move {
            let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                return;
            };
            // Frames are small writes: without TCP_NODELAY, Nagle's
            // algorithm and delayed ACKs add ~40 ms to every reply.
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
    });
    Ok((addr, shutdown))
}

impl Drop for MockModel {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

fn error_body(error_type: &str, message: &str) -> Value {
    json!({"type": "error", "error": {"type": error_type, "message": message}, "request_id": "req_mock"})
}

/// The 401 the API answers an invalid key with.
fn invalid_key() -> Response {
    json_response(
        401,
        &json!({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}),
    )
}

/// A JSON response with the given status (500 if it is not a valid status).
pub(crate) fn json_response(status: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn messages(
    State(script): State<Arc<Mutex<Script>>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let parsed: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let Ok(mut state) = script.lock() else {
        return json_response(500, &error_body("api_error", "mock state poisoned"));
    };
    state.record(RecordedRequest::new(
        "/v1/messages",
        &headers,
        parsed.clone(),
    ));
    if state.rejects(&headers) {
        return invalid_key();
    }
    if headers.get("x-api-key").is_none() && headers.get("authorization").is_none() {
        return json_response(
            401,
            &error_body("authentication_error", "x-api-key header is required"),
        );
    }
    if headers.get("anthropic-version").is_none() {
        return json_response(
            400,
            &error_body(
                "invalid_request_error",
                "anthropic-version header is required",
            ),
        );
    }
    if parsed.get("messages").and_then(Value::as_array).is_none() || parsed.get("model").is_none() {
        return json_response(
            400,
            &error_body("invalid_request_error", "model and messages are required"),
        );
    }
    state.served += 1;
    let serial = state.served;
    let reply = state
        .replies
        .pop_front()
        .or_else(|| state.responder.as_ref().map(|respond| respond(&parsed)));
    drop(state);
    let Some(reply) = reply else {
        return json_response(
            500,
            &error_body(
                "api_error",
                "the mock model has no scripted reply for this request",
            ),
        );
    };
    let model = parsed["model"].as_str().unwrap_or("claude-mock").to_owned();
    let id = format!("msg_mock_{serial:04}");
    let stream = parsed["stream"].as_bool().unwrap_or(false);
    let (message, delay, cut, error_type) = match reply {
        Reply::Error {
            status,
            error_type,
            retry_after,
        } => {
            let mut resp = json_response(status, &error_body(&error_type, "scripted error"));
            if let Some(secs) = retry_after
                && let Ok(value) = secs.to_string().parse()
            {
                resp.headers_mut().insert("retry-after", value);
            }
            return resp;
        }
        Reply::Message(message) => (message, None, None, None),
        Reply::Slow { message, delay } => (message, Some(delay), None, None),
        Reply::Broken { message, after } => (message, None, Some(after), None),
        Reply::StreamError {
            message,
            after,
            error_type,
        } => (message, None, Some(after), Some(error_type)),
    };
    if !stream {
        return json_response(200, &message.to_json(&id, &model));
    }
    let events = message.events(&id, &model);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(16);
    tokio::spawn(async move {
        for (n, (name, data)) in events.into_iter().enumerate() {
            if cut == Some(n) {
                if let Some(error_type) = &error_type {
                    let frame = format!(
                        "event: error\ndata: {}\n\n",
                        error_body(error_type, "scripted stream error")
                    );
                    let _ = tx.send(Ok(frame)).await;
                } else {
                    let _ = tx
                        .send(Err(std::io::Error::other("scripted broken stream")))
                        .await;
                }
                return;
            }
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            if tx
                .send(Ok(format!("event: {name}\ndata: {data}\n\n")))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    sse_response(
        rx,
        &[("request-id", "req_mock")],
        &error_body("api_error", "building the stream failed"),
    )
}

/// `GET /v1/models`: the one model the mock serves.
async fn models(State(script): State<Arc<Mutex<Script>>>, headers: HeaderMap) -> Response {
    let Ok(mut state) = script.lock() else {
        return json_response(500, &error_body("api_error", "mock state poisoned"));
    };
    state.record(RecordedRequest::new("/v1/models", &headers, Value::Null));
    if state.rejects(&headers) {
        return invalid_key();
    }
    drop(state);
    json_response(
        200,
        &json!({
            "data": [{
                "type": "model",
                "id": "claude-test-model",
                "display_name": "Test model",
                "created_at": "2026-01-01T00:00:00Z",
            }],
            "has_more": false,
            "first_id": "claude-test-model",
            "last_id": "claude-test-model",
        }),
    )
}

/// The receiving end of a channel of SSE frames, as a response body stream.
/// A `text/event-stream` answer of the frames sent on `rx`, with `extra`
/// headers; `failed` is the JSON body of the 500 if it cannot be built.
pub(crate) fn sse_response(
    rx: tokio::sync::mpsc::Receiver<Result<String, std::io::Error>>,
    extra: &[(&str, &str)],
    failed: &Value,
) -> Response {
    let mut builder = Response::builder()
        .status(200)
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache");
    for (name, value) in extra {
        builder = builder.header(*name, *value);
    }
    builder
        .body(Body::from_stream(tokio_stream_from(rx)))
        .unwrap_or_else(|_| json_response(500, failed))
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<String, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<String, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
