use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::ports::McpListing;
use crate::ports::ToolCall;
use crate::ports::ToolExecError;
use crate::ports::ToolExecutor;
use crate::ports::ToolOutput;

type Hook = Rc<dyn Fn(&ToolCall)>;

#[derive(Default)]
struct Inner {
    outputs: RefCell<HashMap<String, ToolOutput>>,
    calls: RefCell<Vec<ToolCall>>,
    executed: RefCell<HashMap<String, ToolOutput>>,
    hook: RefCell<Option<Hook>>,
    mcp: RefCell<McpListing>,
    mcp_listings: RefCell<usize>,
}

/// A [`ToolExecutor`] with canned outputs per tool name that records every
/// call and, like the real sandbox, is idempotent by `tool_use_id`.
/// Clones share their state.
#[derive(Clone, Default)]
pub struct FakeToolExecutor(Rc<Inner>);

impl std::fmt::Debug for FakeToolExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeToolExecutor")
            .field("calls", &self.0.calls.borrow().len())
            .finish()
    }
}

impl FakeToolExecutor {
    /// An executor answering `"<name> ok"` for every tool.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Answers calls to `name` with `output`.
    pub fn set_output(&self, name: &str, output: ToolOutput) {
        self.0.outputs.borrow_mut().insert(name.to_owned(), output);
    }

    /// Runs `hook` inside every first execution (e.g. to inject an interrupt).
    pub fn on_execute(&self, hook: impl Fn(&ToolCall) + 'static) {
        *self.0.hook.borrow_mut() = Some(Rc::new(hook));
    }

    /// What `mcp_tools` answers from now on.
    pub fn set_mcp_listing(&self, listing: McpListing) {
        *self.0.mcp.borrow_mut() = listing;
    }

    /// How many times the MCP tools were listed.
    #[must_use]
    pub fn mcp_listings(&self) -> usize {
        *self.0.mcp_listings.borrow()
    }

    /// Every `execute` call, replays included.
    #[must_use]
    pub fn calls(&self) -> Vec<ToolCall> {
        self.0.calls.borrow().clone()
    }

    /// How many times the tool actually ran for `tool_use_id` (0 or 1).
    #[must_use]
    pub fn executions(&self, tool_use_id: &str) -> usize {
        usize::from(self.0.executed.borrow().contains_key(tool_use_id))
    }
}

impl ToolExecutor for FakeToolExecutor {
    async fn execute(&self, call: ToolCall) -> Result<ToolOutput, ToolExecError> {
        self.0.calls.borrow_mut().push(call.clone());
        if let Some(output) = self.0.executed.borrow().get(&call.tool_use_id) {
            return Ok(output.clone());
        }
        let hook = self.0.hook.borrow().clone();
        if let Some(hook) = hook {
            hook(&call);
        }
        let output = self
            .0
            .outputs
            .borrow()
            .get(&call.name)
            .cloned()
            .unwrap_or_else(|| ToolOutput::text(format!("{} ok", call.name)));
        self.0
            .executed
            .borrow_mut()
            .insert(call.tool_use_id, output.clone());
        Ok(output)
    }

    async fn mcp_tools(&self) -> McpListing {
        *self.0.mcp_listings.borrow_mut() += 1;
        self.0.mcp.borrow().clone()
    }
}
