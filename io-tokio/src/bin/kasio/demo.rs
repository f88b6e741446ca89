//! The in-process simulated cluster `kasio` reads when no broker is given (as the
//! `consume` examples of kasio-std and kasio-tokio do): kasio-sim served on
//! 127.0.0.1, with a demo topic of 3 partitions, 20 records each, with keys,
//! headers, a null value now and then, and another codec per partition.

use kasio_core::records::Compression;
use kasio_sim::sim::serve::Served;
use kasio_sim::sim::{ClusterSpec, SimRecord};

use crate::args::DEMO_TOPIC;

/// Records in the demo topic.
pub const RECORDS: u64 = 60;

pub fn start() -> std::io::Result<Served> {
    let served = Served::start(ClusterSpec::new(3).topic(DEMO_TOPIC, 3, 3))?;
    let codecs = [Compression::None, Compression::Lz4, Compression::Zstd];
    served.with_cluster(|cluster| {
        for (p, codec) in codecs.into_iter().enumerate() {
            let records: Vec<SimRecord> = (0..20)
                .map(|i| {
                    let key = format!("user-{}", i % 5);
                    let value = (i % 7 != 6).then(|| format!("event {i} on partition {p}"));
                    SimRecord::new(
                        1_700_000_000_000 + i,
                        Some(key.as_bytes()),
                        value.as_deref().map(str::as_bytes),
                    )
                    .with_header("source", Some(b"kasio-sim"))
                })
                .collect();
            cluster
                .produce(DEMO_TOPIC, p as i32, &records, codec)
                .expect("the demo topic exists");
        }
    });
    Ok(served)
}
