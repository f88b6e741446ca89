//! A producer nobody here wrote (librdkafka, through the rig's `produce.py`)
//! writes to the simulated cluster over TCP (serve mode): every codec, headers,
//! null keys and values, idempotent, non-idempotent, acks=0, and transactional
//! with aborted transactions. Then kasio (kasio-std) and librdkafka's reference
//! consumer read it back at both isolation levels, every record checked, and the
//! cluster's own view (high watermark, last stable offset, aborted index, the
//! codec of every stored batch) is checked too.

mod common;

use bytes::Bytes;
use kasio_core::consumer::Event;
use kasio_core::records::{batches, Compression, DecodeOptions};
use kasio_sim::rig::{produce, reference_consume, ProduceSpec};
use kasio_sim::sim::serve::Served;
use kasio_sim::sim::{Cluster, ClusterSpec};
use kasio_sim::workload::is_aborted;

const PARTITIONS: u32 = 4;
const VALUE_SIZE: usize = 100;

/// The codec of every batch a partition stores, with its control flag.
fn stored_batches(c: &Cluster, topic: &str, p: i32) -> Vec<(Compression, bool)> {
    let log = c.log(topic, p).expect("partition");
    let read = log.read(log.log_start(), i64::MAX, usize::MAX, false);
    batches(Bytes::clone(&read.bytes), DecodeOptions::default())
        .map(|b| {
            let b = b.expect("stored batches are valid, CRCs included");
            let h = *b.header();
            (h.compression().expect("known codec"), h.is_control())
        })
        .collect()
}

fn assert_no_errors(events: &[Event], what: &str) {
    let errors: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e, Event::Error(_)))
        .collect();
    assert!(errors.is_empty(), "{what}: {errors:?}");
}

/// One topic per librdkafka configuration, produced, then read by both consumers.
#[test]
fn librdkafka_producer_every_codec_read_back_by_kasio_and_librdkafka() {
    // (topic, compression.type, extra properties, records)
    let runs: [(&str, &str, &[&str], u64); 7] = [
        ("p-none", "none", &[], 2_000),
        ("p-gzip", "gzip", &[], 1_000),
        ("p-snappy", "snappy", &[], 1_000),
        ("p-lz4", "lz4", &[], 2_000),
        ("p-zstd", "zstd", &[], 2_000),
        // Not idempotent: no producer id, acks=1.
        (
            "p-plain",
            "lz4",
            &["enable.idempotence=false", "acks=1"],
            1_000,
        ),
        // Fire and forget: no responses at all.
        (
            "p-acks0",
            "none",
            &["enable.idempotence=false", "acks=0"],
            1_000,
        ),
    ];
    let mut spec = ClusterSpec::new(3);
    for (topic, ..) in &runs {
        spec = spec.topic(topic, PARTITIONS as i32, 2);
    }
    let served = Served::start(spec).expect("serve");
    let mut total = 0;
    for (topic, codec, extra, count) in runs {
        let mut ps = ProduceSpec::new(topic, PARTITIONS, count);
        ps.compression = codec;
        ps.extra = extra;
        let produced = produce(&served.bootstrap, &ps);
        assert_eq!(produced.committed, count, "{topic}");

        // The cluster's view: every record there, nothing open, and each batch
        // stored as librdkafka compressed it.
        let want_codec = Compression::ALL
            .iter()
            .copied()
            .find(|c| format!("{c:?}").eq_ignore_ascii_case(codec))
            .expect("codec");
        served.with_cluster(|c| {
            let mut records = 0;
            for p in 0..PARTITIONS as i32 {
                let v = c.view(topic, p).expect("view");
                assert_eq!(v.log_start, 0, "{topic}-{p}");
                assert_eq!(v.last_stable_offset, v.high_watermark, "{topic}-{p}");
                records += v.high_watermark as u64;
                let stored = stored_batches(c, topic, p);
                assert!(!stored.is_empty(), "{topic}-{p}: nothing stored");
                assert!(
                    stored
                        .iter()
                        .all(|&(c, control)| c == want_codec && !control),
                    "{topic}-{p}: {stored:?}"
                );
            }
            assert_eq!(records, count, "{topic}: records in the logs");
        });

        for driver in common::Driver::ALL {
            let (checker, events) = common::consume(
                driver,
                &served.bootstrap,
                topic,
                PARTITIONS as i32,
                count,
                VALUE_SIZE,
                &[],
                |_| {},
            );
            checker.assert_complete(0, count, 0);
            assert_no_errors(&events, &format!("{topic}, {driver:?}"));
        }
        let reference = reference_consume(&served.bootstrap, topic, PARTITIONS, &[]);
        assert_eq!(reference, (0..count).collect::<Vec<u64>>(), "{topic}");
        total += count;
    }
    let violations = served.take_violations();
    assert!(violations.is_empty(), "{violations:?}");
    common::report_both("sim/produce-librdkafka", "kasio-sim (serve)", total);
}

/// Transactions of 100 records, every third aborted (after its records were
/// delivered, so they are in the log): read_committed readers see exactly the
/// committed records, read_uncommitted ones everything.
#[test]
fn transactional_librdkafka_producer_read_committed_is_exact() {
    let topic = "p-txn";
    let (count, txn_size) = (3_000, 100);
    let served = Served::start(ClusterSpec::new(3).topic(topic, 3, 2)).expect("serve");
    let mut ps = ProduceSpec::new(topic, 3, count);
    ps.txn_size = txn_size;
    ps.compression = "zstd";
    let produced = produce(&served.bootstrap, &ps);
    assert_eq!((produced.committed, produced.aborted), (2_000, 1_000));
    let committed: Vec<u64> = (0..count).filter(|&i| !is_aborted(i, txn_size)).collect();

    served.with_cluster(|c| {
        let (pid, epoch) = c
            .transactional_producer("kasio-e2e-p-txn")
            .expect("the coordinator knows the transactional id");
        assert!(pid >= 0 && epoch >= 0);
        assert!(
            c.open_transactions().is_empty(),
            "every transaction decided"
        );
        for p in 0..3 {
            let v = c.view(topic, p).expect("view");
            assert_eq!(v.last_stable_offset, v.high_watermark, "p{p}: nothing open");
            let stored = stored_batches(c, topic, p);
            let markers = stored.iter().filter(|b| b.1).count() as i64;
            // 30 transactions touch every partition: one marker each.
            assert_eq!(markers, 30, "p{p}: markers");
            assert_eq!(v.high_watermark, 1_000 + markers, "p{p}: records + markers");
            let aborted = c
                .log(topic, p)
                .unwrap()
                .aborted_between(0, v.high_watermark);
            assert_eq!(aborted.len(), 10, "p{p}: aborted transactions indexed");
            assert!(aborted.iter().all(|a| a.producer_id == pid));
        }
    });

    for (isolation, want) in [
        ("read_committed", committed.clone()),
        ("read_uncommitted", (0..count).collect::<Vec<u64>>()),
    ] {
        let reference = reference_consume(
            &served.bootstrap,
            topic,
            3,
            &[&format!("isolation.level={isolation}")],
        );
        assert_eq!(reference, want, "librdkafka {isolation}");
        for driver in common::Driver::ALL {
            let (checker, events) = common::consume(
                driver,
                &served.bootstrap,
                topic,
                3,
                want.len() as u64,
                VALUE_SIZE,
                &[("isolation.level", isolation)],
                |_| {},
            );
            assert_eq!(checker.seqs(), want, "kasio {isolation}, {driver:?}");
            assert_eq!(checker.duplicates(), 0);
            assert_no_errors(&events, &format!("{isolation}, {driver:?}"));
        }
    }
    let violations = served.take_violations();
    assert!(violations.is_empty(), "{violations:?}");
    common::report_both(
        "sim/produce-txn-read-committed",
        "kasio-sim (serve)",
        committed.len() as u64,
    );
}

/// kcat (Debian's, on an older librdkafka) produces too: keys and a header.
#[test]
fn kcat_produces_to_the_served_cluster() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let served = Served::start(ClusterSpec::new(2).topic("kc-p", 2, 2)).expect("serve");
    let args = [
        "-b",
        &served.bootstrap,
        "-P",
        "-t",
        "kc-p",
        "-p",
        "1",
        "-K:",
        "-H",
        "h=v",
    ];
    let mut child = Command::new("kcat")
        .args(args)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("kcat is needed for this test (apt-get install kcat): {e}"));
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(b"k1:one\nk2:two\n")
        .expect("write");
    assert!(child.wait().expect("kcat").success(), "kcat -P failed");
    let got = served.with_cluster(|c| {
        assert_eq!(c.view("kc-p", 1).unwrap().high_watermark, 2);
        let read = c.log("kc-p", 1).unwrap().read(0, 2, usize::MAX, false);
        let opts = DecodeOptions::default();
        let mut got = Vec::new();
        for b in batches(read.bytes, opts) {
            let b = b.expect("valid batch");
            for r in b.records(&opts).expect("records") {
                let r = r.expect("record");
                let h = r
                    .headers()
                    .next()
                    .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)));
                got.push((r.key.unwrap(), r.value.unwrap(), h));
            }
        }
        got
    });
    let h = Some(("h".to_string(), Some(b"v".to_vec())));
    assert_eq!(
        got,
        vec![
            (
                Bytes::from_static(b"k1"),
                Bytes::from_static(b"one"),
                h.clone()
            ),
            (Bytes::from_static(b"k2"), Bytes::from_static(b"two"), h),
        ]
    );
    let violations = served.take_violations();
    assert!(violations.is_empty(), "{violations:?}");
}

/// Consume-transform-produce with librdkafka: offsets sent to the transaction
/// (AddOffsetsToTxn, TxnOffsetCommit at the group coordinator) are committed
/// with it, and those of an aborted transaction never are.
const EOS_SCRIPT: &str = r#"
import sys
from confluent_kafka import Consumer, Producer, TopicPartition
bootstrap, topic = sys.argv[1], sys.argv[2]
c = Consumer({"bootstrap.servers": bootstrap, "group.id": "eos-group", "enable.auto.commit": False})
p = Producer({"bootstrap.servers": bootstrap, "transactional.id": "eos"})
p.init_transactions(10)
for offset, commit in ((17, False), (42, True)):
    p.begin_transaction()
    p.produce(topic, value=b"out-%d" % offset, partition=1)
    p.send_offsets_to_transaction([TopicPartition(topic, 0, offset)], c.consumer_group_metadata(), 10)
    if commit:
        p.commit_transaction(10)
    else:
        p.flush(10)  # the aborted record reaches the log first
        p.abort_transaction(10)
c.close()
"#;

#[test]
fn librdkafka_sends_offsets_to_transactions() {
    let served = Served::start(ClusterSpec::new(3).topic("eos", 2, 2)).expect("serve");
    let mut cmd = std::process::Command::new(kasio_sim::rig::python());
    cmd.args(["-c", EOS_SCRIPT, &served.bootstrap, "eos"]);
    let out = kasio_sim::rig::output_within(&mut cmd, std::time::Duration::from_secs(300));
    assert!(
        out.status.success(),
        "eos script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    served.with_cluster(|c| {
        assert_eq!(c.committed("eos-group", "eos", 0), Some(42));
        assert!(c
            .commits()
            .iter()
            .all(|r| r.offsets == [("eos".into(), 0, 42)]));
        // Partition 1: an aborted record, its marker, a committed one, its marker.
        let v = c.view("eos", 1).unwrap();
        assert_eq!((v.high_watermark, v.last_stable_offset), (4, 4));
        assert_eq!(c.log("eos", 1).unwrap().aborted_between(0, 4).len(), 1);
    });
    let violations = served.take_violations();
    assert!(violations.is_empty(), "{violations:?}");
}
