//! The sandbox server's integration tests: one binary, tests in `suite/`.

#![expect(
    unreachable_pub,
    reason = "test helpers are shared between suite modules"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    reason = "tests: panics are failures, and wall-clock time is what a timeout test measures"
)]

mod suite;
