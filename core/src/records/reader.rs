//! One partition's fetched records, as the consumer hands them on: records at or
//! after the fetch offset, control markers reported separately, and the offset the
//! next fetch starts from.

use alloc::collections::{BTreeSet, VecDeque};
use alloc::vec::Vec;

use bytes::Bytes;

use super::batches::{batches, Batches, Truncated};
use super::record::{Record, Records};
use super::{ControlMarker, ControlType, DecodeOptions, RecordError};

/// What one partition's fetched data yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// A user record.
    Record(Record),
    /// A control batch's marker (transaction commit or abort): for the consumer's own
    /// bookkeeping, never for the user.
    Control(ControlMarker),
}

/// Iterates one partition's fetched data (`PartitionData.records`) record by record.
///
/// - Records before `fetch_offset` are skipped: the broker returns whole batches, so
///   the first batch may start before the offset asked for.
/// - Control batches yield [`Fetched::Control`], never records.
/// - A batch that does not decode (bad CRC, malformed, too large decompressed) yields
///   its error, naming the batch's offset, and iteration ends there: the fetch
///   position stays at that batch rather than silently moving past it, as in the
///   Java client. Skipping it is the caller's decision (seek past it).
/// - [`PartitionRecords::next_fetch_offset`] says where to fetch from next, and
///   [`PartitionRecords::truncated`] reports an incomplete last batch (not an error).
#[derive(Debug, Clone)]
pub struct PartitionRecords {
    batches: Batches,
    opts: DecodeOptions,
    current: Option<(Records, i64)>,
    failed: bool,
    fetch_offset: i64,
    next_fetch_offset: i64,
    /// The leader epoch stamped on the batch being read (v2 batches).
    leader_epoch: Option<i32>,
    /// read_committed: the aborted transactions still ahead, and the producers whose
    /// transaction is aborted at the current offset.
    aborted: Option<AbortedTransactions>,
}

/// The read_committed filter (as the Java client's `CompletedFetch`): the broker
/// lists the aborted transactions of the fetched range by producer and first offset;
/// a transactional batch of a producer whose transaction is aborted at that point is
/// dropped, and that producer's ABORT marker ends it.
#[derive(Debug, Clone)]
struct AbortedTransactions {
    /// (first offset, producer id), in offset order.
    ahead: VecDeque<(i64, i64)>,
    active: BTreeSet<i64>,
}

impl AbortedTransactions {
    /// Whether the batch is part of an aborted transaction; updates the state with
    /// what the batch says.
    fn drop_batch(&mut self, header: &super::BatchHeader, marker: Option<&ControlMarker>) -> bool {
        if header.producer_id < 0 {
            return false;
        }
        while self
            .ahead
            .front()
            .is_some_and(|&(first, _)| first <= header.last_offset())
        {
            let (_, producer) = self.ahead.pop_front().expect("front exists");
            self.active.insert(producer);
        }
        if let Some(m) = marker {
            if m.control_type == ControlType::Abort {
                self.active.remove(&header.producer_id);
            }
            return false;
        }
        header.is_transactional() && self.active.contains(&header.producer_id)
    }
}

impl PartitionRecords {
    /// Iterates `data`, fetched from `fetch_offset`.
    pub fn new(data: Bytes, fetch_offset: i64, opts: DecodeOptions) -> Self {
        Self {
            batches: batches(data, opts),
            opts,
            current: None,
            failed: false,
            fetch_offset,
            next_fetch_offset: fetch_offset,
            leader_epoch: None,
            aborted: None,
        }
    }

    /// Like [`new`](Self::new), for `isolation.level=read_committed`: records of the
    /// `aborted` transactions (pairs of producer id and first offset, from the Fetch
    /// response) are skipped; control markers are still reported.
    pub fn with_aborted_transactions(
        data: Bytes,
        fetch_offset: i64,
        opts: DecodeOptions,
        aborted: Vec<(i64, i64)>,
    ) -> Self {
        let mut ahead: Vec<(i64, i64)> = aborted
            .into_iter()
            .map(|(producer, first)| (first, producer))
            .collect();
        ahead.sort_unstable();
        let mut this = Self::new(data, fetch_offset, opts);
        this.aborted = Some(AbortedTransactions {
            ahead: ahead.into(),
            active: BTreeSet::new(),
        });
        this
    }

    /// The leader epoch of the batch the last record came from, if the batch says
    /// (v2 batches do). A consumer keeps it with its position to detect log
    /// truncation (KIP-320).
    pub fn leader_epoch(&self) -> Option<i32> {
        self.leader_epoch
    }

    /// Where the next fetch starts: one past the last record or marker handed out, or
    /// past the last batch fully walked (compaction can leave a batch's tail, or all
    /// of it, empty; its offsets are consumed all the same). It does not move past a
    /// batch that failed to decode.
    pub fn next_fetch_offset(&self) -> i64 {
        self.next_fetch_offset
    }

    /// The incomplete batch the data ended with, once iteration reached it.
    pub fn truncated(&self) -> Option<Truncated> {
        self.batches.truncated()
    }

    fn advance_to(&mut self, offset: i64) {
        self.next_fetch_offset = self.next_fetch_offset.max(offset);
    }
}

impl Iterator for PartitionRecords {
    type Item = Result<Fetched, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = self.next_inner();
        if let Some(Err(_)) = &item {
            self.failed = true;
            self.current = None;
        }
        item
    }
}

impl PartitionRecords {
    fn next_inner(&mut self) -> Option<Result<Fetched, RecordError>> {
        if self.failed {
            return None;
        }
        loop {
            if let Some((records, batch_end)) = &mut self.current {
                match records.next() {
                    Some(Ok(r)) if r.offset < self.fetch_offset => continue,
                    Some(Ok(r)) => {
                        self.advance_to(r.offset.saturating_add(1));
                        return Some(Ok(Fetched::Record(r)));
                    }
                    Some(Err(e)) => return Some(Err(e)),
                    None => {
                        let end = *batch_end;
                        self.current = None;
                        self.advance_to(end);
                        continue;
                    }
                }
            }
            let batch = match self.batches.next()? {
                Ok(b) => b,
                Err(e) => return Some(Err(e)),
            };
            let end = batch.next_offset();
            let header = *batch.header();
            if end > self.fetch_offset && header.magic >= 2 && header.partition_leader_epoch >= 0 {
                // Every batch the position passes counts, dropped or not.
                self.leader_epoch = Some(header.partition_leader_epoch);
            }
            let control = batch.control(&self.opts);
            if let Some(aborted) = &mut self.aborted {
                let marker = control.as_ref().and_then(|m| m.as_ref().ok());
                if aborted.drop_batch(&header, marker) {
                    self.advance_to(end);
                    continue;
                }
            }
            if end <= self.fetch_offset {
                continue; // wholly before the fetch offset
            }
            if let Some(marker) = control {
                return Some(marker.map(|m| {
                    self.advance_to(end);
                    Fetched::Control(m)
                }));
            }
            match batch.into_records(&self.opts) {
                Ok(records) => self.current = Some((records, end)),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}
