//! Handing buffered records to the application, at most `max.poll.records` per call,
//! fairly across partitions and in offset order within each.

use alloc::vec::Vec;

use crate::metadata::BrokerId;
use crate::records::{Fetched, Record};
use crate::time::Instant;

use super::error::RemoteError;
use super::event::{Event, TopicPartition};
use super::partition::FetchState;
use super::Consumer;

/// Records of one partition, in offset order.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionBatch {
    /// The partition.
    pub tp: TopicPartition,
    /// Its records; keys, values and headers are zero-copy slices of fetched data.
    pub records: Vec<Record>,
    /// The broker whose fetch responses held these records: the leader, or the
    /// follower it sent the consumer to (KIP-392). A batch never mixes brokers: a
    /// poll stops at a partition's first record served by another one.
    pub broker: BrokerId,
}

/// What one [`Consumer::poll_records`] returns. Owns its records (they borrow
/// nothing from the consumer).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConsumerRecords {
    batches: Vec<PartitionBatch>,
    count: usize,
}

impl ConsumerRecords {
    /// How many records.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The records grouped by partition.
    pub fn partitions(&self) -> &[PartitionBatch] {
        &self.batches
    }

    /// Every record with its partition, partition by partition.
    pub fn iter(&self) -> impl Iterator<Item = (&TopicPartition, &Record)> {
        self.batches
            .iter()
            .flat_map(|b| b.records.iter().map(move |r| (&b.tp, r)))
    }
}

impl IntoIterator for ConsumerRecords {
    type Item = PartitionBatch;
    type IntoIter = alloc::vec::IntoIter<PartitionBatch>;
    fn into_iter(self) -> Self::IntoIter {
        self.batches.into_iter()
    }
}

impl Consumer {
    /// Up to `max.poll.records` buffered records, and advances positions past them.
    /// Partitions take turns across calls so that none starves. Paused partitions
    /// return nothing. `now` is when the application polled. Follow with the
    /// drains: freeing buffer space lets fetches go out.
    pub fn poll_records(&mut self, now: Instant) -> ConsumerRecords {
        self.advance(now);
        self.group_polled();
        let poll = self.assignment.begin_poll();
        let mut out = ConsumerRecords::default();
        let mut budget = self.config.max_poll_records as usize;
        for tp in self.assignment.poll_order() {
            if budget == 0 {
                break;
            }
            let (records, broker) = self.drain_partition(&tp, budget, poll);
            budget -= records.len();
            self.assignment.served(tp.clone());
            if !records.is_empty() {
                out.count += records.len();
                out.batches.push(PartitionBatch {
                    tp,
                    records,
                    broker,
                });
            }
        }
        self.report_eof();
        self.drive();
        out
    }

    /// Takes up to `budget` records of `tp`, all served by one broker (returned
    /// with them).
    fn drain_partition(
        &mut self,
        tp: &TopicPartition,
        budget: usize,
        poll: u64,
    ) -> (Vec<Record>, BrokerId) {
        let drained = self.assignment.update(tp, |s| {
            s.handing_out(poll);
            let mut out = Vec::with_capacity(budget.min(s.buffered_records.max(1)));
            let mut failure = None;
            let mut served_by = None;
            while out.len() < budget {
                let Some(chunk) = s.buffer.front_mut() else {
                    break;
                };
                if served_by.is_some_and(|b| b != chunk.broker) {
                    // The next chunk came from another broker: the next poll's.
                    break;
                }
                match chunk.records.next() {
                    Some(Ok(Fetched::Record(r))) => {
                        s.position = r.offset.saturating_add(1);
                        s.position_epoch = chunk.records.leader_epoch().or(s.position_epoch);
                        s.eof_reported = false;
                        served_by = Some(chunk.broker);
                        out.push(r);
                    }
                    Some(Ok(Fetched::Control(marker))) => {
                        s.position = s.position.max(marker.offset.saturating_add(1));
                        s.position_epoch = chunk.records.leader_epoch().or(s.position_epoch);
                    }
                    Some(Err(error)) => {
                        // Undecodable although its CRC was fine (or CRCs are off):
                        // report it and fetch again from here after a backoff.
                        failure = Some(error.in_partition(&tp.topic, tp.partition));
                        break;
                    }
                    None => {
                        let chunk = s.buffer.pop_front().expect("front exists");
                        s.buffered_bytes = s.buffered_bytes.saturating_sub(chunk.bytes);
                        s.buffered_records =
                            s.buffered_records.saturating_sub(chunk.record_estimate);
                        // Control batches, aborted transactions and compacted gaps at
                        // the end of the chunk are consumed too.
                        s.position = s.position.max(chunk.end_offset);
                        // The position now follows the chunk's last batch (a marker,
                        // or aborted records): its epoch is the one to validate
                        // against.
                        if chunk.last_epoch.is_some() {
                            s.position_epoch = chunk.last_epoch;
                        }
                        if let Some(error) = chunk.error {
                            failure = Some(error);
                            break;
                        }
                    }
                }
            }
            if failure.is_some() {
                s.rewind_to_position();
            }
            (out, failure, served_by)
        });
        let Some((out, failure, served_by)) = drained else {
            return (Vec::new(), BrokerId(-1));
        };
        if let Some(error) = failure {
            self.report(RemoteError::CorruptRecords {
                tp: tp.clone(),
                error,
            });
            self.assignment
                .back_off(tp, self.now, &mut self.rng, &mut self.timers);
        }
        (out, served_by.unwrap_or(BrokerId(-1)))
    }

    /// `enable.partition.eof`: one event each time a partition's position reaches
    /// its end with nothing buffered.
    pub(super) fn report_eof(&mut self) {
        if !self.config.enable_partition_eof {
            return;
        }
        let read_committed = self.read_committed();
        let events = &mut self.events;
        self.assignment.update_all(|tp, s| {
            let end = s.end_offset(read_committed);
            if s.state == FetchState::Fetching
                && s.buffer.is_empty()
                && end >= 0
                && s.position >= end
                && !s.eof_reported
            {
                s.eof_reported = true;
                events.push_back(Event::PartitionEof {
                    tp: tp.clone(),
                    offset: s.position,
                });
            }
        });
    }
}
