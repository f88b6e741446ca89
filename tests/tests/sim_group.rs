//! The simulated group coordinator alone, driven by scripted members over the wire
//! protocol (kasio's consumer has no group support yet): members join, sync,
//! heartbeat, commit, leave, crash and come back while the coordinator moves, and
//! the group invariants are checked at every step:
//!
//! - within one generation no partition is assigned to two members;
//! - generations only go up;
//! - an accepted offset commit comes from a member of the current generation,
//!   for partitions it owns, and committed offsets never move backwards.
//!
//! `SIM_GROUP_SEEDS=<count>` runs more seeds.

use std::collections::{BTreeMap, BTreeSet};

use bytes::{BufMut, Bytes, BytesMut};
use kasio_core::codec::{FrameDecoder, RequestHeader, ResponseHeader};
use kasio_core::protocol::consumer_protocol::{decode_versioned, encode_versioned};
use kasio_core::protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
use kasio_core::protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kasio_core::protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kasio_core::protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kasio_core::protocol::messages::*;
use kasio_core::protocol::{ApiKey, ErrorCode, Message, Request};
use kasio_core::rng::Rng;
use kasio_core::time::{Duration, Instant};
use kasio_sim::sim::{Cluster, ClusterSpec, Output, ServerConn};

const GROUP: &str = "g";
const TOPIC: &str = "t";
const PARTITIONS: i32 = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Joining,
    Syncing,
    Stable,
    Dead,
}

/// The request in flight: (api, version, correlation id, what it commits).
type InFlight = (ApiKey, i16, i32, Vec<(i32, i64)>);

struct Member {
    name: String,
    id: String,
    generation: i32,
    owned: Vec<i32>,
    phase: Phase,
    conn: Option<(i32, ServerConn)>,
    frames: FrameDecoder,
    in_flight: Option<InFlight>,
    corr: i32,
    next_heartbeat: Instant,
}

struct Sim {
    cluster: Cluster,
    rng: Rng,
    now: Instant,
    members: Vec<Member>,
    next_conn: u64,
    /// generation → partition → member.
    owners: BTreeMap<i32, BTreeMap<i32, String>>,
    max_generation: i32,
    committed: BTreeMap<i32, i64>,
    log: Vec<String>,
}

fn frame<R: Request>(req: &R, version: i16, corr: i32, client: &str) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    RequestHeader {
        api_key: R::API_KEY.key(),
        api_version: version,
        correlation_id: corr,
        client_id: Some(client.into()),
    }
    .encode(R::API_KEY.request_header_version(version), &mut buf)
    .unwrap();
    req.encode(version, &mut buf).unwrap();
    let n = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&n.to_be_bytes());
    buf.freeze()
}

impl Sim {
    fn new(seed: u64) -> Self {
        let mut cluster = Cluster::new(ClusterSpec::new(3).topic(TOPIC, PARTITIONS, 3));
        cluster.set_initial_rebalance_delay(Duration::from_millis(200));
        let members = (0..4)
            .map(|i| Member {
                name: format!("m{i}"),
                id: String::new(),
                generation: -1,
                owned: Vec::new(),
                phase: Phase::Idle,
                conn: None,
                frames: FrameDecoder::new(1 << 20),
                in_flight: None,
                corr: 0,
                next_heartbeat: Instant::ZERO,
            })
            .collect();
        Self {
            cluster,
            rng: Rng::new(seed),
            now: Instant::ZERO,
            members,
            next_conn: 1,
            owners: BTreeMap::new(),
            max_generation: 0,
            committed: BTreeMap::new(),
            log: Vec::new(),
        }
    }

    fn send<R: Request>(&mut self, i: usize, req: &R, version: i16, commits: Vec<(i32, i64)>) {
        let coord = self.cluster.coordinator_of(GROUP).expect("a broker is up");
        if self.members[i].conn.is_some_and(|(b, _)| b != coord) {
            self.drop_conn(i);
        }
        if self.members[i].conn.is_none() {
            let conn = ServerConn(self.next_conn);
            self.next_conn += 1;
            assert!(self.cluster.handle_connect(self.now, coord, conn));
            self.members[i].conn = Some((coord, conn));
        }
        let m = &mut self.members[i];
        m.corr += 1;
        let (broker, conn) = m.conn.expect("connected");
        let data = frame(req, version, m.corr, &m.name);
        m.in_flight = Some((R::API_KEY, version, m.corr, commits));
        self.cluster
            .handle_frame(broker, conn, self.now, data.slice(4..));
    }

    fn drop_conn(&mut self, i: usize) {
        if let Some((_, conn)) = self.members[i].conn.take() {
            self.cluster.handle_disconnect(self.now, conn);
        }
        self.members[i].in_flight = None;
        self.members[i].frames = FrameDecoder::new(1 << 20);
    }

    fn join(&mut self, i: usize) {
        let sub = ConsumerProtocolSubscription {
            topics: vec![TOPIC.into()],
            ..Default::default()
        };
        let req = JoinGroupRequest {
            group_id: GROUP.into(),
            session_timeout_ms: 6000,
            rebalance_timeout_ms: 3000,
            member_id: self.members[i].id.clone(),
            protocol_type: "consumer".into(),
            protocols: vec![JoinGroupRequestProtocol {
                name: "range".into(),
                metadata: encode_versioned(&sub, 1).unwrap(),
            }],
            ..Default::default()
        };
        self.members[i].phase = Phase::Joining;
        self.send(i, &req, 9, Vec::new());
    }

    fn rejoin_from_scratch(&mut self, i: usize) {
        self.members[i].id.clear();
        self.members[i].generation = -1;
        self.members[i].owned.clear();
        self.join(i);
    }

    fn act(&mut self, i: usize) {
        let m = &self.members[i];
        if m.in_flight.is_some() || m.phase == Phase::Dead {
            return;
        }
        match m.phase {
            Phase::Idle => self.join(i),
            Phase::Stable if self.now >= m.next_heartbeat => {
                self.members[i].next_heartbeat = self.now + Duration::from_millis(300);
                if self.rng.next_f64() < 0.5 && !self.members[i].owned.is_empty() {
                    // Commit a little further on every owned partition.
                    let commits: Vec<(i32, i64)> = self.members[i]
                        .owned
                        .iter()
                        .map(|p| (*p, self.committed.get(p).copied().unwrap_or(0) + 1))
                        .collect();
                    let req = OffsetCommitRequest {
                        group_id: GROUP.into(),
                        generation_id_or_member_epoch: self.members[i].generation,
                        member_id: self.members[i].id.clone(),
                        topics: vec![OffsetCommitRequestTopic {
                            name: TOPIC.into(),
                            partitions: commits
                                .iter()
                                .map(|(p, o)| OffsetCommitRequestPartition {
                                    partition_index: *p,
                                    committed_offset: *o,
                                    ..Default::default()
                                })
                                .collect(),
                        }],
                        ..Default::default()
                    };
                    self.send(i, &req, 8, commits);
                } else {
                    let req = HeartbeatRequest {
                        group_id: GROUP.into(),
                        generation_id: self.members[i].generation,
                        member_id: self.members[i].id.clone(),
                        ..Default::default()
                    };
                    self.send(i, &req, 4, Vec::new());
                }
            }
            _ => {}
        }
    }

    fn drain(&mut self) -> Result<(), String> {
        while let Some(out) = self.cluster.poll_output() {
            match out {
                Output::Send { conn, data, .. } => {
                    let Some(i) = self
                        .members
                        .iter()
                        .position(|m| m.conn.is_some_and(|(_, c)| c == conn))
                    else {
                        continue;
                    };
                    self.members[i].frames.push(&data);
                    while let Some(f) = self.members[i].frames.next_frame().unwrap() {
                        self.on_response(i, f)?;
                    }
                }
                Output::Close { conn } => {
                    if let Some(i) = self
                        .members
                        .iter()
                        .position(|m| m.conn.is_some_and(|(_, c)| c == conn))
                    {
                        self.members[i].conn = None;
                        self.members[i].in_flight = None;
                        if self.members[i].phase != Phase::Dead {
                            self.members[i].phase = if self.members[i].id.is_empty() {
                                Phase::Idle
                            } else {
                                Phase::Stable
                            };
                            if self.members[i].phase == Phase::Stable
                                && self.members[i].generation < 0
                            {
                                self.members[i].phase = Phase::Idle;
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn on_response(&mut self, i: usize, f: Bytes) -> Result<(), String> {
        let Some((api, version, corr, commits)) = self.members[i].in_flight.take() else {
            return Err(format!(
                "{}: response with nothing in flight",
                self.members[i].name
            ));
        };
        let (h, body) = ResponseHeader::decode(api.response_header_version(version), &f).unwrap();
        assert_eq!(h.correlation_id, corr, "responses in order");
        let name = self.members[i].name.clone();
        match api {
            ApiKey::JoinGroup => {
                let r = JoinGroupResponse::decode(version, &body).unwrap();
                let code = ErrorCode::from_code(r.error_code);
                self.log.push(format!(
                    "{:?} {name} join -> {code:?} gen {}",
                    self.now, r.generation_id
                ));
                match code {
                    ErrorCode::MemberIdRequired => {
                        self.members[i].id = r.member_id;
                        self.join(i);
                    }
                    ErrorCode::None => {
                        if r.generation_id < self.max_generation {
                            return Err(format!("generation went back to {}", r.generation_id));
                        }
                        self.max_generation = r.generation_id;
                        self.members[i].generation = r.generation_id;
                        let assignments = if r.leader == r.member_id {
                            let ids: Vec<String> =
                                r.members.iter().map(|m| m.member_id.clone()).collect();
                            ids.iter()
                                .enumerate()
                                .map(|(k, id)| {
                                    let mine: Vec<i32> = (0..PARTITIONS)
                                        .filter(|p| *p as usize % ids.len() == k)
                                        .collect();
                                    let a = ConsumerProtocolAssignment {
                                        assigned_partitions: vec![AssignedTopic {
                                            topic: TOPIC.into(),
                                            partitions: mine,
                                        }],
                                        ..Default::default()
                                    };
                                    SyncGroupRequestAssignment {
                                        member_id: id.clone(),
                                        assignment: encode_versioned(&a, 0).unwrap(),
                                    }
                                })
                                .collect()
                        } else {
                            Vec::new()
                        };
                        let req = SyncGroupRequest {
                            group_id: GROUP.into(),
                            generation_id: r.generation_id,
                            member_id: self.members[i].id.clone(),
                            protocol_type: Some("consumer".into()),
                            protocol_name: r.protocol_name.clone(),
                            assignments,
                            ..Default::default()
                        };
                        self.members[i].phase = Phase::Syncing;
                        self.send(i, &req, 5, Vec::new());
                    }
                    ErrorCode::UnknownMemberId => self.rejoin_from_scratch(i),
                    _ => self.members[i].phase = Phase::Idle,
                }
            }
            ApiKey::SyncGroup => {
                let r = SyncGroupResponse::decode(version, &body).unwrap();
                let code = ErrorCode::from_code(r.error_code);
                self.log.push(format!(
                    "{:?} {name} sync gen {} -> {code:?}",
                    self.now, self.members[i].generation
                ));
                match code {
                    ErrorCode::None => {
                        let owned: Vec<i32> = if r.assignment.is_empty() {
                            Vec::new()
                        } else {
                            let (a, _) =
                                decode_versioned::<ConsumerProtocolAssignment>(&r.assignment)
                                    .unwrap();
                            a.assigned_partitions
                                .iter()
                                .flat_map(|t| t.partitions.clone())
                                .collect()
                        };
                        let generation = self.members[i].generation;
                        let id = self.members[i].id.clone();
                        let owners = self.owners.entry(generation).or_default();
                        for p in &owned {
                            if let Some(other) = owners.insert(*p, id.clone()) {
                                if other != id {
                                    return Err(format!(
                                        "generation {generation}: partition {p} owned by {other} and {id}"
                                    ));
                                }
                            }
                        }
                        self.members[i].owned = owned;
                        self.members[i].phase = Phase::Stable;
                    }
                    ErrorCode::UnknownMemberId => self.rejoin_from_scratch(i),
                    _ => self.join(i),
                }
            }
            ApiKey::Heartbeat => {
                let r = HeartbeatResponse::decode(version, &body).unwrap();
                match ErrorCode::from_code(r.error_code) {
                    ErrorCode::None => {}
                    ErrorCode::UnknownMemberId => self.rejoin_from_scratch(i),
                    _ => self.join(i),
                }
            }
            ApiKey::OffsetCommit => {
                let r = OffsetCommitResponse::decode(version, &body).unwrap();
                let ok = r
                    .topics
                    .iter()
                    .all(|t| t.partitions.iter().all(|p| p.error_code == 0));
                if ok {
                    let (state, generation, members) =
                        self.cluster.group_state(GROUP).expect("group");
                    let m = &self.members[i];
                    if generation != m.generation || !members.contains(&m.id) {
                        return Err(format!(
                            "{name}: commit accepted for generation {} by {} but the group is at \
                             {generation} ({state:?}) with {members:?}",
                            m.generation, m.id
                        ));
                    }
                    for (p, o) in commits {
                        if !m.owned.contains(&p) {
                            return Err(format!("{name}: committed partition {p} it does not own"));
                        }
                        let before = self.committed.insert(p, o).unwrap_or(0);
                        if o < before {
                            return Err(format!(
                                "partition {p}: committed offset went back {before} -> {o}"
                            ));
                        }
                    }
                } else {
                    self.join(i);
                }
            }
            ApiKey::LeaveGroup => self.members[i].phase = Phase::Dead,
            _ => {}
        }
        Ok(())
    }

    fn fault(&mut self) {
        let i = self.rng.range_inclusive(0, self.members.len() as u64 - 1) as usize;
        match self.rng.range_inclusive(0, 5) {
            0 => {
                // Crash: the member stops; its session runs out.
                self.log.push(format!(
                    "{:?} fault: {} crashes",
                    self.now, self.members[i].name
                ));
                self.drop_conn(i);
                self.members[i].phase = Phase::Dead;
            }
            1 if self.members[i].phase == Phase::Stable && self.members[i].in_flight.is_none() => {
                self.log.push(format!(
                    "{:?} fault: {} leaves",
                    self.now, self.members[i].name
                ));
                let req = LeaveGroupRequest {
                    group_id: GROUP.into(),
                    members: vec![
                        kasio_core::protocol::messages::leave_group_request::MemberIdentity {
                            member_id: self.members[i].id.clone(),
                            ..Default::default()
                        },
                    ],
                    ..Default::default()
                };
                self.send(i, &req, 5, Vec::new());
            }
            2 if self.members[i].phase == Phase::Dead => {
                self.log.push(format!(
                    "{:?} fault: {} restarts",
                    self.now, self.members[i].name
                ));
                self.members[i].phase = Phase::Idle;
                self.members[i].id.clear();
                self.members[i].owned.clear();
            }
            3 => {
                let b = self.rng.range_inclusive(1, 3) as i32;
                self.log
                    .push(format!("{:?} fault: coordinator to b{b}", self.now));
                self.cluster.move_coordinator(GROUP, b);
            }
            4 => {
                // A member that is slow to come back (its connection lost).
                self.drop_conn(i);
                if self.members[i].phase != Phase::Dead {
                    self.members[i].phase = Phase::Idle;
                }
            }
            _ => {}
        }
    }

    fn run(&mut self, steps: u32, faults: bool) -> Result<(), String> {
        for _ in 0..steps {
            self.now += Duration::from_millis(50);
            self.cluster.handle_timeout(self.now);
            self.drain()?;
            if faults && self.rng.next_f64() < 0.02 {
                self.fault();
                self.drain()?;
            }
            for i in 0..self.members.len() {
                self.act(i);
                self.drain()?;
            }
        }
        Ok(())
    }
}

fn run_seed(seed: u64) {
    let mut sim = Sim::new(seed);
    let result = sim.run(2000, true).and_then(|()| {
        // Everyone alive settles into one stable generation.
        for m in &mut sim.members {
            if m.phase == Phase::Dead {
                m.phase = Phase::Idle;
                m.id.clear();
            }
        }
        sim.run(600, false)?;
        let (state, generation, members) = sim.cluster.group_state(GROUP).expect("group");
        let owned: BTreeSet<i32> = sim
            .members
            .iter()
            .flat_map(|m| m.owned.iter().copied())
            .collect();
        if format!("{state:?}") != "Stable"
            || members.len() != 4
            || owned.len() != PARTITIONS as usize
        {
            return Err(format!(
                "not settled: {state:?} generation {generation} members {members:?} owned {owned:?}"
            ));
        }
        Ok(())
    });
    if let Err(e) = result {
        let tail: Vec<&String> = sim.log.iter().rev().take(40).collect();
        panic!(
            "group seed {seed}: {e}\nlast events (newest first):\n{}\nreplay: SIM_GROUP_SEED={seed} \
             cargo test -p kasio-sim --test sim_group",
            tail.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n")
        );
    }
}

#[test]
fn group_invariants_hold_under_churn() {
    if let Some(seed) = std::env::var("SIM_GROUP_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        run_seed(seed);
        return;
    }
    let n = std::env::var("SIM_GROUP_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    for seed in 0..n {
        run_seed(seed);
    }
}
