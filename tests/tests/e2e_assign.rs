//! End to end, against brokers nobody here wrote: librdkafka produces, kasio
//! (manual assignment) consumes, and every record is checked. Every scenario runs
//! on both drivers, kasio-std and kasio-tokio (`*_std` and `*_tokio` tests, the
//! latter's interop rows `tokio/<row>`), with the same records and checks.
//! The brokers come from the project's rig (scripts/setup-rig.sh); a missing rig
//! fails these tests with instructions.

mod common;

use common::{consume, report, Driver};
use kasio_core::consumer::{BrokerError, Event};
use kasio_sim::rig::{produce, reference_consume, MockCluster, ProduceSpec, Tansu};
use kasio_sim::workload::is_aborted;

fn tansu_six_partitions(driver: Driver, codec: &str) {
    let topic = format!("e2e-{codec}");
    let broker = Tansu::start(&[(&topic, 6)]);
    let mut spec = ProduceSpec::new(&topic, 6, 100_000);
    spec.compression = codec;
    let produced = produce(&broker.bootstrap(), &spec);
    assert_eq!(produced.committed, 100_000);
    let (checker, events) = consume(
        driver,
        &broker.bootstrap(),
        &topic,
        6,
        100_000,
        spec.value_size,
        &[],
        |_| {},
    );
    checker.assert_complete(0, 100_000, 0);
    let errors: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e, Event::Error(_)))
        .collect();
    assert!(errors.is_empty(), "errors: {errors:?}");
    report(driver, &format!("assign/{codec}"), "tansu", 100_000);
}

#[test]
fn tansu_100k_records_six_partitions_uncompressed_std() {
    tansu_six_partitions(Driver::Std, "none");
}

#[test]
fn tansu_100k_records_six_partitions_uncompressed_tokio() {
    tansu_six_partitions(Driver::Tokio, "none");
}

#[test]
fn tansu_100k_records_six_partitions_lz4_std() {
    tansu_six_partitions(Driver::Std, "lz4");
}

#[test]
fn tansu_100k_records_six_partitions_lz4_tokio() {
    tansu_six_partitions(Driver::Tokio, "lz4");
}

#[test]
fn tansu_100k_records_six_partitions_zstd_std() {
    tansu_six_partitions(Driver::Std, "zstd");
}

#[test]
fn tansu_100k_records_six_partitions_zstd_tokio() {
    tansu_six_partitions(Driver::Tokio, "zstd");
}

#[test]
fn tansu_gzip_and_snappy_std() {
    tansu_gzip_and_snappy(Driver::Std);
}

#[test]
fn tansu_gzip_and_snappy_tokio() {
    tansu_gzip_and_snappy(Driver::Tokio);
}

fn tansu_gzip_and_snappy(driver: Driver) {
    for codec in ["gzip", "snappy"] {
        let topic = format!("e2e-small-{codec}");
        let broker = Tansu::start(&[(&topic, 2)]);
        let mut spec = ProduceSpec::new(&topic, 2, 5_000);
        spec.compression = codec;
        produce(&broker.bootstrap(), &spec);
        let (checker, events) = consume(
            driver,
            &broker.bootstrap(),
            &topic,
            2,
            5_000,
            spec.value_size,
            &[],
            |_| {},
        );
        checker.assert_complete(0, 5_000, 0);
        assert!(
            !events.iter().any(|e| matches!(e, Event::Error(_))),
            "{codec}: {events:?}"
        );
        report(driver, &format!("assign/{codec}"), "tansu", 5_000);
    }
}

#[test]
fn mock_cluster_three_brokers_leader_moves_mid_run_std() {
    mock_cluster_three_brokers_leader_moves_mid_run(Driver::Std);
}

#[test]
fn mock_cluster_three_brokers_leader_moves_mid_run_tokio() {
    mock_cluster_three_brokers_leader_moves_mid_run(Driver::Tokio);
}

/// librdkafka's mock cluster with three brokers and leaders spread over them; halfway
/// through, two partitions' leaders move to other brokers. Nothing may be lost.
fn mock_cluster_three_brokers_leader_moves_mid_run(driver: Driver) {
    let topic = "e2e-mock";
    let mut cluster = MockCluster::start(3, &[(topic, 6, 3)]);
    let bootstrap = cluster.bootstrap();
    // Spread leaders explicitly: partition p led by broker p % 3 + 1.
    for p in 0..6 {
        cluster.set_leader(topic, p, p % 3 + 1);
    }
    let spec = ProduceSpec::new(topic, 6, 30_000);
    produce(&bootstrap, &spec);
    let mut moved = false;
    let (checker, events) = consume(
        driver,
        &bootstrap,
        topic,
        6,
        30_000,
        spec.value_size,
        &[("max.poll.records", "200")],
        |n| {
            if !moved && n >= 10_000 {
                moved = true;
                cluster.set_leader(topic, 0, 2);
                cluster.set_leader(topic, 1, 3);
            }
        },
    );
    assert!(moved, "the leader move never happened");
    checker.assert_complete(0, 30_000, 0);
    let errors: Vec<&Event> = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Error(kasio_core::consumer::ConsumerError::Broker(
                    BrokerError::Partition { .. }
                ))
            )
        })
        .collect();
    assert!(errors.is_empty(), "partition errors: {errors:?}");
    report(driver, "fault/leader-moved", "librdkafka-mock", 30_000);
}

/// read_committed over committed and aborted transactions.
///
/// Neither third-party broker here returns the aborted-transaction list in Fetch
/// (librdkafka's own read_committed consumer reads the aborted records from both),
/// so "exactly the committed records" cannot be shown against them; the filter
/// itself is pinned by the scripted core tests. What is checked here: every
/// committed record arrives, no control record leaks, and kasio reads exactly what
/// the reference consumer reads from the same broker at the same isolation level.
fn mock_cluster_transactions_match_the_reference_consumer(driver: Driver) {
    let topic = "e2e-txn";
    let cluster = MockCluster::start(1, &[(topic, 2, 1)]);
    let bootstrap = cluster.bootstrap();
    let mut spec = ProduceSpec::new(topic, 2, 3_000);
    spec.txn_size = 100;
    let produced = produce(&bootstrap, &spec);
    assert_eq!((produced.committed, produced.aborted), (2_000, 1_000));
    // The mock writes its transaction markers with a zero CRC (librdkafka does not
    // check CRCs by default); kasio checks by default and rightly reports them as
    // corrupt, so CRC checks are off for this broker.
    for isolation in ["read_committed", "read_uncommitted"] {
        let reference = reference_consume(
            &bootstrap,
            topic,
            2,
            &[&format!("isolation.level={isolation}")],
        );
        let props = [("isolation.level", isolation), ("check.crcs", "false")];
        let (checker, events) = consume(
            driver,
            &bootstrap,
            topic,
            2,
            reference.len() as u64,
            spec.value_size,
            &props,
            |_| {},
        );
        assert_eq!(
            checker.seqs(),
            reference,
            "{isolation}: kasio and librdkafka read different records"
        );
        let committed: Vec<u64> = (0..3_000).filter(|&i| !is_aborted(i, 100)).collect();
        assert!(
            committed
                .iter()
                .all(|i| checker.seqs().binary_search(i).is_ok()),
            "{isolation}: committed record missing"
        );
        assert_eq!(checker.duplicates(), 0);
        assert!(
            !events.iter().any(|e| matches!(e, Event::Error(_))),
            "{isolation}: {events:?}"
        );
        report(
            driver,
            &format!("txn/{isolation}"),
            "librdkafka-mock",
            reference.len() as u64,
        );
    }
}

#[test]
fn mock_cluster_transactions_match_the_reference_consumer_std() {
    mock_cluster_transactions_match_the_reference_consumer(Driver::Std);
}

#[test]
fn mock_cluster_transactions_match_the_reference_consumer_tokio() {
    mock_cluster_transactions_match_the_reference_consumer(Driver::Tokio);
}
