//! Fetch errors, leader epochs (KIP-320) and follower fetching (KIP-392).

mod support;

use kasio_core::codec::Uuid;
use kasio_core::consumer::{
    BrokerError, ConsumerError, Event, LocalError, ResetReason, TopicPartition,
};
use kasio_core::protocol::messages::fetch_response::{
    EpochEndOffset as DivergingEpoch, FetchableTopicResponse, LeaderIdAndEpoch, NodeEndpoint,
};
use kasio_core::protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kasio_core::protocol::messages::{
    FetchRequest, ListOffsetsRequest, OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse,
};
use kasio_core::protocol::{ApiKey, ErrorCode};
use support::*;

fn next_fetch(h: &mut Harness) -> Req<FetchRequest> {
    let f = h.start(&[0], 0);
    h.respond(&f, &fetch_resp(7, vec![pdata_with(0, 5, batch(0, 5, 5))]));
    assert_eq!(h.poll().len(), 5);
    h.take_events();
    h.take_trace();
    h.expect::<FetchRequest>(1)
}

fn epoch_answer(p: i32, code: ErrorCode, epoch: i32, end: i64) -> OffsetForLeaderEpochResponse {
    OffsetForLeaderEpochResponse {
        topics: vec![OffsetForLeaderTopicResult {
            topic: TOPIC.into(),
            partitions: vec![EpochEndOffset {
                error_code: code.code(),
                partition: p,
                leader_epoch: epoch,
                end_offset: end,
            }],
        }],
        ..Default::default()
    }
}

#[test]
fn leadership_errors_refresh_metadata_then_fetch_from_the_new_leader() {
    for code in [
        ErrorCode::NotLeaderOrFollower,
        ErrorCode::UnknownTopicOrPartition,
        ErrorCode::LeaderNotAvailable,
        ErrorCode::FencedLeaderEpoch,
        ErrorCode::UnknownLeaderEpoch,
    ] {
        let mut h = Harness::new(&[], 2, 1);
        let f = next_fetch(&mut h);
        assert_eq!(fetch_parts(&f.body), [(0, 5)]);
        h.cluster.set_leader(0, 2, 6);
        h.respond(&f, &fetch_resp(7, vec![perror(0, code)]));
        assert_eq!(
            h.answer_any_metadata(),
            1,
            "{code:?}: metadata refresh\n{}",
            h.dump()
        );
        // The new leader: validate the position (epoch 5, the last record's), then fetch.
        h.connect_and_negotiate(2, &Versions::all());
        let v = h.expect::<OffsetForLeaderEpochRequest>(2);
        let p = &v.body.topics[0].partitions[0];
        assert_eq!((p.leader_epoch, p.current_leader_epoch), (5, 6), "{code:?}");
        h.respond(&v, &epoch_answer(0, ErrorCode::None, 5, 5));
        let f = h.wait_for_fetch(2, ms(1_000));
        assert_eq!(fetch_parts(&f.body), [(0, 5)], "{code:?}");
        assert_eq!(f.body.topics[0].partitions[0].current_leader_epoch, 6);
        assert_eq!((f.body.session_id, f.body.session_epoch), (0, 0));
        assert!(
            h.take_events().is_empty(),
            "{code:?}: retriable, not reported"
        );
        // The session on the old leader is closed.
        let close = h.expect::<FetchRequest>(1);
        assert_eq!((close.body.session_id, close.body.session_epoch), (7, -1));
    }
}

/// Simulation seed 380: in a cluster of mixed versions, metadata from a broker
/// before v7 (no leader epochs) and v10 (no topic IDs) can never name the epoch
/// that fenced us. The consumer must neither forget the epoch it knows (which let
/// fetches past an unclean truncation) nor insist on it forever (fenced on every
/// fetch): it validates its position without an epoch, catches the truncation by
/// the last record's epoch, and fetches on without one.
#[test]
fn fenced_by_a_cluster_whose_metadata_has_no_epochs() {
    let mut h = Harness::new(&[], 1, 1);
    let f = next_fetch(&mut h);
    assert_eq!(f.body.topics[0].partitions[0].current_leader_epoch, 5);
    h.cluster.topics[0].id = Uuid::ZERO;
    h.cluster.set_leader(0, 1, -1);
    h.respond(
        &f,
        &fetch_resp(7, vec![perror(0, ErrorCode::FencedLeaderEpoch)]),
    );
    assert_eq!(h.answer_any_metadata(), 1, "{}", h.dump());
    let v = h.expect::<OffsetForLeaderEpochRequest>(1);
    let p = &v.body.topics[0].partitions[0];
    assert_eq!((p.leader_epoch, p.current_leader_epoch), (5, -1));
    // The new leader's log ends epoch 5 at offset 3: records 3 and 4 are gone.
    h.respond(&v, &epoch_answer(0, ErrorCode::None, 5, 3));
    let events = h.take_events();
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::LogTruncation {
                position: 5,
                diverging_offset: Some(3),
                ..
            }
        )),
        "{events:?}"
    );
    let f = h.wait_for_fetch(1, ms(1_000));
    assert_eq!(fetch_parts(&f.body), [(0, 3)]);
    assert_eq!(f.body.topics[0].partitions[0].current_leader_epoch, -1);
    // Metadata that names an epoch again brings it back.
    h.cluster.topics[0].id = TOPIC_ID;
    h.cluster.set_leader(0, 1, 7);
    h.respond(
        &f,
        &fetch_resp(0, vec![perror(0, ErrorCode::NotLeaderOrFollower)]),
    );
    assert_eq!(h.answer_any_metadata(), 1, "{}", h.dump());
    let v = h.expect::<OffsetForLeaderEpochRequest>(1);
    assert_eq!(v.body.topics[0].partitions[0].current_leader_epoch, 7);
}

#[test]
fn leadership_error_with_unchanged_leader_retries_after_backoff() {
    let mut h = Harness::new(&[], 1, 1);
    let f = next_fetch(&mut h);
    let failed_at = h.now;
    h.respond(
        &f,
        &fetch_resp(7, vec![perror(0, ErrorCode::NotLeaderOrFollower)]),
    );
    let f = h.wait_for_fetch(1, ms(1_000));
    let waited = h.now - failed_at;
    assert!(
        waited >= ms(80) && waited <= ms(120),
        "retry.backoff.ms: {waited:?}"
    );
    // The broker's session still holds partition 0 at offset 5: an incremental
    // fetch that changes nothing (as Java's FetchSessionHandler would send).
    assert_eq!((f.body.session_id, f.body.session_epoch), (7, 2));
    assert!(fetch_parts(&f.body).is_empty() && forgotten(&f.body).is_empty());
    assert_eq!(h.trace, ["Metadata v12", "Fetch v17 incr epoch=2"]);
    h.respond(&f, &fetch_resp(7, vec![pdata_with(0, 6, batch(5, 1, 5))]));
    assert_eq!(summarize(&h.poll()), [(0, 5)]);
}

#[test]
fn current_leader_in_fetch_error_moves_without_waiting_for_metadata() {
    // KIP-951: the error names the new leader and its endpoint.
    let mut h = Harness::new(&[], 2, 1);
    let f = next_fetch(&mut h);
    let mut err = perror(0, ErrorCode::NotLeaderOrFollower);
    err.current_leader = LeaderIdAndEpoch {
        leader_id: 2,
        leader_epoch: 6,
    };
    let mut resp = fetch_resp(7, vec![err]);
    resp.node_endpoints = vec![NodeEndpoint {
        node_id: 2,
        host: "b2".into(),
        port: 9092,
        rack: None,
    }];
    h.respond(&f, &resp);
    // A connection to broker 2 starts before any metadata answer.
    assert!(h.is_connecting(2), "{}", h.dump());
    h.connect_and_negotiate(2, &Versions::all());
    let v = h.expect::<OffsetForLeaderEpochRequest>(2);
    assert_eq!(v.body.topics[0].partitions[0].current_leader_epoch, 6);
    h.respond(&v, &epoch_answer(0, ErrorCode::None, 5, 5));
    let f = h.expect::<FetchRequest>(2);
    assert_eq!(fetch_parts(&f.body), [(0, 5)]);
}

#[test]
fn offset_out_of_range_resets_per_policy() {
    for (policy, ts) in [("earliest", -2), ("latest", -1)] {
        let mut h = Harness::new(&[("auto.offset.reset", policy)], 1, 1);
        let f = next_fetch(&mut h);
        h.respond(
            &f,
            &fetch_resp(7, vec![perror(0, ErrorCode::OffsetOutOfRange)]),
        );
        let lo = h.expect::<ListOffsetsRequest>(1);
        assert_eq!(list_parts(&lo.body), [(0, ts)], "{policy}");
        h.respond(&lo, &list_offsets(0, 42));
        assert_eq!(
            h.take_events(),
            [Event::OffsetReset {
                tp: tp(0),
                offset: 42,
                reason: ResetReason::OutOfRange
            }]
        );
        let f = h.expect::<FetchRequest>(1);
        assert_eq!(fetch_parts(&f.body), [(0, 42)]);
        assert_eq!(h.c.position(&tp(0)), Ok(Some(42)));
    }
}

fn list_offsets(p: i32, offset: i64) -> kasio_core::protocol::messages::ListOffsetsResponse {
    use kasio_core::protocol::messages::list_offsets_response::*;
    kasio_core::protocol::messages::ListOffsetsResponse {
        topics: vec![ListOffsetsTopicResponse {
            name: TOPIC.into(),
            partitions: vec![ListOffsetsPartitionResponse {
                partition_index: p,
                offset,
                timestamp: -1,
                leader_epoch: 5,
                ..Default::default()
            }],
        }],
        ..Default::default()
    }
}

#[test]
fn offset_out_of_range_without_reset_policy_stops_the_partition() {
    let mut h = Harness::new(&[("auto.offset.reset", "none")], 1, 2);
    // With `none` a fresh partition has no position at all.
    h.c.assign([tp(0), tp(1)]).unwrap();
    h.drain();
    h.connect_and_negotiate(-1, &Versions::all());
    h.answer_metadata(-1);
    let errors = h.take_events();
    assert_eq!(
        errors,
        [
            Event::Error(ConsumerError::Local(LocalError::NoOffsetForPartition {
                tp: tp(0),
                reason: ResetReason::NoPosition
            })),
            Event::Error(ConsumerError::Local(LocalError::NoOffsetForPartition {
                tp: tp(1),
                reason: ResetReason::NoPosition
            })),
        ]
    );
    h.c.seek(&tp(0), 10).unwrap();
    h.c.seek(&tp(1), 20).unwrap();
    h.drain();
    h.connect_and_negotiate(1, &Versions::all());
    let f = h.expect::<FetchRequest>(1);
    assert_eq!(fetch_parts(&f.body), [(0, 10), (1, 20)]);
    h.respond(
        &f,
        &fetch_resp(
            7,
            vec![perror(0, ErrorCode::OffsetOutOfRange), pdata(1, 20)],
        ),
    );
    assert_eq!(
        h.take_events(),
        [Event::Error(ConsumerError::Local(
            LocalError::NoOffsetForPartition {
                tp: tp(0),
                reason: ResetReason::OutOfRange
            }
        ))]
    );
    // Partition 0 is forgotten by the session; partition 1 goes on.
    let f = h.expect::<FetchRequest>(1);
    assert_eq!(forgotten(&f.body), [0]);
    h.respond(&f, &fetch_resp(7, vec![]));
    let f = h.expect::<FetchRequest>(1);
    assert!(fetch_parts(&f.body).is_empty() && forgotten(&f.body).is_empty());
    h.run_for(ms(2_000));
    assert!(h.take_events().is_empty());
    assert!(!h.trace.iter().any(|t| t.starts_with("ListOffsets")));
    // Seeking brings it back.
    h.c.seek(&tp(0), 3).unwrap();
    h.drain();
    h.respond(&f, &fetch_resp(7, vec![]));
    let f = h.expect::<FetchRequest>(1);
    assert_eq!(fetch_parts(&f.body), [(0, 3)]);
}

/// Simulation seed 14526: a session forgot a partition of a topic it no longer
/// fetched any partition of, with topic ID zero (IDs were looked up for the
/// wanted topics only). The broker forgot nothing, kept answering for it ahead
/// of the others, and a partition behind it only ever got partial batches.
#[test]
fn forgotten_partitions_are_named_by_their_topic_id() {
    let mut h = Harness::new(&[], 1, 1);
    let u = Uuid([9; 16]);
    h.cluster.topics.push(TopicMeta {
        name: "u".into(),
        id: u,
        error: 0,
        partitions: vec![PartMeta {
            index: 0,
            leader: 1,
            epoch: 5,
            error: 0,
        }],
    });
    h.c.assign([tp(0), TopicPartition::new("u", 0)]).unwrap();
    h.drain();
    h.connect_and_negotiate(-1, &Versions::all());
    h.answer_metadata(-1);
    h.connect_and_negotiate(1, &Versions::all());
    h.answer_list_offsets(1, 0);
    let f = h.expect::<FetchRequest>(1);
    assert!(f.version >= 13, "topics by ID");
    let mut resp = fetch_resp(7, vec![pdata(0, 0)]);
    resp.responses.push(FetchableTopicResponse {
        topic_id: u,
        partitions: vec![perror(0, ErrorCode::TopicAuthorizationFailed)],
        ..Default::default()
    });
    h.respond(&f, &resp);
    let f = h.expect::<FetchRequest>(1);
    let forgot: Vec<(Uuid, Vec<i32>)> = f
        .body
        .forgotten_topics_data
        .iter()
        .map(|t| (t.topic_id, t.partitions.clone()))
        .collect();
    assert_eq!(forgot, [(u, vec![0])]);
}

#[test]
fn topic_authorization_failed_reports_and_stops_the_partition() {
    let mut h = Harness::new(&[], 1, 2);
    let f = h.start(&[0, 1], 0);
    h.respond(
        &f,
        &fetch_resp(
            7,
            vec![perror(0, ErrorCode::TopicAuthorizationFailed), pdata(1, 0)],
        ),
    );
    assert_eq!(
        h.take_events(),
        [Event::Error(ConsumerError::Broker(
            BrokerError::Partition {
                tp: tp(0),
                code: ErrorCode::TopicAuthorizationFailed
            }
        ))]
    );
    let f = h.expect::<FetchRequest>(1);
    assert_eq!(forgotten(&f.body), [0]);
    h.respond(&f, &fetch_resp(7, vec![pdata_with(1, 1, batch(0, 1, 5))]));
    let f = h.expect::<FetchRequest>(1);
    assert_eq!(fetch_parts(&f.body), [(1, 1)]);
    assert_eq!(summarize(&h.poll()), [(1, 0)]);
    assert!(h.take_events().is_empty(), "reported once");
}

// ----- KIP-320 ------------------------------------------------------------------

/// Moves partition 0's leadership to broker 2 at epoch 6 via a metadata refresh.
fn move_leader(h: &mut Harness, f: Req<FetchRequest>, versions: &Versions) {
    h.cluster.set_leader(0, 2, 6);
    h.respond(
        &f,
        &fetch_resp(7, vec![perror(0, ErrorCode::NotLeaderOrFollower)]),
    );
    assert_eq!(h.answer_any_metadata(), 1);
    h.connect_and_negotiate(2, versions);
}

#[test]
fn validation_detects_truncation_and_moves_to_the_divergence_point() {
    let mut h = Harness::new(&[], 2, 1);
    let f = next_fetch(&mut h);
    move_leader(&mut h, f, &Versions::all());
    let v = h.expect::<OffsetForLeaderEpochRequest>(2);
    assert_eq!(v.body.topics[0].partitions[0].leader_epoch, 5);
    assert_eq!(v.body.replica_id, -1);
    // The new leader's epoch 5 ended at offset 3: records 3 and 4 are gone.
    h.respond(&v, &epoch_answer(0, ErrorCode::None, 5, 3));
    assert_eq!(
        h.take_events(),
        [Event::LogTruncation {
            tp: tp(0),
            position: 5,
            diverging_offset: Some(3)
        }]
    );
    assert_eq!(h.c.position(&tp(0)), Ok(Some(3)));
    let f = h.wait_for_fetch(2, ms(1_000));
    assert_eq!(fetch_parts(&f.body), [(0, 3)]);
    assert_eq!(f.body.topics[0].partitions[0].last_fetched_epoch, 5);
}

#[test]
fn validation_with_reset_policy_none_stops_on_truncation() {
    let mut h = Harness::new(&[("auto.offset.reset", "none")], 2, 1);
    h.c.assign([tp(0)]).unwrap();
    h.drain();
    h.connect_and_negotiate(-1, &Versions::all());
    h.answer_metadata(-1);
    h.take_events();
    h.c.seek(&tp(0), 0).unwrap();
    h.drain();
    h.connect_and_negotiate(1, &Versions::all());
    let f = h.expect::<FetchRequest>(1);
    h.respond(&f, &fetch_resp(7, vec![pdata_with(0, 5, batch(0, 5, 5))]));
    assert_eq!(h.poll().len(), 5);
    h.take_events();
    let f = h.expect::<FetchRequest>(1);
    move_leader(&mut h, f, &Versions::all());
    let v = h.expect::<OffsetForLeaderEpochRequest>(2);
    h.respond(&v, &epoch_answer(0, ErrorCode::None, 5, 3));
    assert_eq!(
        h.take_events(),
        [
            Event::LogTruncation {
                tp: tp(0),
                position: 5,
                diverging_offset: Some(3)
            },
            Event::Error(ConsumerError::Local(LocalError::NoOffsetForPartition {
                tp: tp(0),
                reason: ResetReason::Truncation
            }))
        ]
    );
    h.run_for(ms(2_000));
    assert!(h.unread().iter().all(|(b, _)| *b != 2), "{:?}", h.unread());
}

#[test]
fn broker_without_offset_for_leader_epoch_skips_validation() {
    let mut h = Harness::new(&[], 2, 1);
    let f = next_fetch(&mut h);
    move_leader(
        &mut h,
        f,
        &Versions::all().without(ApiKey::OffsetForLeaderEpoch),
    );
    let f = h.wait_for_fetch(2, ms(1_000));
    assert_eq!(fetch_parts(&f.body), [(0, 5)]);
    assert!(!h
        .trace
        .iter()
        .any(|t| t.starts_with("OffsetForLeaderEpoch")));
    assert!(h.take_events().is_empty());
}

#[test]
fn diverging_epoch_in_fetch_response_truncates() {
    let mut h = Harness::new(&[], 1, 1);
    let f = next_fetch(&mut h);
    assert_eq!(f.body.topics[0].partitions[0].last_fetched_epoch, 5);
    let mut d = pdata(0, 5);
    d.diverging_epoch = DivergingEpoch {
        epoch: 4,
        end_offset: 3,
    };
    h.respond(&f, &fetch_resp(7, vec![d]));
    assert_eq!(
        h.take_events(),
        [Event::LogTruncation {
            tp: tp(0),
            position: 5,
            diverging_offset: Some(3)
        }]
    );
    let f = h.expect::<FetchRequest>(1);
    assert_eq!(fetch_parts(&f.body), [(0, 3)]);
    assert_eq!(f.body.topics[0].partitions[0].last_fetched_epoch, 4);
    assert_eq!(h.c.position(&tp(0)), Ok(Some(3)));
}

#[test]
fn diverging_epoch_beyond_the_position_drops_prefetched_data_quietly() {
    // Records 0..5 fetched but not yet polled; the next fetch learns that the log
    // diverges at 3. The application has consumed nothing past 3: no truncation to
    // report, but records 3 and 4 must not be handed out.
    let mut h = Harness::new(&[], 1, 1);
    let f = h.start(&[0], 0);
    h.respond(&f, &fetch_resp(7, vec![pdata_with(0, 5, batch(0, 5, 5))]));
    let f = h.expect::<FetchRequest>(1);
    let mut d = pdata(0, 5);
    d.diverging_epoch = DivergingEpoch {
        epoch: 5,
        end_offset: 3,
    };
    h.respond(&f, &fetch_resp(7, vec![d]));
    let offsets: Vec<i64> = h.poll().iter().map(|(_, r)| r.offset).collect();
    assert!(
        offsets.iter().all(|&o| o < 3),
        "records past the divergence point were returned: {offsets:?}"
    );
    assert!(
        !h.take_events()
            .iter()
            .any(|e| matches!(e, Event::LogTruncation { .. })),
        "nothing consumed was truncated"
    );
}

// ----- KIP-392 ------------------------------------------------------------------

fn to_replica(h: &mut Harness) {
    let f = h.start(&[0], 0);
    assert_eq!(f.body.rack_id, "rack2");
    let mut d = pdata(0, 10);
    d.preferred_read_replica = 2;
    h.respond(&f, &fetch_resp(7, vec![d]));
    h.connect_and_negotiate(2, &Versions::all());
    // The leader's session is closed: it serves nothing now.
    let close = h.expect::<FetchRequest>(1);
    assert_eq!((close.body.session_id, close.body.session_epoch), (7, -1));
    h.respond(&close, &fetch_resp(0, vec![]));
}

#[test]
fn preferred_read_replica_takes_the_next_fetch() {
    let mut h = Harness::new(&[("client.rack", "rack2")], 2, 1);
    to_replica(&mut h);
    let f = h.expect::<FetchRequest>(2);
    assert_eq!(fetch_parts(&f.body), [(0, 0)]);
    assert_eq!((f.body.session_id, f.body.session_epoch), (0, 0));
    h.respond(&f, &fetch_resp(9, vec![pdata_with(0, 3, batch(0, 3, 5))]));
    let f = h.expect::<FetchRequest>(2);
    assert_eq!((f.body.session_id, f.body.session_epoch), (9, 1));
    assert_eq!(summarize(&h.poll()), [(0, 0), (0, 1), (0, 2)]);
}

#[test]
fn a_poll_hands_out_one_brokers_records_and_names_it() {
    // The leader serves 0..3 and sends the consumer to replica 2, which serves
    // 3..6 before the application polls: two polls, each naming its broker
    // (what kcat prints as the record's broker).
    let mut h = Harness::new(&[("client.rack", "rack2")], 2, 1);
    let f = h.start(&[0], 0);
    let mut d = pdata_with(0, 10, batch(0, 3, 5));
    d.preferred_read_replica = 2;
    h.respond(&f, &fetch_resp(7, vec![d]));
    h.connect_and_negotiate(2, &Versions::all());
    let close = h.expect::<FetchRequest>(1);
    h.respond(&close, &fetch_resp(0, vec![]));
    let f = h.expect::<FetchRequest>(2);
    assert_eq!(fetch_parts(&f.body), [(0, 3)]);
    h.respond(&f, &fetch_resp(9, vec![pdata_with(0, 10, batch(3, 3, 5))]));
    let brokers = |r: &kasio_core::consumer::ConsumerRecords| -> Vec<(i32, Vec<i64>)> {
        r.partitions()
            .iter()
            .map(|b| (b.broker.0, b.records.iter().map(|r| r.offset).collect()))
            .collect()
    };
    assert_eq!(brokers(&h.poll()), [(1, vec![0, 1, 2])]);
    assert_eq!(brokers(&h.poll()), [(2, vec![3, 4, 5])]);
    assert!(h.poll().is_empty());
}

#[test]
fn error_from_the_replica_goes_back_to_the_leader() {
    for code in [ErrorCode::NotLeaderOrFollower, ErrorCode::OffsetOutOfRange] {
        let mut h = Harness::new(&[("client.rack", "rack2")], 2, 1);
        to_replica(&mut h);
        let f = h.expect::<FetchRequest>(2);
        h.respond(&f, &fetch_resp(9, vec![perror(0, code)]));
        let f = h.wait_for_fetch(1, ms(1_000));
        assert_eq!(fetch_parts(&f.body), [(0, 0)], "{code:?}");
        assert!(
            !h.trace.iter().any(|t| t.starts_with("ListOffsets")),
            "{code:?}: a follower's out-of-range asks the leader before resetting"
        );
    }
}

#[test]
fn lost_replica_connection_goes_back_to_the_leader() {
    let mut h = Harness::new(&[("client.rack", "rack2")], 2, 1);
    to_replica(&mut h);
    let f = h.expect::<FetchRequest>(2);
    h.disconnect(f.conn);
    let f = h.wait_for_fetch(1, ms(1_000));
    assert_eq!(fetch_parts(&f.body), [(0, 0)]);
}

#[test]
fn replica_lost_between_fetches_goes_back_to_the_leader() {
    // Nothing was in flight to the replica when its connection died (the buffer
    // was full, so the consumer had stopped fetching): the preference goes all the
    // same. Found by the simulation (tests/tests/sim_follower.rs): the consumer
    // reconnected to a dead follower until metadata.max.age.ms ran out.
    let mut h = Harness::new(
        &[
            ("client.rack", "rack2"),
            ("queued.min.messages", "1"),
            ("metadata.max.age.ms", "300000"),
        ],
        2,
        1,
    );
    to_replica(&mut h);
    let f = h.expect::<FetchRequest>(2);
    h.respond(&f, &fetch_resp(9, vec![pdata_with(0, 6, batch(0, 3, 5))]));
    h.expect_nothing(2);
    h.disconnect(f.conn);
    assert_eq!(summarize(&h.poll()), [(0, 0), (0, 1), (0, 2)]);
    let f = h.wait_for_fetch(1, ms(1_000));
    assert_eq!(fetch_parts(&f.body), [(0, 3)]);
}

#[test]
fn redirect_to_a_replica_the_metadata_lacks_refreshes_the_metadata() {
    // The leader names a read replica our metadata does not list (it was down at
    // the last refresh). Found by the simulation (seeds 681071, 681484): the
    // consumer stayed on the leader, which kept answering the redirect and no
    // records, until metadata.max.age.ms ran out.
    let mut h = Harness::new(
        &[("client.rack", "rack2"), ("metadata.max.age.ms", "300000")],
        1,
        1,
    );
    let f = h.start(&[0], 0);
    let mut d = pdata(0, 10);
    d.preferred_read_replica = 2;
    h.respond(&f, &fetch_resp(7, vec![d.clone()]));
    h.cluster
        .brokers
        .push((2, "b2".into(), 9092, Some("rack2".into())));
    // Meanwhile the leader serves (Java's selectReadReplica falls back to it).
    assert_eq!(
        h.answer_any_metadata(),
        1,
        "no metadata refresh after the redirect"
    );
    let f = h.expect::<FetchRequest>(1);
    assert_eq!((f.body.session_id, f.body.session_epoch), (7, 1));
    h.respond(&f, &fetch_resp(7, vec![d]));
    h.connect_and_negotiate(2, &Versions::all());
    let close = h.expect::<FetchRequest>(1);
    assert_eq!((close.body.session_id, close.body.session_epoch), (7, -1));
    h.respond(&close, &fetch_resp(0, vec![]));
    let f = h.expect::<FetchRequest>(2);
    assert_eq!(fetch_parts(&f.body), [(0, 0)]);
}

#[test]
fn leader_change_drops_prefetched_records_and_validates() {
    let mut h = Harness::new(&[("metadata.max.age.ms", "1000")], 2, 1);
    let f = h.start(&[0], 0);
    h.respond(&f, &fetch_resp(7, vec![pdata_with(0, 5, batch(0, 5, 5))]));
    let f = h.expect::<FetchRequest>(1);
    // The periodic refresh names a new leader before the application polled. It
    // goes to broker 1, behind the long poll (answered first, empty), not to the
    // idle bootstrap connection.
    h.cluster.set_leader(0, 2, 6);
    h.run_for(ms(1_000));
    h.respond(&f, &fetch_resp(7, vec![]));
    assert_eq!(h.answer_any_metadata(), 1);
    assert!(h.poll().is_empty(), "fetched from the old leader: dropped");
    assert_eq!(h.c.position(&tp(0)), Ok(Some(0)));
    h.connect_and_negotiate(2, &Versions::all());
    let v = h.expect::<OffsetForLeaderEpochRequest>(2);
    h.respond(&v, &epoch_answer(0, ErrorCode::None, 5, 10));
    let f = h.expect::<FetchRequest>(2);
    assert_eq!(fetch_parts(&f.body), [(0, 0)]);
    h.respond(&f, &fetch_resp(3, vec![pdata_with(0, 5, batch(0, 5, 6))]));
    assert_eq!(h.poll().len(), 5);
}

#[test]
fn undefined_epoch_end_offset_resets_per_policy() {
    let mut h = Harness::new(&[], 2, 1);
    let f = next_fetch(&mut h);
    move_leader(&mut h, f, &Versions::all());
    let v = h.expect::<OffsetForLeaderEpochRequest>(2);
    // The new leader knows nothing of epoch 5 (UNDEFINED_EPOCH_OFFSET).
    h.respond(&v, &epoch_answer(0, ErrorCode::None, -1, -1));
    assert_eq!(
        h.take_events(),
        [Event::LogTruncation {
            tp: tp(0),
            position: 5,
            diverging_offset: None
        }]
    );
    let lo = h.expect::<ListOffsetsRequest>(2);
    assert_eq!(list_parts(&lo.body), [(0, -2)]);
}

#[test]
fn partition_without_leader_in_metadata_is_retried_with_backoff() {
    let mut h = Harness::new(&[], 1, 1);
    {
        let p = h.cluster.part_mut(TOPIC, 0);
        p.leader = -1;
        p.error = ErrorCode::LeaderNotAvailable.code();
    }
    h.c.assign([tp(0)]).unwrap();
    h.drain();
    h.connect_and_negotiate(-1, &Versions::all());
    h.answer_metadata(-1);
    // Asked again, but only after retry.backoff.ms, not at once.
    h.expect_nothing(-1);
    let at = h.now;
    while h.try_next(-1).is_none() {
        h.step();
    }
    let waited = h.now - at;
    assert!(waited >= ms(70), "{waited:?}");
    h.cluster.set_leader(0, 1, 6);
    h.cluster.part_mut(TOPIC, 0).error = 0;
    h.answer_metadata(-1);
    h.connect_and_negotiate(1, &Versions::all());
    h.answer_list_offsets(1, 0);
    let f = h.expect::<FetchRequest>(1);
    assert_eq!(fetch_parts(&f.body), [(0, 0)]);
}
