use std::cell::RefCell;
use std::collections::HashSet;
use std::collections::VecDeque;
use std::rc::Rc;

use serde_json::Value;

use crate::llm::ModelError;
use crate::llm::ModelErrorKind;
use crate::llm::ModelEvent;
use crate::llm::ModelRequest;
use crate::llm::ModelStopReason;
use crate::llm::Part;
use crate::llm::Role;
use crate::ports::ModelClient;
use crate::ports::ModelStream;
use crate::wire::ModelUsage;

/// One step of a scripted response.
#[derive(Clone)]
pub enum ScriptItem {
    /// Yield this event.
    Event(ModelEvent),
    /// Yield this error.
    Error(ModelError),
    /// Run this closure before yielding the next item (e.g. inject an interrupt).
    Hook(Rc<dyn Fn()>),
    /// Return `Pending` once, letting concurrently joined futures run (e.g.
    /// a `submit` while the model streams).
    Yield,
}

impl std::fmt::Debug for ScriptItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Event(event) => f.debug_tuple("Event").field(event).finish(),
            Self::Error(error) => f.debug_tuple("Error").field(error).finish(),
            Self::Hook(_) => f.write_str("Hook"),
            Self::Yield => f.write_str("Yield"),
        }
    }
}

/// The response to one model call: either an error before the stream
/// starts, or a stream of items.
#[derive(Debug, Clone)]
pub enum Script {
    /// The call fails before streaming (an HTTP error status).
    Fail(ModelError),
    /// The call streams these items, then ends.
    Stream(Vec<ScriptItem>),
}

impl From<Vec<ScriptItem>> for Script {
    fn from(items: Vec<ScriptItem>) -> Self {
        Self::Stream(items)
    }
}

type Responder = Rc<dyn Fn(&ModelRequest) -> Script>;

#[derive(Default)]
struct Inner {
    scripts: RefCell<VecDeque<Script>>,
    requests: RefCell<Vec<ModelRequest>>,
    responder: RefCell<Option<Responder>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedModel")
            .field("scripts", &self.scripts)
            .field("requests", &self.requests.borrow().len())
            .finish()
    }
}

/// A [`ModelClient`] that plays scripted responses, one per call, records
/// every request and checks its tool-call invariants. Clones share state.
#[derive(Debug, Clone, Default)]
pub struct ScriptedModel(Rc<Inner>);

impl ScriptedModel {
    /// A model with no scripts.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues the response to the next unscripted call.
    pub fn push(&self, script: impl Into<Script>) {
        self.0.scripts.borrow_mut().push_back(script.into());
    }

    /// Answers calls with no queued script by `responder(request)`, so a
    /// re-issued call (after a crash) gets the same answer.
    pub fn respond_with(&self, responder: impl Fn(&ModelRequest) -> Script + 'static) {
        *self.0.responder.borrow_mut() = Some(Rc::new(responder));
    }

    /// Every request so far.
    #[must_use]
    pub fn requests(&self) -> Vec<ModelRequest> {
        self.0.requests.borrow().clone()
    }

    /// The only request; panics unless exactly one was made.
    #[must_use]
    pub fn single_request(&self) -> ModelRequest {
        let requests = self.requests();
        assert_eq!(requests.len(), 1, "expected exactly one model request");
        requests
            .into_iter()
            .next()
            .unwrap_or_else(|| unreachable!())
    }

    /// Scripts not consumed yet.
    #[must_use]
    pub fn remaining(&self) -> usize {
        self.0.scripts.borrow().len()
    }
}

/// The stream of one scripted call.
#[derive(Debug)]
pub struct ScriptedStream(VecDeque<ScriptItem>);

impl ModelClient for ScriptedModel {
    type Stream = ScriptedStream;

    async fn stream(&self, request: ModelRequest) -> Result<ScriptedStream, ModelError> {
        validate_request(&request);
        let queued = self.0.scripts.borrow_mut().pop_front();
        let responder = self.0.responder.borrow().clone();
        let script = queued.or_else(|| responder.map(|respond| respond(&request)));
        self.0.requests.borrow_mut().push(request);
        match script {
            Some(Script::Fail(error)) => Err(error),
            Some(Script::Stream(items)) => Ok(ScriptedStream(items.into())),
            None => panic!(
                "ScriptedModel: no script left for request #{}",
                self.0.requests.borrow().len()
            ),
        }
    }
}

impl ModelStream for ScriptedStream {
    async fn next(&mut self) -> Option<Result<ModelEvent, ModelError>> {
        loop {
            match self.0.pop_front()? {
                ScriptItem::Hook(hook) => hook(),
                ScriptItem::Yield => YieldOnce(false).await,
                ScriptItem::Event(event) => return Some(Ok(event)),
                ScriptItem::Error(error) => return Some(Err(error)),
            }
        }
    }
}

/// Panics unless the request is well formed: it starts with a user message,
/// roles alternate, and every tool call is answered exactly once, in the
/// next message, with no result lacking its call.
pub fn validate_request(request: &ModelRequest) {
    let messages = &request.messages;
    assert!(
        messages.first().is_some_and(|m| m.role == Role::User),
        "request must start with a user message"
    );
    for pair in messages.windows(2) {
        assert_ne!(pair[0].role, pair[1].role, "roles must alternate");
    }
    let mut calls = HashSet::new();
    for (i, message) in messages.iter().enumerate() {
        for part in &message.content {
            match part {
                Part::ToolUse { id, .. } => {
                    assert!(calls.insert(id.clone()), "duplicate tool call {id}");
                    let answers = messages.get(i + 1).map_or(0, |next| {
                        next.content.iter().filter(|p| matches!(p, Part::ToolResult { tool_use_id, .. } if tool_use_id == id)).count()
                    });
                    assert_eq!(
                        answers, 1,
                        "tool call {id} must be answered exactly once in the next message"
                    );
                }
                Part::ToolResult { tool_use_id, .. } => {
                    assert!(
                        calls.contains(tool_use_id),
                        "tool result {tool_use_id} has no call"
                    );
                }
                Part::Content { .. } | Part::System { .. } => {}
            }
        }
    }
}

/// `Started` with 10 input tokens.
#[must_use]
pub fn ev_started() -> ScriptItem {
    ScriptItem::Event(ModelEvent::Started {
        usage: ModelUsage {
            input_tokens: 10,
            ..ModelUsage::default()
        },
    })
}

/// A text delta.
#[must_use]
pub fn ev_text(text: &str) -> ScriptItem {
    ScriptItem::Event(ModelEvent::TextDelta {
        text: text.to_owned(),
    })
}

/// A thinking delta.
#[must_use]
pub fn ev_thinking(thinking: &str) -> ScriptItem {
    ScriptItem::Event(ModelEvent::ThinkingDelta {
        thinking: thinking.to_owned(),
    })
}

/// A complete tool call; `input` must be a JSON object.
#[must_use]
pub fn ev_tool_use(id: &str, name: &str, input: Value) -> ScriptItem {
    let input = match input {
        Value::Object(map) => map,
        other => panic!("tool input must be an object, got {other}"),
    };
    ScriptItem::Event(ModelEvent::ToolUse {
        id: id.to_owned(),
        name: name.to_owned(),
        input,
    })
}

/// `Completed` with `end_turn` and 10 input / 5 output tokens.
#[must_use]
pub fn ev_completed() -> ScriptItem {
    ev_completed_with(
        ModelStopReason::EndTurn,
        ModelUsage {
            input_tokens: 10,
            output_tokens: 5,
            ..ModelUsage::default()
        },
    )
}

/// `Completed` with an explicit stop reason and usage.
#[must_use]
pub fn ev_completed_with(stop_reason: ModelStopReason, usage: ModelUsage) -> ScriptItem {
    ScriptItem::Event(ModelEvent::Completed { stop_reason, usage })
}

/// A mid-stream error of `kind`.
#[must_use]
pub fn ev_failed(kind: ModelErrorKind) -> ScriptItem {
    ScriptItem::Error(ModelError::new(kind, "scripted failure"))
}

/// A whole text reply.
#[must_use]
pub fn text_reply(text: &str) -> Script {
    Script::Stream(vec![ev_started(), ev_text(text), ev_completed()])
}

/// A whole reply calling tools: `(provider id, name, input)` each.
#[must_use]
pub fn tool_reply(calls: &[(&str, &str, Value)]) -> Script {
    let mut items = vec![ev_started()];
    items.extend(
        calls
            .iter()
            .map(|(id, name, input)| ev_tool_use(id, name, input.clone())),
    );
    items.push(ev_completed_with(
        ModelStopReason::ToolUse,
        ModelUsage {
            input_tokens: 10,
            output_tokens: 5,
            ..ModelUsage::default()
        },
    ));
    Script::Stream(items)
}

// Pending once, then ready: runtime-agnostic cooperative yield.
struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}
