//! The producer APIs' edge cases, driven with requests `kafka-protocol` encodes
//! as a producer would.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, EndTxnRequest,
    EndTxnResponse, InitProducerIdRequest, InitProducerIdResponse, ProduceRequest, ProduceResponse,
    TopicName, TxnOffsetCommitRequest, TxnOffsetCommitResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kasio_core::codec::{RequestHeader, ResponseHeader};
use kasio_core::config::Config;
use kasio_core::consumer::TopicPartition;
use kasio_core::protocol::ErrorCode;
use kasio_core::records::{batches, BatchBuilder, Compression, DecodeOptions, TimestampType};
use kasio_core::time::{Duration, Instant};

use super::{ADD_OFFSETS_TO_TXN, ADD_PARTITIONS_TO_TXN, END_TXN, INIT_PRODUCER_ID, PRODUCE};
use crate::sim::cluster::{Cluster, ClusterSpec};
use crate::sim::server::{unframe, Output, ServerConn};
use crate::sim::{NetConfig, World};

/// A cluster of two brokers; topic "t" with 2 partitions on both (partition p
/// led by broker p + 1).
fn cluster() -> Cluster {
    Cluster::new(ClusterSpec::new(2).topic("t", 2, 2))
}

/// What came back for one request.
#[derive(Debug)]
enum Answer {
    Body(Bytes),
    Closed,
    Silent,
}

/// Sends one request on a fresh connection to `broker`.
fn send<R: Encodable>(c: &mut Cluster, broker: i32, key: i16, version: i16, body: &R) -> Answer {
    let flexible = version >= super::api(key).4;
    let mut buf = BytesMut::new();
    RequestHeader {
        api_key: key,
        api_version: version,
        correlation_id: 7,
        client_id: Some("test".into()),
    }
    .encode(1 + i16::from(flexible), &mut buf)
    .unwrap();
    body.encode(&mut buf, version).unwrap();
    send_raw(c, broker, buf.freeze(), flexible)
}

fn send_raw(c: &mut Cluster, broker: i32, frame: Bytes, flexible: bool) -> Answer {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let conn = ServerConn(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let now = c.now;
    c.handle_frame(broker, conn, now, frame);
    let mut answer = Answer::Silent;
    while let Some(out) = c.poll_output() {
        match out {
            Output::Send { conn: to, data, .. } if to == conn => {
                let (h, body) =
                    ResponseHeader::decode(i16::from(flexible), &unframe(data)).unwrap();
                assert_eq!(h.correlation_id, 7);
                answer = Answer::Body(body);
            }
            Output::Close { conn: to } if to == conn => answer = Answer::Closed,
            _ => {}
        }
    }
    answer
}

fn decode<M: Decodable>(a: Answer, version: i16) -> M {
    match a {
        Answer::Body(mut b) => M::decode(&mut b, version).unwrap(),
        other => panic!("no response: {other:?}"),
    }
}

/// A batch of `n` records ("v0", "v1", …) from `pid`/`epoch` at `seq`.
fn batch(n: usize, pid: i64, epoch: i16, seq: i32, txn: bool) -> Bytes {
    let mut b = BatchBuilder::new(0).with_compression(Compression::Lz4);
    b.producer_id = pid;
    b.producer_epoch = epoch;
    b.base_sequence = if pid >= 0 { seq } else { -1 };
    b.transactional = txn;
    for i in 0..n {
        let v = format!("v{i}");
        b.push(1_000 + i as i64, None, Some(v.as_bytes()), &[]);
    }
    let mut buf = BytesMut::new();
    b.encode(&mut buf).unwrap();
    buf.freeze()
}

fn produce_req(
    topic: &str,
    p: i32,
    records: Option<Bytes>,
    acks: i16,
    txn: Option<&str>,
) -> ProduceRequest {
    let part = PartitionProduceData::default()
        .with_index(p)
        .with_records(records);
    let t = TopicProduceData::default()
        .with_name(TopicName(StrBytes::from_string(topic.into())))
        .with_partition_data(vec![part]);
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(1000)
        .with_transactional_id(txn.map(|t| StrBytes::from_string(t.into()).into()))
        .with_topic_data(vec![t])
}

/// Produces at v10 to `broker`: (error, base offset).
fn produce(c: &mut Cluster, broker: i32, p: i32, records: Bytes) -> (ErrorCode, i64) {
    let r: ProduceResponse = decode(
        send(
            c,
            broker,
            PRODUCE,
            10,
            &produce_req("t", p, Some(records), -1, None),
        ),
        10,
    );
    let pr = &r.responses[0].partition_responses[0];
    (ErrorCode::from_code(pr.error_code), pr.base_offset)
}

#[test]
fn wrong_leader_and_unknown_partitions() {
    let mut c = cluster();
    // Partition 0 is led by broker 1: broker 2 names it (KIP-951).
    let r: ProduceResponse = decode(
        send(
            &mut c,
            2,
            PRODUCE,
            10,
            &produce_req("t", 0, Some(batch(1, -1, -1, 0, false)), -1, None),
        ),
        10,
    );
    let pr = &r.responses[0].partition_responses[0];
    assert_eq!(pr.error_code, ErrorCode::NotLeaderOrFollower.code());
    assert_eq!(pr.current_leader.leader_id.0, 1);
    assert_eq!(r.node_endpoints.len(), 1);
    assert_eq!(r.node_endpoints[0].node_id.0, 1);
    for (topic, p) in [("nope", 0), ("t", 5)] {
        let r: ProduceResponse = decode(
            send(
                &mut c,
                1,
                PRODUCE,
                10,
                &produce_req(topic, p, Some(batch(1, -1, -1, 0, false)), 1, None),
            ),
            10,
        );
        let pr = &r.responses[0].partition_responses[0];
        assert_eq!(pr.error_code, ErrorCode::UnknownTopicOrPartition.code());
    }
    assert_eq!(c.view("t", 0).unwrap().high_watermark, 0);
    assert_eq!(
        produce(&mut c, 1, 0, batch(3, -1, -1, 0, false)),
        (ErrorCode::None, 0)
    );
    assert_eq!(
        produce(&mut c, 1, 0, batch(2, -1, -1, 0, false)),
        (ErrorCode::None, 3)
    );
    // The stored batches are the producer's, offsets and leader epoch patched
    // in, CRCs intact.
    let log = c.log("t", 0).unwrap();
    let read = log.read(0, 5, usize::MAX, false);
    let bases: Vec<i64> = batches(read.bytes, DecodeOptions::default())
        .map(|b| b.unwrap().base_offset())
        .collect();
    assert_eq!(bases, vec![0, 3]);
    assert!(c.take_violations().is_empty());
}

#[test]
fn bad_crc_and_invalid_batches_are_refused_and_recorded() {
    let mut c = cluster();
    let good = batch(2, -1, -1, 0, false);
    let mut bad = good.to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 0x55;
    assert_eq!(
        produce(&mut c, 1, 0, Bytes::from(bad)).0,
        ErrorCode::CorruptMessage
    );
    // Cut short: the batch length says more than there is.
    assert_eq!(
        produce(&mut c, 1, 0, good.slice(..good.len() - 3)).0,
        ErrorCode::CorruptMessage
    );
    // Two batches in one partition's records.
    let mut two = good.to_vec();
    two.extend_from_slice(&good);
    assert_eq!(
        produce(&mut c, 1, 0, Bytes::from(two)).0,
        ErrorCode::InvalidRecord
    );
    // A control batch from a client.
    let mut ctl = BytesMut::new();
    BatchBuilder::control_marker(0, 5, 0, kasio_core::records::ControlType::Commit, 0, 1)
        .encode(&mut ctl)
        .unwrap();
    assert_eq!(
        produce(&mut c, 1, 0, ctl.freeze()).0,
        ErrorCode::InvalidRecord
    );
    // No records at all.
    let r: ProduceResponse = decode(
        send(&mut c, 1, PRODUCE, 10, &produce_req("t", 0, None, -1, None)),
        10,
    );
    assert_eq!(
        r.responses[0].partition_responses[0].error_code,
        ErrorCode::InvalidRecord.code()
    );
    // Nothing was written; each was a violation, none panicked.
    assert_eq!(c.view("t", 0).unwrap().high_watermark, 0);
    assert_eq!(c.take_violations().len(), 5);
    // The connection stays usable: the next good batch goes in.
    assert_eq!(produce(&mut c, 1, 0, good), (ErrorCode::None, 0));
}

#[test]
fn duplicate_and_out_of_order_sequences() {
    let mut c = cluster();
    let r: InitProducerIdResponse = decode(
        send(
            &mut c,
            2,
            INIT_PRODUCER_ID,
            4,
            &InitProducerIdRequest::default().with_transactional_id(None),
        ),
        4,
    );
    assert_eq!(r.error_code, 0);
    let pid = r.producer_id.0;
    assert!(pid >= 0);
    assert_eq!(
        produce(&mut c, 1, 0, batch(3, pid, 0, 0, false)),
        (ErrorCode::None, 0)
    );
    // A retry of the same batch: its original offset, no second copy.
    assert_eq!(
        produce(&mut c, 1, 0, batch(3, pid, 0, 0, false)),
        (ErrorCode::None, 0)
    );
    assert_eq!(c.view("t", 0).unwrap().high_watermark, 3);
    // A gap, then a batch that overlaps but is not a remembered one.
    let gap = produce(&mut c, 1, 0, batch(1, pid, 0, 5, false));
    assert_eq!(gap.0, ErrorCode::OutOfOrderSequenceNumber);
    let overlap = produce(&mut c, 1, 0, batch(2, pid, 0, 1, false));
    assert_eq!(overlap.0, ErrorCode::OutOfOrderSequenceNumber);
    assert_eq!(
        produce(&mut c, 1, 0, batch(2, pid, 0, 3, false)),
        (ErrorCode::None, 3)
    );
    // A new epoch starts at sequence 0; the old one is fenced.
    let bumped = produce(&mut c, 1, 0, batch(1, pid, 1, 4, false));
    assert_eq!(bumped.0, ErrorCode::OutOfOrderSequenceNumber);
    assert_eq!(
        produce(&mut c, 1, 0, batch(1, pid, 1, 0, false)),
        (ErrorCode::None, 5)
    );
    let old = produce(&mut c, 1, 0, batch(1, pid, 0, 5, false));
    assert_eq!(old.0, ErrorCode::InvalidProducerEpoch);
    // Sequences are per partition.
    assert_eq!(
        produce(&mut c, 2, 1, batch(1, pid, 0, 9, false)),
        (ErrorCode::None, 0)
    );
    assert_eq!(c.view("t", 0).unwrap().high_watermark, 6);
    assert!(c.take_violations().is_empty(), "all legitimate answers");
}

#[test]
fn an_unclean_truncation_forgets_the_lost_batches() {
    let mut c = cluster();
    let pid = 77;
    assert_eq!(
        produce(&mut c, 1, 0, batch(2, pid, 0, 0, false)),
        (ErrorCode::None, 0)
    );
    assert_eq!(
        produce(&mut c, 1, 0, batch(2, pid, 0, 2, false)),
        (ErrorCode::None, 2)
    );
    // The second batch is lost; its retry must be written again, not
    // acknowledged at an offset that no longer holds it.
    assert_eq!(c.truncate("t", 0, 2, None), Ok(2));
    assert_eq!(
        produce(&mut c, 1, 0, batch(2, pid, 0, 2, false)),
        (ErrorCode::None, 2)
    );
    assert_eq!(c.view("t", 0).unwrap().high_watermark, 4);
    // The first is still there: its retry is a duplicate.
    assert_eq!(
        produce(&mut c, 1, 0, batch(2, pid, 0, 0, false)),
        (ErrorCode::None, 0)
    );
    // Everything lost: the producer is unknown again and may go on anywhere.
    assert_eq!(c.truncate("t", 0, 0, None), Ok(0));
    assert_eq!(
        produce(&mut c, 1, 0, batch(1, pid, 0, 9, false)),
        (ErrorCode::None, 0)
    );
}

/// A transactional producer's requests, at the versions librdkafka 2.16 uses.
struct Txn {
    id: &'static str,
    pid: i64,
    epoch: i16,
    coordinator: i32,
}

fn init_txn(c: &mut Cluster, id: &'static str) -> Txn {
    let coordinator = c.coordinator_of(id).unwrap();
    let req = InitProducerIdRequest::default()
        .with_transactional_id(Some(StrBytes::from_static_str(id).into()))
        .with_transaction_timeout_ms(60_000)
        .with_producer_id((-1).into())
        .with_producer_epoch(-1);
    let r: InitProducerIdResponse = decode(send(c, coordinator, INIT_PRODUCER_ID, 4, &req), 4);
    assert_eq!(r.error_code, 0);
    Txn {
        id,
        pid: r.producer_id.0,
        epoch: r.producer_epoch,
        coordinator,
    }
}

fn add_partitions(c: &mut Cluster, t: &Txn, epoch: i16, version: i16, parts: &[i32]) -> ErrorCode {
    let req = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(StrBytes::from_static_str(t.id).into())
        .with_v3_and_below_producer_id(t.pid.into())
        .with_v3_and_below_producer_epoch(epoch)
        .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("t")))
            .with_partitions(parts.to_vec())]);
    let r: AddPartitionsToTxnResponse = decode(
        send(c, t.coordinator, ADD_PARTITIONS_TO_TXN, version, &req),
        version,
    );
    ErrorCode::from_code(
        r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code,
    )
}

fn end_txn(c: &mut Cluster, t: &Txn, epoch: i16, commit: bool) -> ErrorCode {
    let req = EndTxnRequest::default()
        .with_transactional_id(StrBytes::from_static_str(t.id).into())
        .with_producer_id(t.pid.into())
        .with_producer_epoch(epoch)
        .with_committed(commit);
    let r: EndTxnResponse = decode(send(c, t.coordinator, END_TXN, 1, &req), 1);
    ErrorCode::from_code(r.error_code)
}

fn produce_txn(
    c: &mut Cluster,
    t: &Txn,
    epoch: i16,
    p: i32,
    n: usize,
    seq: i32,
) -> (ErrorCode, i64) {
    let req = produce_req(
        "t",
        p,
        Some(batch(n, t.pid, epoch, seq, true)),
        -1,
        Some(t.id),
    );
    let r: ProduceResponse = decode(send(c, p + 1, PRODUCE, 10, &req), 10);
    let pr = &r.responses[0].partition_responses[0];
    (ErrorCode::from_code(pr.error_code), pr.base_offset)
}

#[test]
fn a_new_instance_fences_the_old_epoch() {
    let mut c = cluster();
    let old = init_txn(&mut c, "fenced");
    // Not the coordinator.
    let other = 3 - old.coordinator;
    let req = InitProducerIdRequest::default()
        .with_transactional_id(Some(StrBytes::from_static_str("fenced").into()))
        .with_transaction_timeout_ms(60_000);
    let r: InitProducerIdResponse = decode(send(&mut c, other, INIT_PRODUCER_ID, 4, &req), 4);
    assert_eq!(r.error_code, ErrorCode::NotCoordinator.code());
    assert_eq!(
        add_partitions(&mut c, &old, old.epoch, 0, &[0]),
        ErrorCode::None
    );
    assert_eq!(
        produce_txn(&mut c, &old, old.epoch, 0, 2, 0),
        (ErrorCode::None, 0)
    );
    assert_eq!(c.view("t", 0).unwrap().last_stable_offset, 0);
    // A new instance: same producer id, next epoch; the open transaction is
    // aborted (marker at the new epoch), the old instance fenced everywhere.
    let new = init_txn(&mut c, "fenced");
    assert_eq!((new.pid, new.epoch), (old.pid, old.epoch + 1));
    let v = c.view("t", 0).unwrap();
    assert_eq!((v.high_watermark, v.last_stable_offset), (3, 3));
    assert_eq!(c.log("t", 0).unwrap().aborted_between(0, 3).len(), 1);
    assert_eq!(
        add_partitions(&mut c, &old, old.epoch, 2, &[0]),
        ErrorCode::ProducerFenced
    );
    assert_eq!(
        add_partitions(&mut c, &old, old.epoch, 0, &[0]),
        ErrorCode::InvalidProducerEpoch
    );
    assert_eq!(
        end_txn(&mut c, &old, old.epoch, true),
        ErrorCode::InvalidProducerEpoch
    );
    assert_eq!(
        produce_txn(&mut c, &old, old.epoch, 0, 1, 2).0,
        ErrorCode::InvalidProducerEpoch
    );
    // The new one writes from sequence 0; not into a partition it did not add.
    assert_eq!(
        produce_txn(&mut c, &new, new.epoch, 1, 1, 0).0,
        ErrorCode::InvalidTxnState
    );
    assert_eq!(
        add_partitions(&mut c, &new, new.epoch, 0, &[0]),
        ErrorCode::None
    );
    assert_eq!(
        produce_txn(&mut c, &new, new.epoch, 0, 1, 0),
        (ErrorCode::None, 3)
    );
    assert_eq!(end_txn(&mut c, &new, new.epoch, true), ErrorCode::None);
    // A retried EndTxn is fine; the other outcome is not.
    assert_eq!(end_txn(&mut c, &new, new.epoch, true), ErrorCode::None);
    assert_eq!(
        end_txn(&mut c, &new, new.epoch, false),
        ErrorCode::InvalidTxnState
    );
    assert!(c.take_violations().is_empty());
}

#[test]
fn aborted_then_committed_read_committed_sees_only_the_committed() {
    let mut c = cluster();
    let t = init_txn(&mut c, "rc");
    assert_eq!(
        add_partitions(&mut c, &t, t.epoch, 0, &[0]),
        ErrorCode::None
    );
    assert_eq!(
        produce_txn(&mut c, &t, t.epoch, 0, 3, 0),
        (ErrorCode::None, 0)
    );
    let v = c.view("t", 0).unwrap();
    assert_eq!(
        (v.high_watermark, v.last_stable_offset),
        (3, 0),
        "open: LSO held back"
    );
    assert_eq!(end_txn(&mut c, &t, t.epoch, false), ErrorCode::None);
    let v = c.view("t", 0).unwrap();
    assert_eq!((v.high_watermark, v.last_stable_offset), (4, 4));
    let aborted = c.log("t", 0).unwrap().aborted_between(0, 4);
    assert_eq!(
        (
            aborted[0].producer_id,
            aborted[0].first_offset,
            aborted[0].last_offset
        ),
        (t.pid, 0, 3)
    );
    assert_eq!(
        add_partitions(&mut c, &t, t.epoch, 0, &[0]),
        ErrorCode::None
    );
    assert_eq!(
        produce_txn(&mut c, &t, t.epoch, 0, 2, 3),
        (ErrorCode::None, 4)
    );
    assert_eq!(end_txn(&mut c, &t, t.epoch, true), ErrorCode::None);
    assert_eq!(c.view("t", 0).unwrap().last_stable_offset, 7);

    // A kasio consumer under read_committed, in the simulated world.
    let bootstrap = c.bootstrap();
    let mut world = World::new(c, NetConfig::default(), 3);
    let config = Config::from_pairs([
        ("bootstrap.servers", bootstrap.as_str()),
        ("auto.offset.reset", "earliest"),
        ("isolation.level", "read_committed"),
    ])
    .unwrap();
    let id = world.add_checked_consumer(config);
    world
        .with_consumer(id, |k| k.assign([TopicPartition::new("t", 0)]))
        .unwrap();
    let mut got: Vec<(i64, Bytes)> = Vec::new();
    let deadline = Instant::ZERO + Duration::from_secs(20);
    world
        .run_until(deadline, |w| {
            for (_, r) in w.poll_records(id).iter() {
                got.push((r.offset, r.value.clone().unwrap()));
            }
            w.consumer(id).position(&TopicPartition::new("t", 0)) == Ok(Some(7))
        })
        .unwrap();
    assert_eq!(
        got,
        vec![
            (4, Bytes::from_static(b"v0")),
            (5, Bytes::from_static(b"v1"))
        ]
    );
}

#[test]
fn offsets_commit_with_the_transaction() {
    let mut c = cluster();
    let t = init_txn(&mut c, "offsets");
    let group_coordinator = c.coordinator_of("g").unwrap();
    for commit in [false, true] {
        let req = AddOffsetsToTxnRequest::default()
            .with_transactional_id(StrBytes::from_static_str("offsets").into())
            .with_producer_id(t.pid.into())
            .with_producer_epoch(t.epoch)
            .with_group_id(StrBytes::from_static_str("g").into());
        let r: kafka_protocol::messages::AddOffsetsToTxnResponse =
            decode(send(&mut c, t.coordinator, ADD_OFFSETS_TO_TXN, 1, &req), 1);
        assert_eq!(r.error_code, 0);
        let offset = if commit { 42 } else { 17 };
        let req = TxnOffsetCommitRequest::default()
            .with_transactional_id(StrBytes::from_static_str("offsets").into())
            .with_group_id(StrBytes::from_static_str("g").into())
            .with_producer_id(t.pid.into())
            .with_producer_epoch(t.epoch)
            .with_topics(vec![TxnOffsetCommitRequestTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("t")))
                .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                    .with_partition_index(1)
                    .with_committed_offset(offset)])]);
        let r: TxnOffsetCommitResponse = decode(
            send(&mut c, group_coordinator, super::TXN_OFFSET_COMMIT, 2, &req),
            2,
        );
        assert_eq!(r.topics[0].partitions[0].error_code, 0);
        assert_eq!(
            c.committed("g", "t", 1),
            None,
            "not before the transaction commits"
        );
        assert_eq!(end_txn(&mut c, &t, t.epoch, commit), ErrorCode::None);
    }
    assert_eq!(
        c.committed("g", "t", 1),
        Some(42),
        "the aborted 17 never counted"
    );
}

#[test]
fn acks_zero_is_silent_and_closes_on_errors() {
    let mut c = cluster();
    let ok = send(
        &mut c,
        1,
        PRODUCE,
        10,
        &produce_req("t", 0, Some(batch(2, -1, -1, 0, false)), 0, None),
    );
    assert!(matches!(ok, Answer::Silent), "{ok:?}");
    assert_eq!(c.view("t", 0).unwrap().high_watermark, 2);
    let wrong = send(
        &mut c,
        2,
        PRODUCE,
        10,
        &produce_req("t", 0, Some(batch(2, -1, -1, 0, false)), 0, None),
    );
    assert!(matches!(wrong, Answer::Closed), "{wrong:?}");
    let r: ProduceResponse = decode(
        send(
            &mut c,
            1,
            PRODUCE,
            10,
            &produce_req("t", 0, Some(batch(1, -1, -1, 0, false)), 2, None),
        ),
        10,
    );
    assert_eq!(
        r.responses[0].partition_responses[0].error_code,
        ErrorCode::InvalidRequiredAcks.code()
    );
}

#[test]
fn log_append_time_restamps_the_batch() {
    let mut c = cluster();
    c.set_log_append_time("t", true);
    c.advance(Instant::ZERO + Duration::from_millis(5_000));
    let r: ProduceResponse = decode(
        send(
            &mut c,
            1,
            PRODUCE,
            8,
            &produce_req("t", 0, Some(batch(2, -1, -1, 0, false)), 1, None),
        ),
        8,
    );
    let pr = &r.responses[0].partition_responses[0];
    assert_eq!(
        (pr.error_code, pr.log_append_time_ms, pr.log_start_offset),
        (0, 5_000, 0)
    );
    let read = c.log("t", 0).unwrap().read(0, 2, usize::MAX, false);
    let b = batches(read.bytes, DecodeOptions::default())
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(b.header().timestamp_type(), TimestampType::LogAppendTime);
    let ts: Vec<i64> = b
        .records(&DecodeOptions::default())
        .unwrap()
        .map(|r| r.unwrap().timestamp)
        .collect();
    assert_eq!(ts, vec![5_000, 5_000]);
    // Without LogAppendTime a client may not ask for it.
    c.set_log_append_time("t", false);
    let mut b = BatchBuilder::new(0);
    b.timestamp_type = TimestampType::LogAppendTime;
    b.push(1, None, Some(b"x"), &[]);
    let mut buf = BytesMut::new();
    b.encode(&mut buf).unwrap();
    assert_eq!(
        produce(&mut c, 1, 0, buf.freeze()).0,
        ErrorCode::InvalidTimestamp
    );
}

#[test]
fn malformed_requests_close_the_connection_without_panicking() {
    let mut c = cluster();
    // Produce v2 is not advertised.
    let mut v2 = BytesMut::new();
    RequestHeader {
        api_key: PRODUCE,
        api_version: 2,
        correlation_id: 7,
        client_id: None,
    }
    .encode(1, &mut v2)
    .unwrap();
    assert!(matches!(
        send_raw(&mut c, 1, v2.freeze(), false),
        Answer::Closed
    ));
    assert_eq!(c.take_violations().len(), 1);
    // A topic count of 2^31 - 1 in four bytes: refused before anything is
    // reserved for it.
    let mut frame = BytesMut::new();
    RequestHeader {
        api_key: PRODUCE,
        api_version: 8,
        correlation_id: 7,
        client_id: None,
    }
    .encode(1, &mut frame)
    .unwrap();
    frame.extend_from_slice(&[0xff, 0xff, 0, 1, 0, 0, 0, 100, 0x7f, 0xff, 0xff, 0xff]);
    assert!(matches!(
        send_raw(&mut c, 1, frame.freeze(), false),
        Answer::Closed
    ));
    assert_eq!(c.take_violations().len(), 1);
    // Every cut of valid requests of each API: an answer or a close, never a panic.
    let good = [
        (PRODUCE, 10, {
            let mut b = BytesMut::new();
            produce_req("t", 0, Some(batch(2, -1, -1, 0, false)), 1, Some("x"))
                .encode(&mut b, 10)
                .unwrap();
            b
        }),
        (ADD_PARTITIONS_TO_TXN, 3, {
            let mut b = BytesMut::new();
            let t = Txn {
                id: "cut",
                pid: 1,
                epoch: 0,
                coordinator: 1,
            };
            AddPartitionsToTxnRequest::default()
                .with_v3_and_below_transactional_id(StrBytes::from_static_str(t.id).into())
                .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
                    .with_name(TopicName(StrBytes::from_static_str("t")))
                    .with_partitions(vec![0, 1])])
                .encode(&mut b, 3)
                .unwrap();
            b
        }),
    ];
    for (key, version, body) in good {
        // Every byte flipped: whatever the answer, no panic.
        for at in 0..body.len() {
            let mut frame = BytesMut::new();
            RequestHeader {
                api_key: key,
                api_version: version,
                correlation_id: 7,
                client_id: None,
            }
            .encode(2, &mut frame)
            .unwrap();
            let mut flipped = body.to_vec();
            flipped[at] ^= 0xff;
            frame.extend_from_slice(&flipped);
            send_raw(&mut c, 1, frame.freeze(), true);
        }
        for cut in 0..body.len() {
            let mut frame = BytesMut::new();
            RequestHeader {
                api_key: key,
                api_version: version,
                correlation_id: 7,
                client_id: None,
            }
            .encode(2, &mut frame)
            .unwrap();
            frame.extend_from_slice(&body[..cut]);
            let a = send_raw(&mut c, 1, frame.freeze(), true);
            assert!(matches!(a, Answer::Closed), "{key} cut at {cut}: {a:?}");
        }
    }
}
