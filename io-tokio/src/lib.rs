//! kasio-tokio: the async driver and the `kasio` command-line consumer.
//!
//! **Not built yet.** This crate is a placeholder so that the workspace has its final
//! shape; see the README's status table.
