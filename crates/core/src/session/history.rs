use serde_json::Map;
use serde_json::Value;

use crate::wire::ContentBlock;

/// One item of the model-visible conversation, in the order the model saw it.
#[derive(Debug, Clone, PartialEq)]
pub enum HistoryItem {
    /// User content (from a processed `user.message`).
    User {
        /// The content.
        content: Vec<ContentBlock>,
    },
    /// A processed `system.message`.
    System {
        /// Its text.
        text: String,
    },
    /// Agent text (`agent.message`).
    AgentText {
        /// The content.
        content: Vec<ContentBlock>,
    },
    /// A tool call (`agent.tool_use` or `agent.custom_tool_use`); `id` is the event id.
    ToolUse {
        /// The event id.
        id: String,
        /// Tool name.
        name: String,
        /// Tool input.
        input: Map<String, Value>,
    },
    /// A tool result (`agent.tool_result`, `user.custom_tool_result`, or a
    /// synthetic result for a call cut short by the end of its turn).
    ToolResult {
        /// The tool-use event id.
        tool_use_id: String,
        /// Output.
        content: Vec<ContentBlock>,
        /// Whether it failed.
        is_error: bool,
    },
}
