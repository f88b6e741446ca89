//! A partition's fetched `records` bytes, v2 batches and legacy message sets,
//! compressed or not, through `batches` + `Batch::records` and through
//! `PartitionRecords` (with and without the read_committed filter).
//!
//! Input: `[mode, offset, bytes...]`. Mode bit 0 off: every CRC is fixed up in the
//! harness and checked; on: CRC checks are off (this reaches the inner messages of
//! compressed legacy wrappers). Bits 1-4 pick the decompression bound (4 KiB-1 MiB);
//! bit 5 turns on read_committed with aborted transactions taken from the batches
//! themselves. `offset` picks the fetch offset (around the first batch, or extreme).
//!
//! Oracle: no panic; errors are `RecordError`s; owned and borrowed record views
//! agree; records at or after the fetch offset; the next fetch offset never goes back.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "records_common.rs"]
mod records_common;
use records_common::*;

fuzz_target!(|data: &[u8]| record_batches(data));
