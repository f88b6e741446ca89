//! The simulation's checker must be able to fail: each test feeds it what a
//! broken consumer would emit and expects the violation (and, for contrast, the
//! legitimate sequence passes).

use kasio_core::config::OffsetReset;
use kasio_core::consumer::{Event, ResetReason, TopicPartition};
use kasio_core::records::Compression;
use kasio_sim::sim::{Checker, Cluster, ClusterSpec, PositionAnswer, SimRecord};

fn cluster() -> Cluster {
    let mut c = Cluster::new(ClusterSpec::new(1).topic("t", 1, 1));
    let recs: Vec<SimRecord> = (0..10)
        .map(|i| SimRecord::new(i, Some(b"k"), Some(b"v")))
        .collect();
    c.produce("t", 0, &recs, Compression::None).unwrap();
    c
}

fn tp() -> TopicPartition {
    TopicPartition::new("t", 0)
}

fn reset(offset: i64, reason: ResetReason) -> Event {
    Event::OffsetReset {
        tp: tp(),
        offset,
        reason,
    }
}

fn listed(timestamp: i64, offset: i64) -> PositionAnswer {
    PositionAnswer::ListOffsets {
        tp: tp(),
        timestamp,
        offset,
    }
}

#[test]
fn first_reset_must_land_where_list_offsets_answered() {
    let c = cluster();
    let mut ch = Checker::new(false);
    let e = ch
        .event(&c, &reset(0, ResetReason::NoPosition))
        .unwrap_err();
    assert!(e.contains("no ListOffsets answered"), "{e}");

    let mut ch = Checker::new(false);
    ch.answered(&listed(-2, 0));
    ch.event(&c, &reset(0, ResetReason::NoPosition)).unwrap();

    // Latest policy: an answer for earliest does not justify it.
    let mut ch = Checker::new(false).with_reset_policy(OffsetReset::Latest);
    ch.answered(&listed(-2, 0));
    let e = ch
        .event(&c, &reset(0, ResetReason::NoPosition))
        .unwrap_err();
    assert!(e.contains("no ListOffsets answered"), "{e}");
    ch.answered(&listed(-1, 10));
    ch.event(&c, &reset(10, ResetReason::NoPosition)).unwrap();
}

/// A consumer that resets on its own (say, to latest on a leadership error) once
/// it has a position is caught, whatever reason it gives.
#[test]
fn a_reset_without_a_cause_is_caught() {
    let c = cluster();
    for reason in [
        ResetReason::NoPosition,
        ResetReason::OutOfRange,
        ResetReason::Truncation,
    ] {
        let mut ch = Checker::new(false);
        ch.answered(&listed(-2, 0));
        ch.event(&c, &reset(0, ResetReason::NoPosition)).unwrap();
        // ListOffsets was answered, but nothing asked for a reset.
        ch.answered(&listed(-2, 0));
        let e = ch.event(&c, &reset(0, reason)).unwrap_err();
        assert!(e.contains("without a cause"), "{reason:?}: {e}");
    }
}

#[test]
fn out_of_range_answer_justifies_a_reset() {
    let c = cluster();
    let mut ch = Checker::new(false);
    ch.answered(&listed(-2, 0));
    ch.event(&c, &reset(0, ResetReason::NoPosition)).unwrap();
    ch.answered(&PositionAnswer::OutOfRange {
        tp: tp(),
        fetch_offset: 7,
    });
    ch.answered(&listed(-2, 3));
    // Not to an offset nobody answered.
    let e = ch
        .clone()
        .event(&c, &reset(4, ResetReason::OutOfRange))
        .unwrap_err();
    assert!(e.contains("no ListOffsets answered"), "{e}");
    ch.event(&c, &reset(3, ResetReason::OutOfRange)).unwrap();
    // The answer is used up: the next reset needs a new one.
    ch.answered(&listed(-2, 3));
    let e = ch
        .event(&c, &reset(3, ResetReason::OutOfRange))
        .unwrap_err();
    assert!(e.contains("without a cause"), "{e}");
}

#[test]
fn seek_to_end_justifies_a_reset_to_latest_under_any_policy() {
    let c = cluster();
    let mut ch = Checker::new(false);
    ch.answered(&listed(-2, 0));
    ch.event(&c, &reset(0, ResetReason::NoPosition)).unwrap();
    ch.reset_asked(&tp());
    ch.answered(&listed(-1, 10));
    ch.event(&c, &reset(10, ResetReason::NoPosition)).unwrap();
}

#[test]
fn truncation_reset_needs_a_truncation_without_divergence_point() {
    let mut c = cluster();
    let mut ch = Checker::new(false);
    ch.answered(&listed(-2, 0));
    ch.event(&c, &reset(0, ResetReason::NoPosition)).unwrap();
    // A LogTruncation for a log never truncated is itself a violation.
    let trunc = Event::LogTruncation {
        tp: tp(),
        position: 8,
        diverging_offset: None,
    };
    let e = ch.clone().event(&c, &trunc).unwrap_err();
    assert!(e.contains("never truncated"), "{e}");
    c.truncate("t", 0, 5, None).unwrap();
    ch.event(&c, &trunc).unwrap();
    ch.answered(&listed(-2, 0));
    ch.event(&c, &reset(0, ResetReason::Truncation)).unwrap();
}
