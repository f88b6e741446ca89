//! The assigned partitions and their positions, keyed by [`TopicPartition`], with a
//! running count of the bytes buffered across all of them (the prefetch bound).
//!
//! Every change to a partition goes through [`Assignment::update`] (or
//! [`Assignment::update_all`]), which keeps the running count exact without
//! rescanning: whatever a change does to the partition's buffer, the difference is
//! applied to the total.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use crate::rng::Rng;
use crate::time::Instant;

use super::event::TopicPartition;
use super::partition::PartitionState;
use super::timer::{Timer, Timers};

#[derive(Debug, Default)]
pub(crate) struct Assignment {
    partitions: BTreeMap<TopicPartition, PartitionState>,
    buffered_bytes: usize,
    /// The partition `poll_records` served last, for fairness between partitions.
    poll_cursor: Option<TopicPartition>,
    /// How many times the application polled (`poll_records`).
    polls: u64,
    /// How many partition states were created: each new one starts its
    /// `generation` at a multiple of 2^16 of this, so an answer to a request a
    /// partition's earlier incarnation sent (a ListOffsets in flight when it was
    /// revoked and assigned again) cannot match the new one.
    incarnations: u32,
}

impl Assignment {
    /// Replaces the assignment with `wanted`: partitions that stay keep their state,
    /// new ones get `fresh()`. Returns the new partitions.
    pub fn replace(
        &mut self,
        wanted: BTreeSet<TopicPartition>,
        mut fresh: impl FnMut() -> PartitionState,
    ) -> Vec<TopicPartition> {
        let mut added = Vec::new();
        let mut next = BTreeMap::new();
        for tp in wanted {
            let state = match self.partitions.remove(&tp) {
                Some(state) => state,
                None => {
                    added.push(tp.clone());
                    self.incarnations = self.incarnations.wrapping_add(1);
                    let mut state = fresh();
                    state.generation = self.incarnations.wrapping_mul(1 << 16);
                    state
                }
            };
            next.insert(tp, state);
        }
        self.partitions = next;
        self.buffered_bytes = self.partitions.values().map(|s| s.buffered_bytes).sum();
        added
    }

    /// Drops every partition.
    pub fn clear(&mut self) {
        self.partitions.clear();
        self.buffered_bytes = 0;
        self.poll_cursor = None;
    }

    pub fn is_empty(&self) -> bool {
        self.partitions.is_empty()
    }

    pub fn get(&self, tp: &TopicPartition) -> Option<&PartitionState> {
        self.partitions.get(tp)
    }

    pub fn contains_topic(&self, topic: &str) -> bool {
        self.topics().any(|t| t == topic)
    }

    /// The assigned partitions, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&TopicPartition, &PartitionState)> {
        self.partitions.iter()
    }

    /// The assigned partitions' topics, each once, in order.
    pub fn topics(&self) -> impl Iterator<Item = &str> {
        let mut last: Option<&str> = None;
        self.partitions.keys().filter_map(move |tp| {
            let t = tp.topic.as_str();
            (last != Some(t)).then(|| {
                last = Some(t);
                t
            })
        })
    }

    /// Changes one partition; `None` if it is not assigned.
    pub fn update<R>(
        &mut self,
        tp: &TopicPartition,
        f: impl FnOnce(&mut PartitionState) -> R,
    ) -> Option<R> {
        let s = self.partitions.get_mut(tp)?;
        let before = s.buffered_bytes;
        let r = f(s);
        self.buffered_bytes = (self.buffered_bytes + s.buffered_bytes).saturating_sub(before);
        Some(r)
    }

    /// Changes every partition.
    pub fn update_all(&mut self, mut f: impl FnMut(&TopicPartition, &mut PartitionState)) {
        for (tp, s) in self.partitions.iter_mut() {
            let before = s.buffered_bytes;
            f(tp, s);
            self.buffered_bytes = (self.buffered_bytes + s.buffered_bytes).saturating_sub(before);
        }
    }

    /// A request for `tp` failed: it waits for its backoff (and its timer).
    pub fn back_off(
        &mut self,
        tp: &TopicPartition,
        now: Instant,
        rng: &mut Rng,
        timers: &mut Timers,
    ) {
        if let Some(s) = self.partitions.get_mut(tp) {
            let until = s.backoff.fail(now, rng);
            timers.set(Timer::PartitionBackoff(tp.clone()), until);
        }
    }

    /// Bytes of fetched data buffered across every partition.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered_bytes
    }

    /// Partitions with records to hand out (not paused), starting after the one
    /// served last so that none starves.
    pub fn poll_order(&self) -> Vec<TopicPartition> {
        let mut keys: Vec<TopicPartition> = self
            .partitions
            .iter()
            .filter(|(_, s)| !s.buffer.is_empty() && !s.paused)
            .map(|(tp, _)| tp.clone())
            .collect();
        if let Some(cursor) = &self.poll_cursor {
            let split = keys.iter().position(|k| k > cursor).unwrap_or(keys.len());
            keys.rotate_left(split);
        }
        keys
    }

    /// `tp` was served by `poll_records`.
    /// The application polls: returns the poll's number.
    pub fn begin_poll(&mut self) -> u64 {
        self.polls += 1;
        self.polls
    }

    /// The latest poll's number (0 before any).
    pub fn latest_poll(&self) -> u64 {
        self.polls
    }

    pub fn served(&mut self, tp: TopicPartition) {
        self.poll_cursor = Some(tp);
    }

    /// The running count equals the sum over partitions (checked in debug builds).
    pub fn debug_check(&self) {
        debug_assert_eq!(
            self.buffered_bytes,
            self.partitions
                .values()
                .map(|s| s.buffered_bytes)
                .sum::<usize>()
        );
    }
}
