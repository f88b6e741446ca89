//! Record batches: round trips through our encoder with every codec, cross-checks
//! with the `kafka-protocol` crate's encoder (v2 and legacy magic 0/1), control
//! batches, truncation, corruption, absurd lengths and random bytes.

use bytes::{Bytes, BytesMut};
use kasio_core::records::{
    batches, legacy, BatchBuilder, Compression, ControlType, DecodeOptions, Fetched,
    PartitionRecords, Record, RecordErrorKind, TimestampType,
};

/// What a test record holds, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Expected {
    offset: i64,
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

impl Expected {
    fn of(r: &Record) -> Self {
        Self {
            offset: r.offset,
            timestamp: r.timestamp,
            key: r.key.as_ref().map(|b| b.to_vec()),
            value: r.value.as_ref().map(|b| b.to_vec()),
            headers: r
                .headers()
                .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                .collect(),
        }
    }
}

/// A varied set of records: null keys and values, empty ones, headers with null
/// values, a large value, negative timestamp deltas.
fn sample(base_offset: i64, n: usize) -> Vec<Expected> {
    (0..n)
        .map(|i| Expected {
            offset: base_offset + i as i64,
            timestamp: 1_700_000_000_000 + (i as i64 % 7) * 1000 - 3000,
            key: match i % 4 {
                0 => None,
                1 => Some(Vec::new()),
                _ => Some(format!("key-{i}").into_bytes()),
            },
            value: match i % 5 {
                0 => None,
                1 => Some(vec![b'x'; 300]),
                _ => Some(format!("value-{i}-{}", "v".repeat(i % 50)).into_bytes()),
            },
            headers: (0..i % 3)
                .map(|h| {
                    let v = if h == 1 {
                        None
                    } else {
                        Some(format!("hv{h}").into_bytes())
                    };
                    (format!("h{h}"), v)
                })
                .collect(),
        })
        .collect()
}

fn build(base_offset: i64, recs: &[Expected], codec: Compression) -> BatchBuilder {
    let mut b = BatchBuilder::new(base_offset).with_compression(codec);
    for r in recs {
        let headers: Vec<(&str, Option<&[u8]>)> = r
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref()))
            .collect();
        b.push_at(
            (r.offset - base_offset) as i32,
            r.timestamp,
            r.key.as_deref(),
            r.value.as_deref(),
            &headers,
        );
    }
    b
}

fn encode(b: &BatchBuilder) -> Bytes {
    let mut buf = BytesMut::new();
    b.encode(&mut buf).unwrap();
    buf.freeze()
}

/// Every record of `data` through [`PartitionRecords`], panicking on errors.
/// The format each record came in (`Record::magic`).
fn magics(data: Bytes, fetch_offset: i64) -> Vec<i8> {
    PartitionRecords::new(data, fetch_offset, DecodeOptions::default())
        .filter_map(|f| match f.unwrap() {
            Fetched::Record(r) => Some(r.magic),
            _ => None,
        })
        .collect()
}

fn decode_all(data: Bytes, fetch_offset: i64) -> (Vec<Expected>, Vec<Fetched>, i64) {
    let mut it = PartitionRecords::new(data, fetch_offset, DecodeOptions::default());
    let mut recs = Vec::new();
    let mut controls = Vec::new();
    for f in &mut it {
        match f.unwrap() {
            Fetched::Record(r) => recs.push(Expected::of(&r)),
            c => controls.push(c),
        }
    }
    assert!(it.truncated().is_none());
    (recs, controls, it.next_fetch_offset())
}

#[test]
fn round_trip_every_codec() {
    for codec in Compression::ALL {
        let recs = sample(1000, 120);
        let data = encode(&build(1000, &recs, codec));
        let (got, controls, next) = decode_all(data.clone(), 0);
        assert_eq!(got, recs, "{codec:?}");
        assert!(controls.is_empty());
        assert_eq!(magics(data.clone(), 0), [2; 120]);
        assert_eq!(next, 1120);
        let batch = batches(data, DecodeOptions::default())
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(batch.header().compression(), Ok(codec));
        assert_eq!(batch.header().records_count, 120);
        assert_eq!(batch.header().magic, 2);
    }
}

#[test]
fn several_batches_and_the_fetch_offset_inside_the_first() {
    let mut blob = BytesMut::new();
    let mut all = Vec::new();
    for (i, codec) in Compression::ALL.into_iter().enumerate() {
        let base = 10 * i as i64;
        let recs = sample(base, 10);
        build(base, &recs, codec).encode(&mut blob).unwrap();
        all.extend(recs);
    }
    let (got, _, next) = decode_all(blob.clone().freeze(), 13);
    assert_eq!(got, all[13..]);
    assert_eq!(next, 50);
    // A fetch offset past everything yields nothing but keeps its position.
    let (got, _, next) = decode_all(blob.freeze(), 60);
    assert!(got.is_empty());
    assert_eq!(next, 60);
}

#[test]
fn compaction_gaps_and_empty_batches_still_move_the_fetch_offset() {
    let mut b = BatchBuilder::new(100);
    b.push_at(0, 1, None, Some(b"a"), &[]);
    b.push_at(5, 2, None, Some(b"b"), &[]);
    let mut blob = BytesMut::new();
    b.encode(&mut blob).unwrap();
    // An empty batch whose records were all compacted away: lastOffsetDelta says 9.
    let mut empty = BytesMut::new();
    let mut e = BatchBuilder::new(106);
    e.push_at(9, 3, None, Some(b"gone"), &[]);
    e.encode(&mut empty).unwrap();
    // Rewrite it as a batch of zero records (count 0, records cut, CRC fixed up).
    let mut bytes = empty[..61].to_vec();
    bytes[57..61].copy_from_slice(&0i32.to_be_bytes());
    bytes[8..12].copy_from_slice(&49i32.to_be_bytes());
    let crc = kasio_core::records::crc::crc32c(&bytes[21..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
    blob.extend_from_slice(&bytes);
    let (got, _, next) = decode_all(blob.freeze(), 100);
    assert_eq!(got.iter().map(|r| r.offset).collect::<Vec<_>>(), [100, 105]);
    assert_eq!(next, 116);
}

#[test]
fn log_append_time_gives_every_record_the_batch_time() {
    let recs = sample(0, 5);
    let mut b = build(0, &recs, Compression::None);
    b.timestamp_type = TimestampType::LogAppendTime;
    b.max_timestamp = Some(42);
    let (got, _, _) = decode_all(encode(&b), 0);
    assert!(got.iter().all(|r| r.timestamp == 42));
}

#[test]
fn transactional_batch_then_abort_marker() {
    let recs = sample(0, 3);
    let mut b = build(0, &recs, Compression::Lz4);
    b.transactional = true;
    b.producer_id = 7;
    b.producer_epoch = 2;
    let mut blob = BytesMut::new();
    b.encode(&mut blob).unwrap();
    BatchBuilder::control_marker(3, 7, 2, ControlType::Abort, 5, 99)
        .encode(&mut blob)
        .unwrap();
    let (got, controls, next) = decode_all(blob.freeze(), 0);
    assert_eq!(got, recs);
    assert_eq!(next, 4);
    match &controls[..] {
        [Fetched::Control(m)] => {
            assert_eq!(m.control_type, ControlType::Abort);
            assert_eq!((m.offset, m.producer_id, m.producer_epoch), (3, 7, 2));
            assert_eq!(m.coordinator_epoch, Some(5));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn crc_mismatch_names_the_batch_and_then_the_next_batch_follows() {
    let mut blob = BytesMut::new();
    build(0, &sample(0, 3), Compression::None)
        .encode(&mut blob)
        .unwrap();
    let first_len = blob.len();
    build(3, &sample(3, 3), Compression::None)
        .encode(&mut blob)
        .unwrap();
    let clean = blob.clone().freeze();
    // Flip one bit in every CRC-covered byte of the first batch in turn.
    for i in 21..first_len {
        let mut bad = clean.to_vec();
        bad[i] ^= 0x10;
        let mut it = batches(Bytes::from(bad), DecodeOptions::default());
        let err = it.next().unwrap().unwrap_err().in_partition("orders", 3);
        assert!(
            matches!(err.kind, RecordErrorKind::CrcMismatch { .. }),
            "{err}"
        );
        assert_eq!(err.offset, Some(0));
        assert!(err.to_string().contains("orders-3"), "{err}");
        assert_eq!(it.next().unwrap().unwrap().base_offset(), 3);
    }
    // The partition leader epoch is outside the CRC (the broker rewrites it).
    let mut epoch = clean.to_vec();
    epoch[12] ^= 1;
    assert!(batches(Bytes::from(epoch), DecodeOptions::default()).all(|b| b.is_ok()));
    // With check.crcs off a corrupted value comes through.
    let mut bad = clean.to_vec();
    let at = first_len - 3;
    bad[at] ^= 0x01;
    let opts = DecodeOptions {
        check_crcs: false,
        ..DecodeOptions::default()
    };
    assert!(batches(Bytes::from(bad), opts).all(|b| b.is_ok()));
}

#[test]
fn truncation_at_every_offset_is_incomplete_not_an_error() {
    let mut blob = BytesMut::new();
    let mut ends = Vec::new();
    for (i, codec) in Compression::ALL.into_iter().enumerate() {
        build(i as i64 * 4, &sample(i as i64 * 4, 4), codec)
            .encode(&mut blob)
            .unwrap();
        ends.push(blob.len());
    }
    let blob = blob.freeze();
    for cut in 0..=blob.len() {
        let mut it = PartitionRecords::new(blob.slice(..cut), 0, DecodeOptions::default());
        let mut n = 0;
        for f in &mut it {
            assert!(matches!(f, Ok(Fetched::Record(_))), "cut {cut}: {f:?}");
            n += 1;
        }
        let complete = ends.iter().filter(|&&e| e <= cut).count();
        assert_eq!(n, complete * 4, "cut {cut}");
        assert_eq!(it.next_fetch_offset(), complete as i64 * 4);
        let at_boundary = cut == 0 || ends.contains(&cut);
        assert_eq!(it.truncated().is_none(), at_boundary, "cut {cut}");
        if let Some(t) = it.truncated() {
            let start = if complete == 0 { 0 } else { ends[complete - 1] };
            assert_eq!(t.available, cut - start);
            if t.available >= 12 {
                assert_eq!(t.batch_size, Some(ends[complete] - start));
                assert_eq!(t.base_offset, Some(complete as i64 * 4));
            }
        }
    }
}

#[test]
fn a_batch_larger_than_the_fetch_limit_still_makes_progress() {
    // Since KIP-74 the broker returns the first batch whole even when it is larger
    // than max.partition.fetch.bytes; nothing in decoding may hold it back.
    let big = vec![7u8; 2 << 20];
    let mut b = BatchBuilder::new(0);
    b.push(0, None, Some(&big), &[]);
    let (got, _, next) = decode_all(encode(&b), 0);
    assert_eq!(got.len(), 1);
    assert_eq!(next, 1);
    // A pre-KIP-74 broker cuts it instead: that is reported with the size needed.
    let whole = encode(&b);
    let mut it = PartitionRecords::new(whole.slice(..1 << 20), 0, DecodeOptions::default());
    assert!(it.next().is_none());
    assert_eq!(it.truncated().unwrap().batch_size, Some(whole.len()));
}

#[test]
fn decompression_is_bounded() {
    let zeros = vec![0u8; 1 << 20];
    for codec in Compression::ALL.into_iter().skip(1) {
        let mut b = BatchBuilder::new(0).with_compression(codec);
        b.push(0, None, Some(&zeros), &[]);
        let data = encode(&b);
        assert!(
            data.len() < 64 << 10,
            "{codec:?} compresses to {}",
            data.len()
        );
        let opts = DecodeOptions {
            max_decompressed_bytes: 256 << 10,
            ..DecodeOptions::default()
        };
        let batch = batches(data.clone(), opts).next().unwrap().unwrap();
        let err = batch.records(&opts).unwrap_err();
        assert_eq!(
            err.kind,
            RecordErrorKind::DecompressedTooLarge {
                codec,
                limit: 256 << 10
            },
            "{codec:?}"
        );
        assert_eq!(err.offset, Some(0));
        // And with room enough it decodes.
        let batch = batches(data, DecodeOptions::default())
            .next()
            .unwrap()
            .unwrap();
        let recs: Vec<_> = batch.records(&DecodeOptions::default()).unwrap().collect();
        assert_eq!(recs.len(), 1);
    }
}

/// Writes a v2 batch by hand around `records` (already encoded), with a valid CRC.
fn raw_batch(count: i32, records: &[u8]) -> Bytes {
    let mut b = vec![0u8; 61];
    b[8..12].copy_from_slice(&(49 + records.len() as i32).to_be_bytes());
    b[16] = 2;
    b[57..61].copy_from_slice(&count.to_be_bytes());
    b.extend_from_slice(records);
    let crc = kasio_core::records::crc::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(b)
}

fn first_error(data: Bytes) -> RecordErrorKind {
    let opts = DecodeOptions::default();
    for f in PartitionRecords::new(data, 0, opts) {
        if let Err(e) = f {
            return e.kind;
        }
    }
    panic!("no error")
}

#[test]
fn absurd_lengths_are_errors() {
    let malformed = |k: &RecordErrorKind| matches!(k, RecordErrorKind::Malformed(_));
    // Record length far past the end; negative record length.
    assert!(malformed(&first_error(raw_batch(
        1,
        &[0xfe, 0xff, 0xff, 0xff, 0x0f]
    ))));
    assert!(malformed(&first_error(raw_batch(1, &[0x03]))));
    // Key length past the record; key length -2; header count huge; header count -1.
    // A record is: length, attributes, timestampDelta, offsetDelta, keyLength, key,
    // valueLength, value, headerCount, headers (all varints zigzag: 0x01 is -1).
    assert!(malformed(&first_error(raw_batch(
        1,
        &[0x0a, 0, 0, 0, 0x7e, 0]
    ))));
    assert!(malformed(&first_error(raw_batch(
        1,
        &[0x08, 0, 0, 0, 0x03]
    ))));
    assert!(malformed(&first_error(raw_batch(
        1,
        &[0x14, 0, 0, 0, 1, 1, 0xfe, 0xff, 0xff, 0xff, 0x0f]
    ))));
    assert!(malformed(&first_error(raw_batch(
        1,
        &[0x0c, 0, 0, 0, 1, 1, 1]
    ))));
    // Null header key; header key that is not UTF-8.
    assert!(malformed(&first_error(raw_batch(
        1,
        &[0x10, 0, 0, 0, 1, 1, 2, 1, 1]
    ))));
    assert!(malformed(&first_error(raw_batch(
        1,
        &[0x12, 0, 0, 0, 1, 1, 2, 2, 0xff, 1]
    ))));
    // A record count larger than the records, negative, or smaller (trailing bytes).
    let fixed = [0x0e, 0, 0, 0, 0x01, 0x02, b'v', 0x00];
    assert!(malformed(&first_error(raw_batch(1_000_000, &fixed))));
    assert!(malformed(&first_error(raw_batch(-1, &fixed))));
    assert!(malformed(&first_error(raw_batch(0, &fixed))));
    // Batch length negative, too small for any batch, i32::MAX (a truncated tail).
    let mut b = raw_batch(1, &fixed).to_vec();
    b[8..12].copy_from_slice(&(-5i32).to_be_bytes());
    assert!(malformed(&first_error(Bytes::from(b.clone()))));
    b[8..12].copy_from_slice(&3i32.to_be_bytes());
    assert!(malformed(&first_error(Bytes::from(b.clone()))));
    b[8..12].copy_from_slice(&i32::MAX.to_be_bytes());
    let mut it = PartitionRecords::new(Bytes::from(b.clone()), 0, DecodeOptions::default());
    assert!(it.next().is_none());
    assert_eq!(
        it.truncated().unwrap().batch_size,
        Some(12 + i32::MAX as usize)
    );
    // An unknown magic and an unknown codec.
    let mut m = raw_batch(1, &fixed).to_vec();
    m[16] = 3;
    assert_eq!(
        first_error(Bytes::from(m)),
        RecordErrorKind::UnsupportedMagic(3)
    );
    let mut c = raw_batch(1, &fixed).to_vec();
    c[22] = 6;
    let crc = kasio_core::records::crc::crc32c(&c[21..]);
    c[17..21].copy_from_slice(&crc.to_be_bytes());
    assert_eq!(
        first_error(Bytes::from(c)),
        RecordErrorKind::UnknownCompression(6)
    );
    // The valid one decodes.
    let (got, _, _) = decode_all(raw_batch(1, &fixed), 0);
    assert_eq!(got[0].value.as_deref(), Some(&b"v"[..]));
}

/// A small deterministic generator (xorshift) for the random-input tests.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Decodes everything in `data` every way there is, ignoring errors: must not panic.
fn exhaust(data: Bytes, opts: DecodeOptions) {
    for f in PartitionRecords::new(data.clone(), 0, opts) {
        if let Ok(Fetched::Record(r)) = f {
            for h in r.headers() {
                let _ = (h.key.len(), h.value);
            }
        }
    }
    for b in batches(data, opts).flatten() {
        let _ = b.control(&opts);
        if let Ok(records) = b.records(&opts) {
            records.for_each(drop);
        }
    }
}

#[test]
fn random_bytes_and_mutations_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let opts = DecodeOptions {
        check_crcs: false,
        max_decompressed_bytes: 1 << 20,
    };
    for _ in 0..2000 {
        let len = rng.below(300);
        let mut v: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        // Make some of them look like batches so the parser goes deep.
        if len > 61 && rng.below(2) == 0 {
            v[8..12].copy_from_slice(&((len - 12) as i32).to_be_bytes());
            v[16] = rng.below(3) as u8;
        }
        exhaust(Bytes::from(v), opts);
    }
    // Valid batches of every codec and format, with random bytes changed.
    let mut seeds = Vec::new();
    for codec in Compression::ALL {
        seeds.push(encode(&build(0, &sample(0, 6), codec)));
    }
    seeds.push(legacy_set(1, Compression::Gzip, 5));
    seeds.push(legacy_set(0, Compression::Snappy, 5));
    seeds.push(legacy_set(1, Compression::None, 3));
    for seed in &seeds {
        for _ in 0..400 {
            let mut v = seed.to_vec();
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(v.len());
                v[i] = rng.next() as u8;
            }
            exhaust(Bytes::from(v), opts);
        }
        for cut in 0..seed.len() {
            exhaust(seed.slice(..cut), opts);
        }
    }
}

fn legacy_set(magic: i8, codec: Compression, n: usize) -> Bytes {
    let values: Vec<Vec<u8>> = (0..n).map(|i| format!("legacy-{i}").into_bytes()).collect();
    let msgs: Vec<legacy::encode::Message<'_>> = values
        .iter()
        .enumerate()
        .map(|(i, v)| legacy::encode::Message {
            offset: 50 + i as i64,
            timestamp: 1000 + i as i64,
            key: if i % 2 == 0 { None } else { Some(b"k") },
            value: if i == 2 { None } else { Some(v) },
        })
        .collect();
    let mut buf = BytesMut::new();
    assert!(legacy::encode::message_set(&mut buf, magic, codec, &msgs));
    buf.freeze()
}

#[test]
fn legacy_message_sets_decode_into_the_same_view() {
    for magic in [0i8, 1] {
        for codec in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
        ] {
            let data = legacy_set(magic, codec, 5);
            let (got, _, next) = decode_all(data.clone(), 51);
            assert_eq!(magics(data.clone(), 51), [magic; 4], "{codec:?}");
            assert_eq!(got.len(), 4, "magic {magic} {codec:?}");
            for (i, r) in got.iter().enumerate() {
                let i = i + 1;
                assert_eq!(r.offset, 50 + i as i64);
                assert_eq!(r.timestamp, if magic == 0 { -1 } else { 1000 + i as i64 });
                assert_eq!(r.key.is_some(), i % 2 == 1);
                if i == 2 {
                    assert_eq!(r.value, None);
                } else {
                    assert_eq!(r.value.as_deref(), Some(format!("legacy-{i}").as_bytes()));
                }
                assert!(r.headers.is_empty());
            }
            assert_eq!(next, 55);
            // Corrupt the last byte: the (outer) CRC-32 catches it.
            let mut bad = data.to_vec();
            *bad.last_mut().unwrap() ^= 1;
            assert!(matches!(
                first_error(Bytes::from(bad)),
                RecordErrorKind::CrcMismatch { .. }
            ));
        }
    }
}

/// Cross-check: batches written by the `kafka-protocol` crate (an independent
/// implementation) decode to the same records with us, in every version and codec.
#[test]
fn decodes_what_kafka_protocol_encodes() {
    use kafka_protocol::protocol::StrBytes;
    use kafka_protocol::records as kp;
    for version in [2i8] {
        // the crate encodes only v2
        for codec in [
            kp::Compression::None,
            kp::Compression::Gzip,
            kp::Compression::Snappy,
            kp::Compression::Lz4,
            kp::Compression::Zstd,
        ] {
            if version < 2 && codec == kp::Compression::Zstd {
                continue;
            }
            let records: Vec<kp::Record> = (0..20)
                .map(|i| kp::Record {
                    transactional: false,
                    control: false,
                    delete_horizon: false,
                    partition_leader_epoch: 0,
                    producer_id: -1,
                    producer_epoch: -1,
                    timestamp_type: kp::TimestampType::Creation,
                    offset: 200 + i,
                    sequence: -1,
                    timestamp: 5000 + i,
                    key: (i % 3 != 0).then(|| Bytes::from(format!("k{i}"))),
                    value: (i % 4 != 0).then(|| Bytes::from(format!("v{i}"))),
                    headers: if version == 2 {
                        [(
                            StrBytes::from_static_str("a"),
                            Some(Bytes::from_static(b"b")),
                        )]
                        .into_iter()
                        .collect()
                    } else {
                        Default::default()
                    },
                })
                .collect();
            let mut buf = BytesMut::new();
            kp::RecordBatchEncoder::encode(
                &mut buf,
                &records,
                &kp::RecordEncodeOptions {
                    version,
                    compression: codec,
                },
            )
            .unwrap();
            let (got, _, _) = decode_all(buf.freeze(), 0);
            assert_eq!(got.len(), 20, "v{version} {codec:?}");
            for (g, r) in got.iter().zip(&records) {
                assert_eq!(g.offset, r.offset, "v{version} {codec:?}");
                assert_eq!(g.key.as_deref(), r.key.as_deref());
                assert_eq!(g.value.as_deref(), r.value.as_deref());
                if version > 0 {
                    assert_eq!(g.timestamp, r.timestamp);
                }
                assert_eq!(g.headers.len(), r.headers.len());
            }
        }
    }
}

/// And the other way: what we encode, `kafka-protocol` decodes.
#[test]
fn kafka_protocol_decodes_what_we_encode() {
    for codec in Compression::ALL {
        let recs = sample(300, 40);
        let mut data = encode(&build(300, &recs, codec));
        let set = kafka_protocol::records::RecordBatchDecoder::decode(&mut data).unwrap();
        assert_eq!(set.records.len(), 40);
        for (r, e) in set.records.iter().zip(&recs) {
            assert_eq!(r.offset, e.offset);
            assert_eq!(r.timestamp, e.timestamp);
            assert_eq!(r.key.as_deref(), e.key.as_deref());
            assert_eq!(r.value.as_deref(), e.value.as_deref());
            assert_eq!(r.headers.len(), e.headers.len());
        }
    }
}

#[test]
fn partition_records_stop_at_a_bad_batch_and_keep_the_position() {
    let mut blob = BytesMut::new();
    build(0, &sample(0, 3), Compression::None)
        .encode(&mut blob)
        .unwrap();
    build(3, &sample(3, 3), Compression::Gzip)
        .encode(&mut blob)
        .unwrap();
    let second_end = blob.len();
    build(6, &sample(6, 3), Compression::None)
        .encode(&mut blob)
        .unwrap();
    let mut bad = blob.to_vec();
    bad[second_end - 2] ^= 0x40;
    let mut it = PartitionRecords::new(Bytes::from(bad), 1, DecodeOptions::default());
    let offsets: Vec<i64> = (&mut it)
        .take(2)
        .map(|f| match f.unwrap() {
            Fetched::Record(r) => r.offset,
            Fetched::Control(_) => unreachable!(),
        })
        .collect();
    assert_eq!(offsets, [1, 2]);
    let err = it.next().unwrap().unwrap_err();
    assert!(matches!(err.kind, RecordErrorKind::CrcMismatch { .. }));
    assert_eq!(err.offset, Some(3));
    assert!(it.next().is_none());
    assert_eq!(it.next_fetch_offset(), 3);
}

#[test]
fn the_borrowed_view_matches_the_owned_records() {
    for codec in Compression::ALL {
        let data = encode(&build(0, &sample(0, 30), codec));
        let opts = DecodeOptions::default();
        let batch = batches(data, opts).next().unwrap().unwrap();
        let owned: Vec<Record> = batch.records(&opts).unwrap().map(Result::unwrap).collect();
        let mut records = batch.records(&opts).unwrap();
        let mut n = 0;
        while let Some(r) = records.next_ref() {
            let r = r.unwrap();
            assert_eq!(r.to_record(), owned[n]);
            assert_eq!(r.key_bytes(), owned[n].key);
            assert_eq!(r.header_count(), owned[n].headers.len());
            n += 1;
        }
        assert_eq!(n, 30);
    }
}
