//! kasio-sim: test support for kasio and for applications built on it.
//!
//! - [`rig`]: starts and stops third-party brokers (librdkafka's mock cluster, the
//!   tansu broker) and librdkafka producers, for end-to-end tests.
//! - [`workload`]: the deterministic record workload those producers write, and a
//!   checker for what a consumer read.
//!
//! **Not built yet:** the deterministic simulated cluster and the simulation harness
//! (see the README's status table).

pub mod rig;
pub mod workload;
