//! The in-process simulated cluster `kasio` reads when no broker is given (as the
//! `consume` examples of kasio-std and kasio-tokio do): kasio-sim served on
//! 127.0.0.1, with a demo topic of 3 partitions, 20 records each, with keys,
//! headers, a null value now and then, and another codec per partition.

use kasio_sim::sim::serve::{serve_demo, Served, DEMO_RECORDS};

use crate::args::DEMO_TOPIC;

/// Records in the demo topic.
pub const RECORDS: u64 = DEMO_RECORDS;

pub fn start() -> std::io::Result<Served> {
    serve_demo(DEMO_TOPIC)
}
