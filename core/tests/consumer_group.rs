//! The classic group member against a scripted coordinator: transcripts of join →
//! sync → stable → rebalance → leave, rows of the error table, and the bugs other
//! clients shipped (GROUPS.md), each as a test that would have caught it.

mod support;

use bytes::Bytes;
use kasio_core::consumer::{Event, TopicPartition, UsageError};
use kasio_core::group::assignor::sticky_user_data;
use kasio_core::group::{
    Cause, CommitError, MemberState, OffsetAndMetadata, RebalanceToken, Transition,
};
use kasio_core::protocol::consumer_protocol::{decode_versioned, encode_versioned};
use kasio_core::protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
use kasio_core::protocol::messages::join_group_response::JoinGroupResponseMember;
use kasio_core::protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kasio_core::protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartitions, OffsetFetchResponseTopics,
};
use kasio_core::protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, FetchRequest, FindCoordinatorRequest,
    HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest,
    LeaveGroupResponse, ListOffsetsRequest, OffsetCommitRequest, OffsetCommitResponse,
    OffsetFetchRequest, OffsetFetchResponse, SyncGroupRequest, SyncGroupResponse,
};
use kasio_core::protocol::ErrorCode;
use support::*;

const GROUP: &str = "g";

fn group_harness(extra: &[(&str, &str)], partitions: i32) -> Harness {
    let mut pairs = vec![
        ("group.id", GROUP),
        ("partition.assignment.strategy", "range"),
        ("session.timeout.ms", "10000"),
        ("heartbeat.interval.ms", "3000"),
        ("max.poll.interval.ms", "60000"),
        ("auto.commit.interval.ms", "5000"),
    ];
    pairs.extend_from_slice(extra);
    Harness::new(&pairs, 1, partitions)
}

fn assignment_bytes(parts: &[i32]) -> Bytes {
    let a = ConsumerProtocolAssignment {
        assigned_partitions: vec![AssignedTopic {
            topic: TOPIC.into(),
            partitions: parts.to_vec(),
        }],
        user_data: None,
    };
    encode_versioned(&a, 3).unwrap()
}

/// Bootstrap, metadata and FindCoordinator (broker 1), then the coordinator
/// connection: returns the first JoinGroup.
fn to_first_join(h: &mut Harness) -> Req<JoinGroupRequest> {
    h.c.subscribe([TOPIC]).unwrap();
    h.drain();
    h.connect_and_negotiate(-1, &Versions::all());
    h.answer_any_metadata();
    answer_find(h);
    h.connect_and_negotiate(1, &Versions::all());
    h.expect_api::<JoinGroupRequest>(1)
}

/// The member looks for its coordinator again: FindCoordinator (on a data
/// connection) names broker 1, and the member connects to it.
fn coordinator_found_again(h: &mut Harness) {
    answer_find(h);
    while h.is_connecting(1) {
        h.connect_and_negotiate(1, &Versions::all());
    }
}

/// A member with `extra` properties, stable with `parts` of `partitions`
/// assigned from `offset`, its events taken.
fn stable_harness(extra: &[(&str, &str)], partitions: i32, parts: &[i32], offset: i64) -> Harness {
    let mut h = group_harness(extra, partitions);
    stable(&mut h, parts, offset);
    h.take_events();
    h
}

/// Three seconds on, the member's heartbeat is answered REBALANCE_IN_PROGRESS.
fn heartbeat_says_rebalance(h: &mut Harness) {
    let start = h.now;
    h.run_until(start + ms(3_000));
    let hb = h.expect_api::<HeartbeatRequest>(1);
    h.respond(
        &hb,
        &HeartbeatResponse {
            error_code: ErrorCode::RebalanceInProgress.code(),
            ..Default::default()
        },
    );
}

/// The token of the `Revoked` event among the events so far (of exactly
/// `partitions`, if given).
fn revoked_token(h: &mut Harness, partitions: Option<&[TopicPartition]>) -> RebalanceToken {
    h.take_events()
        .iter()
        .find_map(|e| match e {
            Event::Revoked {
                partitions: ps,
                token,
            } if partitions.is_none_or(|want| ps == want) => Some(*token),
            _ => None,
        })
        .expect("a Revoked event")
}

/// Partition `p` is fetched from 10 (five records, leader epoch 5) and all five
/// are handed out.
fn five_handed_out(h: &mut Harness, p: i32) {
    h.connect_and_negotiate(1, &Versions::all());
    let fetch = h.expect_api::<FetchRequest>(1);
    h.respond(
        &fetch,
        &fetch_resp(0, vec![pdata_with(p, 15, batch(10, 5, 5))]),
    );
    assert_eq!(h.poll().len(), 5);
}

/// Joins as the only member (the leader) with generation `generation` and answers
/// SyncGroup with `parts`; returns the SyncGroup request.
fn join_as_leader(
    h: &mut Harness,
    join: Req<JoinGroupRequest>,
    generation: i32,
    parts: &[i32],
) -> Req<SyncGroupRequest> {
    let member = if join.body.member_id.is_empty() {
        "m-1".to_string()
    } else {
        join.body.member_id.clone()
    };
    h.respond(
        &join,
        &JoinGroupResponse {
            generation_id: generation,
            protocol_name: Some("range".into()),
            protocol_type: Some("consumer".into()),
            leader: member.clone(),
            member_id: member.clone(),
            members: vec![JoinGroupResponseMember {
                member_id: member,
                group_instance_id: None,
                metadata: join.body.protocols[0].metadata.clone(),
            }],
            ..Default::default()
        },
    );
    let sync = h.expect_api::<SyncGroupRequest>(1);
    h.respond(
        &sync,
        &SyncGroupResponse {
            assignment: assignment_bytes(parts),
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            ..Default::default()
        },
    );
    sync
}

fn offset_fetch_resp(answers: &[(i32, i64, i32)]) -> OffsetFetchResponse {
    OffsetFetchResponse {
        groups: vec![OffsetFetchResponseGroup {
            group_id: GROUP.into(),
            topics: vec![OffsetFetchResponseTopics {
                name: TOPIC.into(),
                partitions: answers
                    .iter()
                    .map(|&(p, offset, epoch)| OffsetFetchResponsePartitions {
                        partition_index: p,
                        committed_offset: offset,
                        committed_leader_epoch: epoch,
                        metadata: Some(String::new()),
                        error_code: 0,
                    })
                    .collect(),
            }],
            error_code: 0,
        }],
        ..Default::default()
    }
}

fn commit_resp(req: &OffsetCommitRequest, code: ErrorCode) -> OffsetCommitResponse {
    OffsetCommitResponse {
        topics: req
            .topics
            .iter()
            .map(|t| OffsetCommitResponseTopic {
                name: t.name.clone(),
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| OffsetCommitResponsePartition {
                        partition_index: p.partition_index,
                        error_code: code.code(),
                    })
                    .collect(),
            })
            .collect(),
        ..Default::default()
    }
}

/// Answers the routine requests that are next in line (heartbeats, commits,
/// metadata), stopping at anything else. A fetch stays pending (a long poll).
fn serve_routine(h: &mut Harness) {
    use kasio_core::protocol::ApiKey;
    loop {
        let mut served = false;
        for b in [-1, 1] {
            for conn in h.conns_to(b) {
                let Some(api) = h.next_api_on(conn) else {
                    continue;
                };
                match api {
                    ApiKey::Heartbeat => {
                        let r = h.expect_on::<HeartbeatRequest>(conn);
                        h.respond(&r, &HeartbeatResponse::default());
                    }
                    ApiKey::OffsetCommit => {
                        let r = h.expect_on::<OffsetCommitRequest>(conn);
                        let resp = commit_resp(&r.body, ErrorCode::None);
                        h.respond(&r, &resp);
                    }
                    ApiKey::Metadata => {
                        let r =
                            h.expect_on::<kasio_core::protocol::messages::MetadataRequest>(conn);
                        let resp = h.cluster.metadata(&r.body);
                        h.respond(&r, &resp);
                    }
                    _ => continue,
                }
                served = true;
            }
        }
        if !served {
            return;
        }
    }
}

fn states(h: &Harness) -> Vec<String> {
    h.c.group_transitions().map(|t| t.to_string()).collect()
}

/// Stable with `parts` assigned and their positions from OffsetFetch (`offset` for
/// every partition).
fn stable(h: &mut Harness, parts: &[i32], offset: i64) {
    let join = to_first_join(h);
    let sync = join_as_leader(h, join, 1, parts);
    assert_eq!(sync.body.generation_id, 1);
    let fetch = h.expect_api::<OffsetFetchRequest>(1);
    let answers: Vec<(i32, i64, i32)> = parts.iter().map(|&p| (p, offset, -1)).collect();
    h.respond(&fetch, &offset_fetch_resp(&answers));
}

#[test]
fn join_sync_stable_transcript_and_the_leaders_assignment() {
    let mut h = group_harness(&[], 2);
    let join = to_first_join(&mut h);
    // KIP-394: the first join has no member id; the coordinator hands one out.
    assert_eq!(join.body.member_id, "");
    assert_eq!(join.body.protocol_type, "consumer");
    assert_eq!(join.body.rebalance_timeout_ms, 60_000);
    assert_eq!(join.body.session_timeout_ms, 10_000);
    let (sub, _) =
        decode_versioned::<ConsumerProtocolSubscription>(&join.body.protocols[0].metadata).unwrap();
    assert_eq!(sub.topics, [TOPIC]);
    h.respond(
        &join,
        &JoinGroupResponse {
            error_code: ErrorCode::MemberIdRequired.code(),
            member_id: "m-1".into(),
            ..Default::default()
        },
    );
    let join = h.expect_api::<JoinGroupRequest>(1);
    assert_eq!(join.body.member_id, "m-1", "joins again with the given id");
    let sync = join_as_leader(&mut h, join, 7, &[0, 1]);
    // The leader ran range over the one member: both partitions to it.
    let (a, _) =
        decode_versioned::<ConsumerProtocolAssignment>(&sync.body.assignments[0].assignment)
            .unwrap();
    assert_eq!(a.assigned_partitions[0].partitions, [0, 1]);
    assert_eq!(sync.body.member_id, "m-1");
    assert_eq!(
        h.take_events(),
        [Event::Assigned {
            partitions: vec![tp(0), tp(1)]
        }]
    );
    // Positions come from OffsetFetch before anything is fetched.
    let fetch = h.expect_api::<OffsetFetchRequest>(1);
    assert_eq!(fetch.body.groups[0].group_id, GROUP);
    assert_eq!(h.c.position(&tp(0)), Ok(None));
    h.respond(&fetch, &offset_fetch_resp(&[(0, 42, -1), (1, -1, -1)]));
    // Partition 0 starts at its committed offset; 1 has none: auto.offset.reset.
    h.connect_and_negotiate(1, &Versions::all());
    let lo = h.expect_api::<ListOffsetsRequest>(1);
    assert_eq!(list_parts(&lo.body), [(1, -2)]);
    h.respond(&lo, &list_offsets_resp(&[(1, 0)]));
    let f = h.expect_api::<FetchRequest>(1);
    assert_eq!(
        fetch_parts(&f.body),
        [(0, 42)],
        "fetching starts as positions come"
    );
    h.respond(&f, &fetch_resp(1, vec![pdata(0, 42)]));
    let f = h.expect_api::<FetchRequest>(1);
    assert_eq!(
        fetch_parts(&f.body),
        [(1, 0)],
        "incremental: partition 1 joins"
    );
    assert_eq!(
        states(&h),
        [
            "Unjoined -> Joining (Subscribed)",
            "Joining -> Syncing (Joined)",
            "Syncing -> Stable (Synced)",
        ]
    );
    let meta = h.c.group_metadata().unwrap();
    assert_eq!((meta.generation_id, meta.member_id.as_str()), (7, "m-1"));
    // Every step was a legal one.
    for Transition { from, to, .. } in h.c.group_transitions() {
        assert!(from.may_move_to(*to), "{from} -> {to}");
    }
}

#[test]
fn heartbeats_on_the_coordinator_connection_while_a_fetch_long_polls() {
    let mut h = group_harness(
        &[
            ("fetch.max.wait.ms", "30000"),
            ("request.timeout.ms", "60000"),
            ("enable.auto.commit", "false"),
        ],
        1,
    );
    stable(&mut h, &[0], 0);
    h.connect_and_negotiate(1, &Versions::all());
    let fetch = h.expect_api::<FetchRequest>(1);
    // The fetch is not answered; heartbeats go every heartbeat.interval.ms on
    // their own connection.
    let start = h.now;
    h.run_until(start + ms(3_000));
    let hb = h.expect_api::<HeartbeatRequest>(1);
    assert_ne!(
        hb.conn, fetch.conn,
        "the coordinator has its own connection"
    );
    assert_eq!(
        (hb.body.generation_id, hb.body.member_id.as_str()),
        (1, "m-1")
    );
    h.respond(&hb, &HeartbeatResponse::default());
    h.run_until(start + ms(6_000));
    let hb2 = h.expect_api::<HeartbeatRequest>(1);
    assert_eq!(hb2.conn, hb.conn);
}

#[test]
fn heartbeat_rebalance_in_progress_revokes_with_commit_then_joins_after_the_ack() {
    let mut h = group_harness(&[], 1);
    stable(&mut h, &[0], 10);
    h.take_events();
    h.connect_and_negotiate(1, &Versions::all());
    let fetch = h.expect_api::<FetchRequest>(1);
    h.respond(
        &fetch,
        &fetch_resp(0, vec![pdata_with(0, 15, batch(10, 5, 5))]),
    );
    let got = h.poll();
    assert_eq!(got.len(), 5);
    heartbeat_says_rebalance(&mut h);
    // Eager: everything is revoked first. Nothing is committed yet: the
    // application may still be working on the records it was handed.
    let events = h.take_events();
    let token = match events.as_slice() {
        [Event::Revoked { partitions, token }] => {
            assert_eq!(partitions, &[tp(0)]);
            *token
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(h.c.group_state(), Some(MemberState::PreparingJoin));
    let no_request = |h: &Harness, api: &str| !h.unread().iter().any(|(_, r)| r.starts_with(api));
    assert!(no_request(&h, "OffsetCommit"), "{:?}", h.unread());
    // The application may still commit the revoked partition until it acks.
    let id =
        h.c.commit([(tp(0), OffsetAndMetadata::new(12))])
            .expect("a revoked partition may be committed until the ack");
    h.drain();
    let c2 = h.expect_api::<OffsetCommitRequest>(1);
    h.respond(&c2, &commit_resp(&c2.body, ErrorCode::None));
    assert!(h.take_events().iter().any(
        |e| matches!(e, Event::Committed { id: i, results, .. } if *i == id && results[0].1.is_ok())
    ));
    assert!(no_request(&h, "JoinGroup"), "{:?}", h.unread());
    // The ack says it is done with them: auto-commit commits what was handed out.
    h.c.ack_rebalance(token).unwrap();
    h.drain();
    let commit = h.expect_api::<OffsetCommitRequest>(1);
    let p = &commit.body.topics[0].partitions[0];
    assert_eq!((p.partition_index, p.committed_offset), (0, 15));
    assert_eq!(p.committed_leader_epoch, 5, "the epoch of the last record");
    assert_eq!(commit.body.generation_id_or_member_epoch, 1);
    // No JoinGroup before the commit is answered.
    assert!(no_request(&h, "JoinGroup"), "{:?}", h.unread());
    h.respond(&commit, &commit_resp(&commit.body, ErrorCode::None));
    h.drain();
    let join = h.expect_api::<JoinGroupRequest>(1);
    assert_eq!(join.body.member_id, "m-1");
    // A stale token is refused.
    assert_eq!(h.c.ack_rebalance(token), Err(UsageError::StaleToken(token)));
    assert_eq!(
        states(&h)[3..],
        [
            "Stable -> PreparingJoin (RebalanceInProgress)",
            "PreparingJoin -> Joining (JoinSent)",
        ]
    );
}

#[test]
fn commits_of_partitions_not_owned_are_refused_locally() {
    let mut h = group_harness(&[], 2);
    stable(&mut h, &[0], 0);
    assert_eq!(
        h.c.commit([(tp(1), OffsetAndMetadata::new(3))]),
        Err(UsageError::NotOwned(tp(1)))
    );
    assert_eq!(
        h.c.commit([(TopicPartition::new("other", 0), OffsetAndMetadata::new(3))]),
        Err(UsageError::NotOwned(TopicPartition::new("other", 0)))
    );
    // assign and subscribe exclude each other.
    assert_eq!(h.c.assign([tp(1)]), Err(UsageError::Subscribed));
}

#[test]
fn sync_unknown_member_id_loses_partitions_and_rejoins_without_a_member_id() {
    let mut h = group_harness(&[], 1);
    stable(&mut h, &[0], 0);
    h.take_events();
    let start = h.now;
    h.run_until(start + ms(3_000));
    let hb = h.expect_api::<HeartbeatRequest>(1);
    h.respond(
        &hb,
        &HeartbeatResponse {
            error_code: ErrorCode::UnknownMemberId.code(),
            ..Default::default()
        },
    );
    let events = h.take_events();
    let token = match events.as_slice() {
        [Event::Lost { partitions, token }] => {
            assert_eq!(partitions, &[tp(0)]);
            *token
        }
        other => panic!("{other:?}"),
    };
    // Lost partitions may not be committed, and are not fetched any more.
    assert_eq!(
        h.c.commit([(tp(0), OffsetAndMetadata::new(1))]),
        Err(UsageError::NotOwned(tp(0)))
    );
    assert!(h.c.assignment().is_empty());
    // The rejoin waits for the application's ack.
    assert!(!h.unread().iter().any(|(_, r)| r.starts_with("JoinGroup")));
    h.c.ack_rebalance(token).unwrap();
    h.drain();
    let join = h.expect_api::<JoinGroupRequest>(1);
    assert_eq!(
        join.body.member_id, "",
        "UNKNOWN_MEMBER_ID forgets the member id"
    );
}

#[test]
fn not_coordinator_on_heartbeat_rediscovers_without_rejoining() {
    let mut h = group_harness(&[("enable.auto.commit", "false")], 1);
    stable(&mut h, &[0], 0);
    h.take_events();
    let start = h.now;
    h.run_until(start + ms(3_000));
    let hb = h.expect_api::<HeartbeatRequest>(1);
    h.respond(
        &hb,
        &HeartbeatResponse {
            error_code: ErrorCode::NotCoordinator.code(),
            ..Default::default()
        },
    );
    h.run_for(ms(1_000));
    // FindCoordinator again (on a data connection), membership kept.
    assert_eq!(h.c.group_state(), Some(MemberState::Stable));
    assert_eq!(h.c.group_metadata().unwrap().generation_id, 1);
    assert!(
        h.take_events().is_empty(),
        "no Revoked/Lost for a moved coordinator"
    );
    answer_find(&mut h);
    while h.is_connecting(1) {
        h.connect_and_negotiate(1, &Versions::all());
    }
    h.run_for(ms(3_000));
    let hb = h.expect_api::<HeartbeatRequest>(1);
    assert_eq!(hb.body.generation_id, 1, "the same generation goes on");
    assert_eq!(h.c.group_state(), Some(MemberState::Stable));
}

#[test]
fn commit_illegal_generation_during_a_join_does_not_reset_the_new_generation() {
    // librdkafka #4059: a commit answered ILLEGAL_GENERATION during a rebalance
    // made the client rejoin and lose its new assignment.
    let mut h = group_harness(&[("enable.auto.commit", "false")], 1);
    stable(&mut h, &[0], 3);
    h.take_events();
    let id = h.c.commit([(tp(0), OffsetAndMetadata::new(3))]).unwrap();
    h.drain();
    let commit = h.expect_api::<OffsetCommitRequest>(1);
    // Meanwhile a rebalance: the member rejoins (cooperative members would keep
    // partitions; this one is eager and revokes first).
    let start = h.now;
    h.respond(
        &commit,
        &commit_resp(&commit.body, ErrorCode::RebalanceInProgress),
    );
    let events = h.take_events();
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Committed { id: i, results, .. } if *i == id
            && results[0].1 == Err(CommitError::RebalanceInProgress)
    )));
    let token = events
        .iter()
        .find_map(|e| match e {
            Event::Revoked { token, .. } => Some(*token),
            _ => None,
        })
        .expect("revoked for the rebalance");
    h.c.ack_rebalance(token).unwrap();
    h.drain();
    let join = h.expect_api::<JoinGroupRequest>(1);
    let _ = start;
    let sync = join_as_leader(&mut h, join, 2, &[0]);
    assert_eq!(sync.body.generation_id, 2);
    let fetch = h.expect_api::<OffsetFetchRequest>(1);
    h.respond(&fetch, &offset_fetch_resp(&[(0, 3, -1)]));
    assert_eq!(h.c.group_state(), Some(MemberState::Stable));
    assert_eq!(h.c.group_metadata().unwrap().generation_id, 2);
}

#[test]
fn poll_interval_expiry_leaves_reports_lost_and_rejoins_on_the_next_poll() {
    let mut h = group_harness(&[], 1);
    stable(&mut h, &[0], 0);
    h.take_events();
    let _ = h.poll();
    let polled = h.now;
    // Heartbeats keep the session; the application never polls again.
    while h.now < polled + ms(60_000) {
        h.run_for(ms(1_000));
        serve_routine(&mut h);
    }
    let leave = h.expect_api::<LeaveGroupRequest>(1);
    assert_eq!(leave.body.members[0].member_id, "m-1");
    h.respond(&leave, &LeaveGroupResponse::default());
    let events = h.take_events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Lost { partitions, .. } if partitions == &[tp(0)])),
        "{events:?}"
    );
    assert_eq!(h.c.group_state(), Some(MemberState::Unjoined));
    assert!(h
        .c
        .group_transitions()
        .any(|t| t.cause == Cause::PollTimeout));
    // No rejoin until the application polls.
    h.run_for(ms(10_000));
    assert!(h.try_next(1).is_none(), "{:?}", h.unread());
    let _ = h.poll();
    let join = h.expect_api::<JoinGroupRequest>(1);
    assert_eq!(join.body.member_id, "", "a fresh member");
}

#[test]
fn close_commits_what_was_consumed_and_leaves() {
    let mut h = group_harness(&[], 1);
    stable(&mut h, &[0], 7);
    h.take_events();
    h.connect_and_negotiate(1, &Versions::all());
    let fetch = h.expect_api::<FetchRequest>(1);
    h.respond(
        &fetch,
        &fetch_resp(0, vec![pdata_with(0, 9, batch(7, 2, 5))]),
    );
    assert_eq!(h.poll().len(), 2);
    h.c.close();
    h.drain();
    let commit = h.expect_api::<OffsetCommitRequest>(1);
    assert_eq!(commit.body.topics[0].partitions[0].committed_offset, 9);
    assert_eq!(commit.body.generation_id_or_member_epoch, 1);
    // LeaveGroup only once the commit is answered (it would fence the commit).
    assert!(!h.unread().iter().any(|(_, r)| r.starts_with("LeaveGroup")));
    h.respond(&commit, &commit_resp(&commit.body, ErrorCode::None));
    let leave = h.expect_api::<LeaveGroupRequest>(1);
    assert!(!h.c.is_closed());
    h.respond(&leave, &LeaveGroupResponse::default());
    h.run_for(ms(100));
    assert!(h.c.is_closed(), "{}", h.dump());
}

#[test]
fn static_members_do_not_send_leave_group_and_fenced_instance_id_is_fatal() {
    let mut h = group_harness(&[("group.instance.id", "pod-1")], 1);
    let join = to_first_join(&mut h);
    assert_eq!(join.body.group_instance_id.as_deref(), Some("pod-1"));
    h.respond(
        &join,
        &JoinGroupResponse {
            error_code: ErrorCode::FencedInstanceId.code(),
            ..Default::default()
        },
    );
    let events = h.take_events();
    match events.as_slice() {
        [Event::Fatal(e)] => {
            let text = e.to_string();
            assert!(text.contains("FENCED_INSTANCE_ID"), "{text}");
            assert!(text.contains("group.instance.id"), "{text}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(h.c.group_state(), Some(MemberState::Fatal));
    assert!(matches!(
        h.c.commit([(tp(0), OffsetAndMetadata::new(1))]),
        Err(UsageError::GroupFailed(_))
    ));
}

#[test]
fn a_pattern_subscription_asks_for_every_topic_and_joins_with_the_matches() {
    let mut h = group_harness(&[], 2);
    assert_eq!(
        h.c.subscribe_pattern("t("),
        Err(UsageError::InvalidPattern("t(".into()))
    );
    // The whole name must match: "t" matches, a longer name would need ".*".
    h.c.subscribe_pattern("t|other.*").unwrap();
    h.drain();
    h.connect_and_negotiate(-1, &Versions::all());
    let meta = h.answer_metadata(-1);
    assert_eq!(meta.body.topics, None, "every topic");
    answer_find(&mut h);
    h.connect_and_negotiate(1, &Versions::all());
    let join = h.expect_api::<JoinGroupRequest>(1);
    let (sub, _) =
        decode_versioned::<ConsumerProtocolSubscription>(&join.body.protocols[0].metadata).unwrap();
    assert_eq!(sub.topics, [TOPIC]);
    assert_eq!(h.c.subscription(), [TOPIC]);
}

#[test]
fn cooperative_rebalance_revokes_only_what_moves_then_a_follow_up_round() {
    let mut h = group_harness(
        &[("partition.assignment.strategy", "cooperative-sticky")],
        2,
    );
    let join = to_first_join(&mut h);
    assert_eq!(join.body.protocols[0].name, "cooperative-sticky");
    // Another member leads; this one gets both partitions in generation 1.
    let follower =
        |h: &mut Harness, join: Req<JoinGroupRequest>, generation: i32, parts: &[i32]| {
            h.respond(
                &join,
                &JoinGroupResponse {
                    generation_id: generation,
                    protocol_name: Some("cooperative-sticky".into()),
                    protocol_type: Some("consumer".into()),
                    leader: "other".into(),
                    member_id: "m-1".into(),
                    ..Default::default()
                },
            );
            let sync = h.expect_api::<SyncGroupRequest>(1);
            assert!(
                sync.body.assignments.is_empty(),
                "followers send no assignment"
            );
            h.respond(
                &sync,
                &SyncGroupResponse {
                    assignment: assignment_bytes(parts),
                    ..Default::default()
                },
            );
        };
    follower(&mut h, join, 1, &[0, 1]);
    let fetch = h.expect_api::<OffsetFetchRequest>(1);
    h.respond(&fetch, &offset_fetch_resp(&[(0, 0, -1), (1, 0, -1)]));
    h.take_events();
    // A rebalance: a cooperative member joins at once, keeping its partitions and
    // saying it owns them.
    h.run_for(ms(3_000));
    let hb = h.expect_api::<HeartbeatRequest>(1);
    h.respond(
        &hb,
        &HeartbeatResponse {
            error_code: ErrorCode::RebalanceInProgress.code(),
            ..Default::default()
        },
    );
    let join = h.expect_api::<JoinGroupRequest>(1);
    let (sub, _) =
        decode_versioned::<ConsumerProtocolSubscription>(&join.body.protocols[0].metadata).unwrap();
    assert_eq!(sub.owned_partitions[0].partitions, [0, 1]);
    assert_eq!(sub.generation_id, 1);
    assert!(
        h.take_events().is_empty(),
        "nothing revoked before the join"
    );
    assert_eq!(h.c.assignment(), [tp(0), tp(1)], "still fetching both");
    // Generation 2 takes partition 1 away: only it is revoked.
    follower(&mut h, join, 2, &[0]);
    let events = h.take_events();
    let token = match events.as_slice() {
        [Event::Assigned { partitions }, Event::Revoked {
            partitions: revoked,
            token,
        }] => {
            assert!(partitions.is_empty());
            assert_eq!(revoked, &[tp(1)]);
            *token
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(h.c.assignment(), [tp(0)]);
    // The follow-up join waits for the ack, and for the commit of the revoked
    // partition auto-commit makes then.
    assert!(!h
        .unread()
        .iter()
        .any(|(_, r)| r.starts_with("OffsetCommit")));
    h.c.ack_rebalance(token).unwrap();
    h.drain();
    let commit = h.expect_api::<OffsetCommitRequest>(1);
    assert_eq!(commit.body.topics[0].partitions[0].partition_index, 1);
    assert!(!h.unread().iter().any(|(_, r)| r.starts_with("JoinGroup")));
    h.respond(&commit, &commit_resp(&commit.body, ErrorCode::None));
    let join = h.expect_api::<JoinGroupRequest>(1);
    let (sub, _) =
        decode_versioned::<ConsumerProtocolSubscription>(&join.body.protocols[0].metadata).unwrap();
    assert_eq!(sub.owned_partitions[0].partitions, [0]);
    follower(&mut h, join, 3, &[0]);
    assert_eq!(h.c.group_state(), Some(MemberState::Stable));
    assert!(h
        .c
        .group_transitions()
        .any(|t| t.cause == Cause::FollowUpRound));
}

/// Answers a FindCoordinator (on whichever connection it came) with broker 1.
/// It goes to a real broker's data connection rather than to an idle bootstrap
/// one; a broker answers in order, so a long-poll Fetch ahead of it there is
/// answered first, empty (as at fetch.max.wait.ms).
fn answer_find(h: &mut Harness) {
    use kasio_core::protocol::ApiKey;
    let next_is_find = |h: &Harness, b: i32| {
        h.conns_to(b)
            .iter()
            .any(|c| h.next_api_on(*c) == Some(ApiKey::FindCoordinator))
    };
    if !next_is_find(h, -1) {
        for c in h.conns_to(1) {
            while h.next_api_on(c) == Some(ApiKey::Fetch)
                && h.unread()
                    .iter()
                    .any(|(b, r)| *b == 1 && r.starts_with("FindCoordinator"))
            {
                let f = h.expect_on::<FetchRequest>(c);
                h.respond(&f, &fetch_resp(f.body.session_id, vec![]));
            }
        }
    }
    let broker = [-1, 1]
        .into_iter()
        .find(|b| next_is_find(h, *b))
        .unwrap_or_else(|| panic!("a FindCoordinator pending: {:?}", h.unread()));
    let find = h.expect_api::<FindCoordinatorRequest>(broker);
    assert_eq!(find.body.coordinator_keys, [GROUP]);
    h.respond(&find, &coordinator_answer(GROUP, 1));
}

#[test]
fn fetching_stops_at_the_revoke_not_at_the_ack() {
    // apache/kafka PR #12603: fetching ran ahead while the revoke-time commit was
    // in flight, so the next owner re-read records.
    let mut h = group_harness(&[], 1);
    stable(&mut h, &[0], 0);
    h.connect_and_negotiate(1, &Versions::all());
    let fetch = h.expect_api::<FetchRequest>(1);
    h.respond(
        &fetch,
        &fetch_resp(0, vec![pdata_with(0, 3, batch(0, 3, 5))]),
    );
    h.run_for(ms(3_000));
    let hb = h.expect_api::<HeartbeatRequest>(1);
    h.respond(
        &hb,
        &HeartbeatResponse {
            error_code: ErrorCode::RebalanceInProgress.code(),
            ..Default::default()
        },
    );
    assert!(
        h.c.assignment().is_empty(),
        "revoked partitions stop at once"
    );
    assert!(h.poll().is_empty(), "their buffered records are gone");
    // No fetch for them while the revoke waits.
    h.run_for(ms(2_000));
    serve_routine(&mut h);
    assert!(
        !h.unread().iter().any(|(_, r)| r.starts_with("Fetch")),
        "{:?}",
        h.unread()
    );
}

#[test]
fn no_commit_goes_out_between_join_and_sync() {
    // franz-go PR #137: a commit sent between JoinGroup and SyncGroup failed with a
    // generation error. A cooperative member still owns its partitions then: its
    // commit waits for the sync.
    let mut h = group_harness(
        &[
            ("partition.assignment.strategy", "cooperative-sticky"),
            ("enable.auto.commit", "false"),
        ],
        1,
    );
    stable(&mut h, &[0], 4);
    h.take_events();
    h.run_for(ms(3_000));
    let hb = h.expect_api::<HeartbeatRequest>(1);
    h.respond(
        &hb,
        &HeartbeatResponse {
            error_code: ErrorCode::RebalanceInProgress.code(),
            ..Default::default()
        },
    );
    let join = h.expect_api::<JoinGroupRequest>(1);
    let id = h.c.commit([(tp(0), OffsetAndMetadata::new(4))]).unwrap();
    h.drain();
    assert!(
        !h.unread()
            .iter()
            .any(|(_, r)| r.starts_with("OffsetCommit")),
        "{:?}",
        h.unread()
    );
    let sync = join_as_leader(&mut h, join, 2, &[0]);
    assert_eq!(sync.body.generation_id, 2);
    // A commit made in generation 1 does not go out under generation 2 (the
    // partition may have moved meanwhile): it fails, and the application commits
    // again in the new generation.
    assert!(h.take_events().iter().any(|e| matches!(
        e,
        Event::Committed { id: i, results, .. } if *i == id
            && results[0].1 == Err(CommitError::RebalanceInProgress)
    )));
    assert!(!h.trace.iter().any(|r| r.starts_with("OffsetCommit")));
}

#[test]
fn a_subscription_change_rebalances_a_static_member() {
    // apache/kafka PR #22593: a static member's subscription change did not
    // trigger a rebalance.
    let mut h = group_harness(&[("group.instance.id", "pod-1")], 1);
    stable(&mut h, &[0], 0);
    h.take_events();
    h.cluster.topics.push(TopicMeta {
        name: "u".into(),
        id: kasio_core::codec::Uuid([9; 16]),
        error: 0,
        partitions: vec![PartMeta {
            index: 0,
            leader: 1,
            epoch: 5,
            error: 0,
        }],
    });
    h.c.subscribe([TOPIC, "u"]).unwrap();
    h.drain();
    serve_routine(&mut h);
    // Eager: the partitions are revoked first.
    let token = h
        .take_events()
        .into_iter()
        .find_map(|e| match e {
            Event::Revoked { token, .. } => Some(token),
            _ => None,
        })
        .expect("revoked for the new subscription");
    h.c.ack_rebalance(token).unwrap();
    h.drain();
    serve_routine(&mut h);
    h.run_for(ms(100));
    serve_routine(&mut h);
    let join = h.expect_api::<JoinGroupRequest>(1);
    let (sub, _) =
        decode_versioned::<ConsumerProtocolSubscription>(&join.body.protocols[0].metadata).unwrap();
    assert_eq!(sub.topics, [TOPIC, "u"]);
    assert_eq!(join.body.group_instance_id.as_deref(), Some("pod-1"));
}

#[test]
fn a_static_members_session_timeout_is_not_fatal_and_close_sends_no_leave_group() {
    // librdkafka #3437: a session timeout turned into a fatal FENCED_INSTANCE_ID.
    let mut h = group_harness(&[("group.instance.id", "pod-1")], 1);
    stable(&mut h, &[0], 0);
    h.take_events();
    // Heartbeats go unanswered past the session timeout (10 s) and their
    // connection times out: the coordinator is looked up again, nothing is fatal.
    h.run_for(ms(12_000));
    assert_ne!(h.c.group_state(), Some(MemberState::Fatal));
    assert!(!h.take_events().iter().any(|e| matches!(e, Event::Fatal(_))));
    answer_find(&mut h);
    while h.is_connecting(1) {
        h.connect_and_negotiate(1, &Versions::all());
    }
    serve_routine(&mut h);
    // Closing: the commit, and no LeaveGroup (a static member keeps its place for
    // session.timeout.ms, so a restart gets its partitions back without a rebalance).
    h.c.close();
    h.drain();
    for _ in 0..20 {
        serve_routine(&mut h);
        h.run_for(ms(200));
    }
    assert!(h.c.is_closed(), "{}", h.dump());
    assert!(
        !h.trace.iter().any(|r| r.starts_with("LeaveGroup")),
        "{:?}",
        h.trace
    );
}

#[test]
fn manual_assignment_with_a_group_id_starts_from_committed_offsets_and_commits_as_generation_minus_one(
) {
    let mut h = group_harness(&[("enable.auto.commit", "false")], 2);
    h.c.assign([tp(0), tp(1)]).unwrap();
    h.drain();
    h.connect_and_negotiate(-1, &Versions::all());
    h.answer_any_metadata();
    answer_find(&mut h);
    while h.is_connecting(1) {
        h.connect_and_negotiate(1, &Versions::all());
    }
    let fetch = h.expect_api::<OffsetFetchRequest>(1);
    assert_eq!(h.c.position(&tp(0)), Ok(None));
    h.respond(&fetch, &offset_fetch_resp(&[(0, 11, -1), (1, -1, -1)]));
    while h.is_connecting(1) {
        h.connect_and_negotiate(1, &Versions::all());
    }
    let lo = h.expect_api::<ListOffsetsRequest>(1);
    assert_eq!(
        list_parts(&lo.body),
        [(1, -2)],
        "only where nothing is committed"
    );
    assert_eq!(h.c.position(&tp(0)), Ok(Some(11)));
    let id = h.c.commit([(tp(0), OffsetAndMetadata::new(12))]).unwrap();
    h.drain();
    let commit = h.expect_api::<OffsetCommitRequest>(1);
    assert_eq!(commit.body.generation_id_or_member_epoch, -1);
    assert_eq!(commit.body.member_id, "");
    h.respond(&commit, &commit_resp(&commit.body, ErrorCode::None));
    assert!(h
        .take_events()
        .iter()
        .any(|e| matches!(e, Event::Committed { id: i, .. } if *i == id)));
    assert_eq!(h.c.subscribe([TOPIC]), Err(UsageError::AssignedManually));
}

#[test]
fn commits_queued_when_the_member_leaves_go_before_leave_group_not_after_it() {
    // Found by the group simulation (sim_group_consumer, seed 0): with
    // auto-commit off nothing held LeaveGroup back, and commits the application
    // had queued went out after it with generation -1 and no member id, which a
    // group with no members left accepts: stale offsets from a consumer that owns
    // nothing any more.
    let mut h = stable_harness(&[("enable.auto.commit", "false")], 1, &[0], 3);
    let first = h.c.commit([(tp(0), OffsetAndMetadata::new(4))]).unwrap();
    let second = h.c.commit([(tp(0), OffsetAndMetadata::new(5))]).unwrap();
    h.drain();
    let c1 = h.expect_api::<OffsetCommitRequest>(1);
    h.c.unsubscribe().unwrap();
    h.drain();
    let is_leave = |h: &Harness| h.unread().iter().any(|(_, r)| r.starts_with("LeaveGroup"));
    assert!(
        !is_leave(&h),
        "LeaveGroup before the queued commits: {:?}",
        h.unread()
    );
    h.respond(&c1, &commit_resp(&c1.body, ErrorCode::None));
    let c2 = h.expect_api::<OffsetCommitRequest>(1);
    assert_eq!(
        (
            c2.body.generation_id_or_member_epoch,
            c2.body.member_id.as_str()
        ),
        (1, "m-1"),
        "the queued commit goes under the member's generation"
    );
    h.respond(&c2, &commit_resp(&c2.body, ErrorCode::None));
    let leave = h.expect_api::<LeaveGroupRequest>(1);
    h.respond(&leave, &LeaveGroupResponse::default());
    h.run_for(ms(1_000));
    assert!(
        !h.unread()
            .iter()
            .any(|(_, r)| r.starts_with("OffsetCommit")),
        "{:?}",
        h.unread()
    );
    let events = h.take_events();
    for id in [first, second] {
        assert!(
            events.iter().any(|e| matches!(
                e,
                Event::Committed { id: i, results, .. } if *i == id && results[0].1.is_ok()
            )),
            "{events:?}"
        );
    }
}

#[test]
fn a_commit_queued_behind_a_revocation_is_not_sent_under_the_next_generation() {
    // Found by the group simulation (sim_group_consumer, seed 7): a commit still
    // queued when the application acknowledged the revocation went out once the
    // next generation was stable, under that generation, for a partition the
    // leader had given to another member; the coordinator took it (it does not
    // check ownership) and the new owner's committed offset moved.
    let mut h = stable_harness(&[("enable.auto.commit", "false")], 2, &[0, 1], 3);
    h.c.commit([(tp(0), OffsetAndMetadata::new(4))]).unwrap();
    h.c.commit([(tp(1), OffsetAndMetadata::new(4))]).unwrap();
    h.drain();
    let c1 = h.expect_api::<OffsetCommitRequest>(1);
    // The answer says a rebalance began: an eager member revokes everything; the
    // commit queued behind goes out meanwhile (the generation is still valid).
    h.respond(&c1, &commit_resp(&c1.body, ErrorCode::RebalanceInProgress));
    let token = revoked_token(&mut h, None);
    let c2 = h.expect_api::<OffsetCommitRequest>(1);
    // One more commit of a revoked partition (allowed until the ack), queued
    // behind the one in flight; then the ack.
    let late = h.c.commit([(tp(0), OffsetAndMetadata::new(5))]).unwrap();
    h.c.ack_rebalance(token).unwrap();
    h.drain();
    let join = h.expect_api::<JoinGroupRequest>(1);
    h.respond(&c2, &commit_resp(&c2.body, ErrorCode::None));
    // The new generation gives this member partition 1 only.
    join_as_leader(&mut h, join, 2, &[1]);
    h.drain();
    for (_, r) in h.unread() {
        assert!(!r.starts_with("OffsetCommit"), "{r} under generation 2");
    }
    let events = h.take_events();
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::Committed { id, results, .. } if *id == late
                && results == &[(tp(0), Err(CommitError::RebalanceInProgress))]
        )),
        "{events:?}"
    );
}

#[test]
fn a_cooperative_revocation_commits_what_was_handed_out_of_the_revoked_partitions() {
    // The positions of partitions a cooperative rebalance takes away were
    // dropped before the revocation read them: auto-commit committed nothing
    // for them, nor could commit_consumed, and their next owner handed out
    // again everything since the last periodic commit.
    let mut h = stable_harness(
        &[("partition.assignment.strategy", "cooperative-sticky")],
        2,
        &[0, 1],
        10,
    );
    five_handed_out(&mut h, 0);
    heartbeat_says_rebalance(&mut h);
    // Cooperative: the member joins keeping its partitions.
    let join = h.expect_api::<JoinGroupRequest>(1);
    assert!(
        !h.take_events()
            .iter()
            .any(|e| matches!(e, Event::Revoked { .. })),
        "nothing revoked before the join"
    );
    // The new generation moves partition 0 away.
    join_as_leader(&mut h, join, 2, &[1]);
    let events = h.take_events();
    let token = events
        .iter()
        .find_map(|e| match e {
            Event::Revoked { partitions, token } if partitions == &[tp(0)] => Some(*token),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{events:?}"));
    // Committed once the application says it is done with them.
    h.c.ack_rebalance(token).unwrap();
    h.drain();
    let commit = h.expect_api::<OffsetCommitRequest>(1);
    let p = &commit.body.topics[0].partitions[0];
    assert_eq!(
        (p.partition_index, p.committed_offset),
        (0, 15),
        "auto-commit commits the revoked partition's position"
    );
    assert_eq!(commit.body.generation_id_or_member_epoch, 2);
}

#[test]
fn a_commit_lost_with_its_connection_does_not_go_out_under_the_next_generation() {
    // Found by the group simulation (sim_group_consumer, seed 19): a commit whose
    // request was lost with the coordinator connection went back to the queue,
    // and went out once the member was stable again, under the new generation,
    // which had given it the same partition again meanwhile: the old offset
    // overwrote what the partition's owner in between had committed.
    let mut h = stable_harness(&[("enable.auto.commit", "false")], 1, &[0], 3);
    let start = h.now;
    h.run_until(start + ms(3_000));
    let hb = h.expect_api::<HeartbeatRequest>(1);
    let id = h.c.commit([(tp(0), OffsetAndMetadata::new(4))]).unwrap();
    h.drain();
    let c1 = h.expect_api::<OffsetCommitRequest>(1);
    // A rebalance begins; the member revokes and acknowledges at once.
    h.respond(
        &hb,
        &HeartbeatResponse {
            error_code: ErrorCode::RebalanceInProgress.code(),
            ..Default::default()
        },
    );
    let token = revoked_token(&mut h, None);
    h.c.ack_rebalance(token).unwrap();
    h.drain();
    let _join = h.expect_api::<JoinGroupRequest>(1);
    // The connection dies with the commit and the join unanswered.
    h.disconnect(c1.conn);
    h.run_for(ms(1_000));
    coordinator_found_again(&mut h);
    // The next generation gives the member partition 0 again.
    let join = h.expect_api::<JoinGroupRequest>(1);
    join_as_leader(&mut h, join, 2, &[0]);
    h.drain();
    for (_, r) in h.unread() {
        assert!(!r.starts_with("OffsetCommit"), "{r} under generation 2");
    }
    let events = h.take_events();
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::Committed { id: i, results, .. } if *i == id
                && results == &[(tp(0), Err(CommitError::RebalanceInProgress))]
        )),
        "{events:?}"
    );
}

#[test]
fn join_unknown_member_id_loses_what_a_cooperative_member_still_owns() {
    // Found by the group simulation (sim_group_consumer, seed 1): a cooperative
    // member rejoining (keeping its partitions) was answered UNKNOWN_MEMBER_ID
    // (its session had ended meanwhile): it forgot its member id and generation
    // but kept the partitions, went on fetching and handing them out, offered
    // them as owned with no generation, and committed them under the next
    // generation although another member had them by then. Without a
    // generation the partitions are lost (Java's onJoinPrepare).
    let mut h = stable_harness(
        &[
            ("partition.assignment.strategy", "cooperative-sticky"),
            ("enable.auto.commit", "false"),
        ],
        1,
        &[0],
        3,
    );
    heartbeat_says_rebalance(&mut h);
    let join = h.expect_api::<JoinGroupRequest>(1);
    assert_eq!(h.c.assignment(), [tp(0)], "cooperative: kept while joining");
    h.respond(
        &join,
        &JoinGroupResponse {
            error_code: ErrorCode::UnknownMemberId.code(),
            ..Default::default()
        },
    );
    let events = h.take_events();
    let token = events
        .iter()
        .find_map(|e| match e {
            Event::Lost { partitions, token } if partitions == &[tp(0)] => Some(*token),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{events:?}"));
    assert!(h.c.assignment().is_empty(), "no longer fetched");
    // The rejoin waits for the Lost acknowledgement.
    h.c.ack_rebalance(token).unwrap();
    h.drain();
    let join = h.expect_api::<JoinGroupRequest>(1);
    assert_eq!(join.body.member_id, "");
    let (sub, _) =
        decode_versioned::<ConsumerProtocolSubscription>(&join.body.protocols[0].metadata).unwrap();
    assert!(
        sub.owned_partitions.is_empty(),
        "nothing offered as owned: {:?}",
        sub.owned_partitions
    );
}

#[test]
fn a_subscribed_topic_in_error_is_asked_for_again_soon() {
    // Found by the group simulation (sim_group_consumer, seeds 41 and 50): the
    // leader's metadata named its one subscribed topic with LEADER_NOT_AVAILABLE
    // (the broker leading it was down). Topics in error were asked for again
    // only when assigned, and the leader had assigned nothing from it: its
    // partitions stayed with no member until metadata.max.age.ms (here 5 min).
    let mut h = group_harness(&[("metadata.max.age.ms", "300000")], 1);
    h.c.subscribe([TOPIC]).unwrap();
    h.drain();
    h.connect_and_negotiate(-1, &Versions::all());
    let md = h.expect::<kasio_core::protocol::messages::MetadataRequest>(-1);
    let mut resp = h.cluster.metadata(&md.body);
    for t in &mut resp.topics {
        t.error_code = ErrorCode::LeaderNotAvailable.code();
        t.partitions.clear();
    }
    h.respond(&md, &resp);
    let find = h.expect::<FindCoordinatorRequest>(-1);
    h.respond(&find, &coordinator_answer(GROUP, 1));
    h.connect_and_negotiate(1, &Versions::all());
    let join = h.expect_api::<JoinGroupRequest>(1);
    // The leader assigns from what metadata says: nothing.
    join_as_leader(&mut h, join, 1, &[]);
    assert!(h.c.assignment().is_empty());
    h.run_for(ms(2_000));
    assert!(
        h.unread().iter().any(|(_, r)| r.starts_with("Metadata")),
        "no metadata refresh for the subscribed topic in error: {:?}",
        h.unread()
    );
}

#[test]
fn a_member_that_left_with_a_join_in_flight_waits_for_its_answer_before_joining_again() {
    // Found by the group simulation (sim_group_consumer, seeds 81, 105, 142): a
    // static member left the group (here it unsubscribes; there its poll
    // interval ran out) while its JoinGroup waited at the coordinator, then
    // joined again at once: a second JoinGroup went out behind the first. It
    // took the first one's answer for the second's and synced under that member
    // id, which the second join (the same group.instance.id, no member id) had
    // fenced meanwhile: FENCED_INSTANCE_ID, fatal.
    let mut h = stable_harness(
        &[
            ("group.instance.id", "pod-1"),
            ("enable.auto.commit", "false"),
        ],
        1,
        &[0],
        3,
    );
    heartbeat_says_rebalance(&mut h);
    let token = revoked_token(&mut h, None);
    h.c.ack_rebalance(token).unwrap();
    h.drain();
    let first = h.expect_api::<JoinGroupRequest>(1);
    // The member leaves and subscribes again while that join waits.
    h.c.unsubscribe().unwrap();
    h.c.subscribe([TOPIC]).unwrap();
    h.drain();
    assert!(
        !h.unread().iter().any(|(_, r)| r.starts_with("JoinGroup")),
        "a second JoinGroup behind the first: {:?}",
        h.unread()
    );
    // The first join's answer belongs to the membership that was left.
    h.respond(
        &first,
        &JoinGroupResponse {
            generation_id: 2,
            protocol_name: Some("range".into()),
            protocol_type: Some("consumer".into()),
            leader: "m-1".into(),
            member_id: "m-1".into(),
            members: vec![JoinGroupResponseMember {
                member_id: "m-1".into(),
                group_instance_id: Some("pod-1".into()),
                metadata: first.body.protocols[0].metadata.clone(),
            }],
            ..Default::default()
        },
    );
    h.drain();
    assert!(
        !h.unread().iter().any(|(_, r)| r.starts_with("SyncGroup")),
        "synced with a stale join's answer: {:?}",
        h.unread()
    );
    let join = h.expect_api::<JoinGroupRequest>(1);
    assert_eq!(join.body.member_id, "", "a fresh join");
    assert_eq!(join.body.group_instance_id.as_deref(), Some("pod-1"));
}

#[test]
fn a_cooperative_revocation_holds_any_rejoin_until_it_is_acknowledged() {
    // Found by the group simulation (sim_group_consumer, seed 152): a
    // cooperative round revoked a partition; before the application
    // acknowledged, a heartbeat answered REBALANCE_IN_PROGRESS and the member
    // joined at once. The next generation gave the partition to another member
    // while it was still this one's to commit (unacknowledged): the
    // application's commit went out under that generation.
    let mut h = stable_harness(
        &[
            ("partition.assignment.strategy", "cooperative-sticky"),
            ("enable.auto.commit", "false"),
        ],
        2,
        &[0, 1],
        3,
    );
    heartbeat_says_rebalance(&mut h);
    let join = h.expect_api::<JoinGroupRequest>(1);
    join_as_leader(&mut h, join, 2, &[0]);
    let token = revoked_token(&mut h, Some(&[tp(1)]));
    // Not acknowledged yet: a heartbeat says another rebalance began.
    heartbeat_says_rebalance(&mut h);
    h.drain();
    assert!(
        !h.unread().iter().any(|(_, r)| r.starts_with("JoinGroup")),
        "joined before the revocation was acknowledged: {:?}",
        h.unread()
    );
    h.c.ack_rebalance(token).unwrap();
    h.drain();
    let join = h.expect_api::<JoinGroupRequest>(1);
    let (sub, _) =
        decode_versioned::<ConsumerProtocolSubscription>(&join.body.protocols[0].metadata).unwrap();
    assert_eq!(sub.owned_partitions[0].partitions, [0]);
}

#[test]
fn a_revoke_time_commit_lost_with_its_connection_goes_again_before_the_join() {
    // The check of queued commits against ownership when they go out refused a
    // revoke-time commit that had gone back to the queue (its connection lost)
    // once the revocation was acknowledged, although no other member can have
    // the partition within the generation; the join then went on without it.
    let mut h = stable_harness(&[], 1, &[0], 10);
    five_handed_out(&mut h, 0);
    heartbeat_says_rebalance(&mut h);
    let token = revoked_token(&mut h, None);
    h.c.ack_rebalance(token).unwrap();
    h.drain();
    let commit = h.expect_api::<OffsetCommitRequest>(1);
    h.disconnect(commit.conn);
    h.run_for(ms(1_000));
    coordinator_found_again(&mut h);
    let commit = h.expect_api::<OffsetCommitRequest>(1);
    assert_eq!(commit.body.topics[0].partitions[0].committed_offset, 15);
    assert_eq!(commit.body.generation_id_or_member_epoch, 1);
    h.respond(&commit, &commit_resp(&commit.body, ErrorCode::None));
    let _join = h.expect_api::<JoinGroupRequest>(1);
}

#[test]
fn a_cooperative_follow_up_round_waits_for_the_revoke_time_commit() {
    // The eager rebalance waits for the revoke-time auto-commit before
    // JoinGroup; the cooperative follow-up round waited only for the
    // acknowledgement. When the commit could not go at once (here its
    // connection was lost and the coordinator had to be found again), the
    // JoinGroup went first, the member was then joining (no commits), and the
    // commit was refused once the next generation came: the next owner of the
    // revoked partition handed out again what this member had.
    let mut h = stable_harness(
        &[("partition.assignment.strategy", "cooperative-sticky")],
        2,
        &[0, 1],
        10,
    );
    five_handed_out(&mut h, 1);
    heartbeat_says_rebalance(&mut h);
    let join = h.expect_api::<JoinGroupRequest>(1);
    join_as_leader(&mut h, join, 2, &[0]);
    let token = revoked_token(&mut h, Some(&[tp(1)]));
    // The application acks: the revoke-time commit goes.
    h.c.ack_rebalance(token).unwrap();
    h.drain();
    let commit = h.expect_api::<OffsetCommitRequest>(1);
    assert_eq!(commit.body.topics[0].partitions[0].committed_offset, 15);
    // The connection goes with the commit unanswered.
    h.disconnect(commit.conn);
    h.run_for(ms(1_000));
    coordinator_found_again(&mut h);
    // The revoke-time commit goes again before the follow-up JoinGroup.
    let commit = h.expect_api::<OffsetCommitRequest>(1);
    assert_eq!(commit.body.topics[0].partitions[0].committed_offset, 15);
    assert_eq!(commit.body.generation_id_or_member_epoch, 2);
    assert!(
        !h.unread().iter().any(|(_, r)| r.starts_with("JoinGroup")),
        "joined before the revoke-time commit was answered: {:?}",
        h.unread()
    );
    h.respond(&commit, &commit_resp(&commit.body, ErrorCode::None));
    let _join = h.expect_api::<JoinGroupRequest>(1);
}

#[test]
fn assign_is_refused_while_subscribed_even_to_no_topics() {
    // Found by the group fuzz target: `subscribe([])` (or a pattern that matches
    // nothing yet) is a subscription, but `assign` only refused a non-empty one, so
    // the consumer took partitions by hand while in the group, and a later
    // `subscribe` kept them.
    let mut h = group_harness(&[], 1);
    h.c.subscribe(Vec::<String>::new()).unwrap();
    assert_eq!(h.c.assign([tp(0)]), Err(UsageError::Subscribed));
    h.c.subscribe_pattern("nothing-matches.*").unwrap();
    assert_eq!(h.c.assign([tp(0)]), Err(UsageError::Subscribed));
    h.c.unsubscribe().unwrap();
    assert_eq!(h.c.assign([tp(0)]), Ok(()));
    assert_eq!(h.c.subscribe([TOPIC]), Err(UsageError::AssignedManually));
}

/// Stable with partition 0 (no auto-commit), then the first heartbeat is answered
/// with `code`.
fn stable_then_heartbeat_error(code: ErrorCode) -> Harness {
    let mut h = group_harness(&[("enable.auto.commit", "false")], 1);
    stable(&mut h, &[0], 0);
    h.take_events();
    h.run_for(ms(3_000));
    let hb = h.expect_api::<HeartbeatRequest>(1);
    h.respond(
        &hb,
        &HeartbeatResponse {
            error_code: code.code(),
            ..Default::default()
        },
    );
    h
}

#[test]
fn after_a_fatal_error_unsubscribe_and_close_neither_leave_nor_move_the_member() {
    // Found with the group fuzz target's harness: unsubscribe (or close) after
    // Event::Fatal went through leave_group, which moved the member from Fatal to
    // Unjoined (an illegal transition: Fatal is final) and sent LeaveGroup for a
    // group that had already failed.
    let mut h = stable_then_heartbeat_error(ErrorCode::GroupAuthorizationFailed);
    assert!(matches!(h.take_events().as_slice(), [Event::Fatal(_)]));
    assert_eq!(h.c.group_state(), Some(MemberState::Fatal));
    h.c.unsubscribe().unwrap();
    h.drain();
    assert_eq!(h.c.group_state(), Some(MemberState::Fatal));
    h.c.close();
    h.drain();
    h.run_for(ms(10_000));
    assert!(h.c.is_closed());
    assert!(
        !h.unread().iter().any(|(_, r)| r.starts_with("LeaveGroup")),
        "{:?}",
        h.unread()
    );
    assert_eq!(h.c.group_state(), Some(MemberState::Fatal));
}

#[test]
fn partitions_already_reported_lost_are_not_reported_lost_again() {
    // Found by the group fuzz target: a second loss (here SyncGroup's
    // ILLEGAL_GENERATION; there a poll-interval expiry) before the first Lost was
    // acknowledged reported the same partitions Lost again, with a new token,
    // although the application no longer held them.
    let mut h = stable_then_heartbeat_error(ErrorCode::UnknownMemberId);
    let events = h.take_events();
    let token = match events.as_slice() {
        [Event::Lost { partitions, token }] if partitions == &[tp(0)] => *token,
        _ => panic!("{events:?}"),
    };
    // The rejoin waits for the Lost acknowledgement.
    h.c.ack_rebalance(token).unwrap();
    h.drain();
    let join = h.expect_api::<JoinGroupRequest>(1);
    h.respond(
        &join,
        &JoinGroupResponse {
            generation_id: 2,
            protocol_name: Some("range".into()),
            protocol_type: Some("consumer".into()),
            leader: "other".into(),
            member_id: "m-2".into(),
            ..Default::default()
        },
    );
    let sync = h.expect_api::<SyncGroupRequest>(1);
    h.respond(
        &sync,
        &SyncGroupResponse {
            error_code: ErrorCode::IllegalGeneration.code(),
            ..Default::default()
        },
    );
    let events = h.take_events();
    assert!(
        !events.iter().any(|e| matches!(e, Event::Lost { .. })),
        "{events:?}"
    );
}

#[test]
fn a_partition_index_far_outside_the_topic_sizes_nothing() {
    // The leader sizes its assignor input by how many partitions metadata listed,
    // never by an index a broker sent: i32::MAX here would have asked for 2^31
    // entries.
    let mut h = group_harness(&[], 2);
    h.cluster.topics[0].partitions[1].index = i32::MAX;
    let join = to_first_join(&mut h);
    let sync = join_as_leader(&mut h, join, 1, &[0]);
    let (a, _) =
        decode_versioned::<ConsumerProtocolAssignment>(&sync.body.assignments[0].assignment)
            .unwrap();
    assert_eq!(a.assigned_partitions[0].partitions, [0, 1]);
}

#[test]
fn a_commit_lost_after_the_member_left_does_not_go_out_without_a_generation() {
    // Found by the group simulation (sim_group_consumer, seed 17249): a commit
    // was in flight when the member, in the middle of a rebalance, left the
    // group (so the leave did not wait for it); its connection was lost
    // afterwards and it went back to the queue. Only members still subscribed
    // had their commits checked against the generation they were made under:
    // it went out with generation -1, and the group (empty by then) took it.
    let mut h = stable_harness(&[("enable.auto.commit", "false")], 1, &[0], 3);
    let start = h.now;
    h.run_until(start + ms(3_000));
    let hb = h.expect_api::<HeartbeatRequest>(1);
    let id = h.c.commit([(tp(0), OffsetAndMetadata::new(4))]).unwrap();
    h.drain();
    let commit = h.expect_api::<OffsetCommitRequest>(1);
    h.respond(
        &hb,
        &HeartbeatResponse {
            error_code: ErrorCode::RebalanceInProgress.code(),
            ..Default::default()
        },
    );
    let token = revoked_token(&mut h, None);
    h.c.ack_rebalance(token).unwrap();
    h.drain();
    let _join = h.expect_api::<JoinGroupRequest>(1);
    // Joining, the member leaves; then the connection goes with the commit.
    h.c.unsubscribe().unwrap();
    h.drain();
    h.disconnect(commit.conn);
    h.run_for(ms(1_000));
    coordinator_found_again(&mut h);
    h.run_for(ms(1_000));
    assert!(
        !h.unread()
            .iter()
            .any(|(_, r)| r.starts_with("OffsetCommit")),
        "{:?}",
        h.unread()
    );
    let events = h.take_events();
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::Committed { id: i, results, .. } if *i == id && results[0].1.is_err()
        )),
        "{events:?}"
    );
}

#[test]
fn a_cooperative_revocation_past_its_deadline_ends_before_the_member_rejoins() {
    // Found by the group simulation (sim_group_consumer, seed 19418): the
    // application never acknowledged a cooperative revocation; once its
    // deadline passed the member rejoined (a rebalance was waiting) without
    // ending the revocation, so the revoked partition stayed the member's to
    // commit into the next generation, which gave it to another member: the
    // application's commit of it went out under that generation.
    let mut h = stable_harness(
        &[
            ("partition.assignment.strategy", "cooperative-sticky"),
            ("enable.auto.commit", "false"),
            ("max.poll.interval.ms", "8000"),
        ],
        2,
        &[0, 1],
        3,
    );
    heartbeat_says_rebalance(&mut h);
    let join = h.expect_api::<JoinGroupRequest>(1);
    join_as_leader(&mut h, join, 2, &[0]);
    let _token = revoked_token(&mut h, Some(&[tp(1)]));
    // Not acknowledged; the coordinator says another rebalance began.
    heartbeat_says_rebalance(&mut h);
    let revoked_at = h.now;
    while h.now < revoked_at + ms(8_000) {
        h.run_for(ms(500));
        serve_routine(&mut h);
        let _ = h.poll(); // the application polls (it never acknowledges)
    }
    // The deadline passed: the member rejoins, and partition 1 is not its own.
    let _join = h.expect_api::<JoinGroupRequest>(1);
    assert_eq!(
        h.c.commit([(tp(1), OffsetAndMetadata::new(3))]),
        Err(UsageError::NotOwned(tp(1)))
    );
}

#[test]
fn an_eager_sticky_member_sends_its_previous_assignment_in_the_sticky_user_data() {
    // An eager member owns nothing when it joins (it revoked everything), so
    // Java's StickyAssignor keeps the previous assignment and its generation in
    // the `sticky` protocol's user data; without them the leader assigns from
    // scratch at every rebalance. The other protocols' metadata carries none.
    let mut h = stable_harness(
        &[
            ("partition.assignment.strategy", "sticky,range"),
            ("enable.auto.commit", "false"),
        ],
        3,
        &[0, 2],
        0,
    );
    heartbeat_says_rebalance(&mut h);
    let token = revoked_token(&mut h, None);
    h.c.ack_rebalance(token).unwrap();
    h.drain();
    let join = h.expect_api::<JoinGroupRequest>(1);
    let names: Vec<&str> = join
        .body
        .protocols
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(names, ["sticky", "range"]);
    let (sticky, _) =
        decode_versioned::<ConsumerProtocolSubscription>(&join.body.protocols[0].metadata).unwrap();
    assert!(sticky.owned_partitions.is_empty(), "eager: owns nothing");
    let data = sticky_user_data::decode(sticky.user_data.as_deref().expect("user data")).unwrap();
    assert_eq!(data.partitions, [tp(0), tp(2)]);
    assert_eq!(data.generation, Some(1));
    let (range, _) =
        decode_versioned::<ConsumerProtocolSubscription>(&join.body.protocols[1].metadata).unwrap();
    assert_eq!(range.user_data, None);
}

#[test]
fn an_eager_sticky_leader_keeps_partitions_where_the_members_user_data_says_they_were() {
    // The leader reads what `sticky` members owned from their user data (as
    // Java's leader does): the other member had partitions 1 and 3 in generation
    // 4, so it keeps them; a fresh assignment would have dealt it 0 and 2.
    let mut h = group_harness(&[("partition.assignment.strategy", "sticky")], 4);
    let join = to_first_join(&mut h);
    let mine = join.body.protocols[0].metadata.clone();
    let (mut other, _) = decode_versioned::<ConsumerProtocolSubscription>(&mine).unwrap();
    other.user_data = Some(Bytes::from(sticky_user_data::encode(&[tp(1), tp(3)], 4)));
    let other = encode_versioned(&other, 3).unwrap();
    h.respond(
        &join,
        &JoinGroupResponse {
            generation_id: 5,
            protocol_name: Some("sticky".into()),
            protocol_type: Some("consumer".into()),
            leader: "m-1".into(),
            member_id: "m-1".into(),
            members: vec![
                JoinGroupResponseMember {
                    member_id: "java".into(),
                    group_instance_id: None,
                    metadata: other,
                },
                JoinGroupResponseMember {
                    member_id: "m-1".into(),
                    group_instance_id: None,
                    metadata: mine,
                },
            ],
            ..Default::default()
        },
    );
    let sync = h.expect_api::<SyncGroupRequest>(1);
    let assigned = |member: &str| -> Vec<i32> {
        let a = sync
            .body
            .assignments
            .iter()
            .find(|a| a.member_id == member)
            .expect("an assignment");
        let (a, _) = decode_versioned::<ConsumerProtocolAssignment>(&a.assignment).unwrap();
        a.assigned_partitions
            .iter()
            .flat_map(|t| t.partitions.clone())
            .collect()
    };
    assert_eq!(assigned("java"), [1, 3]);
    assert_eq!(assigned("m-1"), [0, 2]);
}

#[test]
fn a_leader_rebalances_when_metadata_changed_between_its_assignment_and_the_sync() {
    // Found by the group simulation (sim_group_consumer, seeds 25706, 28014,
    // 32354, 36959, 38992): the leader assigned while metadata had its topic in
    // error (nothing to assign), and metadata naming the topic's partitions
    // arrived before SyncGroup was answered. The member remembered the
    // partition counts of when SyncGroup was answered, not of when it assigned
    // (Java's assignmentSnapshot): no change was ever seen, and the partitions
    // stayed with no member for good.
    let mut h = group_harness(&[("metadata.max.age.ms", "300000")], 2);
    h.c.subscribe([TOPIC]).unwrap();
    h.drain();
    h.connect_and_negotiate(-1, &Versions::all());
    let md = h.expect::<kasio_core::protocol::messages::MetadataRequest>(-1);
    let mut resp = h.cluster.metadata(&md.body);
    for t in &mut resp.topics {
        t.error_code = ErrorCode::LeaderNotAvailable.code();
        t.partitions.clear();
    }
    h.respond(&md, &resp);
    let find = h.expect::<FindCoordinatorRequest>(-1);
    h.respond(&find, &coordinator_answer(GROUP, 1));
    h.connect_and_negotiate(1, &Versions::all());
    let join = h.expect_api::<JoinGroupRequest>(1);
    h.respond(
        &join,
        &JoinGroupResponse {
            generation_id: 1,
            protocol_name: Some("range".into()),
            protocol_type: Some("consumer".into()),
            leader: "m-1".into(),
            member_id: "m-1".into(),
            members: vec![JoinGroupResponseMember {
                member_id: "m-1".into(),
                group_instance_id: None,
                metadata: join.body.protocols[0].metadata.clone(),
            }],
            ..Default::default()
        },
    );
    // The leader assigns from what metadata says now: nothing.
    let sync = h.expect_api::<SyncGroupRequest>(1);
    let (assigned, _) =
        decode_versioned::<ConsumerProtocolAssignment>(&sync.body.assignments[0].assignment)
            .unwrap();
    assert!(assigned.assigned_partitions.is_empty(), "{assigned:?}");
    // The topic in error is asked for again; the answer names its partitions
    // while SyncGroup waits.
    let until = h.now + ms(2_000);
    while h.answer_any_metadata() == 0 {
        assert!(h.now < until, "no metadata refresh: {:?}", h.unread());
        h.step();
    }
    h.respond(
        &sync,
        &SyncGroupResponse {
            assignment: assignment_bytes(&[]),
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            ..Default::default()
        },
    );
    h.drain();
    h.run_for(ms(100));
    let rejoin = h.expect_api::<JoinGroupRequest>(1);
    assert_eq!(rejoin.body.member_id, "m-1");
    assert!(
        h.c.group_transitions()
            .any(|t| t.cause == Cause::MetadataChanged),
        "{:?}",
        states(&h)
    );
}

#[test]
fn a_member_that_leaves_without_a_generation_waits_for_no_commit() {
    // Found by the group simulation (sim_group_consumer, seed 31153): a member
    // with no generation (its poll interval had run out while its JoinGroup
    // waited) had a commit queued; it unsubscribed, and the leave waited for
    // that commit, as a leave waits for commits to go under the generation
    // before LeaveGroup. It subscribed again: a subscribed member without a
    // generation may not send commits, so the commit never went, the leave
    // never ended and the member never joined again. Without a generation there
    // is nothing to commit under and no LeaveGroup to send: the leave ends at
    // once, and the queued commit is refused (Java fails a subscribed
    // consumer's commit outside a generation).
    let mut h = group_harness(&[("enable.auto.commit", "false")], 1);
    h.c.subscribe([TOPIC]).unwrap();
    let id = h.c.commit_consumed().unwrap();
    h.c.unsubscribe().unwrap();
    h.c.subscribe([TOPIC]).unwrap();
    h.drain();
    h.connect_and_negotiate(-1, &Versions::all());
    h.answer_any_metadata();
    answer_find(&mut h);
    h.connect_and_negotiate(1, &Versions::all());
    h.run_for(ms(1_000));
    assert!(
        h.unread().iter().any(|(_, r)| r.starts_with("JoinGroup")),
        "no JoinGroup: {:?} {:?}",
        h.unread(),
        states(&h)
    );
    assert!(
        h.take_events()
            .iter()
            .any(|e| matches!(e, Event::Committed { id: i, .. } if *i == id)),
        "the queued commit was never answered"
    );
}

#[test]
fn a_commit_whose_deadline_passed_in_flight_fails_when_its_connection_goes() {
    // Only queued commits expire; one in flight waits for its answer. Here the
    // commit's deadline (default.api.timeout.ms, 10 s) passes while it is in flight,
    // then its request times out (request.timeout.ms, 30 s) and it goes back to the
    // queue: it failed there with a timeout only when some later deadline made
    // the timer look, and could wait forever.
    let mut h = stable_harness(
        &[
            ("enable.auto.commit", "false"),
            ("default.api.timeout.ms", "10000"),
            ("request.timeout.ms", "30000"),
            // Heartbeats wait behind the commit on the coordinator connection: a
            // session long enough that it does not end first.
            ("session.timeout.ms", "45000"),
        ],
        1,
        &[0],
        3,
    );
    let id = h.c.commit([(tp(0), OffsetAndMetadata::new(4))]).unwrap();
    h.drain();
    let _commit = h.expect_api::<OffsetCommitRequest>(1);
    let start = h.now;
    let mut failed = None;
    while h.now < start + ms(40_000) && failed.is_none() {
        h.run_for(ms(500));
        failed = h.take_events().into_iter().find_map(|e| match e {
            Event::Committed { id: i, results, .. } if i == id => Some((h.now, results)),
            _ => None,
        });
    }
    let (at, results) = failed.expect("the commit is answered");
    assert_eq!(results[0].1, Err(CommitError::Timeout));
    assert!(
        at <= start + ms(31_000),
        "failed {:?} after it was made",
        at - start
    );
}

#[test]
fn a_revoke_time_commit_leaves_out_a_partition_whose_position_is_being_reset() {
    // Group simulation seed 1071: a Fetch answered OFFSET_OUT_OF_RANGE for one
    // partition and the rebalance came before ListOffsets did. That partition
    // has no position: the revoke-time auto-commit leaves it out (Java's
    // `allConsumed` takes only valid positions), commits the others, and the
    // join waits for that commit only.
    let mut h = stable_harness(&[], 2, &[0, 1], 10);
    h.connect_and_negotiate(1, &Versions::all());
    let fetch = h.expect_api::<FetchRequest>(1);
    h.respond(
        &fetch,
        &fetch_resp(
            0,
            vec![
                pdata_with(0, 15, batch(10, 5, 5)),
                perror(1, ErrorCode::OffsetOutOfRange),
            ],
        ),
    );
    assert_eq!(h.poll().len(), 5);
    assert_eq!(h.c.position(&tp(1)), Ok(None), "its reset is under way");
    heartbeat_says_rebalance(&mut h);
    let token = revoked_token(&mut h, Some(&[tp(0), tp(1)]));
    let no_join = |h: &Harness| !h.unread().iter().any(|(_, r)| r.starts_with("JoinGroup"));
    h.c.ack_rebalance(token).unwrap();
    h.drain();
    let commit = h.expect_api::<OffsetCommitRequest>(1);
    let parts: Vec<(i32, i64)> = commit
        .body
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .map(|p| (p.partition_index, p.committed_offset))
        .collect();
    assert_eq!(parts, [(0, 15)]);
    assert!(no_join(&h), "the join waits for the revoke-time commit");
    h.respond(&commit, &commit_resp(&commit.body, ErrorCode::None));
    let join = h.expect_api::<JoinGroupRequest>(1);
    assert_eq!(join.body.member_id, "m-1");
}

#[test]
fn periodic_auto_commit_leaves_the_latest_poll_to_the_next() {
    // Found with kasio-tokio, whose driver fires the auto-commit timer in the
    // background: auto-commit committed the records of the latest poll while the
    // application still held them, so a crash then lost them. What the latest
    // poll handed out is committed once the application polls again (Java
    // commits inside poll, what earlier polls returned).
    let mut h = stable_harness(&[("auto.commit.interval.ms", "1000")], 1, &[0], 10);
    five_handed_out(&mut h, 0);
    let start = h.now;
    h.run_until(start + ms(1_100));
    let offsets = |h: &mut Harness| {
        let commits: Vec<Req<OffsetCommitRequest>> = std::iter::from_fn(|| {
            h.unread()
                .iter()
                .any(|(_, r)| r.starts_with("OffsetCommit"))
                .then(|| h.expect_api::<OffsetCommitRequest>(1))
        })
        .collect();
        let mut out = Vec::new();
        for c in commits {
            out.extend(
                c.body.topics[0]
                    .partitions
                    .iter()
                    .map(|p| p.committed_offset),
            );
            h.respond(&c, &commit_resp(&c.body, ErrorCode::None));
        }
        out
    };
    let first = offsets(&mut h);
    assert!(
        first.iter().all(|&o| o == 10),
        "the handed-out records 10..15 committed while the application holds them: {first:?}"
    );
    // The application polls again: it is done with them.
    assert_eq!(h.poll().len(), 0);
    h.run_until(start + ms(2_200));
    assert_eq!(offsets(&mut h), [15]);
}

#[test]
fn unsubscribing_before_acking_a_revocation_commits_what_was_handed_out() {
    // Group simulation seed 102376 (once the revoke-time commit waited for the
    // acknowledgement): the application unsubscribed with a revocation still
    // unacknowledged, the leave committed only partitions still owned (none),
    // and the revoked partitions' handed-out records went uncommitted. Leaving
    // is the application saying it is done: they are committed before
    // LeaveGroup.
    let mut h = stable_harness(&[], 1, &[0], 10);
    five_handed_out(&mut h, 0);
    heartbeat_says_rebalance(&mut h);
    let _token = revoked_token(&mut h, Some(&[tp(0)]));
    assert!(!h
        .unread()
        .iter()
        .any(|(_, r)| r.starts_with("OffsetCommit")));
    h.c.unsubscribe().unwrap();
    h.drain();
    let commit = h.expect_api::<OffsetCommitRequest>(1);
    let p = &commit.body.topics[0].partitions[0];
    assert_eq!((p.partition_index, p.committed_offset), (0, 15));
    assert_eq!(commit.body.generation_id_or_member_epoch, 1);
    assert!(!h.unread().iter().any(|(_, r)| r.starts_with("LeaveGroup")));
    h.respond(&commit, &commit_resp(&commit.body, ErrorCode::None));
    h.drain();
    let _leave = h.expect_api::<LeaveGroupRequest>(1);
}
