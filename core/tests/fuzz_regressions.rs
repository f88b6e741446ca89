//! Inputs the fuzzers found (fuzz/, `scripts/fuzz.sh`), replayed through the same
//! entry points as their fuzz targets, so that a fixed bug stays fixed without
//! cargo-fuzz or a nightly toolchain.
//!
//! Each input is a file in `tests/fixtures/fuzz/`, named `<target>-<what>.bin`, in
//! its target's input format; `cargo +nightly fuzz run <target> <file>` (from `fuzz/`)
//! replays it under the fuzzer. The record targets' logic lives in
//! `fuzz/fuzz_targets/records_common.rs`, included here as it is.
//!
//! Found and fixed so far:
//! - `record_batches-zstd-window-*`: a zstd-compressed batch of a few bytes whose
//!   frame header declares a 64-128 MiB window made the streaming decoder allocate
//!   the whole window, whatever `max_decompressed_bytes` said (fixed in
//!   `records/compression/zstd.rs`: windows past the limit are decoded in one pass
//!   into a buffer of at most the limit).
//!
//! The `group` target's logic lives in `fuzz/fuzz_targets/group_common.rs` (with the
//! broker model it shares with `consumer`, `consumer_common.rs`), included here as
//! it is: `group-*.bin` inputs replay through the same `run_bytes` the fuzz target
//! calls, with every check of the target's oracle.
//!
//! Found by the `consumer` target, fixed in the consumer:
//! - `consumer-offsets-for-times-while-closing-spins.bin`: `offsets_for_times` called
//!   between `close()` and `Event::Closed` was never answered, and once its deadline
//!   passed `poll_timeout()` said "now" while `handle_timeout` did nothing: a driver
//!   spun. Queries are now answered with `ConsumerError::Closed`; the scripted test
//!   `offsets_for_times_during_close_is_answered_with_closed` (consumer_records.rs)
//!   pins it. The input replays under cargo-fuzz (`cargo +nightly fuzz run consumer
//!   <file>`); its harness is in the target's own file, so it is not replayed here.
//!
//! The `group` target (`group-*.bin`; `group-stable-rebalance.bin` is a seed kept as
//! a smoke test: stable, a rebalance, commits, unsubscribe), fixed in the consumer,
//! each with a scripted test in `consumer_group.rs`:
//! - `group-assign-while-subscribed-to-nothing.bin`: after `subscribe([])` (or a
//!   pattern matching nothing) `assign` succeeded, so the member held partitions by
//!   hand inside the group (`assign_is_refused_while_subscribed_even_to_no_topics`).
//! - `group-unsubscribe-after-fatal.bin`: `unsubscribe`/`close` after `Event::Fatal`
//!   sent LeaveGroup and moved the member from Fatal to Unjoined
//!   (`after_a_fatal_error_unsubscribe_and_close_neither_leave_nor_move_the_member`).
//! - `group-lost-reported-twice.bin`: partitions reported `Lost` (not yet
//!   acknowledged) were reported `Lost` again by the next loss, here a poll-interval
//!   expiry (`partitions_already_reported_lost_are_not_reported_lost_again`).

use std::fs;
use std::path::{Path, PathBuf};

use bytes::{BufMut, Bytes, BytesMut};
use kasio_core::records::crc::crc32c;
use kasio_core::records::{
    BatchBuilder, DecodeOptions, Fetched, PartitionRecords, RecordErrorKind,
};

#[path = "../../fuzz/fuzz_targets/records_common.rs"]
mod records_common;

#[path = "../../fuzz/fuzz_targets/consumer_common.rs"]
mod consumer_common;
#[path = "../../fuzz/fuzz_targets/group_common.rs"]
mod group_common;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz")
}

/// The saved inputs of `target`, by name.
fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let mut found: Vec<(String, Vec<u8>)> = fs::read_dir(dir())
        .expect("tests/fixtures/fuzz")
        .map(|e| e.expect("dir entry").path())
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.to_owned();
            let ours = name.starts_with(&format!("{target}-")) && name.ends_with(".bin");
            ours.then(|| (name, fs::read(&p).expect("fixture")))
        })
        .collect();
    found.sort();
    found
}

#[test]
fn record_batches_inputs_replay() {
    let found = inputs("record_batches");
    assert!(!found.is_empty());
    for (name, data) in found {
        let run = std::panic::catch_unwind(|| records_common::record_batches(&data));
        assert!(run.is_ok(), "{name} fails again");
    }
}

#[test]
fn group_inputs_replay() {
    let found = inputs("group");
    assert!(!found.is_empty());
    let failing: Vec<String> = found
        .into_iter()
        .filter(|(_, data)| std::panic::catch_unwind(|| group_common::run_bytes(data)).is_err())
        .map(|(name, _)| name)
        .collect();
    assert!(failing.is_empty(), "failing again: {failing:?}");
}

/// The peak virtual memory of this process, which a large `malloc` (an `mmap`)
/// raises even if its pages are never touched; C code such as libzstd allocates
/// outside Rust's allocator, so this is the way to see it.
#[cfg(target_os = "linux")]
fn vm_peak_kib() -> u64 {
    let status = fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmPeak:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmPeak")
}

#[cfg(target_os = "linux")]
#[test]
fn a_zstd_window_larger_than_the_limit_is_not_allocated() {
    for (name, data) in inputs("record_batches-zstd-window") {
        let before = vm_peak_kib();
        records_common::record_batches(&data);
        let grown = vm_peak_kib().saturating_sub(before);
        // The bug allocated the frame's whole window: 64 or 128 MiB here. The limit in
        // these inputs is 4 KiB; test threads' stacks account for some growth.
        assert!(
            grown < 48 << 10,
            "{name}: peak virtual memory grew by {grown} KiB"
        );
    }
}

/// Twenty records as an uncompressed v2 batch, and the same batch with its records
/// in a hand-made zstd frame: no content size, a 128 MiB window (2^27), one raw block.
fn zstd_with_a_huge_window() -> (Bytes, Bytes, usize) {
    let mut b = BatchBuilder::new(40);
    for i in 0..20u8 {
        b.push(
            1_700_000_000_000,
            Some(&[i]),
            Some(&[i; 30]),
            &[("h", Some(&[i]))],
        );
    }
    let mut plain = BytesMut::new();
    b.encode(&mut plain).unwrap();
    let records = &plain[61..];

    let mut frame = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 17 << 3];
    let block = 1 | ((records.len() as u32) << 3); // last block, raw
    frame.extend_from_slice(&block.to_le_bytes()[..3]);
    frame.extend_from_slice(records);

    let mut batch = BytesMut::from(&plain[..61]);
    batch[8..12].copy_from_slice(&((49 + frame.len()) as i32).to_be_bytes());
    batch[22] |= 4; // attributes: zstd
    batch.put_slice(&frame);
    let crc = crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
    let len = records.len();
    (batch.freeze(), plain.freeze(), len)
}

/// Frames whose window is far larger than their content and the limit still decode:
/// real producers write them at high compression levels, and the Java consumer reads
/// them. Past the limit they are an error, not an allocation.
#[test]
fn zstd_frames_with_windows_past_the_limit_still_decode() {
    let (batch, plain, content) = zstd_with_a_huge_window();
    let opts = |limit| DecodeOptions {
        check_crcs: true,
        max_decompressed_bytes: limit,
    };
    let decode = |data: Bytes| -> Vec<_> {
        PartitionRecords::new(data, 40, opts(64 << 10))
            .map(|r| match r.expect("decodes") {
                Fetched::Record(r) => r,
                Fetched::Control(m) => panic!("{m:?}"),
            })
            .collect()
    };
    let got = decode(batch.clone());
    assert_eq!(got.len(), 20);
    assert_eq!(got, decode(plain));

    let exact = PartitionRecords::new(batch.clone(), 40, opts(content)).count();
    assert_eq!(exact, 20, "exactly at the limit decodes");
    let err = PartitionRecords::new(batch, 40, opts(content - 1))
        .next()
        .expect("an item")
        .expect_err("one byte past the limit");
    assert!(
        matches!(err.kind, RecordErrorKind::DecompressedTooLarge { .. }),
        "{err}"
    );
}
