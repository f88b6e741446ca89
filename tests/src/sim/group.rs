//! The group coordinator, classic protocol (Kafka's `GroupCoordinator`, small):
//! FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit,
//! OffsetFetch and DescribeGroups, with generations, the member-id round trip
//! (KIP-394), the initial rebalance delay, rebalance and session timeouts, static
//! members (KIP-345) and a coordinator that moves with its broker.
//!
//! A JoinGroup waits until the rebalance completes and a follower's SyncGroup until
//! the leader's arrives, and like a parked Fetch each holds its connection (Kafka
//! reads nothing more from a connection until its response is sent).
//!
//! Every offset commit the coordinator accepts is recorded ([`CommitRecord`]) with
//! the generation and the member's assignment then, for group invariants.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use kasio_core::protocol::consumer_protocol::decode_versioned;
use kasio_core::protocol::messages::describe_groups_response::{
    DescribedGroup, DescribedGroupMember,
};
use kasio_core::protocol::messages::find_coordinator_response::Coordinator as CoordinatorEntry;
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
use kasio_core::protocol::{ApiKey, ErrorCode};
use kasio_core::time::{Duration, Instant};

use super::cluster::Cluster;
use super::record::Digest;
use super::server::{response_frame, Reply, Req, ServerConn};

/// Kafka's `group.min.session.timeout.ms` / `group.max.session.timeout.ms`.
const MIN_SESSION: Duration = Duration::from_millis(6_000);
const MAX_SESSION: Duration = Duration::from_millis(1_800_000);

/// Topics with partitions, as OffsetFetch names them.
type TopicList = Vec<(String, Vec<i32>)>;
/// (partition, offset, leader epoch, metadata) as OffsetFetch returns it.
type FetchedOffset = (i32, i64, i32, Option<String>);

/// A group's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    /// No members.
    Empty,
    /// Waiting for members to (re)join.
    PreparingRebalance,
    /// Joined; waiting for the leader's assignment.
    CompletingRebalance,
    /// Assigned.
    Stable,
}

impl GroupState {
    fn name(self) -> &'static str {
        match self {
            Self::Empty => "Empty",
            Self::PreparingRebalance => "PreparingRebalance",
            Self::CompletingRebalance => "CompletingRebalance",
            Self::Stable => "Stable",
        }
    }
}

/// A response that waits for the group.
#[derive(Debug, Clone, Copy)]
struct Pending {
    conn: ServerConn,
    version: i16,
    corr: i32,
}

#[derive(Debug, Clone)]
struct Member {
    instance_id: Option<String>,
    client_id: String,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    protocol_type: String,
    protocols: Vec<(String, Bytes)>,
    assignment: Bytes,
    /// Every partition a leader ever assigned it (for the checks: a member
    /// may commit what it is revoking, or still holds from an assignment it
    /// never heard was replaced, until someone else owns it).
    ever: BTreeSet<(String, i32)>,
    session_deadline: Instant,
    join: Option<Pending>,
    sync: Option<Pending>,
}

impl Member {
    /// Answers the JoinGroup and SyncGroup this member waits on, if any, with
    /// `code` (the frames go to `ready`).
    fn fail_waiting(&mut self, code: ErrorCode, ready: &mut Vec<(ServerConn, Bytes)>) {
        let waiting = [
            (ApiKey::JoinGroup, self.join.take()),
            (ApiKey::SyncGroup, self.sync.take()),
        ];
        for (api, p) in waiting {
            if let Some(p) = p {
                ready.push((p.conn, error_frame(api, p, code)));
            }
        }
    }
}

/// An offset commit the coordinator accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitRecord {
    /// When.
    pub at: Instant,
    /// The group.
    pub group: String,
    /// The member (empty for a commit outside the group protocol).
    pub member: String,
    /// Its generation (-1 outside the group protocol).
    pub generation: i32,
    /// What the member was assigned in that generation (topic, partition).
    pub owned: Vec<(String, i32)>,
    /// The committed offsets.
    pub offsets: Vec<(String, i32, i64)>,
    /// The group's generation when it accepted the commit.
    pub group_generation: i32,
    /// Whether the member was in the group then.
    pub was_member: bool,
    /// Every partition a leader ever assigned the member.
    pub ever: Vec<(String, i32)>,
    /// Partitions assigned to other members of the group then.
    pub others: Vec<(String, i32)>,
}

/// Test-only faults in the coordinator, to prove that the group invariants of
/// `tests/tests/sim_group.rs` can fail: each switch turns off one check Kafka's
/// `GroupCoordinator` makes. All off by default; never on outside those tests.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CoordinatorBugs {
    /// OffsetCommit skips the generation check.
    pub accept_any_generation: bool,
    /// OffsetCommit skips the member check.
    pub accept_any_member: bool,
    /// SyncGroup skips the generation check.
    pub ignore_sync_generation: bool,
    /// Sessions never expire.
    pub never_expire: bool,
    /// Every live broker answers as the coordinator.
    pub never_not_coordinator: bool,
    /// An old member id of a static member gets UNKNOWN_MEMBER_ID, not
    /// FENCED_INSTANCE_ID (what this coordinator did before it followed
    /// Kafka's `validateMember`).
    pub unknown_not_fenced: bool,
    /// A static member's restart rebalances the group instead of handing it
    /// its old assignment.
    pub static_rejoin_rebalances: bool,
}

/// A read-only view of one member, as the coordinator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberView {
    /// `group.instance.id`, for a static member.
    pub instance_id: Option<String>,
    /// The assignment the leader's SyncGroup gave it in this generation, as
    /// sent (empty until then; [`partitions`](Self::partitions) decodes it).
    pub assignment: Bytes,
    /// Its session timeout.
    pub session_timeout: Duration,
    /// Its rebalance timeout.
    pub rebalance_timeout: Duration,
    /// A JoinGroup of it waits for the rebalance.
    pub awaiting_join: bool,
    /// A SyncGroup of it waits for the leader.
    pub awaiting_sync: bool,
}

/// A read-only view of one group, for invariant checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupView {
    /// The state.
    pub state: GroupState,
    /// The current generation.
    pub generation: i32,
    /// The leader, if any.
    pub leader: Option<String>,
    /// The members by member id.
    pub members: BTreeMap<String, MemberView>,
    /// The committed offsets: (topic, partition) → offset.
    pub offsets: BTreeMap<(String, i32), i64>,
}

impl MemberView {
    /// The assigned partitions, (topic, partition).
    pub fn partitions(&self) -> Vec<(String, i32)> {
        owned_partitions(&self.assignment)
    }
}

impl GroupView {
    /// The member id a static member's instance id maps to.
    pub fn static_member(&self, instance: &str) -> Option<&str> {
        self.members
            .iter()
            .find(|(_, m)| m.instance_id.as_deref() == Some(instance))
            .map(|(id, _)| id.as_str())
    }
}

/// One group.
#[derive(Debug, Clone)]
struct Group {
    state: GroupState,
    generation: i32,
    protocol_type: Option<String>,
    protocol: Option<String>,
    leader: Option<String>,
    members: BTreeMap<String, Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, not joined yet.
    pending_ids: BTreeSet<String>,
    /// When the current phase ends (rebalance or sync timeout, initial delay).
    deadline: Option<Instant>,
    offsets: BTreeMap<(String, i32), (i64, i32, Option<String>)>,
    /// The broker that coordinated the group when it last looked (to notice that
    /// coordination moved, whatever moved it).
    host: Option<i32>,
}

impl Group {
    fn new() -> Self {
        Self {
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            pending_ids: BTreeSet::new(),
            deadline: None,
            offsets: BTreeMap::new(),
            host: None,
        }
    }
}

/// Consumer groups and their committed offsets.
#[derive(Debug, Default)]
pub(crate) struct Coordinator {
    groups: BTreeMap<String, Group>,
    /// Coordinators moved by hand: group → broker.
    moved: BTreeMap<String, i32>,
    /// `group.initial.rebalance.delay.ms`.
    pub initial_delay: Duration,
    /// `group.min.session.timeout.ms` and `group.max.session.timeout.ms`
    /// (`None`: Kafka's defaults, 6 s and 30 min).
    pub session_bounds: Option<(Duration, Duration)>,
    pub commits: Vec<CommitRecord>,
    next_member: u64,
    /// Test-only faults (all off by default).
    pub bugs: CoordinatorBugs,
    /// Replies the coordinator decided, to send.
    ready: Vec<(ServerConn, Bytes)>,
}

impl Coordinator {
    /// A broker crashed and `closed` went with it. Group state is persisted (in
    /// `__consumer_offsets`); the joins and syncs that waited on those
    /// connections are gone. Waits on other brokers' connections stay: the
    /// broker that holds them answers them (complete the join, or
    /// NOT_COORDINATOR when the group is unloaded there), as Kafka's
    /// coordinator does; a crash elsewhere does not touch them.
    pub fn broker_down(&mut self, closed: &[ServerConn]) {
        let gone = |p: &Option<Pending>| p.is_some_and(|p| closed.contains(&p.conn));
        for g in self.groups.values_mut() {
            for m in g.members.values_mut() {
                if gone(&m.join) {
                    m.join = None;
                }
                if gone(&m.sync) {
                    m.sync = None;
                }
            }
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        // A member whose join or sync waits has no session running (the
        // group's deadline bounds the wait): its deadline, passed or not, is
        // no wake-up (a passed one would be due forever).
        self.groups
            .values()
            .flat_map(|g| {
                g.deadline.into_iter().chain(
                    g.members
                        .values()
                        .filter(|m| m.join.is_none() && m.sync.is_none())
                        .map(|m| m.session_deadline),
                )
            })
            .min()
    }
}

/// Kafka's `ClassicGroup.validateMember`: a request naming an instance id must
/// come from the member id that instance maps to now (else FENCED_INSTANCE_ID:
/// a duplicate or an old incarnation of a static member); the member must exist.
fn check_member(
    g: &Group,
    member: &str,
    instance: Option<&str>,
    bugs: CoordinatorBugs,
) -> Option<ErrorCode> {
    if bugs.unknown_not_fenced && !g.members.contains_key(member) {
        return Some(ErrorCode::UnknownMemberId);
    }
    if let Some(iid) = instance {
        match g
            .members
            .iter()
            .find(|(_, m)| m.instance_id.as_deref() == Some(iid))
        {
            None => return Some(ErrorCode::UnknownMemberId),
            Some((id, _)) if id != member => return Some(ErrorCode::FencedInstanceId),
            Some(_) => {}
        }
    }
    (!g.members.contains_key(member)).then_some(ErrorCode::UnknownMemberId)
}

fn owned_partitions(assignment: &Bytes) -> Vec<(String, i32)> {
    match decode_versioned::<ConsumerProtocolAssignment>(assignment) {
        Ok((a, _)) => a
            .assigned_partitions
            .iter()
            .flat_map(|t| t.partitions.iter().map(move |p| (t.topic.clone(), *p)))
            .collect(),
        Err(_) => Vec::new(),
    }
}

impl Cluster {
    /// The broker coordinating `group`: a stable hash over all brokers, moving to
    /// the next live one while it is down (a new `__consumer_offsets` leader).
    pub fn coordinator_of(&self, group: &str) -> Option<i32> {
        let ids = self.broker_ids();
        if let Some(&b) = self.coordinator.moved.get(group) {
            if self.is_up(b) {
                return Some(b);
            }
        }
        let mut d = Digest::new();
        d.bytes(group.as_bytes());
        let start = (d.finish() % ids.len().max(1) as u64) as usize;
        (0..ids.len())
            .map(|k| ids[(start + k) % ids.len()])
            .find(|b| self.is_up(*b))
    }

    /// Moves a group's coordinator to `broker` (NOT_COORDINATOR for whoever asks
    /// the old one; waiting joins and syncs get it too).
    pub fn move_coordinator(&mut self, group: &str, broker: i32) {
        self.coordinator.moved.insert(group.into(), broker);
        // (A move to where it is already changes nothing.)
        self.unload_moved_groups();
        self.flush_group_replies();
    }

    /// The state, generation and members of a group, if it exists.
    pub fn group_state(&self, group: &str) -> Option<(GroupState, i32, Vec<String>)> {
        let g = self.coordinator.groups.get(group)?;
        Some((g.state, g.generation, g.members.keys().cloned().collect()))
    }

    /// A group's committed offset for a partition.
    pub fn committed(&self, group: &str, topic: &str, partition: i32) -> Option<i64> {
        let g = self.coordinator.groups.get(group)?;
        g.offsets.get(&(topic.to_string(), partition)).map(|o| o.0)
    }

    /// Every offset commit accepted so far.
    pub fn commits(&self) -> &[CommitRecord] {
        &self.coordinator.commits
    }

    /// Offsets a committed transaction carried (TxnOffsetCommit, then EndTxn):
    /// stored as OffsetCommit stores them, recorded as a commit outside the
    /// group protocol (no member, generation -1).
    pub(crate) fn commit_txn_offsets(
        &mut self,
        group: &str,
        offsets: &[(String, i32, i64, i32, Option<String>)],
    ) {
        let g = self
            .coordinator
            .groups
            .entry(group.to_string())
            .or_insert_with(Group::new);
        for (t, p, o, e, m) in offsets {
            g.offsets.insert((t.clone(), *p), (*o, *e, m.clone()));
        }
        let record = CommitRecord {
            at: self.now,
            group: group.to_string(),
            member: String::new(),
            generation: -1,
            group_generation: g.generation,
            was_member: false,
            ever: Vec::new(),
            others: Vec::new(),
            owned: Vec::new(),
            offsets: offsets
                .iter()
                .map(|(t, p, o, ..)| (t.clone(), *p, *o))
                .collect(),
        };
        self.coordinator.commits.push(record);
    }

    /// A read-only view of a group (state, generation, members with their
    /// assignments, committed offsets), if it exists.
    pub fn group_view(&self, group: &str) -> Option<GroupView> {
        let g = self.coordinator.groups.get(group)?;
        Some(GroupView {
            state: g.state,
            generation: g.generation,
            leader: g.leader.clone(),
            members: g
                .members
                .iter()
                .map(|(id, m)| {
                    let v = MemberView {
                        instance_id: m.instance_id.clone(),
                        assignment: m.assignment.clone(),
                        session_timeout: m.session_timeout,
                        rebalance_timeout: m.rebalance_timeout,
                        awaiting_join: m.join.is_some(),
                        awaiting_sync: m.sync.is_some(),
                    };
                    (id.clone(), v)
                })
                .collect(),
            offsets: g.offsets.iter().map(|(k, v)| (k.clone(), v.0)).collect(),
        })
    }

    /// Switches test-only coordinator faults on or off (see [`CoordinatorBugs`]).
    #[doc(hidden)]
    pub fn set_coordinator_bugs(&mut self, bugs: CoordinatorBugs) {
        self.coordinator.bugs = bugs;
    }

    /// `group.min.session.timeout.ms` and `group.max.session.timeout.ms`: a
    /// JoinGroup asking for a session outside them gets INVALID_SESSION_TIMEOUT
    /// (Kafka's defaults, 6 s and 30 min, unless set).
    pub fn set_group_session_bounds(&mut self, min: Duration, max: Duration) {
        self.coordinator.session_bounds = Some((min, max));
    }

    /// `group.initial.rebalance.delay.ms` (Kafka's default is 3 s; 0 here).
    pub fn set_initial_rebalance_delay(&mut self, d: Duration) {
        self.coordinator.initial_delay = d;
    }

    pub(crate) fn handle_group_api(&mut self, broker: i32, conn: ServerConn, req: &Req) -> Reply {
        let pending = Pending {
            conn,
            version: req.version,
            corr: req.corr,
        };
        self.unload_moved_groups();
        let reply = match req.api {
            ApiKey::FindCoordinator => self.find_coordinator(broker, req),
            ApiKey::JoinGroup => self.join_group(broker, pending, req),
            ApiKey::SyncGroup => self.sync_group(broker, pending, req),
            ApiKey::Heartbeat => self.heartbeat(broker, req),
            ApiKey::LeaveGroup => self.leave_group(broker, req),
            ApiKey::OffsetCommit => self.offset_commit(broker, req),
            ApiKey::OffsetFetch => self.offset_fetch(broker, req),
            ApiKey::DescribeGroups => self.describe_groups(broker, req),
            _ => Some(Reply::Close),
        };
        let reply = reply.unwrap_or(Reply::Close);
        if matches!(reply, Reply::Wait) {
            if let Some(c) = self.conns.get_mut(&conn) {
                c.group_wait = true;
            }
        }
        self.flush_group_replies();
        reply
    }

    /// Sends the replies the coordinator decided and lets their connections go on.
    fn flush_group_replies(&mut self) {
        for (conn, data) in std::mem::take(&mut self.coordinator.ready) {
            if self.conns.contains_key(&conn) {
                self.outputs.push_back(super::server::Output::Send {
                    conn,
                    data,
                    fetched: Vec::new(),
                });
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.group_wait = false;
                }
                // The connection being dispatched goes on in its own pump.
                if self.current != Some(conn) {
                    self.pump(conn);
                }
            }
        }
    }

    /// A group whose coordinator changed since it last looked (moved by hand, its
    /// broker crashed, or restarted and took coordination back) answers every
    /// JoinGroup and SyncGroup waiting on the old coordinator NOT_COORDINATOR, as
    /// Kafka's coordinator does when it unloads a group.
    fn unload_moved_groups(&mut self) {
        let names: Vec<String> = self.coordinator.groups.keys().cloned().collect();
        for name in names {
            let now_at = self.coordinator_of(&name);
            let g = self.coordinator.groups.get_mut(&name).expect("listed");
            if g.host == now_at {
                continue;
            }
            // A group seen for the first time (just made, or back after no
            // broker could coordinate it) has nobody waiting on an old
            // coordinator.
            let moved = g.host.is_some();
            g.host = now_at;
            // The new coordinator loads the group and gives every member a full
            // session from now (Kafka reschedules their heartbeats on load).
            let now = self.now;
            for m in g.members.values_mut() {
                if now_at.is_some() {
                    m.session_deadline = now + m.session_timeout;
                }
                if moved {
                    m.fail_waiting(ErrorCode::NotCoordinator, &mut self.coordinator.ready);
                }
            }
        }
    }

    pub(crate) fn group_timeouts(&mut self) {
        let now = self.now;
        self.unload_moved_groups();
        let never_expire = self.coordinator.bugs.never_expire;
        let names: Vec<String> = self.coordinator.groups.keys().cloned().collect();
        for name in names {
            let g = self.coordinator.groups.get_mut(&name).expect("listed");
            // Sessions: a member not heard from in time is gone (not while its
            // join or sync waits: the rebalance timeout bounds those, as in Kafka's
            // `hasSatisfiedHeartbeat`).
            let expired: Vec<String> = g
                .members
                .iter()
                .filter(|(_, m)| {
                    !never_expire
                        && m.join.is_none()
                        && m.sync.is_none()
                        && now >= m.session_deadline
                })
                .map(|(id, _)| id.clone())
                .collect();
            for id in &expired {
                self.notes
                    .push((None, format!("group {name}: member {id} session expired")));
            }
            if !expired.is_empty() {
                let g = self.coordinator.groups.get_mut(&name).expect("listed");
                for id in &expired {
                    remove_member(g, id, &mut self.coordinator.ready);
                }
                self.prepare_rebalance(&name);
            }
            let g = self.coordinator.groups.get_mut(&name).expect("listed");
            if g.deadline.is_some_and(|d| now >= d) {
                g.deadline = None;
                match g.state {
                    GroupState::PreparingRebalance => self.complete_join(&name),
                    GroupState::CompletingRebalance => {
                        // The leader never sent the assignment: members that did
                        // not sync are dropped and the group rebalances.
                        let g = self.coordinator.groups.get_mut(&name).expect("listed");
                        let lost: Vec<String> = g
                            .members
                            .iter()
                            .filter(|(_, m)| m.sync.is_none())
                            .map(|(id, _)| id.clone())
                            .collect();
                        for id in &lost {
                            remove_member(g, id, &mut self.coordinator.ready);
                        }
                        self.prepare_rebalance(&name);
                    }
                    _ => {}
                }
            }
        }
        self.flush_group_replies();
    }

    /// The group's coordinator check: `None` if `broker` coordinates it.
    fn not_coordinator(&self, broker: i32, group: &str) -> Option<ErrorCode> {
        if self.coordinator.bugs.never_not_coordinator && self.is_up(broker) {
            return None;
        }
        match self.coordinator_of(group) {
            Some(b) if b == broker => None,
            Some(_) => Some(ErrorCode::NotCoordinator),
            None => Some(ErrorCode::CoordinatorNotAvailable),
        }
    }

    fn find_coordinator(&mut self, broker: i32, req: &Req) -> Option<Reply> {
        let r: FindCoordinatorRequest = self.decode(broker, req)?;
        let injected = self.take_injection(broker, ApiKey::FindCoordinator);
        let lookup = |c: &Cluster, key: &str| -> (ErrorCode, i32, String, i32) {
            if let Some(code) = injected {
                return (code, -1, String::new(), -1);
            }
            match c
                .coordinator_of(key)
                .and_then(|b| c.brokers.get(&b).map(|x| (b, x)))
            {
                Some((b, x)) => (ErrorCode::None, b, x.host.clone(), x.port),
                None => (ErrorCode::CoordinatorNotAvailable, -1, String::new(), -1),
            }
        };
        let resp = if req.version >= 4 {
            FindCoordinatorResponse {
                coordinators: r
                    .coordinator_keys
                    .iter()
                    .map(|k| {
                        let (code, node_id, host, port) = lookup(self, k);
                        CoordinatorEntry {
                            key: k.clone(),
                            node_id,
                            host,
                            port,
                            error_code: code.code(),
                            error_message: None,
                        }
                    })
                    .collect(),
                ..Default::default()
            }
        } else {
            let (code, node_id, host, port) = lookup(self, &r.key);
            FindCoordinatorResponse {
                error_code: code.code(),
                error_message: None,
                node_id,
                host,
                port,
                ..Default::default()
            }
        };
        self.note(
            broker,
            format!("FindCoordinator v{} {:?}", req.version, r.key),
        );
        req.reply(&resp)
    }

    fn join_group(&mut self, broker: i32, p: Pending, req: &Req) -> Option<Reply> {
        let r: JoinGroupRequest = self.decode(broker, req)?;
        let fail = |code: ErrorCode, member: String| {
            let resp = JoinGroupResponse {
                error_code: code.code(),
                member_id: member,
                protocol_name: if req.version >= 7 {
                    None
                } else {
                    Some(String::new())
                },
                ..Default::default()
            };
            req.reply(&resp)
        };
        let injected = self.take_injection(broker, ApiKey::JoinGroup);
        if let Some(code) = injected.or_else(|| self.not_coordinator(broker, &r.group_id)) {
            return fail(code, r.member_id);
        }
        if r.group_id.is_empty() {
            return fail(ErrorCode::InvalidGroupId, r.member_id);
        }
        let (lo, hi) = self
            .coordinator
            .session_bounds
            .unwrap_or((MIN_SESSION, MAX_SESSION));
        let session_ms = u64::try_from(r.session_timeout_ms).unwrap_or(0);
        if !(lo.as_millis()..=hi.as_millis()).contains(&session_ms) {
            return fail(ErrorCode::InvalidSessionTimeout, r.member_id);
        }
        let now = self.now;
        let client_id = req.client_id.clone().unwrap_or_default();
        let group = self
            .coordinator
            .groups
            .entry(r.group_id.clone())
            .or_insert_with(Group::new);
        if r.protocol_type.is_empty()
            || r.protocols.is_empty()
            || group
                .protocol_type
                .as_ref()
                .is_some_and(|t| !group.members.is_empty() && *t != r.protocol_type)
            || (!group.members.is_empty()
                && !r.protocols.iter().any(|pr| {
                    group
                        .members
                        .values()
                        .all(|m| m.protocols.iter().any(|(n, _)| *n == pr.name))
                }))
        {
            return fail(ErrorCode::InconsistentGroupProtocol, r.member_id);
        }
        let mut member_id = r.member_id.clone();
        // Static members (KIP-345): the instance id names the member.
        let known_static = r.group_instance_id.as_ref().and_then(|iid| {
            group
                .members
                .iter()
                .find(|(_, m)| m.instance_id.as_ref() == Some(iid))
                .map(|(id, _)| id.clone())
        });
        if member_id.is_empty() {
            self.coordinator.next_member += 1;
            member_id = format!("{client_id}-{:08x}", self.coordinator.next_member);
            let group = self.coordinator.groups.get_mut(&r.group_id).expect("made");
            if let Some(old) = known_static {
                // A static member restarting: it takes over its old identity's
                // place; the old member id is fenced.
                let m = group.members.remove(&old).expect("found");
                if group.leader.as_ref() == Some(&old) {
                    group.leader = Some(member_id.clone());
                }
                let mut m = m;
                m.fail_waiting(ErrorCode::FencedInstanceId, &mut self.coordinator.ready);
                group.members.insert(member_id.clone(), m);
                let bugs = self.coordinator.bugs;
                if group.state == GroupState::Stable && !bugs.static_rejoin_rebalances {
                    let g = group.clone();
                    let leader = g.leader.as_ref() == Some(&member_id);
                    let resp = JoinGroupResponse {
                        error_code: 0,
                        generation_id: g.generation,
                        protocol_type: g.protocol_type.clone(),
                        protocol_name: g.protocol.clone(),
                        leader: g.leader.clone().unwrap_or_default(),
                        skip_assignment: leader && req.version >= 9,
                        member_id: member_id.clone(),
                        members: if leader && req.version >= 9 {
                            join_members(&g)
                        } else {
                            Vec::new()
                        },
                        ..Default::default()
                    };
                    let member = group.members.get_mut(&member_id).expect("inserted");
                    member.session_deadline = now + member.session_timeout;
                    return req.reply(&resp);
                }
            } else if req.version >= 4 && r.group_instance_id.is_none() {
                // KIP-394: hand out the id and have the member come back with it.
                group.pending_ids.insert(member_id.clone());
                return fail(ErrorCode::MemberIdRequired, member_id);
            }
        } else {
            let group = self.coordinator.groups.get_mut(&r.group_id).expect("made");
            // An instance id now held by another member id: this one is fenced
            // (Kafka's `isStaticMemberFenced`), whether or not it is still known.
            let fenced = r.group_instance_id.as_ref().is_some_and(|iid| {
                group
                    .members
                    .iter()
                    .any(|(id, m)| m.instance_id.as_ref() == Some(iid) && *id != member_id)
            });
            if fenced && !self.coordinator.bugs.unknown_not_fenced {
                return fail(ErrorCode::FencedInstanceId, member_id);
            }
            let known =
                group.members.contains_key(&member_id) || group.pending_ids.contains(&member_id);
            if !known {
                return fail(ErrorCode::UnknownMemberId, member_id);
            }
            if let (Some(iid), Some(m)) = (&r.group_instance_id, group.members.get(&member_id)) {
                if m.instance_id.as_ref() != Some(iid) {
                    return fail(ErrorCode::FencedInstanceId, member_id);
                }
            }
        }
        let group = self.coordinator.groups.get_mut(&r.group_id).expect("made");
        group.pending_ids.remove(&member_id);
        let session = Duration::from_millis(r.session_timeout_ms as u64);
        let rebalance = Duration::from_millis(if r.rebalance_timeout_ms > 0 {
            r.rebalance_timeout_ms as u64
        } else {
            r.session_timeout_ms as u64
        });
        let protocols: Vec<(String, Bytes)> = r
            .protocols
            .iter()
            .map(|x| (x.name.clone(), x.metadata.clone()))
            .collect();
        let changed = group
            .members
            .get(&member_id)
            .is_none_or(|m| m.protocols != protocols);
        let m = group
            .members
            .entry(member_id.clone())
            .or_insert_with(|| Member {
                instance_id: r.group_instance_id.clone(),
                client_id,
                session_timeout: session,
                rebalance_timeout: rebalance,
                protocol_type: r.protocol_type.clone(),
                protocols: protocols.clone(),
                assignment: Bytes::new(),
                ever: BTreeSet::new(),
                session_deadline: now + session,
                join: None,
                sync: None,
            });
        m.session_timeout = session;
        m.rebalance_timeout = rebalance;
        m.protocols = protocols;
        m.protocol_type = r.protocol_type.clone();
        m.session_deadline = now + session;
        if let Some(old) = m.join.replace(p) {
            let f = error_frame(ApiKey::JoinGroup, old, ErrorCode::RebalanceInProgress);
            self.coordinator.ready.push((old.conn, f));
        }
        let state = group.state;
        let is_leader = group.leader.as_ref() == Some(&member_id);
        if state == GroupState::Stable && !changed && !is_leader {
            // A follower rejoining a stable group with the same metadata gets the
            // current generation back (as Kafka does).
            let g = group.clone();
            let m = group.members.get_mut(&member_id).expect("present");
            m.join = None;
            let resp = join_response(&g, &member_id);
            self.note(
                broker,
                format!("JoinGroup {} {member_id}: unchanged", r.group_id),
            );
            return req.reply(&resp);
        }
        self.note(
            broker,
            format!(
                "JoinGroup v{} {} member {member_id} (group {state:?})",
                req.version, r.group_id
            ),
        );
        self.prepare_rebalance(&r.group_id);
        self.maybe_complete_join(&r.group_id);
        Some(Reply::Wait)
    }

    /// Moves the group to PreparingRebalance (if it is not there already).
    fn prepare_rebalance(&mut self, name: &str) {
        let now = self.now;
        let initial = self.coordinator.initial_delay;
        let Some(g) = self.coordinator.groups.get_mut(name) else {
            return;
        };
        if g.state == GroupState::PreparingRebalance {
            return;
        }
        // Members waiting for a sync learn that the generation is over; their
        // sessions start again from the answer (Kafka's `propagateAssignment`: a
        // member waiting on the leader cannot heartbeat).
        for m in g.members.values_mut() {
            if let Some(p) = m.sync.take() {
                m.session_deadline = now + m.session_timeout;
                let f = error_frame(ApiKey::SyncGroup, p, ErrorCode::RebalanceInProgress);
                self.coordinator.ready.push((p.conn, f));
            }
        }
        let was_empty = g.state == GroupState::Empty;
        g.state = GroupState::PreparingRebalance;
        let timeout = g
            .members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or(Duration::ZERO);
        g.deadline = Some(now + if was_empty { initial } else { timeout });
        if g.members.is_empty() {
            g.deadline = Some(now);
        }
    }

    /// Completes the join phase once every member rejoined (unless the initial
    /// delay still runs).
    fn maybe_complete_join(&mut self, name: &str) {
        let Some(g) = self.coordinator.groups.get(name) else {
            return;
        };
        let all = g.members.values().all(|m| m.join.is_some());
        let delaying = g.generation == 0 && g.deadline.is_some_and(|d| d > self.now);
        if g.state == GroupState::PreparingRebalance && all && !delaying {
            self.complete_join(name);
        }
    }

    fn complete_join(&mut self, name: &str) {
        let Some(g) = self.coordinator.groups.get_mut(name) else {
            return;
        };
        // Members that did not rejoin in time are out.
        let gone: Vec<String> = g
            .members
            .iter()
            .filter(|(_, m)| m.join.is_none())
            .map(|(id, _)| id.clone())
            .collect();
        for id in &gone {
            remove_member(g, id, &mut self.coordinator.ready);
        }
        g.generation += 1;
        g.deadline = None;
        if g.members.is_empty() {
            g.state = GroupState::Empty;
            g.leader = None;
            g.protocol = None;
            self.notes.push((
                None,
                format!("group {name}: generation {} empty", g.generation),
            ));
            return;
        }
        // The protocol every member supports, by the members' preference.
        let first = g.members.values().next().expect("non-empty");
        g.protocol = first.protocols.iter().map(|(n, _)| n.clone()).find(|n| {
            g.members
                .values()
                .all(|m| m.protocols.iter().any(|(x, _)| x == n))
        });
        g.protocol_type = Some(first.protocol_type.clone());
        if g.leader.as_ref().is_none_or(|l| !g.members.contains_key(l)) {
            g.leader = g.members.keys().next().cloned();
        }
        g.state = GroupState::CompletingRebalance;
        let timeout = g
            .members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or(Duration::ZERO);
        g.deadline = Some(self.now + timeout);
        let snapshot = g.clone();
        for (id, m) in g.members.iter_mut() {
            m.assignment = Bytes::new();
            m.session_deadline = self.now + m.session_timeout;
            if let Some(p) = m.join.take() {
                let resp = join_response(&snapshot, id);
                self.coordinator.ready.push((
                    p.conn,
                    response_frame(ApiKey::JoinGroup, p.version, p.corr, &resp),
                ));
            }
        }
        self.notes.push((
            None,
            format!(
                "group {name}: generation {} leader {:?} members {:?}",
                snapshot.generation,
                snapshot.leader,
                snapshot.members.keys().collect::<Vec<_>>()
            ),
        ));
    }

    fn sync_group(&mut self, broker: i32, p: Pending, req: &Req) -> Option<Reply> {
        let r: SyncGroupRequest = self.decode(broker, req)?;
        let frame = |code: ErrorCode, assignment: Bytes, g: Option<&Group>| {
            let resp = SyncGroupResponse {
                error_code: code.code(),
                protocol_type: g.and_then(|g| g.protocol_type.clone()),
                protocol_name: g.and_then(|g| g.protocol.clone()),
                assignment,
                ..Default::default()
            };
            response_frame(req.api, req.version, req.corr, &resp)
        };
        let injected = self.take_injection(broker, ApiKey::SyncGroup);
        if let Some(code) = injected.or_else(|| self.not_coordinator(broker, &r.group_id)) {
            return Some(Reply::Frame(frame(code, Bytes::new(), None)));
        }
        self.note(
            broker,
            format!(
                "SyncGroup v{} {} gen {} member {}",
                req.version, r.group_id, r.generation_id, r.member_id
            ),
        );
        let now = self.now;
        let Some(g) = self.coordinator.groups.get_mut(&r.group_id) else {
            return Some(Reply::Frame(frame(
                ErrorCode::UnknownMemberId,
                Bytes::new(),
                None,
            )));
        };
        let bugs = self.coordinator.bugs;
        if let Some(code) = check_member(g, &r.member_id, r.group_instance_id.as_deref(), bugs) {
            return Some(Reply::Frame(frame(code, Bytes::new(), None)));
        }
        let m = g.members.get(&r.member_id).expect("checked");
        if r.generation_id != g.generation && !self.coordinator.bugs.ignore_sync_generation {
            return Some(Reply::Frame(frame(
                ErrorCode::IllegalGeneration,
                Bytes::new(),
                None,
            )));
        }
        if r.protocol_type
            .as_ref()
            .is_some_and(|t| Some(t) != g.protocol_type.as_ref())
            || r.protocol_name
                .as_ref()
                .is_some_and(|n| Some(n) != g.protocol.as_ref())
        {
            return Some(Reply::Frame(frame(
                ErrorCode::InconsistentGroupProtocol,
                Bytes::new(),
                None,
            )));
        }
        match g.state {
            GroupState::Empty => Some(Reply::Frame(frame(
                ErrorCode::UnknownMemberId,
                Bytes::new(),
                None,
            ))),
            GroupState::PreparingRebalance => Some(Reply::Frame(frame(
                ErrorCode::RebalanceInProgress,
                Bytes::new(),
                None,
            ))),
            GroupState::Stable => {
                let a = m.assignment.clone();
                let f = frame(ErrorCode::None, a, Some(g));
                if let Some(m) = g.members.get_mut(&r.member_id) {
                    m.session_deadline = now + m.session_timeout;
                }
                Some(Reply::Frame(f))
            }
            GroupState::CompletingRebalance => {
                let m = g.members.get_mut(&r.member_id).expect("checked");
                m.sync = Some(p);
                m.session_deadline = now + m.session_timeout;
                if g.leader.as_ref() == Some(&r.member_id) {
                    for (id, m) in g.members.iter_mut() {
                        m.assignment = r
                            .assignments
                            .iter()
                            .find(|a| a.member_id == *id)
                            .map(|a| a.assignment.clone())
                            .unwrap_or_default();
                        m.ever.extend(owned_partitions(&m.assignment));
                    }
                    g.state = GroupState::Stable;
                    g.deadline = None;
                    let snapshot = g.clone();
                    for m in g.members.values_mut() {
                        if let Some(p) = m.sync.take() {
                            m.session_deadline = now + m.session_timeout;
                            let resp = SyncGroupResponse {
                                error_code: 0,
                                protocol_type: snapshot.protocol_type.clone(),
                                protocol_name: snapshot.protocol.clone(),
                                assignment: m.assignment.clone(),
                                ..Default::default()
                            };
                            self.coordinator.ready.push((
                                p.conn,
                                response_frame(ApiKey::SyncGroup, p.version, p.corr, &resp),
                            ));
                        }
                    }
                }
                Some(Reply::Wait)
            }
        }
    }

    fn heartbeat(&mut self, broker: i32, req: &Req) -> Option<Reply> {
        let r: HeartbeatRequest = self.decode(broker, req)?;
        let injected = self.take_injection(broker, ApiKey::Heartbeat);
        let code = injected
            .or_else(|| self.not_coordinator(broker, &r.group_id))
            .unwrap_or_else(|| {
                let now = self.now;
                let bugs = self.coordinator.bugs;
                let Some(g) = self.coordinator.groups.get_mut(&r.group_id) else {
                    return ErrorCode::UnknownMemberId;
                };
                // Kafka's `classicGroupHeartbeat`: the member, then the generation,
                // then the state; only a valid heartbeat extends the session.
                let instance = r.group_instance_id.as_deref();
                if let Some(code) = check_member(g, &r.member_id, instance, bugs) {
                    return code;
                }
                if r.generation_id != g.generation {
                    return ErrorCode::IllegalGeneration;
                }
                let state = g.state;
                let m = g.members.get_mut(&r.member_id).expect("checked");
                m.session_deadline = now + m.session_timeout;
                match state {
                    GroupState::Empty => ErrorCode::UnknownMemberId,
                    GroupState::PreparingRebalance => ErrorCode::RebalanceInProgress,
                    _ => ErrorCode::None,
                }
            });
        let resp = HeartbeatResponse {
            error_code: code.code(),
            ..Default::default()
        };
        self.note(
            broker,
            format!("Heartbeat {} {} -> {code:?}", r.group_id, r.member_id),
        );
        req.reply(&resp)
    }

    fn leave_group(&mut self, broker: i32, req: &Req) -> Option<Reply> {
        let r: LeaveGroupRequest = self.decode(broker, req)?;
        let leaving: Vec<(String, Option<String>)> = if req.version >= 3 {
            r.members
                .iter()
                .map(|m| (m.member_id.clone(), m.group_instance_id.clone()))
                .collect()
        } else {
            vec![(r.member_id.clone(), None)]
        };
        let injected = self.take_injection(broker, ApiKey::LeaveGroup);
        let top = injected.or_else(|| self.not_coordinator(broker, &r.group_id));
        let mut members = Vec::new();
        let mut any_left = false;
        if top.is_none() {
            let g = self.coordinator.groups.get_mut(&r.group_id);
            let mut g = g;
            for (id, iid) in &leaving {
                // Kafka: an instance id held by another member id is fenced; an
                // empty member id leaves by instance id alone.
                let found: Result<(), ErrorCode> = match g.as_mut() {
                    None => Err(ErrorCode::UnknownMemberId),
                    Some(g) => {
                        let key = match iid {
                            Some(iid) => match g
                                .members
                                .iter()
                                .find(|(_, m)| m.instance_id.as_ref() == Some(iid))
                            {
                                None => Err(ErrorCode::UnknownMemberId),
                                Some((k, _)) if !id.is_empty() && k != id => {
                                    Err(ErrorCode::FencedInstanceId)
                                }
                                Some((k, _)) => Ok(k.clone()),
                            },
                            None if g.members.contains_key(id) => Ok(id.clone()),
                            None => Err(ErrorCode::UnknownMemberId),
                        };
                        key.map(|k| remove_member(g, &k, &mut self.coordinator.ready))
                    }
                };
                any_left |= found.is_ok();
                members.push(MemberResponse {
                    member_id: id.clone(),
                    group_instance_id: iid.clone(),
                    error_code: found.err().map_or(0, ErrorCode::code),
                });
            }
        }
        if any_left {
            self.prepare_rebalance(&r.group_id);
            self.maybe_complete_join(&r.group_id);
        }
        let code = top.unwrap_or(if req.version < 3 && !any_left {
            ErrorCode::UnknownMemberId
        } else {
            ErrorCode::None
        });
        self.note(
            broker,
            format!("LeaveGroup {} {leaving:?} -> {code:?}", r.group_id),
        );
        let resp = LeaveGroupResponse {
            error_code: code.code(),
            members: if req.version >= 3 {
                members
            } else {
                Vec::new()
            },
            ..Default::default()
        };
        req.reply(&resp)
    }

    fn offset_commit(&mut self, broker: i32, req: &Req) -> Option<Reply> {
        let r: OffsetCommitRequest = self.decode(broker, req)?;
        let injected = self.take_injection(broker, ApiKey::OffsetCommit);
        let now = self.now;
        let code = injected
            .or_else(|| self.not_coordinator(broker, &r.group_id))
            .or_else(|| {
                // Kafka's `ClassicGroup.validateOffsetCommit`.
                let bugs = self.coordinator.bugs;
                let g = self.coordinator.groups.get(&r.group_id);
                let generation = r.generation_id_or_member_epoch;
                let instance = r.group_instance_id.as_deref();
                let Some(g) = g else {
                    // No group: only a commit outside the group protocol makes one.
                    return (generation >= 0 || !r.member_id.is_empty())
                        .then_some(ErrorCode::IllegalGeneration);
                };
                if generation < 0 && g.state == GroupState::Empty {
                    // Outside the group protocol (admin, assign()): while empty.
                    return None;
                }
                if generation >= 0 || !r.member_id.is_empty() || instance.is_some() {
                    if let Some(code) = check_member(g, &r.member_id, instance, bugs) {
                        if !bugs.accept_any_member {
                            return Some(code);
                        }
                    }
                    if generation != g.generation && !bugs.accept_any_generation {
                        return Some(ErrorCode::IllegalGeneration);
                    }
                } else if g.state != GroupState::Empty {
                    return Some(ErrorCode::UnknownMemberId);
                }
                (g.state == GroupState::CompletingRebalance)
                    .then_some(ErrorCode::RebalanceInProgress)
            });
        let mut topics = Vec::new();
        let mut accepted = Vec::new();
        for t in &r.topics {
            let mut partitions = Vec::new();
            for p in &t.partitions {
                let c = code.unwrap_or_else(|| {
                    if self.partition(&t.name, p.partition_index).is_err() {
                        ErrorCode::UnknownTopicOrPartition
                    } else {
                        ErrorCode::None
                    }
                });
                if c == ErrorCode::None {
                    accepted.push((t.name.clone(), p.partition_index, p.committed_offset));
                    let g = self
                        .coordinator
                        .groups
                        .entry(r.group_id.clone())
                        .or_insert_with(Group::new);
                    g.offsets.insert(
                        (t.name.clone(), p.partition_index),
                        (
                            p.committed_offset,
                            p.committed_leader_epoch,
                            p.committed_metadata.clone(),
                        ),
                    );
                }
                partitions.push(OffsetCommitResponsePartition {
                    partition_index: p.partition_index,
                    error_code: c.code(),
                });
            }
            topics.push(OffsetCommitResponseTopic {
                name: t.name.clone(),
                partitions,
            });
        }
        if !accepted.is_empty() {
            let g = self.coordinator.groups.get_mut(&r.group_id).expect("made");
            if let Some(m) = g.members.get_mut(&r.member_id) {
                m.session_deadline = now + m.session_timeout;
            }
            let me = g.members.get(&r.member_id);
            let owned = me
                .map(|m| owned_partitions(&m.assignment))
                .unwrap_or_default();
            let ever = me
                .map(|m| m.ever.iter().cloned().collect())
                .unwrap_or_default();
            let others = g
                .members
                .iter()
                .filter(|(id, _)| **id != r.member_id)
                .flat_map(|(_, m)| owned_partitions(&m.assignment))
                .collect();
            self.coordinator.commits.push(CommitRecord {
                at: now,
                group: r.group_id.clone(),
                member: r.member_id.clone(),
                generation: r.generation_id_or_member_epoch,
                group_generation: g.generation,
                was_member: me.is_some(),
                ever,
                others,
                owned,
                offsets: accepted,
            });
        }
        self.note(broker, format!("OffsetCommit {} -> {code:?}", r.group_id));
        let resp = OffsetCommitResponse {
            topics,
            ..Default::default()
        };
        req.reply(&resp)
    }

    fn offset_fetch(&mut self, broker: i32, req: &Req) -> Option<Reply> {
        let r: OffsetFetchRequest = self.decode(broker, req)?;
        let injected = self.take_injection(broker, ApiKey::OffsetFetch);
        // (group, topics asked (None: all))
        let asked: Vec<(String, Option<TopicList>)> = if req.version >= 8 {
            r.groups
                .iter()
                .map(|g| {
                    let topics = g.topics.as_ref().map(|ts| {
                        ts.iter()
                            .map(|t| (t.name.clone(), t.partition_indexes.clone()))
                            .collect()
                    });
                    (g.group_id.clone(), topics)
                })
                .collect()
        } else {
            let topics = r.topics.as_ref().map(|ts| {
                ts.iter()
                    .map(|t| (t.name.clone(), t.partition_indexes.clone()))
                    .collect()
            });
            vec![(r.group_id.clone(), topics)]
        };
        let mut answers = Vec::new();
        for (group, topics) in asked {
            let code = injected.or_else(|| self.not_coordinator(broker, &group));
            let offsets = self.coordinator.groups.get(&group).map(|g| &g.offsets);
            let topics: Vec<(String, Vec<i32>)> = match topics {
                Some(t) => t,
                None => {
                    let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
                    for (t, p) in offsets.into_iter().flat_map(|o| o.keys()) {
                        by_topic.entry(t.clone()).or_default().push(*p);
                    }
                    by_topic.into_iter().collect()
                }
            };
            let parts: Vec<(String, Vec<FetchedOffset>)> = topics
                .into_iter()
                .map(|(t, ps)| {
                    let vals = ps
                        .into_iter()
                        .map(|p| {
                            let o = offsets.and_then(|o| o.get(&(t.clone(), p)));
                            match o {
                                Some((off, epoch, meta)) => (p, *off, *epoch, meta.clone()),
                                None => (p, -1, -1, Some(String::new())),
                            }
                        })
                        .collect();
                    (t, vals)
                })
                .collect();
            answers.push((group, code, parts));
        }
        self.note(
            broker,
            format!("OffsetFetch v{} {} groups", req.version, answers.len()),
        );
        let resp = if req.version >= 8 {
            OffsetFetchResponse {
                groups: answers
                    .into_iter()
                    .map(|(group_id, code, parts)| OffsetFetchResponseGroup {
                        group_id,
                        error_code: code.map_or(0, ErrorCode::code),
                        topics: if code.is_some() {
                            Vec::new()
                        } else {
                            parts
                                .into_iter()
                                .map(|(name, ps)| OffsetFetchResponseTopics {
                                    name,
                                    partitions: ps
                                        .into_iter()
                                        .map(|(p, o, e, m)| OffsetFetchResponsePartitions {
                                            partition_index: p,
                                            committed_offset: o,
                                            committed_leader_epoch: e,
                                            metadata: m,
                                            error_code: 0,
                                        })
                                        .collect(),
                                })
                                .collect()
                        },
                    })
                    .collect(),
                ..Default::default()
            }
        } else {
            let (_, code, parts) = answers.into_iter().next().expect("one group");
            // Before v2 errors are per partition only.
            let part_code = if req.version < 2 { code } else { None };
            OffsetFetchResponse {
                error_code: if req.version >= 2 {
                    code.map_or(0, ErrorCode::code)
                } else {
                    0
                },
                topics: parts
                    .into_iter()
                    .map(|(name, ps)| OffsetFetchResponseTopic {
                        name,
                        partitions: ps
                            .into_iter()
                            .map(|(p, o, e, m)| OffsetFetchResponsePartition {
                                partition_index: p,
                                committed_offset: o,
                                committed_leader_epoch: if req.version >= 5 { e } else { -1 },
                                metadata: m,
                                error_code: part_code.map_or(0, ErrorCode::code),
                            })
                            .collect(),
                    })
                    .collect(),
                ..Default::default()
            }
        };
        req.reply(&resp)
    }

    fn describe_groups(&mut self, broker: i32, req: &Req) -> Option<Reply> {
        let r: DescribeGroupsRequest = self.decode(broker, req)?;
        let groups = r
            .groups
            .iter()
            .map(|id| {
                if let Some(code) = self.not_coordinator(broker, id) {
                    return DescribedGroup {
                        error_code: code.code(),
                        group_id: id.clone(),
                        ..Default::default()
                    };
                }
                match self.coordinator.groups.get(id) {
                    None => DescribedGroup {
                        group_id: id.clone(),
                        group_state: "Dead".into(),
                        ..Default::default()
                    },
                    Some(g) => DescribedGroup {
                        group_id: id.clone(),
                        group_state: g.state.name().into(),
                        protocol_type: g.protocol_type.clone().unwrap_or_default(),
                        protocol_data: g.protocol.clone().unwrap_or_default(),
                        members: g
                            .members
                            .iter()
                            .map(|(mid, m)| DescribedGroupMember {
                                member_id: mid.clone(),
                                group_instance_id: m.instance_id.clone(),
                                client_id: m.client_id.clone(),
                                client_host: "/127.0.0.1".into(),
                                member_metadata: g
                                    .protocol
                                    .as_ref()
                                    .and_then(|p| m.protocols.iter().find(|(n, _)| n == p))
                                    .map(|(_, b)| b.clone())
                                    .unwrap_or_default(),
                                member_assignment: m.assignment.clone(),
                            })
                            .collect(),
                        ..Default::default()
                    },
                }
            })
            .collect();
        let resp = DescribeGroupsResponse {
            groups,
            ..Default::default()
        };
        req.reply(&resp)
    }
}

fn join_members(g: &Group) -> Vec<JoinGroupResponseMember> {
    let protocol = g.protocol.clone().unwrap_or_default();
    g.members
        .iter()
        .map(|(id, m)| JoinGroupResponseMember {
            member_id: id.clone(),
            group_instance_id: m.instance_id.clone(),
            metadata: m
                .protocols
                .iter()
                .find(|(n, _)| *n == protocol)
                .map(|(_, b)| b.clone())
                .unwrap_or_default(),
        })
        .collect()
}

fn join_response(g: &Group, member: &str) -> JoinGroupResponse {
    let leader = g.leader.as_deref() == Some(member);
    JoinGroupResponse {
        error_code: 0,
        generation_id: g.generation,
        protocol_type: g.protocol_type.clone(),
        protocol_name: g.protocol.clone(),
        leader: g.leader.clone().unwrap_or_default(),
        member_id: member.to_string(),
        members: if leader { join_members(g) } else { Vec::new() },
        ..Default::default()
    }
}

/// Removes a member; its waiting join or sync is answered UNKNOWN_MEMBER_ID.
fn remove_member(g: &mut Group, id: &str, ready: &mut Vec<(ServerConn, Bytes)>) {
    if let Some(m) = g.members.remove(id) {
        for (api, p) in [(ApiKey::JoinGroup, m.join), (ApiKey::SyncGroup, m.sync)] {
            if let Some(p) = p {
                ready.push((p.conn, error_frame(api, p, ErrorCode::UnknownMemberId)));
            }
        }
    }
    if g.leader.as_deref() == Some(id) {
        g.leader = None;
    }
}

/// A bare error response for a waiting JoinGroup or SyncGroup.
fn error_frame(api: ApiKey, p: Pending, code: ErrorCode) -> Bytes {
    match api {
        ApiKey::JoinGroup => {
            let resp = JoinGroupResponse {
                error_code: code.code(),
                protocol_name: if p.version >= 7 {
                    None
                } else {
                    Some(String::new())
                },
                ..Default::default()
            };
            response_frame(api, p.version, p.corr, &resp)
        }
        _ => {
            let resp = SyncGroupResponse {
                error_code: code.code(),
                ..Default::default()
            };
            response_frame(ApiKey::SyncGroup, p.version, p.corr, &resp)
        }
    }
}
