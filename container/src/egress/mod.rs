//! Egress control for sandboxed processes: the local filtering proxy.
//!
//! The policy itself is pure and lives in `openma_core::egress`, shared with
//! the production outbound handler.

pub mod http;
pub mod mask;
pub mod netns;
pub mod proxy;
