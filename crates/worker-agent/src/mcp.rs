//! The session's MCP servers, called by the platform (never the sandbox):
//! their tools listed for each turn and their calls run at most once.
//!
//! Credentials come from the session's vaults, matched on the normalised
//! server URL: a `static_bearer` token or an `mcp_oauth` access token, sent
//! as `Authorization: Bearer`. An `mcp_oauth` token that has expired, or
//! that the server refuses, is refreshed through its token endpoint, stored
//! sealed, and the request tried once more. Tokens live only in memory here.
//!
//! A call is journalled in the session's storage before it is sent (the
//! object's output gate holds the request until that write is durable) and
//! its result after: a call replayed after a crash is answered from the
//! journal, and one whose result was never recorded is not sent again.

use std::cell::RefCell;
use std::collections::HashMap;

use openma_cloudflare::internal::SessionRecord;
use openma_cloudflare::mcp::McpConnection;
use openma_cloudflare::mcp::McpCredential;
use openma_cloudflare::mcp::McpFailure;
use openma_core::egress::NetworkingPolicy;
use openma_core::mcp::McpTool;
use openma_core::mcp::read_call_result;
use openma_core::ports::McpListing;
use openma_core::ports::ToolCall;
use openma_core::ports::ToolExecError;
use openma_core::ports::ToolOutput;
use openma_core::wire::AgentTool;
use openma_core::wire::RetryStatus;
use openma_core::wire::SessionError;
use openma_core::wire::SessionErrorType;
use openma_core::wire::Timestamp;
use openma_core::wire::agent::McpServer;
use serde::Deserialize;
use serde_json::json;
use worker::Env;
use worker::SqlStorage;

use crate::interrupts::Cut;
use crate::interrupts::InterruptSignal;

/// How long one listing request (initialize, tools/list) may take.
const LIST_MS: u64 = 15_000;

/// How long one token refresh may take.
const REFRESH_MS: u64 = 15_000;

/// A server the session reaches, and what it last listed.
#[derive(Debug, Clone)]
struct Server {
    connection: McpConnection,
    tools: Option<Vec<McpTool>>,
    credential: Option<McpCredential>,
}

/// The MCP servers of one session.
#[derive(Debug)]
pub(crate) struct McpTools {
    env: Env,
    sql: SqlStorage,
    tenant_id: String,
    vault_ids: Vec<String>,
    /// The servers the agent has an `mcp_toolset` for.
    servers: Vec<McpServer>,
    networking: Result<NetworkingPolicy, String>,
    open: RefCell<HashMap<String, Server>>,
    call_deadline_ms: u64,
    interrupts: InterruptSignal,
}

#[derive(Deserialize)]
struct JournalRow {
    result: Option<String>,
}

impl McpTools {
    pub(crate) fn new(
        env: Env,
        sql: SqlStorage,
        record: &SessionRecord,
        call_deadline_ms: u64,
        interrupts: InterruptSignal,
    ) -> Self {
        let servers = record
            .agent
            .mcp_servers
            .iter()
            .filter(|server| {
                record.agent.tools.iter().any(|tool| {
                    matches!(tool, AgentTool::McpToolset(t) if t.mcp_server_name == server.name)
                })
            })
            .cloned()
            .collect();
        Self {
            env,
            sql,
            tenant_id: record.tenant_id.clone(),
            vault_ids: record.vault_ids.clone(),
            servers,
            networking: NetworkingPolicy::from_environment_config(&record.environment_config),
            open: RefCell::new(HashMap::new()),
            call_deadline_ms,
            interrupts,
        }
    }

    /// Every server's tools: from this object's cache, unless the server
    /// said its list changed; servers that fail are reported and left out
    /// (and tried again at the next turn).
    pub(crate) async fn list(&self) -> McpListing {
        let mut listing = McpListing::default();
        for server in &self.servers {
            match self.server_tools(server).await {
                Ok(tools) => listing.servers.push((server.name.clone(), tools)),
                Err(failure) => {
                    self.open.borrow_mut().remove(&server.name);
                    listing.errors.push(session_error(&server.name, &failure));
                }
            }
        }
        listing
    }

    async fn server_tools(&self, server: &McpServer) -> Result<Vec<McpTool>, Failure> {
        let cached = self.open.borrow().get(&server.name).cloned();
        if let Some(open) = &cached
            && let Some(tools) = &open.tools
            && !open.connection.list_changed
        {
            return Ok(tools.clone());
        }
        let mut open = match cached {
            Some(open) => open,
            None => self.connect(server, LIST_MS).await?,
        };
        let tools = match open.connection.list_tools().await {
            Err(McpFailure::Auth { .. }) if self.can_refresh(&open) => {
                self.refresh(&mut open).await?;
                open.connection.list_tools().await?
            }
            other => other?,
        };
        open.tools = Some(tools.clone());
        self.open.borrow_mut().insert(server.name.clone(), open);
        Ok(tools)
    }

    /// Opens a session with `server`, with its credential (refreshed first
    /// when it has expired, and once more if the server refuses it).
    async fn connect(&self, server: &McpServer, deadline_ms: u64) -> Result<Server, Failure> {
        if let Ok(NetworkingPolicy::Limited {
            allow_mcp_servers: false,
            ..
        }) = &self.networking
        {
            return Err(Failure::Connect(format!(
                "MCP server `{}` is not reachable: the environment's networking is `limited` \
                 with `allow_mcp_servers: false`",
                server.name
            )));
        }
        if let Err(message) = &self.networking {
            return Err(Failure::Connect(message.clone()));
        }
        let mut credential = openma_cloudflare::mcp::mcp_credential(
            &self.env,
            &self.tenant_id,
            &self.vault_ids,
            &server.url,
        )
        .await
        .map_err(|e| {
            Failure::Connect(format!(
                "the session's vault credentials are unavailable: {e}"
            ))
        })?;
        let now = Timestamp(openma_cloudflare::now_ms() as i64);
        if let Some(current) = &credential
            && current.expired(now)
            && current.refreshable()
        {
            credential = Some(self.refreshed(current, now).await?);
        }
        let bearer = credential.as_ref().and_then(McpCredential::bearer);
        match McpConnection::open(&server.url, bearer, deadline_ms).await {
            Ok(connection) => Ok(Server {
                connection,
                tools: None,
                credential,
            }),
            Err(McpFailure::Auth { .. })
                if credential.as_ref().is_some_and(McpCredential::refreshable) =>
            {
                let Some(current) = &credential else {
                    return Err(Failure::Auth(
                        "the server refused the credential".to_owned(),
                    ));
                };
                let fresh = self.refreshed(current, now).await?;
                let connection =
                    McpConnection::open(&server.url, fresh.bearer(), deadline_ms).await?;
                Ok(Server {
                    connection,
                    tools: None,
                    credential: Some(fresh),
                })
            }
            Err(failure) => Err(failure.into()),
        }
    }

    fn can_refresh(&self, open: &Server) -> bool {
        open.credential
            .as_ref()
            .is_some_and(McpCredential::refreshable)
    }

    /// Refreshes an open server's credential and sends the new token from now on.
    async fn refresh(&self, open: &mut Server) -> Result<(), Failure> {
        let Some(current) = &open.credential else {
            return Err(Failure::Auth("the server refused the request".to_owned()));
        };
        let now = Timestamp(openma_cloudflare::now_ms() as i64);
        let fresh = self.refreshed(current, now).await?;
        open.connection.set_bearer(fresh.bearer());
        open.credential = Some(fresh);
        Ok(())
    }

    async fn refreshed(
        &self,
        current: &McpCredential,
        now: Timestamp,
    ) -> Result<McpCredential, Failure> {
        openma_cloudflare::mcp::refresh(&self.env, &self.tenant_id, current, now, REFRESH_MS)
            .await
            .map_err(|failure| {
                Failure::Auth(format!(
                    "the access token of credential {} could not be refreshed: {}",
                    current.credential.id,
                    failure.describe()
                ))
            })
    }

    /// Runs one MCP tool call at most once: journalled before it is sent,
    /// answered from the journal when replayed.
    pub(crate) async fn execute(&self, call: ToolCall) -> Result<ToolOutput, ToolExecError> {
        let server_name = call.mcp_server_name.clone().unwrap_or_default();
        let journal = |e: worker::Error| ToolExecError(format!("the MCP call journal: {e}"));
        let rows: Vec<JournalRow> = self
            .sql
            .exec(
                "SELECT result FROM mcp_calls WHERE tool_use_id = ?",
                vec![call.tool_use_id.as_str().into()],
            )
            .and_then(|cursor| cursor.to_array())
            .map_err(journal)?;
        if let Some(row) = rows.first() {
            return Ok(
                match row
                    .result
                    .as_deref()
                    .map(serde_json::from_str::<ToolOutput>)
                {
                    Some(Ok(output)) => output,
                    _ => ToolOutput::error(format!(
                        "The platform restarted while MCP server `{server_name}` was running this call. \
                     It was not sent again because it may already have taken effect; check its \
                     outcome before calling the tool again."
                    )),
                },
            );
        }
        self.sql
            .exec(
                "INSERT INTO mcp_calls (tool_use_id, server, started_at) VALUES (?, ?, ?)",
                vec![
                    call.tool_use_id.as_str().into(),
                    server_name.as_str().into(),
                    openma_cloudflare::now_ms().into(),
                ],
            )
            .map_err(journal)?;
        let seen = self.interrupts.seen();
        let work = async { Ok::<_, worker::Error>(self.call(&server_name, &call).await) };
        let output = match self
            .interrupts
            .bounded(work, self.call_deadline_ms, seen)
            .await
        {
            Ok(Ok(output)) => output,
            Ok(Err(e)) => ToolOutput::error(e.to_string()),
            Err(Cut::Deadline) => ToolOutput::error(format!(
                "MCP server `{server_name}` did not answer within {} ms",
                self.call_deadline_ms
            )),
            Err(Cut::Interrupt) => {
                return Err(ToolExecError(
                    "the MCP call was cut short by an interrupt".to_owned(),
                ));
            }
        };
        let stored = serde_json::to_string(&output).map_err(|e| ToolExecError(e.to_string()))?;
        self.sql
            .exec(
                "UPDATE mcp_calls SET result = ? WHERE tool_use_id = ?",
                vec![stored.into(), call.tool_use_id.as_str().into()],
            )
            .map_err(journal)?;
        Ok(output)
    }

    async fn call(&self, server_name: &str, call: &ToolCall) -> ToolOutput {
        let Some(server) = self.servers.iter().find(|s| s.name == server_name) else {
            return ToolOutput::error(format!(
                "MCP server `{server_name}` is not among the agent's MCP toolsets"
            ));
        };
        let cached = self.open.borrow().get(server_name).cloned();
        let mut open = match cached {
            Some(open) => open,
            None => match self.connect(server, self.call_deadline_ms).await {
                Ok(open) => open,
                Err(failure) => return ToolOutput::error(failure.to_string()),
            },
        };
        // A refused credential means the call never ran: refresh and send it once more.
        let mut answer = open.connection.call_tool(&call.name, &call.input).await;
        if matches!(answer, Err(McpFailure::Auth { .. })) && self.can_refresh(&open) {
            answer = match self.refresh(&mut open).await {
                Ok(()) => open.connection.call_tool(&call.name, &call.input).await,
                Err(failure) => return ToolOutput::error(failure.to_string()),
            };
        }
        let output = match answer {
            Ok(Ok(result)) => read_call_result(&result),
            Ok(Err(error)) => ToolOutput::error(format!(
                "MCP server `{server_name}` answered error {}: {}",
                error.code, error.message
            )),
            Err(failure) => {
                self.open.borrow_mut().remove(server_name);
                return ToolOutput::error(format!(
                    "MCP server `{server_name}`: {}",
                    Failure::from(failure)
                ));
            }
        };
        self.open.borrow_mut().insert(server_name.to_owned(), open);
        output
    }
}

/// Why a server could not be used, as the session reports it.
#[derive(Debug)]
enum Failure {
    /// Unreachable, or not speaking MCP.
    Connect(String),
    /// The credential was refused (and could not be refreshed).
    Auth(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Connect(message) | Self::Auth(message) => f.write_str(message),
        }
    }
}

impl From<McpFailure> for Failure {
    fn from(failure: McpFailure) -> Self {
        match failure {
            McpFailure::Auth { .. } => Self::Auth(failure.describe()),
            other => Self::Connect(other.describe()),
        }
    }
}

fn session_error(server: &str, failure: &Failure) -> SessionError {
    let (kind, message) = match failure {
        Failure::Connect(message) => (
            SessionErrorType::McpConnectionFailedError,
            format!("MCP server `{server}` could not be used: {message}"),
        ),
        Failure::Auth(message) => (
            SessionErrorType::McpAuthenticationFailedError,
            format!("MCP server `{server}` rejected the session's credential: {message}"),
        ),
    };
    let mut error = SessionError::new(kind, message, RetryStatus::Retrying);
    error
        .extra
        .insert("mcp_server_name".to_owned(), json!(server));
    error
}
