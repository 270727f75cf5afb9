//! The seam between the harness and a provider's wire format.

use serde_json::Map;
use serde_json::Value;

use super::error::ModelError;
use super::types::ModelEvent;
use super::types::ModelRequest;

/// A provider's wire format: request JSON, response-stream decoding and
/// error classification. Pure: the adapter owns the HTTP transport.
///
/// `anthropic::AnthropicCodec` (Messages API) and `openai::OpenAiCodec`
/// (OpenAI-compatible Chat Completions API) implement it.
pub trait ProviderCodec {
    /// The streaming decoder of one response.
    type Decoder: StreamDecoder;
    /// The request path relative to the provider's base URL (`v1/messages`).
    fn path(&self) -> &'static str;
    /// The JSON body of a streaming request.
    fn request_body(&self, request: &ModelRequest) -> Value;
    /// A fresh decoder for one response body.
    fn decoder(&self) -> Self::Decoder;
    /// Classifies a non-2xx response from its status, body and `retry-after`.
    fn classify_error(&self, status: u16, body: &str, retry_after_ms: Option<u64>) -> ModelError;
}

/// Turns response bytes, in chunks of any size, into model events.
pub trait StreamDecoder {
    /// Feeds the next chunk; returns the events it completed, in order.
    fn feed(&mut self, chunk: &[u8]) -> Vec<Result<ModelEvent, ModelError>>;
    /// Signals the end of the body; fails if the response was cut short.
    fn finish(&mut self) -> Result<(), ModelError>;
}

/// A tool call's streamed input, once whole: a JSON object (empty input is
/// an empty object), or `None` if it is anything else.
pub(crate) fn parse_tool_input(json: &str) -> Option<Map<String, Value>> {
    if json.trim().is_empty() {
        return Some(Map::new());
    }
    match serde_json::from_str(json).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}
