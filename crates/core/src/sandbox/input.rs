//! Typed inputs of the built-in tools, parsed from the model's JSON with
//! errors that name the tool and the field.

use serde_json::{Map, Value};

use super::MAX_BASH_TIMEOUT_MS;

/// The built-in tools the sandbox runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ToolName {
    /// `bash`
    Bash,
    /// `read`
    Read,
    /// `write`
    Write,
    /// `edit`
    Edit,
    /// `glob`
    Glob,
    /// `grep`
    Grep,
}

impl ToolName {
    /// Parses a tool name as the model sends it.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "bash" => Self::Bash,
            "read" => Self::Read,
            "write" => Self::Write,
            "edit" => Self::Edit,
            "glob" => Self::Glob,
            "grep" => Self::Grep,
            _ => return None,
        })
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bash => "bash",
            Self::Read => "read",
            Self::Write => "write",
            Self::Edit => "edit",
            Self::Glob => "glob",
            Self::Grep => "grep",
        }
    }
}

/// Why a tool input was rejected; every variant names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolInputError {
    /// The tool is not one the sandbox runs.
    #[error("unknown tool `{0}`; the sandbox runs bash, read, write, edit, glob and grep")]
    UnknownTool(String),
    /// The input is not a JSON object.
    #[error("{tool}: input must be a JSON object")]
    NotAnObject {
        /// The tool.
        tool: &'static str,
    },
    /// A required field is absent or null.
    #[error("{tool}: missing required field `{field}`")]
    Missing {
        /// The tool.
        tool: &'static str,
        /// The field.
        field: &'static str,
    },
    /// A field has the wrong JSON type.
    #[error("{tool}: field `{field}` must be {expected}")]
    WrongType {
        /// The tool.
        tool: &'static str,
        /// The field.
        field: &'static str,
        /// What was expected, e.g. "a string".
        expected: &'static str,
    },
    /// A field has an invalid value.
    #[error("{tool}: field `{field}` {reason}")]
    Invalid {
        /// The tool.
        tool: &'static str,
        /// The field.
        field: &'static str,
        /// Why, e.g. "must not be empty".
        reason: String,
    },
}

/// `bash` input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BashInput {
    /// The command to run in the persistent shell; absent only with `restart`.
    pub command: Option<String>,
    /// Restart the shell before running anything.
    pub restart: bool,
    /// Per-call timeout in milliseconds (1..=[`MAX_BASH_TIMEOUT_MS`]).
    pub timeout_ms: Option<u64>,
}

/// `read` input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadInput {
    /// The file to read.
    pub file_path: String,
    /// 1-indexed inclusive `[start, end]`; `end <= 0` means end of file.
    pub view_range: Option<(u64, Option<u64>)>,
}

/// `write` input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteInput {
    /// The file to (over)write.
    pub file_path: String,
    /// The new content.
    pub content: String,
}

/// `edit` input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditInput {
    /// The file to edit.
    pub file_path: String,
    /// The text to find (non-empty).
    pub old_string: String,
    /// Its replacement.
    pub new_string: String,
    /// Replace every occurrence instead of requiring exactly one.
    pub replace_all: bool,
}

/// `glob` input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobInput {
    /// Doublestar pattern, relative to `path`.
    pub pattern: String,
    /// Directory to search; `/workspace` when absent.
    pub path: Option<String>,
}

/// `grep` input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrepInput {
    /// Regular expression.
    pub pattern: String,
    /// File or directory to search; `/workspace` when absent.
    pub path: Option<String>,
}

/// A parsed and validated tool call input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolInput {
    /// `bash`
    Bash(BashInput),
    /// `read`
    Read(ReadInput),
    /// `write`
    Write(WriteInput),
    /// `edit`
    Edit(EditInput),
    /// `glob`
    Glob(GlobInput),
    /// `grep`
    Grep(GrepInput),
}

impl ToolInput {
    /// Parses and validates the model's input for tool `name`.
    pub fn parse(name: &str, input: &Value) -> Result<Self, ToolInputError> {
        let tool =
            ToolName::parse(name).ok_or_else(|| ToolInputError::UnknownTool(truncate(name, 64)))?;
        let f = Fields::new(tool.as_str(), input)?;
        Ok(match tool {
            ToolName::Bash => Self::Bash(parse_bash(&f)?),
            ToolName::Read => Self::Read(parse_read(&f)?),
            ToolName::Write => Self::Write(WriteInput {
                file_path: f.path("file_path")?,
                content: f.string("content")?,
            }),
            ToolName::Edit => {
                let old_string = f.string("old_string")?;
                if old_string.is_empty() {
                    return Err(f.invalid("old_string", "must not be empty"));
                }
                Self::Edit(EditInput {
                    file_path: f.path("file_path")?,
                    old_string,
                    new_string: f.string("new_string")?,
                    replace_all: f.opt_bool("replace_all")?.unwrap_or(false),
                })
            }
            ToolName::Glob => Self::Glob(GlobInput {
                pattern: f.non_empty("pattern")?,
                path: f.opt_path("path")?,
            }),
            ToolName::Grep => Self::Grep(GrepInput {
                pattern: f.non_empty("pattern")?,
                path: f.opt_path("path")?,
            }),
        })
    }

    /// The tool this input is for.
    pub fn tool(&self) -> ToolName {
        match self {
            Self::Bash(_) => ToolName::Bash,
            Self::Read(_) => ToolName::Read,
            Self::Write(_) => ToolName::Write,
            Self::Edit(_) => ToolName::Edit,
            Self::Glob(_) => ToolName::Glob,
            Self::Grep(_) => ToolName::Grep,
        }
    }
}

fn parse_bash(f: &Fields<'_>) -> Result<BashInput, ToolInputError> {
    let command = f.opt_string("command")?;
    let restart = f.opt_bool("restart")?.unwrap_or(false);
    let timeout_ms = f.opt_u64("timeout_ms")?;
    if command.is_none() && !restart {
        return Err(ToolInputError::Missing {
            tool: f.tool,
            field: "command",
        });
    }
    if let Some(t) = timeout_ms
        && !(1..=MAX_BASH_TIMEOUT_MS).contains(&t)
    {
        return Err(f.invalid(
            "timeout_ms",
            format!("must be between 1 and {MAX_BASH_TIMEOUT_MS}"),
        ));
    }
    Ok(BashInput {
        command,
        restart,
        timeout_ms,
    })
}

fn parse_read(f: &Fields<'_>) -> Result<ReadInput, ToolInputError> {
    let file_path = f.path("file_path")?;
    let view_range = match f.get("view_range") {
        None => None,
        Some(Value::Array(items)) if items.len() == 2 => {
            let (Some(start), Some(end)) = (items[0].as_i64(), items[1].as_i64()) else {
                return Err(f.wrong("view_range", "an array of two integers [start, end]"));
            };
            if start < 1 {
                return Err(f.invalid(
                    "view_range",
                    "start must be at least 1 (lines are 1-indexed)",
                ));
            }
            let start = start.unsigned_abs();
            let end = (end > 0).then_some(end.unsigned_abs());
            if end.is_some_and(|e| e < start) {
                return Err(f.invalid(
                    "view_range",
                    "end must be at least start, or 0 or negative for end of file",
                ));
            }
            Some((start, end))
        }
        Some(_) => return Err(f.wrong("view_range", "an array of two integers [start, end]")),
    };
    Ok(ReadInput {
        file_path,
        view_range,
    })
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Field access over a JSON object, with errors naming the tool and field.
struct Fields<'a> {
    tool: &'static str,
    map: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    fn new(tool: &'static str, input: &'a Value) -> Result<Self, ToolInputError> {
        match input {
            Value::Object(map) => Ok(Self { tool, map }),
            _ => Err(ToolInputError::NotAnObject { tool }),
        }
    }

    fn get(&self, field: &str) -> Option<&'a Value> {
        self.map.get(field).filter(|v| !v.is_null())
    }

    fn wrong(&self, field: &'static str, expected: &'static str) -> ToolInputError {
        ToolInputError::WrongType {
            tool: self.tool,
            field,
            expected,
        }
    }

    fn invalid(&self, field: &'static str, reason: impl Into<String>) -> ToolInputError {
        ToolInputError::Invalid {
            tool: self.tool,
            field,
            reason: reason.into(),
        }
    }

    fn opt_string(&self, field: &'static str) -> Result<Option<String>, ToolInputError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.wrong(field, "a string")),
        }
    }

    fn string(&self, field: &'static str) -> Result<String, ToolInputError> {
        self.opt_string(field)?.ok_or(ToolInputError::Missing {
            tool: self.tool,
            field,
        })
    }

    fn non_empty(&self, field: &'static str) -> Result<String, ToolInputError> {
        let s = self.string(field)?;
        if s.is_empty() {
            Err(self.invalid(field, "must not be empty"))
        } else {
            Ok(s)
        }
    }

    fn opt_path(&self, field: &'static str) -> Result<Option<String>, ToolInputError> {
        match self.opt_string(field)? {
            Some(p) if p.contains('\0') => Err(self.invalid(field, "must not contain NUL bytes")),
            Some(p) if p.is_empty() => Err(self.invalid(field, "must not be empty")),
            other => Ok(other),
        }
    }

    fn path(&self, field: &'static str) -> Result<String, ToolInputError> {
        self.opt_path(field)?.ok_or(ToolInputError::Missing {
            tool: self.tool,
            field,
        })
    }

    fn opt_bool(&self, field: &'static str) -> Result<Option<bool>, ToolInputError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.wrong(field, "a boolean")),
        }
    }

    fn opt_u64(&self, field: &'static str) -> Result<Option<u64>, ToolInputError> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| self.wrong(field, "a non-negative integer")),
        }
    }
}
