//! The kasio-tokio driver in consumer groups on tansu, through its own API
//! (rebalance items with guards, commit futures): commits a new member resumes
//! at, and a revoked member committing from its guard before the partitions move.
//! The interop matrix's other rows run on kasio-tokio elsewhere: the manual
//! assignment and fault rows in e2e_assign.rs, e2e_faults.rs, sim_serve.rs and
//! sim_produce.rs (each for both drivers), the groups with Java and librdkafka
//! members in kasio-interop's suites (the `kasio_tokio_group_peer` binary). A
//! missing rig fails these tests with instructions (scripts/setup-rig.sh).

use std::time::Duration;

use kasio_core::config::Config;
use kasio_core::consumer::{TopicPartition, UsageError};
use kasio_sim::rig::{produce, ProduceSpec, Tansu};
use kasio_sim::workload::Checker;
use kasio_tokio::{Consumer, Item};

/// Records that interop-matrix row `row` passed with the kasio-tokio driver.
/// Call it last in a test.
fn report(row: &str, broker: &str, records: u64) {
    kasio_sim::rig::report(row, broker, &["kasio-tokio"], records);
}

fn config(bootstrap: &str, extra: &[(&str, &str)]) -> Config {
    let mut props = vec![
        ("bootstrap.servers", bootstrap),
        ("auto.offset.reset", "earliest"),
    ];
    props.extend_from_slice(extra);
    Config::from_pairs(props).expect("config")
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
