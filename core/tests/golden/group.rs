//! JoinGroup, SyncGroup, Heartbeat, LeaveGroup, DescribeGroups, ConsumerGroupHeartbeat
//! and the embedded consumer-protocol data.

use bytes::Bytes;
use kasio_core::codec::Uuid;
use kasio_core::protocol::messages::consumer_group_heartbeat_request::{
    self as cgh_req, ConsumerGroupHeartbeatRequest,
};
use kasio_core::protocol::messages::consumer_group_heartbeat_response::{
    self as cgh_resp, Assignment, ConsumerGroupHeartbeatResponse,
};
use kasio_core::protocol::messages::consumer_protocol_assignment::{
    self as cpa, ConsumerProtocolAssignment,
};
use kasio_core::protocol::messages::consumer_protocol_subscription::{
    self as cps, ConsumerProtocolSubscription,
};
use kasio_core::protocol::messages::describe_groups_request::DescribeGroupsRequest;
use kasio_core::protocol::messages::describe_groups_response::{
    DescribeGroupsResponse, DescribedGroup, DescribedGroupMember,
};
use kasio_core::protocol::messages::heartbeat_request::HeartbeatRequest;
use kasio_core::protocol::messages::heartbeat_response::HeartbeatResponse;
use kasio_core::protocol::messages::join_group_request::{
    JoinGroupRequest, JoinGroupRequestProtocol,
};
use kasio_core::protocol::messages::join_group_response::{
    JoinGroupResponse, JoinGroupResponseMember,
};
use kasio_core::protocol::messages::leave_group_request::{LeaveGroupRequest, MemberIdentity};
use kasio_core::protocol::messages::leave_group_response::{LeaveGroupResponse, MemberResponse};
use kasio_core::protocol::messages::sync_group_request::{
    SyncGroupRequest, SyncGroupRequestAssignment,
};
use kasio_core::protocol::messages::sync_group_response::SyncGroupResponse;

use super::wire::{s, W};
use super::{GROUP, ORDERS_ID, PAYMENTS_ID};

/// Opaque protocol metadata and assignments (the group coordinator does not read them).
const META_1: &[u8] = b"\x00\x03\x00\x00\x00\x01\x00\x06orders";
const META_2: &[u8] = b"\x00\x01\xff\xfe";
const ASSIGN_1: &[u8] = b"\x00\x03\x00\x00\x00\x01\x00\x06orders\x00\x00\x00\x01\x00\x00\x00\x00";
const ASSIGN_2: &[u8] = b"";

const MEMBER_1: &str = "kasio-7f3a";
const MEMBER_2: &str = "kasio-9b1c";
const INSTANCE: &str = "instance-1";

/// JoinGroupRequest (key 11), flexible from v6; group instance id from v5 (null in
/// v5-6), reason from v8.
pub fn join_group_request(v: i16) -> (JoinGroupRequest, Vec<u8>) {
    let instance = (v >= 7).then_some(INSTANCE);
    let value = JoinGroupRequest {
        group_id: s(GROUP),
        session_timeout_ms: 45_000,
        rebalance_timeout_ms: if v >= 1 { 300_000 } else { -1 },
        member_id: s(MEMBER_1),
        group_instance_id: instance.map(s),
        protocol_type: s("consumer"),
        protocols: vec![
            JoinGroupRequestProtocol {
                name: s("cooperative-sticky"),
                metadata: Bytes::from_static(META_1),
            },
            JoinGroupRequestProtocol {
                name: s("range"),
                metadata: Bytes::from_static(META_2),
            },
        ],
        reason: (v >= 8).then(|| s("rebalance: topic added")),
    };
    let mut w = W::new(v >= 6);
    w.str(GROUP); // GroupId
    w.i32(45_000); // SessionTimeoutMs
    if v >= 1 {
        w.i32(300_000); // RebalanceTimeoutMs
    }
    w.str(MEMBER_1); // MemberId
    if v >= 5 {
        w.nstr(instance); // GroupInstanceId
    }
    w.str("consumer"); // ProtocolType
    w.array(2); // Protocols
    w.str("cooperative-sticky"); // Name
    w.bytes(META_1); // Metadata
    w.no_tags();
    w.str("range"); // Name
    w.bytes(META_2); // Metadata
    w.no_tags();
    if v >= 8 {
        w.nstr(Some("rebalance: topic added")); // Reason
    }
    w.no_tags();
    (value, w.done())
}

/// JoinGroupResponse (key 11), flexible from v6; the protocol name is nullable from v7
/// (null in v9), skip-assignment from v9.
pub fn join_group_response(v: i16) -> (JoinGroupResponse, Vec<u8>) {
    let protocol_name = (v < 9).then_some("range");
    let value = JoinGroupResponse {
        throttle_time_ms: if v >= 2 { 100 } else { 0 },
        error_code: 27,
        generation_id: 12,
        protocol_type: (v >= 7).then(|| s("consumer")),
        protocol_name: protocol_name.map(s),
        leader: s(MEMBER_1),
        skip_assignment: v >= 9,
        member_id: s(MEMBER_2),
        members: vec![
            JoinGroupResponseMember {
                member_id: s(MEMBER_1),
                group_instance_id: (v >= 5).then(|| s(INSTANCE)),
                metadata: Bytes::from_static(META_1),
            },
            JoinGroupResponseMember {
                member_id: s(MEMBER_2),
                group_instance_id: None,
                metadata: Bytes::from_static(META_2),
            },
        ],
    };
    let mut w = W::new(v >= 6);
    if v >= 2 {
        w.i32(100); // ThrottleTimeMs
    }
    w.i16(27); // ErrorCode
    w.i32(12); // GenerationId
    if v >= 7 {
        w.nstr(Some("consumer")); // ProtocolType
    }
    w.nstr(protocol_name); // ProtocolName
    w.str(MEMBER_1); // Leader
    if v >= 9 {
        w.bool(true); // SkipAssignment
    }
    w.str(MEMBER_2); // MemberId
    w.array(2); // Members
    w.str(MEMBER_1); // MemberId
    if v >= 5 {
        w.nstr(Some(INSTANCE)); // GroupInstanceId
    }
    w.bytes(META_1); // Metadata
    w.no_tags();
    w.str(MEMBER_2); // MemberId
    if v >= 5 {
        w.nstr(None); // GroupInstanceId
    }
    w.bytes(META_2); // Metadata
    w.no_tags();
    w.no_tags();
    (value, w.done())
}

/// SyncGroupRequest (key 14), flexible from v4; group instance id from v3 (null in
/// v4), protocol type and name from v5.
pub fn sync_group_request(v: i16) -> (SyncGroupRequest, Vec<u8>) {
    let instance = (v == 3 || v >= 5).then_some(INSTANCE);
    let value = SyncGroupRequest {
        group_id: s(GROUP),
        generation_id: 12,
        member_id: s(MEMBER_1),
        group_instance_id: instance.map(s),
        protocol_type: (v >= 5).then(|| s("consumer")),
        protocol_name: (v >= 5).then(|| s("cooperative-sticky")),
        assignments: vec![
            SyncGroupRequestAssignment {
                member_id: s(MEMBER_1),
                assignment: Bytes::from_static(ASSIGN_1),
            },
            SyncGroupRequestAssignment {
                member_id: s(MEMBER_2),
                assignment: Bytes::from_static(ASSIGN_2),
            },
        ],
    };
    let mut w = W::new(v >= 4);
    w.str(GROUP); // GroupId
    w.i32(12); // GenerationId
    w.str(MEMBER_1); // MemberId
    if v >= 3 {
        w.nstr(instance); // GroupInstanceId
    }
    if v >= 5 {
        w.nstr(Some("consumer")); // ProtocolType
        w.nstr(Some("cooperative-sticky")); // ProtocolName
    }
    w.array(2); // Assignments
    w.str(MEMBER_1); // MemberId
    w.bytes(ASSIGN_1); // Assignment
    w.no_tags();
    w.str(MEMBER_2); // MemberId
    w.bytes(ASSIGN_2); // Assignment
    w.no_tags();
    w.no_tags();
    (value, w.done())
}

/// SyncGroupResponse (key 14), flexible from v4; protocol type and name from v5.
pub fn sync_group_response(v: i16) -> (SyncGroupResponse, Vec<u8>) {
    let value = SyncGroupResponse {
        throttle_time_ms: if v >= 1 { 50 } else { 0 },
        error_code: 22,
        protocol_type: (v >= 5).then(|| s("consumer")),
        protocol_name: None,
        assignment: Bytes::from_static(ASSIGN_1),
    };
    let mut w = W::new(v >= 4);
    if v >= 1 {
        w.i32(50); // ThrottleTimeMs
    }
    w.i16(22); // ErrorCode
    if v >= 5 {
        w.nstr(Some("consumer")); // ProtocolType
        w.nstr(None); // ProtocolName
    }
    w.bytes(ASSIGN_1); // Assignment
    w.no_tags();
    (value, w.done())
}

/// HeartbeatRequest (key 12), flexible from v4; group instance id from v3 (null in v4).
pub fn heartbeat_request(v: i16) -> (HeartbeatRequest, Vec<u8>) {
    let instance = (v == 3).then_some(INSTANCE);
    let value = HeartbeatRequest {
        group_id: s(GROUP),
        generation_id: 12,
        member_id: s(MEMBER_1),
        group_instance_id: instance.map(s),
    };
    let mut w = W::new(v >= 4);
    w.str(GROUP); // GroupId
    w.i32(12); // GenerationId
    w.str(MEMBER_1); // MemberId
    if v >= 3 {
        w.nstr(instance); // GroupInstanceId
    }
    w.no_tags();
    (value, w.done())
}

/// HeartbeatResponse (key 12), flexible from v4; throttle time from v1.
pub fn heartbeat_response(v: i16) -> (HeartbeatResponse, Vec<u8>) {
    let value = HeartbeatResponse {
        throttle_time_ms: if v >= 1 { 25 } else { 0 },
        error_code: 27,
    };
    let mut w = W::new(v >= 4);
    if v >= 1 {
        w.i32(25); // ThrottleTimeMs
    }
    w.i16(27); // ErrorCode
    w.no_tags();
    (value, w.done())
}

/// LeaveGroupRequest (key 13), flexible from v4; a member list from v3, reasons from v5.
pub fn leave_group_request(v: i16) -> (LeaveGroupRequest, Vec<u8>) {
    let value = LeaveGroupRequest {
        group_id: s(GROUP),
        member_id: if v <= 2 { s(MEMBER_1) } else { s("") },
        members: if v >= 3 {
            vec![
                MemberIdentity {
                    member_id: s(MEMBER_1),
                    group_instance_id: Some(s(INSTANCE)),
                    reason: (v >= 5).then(|| s("consumer closing")),
                },
                MemberIdentity {
                    member_id: s(MEMBER_2),
                    group_instance_id: None,
                    reason: None,
                },
            ]
        } else {
            vec![]
        },
    };
    let mut w = W::new(v >= 4);
    w.str(GROUP); // GroupId
    if v <= 2 {
        w.str(MEMBER_1); // MemberId
    } else {
        w.array(2); // Members
        w.str(MEMBER_1); // MemberId
        w.nstr(Some(INSTANCE)); // GroupInstanceId
        if v >= 5 {
            w.nstr(Some("consumer closing")); // Reason
        }
        w.no_tags();
        w.str(MEMBER_2); // MemberId
        w.nstr(None); // GroupInstanceId
        if v >= 5 {
            w.nstr(None); // Reason
        }
        w.no_tags();
    }
    w.no_tags();
    (value, w.done())
}

/// LeaveGroupResponse (key 13), flexible from v4; per-member results from v3.
pub fn leave_group_response(v: i16) -> (LeaveGroupResponse, Vec<u8>) {
    let value = LeaveGroupResponse {
        throttle_time_ms: if v >= 1 { 5 } else { 0 },
        error_code: 16,
        members: if v >= 3 {
            vec![
                MemberResponse {
                    member_id: s(MEMBER_1),
                    group_instance_id: Some(s(INSTANCE)),
                    error_code: 0,
                },
                MemberResponse {
                    member_id: s(MEMBER_2),
                    group_instance_id: None,
                    error_code: 25,
                },
            ]
        } else {
            vec![]
        },
    };
    let mut w = W::new(v >= 4);
    if v >= 1 {
        w.i32(5); // ThrottleTimeMs
    }
    w.i16(16); // ErrorCode
    if v >= 3 {
        w.array(2); // Members
        w.str(MEMBER_1); // MemberId
        w.nstr(Some(INSTANCE)); // GroupInstanceId
        w.i16(0); // ErrorCode
        w.no_tags();
        w.str(MEMBER_2); // MemberId
        w.nstr(None); // GroupInstanceId
        w.i16(25); // ErrorCode
        w.no_tags();
    }
    w.no_tags();
    (value, w.done())
}

/// DescribeGroupsRequest (key 15), flexible from v5; authorized operations from v3.
pub fn describe_groups_request(v: i16) -> (DescribeGroupsRequest, Vec<u8>) {
    let value = DescribeGroupsRequest {
        groups: vec![s(GROUP), s("payments-group")],
        include_authorized_operations: v >= 3,
    };
    let mut w = W::new(v >= 5);
    w.strs(&[GROUP, "payments-group"]); // Groups
    if v >= 3 {
        w.bool(true); // IncludeAuthorizedOperations
    }
    w.no_tags();
    (value, w.done())
}

/// DescribeGroupsResponse (key 15), flexible from v5; authorized operations from v3,
/// member instance ids from v4.
pub fn describe_groups_response(v: i16) -> (DescribeGroupsResponse, Vec<u8>) {
    let value = DescribeGroupsResponse {
        throttle_time_ms: if v >= 1 { 7 } else { 0 },
        groups: vec![
            DescribedGroup {
                error_code: 0,
                group_id: s(GROUP),
                group_state: s("Stable"),
                protocol_type: s("consumer"),
                protocol_data: s("range"),
                members: vec![
                    DescribedGroupMember {
                        member_id: s(MEMBER_1),
                        group_instance_id: (v >= 4).then(|| s(INSTANCE)),
                        client_id: s("kasio"),
                        client_host: s("/10.0.0.7"),
                        member_metadata: Bytes::from_static(META_1),
                        member_assignment: Bytes::from_static(ASSIGN_1),
                    },
                    DescribedGroupMember {
                        member_id: s(MEMBER_2),
                        group_instance_id: None,
                        client_id: s("kasio"),
                        client_host: s("/10.0.0.8"),
                        member_metadata: Bytes::from_static(META_2),
                        member_assignment: Bytes::from_static(ASSIGN_2),
                    },
                ],
                authorized_operations: if v >= 3 { 0b1_1110_0000 } else { i32::MIN },
            },
            DescribedGroup {
                error_code: 69,
                group_id: s("payments-group"),
                group_state: s("Dead"),
                protocol_type: s(""),
                protocol_data: s(""),
                members: vec![],
                authorized_operations: i32::MIN,
            },
        ],
    };
    let mut w = W::new(v >= 5);
    if v >= 1 {
        w.i32(7); // ThrottleTimeMs
    }
    w.array(2); // Groups
    {
        w.i16(0); // ErrorCode
        w.str(GROUP); // GroupId
        w.str("Stable"); // GroupState
        w.str("consumer"); // ProtocolType
        w.str("range"); // ProtocolData
        w.array(2); // Members
        w.str(MEMBER_1); // MemberId
        if v >= 4 {
            w.nstr(Some(INSTANCE)); // GroupInstanceId
        }
        w.str("kasio"); // ClientId
        w.str("/10.0.0.7"); // ClientHost
        w.bytes(META_1); // MemberMetadata
        w.bytes(ASSIGN_1); // MemberAssignment
        w.no_tags();
        w.str(MEMBER_2); // MemberId
        if v >= 4 {
            w.nstr(None); // GroupInstanceId
        }
        w.str("kasio"); // ClientId
        w.str("/10.0.0.8"); // ClientHost
        w.bytes(META_2); // MemberMetadata
        w.bytes(ASSIGN_2); // MemberAssignment
        w.no_tags();
        if v >= 3 {
            w.i32(0b1_1110_0000); // AuthorizedOperations
        }
        w.no_tags();
    }
    {
        w.i16(69); // ErrorCode
        w.str("payments-group"); // GroupId
        w.str("Dead"); // GroupState
        w.str(""); // ProtocolType
        w.str(""); // ProtocolData
        w.array(0); // Members
        if v >= 3 {
            w.i32(i32::MIN); // AuthorizedOperations
        }
        w.no_tags();
    }
    w.no_tags();
    (value, w.done())
}

const CGH_MEMBER: &str = "4jYxvKk3QWSyM8b8cKMxMw";

/// ConsumerGroupHeartbeatRequest (key 68), flexible in every version; a topic regex
/// from v1 (where the topic names are null).
pub fn consumer_group_heartbeat_request(v: i16) -> (ConsumerGroupHeartbeatRequest, Vec<u8>) {
    let value = ConsumerGroupHeartbeatRequest {
        group_id: s(GROUP),
        member_id: s(CGH_MEMBER),
        member_epoch: 5,
        instance_id: Some(s(INSTANCE)),
        rack_id: None,
        rebalance_timeout_ms: 300_000,
        subscribed_topic_names: (v == 0).then(|| vec![s("orders"), s("payments")]),
        subscribed_topic_regex: (v >= 1).then(|| s("pay.*|orders")),
        server_assignor: Some(s("uniform")),
        topic_partitions: Some(vec![
            cgh_req::TopicPartitions {
                topic_id: Uuid(ORDERS_ID),
                partitions: vec![0, 1],
            },
            cgh_req::TopicPartitions {
                topic_id: Uuid(PAYMENTS_ID),
                partitions: vec![2],
            },
        ]),
    };
    let mut w = W::new(true);
    w.str(GROUP); // GroupId
    w.str(CGH_MEMBER); // MemberId
    w.i32(5); // MemberEpoch
    w.nstr(Some(INSTANCE)); // InstanceId
    w.nstr(None); // RackId
    w.i32(300_000); // RebalanceTimeoutMs
    if v == 0 {
        w.strs(&["orders", "payments"]); // SubscribedTopicNames
    } else {
        w.null_array(); // SubscribedTopicNames
        w.nstr(Some("pay.*|orders")); // SubscribedTopicRegex
    }
    w.nstr(Some("uniform")); // ServerAssignor
    w.array(2); // TopicPartitions
    w.uuid(ORDERS_ID); // TopicId
    w.i32s(&[0, 1]); // Partitions
    w.no_tags();
    w.uuid(PAYMENTS_ID); // TopicId
    w.i32s(&[2]); // Partitions
    w.no_tags();
    w.no_tags();
    (value, w.done())
}

/// ConsumerGroupHeartbeatResponse (key 68), flexible in every version; the assignment
/// is a nullable struct (present in v0, null in v1).
pub fn consumer_group_heartbeat_response(v: i16) -> (ConsumerGroupHeartbeatResponse, Vec<u8>) {
    let message = (v >= 1).then_some("member epoch fenced: ¿retry?");
    let value = ConsumerGroupHeartbeatResponse {
        throttle_time_ms: 15,
        error_code: 110,
        error_message: message.map(s),
        member_id: Some(s(CGH_MEMBER)),
        member_epoch: 6,
        heartbeat_interval_ms: 5_000,
        assignment: (v == 0).then(|| Assignment {
            topic_partitions: vec![
                cgh_resp::TopicPartitions {
                    topic_id: Uuid(ORDERS_ID),
                    partitions: vec![0, 1],
                },
                cgh_resp::TopicPartitions {
                    topic_id: Uuid(PAYMENTS_ID),
                    partitions: vec![2],
                },
            ],
        }),
    };
    let mut w = W::new(true);
    w.i32(15); // ThrottleTimeMs
    w.i16(110); // ErrorCode
    w.nstr(message); // ErrorMessage
    w.nstr(Some(CGH_MEMBER)); // MemberId
    w.i32(6); // MemberEpoch
    w.i32(5_000); // HeartbeatIntervalMs
    if v == 0 {
        w.i8(1); // Assignment: present
        w.array(2); // TopicPartitions
        w.uuid(ORDERS_ID); // TopicId
        w.i32s(&[0, 1]); // Partitions
        w.no_tags();
        w.uuid(PAYMENTS_ID); // TopicId
        w.i32s(&[2]); // Partitions
        w.no_tags();
        w.no_tags(); // end of Assignment
    } else {
        w.i8(-1); // Assignment: null
    }
    w.no_tags();
    (value, w.done())
}

/// ConsumerProtocolSubscription (JoinGroup metadata), never flexible; owned partitions
/// from v1, generation from v2, rack from v3. User data is null in v2.
pub fn consumer_protocol_subscription(v: i16) -> (ConsumerProtocolSubscription, Vec<u8>) {
    let user_data: Option<&'static [u8]> = (v != 2).then_some(b"\x01\x02user-data");
    let value = ConsumerProtocolSubscription {
        topics: vec![s("orders"), s("payments")],
        user_data: user_data.map(Bytes::from_static),
        owned_partitions: if v >= 1 {
            vec![
                cps::TopicPartition {
                    topic: s("orders"),
                    partitions: vec![0, 1],
                },
                cps::TopicPartition {
                    topic: s("payments"),
                    partitions: vec![2],
                },
            ]
        } else {
            vec![]
        },
        generation_id: if v >= 2 { 12 } else { -1 },
        rack_id: (v >= 3).then(|| s("eu-west-1a")),
    };
    let mut w = W::new(false);
    w.strs(&["orders", "payments"]); // Topics
    w.nbytes(user_data); // UserData
    if v >= 1 {
        w.array(2); // OwnedPartitions
        w.str("orders"); // Topic
        w.i32s(&[0, 1]); // Partitions
        w.str("payments"); // Topic
        w.i32s(&[2]); // Partitions
    }
    if v >= 2 {
        w.i32(12); // GenerationId
    }
    if v >= 3 {
        w.nstr(Some("eu-west-1a")); // RackId
    }
    (value, w.done())
}

/// ConsumerProtocolAssignment (SyncGroup assignment), never flexible; the same fields
/// in every version. User data is null in v1.
pub fn consumer_protocol_assignment(v: i16) -> (ConsumerProtocolAssignment, Vec<u8>) {
    let user_data: Option<&'static [u8]> = (v != 1).then_some(b"\xca\xfe");
    let value = ConsumerProtocolAssignment {
        assigned_partitions: vec![
            cpa::TopicPartition {
                topic: s("orders"),
                partitions: vec![0, 1],
            },
            cpa::TopicPartition {
                topic: s("payments"),
                partitions: vec![2],
            },
        ],
        user_data: user_data.map(Bytes::from_static),
    };
    let mut w = W::new(false);
    w.array(2); // AssignedPartitions
    w.str("orders"); // Topic
    w.i32s(&[0, 1]); // Partitions
    w.str("payments"); // Topic
    w.i32s(&[2]); // Partitions
    w.nbytes(user_data); // UserData
    (value, w.done())
}
