use crate::llm::ModelError;
use crate::llm::ModelErrorKind;
use crate::llm::ModelEvent;
use crate::llm::ModelRequest;

/// A streaming model call. Implemented by adapters over a provider codec
/// (see `llm::ProviderCodec`) and by `ScriptedModel` in tests.
#[expect(
    async_fn_in_trait,
    reason = "core's ports are deliberately not Send (Durable Object futures are !Send)"
)]
pub trait ModelClient {
    /// The stream of one call.
    type Stream: ModelStream;
    /// Starts one call. Errors before the first byte (HTTP status) are
    /// returned here, classified.
    async fn stream(&self, request: ModelRequest) -> Result<Self::Stream, ModelError>;

    /// Convenience: runs a call to the end and collects its events; fails on
    /// the first error or if the stream ends before `Completed`.
    async fn complete(&self, request: ModelRequest) -> Result<Vec<ModelEvent>, ModelError> {
        let mut stream = self.stream(request).await?;
        let mut events = Vec::new();
        while let Some(event) = stream.next().await {
            events.push(event?);
        }
        if matches!(events.last(), Some(ModelEvent::Completed { .. })) {
            Ok(events)
        } else {
            Err(ModelError::new(
                ModelErrorKind::BrokenStream,
                "the stream ended before the response completed",
            ))
        }
    }
}

/// The events of one model call, in order.
#[expect(
    async_fn_in_trait,
    reason = "core's ports are deliberately not Send (Durable Object futures are !Send)"
)]
pub trait ModelStream {
    /// The next event; `None` when the stream ended (a stream that ends
    /// without `Completed` is broken).
    async fn next(&mut self) -> Option<Result<ModelEvent, ModelError>>;
}
