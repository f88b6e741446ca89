//! Group invariants, judged against the coordinator's own state.
//!
//! The checker sees every request the members deliver (decoded from the bytes)
//! and every response the cluster sends, and reads the coordinator's state
//! ([`Cluster::group_view`], [`Cluster::commits`]) after every step. It keeps its
//! own record of what each generation's leader assigned (from the leader's
//! SyncGroup), so that it judges the coordinator by what the leader sent, not by
//! what the coordinator or a member says:
//!
//! - an offset commit the coordinator accepted comes from a member of the
//!   current generation, with that generation, for partitions the leader
//!   assigned to it in that generation;
//! - committed offsets never move backwards, except to an offset a member
//!   committed after an explicit seek back;
//! - a SyncGroup or Heartbeat answered without error carries the current
//!   generation of a current member; a SyncGroup hands out exactly what the
//!   generation's leader assigned;
//! - only the coordinator answers group requests without error
//!   (NOT_COORDINATOR from any other broker);
//! - a member silent for longer than its session timeout (not waiting in a
//!   join or sync) is removed;
//! - a rebalance ends within the rebalance timeout, and a member that did not
//!   rejoin in it is not in the next generation;
//! - a static member rejoining with its instance id while the group is stable
//!   gets its generation back without a rebalance, and its old member id is
//!   fenced (FENCED_INSTANCE_ID) from then on;
//! - no partition is held by two members of the group at once, across
//!   generations (cooperative-sticky revokes before it reassigns);
//! - generations never go back.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use kasio_core::codec::{RequestHeader, ResponseHeader};
use kasio_core::protocol::consumer_protocol::decode_versioned;
use kasio_core::protocol::messages::*;
use kasio_core::protocol::{ApiKey, ErrorCode, Message};
use kasio_core::time::{Duration, Instant};

use super::cluster::Cluster;
use super::group::{GroupState, GroupView};

/// Slack on every timer the checker holds the coordinator to (the driver's
/// step, plus latency).
const SLACK: Duration = Duration::from_millis(300);

/// Partitions by member id, as a leader assigned them.
type Assignment = BTreeMap<String, BTreeSet<(String, i32)>>;

/// A request as the checker recorded it when it was delivered.
#[derive(Debug, Clone)]
struct Sent {
    api: ApiKey,
    version: i16,
    member: String,
    instance: Option<String>,
    generation: i32,
    /// The group as it was just before the coordinator saw the request.
    before: Option<GroupView>,
    /// Its answer is an injected error.
    injected: bool,
}

/// The group checker. Feed it every delivered request and every response, and
/// call [`after_step`](Self::after_step) after every step.
#[derive(Debug, Default)]
pub struct GroupChecker {
    group: String,
    initial_delay: Duration,
    sent: BTreeMap<(u64, i32), Sent>,
    /// generation → the leader's member id (from the JoinGroup answers).
    leader_of: BTreeMap<i32, String>,
    /// (generation, leader) → what it assigned: member → partitions.
    assigned: BTreeMap<(i32, String), Assignment>,
    /// A static member's new id → the id it replaced, per generation.
    alias: BTreeMap<(i32, String), String>,
    /// When the coordinator last heard from each member id.
    heard: BTreeMap<String, Instant>,
    commits_seen: usize,
    offsets: BTreeMap<(String, i32), i64>,
    /// Offsets committed on purpose below the last (explicit seeks back).
    resets: BTreeSet<(String, i32, i64)>,
    max_generation: i32,
    /// When each member id last sent a JoinGroup the coordinator took (or got an
    /// id from one).
    last_join: BTreeMap<String, Instant>,
    /// The rebalance being prepared: noticed when, its bound, its generation,
    /// and the earliest it can have begun (the step before).
    preparing: Option<(Instant, Duration, i32, Instant)>,
    last_state: Option<(GroupState, i32)>,
    last_step: Instant,
    /// The coordinator at the last step (a new one restarts every session).
    last_coordinator: Option<i32>,
}

fn fail<T>(what: String) -> Result<T, String> {
    Err(what)
}

fn partitions_of(assignment: &Bytes) -> BTreeSet<(String, i32)> {
    if assignment.is_empty() {
        return BTreeSet::new();
    }
    match decode_versioned::<ConsumerProtocolAssignment>(assignment) {
        Ok((a, _)) => a
            .assigned_partitions
            .iter()
            .flat_map(|t| t.partitions.iter().map(move |p| (t.topic.clone(), *p)))
            .collect(),
        Err(_) => BTreeSet::new(),
    }
}

fn body<M: Message>(api: ApiKey, version: i16, data: &Bytes, response: bool) -> Option<M> {
    if response {
        let (_, b) = ResponseHeader::decode(api.response_header_version(version), data).ok()?;
        M::decode(version, &b).ok()
    } else {
        let (_, b) = RequestHeader::decode(api.request_header_version(version), data).ok()?;
        M::decode(version, &b).ok()
    }
}

/// Coordinator-level errors any request may get (the group moved, or the
/// request reached the wrong broker).
fn coordinator_error(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::NotCoordinator
            | ErrorCode::CoordinatorNotAvailable
            | ErrorCode::CoordinatorLoadInProgress
    )
}

impl GroupChecker {
    /// A checker for `group`, whose coordinator delays the first rebalance by
    /// `initial_delay`.
    pub fn new(group: &str, initial_delay: Duration) -> Self {
        Self {
            group: group.into(),
            initial_delay,
            max_generation: 0,
            ..Default::default()
        }
    }

    /// Registers offsets a member commits on purpose below the last commit
    /// (an explicit seek back), before the commit is sent.
    pub fn allow_reset(&mut self, topic: &str, partition: i32, offset: i64) {
        self.resets.insert((topic.into(), partition, offset));
    }

    /// A request frame (without its size prefix) is delivered on `conn` to
    /// `broker`; `injected` says its answer is an injected error.
    pub fn on_request(
        &mut self,
        now: Instant,
        cluster: &Cluster,
        broker: i32,
        conn: u64,
        frame: &Bytes,
        injected: bool,
    ) -> Result<(), String> {
        let Some(api) = frame
            .get(..2)
            .and_then(|k| ApiKey::from_i16(i16::from_be_bytes([k[0], k[1]])))
        else {
            return fail(format!("undecodable request on conn {conn}"));
        };
        let version = i16::from_be_bytes([frame[2], frame[3]]);
        let corr = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
        let (member, instance, generation) = match api {
            ApiKey::JoinGroup => body::<JoinGroupRequest>(api, version, frame, false)
                .map(|r| (r.member_id, r.group_instance_id, -1)),
            ApiKey::SyncGroup => body::<SyncGroupRequest>(api, version, frame, false).map(|r| {
                // A leader's assignment, as it sent it.
                if !r.assignments.is_empty() {
                    let a = r
                        .assignments
                        .iter()
                        .map(|a| (a.member_id.clone(), partitions_of(&a.assignment)))
                        .collect();
                    self.assigned
                        .insert((r.generation_id, r.member_id.clone()), a);
                }
                (r.member_id, r.group_instance_id, r.generation_id)
            }),
            ApiKey::Heartbeat => body::<HeartbeatRequest>(api, version, frame, false)
                .map(|r| (r.member_id, r.group_instance_id, r.generation_id)),
            ApiKey::OffsetCommit => {
                body::<OffsetCommitRequest>(api, version, frame, false).map(|r| {
                    (
                        r.member_id,
                        r.group_instance_id,
                        r.generation_id_or_member_epoch,
                    )
                })
            }
            ApiKey::LeaveGroup => body::<LeaveGroupRequest>(api, version, frame, false).map(|r| {
                match r.members.first() {
                    Some(m) if version >= 3 => {
                        (m.member_id.clone(), m.group_instance_id.clone(), -1)
                    }
                    _ => (r.member_id, None, -1),
                }
            }),
            _ => Some((String::new(), None, -1)),
        }
        .ok_or_else(|| format!("{api:?} v{version} does not decode"))?;
        let at_coordinator = cluster.coordinator_of(&self.group) == Some(broker);
        if at_coordinator && !member.is_empty() && !injected {
            self.heard.insert(member.clone(), now);
            if api == ApiKey::JoinGroup {
                self.last_join.insert(member.clone(), now);
            }
        }
        self.sent.insert(
            (conn, corr),
            Sent {
                api,
                version,
                member,
                instance,
                generation,
                before: cluster.group_view(&self.group),
                injected,
            },
        );
        Ok(())
    }

    /// What the leader of `generation` assigned to `member` (following static
    /// replacements), if the leader has sent it.
    fn expected(&self, generation: i32, member: &str) -> Option<BTreeSet<(String, i32)>> {
        let leader = self.leader_of.get(&generation)?;
        let mut leader = leader.clone();
        let a = loop {
            if let Some(a) = self.assigned.get(&(generation, leader.clone())) {
                break a;
            }
            leader = self.alias.get(&(generation, leader))?.clone();
        };
        let mut m = member.to_string();
        for _ in 0..64 {
            if let Some(p) = a.get(&m) {
                return Some(p.clone());
            }
            match self.alias.get(&(generation, m.clone())) {
                Some(old) => m = old.clone(),
                None => break,
            }
        }
        Some(BTreeSet::new())
    }

    /// A response frame (without its size prefix) sent by `broker` on `conn`.
    pub fn on_response(
        &mut self,
        now: Instant,
        cluster: &Cluster,
        broker: i32,
        conn: u64,
        frame: &Bytes,
    ) -> Result<(), String> {
        let corr = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
        let Some(s) = self.sent.remove(&(conn, corr)) else {
            return fail(format!(
                "b{broker}: a response to nothing (conn {conn} corr {corr})"
            ));
        };
        let (api, v) = (s.api, s.version);
        let code = |c: i16| ErrorCode::from_code(c);
        let (code, extra) = match api {
            ApiKey::JoinGroup => {
                let r: JoinGroupResponse =
                    body(api, v, frame, true).ok_or("JoinGroup response does not decode")?;
                (code(r.error_code), Some(r))
            }
            ApiKey::SyncGroup => {
                let r: SyncGroupResponse =
                    body(api, v, frame, true).ok_or("SyncGroup response does not decode")?;
                if r.error_code == 0 {
                    self.check_sync(&s, cluster, &r)?;
                }
                (code(r.error_code), None)
            }
            ApiKey::Heartbeat => {
                let r: HeartbeatResponse =
                    body(api, v, frame, true).ok_or("Heartbeat response does not decode")?;
                (code(r.error_code), None)
            }
            ApiKey::OffsetCommit => {
                let r: OffsetCommitResponse =
                    body(api, v, frame, true).ok_or("OffsetCommit response does not decode")?;
                let c = r
                    .topics
                    .iter()
                    .flat_map(|t| t.partitions.iter())
                    .map(|p| code(p.error_code))
                    .find(|c| *c != ErrorCode::None)
                    .unwrap_or(ErrorCode::None);
                (c, None)
            }
            ApiKey::LeaveGroup => {
                let r: LeaveGroupResponse =
                    body(api, v, frame, true).ok_or("LeaveGroup response does not decode")?;
                let c = match r.members.first() {
                    Some(m) if r.error_code == 0 => code(m.error_code),
                    _ => code(r.error_code),
                };
                (c, None)
            }
            _ => return Ok(()),
        };
        let view = cluster.group_view(&self.group);
        let coordinator = cluster.coordinator_of(&self.group);
        if code == ErrorCode::None && coordinator != Some(broker) {
            return fail(format!(
                "{api:?} from {} answered without error by b{broker}, but the coordinator is \
                 {coordinator:?} (NOT_COORDINATOR expected)",
                s.member
            ));
        }
        if s.injected {
            return Ok(());
        }
        // A request naming an instance id now held by another member id is fenced.
        if let (Some(iid), Some(before)) = (&s.instance, &s.before) {
            let holder = before.static_member(iid);
            if !s.member.is_empty()
                && holder.is_some_and(|h| h != s.member)
                && code != ErrorCode::FencedInstanceId
                && !coordinator_error(code)
            {
                return fail(format!(
                    "{api:?} from {} (instance {iid}, now held by {holder:?}) answered {code:?}, \
                     not FENCED_INSTANCE_ID",
                    s.member
                ));
            }
        }
        if code == ErrorCode::None && matches!(api, ApiKey::Heartbeat | ApiKey::SyncGroup) {
            let view = view.as_ref().ok_or("no group")?;
            if s.generation != view.generation || !view.members.contains_key(&s.member) {
                return fail(format!(
                    "{api:?} from {} for generation {} answered without error, but the group is \
                     at generation {} with members {:?}",
                    s.member,
                    s.generation,
                    view.generation,
                    view.members.keys().collect::<Vec<_>>()
                ));
            }
        }
        if let Some(r) = extra {
            self.check_join(now, &s, &r, view.as_ref())?;
        }
        Ok(())
    }

    fn check_join(
        &mut self,
        now: Instant,
        s: &Sent,
        r: &JoinGroupResponse,
        view: Option<&GroupView>,
    ) -> Result<(), String> {
        let code = ErrorCode::from_code(r.error_code);
        if code != ErrorCode::None {
            return Ok(());
        }
        self.heard.insert(r.member_id.clone(), now);
        self.last_join.insert(r.member_id.clone(), now);
        if r.generation_id < self.max_generation {
            return fail(format!(
                "JoinGroup answered generation {} after {}",
                r.generation_id, self.max_generation
            ));
        }
        self.max_generation = r.generation_id;
        self.leader_of
            .entry(r.generation_id)
            .or_insert_with(|| r.leader.clone());
        // A static member restarting into a stable group.
        let (Some(iid), Some(before)) = (&s.instance, &s.before) else {
            return Ok(());
        };
        let Some(old) = before.static_member(iid) else {
            return Ok(());
        };
        if !s.member.is_empty() || before.state != GroupState::Stable || old == r.member_id {
            return Ok(());
        }
        let stable_after = view.is_some_and(|v| v.state == GroupState::Stable);
        if r.generation_id != before.generation || !stable_after {
            return fail(format!(
                "static member {iid} rejoined a stable group (generation {}) and got generation \
                 {} (state after: {:?}): a rebalance, not its old assignment",
                before.generation,
                r.generation_id,
                view.map(|v| v.state)
            ));
        }
        self.alias
            .insert((r.generation_id, r.member_id.clone()), old.to_string());
        Ok(())
    }

    fn check_sync(
        &mut self,
        s: &Sent,
        cluster: &Cluster,
        r: &SyncGroupResponse,
    ) -> Result<(), String> {
        let view = cluster.group_view(&self.group).ok_or("no group")?;
        if s.generation != view.generation {
            return fail(format!(
                "SyncGroup from {} for generation {} answered without error, but the group is \
                 at generation {}",
                s.member, s.generation, view.generation
            ));
        }
        let got = partitions_of(&r.assignment);
        match self.expected(s.generation, &s.member) {
            None => fail(format!(
                "SyncGroup gave {} {got:?} in generation {} before that generation's leader \
                 ({:?}) sent an assignment",
                s.member,
                s.generation,
                self.leader_of.get(&s.generation)
            )),
            Some(want) if want != got => fail(format!(
                "SyncGroup gave {} {got:?} in generation {}, but the leader assigned it {want:?}",
                s.member, s.generation
            )),
            Some(_) => Ok(()),
        }
    }

    /// After every step: the coordinator's state, and what members hold
    /// (member id, partitions) for members that are running.
    pub fn after_step(
        &mut self,
        now: Instant,
        cluster: &Cluster,
        holding: &[(String, Vec<i32>)],
        topic: &str,
    ) -> Result<(), String> {
        let Some(view) = cluster.group_view(&self.group) else {
            return Ok(());
        };
        self.check_commits(cluster, &view)?;
        // Committed offsets never move backwards.
        for (k, &o) in &view.offsets {
            if let Some(&before) = self.offsets.get(k) {
                if o < before && !self.resets.remove(&(k.0.clone(), k.1, o)) {
                    return fail(format!(
                        "committed offset of {}-{} went back {before} -> {o}",
                        k.0, k.1
                    ));
                }
            }
        }
        self.offsets = view.offsets.clone();
        if view.generation < self.max_generation {
            return fail(format!(
                "generation went back {} -> {}",
                self.max_generation, view.generation
            ));
        }
        self.check_timers(now, cluster, &view)?;
        // No partition held by two members of the group.
        let mut holders: BTreeMap<i32, &str> = BTreeMap::new();
        for (id, parts) in holding {
            if !view.members.contains_key(id) {
                continue; // a zombie: fenced by the coordinator, not held
            }
            for p in parts {
                if let Some(other) = holders.insert(*p, id) {
                    return fail(format!(
                        "{topic}-{p} held by {other} and {id} at once (generation {})",
                        view.generation
                    ));
                }
            }
        }
        Ok(())
    }

    fn check_commits(&mut self, cluster: &Cluster, view: &GroupView) -> Result<(), String> {
        let commits = cluster.commits();
        for c in &commits[self.commits_seen.min(commits.len())..] {
            if c.group != self.group {
                continue;
            }
            if c.generation != view.generation {
                return fail(format!(
                    "commit accepted from {} for a stale generation {} (the group is at {})",
                    c.member, c.generation, view.generation
                ));
            }
            if !view.members.contains_key(&c.member) {
                return fail(format!(
                    "commit accepted from {}, not a member of generation {} ({:?})",
                    c.member,
                    view.generation,
                    view.members.keys().collect::<Vec<_>>()
                ));
            }
            let Some(want) = self.expected(c.generation, &c.member) else {
                return fail(format!(
                    "commit accepted from {} in generation {} before its leader assigned \
                     anything",
                    c.member, c.generation
                ));
            };
            for (t, p, _) in &c.offsets {
                if !want.contains(&(t.clone(), *p)) {
                    return fail(format!(
                        "commit accepted from {} for {t}-{p}, not assigned to it in generation \
                         {} (assigned {want:?})",
                        c.member, c.generation
                    ));
                }
            }
        }
        self.commits_seen = commits.len();
        Ok(())
    }

    fn check_timers(
        &mut self,
        now: Instant,
        cluster: &Cluster,
        view: &GroupView,
    ) -> Result<(), String> {
        // Session expiry. A new generation restarts every member's session (as
        // in Kafka), answered or not; a member id first seen now was just heard.
        let coordinator = cluster.coordinator_of(&self.group);
        // So does the end of the sync phase (Kafka's `propagateAssignment`).
        let synced = self
            .last_state
            .is_some_and(|(s, _)| s == GroupState::CompletingRebalance && s != view.state);
        let new_generation = self.last_state.is_none_or(|(_, g)| g != view.generation)
            || coordinator != self.last_coordinator
            || synced;
        self.last_coordinator = coordinator;
        for id in view.members.keys() {
            if !self.heard.contains_key(id) {
                // A member id the checker never saw joined in this step (its
                // JoinGroup had no member id, and its answer may be lost).
                self.last_join.insert(id.clone(), now);
            }
            let heard = self.heard.entry(id.clone()).or_insert(now);
            if new_generation {
                *heard = now;
            }
        }
        for (id, m) in &view.members {
            if m.awaiting_join || m.awaiting_sync {
                continue;
            }
            let heard = self.heard.get(id).copied().unwrap_or(Instant::ZERO);
            if now > heard + m.session_timeout + SLACK {
                return fail(format!(
                    "{id} silent since {heard:?}, past its session timeout ({:?}), is still a \
                     member",
                    m.session_timeout
                ));
            }
        }
        // Rebalance timeout: bounded from when the checker noticed it (no
        // earlier than it began); members of the next generation must have
        // joined since it began (no later than the step before it was noticed).
        let now_state = (view.state, view.generation);
        let new_generation = self.preparing.is_some_and(|p| p.2 != view.generation);
        if new_generation || view.state != GroupState::PreparingRebalance {
            if let Some((_, _, generation, since)) = self.preparing.take() {
                if view.generation == generation + 1 {
                    for id in view.members.keys() {
                        if self.last_join.get(id).is_none_or(|t| *t < since) {
                            return fail(format!(
                                "{id} did not rejoin the rebalance of generation {generation} \
                                 (begun after {since:?}), yet is in generation {}",
                                view.generation
                            ));
                        }
                    }
                }
            }
        }
        if view.state == GroupState::PreparingRebalance {
            if self.preparing.is_none() {
                let bound = view
                    .members
                    .values()
                    .map(|m| m.rebalance_timeout)
                    .max()
                    .unwrap_or(Duration::ZERO)
                    .max(self.initial_delay);
                self.preparing = Some((now, bound, view.generation, self.last_step));
            }
            if let Some((noticed, bound, ..)) = &self.preparing {
                if now > *noticed + *bound + SLACK {
                    return fail(format!(
                        "rebalance prepared since {noticed:?} not over after the rebalance \
                         timeout {bound:?}"
                    ));
                }
            }
        }
        self.last_state = Some(now_state);
        self.last_step = now;
        Ok(())
    }
}
