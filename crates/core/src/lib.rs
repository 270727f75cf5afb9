//! openma's domain core: the wire vocabulary of the Managed Agents API, the
//! session event log, the agent harness loop and the model codec.
//!
//! This crate must compile for `wasm32-unknown-unknown` and natively, and must
//! not depend on `worker`, `tokio`, `reqwest` or any other runtime: it reaches
//! the outside world only through the small traits in `ports`.

/// The platform's version, reported by every worker's health check.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub mod egress;
pub mod sandbox;
