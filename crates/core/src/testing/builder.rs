use serde_json::json;

use super::fake_tools::FakeToolExecutor;
use super::invariants::check_invariants;
use super::manual_clock::ManualClock;
use super::memory_store::InMemoryEventStore;
use super::scripted_model::Script;
use super::scripted_model::ScriptedModel;
use super::shape::log_shape;
use crate::harness::Harness;
use crate::harness::HarnessConfig;
use crate::harness::Ports;
use crate::harness::StepOutcome;
use crate::llm::RetryPolicy;
use crate::tools::AgentToolParams;
use crate::tools::ToolConfigParams;
use crate::tools::ToolDefaultConfigParams;
use crate::tools::resolve_tools;
use crate::wire::CustomTool;
use crate::wire::Event;
use crate::wire::ModelConfig;
use crate::wire::PermissionPolicy;
use crate::wire::SessionAgent;
use crate::wire::SessionEvent;
use crate::wire::UserEventParams;
use crate::wire::agent::ExecutionIdentity;
use crate::wire::agent::McpServer;
use crate::wire::object_type::AgentType;

/// The harness type the fakes make.
pub type TestHarness = Harness<ScriptedModel, InMemoryEventStore, FakeToolExecutor, ManualClock>;

/// Starts a [`TestSessionBuilder`]: session `sesn_test`, model `claude-test`,
/// the full built-in toolset with `always_allow`.
#[must_use]
pub fn test_session() -> TestSessionBuilder {
    TestSessionBuilder {
        system: Some("You are a test agent.".to_owned()),
        toolset: Some(Vec::new()),
        custom_tools: Vec::new(),
        max_model_requests: None,
        retry: None,
        self_hosted: false,
        scripts: Vec::new(),
        mcp_toolsets: Vec::new(),
    }
}

/// Fluent builder of a session wired to in-memory fakes.
#[derive(Debug)]
pub struct TestSessionBuilder {
    system: Option<String>,
    toolset: Option<Vec<ToolConfigParams>>,
    custom_tools: Vec<CustomTool>,
    max_model_requests: Option<u32>,
    retry: Option<RetryPolicy>,
    self_hosted: bool,
    scripts: Vec<Script>,
    mcp_toolsets: Vec<(String, Option<PermissionPolicy>)>,
}

impl TestSessionBuilder {
    /// Sets the system prompt (`None` for none).
    #[must_use]
    pub fn with_system(mut self, system: Option<&str>) -> Self {
        self.system = system.map(str::to_owned);
        self
    }

    /// Sets a built-in tool's permission policy.
    #[must_use]
    pub fn with_tool_policy(mut self, name: &str, policy: PermissionPolicy) -> Self {
        self.toolset
            .get_or_insert_with(Vec::new)
            .push(ToolConfigParams {
                name: name.to_owned(),
                kind: None,
                enabled: None,
                permission_policy: Some(policy),
                settings: serde_json::Map::new(),
            });
        self
    }

    /// Disables a built-in tool.
    #[must_use]
    pub fn with_tool_disabled(mut self, name: &str) -> Self {
        self.toolset
            .get_or_insert_with(Vec::new)
            .push(ToolConfigParams {
                name: name.to_owned(),
                kind: None,
                enabled: Some(false),
                permission_policy: None,
                settings: serde_json::Map::new(),
            });
        self
    }

    /// Adds a custom tool with an empty object schema.
    #[must_use]
    pub fn with_custom_tool(mut self, name: &str) -> Self {
        self.custom_tools.push(CustomTool {
            name: name.to_owned(),
            description: format!("The {name} tool."),
            input_schema: json!({"type": "object", "properties": {}}),
        });
        self
    }

    /// Adds an MCP server `name` and its `mcp_toolset` (with `policy` as its
    /// default, or MCP's default `always_ask`). What the server lists is
    /// set on the fake executor.
    #[must_use]
    pub fn with_mcp_toolset(mut self, name: &str, policy: Option<PermissionPolicy>) -> Self {
        self.mcp_toolsets.push((name.to_owned(), policy));
        self
    }

    /// Sets the max-steps guard.
    #[must_use]
    pub fn with_max_model_requests(mut self, max: u32) -> Self {
        self.max_model_requests = Some(max);
        self
    }

    /// Sets the retry policy.
    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = Some(retry);
        self
    }

    /// Makes the environment self-hosted (the client runs sandbox tools).
    #[must_use]
    pub fn self_hosted(mut self) -> Self {
        self.self_hosted = true;
        self
    }

    /// Queues a model response.
    #[must_use]
    pub fn with_script(mut self, script: impl Into<Script>) -> Self {
        self.scripts.push(script.into());
        self
    }

    /// The harness config this builder describes.
    ///
    /// # Panics
    /// If the tool configs are invalid.
    #[must_use]
    pub fn config(&self) -> HarnessConfig {
        let mut params = Vec::new();
        if let Some(configs) = &self.toolset {
            params.push(AgentToolParams::AgentToolset {
                default_config: Some(ToolDefaultConfigParams::default()),
                configs: Some(configs.clone()),
            });
        }
        params.extend(
            self.custom_tools
                .iter()
                .cloned()
                .map(AgentToolParams::Custom),
        );
        params.extend(
            self.mcp_toolsets
                .iter()
                .map(|(name, policy)| AgentToolParams::McpToolset {
                    mcp_server_name: name.clone(),
                    default_config: Some(ToolDefaultConfigParams {
                        enabled: None,
                        permission_policy: *policy,
                    }),
                    configs: None,
                }),
        );
        let tools =
            resolve_tools(&params).unwrap_or_else(|err| panic!("invalid test tools: {err}"));
        let agent = SessionAgent {
            id: "agent_test".to_owned(),
            kind: AgentType::Tag,
            version: 1,
            name: "test agent".to_owned(),
            description: None,
            system: self.system.clone(),
            model: ModelConfig::new("claude-test"),
            tools,
            mcp_servers: self
                .mcp_toolsets
                .iter()
                .map(|(name, _)| McpServer {
                    kind: "url".to_owned(),
                    name: name.clone(),
                    url: format!("https://{name}.example.com/mcp"),
                })
                .collect(),
            skills: Vec::new(),
            multiagent: None,
            execution_identity: ExecutionIdentity::ServiceAccount,
        };
        let mut config = HarnessConfig::new("sesn_test", agent);
        if let Some(max) = self.max_model_requests {
            config.max_model_requests_per_turn = max;
        }
        if let Some(retry) = self.retry {
            config.retry = retry;
        }
        config.self_hosted = self.self_hosted;
        config
    }

    /// Builds the session over fresh fakes.
    ///
    /// # Panics
    /// If the (empty) log cannot be loaded.
    pub async fn build(self) -> TestSession {
        let model = ScriptedModel::new();
        for script in &self.scripts {
            model.push(script.clone());
        }
        let ports = Ports {
            model,
            store: InMemoryEventStore::new(),
            tools: FakeToolExecutor::new(),
            clock: ManualClock::default(),
        };
        let config = self.config();
        let harness = Harness::open(config, ports)
            .await
            .unwrap_or_else(|err| panic!("open failed: {err}"));
        TestSession { harness }
    }
}

/// A session over fakes, with intention-revealing helpers.
#[derive(Debug)]
pub struct TestSession {
    /// The harness under test.
    pub harness: TestHarness,
}

impl TestSession {
    /// The id of the event at `seq`.
    ///
    /// # Panics
    /// If the log has no such event.
    #[must_use]
    pub fn event_id(&self, seq: u64) -> String {
        self.events()
            .into_iter()
            .find(|e| e.seq == seq)
            .unwrap_or_else(|| panic!("no event {seq}"))
            .event
            .id
    }

    /// The scripted model.
    #[must_use]
    pub fn model(&self) -> &ScriptedModel {
        &self.harness.ports().model
    }

    /// The in-memory log.
    #[must_use]
    pub fn store(&self) -> &InMemoryEventStore {
        &self.harness.ports().store
    }

    /// The fake sandbox.
    #[must_use]
    pub fn tools(&self) -> &FakeToolExecutor {
        &self.harness.ports().tools
    }

    /// The manual clock.
    #[must_use]
    pub fn clock(&self) -> &ManualClock {
        &self.harness.ports().clock
    }

    /// Sends one `user.message` with `text`.
    ///
    /// # Panics
    /// If the harness rejects it.
    pub async fn send(&self, text: &str) -> Vec<Event> {
        self.send_events(vec![UserEventParams::text(text)]).await
    }

    /// Sends events.
    ///
    /// # Panics
    /// If the harness rejects them.
    pub async fn send_events(&self, events: Vec<UserEventParams>) -> Vec<Event> {
        self.harness
            .submit(events)
            .await
            .unwrap_or_else(|err| panic!("submit failed: {err}"))
    }

    /// Steps until idle, terminated or waiting.
    ///
    /// # Panics
    /// If a step fails.
    pub async fn run(&self) -> StepOutcome {
        self.harness
            .run_until_blocked()
            .await
            .unwrap_or_else(|err| panic!("step failed: {err}"))
    }

    /// Steps until idle or terminated, advancing the clock through every backoff.
    ///
    /// # Panics
    /// If a step fails.
    pub async fn run_through_retries(&self) -> StepOutcome {
        loop {
            match self.run().await {
                StepOutcome::WaitUntil(at) => self.clock().set(at),
                outcome => return outcome,
            }
        }
    }

    /// Reopens the harness on the same log and fakes, as after an eviction.
    ///
    /// # Panics
    /// If the log cannot be loaded.
    pub async fn restart(self) -> Self {
        let config = self.harness.config().clone();
        let ports = self.harness.ports().clone();
        let harness = Harness::open(config, ports)
            .await
            .unwrap_or_else(|err| panic!("reopen failed: {err}"));
        Self { harness }
    }

    /// The log.
    #[must_use]
    pub fn events(&self) -> Vec<SessionEvent> {
        self.store().events()
    }

    /// The log, one line per event.
    #[must_use]
    pub fn shape(&self) -> String {
        log_shape(&self.events())
    }

    /// Panics unless the log keeps the invariants (see [`check_invariants`]).
    pub fn check_invariants(&self) {
        check_invariants(&self.events());
    }
}
