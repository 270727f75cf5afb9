//! The model provider over `fetch`: core's `HttpTransport`, so the Anthropic
//! codec and its streaming decoder run unchanged in the worker.

use futures_util::StreamExt;
use openma_core::llm::ByteStream;
use openma_core::llm::HttpRequest;
use openma_core::llm::HttpResponse;
use openma_core::llm::HttpTransport;
use openma_core::llm::TransportError;
use worker::Fetch;
use worker::Headers;
use worker::Method;
use worker::Request;
use worker::RequestInit;
use worker::wasm_bindgen::JsValue;

/// Sends provider requests with the runtime's `fetch`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FetchTransport;

/// A streamed response body.
#[derive(Debug)]
pub(crate) struct FetchBody(worker::ByteStream);

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
        let mut resp = Fetch::Request(req).send().await.map_err(err)?;
        let status = resp.status_code();
        let headers = resp.headers().entries().collect();
        let body = FetchBody(resp.stream().map_err(err)?);
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

impl ByteStream for FetchBody {
    async fn next_chunk(&mut self) -> Option<Result<Vec<u8>, TransportError>> {
        self.0
            .next()
            .await
            .map(|chunk| chunk.map_err(|e| TransportError(e.to_string())))
    }
}
