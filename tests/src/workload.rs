//! The deterministic workload of `scripts/rig/produce.py`: every record's content
//! follows from its sequence number `i`, carried in its `seq` header, so a consumer
//! can check each record it reads without being told what was produced. Keep this
//! file and the script in step.

use std::collections::{BTreeMap, BTreeSet};

use kasio_core::consumer::TopicPartition;
use kasio_core::records::Record;

/// Timestamp of record 0.
pub const BASE_TS: i64 = 1_700_000_000_000;

/// What record `i` holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// Key (`None`: null).
    pub key: Option<Vec<u8>>,
    /// Value (`None`: null).
    pub value: Option<Vec<u8>>,
    /// Headers in order.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// CreateTime timestamp.
    pub timestamp: i64,
}

/// Record `i` with values of `value_size` bytes.
pub fn expected(i: u64, value_size: usize) -> Expected {
    let key = (i % 7 != 3).then(|| format!("key-{i}").into_bytes());
    let value = (i % 13 != 5).then(|| {
        let mut v = format!("value-{i}-").into_bytes();
        if v.len() < value_size {
            v.resize(value_size, b'.');
        }
        v
    });
    let mut headers = vec![("seq".to_string(), Some(i.to_string().into_bytes()))];
    if i % 5 == 0 {
        headers.push(("null".into(), None));
    }
    if i % 2 == 1 {
        headers.push(("h2".into(), Some(b"xyz".to_vec())));
    }
    Expected {
        key,
        value,
        headers,
        timestamp: BASE_TS + i as i64,
    }
}

/// Whether record `i` was produced in an aborted transaction (`txn_size` > 0).
pub fn is_aborted(i: u64, txn_size: u64) -> bool {
    txn_size > 0 && (i / txn_size) % 3 == 2
}

/// Checks records as a consumer reads them: each equals its expected content, each
/// partition's offsets strictly increase, no record comes twice.
#[derive(Debug)]
pub struct Checker {
    value_size: usize,
    last_offset: BTreeMap<TopicPartition, i64>,
    /// Offsets may go back (after an offset reset) instead of failing the check.
    allow_rewinds: bool,
    /// Partitions that delivered a record again.
    repeated: BTreeSet<TopicPartition>,
    seen: BTreeSet<u64>,
    duplicates: u64,
}

impl Checker {
    /// A checker for a workload with `value_size`-byte values.
    pub fn new(value_size: usize) -> Self {
        Self {
            value_size,
            last_offset: BTreeMap::new(),
            allow_rewinds: false,
            repeated: BTreeSet::new(),
            seen: BTreeSet::new(),
            duplicates: 0,
        }
    }

    /// Checks one record; panics with a precise message when it is wrong.
    pub fn check(&mut self, tp: &TopicPartition, r: &Record) {
        let seq_header = r.headers().next().expect("every record has a seq header");
        assert_eq!(seq_header.key, "seq", "{tp}@{}: first header", r.offset);
        let i: u64 = std::str::from_utf8(seq_header.value.expect("seq has a value"))
            .unwrap()
            .parse()
            .unwrap();
        let want = expected(i, self.value_size);
        assert_eq!(
            r.key.as_deref(),
            want.key.as_deref(),
            "{tp}@{} (record {i}): key",
            r.offset
        );
        assert_eq!(
            r.value.as_deref(),
            want.value.as_deref(),
            "{tp}@{} (record {i}): value",
            r.offset
        );
        assert_eq!(
            r.timestamp, want.timestamp,
            "{tp}@{} (record {i}): timestamp",
            r.offset
        );
        let headers: Vec<(String, Option<Vec<u8>>)> = r
            .headers()
            .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
            .collect();
        assert_eq!(
            headers, want.headers,
            "{tp}@{} (record {i}): headers",
            r.offset
        );
        if let Some(last) = self.last_offset.insert(tp.clone(), r.offset) {
            assert!(
                r.offset > last || self.allow_rewinds,
                "{tp}: offset {} after {last}",
                r.offset
            );
        }
        if !self.seen.insert(i) {
            self.duplicates += 1;
            self.repeated.insert(tp.clone());
        }
    }

    /// A checker for runs where an offset reset may legitimately rewind a partition:
    /// offsets may go back, and records read again are counted per partition.
    pub fn allowing_rewinds(value_size: usize) -> Self {
        Self {
            allow_rewinds: true,
            ..Self::new(value_size)
        }
    }

    /// Partitions that delivered some record more than once.
    pub fn repeated_partitions(&self) -> &BTreeSet<TopicPartition> {
        &self.repeated
    }

    /// Asserts that every record `start..start+count` was read (repeats allowed).
    pub fn assert_all_present(&self, start: u64, count: u64) {
        let missing: Vec<u64> = (start..start + count)
            .filter(|i| !self.seen.contains(i))
            .take(10)
            .collect();
        assert!(missing.is_empty(), "records missing, e.g. {missing:?}");
    }

    /// Records read so far (distinct).
    pub fn distinct(&self) -> u64 {
        self.seen.len() as u64
    }

    /// The sequence numbers read, sorted.
    pub fn seqs(&self) -> Vec<u64> {
        self.seen.iter().copied().collect()
    }

    /// Records read more than once.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Asserts that exactly the records `start..start+count` not in aborted
    /// transactions were read, each once.
    pub fn assert_complete(&self, start: u64, count: u64, txn_size: u64) {
        let want: BTreeSet<u64> = (start..start + count)
            .filter(|&i| !is_aborted(i, txn_size))
            .collect();
        let missing: Vec<u64> = want.difference(&self.seen).take(10).copied().collect();
        let extra: Vec<u64> = self.seen.difference(&want).take(10).copied().collect();
        assert!(
            missing.is_empty(),
            "{} records missing, e.g. {missing:?}",
            want.difference(&self.seen).count()
        );
        assert!(
            extra.is_empty(),
            "unexpected records (aborted or never produced), e.g. {extra:?}"
        );
        assert_eq!(self.duplicates, 0, "records read twice");
    }
}
