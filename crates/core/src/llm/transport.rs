//! The HTTP seam below the codec: adapters implement [`HttpTransport`]
//! (`worker::Fetch` on wasm, reqwest natively); core stays runtime-free.

/// An outbound HTTP POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// Absolute URL.
    pub url: String,
    /// Header name/value pairs.
    pub headers: Vec<(String, String)>,
    /// JSON body.
    pub body: String,
}

/// A response whose body arrives as a stream of chunks.
#[derive(Debug)]
pub struct HttpResponse<B> {
    /// HTTP status.
    pub status: u16,
    /// Header name/value pairs (names compared case-insensitively).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: B,
}

impl<B> HttpResponse<B> {
    /// The first header named `name`, case-insensitively.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The server-requested delay: `retry-after-ms`, else `retry-after` in seconds.
    #[must_use]
    pub fn retry_after_ms(&self) -> Option<u64> {
        if let Some(ms) = self
            .header("retry-after-ms")
            .and_then(|v| v.trim().parse::<f64>().ok())
        {
            return Some(ms.max(0.0) as u64);
        }
        self.header("retry-after")
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map(|s| (s.max(0.0) * 1000.0) as u64)
    }
}

/// The transport failed (connection refused, reset, timed out).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("transport error: {0}")]
pub struct TransportError(pub String);

/// Sends requests and streams responses.
#[expect(
    async_fn_in_trait,
    reason = "core's ports are deliberately not Send (Durable Object futures are !Send)"
)]
pub trait HttpTransport {
    /// The response body stream.
    type Body: ByteStream;
    /// Sends `request`; resolves when the status and headers arrived.
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse<Self::Body>, TransportError>;
}

/// A response body, chunk by chunk.
#[expect(
    async_fn_in_trait,
    reason = "core's ports are deliberately not Send (Durable Object futures are !Send)"
)]
pub trait ByteStream {
    /// The next chunk; `None` at the end of the body.
    async fn next_chunk(&mut self) -> Option<Result<Vec<u8>, TransportError>>;
}
