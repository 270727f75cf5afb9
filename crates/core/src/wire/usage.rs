//! Token usage: per model request and cumulative per session.

use serde::Deserialize;
use serde::Serialize;

/// `span.model_request_end.model_usage`: usage of one model request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ModelUsage {
    /// Input tokens consumed.
    pub input_tokens: u64,
    /// Output tokens generated.
    pub output_tokens: u64,
    /// Tokens read from the prompt cache.
    pub cache_read_input_tokens: u64,
    /// Tokens written to the prompt cache.
    pub cache_creation_input_tokens: u64,
    /// Speed tier the request ran at, when reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed: Option<Speed>,
}

/// Inference speed tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Speed {
    /// Standard speed.
    Standard,
    /// Fast mode.
    Fast,
}

/// Cache-creation tokens by cache lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CacheCreationUsage {
    /// Tokens written to 5-minute cache entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral_5m_input_tokens: Option<u64>,
    /// Tokens written to 1-hour cache entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral_1h_input_tokens: Option<u64>,
}

/// Server-executed tool counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ServerToolUsage {
    /// Web search requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_search_requests: Option<u64>,
    /// Web fetch requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_fetch_requests: Option<u64>,
}

/// A monetary amount in minor units (`{"amount":"2500","currency":"USD"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonetaryAmount {
    /// Integer minor units as a decimal string.
    pub amount: String,
    /// ISO-4217 code; only `USD`.
    pub currency: String,
}

/// Cumulative session usage (`session.usage`, `session.usage` events).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SessionUsage {
    /// Total input tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    /// Total output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    /// Total tokens read from the prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
    /// Cache-creation tokens by lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation: Option<CacheCreationUsage>,
    /// Server-executed tool counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_tool_use: Option<ServerToolUsage>,
    /// Cumulative list cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_cost: Option<MonetaryAmount>,
    /// Seconds with at least one thread running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_seconds: Option<f64>,
}

impl SessionUsage {
    /// Adds one model request's usage to the totals.
    pub fn add(&mut self, usage: &ModelUsage) {
        let bump =
            |slot: &mut Option<u64>, by: u64| *slot = Some(slot.unwrap_or(0).saturating_add(by));
        bump(&mut self.input_tokens, usage.input_tokens);
        bump(&mut self.output_tokens, usage.output_tokens);
        bump(
            &mut self.cache_read_input_tokens,
            usage.cache_read_input_tokens,
        );
        let cache = self
            .cache_creation
            .get_or_insert_with(CacheCreationUsage::default);
        bump(
            &mut cache.ephemeral_5m_input_tokens,
            usage.cache_creation_input_tokens,
        );
    }
}

/// `session.stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SessionStats {
    /// Seconds spent running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_seconds: Option<f64>,
    /// Seconds since creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,
}
