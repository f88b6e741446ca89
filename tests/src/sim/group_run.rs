//! One seeded run of the group coordinator against scripted members
//! ([`GroupMember`]) over a simulated network, with faults, checked by
//! [`GroupChecker`] at every event. What `tests/tests/sim_group.rs` runs by the
//! hundred.
//!
//! The network is small and private to this run: per-connection FIFO with a
//! seeded latency each way, connections that reset, brokers that refuse
//! connections while down. (The consumer-side [`World`](super::World) speaks for
//! kasio consumers only.)
//!
//! Faults: members crash (no LeaveGroup), leave (some commit once more after,
//! as zombies), freeze (no heartbeats: a GC pause past the session timeout),
//! stall (no polls: past the rebalance timeout, heartbeats going on), restart;
//! a second process with a static member's instance id starts (the first must
//! be fenced); members replay stale requests of an older generation; the
//! coordinator moves or its broker crashes; connections reset; group APIs get
//! injected errors; members seek back on purpose.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use bytes::Bytes;
use kasio_core::protocol::{ApiKey, ErrorCode};
use kasio_core::rng::Rng;
use kasio_core::time::{Duration, Instant};

use super::cluster::{Cluster, ClusterSpec, Injection};
use super::group::CoordinatorBugs;
use super::group_check::GroupChecker;
use super::group_member::{Assignor, GroupMember, MemberConfig, Versions};
use super::server::{unframe, Output, ServerConn};
use super::trace::Trace;

const GROUP: &str = "g";
const TOPIC: &str = "t";
const BROKERS: i32 = 3;
/// The members act (and faults strike) every tick.
const TICK: Duration = Duration::from_millis(50);
const INITIAL_DELAY: Duration = Duration::from_millis(200);
/// Simulated seconds of faults in a run.
pub const FAULT_SECS: u64 = 75;
/// Simulated seconds the group then has to settle (longer than the longest
/// freeze or stall plus a session and two rebalances).
pub const SETTLE_SECS: u64 = 50;

/// How to run.
#[derive(Debug, Clone, Copy, Default)]
pub struct GroupRunOptions {
    /// Print every trace line as it happens.
    pub echo: bool,
    /// Coordinator faults to switch on (tests of the checks themselves).
    pub bugs: CoordinatorBugs,
    /// Test-only client fault: cooperative-sticky leaders skip the revocation
    /// round (and every run uses cooperative-sticky).
    pub skip_revoke_round: bool,
}

/// A run that passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupOutcome {
    /// The trace hash (the same seed must give the same hash).
    pub hash: u64,
    /// Trace lines.
    pub lines: u64,
    /// Generations the group went through.
    pub generations: i32,
    /// Offset commits the coordinator accepted.
    pub commits: usize,
}

/// A run that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupFailure {
    /// The seed.
    pub seed: u64,
    /// The broken invariant.
    pub message: String,
    /// The trace hash at the failure.
    pub hash: u64,
    /// The readable report: message, replay command, members, trace tail.
    pub report: String,
}

impl std::fmt::Display for GroupFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.report)
    }
}

#[derive(Debug, Clone)]
struct Link {
    member: usize,
    broker: i32,
    ghost: bool,
    open: bool,
    /// Latest arrival scheduled each way (TCP keeps order).
    last_up: Instant,
    last_down: Instant,
}

#[derive(Debug, Clone)]
enum Ev {
    ToBroker(u64, Bytes),
    ToMember(u64, Bytes),
    Closed(u64),
    Restart(usize),
    BrokerUp(i32),
}

struct Run {
    seed: u64,
    cluster: Cluster,
    rng: Rng,
    now: Instant,
    members: Vec<GroupMember>,
    /// Member → its main connection per broker.
    main: Vec<BTreeMap<i32, u64>>,
    /// Member → the connection its request in flight went on.
    on: Vec<Option<u64>>,
    links: BTreeMap<u64, Link>,
    next_link: u64,
    events: BTreeMap<(Instant, u64), Ev>,
    next_ev: u64,
    latency: (u64, u64),
    checker: GroupChecker,
    trace: Trace,
    /// Injected errors not used yet, per API (the cluster uses the first match).
    injected: BTreeMap<ApiKey, u32>,
    fault_rate: f64,
    faults: bool,
}

impl Run {
    fn new(seed: u64, opts: GroupRunOptions) -> Self {
        let mut rng = Rng::new(seed ^ 0x6752_4f55_5053);
        // One replica: the group needs the topic to exist, not replication.
        let mut cluster = Cluster::new(ClusterSpec::new(BROKERS).topic(TOPIC, 6, 1));
        cluster.set_initial_rebalance_delay(INITIAL_DELAY);
        cluster.set_coordinator_bugs(opts.bugs);
        let assignor = match rng.range_inclusive(0, 9) {
            _ if opts.skip_revoke_round => Assignor::CooperativeSticky,
            0..=3 => Assignor::CooperativeSticky,
            4..=6 => Assignor::Range,
            _ => Assignor::RoundRobin,
        };
        let n = rng.range_inclusive(3, 5) as usize;
        let statics = rng.range_inclusive(0, 2);
        let members: Vec<GroupMember> = (0..n)
            .map(|i| {
                let is_static = (i as u64) < statics;
                let session = Duration::from_millis(rng.range_inclusive(6_000, 10_000));
                let cfg = MemberConfig {
                    name: format!("m{i}"),
                    instance_id: is_static.then(|| format!("i{i}")),
                    assignor,
                    session,
                    rebalance: Duration::from_millis(rng.range_inclusive(3_000, 12_000)),
                    heartbeat: Duration::from_millis(session.as_millis() / 3),
                    commit_every: Duration::from_millis(rng.range_inclusive(300, 3_000)),
                    skip_revoke_round: opts.skip_revoke_round,
                    versions: Versions::random(
                        &mut rng,
                        is_static,
                        assignor == Assignor::CooperativeSticky,
                    ),
                };
                GroupMember::new(cfg, GROUP, TOPIC, 6, BROKERS)
            })
            .collect();
        let mut trace = Trace::default();
        trace.echo = opts.echo;
        let lat_hi = [2_000, 20_000, 200_000][rng.range_inclusive(0, 2) as usize];
        let fault_rate = [0.005, 0.01, 0.02][rng.range_inclusive(0, 2) as usize];
        let mut run = Self {
            seed,
            cluster,
            now: Instant::ZERO,
            main: vec![BTreeMap::new(); n],
            on: vec![None; n],
            members,
            links: BTreeMap::new(),
            next_link: 1,
            events: BTreeMap::new(),
            next_ev: 0,
            latency: (100, lat_hi),
            checker: GroupChecker::new(GROUP, INITIAL_DELAY),
            trace,
            injected: BTreeMap::new(),
            fault_rate,
            faults: true,
            rng,
        };
        let desc: Vec<String> = run
            .members
            .iter()
            .map(|m| {
                format!(
                    "{}{} {:?} session {:?} rebalance {:?}",
                    m.cfg.name,
                    m.cfg
                        .instance_id
                        .as_ref()
                        .map_or(String::new(), |i| format!(" static {i}")),
                    m.cfg.versions,
                    m.cfg.session,
                    m.cfg.rebalance
                )
            })
            .collect();
        run.line(format!(
            "seed {seed}: {assignor:?}, latency up to {lat_hi}us, fault rate {fault_rate}"
        ));
        for d in desc {
            run.line(d);
        }
        run
    }

    fn line(&mut self, s: impl AsRef<str>) {
        self.trace.line(self.now, s);
    }

    fn schedule(&mut self, at: Instant, ev: Ev) {
        self.next_ev += 1;
        self.events.insert((at, self.next_ev), ev);
    }

    fn arrival(&mut self, link: u64, up: bool) -> Instant {
        let lat = Duration::from_micros(self.rng.range_inclusive(self.latency.0, self.latency.1));
        let l = self.links.get_mut(&link).expect("link");
        let last = if up { &mut l.last_up } else { &mut l.last_down };
        let at = (self.now + lat).max(*last);
        *last = at;
        at
    }

    /// A member's request goes out.
    fn send(&mut self, i: usize, out: super::group_member::Outgoing) {
        for (p, o) in &out.resets {
            self.checker.allow_reset(TOPIC, *p, *o);
        }
        let existing = if out.ghost {
            None
        } else {
            self.main[i].get(&out.broker).copied()
        };
        let link = match existing {
            Some(l) => l,
            None => {
                let id = self.next_link;
                self.next_link += 1;
                if !self
                    .cluster
                    .handle_connect(self.now, out.broker, ServerConn(id))
                {
                    self.line(format!(
                        "{} -> b{}: refused",
                        self.members[i].cfg.name, out.broker
                    ));
                    if !out.ghost {
                        self.members[i].connection_lost(self.now);
                    }
                    return;
                }
                self.links.insert(
                    id,
                    Link {
                        member: i,
                        broker: out.broker,
                        ghost: out.ghost,
                        open: true,
                        last_up: self.now,
                        last_down: self.now,
                    },
                );
                if !out.ghost {
                    self.main[i].insert(out.broker, id);
                }
                id
            }
        };
        if !out.ghost {
            self.on[i] = Some(link);
        }
        let at = self.arrival(link, true);
        self.schedule(at, Ev::ToBroker(link, unframe(out.frame)));
    }

    fn poll_member(&mut self, i: usize) {
        while let Some(out) = self.members[i].poll(self.now, &mut self.rng) {
            let ghost = out.ghost;
            self.send(i, out);
            if !ghost {
                break;
            }
        }
    }

    /// Drains the cluster's outputs into the network, checking responses.
    fn drain(&mut self) -> Result<(), String> {
        for (_, note) in self.cluster.take_notes() {
            self.trace.line(self.now, note);
        }
        while let Some(out) = self.cluster.poll_output() {
            match out {
                Output::Send { conn, data, .. } => {
                    let Some(l) = self.links.get(&conn.0) else {
                        continue;
                    };
                    let broker = l.broker;
                    self.trace.bytes(&data);
                    let frame = unframe(data);
                    self.checker
                        .on_response(self.now, &self.cluster, broker, conn.0, &frame)?;
                    let at = self.arrival(conn.0, false);
                    self.schedule(at, Ev::ToMember(conn.0, frame));
                }
                Output::Close { conn } => {
                    if let Some(l) = self.links.get_mut(&conn.0) {
                        l.open = false;
                        let at = self.arrival(conn.0, false);
                        self.schedule(at, Ev::Closed(conn.0));
                    }
                }
            }
        }
        for (_, note) in self.cluster.take_notes() {
            self.trace.line(self.now, note);
        }
        Ok(())
    }

    fn deliver(&mut self, ev: Ev) -> Result<(), String> {
        match ev {
            Ev::ToBroker(link, frame) => {
                let Some(l) = self.links.get(&link).filter(|l| l.open) else {
                    return Ok(());
                };
                let broker = l.broker;
                let api = ApiKey::from_i16(i16::from_be_bytes([frame[0], frame[1]]));
                let injected = match api.and_then(|a| self.injected.get_mut(&a)) {
                    Some(n) if *n > 0 && self.cluster.is_up(broker) => {
                        *n -= 1;
                        true
                    }
                    _ => false,
                };
                self.trace.bytes(&frame);
                self.checker
                    .on_request(self.now, &self.cluster, broker, link, &frame, injected)?;
                self.cluster
                    .handle_frame(broker, ServerConn(link), self.now, frame);
                self.drain()?;
            }
            Ev::ToMember(link, data) => {
                let Some(l) = self.links.get(&link) else {
                    return Ok(());
                };
                let i = l.member;
                if l.ghost || self.on[i] != Some(link) {
                    return Ok(());
                }
                let corr = i32::from_be_bytes([data[0], data[1], data[2], data[3]]);
                if self.members[i].in_flight().map(|f| f.2) != Some(corr) {
                    return Ok(());
                }
                self.on[i] = None;
                let said = self.members[i].on_response(self.now, &data)?;
                let name = self.members[i].cfg.name.clone();
                self.line(format!("{name} {said}"));
                self.poll_member(i);
            }
            Ev::Closed(link) => {
                let Some(l) = self.links.remove(&link) else {
                    return Ok(());
                };
                let i = l.member;
                if !l.ghost {
                    self.main[i].retain(|_, c| *c != link);
                    if self.on[i] == Some(link) {
                        self.on[i] = None;
                        self.members[i].connection_lost(self.now);
                        let name = self.members[i].cfg.name.clone();
                        self.line(format!("{name}: connection to b{} lost", l.broker));
                    }
                }
            }
            Ev::Restart(i) => {
                if !self.members[i].alive() {
                    self.line(format!("{} restarts", self.members[i].cfg.name));
                    self.members[i].restart(self.now);
                }
            }
            Ev::BrokerUp(b) => {
                self.line(format!("b{b} restarts"));
                self.cluster.restart_broker(b);
                self.drain()?;
            }
        }
        Ok(())
    }

    /// Closes a link from the member's side.
    fn reset(&mut self, link: u64) {
        if let Some(l) = self.links.remove(&link) {
            self.cluster.handle_disconnect(self.now, ServerConn(link));
            let i = l.member;
            self.main[i].retain(|_, c| *c != link);
            if self.on[i] == Some(link) {
                self.on[i] = None;
                self.members[i].connection_lost(self.now);
            }
        }
    }

    fn fault(&mut self) -> Result<(), String> {
        let n = self.members.len();
        let i = self.rng.range_inclusive(0, n as u64 - 1) as usize;
        let name = self.members[i].cfg.name.clone();
        let later =
            |rng: &mut Rng, lo: u64, hi: u64| Duration::from_millis(rng.range_inclusive(lo, hi));
        match self.rng.range_inclusive(0, 11) {
            0 if self.members[i].alive() => {
                self.line(format!("fault: {name} crashes"));
                self.members[i].crash("crashed");
                for link in self.main[i].values().copied().collect::<Vec<_>>() {
                    self.reset(link);
                }
                let at = self.now + later(&mut self.rng, 500, 15_000);
                self.schedule(at, Ev::Restart(i));
            }
            1 if self.members[i].cfg.instance_id.is_none() => {
                let zombie = self.rng.next_f64() < 0.5;
                if self.members[i].leave() {
                    self.members[i].commit_after_leave = zombie;
                    self.line(format!("fault: {name} leaves (zombie commit: {zombie})"));
                    let at = self.now + later(&mut self.rng, 2_000, 15_000);
                    self.schedule(at, Ev::Restart(i));
                }
            }
            2 => {
                let d = later(&mut self.rng, 500, 15_000);
                self.line(format!("fault: {name} freezes for {d:?}"));
                self.members[i].freeze(self.now, d);
            }
            3 => {
                let d = later(&mut self.rng, 500, 20_000);
                self.line(format!("fault: {name} stops polling for {d:?}"));
                self.members[i].stall(self.now, d);
            }
            4 if self.members[i].cfg.instance_id.is_some() && self.members[i].alive() => {
                // A second process with the same instance id: the first is fenced.
                let mut dup = self.members[i].clone();
                dup.restart(self.now);
                dup.cfg.name = format!("{name}'");
                self.line(format!(
                    "fault: {} starts with {name}'s instance id",
                    dup.cfg.name
                ));
                self.members.push(dup);
                self.main.push(BTreeMap::new());
                self.on.push(None);
            }
            5 | 11 if self.members[i].alive() && self.members[i].replay_stale(&mut self.rng) => {
                self.line(format!("fault: {name} replays a stale request"));
                self.poll_member(i);
            }
            6 => {
                let b = self.rng.range_inclusive(1, BROKERS as u64) as i32;
                self.line(format!("fault: coordinator moves to b{b}"));
                self.cluster.move_coordinator(GROUP, b);
                self.drain()?;
            }
            7 if self
                .cluster
                .broker_ids()
                .iter()
                .all(|b| self.cluster.is_up(*b)) =>
            {
                if let Some(b) = self.cluster.coordinator_of(GROUP) {
                    self.line(format!("fault: coordinator b{b} crashes"));
                    self.cluster.crash_broker(b);
                    self.drain()?;
                    let at = self.now + later(&mut self.rng, 1_000, 8_000);
                    self.schedule(at, Ev::BrokerUp(b));
                }
            }
            8 => {
                if let Some(link) = self.on[i] {
                    self.line(format!("fault: {name}'s connection resets"));
                    self.reset(link);
                }
            }
            9 => {
                let (api, codes): (ApiKey, &[ErrorCode]) = match self.rng.range_inclusive(0, 5) {
                    0 => (
                        ApiKey::FindCoordinator,
                        &[ErrorCode::CoordinatorNotAvailable],
                    ),
                    1 => (
                        ApiKey::JoinGroup,
                        &[
                            ErrorCode::CoordinatorLoadInProgress,
                            ErrorCode::NotCoordinator,
                            ErrorCode::CoordinatorNotAvailable,
                        ],
                    ),
                    2 => (
                        ApiKey::SyncGroup,
                        &[ErrorCode::NotCoordinator, ErrorCode::RebalanceInProgress],
                    ),
                    3 => (
                        ApiKey::Heartbeat,
                        &[ErrorCode::NotCoordinator, ErrorCode::RebalanceInProgress],
                    ),
                    4 => (
                        ApiKey::OffsetCommit,
                        &[
                            ErrorCode::NotCoordinator,
                            ErrorCode::CoordinatorLoadInProgress,
                            ErrorCode::RebalanceInProgress,
                        ],
                    ),
                    _ => (
                        ApiKey::OffsetFetch,
                        &[
                            ErrorCode::NotCoordinator,
                            ErrorCode::CoordinatorLoadInProgress,
                        ],
                    ),
                };
                if self.injected.get(&api).copied().unwrap_or(0) == 0 {
                    let code = codes[self.rng.range_inclusive(0, codes.len() as u64 - 1) as usize];
                    let count = self.rng.range_inclusive(1, 3) as u32;
                    self.line(format!("fault: {count}x {code:?} on {api:?}"));
                    self.injected.insert(api, count);
                    self.cluster.inject_error(Injection {
                        api,
                        broker: None,
                        code,
                        count,
                    });
                }
            }
            10 => {
                let p = self.rng.range_inclusive(0, 5) as i32;
                let to = self.rng.range_inclusive(0, 20) as i64;
                if self.members[i].alive() && self.members[i].seek_back(p, to) {
                    self.line(format!("fault: {name} seeks {TOPIC}-{p} back to {to}"));
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn holdings(&self) -> Vec<(String, Vec<i32>)> {
        self.members
            .iter()
            .filter(|m| m.alive() && !m.member_id.is_empty())
            .map(|m| (m.member_id.clone(), m.holding()))
            .collect()
    }

    fn check(&mut self) -> Result<(), String> {
        let holding = self.holdings();
        self.checker
            .after_step(self.now, &self.cluster, &holding, TOPIC)
    }

    fn run_until(&mut self, end: Instant) -> Result<(), String> {
        let mut next_tick = self.now;
        while self.now < end {
            let mut next = next_tick;
            if let Some((&(at, _), _)) = self.events.first_key_value() {
                next = next.min(at);
            }
            // (A timer already due stays due while a member's join waits; the
            // tick handles it.)
            let due = self.cluster.poll_timeout().filter(|t| *t > self.now);
            if let Some(t) = due {
                next = next.min(t);
            }
            self.now = next.max(self.now);
            while let Some(entry) = self.events.first_entry() {
                if entry.key().0 > self.now {
                    break;
                }
                let ev = entry.remove();
                self.deliver(ev)?;
                self.check()?;
            }
            if self.now >= next_tick || due.is_some_and(|t| t <= self.now) {
                self.cluster.handle_timeout(self.now);
                self.drain()?;
            }
            if self.now >= next_tick {
                next_tick = self.now + TICK;
                if self.faults && self.rng.next_f64() < self.fault_rate {
                    self.fault()?;
                    self.drain()?;
                }
                for i in 0..self.members.len() {
                    self.members[i].tick(self.now, &mut self.rng);
                    self.poll_member(i);
                }
            }
            self.check()?;
        }
        Ok(())
    }

    /// After the faults: everyone that may run again does, and the group settles.
    fn settle(&mut self) -> Result<(), String> {
        self.faults = false;
        self.cluster.clear_injections();
        self.injected.clear();
        for b in self.cluster.broker_ids() {
            self.cluster.restart_broker(b);
        }
        self.drain()?;
        for i in 0..self.members.len() {
            let m = &self.members[i];
            // A fenced process stays down (another holds its instance id).
            if !m.alive()
                && !m
                    .stopped
                    .as_deref()
                    .is_some_and(|s| s.starts_with("fenced"))
            {
                self.members[i].restart(self.now);
            }
        }
        self.line("faults stop; everyone restarts");
        let end = self.now + Duration::from_secs(SETTLE_SECS);
        self.run_until(end)?;
        match self.unsettled() {
            None => return Ok(()),
            // A static member rejoining takes its old place without a rebalance
            // (KIP-345), with the assignment the group had: one a cooperative
            // round left a partition out of, whose follow-up round was the old
            // membership's to start (KIP-429). Nothing in the protocol assigns
            // that partition until some rebalance (Kafka's coordinator too: a
            // static rejoin in Stable keeps the assignment when the protocol does
            // not change). As an operator would, and as the kasio group world's
            // liveness does: bounce a member past its session, then settle again.
            Some((_, true)) if self.members.iter().any(|m| m.cfg.instance_id.is_some()) => {
                let i = self
                    .members
                    .iter()
                    .position(|m| m.alive() && m.cfg.instance_id.is_none())
                    .or_else(|| self.members.iter().position(GroupMember::alive))
                    .ok_or("unassigned partitions and no member to bounce")?;
                self.line(format!(
                    "liveness: partitions unassigned (static members): {} is bounced",
                    self.members[i].cfg.name
                ));
                self.members[i].crash("bounced");
                let back = self.now + self.members[i].cfg.session + Duration::from_secs(1);
                self.run_until(back)?;
                self.members[i].restart(self.now);
                let end = self.now + Duration::from_secs(SETTLE_SECS);
                self.run_until(end)?;
            }
            Some(_) => {}
        }
        match self.unsettled() {
            None => Ok(()),
            Some((message, _)) => Err(message),
        }
    }

    /// Why the group is not settled (and whether only because some partition is
    /// held by nobody), or `None` when it is.
    fn unsettled(&self) -> Option<(String, bool)> {
        let Some(view) = self.cluster.group_view(GROUP) else {
            return Some(("no group".into(), false));
        };
        let alive: Vec<&GroupMember> = self.members.iter().filter(|m| m.alive()).collect();
        let mut held: Vec<i32> = alive.iter().flat_map(|m| m.holding()).collect();
        held.sort_unstable();
        let ids: Vec<&str> = alive.iter().map(|m| m.member_id.as_str()).collect();
        let settled = alive.iter().all(|m| m.settled(self.now));
        let members: Vec<&str> = view.members.keys().map(String::as_str).collect();
        let mut sorted_ids = ids.clone();
        sorted_ids.sort_unstable();
        let stable = format!("{:?}", view.state) == "Stable";
        let all_held = held == (0..6).collect::<Vec<i32>>();
        if stable && settled && members == sorted_ids && all_held {
            return None;
        }
        let only_unassigned = stable && settled && members == sorted_ids && {
            let mut unique = held.clone();
            unique.dedup();
            unique.len() == held.len()
        };
        Some((
            format!(
                "not settled {SETTLE_SECS}s after the faults: {:?} generation {} members {members:?}, \
                 running {ids:?}, held {held:?}",
                view.state, view.generation
            ),
            only_unassigned,
        ))
    }

    fn report(&self, message: &str) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "group seed {}: {message}", self.seed);
        let _ = writeln!(
            s,
            "replay: SIM_SEED={} cargo test -p kasio-sim --test sim_group -- seeds",
            self.seed
        );
        let _ = writeln!(s, "members:");
        for m in &self.members {
            let _ = writeln!(s, "  {}", m.describe());
        }
        let _ = writeln!(s, "group: {:?}", self.cluster.group_view(GROUP));
        let _ = writeln!(s, "trace (last {} lines):", self.trace.tail().count());
        for l in self.trace.tail() {
            let _ = writeln!(s, "  {l}");
        }
        s
    }
}

/// Runs one seed: [`FAULT_SECS`] of faults, then [`SETTLE_SECS`] to settle.
pub fn run_group(seed: u64, opts: GroupRunOptions) -> Result<GroupOutcome, GroupFailure> {
    let mut run = Run::new(seed, opts);
    let result = run
        .run_until(Instant::ZERO + Duration::from_secs(FAULT_SECS))
        .and_then(|()| run.settle());
    match result {
        Ok(()) => Ok(GroupOutcome {
            hash: run.trace.hash(),
            lines: run.trace.lines(),
            generations: run.cluster.group_view(GROUP).map_or(0, |v| v.generation),
            commits: run.cluster.commits().len(),
        }),
        Err(message) => {
            run.line(format!("FAILED: {message}"));
            Err(GroupFailure {
                seed,
                report: run.report(&message),
                hash: run.trace.hash(),
                message,
            })
        }
    }
}
