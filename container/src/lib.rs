//! openma's sandbox server: the process inside each session's container (and,
//! locally, on the host) that runs the agent toolset.
//!
//! - `bash` on a persistent shell per session; `read`, `write`, `edit`,
//!   `glob`, `grep` confined to the session's `/workspace` ([`workspace`]).
//! - On a shared host, each shell inside bubblewrap with the container's
//!   layout and no other way out than the egress proxy ([`confine`]).
//! - At most one execution per tool-use id, durable across restarts ([`idempotency`]).
//! - Uploaded files and memory stores placed at their mounts, and what the
//!   agent writes under them listed and read back for the platform ([`files`]),
//!   never following a link the agent swaps in ([`safe_fs`]).
//! - A per-session bearer token on every call but `GET /health` ([`auth`]).
//! - An egress proxy that enforces the environment's networking policy and
//!   substitutes vault secret placeholders ([`egress`]).
//!
//! The wire protocol is `openma_core::sandbox`; the egress policy is
//! `openma_core::egress`. This crate is native-only (tokio, axum).

pub mod app;
pub mod auth;
pub mod config;
pub mod confine;
pub mod egress;
pub mod error;
pub mod files;
pub mod idempotency;
pub mod log;
pub mod safe_fs;
pub mod server;
pub mod session;
pub mod tools;
pub mod workspace;

pub use app::{AppState, app};
pub use config::{Config, Limits};
pub use log::Logger;
pub use server::{RunningServer, start};

/// `2 * bytes` random hex characters from the OS random source.
pub fn random_hex(bytes: usize) -> std::io::Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}
