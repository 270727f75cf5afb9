//! Building the Messages API request body.

use serde_json::Value;
use serde_json::json;

use crate::llm::Message;
use crate::llm::ModelRequest;
use crate::llm::Part;
use crate::llm::Role;
use crate::wire::ContentBlock;

/// The JSON body of a streaming Messages API request.
///
/// The stable prefix (system prompt, tool definitions) and the newest
/// message carry `cache_control: ephemeral`, so each turn reads the previous
/// turns from the prompt cache.
#[must_use]
pub fn request_body(request: &ModelRequest) -> Value {
    let mut body = json!({
        "model": request.model,
        "max_tokens": request.max_tokens,
        "stream": true,
        "messages": request.messages.iter().map(message).collect::<Vec<_>>(),
    });
    if let Some(system) = &request.system {
        body["system"] =
            json!([{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}]);
    }
    if !request.tools.is_empty() {
        let mut tools: Vec<Value> = request
            .tools
            .iter()
            .map(|tool| json!({"name": tool.name, "description": tool.description, "input_schema": tool.input_schema}))
            .collect();
        if let Some(last) = tools.last_mut() {
            last["cache_control"] = json!({"type": "ephemeral"});
        }
        body["tools"] = Value::Array(tools);
    }
    if let Some(last_block) = body["messages"]
        .as_array_mut()
        .and_then(|messages| messages.last_mut())
        .and_then(|message| message["content"].as_array_mut())
        .and_then(|content| content.last_mut())
    {
        last_block["cache_control"] = json!({"type": "ephemeral"});
    }
    body
}

fn message(message: &Message) -> Value {
    let role = match message.role {
        Role::User => "user",
        Role::Assistant => "assistant",
    };
    json!({"role": role, "content": message.content.iter().filter_map(part).collect::<Vec<_>>()})
}

fn part(part: &Part) -> Option<Value> {
    match part {
        Part::Content { block } => content_block(block),
        Part::System { text } => {
            Some(json!({"type": "text", "text": format!("<system>\n{text}\n</system>")}))
        }
        Part::ToolUse { id, name, input } => {
            Some(json!({"type": "tool_use", "id": id, "name": name, "input": input}))
        }
        Part::ToolResult {
            tool_use_id,
            content,
            is_error,
        } => {
            let mut result = json!({"type": "tool_result", "tool_use_id": tool_use_id});
            let blocks: Vec<Value> = content.iter().filter_map(content_block).collect();
            if !blocks.is_empty() {
                result["content"] = Value::Array(blocks);
            }
            if *is_error {
                result["is_error"] = Value::Bool(true);
            }
            Some(result)
        }
    }
}

// Our content blocks share the Messages API's shapes; redacted content is
// replaced by a marker and empty text (rejected by the API) is dropped.
fn content_block(block: &ContentBlock) -> Option<Value> {
    match block {
        ContentBlock::Text(text) if text.text.is_empty() => None,
        ContentBlock::Redacted(_) => Some(json!({"type": "text", "text": "[redacted]"})),
        ContentBlock::Text(_)
        | ContentBlock::Image(_)
        | ContentBlock::Document(_)
        | ContentBlock::SearchResult(_) => serde_json::to_value(block).ok(),
    }
}
