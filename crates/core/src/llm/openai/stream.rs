//! Decoding the Chat Completions chunk stream into [`ModelEvent`]s.

use std::collections::BTreeMap;

use serde_json::Value;

use super::stream_error;
use crate::llm::ModelError;
use crate::llm::ModelErrorKind;
use crate::llm::ModelEvent;
use crate::llm::ModelStopReason;
use crate::llm::StreamDecoder;
use crate::llm::sse::SseDecoder;
use crate::llm::sse::SseFrame;
use crate::wire::ModelUsage;

/// A tool call being streamed: its arguments arrive in fragments.
#[derive(Debug, Default)]
struct ToolCall {
    id: String,
    name: String,
    arguments: String,
}

/// Decodes one response body: `data:` lines of `chat.completion.chunk`
/// JSON, ended by `data: [DONE]`. Only the first choice (`index` 0) is read.
///
/// - `Started` comes with the first chunk; its usage is zero unless that
///   chunk reports some.
/// - `delta.content` (and `delta.refusal`) are text; `delta.reasoning_content`
///   or `delta.reasoning`, sent by some servers, are thinking.
/// - `delta.tool_calls` pieces are gathered by `index` (a piece without one
///   continues the last call, or starts a new call if it carries a new id);
///   when the choice's `finish_reason` arrives, each call is emitted as one
///   `ToolUse`, in index order, its arguments parsed as a JSON object (empty
///   arguments are an empty object). A call without an id gets `call_<index>`.
/// - `finish_reason` `stop` is an end of turn, `tool_calls` (or the legacy
///   `function_call`) a tool use, `length` the output cap, `content_filter`
///   a refusal; the aliases `eos`/`eos_token`, `model_length` and
///   `stop_sequence` of some servers are understood, anything else is
///   `Other`.
/// - Usage is taken from the last chunk that has one (with `include_usage`,
///   a final chunk with empty `choices`): `input_tokens` is `prompt_tokens`
///   minus the cached tokens and `cache_read_input_tokens` the cached tokens
///   (`prompt_tokens_details.cached_tokens`, or DeepSeek's
///   `prompt_cache_hit_tokens`), as in the Messages API where input tokens
///   exclude cache reads, so session totals compare across providers;
///   `output_tokens` is `completion_tokens`; nothing is a cache write.
/// - `Completed` is emitted at `[DONE]`, which follows the usage chunk.
///   [`StreamDecoder::finish`] cannot emit events, so a body that ends
///   without `[DONE]` is a `BrokenStream`, even after a `finish_reason`;
///   so is a `[DONE]` before any `finish_reason`.
/// - An error chunk (`{"error":{...}}`) is classified like an HTTP error.
///   Undecodable chunks, unparseable tool arguments and deltas after the
///   `finish_reason` are a `MalformedStream`. After an error, or after
///   `[DONE]`, the rest of the body is ignored.
#[derive(Debug, Default)]
pub struct OpenAiDecoder {
    sse: SseDecoder,
    started: bool,
    calls: BTreeMap<u64, ToolCall>,
    usage: ModelUsage,
    stop_reason: Option<ModelStopReason>,
    completed: bool,
    failed: bool,
}

impl OpenAiDecoder {
    /// A decoder at the start of a response.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn frame(&mut self, frame: &SseFrame) -> Vec<Result<ModelEvent, ModelError>> {
        let data = frame.data.trim();
        if self.failed || self.completed || data.is_empty() {
            return Vec::new();
        }
        let mut events = Vec::new();
        let outcome = self.data(data, &mut events);
        let mut results: Vec<_> = events.into_iter().map(Ok).collect();
        if let Err(err) = outcome {
            self.failed = true;
            results.push(Err(err));
        }
        results
    }

    fn data(&mut self, data: &str, events: &mut Vec<ModelEvent>) -> Result<(), ModelError> {
        if data == "[DONE]" {
            let stop_reason = self.stop_reason.clone().ok_or_else(|| {
                ModelError::new(
                    ModelErrorKind::BrokenStream,
                    "the stream ended ([DONE]) before a finish_reason",
                )
            })?;
            self.completed = true;
            events.push(ModelEvent::Completed {
                stop_reason,
                usage: self.usage,
            });
            return Ok(());
        }
        let chunk: Value = serde_json::from_str(data)
            .map_err(|err| malformed(format!("undecodable chunk: {err}")))?;
        if !chunk.is_object() {
            return Err(malformed("a chunk that is not a JSON object".to_owned()));
        }
        if let Some(error) = stream_error(&chunk) {
            return Err(error);
        }
        if let Some(usage) = chunk.get("usage").filter(|usage| usage.is_object()) {
            self.usage = usage_of(usage);
        }
        if !self.started {
            self.started = true;
            events.push(ModelEvent::Started { usage: self.usage });
        }
        let choice = chunk
            .get("choices")
            .and_then(Value::as_array)
            .and_then(|choices| {
                choices
                    .iter()
                    .find(|choice| choice.get("index").and_then(Value::as_u64).unwrap_or(0) == 0)
            });
        let Some(choice) = choice else {
            return Ok(());
        };
        if let Some(delta) = choice.get("delta") {
            self.delta(delta, events)?;
        }
        // Some servers send `""` rather than `null` before the end.
        if let Some(reason) = choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .filter(|reason| !reason.is_empty())
        {
            self.finish_choice(reason, events)?;
        }
        Ok(())
    }

    fn delta(&mut self, delta: &Value, events: &mut Vec<ModelEvent>) -> Result<(), ModelError> {
        let text = |key: &str| {
            delta
                .get(key)
                .and_then(Value::as_str)
                .filter(|text| !text.is_empty())
        };
        let thinking = text("reasoning_content").or_else(|| text("reasoning"));
        let content = text("content");
        let refusal = text("refusal");
        let tool_calls = delta
            .get("tool_calls")
            .and_then(Value::as_array)
            .filter(|calls| !calls.is_empty());
        let has_output =
            thinking.is_some() || content.is_some() || refusal.is_some() || tool_calls.is_some();
        if self.stop_reason.is_some() && has_output {
            return Err(malformed("a delta after the finish_reason".to_owned()));
        }
        if let Some(thinking) = thinking {
            events.push(ModelEvent::ThinkingDelta {
                thinking: thinking.to_owned(),
            });
        }
        for text in [content, refusal].into_iter().flatten() {
            events.push(ModelEvent::TextDelta {
                text: text.to_owned(),
            });
        }
        for piece in tool_calls.into_iter().flatten() {
            self.tool_call_piece(piece);
        }
        Ok(())
    }

    fn tool_call_piece(&mut self, piece: &Value) {
        let id = piece
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty());
        let index = match piece.get("index").and_then(Value::as_u64) {
            Some(index) => index,
            None => match self.calls.last_key_value() {
                Some((&last, call)) if id.is_none_or(|id| id == call.id) => last,
                Some((&last, _)) => last.saturating_add(1),
                None => 0,
            },
        };
        let call = self.calls.entry(index).or_default();
        if let Some(id) = id
            && call.id.is_empty()
        {
            id.clone_into(&mut call.id);
        }
        let function = piece.get("function");
        if let Some(name) = function
            .and_then(|function| function.get("name"))
            .and_then(Value::as_str)
            .filter(|name| !name.is_empty())
            && call.name.is_empty()
        {
            name.clone_into(&mut call.name);
        }
        match function.and_then(|function| function.get("arguments")) {
            Some(Value::String(fragment)) => call.arguments.push_str(fragment),
            // Some servers send the arguments as an object, not a string.
            Some(arguments @ (Value::Object(_) | Value::Array(_))) => {
                call.arguments.push_str(&arguments.to_string());
            }
            Some(Value::Null | Value::Bool(_) | Value::Number(_)) | None => {}
        }
    }

    fn finish_choice(
        &mut self,
        reason: &str,
        events: &mut Vec<ModelEvent>,
    ) -> Result<(), ModelError> {
        if self.stop_reason.is_some() {
            return Ok(());
        }
        for (index, call) in std::mem::take(&mut self.calls) {
            if call.name.is_empty() {
                return Err(malformed(format!("tool call {index} has no function name")));
            }
            let input = crate::llm::codec::parse_tool_input(&call.arguments).ok_or_else(|| {
                malformed(format!(
                    "the arguments of tool call {index} (`{}`) are not a JSON object",
                    call.name
                ))
            })?;
            let id = if call.id.is_empty() {
                format!("call_{index}")
            } else {
                call.id
            };
            events.push(ModelEvent::ToolUse {
                id,
                name: call.name,
                input,
            });
        }
        self.stop_reason = Some(stop_reason(reason));
        Ok(())
    }
}

impl StreamDecoder for OpenAiDecoder {
    fn feed(&mut self, chunk: &[u8]) -> Vec<Result<ModelEvent, ModelError>> {
        let frames = self.sse.feed(chunk);
        frames.iter().flat_map(|frame| self.frame(frame)).collect()
    }

    fn finish(&mut self) -> Result<(), ModelError> {
        // A frame without its closing blank line was cut off; its events
        // could not be delivered any more, so it is not decoded.
        let cut_off = self.sse.finish().is_some();
        if self.completed || self.failed {
            return Ok(());
        }
        let message = if cut_off {
            "the stream was cut off mid-event"
        } else if self.stop_reason.is_some() {
            "the stream ended after its finish_reason but before [DONE]"
        } else {
            "the stream ended before a finish_reason"
        };
        Err(ModelError::new(ModelErrorKind::BrokenStream, message))
    }
}

fn malformed(message: String) -> ModelError {
    ModelError::new(ModelErrorKind::MalformedStream, message)
}

fn usage_of(usage: &Value) -> ModelUsage {
    let get = |pointer: &str| usage.pointer(pointer).and_then(Value::as_u64);
    let prompt = get("/prompt_tokens").unwrap_or(0);
    let cached = get("/prompt_tokens_details/cached_tokens")
        .or_else(|| get("/prompt_cache_hit_tokens"))
        .unwrap_or(0)
        .min(prompt);
    ModelUsage {
        input_tokens: prompt - cached,
        output_tokens: get("/completion_tokens").unwrap_or(0),
        cache_read_input_tokens: cached,
        cache_creation_input_tokens: 0,
        speed: None,
    }
}

fn stop_reason(reason: &str) -> ModelStopReason {
    match reason {
        "stop" | "eos" | "eos_token" => ModelStopReason::EndTurn,
        "tool_calls" | "function_call" => ModelStopReason::ToolUse,
        "length" | "model_length" => ModelStopReason::MaxTokens,
        "stop_sequence" => ModelStopReason::StopSequence,
        "content_filter" => ModelStopReason::Refusal,
        other => ModelStopReason::Other(other.to_owned()),
    }
}
