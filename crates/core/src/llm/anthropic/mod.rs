//! The Anthropic Messages API codec (`POST /v1/messages`, `stream: true`).

mod request;
mod stream;

pub use request::request_body;
pub use stream::AnthropicDecoder;

use serde_json::Value;

use super::codec::ProviderCodec;
use super::error::ModelError;
use super::error::classify_status;
use super::types::ModelRequest;

/// The `anthropic-version` header value sent to the Messages API.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Headers of a Messages API call authenticated with `api_key`.
#[must_use]
pub fn headers(api_key: &str) -> Vec<(String, String)> {
    vec![
        ("x-api-key".to_owned(), api_key.to_owned()),
        ("anthropic-version".to_owned(), ANTHROPIC_VERSION.to_owned()),
        ("content-type".to_owned(), "application/json".to_owned()),
        ("accept".to_owned(), "text/event-stream".to_owned()),
    ]
}

/// The Messages API as a [`ProviderCodec`].
#[derive(Debug, Clone, Copy, Default)]
pub struct AnthropicCodec;

impl ProviderCodec for AnthropicCodec {
    type Decoder = AnthropicDecoder;

    fn path(&self) -> &'static str {
        "v1/messages"
    }

    fn request_body(&self, request: &ModelRequest) -> Value {
        request_body(request)
    }

    fn decoder(&self) -> Self::Decoder {
        AnthropicDecoder::new()
    }

    fn classify_error(&self, status: u16, body: &str, retry_after_ms: Option<u64>) -> ModelError {
        let parsed: Option<Value> = serde_json::from_str(body).ok();
        let error = parsed.as_ref().and_then(|v| v.get("error"));
        let error_type = error.and_then(|e| e.get("type")).and_then(Value::as_str);
        let message = error
            .and_then(|e| e.get("message"))
            .and_then(Value::as_str)
            .unwrap_or(body);
        classify_status(status, error_type, message, retry_after_ms)
    }
}
