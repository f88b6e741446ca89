//! ApiVersions, Metadata, FindCoordinator, SaslHandshake and SaslAuthenticate.
//! Each case builds, for version `v`, a value with non-default data in every field `v`
//! carries (the others keep the schema's default) and its bytes from the schema.

use bytes::Bytes;
use kasio_core::codec::Uuid;
use kasio_core::protocol::messages::api_versions_request::ApiVersionsRequest;
use kasio_core::protocol::messages::api_versions_response::{
    ApiVersion, ApiVersionsResponse, FinalizedFeatureKey, SupportedFeatureKey,
};
use kasio_core::protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use kasio_core::protocol::messages::find_coordinator_response::{
    Coordinator, FindCoordinatorResponse,
};
use kasio_core::protocol::messages::metadata_request::{MetadataRequest, MetadataRequestTopic};
use kasio_core::protocol::messages::metadata_response::{
    MetadataResponse, MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kasio_core::protocol::messages::sasl_authenticate_request::SaslAuthenticateRequest;
use kasio_core::protocol::messages::sasl_authenticate_response::SaslAuthenticateResponse;
use kasio_core::protocol::messages::sasl_handshake_request::SaslHandshakeRequest;
use kasio_core::protocol::messages::sasl_handshake_response::SaslHandshakeResponse;

use super::wire::{s, W};
use super::{ORDERS_ID, PAYMENTS_ID};

/// ApiVersionsRequest (key 18), flexible from v3; v0-2 have an empty body.
pub fn api_versions_request(v: i16) -> (ApiVersionsRequest, Vec<u8>) {
    let value = ApiVersionsRequest {
        client_software_name: if v >= 3 { s("kasio") } else { s("") },
        client_software_version: if v >= 3 { s("0.1.0") } else { s("") },
    };
    let mut w = W::new(v >= 3);
    if v >= 3 {
        w.str("kasio"); // ClientSoftwareName
        w.str("0.1.0"); // ClientSoftwareVersion
    }
    w.no_tags();
    (value, w.done())
}

/// ApiVersionsResponse (key 18), flexible from v3 with four tagged fields.
pub fn api_versions_response(v: i16) -> (ApiVersionsResponse, Vec<u8>) {
    let flex = v >= 3;
    let value = ApiVersionsResponse {
        error_code: 35,
        api_keys: vec![
            ApiVersion {
                api_key: 1,
                min_version: 4,
                max_version: 17,
            },
            ApiVersion {
                api_key: 18,
                min_version: 0,
                max_version: 4,
            },
        ],
        throttle_time_ms: if v >= 1 { 250 } else { 0 },
        supported_features: if flex {
            vec![SupportedFeatureKey {
                name: s("metadata.version"),
                min_version: 1,
                max_version: 21,
            }]
        } else {
            vec![]
        },
        finalized_features_epoch: if flex { 42 } else { -1 },
        finalized_features: if flex {
            vec![FinalizedFeatureKey {
                name: s("metadata.version"),
                max_version_level: 21,
                min_version_level: 1,
            }]
        } else {
            vec![]
        },
        // Left at its default (false) in v3, so not written there.
        zk_migration_ready: v >= 4,
    };
    let mut w = W::new(flex);
    w.i16(35); // ErrorCode
    w.array(2); // ApiKeys
    for (key, min, max) in [(1, 4, 17), (18, 0, 4)] {
        w.i16(key); // ApiKey
        w.i16(min); // MinVersion
        w.i16(max); // MaxVersion
        w.no_tags();
    }
    if v >= 1 {
        w.i32(250); // ThrottleTimeMs
    }
    if flex {
        w.uvarint(if v >= 4 { 4 } else { 3 }); // tagged fields
        w.tagged(0, |t| {
            // SupportedFeatures
            t.array(1);
            t.str("metadata.version"); // Name
            t.i16(1); // MinVersion
            t.i16(21); // MaxVersion
            t.no_tags();
        });
        w.tagged(1, |t| t.i64(42)); // FinalizedFeaturesEpoch
        w.tagged(2, |t| {
            // FinalizedFeatures
            t.array(1);
            t.str("metadata.version"); // Name
            t.i16(21); // MaxVersionLevel
            t.i16(1); // MinVersionLevel
            t.no_tags();
        });
        if v >= 4 {
            w.tagged(3, |t| t.bool(true)); // ZkMigrationReady
        }
    }
    (value, w.done())
}

/// MetadataRequest (key 3), flexible from v9; topic ids from v10, where a name may
/// be null.
pub fn metadata_request(v: i16) -> (MetadataRequest, Vec<u8>) {
    let id = |u| if v >= 10 { Uuid(u) } else { Uuid::ZERO };
    let value = MetadataRequest {
        topics: Some(vec![
            MetadataRequestTopic {
                topic_id: id(ORDERS_ID),
                name: Some(s("orders")),
            },
            MetadataRequestTopic {
                topic_id: id(PAYMENTS_ID),
                name: if v >= 10 { None } else { Some(s("payments")) },
            },
        ]),
        // Default true; not ignorable, so it must stay true before v4.
        allow_auto_topic_creation: v < 4,
        include_cluster_authorized_operations: (8..=10).contains(&v),
        include_topic_authorized_operations: v >= 8,
    };
    let mut w = W::new(v >= 9);
    w.array(2); // Topics
    if v >= 10 {
        w.uuid(ORDERS_ID); // TopicId
    }
    w.str("orders"); // Name
    w.no_tags();
    if v >= 10 {
        w.uuid(PAYMENTS_ID); // TopicId
        w.nstr(None); // Name
    } else {
        w.str("payments"); // Name
    }
    w.no_tags();
    if v >= 4 {
        w.bool(false); // AllowAutoTopicCreation
    }
    if (8..=10).contains(&v) {
        w.bool(true); // IncludeClusterAuthorizedOperations
    }
    if v >= 8 {
        w.bool(true); // IncludeTopicAuthorizedOperations
    }
    w.no_tags();
    (value, w.done())
}

/// MetadataRequest with a null topic array ("all topics"), v1+.
pub fn metadata_request_all_topics(v: i16) -> (MetadataRequest, Vec<u8>) {
    let value = MetadataRequest {
        topics: None,
        allow_auto_topic_creation: true,
        include_cluster_authorized_operations: false,
        include_topic_authorized_operations: false,
    };
    let mut w = W::new(v >= 9);
    w.null_array(); // Topics
    if v >= 4 {
        w.bool(true); // AllowAutoTopicCreation
    }
    if (8..=10).contains(&v) {
        w.bool(false); // IncludeClusterAuthorizedOperations
    }
    if v >= 8 {
        w.bool(false); // IncludeTopicAuthorizedOperations
    }
    w.no_tags();
    (value, w.done())
}

/// MetadataResponse (key 3), flexible from v9; topic names nullable from v12.
pub fn metadata_response(v: i16) -> (MetadataResponse, Vec<u8>) {
    let id = |u| if v >= 10 { Uuid(u) } else { Uuid::ZERO };
    let epoch = |e| if v >= 7 { e } else { -1 };
    let offline = |o: Vec<i32>| if v >= 5 { o } else { vec![] };
    let value = MetadataResponse {
        throttle_time_ms: if v >= 3 { 10 } else { 0 },
        brokers: vec![
            MetadataResponseBroker {
                node_id: 1,
                host: s("broker-1.kafka.local"),
                port: 9092,
                rack: if v >= 1 { Some(s("eu-west-1a")) } else { None },
            },
            MetadataResponseBroker {
                node_id: 2,
                host: s("broker-2.kafka.local"),
                port: 9093,
                rack: None,
            },
        ],
        cluster_id: if v >= 2 {
            Some(s("kasio-cluster"))
        } else {
            None
        },
        controller_id: if v >= 1 { 2 } else { -1 },
        topics: vec![
            MetadataResponseTopic {
                error_code: 0,
                name: Some(s("orders")),
                topic_id: id(ORDERS_ID),
                is_internal: false,
                partitions: vec![
                    MetadataResponsePartition {
                        error_code: 0,
                        partition_index: 0,
                        leader_id: 1,
                        leader_epoch: epoch(7),
                        replica_nodes: vec![1, 2],
                        isr_nodes: vec![1, 2],
                        offline_replicas: vec![],
                    },
                    MetadataResponsePartition {
                        error_code: 9,
                        partition_index: 1,
                        leader_id: 2,
                        leader_epoch: epoch(3),
                        replica_nodes: vec![2, 1],
                        isr_nodes: vec![2],
                        offline_replicas: offline(vec![1]),
                    },
                ],
                topic_authorized_operations: if v >= 8 { 0b1111_1000 } else { i32::MIN },
            },
            MetadataResponseTopic {
                error_code: if v >= 12 { 100 } else { 3 },
                name: if v >= 12 { None } else { Some(s("gone")) },
                topic_id: id(PAYMENTS_ID),
                is_internal: v >= 1,
                partitions: vec![],
                topic_authorized_operations: i32::MIN,
            },
        ],
        cluster_authorized_operations: if (8..=10).contains(&v) {
            0x0ff8
        } else {
            i32::MIN
        },
    };
    let mut w = W::new(v >= 9);
    if v >= 3 {
        w.i32(10); // ThrottleTimeMs
    }
    w.array(2); // Brokers
    w.i32(1); // NodeId
    w.str("broker-1.kafka.local"); // Host
    w.i32(9092); // Port
    if v >= 1 {
        w.nstr(Some("eu-west-1a")); // Rack
    }
    w.no_tags();
    w.i32(2); // NodeId
    w.str("broker-2.kafka.local"); // Host
    w.i32(9093); // Port
    if v >= 1 {
        w.nstr(None); // Rack
    }
    w.no_tags();
    if v >= 2 {
        w.nstr(Some("kasio-cluster")); // ClusterId
    }
    if v >= 1 {
        w.i32(2); // ControllerId
    }
    w.array(2); // Topics
    {
        w.i16(0); // ErrorCode
        w.str("orders"); // Name
        if v >= 10 {
            w.uuid(ORDERS_ID); // TopicId
        }
        if v >= 1 {
            w.bool(false); // IsInternal
        }
        w.array(2); // Partitions
        w.i16(0); // ErrorCode
        w.i32(0); // PartitionIndex
        w.i32(1); // LeaderId
        if v >= 7 {
            w.i32(7); // LeaderEpoch
        }
        w.i32s(&[1, 2]); // ReplicaNodes
        w.i32s(&[1, 2]); // IsrNodes
        if v >= 5 {
            w.i32s(&[]); // OfflineReplicas
        }
        w.no_tags();
        w.i16(9); // ErrorCode
        w.i32(1); // PartitionIndex
        w.i32(2); // LeaderId
        if v >= 7 {
            w.i32(3); // LeaderEpoch
        }
        w.i32s(&[2, 1]); // ReplicaNodes
        w.i32s(&[2]); // IsrNodes
        if v >= 5 {
            w.i32s(&[1]); // OfflineReplicas
        }
        w.no_tags();
        if v >= 8 {
            w.i32(0b1111_1000); // TopicAuthorizedOperations
        }
        w.no_tags();
    }
    {
        if v >= 12 {
            w.i16(100); // ErrorCode
            w.nstr(None); // Name
        } else {
            w.i16(3); // ErrorCode
            w.str("gone"); // Name
        }
        if v >= 10 {
            w.uuid(PAYMENTS_ID); // TopicId
        }
        if v >= 1 {
            w.bool(true); // IsInternal
        }
        w.array(0); // Partitions
        if v >= 8 {
            w.i32(i32::MIN); // TopicAuthorizedOperations
        }
        w.no_tags();
    }
    if (8..=10).contains(&v) {
        w.i32(0x0ff8); // ClusterAuthorizedOperations
    }
    w.no_tags();
    (value, w.done())
}

/// FindCoordinatorRequest (key 10), flexible from v3; batched keys from v4.
pub fn find_coordinator_request(v: i16) -> (FindCoordinatorRequest, Vec<u8>) {
    let value = FindCoordinatorRequest {
        key: if v <= 3 { s("orders-txn") } else { s("") },
        key_type: if v >= 1 { 1 } else { 0 },
        coordinator_keys: if v >= 4 {
            vec![s("orders-txn"), s("payments-txn")]
        } else {
            vec![]
        },
    };
    let mut w = W::new(v >= 3);
    if v <= 3 {
        w.str("orders-txn"); // Key
    }
    if v >= 1 {
        w.i8(1); // KeyType
    }
    if v >= 4 {
        w.strs(&["orders-txn", "payments-txn"]); // CoordinatorKeys
    }
    w.no_tags();
    (value, w.done())
}

/// FindCoordinatorResponse (key 10), flexible from v3; one entry per key from v4.
pub fn find_coordinator_response(v: i16) -> (FindCoordinatorResponse, Vec<u8>) {
    let old = v <= 3;
    let value = FindCoordinatorResponse {
        throttle_time_ms: if v >= 1 { 5 } else { 0 },
        error_code: if old { 14 } else { 0 },
        error_message: if (1..=3).contains(&v) {
            Some(s("coordinator loading: grupo-señal"))
        } else {
            // Absent in this version: the default, an empty string (as in Java).
            Some(s(""))
        },
        node_id: if old { 3 } else { 0 },
        host: if old {
            s("broker-3.kafka.local")
        } else {
            s("")
        },
        port: if old { 9094 } else { 0 },
        coordinators: if v >= 4 {
            vec![
                Coordinator {
                    key: s("orders-txn"),
                    node_id: 1,
                    host: s("broker-1.kafka.local"),
                    port: 9092,
                    error_code: 0,
                    error_message: None,
                },
                Coordinator {
                    key: s("payments-txn"),
                    node_id: -1,
                    host: s(""),
                    port: -1,
                    error_code: 15,
                    error_message: Some(s("The coordinator is not available.")),
                },
            ]
        } else {
            vec![]
        },
    };
    let mut w = W::new(v >= 3);
    if v >= 1 {
        w.i32(5); // ThrottleTimeMs
    }
    if old {
        w.i16(14); // ErrorCode
        if v >= 1 {
            w.nstr(Some("coordinator loading: grupo-señal")); // ErrorMessage
        }
        w.i32(3); // NodeId
        w.str("broker-3.kafka.local"); // Host
        w.i32(9094); // Port
    } else {
        w.array(2); // Coordinators
        w.str("orders-txn"); // Key
        w.i32(1); // NodeId
        w.str("broker-1.kafka.local"); // Host
        w.i32(9092); // Port
        w.i16(0); // ErrorCode
        w.nstr(None); // ErrorMessage
        w.no_tags();
        w.str("payments-txn"); // Key
        w.i32(-1); // NodeId
        w.str(""); // Host
        w.i32(-1); // Port
        w.i16(15); // ErrorCode
        w.nstr(Some("The coordinator is not available.")); // ErrorMessage
        w.no_tags();
    }
    w.no_tags();
    (value, w.done())
}

/// SaslHandshakeRequest (key 17), never flexible.
pub fn sasl_handshake_request(_v: i16) -> (SaslHandshakeRequest, Vec<u8>) {
    let value = SaslHandshakeRequest {
        mechanism: s("SCRAM-SHA-512"),
    };
    let mut w = W::new(false);
    w.str("SCRAM-SHA-512"); // Mechanism
    (value, w.done())
}

/// SaslHandshakeResponse (key 17), never flexible.
pub fn sasl_handshake_response(_v: i16) -> (SaslHandshakeResponse, Vec<u8>) {
    let value = SaslHandshakeResponse {
        error_code: 33,
        mechanisms: vec![s("PLAIN"), s("SCRAM-SHA-256")],
    };
    let mut w = W::new(false);
    w.i16(33); // ErrorCode
    w.strs(&["PLAIN", "SCRAM-SHA-256"]); // Mechanisms
    (value, w.done())
}

const PLAIN_AUTH: &[u8] = b"\0alice\0s3cr3t";

/// SaslAuthenticateRequest (key 36), flexible from v2.
pub fn sasl_authenticate_request(v: i16) -> (SaslAuthenticateRequest, Vec<u8>) {
    let value = SaslAuthenticateRequest {
        auth_bytes: Bytes::from_static(PLAIN_AUTH),
    };
    let mut w = W::new(v >= 2);
    w.bytes(PLAIN_AUTH); // AuthBytes
    w.no_tags();
    (value, w.done())
}

/// SaslAuthenticateResponse (key 36), flexible from v2; the message is null except in v1.
pub fn sasl_authenticate_response(v: i16) -> (SaslAuthenticateResponse, Vec<u8>) {
    let msg = (v == 1).then_some("Authentication failed for ‘alice’");
    let value = SaslAuthenticateResponse {
        error_code: 58,
        error_message: msg.map(s),
        auth_bytes: Bytes::from_static(b"v=rspauth"),
        session_lifetime_ms: if v >= 1 { 3_600_000 } else { 0 },
    };
    let mut w = W::new(v >= 2);
    w.i16(58); // ErrorCode
    w.nstr(msg); // ErrorMessage
    w.bytes(b"v=rspauth"); // AuthBytes
    if v >= 1 {
        w.i64(3_600_000); // SessionLifetimeMs
    }
    w.no_tags();
    (value, w.done())
}

/// SaslAuthenticateRequest with 127 auth bytes: the compact length (128) takes two
/// varint bytes, 0x80 0x01.
pub fn sasl_authenticate_request_long(v: i16) -> (SaslAuthenticateRequest, Vec<u8>) {
    let auth = [0xa5u8; 127];
    let value = SaslAuthenticateRequest {
        auth_bytes: Bytes::copy_from_slice(&auth),
    };
    let mut w = W::new(v >= 2);
    if v >= 2 {
        w.raw(&[0x80, 0x01]); // AuthBytes: compact length 127 + 1
    } else {
        w.raw(&[0x00, 0x00, 0x00, 0x7f]); // AuthBytes: int32 length 127
    }
    w.raw(&auth);
    w.no_tags();
    (value, w.done())
}

/// ApiVersionsResponse with 130 API keys (compact count 131: two varint bytes) and 12
/// supported features (a tagged field larger than 127 bytes: a two-byte size).
pub fn api_versions_response_large(v: i16) -> (ApiVersionsResponse, Vec<u8>) {
    let flex = v >= 3;
    let features: Vec<String> = (0..12).map(|i| format!("feature-{i:02}.version")).collect();
    let value = ApiVersionsResponse {
        error_code: 0,
        api_keys: (0..130)
            .map(|k| ApiVersion {
                api_key: k,
                min_version: 0,
                max_version: k % 7,
            })
            .collect(),
        throttle_time_ms: if v >= 1 { 1 } else { 0 },
        supported_features: if flex {
            features
                .iter()
                .map(|name| SupportedFeatureKey {
                    name: name.clone(),
                    min_version: 1,
                    max_version: 2,
                })
                .collect()
        } else {
            vec![]
        },
        ..Default::default()
    };
    let mut w = W::new(flex);
    w.i16(0); // ErrorCode
    if flex {
        w.raw(&[0x83, 0x01]); // ApiKeys: compact count 130 + 1
    } else {
        w.raw(&[0x00, 0x00, 0x00, 0x82]); // ApiKeys: int32 count 130
    }
    for k in 0..130 {
        w.i16(k); // ApiKey
        w.i16(0); // MinVersion
        w.i16(k % 7); // MaxVersion
        w.no_tags();
    }
    if v >= 1 {
        w.i32(1); // ThrottleTimeMs
    }
    if flex {
        w.uvarint(1); // tagged fields
        w.uvarint(0); // tag: SupportedFeatures
        w.raw(&[0xa1, 0x02]); // size: 12 × (1 + 18 + 2 + 2 + 1) + 1 = 289
        w.uvarint(13); // compact count 12 + 1
        for name in &features {
            w.str(name); // Name
            w.i16(1); // MinVersion
            w.i16(2); // MaxVersion
            w.no_tags();
        }
    }
    (value, w.done())
}
