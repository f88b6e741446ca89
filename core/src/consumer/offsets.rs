//! Finding and checking positions: ListOffsets for `auto.offset.reset` and
//! `offsets_for_times`, OffsetForLeaderEpoch to validate a position after a leader
//! change (KIP-320), and what a detected truncation does.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::vec::Vec;

use bytes::Bytes;

use crate::config::OffsetReset;
use crate::metadata::BrokerId;
use crate::protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use crate::protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use crate::protocol::messages::{
    ListOffsetsRequest, ListOffsetsResponse, OffsetForLeaderEpochRequest,
    OffsetForLeaderEpochResponse,
};
use crate::protocol::{ApiKey, ErrorCode, Message};
use crate::time::Instant;

use super::event::{
    ConsumerError, Event, OffsetAndTimestamp, QueryId, ResetReason, TopicPartition,
};
use super::partition::FetchState;
use super::purpose::{PartKey, Purpose};
use super::Consumer;

/// ListOffsets' special timestamps.
const EARLIEST: i64 = -2;
const LATEST: i64 = -1;
/// OffsetForLeaderEpoch from v3 carries the current leader epoch, which the consumer
/// needs to be fenced properly; older brokers are not asked (as in the Java client).
const FIRST_VALIDATION_VERSION: i16 = 3;

/// Errors after which a partition's leader must be looked up again.
fn is_leadership_error(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::NotLeaderOrFollower
            | ErrorCode::UnknownTopicOrPartition
            | ErrorCode::LeaderNotAvailable
            | ErrorCode::FencedLeaderEpoch
            | ErrorCode::UnknownLeaderEpoch
            | ErrorCode::OffsetNotAvailable
            | ErrorCode::ReplicaNotAvailable
            | ErrorCode::KafkaStorageError
    )
}

/// One partition of a reset ListOffsets.
struct ResetRequest {
    key: PartKey,
    strategy: OffsetReset,
    reason: ResetReason,
    leader_epoch: i32,
    generation: u32,
}

/// One partition of an OffsetForLeaderEpoch validation.
struct ValidateRequest {
    key: PartKey,
    position: i64,
    /// The epoch of the last consumed record: the one to check.
    position_epoch: i32,
    /// The current leader epoch, which fences stale leaders.
    leader_epoch: i32,
    generation: u32,
}

/// An `offsets_for_times` query in progress.
#[derive(Debug)]
pub(crate) struct TimesQuery {
    pub deadline: Instant,
    /// Partitions still to answer, with their timestamps, and whether a request for
    /// each is out.
    pending: BTreeMap<PartKey, (i64, bool)>,
    done: Vec<(
        TopicPartition,
        Result<Option<OffsetAndTimestamp>, ConsumerError>,
    )>,
}

impl TimesQuery {
    pub fn topics(&self) -> impl Iterator<Item = String> + '_ {
        self.pending.keys().map(|(t, _)| t.clone())
    }
}

impl Consumer {
    /// Looks up, for each partition, the earliest offset whose timestamp is at or
    /// after the given one (`KafkaConsumer::offsetsForTimes`). The answer comes as
    /// [`Event::OffsetsForTimes`] with the returned id; partitions need not be
    /// assigned. Gives up after `default.api.timeout.ms`.
    pub fn offsets_for_times(
        &mut self,
        query: impl IntoIterator<Item = (TopicPartition, i64)>,
    ) -> QueryId {
        let id = QueryId(self.next_query);
        self.next_query += 1;
        let pending: BTreeMap<PartKey, (i64, bool)> = query
            .into_iter()
            .map(|(tp, ts)| ((tp.topic, tp.partition), (ts, false)))
            .collect();
        let deadline = self.now + self.config.default_api_timeout;
        self.queries.insert(
            id,
            TimesQuery {
                deadline,
                pending,
                done: Vec::new(),
            },
        );
        if self.closing.is_some() || self.closed {
            // Nothing will be sent any more: answer at once.
            self.end_queries(ConsumerError::Closed);
            return id;
        }
        if self.queries[&id]
            .pending
            .keys()
            .any(|(t, _)| self.metadata.topic(t).is_none())
        {
            self.meta.needed = true;
        }
        self.finish_query_if_done(id);
        self.drive();
        id
    }

    /// Sends ListOffsets for partitions waiting for a reset, grouped by leader.
    pub(super) fn send_resets(&mut self) {
        let now = self.now;
        let mut by_leader: BTreeMap<BrokerId, Vec<ResetRequest>> = BTreeMap::new();
        let mut failed = Vec::new();
        for (topic, ps) in &self.partitions {
            for (&p, s) in ps {
                let FetchState::AwaitReset { strategy, reason } = s.state else {
                    continue;
                };
                if !s.ready(now) {
                    continue;
                }
                if strategy == OffsetReset::None {
                    failed.push(((topic.clone(), p), reason));
                    continue;
                }
                match self.leader_of(topic, p) {
                    Some(leader) => by_leader.entry(leader).or_default().push(ResetRequest {
                        key: (topic.clone(), p),
                        strategy,
                        reason,
                        leader_epoch: s.request_epoch(),
                        generation: s.generation,
                    }),
                    None => self.meta.needed = true,
                }
            }
        }
        for (key, reason) in failed {
            if let Some(s) = self.state_mut(&key) {
                s.state = FetchState::Failed;
            }
            let tp = TopicPartition::new(key.0, key.1);
            self.events
                .push_back(Event::Error(ConsumerError::NoOffsetForPartition {
                    tp,
                    reason,
                }));
        }
        for (leader, parts) in by_leader {
            let Some(version) = self.list_offsets_version(leader) else {
                continue;
            };
            let req = self.list_offsets_request(
                version,
                parts.iter().map(|r| {
                    let ts = if r.strategy == OffsetReset::Earliest {
                        EARLIEST
                    } else {
                        LATEST
                    };
                    (&r.key, ts, r.leader_epoch)
                }),
            );
            let purpose = Purpose::Reset {
                partitions: parts
                    .iter()
                    .map(|r| (r.key.clone(), r.strategy, r.reason, r.generation))
                    .collect(),
            };
            let Some((_, conn)) = self.brokers.ready(leader) else {
                continue;
            };
            if conn.send(&req, version, purpose, now).is_ok() {
                for r in &parts {
                    if let Some(s) = self.state_mut(&r.key) {
                        s.in_flight = true;
                    }
                }
            }
        }
    }

    /// The ListOffsets version to use with `leader` now, if a request can go out:
    /// the connection is ready and speaks v1 or later (else the application hears
    /// that the broker is too old).
    fn list_offsets_version(&mut self, leader: BrokerId) -> Option<i16> {
        let Some((_, conn)) = self.brokers.ready(leader) else {
            self.need_broker(leader);
            return None;
        };
        let version = conn
            .versions()
            .version(ApiKey::ListOffsets)
            .filter(|v| *v >= 1);
        if version.is_none() {
            let api = ApiKey::ListOffsets.key();
            self.events
                .push_back(Event::Error(ConsumerError::UnsupportedApi {
                    broker: leader,
                    api,
                }));
        }
        version
    }

    fn list_offsets_request<'a>(
        &self,
        version: i16,
        parts: impl Iterator<Item = (&'a PartKey, i64, i32)>,
    ) -> ListOffsetsRequest {
        let mut topics: Vec<ListOffsetsTopic> = Vec::new();
        for ((topic, partition), timestamp, epoch) in parts {
            if topics.last().is_none_or(|t| &t.name != topic) {
                topics.push(ListOffsetsTopic {
                    name: topic.clone(),
                    partitions: Vec::new(),
                });
            }
            topics
                .last_mut()
                .expect("just pushed")
                .partitions
                .push(ListOffsetsPartition {
                    partition_index: *partition,
                    current_leader_epoch: epoch,
                    timestamp,
                    ..Default::default()
                });
        }
        ListOffsetsRequest {
            replica_id: -1,
            // v1 has no isolation level (and so no last stable offset): "latest" is
            // the high watermark there, the best such a broker can say.
            isolation_level: if version >= 2 {
                self.config.isolation_level.as_i8()
            } else {
                0
            },
            topics,
            timeout_ms: self.config.request_timeout.as_millis().min(i32::MAX as u64) as i32,
        }
    }

    pub(super) fn on_reset_response(
        &mut self,
        broker: BrokerId,
        version: i16,
        partitions: Vec<(PartKey, OffsetReset, ResetReason, u32)>,
        body: Bytes,
    ) {
        let resp = match ListOffsetsResponse::decode(version, &body) {
            Ok(r) => r,
            Err(e) => {
                for (k, _, _, generation) in &partitions {
                    self.retry_later(k, *generation);
                }
                self.protocol_error(broker, ApiKey::ListOffsets, e);
                return;
            }
        };
        let mut answered = BTreeSet::new();
        for t in &resp.topics {
            for p in &t.partitions {
                let key = (t.name.clone(), p.partition_index);
                let Some((_, _, reason, generation)) = partitions.iter().find(|(k, ..)| *k == key)
                else {
                    continue;
                };
                answered.insert(key.clone());
                let (reason, generation) = (*reason, *generation);
                let code = ErrorCode::from_code(p.error_code);
                let Some(s) = self.state_mut(&key) else {
                    continue;
                };
                // The application may have sought (or reset again) meanwhile.
                if s.generation != generation {
                    continue;
                }
                s.in_flight = false;
                match code {
                    ErrorCode::None if p.offset >= 0 => {
                        let epoch = (p.leader_epoch >= 0).then_some(p.leader_epoch);
                        s.seek(p.offset, epoch);
                        let tp = TopicPartition::new(key.0.clone(), key.1);
                        self.events.push_back(Event::OffsetReset {
                            tp,
                            offset: p.offset,
                            reason,
                        });
                    }
                    ErrorCode::None => self.retry_later(&key, generation),
                    code if is_leadership_error(code) || code.is_retriable() => {
                        s.fenced |= code == ErrorCode::FencedLeaderEpoch;
                        self.meta.needed |= is_leadership_error(code);
                        self.retry_later(&key, generation);
                    }
                    code => {
                        s.state = FetchState::Failed;
                        let tp = TopicPartition::new(key.0.clone(), key.1);
                        self.events
                            .push_back(Event::Error(ConsumerError::Partition { tp, code }));
                    }
                }
            }
        }
        // Partitions the broker left out are asked again.
        for (k, _, _, generation) in &partitions {
            if !answered.contains(k) {
                self.retry_later(k, *generation);
            }
        }
    }

    /// Sends OffsetForLeaderEpoch for partitions whose position must be checked
    /// against a new leader. A broker that cannot answer (no such API, as tansu, or
    /// a version without the current leader epoch) is trusted: validation is skipped.
    pub(super) fn send_validations(&mut self) {
        let now = self.now;
        let mut by_leader: BTreeMap<BrokerId, Vec<ValidateRequest>> = BTreeMap::new();
        for (topic, ps) in &self.partitions {
            for (&p, s) in ps {
                if s.state != FetchState::AwaitValidation || !s.ready(now) {
                    continue;
                }
                match self.leader_of(topic, p) {
                    Some(leader) => by_leader.entry(leader).or_default().push(ValidateRequest {
                        key: (topic.clone(), p),
                        position: s.position,
                        position_epoch: s.position_epoch.unwrap_or(-1),
                        leader_epoch: s.request_epoch(),
                        generation: s.generation,
                    }),
                    None => self.meta.needed = true,
                }
            }
        }
        for (leader, parts) in by_leader {
            let Some((_, conn)) = self.brokers.ready(leader) else {
                self.need_broker(leader);
                continue;
            };
            let version = conn
                .versions()
                .version(ApiKey::OffsetForLeaderEpoch)
                .filter(|v| *v >= FIRST_VALIDATION_VERSION);
            let Some(version) = version else {
                for r in &parts {
                    if let Some(s) = self.state_mut(&r.key) {
                        s.state = FetchState::Fetching;
                    }
                }
                continue;
            };
            let mut topics: Vec<OffsetForLeaderTopic> = Vec::new();
            for r in &parts {
                let (topic, partition) = &r.key;
                if topics.last().is_none_or(|t| &t.topic != topic) {
                    topics.push(OffsetForLeaderTopic {
                        topic: topic.clone(),
                        partitions: Vec::new(),
                    });
                }
                topics
                    .last_mut()
                    .expect("just pushed")
                    .partitions
                    .push(OffsetForLeaderPartition {
                        partition: *partition,
                        current_leader_epoch: r.leader_epoch,
                        leader_epoch: r.position_epoch,
                    });
            }
            let req = OffsetForLeaderEpochRequest {
                replica_id: -1,
                topics,
            };
            let purpose = Purpose::Validate {
                partitions: parts
                    .iter()
                    .map(|r| (r.key.clone(), r.position, r.generation))
                    .collect(),
            };
            let Some((_, conn)) = self.brokers.ready(leader) else {
                continue;
            };
            if conn.send(&req, version, purpose, now).is_ok() {
                for r in &parts {
                    if let Some(s) = self.state_mut(&r.key) {
                        s.in_flight = true;
                    }
                }
            }
        }
    }

    pub(super) fn on_validate_response(
        &mut self,
        version: i16,
        partitions: Vec<(PartKey, i64, u32)>,
        body: Bytes,
    ) {
        let resp = match OffsetForLeaderEpochResponse::decode(version, &body) {
            Ok(r) => r,
            Err(_) => {
                for (k, _, generation) in &partitions {
                    self.retry_later(k, *generation);
                }
                return;
            }
        };
        let mut answered = BTreeSet::new();
        for t in &resp.topics {
            for p in &t.partitions {
                let key = (t.topic.clone(), p.partition);
                let Some((_, position, generation)) = partitions.iter().find(|(k, ..)| *k == key)
                else {
                    continue;
                };
                answered.insert(key.clone());
                let (position, generation) = (*position, *generation);
                let Some(s) = self.state_mut(&key) else {
                    continue;
                };
                if s.generation != generation {
                    continue;
                }
                s.in_flight = false;
                if s.state != FetchState::AwaitValidation {
                    continue;
                }
                match ErrorCode::from_code(p.error_code) {
                    ErrorCode::None => {
                        self.on_truncation(&key, position, p.end_offset, p.leader_epoch)
                    }
                    ErrorCode::UnsupportedVersion => s.state = FetchState::Fetching,
                    code => {
                        s.fenced |= code == ErrorCode::FencedLeaderEpoch;
                        self.meta.needed |= is_leadership_error(code);
                        self.retry_later(&key, generation);
                    }
                }
            }
        }
        for (k, _, generation) in &partitions {
            if !answered.contains(k) {
                self.retry_later(k, *generation);
            }
        }
    }

    /// The broker says the log matches ours up to `end_offset` (the end of the epoch
    /// our last record belongs to). Below `position` means truncation: the position
    /// moves to the divergence point under a reset policy (as the Java client does),
    /// or the partition stops under `none`.
    pub(super) fn on_truncation(
        &mut self,
        key: &PartKey,
        position: i64,
        end_offset: i64,
        end_epoch: i32,
    ) {
        let strategy = self.config.auto_offset_reset;
        let tp = TopicPartition::new(key.0.clone(), key.1);
        let Some(s) = self.state_mut(key) else { return };
        if end_offset >= 0 && end_epoch >= 0 && end_offset >= position {
            // Nothing we hold diverged, but our epoch is one the leader does not
            // know (an epoch that wrote nothing, say): adopt the leader's, or every
            // following fetch would be answered with the same divergence.
            if s.fetch_offset == position {
                s.fetch_epoch = Some(end_epoch);
            }
            if s.position == position {
                s.position_epoch = Some(end_epoch);
            }
            s.state = FetchState::Fetching;
            return;
        }
        let diverging_offset = (end_offset >= 0 && end_epoch >= 0).then_some(end_offset);
        let app_position = s.position;
        if diverging_offset.is_some_and(|d| d >= app_position) {
            // Only prefetched records, not yet handed out, lie past the divergence
            // point: the application saw no truncation. Drop them and fetch again
            // from the position.
            s.rewind_to_position();
            s.state = FetchState::Fetching;
            self.recount_buffered();
            return;
        }
        self.events.push_back(Event::LogTruncation {
            tp: tp.clone(),
            position: app_position,
            diverging_offset,
        });
        let Some(s) = self.state_mut(key) else { return };
        match (strategy, diverging_offset) {
            (OffsetReset::None, _) => {
                s.state = FetchState::Failed;
                s.clear_buffer();
                self.events
                    .push_back(Event::Error(ConsumerError::NoOffsetForPartition {
                        tp,
                        reason: ResetReason::Truncation,
                    }));
            }
            (_, Some(offset)) => s.seek(offset.min(app_position), Some(end_epoch)),
            (strategy, None) => s.request_reset(strategy, ResetReason::Truncation),
        }
        self.recount_buffered();
    }

    /// Sends ListOffsets for `offsets_for_times` partitions not yet asked.
    pub(super) fn send_times_queries(&mut self) {
        let now = self.now;
        let mut by_leader: BTreeMap<BrokerId, Vec<(QueryId, PartKey, i64)>> = BTreeMap::new();
        for (id, q) in &self.queries {
            for (key, (ts, sent)) in &q.pending {
                if *sent {
                    continue;
                }
                match self.leader_of(&key.0, key.1) {
                    Some(leader) => {
                        by_leader
                            .entry(leader)
                            .or_default()
                            .push((*id, key.clone(), *ts))
                    }
                    None => self.meta.needed = true,
                }
            }
        }
        for (leader, parts) in by_leader {
            let Some(version) = self.list_offsets_version(leader) else {
                continue;
            };
            // One request per query keeps the answer routing trivial.
            let mut per_query: BTreeMap<QueryId, Vec<(PartKey, i64)>> = BTreeMap::new();
            for (id, key, ts) in parts {
                per_query.entry(id).or_default().push((key, ts));
            }
            for (id, parts) in per_query {
                let leader_epochs: Vec<i32> = parts
                    .iter()
                    .map(|(k, _)| {
                        self.metadata
                            .partition(&k.0, k.1)
                            .map_or(-1, |p| p.leader_epoch)
                    })
                    .collect();
                let req = self.list_offsets_request(
                    version,
                    parts
                        .iter()
                        .zip(leader_epochs)
                        .map(|((k, ts), e)| (k, *ts, e)),
                );
                let purpose = Purpose::Times {
                    query: id,
                    partitions: parts.iter().map(|(k, _)| k.clone()).collect(),
                };
                let Some((_, conn)) = self.brokers.ready(leader) else {
                    continue;
                };
                if conn.send(&req, version, purpose, now).is_ok() {
                    if let Some(q) = self.queries.get_mut(&id) {
                        for (k, _) in &parts {
                            if let Some(entry) = q.pending.get_mut(k) {
                                entry.1 = true;
                            }
                        }
                    }
                }
            }
        }
    }

    pub(super) fn on_times_response(
        &mut self,
        version: i16,
        id: QueryId,
        partitions: Vec<PartKey>,
        body: Bytes,
    ) {
        let Ok(resp) = ListOffsetsResponse::decode(version, &body) else {
            self.times_lost(id, partitions);
            return;
        };
        let mut retry = false;
        if let Some(q) = self.queries.get_mut(&id) {
            for t in &resp.topics {
                for p in &t.partitions {
                    let key = (t.name.clone(), p.partition_index);
                    if !partitions.contains(&key) {
                        continue;
                    }
                    let code = ErrorCode::from_code(p.error_code);
                    let tp = TopicPartition::new(key.0.clone(), key.1);
                    let result = match code {
                        ErrorCode::None if p.offset < 0 => Ok(None),
                        ErrorCode::None => Ok(Some(OffsetAndTimestamp {
                            offset: p.offset,
                            timestamp: p.timestamp,
                            leader_epoch: (p.leader_epoch >= 0).then_some(p.leader_epoch),
                        })),
                        code if code.is_retriable() => {
                            retry |= is_leadership_error(code);
                            if let Some(entry) = q.pending.get_mut(&key) {
                                entry.1 = false;
                            }
                            continue;
                        }
                        code => Err(ConsumerError::Partition {
                            tp: tp.clone(),
                            code,
                        }),
                    };
                    if q.pending.remove(&key).is_some() {
                        q.done.push((tp, result));
                    }
                }
            }
            for key in &partitions {
                if let Some(entry) = q.pending.get_mut(key) {
                    entry.1 = false;
                }
            }
        }
        self.meta.needed |= retry;
        self.finish_query_if_done(id);
    }

    pub(super) fn times_lost(&mut self, id: QueryId, partitions: Vec<PartKey>) {
        if let Some(q) = self.queries.get_mut(&id) {
            for key in partitions {
                if let Some(entry) = q.pending.get_mut(&key) {
                    entry.1 = false;
                }
            }
        }
    }

    fn finish_query_if_done(&mut self, id: QueryId) {
        if self.queries.get(&id).is_some_and(|q| q.pending.is_empty()) {
            let q = self.queries.remove(&id).expect("checked");
            self.events.push_back(Event::OffsetsForTimes {
                id,
                offsets: q.done,
            });
        }
    }

    /// Ends every query: what is still pending gets `error`.
    pub(super) fn end_queries(&mut self, error: ConsumerError) {
        for (id, mut q) in core::mem::take(&mut self.queries) {
            for (key, _) in core::mem::take(&mut q.pending) {
                q.done
                    .push((TopicPartition::new(key.0, key.1), Err(error.clone())));
            }
            self.events.push_back(Event::OffsetsForTimes {
                id,
                offsets: q.done,
            });
        }
    }

    /// Queries past `default.api.timeout.ms` end with a timeout for what is left.
    pub(super) fn expire_queries(&mut self) {
        let now = self.now;
        let expired: Vec<QueryId> = self
            .queries
            .iter()
            .filter(|(_, q)| now >= q.deadline)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            let mut q = self.queries.remove(&id).expect("listed");
            for (key, _) in core::mem::take(&mut q.pending) {
                q.done.push((
                    TopicPartition::new(key.0, key.1),
                    Err(ConsumerError::Timeout),
                ));
            }
            self.events.push_back(Event::OffsetsForTimes {
                id,
                offsets: q.done,
            });
        }
    }
}
