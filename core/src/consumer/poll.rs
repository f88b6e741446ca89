//! Handing buffered records to the application, at most `max.poll.records` per call,
//! fairly across partitions and in offset order within each.

use alloc::vec::Vec;

use crate::records::{Fetched, Record};

use super::event::{ConsumerError, Event, TopicPartition};
use super::partition::FetchState;
use super::purpose::PartKey;
use super::Consumer;

/// Records of one partition, in offset order.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionBatch {
    /// The partition.
    pub tp: TopicPartition,
    /// Its records; keys, values and headers are zero-copy slices of fetched data.
    pub records: Vec<Record>,
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
    /// return nothing. Follow with the drains: freeing buffer space lets fetches go
    /// out.
    pub fn poll_records(&mut self) -> ConsumerRecords {
        let mut out = ConsumerRecords::default();
        let mut budget = self.config.max_poll_records as usize;
        let mut keys: Vec<PartKey> = self
            .partitions
            .iter()
            .flat_map(|(t, ps)| {
                ps.iter()
                    .filter(|(_, s)| !s.buffer.is_empty() && !s.paused)
                    .map(move |(p, _)| (t.clone(), *p))
            })
            .collect();
        // Start after the partition that was served last.
        if let Some(cursor) = &self.poll_cursor {
            let split = keys.iter().position(|k| k > cursor).unwrap_or(keys.len());
            keys.rotate_left(split);
        }
        for key in keys {
            if budget == 0 {
                break;
            }
            let records = self.drain_partition(&key, budget);
            budget -= records.len();
            self.poll_cursor = Some(key.clone());
            if !records.is_empty() {
                out.count += records.len();
                out.batches.push(PartitionBatch {
                    tp: TopicPartition::new(key.0, key.1),
                    records,
                });
            }
        }
        self.recount_buffered();
        self.report_eof();
        self.drive();
        out
    }

    fn drain_partition(&mut self, key: &PartKey, budget: usize) -> Vec<Record> {
        let now = self.now;
        let Self {
            partitions,
            events,
            rng,
            ..
        } = self;
        let Some(s) = partitions.get_mut(&key.0).and_then(|t| t.get_mut(&key.1)) else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(budget.min(s.buffered_records.max(1)));
        while out.len() < budget {
            let Some(chunk) = s.buffer.front_mut() else {
                break;
            };
            match chunk.records.next() {
                Some(Ok(Fetched::Record(r))) => {
                    s.position = r.offset.saturating_add(1);
                    s.position_epoch = chunk.records.leader_epoch().or(s.position_epoch);
                    s.eof_reported = false;
                    out.push(r);
                }
                Some(Ok(Fetched::Control(marker))) => {
                    s.position = s.position.max(marker.offset.saturating_add(1));
                    s.position_epoch = chunk.records.leader_epoch().or(s.position_epoch);
                }
                Some(Err(error)) => {
                    // Undecodable although its CRC was fine (or CRCs are off): report it
                    // and fetch again from here after a backoff.
                    let tp = TopicPartition::new(key.0.clone(), key.1);
                    events.push_back(Event::Error(ConsumerError::CorruptRecords {
                        tp,
                        error: error.in_partition(&key.0, key.1),
                    }));
                    s.rewind_to_position();
                    s.backoff.fail(now, rng);
                    break;
                }
                None => {
                    let chunk = s.buffer.pop_front().expect("front exists");
                    s.buffered_bytes = s.buffered_bytes.saturating_sub(chunk.bytes);
                    s.buffered_records = s.buffered_records.saturating_sub(chunk.record_estimate);
                    // Control batches, aborted transactions and compacted gaps at the
                    // end of the chunk are consumed too.
                    s.position = s.position.max(chunk.end_offset);
                    // The position now follows the chunk's last batch (a marker, or
                    // aborted records): its epoch is the one to validate against.
                    if chunk.last_epoch.is_some() {
                        s.position_epoch = chunk.last_epoch;
                    }
                    if let Some(error) = chunk.error {
                        let tp = TopicPartition::new(key.0.clone(), key.1);
                        events.push_back(Event::Error(ConsumerError::CorruptRecords { tp, error }));
                        s.rewind_to_position();
                        s.backoff.fail(now, rng);
                        break;
                    }
                }
            }
        }
        out
    }

    /// `enable.partition.eof`: one event each time a partition's position reaches
    /// its end with nothing buffered.
    pub(super) fn report_eof(&mut self) {
        if !self.config.enable_partition_eof {
            return;
        }
        let read_committed = self.read_committed();
        for (topic, ps) in &mut self.partitions {
            for (&p, s) in ps.iter_mut() {
                let end = s.end_offset(read_committed);
                if s.state == FetchState::Fetching
                    && s.buffer.is_empty()
                    && end >= 0
                    && s.position >= end
                    && !s.eof_reported
                {
                    s.eof_reported = true;
                    let tp = TopicPartition::new(topic.clone(), p);
                    self.events.push_back(Event::PartitionEof {
                        tp,
                        offset: s.position,
                    });
                }
            }
        }
    }
}
