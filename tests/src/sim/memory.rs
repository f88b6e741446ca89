//! The memory bound, checked from outside: a model of what each consumer holds in
//! its prefetch buffer, built from the Fetch responses the cluster delivered to it
//! and the positions it reports. A consumer's buffer for a partition is a chain of
//! fetched chunks starting at its position (each fetch starts where the last one
//! ended); chunks off that chain were discarded (a seek, a leader change, a stale
//! response), and so are chunks fetched under an older leader epoch (a consumer
//! drops what it prefetched when leadership moves; this model only errs towards
//! less), and so are chunks of a partition whose new leadership Metadata told the
//! consumer, with the answers to requests it sent before it knew. The consumer
//! fetches only while its buffer is under `queued.max.messages.kbytes`, with one
//! fetch per broker in flight, so the chain may exceed that by at most one
//! response per broker.

use std::collections::BTreeMap;

use kasio_core::consumer::{Consumer, TopicPartition};
use kasio_core::time::Instant;

use super::cluster::Cluster;
use super::server::Fetched;

#[derive(Debug, Clone, Copy)]
struct Chunk {
    from: i64,
    end: i64,
    bytes: usize,
    epoch: i32,
}

/// What one consumer is believed to hold.
#[derive(Debug, Clone, Default)]
pub struct BufferModel {
    chunks: BTreeMap<TopicPartition, Vec<Chunk>>,
    largest_response: usize,
    /// The leader and epoch Metadata last named to the consumer, per partition,
    /// and when it learned them.
    leadership: BTreeMap<TopicPartition, (i32, i32, Instant)>,
}

impl BufferModel {
    /// A Fetch response reached the consumer.
    pub fn received(&mut self, fetched: &[Fetched]) {
        let total: usize = fetched.iter().map(|f| f.bytes).sum();
        self.largest_response = self.largest_response.max(total);
        for f in fetched {
            let tp = TopicPartition::new(f.topic.clone(), f.partition);
            // Asked for before the consumer learned of a leader change: it drops
            // the answer (or, validated meanwhile, may keep it: this errs
            // towards less).
            if self
                .leadership
                .get(&tp)
                .is_some_and(|&(_, _, learned)| f.requested_at < learned)
            {
                continue;
            }
            let v = self.chunks.entry(tp).or_default();
            // A fetch from `from` says the client's buffer ends there: a chunk that
            // reaches beyond was dropped (chunks are kept or dropped whole).
            v.retain(|c| c.end <= f.from);
            if f.end <= f.from {
                continue; // nothing whole: the client keeps none of it
            }
            v.push(Chunk {
                from: f.from,
                end: f.end,
                bytes: f.bytes,
                epoch: f.leader_epoch,
            });
        }
    }

    /// Metadata named a partition's leadership to the consumer: if it changed, the
    /// consumer drops what it prefetched there (and validates its position).
    pub fn leadership(&mut self, tp: &TopicPartition, leader: i32, epoch: i32, now: Instant) {
        let before = self.leadership.get(tp).map(|&(l, e, _)| (l, e));
        if before != Some((leader, epoch)) {
            self.leadership.insert(tp.clone(), (leader, epoch, now));
            if before.is_some() {
                self.chunks.remove(tp);
            }
        }
    }

    /// The consumer's position moved by an event: what it held is gone.
    pub fn forget(&mut self, tp: &TopicPartition) {
        self.chunks.remove(tp);
    }

    /// Bytes held: per assigned partition, the chain of chunks from the position.
    /// Consumed chunks are forgotten.
    pub fn held(&mut self, consumer: &Consumer, cluster: &Cluster) -> usize {
        let assigned = consumer.assignment();
        self.chunks.retain(|tp, _| assigned.contains(tp));
        let mut total = 0;
        for (tp, v) in &mut self.chunks {
            let Some(pos) = consumer.position(tp).ok().flatten() else {
                v.clear();
                continue;
            };
            let epoch = cluster
                .view(&tp.topic, tp.partition)
                .map_or(i32::MAX, |v| v.leader_epoch);
            v.retain(|c| c.end > pos && c.epoch >= epoch);
            v.sort_by_key(|c| c.from);
            let mut at = pos;
            for c in v.iter() {
                if c.from <= at && at < c.end {
                    total += c.bytes;
                    at = c.end;
                }
            }
        }
        total
    }

    /// Checks the bound for a consumer talking to `brokers` brokers.
    pub fn check(
        &mut self,
        consumer: &Consumer,
        cluster: &Cluster,
        brokers: usize,
    ) -> Result<(), String> {
        let held = self.held(consumer, cluster);
        let cap = consumer.config().queued_max_messages_kbytes as usize * 1024;
        let per_response = (consumer.config().fetch_max_bytes as usize).max(self.largest_response);
        let bound = cap + brokers * per_response;
        if held > bound {
            let detail: Vec<String> = self
                .chunks
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(tp, v)| {
                    let pos = consumer.position(tp).ok().flatten();
                    let cs: Vec<String> = v
                        .iter()
                        .map(|c| format!("{}..{}:{}b", c.from, c.end, c.bytes))
                        .collect();
                    format!("{tp} at {pos:?}: {}", cs.join(" "))
                })
                .collect();
            return Err(format!(
                "holds about {held} bytes of fetched records, over the bound {bound} \
                 (queued.max.messages.kbytes {cap} + {brokers} responses of up to \
                 {per_response}); buffers: {}",
                detail.join("; ")
            ));
        }
        Ok(())
    }
}
