use crate::llm::RetryPolicy;
use crate::wire::SessionAgent;

/// What a harness needs to know about its session.
#[derive(Debug, Clone, PartialEq)]
pub struct HarnessConfig {
    /// The `sesn_` id; event ids derive from it.
    pub session_id: String,
    /// The agent snapshot (model, system prompt, tools).
    pub agent: SessionAgent,
    /// Model requests allowed per turn before the turn is stopped with
    /// `tool_use_limit_reached_error` (the max-steps guard).
    pub max_model_requests_per_turn: u32,
    /// `max_tokens` of each model request.
    pub max_tokens: u32,
    /// Retry budget and backoff for transient model errors.
    pub retry: RetryPolicy,
    /// A `self_hosted` environment: the client's worker runs the sandbox
    /// tools and answers with `user.tool_result`; `web_*` stay server-side.
    pub self_hosted: bool,
}

impl HarnessConfig {
    /// Defaults: 50 model requests per turn, 8192 output tokens, default retry policy.
    #[must_use]
    pub fn new(session_id: impl Into<String>, agent: SessionAgent) -> Self {
        Self {
            session_id: session_id.into(),
            agent,
            max_model_requests_per_turn: 50,
            max_tokens: 8192,
            retry: RetryPolicy::default(),
            self_hosted: false,
        }
    }
}
