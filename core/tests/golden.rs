//! Golden-bytes tests for the wire codec.
//!
//! The expected bytes are built field by field from Kafka's message schemas and the
//! primitive types of `protocol.html` by a small test-only builder ([`wire::W`]) that
//! never calls kasio's encoders. Each case function returns, for one version, a value
//! with non-default data in every field that version carries and its golden bytes; the
//! harness checks that the value encodes to exactly those bytes, that the bytes decode
//! back to the value, and that every strict prefix of them fails to decode.
//!
//! Every version of every message is covered (which includes the lowest, the highest
//! and each version where a field appears or the encoding turns flexible).

#[path = "golden/cluster.rs"]
mod cluster;
#[path = "golden/fetch.rs"]
mod fetch;
#[path = "golden/group.rs"]
mod group;
#[path = "golden/offsets.rs"]
mod offsets;
#[path = "golden/wire.rs"]
mod wire;

use bytes::{Bytes, BytesMut};
use kasio_core::codec::{RequestHeader, ResponseHeader};
use kasio_core::protocol::messages::api_versions_response::{ApiVersion, ApiVersionsResponse};
use kasio_core::protocol::messages::*;
use kasio_core::protocol::{ApiKey, Message};

use wire::{hex, W};

/// A group id with a non-ASCII character (ñ is two bytes in UTF-8).
pub const GROUP: &str = "grupo-señal";
pub const ORDERS_ID: [u8; 16] = *b"orders-topic-id!";
pub const PAYMENTS_ID: [u8; 16] = *b"payments-topicid";
pub const OLD_ID: [u8; 16] = *b"old-topic-id-000";
pub const DIR_ID: [u8; 16] = *b"replica-dir-id-3";

macro_rules! golden {
    ($($test:ident: $ty:ty => $case:path;)*) => {$(
        #[test]
        fn $test() {
            wire::run_all::<$ty>(stringify!($ty), $case);
        }
    )*};
}

golden! {
    api_versions_request: ApiVersionsRequest => cluster::api_versions_request;
    api_versions_response: ApiVersionsResponse => cluster::api_versions_response;
    metadata_request: MetadataRequest => cluster::metadata_request;
    metadata_response: MetadataResponse => cluster::metadata_response;
    find_coordinator_request: FindCoordinatorRequest => cluster::find_coordinator_request;
    find_coordinator_response: FindCoordinatorResponse => cluster::find_coordinator_response;
    sasl_handshake_request: SaslHandshakeRequest => cluster::sasl_handshake_request;
    sasl_handshake_response: SaslHandshakeResponse => cluster::sasl_handshake_response;
    sasl_authenticate_request: SaslAuthenticateRequest => cluster::sasl_authenticate_request;
    sasl_authenticate_response: SaslAuthenticateResponse => cluster::sasl_authenticate_response;
    join_group_request: JoinGroupRequest => group::join_group_request;
    join_group_response: JoinGroupResponse => group::join_group_response;
    sync_group_request: SyncGroupRequest => group::sync_group_request;
    sync_group_response: SyncGroupResponse => group::sync_group_response;
    heartbeat_request: HeartbeatRequest => group::heartbeat_request;
    heartbeat_response: HeartbeatResponse => group::heartbeat_response;
    leave_group_request: LeaveGroupRequest => group::leave_group_request;
    leave_group_response: LeaveGroupResponse => group::leave_group_response;
    describe_groups_request: DescribeGroupsRequest => group::describe_groups_request;
    describe_groups_response: DescribeGroupsResponse => group::describe_groups_response;
    consumer_group_heartbeat_request: ConsumerGroupHeartbeatRequest => group::consumer_group_heartbeat_request;
    consumer_group_heartbeat_response: ConsumerGroupHeartbeatResponse => group::consumer_group_heartbeat_response;
    offset_commit_request: OffsetCommitRequest => offsets::offset_commit_request;
    offset_commit_response: OffsetCommitResponse => offsets::offset_commit_response;
    offset_fetch_request: OffsetFetchRequest => offsets::offset_fetch_request;
    offset_fetch_response: OffsetFetchResponse => offsets::offset_fetch_response;
    list_offsets_request: ListOffsetsRequest => offsets::list_offsets_request;
    list_offsets_response: ListOffsetsResponse => offsets::list_offsets_response;
    offset_for_leader_epoch_request: OffsetForLeaderEpochRequest => offsets::offset_for_leader_epoch_request;
    offset_for_leader_epoch_response: OffsetForLeaderEpochResponse => offsets::offset_for_leader_epoch_response;
    fetch_request: FetchRequest => fetch::fetch_request;
    fetch_response: FetchResponse => fetch::fetch_response;
}

#[test]
fn metadata_request_null_topics() {
    wire::run::<MetadataRequest>(
        "MetadataRequest (all topics)",
        1..=12,
        cluster::metadata_request_all_topics,
    );
}

#[test]
fn offset_fetch_request_null_topics() {
    wire::run::<OffsetFetchRequest>(
        "OffsetFetchRequest (all topics)",
        2..=7,
        offsets::offset_fetch_request_all_topics,
    );
}

#[test]
fn long_lengths_take_multi_byte_varints() {
    wire::run_all::<SaslAuthenticateRequest>(
        "SaslAuthenticateRequest (127 bytes)",
        cluster::sasl_authenticate_request_long,
    );
    wire::run_all::<ApiVersionsResponse>(
        "ApiVersionsResponse (130 keys)",
        cluster::api_versions_response_large,
    );
}

#[test]
fn consumer_protocol_subscription() {
    wire::run_all_versioned::<ConsumerProtocolSubscription>(
        "ConsumerProtocolSubscription",
        group::consumer_protocol_subscription,
    );
}

#[test]
fn consumer_protocol_assignment() {
    wire::run_all_versioned::<ConsumerProtocolAssignment>(
        "ConsumerProtocolAssignment",
        group::consumer_protocol_assignment,
    );
}

/// The version ranges and first flexible versions of the schemas (`validVersions`,
/// `flexibleVersions`): the sweep above runs over `M::VERSIONS`, so hold those here.
#[test]
fn versions_match_the_schemas() {
    /// (lowest, highest, first flexible)
    type Versions = (i16, i16, Option<i16>);
    fn of<M: Message>() -> Versions {
        (M::VERSIONS.0, M::VERSIONS.1, M::FLEXIBLE_SINCE)
    }
    let table: &[(&str, Versions, Versions)] = &[
        (
            "ApiVersionsRequest",
            of::<ApiVersionsRequest>(),
            (0, 4, Some(3)),
        ),
        (
            "ApiVersionsResponse",
            of::<ApiVersionsResponse>(),
            (0, 4, Some(3)),
        ),
        ("MetadataRequest", of::<MetadataRequest>(), (0, 12, Some(9))),
        (
            "MetadataResponse",
            of::<MetadataResponse>(),
            (0, 12, Some(9)),
        ),
        (
            "FindCoordinatorRequest",
            of::<FindCoordinatorRequest>(),
            (0, 6, Some(3)),
        ),
        (
            "FindCoordinatorResponse",
            of::<FindCoordinatorResponse>(),
            (0, 6, Some(3)),
        ),
        (
            "JoinGroupRequest",
            of::<JoinGroupRequest>(),
            (0, 9, Some(6)),
        ),
        (
            "JoinGroupResponse",
            of::<JoinGroupResponse>(),
            (0, 9, Some(6)),
        ),
        (
            "SyncGroupRequest",
            of::<SyncGroupRequest>(),
            (0, 5, Some(4)),
        ),
        (
            "SyncGroupResponse",
            of::<SyncGroupResponse>(),
            (0, 5, Some(4)),
        ),
        (
            "HeartbeatRequest",
            of::<HeartbeatRequest>(),
            (0, 4, Some(4)),
        ),
        (
            "HeartbeatResponse",
            of::<HeartbeatResponse>(),
            (0, 4, Some(4)),
        ),
        (
            "LeaveGroupRequest",
            of::<LeaveGroupRequest>(),
            (0, 5, Some(4)),
        ),
        (
            "LeaveGroupResponse",
            of::<LeaveGroupResponse>(),
            (0, 5, Some(4)),
        ),
        (
            "OffsetCommitRequest",
            of::<OffsetCommitRequest>(),
            (0, 9, Some(8)),
        ),
        (
            "OffsetCommitResponse",
            of::<OffsetCommitResponse>(),
            (0, 9, Some(8)),
        ),
        (
            "OffsetFetchRequest",
            of::<OffsetFetchRequest>(),
            (0, 9, Some(6)),
        ),
        (
            "OffsetFetchResponse",
            of::<OffsetFetchResponse>(),
            (0, 9, Some(6)),
        ),
        (
            "ListOffsetsRequest",
            of::<ListOffsetsRequest>(),
            (0, 10, Some(6)),
        ),
        (
            "ListOffsetsResponse",
            of::<ListOffsetsResponse>(),
            (0, 10, Some(6)),
        ),
        ("FetchRequest", of::<FetchRequest>(), (0, 17, Some(12))),
        ("FetchResponse", of::<FetchResponse>(), (0, 17, Some(12))),
        (
            "OffsetForLeaderEpochRequest",
            of::<OffsetForLeaderEpochRequest>(),
            (0, 4, Some(4)),
        ),
        (
            "OffsetForLeaderEpochResponse",
            of::<OffsetForLeaderEpochResponse>(),
            (0, 4, Some(4)),
        ),
        (
            "ConsumerGroupHeartbeatRequest",
            of::<ConsumerGroupHeartbeatRequest>(),
            (0, 1, Some(0)),
        ),
        (
            "ConsumerGroupHeartbeatResponse",
            of::<ConsumerGroupHeartbeatResponse>(),
            (0, 1, Some(0)),
        ),
        (
            "SaslHandshakeRequest",
            of::<SaslHandshakeRequest>(),
            (0, 1, None),
        ),
        (
            "SaslHandshakeResponse",
            of::<SaslHandshakeResponse>(),
            (0, 1, None),
        ),
        (
            "SaslAuthenticateRequest",
            of::<SaslAuthenticateRequest>(),
            (0, 2, Some(2)),
        ),
        (
            "SaslAuthenticateResponse",
            of::<SaslAuthenticateResponse>(),
            (0, 2, Some(2)),
        ),
        (
            "DescribeGroupsRequest",
            of::<DescribeGroupsRequest>(),
            (0, 5, Some(5)),
        ),
        (
            "DescribeGroupsResponse",
            of::<DescribeGroupsResponse>(),
            (0, 5, Some(5)),
        ),
        (
            "ConsumerProtocolSubscription",
            of::<ConsumerProtocolSubscription>(),
            (0, 3, None),
        ),
        (
            "ConsumerProtocolAssignment",
            of::<ConsumerProtocolAssignment>(),
            (0, 3, None),
        ),
    ];
    let wrong: Vec<String> = table
        .iter()
        .filter(|(_, got, want)| got != want)
        .map(|(name, got, want)| format!("{name}: codec {got:?}, schema {want:?}"))
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The builder itself, against literal bytes from `protocol.html`'s definitions.
#[test]
fn oracle_builder_matches_protocol_html() {
    let bytes = |flex: bool, f: fn(&mut W)| {
        let mut w = W::new(flex);
        f(&mut w);
        w.done()
    };
    assert_eq!(bytes(false, |w| w.uvarint(0)), [0x00]);
    assert_eq!(bytes(false, |w| w.uvarint(127)), [0x7f]);
    assert_eq!(bytes(false, |w| w.uvarint(128)), [0x80, 0x01]);
    assert_eq!(bytes(false, |w| w.uvarint(300)), [0xac, 0x02]);
    assert_eq!(bytes(false, |w| w.uvarint(16_384)), [0x80, 0x80, 0x01]);
    assert_eq!(bytes(false, |w| w.str("ñ")), [0x00, 0x02, 0xc3, 0xb1]);
    assert_eq!(bytes(true, |w| w.str("ñ")), [0x03, 0xc3, 0xb1]);
    assert_eq!(bytes(false, |w| w.nstr(None)), [0xff, 0xff]);
    assert_eq!(bytes(true, |w| w.nstr(None)), [0x00]);
    assert_eq!(bytes(false, |w| w.bytes(b"a")), [0, 0, 0, 1, b'a']);
    assert_eq!(bytes(false, |w| w.nbytes(None)), [0xff; 4]);
    assert_eq!(bytes(true, |w| w.nbytes(None)), [0x00]);
    assert_eq!(bytes(false, |w| w.i32s(&[7])), [0, 0, 0, 1, 0, 0, 0, 7]);
    assert_eq!(bytes(true, |w| w.i32s(&[7])), [0x02, 0, 0, 0, 7]);
    assert_eq!(bytes(false, |w| w.null_array()), [0xff; 4]);
    assert_eq!(bytes(true, |w| w.null_array()), [0x00]);
    assert_eq!(bytes(true, |w| w.no_tags()), [0x00]);
    assert_eq!(bytes(false, |w| w.no_tags()), [0u8; 0]);
    assert_eq!(
        bytes(true, |w| w.tagged(300, |t| t.i16(-2))),
        [0xac, 0x02, 0x02, 0xff, 0xfe]
    );
}

/// One golden written out literally, as a second anchor for the builder.
#[test]
fn heartbeat_request_v4_literal() {
    #[rustfmt::skip]
    let golden: &[u8] = &[
        0x0d, b'g', b'r', b'u', b'p', b'o', b'-', b's', b'e', 0xc3, 0xb1, b'a', b'l', // GroupId
        0x00, 0x00, 0x00, 0x0c, // GenerationId = 12
        0x0b, b'k', b'a', b's', b'i', b'o', b'-', b'7', b'f', b'3', b'a', // MemberId
        0x00, // GroupInstanceId = null
        0x00, // no tagged fields
    ];
    let (value, built) = group::heartbeat_request(4);
    assert_eq!(built, golden);
    wire::check("HeartbeatRequest", 4, &value, golden).unwrap_or_else(|e| panic!("{e}"));
}

// ---------------------------------------------------------------------------------
// Headers

fn request_header_golden(header_version: i16, client_id: Option<&str>) -> Vec<u8> {
    let mut w = W::new(false);
    w.i16(3); // RequestApiKey (Metadata)
    w.i16(12); // RequestApiVersion
    w.i32(0x0102_0304); // CorrelationId
    w.classic_nstr(client_id); // ClientId: a classic NULLABLE_STRING in v1 and v2
    if header_version >= 2 {
        w.uvarint(0); // tagged fields
    }
    w.done()
}

#[test]
fn request_headers() {
    let client = "kasio-ü";
    // The builder against a literal: v2 with a client id.
    assert_eq!(
        request_header_golden(2, Some(client)),
        [
            0x00, 0x03, 0x00, 0x0c, 0x01, 0x02, 0x03, 0x04, 0x00, 0x08, b'k', b'a', b's', b'i',
            b'o', b'-', 0xc3, 0xbc, 0x00
        ]
    );
    for header_version in [1, 2] {
        for client_id in [Some(client), None] {
            let header = RequestHeader {
                api_key: 3,
                api_version: 12,
                correlation_id: 0x0102_0304,
                client_id: client_id.map(str::to_owned),
            };
            let golden = request_header_golden(header_version, client_id);
            let what = format!("request header v{header_version} client_id {client_id:?}");
            let mut buf = BytesMut::new();
            header.encode(header_version, &mut buf).unwrap();
            assert_eq!(buf[..], golden[..], "{what}: {}", hex(&buf));

            let mut frame = golden.clone();
            frame.extend_from_slice(&[0xde, 0xad]); // a body follows
            let (decoded, body) =
                RequestHeader::decode(header_version, &Bytes::from(frame)).unwrap();
            assert_eq!(decoded, header, "{what}");
            assert_eq!(body[..], [0xde, 0xad], "{what}");
            let golden = Bytes::from(golden);
            for len in 0..golden.len() {
                assert!(
                    RequestHeader::decode(header_version, &golden.slice(..len)).is_err(),
                    "{what}: truncated to {len} bytes decoded"
                );
            }
        }
    }
}

#[test]
fn response_headers() {
    for (header_version, golden) in [
        (0, &[0x7f, 0xff, 0xff, 0xfe][..]),       // CorrelationId
        (1, &[0x7f, 0xff, 0xff, 0xfe, 0x00][..]), // CorrelationId, no tagged fields
    ] {
        let header = ResponseHeader {
            correlation_id: 0x7fff_fffe,
        };
        let mut buf = BytesMut::new();
        header.encode(header_version, &mut buf);
        assert_eq!(buf[..], golden[..], "response header v{header_version}");
        let mut frame = golden.to_vec();
        frame.push(0x42);
        let (decoded, body) = ResponseHeader::decode(header_version, &Bytes::from(frame)).unwrap();
        assert_eq!(decoded, header);
        assert_eq!(body[..], [0x42]);
        let golden = Bytes::copy_from_slice(golden);
        for len in 0..golden.len() {
            assert!(
                ResponseHeader::decode(header_version, &golden.slice(..len)).is_err(),
                "response header v{header_version}: truncated to {len} bytes decoded"
            );
        }
    }
}

#[test]
fn header_versions() {
    // Request header v2 and response header v1 exactly for flexible versions, except
    // that ApiVersions responses always use response header v0.
    let cases = [
        (ApiKey::ApiVersions, 2, 1, 0),
        (ApiKey::ApiVersions, 3, 2, 0),
        (ApiKey::ApiVersions, 4, 2, 0),
        (ApiKey::Fetch, 11, 1, 0),
        (ApiKey::Fetch, 12, 2, 1),
        (ApiKey::Metadata, 8, 1, 0),
        (ApiKey::Metadata, 9, 2, 1),
        (ApiKey::Heartbeat, 4, 2, 1),
        (ApiKey::SaslHandshake, 1, 1, 0),
        (ApiKey::SaslAuthenticate, 2, 2, 1),
        (ApiKey::ConsumerGroupHeartbeat, 0, 2, 1),
    ];
    for (key, version, request, response) in cases {
        assert_eq!(
            (
                key.request_header_version(version),
                key.response_header_version(version)
            ),
            (request, response),
            "{key:?} v{version}"
        );
    }
}

// ---------------------------------------------------------------------------------
// Unknown tagged fields are skipped

#[test]
fn unknown_tag_at_top_level_is_skipped() {
    let mut w = W::new(true);
    w.str(GROUP); // GroupId
    w.i32(12); // GenerationId
    w.str("kasio-7f3a"); // MemberId
    w.nstr(None); // GroupInstanceId
    w.uvarint(1); // tagged fields
    w.tagged(99, |t| t.raw(&[0xaa, 0xbb, 0xcc])); // unknown tag 99
    let golden = Bytes::from(w.done());
    let decoded = HeartbeatRequest::decode_exact(4, &golden).expect("unknown tag 99");
    assert_eq!(decoded, group::heartbeat_request(4).0);
}

#[test]
fn unknown_tags_among_known_ones_and_in_nested_structs_are_skipped() {
    let mut w = W::new(true);
    w.i16(0); // ErrorCode
    w.array(1); // ApiKeys
    w.i16(18); // ApiKey
    w.i16(0); // MinVersion
    w.i16(4); // MaxVersion
    w.uvarint(1); // tagged fields of the ApiVersion entry
    w.tagged(99, |t| t.raw(&[0x01, 0x02])); // unknown
    w.i32(0); // ThrottleTimeMs
    w.uvarint(3); // tagged fields
    w.tagged(1, |t| t.i64(42)); // FinalizedFeaturesEpoch
    w.tagged(99, |t| t.raw(&[])); // unknown, empty
    w.tagged(300, |t| t.raw(&[0x5a; 130])); // unknown, two-byte tag and size
    let golden = Bytes::from(w.done());
    let expected = ApiVersionsResponse {
        error_code: 0,
        api_keys: vec![ApiVersion {
            api_key: 18,
            min_version: 0,
            max_version: 4,
        }],
        throttle_time_ms: 0,
        finalized_features_epoch: 42,
        ..Default::default()
    };
    let decoded = ApiVersionsResponse::decode_exact(3, &golden).expect("unknown tags");
    assert_eq!(decoded, expected);
}

#[test]
fn unknown_tag_inside_a_nullable_struct_is_skipped() {
    let mut w = W::new(true);
    w.i32(15); // ThrottleTimeMs
    w.i16(110); // ErrorCode
    w.nstr(None); // ErrorMessage
    w.nstr(Some("4jYxvKk3QWSyM8b8cKMxMw")); // MemberId
    w.i32(6); // MemberEpoch
    w.i32(5_000); // HeartbeatIntervalMs
    w.i8(1); // Assignment: present
    w.array(2); // TopicPartitions
    w.uuid(ORDERS_ID); // TopicId
    w.i32s(&[0, 1]); // Partitions
    w.no_tags();
    w.uuid(PAYMENTS_ID); // TopicId
    w.i32s(&[2]); // Partitions
    w.uvarint(1); // tagged fields of the TopicPartitions entry
    w.tagged(7, |t| t.i32(-1)); // unknown
    w.uvarint(1); // tagged fields of Assignment
    w.tagged(0, |t| t.str("future")); // unknown
    w.no_tags();
    let golden = Bytes::from(w.done());
    let decoded = ConsumerGroupHeartbeatResponse::decode_exact(0, &golden).expect("unknown tags");
    assert_eq!(decoded, group::consumer_group_heartbeat_response(0).0);
}

// ---------------------------------------------------------------------------------
// Fields outside their versions and nulls outside their nullable versions

fn encode<M: Message>(value: &M, version: i16) -> Result<Vec<u8>, String> {
    let mut buf = BytesMut::new();
    value
        .encode(version, &mut buf)
        .map(|()| buf.to_vec())
        .map_err(|e| format!("{e:?}"))
}

/// A field that is not `ignorable` and holds a non-default value cannot be written in a
/// version that lacks it (the schema's `ignorable` flag; the Java client throws
/// UnsupportedVersionException).
#[test]
fn non_ignorable_fields_outside_their_versions_are_encode_errors() {
    let mut failures = Vec::new();
    let mut expect_err = |what: &str, r: Result<Vec<u8>, String>| {
        if let Ok(b) = r {
            failures.push(format!("{what}: encoded to {}", hex(&b)));
        }
    };
    // AllowAutoTopicCreation: v4+, default true.
    let (mut m, _) = cluster::metadata_request(3);
    m.allow_auto_topic_creation = false;
    expect_err(
        "MetadataRequest v3 AllowAutoTopicCreation=false",
        encode(&m, 3),
    );
    // ReplicaId: v0-14.
    let (mut m, _) = fetch::fetch_request(15);
    m.replica_id = 3;
    expect_err("FetchRequest v15 ReplicaId=3", encode(&m, 15));
    // LastFetchedEpoch: v12+, explicitly not ignorable.
    let (mut m, _) = fetch::fetch_request(11);
    m.topics[0].partitions[0].last_fetched_epoch = 6;
    expect_err("FetchRequest v11 LastFetchedEpoch=6", encode(&m, 11));
    // MaxNumOffsets: v0 only, default 1.
    let (mut m, _) = offsets::list_offsets_request(1);
    m.topics[0].partitions[0].max_num_offsets = 5;
    expect_err("ListOffsetsRequest v1 MaxNumOffsets=5", encode(&m, 1));
    // ReplicaState: tagged, v15+, not ignorable; rejected where the version is not
    // flexible (v0-11).
    let (mut m, _) = fetch::fetch_request(11);
    m.replica_state.replica_id = 3;
    expect_err("FetchRequest v11 ReplicaState.ReplicaId=3", encode(&m, 11));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A non-ignorable *tagged* field with a non-default value in a flexible version
/// before its `taggedVersions` is rejected, not silently dropped: the Java generator
/// emits the non-ignorable check for every field outside its `versions`, tagged or
/// not. (This test found the codec dropping them; kept as a regression test.)
#[test]
fn non_ignorable_tagged_fields_before_their_versions_are_encode_errors() {
    let mut failures = Vec::new();
    // FetchRequest.ReplicaState: tagged 15+, not ignorable; v14 is flexible.
    let (mut m, _) = fetch::fetch_request(14);
    m.replica_state.replica_id = 3;
    if let Ok(b) = encode(&m, 14) {
        failures.push(format!(
            "FetchRequest v14 with ReplicaState {{ replica_id: 3 }} encoded (state dropped): {}",
            hex(&b)
        ));
    }
    // FetchResponse.NodeEndpoints: tagged 16+, not ignorable; v15 is flexible.
    let mut m = fetch::fetch_response(15).0;
    m.node_endpoints = fetch::fetch_response(16).0.node_endpoints;
    if let Ok(b) = encode(&m, 15) {
        failures.push(format!(
            "FetchResponse v15 with 2 NodeEndpoints encoded (endpoints dropped): {}",
            hex(&b)
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// An `ignorable` field outside its versions is dropped: the bytes are those of the
/// value without it.
#[test]
fn ignorable_fields_outside_their_versions_are_dropped() {
    let (mut m, golden) = fetch::fetch_request(2);
    m.max_bytes = 1024; // MaxBytes: v3+, ignorable
    m.rack_id = "eu-west-1a".into(); // RackId: v11+, ignorable
    assert_eq!(encode(&m, 2).unwrap(), golden);
    let (mut m, golden) = cluster::metadata_response(0);
    m.throttle_time_ms = 10; // ThrottleTimeMs: v3+, ignorable
    m.brokers[0].rack = Some("eu-west-1a".into()); // Rack: v1+, ignorable
    assert_eq!(encode(&m, 0).unwrap(), golden);
}

#[test]
fn null_outside_nullable_versions_is_rejected() {
    // JoinGroupResponse.ProtocolName is nullable from v7 only.
    let (mut m, _) = group::join_group_response(6);
    m.protocol_name = None;
    assert!(
        encode(&m, 6).is_err(),
        "JoinGroupResponse v6 null ProtocolName encoded"
    );
    // MetadataRequest.Topics is nullable from v1 only.
    let m = MetadataRequest {
        topics: None,
        ..Default::default()
    };
    assert!(
        encode(&m, 0).is_err(),
        "MetadataRequest v0 null Topics encoded"
    );

    // Decoding: the same nulls on the wire.
    let mut w = W::new(true);
    w.i32(100); // ThrottleTimeMs
    w.i16(27); // ErrorCode
    w.i32(12); // GenerationId
    w.nstr(None); // ProtocolName: null, not allowed in v6
    w.str("kasio-7f3a"); // Leader
    w.str("kasio-7f3a"); // MemberId
    w.array(0); // Members
    w.no_tags();
    let b = Bytes::from(w.done());
    assert!(
        JoinGroupResponse::decode_exact(6, &b).is_err(),
        "v6 null ProtocolName decoded"
    );
    assert!(
        JoinGroupResponse::decode_exact(7, &b).is_err(),
        "v7 needs ProtocolType first"
    );

    let mut w = W::new(false);
    w.null_array(); // Topics: null, not allowed in v0
    let b = Bytes::from(w.done());
    assert!(
        MetadataRequest::decode_exact(0, &b).is_err(),
        "v0 null Topics decoded"
    );
    assert_eq!(
        MetadataRequest::decode_exact(1, &b).unwrap().topics,
        None,
        "v1 null Topics"
    );

    let mut w = W::new(true);
    w.i32(0); // ThrottleTimeMs
    w.array(0); // Brokers
    w.nstr(None); // ClusterId
    w.i32(-1); // ControllerId
    w.array(1); // Topics
    w.i16(100); // ErrorCode
    w.nstr(None); // Name: null, allowed from v12 only
    w.uuid(ORDERS_ID); // TopicId
    w.bool(false); // IsInternal
    w.array(0); // Partitions
    w.i32(i32::MIN); // TopicAuthorizedOperations
    w.no_tags();
    w.no_tags();
    let b = Bytes::from(w.done());
    assert!(
        MetadataResponse::decode_exact(11, &b).is_err(),
        "v11 null topic Name decoded"
    );
    assert_eq!(
        MetadataResponse::decode_exact(12, &b).unwrap().topics[0].name,
        None
    );
}

/// Embedded data newer than kasio knows is read as the newest version it knows, the
/// fields it does not know (at the end) ignored, as by the Java client.
#[test]
fn newer_consumer_protocol_versions_read_as_the_newest_known() {
    let (value, body) = group::consumer_protocol_subscription(3);
    let mut w = W::new(false);
    w.i16(7); // Version
    w.raw(&body); // the v3 fields
    w.i32(99); // a field of some future version
    let bytes = Bytes::from(w.done());
    let decoded = kasio_core::protocol::consumer_protocol::decode_versioned(&bytes);
    assert_eq!(decoded.unwrap(), (value, 3));
}
