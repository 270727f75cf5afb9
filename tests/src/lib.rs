//! Black-box end-to-end testing for openma: start the real local platform
//! (`cargo xtask dev`: wrangler dev with the three workers, D1, R2, KV,
//! Durable Objects, and the sandbox server) on a free port with its own state
//! directory, and a mock model server that speaks the Anthropic Messages API
//! (or [`MockOpenAi`], one that speaks OpenAI's Chat Completions API). Only
//! the model provider is fake.

mod api;
pub mod mock;
mod mock_mcp;
mod mock_openai;
pub mod mock_providers;
pub mod mock_receiver;
mod platform;
pub mod python;

pub use api::Api;
pub use api::EventStream;
pub use api::Frame;
pub use api::MULTIPART_BOUNDARY;
pub use api::multipart;
pub use api::unique;
pub use mock::MockModel;
pub use mock::RecordedRequest;
pub use mock::Reply;
pub use mock_mcp::McpToolReply;
pub use mock_mcp::MockMcp;
pub use mock_openai::MockOpenAi;
pub use mock_openai::OpenAiReply;
pub use platform::Platform;
pub use platform::PlatformBuilder;
