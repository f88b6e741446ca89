//! Idempotence: per partition and producer id, the producer epoch and the last
//! five batches' sequence ranges (Kafka's `ProducerStateManager`), so a retried
//! batch is recognised and a gap or a fenced writer is refused.

use std::collections::{BTreeMap, VecDeque};

use kasio_core::protocol::ErrorCode;

/// How many batches per producer a partition remembers (Kafka: 5, which is why
/// `max.in.flight.requests.per.connection` may be at most 5 with idempotence).
const REMEMBERED: usize = 5;

/// One remembered batch: its sequence range and where it went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Written {
    first_seq: i32,
    last_seq: i32,
    first_offset: i64,
}

#[derive(Debug, Clone)]
struct Entry {
    epoch: i16,
    batches: VecDeque<Written>,
    /// The partition's log generation (truncations so far) this entry reflects.
    generation: usize,
}

/// What to do with a batch that passed the sequence checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Append it.
    Append,
    /// A retry of a batch already written at this first offset: answer with
    /// that offset and write nothing (what Kafka does; brokers no longer send
    /// DUPLICATE_SEQUENCE_NUMBER).
    Duplicate(i64),
}

/// Producer state of every partition: (topic, partition, producer id) → entry.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sequences {
    entries: BTreeMap<(String, i32, i64), Entry>,
    /// Per partition, the generation seen by the last [`Sequences::sync`].
    generations: BTreeMap<(String, i32), usize>,
}

/// The sequence after `last` (sequences wrap from `i32::MAX` to 0).
fn follows(last: i32, next: i32) -> bool {
    i64::from(next) == i64::from(last) + 1 || (next == 0 && last == i32::MAX)
}

impl Sequences {
    /// Forgets what an unclean truncation removed from the partition (Kafka
    /// rebuilds producer state from the log that is left): batches at or above
    /// the cut are gone, and a producer with none left is unknown again. Else a
    /// retry of a lost batch would be "acknowledged" at an offset that no
    /// longer holds it. `truncations` is the partition history's list.
    pub fn sync(&mut self, tp: (&str, i32), truncations: &[i64]) {
        let now = truncations.len();
        self.generations.insert((tp.0.to_string(), tp.1), now);
        self.entries.retain(|(t, p, _), e| {
            if t != tp.0 || *p != tp.1 || e.generation >= now {
                return true;
            }
            let cut = truncations[e.generation..].iter().copied().min();
            e.generation = now;
            if let Some(cut) = cut {
                e.batches.retain(|w| w.first_offset < cut);
            }
            !e.batches.is_empty()
        });
    }

    /// Checks a batch of `count` records from `pid` at `epoch` starting at
    /// sequence `first_seq` (Kafka's `ProducerAppendInfo`): an older epoch is
    /// INVALID_PRODUCER_EPOCH; a newer one must start at sequence 0; within an
    /// epoch a remembered batch is a duplicate and anything but the next
    /// sequence is OUT_OF_ORDER_SEQUENCE_NUMBER. A producer the partition has not
    /// seen may start anywhere (its earlier batches may have been deleted).
    pub fn check(
        &self,
        tp: (&str, i32),
        pid: i64,
        epoch: i16,
        first_seq: i32,
        count: i64,
    ) -> Result<Verdict, ErrorCode> {
        let Some(e) = self.entries.get(&(tp.0.to_string(), tp.1, pid)) else {
            return Ok(Verdict::Append);
        };
        if epoch < e.epoch {
            return Err(ErrorCode::InvalidProducerEpoch);
        }
        if epoch > e.epoch {
            return if first_seq == 0 {
                Ok(Verdict::Append)
            } else {
                Err(ErrorCode::OutOfOrderSequenceNumber)
            };
        }
        let last_seq = last_sequence(first_seq, count);
        if let Some(w) = e
            .batches
            .iter()
            .find(|w| w.first_seq == first_seq && w.last_seq == last_seq)
        {
            return Ok(Verdict::Duplicate(w.first_offset));
        }
        match e.batches.back() {
            Some(w) if !follows(w.last_seq, first_seq) => Err(ErrorCode::OutOfOrderSequenceNumber),
            _ => Ok(Verdict::Append),
        }
    }

    /// Records an appended batch.
    pub fn written(
        &mut self,
        tp: (&str, i32),
        pid: i64,
        epoch: i16,
        first_seq: i32,
        count: i64,
        first_offset: i64,
    ) {
        let e = self.entry(tp, pid, epoch);
        if e.batches.len() == REMEMBERED {
            e.batches.pop_front();
        }
        e.batches.push_back(Written {
            first_seq,
            last_seq: last_sequence(first_seq, count),
            first_offset,
        });
    }

    /// A transaction marker at `epoch` was written for `pid`: a newer epoch
    /// fences older writers here too and starts its sequences afresh.
    pub fn marker(&mut self, tp: (&str, i32), pid: i64, epoch: i16) {
        self.entry(tp, pid, epoch);
    }

    /// The entry at `epoch`, emptied when the epoch moves on.
    fn entry(&mut self, tp: (&str, i32), pid: i64, epoch: i16) -> &mut Entry {
        let generation = self
            .generations
            .get(&(tp.0.to_string(), tp.1))
            .copied()
            .unwrap_or(0);
        let e = self
            .entries
            .entry((tp.0.to_string(), tp.1, pid))
            .or_insert_with(|| Entry {
                epoch,
                batches: VecDeque::new(),
                generation,
            });
        if epoch > e.epoch {
            e.epoch = epoch;
            e.batches.clear();
        }
        e
    }
}

/// The last sequence of a batch of `count` records from `first` (wrapping).
fn last_sequence(first: i32, count: i64) -> i32 {
    ((i64::from(first) + count - 1) % (i64::from(i32::MAX) + 1)) as i32
}
