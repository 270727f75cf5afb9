//! Provider-neutral model requests and streamed model events.

use serde::Deserialize;
use serde::Serialize;
use serde_json::Map;
use serde_json::Value;

use crate::wire::ContentBlock;
use crate::wire::ModelUsage;

/// One model call: everything a provider codec needs to build its request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRequest {
    /// Model id, e.g. `claude-sonnet-4-5`.
    pub model: String,
    /// The agent's system prompt.
    pub system: Option<String>,
    /// Conversation history, alternating user / assistant, starting with user.
    pub messages: Vec<Message>,
    /// Tools the model may call.
    pub tools: Vec<ToolSpec>,
    /// Output token cap.
    pub max_tokens: u32,
}

/// Who authored a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The user side: user content, tool results, system messages.
    User,
    /// The model's replies.
    Assistant,
}

/// One message of the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Author.
    pub role: Role,
    /// Parts, in order (tool results first in user messages).
    pub content: Vec<Part>,
}

/// A part of a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Part {
    /// A content block (text, image, document…).
    Content {
        /// The block.
        block: ContentBlock,
    },
    /// A mid-conversation system message (`system.message`).
    System {
        /// The system text.
        text: String,
    },
    /// A tool call made by the model; `id` is the `agent.*_tool_use` event id.
    ToolUse {
        /// Tool-use id.
        id: String,
        /// Tool name.
        name: String,
        /// Tool input.
        input: Map<String, Value>,
    },
    /// The result of a tool call.
    ToolResult {
        /// The tool-use id this answers.
        tool_use_id: String,
        /// Output blocks.
        content: Vec<ContentBlock>,
        /// Whether the tool failed.
        is_error: bool,
    },
}

/// A tool definition offered to the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// Tool name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// JSON Schema of the input.
    pub input_schema: Value,
}

/// Why the model stopped generating.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelStopReason {
    /// Natural end of turn.
    EndTurn,
    /// The reply calls tools.
    ToolUse,
    /// The output cap was hit.
    MaxTokens,
    /// A stop sequence matched.
    StopSequence,
    /// The model refused.
    Refusal,
    /// The provider paused a long turn.
    PauseTurn,
    /// Any other reason, verbatim.
    Other(String),
}

/// A typed event of one streaming model call, in arrival order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelEvent {
    /// The response started; carries the input-side usage known so far.
    Started {
        /// Usage reported at start (input and cache tokens).
        usage: ModelUsage,
    },
    /// A piece of text; consecutive deltas form one text block.
    TextDelta {
        /// The text.
        text: String,
    },
    /// A piece of extended thinking (a progress signal only).
    ThinkingDelta {
        /// The thinking text.
        thinking: String,
    },
    /// A complete tool call (the codec accumulates streamed input JSON).
    ToolUse {
        /// The provider's tool-use id.
        id: String,
        /// Tool name.
        name: String,
        /// Parsed input object.
        input: Map<String, Value>,
    },
    /// The response completed.
    Completed {
        /// Why generation stopped.
        stop_reason: ModelStopReason,
        /// Final usage of the request.
        usage: ModelUsage,
    },
}
