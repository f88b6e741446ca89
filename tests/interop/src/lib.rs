//! kasio-interop: kasio's consumer-group peers and the group interop suites.
//!
//! - `src/bin/kasio_group_peer.rs`: a kasio-std `Consumer` as a group member;
//! - `src/bin/kasio_tokio_group_peer.rs`: the same on kasio-tokio;
//! - [`peer`]: what both share, the command line, the JSON lines and the
//!   bookkeeping behind them, so the two speak exactly the protocol of the Java
//!   and librdkafka peers (scripts/rig/README.md, "Group consumer peers");
//! - `tests/e2e_group_kasio.rs`, `tests/e2e_group_faults.rs`: kasio members of
//!   both drivers in groups with Java and librdkafka members, on tansu, kasio-sim
//!   and librdkafka's mock cluster.
//!
//! [`kasio_sim::peers::GroupPeer`] starts the peers (`GroupPeer::kasio`,
//! `GroupPeer::kasio_tokio`); cargo builds this package's binaries for its tests.

pub mod peer;
