//! The wire protocol between the agent worker and the sandbox server.
