//! Test support (feature `test-support`): in-memory implementations of every
//! port, event-log snapshots, invariant checks and a fluent builder.
//!
//! The fakes share their state through `Rc`, so a test keeps a clone of each
//! to script, inspect, or restart the harness on the same log.

mod builder;
mod fake_tools;
mod invariants;
mod manual_clock;
mod memory_store;
mod replay_transport;
mod scripted_model;
mod shape;

pub use builder::TestHarness;
pub use builder::TestSession;
pub use builder::TestSessionBuilder;
pub use builder::test_session;
pub use fake_tools::FakeToolExecutor;
pub use invariants::check_invariants;
pub use manual_clock::ManualClock;
pub use memory_store::InMemoryEventStore;
pub use memory_store::StoreCalls;
pub use replay_transport::ReplayBody;
pub use replay_transport::ReplayTransport;
pub use scripted_model::Script;
pub use scripted_model::ScriptItem;
pub use scripted_model::ScriptedModel;
pub use scripted_model::ScriptedStream;
pub use scripted_model::ev_completed;
pub use scripted_model::ev_completed_with;
pub use scripted_model::ev_failed;
pub use scripted_model::ev_started;
pub use scripted_model::ev_text;
pub use scripted_model::ev_thinking;
pub use scripted_model::ev_tool_use;
pub use scripted_model::text_reply;
pub use scripted_model::tool_reply;
pub use scripted_model::validate_request;
pub use shape::log_shape;
pub use shape::request_shape;
