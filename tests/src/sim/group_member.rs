//! A scripted group member: a classic-protocol consumer client reduced to its
//! group logic, for testing the simulated group coordinator until kasio's
//! consumer has a group protocol of its own.
//!
//! It behaves like a real client: finds its coordinator (FindCoordinator) and
//! finds it again on NOT_COORDINATOR / COORDINATOR_NOT_AVAILABLE or a lost
//! connection; joins (with the KIP-394 member-id round trip), syncs, heartbeats,
//! fetches its partitions' committed offsets, "processes" records (its positions
//! advance) and commits them; leads with a range, round-robin or
//! cooperative-sticky assignor (cooperative: the leader takes owned partitions
//! from the subscriptions' `owned_partitions` and revokes before it reassigns);
//! can be static (`group.instance.id`). Faults are played on it from outside:
//! crash (vanish, no LeaveGroup), leave, freeze (no heartbeats either: a GC
//! pause), stall (the application stops polling; heartbeats go on, as from
//! Java's heartbeat thread, and a dynamic member whose stall passes
//! `max.poll.interval.ms` leaves the group as Java's does), and "ghost"
//! requests — stale requests an old incarnation or a kicked-out zombie still
//! sends.
//!
//! One request at a time on its main channel; ghosts go on their own.

use std::collections::{BTreeMap, BTreeSet};

use bytes::{Bytes, BytesMut};
use kasio_core::codec::{encode_request_frame, ResponseHeader};
use kasio_core::protocol::consumer_protocol::{decode_versioned, encode_versioned};
use kasio_core::protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
use kasio_core::protocol::messages::consumer_protocol_subscription::TopicPartition as OwnedTopic;
use kasio_core::protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kasio_core::protocol::messages::leave_group_request::MemberIdentity;
use kasio_core::protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kasio_core::protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kasio_core::protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kasio_core::protocol::messages::*;
use kasio_core::protocol::{ApiKey, ErrorCode, Message, Request};
use kasio_core::rng::Rng;
use kasio_core::time::{Duration, Instant};

/// How the leader assigns, and which rebalance protocol follows from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assignor {
    /// Eager, contiguous ranges.
    Range,
    /// Eager, round robin.
    RoundRobin,
    /// Cooperative-sticky: keeps what members own, revokes before it moves.
    CooperativeSticky,
}

impl Assignor {
    /// The protocol name in JoinGroup.
    pub fn name(self) -> &'static str {
        match self {
            Self::Range => "range",
            Self::RoundRobin => "roundrobin",
            Self::CooperativeSticky => "cooperative-sticky",
        }
    }

    fn cooperative(self) -> bool {
        self == Self::CooperativeSticky
    }
}

/// API versions one member speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versions {
    /// FindCoordinator.
    pub find: i16,
    /// JoinGroup.
    pub join: i16,
    /// SyncGroup.
    pub sync: i16,
    /// Heartbeat.
    pub heartbeat: i16,
    /// LeaveGroup.
    pub leave: i16,
    /// OffsetCommit.
    pub commit: i16,
    /// OffsetFetch.
    pub fetch: i16,
    /// ConsumerProtocolSubscription.
    pub subscription: i16,
}

impl Versions {
    /// Random versions a client of this kind could speak: static members need
    /// the versions that carry `group.instance.id`, cooperative ones a
    /// subscription with `owned_partitions`.
    pub fn random(rng: &mut Rng, is_static: bool, cooperative: bool) -> Self {
        let mut pick = |lo: i16, hi: i16| rng.range_inclusive(lo as u64, hi as u64) as i16;
        Self {
            find: pick(0, 4),
            join: if is_static { pick(5, 9) } else { pick(0, 9) },
            sync: if is_static { pick(3, 5) } else { pick(0, 5) },
            heartbeat: if is_static { pick(3, 4) } else { pick(0, 4) },
            leave: if is_static { pick(3, 5) } else { pick(0, 5) },
            commit: if is_static { pick(7, 9) } else { pick(1, 9) },
            fetch: pick(1, 9),
            subscription: if cooperative { pick(1, 3) } else { pick(0, 3) },
        }
    }
}

/// A member's configuration.
#[derive(Debug, Clone)]
pub struct MemberConfig {
    /// Client id (also its name in traces).
    pub name: String,
    /// `group.instance.id` for a static member.
    pub instance_id: Option<String>,
    /// The assignor (the same in the whole group).
    pub assignor: Assignor,
    /// `session.timeout.ms`.
    pub session: Duration,
    /// `max.poll.interval.ms` (the rebalance timeout).
    pub rebalance: Duration,
    /// `heartbeat.interval.ms`.
    pub heartbeat: Duration,
    /// How often it commits.
    pub commit_every: Duration,
    /// API versions.
    pub versions: Versions,
    /// Test-only client bug: a cooperative-sticky leader hands a partition to
    /// its new owner at once, without the revocation round.
    #[doc(hidden)]
    pub skip_revoke_round: bool,
}

/// A request to send.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// To which broker.
    pub broker: i32,
    /// The whole frame, size prefix included.
    pub frame: Bytes,
    /// A ghost (stale) request: sent on a connection of its own, answer ignored.
    pub ghost: bool,
    /// Offsets this request commits on purpose below what was committed (an
    /// explicit seek back): (partition, offset).
    pub resets: Vec<(i32, i64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not in the group; joins when it can.
    Joining,
    /// Joined; its SyncGroup goes next.
    Syncing,
    /// Assigned.
    Stable,
    /// Gone: crashed, left, or fenced (a fatal error).
    Stopped,
}

/// The scripted member.
#[derive(Debug, Clone)]
pub struct GroupMember {
    /// Its configuration.
    pub cfg: MemberConfig,
    group: String,
    topic: String,
    partitions: i32,
    brokers: i32,
    coordinator: Option<i32>,
    /// Member id (empty before the first join).
    pub member_id: String,
    /// The generation it believes it is in (-1: none).
    pub generation: i32,
    protocol: Option<String>,
    /// Owned partitions → position (`None` until its committed offset is fetched).
    owned: BTreeMap<i32, Option<i64>>,
    phase: Phase,
    /// The join response, for the leader's assignment.
    join_members: Option<Vec<(String, Bytes)>>,
    skip_assignment: bool,
    /// Commit everything owned before rejoining (eager: before revoking).
    final_commit: bool,
    in_flight: Option<(ApiKey, i16, i32)>,
    corr: i32,
    next_heartbeat: Instant,
    next_commit: Instant,
    backoff_until: Instant,
    /// The application does not poll until then (heartbeats go on).
    stall_until: Instant,
    /// When the stall began.
    stall_from: Instant,
    /// It left because its poll timeout expired (during this stall).
    left_for_poll: bool,
    /// Nothing at all happens until then.
    frozen_until: Instant,
    /// Partitions seeked back on purpose, committed next.
    seeked: BTreeSet<i32>,
    /// Those the commit in flight carries.
    committing_resets: BTreeSet<i32>,
    /// A ghost request to send.
    ghost: Option<Bytes>,
    /// Its last SyncGroup and OffsetCommit of each generation (for ghosts).
    sent_before: BTreeMap<(i32, ApiKey), Bytes>,
    /// Why it stopped.
    pub stopped: Option<String>,
    /// Whether it sends a commit after it left (a zombie).
    pub commit_after_leave: bool,
}

/// What a response said, for the trace.
pub type Said = String;

fn frame<R: Request>(req: &R, version: i16, corr: i32, client: &str) -> Bytes {
    let mut buf = BytesMut::new();
    encode_request_frame(&mut buf, version, corr, Some(client), req).expect("request encodes");
    buf.freeze()
}

/// Decodes a response body (after its header) at `version`.
fn decode<M: Message>(version: i16, api: ApiKey, data: &Bytes) -> Result<M, String> {
    let (_, body) = ResponseHeader::decode(api.response_header_version(version), data)
        .map_err(|e| format!("{api:?} v{version} header: {e:?}"))?;
    M::decode(version, &body).map_err(|e| format!("{api:?} v{version}: {e:?}"))
}

impl GroupMember {
    /// A member of `group`, subscribed to `topic` (`partitions` partitions) on a
    /// cluster of brokers 1..=`brokers`.
    pub fn new(cfg: MemberConfig, group: &str, topic: &str, partitions: i32, brokers: i32) -> Self {
        Self {
            cfg,
            group: group.into(),
            topic: topic.into(),
            partitions,
            brokers,
            coordinator: None,
            member_id: String::new(),
            generation: -1,
            protocol: None,
            owned: BTreeMap::new(),
            phase: Phase::Joining,
            join_members: None,
            skip_assignment: false,
            final_commit: false,
            in_flight: None,
            corr: 0,
            next_heartbeat: Instant::ZERO,
            next_commit: Instant::ZERO,
            backoff_until: Instant::ZERO,
            stall_until: Instant::ZERO,
            stall_from: Instant::ZERO,
            left_for_poll: false,
            frozen_until: Instant::ZERO,
            seeked: BTreeSet::new(),
            committing_resets: BTreeSet::new(),
            ghost: None,
            sent_before: BTreeMap::new(),
            stopped: None,
            commit_after_leave: false,
        }
    }

    /// Whether it is running (not crashed, left or fenced).
    pub fn alive(&self) -> bool {
        self.phase != Phase::Stopped
    }

    /// The partitions it holds (processes) now, under its current member id.
    pub fn holding(&self) -> Vec<i32> {
        if self.alive() {
            self.owned.keys().copied().collect()
        } else {
            Vec::new()
        }
    }

    /// Whether it is stable with an assignment, not frozen or stalled.
    pub fn settled(&self, now: Instant) -> bool {
        self.phase == Phase::Stable
            && !self.final_commit
            && now >= self.frozen_until
            && now >= self.stall_until
    }

    /// A one-line state, for traces.
    pub fn describe(&self) -> String {
        format!(
            "{} id={} gen={} {:?} owned={:?}",
            self.cfg.name, self.member_id, self.generation, self.phase, self.owned
        )
    }

    /// The request waiting for its answer: (api, version, correlation id).
    pub fn in_flight(&self) -> Option<(ApiKey, i16, i32)> {
        self.in_flight
    }

    /// Crashes: gone without a word (no LeaveGroup).
    pub fn crash(&mut self, why: &str) {
        self.phase = Phase::Stopped;
        self.owned.clear();
        self.in_flight = None;
        self.stopped = Some(why.into());
    }

    /// A new incarnation of a stopped member (same config: a static member keeps
    /// its instance id).
    pub fn restart(&mut self, now: Instant) {
        let cfg = self.cfg.clone();
        *self = Self::new(cfg, &self.group, &self.topic, self.partitions, self.brokers);
        self.next_commit = now + self.cfg.commit_every;
    }

    /// Freezes everything (a GC pause) for `d`.
    pub fn freeze(&mut self, now: Instant, d: Duration) {
        self.frozen_until = now + d;
    }

    /// Stops polling (the application is slow) for `d`; heartbeats go on.
    pub fn stall(&mut self, now: Instant, d: Duration) {
        self.stall_until = now + d;
        self.stall_from = now;
        self.left_for_poll = false;
    }

    /// Seeks a partition it owns back to `offset` (an explicit reset); the next
    /// commit carries it.
    pub fn seek_back(&mut self, partition: i32, offset: i64) -> bool {
        match self.owned.get_mut(&partition) {
            Some(Some(pos)) if *pos > offset => {
                *pos = offset;
                self.seeked.insert(partition);
                true
            }
            _ => false,
        }
    }

    /// Leaves the group (LeaveGroup), then stops.
    pub fn leave(&mut self) -> bool {
        if self.phase == Phase::Stable && self.in_flight.is_none() && self.coordinator.is_some() {
            self.phase = Phase::Joining;
            self.ghost = None;
            self.stopped = Some("leaving".into());
            true
        } else {
            false
        }
    }

    /// Queues a stale request: its last SyncGroup or OffsetCommit of an older
    /// generation, replayed as-is (a delayed duplicate, or an old incarnation
    /// that never learned). Returns false if it has none older than now.
    pub fn replay_stale(&mut self, rng: &mut Rng) -> bool {
        let cands: Vec<Bytes> = self
            .sent_before
            .iter()
            .filter(|((g, _), _)| *g < self.generation || self.member_id.is_empty())
            .map(|(_, f)| f.clone())
            .collect();
        if cands.is_empty() || self.coordinator.is_none() {
            return false;
        }
        let k = rng.range_inclusive(0, cands.len() as u64 - 1) as usize;
        self.ghost = Some(cands[k].clone());
        true
    }

    /// The connection to its coordinator failed or closed: what was in flight is
    /// lost, and the coordinator is looked up again.
    pub fn connection_lost(&mut self, now: Instant) {
        if let Some((api, ..)) = self.in_flight.take() {
            if matches!(api, ApiKey::JoinGroup | ApiKey::SyncGroup) && self.alive() {
                self.phase = Phase::Joining;
            }
            if api == ApiKey::LeaveGroup && self.stopped.as_deref() == Some("leaving") {
                self.phase = Phase::Stopped;
            }
        }
        self.coordinator = None;
        self.backoff_until = now + Duration::from_millis(50);
    }

    /// The application's work between polls: positions advance.
    pub fn tick(&mut self, now: Instant, rng: &mut Rng) {
        if !self.alive() || now < self.frozen_until || now < self.stall_until {
            return;
        }
        for pos in self.owned.values_mut().flatten() {
            *pos += rng.range_inclusive(0, 3) as i64;
        }
    }

    fn next_corr(&mut self) -> i32 {
        self.corr += 1;
        self.corr
    }

    fn send<R: Request>(&mut self, broker: i32, req: &R, version: i16) -> Outgoing {
        let corr = self.next_corr();
        self.in_flight = Some((R::API_KEY, version, corr));
        Outgoing {
            broker,
            frame: frame(req, version, corr, &self.cfg.name),
            ghost: false,
            resets: Vec::new(),
        }
    }

    /// Forgets its partitions (lost, not revoked: it may no longer commit them).
    fn lose(&mut self, member_id_too: bool) {
        self.owned.clear();
        self.seeked.clear();
        self.generation = -1;
        if member_id_too {
            self.member_id.clear();
        }
        self.final_commit = false;
        self.phase = Phase::Joining;
    }

    fn rejoin(&mut self) {
        if self.phase == Phase::Stable || self.phase == Phase::Syncing {
            self.final_commit = !self.owned.is_empty();
        }
        self.phase = Phase::Joining;
    }

    /// The next request to send, if any.
    pub fn poll(&mut self, now: Instant, rng: &mut Rng) -> Option<Outgoing> {
        if now < self.frozen_until {
            return None;
        }
        if let (Some(f), Some(c)) = (self.ghost.take(), self.coordinator) {
            return Some(Outgoing {
                broker: c,
                frame: f,
                ghost: true,
                resets: Vec::new(),
            });
        }
        if self.in_flight.is_some() || now < self.backoff_until {
            return None;
        }
        if self.phase == Phase::Stopped {
            return None;
        }
        let stalled = now < self.stall_until;
        let Some(coord) = self.coordinator else {
            let b = rng.range_inclusive(1, self.brokers as u64) as i32;
            let v = self.cfg.versions.find;
            let req = FindCoordinatorRequest {
                key: if v < 4 {
                    self.group.clone()
                } else {
                    String::new()
                },
                key_type: 0,
                coordinator_keys: if v >= 4 {
                    vec![self.group.clone()]
                } else {
                    Vec::new()
                },
            };
            return Some(self.send(b, &req, v));
        };
        if self.stopped.as_deref() == Some("leaving") {
            return Some(self.leave_request(coord));
        }
        if stalled
            && self.cfg.instance_id.is_none()
            && !self.left_for_poll
            && !self.member_id.is_empty()
            && now >= self.stall_from + self.cfg.rebalance
        {
            // Java's heartbeat thread: `max.poll.interval.ms` passed without a
            // poll, so a dynamic member leaves rather than hold up a rebalance.
            self.left_for_poll = true;
            return Some(self.leave_request(coord));
        }
        match self.phase {
            Phase::Joining if self.final_commit && !stalled => {
                self.final_commit = false;
                self.commit_request(coord)
            }
            Phase::Joining if !stalled => Some(self.join_request(coord)),
            Phase::Syncing => Some(self.sync_request(coord)),
            Phase::Stable => {
                let unknown: Vec<i32> = self
                    .owned
                    .iter()
                    .filter(|(_, p)| p.is_none())
                    .map(|(p, _)| *p)
                    .collect();
                if !stalled && !unknown.is_empty() {
                    return Some(self.fetch_request(coord, unknown));
                }
                if !stalled && now >= self.next_commit {
                    self.next_commit = now + self.cfg.commit_every;
                    if let Some(o) = self.commit_request(coord) {
                        return Some(o);
                    }
                }
                if now >= self.next_heartbeat {
                    self.next_heartbeat = now + self.cfg.heartbeat;
                    let req = HeartbeatRequest {
                        group_id: self.group.clone(),
                        generation_id: self.generation,
                        member_id: self.member_id.clone(),
                        group_instance_id: self.cfg.instance_id.clone(),
                    };
                    return Some(self.send(coord, &req, self.cfg.versions.heartbeat));
                }
                None
            }
            // Stalled while it should rejoin: the heartbeat thread goes on.
            Phase::Joining if self.generation >= 0 && now >= self.next_heartbeat => {
                self.next_heartbeat = now + self.cfg.heartbeat;
                let req = HeartbeatRequest {
                    group_id: self.group.clone(),
                    generation_id: self.generation,
                    member_id: self.member_id.clone(),
                    group_instance_id: self.cfg.instance_id.clone(),
                };
                Some(self.send(coord, &req, self.cfg.versions.heartbeat))
            }
            _ => None,
        }
    }

    fn leave_request(&mut self, coord: i32) -> Outgoing {
        let v = self.cfg.versions.leave;
        let req = LeaveGroupRequest {
            group_id: self.group.clone(),
            member_id: if v < 3 {
                self.member_id.clone()
            } else {
                String::new()
            },
            members: if v >= 3 {
                vec![MemberIdentity {
                    member_id: self.member_id.clone(),
                    group_instance_id: self.cfg.instance_id.clone(),
                    reason: None,
                }]
            } else {
                Vec::new()
            },
        };
        self.send(coord, &req, v)
    }

    fn subscription(&self) -> Bytes {
        let v = self.cfg.versions.subscription;
        let owned: Vec<i32> = self.owned.keys().copied().collect();
        let sub = ConsumerProtocolSubscription {
            topics: vec![self.topic.clone()],
            user_data: None,
            owned_partitions: if owned.is_empty() {
                Vec::new()
            } else {
                vec![OwnedTopic {
                    topic: self.topic.clone(),
                    partitions: owned,
                }]
            },
            generation_id: self.generation,
            rack_id: None,
        };
        encode_versioned(&sub, v).expect("subscription encodes")
    }

    fn join_request(&mut self, coord: i32) -> Outgoing {
        if !self.cfg.assignor.cooperative() {
            // Eager: everything is revoked before joining.
            self.owned.clear();
            self.seeked.clear();
        }
        let req = JoinGroupRequest {
            group_id: self.group.clone(),
            session_timeout_ms: self.cfg.session.as_millis() as i32,
            rebalance_timeout_ms: self.cfg.rebalance.as_millis() as i32,
            member_id: self.member_id.clone(),
            group_instance_id: self.cfg.instance_id.clone(),
            protocol_type: "consumer".into(),
            protocols: vec![JoinGroupRequestProtocol {
                name: self.cfg.assignor.name().into(),
                metadata: self.subscription(),
            }],
            reason: None,
        };
        self.send(coord, &req, self.cfg.versions.join)
    }

    fn sync_request(&mut self, coord: i32) -> Outgoing {
        let assignments = match self.join_members.take() {
            Some(members) if !self.skip_assignment => self.assign(&members),
            _ => Vec::new(),
        };
        let req = SyncGroupRequest {
            group_id: self.group.clone(),
            generation_id: self.generation,
            member_id: self.member_id.clone(),
            group_instance_id: self.cfg.instance_id.clone(),
            protocol_type: Some("consumer".into()),
            protocol_name: self.protocol.clone(),
            assignments,
        };
        let o = self.send(coord, &req, self.cfg.versions.sync);
        self.remember(ApiKey::SyncGroup, &o.frame);
        o
    }

    fn commit_request(&mut self, coord: i32) -> Option<Outgoing> {
        let offsets: Vec<(i32, i64)> = self
            .owned
            .iter()
            .filter_map(|(p, o)| o.map(|o| (*p, o)))
            .collect();
        if offsets.is_empty() || self.generation < 0 {
            return None;
        }
        let resets: Vec<(i32, i64)> = offsets
            .iter()
            .filter(|(p, _)| self.seeked.contains(p))
            .copied()
            .collect();
        // (`seeked` stays until a commit carrying it is accepted: a retry
        // carries the reset too.)
        self.committing_resets = resets.iter().map(|(p, _)| *p).collect();
        let req = self.commit_body(&offsets);
        let mut o = self.send(coord, &req, self.cfg.versions.commit);
        o.resets = resets;
        self.remember(ApiKey::OffsetCommit, &o.frame);
        Some(o)
    }

    /// Keeps a request for ghost replays (the last of each kind, for the last
    /// few generations).
    fn remember(&mut self, api: ApiKey, frame: &Bytes) {
        self.sent_before
            .insert((self.generation, api), frame.clone());
        while self.sent_before.len() > 6 {
            self.sent_before.pop_first();
        }
    }

    fn commit_body(&self, offsets: &[(i32, i64)]) -> OffsetCommitRequest {
        OffsetCommitRequest {
            group_id: self.group.clone(),
            generation_id_or_member_epoch: self.generation,
            member_id: self.member_id.clone(),
            group_instance_id: self.cfg.instance_id.clone(),
            topics: vec![OffsetCommitRequestTopic {
                name: self.topic.clone(),
                partitions: offsets
                    .iter()
                    .map(|(p, o)| OffsetCommitRequestPartition {
                        partition_index: *p,
                        committed_offset: *o,
                        ..Default::default()
                    })
                    .collect(),
            }],
            ..Default::default()
        }
    }

    fn fetch_request(&mut self, coord: i32, partitions: Vec<i32>) -> Outgoing {
        let v = self.cfg.versions.fetch;
        let req = if v >= 8 {
            OffsetFetchRequest {
                groups: vec![OffsetFetchRequestGroup {
                    group_id: self.group.clone(),
                    member_id: None,
                    member_epoch: -1,
                    topics: Some(vec![OffsetFetchRequestTopics {
                        name: self.topic.clone(),
                        partition_indexes: partitions,
                    }]),
                }],
                require_stable: true,
                ..Default::default()
            }
        } else {
            OffsetFetchRequest {
                group_id: self.group.clone(),
                topics: Some(vec![OffsetFetchRequestTopic {
                    name: self.topic.clone(),
                    partition_indexes: partitions,
                }]),
                require_stable: v >= 7,
                ..Default::default()
            }
        };
        self.send(coord, &req, v)
    }

    /// The leader's assignment: (member id, assignment bytes) for every member.
    fn assign(&self, members: &[(String, Bytes)]) -> Vec<SyncGroupRequestAssignment> {
        if members.is_empty() {
            // A leader told to keep the assignment (a static leader's rejoin).
            return Vec::new();
        }
        let ids: Vec<String> = members.iter().map(|(id, _)| id.clone()).collect();
        let all: Vec<i32> = (0..self.partitions).collect();
        let mut out: BTreeMap<String, Vec<i32>> =
            ids.iter().map(|id| (id.clone(), Vec::new())).collect();
        match self.cfg.assignor {
            Assignor::Range => {
                let n = ids.len();
                let (per, extra) = (all.len() / n, all.len() % n);
                let mut next = 0;
                for (k, id) in ids.iter().enumerate() {
                    let take = per + usize::from(k < extra);
                    out.insert(id.clone(), all[next..next + take].to_vec());
                    next += take;
                }
            }
            Assignor::RoundRobin => {
                for p in &all {
                    let id = &ids[*p as usize % ids.len()];
                    out.get_mut(id).expect("listed").push(*p);
                }
            }
            Assignor::CooperativeSticky => out = self.sticky(members),
        }
        out.into_iter()
            .map(|(member_id, parts)| {
                let a = ConsumerProtocolAssignment {
                    assigned_partitions: vec![AssignedTopic {
                        topic: self.topic.clone(),
                        partitions: parts,
                    }],
                    user_data: None,
                };
                SyncGroupRequestAssignment {
                    member_id,
                    assignment: encode_versioned(&a, 1).expect("assignment encodes"),
                }
            })
            .collect()
    }

    /// Cooperative-sticky: a balanced assignment that keeps what members own; a
    /// partition moving from one member to another is left out this round (its
    /// owner revokes it and rejoins; the next round hands it out).
    fn sticky(&self, members: &[(String, Bytes)]) -> BTreeMap<String, Vec<i32>> {
        // Claims from the subscriptions; a partition claimed twice goes to the
        // claim of the highest generation (as Kafka's sticky assignor resolves it).
        let mut claims: BTreeMap<i32, (i32, String)> = BTreeMap::new();
        for (id, meta) in members {
            let Ok((sub, _)) = decode_versioned::<ConsumerProtocolSubscription>(meta) else {
                continue;
            };
            for t in sub
                .owned_partitions
                .iter()
                .filter(|t| t.topic == self.topic)
            {
                for p in &t.partitions {
                    let better = claims.get(p).is_none_or(|(g, _)| sub.generation_id > *g);
                    if better {
                        claims.insert(*p, (sub.generation_id, id.clone()));
                    }
                }
            }
        }
        let n = members.len();
        let total = self.partitions as usize;
        let (floor, extra) = (total / n, total % n);
        let mut target: BTreeMap<String, Vec<i32>> = members
            .iter()
            .map(|(id, _)| (id.clone(), Vec::new()))
            .collect();
        // Keep owned partitions up to the quota (ceil for the first `extra`
        // members that reach it).
        let mut ceil_left = extra;
        let mut free: Vec<i32> = Vec::new();
        for p in 0..self.partitions {
            match claims.get(&p) {
                Some((_, id)) if target.contains_key(id) => {
                    let have = target[id].len();
                    if have < floor || (have == floor && ceil_left > 0) {
                        if have == floor {
                            ceil_left -= 1;
                        }
                        target.get_mut(id).expect("member").push(p);
                    } else {
                        free.push(p);
                    }
                }
                _ => free.push(p),
            }
        }
        for p in free {
            let id = target
                .iter()
                .filter(|(_, ps)| ps.len() < floor || (ps.len() == floor && ceil_left > 0))
                .min_by_key(|(id, ps)| (ps.len(), (*id).clone()))
                .map(|(id, _)| id.clone())
                .expect("room left");
            if target[&id].len() == floor {
                ceil_left -= 1;
            }
            target.get_mut(&id).expect("member").push(p);
        }
        // Cooperative: nothing moves from one member to another in one round.
        if self.cfg.skip_revoke_round {
            return target;
        }
        for (id, ps) in target.iter_mut() {
            ps.retain(|p| match claims.get(p) {
                Some((_, owner)) => owner == id || !members.iter().any(|(m, _)| m == owner),
                None => true,
            });
        }
        target
    }

    /// A response to its request on the main channel.
    pub fn on_response(&mut self, now: Instant, data: &Bytes) -> Result<Said, String> {
        let Some((api, v, _)) = self.in_flight.take() else {
            return Err(format!(
                "{}: a response with nothing in flight",
                self.cfg.name
            ));
        };
        let backoff = Duration::from_millis(100);
        let said = match api {
            ApiKey::FindCoordinator => {
                let r: FindCoordinatorResponse = decode(v, api, data)?;
                let (code, node) = if v >= 4 {
                    let c = r.coordinators.first().ok_or("no coordinator entry")?;
                    (c.error_code, c.node_id)
                } else {
                    (r.error_code, r.node_id)
                };
                let code = ErrorCode::from_code(code);
                if code == ErrorCode::None {
                    self.coordinator = Some(node);
                } else {
                    self.backoff_until = now + backoff;
                }
                format!("FindCoordinator -> {code:?} b{node}")
            }
            ApiKey::JoinGroup => {
                let r: JoinGroupResponse = decode(v, api, data)?;
                let code = ErrorCode::from_code(r.error_code);
                match code {
                    ErrorCode::None => {
                        self.member_id = r.member_id.clone();
                        self.generation = r.generation_id;
                        self.protocol = r.protocol_name.clone();
                        self.skip_assignment = r.skip_assignment;
                        self.join_members = (r.leader == r.member_id).then(|| {
                            r.members
                                .iter()
                                .map(|m| (m.member_id.clone(), m.metadata.clone()))
                                .collect()
                        });
                        self.phase = Phase::Syncing;
                    }
                    ErrorCode::MemberIdRequired => self.member_id = r.member_id.clone(),
                    ErrorCode::UnknownMemberId => self.lose(true),
                    ErrorCode::IllegalGeneration => self.lose(false),
                    ErrorCode::FencedInstanceId => self.fatal("fenced on join"),
                    ErrorCode::RebalanceInProgress => {}
                    _ => self.retry_error(now, code),
                }
                format!(
                    "JoinGroup -> {code:?} gen {} id {} leader {}",
                    r.generation_id, r.member_id, r.leader
                )
            }
            ApiKey::SyncGroup => {
                let r: SyncGroupResponse = decode(v, api, data)?;
                let code = ErrorCode::from_code(r.error_code);
                match code {
                    ErrorCode::None => self.assigned(now, &r.assignment),
                    ErrorCode::UnknownMemberId => self.lose(true),
                    ErrorCode::IllegalGeneration => self.lose(false),
                    ErrorCode::FencedInstanceId => self.fatal("fenced on sync"),
                    ErrorCode::RebalanceInProgress => self.phase = Phase::Joining,
                    _ => {
                        self.phase = Phase::Joining;
                        self.retry_error(now, code);
                    }
                }
                format!(
                    "SyncGroup gen {} -> {code:?} {:?}",
                    self.generation, self.owned
                )
            }
            ApiKey::Heartbeat => {
                let r: HeartbeatResponse = decode(v, api, data)?;
                let code = ErrorCode::from_code(r.error_code);
                self.generic(now, code);
                format!("Heartbeat gen {} -> {code:?}", self.generation)
            }
            ApiKey::OffsetCommit => {
                let r: OffsetCommitResponse = decode(v, api, data)?;
                let code = r
                    .topics
                    .iter()
                    .flat_map(|t| t.partitions.iter())
                    .map(|p| ErrorCode::from_code(p.error_code))
                    .find(|c| *c != ErrorCode::None)
                    .unwrap_or(ErrorCode::None);
                if code == ErrorCode::None {
                    for p in std::mem::take(&mut self.committing_resets) {
                        self.seeked.remove(&p);
                    }
                }
                self.generic(now, code);
                format!("OffsetCommit gen {} -> {code:?}", self.generation)
            }
            ApiKey::OffsetFetch => {
                let r: OffsetFetchResponse = decode(v, api, data)?;
                let (code, parts): (i16, Vec<(i32, i64, i16)>) = if v >= 8 {
                    let g = r.groups.first().ok_or("no group in OffsetFetch")?;
                    let parts = g
                        .topics
                        .iter()
                        .flat_map(|t| t.partitions.iter())
                        .map(|p| (p.partition_index, p.committed_offset, p.error_code))
                        .collect();
                    (g.error_code, parts)
                } else {
                    let parts = r
                        .topics
                        .iter()
                        .flat_map(|t| t.partitions.iter())
                        .map(|p| (p.partition_index, p.committed_offset, p.error_code))
                        .collect();
                    (r.error_code, parts)
                };
                let code = ErrorCode::from_code(code);
                let part_err = parts.iter().map(|p| p.2).find(|c| *c != 0);
                let code = if code == ErrorCode::None {
                    part_err.map_or(ErrorCode::None, ErrorCode::from_code)
                } else {
                    code
                };
                if code == ErrorCode::None {
                    for (p, off, _) in parts {
                        if let Some(pos @ None) = self.owned.get_mut(&p) {
                            *pos = Some(off.max(0));
                        }
                    }
                } else {
                    self.generic(now, code);
                }
                format!("OffsetFetch -> {code:?} {:?}", self.owned)
            }
            ApiKey::LeaveGroup => {
                let r: LeaveGroupResponse = decode(v, api, data)?;
                let code = ErrorCode::from_code(r.error_code);
                if matches!(
                    code,
                    ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable
                ) {
                    self.coordinator = None;
                } else if self.stopped.as_deref() != Some("leaving") {
                    // Left on a poll timeout: out of the group until it polls.
                    self.lose(true);
                } else {
                    if self.commit_after_leave && self.generation >= 0 {
                        // A zombie: it commits once more with what it had.
                        let offsets: Vec<(i32, i64)> = self
                            .owned
                            .iter()
                            .filter_map(|(p, o)| o.map(|o| (*p, o)))
                            .collect();
                        if !offsets.is_empty() {
                            let req = self.commit_body(&offsets);
                            let corr = self.next_corr();
                            self.ghost =
                                Some(frame(&req, self.cfg.versions.commit, corr, &self.cfg.name));
                        }
                    }
                    self.owned.clear();
                    self.phase = Phase::Stopped;
                    self.stopped = Some("left".into());
                }
                format!("LeaveGroup -> {code:?}")
            }
            other => return Err(format!("unexpected response to {other:?}")),
        };
        Ok(said)
    }

    fn fatal(&mut self, why: &str) {
        self.owned.clear();
        self.phase = Phase::Stopped;
        self.stopped = Some(why.into());
    }

    fn retry_error(&mut self, now: Instant, code: ErrorCode) {
        if matches!(
            code,
            ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable
        ) {
            self.coordinator = None;
        }
        self.backoff_until = now + Duration::from_millis(100);
    }

    /// Heartbeat / commit / fetch errors, as the Java client handles them.
    fn generic(&mut self, now: Instant, code: ErrorCode) {
        match code {
            ErrorCode::None => {}
            ErrorCode::RebalanceInProgress => self.rejoin(),
            ErrorCode::UnknownMemberId => self.lose(true),
            ErrorCode::IllegalGeneration => self.lose(false),
            ErrorCode::FencedInstanceId => self.fatal("fenced"),
            _ => self.retry_error(now, code),
        }
    }

    fn assigned(&mut self, now: Instant, assignment: &Bytes) {
        let assigned: BTreeSet<i32> = if assignment.is_empty() {
            BTreeSet::new()
        } else {
            match decode_versioned::<ConsumerProtocolAssignment>(assignment) {
                Ok((a, _)) => a
                    .assigned_partitions
                    .iter()
                    .filter(|t| t.topic == self.topic)
                    .flat_map(|t| t.partitions.iter().copied())
                    .collect(),
                Err(_) => BTreeSet::new(),
            }
        };
        let revoked = self.owned.keys().any(|p| !assigned.contains(p));
        self.owned.retain(|p, _| assigned.contains(p));
        for p in assigned {
            self.owned.entry(p).or_insert(None);
        }
        self.phase = Phase::Stable;
        self.next_heartbeat = now + self.cfg.heartbeat;
        if revoked && self.cfg.assignor.cooperative() {
            // Cooperative: what was revoked goes out in a second round.
            self.phase = Phase::Joining;
        }
    }
}
