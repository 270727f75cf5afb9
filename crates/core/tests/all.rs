//! openma-core's integration tests: one binary, one module per behaviour.

mod suite;
