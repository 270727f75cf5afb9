//! Building the Chat Completions request body.

use serde_json::Value;
use serde_json::json;

use super::OutputCap;

use crate::llm::ModelRequest;
use crate::llm::Part;
use crate::llm::Role;
use crate::wire::ContentBlock;
use crate::wire::content::DocumentBlock;
use crate::wire::content::DocumentSource;
use crate::wire::content::ImageSource;
use crate::wire::content::SearchResultBlock;

/// Why a block was replaced by a note.
const CANNOT_CARRY: &str = "cannot be sent through the Chat Completions API";

/// The JSON body of a streaming Chat Completions request.
///
/// - The output cap is sent as `output_cap` says: `max_tokens`, which every
///   OpenAI-compatible server (vLLM, Ollama, LiteLLM, OpenRouter,
///   llama.cpp) accepts, or `max_completion_tokens`, which OpenAI itself
///   asks for and its reasoning models (the o-series) require.
/// - `stream_options.include_usage` asks for the final usage chunk.
/// - The system prompt is the first message (`role: system`), and a
///   mid-conversation system part is a `role: system` message at its place
///   (a few chat templates reject system messages after the first).
/// - Tool results become `role: tool` messages, before the rest of the
///   user message that carries them; a failed tool's output is prefixed with
///   `Error: ` (the API has no `is_error` flag), and an empty output reads
///   `(no output)`.
/// - Tool calls become the assistant message's `tool_calls`, their input
///   serialized as a JSON string; the assistant's text parts are joined
///   with blank lines into `content` (`null` when only tools are called).
/// - A user message with a single text part is sent as a plain string.
///   Images travel as `image_url` parts (a `data:` URL for base64 bytes);
///   plain-text documents and search results as text. Anything else the API
///   cannot carry (binary documents, documents by URL, uploaded files,
///   images in tool results or assistant messages) is replaced by a
///   bracketed text note saying what was omitted, so the model knows.
/// - `tools` is omitted when no tool is offered.
#[must_use]
pub fn request_body(request: &ModelRequest, output_cap: OutputCap) -> Value {
    let mut messages = Vec::new();
    if let Some(system) = request.system.as_deref().filter(|text| !text.is_empty()) {
        messages.push(system_message(system));
    }
    for message in &request.messages {
        match message.role {
            Role::User => user_messages(message.content.iter(), &mut messages),
            Role::Assistant => assistant_messages(&message.content, &mut messages),
        }
    }
    let cap = match output_cap {
        OutputCap::MaxTokens => "max_tokens",
        OutputCap::MaxCompletionTokens => "max_completion_tokens",
    };
    let mut body = json!({
        "model": request.model,
        cap: request.max_tokens,
        "stream": true,
        "stream_options": {"include_usage": true},
        "messages": messages,
    });
    if !request.tools.is_empty() {
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|tool| {
                json!({
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": tool.input_schema,
                    },
                })
            })
            .collect();
        body["tools"] = Value::Array(tools);
    }
    body
}

fn system_message(text: &str) -> Value {
    json!({"role": "system", "content": text})
}

// Tool results first, then the user content in runs split by system parts.
fn user_messages<'a>(parts: impl Iterator<Item = &'a Part> + Clone, out: &mut Vec<Value>) {
    for part in parts.clone() {
        if let Part::ToolResult {
            tool_use_id,
            content,
            is_error,
        } = part
        {
            out.push(tool_message(tool_use_id, content, *is_error));
        }
    }
    let mut run = Vec::new();
    for part in parts {
        match part {
            Part::ToolResult { .. } => {}
            Part::Content { block } => run.extend(user_part(block)),
            Part::System { text } => {
                flush_user(&mut run, out);
                out.push(system_message(text));
            }
            Part::ToolUse { name, .. } => run.push(text_part(format!(
                "[tool call `{name}` omitted: only assistant messages can call tools]"
            ))),
        }
    }
    flush_user(&mut run, out);
}

fn flush_user(run: &mut Vec<Value>, out: &mut Vec<Value>) {
    let parts = std::mem::take(run);
    let content = match parts.as_slice() {
        [] => return,
        [single] if single["type"] == "text" => single["text"].clone(),
        _ => Value::Array(parts),
    };
    out.push(json!({"role": "user", "content": content}));
}

// The assistant message, then any parts that belong in other messages
// (system parts and tool results, which the harness never puts there).
fn assistant_messages(parts: &[Part], out: &mut Vec<Value>) {
    let mut texts = Vec::new();
    let mut tool_calls = Vec::new();
    for part in parts {
        match part {
            Part::Content { block } => texts.extend(block_text(block, "assistant messages")),
            Part::ToolUse { id, name, input } => tool_calls.push(json!({
                "id": id,
                "type": "function",
                "function": {
                    "name": name,
                    "arguments": Value::Object(input.clone()).to_string(),
                },
            })),
            Part::System { .. } | Part::ToolResult { .. } => {}
        }
    }
    let content = match (texts.is_empty(), tool_calls.is_empty()) {
        (true, false) => Value::Null,
        _ => Value::String(texts.join("\n\n")),
    };
    let mut message = json!({"role": "assistant", "content": content});
    if !tool_calls.is_empty() {
        message["tool_calls"] = Value::Array(tool_calls);
    }
    out.push(message);
    let rest = parts
        .iter()
        .filter(|part| matches!(part, Part::System { .. } | Part::ToolResult { .. }));
    user_messages(rest, out);
}

fn tool_message(tool_use_id: &str, content: &[ContentBlock], is_error: bool) -> Value {
    let text = content
        .iter()
        .filter_map(|block| block_text(block, "tool results"))
        .collect::<Vec<_>>()
        .join("\n");
    let content = match (is_error, text.is_empty()) {
        (true, true) => "Error".to_owned(),
        (true, false) => format!("Error: {text}"),
        (false, true) => "(no output)".to_owned(),
        (false, false) => text,
    };
    json!({"role": "tool", "tool_call_id": tool_use_id, "content": content})
}

fn text_part(text: String) -> Value {
    json!({"type": "text", "text": text})
}

/// A user content part; empty text is dropped.
fn user_part(block: &ContentBlock) -> Option<Value> {
    match block {
        ContentBlock::Image(image) => Some(match image_url(&image.source) {
            Ok(url) => json!({"type": "image_url", "image_url": {"url": url}}),
            Err(note) => text_part(note),
        }),
        ContentBlock::Text(_)
        | ContentBlock::Document(_)
        | ContentBlock::Redacted(_)
        | ContentBlock::SearchResult(_) => block_text(block, "user messages").map(text_part),
    }
}

/// A block as text, where only text can go (`place` names where, for the
/// note replacing an image); empty text is dropped.
fn block_text(block: &ContentBlock, place: &str) -> Option<String> {
    match block {
        ContentBlock::Text(text) if text.text.is_empty() => None,
        ContentBlock::Text(text) => Some(text.text.clone()),
        ContentBlock::Image(image) => Some(match image_url(&image.source) {
            Ok(_) => format!("[image omitted: images in {place} {CANNOT_CARRY}]"),
            Err(note) => note,
        }),
        ContentBlock::Document(document) => Some(document_text(document)),
        ContentBlock::Redacted(_) => Some("[redacted]".to_owned()),
        ContentBlock::SearchResult(result) => Some(search_result_text(result)),
    }
}

/// The `image_url.url` of an image, or the note that replaces it.
fn image_url(source: &ImageSource) -> Result<String, String> {
    match source {
        ImageSource::Base64 { media_type, data } => Ok(format!("data:{media_type};base64,{data}")),
        ImageSource::Url { url } => Ok(url.clone()),
        ImageSource::File { file_id } => Err(format!(
            "[image omitted: uploaded file {file_id} {CANNOT_CARRY}]"
        )),
    }
}

fn document_text(document: &DocumentBlock) -> String {
    let title = document
        .title
        .as_deref()
        .map(|title| format!(" \"{title}\""))
        .unwrap_or_default();
    match &document.source {
        DocumentSource::Text { data, .. } => {
            let mut text = format!("[document{title}]\n");
            if let Some(context) = &document.context {
                text.push_str(context);
                text.push_str("\n\n");
            }
            text.push_str(data);
            text
        }
        DocumentSource::Base64 { media_type, .. } => {
            format!("[document{title} omitted: {media_type} content {CANNOT_CARRY}]")
        }
        DocumentSource::Url { url } => {
            format!("[document{title} omitted: documents by URL ({url}) {CANNOT_CARRY}]")
        }
        DocumentSource::File { file_id } => {
            format!("[document{title} omitted: uploaded file {file_id} {CANNOT_CARRY}]")
        }
    }
}

fn search_result_text(result: &SearchResultBlock) -> String {
    let mut text = format!(
        "[search result \"{}\" from {}]",
        result.title, result.source
    );
    for item in &result.content {
        text.push('\n');
        text.push_str(&item.text);
    }
    text
}
