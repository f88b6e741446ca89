//! kasio-sim: a deterministic simulated Kafka cluster for testing consumers.
//!
//! **Not built yet.** This crate is a placeholder so that the workspace has its final
//! shape; see the README's status table.
