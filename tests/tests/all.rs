//! End-to-end tests: one binary, the suites in `suite/`.

mod suite;
