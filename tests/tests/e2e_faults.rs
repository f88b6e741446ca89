//! Faults injected into librdkafka's mock cluster while kasio consumes (manual
//! assignment): for each, every produced record is read exactly once, in order per
//! partition. Without group commits there is nothing to resume from, so a correct
//! consumer has no excuse for duplicates here. Every fault runs on both drivers,
//! kasio-std and kasio-tokio (`*_std` and `*_tokio` tests; the latter's interop
//! rows are `tokio/<row>`), with the same checks.

mod common;

use common::{consume, report, Driver};
use kasio_core::consumer::{BrokerError, ConsumerError, Event};
use kasio_sim::rig::{produce, MockCluster, ProduceSpec};
use serde_json::json;

const TOPIC: &str = "faults";
const RECORDS: u64 = 20_000;

/// A 3-broker cluster with a 6-partition topic (replication 3), leaders spread, the
/// workload produced.
fn cluster() -> (MockCluster, String) {
    let mut cluster = MockCluster::start(3, &[(TOPIC, 6, 3)]);
    for p in 0..6 {
        cluster.set_leader(TOPIC, p, p % 3 + 1);
    }
    let bootstrap = cluster.bootstrap();
    produce(&bootstrap, &ProduceSpec::new(TOPIC, 6, RECORDS));
    (cluster, bootstrap)
}

/// Consumes everything, running `fault` once a third of the records are in.
fn consume_with_fault(
    driver: Driver,
    bootstrap: &str,
    extra: &[(&str, &str)],
    mut fault: impl FnMut(),
) -> Vec<Event> {
    let mut fired = false;
    let (checker, events) = consume(driver, bootstrap, TOPIC, 6, RECORDS, 100, extra, |n| {
        if !fired && n >= RECORDS / 3 {
            fired = true;
            fault();
        }
    });
    assert!(fired, "the fault never fired");
    checker.assert_complete(0, RECORDS, 0);
    events
}

fn partition_errors(events: &[Event]) -> Vec<&Event> {
    events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Error(ConsumerError::Broker(BrokerError::Partition { .. }))
            )
        })
        .collect()
}

fn broker_down_then_up(driver: Driver) {
    let (mut cluster, bootstrap) = cluster();
    let events = consume_with_fault(driver, &bootstrap, &[("max.poll.records", "100")], || {
        cluster.command(json!({"cmd": "broker_set_down", "broker": 2}));
        std::thread::sleep(std::time::Duration::from_millis(500));
        cluster.command(json!({"cmd": "broker_set_up", "broker": 2}));
    });
    assert!(partition_errors(&events).is_empty(), "{events:?}");
    report(driver, "fault/broker-down-up", "librdkafka-mock", RECORDS);
}

fn injected_fetch_errors(driver: Driver) {
    let (mut cluster, bootstrap) = cluster();
    let events = consume_with_fault(driver, &bootstrap, &[("max.poll.records", "100")], || {
        cluster.command(json!({
            "cmd": "push_request_errors",
            "api": "Fetch",
            "errors": ["NOT_LEADER_OR_FOLLOWER", "UNKNOWN_TOPIC_OR_PARTITION", "LEADER_NOT_AVAILABLE", "_TRANSPORT"],
        }));
    });
    assert!(partition_errors(&events).is_empty(), "{events:?}");
    report(driver, "fault/fetch-errors", "librdkafka-mock", RECORDS);
}

fn slow_broker_500ms_rtt(driver: Driver) {
    let (mut cluster, bootstrap) = cluster();
    let events = consume_with_fault(driver, &bootstrap, &[], || {
        cluster.command(json!({"cmd": "broker_set_rtt", "broker": -1, "rtt_ms": 500}));
    });
    assert!(partition_errors(&events).is_empty(), "{events:?}");
    report(driver, "fault/rtt-500ms", "librdkafka-mock", RECORDS);
}

/// A broker that does not offer OffsetForLeaderEpoch (as tansu): after a leader move
/// kasio skips the epoch validation, as the Java client does, and carries on.
fn leader_moves_on_a_cluster_without_offset_for_leader_epoch(driver: Driver) {
    let (mut cluster, bootstrap) = cluster();
    cluster.command(
        json!({"cmd": "set_apiversion", "api": "OffsetForLeaderEpoch", "min": -1, "max": -1}),
    );
    let events = consume_with_fault(driver, &bootstrap, &[], || {
        for p in 0..6 {
            cluster.set_leader(TOPIC, p, (p + 1) % 3 + 1);
        }
    });
    assert!(partition_errors(&events).is_empty(), "{events:?}");
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::LogTruncation { .. })),
        "{events:?}"
    );
    report(
        driver,
        "fault/no-offset-for-leader-epoch",
        "librdkafka-mock",
        RECORDS,
    );
}

/// KIP-392: with `client.rack` set, the mock's leader sends kasio to a follower
/// (`preferred_read_replica`); consumption goes on there and nothing is lost.
fn follower_fetching(driver: Driver) {
    let (mut cluster, bootstrap) = cluster();
    for b in 1..=3 {
        cluster.command(json!({"cmd": "broker_set_rack", "broker": b, "rack": format!("r{b}")}));
    }
    // Each partition's follower is a broker other than its leader (the mock would
    // otherwise name the leader itself as the preferred replica and return no data,
    // which real Kafka never does).
    let events = consume_with_fault(driver, &bootstrap, &[("client.rack", "r3")], || {
        for p in 0..6 {
            let follower = (p + 1) % 3 + 1;
            cluster.command(json!({"cmd": "partition_set_follower", "topic": TOPIC, "partition": p, "broker": follower}));
        }
    });
    assert!(partition_errors(&events).is_empty(), "{events:?}");
    report(
        driver,
        "fault/follower-fetching",
        "librdkafka-mock",
        RECORDS,
    );
}

#[test]
fn broker_down_then_up_std() {
    broker_down_then_up(Driver::Std);
}

#[test]
fn broker_down_then_up_tokio() {
    broker_down_then_up(Driver::Tokio);
}

#[test]
fn injected_fetch_errors_std() {
    injected_fetch_errors(Driver::Std);
}

#[test]
fn injected_fetch_errors_tokio() {
    injected_fetch_errors(Driver::Tokio);
}

#[test]
fn slow_broker_500ms_rtt_std() {
    slow_broker_500ms_rtt(Driver::Std);
}

#[test]
fn slow_broker_500ms_rtt_tokio() {
    slow_broker_500ms_rtt(Driver::Tokio);
}

#[test]
fn leader_moves_on_a_cluster_without_offset_for_leader_epoch_std() {
    leader_moves_on_a_cluster_without_offset_for_leader_epoch(Driver::Std);
}

#[test]
fn leader_moves_on_a_cluster_without_offset_for_leader_epoch_tokio() {
    leader_moves_on_a_cluster_without_offset_for_leader_epoch(Driver::Tokio);
}

#[test]
fn follower_fetching_std() {
    follower_fetching(Driver::Std);
}

#[test]
fn follower_fetching_tokio() {
    follower_fetching(Driver::Tokio);
}
