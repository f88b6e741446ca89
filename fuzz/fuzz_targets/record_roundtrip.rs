//! Structure-aware round trips of record batches: arbitrary records through
//! `BatchBuilder` with every codec (v2), arbitrary transaction markers, and arbitrary
//! legacy message sets (magic 0 and 1, every codec) through `legacy::encode`; each
//! decodes back to exactly what went in, through `batches` and `PartitionRecords`.
#![no_main]

use arbitrary::Arbitrary;
use bytes::{Bytes, BytesMut};
use kasio_core::records::legacy::{self, NO_TIMESTAMP};
use kasio_core::records::{
    BatchBuilder, Compression, ControlType, DecodeOptions, Fetched, PartitionRecords, Record,
    TimestampType,
};
use libfuzzer_sys::fuzz_target;

#[path = "records_common.rs"]
mod records_common;
use records_common::*;

type Headers = Vec<(String, Option<Vec<u8>>)>;
type LegacyMessage = (i64, Option<Vec<u8>>, Option<Vec<u8>>);

#[derive(Arbitrary, Debug)]
struct Rec {
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Headers,
    /// Offsets skipped before this record (what compaction leaves).
    gap: u8,
}

#[derive(Arbitrary, Debug)]
enum Input {
    V2 {
        base_offset: u32,
        high: u16,
        leader_epoch: i32,
        log_append_time: bool,
        transactional: bool,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
        max_timestamp: Option<i64>,
        skip: u8,
        records: Vec<Rec>,
    },
    Control {
        offset: u32,
        producer_id: i64,
        producer_epoch: i16,
        control_type: i16,
        coordinator_epoch: i32,
        timestamp: i64,
    },
    Legacy {
        magic1: bool,
        base_offset: u32,
        /// (timestamp, key, value)
        messages: Vec<LegacyMessage>,
    },
}

/// What a decoded record must look like.
#[derive(Debug, PartialEq)]
struct Expect {
    offset: i64,
    timestamp: i64,
    timestamp_type: TimestampType,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Headers,
}

fn seen(r: &Record) -> Expect {
    Expect {
        offset: r.offset,
        timestamp: r.timestamp,
        timestamp_type: r.timestamp_type,
        key: r.key.as_ref().map(|b| b.to_vec()),
        value: r.value.as_ref().map(|b| b.to_vec()),
        headers: r
            .headers()
            .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
            .collect(),
    }
}

fn seen_all(rs: &[Record]) -> Vec<Expect> {
    rs.iter().map(seen).collect()
}

fn opts() -> DecodeOptions {
    DecodeOptions {
        check_crcs: true,
        max_decompressed_bytes: 16 << 20,
    }
}

fuzz_target!(|input: Input| {
    match input {
        Input::V2 {
            base_offset,
            high,
            leader_epoch,
            log_append_time,
            transactional,
            producer_id,
            producer_epoch,
            base_sequence,
            max_timestamp,
            skip,
            records,
        } => {
            // Offsets well inside the i64 range (a real log's), but not only small ones.
            let base = (i64::from(high) << 40) | i64::from(base_offset);
            let mut delta: i32 = -1;
            let mut planned = Vec::new();
            for r in records {
                let Some(d) = delta.checked_add(1 + i32::from(r.gap)) else {
                    break;
                };
                delta = d;
                planned.push((d, r));
            }
            // As Java's MemoryRecordsBuilder: the batch's max timestamp starts at -1
            // (NO_TIMESTAMP), so records with negative timestamps leave it there.
            let max_record_ts = planned.iter().map(|(_, r)| r.timestamp).fold(-1, i64::max);
            let expect: Vec<Expect> = planned
                .iter()
                .map(|(d, r)| Expect {
                    offset: base + i64::from(*d),
                    timestamp: if log_append_time {
                        max_timestamp.unwrap_or(max_record_ts)
                    } else {
                        r.timestamp
                    },
                    timestamp_type: if log_append_time {
                        TimestampType::LogAppendTime
                    } else {
                        TimestampType::CreateTime
                    },
                    key: r.key.clone(),
                    value: r.value.clone(),
                    headers: r.headers.clone(),
                })
                .collect();
            for codec in Compression::ALL {
                let mut b = BatchBuilder::new(base).with_compression(codec);
                b.partition_leader_epoch = leader_epoch;
                b.transactional = transactional;
                b.producer_id = producer_id;
                b.producer_epoch = producer_epoch;
                b.base_sequence = base_sequence;
                b.max_timestamp = max_timestamp;
                if log_append_time {
                    b.timestamp_type = TimestampType::LogAppendTime;
                }
                for (d, r) in &planned {
                    let headers: Vec<(&str, Option<&[u8]>)> = r
                        .headers
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_deref()))
                        .collect();
                    b.push_at(
                        *d,
                        r.timestamp,
                        r.key.as_deref(),
                        r.value.as_deref(),
                        &headers,
                    );
                }
                let mut buf = BytesMut::new();
                b.encode(&mut buf).expect("every codec is built in");
                let data = buf.freeze();
                let (got, err) = walk_batches(&data, opts());
                assert!(err.is_none(), "{codec:?}: {err:?}");
                assert_eq!(seen_all(&got), expect, "{codec:?}");
                // From an offset inside the batch: the records before it are skipped.
                let from = expect
                    .get(usize::from(skip) % (expect.len() + 1))
                    .map_or(base, |e| e.offset);
                let (got, err) = walk_partition(&data, from, opts(), None);
                assert!(err.is_none(), "{codec:?}: {err:?}");
                let tail: Vec<&Expect> = expect.iter().filter(|e| e.offset >= from).collect();
                assert_eq!(
                    seen_all(&got).iter().collect::<Vec<_>>(),
                    tail,
                    "{codec:?} from {from}"
                );
                let mut pr = PartitionRecords::new(data.clone(), base, opts());
                for _ in pr.by_ref() {}
                assert_eq!(pr.next_fetch_offset(), base + i64::from(delta.max(0)) + 1);
                assert_eq!(
                    pr.leader_epoch(),
                    (leader_epoch >= 0).then_some(leader_epoch)
                );
            }
        }
        Input::Control {
            offset,
            producer_id,
            producer_epoch,
            control_type,
            coordinator_epoch,
            timestamp,
        } => {
            let offset = i64::from(offset);
            let ty = ControlType::from_i16(control_type);
            for codec in Compression::ALL {
                let b = BatchBuilder::control_marker(
                    offset,
                    producer_id,
                    producer_epoch,
                    ty,
                    coordinator_epoch,
                    timestamp,
                )
                .with_compression(codec);
                let mut buf = BytesMut::new();
                b.encode(&mut buf).expect("every codec is built in");
                let mut pr = PartitionRecords::new(buf.freeze(), offset, opts());
                match pr.next() {
                    Some(Ok(Fetched::Control(m))) => {
                        assert_eq!(m.offset, offset);
                        assert_eq!(
                            (m.producer_id, m.producer_epoch),
                            (producer_id, producer_epoch)
                        );
                        assert_eq!(m.control_type, ty);
                        let epoch = matches!(ty, ControlType::Abort | ControlType::Commit)
                            .then_some(coordinator_epoch);
                        assert_eq!(m.coordinator_epoch, epoch);
                    }
                    other => panic!("{codec:?}: expected a control marker, got {other:?}"),
                }
                assert!(pr.next().is_none());
                assert_eq!(pr.next_fetch_offset(), offset + 1);
            }
        }
        Input::Legacy {
            magic1,
            base_offset,
            messages,
        } => {
            let magic = i8::from(magic1);
            let base = i64::from(base_offset);
            let msgs: Vec<legacy::encode::Message<'_>> = messages
                .iter()
                .enumerate()
                .map(|(i, (ts, k, v))| legacy::encode::Message {
                    offset: base + i as i64,
                    timestamp: *ts,
                    key: k.as_deref(),
                    value: v.as_deref(),
                })
                .collect();
            let expect: Vec<Expect> = msgs
                .iter()
                .map(|m| Expect {
                    offset: m.offset,
                    timestamp: if magic1 { m.timestamp } else { NO_TIMESTAMP },
                    timestamp_type: TimestampType::CreateTime,
                    key: m.key.map(<[u8]>::to_vec),
                    value: m.value.map(<[u8]>::to_vec),
                    headers: Vec::new(),
                })
                .collect();
            for codec in Compression::ALL {
                let mut buf = BytesMut::new();
                assert!(legacy::encode::message_set(&mut buf, magic, codec, &msgs));
                let data: Bytes = buf.freeze();
                let (got, err) = walk_batches(&data, opts());
                assert!(err.is_none(), "magic {magic} {codec:?}: {err:?}");
                assert_eq!(seen_all(&got), expect, "magic {magic} {codec:?}");
                let (got, err) = walk_partition(&data, base, opts(), None);
                assert!(err.is_none(), "magic {magic} {codec:?}: {err:?}");
                assert_eq!(seen_all(&got), expect, "magic {magic} {codec:?}");
            }
        }
    }
});
