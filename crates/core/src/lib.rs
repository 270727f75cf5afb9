//! openma's domain core: the wire vocabulary of the Managed Agents API, the
//! session event log, the agent harness loop and the model codec.
//!
//! This crate must compile for `wasm32-unknown-unknown` and natively, and must
//! not depend on `worker`, `tokio`, `reqwest` or any other runtime: it reaches
//! the outside world only through the small traits in `ports`.
//!
//! - [`wire`]: objects, events, params, errors and pages, exactly as on the wire.
//! - [`control`]: agent create/update rules (validation, versioning, metadata).
//! - [`crypto`]: secrets at rest (AES-256-GCM, HKDF-derived keys, rotation).
//! - [`session`]: session state as a fold over the event log.
//! - [`schedule`]: cron expressions in IANA time zones, and when they fire.
//! - [`ledger`]: what each event adds to its tenant's usage, and the usage report's query.
//! - [`harness`]: the turn loop, one [`Harness::step`] at a time.
//! - [`tools`]: the built-in toolset, custom tools and permission policies.
//! - [`llm`]: provider-neutral model types and the Anthropic codec.
//! - [`ports`]: the traits adapters implement (model, event store, tools, clock).
//! - `testing` (feature `test-support`): in-memory fakes and a test builder.

/// The platform's version, reported by every worker's health check.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub mod control;
pub mod crypto;
pub mod egress;
pub mod harness;
pub mod integrations;
pub mod ledger;
pub mod llm;
pub mod mcp;
pub mod metrics;
pub mod ports;
pub mod redact;
pub mod sandbox;
pub mod schedule;
pub mod session;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
pub mod tools;
pub mod webhooks;
pub mod wire;

pub use harness::Harness;
pub use harness::HarnessConfig;
pub use harness::HarnessError;
pub use harness::Ports;
pub use harness::StepObserver;
pub use harness::StepOutcome;
pub use session::SessionState;
pub use session::SessionSummary;
