//! The consumer's group wiring (classic protocol): subscribing, finding the
//! coordinator, JoinGroup / SyncGroup / Heartbeat / LeaveGroup, rebalances as
//! acknowledged events, committed offsets (OffsetCommit, OffsetFetch, auto-commit)
//! and the poll-interval guard. The protocol's pure parts live in
//! [`crate::group`]; this file sends their requests over the coordinator
//! connection and routes the answers.

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;

use bytes::Bytes;

use crate::backoff::Backoff;
use crate::config::{Config, GroupProtocol, IsolationLevel};
use crate::group::assignor::{
    sticky_user_data, Assignor, RebalanceProtocol, Subscription, TopicMetadata,
};
use crate::group::commits::{Commit, CommitKind, Commits};
use crate::group::coordinator::CoordinatorLookup;
use crate::group::reaction::{self, CommitReaction, FetchReaction, Reaction};
use crate::group::{
    Cause, CommitError, CommitId, GroupFailure, GroupMetadata, MemberState, OffsetAndMetadata,
    RebalanceToken, SimBugs, Transition,
};
use crate::metadata::{BrokerId, BrokerInfo};
use crate::protocol::consumer_protocol::{decode_versioned, encode_versioned};
use crate::protocol::messages::consumer_protocol_subscription::TopicPartition as SubTopic;
use crate::protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use crate::protocol::messages::join_group_request::JoinGroupRequestProtocol;
use crate::protocol::messages::leave_group_request::MemberIdentity;
use crate::protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use crate::protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use crate::protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use crate::protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, FindCoordinatorResponse,
    HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest,
    OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse,
    SyncGroupRequest, SyncGroupResponse,
};
use crate::protocol::{ApiKey, ErrorCode, Request};
use crate::time::{Duration, Instant};
use regex_automata::meta::Regex;

use super::by_topic::group_by_topic;
use super::error::{BrokerError, ConsumerError, UsageError};
use super::event::{ConnRole, Event, QueryId, TopicPartition};
use super::partition::{FetchState, PartitionState};
use super::purpose::Purpose;
use super::timer::Timer;
use super::Consumer;

/// Transitions kept for [`Consumer::group_transitions`].
const TRANSITION_LOG: usize = 64;
/// Extra time a JoinGroup may take beyond the rebalance timeout (Java's 5 s).
const JOIN_GRACE: Duration = Duration::from_millis(5_000);
/// The consumer protocol's name in JoinGroup.
const PROTOCOL_TYPE: &str = "consumer";
/// The subscription version sent (v3: owned partitions, generation, rack).
const SUBSCRIPTION_VERSION: i16 = 3;
/// The assignment version sent by a leader.
const ASSIGNMENT_VERSION: i16 = 3;

/// A rebalance step waiting for the application: partitions revoked or lost.
#[derive(Debug)]
pub(crate) struct PendingAck {
    token: RebalanceToken,
    /// Revoked (the generation still valid: they may still be committed) or lost.
    lost: bool,
    partitions: BTreeSet<TopicPartition>,
    /// Positions of revoked partitions, for commits until the ack.
    positions: BTreeMap<TopicPartition, OffsetAndMetadata>,
    acked: bool,
    deadline: Instant,
}

/// The leader's JoinGroup answer, kept until the metadata the assignment needs
/// has arrived.
#[derive(Debug)]
struct LeaderJoin {
    protocol: String,
    members: BTreeMap<String, Subscription>,
    /// The partition counts the assignment sent in SyncGroup was made from
    /// (Java's `assignmentSnapshot`, taken when the leader assigns).
    assigned_from: Option<BTreeMap<String, usize>>,
}

/// A `committed(..)` query.
#[derive(Debug)]
struct CommittedQuery {
    pending: BTreeSet<TopicPartition>,
    sent: bool,
    done: Vec<(
        TopicPartition,
        Result<Option<OffsetAndMetadata>, ConsumerError>,
    )>,
}

/// One member of a consumer group, and the group's committed offsets.
#[derive(Debug)]
pub(crate) struct Group {
    pub(super) group_id: String,
    instance_id: Option<String>,
    assignors: Vec<Assignor>,
    protocol: RebalanceProtocol,
    /// The subscribed topics; `None` in manual-assignment mode (commits only).
    /// With a pattern, the topics it matched in the latest metadata.
    topics: Option<BTreeSet<String>>,
    /// `subscribe_pattern`: the pattern, and whether metadata has been matched
    /// against it yet (the member joins only then).
    pattern: Option<(Regex, bool)>,
    coordinator: CoordinatorLookup,
    state: MemberState,
    transitions: VecDeque<Transition>,
    generation: i32,
    member_id: String,
    /// The generation's protocol (assignor) name.
    protocol_name: Option<String>,
    join_in_flight: bool,
    sync_in_flight: bool,
    heartbeat_in_flight: bool,
    leave_sent: bool,
    /// A (re)join was asked for, and why.
    rejoin: Option<Cause>,
    /// JoinGroup / SyncGroup may go (again) at this instant.
    retry: Backoff,
    pending_ack: Option<PendingAck>,
    next_token: u64,
    /// The token of the last leave's `Revoked`, which nothing waits for.
    leave_token: Option<RebalanceToken>,
    leader_join: Option<LeaderJoin>,
    /// Partition counts of the topics the generation's assignment was made
    /// from (the leader's, as it assigned); a change rebalances.
    assigned_counts: BTreeMap<String, usize>,
    /// The generation's assignment (owned partitions).
    owned: BTreeSet<TopicPartition>,
    /// The last assignment SyncGroup gave and its generation, kept through eager
    /// revokes: the `sticky` protocol's user data (Java's `StickyAssignor`).
    last_assigned: Option<(Vec<TopicPartition>, i32)>,
    /// The poll interval ran out: rejoin on the next poll.
    poll_expired: bool,
    commits: Commits,
    /// The revoke-time commit the join waits for.
    revoke_commit: Option<CommitId>,
    /// Leaving (unsubscribe, close): LeaveGroup waits for this commit.
    leaving: Option<(Cause, Option<CommitId>)>,
    committed_queries: BTreeMap<QueryId, CommittedQuery>,
    /// `describe_group` queries, and whether each has been sent.
    pub(super) describes: BTreeMap<QueryId, bool>,
    /// An OffsetFetch for assigned partitions is in flight.
    position_fetch_in_flight: bool,
    fatal: Option<GroupFailure>,
    /// Config copies.
    session_timeout: Duration,
    rebalance_timeout: Duration,
    heartbeat_interval: Duration,
    auto_commit: Option<Duration>,
    api_timeout: Duration,
    require_stable: bool,
    rack: Option<String>,
    /// Test-only planted bugs (settable only with the `sim-bugs` feature).
    bugs: SimBugs,
}

impl Group {
    pub fn new(config: &Config, group_id: String) -> Self {
        let assignors: Vec<Assignor> = config
            .partition_assignment_strategy
            .iter()
            .map(|s| Assignor::from(*s))
            .collect();
        // The member follows the cooperative protocol only if every assignor it
        // offers can (as Java): one eager assignor makes the whole member eager.
        let protocol = if !assignors.is_empty()
            && assignors.iter().all(|a| {
                a.supported_protocols()
                    .contains(&RebalanceProtocol::Cooperative)
            }) {
            RebalanceProtocol::Cooperative
        } else {
            RebalanceProtocol::Eager
        };
        Self {
            group_id,
            instance_id: config.group_instance_id.clone(),
            assignors,
            protocol,
            topics: None,
            pattern: None,
            coordinator: CoordinatorLookup::new(Backoff::new(
                config.retry_backoff,
                config.retry_backoff_max,
            )),
            state: MemberState::Unjoined,
            transitions: VecDeque::new(),
            generation: -1,
            member_id: String::new(),
            protocol_name: None,
            join_in_flight: false,
            sync_in_flight: false,
            heartbeat_in_flight: false,
            leave_sent: false,
            rejoin: None,
            retry: Backoff::new(config.retry_backoff, config.retry_backoff_max),
            pending_ack: None,
            next_token: 0,
            leave_token: None,
            leader_join: None,
            assigned_counts: BTreeMap::new(),
            owned: BTreeSet::new(),
            last_assigned: None,
            poll_expired: false,
            commits: Commits::default(),
            revoke_commit: None,
            leaving: None,
            committed_queries: BTreeMap::new(),
            describes: BTreeMap::new(),
            position_fetch_in_flight: false,
            fatal: None,
            session_timeout: config.session_timeout,
            rebalance_timeout: config.max_poll_interval,
            heartbeat_interval: config.heartbeat_interval,
            auto_commit: config
                .auto_commit_enabled()
                .then_some(config.auto_commit_interval),
            api_timeout: config.default_api_timeout,
            require_stable: config.isolation_level == IsolationLevel::ReadCommitted,
            rack: config.client_rack.clone(),
            bugs: SimBugs::default(),
        }
    }

    fn move_to(&mut self, to: MemberState, cause: Cause) {
        let from = self.state;
        if from == to {
            return;
        }
        debug_assert!(from.may_move_to(to), "{from} -> {to} ({cause:?})");
        kasio_log!(debug, "group member: {:?} -> {:?} ({:?})", from, to, cause);
        if self.transitions.len() == TRANSITION_LOG {
            self.transitions.pop_front();
        }
        self.transitions.push_back(Transition { from, to, cause });
        self.state = to;
    }

    /// Whether `broker` is the known coordinator.
    pub fn coordinator_is(&self, broker: BrokerId) -> bool {
        self.coordinator.broker() == Some(broker)
    }

    pub(super) fn subscribed(&self) -> bool {
        self.topics.is_some()
    }

    fn is_static(&self) -> bool {
        self.instance_id.is_some()
    }

    /// Forgets the generation (and with `member_id`, the member id).
    fn reset_generation(&mut self, member_id: bool) {
        self.generation = -1;
        self.protocol_name = None;
        if member_id {
            self.member_id.clear();
        }
    }

    fn token(&mut self) -> RebalanceToken {
        self.next_token += 1;
        RebalanceToken(self.next_token)
    }

    /// Whether OffsetCommit may go now: never between JoinGroup and SyncGroup
    /// (the generation is in flux), always outside a subscription.
    fn may_commit(&self) -> bool {
        if self.generation >= 0 {
            matches!(self.state, MemberState::Stable | MemberState::PreparingJoin)
        } else {
            // Outside a generation only a consumer that assigns by hand commits
            // (with generation -1, as Java's "simple" consumer).
            !self.subscribed() && self.state == MemberState::Unjoined
        }
    }

    fn generation_for_commit(&self) -> (i32, String) {
        if self.generation >= 0 {
            (self.generation, self.member_id.clone())
        } else {
            (-1, String::new())
        }
    }
}

/// What SyncGroup decided for this member.
struct Synced {
    assigned: BTreeSet<TopicPartition>,
    /// The leader's: the partition counts its assignment was made from.
    assigned_from: Option<BTreeMap<String, usize>>,
}

impl Consumer {
    // ----- application calls ---------------------------------------------------------

    /// Subscribes to `topics` and joins the group named by `group.id` (like
    /// `KafkaConsumer::subscribe`); replaces an earlier subscription. The
    /// partitions come with [`Event::Assigned`] once the group has assigned them.
    ///
    /// Errors: no `group.id`, partitions assigned by hand (`assign` and `subscribe`
    /// exclude each other), an empty topic name, a closed consumer.
    pub fn subscribe<S: Into<String>>(
        &mut self,
        topics: impl IntoIterator<Item = S>,
    ) -> Result<(), UsageError> {
        self.check_open()?;
        let topics: BTreeSet<String> = topics.into_iter().map(Into::into).collect();
        if topics.iter().any(String::is_empty) {
            return Err(UsageError::EmptyTopicName);
        }
        let group = self.group_for_subscribe()?;
        group.pattern = None;
        let changed = group.topics.as_ref() != Some(&topics);
        group.topics = Some(topics);
        if changed {
            // A changed subscription rebalances (static members too: Java once
            // forgot to, apache/kafka PR #22593).
            group.rejoin = Some(Cause::Subscribed);
            self.refresh.request();
        }
        self.drive();
        Ok(())
    }

    /// Subscribes to every topic whose whole name matches `pattern` (a regular
    /// expression, as Java's `subscribe(Pattern)`), now and as topics appear or
    /// vanish: metadata is refreshed every `metadata.max.age.ms`, and a change in
    /// the matched topics rebalances. Internal topics (`__consumer_offsets`, …) are
    /// left out under `exclude.internal.topics` (the default).
    pub fn subscribe_pattern(&mut self, pattern: &str) -> Result<(), UsageError> {
        self.check_open()?;
        let anchored = alloc::format!("^(?:{pattern})$");
        let regex =
            Regex::new(&anchored).map_err(|_| UsageError::InvalidPattern(String::from(pattern)))?;
        let group = self.group_for_subscribe()?;
        group.pattern = Some((regex, false));
        group.topics.get_or_insert_with(BTreeSet::new);
        group.rejoin = Some(Cause::Subscribed);
        self.refresh.request();
        self.drive();
        Ok(())
    }

    /// A full metadata answer arrived: the pattern is matched against its topics;
    /// a change in what it matches rebalances.
    pub(super) fn match_pattern(&mut self, topics: &[(String, bool)]) {
        let exclude_internal = self.config.exclude_internal_topics;
        let Some(g) = self.group.as_mut() else {
            return;
        };
        let Some((regex, matched_once)) = g.pattern.as_mut() else {
            return;
        };
        let matched: BTreeSet<String> = topics
            .iter()
            .filter(|(name, internal)| !(exclude_internal && *internal) && regex.is_match(name))
            .map(|(name, _)| name.clone())
            .collect();
        *matched_once = true;
        if g.topics.as_ref() != Some(&matched) {
            g.topics = Some(matched);
            g.rejoin = Some(Cause::Subscribed);
        }
    }

    /// Whether metadata should list every topic (a pattern subscription).
    pub(super) fn wants_all_topics(&self) -> bool {
        self.group.as_ref().is_some_and(|g| g.pattern.is_some())
    }

    /// Leaves the group (revoking what is assigned, with a final auto-commit) and
    /// drops the subscription.
    pub fn unsubscribe(&mut self) -> Result<(), UsageError> {
        self.check_open()?;
        let Some(group) = self.group.as_mut() else {
            return Ok(());
        };
        group.pattern = None;
        if group.topics.take().is_none() {
            return Ok(());
        }
        self.leave_group(Cause::Left);
        self.drive();
        Ok(())
    }

    /// The subscribed topics (empty when not subscribed).
    pub fn subscription(&self) -> Vec<String> {
        self.group
            .as_ref()
            .and_then(|g| g.topics.as_ref())
            .map(|t| t.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Acknowledges an [`Event::Revoked`] or [`Event::Lost`]: the application is
    /// done with those partitions (committed what it wanted), so the rebalance may
    /// go on. A token of an earlier rebalance is refused.
    pub fn ack_rebalance(&mut self, token: RebalanceToken) -> Result<(), UsageError> {
        self.check_open()?;
        let g = self.group.as_mut().ok_or(UsageError::StaleToken(token))?;
        let latest = g.leave_token == Some(token);
        let auto = g.auto_commit.is_some();
        match g.pending_ack.as_mut().filter(|p| p.token == token) {
            Some(pending) => {
                // The revoke-time auto-commit (see `revoke`), queued before the
                // partitions stop being the member's to commit.
                let commit = (auto && !pending.lost && !pending.acked)
                    .then(|| pending.positions.clone())
                    .filter(|positions| !positions.is_empty());
                pending.acked = true;
                if let Some(positions) = commit {
                    if !self.sim_bug(|b| b.skip_revoke_commit) {
                        let id = self.enqueue_commit(CommitKind::Revoke, positions).ok();
                        self.group_mut().revoke_commit = id;
                    }
                }
            }
            // The latest token of a rebalance that did not wait (unsubscribe,
            // close): acknowledging it is harmless.
            None if latest => {}
            None => return Err(UsageError::StaleToken(token)),
        }
        self.drive();
        Ok(())
    }

    /// Commits `offsets` (the **next** offset to read per partition). The answer
    /// comes as [`Event::Committed`] with the returned id, one result per
    /// partition. Only partitions the consumer owns (or is being asked to give up,
    /// until it acknowledges) may be committed.
    pub fn commit(
        &mut self,
        offsets: impl IntoIterator<Item = (TopicPartition, OffsetAndMetadata)>,
    ) -> Result<CommitId, UsageError> {
        self.check_open()?;
        let g = self.group.as_ref().ok_or(UsageError::NoGroupId)?;
        if let Some(failure) = g.fatal {
            return Err(UsageError::GroupFailed(failure));
        }
        let offsets: BTreeMap<TopicPartition, OffsetAndMetadata> = offsets.into_iter().collect();
        for (tp, o) in &offsets {
            if o.offset < 0 {
                return Err(UsageError::NegativeOffset(o.offset));
            }
            if !self.may_commit(tp) {
                return Err(UsageError::NotOwned(tp.clone()));
            }
        }
        let id = self.enqueue_commit(CommitKind::Application, offsets)?;
        self.drive();
        Ok(id)
    }

    /// Commits what the application was handed: each owned partition's position
    /// (the offset after the last record returned), with the epoch of that record.
    pub fn commit_consumed(&mut self) -> Result<CommitId, UsageError> {
        self.check_open()?;
        let offsets = self.consumed_offsets(|_| true);
        let id = self.enqueue_commit(CommitKind::Application, offsets)?;
        self.drive();
        Ok(id)
    }

    /// Asks the coordinator for the committed offsets of `partitions` (owned or
    /// not). The answer comes as [`Event::CommittedOffsets`] with the returned id.
    pub fn committed(
        &mut self,
        partitions: impl IntoIterator<Item = TopicPartition>,
    ) -> Result<QueryId, UsageError> {
        self.check_open()?;
        if self.group.is_none() {
            return Err(UsageError::NoGroupId);
        }
        let id = QueryId(self.queries_next_id());
        let group = self.group.as_mut().ok_or(UsageError::NoGroupId)?;
        let pending: BTreeSet<TopicPartition> = partitions.into_iter().collect();
        let query = CommittedQuery {
            pending,
            sent: false,
            done: Vec::new(),
        };
        group.committed_queries.insert(id, query);
        self.timers
            .set(Timer::Query(id), self.now + self.config.default_api_timeout);
        self.finish_committed_query(id);
        self.drive();
        Ok(id)
    }

    /// The group membership, for a transactional producer's
    /// `send_offsets_to_transaction`; `None` without `group.id`.
    pub fn group_metadata(&self) -> Option<GroupMetadata> {
        let g = self.group.as_ref()?;
        Some(GroupMetadata {
            group_id: g.group_id.clone(),
            generation_id: g.generation,
            member_id: g.member_id.clone(),
            group_instance_id: g.instance_id.clone(),
        })
    }

    /// Where the group member is; `None` without `group.id`.
    pub fn group_state(&self) -> Option<MemberState> {
        self.group.as_ref().map(|g| g.state)
    }

    /// The member's last transitions, oldest first (at most 64), for tests and
    /// debugging.
    pub fn group_transitions(&self) -> impl Iterator<Item = &Transition> {
        self.group.iter().flat_map(|g| g.transitions.iter())
    }

    /// Test-only: switches planted group-client bugs on (see [`SimBugs`]).
    #[cfg(feature = "sim-bugs")]
    #[doc(hidden)]
    pub fn set_sim_bugs(&mut self, bugs: SimBugs) {
        if let Some(g) = self.group.as_mut() {
            g.bugs = bugs;
            g.commits.requeue_behind = bugs.requeue_behind;
        }
    }

    /// Whether a planted bug is on (never without the `sim-bugs` feature).
    fn sim_bug(&self, bug: impl Fn(&SimBugs) -> bool) -> bool {
        cfg!(feature = "sim-bugs") && self.group.as_ref().is_some_and(|g| bug(&g.bugs))
    }

    // ----- helpers for the application calls ------------------------------------------

    pub(super) fn check_open(&self) -> Result<(), UsageError> {
        if self.closing.is_some() || self.closed {
            Err(UsageError::Closed)
        } else {
            Ok(())
        }
    }

    fn group_for_subscribe(&mut self) -> Result<&mut Group, UsageError> {
        if self.config.group_protocol != GroupProtocol::Classic {
            return Err(UsageError::UnsupportedGroupProtocol);
        }
        let manual =
            !self.assignment.is_empty() && !self.group.as_ref().is_some_and(Group::subscribed);
        if manual {
            return Err(UsageError::AssignedManually);
        }
        let group = self.group.as_mut().ok_or(UsageError::NoGroupId)?;
        if let Some(failure) = group.fatal {
            return Err(UsageError::GroupFailed(failure));
        }
        Ok(group)
    }

    /// Whether the application may commit `tp`: owned, or revoked and not yet
    /// acknowledged.
    fn may_commit(&self, tp: &TopicPartition) -> bool {
        let Some(g) = self.group.as_ref() else {
            return false;
        };
        if !g.subscribed() {
            return self.assignment.get(tp).is_some();
        }
        g.owned.contains(tp) && self.assignment.get(tp).is_some()
            || g.pending_ack
                .as_ref()
                .is_some_and(|p| !p.lost && !p.acked && p.partitions.contains(tp))
    }

    /// Positions of owned partitions (and of revoked ones awaiting their ack) that
    /// `pick` selects, as offsets to commit.
    fn consumed_offsets(
        &self,
        mut pick: impl FnMut(&TopicPartition) -> bool,
    ) -> BTreeMap<TopicPartition, OffsetAndMetadata> {
        let mut out = BTreeMap::new();
        for (tp, s) in self.assignment.iter() {
            if !pick(tp) || !self.may_commit(tp) {
                continue;
            }
            if let Some(mut o) = consumed_offset(s) {
                if self.sim_bug(|b| b.commit_ahead) {
                    o.offset += 1;
                }
                out.insert(tp.clone(), o);
            }
        }
        if let Some(p) = self.group.as_ref().and_then(|g| g.pending_ack.as_ref()) {
            if !p.lost && !p.acked {
                for (tp, o) in &p.positions {
                    if pick(tp) {
                        out.insert(tp.clone(), o.clone());
                    }
                }
            }
        }
        out
    }

    /// What a periodic auto-commit commits: per owned partition, what polls
    /// before the latest handed out (the application may still hold the latest
    /// poll's records: a driver fires this timer in the background), where that
    /// differs from what this consumer last committed and is not behind a commit
    /// that already covers more (the application's, done, queued or in flight).
    /// Revoked partitions awaiting their acknowledgement are left to the
    /// revoke-time commit.
    fn auto_commit_offsets(&self) -> BTreeMap<TopicPartition, OffsetAndMetadata> {
        let mut out = BTreeMap::new();
        let Some(g) = self.group.as_ref() else {
            return out;
        };
        let latest_poll = self.assignment.latest_poll();
        for (tp, s) in self.assignment.iter() {
            if !self.may_commit(tp) {
                continue;
            }
            let Some(mut o) = consumed_offset(s) else {
                continue;
            };
            let (offset, epoch, held_back) = s.auto_commit_position(latest_poll);
            o.offset = offset;
            o.leader_epoch = epoch;
            if self.sim_bug(|b| b.commit_ahead) {
                o.offset += 1;
            }
            if g.commits.last_committed(tp) == Some(o.offset)
                || held_back && g.commits.highest(tp).is_some_and(|h| h > o.offset)
            {
                continue;
            }
            out.insert(tp.clone(), o);
        }
        out
    }

    fn enqueue_commit(
        &mut self,
        kind: CommitKind,
        offsets: BTreeMap<TopicPartition, OffsetAndMetadata>,
    ) -> Result<CommitId, UsageError> {
        let now = self.now;
        let g = self.group.as_mut().ok_or(UsageError::NoGroupId)?;
        if let Some(failure) = g.fatal {
            return Err(UsageError::GroupFailed(failure));
        }
        let deadline = now + g.api_timeout;
        let id = g
            .commits
            .enqueue(kind, offsets, g.generation, now, deadline);
        self.timers.set(Timer::CommitDeadline, deadline);
        Ok(id)
    }

    // ----- driving ---------------------------------------------------------------------

    /// The group's part of `drive`: coordinator lookup, membership requests,
    /// heartbeats, commits and committed-offset lookups that are due.
    pub(super) fn drive_group(&mut self) {
        let Some(g) = self.group.as_ref() else {
            return;
        };
        if g.fatal.is_some() {
            return;
        }
        let wants_coordinator = g.subscribed()
            || !g.commits.is_idle()
            || !g.committed_queries.is_empty()
            || !g.describes.is_empty()
            || self.awaiting_committed();
        if !wants_coordinator && g.state == MemberState::Unjoined {
            return;
        }
        let Some(coordinator) = self.ensure_coordinator() else {
            return;
        };
        if self
            .brokers
            .ready(coordinator, ConnRole::Coordinator)
            .is_none()
        {
            if !self
                .brokers
                .is_connected_or_connecting(coordinator, ConnRole::Coordinator)
            {
                self.brokers.connect(
                    coordinator,
                    ConnRole::Coordinator,
                    self.now,
                    &mut self.timers,
                );
            }
            return;
        }
        // A step may lead to the next at once (Unjoined → Joining → JoinGroup sent).
        for _ in 0..3 {
            let before = self.group.as_ref().map(|g| g.state);
            self.drive_membership(coordinator);
            if self.group.as_ref().map(|g| g.state) == before {
                break;
            }
        }
        self.drive_commits(coordinator);
        self.drive_committed_fetch(coordinator);
        self.drive_describes(coordinator);
    }

    /// The coordinator, once known; sends FindCoordinator when due.
    fn ensure_coordinator(&mut self) -> Option<BrokerId> {
        let g = self.group.as_ref()?;
        if let Some(b) = g.coordinator.broker() {
            return Some(b);
        }
        if !g.coordinator.should_find(self.now) {
            return None;
        }
        let Some(broker) = self.brokers.least_loaded() else {
            if !self.brokers.any_pending() {
                if let Some(b) = self.brokers.pick_to_connect(self.now, &mut self.rng) {
                    self.brokers
                        .connect(b, ConnRole::Data, self.now, &mut self.timers);
                }
            }
            return None;
        };
        let version = self
            .brokers
            .ready(broker, ConnRole::Data)?
            .version(ApiKey::FindCoordinator)?;
        let group_id = g.group_id.clone();
        let req = FindCoordinatorRequest {
            key: if version < 4 {
                group_id.clone()
            } else {
                String::new()
            },
            key_type: 0,
            coordinator_keys: if version >= 4 {
                alloc::vec![group_id]
            } else {
                Vec::new()
            },
        };
        if self.send(broker, &req, version, Purpose::FindCoordinator) {
            self.group_mut().coordinator.on_sent();
        }
        None
    }

    pub(super) fn group_mut(&mut self) -> &mut Group {
        self.group.as_mut().expect("a group")
    }

    /// Sends a request on the coordinator connection.
    pub(super) fn send_to_coordinator<R: Request>(
        &mut self,
        coordinator: BrokerId,
        req: &R,
        purpose: Purpose,
        timeout: Option<Duration>,
    ) -> bool {
        let Some(version) = self
            .brokers
            .ready(coordinator, ConnRole::Coordinator)
            .and_then(|v| v.version(R::API_KEY))
        else {
            return false;
        };
        self.brokers.send(
            coordinator,
            ConnRole::Coordinator,
            req,
            version,
            purpose,
            self.now,
            timeout,
            &mut self.timers,
        )
    }

    fn coordinator_version(&self, coordinator: BrokerId, api: ApiKey) -> Option<i16> {
        self.brokers
            .ready(coordinator, ConnRole::Coordinator)?
            .version(api)
    }

    fn drive_membership(&mut self, coordinator: BrokerId) {
        let now = self.now;
        let g = self.group.as_ref().expect("a group");
        if let Some((_, commit)) = g.leaving {
            if commit.is_none() {
                self.finish_leave();
            }
            return;
        }
        match g.state {
            MemberState::Unjoined => {
                // A JoinGroup of the membership that was left may still wait at
                // the coordinator: its answer must not be taken for the next
                // one's (it comes first on the connection), so the next waits.
                // A pattern subscription joins once metadata was matched.
                let matched = g.pattern.as_ref().is_none_or(|(_, matched)| *matched);
                if g.subscribed()
                    && matched
                    && !g.poll_expired
                    && g.retry.ready(now)
                    && !g.join_in_flight
                {
                    self.start_rebalance(g.rejoin.unwrap_or(Cause::Subscribed));
                }
            }
            MemberState::PreparingJoin => {
                self.maybe_heartbeat(coordinator);
                let g = self.group.as_ref().expect("a group");
                // The ack and the revoke-time commit, or the rebalance deadline.
                let past = g.pending_ack.as_ref().is_some_and(|p| now >= p.deadline);
                let acked = past || g.pending_ack.as_ref().is_none_or(|p| p.acked);
                let committed = past || g.revoke_commit.is_none();
                if acked && committed && g.retry.ready(now) {
                    self.finish_revoke();
                    self.send_join(coordinator);
                }
            }
            MemberState::Joining => {
                // Lost partitions: the application's ack (or the deadline) gates
                // the rejoin.
                let waiting = g
                    .pending_ack
                    .as_ref()
                    .is_some_and(|p| p.lost && !p.acked && now < p.deadline);
                if !g.join_in_flight && !waiting && g.retry.ready(now) {
                    if g.pending_ack.as_ref().is_some_and(|p| p.lost) {
                        self.finish_revoke();
                    }
                    self.send_join(coordinator);
                }
            }
            MemberState::Syncing => {
                if !g.sync_in_flight && g.retry.ready(now) {
                    self.send_sync(coordinator);
                }
            }
            MemberState::Stable => {
                let g = self.group.as_ref().expect("a group");
                // Until a cooperative revocation is acknowledged (or its deadline
                // passes) the revoked partitions are still the member's to
                // commit: no rejoin, whoever asks for one, before that. Nor
                // before the revoke-time commit is answered (as an eager rebalance
                // waits for it): once joining, it could not go any more.
                let revoking = g.pending_ack.as_ref().is_some_and(|p| {
                    !p.lost && now < p.deadline && (!p.acked || g.revoke_commit.is_some())
                });
                if revoking {
                    return self.maybe_heartbeat(coordinator);
                }
                // A cooperative round that revoked partitions: once acknowledged
                // (or past its deadline) the revocation ends, whatever rejoin is
                // asked for next, and a follow-up round comes.
                if g.pending_ack
                    .as_ref()
                    .is_some_and(|p| p.acked || now >= p.deadline)
                {
                    self.finish_revoke();
                    let g = self.group_mut();
                    g.rejoin.get_or_insert(Cause::FollowUpRound);
                }
                let g = self.group.as_ref().expect("a group");
                if let Some(cause) = g.rejoin {
                    self.start_rebalance(cause);
                    let g = self.group.as_ref().expect("a group");
                    if g.state == MemberState::Joining && !g.join_in_flight {
                        self.send_join(coordinator);
                    }
                    return;
                }
                self.maybe_heartbeat(coordinator);
            }
            MemberState::Fatal => {}
        }
    }

    /// Starts a rebalance from Stable or Unjoined: eager members revoke everything
    /// first (commit, event, ack); cooperative members keep their partitions.
    fn start_rebalance(&mut self, cause: Cause) {
        let eager = self.group.as_ref().expect("a group").protocol == RebalanceProtocol::Eager;
        let owned: BTreeSet<TopicPartition> = self.group.as_ref().expect("a group").owned.clone();
        let g = self.group_mut();
        g.rejoin = None;
        if eager && !owned.is_empty() {
            self.revoke(owned, cause);
            return;
        }
        let g = self.group_mut();
        g.move_to(MemberState::Joining, cause);
    }

    /// Revokes `partitions` (still in the generation): they stop being fetched at
    /// once and their buffered records are dropped; the application hears
    /// `Revoked` and acknowledges; with auto-commit, the acknowledgement commits
    /// their positions (what was handed out), and the rebalance waits for that
    /// commit. Not before: the records handed out last may still be in the
    /// application's hands while a driver runs the rebalance in the background;
    /// its acknowledgement says it is done with them (Java commits inside its
    /// next poll, for the same reason). Past the deadline without an
    /// acknowledgement nothing is committed.
    fn revoke(&mut self, partitions: BTreeSet<TopicPartition>, cause: Cause) {
        let positions = self.consumed_offsets(|tp| partitions.contains(tp));
        if self.sim_bug(|b| b.fetch_after_revoke) {
            self.group_mut().owned.retain(|tp| !partitions.contains(tp));
        } else {
            self.drop_partitions(&partitions);
        }
        let now = self.now;
        let g = self.group_mut();
        let token = g.token();
        let deadline = now + g.rebalance_timeout;
        g.revoke_commit = None;
        g.pending_ack = Some(PendingAck {
            token,
            lost: false,
            partitions: partitions.clone(),
            positions,
            acked: false,
            deadline,
        });
        // A cooperative round revokes from Stable and stays there (the follow-up
        // join waits for the ack); an eager rebalance prepares to join.
        if cause != Cause::Synced {
            g.move_to(MemberState::PreparingJoin, cause);
        }
        self.timers.set(Timer::RebalanceDeadline, deadline);
        self.events.push_back(Event::Revoked {
            partitions: partitions.into_iter().collect(),
            token,
        });
    }

    /// The member lost `partitions` (its generation is gone): they stop at once,
    /// commits of them are refused, the application hears `Lost`; its ack (or the
    /// rebalance deadline) gates the rejoin.
    fn lose_partitions(&mut self, cause: Cause) {
        let partitions: BTreeSet<TopicPartition> = {
            let g = self.group_mut();
            core::mem::take(&mut g.owned)
        };
        let mut all = partitions.clone();
        match self.group_mut().pending_ack.take() {
            // Already reported lost: not again. Its acknowledgement stays the one
            // awaited unless more is lost now.
            Some(p) if p.lost && all.is_empty() => self.group_mut().pending_ack = Some(p),
            Some(p) if p.lost => {}
            // Revoked and not yet acknowledged: now lost too.
            Some(p) => all.extend(p.partitions),
            None => {}
        }
        self.drop_partitions(&partitions);
        let finished = self
            .group_mut()
            .commits
            .refuse(|tp| all.contains(tp), &CommitError::MembershipLost);
        self.report_commits(finished);
        let now = self.now;
        let g = self.group_mut();
        g.revoke_commit = None;
        if !all.is_empty() {
            let token = g.token();
            let deadline = now + g.rebalance_timeout;
            g.pending_ack = Some(PendingAck {
                token,
                lost: true,
                partitions: all.clone(),
                positions: BTreeMap::new(),
                acked: false,
                deadline,
            });
            self.timers.set(Timer::RebalanceDeadline, deadline);
            self.events.push_back(Event::Lost {
                partitions: all.into_iter().collect(),
                token,
            });
        }
        let _ = cause;
    }

    /// The ack (or deadline) ended a revoke: forget the positions kept for it.
    fn finish_revoke(&mut self) {
        let g = self.group_mut();
        if let Some(p) = g.pending_ack.take() {
            for tp in &p.partitions {
                g.commits.forget(tp);
            }
        }
        g.revoke_commit = None;
        self.refuse_not_owned();
    }

    /// Refuses, in queued commits, partitions that are no longer the member's
    /// (revoked and acknowledged, lost): the rebalance goes on now, and the next
    /// generation may give them to another member (the coordinator does not
    /// check ownership).
    fn refuse_not_owned(&mut self) {
        let Some(g) = self.group.as_ref().filter(|g| g.subscribed()) else {
            return;
        };
        if self.sim_bug(|b| b.send_stale_commits) {
            return;
        }
        let candidates: Vec<TopicPartition> = g
            .owned
            .iter()
            .chain(g.pending_ack.iter().flat_map(|p| p.partitions.iter()))
            .cloned()
            .collect();
        let mine: BTreeSet<TopicPartition> = candidates
            .into_iter()
            .filter(|tp| self.may_commit(tp))
            .collect();
        let refused = self
            .group_mut()
            .commits
            .refuse(|tp| !mine.contains(tp), &CommitError::RebalanceInProgress);
        self.report_commits(refused);
    }

    /// Refuses the queued commits made under another generation than the
    /// member's now: their partitions may have changed hands, or come back to
    /// this member, since. (Within a generation nobody else gets a partition
    /// this member revokes: a revoke-time commit that went back to the queue
    /// still goes after the acknowledgement.)
    fn refuse_stale(&mut self) {
        // (Also once the member left: a commit made under its generation that
        // went back to the queue after the leave is no member's any more.)
        let Some(g) = self.group.as_ref() else {
            return;
        };
        if self.sim_bug(|b| b.send_stale_commits) {
            return;
        }
        let generation = g.generation;
        let stale = self
            .group_mut()
            .commits
            .refuse_stale(generation, &CommitError::RebalanceInProgress);
        self.report_commits(stale);
    }

    /// Removes partitions from fetching (buffers dropped, pause state cleared with
    /// them).
    fn drop_partitions(&mut self, partitions: &BTreeSet<TopicPartition>) {
        if partitions.is_empty() {
            return;
        }
        let keep: BTreeSet<TopicPartition> = self
            .assignment
            .iter()
            .map(|(tp, _)| tp)
            .filter(|tp| !partitions.contains(*tp))
            .cloned()
            .collect();
        self.replace_assignment(keep);
        let g = self.group_mut();
        for tp in partitions {
            g.owned.remove(tp);
        }
    }

    /// The subscription for the eager `sticky` protocol: the previous assignment
    /// and its generation in the user data, where Java's leader reads them (an
    /// eager member owns nothing when it joins). `None` before any assignment, or
    /// when `sticky` is not offered.
    fn sticky_subscription_bytes(&self) -> Option<Bytes> {
        let g = self.group.as_ref().expect("a group");
        if !g.assignors.contains(&Assignor::Sticky) {
            return None;
        }
        let (partitions, generation) = g.last_assigned.as_ref()?;
        Some(
            self.subscription_bytes(Some(Bytes::from(sticky_user_data::encode(
                partitions,
                *generation,
            )))),
        )
    }

    fn subscription_bytes(&self, user_data: Option<Bytes>) -> Bytes {
        let g = self.group.as_ref().expect("a group");
        let topics: Vec<String> = g
            .topics
            .as_ref()
            .map(|t| t.iter().cloned().collect())
            .unwrap_or_default();
        // Eager members revoke everything before joining: they own nothing.
        let owned = if g.protocol == RebalanceProtocol::Cooperative {
            group_by_topic(
                g.owned.iter().map(|tp| (tp, ())),
                |t| SubTopic {
                    topic: t.into(),
                    partitions: Vec::new(),
                },
                |t, p, ()| t.partitions.push(p),
            )
        } else {
            Vec::new()
        };
        let sub = ConsumerProtocolSubscription {
            topics,
            user_data,
            owned_partitions: owned,
            generation_id: g.generation,
            rack_id: g.rack.clone(),
        };
        encode_versioned(&sub, SUBSCRIPTION_VERSION).unwrap_or_default()
    }

    fn send_join(&mut self, coordinator: BrokerId) {
        let metadata = self.subscription_bytes(None);
        let sticky_metadata = self.sticky_subscription_bytes();
        let Some(version) = self.coordinator_version(coordinator, ApiKey::JoinGroup) else {
            return;
        };
        let g = self.group.as_ref().expect("a group");
        if g.is_static() && version < 5 {
            // Static membership needs JoinGroup v5 (KIP-345).
            self.fail_group(ApiKey::JoinGroup, ErrorCode::UnsupportedVersion);
            return;
        }
        let req = JoinGroupRequest {
            group_id: g.group_id.clone(),
            session_timeout_ms: millis(g.session_timeout),
            rebalance_timeout_ms: millis(g.rebalance_timeout),
            member_id: g.member_id.clone(),
            group_instance_id: g.instance_id.clone(),
            protocol_type: PROTOCOL_TYPE.into(),
            protocols: g
                .assignors
                .iter()
                .map(|a| JoinGroupRequestProtocol {
                    name: a.name().into(),
                    metadata: match (a, &sticky_metadata) {
                        (Assignor::Sticky, Some(m)) => m.clone(),
                        _ => metadata.clone(),
                    },
                })
                .collect(),
            reason: None,
        };
        let timeout = self
            .config
            .request_timeout
            .max(g.rebalance_timeout + JOIN_GRACE);
        let generation = g.generation;
        if self.send_to_coordinator(
            coordinator,
            &req,
            Purpose::JoinGroup { generation },
            Some(timeout),
        ) {
            let g = self.group_mut();
            g.join_in_flight = true;
            g.move_to(MemberState::Joining, Cause::JoinSent);
        }
    }

    fn send_sync(&mut self, coordinator: BrokerId) {
        let g = self.group.as_ref().expect("a group");
        let assignments = match &g.leader_join {
            Some(leader) => match self.leader_assignment(leader) {
                Some((a, counts)) => {
                    if let Some(l) = self.group_mut().leader_join.as_mut() {
                        l.assigned_from = Some(counts);
                    }
                    a
                }
                // Waiting for metadata of topics other members subscribe to.
                None => return,
            },
            None => Vec::new(),
        };
        let g = self.group.as_ref().expect("a group");
        let req = SyncGroupRequest {
            group_id: g.group_id.clone(),
            generation_id: g.generation,
            member_id: g.member_id.clone(),
            group_instance_id: g.instance_id.clone(),
            protocol_type: Some(PROTOCOL_TYPE.into()),
            protocol_name: g.protocol_name.clone(),
            assignments,
        };
        let generation = g.generation;
        if self.send_to_coordinator(coordinator, &req, Purpose::SyncGroup { generation }, None) {
            self.group_mut().sync_in_flight = true;
        }
    }

    /// The leader's assignment, once metadata knows every subscribed topic, and
    /// the partition counts it was made from.
    fn leader_assignment(
        &self,
        leader: &LeaderJoin,
    ) -> Option<(Vec<SyncGroupRequestAssignment>, BTreeMap<String, usize>)> {
        let all_topics: BTreeSet<&str> = leader
            .members
            .values()
            .flat_map(|s| s.topics.iter().map(String::as_str))
            .collect();
        let mut topics = BTreeMap::new();
        for t in &all_topics {
            match self.metadata.topic(t) {
                // Not in metadata yet: wait (drive asks for it).
                None => return None,
                Some(info) if info.error != ErrorCode::None || info.partitions.is_empty() => {}
                Some(info) => {
                    // Kafka numbers a topic's partitions 0..n. Sized by how many the
                    // broker listed, never by an index it sent (an index of
                    // i32::MAX or -1 would size a huge allocation); partitions
                    // outside 0..n are not assigned.
                    let count = info.partitions.len();
                    let racks = (0..count)
                        .map(|p| {
                            info.partitions
                                .get(&(p as i32))
                                .map(|pi| {
                                    pi.replicas
                                        .iter()
                                        .filter_map(|b| self.metadata.broker(BrokerId(*b)))
                                        .filter_map(|b| b.rack.clone())
                                        .collect()
                                })
                                .unwrap_or_default()
                        })
                        .collect();
                    topics.insert(
                        String::from(*t),
                        TopicMetadata {
                            replica_racks: racks,
                        },
                    );
                }
            }
        }
        let assignor = Assignor::from_name(&leader.protocol).ok()?;
        let result = assignor.assign(&leader.members, &topics);
        let counts = all_topics
            .iter()
            .map(|t| (String::from(*t), self.assignable_count(t)))
            .collect();
        let assignments = result
            .into_iter()
            .map(|(member_id, parts)| {
                let assigned = group_by_topic(
                    parts.iter().map(|tp| (tp, ())),
                    |t| crate::protocol::messages::consumer_protocol_assignment::TopicPartition {
                        topic: t.into(),
                        partitions: Vec::new(),
                    },
                    |t, p, ()| t.partitions.push(p),
                );
                let data = ConsumerProtocolAssignment {
                    assigned_partitions: assigned,
                    user_data: None,
                };
                SyncGroupRequestAssignment {
                    member_id,
                    assignment: encode_versioned(&data, ASSIGNMENT_VERSION).unwrap_or_default(),
                }
            })
            .collect();
        Some((assignments, counts))
    }

    fn maybe_heartbeat(&mut self, coordinator: BrokerId) {
        let g = self.group.as_ref().expect("a group");
        if g.heartbeat_in_flight || self.timers_has(&Timer::Heartbeat) {
            return;
        }
        let req = HeartbeatRequest {
            group_id: g.group_id.clone(),
            generation_id: g.generation,
            member_id: g.member_id.clone(),
            group_instance_id: g.instance_id.clone(),
        };
        let generation = g.generation;
        let interval = g.heartbeat_interval;
        if self.send_to_coordinator(coordinator, &req, Purpose::Heartbeat { generation }, None) {
            self.group_mut().heartbeat_in_flight = true;
            self.timers.set(Timer::Heartbeat, self.now + interval);
        }
    }

    fn timers_has(&self, timer: &Timer) -> bool {
        self.timers.iter().any(|(t, _)| t == timer)
    }

    fn drive_commits(&mut self, coordinator: BrokerId) {
        let now = self.now;
        let g = self.group.as_ref().expect("a group");
        if !g.may_commit() || g.commits.in_flight() || g.commits.is_idle() {
            return;
        }
        // What the queue holds goes under the generation of now: only what was
        // made under it (a request lost with its connection comes back to the
        // queue, maybe after the generation moved on).
        self.refuse_stale();
        let g = self.group.as_ref().expect("a group");
        let (generation, member_id) = g.generation_for_commit();
        let group_id = g.group_id.clone();
        let instance_id = if g.subscribed() {
            g.instance_id.clone()
        } else {
            None
        };
        let Some(commit) = self.group_mut().commits.start_next(now) else {
            return;
        };
        let id = commit.id;
        let topics = group_by_topic(
            commit.pending.iter(),
            |name| OffsetCommitRequestTopic {
                name: name.into(),
                partitions: Vec::new(),
            },
            |t, partition_index, o| {
                t.partitions.push(OffsetCommitRequestPartition {
                    partition_index,
                    committed_offset: o.offset,
                    committed_leader_epoch: o.leader_epoch.unwrap_or(-1),
                    commit_timestamp: -1,
                    committed_metadata: Some(o.metadata.clone().unwrap_or_default()),
                })
            },
        );
        let req = OffsetCommitRequest {
            group_id,
            generation_id_or_member_epoch: generation,
            member_id,
            group_instance_id: instance_id,
            retention_time_ms: -1,
            topics,
        };
        let _ = id;
        if !self.send_to_coordinator(
            coordinator,
            &req,
            Purpose::OffsetCommit { generation },
            None,
        ) {
            self.group_mut().commits.lost();
        }
    }

    /// Whether some assigned partition waits for its committed offset.
    fn awaiting_committed(&self) -> bool {
        self.assignment
            .iter()
            .any(|(_, s)| s.state == FetchState::AwaitCommitted)
    }

    fn drive_committed_fetch(&mut self, coordinator: BrokerId) {
        let now = self.now;
        // Positions of newly assigned partitions.
        let g = self.group.as_ref().expect("a group");
        // In a group once its generation is stable; a consumer that assigns by
        // hand (with group.id) any time.
        let settled = g.state == MemberState::Stable || !g.subscribed();
        if !g.position_fetch_in_flight && settled {
            let wanted: Vec<TopicPartition> = self
                .assignment
                .iter()
                .filter(|(_, s)| s.state == FetchState::AwaitCommitted && s.ready(now))
                .map(|(tp, _)| tp.clone())
                .collect();
            if !wanted.is_empty() && self.send_offset_fetch(coordinator, &wanted, None) {
                self.group_mut().position_fetch_in_flight = true;
            }
        }
        // The application's queries.
        let ids: Vec<(QueryId, Vec<TopicPartition>)> = self
            .group
            .as_ref()
            .expect("a group")
            .committed_queries
            .iter()
            .filter(|(_, q)| !q.sent)
            .map(|(id, q)| (*id, q.pending.iter().cloned().collect()))
            .collect();
        for (id, parts) in ids {
            if self.send_offset_fetch(coordinator, &parts, Some(id)) {
                if let Some(q) = self.group_mut().committed_queries.get_mut(&id) {
                    q.sent = true;
                }
            }
        }
    }

    fn send_offset_fetch(
        &mut self,
        coordinator: BrokerId,
        partitions: &[TopicPartition],
        query: Option<QueryId>,
    ) -> bool {
        let Some(version) = self.coordinator_version(coordinator, ApiKey::OffsetFetch) else {
            return false;
        };
        let g = self.group.as_ref().expect("a group");
        let require_stable = g.require_stable && version >= 7;
        let mut req = OffsetFetchRequest {
            require_stable,
            ..Default::default()
        };
        if version >= 8 {
            req.groups = alloc::vec![OffsetFetchRequestGroup {
                group_id: g.group_id.clone(),
                member_id: None,
                member_epoch: -1,
                topics: Some(group_by_topic(
                    partitions.iter().map(|tp| (tp, ())),
                    |name| OffsetFetchRequestTopics {
                        name: name.into(),
                        partition_indexes: Vec::new(),
                    },
                    |t, p, ()| t.partition_indexes.push(p),
                )),
            }];
        } else {
            req.group_id = g.group_id.clone();
            req.topics = Some(group_by_topic(
                partitions.iter().map(|tp| (tp, ())),
                |name| OffsetFetchRequestTopic {
                    name: name.into(),
                    partition_indexes: Vec::new(),
                },
                |t, p, ()| t.partition_indexes.push(p),
            ));
        }
        let purpose = Purpose::OffsetFetch {
            partitions: partitions.to_vec(),
            query,
        };
        self.send_to_coordinator(coordinator, &req, purpose, None)
    }

    // ----- answers ----------------------------------------------------------------------

    pub(super) fn on_find_coordinator(&mut self, version: i16, resp: FindCoordinatorResponse) {
        let Some(g) = self.group.as_ref() else {
            return;
        };
        let group_id = g.group_id.clone();
        let (code, node, host, port) = if version >= 4 {
            match resp.coordinators.into_iter().find(|c| c.key == group_id) {
                Some(c) => (
                    ErrorCode::from_code(c.error_code),
                    c.node_id,
                    c.host,
                    c.port,
                ),
                None => (ErrorCode::CoordinatorNotAvailable, -1, String::new(), 0),
            }
        } else {
            (
                ErrorCode::from_code(resp.error_code),
                resp.node_id,
                resp.host,
                resp.port,
            )
        };
        match reaction::find_coordinator(code) {
            Reaction::Proceed if node >= 0 && u16::try_from(port).is_ok() => {
                let id = BrokerId(node);
                if self.metadata.broker(id).is_none() {
                    self.metadata.add_broker(BrokerInfo {
                        id,
                        host,
                        port: port as u16,
                        rack: None,
                    });
                    self.brokers.update(&self.metadata);
                }
                self.group_mut().coordinator.on_found(id);
                kasio_log!(debug, "group coordinator is broker {}", node);
            }
            Reaction::Proceed | Reaction::RetryAfterBackoff => {
                let now = self.now;
                let g = self.group.as_mut().expect("a group");
                let until = g.coordinator.on_failed(now, &mut self.rng);
                self.timers.set(Timer::GroupCoordinator, until);
                if code != ErrorCode::CoordinatorNotAvailable {
                    self.refresh.request();
                }
            }
            _ => self.fail_group(ApiKey::FindCoordinator, code),
        }
    }

    /// The coordinator connection was lost.
    pub(super) fn coordinator_lost(&mut self) {
        self.coordinator_unknown();
    }

    /// The coordinator moved or went away: find it again, keeping the membership.
    pub(super) fn coordinator_unknown(&mut self) {
        let now = self.now;
        let g = self.group.as_mut().expect("a group");
        let until = g.coordinator.mark_unknown(now, &mut self.rng);
        g.join_in_flight = false;
        g.sync_in_flight = false;
        g.heartbeat_in_flight = false;
        g.position_fetch_in_flight = false;
        for q in g.committed_queries.values_mut() {
            q.sent = false;
        }
        for sent in g.describes.values_mut() {
            *sent = false;
        }
        self.timers.set(Timer::GroupCoordinator, until);
        // Close the old coordinator connection: its answers (if any) are stale.
        let conns: Vec<_> = self.coordinator_conns();
        for conn in conns {
            if let Some((_, _, lost)) =
                self.brokers
                    .close(conn, now, &mut self.rng, false, true, &mut self.timers)
            {
                for p in lost {
                    self.on_request_lost_quietly(p);
                }
            }
        }
    }

    fn coordinator_conns(&self) -> Vec<crate::conn::ConnId> {
        self.brokers.conns_in_role(ConnRole::Coordinator)
    }

    /// A group request that will not be answered (its connection is gone).
    pub(super) fn on_group_request_lost(&mut self, purpose: Purpose) {
        let coordinator_request = matches!(
            purpose,
            Purpose::JoinGroup { .. }
                | Purpose::SyncGroup { .. }
                | Purpose::Heartbeat { .. }
                | Purpose::OffsetCommit { .. }
                | Purpose::OffsetFetch { .. }
                | Purpose::DescribeGroup { .. }
        );
        self.on_request_lost_quietly(purpose);
        if coordinator_request
            && self
                .group
                .as_ref()
                .is_some_and(|g| g.coordinator.broker().is_some())
        {
            self.coordinator_unknown();
        }
    }

    fn on_request_lost_quietly(&mut self, purpose: Purpose) {
        let Some(g) = self.group.as_mut() else {
            return;
        };
        match purpose {
            Purpose::FindCoordinator => {
                let until = g.coordinator.on_failed(self.now, &mut self.rng);
                self.timers.set(Timer::GroupCoordinator, until);
            }
            Purpose::JoinGroup { .. } => g.join_in_flight = false,
            Purpose::SyncGroup { .. } => g.sync_in_flight = false,
            Purpose::Heartbeat { .. } => g.heartbeat_in_flight = false,
            Purpose::OffsetCommit { .. } => {
                g.commits.lost();
                // Its deadline may have passed while it was in flight (only
                // queued commits expire): the timer looks at once.
                self.timers.set(Timer::CommitDeadline, self.now);
            }
            Purpose::OffsetFetch { query, .. } => match query {
                Some(id) => {
                    if let Some(q) = g.committed_queries.get_mut(&id) {
                        q.sent = false;
                    }
                }
                None => g.position_fetch_in_flight = false,
            },
            Purpose::DescribeGroup { query } => {
                if let Some(sent) = g.describes.get_mut(&query) {
                    *sent = false;
                }
            }
            Purpose::LeaveGroup => {}
            _ => {}
        }
    }

    pub(super) fn on_join_response(&mut self, generation_sent: i32, resp: JoinGroupResponse) {
        let Some(g) = self.group.as_mut() else {
            return;
        };
        g.join_in_flight = false;
        if g.state != MemberState::Joining {
            return; // left (unsubscribe, poll timeout) meanwhile
        }
        let code = ErrorCode::from_code(resp.error_code);
        match reaction::join_group(code) {
            Reaction::Proceed => {
                g.retry.succeed();
                g.generation = resp.generation_id;
                g.member_id = resp.member_id.clone();
                g.protocol_name = resp.protocol_name.clone();
                g.leader_join = None;
                if resp.leader == resp.member_id && !resp.skip_assignment {
                    let mut members = BTreeMap::new();
                    let eager_sticky =
                        resp.protocol_name.as_deref() == Some(Assignor::Sticky.name());
                    for m in &resp.members {
                        // A member whose metadata does not decode subscribes to
                        // nothing (it gets nothing) rather than failing the group.
                        let sub = decode_versioned::<ConsumerProtocolSubscription>(&m.metadata)
                            .map(|(s, _)| {
                                let sub =
                                    Subscription::from_protocol(&s, m.group_instance_id.as_deref());
                                if eager_sticky {
                                    sub.with_sticky_user_data(s.user_data.as_deref())
                                } else {
                                    sub
                                }
                            })
                            .unwrap_or_default();
                        members.insert(m.member_id.clone(), sub);
                    }
                    let topics: BTreeSet<String> = members
                        .values()
                        .flat_map(|s| s.topics.iter().cloned())
                        .collect();
                    g.leader_join = Some(LeaderJoin {
                        protocol: resp.protocol_name.clone().unwrap_or_default(),
                        members,
                        assigned_from: None,
                    });
                    // The assignment needs every member's topics in metadata.
                    let unknown = topics.iter().any(|t| self.metadata.topic(t).is_none());
                    for t in topics {
                        self.extra_topics.insert(t);
                    }
                    if unknown {
                        self.refresh.request();
                    }
                }
                let g = self.group_mut();
                g.move_to(MemberState::Syncing, Cause::Joined);
            }
            Reaction::RejoinNow => {
                if code == ErrorCode::MemberIdRequired {
                    g.member_id = resp.member_id;
                }
            }
            Reaction::ResetMemberIdAndRejoin => {
                // Only if the generation did not move meanwhile. Without a
                // generation, what a cooperative member kept while joining is
                // lost (Java's onJoinPrepare): another member may have it now.
                if g.generation == generation_sent {
                    g.reset_generation(true);
                    self.lose_partitions(Cause::MembershipLost);
                }
            }
            Reaction::RetryAfterBackoff => {
                let until = g.retry.fail(self.now, &mut self.rng);
                self.timers.set(Timer::GroupRetry, until);
            }
            Reaction::Rediscover => self.coordinator_unknown(),
            _ => self.fail_group(ApiKey::JoinGroup, code),
        }
    }

    pub(super) fn on_sync_response(&mut self, generation_sent: i32, resp: SyncGroupResponse) {
        let Some(g) = self.group.as_mut() else {
            return;
        };
        g.sync_in_flight = false;
        if g.state != MemberState::Syncing || g.generation != generation_sent {
            return;
        }
        let code = ErrorCode::from_code(resp.error_code);
        match reaction::sync_group(code) {
            Reaction::Proceed => {
                g.retry.succeed();
                let assigned_from = g.leader_join.take().and_then(|l| l.assigned_from);
                let assigned: BTreeSet<TopicPartition> = if resp.assignment.is_empty() {
                    BTreeSet::new()
                } else {
                    match decode_versioned::<ConsumerProtocolAssignment>(&resp.assignment) {
                        Ok((a, _)) => a
                            .assigned_partitions
                            .iter()
                            .flat_map(|t| {
                                t.partitions
                                    .iter()
                                    .map(|p| TopicPartition::new(t.topic.clone(), *p))
                            })
                            .collect(),
                        Err(e) => {
                            kasio_log!(warn, "undecodable assignment: {:?}", e);
                            // Nothing usable: join again.
                            g.rejoin = Some(Cause::MembershipLost);
                            BTreeSet::new()
                        }
                    }
                };
                self.on_synced(Synced {
                    assigned,
                    assigned_from,
                });
            }
            Reaction::RejoinNow => {
                // A rebalance started again: join again, keeping the generation.
                g.move_to(MemberState::Joining, Cause::RebalanceInProgress);
            }
            Reaction::MembershipLost { reset_member_id } => {
                g.reset_generation(reset_member_id);
                self.lose_partitions(Cause::MembershipLost);
                let g = self.group_mut();
                g.move_to(MemberState::Joining, Cause::MembershipLost);
            }
            Reaction::RetryAfterBackoff => {
                let until = g.retry.fail(self.now, &mut self.rng);
                self.timers.set(Timer::GroupRetry, until);
            }
            Reaction::Rediscover => {
                // The generation may have moved while the coordinator was away:
                // join again once it is found.
                g.move_to(MemberState::Joining, Cause::RebalanceInProgress);
                self.coordinator_unknown();
            }
            _ => self.fail_group(ApiKey::SyncGroup, code),
        }
    }

    /// SyncGroup gave this member `assigned` in the new generation.
    fn on_synced(&mut self, synced: Synced) {
        let now = self.now;
        let owned = self.group.as_ref().expect("a group").owned.clone();
        let revoked: BTreeSet<TopicPartition> =
            owned.difference(&synced.assigned).cloned().collect();
        let added: BTreeSet<TopicPartition> = synced.assigned.difference(&owned).cloned().collect();
        {
            let g = self.group_mut();
            g.move_to(MemberState::Stable, Cause::Synced);
            g.owned = synced.assigned.clone();
            g.last_assigned = Some((synced.assigned.iter().cloned().collect(), g.generation));
        }
        // Remember the partition counts the assignment was made from, to notice
        // changes: the leader's are those it assigned from (Java's
        // `assignmentSnapshot`), not those of now. Metadata answered between
        // the assignment and SyncGroup's answer (a topic's error cleared, a
        // topic grew) must still rebalance. A member that did not assign takes
        // what it sees now.
        let counts = match synced.assigned_from {
            Some(counts) => counts,
            None => self.subscribed_partition_counts(),
        };
        self.group_mut().assigned_counts = counts;
        // Already changed: rebalance at once (Java checks its snapshot again as
        // soon as the join completes).
        self.group_metadata_changed();
        // Newly assigned partitions start from their committed offsets. Revoked
        // ones stay until `revoke` below has read their positions (for the
        // revoke-time commit) and drops them.
        let mut keep: BTreeSet<TopicPartition> =
            self.assignment.iter().map(|(tp, _)| tp.clone()).collect();
        keep.extend(added.iter().cloned());
        self.replace_assignment(keep);
        for tp in &added {
            self.assignment.update(tp, |s| s.await_committed());
        }
        let interval = self.group.as_ref().expect("a group").heartbeat_interval;
        let session = self.group.as_ref().expect("a group").session_timeout;
        self.timers.set(Timer::Heartbeat, now + interval);
        self.timers.set(Timer::Session, now + session);
        if let Some(interval) = self.group.as_ref().expect("a group").auto_commit {
            if !self.timers_has(&Timer::AutoCommit) {
                self.timers.set(Timer::AutoCommit, now + interval);
            }
        }
        self.events.push_back(Event::Assigned {
            partitions: added.into_iter().collect(),
        });
        if !revoked.is_empty() {
            // Cooperative: give up what moved, then a follow-up round.
            self.group_mut().owned.extend(revoked.iter().cloned());
            self.revoke(revoked, Cause::Synced);
        }
    }

    pub(super) fn on_heartbeat_response(&mut self, generation_sent: i32, resp: HeartbeatResponse) {
        let now = self.now;
        let Some(g) = self.group.as_mut() else {
            return;
        };
        g.heartbeat_in_flight = false;
        let code = ErrorCode::from_code(resp.error_code);
        let current = g.generation == generation_sent;
        let reaction = reaction::heartbeat(code);
        if matches!(reaction, Reaction::Proceed | Reaction::Rebalance) {
            // Alive as far as the coordinator is concerned.
            let session = g.session_timeout;
            self.timers.set(Timer::Session, now + session);
        }
        let g = self.group_mut();
        match reaction {
            Reaction::Proceed => {}
            Reaction::Rebalance => {
                if g.state == MemberState::Stable && current {
                    g.rejoin = Some(Cause::RebalanceInProgress);
                }
            }
            Reaction::MembershipLost { reset_member_id } => {
                if !current || !matches!(g.state, MemberState::Stable | MemberState::PreparingJoin)
                {
                    return; // the generation already moved on
                }
                g.reset_generation(reset_member_id);
                self.lose_partitions(Cause::MembershipLost);
                let g = self.group_mut();
                g.move_to(MemberState::Joining, Cause::MembershipLost);
            }
            Reaction::Rediscover => self.coordinator_unknown(),
            Reaction::RetryAfterBackoff => {}
            _ => self.fail_group(ApiKey::Heartbeat, code),
        }
    }

    pub(super) fn on_commit_response(&mut self, generation_sent: i32, resp: OffsetCommitResponse) {
        let now = self.now;
        let Some(g) = self.group.as_mut() else {
            return;
        };
        let mut rediscover = false;
        let mut rebalance = false;
        let mut lost: Option<bool> = None;
        let mut fatal = None;
        let mut retry = false;
        let Some(commit) = g.commits.in_flight_mut() else {
            return;
        };
        let mut answered = BTreeSet::new();
        for t in resp.topics {
            let mut tp = TopicPartition::new(t.name, 0);
            for p in t.partitions {
                tp.partition = p.partition_index;
                answered.insert(tp.clone());
                let code = ErrorCode::from_code(p.error_code);
                match reaction::offset_commit(code) {
                    CommitReaction::Committed => commit.decide(&tp, Ok(())),
                    CommitReaction::Retry => retry = true,
                    CommitReaction::RediscoverAndRetry => {
                        retry = true;
                        rediscover = true;
                    }
                    CommitReaction::FailRebalancing => {
                        rebalance = true;
                        commit.decide(&tp, Err(CommitError::RebalanceInProgress));
                    }
                    CommitReaction::FailMembershipLost { reset_member_id } => {
                        lost = Some(reset_member_id);
                        commit.decide(&tp, Err(CommitError::MembershipLost));
                    }
                    CommitReaction::Fatal => {
                        fatal = Some(code);
                        commit.decide(&tp, Err(CommitError::GroupFailed));
                    }
                    _ => commit.decide(&tp, Err(CommitError::Broker(code))),
                }
            }
        }
        // Partitions the coordinator left out are tried again.
        retry |= commit.pending.keys().any(|tp| !answered.contains(tp));
        let retry_at = if retry {
            g.retry.fail(now, &mut self.rng)
        } else {
            now
        };
        let finished = g.commits.answered(retry_at);
        if retry {
            self.timers.set(Timer::CommitDeadline, retry_at);
        }
        if let Some(c) = finished {
            self.report_commits(alloc::vec![c]);
        }
        let g = self.group_mut();
        let current = g.generation == generation_sent;
        if rebalance && g.state == MemberState::Stable && current {
            g.rejoin = Some(Cause::RebalanceInProgress);
        }
        if let Some(reset_member_id) = lost {
            // The generation moved and a join is under way: nothing to reset
            // (librdkafka #4059 rejoined here and lost its new assignment).
            let joining = matches!(g.state, MemberState::Joining | MemberState::Syncing);
            if current && !joining && g.subscribed() {
                g.reset_generation(reset_member_id);
                self.lose_partitions(Cause::MembershipLost);
                let g = self.group_mut();
                g.move_to(MemberState::Joining, Cause::MembershipLost);
            }
        }
        if let Some(code) = fatal {
            self.fail_group(ApiKey::OffsetCommit, code);
        } else if rediscover {
            self.coordinator_unknown();
        }
    }

    pub(super) fn on_offset_fetch_response(
        &mut self,
        partitions: Vec<TopicPartition>,
        query: Option<QueryId>,
        resp: OffsetFetchResponse,
    ) {
        let now = self.now;
        let (top, answers) = committed_answers(resp);
        let Some(g) = self.group.as_mut() else {
            return;
        };
        match query {
            None => g.position_fetch_in_flight = false,
            Some(id) => {
                if let Some(q) = g.committed_queries.get_mut(&id) {
                    q.sent = false;
                }
            }
        }
        match reaction::offset_fetch(top) {
            FetchReaction::Found => {}
            FetchReaction::RediscoverAndRetry => return self.coordinator_unknown(),
            FetchReaction::Retry => {
                for tp in &partitions {
                    if query.is_none() {
                        self.assignment
                            .back_off(tp, now, &mut self.rng, &mut self.timers);
                    }
                }
                if let Some(id) = query {
                    let g = self.group.as_mut().expect("a group");
                    let until = g.retry.fail(now, &mut self.rng);
                    self.timers.set(Timer::GroupRetry, until);
                    let _ = id;
                }
                return;
            }
            _ => {
                let error = ConsumerError::Broker(BrokerError::Group(GroupFailure {
                    api: ApiKey::OffsetFetch.key(),
                    code: top,
                }));
                match query {
                    Some(id) => {
                        if let Some(q) = self.group_mut().committed_queries.get_mut(&id) {
                            for tp in core::mem::take(&mut q.pending) {
                                q.done.push((tp, Err(error.clone())));
                            }
                        }
                        self.finish_committed_query(id);
                    }
                    None => {
                        self.report(error);
                        for tp in &partitions {
                            self.assignment
                                .back_off(tp, now, &mut self.rng, &mut self.timers);
                        }
                    }
                }
                return;
            }
        }
        let mut rediscover = false;
        for CommittedAnswer {
            tp,
            offset,
            epoch,
            metadata,
            code,
        } in answers
        {
            if !partitions.contains(&tp) {
                continue;
            }
            let found = match reaction::offset_fetch(code) {
                FetchReaction::Found => Ok((offset >= 0).then(|| OffsetAndMetadata {
                    offset,
                    leader_epoch: (epoch >= 0).then_some(epoch),
                    metadata: metadata.filter(|m| !m.is_empty()),
                })),
                FetchReaction::Retry => {
                    if query.is_none() {
                        self.assignment
                            .back_off(&tp, now, &mut self.rng, &mut self.timers);
                    }
                    continue;
                }
                FetchReaction::RediscoverAndRetry => {
                    rediscover = true;
                    continue;
                }
                _ => Err(code),
            };
            match query {
                Some(id) => {
                    if let Some(q) = self.group_mut().committed_queries.get_mut(&id) {
                        if q.pending.remove(&tp) {
                            let r = found.map_err(|code| {
                                ConsumerError::Broker(BrokerError::Partition {
                                    tp: tp.clone(),
                                    code,
                                })
                            });
                            q.done.push((tp, r));
                        }
                    }
                }
                None => self.apply_committed(&tp, found),
            }
        }
        if let Some(id) = query {
            self.finish_committed_query(id);
        }
        if rediscover {
            self.coordinator_unknown();
        }
    }

    /// A newly assigned partition's committed offset arrived: start there
    /// (validated like a seek when it carries an epoch), or from
    /// `auto.offset.reset` when nothing is committed.
    fn apply_committed(
        &mut self,
        tp: &TopicPartition,
        found: Result<Option<OffsetAndMetadata>, ErrorCode>,
    ) {
        let strategy = self.config.auto_offset_reset;
        let waiting = self
            .assignment
            .get(tp)
            .is_some_and(|s| s.state == FetchState::AwaitCommitted);
        if !waiting {
            return;
        }
        match found {
            Ok(Some(_)) if self.sim_bug(|b| b.ignore_committed) => {
                self.assignment.update(tp, |s| {
                    s.request_reset(
                        crate::config::OffsetReset::Latest,
                        super::event::ResetReason::NoPosition,
                    )
                });
            }
            Ok(Some(o)) => {
                let skip = i64::from(self.sim_bug(|b| b.committed_off_by_one));
                self.assignment.update(tp, |s| {
                    s.seek(o.offset + skip, o.leader_epoch);
                    if o.leader_epoch.is_some() {
                        s.state = FetchState::AwaitValidation;
                    }
                });
            }
            Ok(None) => {
                self.assignment.update(tp, |s| {
                    s.request_reset(strategy, super::event::ResetReason::NoPosition)
                });
            }
            Err(code) => {
                let error = BrokerError::Partition {
                    tp: tp.clone(),
                    code,
                };
                self.fail_partition(tp, error);
            }
        }
    }

    fn finish_committed_query(&mut self, id: QueryId) {
        let Some(g) = self.group.as_mut() else {
            return;
        };
        if !g
            .committed_queries
            .get(&id)
            .is_some_and(|q| q.pending.is_empty())
        {
            return;
        }
        let q = g.committed_queries.remove(&id).expect("checked");
        self.timers.clear(&Timer::Query(id));
        self.events.push_back(Event::CommittedOffsets {
            id,
            offsets: q.done,
        });
    }

    /// `default.api.timeout.ms` passed for a `committed` query.
    pub(super) fn expire_committed_query(&mut self, id: QueryId) -> bool {
        let Some(q) = self
            .group
            .as_mut()
            .and_then(|g| g.committed_queries.get_mut(&id))
        else {
            return false;
        };
        for tp in core::mem::take(&mut q.pending) {
            q.done
                .push((tp, Err(super::error::LocalError::Timeout.into())));
        }
        self.finish_committed_query(id);
        true
    }

    fn report_commits(&mut self, commits: Vec<Commit>) {
        for c in commits {
            let g = self.group_mut();
            if g.revoke_commit == Some(c.id) {
                g.revoke_commit = None;
            }
            if let Some((_, commit)) = g.leaving.as_mut() {
                if *commit == Some(c.id) {
                    *commit = None;
                }
            }
            self.events.push_back(Event::Committed {
                id: c.id,
                results: c.done,
                started: c.started,
            });
        }
    }

    /// The group cannot go on: report it; partitions stop.
    fn fail_group(&mut self, api: ApiKey, code: ErrorCode) {
        let failure = GroupFailure {
            api: api.key(),
            code,
        };
        let owned: BTreeSet<TopicPartition> = {
            let g = self.group_mut();
            g.fatal = Some(failure);
            g.move_to(MemberState::Fatal, Cause::FatalError);
            core::mem::take(&mut g.owned)
        };
        self.drop_partitions(&owned);
        let failed = self.group_mut().commits.fail_all(&CommitError::GroupFailed);
        self.report_commits(failed);
        self.events
            .push_back(Event::Fatal(ConsumerError::Broker(BrokerError::Group(
                failure,
            ))));
    }

    // ----- timers and polls ---------------------------------------------------------------

    /// A group timer fired.
    pub(super) fn on_group_timer(&mut self, timer: &Timer) {
        let now = self.now;
        let Some(g) = self.group.as_mut() else {
            return;
        };
        match timer {
            // No successful heartbeat for a session: the coordinator has most
            // likely removed us; find it again (the next answer says).
            Timer::Session
                if g.state == MemberState::Stable || g.state == MemberState::PreparingJoin =>
            {
                self.coordinator_unknown();
            }
            Timer::PollInterval
                if g.subscribed()
                    && matches!(
                        g.state,
                        MemberState::Stable
                            | MemberState::PreparingJoin
                            | MemberState::Joining
                            | MemberState::Syncing
                    ) =>
            {
                kasio_log!(
                    warn,
                    "max.poll.interval.ms passed without a poll: leaving the group"
                );
                g.poll_expired = true;
                self.leave_group(Cause::PollTimeout);
            }
            Timer::AutoCommit => {
                if let Some(interval) = g.auto_commit {
                    self.timers.set(Timer::AutoCommit, now + interval);
                    let g = self.group.as_ref().expect("a group");
                    if g.may_commit() && !g.commits.has(CommitKind::Auto) {
                        let changed = self.auto_commit_offsets();
                        if !changed.is_empty() {
                            let _ = self.enqueue_commit(CommitKind::Auto, changed);
                        }
                    }
                }
            }
            Timer::CommitDeadline => {
                let expired = g.commits.expire(now);
                let next = g.commits.next_deadline(now);
                self.timers.set_opt(Timer::CommitDeadline, next);
                self.report_commits(expired);
            }
            Timer::RebalanceDeadline
            | Timer::GroupRetry
            | Timer::GroupCoordinator
            | Timer::Heartbeat => {}
            _ => {}
        }
    }

    /// The application polled: the poll-interval clock restarts; a member that
    /// left for not polling joins again.
    pub(super) fn group_polled(&mut self) {
        let now = self.now;
        let Some(g) = self.group.as_mut() else {
            return;
        };
        if !g.subscribed() {
            return;
        }
        self.timers
            .set(Timer::PollInterval, now + g.rebalance_timeout);
        if g.poll_expired {
            g.poll_expired = false;
            g.rejoin = Some(Cause::Polled);
        }
    }

    /// Leaves the group: revoked partitions are committed (auto-commit) and
    /// dropped, dynamic members send LeaveGroup, the generation is forgotten.
    pub(super) fn leave_group(&mut self, cause: Cause) {
        let Some(g) = self.group.as_ref() else {
            return;
        };
        if g.fatal.is_some() {
            // The group already failed (its partitions are gone, Fatal is final):
            // nothing to leave, no request to send.
            return;
        }
        let owned = g.owned.clone();
        let may_commit = g.may_commit() && g.auto_commit.is_some();
        let mut commit = None;
        if cause == Cause::PollTimeout {
            // Too late to commit: the partitions are as good as gone.
            self.lose_partitions(cause);
        } else {
            let mut positions = self.consumed_offsets(|tp| owned.contains(tp));
            // A revocation still awaiting its acknowledgement (whose commit waits
            // for it): leaving says the application is done with those too.
            if let Some(p) = g.pending_ack.as_ref().filter(|p| !p.lost && !p.acked) {
                positions.extend(p.positions.iter().map(|(tp, o)| (tp.clone(), o.clone())));
            }
            if may_commit && !positions.is_empty() {
                commit = self.enqueue_commit(CommitKind::Close, positions).ok();
            }
        }
        if cause != Cause::PollTimeout && !owned.is_empty() {
            self.drop_partitions(&owned);
            // Nothing waits for this acknowledgement: the member is leaving.
            let g = self.group_mut();
            let token = g.token();
            g.pending_ack = None;
            g.leave_token = Some(token);
            self.events.push_back(Event::Revoked {
                partitions: owned.into_iter().collect(),
                token,
            });
        }
        // The commit goes first, under the generation; then LeaveGroup. So do
        // commits the application queued before (they go in order, so waiting
        // for the last one waits for all): after the leave they would go without
        // a generation, and a group with no members left takes those. A member
        // without a generation has none to commit under and no LeaveGroup to
        // send: it waits for nothing (what it queued is refused, as Java fails a
        // subscribed consumer's commit outside a generation). Waiting could
        // last for ever: subscribed again, it may not send them.
        let g = self.group_mut();
        let commit = commit.or_else(|| {
            (g.generation >= 0 && g.may_commit())
                .then(|| g.commits.last_id())
                .flatten()
        });
        g.leaving = Some((cause, commit));
        if commit.is_none() {
            self.finish_leave();
        }
    }

    /// The leave's commit is done (or there was none): LeaveGroup (dynamic members
    /// only), and the generation is forgotten.
    fn finish_leave(&mut self) {
        let Some((cause, _)) = self.group_mut().leaving.take() else {
            return;
        };
        let g = self.group.as_ref().expect("a group");
        if g.generation >= 0 && !g.is_static() {
            self.send_leave();
        }
        // Commits that could not go under the generation never go: without it
        // they are no member's.
        let refused = self
            .group_mut()
            .commits
            .refuse(|_| true, &CommitError::MembershipLost);
        self.report_commits(refused);
        let g = self.group_mut();
        g.reset_generation(true);
        // Nothing waits for an acknowledgement now; acking it stays harmless.
        if let Some(p) = g.pending_ack.take() {
            g.leave_token = Some(p.token);
        }
        g.leader_join = None;
        g.sync_in_flight = false;
        g.move_to(MemberState::Unjoined, cause);
        self.timers.clear(&Timer::Heartbeat);
        self.timers.clear(&Timer::Session);
    }

    fn send_leave(&mut self) {
        let Some(coordinator) = self.group.as_ref().and_then(|g| g.coordinator.broker()) else {
            return;
        };
        let Some(version) = self.coordinator_version(coordinator, ApiKey::LeaveGroup) else {
            return;
        };
        let g = self.group.as_ref().expect("a group");
        let req = LeaveGroupRequest {
            group_id: g.group_id.clone(),
            member_id: if version < 3 {
                g.member_id.clone()
            } else {
                String::new()
            },
            members: if version >= 3 {
                alloc::vec![MemberIdentity {
                    member_id: g.member_id.clone(),
                    group_instance_id: g.instance_id.clone(),
                    reason: Some("the consumer is leaving the group".into()),
                }]
            } else {
                Vec::new()
            },
        };
        // One best-effort try, never retried.
        if self.send_to_coordinator(coordinator, &req, Purpose::LeaveGroup, None) {
            self.group_mut().leave_sent = true;
        }
    }

    /// Metadata arrived: a leader notices that what it assigned changed (a topic
    /// grew or vanished) and asks for a rebalance.
    pub(super) fn group_metadata_changed(&mut self) {
        let Some(g) = self.group.as_ref() else {
            return;
        };
        if g.state != MemberState::Stable || g.assigned_counts.is_empty() {
            return;
        }
        let changed = g
            .assigned_counts
            .iter()
            .any(|(t, n)| self.assignable_count(t) != *n);
        if changed {
            self.group_mut().rejoin = Some(Cause::MetadataChanged);
        }
    }

    /// The partition counts of the subscribed topics in metadata now.
    fn subscribed_partition_counts(&self) -> BTreeMap<String, usize> {
        self.group
            .iter()
            .flat_map(|g| g.topics.iter().flatten())
            .map(|t| (t.clone(), self.assignable_count(t)))
            .collect()
    }

    /// How many partitions of `topic` an assignment can hand out now: as many
    /// as metadata lists, none while the topic is unknown or in error.
    fn assignable_count(&self, topic: &str) -> usize {
        self.metadata
            .topic(topic)
            .filter(|i| i.error == ErrorCode::None)
            .map_or(0, |i| i.partitions.len())
    }

    /// Partitions assigned by hand to a consumer with `group.id` start from the
    /// group's committed offsets, as Java's; auto-commit runs for them too.
    pub(super) fn manual_assignment_added(&mut self, added: &[TopicPartition]) {
        let now = self.now;
        let Some(g) = self.group.as_ref() else {
            return;
        };
        let auto = g.auto_commit;
        for tp in added {
            self.assignment.update(tp, |s| s.await_committed());
        }
        if let Some(interval) = auto {
            if !added.is_empty() && !self.timers_has(&Timer::AutoCommit) {
                self.timers.set(Timer::AutoCommit, now + interval);
            }
        }
    }

    /// The topics the group needs metadata for.
    pub(super) fn group_topics(&self) -> impl Iterator<Item = &str> {
        self.group
            .iter()
            .flat_map(|g| g.topics.iter().flat_map(|t| t.iter().map(String::as_str)))
    }

    /// On close: commit what was consumed (auto-commit), leave the group.
    pub(super) fn close_group(&mut self) {
        if self.group.as_ref().is_some_and(|g| g.subscribed()) {
            self.group_mut().topics = None;
            self.leave_group(Cause::Left);
        } else if self.group.as_ref().is_some_and(|g| g.auto_commit.is_some()) {
            let offsets = self.consumed_offsets(|_| true);
            if !offsets.is_empty() {
                let _ = self.enqueue_commit(CommitKind::Close, offsets);
            }
        }
    }

    /// Whether closing still waits for the group (a commit, a LeaveGroup).
    pub(super) fn group_busy(&self) -> bool {
        self.group
            .as_ref()
            .is_some_and(|g| g.fatal.is_none() && (!g.commits.is_idle() || g.leaving.is_some()))
            || self
                .brokers
                .any_in_flight(|p| matches!(p, Purpose::LeaveGroup | Purpose::OffsetCommit { .. }))
    }

    /// Ends the group on close: what is still queued fails.
    pub(super) fn end_group(&mut self) {
        self.end_describes();
        if let Some(g) = self.group.as_mut() {
            let failed = g.commits.fail_all(&CommitError::Closed);
            let queries: Vec<QueryId> = g.committed_queries.keys().copied().collect();
            self.report_commits(failed);
            for id in queries {
                if let Some(q) = self.group_mut().committed_queries.get_mut(&id) {
                    for tp in core::mem::take(&mut q.pending) {
                        q.done
                            .push((tp, Err(super::error::LocalError::Closed.into())));
                    }
                }
                self.finish_committed_query(id);
            }
        }
    }

    fn replace_assignment(&mut self, keep: BTreeSet<TopicPartition>) {
        let strategy = self.config.auto_offset_reset;
        let backoff = self.retry_backoff();
        self.assignment
            .replace(keep, || PartitionState::new(strategy, backoff.clone()));
        let assignment = &self.assignment;
        self.timers.retain(|t| match t {
            Timer::PartitionBackoff(tp) | Timer::PreferredReplica(tp) => {
                assignment.get(tp).is_some()
            }
            _ => true,
        });
    }

    pub(super) fn queries_next_id(&mut self) -> u64 {
        self.queries.take_id()
    }
}

/// One partition of an OffsetFetch answer.
struct CommittedAnswer {
    tp: TopicPartition,
    offset: i64,
    epoch: i32,
    metadata: Option<String>,
    code: ErrorCode,
}

/// An OffsetFetch answer's top-level error and partitions: per group from v8, at
/// the top level before (the same fields under other type names).
fn committed_answers(resp: OffsetFetchResponse) -> (ErrorCode, Vec<CommittedAnswer>) {
    macro_rules! answers {
        ($topics:expr) => {
            $topics
                .into_iter()
                .flat_map(|t| {
                    let name = t.name;
                    t.partitions.into_iter().map(move |p| CommittedAnswer {
                        tp: TopicPartition::new(name.clone(), p.partition_index),
                        offset: p.committed_offset,
                        epoch: p.committed_leader_epoch,
                        metadata: p.metadata,
                        code: ErrorCode::from_code(p.error_code),
                    })
                })
                .collect()
        };
    }
    match resp.groups.into_iter().next() {
        Some(g) => (ErrorCode::from_code(g.error_code), answers!(g.topics)),
        None => (ErrorCode::from_code(resp.error_code), answers!(resp.topics)),
    }
}

/// The offset to commit for a partition: its position (the next offset to hand
/// out) with the epoch of the last record handed out.
fn consumed_offset(s: &PartitionState) -> Option<OffsetAndMetadata> {
    match s.state {
        FetchState::Fetching | FetchState::AwaitValidation | FetchState::Failed
            if s.position >= 0 =>
        {
            Some(OffsetAndMetadata {
                offset: s.position,
                leader_epoch: s.position_epoch,
                metadata: None,
            })
        }
        _ => None,
    }
}

fn millis(d: Duration) -> i32 {
    d.as_millis().min(i32::MAX as u64) as i32
}
