//! The kasio-tokio driver end to end against brokers nobody here wrote (the rig's
//! tansu and librdkafka's mock cluster): the scenarios e2e_assign runs with
//! kasio-std, and a group with commits. A missing rig fails these tests with
//! instructions (scripts/setup-rig.sh).

use std::time::Duration;

use kasio_core::config::Config;
use kasio_core::consumer::{BrokerError, ConsumerError, TopicPartition, UsageError};
use kasio_sim::rig::{produce, MockCluster, ProduceSpec, Tansu};
use kasio_sim::workload::Checker;
use kasio_tokio::{Consumer, Item};

/// Records that interop-matrix row `row` passed with the kasio-tokio driver (as
/// tests/tests/common's `report` does for kasio-std). Call it last in a test.
fn report(row: &str, broker: &str, records: u64) {
    let dir = kasio_sim::rig::repo_root().join("target/interop");
    std::fs::create_dir_all(&dir).expect("target/interop");
    let file = dir.join(format!("{}.json", row.replace('/', "__")));
    let body = serde_json::json!({"row": row, "broker": broker, "driver": "kasio-tokio", "records": records});
    std::fs::write(file, body.to_string()).expect("write interop result");
}

fn config(bootstrap: &str, extra: &[(&str, &str)]) -> Config {
    let mut props = vec![
        ("bootstrap.servers", bootstrap),
        ("auto.offset.reset", "earliest"),
    ];
    props.extend_from_slice(extra);
    Config::from_pairs(props).expect("config")
}

/// Consumes `topic` (all `partitions`, assigned by hand) until `expect` distinct
/// records are read (at most 120 s), then a little longer: nothing more may come.
/// `hook` runs after each batch with the count so far. Returns the errors seen.
async fn consume(
    checker: &mut Checker,
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    expect: u64,
    extra: &[(&str, &str)],
    mut hook: impl FnMut(u64),
) -> Vec<ConsumerError> {
    let consumer = Consumer::with_seed(config(bootstrap, extra), 7);
    consumer
        .assign((0..partitions).map(|p| TopicPartition::new(topic, p)))
        .unwrap();
    let mut errors = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let settle = Duration::from_millis(300);
    let mut settle_until = None;
    loop {
        let until = match settle_until {
            Some(t) => t,
            None if checker.distinct() >= expect => {
                let t = tokio::time::Instant::now() + settle;
                settle_until = Some(t);
                t
            }
            None => deadline,
        };
        let Ok(item) = tokio::time::timeout_at(until, consumer.recv()).await else {
            break;
        };
        match item.expect("recv") {
            Item::Records(records) => {
                for (tp, r) in records.iter() {
                    checker.check(tp, r);
                }
                hook(checker.distinct());
            }
            Item::Error(e) => errors.push(e),
            _ => {}
        }
    }
    consumer.close(Duration::from_secs(5)).await.expect("close");
    errors
}

async fn tansu_assign(codec: &str, partitions: u32, count: u64) {
    let topic = format!("e2e-tokio-{codec}");
    let broker = Tansu::start(&[(&topic, partitions)]);
    let mut spec = ProduceSpec::new(&topic, partitions, count);
    spec.compression = codec;
    let produced = produce(&broker.bootstrap(), &spec);
    assert_eq!(produced.committed, count);
    let mut checker = Checker::new(spec.value_size);
    let errors = consume(
        &mut checker,
        &broker.bootstrap(),
        &topic,
        partitions as i32,
        count,
        &[],
        |_| {},
    )
    .await;
    checker.assert_complete(0, count, 0);
    assert!(errors.is_empty(), "errors: {errors:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tansu_100k_records_six_partitions_uncompressed() {
    tansu_assign("none", 6, 100_000).await;
    report("tokio/assign/none", "tansu", 100_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tansu_every_codec() {
    for codec in ["gzip", "snappy", "lz4", "zstd"] {
        tansu_assign(codec, 2, 5_000).await;
    }
    report("tokio/assign/codecs", "tansu", 20_000);
}

/// librdkafka's mock cluster with three brokers; halfway through, two
/// partitions' leaders move to other brokers. Nothing may be lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_cluster_three_brokers_leader_moves_mid_run() {
    let topic = "e2e-tokio-mock";
    let mut cluster = MockCluster::start(3, &[(topic, 6, 3)]);
    let bootstrap = cluster.bootstrap();
    for p in 0..6 {
        cluster.set_leader(topic, p, p % 3 + 1);
    }
    let spec = ProduceSpec::new(topic, 6, 30_000);
    produce(&bootstrap, &spec);
    let mut moved = false;
    let mut checker = Checker::new(spec.value_size);
    let errors = consume(
        &mut checker,
        &bootstrap,
        topic,
        6,
        30_000,
        &[("max.poll.records", "200")],
        |n| {
            if !moved && n >= 10_000 {
                moved = true;
                // A short blocking call to the rig's control channel.
                cluster.set_leader(topic, 0, 2);
                cluster.set_leader(topic, 1, 3);
            }
        },
    )
    .await;
    assert!(moved, "the leader move never happened");
    checker.assert_complete(0, 30_000, 0);
    let partition_errors: Vec<&ConsumerError> = errors
        .iter()
        .filter(|e| matches!(e, ConsumerError::Broker(BrokerError::Partition { .. })))
        .collect();
    assert!(partition_errors.is_empty(), "{partition_errors:?}");
    report("tokio/fault/leader-moved", "librdkafka-mock", 30_000);
}

fn group_config(bootstrap: &str, group: &str) -> Config {
    config(
        bootstrap,
        &[
            ("group.id", group),
            ("enable.auto.commit", "false"),
            ("session.timeout.ms", "10000"),
            ("heartbeat.interval.ms", "500"),
        ],
    )
}

/// Reads until `checker` holds `count` records; returns the rebalance items seen
/// (as strings) and commits at each revoke through the guard.
async fn read_group(consumer: &Consumer, checker: &mut Checker, count: u64) -> Vec<String> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while checker.distinct() < count {
        let item = tokio::time::timeout_at(deadline, consumer.recv())
            .await
            .unwrap_or_else(|_| panic!("{} of {count} records; {seen:?}", checker.distinct()))
            .expect("recv");
        match item {
            Item::Records(records) => {
                for (tp, r) in records.iter() {
                    checker.check(tp, r);
                }
            }
            Item::Assigned(ps) => seen.push(format!("assigned {}", ps.len())),
            Item::Revoked(guard) => {
                seen.push(format!("revoked {}", guard.partitions().len()));
                guard.commit_and_ack().await.expect("commit");
            }
            Item::Lost(guard) => panic!("lost {:?}", guard.partitions()),
            Item::Error(e) => seen.push(format!("error {e}")),
            _ => {}
        }
    }
    seen
}

/// A kasio-tokio group member on tansu reads everything and commits; after it
/// closes, a second member of the group reads exactly the records produced
/// since.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tansu_group_commits_and_a_new_member_resumes() {
    let topic = "e2e-tokio-group";
    let broker = Tansu::start(&[(topic, 4)]);
    let bootstrap = broker.bootstrap();
    produce(&bootstrap, &ProduceSpec::new(topic, 4, 4_000));

    let first = Consumer::with_seed(group_config(&bootstrap, "tokio-resume"), 1);
    first.subscribe([topic]).unwrap();
    let mut checker = Checker::new(100);
    let seen = read_group(&first, &mut checker, 4_000).await;
    assert!(seen.iter().any(|s| s == "assigned 4"), "{seen:?}");
    let results = first.commit_consumed().await.expect("commit");
    assert_eq!(results.len(), 4);
    assert!(results.iter().all(|(_, r)| r.is_ok()), "{results:?}");
    let committed: i64 = first
        .committed((0..4).map(|p| TopicPartition::new(topic, p)))
        .await
        .unwrap()
        .into_iter()
        .map(|(_, r)| r.unwrap().expect("committed").offset)
        .sum();
    assert_eq!(committed, 4_000);
    first.close(Duration::from_secs(10)).await.expect("close");

    let mut spec = ProduceSpec::new(topic, 4, 1_000);
    spec.start = 4_000;
    produce(&bootstrap, &spec);
    let second = Consumer::with_seed(group_config(&bootstrap, "tokio-resume"), 2);
    second.subscribe([topic]).unwrap();
    let mut checker = Checker::new(100);
    read_group(&second, &mut checker, 1_000).await;
    assert_eq!(checker.seqs(), (4_000..5_000).collect::<Vec<u64>>());
    second.close(Duration::from_secs(10)).await.expect("close");
    report("tokio/group/commit-resume", "tansu", 5_000);
}

/// Two kasio-tokio members on tansu: when the second joins, the first commits
/// what it read from its `Revoked` guard before acknowledging, so the second
/// starts at those commits; new records are then read exactly once between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tansu_revoke_guard_commits_before_the_partitions_move() {
    let topic = "e2e-tokio-revoke";
    let broker = Tansu::start(&[(topic, 4)]);
    let bootstrap = broker.bootstrap();
    produce(&bootstrap, &ProduceSpec::new(topic, 4, 2_000));
    let first = std::sync::Arc::new(Consumer::with_seed(
        group_config(&bootstrap, "tokio-revoke"),
        3,
    ));
    first.subscribe([topic]).unwrap();
    let mut checker = Checker::new(100);
    read_group(&first, &mut checker, 2_000).await;

    // Both members read from here on; every record once between them.
    let second = std::sync::Arc::new(Consumer::with_seed(
        group_config(&bootstrap, "tokio-revoke"),
        4,
    ));
    second.subscribe([topic]).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut readers = Vec::new();
    for (name, member) in [("first", &first), ("second", &second)] {
        let (member, tx) = (std::sync::Arc::clone(member), tx.clone());
        readers.push(tokio::spawn(async move {
            let mut rebalances = Vec::new();
            loop {
                match member.recv().await {
                    Ok(Item::Records(records)) => {
                        for (tp, r) in records.iter() {
                            let _ = tx.send((tp.clone(), r.clone()));
                        }
                    }
                    Ok(Item::Assigned(ps)) => {
                        rebalances.push(format!("{name}: assigned {}", ps.len()))
                    }
                    Ok(Item::Revoked(guard)) => {
                        rebalances.push(format!("{name}: revoked {}", guard.partitions().len()));
                        match guard.commit_and_ack().await {
                            Ok(results) => {
                                assert!(results.iter().all(|(_, r)| r.is_ok()), "{results:?}")
                            }
                            // The revoke of `close` itself: commits are refused by then.
                            Err(kasio_tokio::Error::Usage(UsageError::Closed)) => {}
                            Err(e) => panic!("{name}: commit: {e}"),
                        }
                    }
                    Ok(Item::Lost(guard)) => panic!("{name} lost {:?}", guard.partitions()),
                    Ok(_) => {}
                    Err(kasio_tokio::Error::Closed) => return rebalances,
                    Err(e) => panic!("{name}: {e}"),
                }
            }
        }));
    }
    // Once the second member owns partitions, produce more.
    let joined = second
        .wait_for(Duration::from_secs(60), |c| !c.assignment().is_empty())
        .await;
    assert!(joined, "the second member got no partitions");
    let mut spec = ProduceSpec::new(topic, 4, 1_000);
    spec.start = 2_000;
    produce(&bootstrap, &spec);
    let mut checker = Checker::new(100);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while checker.distinct() < 1_000 {
        let (tp, r) = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("{} of 1000 new records", checker.distinct()))
            .expect("readers alive");
        checker.check(&tp, &r);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    while let Ok((tp, r)) = rx.try_recv() {
        checker.check(&tp, &r);
    }
    // Nothing of the first 2000 again: the revoke's commit covered them.
    assert_eq!(checker.seqs(), (2_000..3_000).collect::<Vec<u64>>());
    assert!(first.metrics().partitions_revoked > 0);
    assert!(!second.assignment().is_empty() && !first.assignment().is_empty());
    first.close(Duration::from_secs(10)).await.expect("close");
    second.close(Duration::from_secs(10)).await.expect("close");
    for reader in readers {
        println!("{:?}", reader.await.unwrap());
    }
    report("tokio/group/revoke-commit", "tansu", 3_000);
}
