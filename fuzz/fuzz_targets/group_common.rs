//! The `group` target's logic (`group.rs` runs it under libFuzzer;
//! `core/tests/fuzz_regressions.rs` replays saved inputs through [`run_bytes`]).
//!
//! A `Consumer` with `group.id` (static or dynamic member, any assignment strategy
//! including cooperative-sticky, auto-commit on or off, short session, heartbeat
//! and poll intervals) driven by arbitrary operation sequences: `subscribe`,
//! `subscribe_pattern`, `unsubscribe`, `assign`, `commit`, `commit_consumed`,
//! `committed`, `ack_rebalance` with the latest, earlier and made-up tokens,
//! `poll_records`, `pause`, `seek`, `close`; connections accepted, refused and
//! dropped; time steps; and answers to every request. Valid answers come from the
//! shared broker model (`consumer_common.rs`) and, for the group APIs, from a small
//! coordinator model below (FindCoordinator, JoinGroup with MEMBER_ID_REQUIRED,
//! the leader's or a follower's SyncGroup, OffsetFetch, Heartbeat, OffsetCommit,
//! LeaveGroup, other members joining and leaving, the coordinator moving, the
//! member expelled); any answer may instead carry an error code of the group APIs,
//! be an arbitrary value of the right response type, be corrupted, truncated or
//! misaddressed, or raw bytes.
//!
//! Oracle, on top of the shared one (no panic, bounded drains, `poll_timeout` never
//! before the last `now` and never "now" without progress, requests that decode,
//! records in order for assigned, unpaused partitions):
//! - records only for partitions the application holds per the `Assigned`,
//!   `Revoked` and `Lost` events (or assigned by hand), never after their `Revoked`
//!   or `Lost`; the consumer's assignment never exceeds them; no partition is
//!   `Assigned` twice or `Revoked` without being held;
//! - `commit` of a partition not held (nor revoked and unacknowledged) is refused
//!   with `NotOwned`, a negative offset with `NegativeOffset`, after `Fatal` with
//!   `GroupFailed`, after `close` with `Closed`;
//! - `ack_rebalance` of any token but the latest one issued is `StaleToken`;
//! - every `Committed` answers an issued commit, exactly once, with one result per
//!   partition asked for; by `Closed`, every commit and `committed` query the
//!   application made has been answered;
//! - the member's transitions are legal (`MemberState::may_move_to`) and chain up
//!   to `group_state()`; `Fatal` is final;
//! - on the wire: no member's OffsetCommit while a JoinGroup or SyncGroup is in
//!   flight (GROUPS.md: never commit between JoinGroup and SyncGroup), at most one
//!   OffsetCommit in flight, and no group request at all after `Event::Fatal`.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use arbitrary::{Arbitrary, Unstructured};
use bytes::{Bytes, BytesMut};
use kasio_core::config::Config;
use kasio_core::conn::ConnId;
use kasio_core::consumer::{Consumer, Event, QueryId, TopicPartition, UsageError};
use kasio_core::group::{CommitId, MemberState, OffsetAndMetadata, RebalanceToken};
use kasio_core::protocol::consumer_protocol::{decode_versioned, encode_versioned};
use kasio_core::protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
use kasio_core::protocol::messages::describe_groups_response::{
    DescribedGroup, DescribedGroupMember,
};
use kasio_core::protocol::messages::find_coordinator_response::Coordinator;
use kasio_core::protocol::messages::join_group_response::JoinGroupResponseMember;
use kasio_core::protocol::messages::leave_group_response::MemberResponse;
use kasio_core::protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kasio_core::protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kasio_core::protocol::messages::*;
use kasio_core::protocol::{ApiKey, ErrorCode, Message};

use crate::consumer_common::*;

pub const MAX_OPS: usize = 200;
const GROUP: &str = "g";
const INSTANCE: &str = "pod-1";

/// The error codes the group APIs answer with (each API gets any of them: those it
/// does not expect must be handled too).
pub const GROUP_ERRORS: [ErrorCode; 24] = [
    ErrorCode::MemberIdRequired,
    ErrorCode::UnknownMemberId,
    ErrorCode::IllegalGeneration,
    ErrorCode::RebalanceInProgress,
    ErrorCode::CoordinatorLoadInProgress,
    ErrorCode::NotCoordinator,
    ErrorCode::CoordinatorNotAvailable,
    ErrorCode::FencedInstanceId,
    ErrorCode::InconsistentGroupProtocol,
    ErrorCode::InvalidSessionTimeout,
    ErrorCode::InvalidGroupId,
    ErrorCode::GroupAuthorizationFailed,
    ErrorCode::GroupMaxSizeReached,
    ErrorCode::UnknownTopicOrPartition,
    ErrorCode::OffsetMetadataTooLarge,
    ErrorCode::InvalidCommitOffsetSize,
    ErrorCode::UnstableOffsetCommit,
    ErrorCode::RequestTimedOut,
    ErrorCode::TopicAuthorizationFailed,
    ErrorCode::GroupIdNotFound,
    ErrorCode::UnsupportedVersion,
    ErrorCode::InvalidRequest,
    ErrorCode::UnknownServerError,
    ErrorCode::NotLeaderOrFollower,
];

const GROUP_APIS: [ApiKey; 8] = [
    ApiKey::FindCoordinator,
    ApiKey::JoinGroup,
    ApiKey::SyncGroup,
    ApiKey::Heartbeat,
    ApiKey::LeaveGroup,
    ApiKey::OffsetCommit,
    ApiKey::OffsetFetch,
    ApiKey::DescribeGroups,
];

const PATTERNS: [&str; 7] = ["t", "t|u", ".*", "u.*", "(", "gone|t", "x"];

fn group_error(i: u8) -> ErrorCode {
    GROUP_ERRORS[usize::from(i) % GROUP_ERRORS.len()]
}

// ----- the fuzzer's input -------------------------------------------------------------

#[derive(Arbitrary, Debug)]
pub struct Input {
    pub cfg: Cfg,
    pub cluster: ClusterSpec,
    pub group: GroupSpec,
    /// What the application subscribes to first.
    pub initial: Subscription,
    pub ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
pub struct Cfg {
    pub seed: u64,
    pub reset: u8,
    pub read_committed: bool,
    /// `group.instance.id`: a static member.
    pub static_member: bool,
    /// `partition.assignment.strategy`, see [`config`].
    pub strategy: u8,
    pub auto_commit: bool,
    pub session: u8,
    pub heartbeat: u8,
    pub poll_interval: u8,
    pub auto_commit_interval: u8,
    pub request_timeout: u8,
    pub max_poll_records: u8,
}

#[derive(Arbitrary, Debug)]
pub struct GroupSpec {
    /// Other members (at most two), each subscribed to a mask of topics.
    pub others: Vec<u8>,
    /// The coordinator broker.
    pub coordinator: u8,
    /// Offsets committed before the run: t-0, t-1, u-0, u-1.
    pub committed: [Option<u8>; 4],
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Subscription {
    /// Bit i: the i-th of `t`, `u`, `gone` and an empty name.
    Topics(u8),
    Pattern(u8),
}

#[derive(Arbitrary, Debug)]
pub enum Token {
    /// The token of the latest `Revoked` or `Lost`.
    Latest,
    /// An earlier one.
    Earlier(u8),
    /// Any token at all.
    MadeUp(RebalanceToken),
}

#[derive(Arbitrary, Debug)]
pub enum Op {
    // application calls
    Subscribe(Subscription),
    Unsubscribe,
    Assign(Vec<Tp>),
    Commit(Vec<(Tp, i16)>),
    CommitConsumed,
    Committed(Vec<Tp>),
    DescribeGroup,
    Ack(Token),
    Pause(Vec<Tp>),
    Resume(Vec<Tp>),
    Seek(Tp, u16),
    Poll,
    Close,
    // the driver: connections
    Accept(u8),
    Refuse(u8),
    Drop(u8),
    Stale(u8),
    // the brokers: answers and bytes
    Answer {
        conn: u8,
        how: Answer,
        group: GroupTweak,
    },
    AnswerAll,
    /// The oldest group request waiting on any connection is answered with this
    /// error (from [`GROUP_ERRORS`]).
    GroupError(u8),
    /// A healthy cluster and driver for a while, then a poll.
    Run(u8),
    Raw {
        conn: u8,
        bytes: Vec<u8>,
    },
    // time
    Advance(u16),
    AdvanceLong(u8),
    ToTimeout,
    Backwards(u16),
    // the cluster and the group change
    Cluster(Change),
    Group(GroupChange),
}

/// How the coordinator model answers one group request.
#[derive(Arbitrary, Debug, Clone, Default)]
pub struct GroupTweak {
    /// The answer's error (top level; every partition's for OffsetCommit).
    pub error: Option<u8>,
    /// OffsetCommit / OffsetFetch: the first partition's error.
    pub part_error: Option<u8>,
    /// JoinGroup: another member leads (when there are others).
    pub follow: bool,
    /// JoinGroup: which of the offered protocols the group picks.
    pub protocol: u8,
    /// SyncGroup for a follower: bit i gives the i-th partition of the subscribed
    /// topics; `None`: a share that moves with the generation.
    pub assign: Option<u16>,
    /// SyncGroup: an assignment that does not decode.
    pub bad_assignment: bool,
    /// FindCoordinator: names this broker (1-4; 4 is one metadata does not list).
    pub coordinator: Option<u8>,
    /// OffsetFetch: the committed offsets carry this leader epoch.
    pub epoch: Option<u8>,
}

#[derive(Arbitrary, Debug)]
pub enum GroupChange {
    /// Another member joins (or, with two, one leaves): the group rebalances.
    Rebalance,
    /// The coordinator forgets this member (its session expired there).
    Expel,
    /// The coordinator moves to another broker.
    MoveCoordinator(u8),
}

// ----- configuration -------------------------------------------------------------------

pub fn config(cfg: &Cfg) -> Config {
    let reset = ["earliest", "latest", "none"][usize::from(cfg.reset % 3)];
    let strategy = [
        "range",
        "roundrobin",
        "sticky",
        "cooperative-sticky",
        "range,cooperative-sticky",
        "cooperative-sticky,range",
    ][usize::from(cfg.strategy % 6)];
    let session = 300 + u32::from(cfg.session) * 20;
    let heartbeat = (50 + u32::from(cfg.heartbeat) * 10).min(session - 1);
    let poll = 500 + u32::from(cfg.poll_interval) * 50;
    let auto_commit = 100 + u32::from(cfg.auto_commit_interval) * 20;
    let timeout = 200 + u32::from(cfg.request_timeout) * 50;
    let max_poll = u32::from(cfg.max_poll_records) % 20 + 1;
    let [session, heartbeat, poll, auto_commit, timeout, max_poll] =
        [session, heartbeat, poll, auto_commit, timeout, max_poll].map(|n| n.to_string());
    let mut pairs = vec![
        ("bootstrap.servers", "b1:9092,b2:9092"),
        ("client.id", "fuzz"),
        ("group.id", GROUP),
        ("auto.offset.reset", reset),
        (
            "isolation.level",
            if cfg.read_committed {
                "read_committed"
            } else {
                "read_uncommitted"
            },
        ),
        ("partition.assignment.strategy", strategy),
        (
            "enable.auto.commit",
            if cfg.auto_commit { "true" } else { "false" },
        ),
        ("session.timeout.ms", session.as_str()),
        ("heartbeat.interval.ms", heartbeat.as_str()),
        ("max.poll.interval.ms", poll.as_str()),
        ("auto.commit.interval.ms", auto_commit.as_str()),
        ("request.timeout.ms", timeout.as_str()),
        ("max.poll.records", max_poll.as_str()),
        ("reconnect.backoff.ms", "20"),
        ("reconnect.backoff.max.ms", "500"),
        ("retry.backoff.ms", "20"),
        ("retry.backoff.max.ms", "500"),
        ("default.api.timeout.ms", "3000"),
        ("metadata.max.age.ms", "2000"),
    ];
    if cfg.static_member {
        pairs.push(("group.instance.id", INSTANCE));
    }
    Config::from_pairs(pairs).expect("the harness's configurations are valid")
}

fn topics(mask: u8) -> Vec<&'static str> {
    ["t", "u", "gone", ""]
        .into_iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, t)| t)
        .collect()
}

// ----- the coordinator model and the checks ---------------------------------------------

/// The group coordinator as the brokers run it, and what the harness knows about
/// the application's side (the [`Ext`] of the shared harness).
#[derive(Debug, Default)]
pub struct Group {
    // --- the coordinator
    coordinator: i32,
    generation: i32,
    /// This member's id as the coordinator knows it.
    member: Option<String>,
    next_member: u32,
    /// Another member joined or left: heartbeats say REBALANCE_IN_PROGRESS until
    /// this member joins again.
    rebalancing: bool,
    /// The other members' topics.
    others: Vec<Vec<String>>,
    /// Whether this member leads the current generation.
    leader: bool,
    /// This member's topics in its last JoinGroup.
    topics: Vec<String>,
    committed: BTreeMap<TopicPartition, (i64, i32)>,
    /// How to answer the next group request.
    pub tweak: GroupTweak,
    // --- the wire
    /// Group requests in flight per connection: (correlation id, API, generation).
    in_flight: BTreeMap<ConnId, Vec<(i32, ApiKey, i32)>>,
    /// Connections that got raw bytes: what answers what there is unknown.
    tainted: BTreeSet<ConnId>,
    /// `Event::Fatal` came.
    pub fatal: bool,
    /// ... before the current op: no group request may go out any more.
    pub fatal_armed: bool,
    // --- the application
    /// Partitions held per Assigned / Revoked / Lost.
    pub owned: BTreeSet<TopicPartition>,
    /// Revoked partitions per token, until acknowledged (they may be committed).
    pub revoked: BTreeMap<RebalanceToken, BTreeSet<TopicPartition>>,
    /// Every token issued, in order.
    pub tokens: Vec<RebalanceToken>,
    /// Partitions revoked since the last `Lost` (a `Lost` may name them again).
    pub revoked_since_lost: BTreeSet<TopicPartition>,
    /// Partitions assigned by hand.
    pub manual: BTreeSet<TopicPartition>,
    /// The application's commits: the partitions each may answer for.
    pub commits: BTreeMap<CommitId, BTreeSet<TopicPartition>>,
    /// Commits answered (the application's and the consumer's own).
    pub answered: BTreeSet<CommitId>,
    pub queries: BTreeSet<QueryId>,
    pub queries_answered: BTreeSet<QueryId>,
    pub close_called: bool,
    /// `KASIO_FUZZ_DEBUG`: print every op, event and group request.
    pub debug: bool,
    // --- for KASIO_FUZZ_STATS
    /// Group answers with an error, per API.
    pub errors: BTreeMap<&'static str, usize>,
    pub stable: usize,
    pub rebalances: usize,
    pub records: usize,
}

impl Group {
    fn new(spec: &GroupSpec, brokers: usize) -> Self {
        let mut g = Group {
            coordinator: i32::from(spec.coordinator) % brokers as i32 + 1,
            next_member: 1,
            ..Default::default()
        };
        for &mask in spec.others.iter().take(2) {
            g.others.push(
                topics((mask % 4) | 1)
                    .into_iter()
                    .map(String::from)
                    .collect(),
            );
        }
        let tps = [("t", 0), ("t", 1), ("u", 0), ("u", 1)];
        for (c, (t, p)) in spec.committed.iter().zip(tps) {
            if let Some(o) = c {
                g.committed
                    .insert(TopicPartition::new(t, p), (i64::from(*o % 30), -1));
            }
        }
        g
    }

    fn change(&mut self, c: GroupChange, brokers: usize) {
        match c {
            GroupChange::Rebalance => {
                if self.others.len() < 2 {
                    self.others.push(vec!["t".into(), "u".into()]);
                } else {
                    self.others.pop();
                }
                self.rebalancing = true;
            }
            GroupChange::Expel => {
                self.member = None;
                self.rebalancing = true;
            }
            GroupChange::MoveCoordinator(b) => {
                self.coordinator = i32::from(b) % brokers as i32 + 1;
            }
        }
    }

    /// What the application may commit: what it holds, revoked partitions not yet
    /// acknowledged, and what it assigned by hand.
    pub fn may_commit(&self, tp: &TopicPartition) -> bool {
        self.owned.contains(tp)
            || self.manual.contains(tp)
            || self.revoked.values().any(|r| r.contains(tp))
    }

    fn new_member(&mut self) -> String {
        self.next_member += 1;
        format!("m-{}", self.next_member)
    }

    // ----- answers -------------------------------------------------------------------

    fn find_coordinator(&self, req: &FindCoordinatorRequest, v: i16) -> FindCoordinatorResponse {
        let node = self
            .tweak
            .coordinator
            .map_or(self.coordinator, |b| i32::from(b % 4) + 1);
        let error = self.tweak.error.map_or(0, |e| group_error(e).code());
        let (node, host) = if error == 0 {
            (node, format!("b{node}"))
        } else {
            (-1, String::new())
        };
        if v >= 4 {
            FindCoordinatorResponse {
                coordinators: req
                    .coordinator_keys
                    .iter()
                    .map(|k| Coordinator {
                        key: k.clone(),
                        node_id: node,
                        host: host.clone(),
                        port: 9092,
                        error_code: error,
                        error_message: None,
                    })
                    .collect(),
                ..Default::default()
            }
        } else {
            FindCoordinatorResponse {
                error_code: error,
                node_id: node,
                host,
                port: 9092,
                ..Default::default()
            }
        }
    }

    fn join(&mut self, req: &JoinGroupRequest, v: i16) -> JoinGroupResponse {
        let fail = |code: ErrorCode, member_id: String| JoinGroupResponse {
            error_code: code.code(),
            member_id,
            protocol_name: None,
            ..Default::default()
        };
        if let Some(e) = self.tweak.error {
            let code = group_error(e);
            if code == ErrorCode::MemberIdRequired {
                let id = self.new_member();
                self.member = Some(id.clone());
                return fail(code, id);
            }
            return fail(code, String::new());
        }
        if req.member_id.is_empty() {
            let id = self.new_member();
            self.member = Some(id.clone());
            // KIP-394: a dynamic member learns its id first.
            if v >= 4 && req.group_instance_id.is_none() {
                return fail(ErrorCode::MemberIdRequired, id);
            }
        } else if self.member.as_deref() != Some(req.member_id.as_str()) {
            return fail(ErrorCode::UnknownMemberId, String::new());
        }
        let member = self.member.clone().expect("a member id");
        self.generation += 1;
        self.rebalancing = false;
        self.leader = self.others.is_empty() || !self.tweak.follow;
        self.topics = req
            .protocols
            .first()
            .and_then(|p| decode_versioned::<ConsumerProtocolSubscription>(&p.metadata).ok())
            .map(|(s, _)| s.topics)
            .unwrap_or_default();
        let protocol = (!req.protocols.is_empty()).then(|| {
            req.protocols[usize::from(self.tweak.protocol) % req.protocols.len()]
                .name
                .clone()
        });
        let mut members = Vec::new();
        if self.leader {
            let ours = protocol
                .as_ref()
                .and_then(|p| req.protocols.iter().find(|x| &x.name == p))
                .map(|p| p.metadata.clone())
                .unwrap_or_default();
            members.push(JoinGroupResponseMember {
                member_id: member.clone(),
                group_instance_id: req.group_instance_id.clone(),
                metadata: ours,
            });
            for (i, topics) in self.others.iter().enumerate() {
                let sub = ConsumerProtocolSubscription {
                    topics: topics.clone(),
                    generation_id: -1,
                    ..Default::default()
                };
                members.push(JoinGroupResponseMember {
                    member_id: format!("other-{i}"),
                    group_instance_id: None,
                    metadata: encode_versioned(&sub, 1).unwrap_or_default(),
                });
            }
        }
        JoinGroupResponse {
            generation_id: self.generation,
            protocol_type: Some("consumer".into()),
            protocol_name: protocol,
            leader: if self.leader {
                member.clone()
            } else {
                "other-0".into()
            },
            skip_assignment: false,
            member_id: member,
            members,
            ..Default::default()
        }
    }

    /// The membership check every request of a member passes at the coordinator.
    fn check_member(&self, member_id: &str, generation: i32) -> Option<ErrorCode> {
        if self.member.as_deref() != Some(member_id) {
            Some(ErrorCode::UnknownMemberId)
        } else if generation != self.generation {
            Some(ErrorCode::IllegalGeneration)
        } else {
            None
        }
    }

    fn sync(&mut self, cluster: &Cluster, req: &SyncGroupRequest) -> SyncGroupResponse {
        let error = match self.tweak.error {
            Some(e) => Some(group_error(e)),
            None => self
                .check_member(&req.member_id, req.generation_id)
                .or(self.rebalancing.then_some(ErrorCode::RebalanceInProgress)),
        };
        if let Some(code) = error {
            return SyncGroupResponse {
                error_code: code.code(),
                ..Default::default()
            };
        }
        let assignment = if self.tweak.bad_assignment {
            Bytes::from_static(&[0, 9, 1, 2, 3])
        } else if self.leader {
            req.assignments
                .iter()
                .find(|a| a.member_id == req.member_id)
                .map(|a| a.assignment.clone())
                .unwrap_or_default()
        } else {
            // A follower gets what "the leader" decided: a mask from the input, or
            // a share that moves with the generation (so rebalances move partitions).
            let all: Vec<TopicPartition> = self
                .topics
                .iter()
                .flat_map(|t| {
                    let n = cluster.topics.get(t.as_str()).map_or(0, |x| x.2.len());
                    (0..n as i32).map(move |p| TopicPartition::new(t.clone(), p))
                })
                .collect();
            let members = self.others.len() + 1;
            let share = self.generation as usize % members;
            let mine: Vec<&TopicPartition> = all
                .iter()
                .enumerate()
                .filter(|(i, _)| match self.tweak.assign {
                    Some(mask) => mask & (1 << (i % 16)) != 0,
                    None => i % members == share,
                })
                .map(|(_, tp)| tp)
                .collect();
            let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
            for tp in mine {
                by_topic.entry(&tp.topic).or_default().push(tp.partition);
            }
            let a = ConsumerProtocolAssignment {
                assigned_partitions: by_topic
                    .into_iter()
                    .map(|(t, p)| AssignedTopic {
                        topic: t.into(),
                        partitions: p,
                    })
                    .collect(),
                user_data: None,
            };
            encode_versioned(&a, 3).unwrap_or_default()
        };
        SyncGroupResponse {
            assignment,
            protocol_type: Some("consumer".into()),
            protocol_name: req.protocol_name.clone(),
            ..Default::default()
        }
    }

    /// The group as the coordinator would describe it: this member (with the
    /// tweak's assignment bits as raw bytes when it asks for a bad assignment) and
    /// the others.
    fn describe(&self, req: &DescribeGroupsRequest) -> DescribeGroupsResponse {
        let error = self.tweak.error.map_or(0, |e| group_error(e).code());
        let assignment = if self.tweak.bad_assignment {
            Bytes::from_static(&[0, 3, 0xff, 0xff, 0xff, 0xff])
        } else {
            Bytes::new()
        };
        let members: Vec<DescribedGroupMember> = self
            .member
            .iter()
            .cloned()
            .chain((0..self.others.len()).map(|i| format!("other-{i}")))
            .map(|member_id| DescribedGroupMember {
                member_id,
                member_assignment: assignment.clone(),
                ..Default::default()
            })
            .collect();
        DescribeGroupsResponse {
            groups: req
                .groups
                .iter()
                .map(|g| DescribedGroup {
                    error_code: error,
                    group_id: g.clone(),
                    group_state: if self.rebalancing {
                        "PreparingRebalance"
                    } else {
                        "Stable"
                    }
                    .into(),
                    protocol_type: "consumer".into(),
                    members: if error == 0 {
                        members.clone()
                    } else {
                        Vec::new()
                    },
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    fn heartbeat(&self, req: &HeartbeatRequest) -> HeartbeatResponse {
        let error = match self.tweak.error {
            Some(e) => Some(group_error(e)),
            None => self
                .check_member(&req.member_id, req.generation_id)
                .or(self.rebalancing.then_some(ErrorCode::RebalanceInProgress)),
        };
        HeartbeatResponse {
            error_code: error.map_or(0, ErrorCode::code),
            ..Default::default()
        }
    }

    fn leave(&mut self, req: &LeaveGroupRequest, v: i16) -> LeaveGroupResponse {
        let error = self.tweak.error.map_or(0, |e| group_error(e).code());
        if error == 0 {
            self.member = None;
            self.rebalancing = !self.others.is_empty();
        }
        LeaveGroupResponse {
            error_code: error,
            members: if v >= 3 {
                req.members
                    .iter()
                    .map(|m| MemberResponse {
                        member_id: m.member_id.clone(),
                        group_instance_id: m.group_instance_id.clone(),
                        error_code: 0,
                    })
                    .collect()
            } else {
                Vec::new()
            },
            ..Default::default()
        }
    }

    fn commit(&mut self, req: &OffsetCommitRequest) -> OffsetCommitResponse {
        // A consumer outside a generation (assigned by hand) commits with -1.
        let simple = req.generation_id_or_member_epoch < 0 && req.member_id.is_empty();
        let error = match self.tweak.error {
            Some(e) => Some(group_error(e)),
            None if simple => None,
            None => self.check_member(&req.member_id, req.generation_id_or_member_epoch),
        };
        let mut first = true;
        let mut topics = Vec::new();
        for t in &req.topics {
            let mut partitions = Vec::new();
            for p in &t.partitions {
                let mut code = error;
                if std::mem::take(&mut first) {
                    if let Some(e) = self.tweak.part_error {
                        code = Some(group_error(e));
                    }
                }
                if code.is_none() {
                    self.committed.insert(
                        TopicPartition::new(t.name.clone(), p.partition_index),
                        (p.committed_offset, p.committed_leader_epoch),
                    );
                }
                partitions.push(OffsetCommitResponsePartition {
                    partition_index: p.partition_index,
                    error_code: code.map_or(0, ErrorCode::code),
                });
            }
            topics.push(OffsetCommitResponseTopic {
                name: t.name.clone(),
                partitions,
            });
        }
        OffsetCommitResponse {
            topics,
            ..Default::default()
        }
    }

    fn offset_fetch(&self, req: &OffsetFetchRequest, v: i16) -> OffsetFetchResponse {
        let top = self.tweak.error.map_or(0, |e| group_error(e).code());
        let mut first = true;
        let mut answer = |topic: &str, p: i32| {
            let tp = TopicPartition::new(topic, p);
            let (offset, epoch) = self.committed.get(&tp).copied().unwrap_or((-1, -1));
            let epoch = self.tweak.epoch.map_or(epoch, |e| i32::from(e % 8));
            let mut code = 0;
            if std::mem::take(&mut first) {
                if let Some(e) = self.tweak.part_error {
                    code = group_error(e).code();
                }
            }
            if v < 2 && code == 0 {
                code = top; // no top-level error before v2
            }
            (offset, epoch, code)
        };
        if v >= 8 {
            let groups = req
                .groups
                .iter()
                .map(|g| OffsetFetchResponseGroup {
                    group_id: g.group_id.clone(),
                    topics: g
                        .topics
                        .iter()
                        .flatten()
                        .map(|t| OffsetFetchResponseTopics {
                            name: t.name.clone(),
                            partitions: t
                                .partition_indexes
                                .iter()
                                .map(|&p| {
                                    let (offset, epoch, code) = answer(&t.name, p);
                                    OffsetFetchResponsePartitions {
                                        partition_index: p,
                                        committed_offset: offset,
                                        committed_leader_epoch: epoch,
                                        metadata: Some(String::new()),
                                        error_code: code,
                                    }
                                })
                                .collect(),
                        })
                        .collect(),
                    error_code: top,
                })
                .collect();
            OffsetFetchResponse {
                groups,
                ..Default::default()
            }
        } else {
            let topics = req
                .topics
                .iter()
                .flatten()
                .map(|t| OffsetFetchResponseTopic {
                    name: t.name.clone(),
                    partitions: t
                        .partition_indexes
                        .iter()
                        .map(|&p| {
                            let (offset, epoch, code) = answer(&t.name, p);
                            OffsetFetchResponsePartition {
                                partition_index: p,
                                committed_offset: offset,
                                committed_leader_epoch: epoch,
                                metadata: Some(String::new()),
                                error_code: code,
                            }
                        })
                        .collect(),
                })
                .collect();
            OffsetFetchResponse {
                topics,
                error_code: top,
                ..Default::default()
            }
        }
    }

    fn in_flight(&self, api: ApiKey) -> bool {
        self.in_flight.values().flatten().any(|(_, a, _)| *a == api)
    }
}

fn encode<M: Message>(m: &M, v: i16) -> Option<Bytes> {
    let mut buf = BytesMut::new();
    m.encode(v, &mut buf).ok()?;
    Some(buf.freeze())
}

impl Ext for Group {
    fn on_event(&mut self, c: &Consumer, e: &Event) {
        if self.debug {
            eprintln!("  event {e:?} (state {:?})", c.group_state());
        }
        match e {
            Event::Assigned { partitions } => {
                for tp in partitions {
                    assert!(self.owned.insert(tp.clone()), "{tp} assigned twice");
                }
            }
            Event::Revoked { partitions, token } => {
                assert!(
                    self.tokens.last().is_none_or(|t| t < token),
                    "token {token} is not new"
                );
                for tp in partitions {
                    assert!(self.owned.remove(tp), "{tp} revoked but not assigned");
                }
                self.tokens.push(*token);
                self.revoked
                    .insert(*token, partitions.iter().cloned().collect());
                self.revoked_since_lost.extend(partitions.iter().cloned());
            }
            Event::Lost { partitions, token } => {
                assert!(
                    self.tokens.last().is_none_or(|t| t < token),
                    "token {token} is not new"
                );
                for tp in partitions {
                    let held = self.owned.remove(tp) || self.revoked_since_lost.contains(tp);
                    assert!(held, "{tp} lost but not assigned");
                }
                self.tokens.push(*token);
                self.revoked.clear();
                self.revoked_since_lost.clear();
            }
            Event::Committed { id, results, .. } => {
                assert!(self.answered.insert(*id), "commit {id:?} answered twice");
                if let Some(asked) = self.commits.get(id) {
                    let got: Vec<&TopicPartition> = results.iter().map(|(tp, _)| tp).collect();
                    let unique: BTreeSet<&TopicPartition> = got.iter().copied().collect();
                    assert_eq!(unique.len(), got.len(), "commit {id:?}: {results:?}");
                    assert!(
                        unique.iter().all(|tp| asked.contains(*tp)),
                        "commit {id:?} answers for partitions not asked for: {results:?}"
                    );
                }
            }
            Event::CommittedOffsets { id, .. } | Event::GroupDescribed { id, .. } => {
                assert!(self.queries.contains(id), "query {id:?} was not asked");
                assert!(
                    self.queries_answered.insert(*id),
                    "query {id:?} answered twice"
                );
            }
            Event::Fatal(_) => {
                self.fatal = true;
                self.owned.clear();
                self.revoked.clear();
            }
            _ => {}
        }
    }

    fn on_request(&mut self, conn: ConnId, req: &Pending) {
        if !GROUP_APIS.contains(&req.api) {
            return;
        }
        if self.debug {
            eprintln!("  request {:?} on {conn:?}", req.api);
        }
        assert!(!self.fatal_armed, "{:?} sent after Event::Fatal", req.api);
        let mut generation = -1;
        if req.api == ApiKey::OffsetCommit {
            let body = req.body().expect("decodes");
            let commit = OffsetCommitRequest::decode(req.version, &body).expect("decodes");
            generation = commit.generation_id_or_member_epoch;
            if generation >= 0 {
                assert!(
                    !self.in_flight(ApiKey::JoinGroup) && !self.in_flight(ApiKey::SyncGroup),
                    "OffsetCommit (generation {generation}) sent while a JoinGroup or SyncGroup \
                     is in flight: {:?}",
                    self.in_flight
                );
            }
            assert!(
                !self.in_flight(ApiKey::OffsetCommit),
                "a second OffsetCommit in flight: {:?}",
                self.in_flight
            );
        }
        if !self.tainted.contains(&conn) {
            self.in_flight
                .entry(conn)
                .or_default()
                .push((req.correlation_id, req.api, generation));
        }
    }

    fn on_answered(&mut self, conn: ConnId, correlation_id: i32) {
        if let Some(v) = self.in_flight.get_mut(&conn) {
            v.retain(|(c, ..)| *c != correlation_id);
        }
    }

    fn on_conn_gone(&mut self, conn: ConnId) {
        self.in_flight.remove(&conn);
    }

    fn on_raw(&mut self, conn: ConnId) {
        self.in_flight.remove(&conn);
        self.tainted.insert(conn);
    }

    fn respond(&mut self, cluster: &Cluster, broker: i32, req: &Pending) -> Option<Bytes> {
        // This answer's tweak, whatever `answer` below changes in it.
        let saved = self.tweak.clone();
        let out = self.answer(cluster, broker, req);
        self.tweak = saved;
        out
    }
}

impl Group {
    fn answer(&mut self, cluster: &Cluster, broker: i32, req: &Pending) -> Option<Bytes> {
        let body = req.body()?;
        let v = req.version;
        if self.tweak.error.is_some() {
            *self.errors.entry(req.api.name()).or_default() += 1;
        }
        if req.api != ApiKey::FindCoordinator
            && GROUP_APIS.contains(&req.api)
            && broker != self.coordinator
            && self.tweak.error.is_none()
        {
            // Not the coordinator (any more).
            self.tweak.error = GROUP_ERRORS
                .iter()
                .position(|e| *e == ErrorCode::NotCoordinator)
                .map(|i| i as u8);
        }
        match req.api {
            ApiKey::FindCoordinator => {
                let r = FindCoordinatorRequest::decode(v, &body).ok()?;
                encode(&self.find_coordinator(&r, v), v)
            }
            ApiKey::JoinGroup => {
                let r = JoinGroupRequest::decode(v, &body).ok()?;
                let resp = self.join(&r, v);
                encode(&resp, v)
            }
            ApiKey::SyncGroup => {
                let r = SyncGroupRequest::decode(v, &body).ok()?;
                let resp = self.sync(cluster, &r);
                encode(&resp, v)
            }
            ApiKey::Heartbeat => {
                let r = HeartbeatRequest::decode(v, &body).ok()?;
                encode(&self.heartbeat(&r), v)
            }
            ApiKey::LeaveGroup => {
                let r = LeaveGroupRequest::decode(v, &body).ok()?;
                let resp = self.leave(&r, v);
                encode(&resp, v)
            }
            ApiKey::OffsetCommit => {
                let r = OffsetCommitRequest::decode(v, &body).ok()?;
                let resp = self.commit(&r);
                encode(&resp, v)
            }
            ApiKey::OffsetFetch => {
                let r = OffsetFetchRequest::decode(v, &body).ok()?;
                encode(&self.offset_fetch(&r, v), v)
            }
            ApiKey::DescribeGroups => {
                let r = DescribeGroupsRequest::decode(v, &body).ok()?;
                encode(&self.describe(&r), v)
            }
            _ => None,
        }
    }
}

// ----- the run ------------------------------------------------------------------------------

type H = Harness<Group>;

/// The checks after every op.
fn check(h: &H) {
    let state = h.c.group_state().expect("a group");
    let ts: Vec<_> = h.c.group_transitions().copied().collect();
    for t in &ts {
        assert!(t.from.may_move_to(t.to), "illegal transition {t}");
    }
    for w in ts.windows(2) {
        assert_eq!(
            w[0].to, w[1].from,
            "transitions do not chain: {} then {}",
            w[0], w[1]
        );
    }
    assert_eq!(
        ts.last().map_or(MemberState::Unjoined, |t| t.to),
        state,
        "group_state() is not where the transitions lead"
    );
    assert_eq!(
        state == MemberState::Fatal,
        h.ext.fatal,
        "state {state} but Event::Fatal {}",
        if h.ext.fatal { "came" } else { "did not come" }
    );
    for tp in h.c.assignment() {
        assert!(
            h.ext.owned.contains(&tp) || h.ext.manual.contains(&tp),
            "{tp} is in the assignment but the application does not hold it \
             (held: {:?}, by hand: {:?})",
            h.ext.owned,
            h.ext.manual
        );
    }
}

fn subscribe(h: &mut H, s: Subscription) {
    let r = match s {
        Subscription::Topics(mask) => h.c.subscribe(topics(mask)),
        Subscription::Pattern(p) => {
            h.c.subscribe_pattern(PATTERNS[usize::from(p) % PATTERNS.len()])
        }
    };
    if h.ext.close_called {
        assert_eq!(r, Err(UsageError::Closed));
    }
    match r {
        Ok(()) => assert!(h.ext.manual.is_empty(), "subscribed while assigned by hand"),
        Err(
            UsageError::Closed
            | UsageError::AssignedManually
            | UsageError::EmptyTopicName
            | UsageError::InvalidPattern(_),
        ) => {}
        Err(UsageError::GroupFailed(_)) => assert!(h.ext.fatal),
        Err(e) => panic!("subscribe: {e:?}"),
    }
}

fn commit(h: &mut H, v: Vec<(Tp, i16)>) {
    let offsets: BTreeMap<TopicPartition, OffsetAndMetadata> = v
        .into_iter()
        .take(8)
        .map(|(tp, o)| (tp.get(), OffsetAndMetadata::new(i64::from(o))))
        .collect();
    // The first refusal that is certain (the consumer checks in this order); the
    // consumer may refuse a partition earlier that the harness thinks it may
    // commit, never a later one.
    let certain = if h.ext.close_called {
        Some(UsageError::Closed)
    } else if h.ext.fatal {
        None // GroupFailed, checked below
    } else {
        offsets.iter().find_map(|(tp, o)| {
            if o.offset < 0 {
                Some(UsageError::NegativeOffset(o.offset))
            } else if !h.ext.may_commit(tp) {
                Some(UsageError::NotOwned(tp.clone()))
            } else {
                None
            }
        })
    };
    let asked: BTreeSet<TopicPartition> = offsets.keys().cloned().collect();
    let r = h.c.commit(offsets.clone());
    let maybe_refused =
        |e: &UsageError| matches!(e, UsageError::NotOwned(tp) if h.ext.may_commit(tp));
    match (&r, certain) {
        (_, Some(UsageError::Closed)) => assert_eq!(r, Err(UsageError::Closed)),
        (Err(UsageError::GroupFailed(_)), None) if h.ext.fatal => {}
        (_, None) if h.ext.fatal => panic!("commit after Fatal: {r:?}"),
        (Ok(id), None) => {
            h.ext.commits.insert(*id, asked);
        }
        (Err(e), None) => assert!(maybe_refused(e), "commit of {offsets:?}: {e:?}"),
        (Err(e), Some(c)) => assert!(
            *e == c || maybe_refused(e),
            "commit of {offsets:?}: {e:?}, expected {c:?}"
        ),
        (Ok(_), Some(c)) => panic!("commit of {offsets:?} accepted, expected {c:?}"),
    }
}

fn commit_consumed(h: &mut H) {
    // It commits only what the application may commit.
    let may: BTreeSet<TopicPartition> = h
        .ext
        .owned
        .iter()
        .chain(&h.ext.manual)
        .chain(h.ext.revoked.values().flatten())
        .cloned()
        .collect();
    match h.c.commit_consumed() {
        Ok(id) => {
            assert!(!h.ext.close_called && !h.ext.fatal);
            h.ext.commits.insert(id, may);
        }
        Err(UsageError::Closed) => assert!(h.ext.close_called),
        Err(UsageError::GroupFailed(_)) => assert!(h.ext.fatal),
        Err(e) => panic!("commit_consumed: {e:?}"),
    }
}

fn ack(h: &mut H, t: Token) {
    let token = match t {
        Token::Latest => h.ext.tokens.last().copied(),
        Token::Earlier(i) => {
            let n = h.ext.tokens.len();
            (n >= 2).then(|| h.ext.tokens[usize::from(i) % (n - 1)])
        }
        Token::MadeUp(t) => Some(t),
    };
    let Some(token) = token else {
        return;
    };
    let r = h.c.ack_rebalance(token);
    if h.ext.close_called {
        assert_eq!(r, Err(UsageError::Closed));
    } else if h.ext.tokens.last() != Some(&token) {
        assert_eq!(
            r,
            Err(UsageError::StaleToken(token)),
            "ack of {token}, not the latest ({:?})",
            h.ext.tokens.last()
        );
    }
    if r.is_ok() {
        h.ext.revoked.remove(&token);
    }
}

fn poll(h: &mut H) {
    let got = h.poll();
    h.ext.records += got.len();
    for batch in got.partitions() {
        let tp = &batch.tp;
        assert!(
            h.ext.owned.contains(tp) || h.ext.manual.contains(tp),
            "records for {tp}, which the application does not hold \
             (held: {:?}, by hand: {:?})",
            h.ext.owned,
            h.ext.manual
        );
    }
}

/// One input, from libFuzzer's bytes (as `fuzz_target!` reads them).
pub fn run_bytes(data: &[u8]) {
    if let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) {
        run(input);
    }
}

pub fn run(input: Input) {
    if std::env::var_os("KASIO_FUZZ_DEBUG").is_some() {
        eprintln!("{input:#?}");
    }
    let brokers = usize::from(input.cluster.brokers % 3) + 1;
    let mut group = Group::new(&input.group, brokers);
    group.debug = std::env::var_os("KASIO_FUZZ_DEBUG").is_some();
    let mut h = Harness::new(
        config(&input.cfg),
        input.cfg.seed,
        &input.cluster,
        input.cfg.read_committed,
        group,
    );
    h.drain();
    subscribe(&mut h, input.initial);
    h.drain();
    check(&h);
    let mut last = h.c.group_state();
    for op in input.ops.into_iter().take(MAX_OPS) {
        h.ext.fatal_armed = h.ext.fatal;
        if h.ext.debug {
            eprintln!("op {op:?} at {:?}", h.now);
        }
        match op {
            Op::Subscribe(s) => subscribe(&mut h, s),
            Op::Unsubscribe => {
                let r = h.c.unsubscribe();
                assert!(r.is_ok() || h.ext.close_called, "{r:?}");
            }
            Op::Assign(v) => {
                let wanted = tps(&v);
                if h.c.assign(wanted.clone()).is_ok() {
                    h.ext.manual = wanted.into_iter().collect();
                }
            }
            Op::Commit(v) => commit(&mut h, v),
            Op::CommitConsumed => commit_consumed(&mut h),
            Op::Committed(v) => match h.c.committed(tps(&v)) {
                Ok(id) => {
                    assert!(h.ext.queries.insert(id), "query id {id:?} reused");
                }
                Err(e) => assert!(h.ext.close_called, "committed: {e:?}"),
            },
            Op::DescribeGroup => match h.c.describe_group() {
                Ok(id) => {
                    assert!(h.ext.queries.insert(id), "query id {id:?} reused");
                }
                Err(e) => assert!(h.ext.close_called, "describe_group: {e:?}"),
            },
            Op::Ack(t) => ack(&mut h, t),
            Op::Pause(v) => {
                let _ = h.c.pause(&tps(&v));
            }
            Op::Resume(v) => {
                let _ = h.c.resume(&tps(&v));
            }
            Op::Seek(tp, o) => {
                let _ = h.c.seek(&tp.get(), i64::from(o % 64));
            }
            Op::Poll => poll(&mut h),
            Op::Close => {
                h.ext.close_called = true;
                h.close_called = true;
                h.ext.manual.clear();
                h.c.close();
            }
            Op::Accept(i) => h.accept(i),
            Op::Refuse(i) => h.refuse(i, false),
            Op::Drop(i) => h.refuse(i, true),
            Op::Stale(k) => h.stale(k),
            Op::Answer { conn, how, group } => {
                h.ext.tweak = group;
                h.answer(conn, how);
                h.ext.tweak = GroupTweak::default();
            }
            Op::AnswerAll => h.answer_all(),
            Op::GroupError(e) => {
                let waiting = h.conns.iter().find(|(_, c)| {
                    c.connected
                        && c.unanswered
                            .front()
                            .is_some_and(|r| GROUP_APIS.contains(&r.api))
                });
                if let Some((&conn, _)) = waiting {
                    h.ext.tweak.error = Some(e);
                    let how = Answer::Valid {
                        tweak: no_tweak(),
                        chunk: 0,
                    };
                    h.answer_on(conn, how);
                    h.ext.tweak = GroupTweak::default();
                }
            }
            Op::Run(n) => {
                h.run(n);
                h.drain();
                check(&h);
                poll(&mut h);
            }
            Op::Raw { conn, bytes } => h.raw(conn, &bytes),
            Op::Advance(ms) => h.advance(ms),
            Op::AdvanceLong(s) => h.advance_long(s),
            Op::ToTimeout => h.jump_to_timeout(),
            Op::Backwards(ms) => h.backwards(ms),
            Op::Cluster(change) => h.cluster.change(change),
            Op::Group(change) => h.ext.change(change, brokers),
        }
        h.drain();
        check(&h);
        let state = h.c.group_state();
        if state != last {
            if state == Some(MemberState::Stable) {
                h.ext.stable += 1;
            }
            if last == Some(MemberState::Stable) {
                h.ext.rebalances += 1;
            }
            last = state;
        }
    }
    h.ext.fatal_armed = h.ext.fatal;
    h.ext.close_called = true;
    h.finish();
    for id in h.ext.commits.keys() {
        assert!(h.ext.answered.contains(id), "commit {id:?} never answered");
    }
    for id in &h.ext.queries {
        assert!(
            h.ext.queries_answered.contains(id),
            "committed query {id:?} never answered"
        );
    }
    if std::env::var_os("KASIO_FUZZ_STATS").is_some() {
        eprintln!(
            "stats: stable {} rebalances {} records {} fatal {} requests {:?} errors {:?}",
            h.ext.stable, h.ext.rebalances, h.ext.records, h.ext.fatal, h.requests, h.ext.errors
        );
    }
}
