//! The built-in tools and their input schemas (api-reference §6.1).

use serde_json::Value;
use serde_json::json;

/// The toolset's `type`.
pub const AGENT_TOOLSET_TYPE: &str = "agent_toolset_20260401";

/// A tool of `agent_toolset_20260401`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BuiltinTool {
    /// A persistent bash shell.
    Bash,
    /// Read a file.
    Read,
    /// Write a file.
    Write,
    /// Replace a string in a file.
    Edit,
    /// Find files by glob.
    Glob,
    /// Search file contents.
    Grep,
    /// Fetch a URL.
    WebFetch,
    /// Search the web.
    WebSearch,
}

impl BuiltinTool {
    /// Every built-in tool, in the order configs are listed.
    pub const ALL: [Self; 8] = [
        Self::Bash,
        Self::Edit,
        Self::Read,
        Self::Write,
        Self::Glob,
        Self::Grep,
        Self::WebFetch,
        Self::WebSearch,
    ];

    /// The tool's name (also its config `type`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Bash => "bash",
            Self::Read => "read",
            Self::Write => "write",
            Self::Edit => "edit",
            Self::Glob => "glob",
            Self::Grep => "grep",
            Self::WebFetch => "web_fetch",
            Self::WebSearch => "web_search",
        }
    }

    /// Looks a tool up by name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|tool| tool.name() == name)
    }

    /// Whether the tool runs in the sandbox (on a self-hosted environment, in
    /// the client's worker); `web_fetch` and `web_search` are server tools.
    #[must_use]
    pub fn runs_in_sandbox(self) -> bool {
        !matches!(self, Self::WebFetch | Self::WebSearch)
    }

    /// The description offered to the model.
    #[must_use]
    pub fn description(self) -> &'static str {
        match self {
            Self::Bash => {
                "Run a command in a persistent bash shell. Set restart to true (without command) to restart the shell."
            }
            Self::Read => {
                "Read a file. view_range is a 1-indexed inclusive [start, end] line range; end <= 0 reads to the end."
            }
            Self::Write => {
                "Write content to a file, overwriting it and creating parent directories."
            }
            Self::Edit => {
                "Replace old_string with new_string in a file. old_string must be unique unless replace_all is true."
            }
            Self::Glob => {
                "Find files matching a glob pattern (doublestar, relative to path), newest first."
            }
            Self::Grep => "Search file contents with a regular expression; returns matching lines.",
            Self::WebFetch => "Fetch a URL and return its content as text.",
            Self::WebSearch => "Search the web and return results.",
        }
    }

    /// The JSON Schema of the tool's input.
    #[must_use]
    pub fn input_schema(self) -> Value {
        match self {
            Self::Bash => json!({"type": "object", "properties": {
                "command": {"type": "string", "description": "The command to run."},
                "restart": {"type": "boolean", "description": "Restart the persistent shell; omit command."},
                "timeout_ms": {"type": "integer", "description": "Timeout in milliseconds."}
            }}),
            Self::Read => json!({"type": "object", "properties": {
                "file_path": {"type": "string"},
                "view_range": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2}
            }, "required": ["file_path"]}),
            Self::Write => json!({"type": "object", "properties": {
                "file_path": {"type": "string"},
                "content": {"type": "string"}
            }, "required": ["file_path", "content"]}),
            Self::Edit => json!({"type": "object", "properties": {
                "file_path": {"type": "string"},
                "old_string": {"type": "string"},
                "new_string": {"type": "string"},
                "replace_all": {"type": "boolean"}
            }, "required": ["file_path", "old_string", "new_string"]}),
            Self::Glob => json!({"type": "object", "properties": {
                "pattern": {"type": "string"},
                "path": {"type": "string"}
            }, "required": ["pattern"]}),
            Self::Grep => json!({"type": "object", "properties": {
                "pattern": {"type": "string"},
                "path": {"type": "string"}
            }, "required": ["pattern"]}),
            Self::WebFetch => json!({"type": "object", "properties": {
                "url": {"type": "string"}
            }, "required": ["url"]}),
            Self::WebSearch => json!({"type": "object", "properties": {
                "query": {"type": "string"}
            }, "required": ["query"]}),
        }
    }
}
