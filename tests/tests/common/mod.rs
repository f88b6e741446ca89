//! Shared by the end-to-end suites.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use kasio_core::config::Config;
use kasio_core::consumer::{Event, TopicPartition};
use kasio_sim::workload::Checker;

/// Consumes `topic` (all `partitions`) from the beginning until `expect` distinct
/// records are read or `timeout` passes; `hook` runs after each poll with the count
/// so far (fault injection mid-run).
pub fn consume(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    expect: u64,
    value_size: usize,
    extra: &[(&str, &str)],
    hook: impl FnMut(u64),
) -> (Checker, Vec<Event>) {
    let checker = Checker::new(value_size);
    consume_into(checker, bootstrap, topic, partitions, expect, extra, hook)
}

/// [`consume`] with a checker of the caller's choice.
pub fn consume_into(
    mut checker: Checker,
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    expect: u64,
    extra: &[(&str, &str)],
    mut hook: impl FnMut(u64),
) -> (Checker, Vec<Event>) {
    let mut props = vec![
        ("bootstrap.servers", bootstrap),
        ("auto.offset.reset", "earliest"),
    ];
    props.extend_from_slice(extra);
    let config = Config::from_pairs(props).expect("config");
    let mut consumer = kasio_std::Consumer::with_seed(config, 7);
    consumer
        .core_mut()
        .assign((0..partitions).map(|p| TopicPartition::new(topic, p)))
        .unwrap();
    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while checker.distinct() < expect && Instant::now() < deadline {
        let records = consumer.poll(Duration::from_millis(200));
        for (tp, r) in records.iter() {
            checker.check(tp, r);
        }
        while let Some(e) = consumer.next_event() {
            events.push(e);
        }
        hook(checker.distinct());
    }
    // A little more polling: nothing beyond the expected records may arrive.
    let settle = Instant::now() + Duration::from_millis(300);
    while Instant::now() < settle {
        for (tp, r) in consumer.poll(Duration::from_millis(100)).iter() {
            checker.check(tp, r);
        }
    }
    consumer.close(Duration::from_secs(5));
    (checker, events)
}

/// Records that interop-matrix row `row` passed against `broker` with `records`
/// records checked; `scripts/interop-matrix.py` turns these into the README's matrix.
/// Call it last in a test, after every assertion.
pub fn report(row: &str, broker: &str, records: u64) {
    let dir = kasio_sim::rig::repo_root().join("target/interop");
    std::fs::create_dir_all(&dir).expect("target/interop");
    let file = dir.join(format!("{}.json", row.replace('/', "__")));
    let body = serde_json::json!({"row": row, "broker": broker, "driver": "kasio-std", "records": records});
    std::fs::write(file, body.to_string()).expect("write interop result");
}
