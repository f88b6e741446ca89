//! Bytes captured from brokers nobody here wrote — the tansu broker and librdkafka's
//! mock cluster, talking to librdkafka (scripts/capture-fixtures.sh) — decoded by
//! kasio and checked field by field against what the capture run produced.

use std::fs;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use kasio_core::codec::{DecodeErrorKind, RequestHeader, ResponseHeader};
use kasio_core::protocol::consumer_protocol::decode_versioned;
use kasio_core::protocol::messages::*;
use kasio_core::protocol::versions::NegotiationOutcome;
use kasio_core::protocol::{ApiKey, ApiVersionsNegotiation, ErrorCode, Message};
use kasio_core::records::{DecodeOptions, Fetched, PartitionRecords};
use serde_json::Value;

const BROKERS: [&str; 2] = ["tansu", "librdkafka-mock"];

struct Row {
    api_key: i16,
    version: i16,
    request: bool,
    file: String,
    note: String,
}

fn dir(broker: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/captured")
        .join(broker)
}

fn manifest(broker: &str) -> Vec<Row> {
    let text = fs::read_to_string(dir(broker).join("manifest.tsv")).expect("manifest");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("api_key"))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Row {
                api_key: f[0].parse().unwrap(),
                version: f[2].parse().unwrap(),
                request: f[4] == "request",
                file: f[5].to_string(),
                note: f[10].to_string(),
            }
        })
        .collect()
}

fn frame(broker: &str, file: &str) -> Bytes {
    Bytes::from(fs::read(dir(broker).join(file)).expect("fixture"))
}

fn produced(broker: &str) -> Value {
    serde_json::from_str(&fs::read_to_string(dir(broker).join("produced.json")).unwrap()).unwrap()
}

/// The body of a captured frame, after its header.
fn body(broker: &str, row: &Row) -> Bytes {
    let api = ApiKey::from_i16(row.api_key).unwrap();
    let f = frame(broker, &row.file);
    if row.request {
        let (h, body) = RequestHeader::decode(api.request_header_version(row.version), &f).unwrap();
        assert_eq!((h.api_key, h.api_version), (row.api_key, row.version));
        assert!(h.client_id.is_some(), "librdkafka always sends a client id");
        body
    } else {
        ResponseHeader::decode(api.response_header_version(row.version), &f)
            .unwrap()
            .1
    }
}

fn find<'a>(rows: &'a [Row], api: ApiKey, request: bool, note: &str) -> &'a Row {
    rows.iter()
        .find(|r| r.api_key == api.key() && r.request == request && r.note.starts_with(note))
        .unwrap_or_else(|| {
            panic!(
                "no {api:?} {} with note {note}",
                if request { "request" } else { "response" }
            )
        })
}

/// Every captured frame of an API kasio speaks decodes exactly (no byte left over) at
/// its version; every request re-encodes to the very bytes librdkafka sent.
#[test]
fn every_captured_frame_decodes() {
    let mut decoded = 0;
    for broker in BROKERS {
        for row in manifest(broker) {
            let Some(api) = ApiKey::from_i16(row.api_key) else {
                continue;
            };
            if row.note == "no-response" && !row.request {
                continue;
            }
            let (lo, hi) = api.versions();
            if !(lo..=hi).contains(&row.version) {
                // librdkafka 2.16 speaks Metadata v13, newer than the schema kasio is
                // built from; the negotiation would never pick it. It must be refused
                // cleanly.
                let err = MetadataResponse::decode(row.version, &Bytes::new()).unwrap_err();
                assert_eq!(err.kind, DecodeErrorKind::UnsupportedVersion);
                continue;
            }
            let b = body(broker, &row);
            macro_rules! check {
                ($req:ty, $resp:ty) => {{
                    if row.request {
                        let msg = <$req>::decode_exact(row.version, &b)
                            .unwrap_or_else(|e| panic!("{broker} {}: {e}", row.file));
                        let mut again = BytesMut::new();
                        msg.encode(row.version, &mut again).unwrap();
                        assert_eq!(
                            again.freeze(),
                            b,
                            "{broker} {}: re-encoding differs",
                            row.file
                        );
                    } else if api == ApiKey::ApiVersions && row.note == "error=35" {
                        // The mock's UNSUPPORTED_VERSION reply parses as no version
                        // (see api_versions_from_both_brokers): the negotiation copes.
                        let n = ApiVersionsNegotiation::starting_at(row.version);
                        let (resp, v) = n.decode_response(&b).unwrap();
                        assert_eq!((resp.error_code, v), (35, 0));
                    } else {
                        <$resp>::decode_exact(row.version, &b)
                            .unwrap_or_else(|e| panic!("{broker} {}: {e}", row.file));
                    }
                }};
            }
            match api {
                ApiKey::Fetch => check!(FetchRequest, FetchResponse),
                ApiKey::ListOffsets => check!(ListOffsetsRequest, ListOffsetsResponse),
                ApiKey::Metadata => check!(MetadataRequest, MetadataResponse),
                ApiKey::OffsetCommit => check!(OffsetCommitRequest, OffsetCommitResponse),
                ApiKey::OffsetFetch => check!(OffsetFetchRequest, OffsetFetchResponse),
                ApiKey::FindCoordinator => check!(FindCoordinatorRequest, FindCoordinatorResponse),
                ApiKey::JoinGroup => check!(JoinGroupRequest, JoinGroupResponse),
                ApiKey::Heartbeat => check!(HeartbeatRequest, HeartbeatResponse),
                ApiKey::LeaveGroup => check!(LeaveGroupRequest, LeaveGroupResponse),
                ApiKey::SyncGroup => check!(SyncGroupRequest, SyncGroupResponse),
                ApiKey::ApiVersions => check!(ApiVersionsRequest, ApiVersionsResponse),
                other => panic!("no fixture expected for {other:?}"),
            }
            decoded += 1;
        }
    }
    assert!(decoded >= 60, "only {decoded} frames decoded");
}

#[test]
fn api_versions_from_both_brokers() {
    // tansu answers v3 directly.
    let rows = manifest("tansu");
    let row = find(&rows, ApiKey::ApiVersions, false, "error=0");
    let mut n = ApiVersionsNegotiation::starting_at(row.version);
    let (resp, v) = n.decode_response(&body("tansu", row)).unwrap();
    assert_eq!((v, resp.error_code), (row.version, 0));
    let NegotiationOutcome::Done(versions) = n.on_response(&resp, ApiKey::versions) else {
        panic!()
    };
    assert!(versions.version(ApiKey::Fetch).unwrap() >= 12);
    assert!(versions.version(ApiKey::Metadata).is_some());
    assert_eq!(
        versions.version(ApiKey::OffsetForLeaderEpoch),
        None,
        "tansu has no OffsetForLeaderEpoch"
    );
    assert_eq!(versions.version(ApiKey::ConsumerGroupHeartbeat), None);

    // The mock rejects v3 with a v0 UNSUPPORTED_VERSION reply; kasio retries lower.
    let rows = manifest("librdkafka-mock");
    let row = find(&rows, ApiKey::ApiVersions, false, "error=35");
    let mut n = ApiVersionsNegotiation::starting_at(row.version);
    let (resp, v) = n.decode_response(&body("librdkafka-mock", row)).unwrap();
    assert_eq!(
        (v, ErrorCode::from_code(resp.error_code)),
        (0, ErrorCode::UnsupportedVersion)
    );
    let NegotiationOutcome::Retry(next) = n.on_response(&resp, ApiKey::versions) else {
        panic!()
    };
    assert!(next < 3);
    let row = find(&rows, ApiKey::ApiVersions, false, "error=0");
    let resp = ApiVersionsResponse::decode_exact(0, &body("librdkafka-mock", row)).unwrap();
    let ovl = resp
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::OffsetForLeaderEpoch.key());
    assert!(ovl.is_some(), "the mock offers OffsetForLeaderEpoch");
}

#[test]
fn metadata_names_the_topic_and_the_advertised_broker() {
    for broker in BROKERS {
        let p = produced(broker);
        let topic = p["topic"].as_str().unwrap();
        let partitions = p["partitions"].as_u64().unwrap() as usize;
        let rows = manifest(broker);
        let row = find(&rows, ApiKey::Metadata, false, "-");
        if row.version > 12 {
            continue; // see every_captured_frame_decodes
        }
        let resp = MetadataResponse::decode_exact(row.version, &body(broker, row)).unwrap();
        assert!(!resp.brokers.is_empty());
        assert!(resp
            .brokers
            .iter()
            .all(|b| b.host == "127.0.0.1" && b.port > 0));
        let t = resp
            .topics
            .iter()
            .find(|t| t.name.as_deref() == Some(topic))
            .expect("topic listed");
        assert_eq!(t.error_code, 0);
        assert_eq!(t.partitions.len(), partitions);
        assert!(t
            .partitions
            .iter()
            .all(|p| p.leader_id == resp.brokers[0].node_id));
    }
}

#[test]
fn group_join_sync_and_offsets() {
    for broker in BROKERS {
        let p = produced(broker);
        let topic = p["topic"].as_str().unwrap();
        let group = p["group"].as_str().unwrap();
        let rows = manifest(broker);

        let fc = find(&rows, ApiKey::FindCoordinator, false, "error=0");
        let fc = FindCoordinatorResponse::decode_exact(fc.version, &body(broker, fc)).unwrap();
        assert_eq!((fc.error_code, fc.host.as_str()), (0, "127.0.0.1"));

        // The JoinGroup request's protocol metadata is an embedded subscription.
        let jr = rows.iter().find(|r| r.api_key == 11 && r.request).unwrap();
        let join = JoinGroupRequest::decode_exact(jr.version, &body(broker, jr)).unwrap();
        assert_eq!(join.group_id, group);
        assert_eq!(join.protocol_type, "consumer");
        let (sub, _) =
            decode_versioned::<ConsumerProtocolSubscription>(&join.protocols[0].metadata).unwrap();
        assert_eq!(sub.topics, [topic]);

        let ok = find(&rows, ApiKey::JoinGroup, false, "error=0");
        let joined = JoinGroupResponse::decode_exact(ok.version, &body(broker, ok)).unwrap();
        assert!(!joined.member_id.is_empty());
        assert!(
            joined.generation_id >= 0,
            "generation {}",
            joined.generation_id
        );
        assert_eq!(joined.leader, joined.member_id, "a lone member leads");

        // The leader's assignment, embedded in SyncGroup, covers every partition.
        let sync = find(&rows, ApiKey::SyncGroup, false, "error=0");
        let sync = SyncGroupResponse::decode_exact(sync.version, &body(broker, sync)).unwrap();
        assert_eq!(sync.error_code, 0);
        let (assignment, _) =
            decode_versioned::<ConsumerProtocolAssignment>(&sync.assignment).unwrap();
        assert_eq!(assignment.assigned_partitions.len(), 1);
        assert_eq!(assignment.assigned_partitions[0].topic, topic);
        let mut parts = assignment.assigned_partitions[0].partitions.clone();
        parts.sort();
        assert_eq!(
            parts,
            (0..p["partitions"].as_i64().unwrap() as i32).collect::<Vec<_>>()
        );

        let of = rows.iter().find(|r| r.api_key == 9 && !r.request).unwrap();
        let of = OffsetFetchResponse::decode_exact(of.version, &body(broker, of)).unwrap();
        assert_eq!(of.error_code, 0);
    }
    // tansu asks a new member to rejoin with the id it assigned (KIP-394).
    let rows = manifest("tansu");
    let first = find(&rows, ApiKey::JoinGroup, false, "error=79");
    let first = JoinGroupResponse::decode_exact(first.version, &body("tansu", first)).unwrap();
    assert_eq!(
        ErrorCode::from_code(first.error_code),
        ErrorCode::MemberIdRequired
    );
    assert!(!first.member_id.is_empty());
}

#[test]
fn list_offsets_earliest() {
    for broker in BROKERS {
        let rows = manifest(broker);
        let req = find(&rows, ApiKey::ListOffsets, true, "earliest");
        let req = ListOffsetsRequest::decode_exact(req.version, &body(broker, req)).unwrap();
        assert_eq!(req.topics[0].partitions[0].timestamp, -2);
        let resp = find(&rows, ApiKey::ListOffsets, false, "earliest");
        let resp = ListOffsetsResponse::decode_exact(resp.version, &body(broker, resp)).unwrap();
        let p = &resp.topics[0].partitions[0];
        assert_eq!((p.error_code, p.offset), (0, 0));
    }
}

/// The records in captured Fetch responses are exactly what the producer wrote.
#[test]
fn fetched_records_equal_what_was_produced() {
    for broker in BROKERS {
        let p = produced(broker);
        let topic = p["topic"].as_str().unwrap();
        let produced = p["produced"].as_array().unwrap();
        let rows = manifest(broker);
        let mut checked = 0;
        for row in rows
            .iter()
            .filter(|r| r.api_key == 1 && !r.request && r.note.starts_with("records:"))
        {
            // note: records:p<partition>=<bytes>B,hw=<high watermark>
            let (part, rest) = row.note["records:p".len()..].split_once('=').unwrap();
            let partition: i32 = part.parse().unwrap();
            let (size, hw) = rest.split_once("B,hw=").unwrap();
            let resp = FetchResponse::decode_exact(row.version, &body(broker, row)).unwrap();
            assert_eq!(resp.error_code, 0);
            let t = &resp.responses[0];
            assert!(t.topic == topic || !t.topic_id.is_zero());
            let pd = t
                .partitions
                .iter()
                .find(|d| d.partition_index == partition)
                .unwrap();
            assert_eq!(pd.high_watermark, hw.parse::<i64>().unwrap());
            let records = pd.records.clone().unwrap();
            assert_eq!(records.len(), size.parse::<usize>().unwrap());
            let expected: Vec<&Value> = produced
                .iter()
                .filter(|r| r["partition"] == partition)
                .collect();
            let mut got = 0;
            for item in PartitionRecords::new(records, 0, DecodeOptions::default()) {
                let Fetched::Record(r) = item.unwrap() else {
                    panic!("control batch")
                };
                let e = expected
                    .iter()
                    .find(|e| e["offset"] == r.offset)
                    .expect("produced record");
                assert_eq!(r.timestamp, e["timestamp"].as_i64().unwrap());
                assert_eq!(
                    r.key.as_deref().map(hex),
                    e["key"]
                        .get("hex")
                        .and_then(Value::as_str)
                        .map(String::from)
                );
                assert_eq!(
                    r.value.as_deref().map(hex),
                    e["value"]
                        .get("hex")
                        .and_then(Value::as_str)
                        .map(String::from)
                );
                let headers: Vec<(String, Option<String>)> = r
                    .headers()
                    .map(|h| (h.key.to_string(), h.value.map(hex)))
                    .collect();
                let want: Vec<(String, Option<String>)> = e["headers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| {
                        (
                            h["key"].as_str().unwrap().to_string(),
                            h["value"]
                                .get("hex")
                                .and_then(Value::as_str)
                                .map(String::from),
                        )
                    })
                    .collect();
                assert_eq!(headers, want);
                got += 1;
            }
            assert_eq!(got, expected.len(), "{broker} partition {partition}");
            checked += got;
        }
        assert!(checked >= 3, "{broker}: only {checked} records checked");
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
