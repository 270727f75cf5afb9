//! The Model Context Protocol as the platform speaks it to remote servers
//! (Streamable HTTP transport, JSON-RPC 2.0): the messages it sends, how it
//! reads an answer (a JSON body or a `text/event-stream`), how a server's
//! tools are named to the model, and the OAuth `refresh_token` grant that
//! keeps an `mcp_oauth` credential's access token fresh.
//!
//! Nothing here does I/O: the workers send what these functions build.

use base64::Engine as _;
use serde::Deserialize;
use serde::Serialize;
use serde_json::Map;
use serde_json::Value;
use serde_json::json;
use sha2::Digest as _;

use crate::control::vaults::RefreshConfig;
use crate::ports::ToolOutput;
use crate::wire::ContentBlock;
use crate::wire::content::ImageBlock;
use crate::wire::content::ImageSource;

/// The protocol revision the platform asks for.
pub const PROTOCOL_VERSION: &str = "2025-06-18";

/// Revisions the platform speaks; a server answering another is refused.
pub const SUPPORTED_VERSIONS: [&str; 2] = ["2025-06-18", "2025-03-26"];

/// The header that carries the server's session id.
pub const SESSION_HEADER: &str = "mcp-session-id";

/// The header that carries the negotiated revision on every later request.
pub const PROTOCOL_HEADER: &str = "mcp-protocol-version";

/// What a client accepts: a JSON body or an SSE stream.
pub const ACCEPT: &str = "application/json, text/event-stream";

/// The longest name a model accepts for a tool.
pub const MAX_TOOL_NAME: usize = 64;

/// `initialize`.
#[must_use]
pub fn initialize_request(id: u64) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "initialize",
        "params": {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "openma", "version": env!("CARGO_PKG_VERSION")},
        },
    })
}

/// `notifications/initialized`.
#[must_use]
pub fn initialized_notification() -> Value {
    json!({"jsonrpc": "2.0", "method": "notifications/initialized"})
}

/// `tools/list`, continuing after `cursor`.
#[must_use]
pub fn list_tools_request(id: u64, cursor: Option<&str>) -> Value {
    let params = match cursor {
        Some(cursor) => json!({"cursor": cursor}),
        None => json!({}),
    };
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/list", "params": params})
}

/// `tools/call`.
#[must_use]
pub fn call_tool_request(id: u64, name: &str, arguments: &Map<String, Value>) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    })
}

/// A JSON-RPC error the server answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    /// The error code.
    pub code: i64,
    /// The server's message.
    pub message: String,
}

/// The server's answer to one request.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcAnswer {
    /// The `result`, or the `error`.
    pub outcome: Result<Value, RpcError>,
    /// The server sent `notifications/tools/list_changed` along the way.
    pub list_changed: bool,
}

/// Reads the answer to request `id` from a response body of type
/// `content_type`: one JSON-RPC message (or a batch), or an SSE stream of
/// them in which notifications may precede the answer.
pub fn read_answer(content_type: &str, body: &str, id: u64) -> Result<RpcAnswer, String> {
    let mut list_changed = false;
    let mut answer = None;
    let mut take = |message: Value| {
        if message.get("method").and_then(Value::as_str) == Some("notifications/tools/list_changed")
        {
            list_changed = true;
        } else if message.get("id").and_then(Value::as_u64) == Some(id) && answer.is_none() {
            answer = Some(message);
        }
    };
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if mime == "text/event-stream" {
        for data in sse_data(body) {
            let message: Value = serde_json::from_str(&data)
                .map_err(|e| format!("an SSE event is not JSON-RPC: {e}"))?;
            take(message);
        }
    } else {
        let message: Value = serde_json::from_str(body)
            .map_err(|e| format!("the answer is not JSON-RPC ({mime}): {e}"))?;
        match message {
            Value::Array(batch) => batch.into_iter().for_each(&mut take),
            single => take(single),
        }
    }
    let Some(message) = answer else {
        return Err(format!("the server sent no answer to request {id}"));
    };
    let outcome = match (message.get("result"), message.get("error")) {
        (Some(result), _) => Ok(result.clone()),
        (None, Some(error)) => Err(RpcError {
            code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
            message: error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("no message")
                .to_owned(),
        }),
        (None, None) => return Err("the answer has neither result nor error".to_owned()),
    };
    Ok(RpcAnswer {
        outcome,
        list_changed,
    })
}

/// The `data` of each event of an SSE stream (multi-line data joined).
fn sse_data(body: &str) -> Vec<String> {
    let mut events = Vec::new();
    let mut data: Vec<&str> = Vec::new();
    for line in body.lines().chain(std::iter::once("")) {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            if !data.is_empty() {
                events.push(data.join("\n"));
                data.clear();
            }
        } else if let Some(value) = line.strip_prefix("data:") {
            data.push(value.strip_prefix(' ').unwrap_or(value));
        }
    }
    events
}

/// The revision the server chose in its `initialize` result, if the
/// platform speaks it.
pub fn negotiated_version(result: &Value) -> Result<String, String> {
    let version = result
        .get("protocolVersion")
        .and_then(Value::as_str)
        .ok_or("the initialize result has no protocolVersion")?;
    if SUPPORTED_VERSIONS.contains(&version) {
        Ok(version.to_owned())
    } else {
        Err(format!(
            "the server speaks MCP {version}; the platform speaks {}",
            SUPPORTED_VERSIONS.join(", ")
        ))
    }
}

/// One tool a server lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McpTool {
    /// The server's name for it.
    pub name: String,
    /// What it does.
    #[serde(default)]
    pub description: String,
    /// Its input's JSON Schema.
    pub input_schema: Value,
}

/// The tools of one page of a `tools/list` result, and the cursor of the
/// next page.
pub fn read_tools_page(result: &Value) -> Result<(Vec<McpTool>, Option<String>), String> {
    let tools = result
        .get("tools")
        .and_then(Value::as_array)
        .ok_or("the tools/list result has no tools array")?;
    let tools = tools
        .iter()
        .map(|tool| {
            let name = tool
                .get("name")
                .and_then(Value::as_str)
                .filter(|name| !name.is_empty())
                .ok_or("a listed tool has no name")?;
            let input_schema = match tool.get("inputSchema") {
                Some(schema @ Value::Object(_)) => schema.clone(),
                _ => json!({"type": "object"}),
            };
            Ok(McpTool {
                name: name.to_owned(),
                description: tool
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                input_schema,
            })
        })
        .collect::<Result<Vec<_>, &str>>()?;
    let cursor = result
        .get("nextCursor")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    Ok((tools, cursor))
}

/// A `tools/call` result as the model sees it: text and images as they are,
/// embedded resources by their text, anything else as its JSON.
#[must_use]
pub fn read_call_result(result: &Value) -> ToolOutput {
    let is_error = result
        .get("isError")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut content: Vec<ContentBlock> = result
        .get("content")
        .and_then(Value::as_array)
        .map(|blocks| blocks.iter().map(block).collect())
        .unwrap_or_default();
    if content.is_empty()
        && let Some(structured) = result.get("structuredContent")
    {
        content.push(ContentBlock::text(structured.to_string()));
    }
    ToolOutput { content, is_error }
}

fn block(item: &Value) -> ContentBlock {
    let text_of = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
    match item.get("type").and_then(Value::as_str) {
        Some("text") => ContentBlock::text(text_of(item, "text").unwrap_or_default()),
        Some("image") => match (text_of(item, "mimeType"), text_of(item, "data")) {
            (Some(media_type), Some(data)) => ContentBlock::Image(ImageBlock {
                source: ImageSource::Base64 { media_type, data },
            }),
            _ => ContentBlock::text(item.to_string()),
        },
        Some("resource") => {
            let resource = item.get("resource").unwrap_or(&Value::Null);
            match text_of(resource, "text") {
                Some(text) => ContentBlock::text(text),
                None => ContentBlock::text(format!(
                    "[binary resource {}]",
                    text_of(resource, "uri").unwrap_or_default()
                )),
            }
        }
        Some("resource_link") => ContentBlock::text(format!(
            "[resource {}]",
            text_of(item, "uri").unwrap_or_default()
        )),
        _ => ContentBlock::text(item.to_string()),
    }
}

/// The name the model knows a server's tool by: `mcp__{server}__{tool}`,
/// unique across servers. A name that would not be a valid model tool name
/// (only `[A-Za-z0-9_-]`, at most [`MAX_TOOL_NAME`]) or would be ambiguous
/// (a server name with `__`) is made valid and given a short hash of the
/// pair, so two pairs never share one.
#[must_use]
pub fn model_tool_name(server: &str, tool: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let plain = format!("mcp__{server}__{tool}");
    let valid = plain.len() <= MAX_TOOL_NAME && clean(&plain) == plain && !server.contains("__");
    if valid {
        return plain;
    }
    let digest = sha2::Sha256::digest(format!("{server}\0{tool}").as_bytes());
    let hash: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    let mut base = clean(&format!("mcp__{server}__{tool}"));
    base.truncate(MAX_TOOL_NAME - hash.len() - 1);
    format!("{base}_{hash}")
}

/// The body and client authentication of a `refresh_token` grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshRequest {
    /// `application/x-www-form-urlencoded` body.
    pub body: String,
    /// The `Authorization` header (`client_secret_basic` only).
    pub authorization: Option<String>,
}

/// The `refresh_token` grant (RFC 6749 §6) for `config`, authenticating the
/// client as `token_endpoint_auth` says (RFC 6749 §2.3.1), with `resource`
/// (RFC 8707) and `scope` when set.
#[must_use]
pub fn refresh_request(
    config: &RefreshConfig,
    refresh_token: &str,
    client_secret: Option<&str>,
) -> RefreshRequest {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    let mut authorization = None;
    match (config.token_endpoint_auth.kind.as_str(), client_secret) {
        ("client_secret_basic", Some(secret)) => {
            let pair = format!("{}:{}", form_encode(&config.client_id), form_encode(secret));
            authorization = Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            ));
        }
        ("client_secret_post", Some(secret)) => {
            form.push(("client_id", &config.client_id));
            form.push(("client_secret", secret));
        }
        _ => form.push(("client_id", &config.client_id)),
    }
    if let Some(scope) = &config.scope {
        form.push(("scope", scope));
    }
    if let Some(resource) = &config.resource {
        form.push(("resource", resource));
    }
    let body = form
        .iter()
        .map(|(k, v)| format!("{k}={}", form_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    RefreshRequest {
        body,
        authorization,
    }
}

/// `application/x-www-form-urlencoded` encoding of one value.
#[must_use]
pub fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// What a token endpoint granted.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct TokenGrant {
    /// The new access token.
    pub access_token: String,
    /// A new refresh token, when the server rotates them.
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// Seconds until the access token expires.
    #[serde(default)]
    pub expires_in: Option<u64>,
}

impl std::fmt::Debug for TokenGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenGrant")
            .field("refresh_token", &self.refresh_token.is_some())
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// Reads a successful token response.
pub fn read_token_grant(body: &str) -> Result<TokenGrant, String> {
    let grant: TokenGrant = serde_json::from_str(body)
        .map_err(|_| "the token endpoint's answer has no access_token".to_owned())?;
    if grant.access_token.is_empty() {
        return Err("the token endpoint granted an empty access_token".to_owned());
    }
    Ok(grant)
}

#[cfg(test)]
#[path = "mcp_tests.rs"]
mod tests;
