//! One partition's log as its leader holds it: record batches encoded with
//! kasio-core's [`BatchBuilder`] (so every codec and the transactional and control
//! formats are the real ones), the log start offset, the high watermark, the last
//! stable offset, the leader-epoch history and the transaction indexes a Fetch under
//! read_committed needs.
//!
//! Offsets follow Kafka exactly: batches are contiguous, truncation happens at batch
//! boundaries, and retention moves the log start (possibly into a batch).

use std::collections::BTreeMap;

use bytes::Bytes;
use kasio_core::records::{BatchBuilder, Compression, ControlType, EncodeRecordError};

use super::record::SimRecord;

/// A transaction that was aborted, as Fetch reports it under read_committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    /// The producer.
    pub producer_id: i64,
    /// Its first offset in this partition.
    pub first_offset: i64,
    /// The offset of the abort marker.
    pub last_offset: i64,
}

/// A batch in the log: where its bytes are and what Fetch and ListOffsets need.
#[derive(Debug, Clone)]
pub(crate) struct StoredBatch {
    pub base: i64,
    pub last: i64,
    /// Position of the batch's bytes in the segment.
    pos: usize,
    len: usize,
    pub producer_id: i64,
    pub control: Option<ControlType>,
    /// For a transaction marker: the transaction's first offset here.
    txn_first: i64,
    /// Per record, in offset order (ListOffsets by timestamp).
    timestamps: Vec<i64>,
}

/// What one read returned.
#[derive(Debug, Clone, Default)]
pub struct ReadResult {
    /// Whole batches, possibly followed by the cut start of one more (a broker cuts a
    /// response at the byte limit wherever that falls).
    pub bytes: Bytes,
    /// One past the last offset of the last batch (whole or cut) in `bytes`.
    pub upper_bound: i64,
}

/// One partition's log.
#[derive(Debug, Clone, Default)]
pub struct PartitionLog {
    segment: Vec<u8>,
    batches: Vec<StoredBatch>,
    log_start: i64,
    end: i64,
    /// (epoch, start offset), ascending in both.
    epochs: Vec<(i32, i64)>,
    /// Open transactions: producer id → first offset.
    open_txns: BTreeMap<i64, i64>,
    aborted: Vec<AbortedTxn>,
    /// Next sequence number per producer.
    sequences: BTreeMap<i64, i32>,
}

/// How a batch is appended.
#[derive(Debug, Clone, Copy)]
pub struct AppendOptions {
    /// The leader epoch to stamp.
    pub epoch: i32,
    /// The codec.
    pub compression: Compression,
    /// A transactional producer: (producer id, producer epoch).
    pub transaction: Option<(i64, i16)>,
}

impl PartitionLog {
    /// An empty log whose first leader epoch is `epoch`.
    pub fn new(epoch: i32) -> Self {
        let mut log = Self::default();
        log.assign_epoch(epoch);
        log
    }

    /// The first offset still in the log.
    pub fn log_start(&self) -> i64 {
        self.log_start
    }

    /// The log end offset: one past the last offset the leader holds. What
    /// consumers may read ends lower, at a replica's high watermark (see
    /// [`super::replication`]).
    pub fn log_end(&self) -> i64 {
        self.end
    }

    /// The log end offset: the name predates replication; the readable end is
    /// the partition's high watermark ([`super::Cluster::view`]).
    pub fn high_watermark(&self) -> i64 {
        self.end
    }

    /// The last stable offset if the whole log were replicated (high watermark =
    /// log end): the first offset of the oldest open transaction, or the log end.
    pub fn last_stable_offset(&self) -> i64 {
        self.last_stable_offset_at(self.end)
    }

    /// The last stable offset of a replica whose high watermark is `hw` (Kafka's
    /// `min(firstUnstableOffset, highWatermark)`): a transaction is unstable until
    /// its marker is below the high watermark, so one whose marker was appended but
    /// not yet replicated everywhere still holds the LSO back.
    pub fn last_stable_offset_at(&self, hw: i64) -> i64 {
        let open = self.open_txns.values().copied().min().unwrap_or(hw);
        // Markers at or above `hw` are the tail of the log: walk it backwards.
        let decided_late = self
            .batches
            .iter()
            .rev()
            .take_while(|b| b.base >= hw)
            .filter(|b| b.control.is_some() && b.txn_first < hw)
            .map(|b| b.txn_first)
            .min()
            .unwrap_or(hw);
        open.min(decided_late).min(hw).min(self.end)
    }

    /// The leader-epoch history: (epoch, start offset).
    pub fn epochs(&self) -> &[(i32, i64)] {
        &self.epochs
    }

    /// Producers with an open transaction here.
    pub fn open_transactions(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.open_txns.iter().map(|(p, f)| (*p, *f))
    }

    /// A new leader epoch starts at the log end (Kafka's `LeaderEpochFileCache.assign`:
    /// entries that would not stay monotonic are dropped).
    pub fn assign_epoch(&mut self, epoch: i32) {
        let end = self.end;
        self.epochs.retain(|&(e, s)| e < epoch && s < end);
        self.epochs.push((epoch, end));
    }

    /// Appends one batch; returns its first and last offsets.
    pub fn append(
        &mut self,
        records: &[SimRecord],
        opts: AppendOptions,
    ) -> Result<(i64, i64), EncodeRecordError> {
        assert!(!records.is_empty(), "a batch holds at least one record");
        let mut b = BatchBuilder::new(self.end).with_compression(opts.compression);
        b.partition_leader_epoch = opts.epoch;
        let producer_id = match opts.transaction {
            Some((pid, pepoch)) => {
                b.transactional = true;
                b.producer_id = pid;
                b.producer_epoch = pepoch;
                let seq = self.sequences.entry(pid).or_insert(0);
                b.base_sequence = *seq;
                *seq = seq.wrapping_add(records.len() as i32);
                pid
            }
            None => -1,
        };
        for r in records {
            let headers: Vec<(&str, Option<&[u8]>)> = r
                .headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_deref()))
                .collect();
            b.push(r.timestamp, r.key.as_deref(), r.value.as_deref(), &headers);
        }
        let base = self.end;
        let timestamps = records.iter().map(|r| r.timestamp).collect();
        self.store(b, producer_id, None, -1, timestamps)?;
        if opts.transaction.is_some() {
            self.open_txns.entry(producer_id).or_insert(base);
        }
        Ok((base, self.end - 1))
    }

    /// Appends a v2 batch a producer encoded (Produce on the wire), already
    /// checked: as a leader does, it gets the log end as its base offset and
    /// `epoch` as its partition leader epoch, both before the CRC'd part, so the
    /// producer's CRC and bytes stay as they were. A transactional batch
    /// (`producer_id` ≥ 0) opens or continues that producer's transaction here.
    /// Returns its first and last offsets.
    pub(crate) fn append_encoded(
        &mut self,
        mut batch: Vec<u8>,
        epoch: i32,
        producer_id: i64,
        timestamps: Vec<i64>,
    ) -> (i64, i64) {
        let base = self.end;
        batch[..8].copy_from_slice(&base.to_be_bytes());
        batch[12..16].copy_from_slice(&epoch.to_be_bytes());
        let count = timestamps.len() as i64;
        let pos = self.segment.len();
        self.segment.extend_from_slice(&batch);
        self.batches.push(StoredBatch {
            base,
            last: base + count - 1,
            pos,
            len: batch.len(),
            producer_id,
            control: None,
            txn_first: -1,
            timestamps,
        });
        self.end += count;
        if producer_id >= 0 {
            self.open_txns.entry(producer_id).or_insert(base);
        }
        (base, self.end - 1)
    }

    /// Ends `producer_id`'s open transaction with a COMMIT or ABORT marker; returns the
    /// marker's offset, or `None` if the producer has no open transaction here.
    pub fn append_marker(
        &mut self,
        epoch: i32,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        timestamp: i64,
    ) -> Option<i64> {
        let first = self.open_txns.remove(&producer_id)?;
        let ty = if commit {
            ControlType::Commit
        } else {
            ControlType::Abort
        };
        let mut b =
            BatchBuilder::control_marker(self.end, producer_id, producer_epoch, ty, 0, timestamp);
        b.partition_leader_epoch = epoch;
        let at = self.end;
        self.store(b, producer_id, Some(ty), first, vec![timestamp])
            .expect("an uncompressed marker always encodes");
        if !commit {
            self.aborted.push(AbortedTxn {
                producer_id,
                first_offset: first,
                last_offset: at,
            });
        }
        Some(at)
    }

    fn store(
        &mut self,
        b: BatchBuilder,
        producer_id: i64,
        control: Option<ControlType>,
        txn_first: i64,
        timestamps: Vec<i64>,
    ) -> Result<(), EncodeRecordError> {
        let mut buf = bytes::BytesMut::new();
        b.encode(&mut buf)?;
        let count = b.len() as i64;
        let pos = self.segment.len();
        self.segment.extend_from_slice(&buf);
        self.batches.push(StoredBatch {
            base: self.end,
            last: self.end + count - 1,
            pos,
            len: buf.len(),
            producer_id,
            control,
            txn_first,
            timestamps,
        });
        self.end += count;
        Ok(())
    }

    /// Retention or DeleteRecords: the log now starts at `offset` (clamped to the
    /// log end; the cluster clamps to the high watermark first). Returns the new log
    /// start.
    pub fn delete_records(&mut self, offset: i64) -> i64 {
        let offset = offset.clamp(self.log_start, self.end);
        self.log_start = offset;
        self.batches.retain(|b| b.last >= offset);
        self.aborted.retain(|a| a.last_offset >= offset);
        offset
    }

    /// Unclean leader election: everything from the batch holding `offset` on is lost.
    /// Returns the actual truncation point (a batch boundary, never below the log
    /// start) and the transactions whose marker was lost while their first offset
    /// survived: they are open again here, and their coordinator must write the
    /// marker again.
    pub fn truncate(&mut self, offset: i64) -> (i64, Vec<(i64, ControlType)>) {
        let offset = offset.clamp(self.log_start, self.end);
        let cut = self
            .batches
            .iter()
            .position(|b| b.last >= offset)
            .unwrap_or(self.batches.len());
        let at = self
            .batches
            .get(cut)
            .map_or(self.end, |b| b.base)
            .max(self.log_start);
        let removed: Vec<StoredBatch> = self.batches.drain(cut..).collect();
        if let Some(first) = removed.first() {
            self.segment.truncate(first.pos);
        }
        self.end = at;
        self.epochs.retain(|&(_, s)| s < at);
        self.open_txns.retain(|_, first| *first < at);
        self.aborted.retain(|a| a.last_offset < at);
        let mut reopened = Vec::new();
        for b in &removed {
            if let Some(ty) = b.control {
                if b.txn_first < at && matches!(ty, ControlType::Commit | ControlType::Abort) {
                    self.open_txns.insert(b.producer_id, b.txn_first);
                    reopened.push((b.producer_id, ty));
                }
            }
        }
        (at, reopened)
    }

    /// Reads from the batch holding `fetch_offset`, batches below `max_offset`, at
    /// most `max_bytes` bytes — except that with `min_one` the first batch comes
    /// whole whatever its size (KIP-74). Like a broker slicing its segment file, the
    /// read may end inside a batch.
    pub fn read(
        &self,
        fetch_offset: i64,
        max_offset: i64,
        max_bytes: usize,
        min_one: bool,
    ) -> ReadResult {
        let first = self.batches.partition_point(|b| b.last < fetch_offset);
        let last = self.batches.partition_point(|b| b.base < max_offset);
        if first >= last {
            return ReadResult {
                bytes: Bytes::new(),
                upper_bound: fetch_offset,
            };
        }
        let start = self.batches[first].pos;
        let available = self.batches[last - 1].pos + self.batches[last - 1].len - start;
        let mut size = available.min(max_bytes);
        if min_one && size < self.batches[first].len {
            size = self.batches[first].len;
        }
        if size == 0 {
            return ReadResult {
                bytes: Bytes::new(),
                upper_bound: fetch_offset,
            };
        }
        let end_pos = start + size;
        let upper_bound = self.batches[first..last]
            .iter()
            .take_while(|b| b.pos < end_pos)
            .last()
            .map_or(fetch_offset, |b| b.last + 1);
        ReadResult {
            bytes: Bytes::copy_from_slice(&self.segment[start..end_pos]),
            upper_bound,
        }
    }

    /// One past the last offset of the whole batches in a read of `bytes` bytes
    /// from `fetch_offset` (where the reader's next fetch starts).
    pub fn whole_batches_end(&self, fetch_offset: i64, bytes: usize) -> i64 {
        let first = self.batches.partition_point(|b| b.last < fetch_offset);
        let Some(start) = self.batches.get(first).map(|b| b.pos) else {
            return fetch_offset;
        };
        self.batches[first..]
            .iter()
            .take_while(|b| b.pos + b.len <= start + bytes)
            .last()
            .map_or(fetch_offset, |b| b.last + 1)
    }

    /// Bytes a read from `fetch_offset` up to `max_offset` could return.
    pub fn readable_bytes(&self, fetch_offset: i64, max_offset: i64) -> usize {
        let first = self.batches.partition_point(|b| b.last < fetch_offset);
        let last = self.batches.partition_point(|b| b.base < max_offset);
        self.batches
            .get(first..last)
            .map_or(0, |bs| bs.iter().map(|b| b.len).sum())
    }

    /// Aborted transactions overlapping `[from, upper)` (what Fetch returns under
    /// read_committed).
    pub fn aborted_between(&self, from: i64, upper: i64) -> Vec<AbortedTxn> {
        self.aborted
            .iter()
            .filter(|a| a.last_offset >= from && a.first_offset < upper)
            .copied()
            .collect()
    }

    /// The epoch and end offset of `epoch` (Kafka's `LeaderEpochFileCache.endOffsetFor`):
    /// for the latest epoch, the log end; else the start of the next higher epoch, with
    /// the largest epoch at or below the one asked for. (-1, -1) when unknown.
    pub fn end_offset_for(&self, epoch: i32) -> (i32, i64) {
        let Some(&(latest, _)) = self.epochs.last() else {
            return (-1, -1);
        };
        if epoch < 0 {
            return (-1, -1);
        }
        if epoch == latest {
            return (latest, self.end);
        }
        let Some(&(_, higher_start)) = self.epochs.iter().find(|(e, _)| *e > epoch) else {
            return (-1, -1);
        };
        match self.epochs.iter().rev().find(|(e, _)| *e <= epoch) {
            Some(&(floor, _)) => (floor, higher_start),
            None => (epoch, higher_start),
        }
    }

    /// [`end_offset_for`](Self::end_offset_for) as a follower whose log ends at
    /// `end` answers it: its epoch cache holds only the epochs of batches it
    /// replicated (an entry is added when a batch of a new epoch is appended), and
    /// its latest epoch ends at its own log end.
    pub fn end_offset_for_at(&self, epoch: i32, end: i64) -> (i32, i64) {
        if end >= self.end {
            return self.end_offset_for(epoch);
        }
        let epochs: Vec<(i32, i64)> = self
            .epochs
            .iter()
            .copied()
            .filter(|&(_, s)| s < end)
            .collect();
        let Some(&(latest, _)) = epochs.last() else {
            return (-1, -1);
        };
        if epoch < 0 {
            return (-1, -1);
        }
        if epoch == latest {
            return (latest, end);
        }
        let Some(&(_, higher_start)) = epochs.iter().find(|(e, _)| *e > epoch) else {
            return (-1, -1);
        };
        match epochs.iter().rev().find(|(e, _)| *e <= epoch) {
            Some(&(floor, _)) => (floor, higher_start),
            None => (epoch, higher_start),
        }
    }

    /// The leader epoch that wrote `offset` (from the epoch history).
    pub fn epoch_at(&self, offset: i64) -> i32 {
        self.epochs
            .iter()
            .rev()
            .find(|(_, s)| *s <= offset)
            .or(self.epochs.first())
            .map_or(-1, |(e, _)| *e)
    }

    /// The first record at or after `timestamp` below `max_offset` (ListOffsets by
    /// time): its offset and timestamp. Control batches are not searched.
    pub fn offset_for_timestamp(&self, timestamp: i64, max_offset: i64) -> Option<(i64, i64)> {
        for b in &self.batches {
            if b.control.is_some() || b.base >= max_offset {
                continue;
            }
            for (i, &ts) in b.timestamps.iter().enumerate() {
                let offset = b.base + i as i64;
                if offset >= self.log_start && offset < max_offset && ts >= timestamp {
                    return Some((offset, ts));
                }
            }
        }
        None
    }

    /// The largest timestamp below `max_offset` and its offset (ListOffsets -3).
    pub fn max_timestamp(&self, max_offset: i64) -> Option<(i64, i64)> {
        let mut best: Option<(i64, i64)> = None;
        for b in self.batches.iter().filter(|b| b.control.is_none()) {
            for (i, &ts) in b.timestamps.iter().enumerate() {
                let offset = b.base + i as i64;
                if offset >= self.log_start
                    && offset < max_offset
                    && best.is_none_or(|(_, t)| ts > t)
                {
                    best = Some((offset, ts));
                }
            }
        }
        best
    }

    /// Bytes held (for memory accounting and tests).
    pub fn size_bytes(&self) -> usize {
        self.batches.iter().map(|b| b.len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recs(n: usize) -> Vec<SimRecord> {
        (0..n)
            .map(|i| SimRecord::new(1000 + i as i64, None, Some(b"v")))
            .collect()
    }

    fn plain(epoch: i32) -> AppendOptions {
        AppendOptions {
            epoch,
            compression: Compression::None,
            transaction: None,
        }
    }

    #[test]
    fn epochs_end_offsets_and_truncation() {
        let mut log = PartitionLog::new(0);
        log.append(&recs(3), plain(0)).unwrap();
        log.assign_epoch(1);
        log.append(&recs(2), plain(1)).unwrap();
        log.assign_epoch(3);
        log.append(&recs(4), plain(3)).unwrap();
        assert_eq!(log.epochs(), &[(0, 0), (1, 3), (3, 5)]);
        assert_eq!(log.end_offset_for(0), (0, 3));
        assert_eq!(log.end_offset_for(2), (1, 5));
        assert_eq!(log.end_offset_for(3), (3, 9));
        assert_eq!(log.end_offset_for(4), (-1, -1));
        // Truncating inside the epoch-1 batch drops the whole batch.
        let (at, _) = log.truncate(4);
        assert_eq!(at, 3);
        assert_eq!(log.epochs(), &[(0, 0)]);
        log.assign_epoch(4);
        assert_eq!(log.end_offset_for(1), (0, 3));
        assert_eq!(log.end_offset_for(4), (4, 3));
    }

    #[test]
    fn reads_cut_at_the_byte_limit_unless_min_one() {
        let mut log = PartitionLog::new(0);
        log.append(&recs(5), plain(0)).unwrap();
        log.append(&recs(5), plain(0)).unwrap();
        let whole = log.read(0, 10, usize::MAX, false);
        let one = whole.bytes.len() / 2;
        let r = log.read(0, 10, 10, false);
        assert_eq!(r.bytes.len(), 10);
        let r = log.read(0, 10, 10, true);
        assert_eq!(r.bytes.len(), one);
        assert_eq!(r.upper_bound, 5);
        let r = log.read(7, 10, usize::MAX, false);
        assert_eq!(r.bytes.len(), one);
        assert_eq!(log.read(7, 5, 1000, true).bytes.len(), 0);
    }

    #[test]
    fn a_replica_behind_the_log_end_sees_its_own_prefix() {
        let mut log = PartitionLog::new(0);
        let txn = AppendOptions {
            transaction: Some((7, 0)),
            ..plain(0)
        };
        log.append(&recs(2), txn).unwrap();
        log.append(&recs(2), plain(0)).unwrap();
        assert_eq!(log.append_marker(0, 7, 0, true, 5), Some(4));
        assert_eq!(log.last_stable_offset(), 5);
        // The marker is not below a high watermark of 4: the transaction is still
        // unstable there.
        assert_eq!(log.last_stable_offset_at(4), 0);
        assert_eq!(log.last_stable_offset_at(5), 5);
        log.assign_epoch(2);
        log.append(&recs(3), plain(2)).unwrap();
        // A follower that holds 0..5 has no epoch 2 yet: epoch 0 ends at its end.
        assert_eq!(log.end_offset_for_at(0, 5), (0, 5));
        assert_eq!(log.end_offset_for_at(2, 5), (-1, -1));
        assert_eq!(log.end_offset_for_at(0, 8), (0, 5));
        assert_eq!(log.end_offset_for_at(2, 8), (2, 8));
    }

    #[test]
    fn transactions_and_lso() {
        let mut log = PartitionLog::new(0);
        let txn = AppendOptions {
            transaction: Some((7, 0)),
            ..plain(0)
        };
        log.append(&recs(2), plain(0)).unwrap();
        log.append(&recs(2), txn).unwrap();
        assert_eq!(log.last_stable_offset(), 2);
        log.append(&recs(1), plain(0)).unwrap();
        assert_eq!(log.append_marker(0, 7, 0, false, 5), Some(5));
        assert_eq!(log.last_stable_offset(), 6);
        assert_eq!(
            log.aborted_between(0, 6),
            vec![AbortedTxn {
                producer_id: 7,
                first_offset: 2,
                last_offset: 5
            }]
        );
        // Losing the marker reopens the transaction.
        let (at, reopened) = log.truncate(5);
        assert_eq!(at, 5);
        assert_eq!(reopened, vec![(7, ControlType::Abort)]);
        assert_eq!(log.last_stable_offset(), 2);
        assert!(log.aborted_between(0, 6).is_empty());
    }
}
