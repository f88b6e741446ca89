//! Shared by kasio-tokio's integration tests: a simulated cluster served on
//! 127.0.0.1 (kasio-sim's serve mode) holding the rig's workload records, and
//! helpers to read them.
#![allow(dead_code)]

use std::time::Duration;

use kasio_core::config::Config;
use kasio_core::records::Compression;
use kasio_sim::sim::serve::Served;
use kasio_sim::sim::{Cluster, ClusterSpec, SimRecord};
use kasio_sim::workload::{expected, Checker};
use kasio_tokio::{Consumer, Item};

pub const VALUE_SIZE: usize = 100;

/// Record `i` of the workload (see `kasio_sim::workload`).
pub fn workload_record(i: u64, value_size: usize) -> SimRecord {
    let e = expected(i, value_size);
    let mut r = SimRecord::new(e.timestamp, e.key.as_deref(), e.value.as_deref());
    for (k, v) in &e.headers {
        r = r.with_header(k, v.as_deref());
    }
    r
}

/// Produces records `start..start+count` round-robin over `partitions`, in
/// batches of up to 7, cycling through every codec.
pub fn produce(cluster: &mut Cluster, topic: &str, partitions: u64, start: u64, count: u64) {
    produce_sized(cluster, topic, partitions, start, count, VALUE_SIZE);
}

/// [`produce`] with `value_size`-byte values.
pub fn produce_sized(
    cluster: &mut Cluster,
    topic: &str,
    partitions: u64,
    start: u64,
    count: u64,
    value_size: usize,
) {
    let mut per_partition: Vec<Vec<u64>> = vec![Vec::new(); partitions as usize];
    for i in start..start + count {
        per_partition[(i % partitions) as usize].push(i);
    }
    let mut codec = Compression::ALL.iter().cycle();
    for (p, seqs) in per_partition.iter().enumerate() {
        for chunk in seqs.chunks(7) {
            let recs: Vec<SimRecord> = chunk
                .iter()
                .map(|&i| workload_record(i, value_size))
                .collect();
            let c = *codec.next().expect("cycle");
            cluster.produce(topic, p as i32, &recs, c).expect("produce");
        }
    }
}

/// A served cluster of 3 brokers with `topic` (`partitions`, replicated twice)
/// holding records `0..count`.
pub fn served(topic: &str, partitions: i32, count: u64) -> Served {
    let served = Served::start(ClusterSpec::new(3).topic(topic, partitions, 2)).expect("serve");
    served.with_cluster(|c| produce(c, topic, partitions as u64, 0, count));
    served
}

/// A config for `bootstrap`, reading from the beginning, with `extra` properties.
pub fn config(bootstrap: &str, extra: &[(&str, &str)]) -> Config {
    let mut props = vec![
        ("bootstrap.servers", bootstrap),
        ("auto.offset.reset", "earliest"),
    ];
    props.extend_from_slice(extra);
    Config::from_pairs(props).expect("config")
}

/// Receives until `checker` has seen `count` distinct records or `timeout`
/// passes; panics on errors. Returns the non-record items seen.
pub async fn read_until(
    consumer: &Consumer,
    checker: &mut Checker,
    count: u64,
    timeout: Duration,
) -> Vec<Item> {
    let mut others = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    while checker.distinct() < count {
        let item = tokio::time::timeout_at(deadline, consumer.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "only {} of {count} records within {timeout:?}",
                    checker.distinct()
                )
            })
            .expect("recv");
        match item {
            Item::Records(records) => {
                for (tp, r) in records.iter() {
                    checker.check(tp, r);
                }
            }
            Item::Error(e) => panic!("consumer error: {e}"),
            other => others.push(other),
        }
    }
    others
}

/// Receives for `window` and returns how many records came (none should).
pub async fn records_within(consumer: &Consumer, window: Duration) -> usize {
    let deadline = tokio::time::Instant::now() + window;
    let mut n = 0;
    while let Ok(item) = tokio::time::timeout_at(deadline, consumer.recv()).await {
        if let Item::Records(r) = item.expect("recv") {
            n += r.len();
        }
    }
    n
}
