use std::cell::Cell;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use crate::llm::ByteStream;
use crate::llm::HttpRequest;
use crate::llm::HttpResponse;
use crate::llm::HttpTransport;
use crate::llm::TransportError;

#[derive(Debug, Clone)]
struct Canned {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

#[derive(Debug, Default)]
struct Inner {
    responses: RefCell<VecDeque<Canned>>,
    requests: RefCell<Vec<HttpRequest>>,
    seed: Cell<u64>,
}

/// An [`HttpTransport`] that replays canned responses (e.g. recorded `.sse`
/// fixtures), delivering each body in pseudo-random chunks of 1–32 bytes to
/// exercise stream framing, and records every request. Clones share state.
#[derive(Debug, Clone, Default)]
pub struct ReplayTransport(Rc<Inner>);

impl ReplayTransport {
    /// A transport whose chunk sizes derive from `seed`.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        let transport = Self::default();
        transport.0.seed.set(seed);
        transport
    }

    /// Queues a `200 text/event-stream` response with `body`.
    pub fn push_sse(&self, body: &str) {
        self.push(
            200,
            vec![("content-type".into(), "text/event-stream".into())],
            body,
        );
    }

    /// Queues any response.
    pub fn push(&self, status: u16, headers: Vec<(String, String)>, body: &str) {
        self.0.responses.borrow_mut().push_back(Canned {
            status,
            headers,
            body: body.as_bytes().to_vec(),
        });
    }

    /// Every request sent.
    #[must_use]
    pub fn requests(&self) -> Vec<HttpRequest> {
        self.0.requests.borrow().clone()
    }

    fn next_size(&self) -> usize {
        let seed = self
            .0
            .seed
            .get()
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0.seed.set(seed);
        usize::try_from(seed >> 59).unwrap_or(0) + 1
    }
}

/// A replayed body.
#[derive(Debug)]
pub struct ReplayBody(VecDeque<Vec<u8>>);

impl HttpTransport for ReplayTransport {
    type Body = ReplayBody;

    async fn send(&self, request: HttpRequest) -> Result<HttpResponse<ReplayBody>, TransportError> {
        self.0.requests.borrow_mut().push(request);
        let canned = self.0.responses.borrow_mut().pop_front();
        let Some(canned) = canned else {
            return Err(TransportError("no canned response left".into()));
        };
        let mut chunks = VecDeque::new();
        let mut rest = canned.body.as_slice();
        while !rest.is_empty() {
            let (head, tail) = rest.split_at(self.next_size().min(rest.len()));
            chunks.push_back(head.to_vec());
            rest = tail;
        }
        Ok(HttpResponse {
            status: canned.status,
            headers: canned.headers,
            body: ReplayBody(chunks),
        })
    }
}

impl ByteStream for ReplayBody {
    async fn next_chunk(&mut self) -> Option<Result<Vec<u8>, TransportError>> {
        self.0.pop_front().map(Ok)
    }
}
