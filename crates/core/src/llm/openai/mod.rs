//! The OpenAI Chat Completions API codec (`POST /v1/chat/completions`,
//! `stream: true`), for OpenAI and the servers that speak its dialect
//! (vLLM, Ollama, LiteLLM, OpenRouter, llama.cpp…).
//!
//! Errors, over HTTP or inside the stream, are read from OpenAI's shape
//! `{"error":{"message","type","code"}}`; a plain-string `error`, or a
//! top-level `message` / `detail` as some servers send, is accepted too.
//! Quota exhaustion (`insufficient_quota`, which OpenAI sends as a 429) is a
//! billing error, not a rate limit: it is not retried. Key-like tokens
//! (`sk-…`, which OpenAI echoes masked in its 401 message) are redacted from
//! error messages, and a non-JSON body is cut to its first
//! [`MAX_ERROR_BODY_CHARS`] characters.

mod request;
mod stream;

pub use request::request_body;
pub use stream::OpenAiDecoder;

use serde_json::Value;

use super::codec::ProviderCodec;
use super::error::ModelError;
use super::error::classify_status;
use super::types::ModelRequest;

/// The longest excerpt of a non-JSON error body kept in an error message.
pub const MAX_ERROR_BODY_CHARS: usize = 500;

/// Error types or codes that mean the account is out of credit.
const QUOTA_CODES: [&str; 3] = [
    "insufficient_quota",
    "billing_hard_limit_reached",
    "billing_not_active",
];

/// Headers of a Chat Completions call authenticated with `api_key`.
#[must_use]
pub fn headers(api_key: &str) -> Vec<(String, String)> {
    vec![
        ("authorization".to_owned(), format!("Bearer {api_key}")),
        ("content-type".to_owned(), "application/json".to_owned()),
        ("accept".to_owned(), "text/event-stream".to_owned()),
    ]
}

/// Which field carries a request's output cap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OutputCap {
    /// `max_tokens`: what every OpenAI-compatible server accepts.
    #[default]
    MaxTokens,
    /// `max_completion_tokens`: what OpenAI itself asks for, and the only
    /// field its reasoning models (the o-series) accept.
    MaxCompletionTokens,
}

/// The Chat Completions API as a [`ProviderCodec`]. Its path includes the
/// `v1/` prefix, so the base URL is the host (`https://api.openai.com`).
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenAiCodec {
    /// The field of the output cap.
    pub output_cap: OutputCap,
}

impl OpenAiCodec {
    /// The codec for a server at `base_url`: OpenAI's own API gets
    /// `max_completion_tokens`, every other server `max_tokens`.
    #[must_use]
    pub fn for_base_url(base_url: &str) -> Self {
        let host = base_url
            .split_once("://")
            .map_or(base_url, |(_, rest)| rest)
            .split(['/', ':'])
            .next()
            .unwrap_or_default();
        let output_cap = if host.eq_ignore_ascii_case("api.openai.com") {
            OutputCap::MaxCompletionTokens
        } else {
            OutputCap::MaxTokens
        };
        Self { output_cap }
    }
}

impl ProviderCodec for OpenAiCodec {
    type Decoder = OpenAiDecoder;

    fn path(&self) -> &'static str {
        "v1/chat/completions"
    }

    fn request_body(&self, request: &ModelRequest) -> Value {
        request_body(request, self.output_cap)
    }

    fn decoder(&self) -> Self::Decoder {
        OpenAiDecoder::new()
    }

    fn classify_error(&self, status: u16, body: &str, retry_after_ms: Option<u64>) -> ModelError {
        let parsed: Option<Value> = serde_json::from_str(body).ok();
        let info = parsed.as_ref().map(ErrorInfo::of).unwrap_or_default();
        let message = info
            .message
            .map_or_else(|| body_excerpt(status, body), str::to_owned);
        info.classify(status, &message, retry_after_ms)
    }
}

/// The error fields of an error body or of an in-stream error chunk.
#[derive(Debug, Default)]
struct ErrorInfo<'a> {
    message: Option<&'a str>,
    error_type: Option<&'a str>,
    code: Option<&'a Value>,
}

impl<'a> ErrorInfo<'a> {
    fn of(body: &'a Value) -> Self {
        match body.get("error") {
            Some(error @ Value::Object(_)) => Self {
                message: text(error, "message"),
                error_type: text(error, "type"),
                code: error.get("code"),
            },
            Some(Value::String(message)) => Self {
                message: Some(message),
                error_type: text(body, "type"),
                code: body.get("code"),
            },
            _ => Self {
                message: text(body, "message").or_else(|| text(body, "detail")),
                error_type: text(body, "type"),
                code: body.get("code"),
            },
        }
    }

    /// The error carried by a stream chunk, if it is an error: an `error`
    /// member, or a chunk that is itself an error object (`object: "error"`).
    fn in_stream(chunk: &'a Value) -> Option<Self> {
        let is_error = chunk.get("error").is_some_and(|error| !error.is_null())
            || text(chunk, "object") == Some("error");
        is_error.then(|| Self::of(chunk))
    }

    fn code_text(&self) -> Option<&'a str> {
        self.code.and_then(Value::as_str)
    }

    fn is_quota(&self) -> bool {
        [self.error_type, self.code_text()]
            .into_iter()
            .flatten()
            .any(|name| QUOTA_CODES.contains(&name))
    }

    /// The HTTP status an in-stream error stands for: a numeric `code` in
    /// the 4xx/5xx range (OpenRouter), else one derived from the type or
    /// code, else 500 (a failure after a 200 is most likely the server's).
    fn stream_status(&self) -> u16 {
        self.code
            .and_then(Value::as_u64)
            .and_then(|code| u16::try_from(code).ok())
            .filter(|code| (400..=599).contains(code))
            .or_else(|| status_of(self.error_type))
            .or_else(|| status_of(self.code_text()))
            .unwrap_or(500)
    }

    // `classify_status` ranks 429 above `billing_error`, so quota
    // exhaustion is classified as the 402 it means.
    fn classify(&self, status: u16, message: &str, retry_after_ms: Option<u64>) -> ModelError {
        let message = redact_keys(message);
        if self.is_quota() {
            classify_status(402, Some("billing_error"), &message, retry_after_ms)
        } else {
            classify_status(status, self.error_type, &message, retry_after_ms)
        }
    }
}

/// Classifies an in-stream error chunk; `None` if the chunk is no error.
fn stream_error(chunk: &Value) -> Option<ModelError> {
    let info = ErrorInfo::in_stream(chunk)?;
    let message = info.message.unwrap_or("error in the response stream");
    Some(info.classify(info.stream_status(), message, None))
}

fn text<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

fn status_of(name: Option<&str>) -> Option<u16> {
    match name? {
        "invalid_request_error" => Some(400),
        "authentication_error" | "invalid_api_key" => Some(401),
        "permission_error" => Some(403),
        "not_found_error" | "model_not_found" => Some(404),
        "rate_limit_exceeded" | "rate_limit_error" | "requests" | "tokens" => Some(429),
        "overloaded_error" => Some(529),
        _ => None,
    }
}

fn body_excerpt(status: u16, body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        return format!("HTTP {status} with an empty body");
    }
    match body.char_indices().nth(MAX_ERROR_BODY_CHARS) {
        Some((end, _)) => format!("{}…", &body[..end]),
        None => body.to_owned(),
    }
}

/// Replaces every word starting with `sk-` (an API key, even a masked one)
/// with `sk-[redacted]`.
fn redact_keys(message: &str) -> String {
    let is_key_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '*');
    let mut redacted = String::with_capacity(message.len());
    let mut previous: Option<char> = None;
    let mut rest = message;
    while let Some(c) = rest.chars().next() {
        let word_start = previous.is_none_or(|p| !(p.is_alphanumeric() || p == '-' || p == '_'));
        if word_start && rest.starts_with("sk-") {
            let end = rest.find(|c: char| !is_key_char(c)).unwrap_or(rest.len());
            redacted.push_str("sk-[redacted]");
            rest = &rest[end..];
            previous = Some(']');
            continue;
        }
        redacted.push(c);
        previous = Some(c);
        rest = &rest[c.len_utf8()..];
    }
    redacted
}
