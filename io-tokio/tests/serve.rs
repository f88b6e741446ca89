//! kasio-tokio against kasio-sim's simulated cluster served over TCP: manual
//! assignment, groups with commits, rebalance guards, heartbeats while the
//! application is busy, the poll interval, drop and close.

mod common;

use std::time::Duration;

use common::{config, read_until, records_within, served, VALUE_SIZE};
use kasio_core::consumer::{Event, TopicPartition};
use kasio_core::group::OffsetAndMetadata;
use kasio_sim::workload::Checker;
use kasio_tokio::{Consumer, Error, Item};

fn partitions(topic: &str, n: i32) -> Vec<TopicPartition> {
    (0..n).map(|p| TopicPartition::new(topic, p)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assign_reads_every_record_exactly_once() {
    let served = served("assign", 3, 3_000);
    let consumer = Consumer::with_seed(config(&served.bootstrap, &[]), 1);
    let found = consumer
        .partitions_for("assign", Duration::from_secs(10))
        .await
        .expect("metadata");
    assert_eq!(found, vec![0, 1, 2]);
    consumer.assign(partitions("assign", 3)).unwrap();
    let mut checker = Checker::new(VALUE_SIZE);
    let others = read_until(&consumer, &mut checker, 3_000, Duration::from_secs(30)).await;
    assert_eq!(
        records_within(&consumer, Duration::from_millis(300)).await,
        0
    );
    checker.assert_complete(0, 3_000, 0);
    assert!(
        others
            .iter()
            .all(|i| matches!(i, Item::Event(Event::OffsetReset { .. }) | Item::Eof { .. })),
        "{others:?}"
    );
    let m = consumer.metrics();
    assert_eq!(m.records, 3_000);
    let want_bytes: usize = (0..3_000)
        .map(|i| {
            let e = kasio_sim::workload::expected(i, VALUE_SIZE);
            e.key.map_or(0, |k| k.len()) + e.value.map_or(0, |v| v.len())
        })
        .sum();
    assert_eq!(m.record_bytes, want_bytes as u64);
    // Compressed on the wire (every codec in turn), so no more than that read.
    assert!(m.bytes_received > 0 && m.bytes_sent > 0, "{m:?}");
    assert_eq!(m.partitions.len(), 3);
    for p in &m.partitions {
        assert_eq!(
            (p.position, p.high_watermark, p.lag),
            (Some(1_000), 1_000, Some(0))
        );
    }
    assert_eq!(m.records_lag_max, Some(0));
    consumer.close(Duration::from_secs(5)).await.expect("close");
    assert_eq!(consumer.recv().await.unwrap_err(), Error::Closed);
    assert_eq!(consumer.metrics().open_connections, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_eof_follows_the_last_records() {
    let served = served("eof", 2, 200);
    let consumer = Consumer::with_seed(
        config(&served.bootstrap, &[("enable.partition.eof", "true")]),
        2,
    );
    consumer.assign(partitions("eof", 2)).unwrap();
    let mut read = [0i64; 2];
    let mut eofs = Vec::new();
    while eofs.len() < 2 {
        let item = tokio::time::timeout(Duration::from_secs(20), consumer.recv())
            .await
            .expect("items within 20 s")
            .unwrap();
        match item {
            Item::Records(records) => {
                for (tp, r) in records.iter() {
                    assert!(!eofs.contains(&tp.partition), "a record after EOF");
                    assert_eq!(r.offset, read[tp.partition as usize]);
                    read[tp.partition as usize] += 1;
                }
            }
            Item::Eof { tp, offset } => {
                assert_eq!(offset, 100);
                assert_eq!(
                    read[tp.partition as usize], 100,
                    "EOF before the last record"
                );
                eofs.push(tp.partition);
            }
            _ => {}
        }
    }
    // End offsets through the query API (ListOffsets' "latest" timestamp, -1).
    let ends = consumer
        .offsets_for_times(partitions("eof", 2).into_iter().map(|tp| (tp, -1)))
        .await
        .unwrap();
    for (tp, r) in ends {
        assert_eq!(r.expect("answer").map(|o| o.offset), Some(100), "{tp}");
    }
}

fn group_config(bootstrap: &str, group: &str) -> kasio_core::config::Config {
    config(
        bootstrap,
        &[
            ("group.id", group),
            ("enable.auto.commit", "false"),
            ("session.timeout.ms", "6000"),
            ("heartbeat.interval.ms", "300"),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commits_close_and_a_second_consumer_resumes() {
    let served = served("grp", 3, 300);
    let first = Consumer::with_seed(group_config(&served.bootstrap, "g-resume"), 3);
    first.subscribe(["grp"]).unwrap();
    let mut checker = Checker::new(VALUE_SIZE);
    let others = read_until(&first, &mut checker, 300, Duration::from_secs(30)).await;
    let assigned: Vec<&Vec<TopicPartition>> = others
        .iter()
        .filter_map(|i| match i {
            Item::Assigned(ps) => Some(ps),
            _ => None,
        })
        .collect();
    assert_eq!(assigned, vec![&partitions("grp", 3)], "{others:?}");
    checker.assert_complete(0, 300, 0);

    let results = first.commit_consumed().await.expect("commit");
    assert_eq!(results.len(), 3);
    for (tp, r) in &results {
        assert_eq!(r.as_ref().map(|o| o.offset), Ok(100), "{tp}");
    }
    let committed = first.committed(partitions("grp", 3)).await.unwrap();
    for (tp, r) in committed {
        assert_eq!(r.unwrap().map(|o| o.offset), Some(100), "{tp}");
    }
    // The group as its coordinator describes it, to a member and to an
    // onlooker with the same group.id that never subscribed.
    let onlooker = Consumer::with_seed(group_config(&served.bootstrap, "g-resume"), 30);
    for (who, c) in [("member", &first), ("onlooker", &onlooker)] {
        let group = c.describe_group().await.unwrap().expect("described");
        assert_eq!(group.group_id, "g-resume", "{who}");
        assert_eq!(group.state, "Stable", "{who}");
        assert_eq!(group.members.len(), 1, "{who}: {group:?}");
        let mut assigned = group.members[0].assignment.clone();
        assigned.sort();
        assert_eq!(assigned, partitions("grp", 3), "{who}");
        assert_eq!(
            group.members[0].topics.as_deref(),
            Some(&["grp".to_string()][..])
        );
    }
    drop(onlooker);
    // A commit whose future is dropped still happens; its answer becomes an
    // item, whether it arrives after the drop or arrived before it.
    let tp0 = || TopicPartition::new("grp", 0);
    drop(first.commit([(tp0(), OffsetAndMetadata::new(100))]));
    let answered_late = first.commit([(tp0(), OffsetAndMetadata::new(100))]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(answered_late);
    let mut answers = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while answers.len() < 2 {
            match first.recv().await.unwrap() {
                Item::Event(Event::Committed { id, results, .. }) => answers.push((id, results)),
                other => panic!("{other:?}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the dropped commits' answers: {answers:?}"));
    assert!(answers[0].0 < answers[1].0, "{answers:?}");
    assert!(
        answers
            .iter()
            .all(|(_, r)| r.iter().all(|(_, r)| r.is_ok())),
        "{answers:?}"
    );
    let m = first.metrics();
    assert_eq!(
        (m.rebalances, m.commits, m.commit_failures),
        (1, 3, 0),
        "{m:?}"
    );
    assert!(m.commit_latency_avg.is_some());
    first.close(Duration::from_secs(10)).await.expect("close");

    served.with_cluster(|c| common::produce(c, "grp", 3, 300, 150));
    let second = Consumer::with_seed(group_config(&served.bootstrap, "g-resume"), 4);
    second.subscribe(["grp"]).unwrap();
    let mut checker = Checker::new(VALUE_SIZE);
    read_until(&second, &mut checker, 150, Duration::from_secs(30)).await;
    assert_eq!(records_within(&second, Duration::from_millis(300)).await, 0);
    // Exactly the records after the commits.
    assert_eq!(checker.seqs(), (300..450).collect::<Vec<u64>>());
    second.close(Duration::from_secs(10)).await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_guard_commits_then_acknowledges() {
    let served = served("rev", 4, 400);
    let first = Consumer::with_seed(group_config(&served.bootstrap, "g-revoke"), 5);
    first.subscribe(["rev"]).unwrap();
    let mut checker = Checker::new(VALUE_SIZE);
    read_until(&first, &mut checker, 400, Duration::from_secs(30)).await;
    checker.assert_complete(0, 400, 0);

    // A second member joins: the first is asked to give its partitions up
    // (eager protocol: all of them) and commits them from the guard.
    let second = std::sync::Arc::new(Consumer::with_seed(
        group_config(&served.bootstrap, "g-revoke"),
        6,
    ));
    second.subscribe(["rev"]).unwrap();
    let reader = {
        let second = std::sync::Arc::clone(&second);
        tokio::spawn(async move {
            let mut seqs = Vec::new();
            let mut assigned = Vec::new();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            while seqs.len() < 40 || assigned.is_empty() {
                match tokio::time::timeout_at(deadline, second.recv()).await {
                    Ok(Ok(Item::Records(records))) => {
                        seqs.extend(records.iter().map(|(tp, r)| (tp.clone(), r.offset)))
                    }
                    Ok(Ok(Item::Assigned(ps))) => assigned.extend(ps),
                    Ok(Ok(_)) => {}
                    other => panic!("second member: {other:?} with {seqs:?}"),
                }
            }
            (assigned, seqs)
        })
    };
    let mut revoked = None;
    let mut kept = None;
    while kept.is_none() {
        let item = tokio::time::timeout(Duration::from_secs(30), first.recv())
            .await
            .expect("a rebalance within 30 s")
            .unwrap();
        match item {
            Item::Revoked(guard) => {
                let partitions = guard.partitions().to_vec();
                let results = guard.commit_and_ack().await.expect("commit");
                for (tp, r) in &results {
                    assert_eq!(r.as_ref().map(|o| o.offset), Ok(100), "{tp}");
                }
                revoked = Some(partitions);
            }
            Item::Assigned(ps) => {
                assert!(revoked.is_some(), "assigned before the revoke");
                kept = Some(ps);
            }
            Item::Records(r) => panic!("records after reading everything: {r:?}"),
            _ => {}
        }
    }
    assert_eq!(revoked.unwrap(), partitions("rev", 4));
    let kept = kept.unwrap();
    assert_eq!(kept.len(), 2, "{kept:?}");
    // New records: each member reads those of its partitions, and the second
    // starts from what the first committed in its guard.
    served.with_cluster(|c| common::produce(c, "rev", 4, 400, 80));
    let mut checker = Checker::new(VALUE_SIZE);
    read_until(&first, &mut checker, 40, Duration::from_secs(30)).await;
    let (assigned, seqs) = reader.await.unwrap();
    assert_eq!(assigned.len(), 2);
    assert!(assigned.iter().all(|tp| !kept.contains(tp)));
    assert_eq!(seqs.len(), 40, "{seqs:?}");
    assert!(seqs.iter().all(|(_, offset)| *offset >= 100), "{seqs:?}");
    assert_eq!(first.metrics().partitions_revoked, 4);
    first.close(Duration::from_secs(10)).await.unwrap();
    second.close(Duration::from_secs(10)).await.unwrap();
}

/// Auto-commits count in the commit metrics as the application's commits do
/// (their latency starts at the core's timer, not at a call).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_commits_are_counted_with_their_latency() {
    let served = served("autoc", 2, 20);
    let consumer = Consumer::with_seed(
        config(
            &served.bootstrap,
            &[
                ("group.id", "g-autoc"),
                ("enable.auto.commit", "true"),
                ("auto.commit.interval.ms", "100"),
            ],
        ),
        7,
    );
    consumer.subscribe(["autoc"]).unwrap();
    let mut checker = Checker::new(VALUE_SIZE);
    read_until(&consumer, &mut checker, 20, Duration::from_secs(30)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while consumer.metrics().commits == 0 && tokio::time::Instant::now() < deadline {
        let _ = tokio::time::timeout(Duration::from_millis(100), consumer.recv()).await;
    }
    let m = consumer.metrics();
    assert!(m.commits >= 1, "{m:?}");
    assert!(
        m.commit_latency_avg.is_some() && m.commit_latency_max.is_some(),
        "{m:?}"
    );
    consumer.close(Duration::from_secs(5)).await.expect("close");
}

/// Heartbeats run in the background: a member whose application does not poll
/// for longer than its session stays in the group (same generation, no `Lost`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_go_on_while_the_application_is_busy() {
    let served = served("busy", 2, 20);
    let consumer = Consumer::with_seed(group_config(&served.bootstrap, "g-busy"), 7);
    consumer.subscribe(["busy"]).unwrap();
    let mut checker = Checker::new(VALUE_SIZE);
    read_until(&consumer, &mut checker, 20, Duration::from_secs(30)).await;
    let generation = consumer.with_core(|c| c.group_metadata().unwrap().generation_id);
    assert!(generation > 0);
    // Busy elsewhere, well past the 6 s session, without touching the consumer.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let mut items = Vec::new();
    while let Some(item) = consumer.try_recv() {
        items.push(item.unwrap());
    }
    assert!(
        !items
            .iter()
            .any(|i| matches!(i, Item::Lost(_) | Item::Revoked(_))),
        "{items:?}"
    );
    assert_eq!(
        consumer.with_core(|c| c.group_metadata().unwrap().generation_id),
        generation
    );
}

/// `max.poll.interval.ms` counts the application's polls: the driver never polls
/// for it, so an application that stops calling `recv` leaves the group, and
/// joins again when it comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_that_stops_polling_leaves_the_group() {
    let served = served("slow", 2, 20);
    let mut cfg = group_config(&served.bootstrap, "g-slow");
    cfg.set("max.poll.interval.ms", "1500").unwrap();
    let consumer = Consumer::with_seed(cfg, 8);
    consumer.subscribe(["slow"]).unwrap();
    let mut checker = Checker::new(VALUE_SIZE);
    read_until(&consumer, &mut checker, 20, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let item = tokio::time::timeout_at(deadline, consumer.recv())
            .await
            .unwrap_or_else(|_| panic!("no rejoin: {seen:?}"))
            .unwrap();
        match item {
            Item::Revoked(_) => seen.push("revoked"),
            Item::Lost(_) => seen.push("lost"),
            Item::Assigned(ps) => {
                seen.push("assigned");
                assert_eq!(ps.len(), 2);
                break;
            }
            _ => {}
        }
    }
    assert!(
        seen.first() == Some(&"revoked") || seen.first() == Some(&"lost"),
        "{seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_errors_come_back_at_once() {
    let served = served("usage", 1, 0);
    let consumer = Consumer::with_seed(config(&served.bootstrap, &[]), 9);
    // No group.id: no subscription, no commits.
    assert!(matches!(
        consumer.subscribe(["usage"]),
        Err(Error::Usage(_))
    ));
    assert!(matches!(
        consumer.commit_consumed().await,
        Err(Error::Usage(_))
    ));
    assert!(matches!(
        consumer.seek(&TopicPartition::new("usage", 0), 5),
        Err(Error::Usage(_))
    ));
    consumer.close(Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        consumer.assign(partitions("usage", 1)).unwrap_err(),
        Error::Usage(kasio_core::consumer::UsageError::Closed)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_connection_says_what_was_tried_and_why() {
    // Port 1 on loopback: nothing listens there.
    let consumer = Consumer::with_seed(config("127.0.0.1:1", &[]), 31);
    let _ = consumer.partitions_for("t", Duration::from_millis(1)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let error = loop {
        let m = consumer.metrics();
        if let Some(e) = m.last_connect_error.clone() {
            assert!(m.connect_failures > 0 && m.connections == 0, "{m:?}");
            break e;
        }
        assert!(tokio::time::Instant::now() < deadline, "no connect failure");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(error, "127.0.0.1:1 (connection refused)");
}

/// TLS settings that cannot be used (a keystore where PEM is needed) fail at
/// once, and no connection is opened (in clear, a SASL password would go
/// unencrypted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_tls_settings_fail_at_once_without_connecting() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let consumer = Consumer::with_seed(
        config(
            &addr,
            &[
                ("security.protocol", "SSL"),
                ("ssl.keystore.location", "/etc/kafka/client.p12"),
                ("group.id", "g-tls"),
            ],
        ),
        1,
    );
    consumer.subscribe(["t"]).unwrap();
    match tokio::time::timeout(Duration::from_secs(5), consumer.recv()).await {
        Ok(Err(Error::Fatal(e))) => match *e {
            kasio_core::consumer::ConsumerError::Local(kasio_core::consumer::LocalError::Tls(
                ref tls,
            )) => assert!(tls.message.contains("convert it to PEM"), "{tls}"),
            ref other => panic!("{other}"),
        },
        other => panic!("{other:?}"),
    }
    let accepted = tokio::time::timeout(Duration::from_millis(300), listener.accept()).await;
    assert!(accepted.is_err(), "a connection was opened");
}

/// OAUTHBEARER: the application's token is taken (the exchange that asks for
/// it is kasio-core's, tested there: core/tests/consumer_sasl.rs); elsewhere a
/// token is refused with a typed error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oauthbearer_token_is_taken_where_oauthbearer_is_configured() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let oauth = Consumer::with_seed(
        config(
            &addr,
            &[
                ("security.protocol", "SASL_PLAINTEXT"),
                ("sasl.mechanism", "OAUTHBEARER"),
            ],
        ),
        1,
    );
    let token =
        |v: &str| kasio_core::sasl::OAuthBearerToken::new(v, Duration::from_secs(3600).into());
    oauth
        .set_oauthbearer_token(token("header.payload.sig"))
        .expect("taken");
    let plain = Consumer::with_seed(config(&addr, &[]), 1);
    assert!(matches!(
        plain.set_oauthbearer_token(token("t")),
        Err(Error::Usage(
            kasio_core::consumer::UsageError::NotOAuthBearer
        ))
    ));
}
