//! The agent harness: a small state machine that reads and appends the event
//! log, one unit of work per [`Harness::step`].
//!
//! A Durable Object drives it: `submit` client events, then call `step`
//! until it returns [`StepOutcome::Idle`] (or [`StepOutcome::WaitUntil`], for
//! an alarm). Every step reads its decision from the folded log and records
//! its effects in the log, so a DO evicted between (or during) steps resumes
//! from the log alone.
//!
//! Use one `Harness` per session log (the DO owns it): appends from other
//! writers are picked up by polling the store's head, but `processed_at`
//! marks made by another instance are only seen after reopening.

mod action;
mod append;
mod config;
mod error;
mod join;
mod model_call;
mod observer;
mod outcome;
mod prompt;
mod reply;
mod submit;
mod tool_step;

use std::cell::Cell;
use std::cell::Ref;
use std::cell::RefCell;

pub use config::HarnessConfig;
pub use error::HarnessError;
pub use observer::NoPreviews;
pub use observer::StepObserver;
pub use outcome::StepOutcome;
pub use prompt::build_model_request;
pub use prompt::project_history;

use self::action::Action;
use crate::ports::Clock;
use crate::ports::EventStore;
use crate::ports::ModelClient;
use crate::ports::ToolExecutor;
use crate::session::SessionState;
use crate::tools::Toolset;

/// The four ports a harness runs on.
#[derive(Debug, Clone)]
pub struct Ports<M, S, T, C> {
    /// The model.
    pub model: M,
    /// The session's event log.
    pub store: S,
    /// Runs built-in tools.
    pub tools: T,
    /// The time.
    pub clock: C,
}

/// Drives one session. Methods take `&self` and never hold a state borrow
/// across an `.await`, so a DO can interleave `submit` with a running `step`.
#[derive(Debug)]
pub struct Harness<M, S, T, C> {
    config: HarnessConfig,
    /// The agent's tools, with its MCP servers' tools once listed.
    toolset: RefCell<Toolset>,
    /// The turn (its `started_seq`) the MCP tools were listed for.
    mcp_listed_for: Cell<Option<u64>>,
    ports: Ports<M, S, T, C>,
    state: RefCell<SessionState>,
    stepping: Cell<bool>,
}

/// Most steps [`Harness::run_until_blocked`] takes before giving up.
const RUN_STEP_LIMIT: usize = 10_000;

impl<M: ModelClient, S: EventStore, T: ToolExecutor, C: Clock> Harness<M, S, T, C> {
    /// Opens a session: loads and folds its whole log.
    pub async fn open(
        config: HarnessConfig,
        ports: Ports<M, S, T, C>,
    ) -> Result<Self, HarnessError> {
        let harness = Self {
            toolset: RefCell::new(Toolset::from_agent_tools(&config.agent.tools)),
            mcp_listed_for: Cell::new(None),
            state: RefCell::new(SessionState::new(config.session_id.clone())),
            config,
            ports,
            stepping: Cell::new(false),
        };
        harness.refresh().await?;
        Ok(harness)
    }

    /// The folded state. Do not hold the borrow across an `.await`.
    pub fn state(&self) -> Ref<'_, SessionState> {
        self.state.borrow()
    }

    /// The ports, e.g. to inspect fakes in tests.
    pub fn ports(&self) -> &Ports<M, S, T, C> {
        &self.ports
    }

    /// The configuration.
    pub fn config(&self) -> &HarnessConfig {
        &self.config
    }

    /// Advances the session by one unit of work (one model request, one tool
    /// execution, or one status change) and says what to do next.
    ///
    /// Only one step may run at a time; a concurrent call fails with
    /// [`HarnessError::StepInProgress`].
    pub async fn step(&self) -> Result<StepOutcome, HarnessError> {
        self.step_with(&NoPreviews).await
    }

    /// [`Harness::step`], sending stream previews of the model's output to
    /// `observer` (for SSE connections that opted in with `event_deltas[]`).
    pub async fn step_with<O: StepObserver>(
        &self,
        observer: &O,
    ) -> Result<StepOutcome, HarnessError> {
        if self.stepping.replace(true) {
            return Err(HarnessError::StepInProgress);
        }
        let result = self.step_inner(observer).await;
        self.stepping.set(false);
        result
    }

    /// Steps until the session is idle, terminated or must wait; returns that outcome.
    pub async fn run_until_blocked(&self) -> Result<StepOutcome, HarnessError> {
        for _ in 0..RUN_STEP_LIMIT {
            match self.step().await? {
                StepOutcome::Continue => {}
                outcome => return Ok(outcome),
            }
        }
        Err(HarnessError::RunawayLoop(RUN_STEP_LIMIT))
    }

    async fn step_inner<O: StepObserver>(&self, observer: &O) -> Result<StepOutcome, HarnessError> {
        self.refresh_if_behind().await?;
        let now = self.ports.clock.now();
        let action = action::next_action(&self.state.borrow(), &self.config, now);
        match action {
            Action::Terminated => return Ok(StepOutcome::Terminated),
            Action::Idle => return Ok(StepOutcome::Idle),
            Action::Wait(until) => return Ok(StepOutcome::WaitUntil(until)),
            Action::AckInterrupts => self.ack_interrupts().await?,
            Action::InterruptTurn => self.interrupt_turn().await?,
            Action::StartTurn => self.start_turn().await?,
            Action::Resume => self.resume().await?,
            Action::ReportBlocking(ids) => self.report_blocking(ids).await?,
            Action::RunTool(record) => self.run_tool(record, observer).await?,
            Action::DenyTool { record, message } => self.deny_tool(&record, message).await?,
            Action::RefuseTool(record) => self.refuse_tool(&record).await?,
            Action::StepLimit => self.step_limit().await?,
            Action::CallModel => self.call_model(observer).await?,
        }
        Ok(self.outlook())
    }

    // What the next step would do, without doing it.
    fn outlook(&self) -> StepOutcome {
        let now = self.ports.clock.now();
        match action::next_action(&self.state.borrow(), &self.config, now) {
            Action::Terminated => StepOutcome::Terminated,
            Action::Idle => StepOutcome::Idle,
            Action::Wait(until) => StepOutcome::WaitUntil(until),
            _ => StepOutcome::Continue,
        }
    }
}

#[cfg(test)]
#[path = "prompt_tests.rs"]
mod prompt_tests;
