//! Shared by the record targets: CRC fix-up and the checks every decoded record set
//! must pass.
#![allow(dead_code)]

use bytes::Bytes;
use kasio_core::records::crc::{crc32, crc32c};
use kasio_core::records::{
    batches, DecodeOptions, Fetched, PartitionRecords, Record, RecordError, RecordErrorKind,
};

/// Rewrites the CRC of every complete batch (v2: CRC-32C from the attributes on) and
/// legacy message (CRC-32 from the magic byte on) in `data`, walking the framing the
/// way `batches` does, so that mutated inputs get past the CRC check and reach the
/// parsers behind it. Inner messages of compressed legacy wrappers keep their CRCs
/// (they are compressed); `check_crcs: false` reaches those.
pub fn fix_crcs(data: &mut [u8]) {
    let mut pos = 0usize;
    while data.len() - pos >= 17 {
        let size = i32::from_be_bytes(data[pos + 8..pos + 12].try_into().unwrap());
        let Ok(size) = usize::try_from(size) else {
            return;
        };
        let total = 12 + size;
        if size < 14 || total > data.len() - pos {
            return;
        }
        let batch = &mut data[pos..pos + total];
        match batch[16] {
            2 if total >= 61 => {
                let crc = crc32c(&batch[21..]);
                batch[17..21].copy_from_slice(&crc.to_be_bytes());
            }
            0 | 1 => {
                let crc = crc32(&batch[16..]);
                batch[12..16].copy_from_slice(&crc.to_be_bytes());
            }
            _ => return,
        }
        pos += total;
    }
}

/// Errors carry a kind and print without panicking.
pub fn check_error(e: &RecordError) {
    let _ = format!("{e} {e:?}");
    if let RecordErrorKind::DecompressedTooLarge { limit, .. } = e.kind {
        assert!(limit > 0);
    }
}

/// Walks `data` with `batches` and every batch's records (owned and borrowed views
/// side by side), checking what each promises. Returns the records of the batches
/// that decoded, in order, and the first error.
pub fn walk_batches(data: &Bytes, opts: DecodeOptions) -> (Vec<Record>, Option<RecordError>) {
    let mut out = Vec::new();
    let mut first_error = None;
    let mut it = batches(data.clone(), opts);
    let mut steps = 0usize;
    for batch in it.by_ref() {
        steps += 1;
        assert!(steps <= data.len(), "more batches than bytes");
        let batch = match batch {
            Ok(b) => b,
            Err(e) => {
                check_error(&e);
                first_error.get_or_insert(e);
                continue; // a CRC error goes on; a framing error ends the iterator
            }
        };
        let h = *batch.header();
        let _ = (
            batch.next_offset(),
            h.last_offset(),
            h.compression(),
            h.timestamp_type(),
        );
        if let Some(marker) = batch.control(&opts) {
            match marker {
                Ok(m) => {
                    let _ = format!("{m:?}");
                }
                Err(e) => check_error(&e),
            }
        }
        let records = match batch.records(&opts) {
            Ok(r) => r,
            Err(e) => {
                check_error(&e);
                first_error.get_or_insert(e);
                continue;
            }
        };
        // Owned and borrowed iteration agree, and an error ends both.
        let mut owned = records.clone();
        let mut borrowed = records;
        let mut count = 0usize;
        let mut failed = false;
        loop {
            let a = owned.next();
            let b = borrowed.next_ref().map(|r| {
                r.map(|r| {
                    let headers: Vec<_> = r
                        .headers()
                        .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                        .collect();
                    assert_eq!(headers.len(), r.header_count());
                    r.to_record()
                })
            });
            match (a, b) {
                (None, None) => break,
                (Some(Ok(a)), Some(Ok(b))) => {
                    assert_eq!(a, b);
                    assert_eq!(a.headers().count(), a.headers.len());
                    count += 1;
                    out.push(a);
                }
                (Some(Err(a)), Some(Err(b))) => {
                    assert_eq!(a, b);
                    check_error(&a);
                    assert!(owned.next().is_none(), "records go on after an error");
                    assert!(
                        borrowed.next_ref().is_none(),
                        "records go on after an error"
                    );
                    first_error.get_or_insert(a);
                    failed = true;
                    break;
                }
                (a, b) => panic!("owned and borrowed iteration disagree: {a:?} vs {b:?}"),
            }
        }
        if h.magic == 2 && !failed {
            assert_eq!(
                count as i64,
                i64::from(h.records_count),
                "a v2 batch yields its count"
            );
        }
    }
    if let Some(t) = it.truncated() {
        assert!(t.available < 12 || t.batch_size.is_some_and(|s| s > t.available));
    }
    (out, first_error)
}

/// Walks `data` as a consumer does with `PartitionRecords`, checking its promises:
/// records at or after the fetch offset, a next fetch offset that never goes back,
/// nothing after an error.
pub fn walk_partition(
    data: &Bytes,
    fetch_offset: i64,
    opts: DecodeOptions,
    aborted: Option<Vec<(i64, i64)>>,
) -> (Vec<Record>, Option<RecordError>) {
    let mut pr = match aborted {
        Some(a) => PartitionRecords::with_aborted_transactions(data.clone(), fetch_offset, opts, a),
        None => PartitionRecords::new(data.clone(), fetch_offset, opts),
    };
    let mut records = Vec::new();
    let mut next = pr.next_fetch_offset();
    assert_eq!(next, fetch_offset);
    let mut error = None;
    while let Some(item) = pr.next() {
        match item {
            Ok(Fetched::Record(r)) => {
                assert!(
                    r.offset >= fetch_offset,
                    "record {} before the fetch offset {fetch_offset}",
                    r.offset
                );
                records.push(r);
            }
            Ok(Fetched::Control(m)) => {
                let _ = format!("{m:?}");
            }
            Err(e) => {
                check_error(&e);
                error = Some(e);
                assert!(
                    pr.next().is_none(),
                    "PartitionRecords goes on after an error"
                );
                break;
            }
        }
        let n = pr.next_fetch_offset();
        assert!(n >= next, "next fetch offset went back from {next} to {n}");
        next = n;
    }
    let _ = (pr.truncated(), pr.leader_epoch());
    (records, error)
}

/// The `record_batches` target: `[mode, offset, bytes...]` (see its documentation).
pub fn record_batches(data: &[u8]) {
    let [mode, offset, rest @ ..] = data else {
        return;
    };
    let mut bytes = rest.to_vec();
    let check_crcs = mode & 1 == 0;
    if check_crcs {
        fix_crcs(&mut bytes);
    }
    let opts = DecodeOptions {
        check_crcs,
        max_decompressed_bytes: 1 << (12 + (mode >> 1) % 9),
    };
    let data = Bytes::from(bytes);
    walk_batches(&data, opts);

    let first = data
        .get(..8)
        .map_or(0, |b| i64::from_be_bytes(b.try_into().unwrap()));
    let k = i64::from(offset >> 2);
    let fetch_offset = match offset & 3 {
        0 => first.wrapping_add(k),
        1 => first.wrapping_sub(k),
        2 => k,
        _ => {
            if offset & 4 == 0 {
                i64::MAX - k
            } else {
                i64::MIN + k
            }
        }
    };
    let aborted = (mode & 0x20 != 0).then(|| {
        // Abort the transactions of some of the batches present (and a bogus one).
        let mut a: Vec<(i64, i64)> = batches(
            data.clone(),
            DecodeOptions {
                check_crcs: false,
                ..opts
            },
        )
        .filter_map(Result::ok)
        .enumerate()
        .filter(|(i, _)| (mode >> 6) & (1 << (i % 2)) != 0 || *i == 0)
        .map(|(_, b)| (b.header().producer_id, b.base_offset()))
        .collect();
        a.push((k, first));
        a
    });
    walk_partition(&data, fetch_offset, opts, aborted);
}
