//! Glue shared by openma's three Workers: JSON responses, the clock, and the
//! health probes that exercise each backend for real.
//!
//! This is the only crate besides the `worker-*` crates that depends on
//! `worker`; domain logic belongs in `openma-core`, not here.

pub mod diagnostics;
mod health;
pub mod ids;
pub mod internal;
pub mod mcp;
mod query;
mod response;
pub mod service;
pub mod store;
pub mod webhooks;

pub use health::Check;
pub use health::HealthReport;
pub use health::MIN_ROOT_SECRET_LEN;
pub use health::healthy_answer;
pub use health::probe_config;
pub use health::probe_d1;
pub use health::probe_kv;
pub use health::probe_r2;
pub use health::probe_service;
pub use query::percent_decode;
pub use query::query_pairs;
pub use response::info_logs;
pub use response::json;
pub use response::now_ms;
pub use response::setting;
