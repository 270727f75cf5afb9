//! The only ways out of core: small, storage-neutral traits.
//!
//! No trait carries a `Send` bound: Durable Object futures are `!Send`.

mod clock;
mod event_store;
mod model;
mod tools;

pub use clock::Clock;
pub use event_store::AppendParams;
pub use event_store::EventStore;
pub use event_store::StoreError;
pub use model::ModelClient;
pub use model::ModelStream;
pub use tools::McpListing;
pub use tools::ToolCall;
pub use tools::ToolExecError;
pub use tools::ToolExecutor;
pub use tools::ToolOutput;
