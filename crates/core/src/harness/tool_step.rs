//! Executing one built-in tool call.

use super::Harness;
use super::append::tool_result;
use super::error::HarnessError;
use super::observer::StepObserver;
use crate::ports::Clock;
use crate::ports::EventStore;
use crate::ports::ModelClient;
use crate::ports::ToolCall;
use crate::ports::ToolExecutor;
use crate::session::ToolUseRecord;

impl<M: ModelClient, S: EventStore, T: ToolExecutor, C: Clock> Harness<M, S, T, C> {
    /// Runs the call (in the sandbox, or at its MCP server) and records its
    /// result. A crash between the two re-runs
    /// the call with the same id, which the executor answers from its record.
    /// When the result leaves the model to be called next, that call starts
    /// in the same step (see [`Harness::record_and_call_model`]).
    pub(super) async fn run_tool<O: StepObserver>(
        &self,
        record: ToolUseRecord,
        observer: &O,
    ) -> Result<(), HarnessError> {
        let call = ToolCall {
            tool_use_id: record.id.clone(),
            name: record.name.clone(),
            input: record.input.clone(),
            mcp_server_name: record.mcp_server.clone(),
        };
        let output = match self.ports.tools.execute(call).await {
            Ok(output) => output,
            Err(error) => {
                // A call the executor cut short because an interrupt arrived:
                // the next step ends the turn and closes the call.
                self.refresh_if_behind().await?;
                if self.state.borrow().unprocessed_interrupts.is_empty() {
                    return Err(error.into());
                }
                return Ok(());
            }
        };
        let result = tool_result(&record, output.content, output.is_error);
        self.record_and_call_model(result, observer).await
    }
}
