//! Decoding the Messages API event stream into [`ModelEvent`]s.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::llm::ModelError;
use crate::llm::ModelErrorKind;
use crate::llm::ModelEvent;
use crate::llm::ModelStopReason;
use crate::llm::StreamDecoder;
use crate::llm::classify_status;
use crate::llm::sse::SseDecoder;
use crate::llm::sse::SseFrame;
use crate::wire::ModelUsage;

#[derive(Debug)]
enum Block {
    Text,
    Thinking,
    ToolUse {
        id: String,
        name: String,
        json: String,
    },
    Other,
}

/// Decodes one response body: `message_start`, `content_block_*`
/// (`text_delta`, `input_json_delta`, `thinking_delta`), `message_delta`,
/// `message_stop`, `ping` and `error`. Unknown event types are ignored.
#[derive(Debug, Default)]
pub struct AnthropicDecoder {
    sse: SseDecoder,
    blocks: BTreeMap<u64, Block>,
    usage: ModelUsage,
    stop_reason: Option<ModelStopReason>,
    completed: bool,
    failed: bool,
}

impl AnthropicDecoder {
    /// A decoder at the start of a response.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn frame(&mut self, frame: &SseFrame) -> Vec<Result<ModelEvent, ModelError>> {
        if self.failed || frame.data.is_empty() {
            return Vec::new();
        }
        let data: Value = match serde_json::from_str(&frame.data) {
            Ok(data) => data,
            Err(err) => return vec![self.fail(format!("undecodable event data: {err}"))],
        };
        let kind = data
            .get("type")
            .and_then(Value::as_str)
            .or(frame.event.as_deref())
            .unwrap_or_default();
        match self.event(kind, &data) {
            Ok(event) => event.into_iter().map(Ok).collect(),
            Err(err) => {
                self.failed = true;
                vec![Err(err)]
            }
        }
    }

    fn fail(&mut self, message: String) -> Result<ModelEvent, ModelError> {
        self.failed = true;
        Err(ModelError::new(ModelErrorKind::MalformedStream, message))
    }

    fn event(&mut self, kind: &str, data: &Value) -> Result<Option<ModelEvent>, ModelError> {
        let malformed =
            |what: &str| ModelError::new(ModelErrorKind::MalformedStream, what.to_owned());
        match kind {
            "message_start" => {
                if let Some(usage) = data.pointer("/message/usage") {
                    merge_usage(&mut self.usage, usage);
                }
                Ok(Some(ModelEvent::Started { usage: self.usage }))
            }
            "content_block_start" => {
                let index = data
                    .get("index")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| malformed("content_block_start without index"))?;
                let block = data
                    .get("content_block")
                    .ok_or_else(|| malformed("content_block_start without content_block"))?;
                let text = |key: &str| {
                    block
                        .get(key)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                let (state, event) = match block.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        let initial = text("text");
                        (
                            Block::Text,
                            (!initial.is_empty())
                                .then_some(ModelEvent::TextDelta { text: initial }),
                        )
                    }
                    Some("thinking" | "redacted_thinking") => (
                        Block::Thinking,
                        Some(ModelEvent::ThinkingDelta {
                            thinking: text("thinking"),
                        }),
                    ),
                    Some("tool_use") => (
                        Block::ToolUse {
                            id: text("id"),
                            name: text("name"),
                            json: String::new(),
                        },
                        None,
                    ),
                    _ => (Block::Other, None),
                };
                self.blocks.insert(index, state);
                Ok(event)
            }
            "content_block_delta" => {
                let index = data
                    .get("index")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| malformed("content_block_delta without index"))?;
                let delta = data
                    .get("delta")
                    .ok_or_else(|| malformed("content_block_delta without delta"))?;
                let field = |key: &str| {
                    delta
                        .get(key)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                let block = self
                    .blocks
                    .get_mut(&index)
                    .ok_or_else(|| malformed("delta for a block that never started"))?;
                match (delta.get("type").and_then(Value::as_str), block) {
                    (Some("text_delta"), Block::Text) => Ok(Some(ModelEvent::TextDelta {
                        text: field("text"),
                    })),
                    (Some("thinking_delta"), Block::Thinking) => {
                        Ok(Some(ModelEvent::ThinkingDelta {
                            thinking: field("thinking"),
                        }))
                    }
                    (Some("input_json_delta"), Block::ToolUse { json, .. }) => {
                        json.push_str(&field("partial_json"));
                        Ok(None)
                    }
                    (Some("text_delta" | "thinking_delta" | "input_json_delta"), _) => {
                        Err(malformed("delta does not match its block"))
                    }
                    _ => Ok(None),
                }
            }
            "content_block_stop" => {
                let index = data
                    .get("index")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| malformed("content_block_stop without index"))?;
                match self.blocks.remove(&index) {
                    Some(Block::ToolUse { id, name, json }) => {
                        let input = crate::llm::codec::parse_tool_input(&json)
                            .ok_or_else(|| malformed("tool input is not a JSON object"))?;
                        Ok(Some(ModelEvent::ToolUse { id, name, input }))
                    }
                    Some(_) => Ok(None),
                    None => Err(malformed("stop for a block that never started")),
                }
            }
            "message_delta" => {
                if let Some(reason) = data.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.stop_reason = Some(stop_reason(reason));
                }
                if let Some(usage) = data.get("usage") {
                    merge_usage(&mut self.usage, usage);
                }
                Ok(None)
            }
            "message_stop" => {
                self.completed = true;
                let stop_reason = self.stop_reason.clone().unwrap_or(ModelStopReason::EndTurn);
                Ok(Some(ModelEvent::Completed {
                    stop_reason,
                    usage: self.usage,
                }))
            }
            "error" => {
                let error_type = data
                    .pointer("/error/type")
                    .and_then(Value::as_str)
                    .unwrap_or("api_error");
                let message = data
                    .pointer("/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or("stream error");
                Err(classify_status(
                    status_of(error_type),
                    Some(error_type),
                    message,
                    None,
                ))
            }
            _ => Ok(None),
        }
    }
}

impl StreamDecoder for AnthropicDecoder {
    fn feed(&mut self, chunk: &[u8]) -> Vec<Result<ModelEvent, ModelError>> {
        let frames = self.sse.feed(chunk);
        frames.iter().flat_map(|frame| self.frame(frame)).collect()
    }

    fn finish(&mut self) -> Result<(), ModelError> {
        // A frame without its closing blank line was cut off: if it does not
        // decode, the stream is broken rather than malformed.
        if let Some(frame) = self.sse.finish()
            && self.frame(&frame).iter().any(Result::is_err)
            && !self.completed
        {
            return Err(ModelError::new(
                ModelErrorKind::BrokenStream,
                "the stream was cut off mid-event",
            ));
        }
        if self.completed || self.failed {
            Ok(())
        } else {
            Err(ModelError::new(
                ModelErrorKind::BrokenStream,
                "the stream ended before message_stop",
            ))
        }
    }
}

fn merge_usage(usage: &mut ModelUsage, value: &Value) {
    let get = |key: &str| value.get(key).and_then(Value::as_u64);
    if let Some(n) = get("input_tokens") {
        usage.input_tokens = n;
    }
    if let Some(n) = get("output_tokens") {
        usage.output_tokens = n;
    }
    if let Some(n) = get("cache_read_input_tokens") {
        usage.cache_read_input_tokens = n;
    }
    if let Some(n) = get("cache_creation_input_tokens") {
        usage.cache_creation_input_tokens = n;
    }
}

fn stop_reason(reason: &str) -> ModelStopReason {
    match reason {
        "end_turn" => ModelStopReason::EndTurn,
        "tool_use" => ModelStopReason::ToolUse,
        "max_tokens" => ModelStopReason::MaxTokens,
        "stop_sequence" => ModelStopReason::StopSequence,
        "refusal" => ModelStopReason::Refusal,
        "pause_turn" => ModelStopReason::PauseTurn,
        other => ModelStopReason::Other(other.to_owned()),
    }
}

fn status_of(error_type: &str) -> u16 {
    match error_type {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "billing_error" => 402,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "timeout_error" => 504,
        "overloaded_error" => 529,
        _ => 500,
    }
}
