//! Record batches written by a real producer (librdkafka 2.16 through confluent-kafka,
//! against librdkafka's mock cluster; `scripts/gen-record-fixtures.py`): one fixture
//! per codec, legacy message sets, and a transaction aborted then one committed.
//! Each `.bin` is the `records` bytes of one partition's fetch; the `.json` next to it
//! says what was produced, record by record.

use std::path::PathBuf;

use bytes::Bytes;
use kasio_core::records::{
    batches, Compression, ControlType, DecodeOptions, Fetched, PartitionRecords,
};
use serde_json::Value;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/records")
}

fn load(name: &str) -> (Bytes, Value) {
    let bin = std::fs::read(dir().join(format!("{name}.bin"))).unwrap();
    let json = std::fs::read_to_string(dir().join(format!("{name}.json"))).unwrap();
    (Bytes::from(bin), serde_json::from_str(&json).unwrap())
}

fn hex(v: &Value) -> Option<Vec<u8>> {
    let s = v.as_str()?;
    Some(
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect(),
    )
}

/// Decodes `name` and checks every record against its JSON; returns the markers.
fn check(name: &str) -> Vec<(i64, ControlType)> {
    let (data, doc) = load(name);
    let expected = doc["records"].as_array().unwrap();
    let magic = doc["magic"].as_i64().unwrap_or(2);
    let mut it = PartitionRecords::new(data.clone(), 0, DecodeOptions::default());
    let mut got = Vec::new();
    let mut markers = Vec::new();
    for f in &mut it {
        match f.unwrap_or_else(|e| panic!("{name}: {e}")) {
            Fetched::Record(r) => got.push(r),
            Fetched::Control(m) => markers.push((m.offset, m.control_type)),
        }
    }
    assert!(it.truncated().is_none(), "{name}");
    assert_eq!(got.len(), expected.len(), "{name}");
    for (r, e) in got.iter().zip(expected) {
        let at = format!("{name} offset {}", r.offset);
        assert_eq!(r.offset, e["offset"].as_i64().unwrap(), "{at}");
        if magic > 0 {
            assert_eq!(r.timestamp, e["timestamp"].as_i64().unwrap(), "{at}");
        } else {
            assert_eq!(r.timestamp, -1, "{at}");
        }
        assert_eq!(r.key.as_deref().map(<[u8]>::to_vec), hex(&e["key"]), "{at}");
        assert_eq!(
            r.value.as_deref().map(<[u8]>::to_vec),
            hex(&e["value"]),
            "{at}"
        );
        let headers: Vec<(String, Option<Vec<u8>>)> = r
            .headers()
            .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
            .collect();
        let want: Vec<(String, Option<Vec<u8>>)> = e["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| (h[0].as_str().unwrap().to_string(), hex(&h[1])))
            .collect();
        assert_eq!(headers, want, "{at}");
    }
    assert_eq!(
        it.next_fetch_offset(),
        doc["fetch"]["high_watermark"].as_i64().unwrap(),
        "{name}"
    );
    markers
}

#[test]
fn every_codec_from_librdkafka() {
    for codec in Compression::ALL {
        let name = format!("v2-{}", codec.name());
        assert!(check(&name).is_empty());
        // The producer did compress (librdkafka skips it when it does not pay).
        let (data, _) = load(&name);
        let first = batches(data, DecodeOptions::default())
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(first.header().compression(), Ok(codec), "{name}");
        assert_eq!(first.header().magic, 2);
    }
}

#[test]
fn legacy_message_sets_from_librdkafka() {
    // The mock broker refuses compressed legacy produce requests, so legacy sets are
    // covered uncompressed here and compressed by our own encoder in `records.rs`.
    for name in ["v1-none", "v0-none"] {
        assert!(check(name).is_empty());
        let (data, doc) = load(name);
        let first = batches(data, DecodeOptions::default())
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(
            i64::from(first.header().magic),
            doc["magic"].as_i64().unwrap()
        );
    }
}

#[test]
fn aborted_then_committed_transaction() {
    let markers = check("v2-txn-abort");
    assert_eq!(markers, [(3, ControlType::Abort), (6, ControlType::Commit)]);
    let (data, _) = load("v2-txn-abort");
    let all: Vec<_> = batches(data, DecodeOptions::default())
        .map(Result::unwrap)
        .collect();
    assert!(all[0].header().is_transactional() && !all[0].is_control());
    assert!(all[1].is_control());
    assert_eq!(all[0].header().producer_id, all[1].header().producer_id);
}

#[test]
fn fetch_offset_inside_a_fixture_batch() {
    let (data, _) = load("v2-zstd");
    let offsets: Vec<i64> = PartitionRecords::new(data, 7, DecodeOptions::default())
        .map(|f| match f.unwrap() {
            Fetched::Record(r) => r.offset,
            Fetched::Control(_) => unreachable!(),
        })
        .collect();
    assert_eq!(offsets, [7, 8, 9, 10, 11]);
}

#[test]
fn every_truncation_and_every_bit_flip_of_every_fixture_is_handled() {
    let names = [
        "v2-none",
        "v2-gzip",
        "v2-snappy",
        "v2-lz4",
        "v2-zstd",
        "v2-txn-abort",
        "v1-none",
        "v0-none",
    ];
    for name in names {
        let (data, _) = load(name);
        // Truncation: never an error, only fewer records and a truncated tail.
        for cut in 0..data.len() {
            let mut it = PartitionRecords::new(data.slice(..cut), 0, DecodeOptions::default());
            for f in &mut it {
                assert!(f.is_ok(), "{name} cut at {cut}: {f:?}");
            }
        }
        // A flipped bit: an error or (outside the CRC) a good decode; never a panic.
        for i in 0..data.len() {
            let mut v = data.to_vec();
            v[i] ^= 0x04;
            for opts in [
                DecodeOptions::default(),
                DecodeOptions {
                    check_crcs: false,
                    ..DecodeOptions::default()
                },
            ] {
                for f in PartitionRecords::new(Bytes::from(v.clone()), 0, opts) {
                    let _ = f;
                }
            }
        }
    }
}
