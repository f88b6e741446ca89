//! The consumer group state machine (classic protocol) under arbitrary coordinator
//! answers and timings. The logic is in `group_common.rs` (what it drives and what
//! it checks is described there), so that `core/tests/fuzz_regressions.rs` replays
//! saved inputs without libFuzzer.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "consumer_common.rs"]
mod consumer_common;
#[path = "group_common.rs"]
mod group_common;

fuzz_target!(|input: group_common::Input| group_common::run(input));
