//! Finding and checking positions: ListOffsets for `auto.offset.reset` (and
//! `seek_to_*`), OffsetForLeaderEpoch to validate a position after a leader change
//! (KIP-320), and what a detected truncation does. (Committed offsets are the
//! group's business, not this module's.)

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

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
use crate::protocol::{ApiKey, ErrorCode};

use super::by_topic::group_by_topic;
use super::error::{BrokerError, LocalError, RemoteError};
use super::event::{ConnRole, Event, ResetReason, TopicPartition};
use super::leadership::is_leadership_error;
use super::partition::FetchState;
use super::purpose::Purpose;
use super::Consumer;

/// ListOffsets' special timestamps.
const EARLIEST: i64 = -2;
const LATEST: i64 = -1;
/// OffsetForLeaderEpoch from v3 carries the current leader epoch, which the consumer
/// needs to be fenced properly; older brokers are not asked (as in the Java client).
const FIRST_VALIDATION_VERSION: i16 = 3;

/// One partition of a reset ListOffsets.
struct ResetRequest {
    tp: TopicPartition,
    strategy: OffsetReset,
    reason: ResetReason,
    leader_epoch: i32,
    generation: u32,
}

/// One partition of an OffsetForLeaderEpoch validation.
struct ValidateRequest {
    tp: TopicPartition,
    position: i64,
    /// The epoch of the last consumed record: the one to check.
    position_epoch: i32,
    /// The current leader epoch, which fences stale leaders.
    leader_epoch: i32,
    generation: u32,
}

impl Consumer {
    /// Sends ListOffsets for partitions waiting for a reset, grouped by leader.
    pub(super) fn send_resets(&mut self) {
        let now = self.now;
        let mut by_leader: BTreeMap<BrokerId, Vec<ResetRequest>> = BTreeMap::new();
        let mut failed = Vec::new();
        for (tp, s) in self.assignment.iter() {
            let FetchState::AwaitReset { strategy, reason } = s.state else {
                continue;
            };
            if !s.ready(now) {
                continue;
            }
            if strategy == OffsetReset::None {
                failed.push((tp.clone(), reason));
                continue;
            }
            match self.leader_of(tp) {
                Some(leader) => by_leader.entry(leader).or_default().push(ResetRequest {
                    tp: tp.clone(),
                    strategy,
                    reason,
                    leader_epoch: s.request_epoch(),
                    generation: s.generation,
                }),
                None => self.refresh.request(),
            }
        }
        for (tp, reason) in failed {
            self.assignment
                .update(&tp, |s| s.state = FetchState::Failed);
            self.report(LocalError::NoOffsetForPartition { tp, reason });
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
                    (&r.tp, ts, r.leader_epoch)
                }),
            );
            let purpose = Purpose::Reset {
                partitions: parts
                    .iter()
                    .map(|r| (r.tp.clone(), r.strategy, r.reason, r.generation))
                    .collect(),
            };
            if self.send(leader, &req, version, purpose) {
                for r in &parts {
                    self.assignment.update(&r.tp, |s| s.in_flight = true);
                }
            }
        }
    }

    /// The ListOffsets version to use with `leader` now, if a request can go out:
    /// the connection is ready and speaks v1 or later (else the application hears
    /// that the broker is too old).
    pub(super) fn list_offsets_version(&mut self, leader: BrokerId) -> Option<i16> {
        let Some(versions) = self.brokers.ready(leader, ConnRole::Data) else {
            self.need_broker(leader);
            return None;
        };
        let version = versions.version(ApiKey::ListOffsets).filter(|v| *v >= 1);
        if version.is_none() {
            let api = ApiKey::ListOffsets.key();
            self.report(RemoteError::UnsupportedApi {
                broker: leader,
                api,
            });
        }
        version
    }

    pub(super) fn list_offsets_request<'a>(
        &self,
        version: i16,
        parts: impl Iterator<Item = (&'a TopicPartition, i64, i32)>,
    ) -> ListOffsetsRequest {
        let topics = group_by_topic(
            parts.map(|(tp, ts, epoch)| (tp, (ts, epoch))),
            |name| ListOffsetsTopic {
                name: name.into(),
                partitions: Vec::new(),
            },
            |t, partition_index, (timestamp, current_leader_epoch)| {
                t.partitions.push(ListOffsetsPartition {
                    partition_index,
                    current_leader_epoch,
                    timestamp,
                    ..Default::default()
                })
            },
        );
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
        partitions: Vec<(TopicPartition, OffsetReset, ResetReason, u32)>,
        resp: ListOffsetsResponse,
    ) {
        let mut asked: BTreeMap<TopicPartition, (ResetReason, u32)> = partitions
            .into_iter()
            .map(|(tp, _, reason, generation)| (tp, (reason, generation)))
            .collect();
        for t in resp.topics {
            let mut tp = TopicPartition::new(t.name, 0);
            for p in &t.partitions {
                tp.partition = p.partition_index;
                let Some((reason, generation)) = asked.remove(&tp) else {
                    continue;
                };
                // The application may have sought (or reset again) meanwhile.
                let current = self
                    .assignment
                    .get(&tp)
                    .is_some_and(|s| s.generation == generation);
                if !current {
                    continue;
                }
                self.assignment.update(&tp, |s| s.in_flight = false);
                match ErrorCode::from_code(p.error_code) {
                    ErrorCode::None if p.offset >= 0 => {
                        let epoch = (p.leader_epoch >= 0).then_some(p.leader_epoch);
                        self.assignment.update(&tp, |s| s.seek(p.offset, epoch));
                        self.events.push_back(Event::OffsetReset {
                            tp: tp.clone(),
                            offset: p.offset,
                            reason,
                        });
                    }
                    ErrorCode::None => self.retry_later(&tp, generation),
                    code if is_leadership_error(code) || code.is_retriable() => {
                        self.assignment
                            .update(&tp, |s| s.fenced |= code == ErrorCode::FencedLeaderEpoch);
                        if is_leadership_error(code) {
                            self.refresh.request();
                        }
                        self.retry_later(&tp, generation);
                    }
                    code => {
                        self.assignment
                            .update(&tp, |s| s.state = FetchState::Failed);
                        self.report(BrokerError::Partition {
                            tp: tp.clone(),
                            code,
                        });
                    }
                }
            }
        }
        // Partitions the broker left out are asked again.
        for (tp, (_, generation)) in asked {
            self.retry_later(&tp, generation);
        }
    }

    /// Sends OffsetForLeaderEpoch for partitions whose position must be checked
    /// against a new leader. A broker that cannot answer (no such API, as tansu, or
    /// a version without the current leader epoch) is trusted: validation is skipped.
    pub(super) fn send_validations(&mut self) {
        let now = self.now;
        let mut by_leader: BTreeMap<BrokerId, Vec<ValidateRequest>> = BTreeMap::new();
        for (tp, s) in self.assignment.iter() {
            if s.state != FetchState::AwaitValidation || !s.ready(now) {
                continue;
            }
            match self.leader_of(tp) {
                Some(leader) => by_leader.entry(leader).or_default().push(ValidateRequest {
                    tp: tp.clone(),
                    position: s.position,
                    position_epoch: s.position_epoch.unwrap_or(-1),
                    leader_epoch: s.request_epoch(),
                    generation: s.generation,
                }),
                None => self.refresh.request(),
            }
        }
        for (leader, parts) in by_leader {
            let Some(versions) = self.brokers.ready(leader, ConnRole::Data) else {
                self.need_broker(leader);
                continue;
            };
            let version = versions
                .version(ApiKey::OffsetForLeaderEpoch)
                .filter(|v| *v >= FIRST_VALIDATION_VERSION);
            let Some(version) = version else {
                for r in &parts {
                    self.assignment
                        .update(&r.tp, |s| s.state = FetchState::Fetching);
                }
                continue;
            };
            let topics = group_by_topic(
                parts.iter().map(|r| (&r.tp, r)),
                |topic| OffsetForLeaderTopic {
                    topic: topic.into(),
                    partitions: Vec::new(),
                },
                |t, partition, r| {
                    t.partitions.push(OffsetForLeaderPartition {
                        partition,
                        current_leader_epoch: r.leader_epoch,
                        leader_epoch: r.position_epoch,
                    })
                },
            );
            let req = OffsetForLeaderEpochRequest {
                replica_id: -1,
                topics,
            };
            let purpose = Purpose::Validate {
                partitions: parts
                    .iter()
                    .map(|r| (r.tp.clone(), r.position, r.generation))
                    .collect(),
            };
            if self.send(leader, &req, version, purpose) {
                for r in &parts {
                    self.assignment.update(&r.tp, |s| s.in_flight = true);
                }
            }
        }
    }

    pub(super) fn on_validate_response(
        &mut self,
        partitions: Vec<(TopicPartition, i64, u32)>,
        resp: OffsetForLeaderEpochResponse,
    ) {
        let mut asked: BTreeMap<TopicPartition, (i64, u32)> = partitions
            .into_iter()
            .map(|(tp, position, generation)| (tp, (position, generation)))
            .collect();
        for t in resp.topics {
            let mut tp = TopicPartition::new(t.topic, 0);
            for p in &t.partitions {
                tp.partition = p.partition;
                let Some((position, generation)) = asked.remove(&tp) else {
                    continue;
                };
                let awaiting = self.assignment.update(&tp, |s| {
                    if s.generation != generation {
                        return false;
                    }
                    s.in_flight = false;
                    s.state == FetchState::AwaitValidation
                });
                if awaiting != Some(true) {
                    continue;
                }
                match ErrorCode::from_code(p.error_code) {
                    ErrorCode::None => {
                        self.on_truncation(&tp, position, p.end_offset, p.leader_epoch)
                    }
                    ErrorCode::UnsupportedVersion => {
                        self.assignment
                            .update(&tp, |s| s.state = FetchState::Fetching);
                    }
                    code => {
                        self.assignment
                            .update(&tp, |s| s.fenced |= code == ErrorCode::FencedLeaderEpoch);
                        if is_leadership_error(code) {
                            self.refresh.request();
                        }
                        self.retry_later(&tp, generation);
                    }
                }
            }
        }
        for (tp, (_, generation)) in asked {
            self.retry_later(&tp, generation);
        }
    }

    /// The broker says the log matches ours up to `end_offset` (the end of the epoch
    /// our last record belongs to). Below `position` means truncation: the position
    /// moves to the divergence point under a reset policy (as the Java client does),
    /// or the partition stops under `none`.
    pub(super) fn on_truncation(
        &mut self,
        tp: &TopicPartition,
        position: i64,
        end_offset: i64,
        end_epoch: i32,
    ) {
        let strategy = self.config.auto_offset_reset;
        let diverging_offset = (end_offset >= 0 && end_epoch >= 0).then_some(end_offset);
        let truncated = self.assignment.update(tp, |s| {
            if end_offset >= 0 && end_epoch >= 0 && end_offset >= position {
                // Nothing we hold diverged, but our epoch is one the leader does not
                // know (an epoch that wrote nothing, say): adopt the leader's, or
                // every following fetch would be answered with the same divergence.
                if s.fetch_offset == position {
                    s.fetch_epoch = Some(end_epoch);
                }
                if s.position == position {
                    s.position_epoch = Some(end_epoch);
                }
                s.state = FetchState::Fetching;
                return None;
            }
            if diverging_offset.is_some_and(|d| d >= s.position) {
                // Only prefetched records, not yet handed out, lie past the
                // divergence point: the application saw no truncation. Drop them and
                // fetch again from the position.
                s.rewind_to_position();
                s.state = FetchState::Fetching;
                return None;
            }
            Some(s.position)
        });
        let Some(Some(app_position)) = truncated else {
            return;
        };
        self.events.push_back(Event::LogTruncation {
            tp: tp.clone(),
            position: app_position,
            diverging_offset,
        });
        match (strategy, diverging_offset) {
            (OffsetReset::None, _) => {
                self.fail_partition(
                    tp,
                    LocalError::NoOffsetForPartition {
                        tp: tp.clone(),
                        reason: ResetReason::Truncation,
                    },
                );
            }
            (_, Some(offset)) => {
                self.assignment
                    .update(tp, |s| s.seek(offset.min(app_position), Some(end_epoch)));
            }
            (strategy, None) => {
                self.assignment
                    .update(tp, |s| s.request_reset(strategy, ResetReason::Truncation));
            }
        }
    }
}
