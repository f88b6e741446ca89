//! OffsetCommit, OffsetFetch, ListOffsets and OffsetForLeaderEpoch.

use kasio_core::protocol::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsTopic,
};
use kasio_core::protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsResponse, ListOffsetsTopicResponse,
};
use kasio_core::protocol::messages::offset_commit_request::{
    OffsetCommitRequest, OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kasio_core::protocol::messages::offset_commit_response::{
    OffsetCommitResponse, OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kasio_core::protocol::messages::offset_fetch_request::{
    OffsetFetchRequest, OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kasio_core::protocol::messages::offset_fetch_response::{
    OffsetFetchResponse, OffsetFetchResponseGroup, OffsetFetchResponsePartition,
    OffsetFetchResponsePartitions, OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kasio_core::protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderEpochRequest, OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kasio_core::protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderEpochResponse, OffsetForLeaderTopicResult,
};

use super::wire::{s, W};
use super::GROUP;

const META: &str = "señal-meta";

/// OffsetCommitRequest (key 8), flexible from v8; commit timestamp only in v1,
/// retention in v2-4, group instance id from v7 (null in v8).
pub fn offset_commit_request(v: i16) -> (OffsetCommitRequest, Vec<u8>) {
    let instance = (v == 7 || v >= 9).then_some("instance-1");
    let epoch = if v >= 6 { 7 } else { -1 };
    let ts = if v == 1 { 1_700_000_000_000 } else { -1 };
    let part =
        |partition_index, committed_offset, metadata: Option<&str>| OffsetCommitRequestPartition {
            partition_index,
            committed_offset,
            committed_leader_epoch: epoch,
            commit_timestamp: ts,
            committed_metadata: metadata.map(s),
        };
    let value = OffsetCommitRequest {
        group_id: s(GROUP),
        generation_id_or_member_epoch: if v >= 1 { 12 } else { -1 },
        member_id: if v >= 1 { s("kasio-7f3a") } else { s("") },
        group_instance_id: instance.map(s),
        retention_time_ms: if (2..=4).contains(&v) { 86_400_000 } else { -1 },
        topics: vec![
            OffsetCommitRequestTopic {
                name: s("orders"),
                partitions: vec![part(0, 1234, Some(META)), part(1, 5678, None)],
            },
            OffsetCommitRequestTopic {
                name: s("payments"),
                partitions: vec![part(2, 42, Some(""))],
            },
        ],
    };
    let mut w = W::new(v >= 8);
    w.str(GROUP); // GroupId
    if v >= 1 {
        w.i32(12); // GenerationIdOrMemberEpoch
        w.str("kasio-7f3a"); // MemberId
    }
    if v >= 7 {
        w.nstr(instance); // GroupInstanceId
    }
    if (2..=4).contains(&v) {
        w.i64(86_400_000); // RetentionTimeMs
    }
    w.array(2); // Topics
    for (name, parts) in [
        ("orders", &[(0, 1234, Some(META)), (1, 5678, None)][..]),
        ("payments", &[(2, 42, Some(""))][..]),
    ] {
        w.str(name); // Name
        w.array(parts.len()); // Partitions
        for &(index, offset, metadata) in parts {
            w.i32(index); // PartitionIndex
            w.i64(offset); // CommittedOffset
            if v >= 6 {
                w.i32(7); // CommittedLeaderEpoch
            }
            if v == 1 {
                w.i64(1_700_000_000_000); // CommitTimestamp
            }
            w.nstr(metadata); // CommittedMetadata
            w.no_tags();
        }
        w.no_tags();
    }
    w.no_tags();
    (value, w.done())
}

/// OffsetCommitResponse (key 8), flexible from v8; throttle time from v3.
pub fn offset_commit_response(v: i16) -> (OffsetCommitResponse, Vec<u8>) {
    let part = |partition_index, error_code| OffsetCommitResponsePartition {
        partition_index,
        error_code,
    };
    let value = OffsetCommitResponse {
        throttle_time_ms: if v >= 3 { 20 } else { 0 },
        topics: vec![
            OffsetCommitResponseTopic {
                name: s("orders"),
                partitions: vec![part(0, 0), part(1, 22)],
            },
            OffsetCommitResponseTopic {
                name: s("payments"),
                partitions: vec![part(2, 3)],
            },
        ],
    };
    let mut w = W::new(v >= 8);
    if v >= 3 {
        w.i32(20); // ThrottleTimeMs
    }
    w.array(2); // Topics
    w.str("orders"); // Name
    w.array(2); // Partitions
    w.i32(0); // PartitionIndex
    w.i16(0); // ErrorCode
    w.no_tags();
    w.i32(1); // PartitionIndex
    w.i16(22); // ErrorCode
    w.no_tags();
    w.no_tags();
    w.str("payments"); // Name
    w.array(1); // Partitions
    w.i32(2); // PartitionIndex
    w.i16(3); // ErrorCode
    w.no_tags();
    w.no_tags();
    w.no_tags();
    (value, w.done())
}

/// OffsetFetchRequest (key 9), flexible from v6; one group until v7, several from v8
/// (the second with null topics = all), member id and epoch from v9.
pub fn offset_fetch_request(v: i16) -> (OffsetFetchRequest, Vec<u8>) {
    let old = v <= 7;
    let value = OffsetFetchRequest {
        group_id: if old { s(GROUP) } else { s("") },
        // Absent from v8 on, where it must hold its default (an empty list, as in Java).
        topics: Some(if !old {
            vec![]
        } else {
            vec![
                OffsetFetchRequestTopic {
                    name: s("orders"),
                    partition_indexes: vec![0, 1],
                },
                OffsetFetchRequestTopic {
                    name: s("payments"),
                    partition_indexes: vec![2],
                },
            ]
        }),
        groups: if old {
            vec![]
        } else {
            vec![
                OffsetFetchRequestGroup {
                    group_id: s(GROUP),
                    member_id: (v >= 9).then(|| s("4jYxvKk3QWSyM8b8cKMxMw")),
                    member_epoch: if v >= 9 { 6 } else { -1 },
                    topics: Some(vec![
                        OffsetFetchRequestTopics {
                            name: s("orders"),
                            partition_indexes: vec![0, 1],
                        },
                        OffsetFetchRequestTopics {
                            name: s("payments"),
                            partition_indexes: vec![2],
                        },
                    ]),
                },
                OffsetFetchRequestGroup {
                    group_id: s("payments-group"),
                    member_id: None,
                    member_epoch: -1,
                    topics: None,
                },
            ]
        },
        require_stable: v >= 7,
    };
    let mut w = W::new(v >= 6);
    let topics = |w: &mut W| {
        w.array(2); // Topics
        w.str("orders"); // Name
        w.i32s(&[0, 1]); // PartitionIndexes
        w.no_tags();
        w.str("payments"); // Name
        w.i32s(&[2]); // PartitionIndexes
        w.no_tags();
    };
    if old {
        w.str(GROUP); // GroupId
        topics(&mut w); // Topics
    } else {
        w.array(2); // Groups
        w.str(GROUP); // GroupId
        if v >= 9 {
            w.nstr(Some("4jYxvKk3QWSyM8b8cKMxMw")); // MemberId
            w.i32(6); // MemberEpoch
        }
        topics(&mut w); // Topics
        w.no_tags();
        w.str("payments-group"); // GroupId
        if v >= 9 {
            w.nstr(None); // MemberId
            w.i32(-1); // MemberEpoch
        }
        w.null_array(); // Topics
        w.no_tags();
    }
    if v >= 7 {
        w.bool(true); // RequireStable
    }
    w.no_tags();
    (value, w.done())
}

/// OffsetFetchRequest with null topics (all committed offsets), v2-7.
pub fn offset_fetch_request_all_topics(v: i16) -> (OffsetFetchRequest, Vec<u8>) {
    let value = OffsetFetchRequest {
        group_id: s(GROUP),
        topics: None,
        groups: vec![],
        require_stable: false,
    };
    let mut w = W::new(v >= 6);
    w.str(GROUP); // GroupId
    w.null_array(); // Topics
    if v >= 7 {
        w.bool(false); // RequireStable
    }
    w.no_tags();
    (value, w.done())
}

/// OffsetFetchResponse (key 9), flexible from v6; top-level error from v2, leader
/// epochs from v5, per-group results from v8.
pub fn offset_fetch_response(v: i16) -> (OffsetFetchResponse, Vec<u8>) {
    let old = v <= 7;
    let epoch = |e| if v >= 5 { e } else { -1 };
    // (name, [(index, offset, leader epoch, metadata, error)])
    type Parts = &'static [(i32, i64, i32, Option<&'static str>, i16)];
    let data: [(&str, Parts); 2] = [
        (
            "orders",
            &[(0, 1234, 7, Some(META), 0), (1, -1, -1, None, 0)],
        ),
        ("payments", &[(2, 42, 3, Some(""), 3)]),
    ];
    let value = OffsetFetchResponse {
        throttle_time_ms: if v >= 3 { 30 } else { 0 },
        topics: if old {
            data.iter()
                .map(|&(name, parts)| OffsetFetchResponseTopic {
                    name: s(name),
                    partitions: parts
                        .iter()
                        .map(|&(i, o, e, m, err)| OffsetFetchResponsePartition {
                            partition_index: i,
                            committed_offset: o,
                            committed_leader_epoch: epoch(e),
                            metadata: m.map(s),
                            error_code: err,
                        })
                        .collect(),
                })
                .collect()
        } else {
            vec![]
        },
        error_code: if (2..=7).contains(&v) { 14 } else { 0 },
        groups: if old {
            vec![]
        } else {
            vec![
                OffsetFetchResponseGroup {
                    group_id: s(GROUP),
                    topics: data
                        .iter()
                        .map(|&(name, parts)| OffsetFetchResponseTopics {
                            name: s(name),
                            partitions: parts
                                .iter()
                                .map(|&(i, o, e, m, err)| OffsetFetchResponsePartitions {
                                    partition_index: i,
                                    committed_offset: o,
                                    committed_leader_epoch: e,
                                    metadata: m.map(s),
                                    error_code: err,
                                })
                                .collect(),
                        })
                        .collect(),
                    error_code: 0,
                },
                OffsetFetchResponseGroup {
                    group_id: s("payments-group"),
                    topics: vec![],
                    error_code: 69,
                },
            ]
        },
    };
    let mut w = W::new(v >= 6);
    let topics = |w: &mut W| {
        w.array(2); // Topics
        for (name, parts) in data {
            w.str(name); // Name
            w.array(parts.len()); // Partitions
            for &(index, offset, leader_epoch, metadata, error) in parts {
                w.i32(index); // PartitionIndex
                w.i64(offset); // CommittedOffset
                if v >= 5 {
                    w.i32(leader_epoch); // CommittedLeaderEpoch
                }
                w.nstr(metadata); // Metadata
                w.i16(error); // ErrorCode
                w.no_tags();
            }
            w.no_tags();
        }
    };
    if v >= 3 {
        w.i32(30); // ThrottleTimeMs
    }
    if old {
        topics(&mut w); // Topics
        if v >= 2 {
            w.i16(14); // ErrorCode
        }
    } else {
        w.array(2); // Groups
        w.str(GROUP); // GroupId
        topics(&mut w); // Topics
        w.i16(0); // ErrorCode
        w.no_tags();
        w.str("payments-group"); // GroupId
        w.array(0); // Topics
        w.i16(69); // ErrorCode
        w.no_tags();
    }
    w.no_tags();
    (value, w.done())
}

/// ListOffsetsRequest (key 2), flexible from v6; max offsets only in v0, isolation
/// level from v2, leader epochs from v4, timeout from v10.
pub fn list_offsets_request(v: i16) -> (ListOffsetsRequest, Vec<u8>) {
    let epoch = |e| if v >= 4 { e } else { -1 };
    let max = if v == 0 { 5 } else { 1 };
    let part = |partition_index, e, timestamp| ListOffsetsPartition {
        partition_index,
        current_leader_epoch: epoch(e),
        timestamp,
        max_num_offsets: max,
    };
    let value = ListOffsetsRequest {
        replica_id: -1,
        isolation_level: if v >= 2 { 1 } else { 0 },
        topics: vec![
            ListOffsetsTopic {
                name: s("orders"),
                partitions: vec![part(0, 7, -1), part(1, 7, 1_700_000_000_000)],
            },
            ListOffsetsTopic {
                name: s("payments"),
                partitions: vec![part(2, 3, -2)],
            },
        ],
        timeout_ms: if v >= 10 { 30_000 } else { 0 },
    };
    let mut w = W::new(v >= 6);
    w.i32(-1); // ReplicaId
    if v >= 2 {
        w.i8(1); // IsolationLevel
    }
    w.array(2); // Topics
    for (name, parts) in [
        ("orders", &[(0, 7, -1), (1, 7, 1_700_000_000_000)][..]),
        ("payments", &[(2, 3, -2)][..]),
    ] {
        w.str(name); // Name
        w.array(parts.len()); // Partitions
        for &(index, leader_epoch, timestamp) in parts {
            w.i32(index); // PartitionIndex
            if v >= 4 {
                w.i32(leader_epoch); // CurrentLeaderEpoch
            }
            w.i64(timestamp); // Timestamp
            if v == 0 {
                w.i32(5); // MaxNumOffsets
            }
            w.no_tags();
        }
        w.no_tags();
    }
    if v >= 10 {
        w.i32(30_000); // TimeoutMs
    }
    w.no_tags();
    (value, w.done())
}

/// ListOffsetsResponse (key 2), flexible from v6; old-style offsets only in v0,
/// timestamp and offset from v1, leader epoch from v4.
pub fn list_offsets_response(v: i16) -> (ListOffsetsResponse, Vec<u8>) {
    // (index, error, old-style offsets, timestamp, offset, leader epoch)
    type Part = (i32, i16, &'static [i64], i64, i64, i32);
    let orders: &[Part] = &[
        (0, 0, &[1234, 1000], 1_700_000_000_123, 1234, 7),
        (1, 6, &[], -1, -1, -1),
    ];
    let payments: &[Part] = &[(2, 0, &[42], 1_699_999_999_000, 42, 3)];
    let part = |&(i, err, old, ts, off, e): &Part| ListOffsetsPartitionResponse {
        partition_index: i,
        error_code: err,
        old_style_offsets: if v == 0 { old.to_vec() } else { vec![] },
        timestamp: if v >= 1 { ts } else { -1 },
        offset: if v >= 1 { off } else { -1 },
        leader_epoch: if v >= 4 { e } else { -1 },
    };
    let value = ListOffsetsResponse {
        throttle_time_ms: if v >= 2 { 3 } else { 0 },
        topics: vec![
            ListOffsetsTopicResponse {
                name: s("orders"),
                partitions: orders.iter().map(part).collect(),
            },
            ListOffsetsTopicResponse {
                name: s("payments"),
                partitions: payments.iter().map(part).collect(),
            },
        ],
    };
    let mut w = W::new(v >= 6);
    if v >= 2 {
        w.i32(3); // ThrottleTimeMs
    }
    w.array(2); // Topics
    for (name, parts) in [("orders", orders), ("payments", payments)] {
        w.str(name); // Name
        w.array(parts.len()); // Partitions
        for &(index, error, old, timestamp, offset, leader_epoch) in parts {
            w.i32(index); // PartitionIndex
            w.i16(error); // ErrorCode
            if v == 0 {
                w.i64s(old); // OldStyleOffsets
            }
            if v >= 1 {
                w.i64(timestamp); // Timestamp
                w.i64(offset); // Offset
            }
            if v >= 4 {
                w.i32(leader_epoch); // LeaderEpoch
            }
            w.no_tags();
        }
        w.no_tags();
    }
    w.no_tags();
    (value, w.done())
}

/// OffsetForLeaderEpochRequest (key 23), flexible from v4; current leader epoch from
/// v2, replica id from v3.
pub fn offset_for_leader_epoch_request(v: i16) -> (OffsetForLeaderEpochRequest, Vec<u8>) {
    let part = |partition, current, leader_epoch| OffsetForLeaderPartition {
        partition,
        current_leader_epoch: if v >= 2 { current } else { -1 },
        leader_epoch,
    };
    let value = OffsetForLeaderEpochRequest {
        replica_id: if v >= 3 { -1 } else { -2 },
        topics: vec![
            OffsetForLeaderTopic {
                topic: s("orders"),
                partitions: vec![part(0, 7, 6), part(1, 7, 5)],
            },
            OffsetForLeaderTopic {
                topic: s("payments"),
                partitions: vec![part(2, 3, 2)],
            },
        ],
    };
    let mut w = W::new(v >= 4);
    if v >= 3 {
        w.i32(-1); // ReplicaId
    }
    w.array(2); // Topics
    for (topic, parts) in [
        ("orders", &[(0, 7, 6), (1, 7, 5)][..]),
        ("payments", &[(2, 3, 2)][..]),
    ] {
        w.str(topic); // Topic
        w.array(parts.len()); // Partitions
        for &(partition, current, leader_epoch) in parts {
            w.i32(partition); // Partition
            if v >= 2 {
                w.i32(current); // CurrentLeaderEpoch
            }
            w.i32(leader_epoch); // LeaderEpoch
            w.no_tags();
        }
        w.no_tags();
    }
    w.no_tags();
    (value, w.done())
}

/// OffsetForLeaderEpochResponse (key 23), flexible from v4; leader epoch from v1,
/// throttle time from v2.
pub fn offset_for_leader_epoch_response(v: i16) -> (OffsetForLeaderEpochResponse, Vec<u8>) {
    // (error, partition, leader epoch, end offset)
    type Part = (i16, i32, i32, i64);
    let orders: &[Part] = &[(0, 0, 6, 1234), (74, 1, -1, -1)];
    let payments: &[Part] = &[(0, 2, 2, 42)];
    let part = |&(error_code, partition, e, end_offset): &Part| EpochEndOffset {
        error_code,
        partition,
        leader_epoch: if v >= 1 { e } else { -1 },
        end_offset,
    };
    let value = OffsetForLeaderEpochResponse {
        throttle_time_ms: if v >= 2 { 9 } else { 0 },
        topics: vec![
            OffsetForLeaderTopicResult {
                topic: s("orders"),
                partitions: orders.iter().map(part).collect(),
            },
            OffsetForLeaderTopicResult {
                topic: s("payments"),
                partitions: payments.iter().map(part).collect(),
            },
        ],
    };
    let mut w = W::new(v >= 4);
    if v >= 2 {
        w.i32(9); // ThrottleTimeMs
    }
    w.array(2); // Topics
    for (topic, parts) in [("orders", orders), ("payments", payments)] {
        w.str(topic); // Topic
        w.array(parts.len()); // Partitions
        for &(error, partition, leader_epoch, end_offset) in parts {
            w.i16(error); // ErrorCode
            w.i32(partition); // Partition
            if v >= 1 {
                w.i32(leader_epoch); // LeaderEpoch
            }
            w.i64(end_offset); // EndOffset
            w.no_tags();
        }
        w.no_tags();
    }
    w.no_tags();
    (value, w.done())
}
