//! kasio-sim: test support for kasio and for applications built on it.
//!
//! - [`sim`]: a deterministic simulated Kafka cluster (sans-IO, seeded), a
//!   simulated network and world that run kasio consumers against it with
//!   invariants checked at every step, the swarm-tested scenario behind
//!   `tests/tests/sim_consumer.rs`, and a TCP serve mode for any Kafka client.
//! - [`rig`]: starts and stops third-party brokers (librdkafka's mock cluster, the
//!   tansu broker) and librdkafka producers, for end-to-end tests.
//! - [`peers`]: third-party consumer-group members (the Java client, librdkafka)
//!   for group interop tests.
//! - [`workload`]: the deterministic record workload those producers write, and a
//!   checker for what a consumer read.

// The README's Rust examples are compiled and run as doctests of this crate.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

pub mod peers;
pub mod rig;
pub mod sim;
#[cfg(feature = "tls")]
pub mod tls;
pub mod workload;
