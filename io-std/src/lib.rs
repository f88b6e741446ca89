//! kasio-std: the blocking driver (std sockets, timers, TLS) for `kasio-core`.
//!
//! **Not built yet.** This crate is a placeholder so that the workspace has its final
//! shape; the driver arrives with the consumer core (see the README's status table).
