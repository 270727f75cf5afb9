//! End-to-end tests: one binary, the suites in `suite/`.

// Test helpers outside `#[test]` functions panic on failure by design.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod suite;
