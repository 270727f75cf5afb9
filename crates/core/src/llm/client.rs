//! A [`ModelClient`] made of a provider codec over an HTTP transport.

use std::collections::VecDeque;

use super::codec::ProviderCodec;
use super::codec::StreamDecoder;
use super::error::ModelError;
use super::error::ModelErrorKind;
use super::transport::ByteStream;
use super::transport::HttpRequest;
use super::transport::HttpTransport;
use super::types::ModelEvent;
use super::types::ModelRequest;
use crate::ports::ModelClient;
use crate::ports::ModelStream;

/// Calls a provider: builds the body with the codec, sends it with the
/// transport, and decodes the streamed response.
#[derive(Debug, Clone)]
pub struct CodecModelClient<T, C> {
    transport: T,
    codec: C,
    base_url: String,
    headers: Vec<(String, String)>,
}

impl<T: HttpTransport, C: ProviderCodec> CodecModelClient<T, C> {
    /// A client for the provider at `base_url` (e.g. `https://api.anthropic.com`),
    /// sending `headers` (authentication, version) with every request.
    #[must_use]
    pub fn new(
        transport: T,
        codec: C,
        base_url: impl Into<String>,
        headers: Vec<(String, String)>,
    ) -> Self {
        Self {
            transport,
            codec,
            base_url: base_url.into(),
            headers,
        }
    }

    /// The transport, e.g. to inspect a fake in tests.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    fn url(&self) -> String {
        format!(
            "{}/{}",
            self.base_url.trim_end_matches('/'),
            self.codec.path()
        )
    }
}

impl<T: HttpTransport, C: ProviderCodec> ModelClient for CodecModelClient<T, C> {
    type Stream = CodecStream<T::Body, C::Decoder>;

    async fn stream(&self, request: ModelRequest) -> Result<Self::Stream, ModelError> {
        let http = HttpRequest {
            url: self.url(),
            headers: self.headers.clone(),
            body: self.codec.request_body(&request).to_string(),
        };
        let mut response = self
            .transport
            .send(http)
            .await
            .map_err(|err| ModelError::new(ModelErrorKind::Network, err.to_string()))?;
        if !(200..300).contains(&response.status) {
            let retry_after_ms = response.retry_after_ms();
            let mut body = Vec::new();
            while let Some(Ok(chunk)) = response.body.next_chunk().await {
                body.extend_from_slice(&chunk);
            }
            return Err(self.codec.classify_error(
                response.status,
                &String::from_utf8_lossy(&body),
                retry_after_ms,
            ));
        }
        Ok(CodecStream {
            body: response.body,
            decoder: self.codec.decoder(),
            pending: VecDeque::new(),
            done: false,
        })
    }
}

/// The decoded event stream of one response.
#[derive(Debug)]
pub struct CodecStream<B, D> {
    body: B,
    decoder: D,
    pending: VecDeque<Result<ModelEvent, ModelError>>,
    done: bool,
}

impl<B: ByteStream, D: StreamDecoder> ModelStream for CodecStream<B, D> {
    async fn next(&mut self) -> Option<Result<ModelEvent, ModelError>> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(item);
            }
            if self.done {
                return None;
            }
            match self.body.next_chunk().await {
                Some(Ok(chunk)) => self.pending.extend(self.decoder.feed(&chunk)),
                Some(Err(err)) => {
                    self.done = true;
                    return Some(Err(ModelError::new(
                        ModelErrorKind::BrokenStream,
                        err.to_string(),
                    )));
                }
                None => {
                    self.done = true;
                    if let Err(err) = self.decoder.finish() {
                        return Some(Err(err));
                    }
                }
            }
        }
    }
}
