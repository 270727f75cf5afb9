//! The model provider over `fetch`: core's `HttpTransport`, so the Anthropic
//! codec and its streaming decoder run unchanged in the worker.
//!
//! Every call has deadlines: the response's headers must arrive within
//! `first_byte_ms`, and the body may go at most `idle_ms` without a byte. A
//! call past either, or cut short by an interrupt, is aborted and fails as a
//! transport error, which core retries by the usual policy (or, after an
//! interrupt, ends the turn as the interrupt says).

use futures_util::StreamExt;
use openma_core::llm::ByteStream;
use openma_core::llm::HttpRequest;
use openma_core::llm::HttpResponse;
use openma_core::llm::HttpTransport;
use openma_core::llm::TransportError;
use worker::AbortController;
use worker::Fetch;
use worker::Headers;
use worker::Method;
use worker::Request;
use worker::RequestInit;
use worker::wasm_bindgen::JsValue;

use crate::interrupts::Cut;
use crate::interrupts::InterruptSignal;

/// How long a model call may wait for its response's headers.
pub(crate) const FIRST_BYTE_MS: u64 = 120_000;
/// How long a model response may go without sending a byte (the provider
/// sends a ping at least every few seconds while it works).
pub(crate) const IDLE_MS: u64 = 90_000;

/// The deadlines of one model call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadlines {
    /// Until the response's headers.
    pub(crate) first_byte_ms: u64,
    /// The longest gap between two chunks of the body.
    pub(crate) idle_ms: u64,
}

impl Default for Deadlines {
    fn default() -> Self {
        Self {
            first_byte_ms: FIRST_BYTE_MS,
            idle_ms: IDLE_MS,
        }
    }
}

/// Sends provider requests with the runtime's `fetch`.
#[derive(Debug, Clone, Default)]
pub(crate) struct FetchTransport {
    deadlines: Deadlines,
    interrupts: InterruptSignal,
}

impl FetchTransport {
    /// A transport whose calls keep `deadlines` and end on `interrupts`.
    pub(crate) fn new(deadlines: Deadlines, interrupts: InterruptSignal) -> Self {
        Self {
            deadlines,
            interrupts,
        }
    }
}

/// A streamed response body.
#[derive(Debug)]
pub(crate) struct FetchBody {
    stream: worker::ByteStream,
    abort: Option<AbortController>,
    idle_ms: u64,
    interrupts: InterruptSignal,
    seen: u64,
}

fn cut_error(cut: Cut, what: &str, ms: u64) -> TransportError {
    TransportError(match cut {
        Cut::Deadline => format!("the model provider sent no {what} within {ms} ms"),
        Cut::Interrupt => "the model call was cut short by an interrupt".to_owned(),
    })
}

impl HttpTransport for FetchTransport {
    type Body = FetchBody;

    async fn send(&self, request: HttpRequest) -> Result<HttpResponse<FetchBody>, TransportError> {
        let err = |e: worker::Error| TransportError(e.to_string());
        let headers = Headers::new();
        for (name, value) in &request.headers {
            headers.set(name, value).map_err(err)?;
        }
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_body(Some(JsValue::from_str(&request.body)));
        let req = Request::new_with_init(&request.url, &init).map_err(err)?;
        let seen = self.interrupts.seen();
        let abort = AbortController::default();
        let signal = abort.signal();
        let fetch = Fetch::Request(req);
        let sent = self
            .interrupts
            .bounded(
                fetch.send_with_signal(&signal),
                self.deadlines.first_byte_ms,
                seen,
            )
            .await;
        let mut resp = match sent {
            Ok(resp) => resp.map_err(err)?,
            Err(cut) => {
                abort.abort();
                return Err(cut_error(cut, "response", self.deadlines.first_byte_ms));
            }
        };
        let status = resp.status_code();
        let headers = resp.headers().entries().collect();
        let body = FetchBody {
            stream: resp.stream().map_err(err)?,
            abort: Some(abort),
            idle_ms: self.deadlines.idle_ms,
            interrupts: self.interrupts.clone(),
            seen,
        };
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

impl ByteStream for FetchBody {
    async fn next_chunk(&mut self) -> Option<Result<Vec<u8>, TransportError>> {
        let next = self
            .interrupts
            .bounded(self.stream.next(), self.idle_ms, self.seen)
            .await;
        match next {
            Ok(chunk) => chunk.map(|chunk| chunk.map_err(|e| TransportError(e.to_string()))),
            Err(cut) => {
                if let Some(abort) = self.abort.take() {
                    abort.abort();
                }
                Some(Err(cut_error(cut, "data", self.idle_ms)))
            }
        }
    }
}
