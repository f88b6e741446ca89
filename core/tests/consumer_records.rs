//! What reaches the application: read_committed filtering, bounded prefetch,
//! positions and seeks, pause/resume, watermarks and lag, offsets_for_times,
//! partition EOF, and corrupt batches.

mod support;

use bytes::{Bytes, BytesMut};
use kasio_core::consumer::{
    BrokerError, ConsumerError, Event, LocalError, OffsetAndTimestamp, QueryId, RemoteError,
    ResetReason, Watermarks,
};
use kasio_core::protocol::messages::fetch_response::AbortedTransaction;
use kasio_core::protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kasio_core::protocol::messages::{FetchRequest, ListOffsetsRequest, ListOffsetsResponse};
use kasio_core::protocol::ErrorCode;
use kasio_core::records::{BatchBuilder, ControlType, RecordErrorKind};
use support::*;

fn txn_batch(base: i64, count: usize, producer: i64) -> Bytes {
    let mut b = BatchBuilder::new(base);
    b.partition_leader_epoch = 5;
    b.transactional = true;
    b.producer_id = producer;
    b.producer_epoch = 0;
    b.base_sequence = 0;
    for i in 0..count {
        let v = format!("txn{producer}-{}", base + i as i64);
        b.push(1_700_000_000_000, None, Some(v.as_bytes()), &[]);
    }
    let mut buf = BytesMut::new();
    b.encode(&mut buf).unwrap();
    buf.freeze()
}

fn marker(offset: i64, producer: i64, kind: ControlType) -> Bytes {
    let mut b = BatchBuilder::control_marker(offset, producer, 0, kind, 3, 1_700_000_000_000);
    b.partition_leader_epoch = 5;
    let mut buf = BytesMut::new();
    b.encode(&mut buf).unwrap();
    buf.freeze()
}

/// 0-1 aborted (producer 100), 2-3 plain, 4 ABORT(100), 5-6 committed (200),
/// 7 COMMIT(200); the log ends at 8.
fn transactional_log() -> Bytes {
    concat(&[
        txn_batch(0, 2, 100),
        batch(2, 2, 5),
        marker(4, 100, ControlType::Abort),
        txn_batch(5, 2, 200),
        marker(7, 200, ControlType::Commit),
    ])
}

#[test]
fn read_committed_drops_aborted_transactions_and_markers() {
    let mut h = Harness::new(
        &[
            ("isolation.level", "read_committed"),
            ("enable.partition.eof", "true"),
        ],
        1,
        1,
    );
    let f = h.start(&[0], 0);
    let mut d = pdata_with(0, 8, transactional_log());
    d.aborted_transactions = Some(vec![AbortedTransaction {
        producer_id: 100,
        first_offset: 0,
    }]);
    h.respond(&f, &fetch_resp(7, vec![d]));
    let f = h.expect::<FetchRequest>(1);
    assert_eq!(
        fetch_parts(&f.body),
        [(0, 8)],
        "the next fetch starts past the marker"
    );
    let recs = h.poll();
    assert_eq!(summarize(&recs), [(0, 2), (0, 3), (0, 5), (0, 6)]);
    assert_eq!(
        recs.partitions()[0].records[2].value.as_deref(),
        Some(&b"txn200-5"[..])
    );
    assert_eq!(
        h.c.position(&tp(0)),
        Ok(Some(8)),
        "position moves past the marker"
    );
    assert_eq!(h.c.lag(&tp(0)), Ok(Some(0)));
    assert_eq!(
        h.take_events(),
        [Event::PartitionEof {
            tp: tp(0),
            offset: 8
        }]
    );
}

#[test]
fn read_uncommitted_returns_every_data_record_but_no_markers() {
    let mut h = Harness::new(&[], 1, 1);
    let f = h.start(&[0], 0);
    h.respond(
        &f,
        &fetch_resp(7, vec![pdata_with(0, 8, transactional_log())]),
    );
    assert_eq!(
        summarize(&h.poll()),
        [(0, 0), (0, 1), (0, 2), (0, 3), (0, 5), (0, 6)]
    );
    assert_eq!(h.c.position(&tp(0)), Ok(Some(8)));
}

#[test]
fn only_aborted_data_still_moves_the_position() {
    let mut h = Harness::new(&[("isolation.level", "read_committed")], 1, 1);
    let f = h.start(&[0], 0);
    let mut d = pdata_with(
        0,
        3,
        concat(&[txn_batch(0, 2, 100), marker(2, 100, ControlType::Abort)]),
    );
    d.aborted_transactions = Some(vec![AbortedTransaction {
        producer_id: 100,
        first_offset: 0,
    }]);
    h.respond(&f, &fetch_resp(7, vec![d]));
    assert!(h.poll().is_empty());
    assert_eq!(h.c.position(&tp(0)), Ok(Some(3)));
    let f = h.expect::<FetchRequest>(1);
    assert_eq!(fetch_parts(&f.body), [(0, 3)]);
}

#[test]
fn full_partition_buffer_is_not_fetched_until_drained() {
    let mut h = Harness::new(
        &[("queued.min.messages", "5"), ("max.poll.records", "2")],
        1,
        2,
    );
    let f = h.start(&[0, 1], 0);
    h.respond(
        &f,
        &fetch_resp(7, vec![pdata_with(0, 5, batch(0, 5, 5)), pdata(1, 0)]),
    );
    // Partition 0 holds 5 records: only partition 1 is fetched (0 is forgotten).
    let f = h.expect::<FetchRequest>(1);
    assert!(fetch_parts(&f.body).is_empty());
    assert_eq!(forgotten(&f.body), [0]);
    h.respond(&f, &fetch_resp(7, vec![]));
    let f = h.expect::<FetchRequest>(1);
    assert!(fetch_parts(&f.body).is_empty() && forgotten(&f.body).is_empty());
    // max.poll.records bounds every poll.
    let mut got = Vec::new();
    for expected in [2, 2, 1] {
        let recs = h.poll();
        assert_eq!(recs.len(), expected);
        got.extend(summarize(&recs));
    }
    assert_eq!(got, [(0, 0), (0, 1), (0, 2), (0, 3), (0, 4)]);
    // Drained: partition 0 is back in the next fetch.
    h.respond(&f, &fetch_resp(7, vec![]));
    let f = h.expect::<FetchRequest>(1);
    assert_eq!(fetch_parts(&f.body), [(0, 5)]);
}

#[test]
fn byte_bound_stops_all_fetching_until_drained() {
    let mut h = Harness::new(&[("queued.max.messages.kbytes", "1")], 1, 2);
    let f = h.start(&[0, 1], 0);
    let big = batch(0, 100, 5);
    assert!(big.len() > 1024);
    h.respond(
        &f,
        &fetch_resp(7, vec![pdata_with(0, 100, big), pdata(1, 0)]),
    );
    // Over the bound: no partition is fetched, not even the empty one.
    h.run_for(ms(2_000));
    h.expect_nothing(1);
    assert_eq!(h.poll().len(), 100);
    let f = h.expect::<FetchRequest>(1);
    assert_eq!(fetch_parts(&f.body), [(0, 100)]);
}

#[test]
fn seek_drops_buffered_and_in_flight_data() {
    let mut h = Harness::new(&[], 1, 1);
    let f = h.start(&[0], 0);
    h.respond(&f, &fetch_resp(7, vec![pdata_with(0, 10, batch(0, 3, 5))]));
    let f = h.expect::<FetchRequest>(1);
    assert_eq!(fetch_parts(&f.body), [(0, 3)]);
    h.c.seek(&tp(0), 7).unwrap();
    h.drain();
    assert_eq!(h.c.position(&tp(0)), Ok(Some(7)));
    // The answer to the fetch from 3 arrives after the seek: dropped.
    h.respond(&f, &fetch_resp(7, vec![pdata_with(0, 10, batch(3, 3, 5))]));
    assert!(h.poll().is_empty());
    let f = h.expect::<FetchRequest>(1);
    assert_eq!(fetch_parts(&f.body), [(0, 7)]);
    assert_eq!(
        f.body.session_epoch, 2,
        "incremental: only the offset changed"
    );
    h.respond(&f, &fetch_resp(7, vec![pdata_with(0, 10, batch(7, 3, 5))]));
    assert_eq!(summarize(&h.poll()), [(0, 7), (0, 8), (0, 9)]);
    assert!(h.c.seek(&tp(0), -1).is_err());
    assert!(h.c.seek(&tp(3), 0).is_err());
}

#[test]
fn seek_to_beginning_and_end_list_offsets() {
    let mut h = Harness::new(&[], 1, 1);
    let f = h.start(&[0], 0);
    h.c.seek_to_end(&[tp(0)]).unwrap();
    h.drain();
    assert_eq!(h.c.position(&tp(0)), Ok(None), "looking it up");
    // The broker answers the long poll first (one connection, answers in order).
    h.respond(&f, &fetch_resp(7, vec![pdata_with(0, 2, batch(0, 2, 5))]));
    assert!(h.poll().is_empty(), "fetched for the old position: dropped");
    let lo = h.expect::<ListOffsetsRequest>(1);
    assert_eq!(list_parts(&lo.body), [(0, -1)]);
    h.respond(&lo, &list_offsets(&[(0, 50)]));
    assert_eq!(
        h.take_events(),
        [Event::OffsetReset {
            tp: tp(0),
            offset: 50,
            reason: ResetReason::NoPosition
        }]
    );
    let f = h.expect::<FetchRequest>(1);
    assert_eq!(fetch_parts(&f.body), [(0, 50)]);
    h.c.seek_to_beginning(&[tp(0)]).unwrap();
    h.drain();
    h.respond(&f, &fetch_resp(7, vec![]));
    let lo = h.expect::<ListOffsetsRequest>(1);
    assert_eq!(list_parts(&lo.body), [(0, -2)]);
    h.respond(&lo, &list_offsets(&[(0, 4)]));
    let f = h.expect::<FetchRequest>(1);
    assert_eq!(fetch_parts(&f.body), [(0, 4)]);
}

fn list_offsets(parts: &[(i32, i64)]) -> ListOffsetsResponse {
    ListOffsetsResponse {
        topics: vec![ListOffsetsTopicResponse {
            name: TOPIC.into(),
            partitions: parts
                .iter()
                .map(|&(p, offset)| ListOffsetsPartitionResponse {
                    partition_index: p,
                    offset,
                    timestamp: 1_700_000_000_000 + offset,
                    leader_epoch: 5,
                    ..Default::default()
                })
                .collect(),
        }],
        ..Default::default()
    }
}

#[test]
fn paused_partitions_are_neither_fetched_nor_returned() {
    let mut h = Harness::new(&[], 1, 2);
    let f = h.start(&[0, 1], 0);
    h.respond(
        &f,
        &fetch_resp(
            7,
            vec![
                pdata_with(0, 2, batch(0, 2, 5)),
                pdata_with(1, 2, batch(0, 2, 5)),
            ],
        ),
    );
    h.c.pause(&[tp(0)]).unwrap();
    h.drain();
    assert_eq!(h.c.paused(), [tp(0)]);
    assert_eq!(summarize(&h.poll()), [(1, 0), (1, 1)]);
    let f = h.expect::<FetchRequest>(1);
    // The fetch sent with the response already listed both; the next one forgets 0.
    h.respond(&f, &fetch_resp(7, vec![]));
    let f = h.expect::<FetchRequest>(1);
    assert_eq!(forgotten(&f.body), [0]);
    h.respond(&f, &fetch_resp(7, vec![]));
    let f = h.expect::<FetchRequest>(1);
    h.run_for(ms(1_000));
    assert!(h.poll().is_empty(), "buffered but paused");
    assert_eq!(h.c.position(&tp(0)), Ok(Some(0)));
    h.c.resume(&[tp(0)]).unwrap();
    h.drain();
    assert_eq!(summarize(&h.poll()), [(0, 0), (0, 1)]);
    h.respond(&f, &fetch_resp(7, vec![]));
    let f = h.expect::<FetchRequest>(1);
    assert_eq!(fetch_parts(&f.body), [(0, 2)]);
}

#[test]
fn watermarks_and_lag_follow_fetch_responses() {
    let mut h = Harness::new(&[("isolation.level", "read_committed")], 1, 1);
    assert!(h.c.watermarks(&tp(0)).is_err(), "not assigned yet");
    let f = h.start(&[0], 0);
    assert_eq!(
        h.c.watermarks(&tp(0)),
        Ok(Watermarks {
            log_start_offset: -1,
            high_watermark: -1,
            last_stable_offset: -1
        })
    );
    assert_eq!(h.c.lag(&tp(0)), Ok(None));
    let mut d = pdata_with(0, 10, batch(0, 4, 5));
    d.last_stable_offset = 8;
    d.log_start_offset = 0;
    h.respond(&f, &fetch_resp(7, vec![d]));
    assert_eq!(
        h.c.watermarks(&tp(0)),
        Ok(Watermarks {
            log_start_offset: 0,
            high_watermark: 10,
            last_stable_offset: 8
        })
    );
    // read_committed: lag is to the last stable offset, from the position.
    assert_eq!(h.c.lag(&tp(0)), Ok(Some(8)));
    assert_eq!(h.poll().len(), 4);
    assert_eq!(h.c.lag(&tp(0)), Ok(Some(4)));
}

#[test]
fn offsets_for_times_answers_with_an_event() {
    let mut h = Harness::new(&[], 1, 2);
    let f = h.start(&[0], 0);
    // Partition 1 is not assigned: queries need not be.
    let id = h.c.offsets_for_times([(tp(0), 1_000), (tp(1), 2_000)]);
    h.drain();
    h.respond(&f, &fetch_resp(7, vec![]));
    let lo = h.expect::<ListOffsetsRequest>(1);
    assert_eq!(list_parts(&lo.body), [(0, 1_000), (1, 2_000)]);
    let mut resp = list_offsets(&[(0, 17)]);
    resp.topics[0]
        .partitions
        .push(ListOffsetsPartitionResponse {
            partition_index: 1,
            offset: -1,
            timestamp: -1,
            leader_epoch: -1,
            ..Default::default()
        });
    h.respond(&lo, &resp);
    assert_eq!(
        h.take_events(),
        [Event::OffsetsForTimes {
            id,
            offsets: vec![
                (
                    tp(0),
                    Ok(Some(OffsetAndTimestamp {
                        offset: 17,
                        timestamp: 1_700_000_000_017,
                        leader_epoch: Some(5)
                    }))
                ),
                (tp(1), Ok(None)),
            ]
        }]
    );
}

#[test]
fn offsets_for_times_times_out() {
    let mut h = Harness::new(&[("default.api.timeout.ms", "2000")], 1, 1);
    let _f = h.start(&[0], 0);
    let id = h.c.offsets_for_times([(tp(0), 1_000)]);
    h.drain();
    let _lo = h.expect::<ListOffsetsRequest>(1);
    h.run_for(ms(2_000));
    assert_eq!(
        h.take_events(),
        [Event::OffsetsForTimes {
            id,
            offsets: vec![(tp(0), Err(ConsumerError::Local(LocalError::Timeout)))]
        }]
    );
}

#[test]
fn partition_eof_once_per_reaching_the_end() {
    let mut h = Harness::new(&[("enable.partition.eof", "true")], 1, 1);
    let f = h.start(&[0], 0);
    h.respond(&f, &fetch_resp(7, vec![pdata_with(0, 2, batch(0, 2, 5))]));
    assert!(
        h.take_events().is_empty(),
        "records buffered: not at the end yet"
    );
    assert_eq!(h.poll().len(), 2);
    let eof = Event::PartitionEof {
        tp: tp(0),
        offset: 2,
    };
    assert_eq!(h.take_events(), [eof]);
    let f = h.expect::<FetchRequest>(1);
    h.respond(&f, &fetch_resp(7, vec![pdata(0, 2)]));
    let f = h.expect::<FetchRequest>(1);
    assert!(h.take_events().is_empty(), "reported once");
    h.respond(&f, &fetch_resp(7, vec![pdata_with(0, 3, batch(2, 1, 5))]));
    assert_eq!(h.poll().len(), 1);
    assert_eq!(
        h.take_events(),
        [Event::PartitionEof {
            tp: tp(0),
            offset: 3
        }]
    );
}

#[test]
fn empty_partition_reports_eof_at_once() {
    let mut h = Harness::new(&[("enable.partition.eof", "true")], 1, 1);
    let f = h.start(&[0], 0);
    h.respond(&f, &fetch_resp(7, vec![pdata(0, 0)]));
    assert_eq!(
        h.take_events(),
        [Event::PartitionEof {
            tp: tp(0),
            offset: 0
        }]
    );
}

#[test]
fn corrupt_batch_reports_delivers_what_came_before_and_refetches() {
    let mut h = Harness::new(&[], 1, 1);
    let f = h.start(&[0], 0);
    let good = batch(0, 3, 5);
    let mut bad = BytesMut::from(&batch(3, 2, 5)[..]);
    let last = bad.len() - 1;
    bad[last] ^= 0x01; // a flipped bit in the last record's header value
    h.respond(
        &f,
        &fetch_resp(7, vec![pdata_with(0, 5, concat(&[good, bad.freeze()]))]),
    );
    let recs = h.poll();
    assert_eq!(
        summarize(&recs),
        [(0, 0), (0, 1), (0, 2)],
        "only the good batch"
    );
    let events = h.take_events();
    let [Event::Error(ConsumerError::Remote(RemoteError::CorruptRecords { tp: etp, error }))] =
        events.as_slice()
    else {
        panic!("{events:?}");
    };
    assert_eq!(etp, &tp(0));
    assert!(
        matches!(error.kind, RecordErrorKind::CrcMismatch { .. }),
        "{error:?}"
    );
    assert_eq!(error.offset, Some(3));
    assert_eq!(
        (error.topic.as_deref(), error.partition),
        (Some("t"), Some(0))
    );
    assert_eq!(h.c.position(&tp(0)), Ok(Some(3)), "stays at the bad batch");
    assert!(h.poll().is_empty());
    // Fetched again from the bad batch after retry.backoff.ms.
    let at = h.now;
    let f = h.wait_for_fetch(1, ms(1_000));
    let waited = h.now - at;
    assert!(waited >= ms(80) && waited <= ms(120), "{waited:?}");
    assert_eq!(fetch_parts(&f.body), [(0, 3)]);
    h.respond(&f, &fetch_resp(7, vec![pdata_with(0, 5, batch(3, 2, 5))]));
    assert_eq!(summarize(&h.poll()), [(0, 3), (0, 4)]);
}

#[test]
fn unknown_topic_in_metadata_is_reported_and_retried() {
    let mut h = Harness::new(&[], 1, 1);
    h.c.assign([kasio_core::consumer::TopicPartition::new("nope", 0)])
        .unwrap();
    h.drain();
    h.connect_and_negotiate(-1, &Versions::all());
    h.answer_metadata(-1);
    assert_eq!(
        h.take_events(),
        [Event::Error(ConsumerError::Broker(BrokerError::Topic {
            topic: "nope".into(),
            code: ErrorCode::UnknownTopicOrPartition
        }))]
    );
    // Asked again after retry.backoff.ms, not in a tight loop.
    let at = h.now;
    h.take_trace();
    for _ in 0..10 {
        if h.answer_any_metadata() == 0 {
            h.step();
        }
    }
    let metas = h.trace.iter().filter(|t| t.starts_with("Metadata")).count();
    let per_second = metas as f64 / ((h.now - at).as_micros() as f64 / 1e6);
    assert!(
        per_second < 15.0,
        "{metas} metadata requests by {:?}",
        h.now - at
    );
}

#[test]
fn partitions_take_turns_under_max_poll_records() {
    let mut h = Harness::new(&[("max.poll.records", "2")], 1, 2);
    let f = h.start(&[0, 1], 0);
    h.respond(
        &f,
        &fetch_resp(
            7,
            vec![
                pdata_with(0, 3, batch(0, 3, 5)),
                pdata_with(1, 3, batch(0, 3, 5)),
            ],
        ),
    );
    assert_eq!(summarize(&h.poll()), [(0, 0), (0, 1)]);
    assert_eq!(summarize(&h.poll()), [(1, 0), (1, 1)]);
    assert_eq!(summarize(&h.poll()), [(0, 2), (1, 2)]);
    assert!(h.poll().is_empty());
}

#[test]
fn records_before_the_fetch_offset_are_skipped() {
    // Brokers return whole batches: the first may start before the offset asked for.
    let mut h = Harness::new(&[], 1, 1);
    let f = h.start(&[0], 2);
    assert_eq!(fetch_parts(&f.body), [(0, 2)]);
    h.respond(&f, &fetch_resp(7, vec![pdata_with(0, 5, batch(0, 5, 5))]));
    assert_eq!(summarize(&h.poll()), [(0, 2), (0, 3), (0, 4)]);
    assert_eq!(h.c.position(&tp(0)), Ok(Some(5)));
}

#[test]
fn partition_added_to_an_open_session_is_sent_incrementally() {
    let mut h = Harness::new(&[], 1, 2);
    let f = h.start(&[0], 0);
    h.respond(&f, &fetch_resp(7, vec![]));
    let f = h.expect::<FetchRequest>(1);
    h.c.assign([tp(0), tp(1)]).unwrap();
    h.drain();
    h.respond(&f, &fetch_resp(7, vec![]));
    let lo = h.answer_list_offsets(1, 30);
    assert_eq!(list_parts(&lo.body), [(1, -2)], "only the new partition");
    // The fetch that followed the answer went out before the reset was done.
    let f = h.expect::<FetchRequest>(1);
    assert_eq!((f.body.session_epoch, fetch_parts(&f.body)), (2, vec![]));
    h.respond(&f, &fetch_resp(7, vec![]));
    let f = h.expect::<FetchRequest>(1);
    assert_eq!((f.body.session_id, f.body.session_epoch), (7, 3));
    assert_eq!(fetch_parts(&f.body), [(1, 30)]);
    assert_eq!(h.c.assignment(), [tp(0), tp(1)]);
}

/// A reset answered after the application reset again (same strategy) is stale:
/// only the answer to the latest request sets the position.
#[test]
fn stale_list_offsets_answer_after_a_new_seek_is_ignored() {
    let mut h = Harness::new(&[], 1, 1);
    let f = h.start(&[0], 0);
    h.c.seek_to_end(&[tp(0)]).unwrap();
    h.drain();
    h.respond(&f, &fetch_resp(7, vec![]));
    let first = h.expect::<ListOffsetsRequest>(1);
    h.c.seek_to_end(&[tp(0)]).unwrap();
    h.drain();
    let second = h.expect::<ListOffsetsRequest>(1);
    assert_eq!(list_parts(&second.body), [(0, -1)]);
    h.respond(&first, &list_offsets(&[(0, 50)]));
    assert!(h.take_events().is_empty(), "the stale answer set nothing");
    assert_eq!(h.c.position(&tp(0)), Ok(None));
    h.respond(&second, &list_offsets(&[(0, 60)]));
    assert_eq!(h.c.position(&tp(0)), Ok(Some(60)));
    let f = h.expect::<FetchRequest>(1);
    assert_eq!(fetch_parts(&f.body), [(0, 60)]);
}

/// A query made while closing, or left pending by `close`, is answered at once
/// with `Closed` (found by the `consumer` fuzz target: it was never answered and
/// its deadline made a driver spin).
#[test]
fn offsets_for_times_during_close_is_answered_with_closed() {
    let mut h = Harness::new(&[], 1, 1);
    let _f = h.start(&[0], 0);
    let pending = h.c.offsets_for_times([(tp(0), 1_700_000_000_000)]);
    h.drain();
    h.c.close();
    let late = h.c.offsets_for_times([(tp(0), 0)]);
    h.drain();
    let answered: Vec<(QueryId, Vec<bool>)> = h
        .take_all_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::OffsetsForTimes { id, offsets } => Some((
                id,
                offsets
                    .iter()
                    .map(|(_, r)| *r == Err(ConsumerError::Local(LocalError::Closed)))
                    .collect(),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(answered, [(pending, vec![true]), (late, vec![true])]);
}
