//! Fetch: the request and response with the most version boundaries and the most
//! tagged fields.

use bytes::Bytes;
use kasio_core::codec::Uuid;
use kasio_core::protocol::messages::fetch_request::{
    FetchPartition, FetchRequest, FetchTopic, ForgottenTopic, ReplicaState,
};
use kasio_core::protocol::messages::fetch_response::{
    AbortedTransaction, EpochEndOffset, FetchResponse, FetchableTopicResponse, LeaderIdAndEpoch,
    NodeEndpoint, PartitionData, SnapshotId,
};

use super::wire::{s, W};
use super::{DIR_ID, OLD_ID, ORDERS_ID, PAYMENTS_ID};

/// Opaque record batches (the codec does not look inside `records`).
const RECORDS: &[u8] = b"\x00\x00\x00\x00\x00\x00\x04\xd2\x00\x00\x00\x3a\x00\x00\x00\x05\x02batch";

/// FetchRequest (key 1), flexible from v12. Sent by "follower 3" so that the replica
/// id (v0-14) and the tagged ReplicaState (v15+) are not defaults. Topic names until
/// v12, ids from v13; the tagged ClusterId from v12; a tagged ReplicaDirectoryId on
/// the first partition from v17.
pub fn fetch_request(v: i16) -> (FetchRequest, Vec<u8>) {
    let flex = v >= 12;
    let name = |n: &str| if v <= 12 { s(n) } else { s("") };
    let id = |u| if v >= 13 { Uuid(u) } else { Uuid::ZERO };
    // (partition, current leader epoch, fetch offset, last fetched epoch, log start offset, max bytes)
    type Part = (i32, i32, i64, i32, i64, i32);
    let orders: &[Part] = &[
        (0, 7, 1234, 6, 100, 1_048_576),
        (1, 7, 5678, 6, 200, 1_048_576),
    ];
    let payments: &[Part] = &[(2, 3, 42, 2, 0, 524_288)];
    let part = |&(partition, cle, fetch_offset, lfe, lso, max): &Part| {
        FetchPartition {
            partition,
            current_leader_epoch: if v >= 9 { cle } else { -1 },
            fetch_offset,
            last_fetched_epoch: if v >= 12 { lfe } else { -1 },
            log_start_offset: if v >= 5 { lso } else { -1 },
            partition_max_bytes: max,
            // Only orders-0 (the only partition 0) carries a directory id.
            replica_directory_id: if v >= 17 && partition == 0 {
                Uuid(DIR_ID)
            } else {
                Uuid::ZERO
            },
        }
    };
    let value = FetchRequest {
        cluster_id: flex.then(|| s("kasio-cluster")),
        replica_id: if v <= 14 { 3 } else { -1 },
        replica_state: if v >= 15 {
            ReplicaState {
                replica_id: 3,
                replica_epoch: 17,
            }
        } else {
            ReplicaState {
                replica_id: -1,
                replica_epoch: -1,
            }
        },
        max_wait_ms: 500,
        min_bytes: 1,
        max_bytes: if v >= 3 { 52_428_800 } else { i32::MAX },
        isolation_level: if v >= 4 { 1 } else { 0 },
        session_id: if v >= 7 { 123_456 } else { 0 },
        session_epoch: if v >= 7 { 7 } else { -1 },
        topics: vec![
            FetchTopic {
                topic: name("orders"),
                topic_id: id(ORDERS_ID),
                partitions: orders.iter().map(part).collect(),
            },
            FetchTopic {
                topic: name("payments"),
                topic_id: id(PAYMENTS_ID),
                partitions: payments.iter().map(part).collect(),
            },
        ],
        forgotten_topics_data: if v >= 7 {
            vec![ForgottenTopic {
                topic: name("old-topic"),
                topic_id: id(OLD_ID),
                partitions: vec![3, 4],
            }]
        } else {
            vec![]
        },
        rack_id: if v >= 11 { s("eu-west-1a") } else { s("") },
    };

    let mut w = W::new(flex);
    if v <= 14 {
        w.i32(3); // ReplicaId
    }
    w.i32(500); // MaxWaitMs
    w.i32(1); // MinBytes
    if v >= 3 {
        w.i32(52_428_800); // MaxBytes
    }
    if v >= 4 {
        w.i8(1); // IsolationLevel
    }
    if v >= 7 {
        w.i32(123_456); // SessionId
        w.i32(7); // SessionEpoch
    }
    w.array(2); // Topics
    for (topic, topic_id, parts) in [
        ("orders", ORDERS_ID, orders),
        ("payments", PAYMENTS_ID, payments),
    ] {
        if v <= 12 {
            w.str(topic); // Topic
        }
        if v >= 13 {
            w.uuid(topic_id); // TopicId
        }
        w.array(parts.len()); // Partitions
        for &(partition, cle, fetch_offset, lfe, lso, max) in parts {
            w.i32(partition); // Partition
            if v >= 9 {
                w.i32(cle); // CurrentLeaderEpoch
            }
            w.i64(fetch_offset); // FetchOffset
            if v >= 12 {
                w.i32(lfe); // LastFetchedEpoch
            }
            if v >= 5 {
                w.i64(lso); // LogStartOffset
            }
            w.i32(max); // PartitionMaxBytes
            if v >= 17 && partition == 0 {
                w.uvarint(1); // tagged fields
                w.tagged(0, |t| t.uuid(DIR_ID)); // ReplicaDirectoryId
            } else {
                w.no_tags();
            }
        }
        w.no_tags();
    }
    if v >= 7 {
        w.array(1); // ForgottenTopicsData
        if v <= 12 {
            w.str("old-topic"); // Topic
        }
        if v >= 13 {
            w.uuid(OLD_ID); // TopicId
        }
        w.i32s(&[3, 4]); // Partitions
        w.no_tags();
    }
    if v >= 11 {
        w.str("eu-west-1a"); // RackId
    }
    if flex {
        w.uvarint(if v >= 15 { 2 } else { 1 }); // tagged fields
        w.tagged(0, |t| t.nstr(Some("kasio-cluster"))); // ClusterId
        if v >= 15 {
            w.tagged(1, |t| {
                // ReplicaState
                t.i32(3); // ReplicaId
                t.i64(17); // ReplicaEpoch
                t.no_tags();
            });
        }
    }
    (value, w.done())
}

/// FetchResponse (key 1), flexible from v12. Partition 0 has records, two aborted
/// transactions and the tagged DivergingEpoch and CurrentLeader; partition 1 has null
/// records, null aborted transactions and the tagged CurrentLeader and SnapshotId.
/// Tagged NodeEndpoints from v16.
pub fn fetch_response(v: i16) -> (FetchResponse, Vec<u8>) {
    let flex = v >= 12;
    let value = FetchResponse {
        throttle_time_ms: if v >= 1 { 11 } else { 0 },
        error_code: if v >= 7 { 70 } else { 0 },
        session_id: if v >= 7 { 123_456 } else { 0 },
        responses: vec![FetchableTopicResponse {
            topic: if v <= 12 { s("orders") } else { s("") },
            topic_id: if v >= 13 { Uuid(ORDERS_ID) } else { Uuid::ZERO },
            partitions: vec![
                PartitionData {
                    partition_index: 0,
                    error_code: 0,
                    high_watermark: 2000,
                    last_stable_offset: if v >= 4 { 1990 } else { -1 },
                    log_start_offset: if v >= 5 { 100 } else { -1 },
                    diverging_epoch: if flex {
                        EpochEndOffset {
                            epoch: 5,
                            end_offset: 1500,
                        }
                    } else {
                        EpochEndOffset {
                            epoch: -1,
                            end_offset: -1,
                        }
                    },
                    current_leader: if flex {
                        LeaderIdAndEpoch {
                            leader_id: 2,
                            leader_epoch: 8,
                        }
                    } else {
                        LeaderIdAndEpoch {
                            leader_id: -1,
                            leader_epoch: -1,
                        }
                    },
                    snapshot_id: SnapshotId {
                        end_offset: -1,
                        epoch: -1,
                    },
                    // Absent before v4, where it holds its default (an empty list).
                    aborted_transactions: Some(if v < 4 {
                        vec![]
                    } else {
                        vec![
                            AbortedTransaction {
                                producer_id: 9000,
                                first_offset: 1800,
                            },
                            AbortedTransaction {
                                producer_id: 9001,
                                first_offset: 1850,
                            },
                        ]
                    }),
                    preferred_read_replica: if v >= 11 { 2 } else { -1 },
                    records: Some(Bytes::from_static(RECORDS)),
                },
                PartitionData {
                    partition_index: 1,
                    error_code: 6,
                    high_watermark: -1,
                    last_stable_offset: -1,
                    log_start_offset: -1,
                    diverging_epoch: EpochEndOffset {
                        epoch: -1,
                        end_offset: -1,
                    },
                    current_leader: if flex {
                        LeaderIdAndEpoch {
                            leader_id: 3,
                            leader_epoch: 9,
                        }
                    } else {
                        LeaderIdAndEpoch {
                            leader_id: -1,
                            leader_epoch: -1,
                        }
                    },
                    snapshot_id: if flex {
                        SnapshotId {
                            end_offset: 4000,
                            epoch: 4,
                        }
                    } else {
                        SnapshotId {
                            end_offset: -1,
                            epoch: -1,
                        }
                    },
                    aborted_transactions: if v >= 4 { None } else { Some(vec![]) },
                    preferred_read_replica: -1,
                    records: None,
                },
            ],
        }],
        node_endpoints: if v >= 16 {
            vec![
                NodeEndpoint {
                    node_id: 2,
                    host: s("broker-2.kafka.local"),
                    port: 9092,
                    rack: Some(s("eu-west-1b")),
                },
                NodeEndpoint {
                    node_id: 3,
                    host: s("broker-3.kafka.local"),
                    port: 9092,
                    rack: None,
                },
            ]
        } else {
            vec![]
        },
    };

    let mut w = W::new(flex);
    if v >= 1 {
        w.i32(11); // ThrottleTimeMs
    }
    if v >= 7 {
        w.i16(70); // ErrorCode
        w.i32(123_456); // SessionId
    }
    w.array(1); // Responses
    if v <= 12 {
        w.str("orders"); // Topic
    }
    if v >= 13 {
        w.uuid(ORDERS_ID); // TopicId
    }
    w.array(2); // Partitions
    {
        w.i32(0); // PartitionIndex
        w.i16(0); // ErrorCode
        w.i64(2000); // HighWatermark
        if v >= 4 {
            w.i64(1990); // LastStableOffset
        }
        if v >= 5 {
            w.i64(100); // LogStartOffset
        }
        if v >= 4 {
            w.array(2); // AbortedTransactions
            w.i64(9000); // ProducerId
            w.i64(1800); // FirstOffset
            w.no_tags();
            w.i64(9001); // ProducerId
            w.i64(1850); // FirstOffset
            w.no_tags();
        }
        if v >= 11 {
            w.i32(2); // PreferredReadReplica
        }
        w.nbytes(Some(RECORDS)); // Records
        if flex {
            w.uvarint(2); // tagged fields
            w.tagged(0, |t| {
                // DivergingEpoch
                t.i32(5); // Epoch
                t.i64(1500); // EndOffset
                t.no_tags();
            });
            w.tagged(1, |t| {
                // CurrentLeader
                t.i32(2); // LeaderId
                t.i32(8); // LeaderEpoch
                t.no_tags();
            });
        }
    }
    {
        w.i32(1); // PartitionIndex
        w.i16(6); // ErrorCode
        w.i64(-1); // HighWatermark
        if v >= 4 {
            w.i64(-1); // LastStableOffset
        }
        if v >= 5 {
            w.i64(-1); // LogStartOffset
        }
        if v >= 4 {
            w.null_array(); // AbortedTransactions
        }
        if v >= 11 {
            w.i32(-1); // PreferredReadReplica
        }
        w.nbytes(None); // Records
        if flex {
            w.uvarint(2); // tagged fields
            w.tagged(1, |t| {
                // CurrentLeader
                t.i32(3); // LeaderId
                t.i32(9); // LeaderEpoch
                t.no_tags();
            });
            w.tagged(2, |t| {
                // SnapshotId
                t.i64(4000); // EndOffset
                t.i32(4); // Epoch
                t.no_tags();
            });
        }
    }
    w.no_tags(); // end of FetchableTopicResponse
    if v >= 16 {
        w.uvarint(1); // tagged fields
        w.tagged(0, |t| {
            // NodeEndpoints
            t.array(2);
            t.i32(2); // NodeId
            t.str("broker-2.kafka.local"); // Host
            t.i32(9092); // Port
            t.nstr(Some("eu-west-1b")); // Rack
            t.no_tags();
            t.i32(3); // NodeId
            t.str("broker-3.kafka.local"); // Host
            t.i32(9092); // Port
            t.nstr(None); // Rack
            t.no_tags();
        });
    } else {
        w.no_tags();
    }
    (value, w.done())
}
