//! Metadata, ListOffsets and OffsetForLeaderEpoch, answered as a Kafka broker does,
//! including the leadership and leader-epoch errors (KIP-320) a stale client gets.

use kasio_core::consumer::TopicPartition;
use kasio_core::protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kasio_core::protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kasio_core::protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kasio_core::protocol::messages::{
    ListOffsetsRequest, ListOffsetsResponse, MetadataRequest, MetadataResponse,
    OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse,
};
use kasio_core::protocol::{ApiKey, ErrorCode};

use super::answers::PositionAnswer;
use super::cluster::{Cluster, Partition};
use super::server::{response_frame, Reply, Req};

const EARLIEST: i64 = -2;
const LATEST: i64 = -1;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;

impl Cluster {
    /// The partition if `broker` leads it at the epoch the client knows
    /// (`current_epoch` -1: not checked), else the error Kafka gives: a broker that
    /// is no replica says NOT_LEADER_OR_FOLLOWER; a replica first checks the epoch
    /// (FENCED_LEADER_EPOCH if the client is behind, UNKNOWN_LEADER_EPOCH if ahead),
    /// then leadership.
    pub(crate) fn led_by(
        &self,
        broker: i32,
        topic: &str,
        p: i32,
        current_epoch: i32,
    ) -> Result<&Partition, ErrorCode> {
        // Fetch's checks, with followers not allowed to answer.
        self.fetch_source(broker, topic, p, current_epoch, false)
            .map(|(part, _)| part)
    }

    pub(crate) fn handle_metadata(&mut self, broker: i32, req: &Req) -> Reply {
        let Some(r) = self.decode::<MetadataRequest>(broker, req) else {
            return Reply::Close;
        };
        let mut injected = self.take_injection(broker, ApiKey::Metadata);
        let brokers = self
            .brokers
            .iter()
            .filter(|(_, b)| b.up)
            .map(|(id, b)| MetadataResponseBroker {
                node_id: *id,
                host: b.host.clone(),
                port: b.port,
                rack: self.rack(*id).map(str::to_string),
            })
            .collect();
        // v0 lists all topics with an empty array, v1+ with null.
        let names: Vec<Option<String>> = match &r.topics {
            None => self.topics.keys().cloned().map(Some).collect(),
            Some(ts) if ts.is_empty() && req.version == 0 => {
                self.topics.keys().cloned().map(Some).collect()
            }
            Some(ts) => ts
                .iter()
                .map(|t| match &t.name {
                    Some(n) => Some(n.clone()),
                    None => self
                        .topics
                        .iter()
                        .find(|(_, topic)| topic.id == t.topic_id)
                        .map(|(n, _)| n.clone()),
                })
                .collect(),
        };
        let mut topics = Vec::new();
        for name in names {
            let Some(name) = name else {
                topics.push(MetadataResponseTopic {
                    error_code: ErrorCode::UnknownTopicId.code(),
                    name: None,
                    ..Default::default()
                });
                continue;
            };
            let Some(t) = self.topics.get(&name) else {
                topics.push(MetadataResponseTopic {
                    error_code: ErrorCode::UnknownTopicOrPartition.code(),
                    name: Some(name),
                    ..Default::default()
                });
                continue;
            };
            if let Some(code) = injected.take() {
                topics.push(MetadataResponseTopic {
                    error_code: code.code(),
                    name: Some(name),
                    topic_id: t.id,
                    ..Default::default()
                });
                continue;
            }
            let partitions: Vec<MetadataResponsePartition> = t
                .partitions
                .iter()
                .enumerate()
                .map(|(i, part)| {
                    let isr = self.isr_nodes(part);
                    let offline: Vec<i32> = part
                        .replicas
                        .iter()
                        .copied()
                        .filter(|b| !self.is_up(*b))
                        .collect();
                    MetadataResponsePartition {
                        error_code: if part.leader.is_some() {
                            0
                        } else {
                            ErrorCode::LeaderNotAvailable.code()
                        },
                        partition_index: i as i32,
                        leader_id: part.leader.unwrap_or(-1),
                        leader_epoch: part.epoch,
                        replica_nodes: part.replicas.clone(),
                        isr_nodes: isr,
                        offline_replicas: offline,
                    }
                })
                .collect();
            let topic_id = t.id;
            for p in &partitions {
                self.answered(PositionAnswer::Leadership {
                    tp: TopicPartition::new(name.clone(), p.partition_index),
                    leader: p.leader_id,
                    epoch: if req.version >= 7 { p.leader_epoch } else { -1 },
                });
            }
            topics.push(MetadataResponseTopic {
                error_code: 0,
                name: Some(name),
                topic_id,
                is_internal: false,
                partitions,
                ..Default::default()
            });
        }
        let controller_id = self
            .brokers
            .iter()
            .find(|(_, b)| b.up)
            .map_or(-1, |(id, _)| *id);
        let resp = MetadataResponse {
            brokers,
            cluster_id: Some(self.spec.cluster_id.clone()),
            controller_id,
            topics,
            ..Default::default()
        };
        self.note(
            broker,
            format!(
                "Metadata v{} {:?}",
                req.version,
                resp.topics
                    .iter()
                    .map(|t| (
                        t.name.clone().unwrap_or_default(),
                        t.error_code,
                        t.partitions
                            .iter()
                            .map(|p| (p.leader_id, p.leader_epoch))
                            .collect::<Vec<_>>()
                    ))
                    .collect::<Vec<_>>()
            ),
        );
        Reply::Frame(response_frame(req.api, req.version, req.corr, &resp))
    }

    pub(crate) fn handle_list_offsets(&mut self, broker: i32, req: &Req) -> Reply {
        let Some(r) = self.decode::<ListOffsetsRequest>(broker, req) else {
            return Reply::Close;
        };
        let mut injected = self.take_injection(broker, ApiKey::ListOffsets);
        let read_committed = r.isolation_level == 1;
        let mut topics = Vec::new();
        let mut summary = Vec::new();
        for t in &r.topics {
            let mut partitions = Vec::new();
            for p in &t.partitions {
                let mut out = ListOffsetsPartitionResponse {
                    partition_index: p.partition_index,
                    ..Default::default()
                };
                let found = match injected.take() {
                    Some(code) => Err(code),
                    None => self
                        .led_by(broker, &t.name, p.partition_index, p.current_leader_epoch)
                        .and_then(|part| list_offset(part, p.timestamp, read_committed)),
                };
                match found {
                    Ok((offset, ts, epoch)) => {
                        self.answered(PositionAnswer::ListOffsets {
                            tp: TopicPartition::new(t.name.clone(), p.partition_index),
                            timestamp: p.timestamp,
                            offset,
                        });
                        out.offset = offset;
                        out.timestamp = ts;
                        // The epoch is in the response from v4.
                        out.leader_epoch = if req.version >= 4 { epoch } else { -1 };
                    }
                    Err(code) => out.error_code = code.code(),
                }
                summary.push(format!(
                    "{}-{}@{}={}/{}",
                    t.name, p.partition_index, p.timestamp, out.offset, out.error_code
                ));
                partitions.push(out);
            }
            topics.push(ListOffsetsTopicResponse {
                name: t.name.clone(),
                partitions,
            });
        }
        self.note(broker, format!("ListOffsets v{} {summary:?}", req.version));
        let resp = ListOffsetsResponse {
            topics,
            ..Default::default()
        };
        Reply::Frame(response_frame(req.api, req.version, req.corr, &resp))
    }

    pub(crate) fn handle_offset_for_leader_epoch(&mut self, broker: i32, req: &Req) -> Reply {
        let Some(r) = self.decode::<OffsetForLeaderEpochRequest>(broker, req) else {
            return Reply::Close;
        };
        let mut injected = self.take_injection(broker, ApiKey::OffsetForLeaderEpoch);
        let mut topics = Vec::new();
        let mut summary = Vec::new();
        for t in &r.topics {
            let mut partitions = Vec::new();
            for p in &t.partitions {
                let mut out = EpochEndOffset {
                    partition: p.partition,
                    ..Default::default()
                };
                let found = match injected.take() {
                    Some(code) => Err(code),
                    None => self
                        .led_by(broker, &t.topic, p.partition, p.current_leader_epoch)
                        .map(|part| part.log.end_offset_for(p.leader_epoch)),
                };
                match found {
                    Ok((epoch, end)) => {
                        out.leader_epoch = epoch;
                        out.end_offset = end;
                    }
                    Err(code) => out.error_code = code.code(),
                }
                summary.push(format!(
                    "{}-{} e{} -> e{} {} /{}",
                    t.topic,
                    p.partition,
                    p.leader_epoch,
                    out.leader_epoch,
                    out.end_offset,
                    out.error_code
                ));
                partitions.push(out);
            }
            topics.push(OffsetForLeaderTopicResult {
                topic: t.topic.clone(),
                partitions,
            });
        }
        self.note(
            broker,
            format!("OffsetForLeaderEpoch v{} {summary:?}", req.version),
        );
        let resp = OffsetForLeaderEpochResponse {
            topics,
            ..Default::default()
        };
        Reply::Frame(response_frame(req.api, req.version, req.corr, &resp))
    }
}

/// ListOffsets for one partition: (offset, timestamp, leader epoch); -1s when no
/// record is that recent. A new leader whose high watermark has not reached the
/// start of its epoch yet answers OFFSET_NOT_AVAILABLE (KIP-207): its "latest"
/// could be below what the old leader already exposed.
fn list_offset(
    part: &Partition,
    timestamp: i64,
    read_committed: bool,
) -> Result<(i64, i64, i32), ErrorCode> {
    let log = &part.log;
    let epoch_start = log.epochs().last().map_or(0, |e| e.1);
    if part.high_watermark() < epoch_start {
        return Err(ErrorCode::OffsetNotAvailable);
    }
    let end = if read_committed {
        part.last_stable_offset()
    } else {
        part.high_watermark()
    };
    Ok(match timestamp {
        EARLIEST | EARLIEST_LOCAL => {
            let o = log.log_start();
            (o, -1, log.epoch_at(o))
        }
        LATEST => (end, -1, part.epoch),
        MAX_TIMESTAMP => match log.max_timestamp(end) {
            Some((o, ts)) => (o, ts, log.epoch_at(o)),
            None => (-1, -1, -1),
        },
        ts if ts >= 0 => match log.offset_for_timestamp(ts, end) {
            Some((o, ts)) => (o, ts, log.epoch_at(o)),
            None => (-1, -1, -1),
        },
        // Tiered-storage lookups (-5): nothing is tiered here.
        _ => (-1, -1, -1),
    })
}
