//! Real kasio group consumers in the [`World`], against the simulated
//! coordinator, on the same simulated network as everything else: one seeded
//! run of a consumer group. What `tests/tests/sim_group_consumer.rs` runs by the
//! hundred.
//!
//! The seed picks the configuration (swarm testing): brokers, topics and
//! partitions, the network, the workload, and the group — how many members, which
//! are static (`group.instance.id`), each member's assignor list (range,
//! roundrobin, sticky, cooperative-sticky, or a list of them sharing one),
//! auto-commit on or off, session, heartbeat and poll-interval timeouts, and how
//! each application commits and acknowledges. Each member is a real
//! [`Consumer`](kasio_core::consumer::Consumer) driven by a small application
//! model: it polls at its pace, hands what it gets to the [`GroupLedger`],
//! commits (`commit_consumed`) now and then, and answers `Revoked` and `Lost`
//! events in one of four ways: acknowledge at once, commit then acknowledge at
//! once, commit and acknowledge when the commit is answered, or acknowledge late
//! (up to past the rebalance deadline).
//!
//! A safety phase runs the workload under the seed's faults — the cluster's
//! (connection resets, half-open connections, network partitions, broker
//! crashes, leader moves, injected errors) and the group's: members crash and
//! restart as a new process with the same configuration (static members keep
//! their instance id), leave (unsubscribe or close, then come back), stall past
//! `max.poll.interval.ms` (stop polling, the consumer still driven), freeze past
//! the session (not driven at all), seek back on purpose; the coordinator moves
//! or its broker crashes; group APIs answer injected errors. Every step the
//! invariants are checked: per member by its [`Checker`](super::Checker) (only
//! what the group assigned, from the committed offset), across the group by the
//! [`GroupLedger`] (no record lost, commits only from the owner, committed
//! offsets back only by a seek). Then a liveness phase: faults stop, every
//! member runs and polls, commits after every poll (or auto-commits), and
//! acknowledges at once; the group must settle with every partition owned by
//! one member, read to its end and committed there, and every record produced
//! handed out to some member.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use kasio_core::config::Config;
use kasio_core::consumer::{Event, TopicPartition};
use kasio_core::group::{CommitId, MemberState, RebalanceToken, SimBugs};
use kasio_core::protocol::{ApiKey, ErrorCode};
use kasio_core::records::Compression;
use kasio_core::rng::Rng;
use kasio_core::time::{Duration, Instant};

use super::cluster::{Cluster, ClusterSpec, Injection};
use super::group::GroupState;
use super::group_ledger::GroupLedger;
use super::net::NetConfig;
use super::scenario::{
    apply_fault, chance, heal, jitter, make_records, pick, schedule_producer, Counters, Fault,
    Swarm,
};
use super::world::{ConsumerId, World};

/// The group's id.
pub const GROUP: &str = "g";

/// The test suite that runs these (for replay commands).
pub const SUITE: &str = "sim_group_consumer";

/// A failed run (the scenario's: what broke, the configuration, the end of the
/// trace, and how to replay it).
pub use super::scenario::Failure;

/// A fault of a group run: the cluster's, or the group's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GroupFault {
    /// A cluster fault ([`Fault`]: resets, hangs, partitions, broker crashes,
    /// leader moves, injected data-path errors).
    Cluster(Fault),
    /// Group APIs answer a few requests with an error.
    InjectGroupError,
    /// The coordinator moves to another broker.
    MoveCoordinator,
    /// The coordinator's broker crashes (and restarts).
    CrashCoordinator,
    /// A member's process crashes; a new one starts later.
    MemberCrash,
    /// A member unsubscribes or closes, and comes back later.
    MemberLeave,
    /// A member's application stops polling for a while (up to twice
    /// `max.poll.interval.ms`).
    MemberStall,
    /// A member is frozen (not driven at all) for up to 2.5 sessions.
    MemberFreeze,
    /// A member seeks a partition back on purpose.
    SeekBack,
}

const GROUP_FAULTS: [GroupFault; 14] = [
    GroupFault::Cluster(Fault::Reset),
    GroupFault::Cluster(Fault::Hang),
    GroupFault::Cluster(Fault::Partition),
    GroupFault::Cluster(Fault::Crash),
    GroupFault::Cluster(Fault::MoveLeader),
    GroupFault::Cluster(Fault::InjectError),
    GroupFault::InjectGroupError,
    GroupFault::MoveCoordinator,
    GroupFault::CrashCoordinator,
    GroupFault::MemberCrash,
    GroupFault::MemberLeave,
    GroupFault::MemberStall,
    GroupFault::MemberFreeze,
    GroupFault::SeekBack,
];

/// Errors worth injecting into group APIs: what a coordinator really answers
/// there, none of them fatal for a member.
const GROUP_INJECTABLE: [(ApiKey, &[ErrorCode]); 7] = [
    (
        ApiKey::FindCoordinator,
        &[
            ErrorCode::CoordinatorNotAvailable,
            ErrorCode::CoordinatorLoadInProgress,
        ],
    ),
    (
        ApiKey::JoinGroup,
        &[
            ErrorCode::CoordinatorLoadInProgress,
            ErrorCode::NotCoordinator,
            ErrorCode::CoordinatorNotAvailable,
            ErrorCode::RebalanceInProgress,
        ],
    ),
    (
        ApiKey::SyncGroup,
        &[
            ErrorCode::NotCoordinator,
            ErrorCode::CoordinatorNotAvailable,
            ErrorCode::RebalanceInProgress,
            ErrorCode::CoordinatorLoadInProgress,
        ],
    ),
    (
        ApiKey::Heartbeat,
        &[
            ErrorCode::NotCoordinator,
            ErrorCode::CoordinatorNotAvailable,
            ErrorCode::RebalanceInProgress,
            ErrorCode::CoordinatorLoadInProgress,
        ],
    ),
    (
        ApiKey::OffsetCommit,
        &[
            ErrorCode::NotCoordinator,
            ErrorCode::CoordinatorLoadInProgress,
            ErrorCode::RebalanceInProgress,
            ErrorCode::RequestTimedOut,
            ErrorCode::UnknownTopicOrPartition,
        ],
    ),
    (
        ApiKey::OffsetFetch,
        &[
            ErrorCode::NotCoordinator,
            ErrorCode::CoordinatorLoadInProgress,
            ErrorCode::CoordinatorNotAvailable,
        ],
    ),
    (
        ApiKey::LeaveGroup,
        &[
            ErrorCode::NotCoordinator,
            ErrorCode::CoordinatorNotAvailable,
        ],
    ),
];

const ASSIGNORS: [&str; 4] = ["range", "roundrobin", "sticky", "cooperative-sticky"];

/// One member of a run.
#[derive(Debug, Clone)]
pub struct MemberSpec {
    /// Kafka properties (`bootstrap.servers` is added).
    pub props: Vec<(String, String)>,
    /// How often the application polls.
    pub poll_every: Duration,
    /// When it first starts.
    pub start_at: Duration,
    /// The chance that the application commits after a poll.
    pub commit_chance: f64,
    /// The most commits the application leaves unanswered before it commits
    /// again.
    pub max_outstanding: usize,
    /// `enable.auto.commit`.
    pub auto_commit: bool,
    /// `session.timeout.ms`.
    pub session: Duration,
    /// `max.poll.interval.ms` (the rebalance timeout).
    pub max_poll_interval: Duration,
    /// `default.api.timeout.ms` (how long a commit may take).
    pub api_timeout: Duration,
}

/// Everything a seed decides for a group run.
#[derive(Debug, Clone)]
pub struct GroupSwarm {
    /// The cluster, network and workload (its consumers and faults unused).
    pub base: Swarm,
    /// The members.
    pub members: Vec<MemberSpec>,
    /// Faults on.
    pub faults: Vec<GroupFault>,
    /// Mean time between faults.
    pub fault_every: Duration,
    /// `group.initial.rebalance.delay.ms`.
    pub initial_delay: Duration,
}

impl GroupSwarm {
    /// The configuration seed `seed` stands for.
    pub fn from_seed(seed: u64) -> Self {
        let mut rng = Rng::new(seed ^ 0x4752_4f55_5043);
        let brokers = rng.range_inclusive(1, 3) as i32;
        let mut cluster = ClusterSpec::new(brokers);
        cluster.seed = seed;
        cluster.session_slots = pick(&mut rng, &[0, 1000, 1000]);
        cluster.leader_hints = chance(&mut rng, 0.5);
        for t in 0..rng.range_inclusive(1, 2) {
            let partitions = rng.range_inclusive(1, 6) as i32;
            let rf = rng.range_inclusive(1, brokers.min(3) as u64) as i32;
            cluster = cluster.topic(&format!("t{t}"), partitions, rf);
        }
        let net = NetConfig {
            latency: pick(
                &mut rng,
                &[
                    (Duration::from_micros(50), Duration::from_millis(1)),
                    (Duration::from_millis(1), Duration::from_millis(20)),
                    (Duration::ZERO, Duration::from_millis(50)),
                ],
            ),
            fragment: pick(&mut rng, &[0.0, 0.1, 0.5]),
            max_fragments: pick(&mut rng, &[2, 4, 16]),
        };
        let safety = Duration::from_secs(pick(&mut rng, &[5, 10, 15]));
        let n = pick(&mut rng, &[1u64, 2, 2, 3, 3, 3, 4, 4]);
        let common = pick(&mut rng, &ASSIGNORS);
        let members = (0..n)
            .map(|i| member_spec(&mut rng, i, common, safety))
            .collect();
        let codecs: Vec<Compression> = {
            let c: Vec<Compression> = Compression::ALL
                .iter()
                .copied()
                .filter(|_| chance(&mut rng, 0.5))
                .collect();
            if c.is_empty() {
                vec![Compression::None]
            } else {
                c
            }
        };
        let value_size = pick(&mut rng, &[8, 100, 1000]);
        let faults: Vec<GroupFault> = GROUP_FAULTS
            .iter()
            .copied()
            .filter(|_| chance(&mut rng, 0.5))
            .collect();
        let base = Swarm {
            seed,
            cluster,
            api_limits: Vec::new(),
            net,
            consumers: Vec::new(),
            batch_records: pick(&mut rng, &[1, 5, 20]),
            value_size,
            records: pick(&mut rng, &[50, 200, 600]),
            codecs,
            txn_rate: pick(&mut rng, &[0.0, 0.0, 0.3]),
            produce_every: Duration::from_millis(pick(&mut rng, &[10, 30, 60])),
            faults: Vec::new(),
            fault_every: Duration::ZERO,
            safety,
        };
        let mut swarm = Self {
            base,
            members,
            faults,
            fault_every: Duration::from_millis(pick(&mut rng, &[300, 1000, 3000])),
            initial_delay: Duration::from_millis(pick(&mut rng, &[0, 100, 500])),
        };
        swarm.limit_group_apis(&mut rng);
        swarm
    }

    /// In some runs every broker speaks older versions of the group APIs (as
    /// old brokers do); static members need the versions that carry
    /// `group.instance.id`.
    fn limit_group_apis(&mut self, rng: &mut Rng) {
        if !chance(rng, 0.2) {
            return;
        }
        let statics = self
            .members
            .iter()
            .any(|m| m.props.iter().any(|(k, _)| k == "group.instance.id"));
        let mut limit = |api: ApiKey, lo: i16, static_lo: i16| {
            let (min, max) = api.versions();
            let lo = if statics { static_lo } else { lo }.max(min);
            let v = rng.range_inclusive(lo as u64, max as u64) as i16;
            (api, Some((min, v)))
        };
        let limits = [
            limit(ApiKey::FindCoordinator, 0, 0),
            limit(ApiKey::JoinGroup, 0, 5),
            limit(ApiKey::SyncGroup, 0, 3),
            limit(ApiKey::Heartbeat, 0, 3),
            limit(ApiKey::LeaveGroup, 0, 3),
            limit(ApiKey::OffsetCommit, 2, 7),
            limit(ApiKey::OffsetFetch, 1, 1),
        ];
        for b in 1..=self.base.cluster.brokers {
            for (api, v) in limits {
                self.base.api_limits.push((b, api, v));
            }
        }
    }

    /// The topics and their partition counts.
    pub fn topics(&self) -> Vec<(String, i32)> {
        self.base
            .cluster
            .topics
            .iter()
            .map(|t| (t.name.clone(), t.partitions))
            .collect()
    }
}

fn member_spec(rng: &mut Rng, i: u64, common: &'static str, safety: Duration) -> MemberSpec {
    let mut props: Vec<(String, String)> = Vec::new();
    let mut set = |k: &str, v: String| props.push((k.into(), v));
    set("client.id", format!("m{i}"));
    set("group.id", GROUP.into());
    if chance(rng, 0.25) {
        set("group.instance.id", format!("i{i}"));
    }
    // Mostly the group's one assignor; sometimes a list that includes it (the
    // coordinator picks one every member offers).
    let mut list = vec![common];
    if chance(rng, 0.3) {
        for a in ASSIGNORS {
            if a != common && chance(rng, 0.4) {
                let at = rng.range_inclusive(0, list.len() as u64) as usize;
                list.insert(at, a);
            }
        }
    }
    set("partition.assignment.strategy", list.join(","));
    let auto_commit = chance(rng, 0.5);
    set("enable.auto.commit", auto_commit.to_string());
    set(
        "auto.commit.interval.ms",
        pick(rng, &[100u32, 500, 1000, 3000]).to_string(),
    );
    let session = pick(rng, &[1500u64, 3000, 6000]);
    set("session.timeout.ms", session.to_string());
    let heartbeat = session / pick(rng, &[3, 4]);
    set("heartbeat.interval.ms", heartbeat.to_string());
    // The rebalance timeout (max.poll.interval.ms) spans a few heartbeats: a
    // member learns of a rebalance it did not start from its next heartbeat,
    // and one that waits longer than the rebalance misses it every time (a
    // cooperative follow-up round then never includes it).
    let max_poll = pick(rng, &[1000u64, 2000, 5000]).max(3 * heartbeat);
    set("max.poll.interval.ms", max_poll.to_string());
    let api_timeout = pick(rng, &[5000u64, 15_000]);
    set("default.api.timeout.ms", api_timeout.to_string());
    set(
        "isolation.level",
        if chance(rng, 0.3) {
            "read_committed"
        } else {
            "read_uncommitted"
        }
        .into(),
    );
    set("auto.offset.reset", "earliest".into());
    set("fetch.max.wait.ms", pick(rng, &[200u32, 500]).to_string());
    set("fetch.min.bytes", pick(rng, &[1u32, 1, 1000]).to_string());
    set(
        "max.poll.records",
        pick(rng, &[50u32, 200, 500]).to_string(),
    );
    set(
        "request.timeout.ms",
        pick(rng, &[2000u32, 5000, 30_000]).to_string(),
    );
    let retry = pick(rng, &[10u32, 100]);
    set("retry.backoff.ms", retry.to_string());
    set("retry.backoff.max.ms", 1000.to_string());
    set("reconnect.backoff.ms", pick(rng, &[10u32, 50]).to_string());
    set("reconnect.backoff.max.ms", 1000.to_string());
    set(
        "metadata.max.age.ms",
        pick(rng, &[1000u32, 5000, 300_000]).to_string(),
    );
    set(
        "socket.connection.setup.timeout.ms",
        pick(rng, &[1000u32, 10_000]).to_string(),
    );
    let start_at = if i == 0 || chance(rng, 0.6) {
        Duration::ZERO
    } else {
        Duration::from_millis(rng.range_inclusive(0, safety.as_millis() / 2))
    };
    MemberSpec {
        props,
        poll_every: Duration::from_millis(pick(rng, &[20, 50, 100])),
        start_at,
        commit_chance: pick(rng, &[0.0, 0.02, 0.2, 1.0]),
        max_outstanding: pick(rng, &[1, 2, 4]),
        auto_commit,
        session: Duration::from_millis(session),
        max_poll_interval: Duration::from_millis(max_poll),
        api_timeout: Duration::from_millis(api_timeout),
    }
}

/// Options for [`run`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Print every trace line as it happens.
    pub echo: bool,
    /// Planted client bugs for every member (tests of the checks themselves;
    /// needs kasio-sim's `sim-bugs` feature).
    pub bugs: SimBugs,
}

/// What a passing run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The seed.
    pub seed: u64,
    /// The trace hash (same seed, same hash).
    pub hash: u64,
    /// Steps taken.
    pub steps: u64,
    /// Simulated time at the end.
    pub sim_time: Duration,
    /// Records produced.
    pub produced: u64,
    /// Records handed out (over all members and restarts, duplicates included).
    pub handed_out: u64,
    /// The group's last generation.
    pub generations: i32,
    /// What happened, by kind: faults that took effect, events, commits, acks.
    pub stats: BTreeMap<String, u64>,
}

/// Where a member's application is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    /// Not started yet.
    NotStarted,
    /// Subscribed and polling.
    Running,
    /// Unsubscribed; subscribes again later.
    Left,
    /// `close` called; a new process starts once it is closed.
    Closing,
    /// Crashed (or closed); a new process starts later.
    Down,
}

/// A rebalance event the application will acknowledge.
#[derive(Debug, Clone)]
struct Ack {
    token: RebalanceToken,
    /// Not before this instant.
    at: Instant,
    /// After this commit is answered (or `at` passed, whichever is later).
    after_commit: Option<CommitId>,
}

/// One member's application.
#[derive(Debug)]
struct App {
    spec: MemberSpec,
    config: Config,
    id: Option<ConsumerId>,
    status: Status,
    /// Tick loops of an earlier process stop when this moves.
    epoch: u64,
    stall_until: Instant,
    acks: Vec<Ack>,
    /// The application's commits not answered yet.
    outstanding: BTreeSet<CommitId>,
    /// Partitions it handed records of since the group assigned them, with the
    /// offset after the last one.
    handed: BTreeMap<TopicPartition, i64>,
    /// The highest offset a successful commit of each partition answered since
    /// the group assigned it: a revoke owes no commit when this covers what was
    /// handed out (the core sends none for an unchanged position).
    committed: BTreeMap<TopicPartition, i64>,
    /// Auto-commit: revoked partitions whose revoke-time commit was not answered
    /// yet: since when (at the latest), what it must cover, and the member's
    /// generation then. Not those revoked while a reset of their position was
    /// under way: a consumer without a position commits nothing of it.
    revoked: BTreeMap<TopicPartition, (Instant, i64, i32)>,
    /// When the application last ran (what it takes from the consumer happened
    /// after).
    last_tick: Instant,
}

/// The run's shared state (the World runs the actions that use it).
struct State {
    swarm: GroupSwarm,
    topics: Vec<String>,
    apps: Vec<App>,
    ledger: GroupLedger,
    stats: BTreeMap<String, u64>,
    liveness: bool,
    bugs: SimBugs,
    /// Whether some member is static (`group.instance.id`).
    statics: bool,
}

impl State {
    fn count(&mut self, what: impl Into<String>) {
        *self.stats.entry(what.into()).or_default() += 1;
    }
}

type Shared = Rc<RefCell<State>>;

/// Runs seed `seed`.
pub fn run(seed: u64, opts: RunOptions) -> Result<Outcome, Box<Failure>> {
    let swarm = GroupSwarm::from_seed(seed);
    let mut world = build(&swarm);
    world.trace_mut().echo = opts.echo;
    world.max_steps = 5_000_000;
    let describe = format!("{swarm:#?}");
    let fail = |world: &World, message: String| {
        Failure::new(seed, SUITE, describe.clone(), world, message)
    };
    let bootstrap = world.cluster().bootstrap();
    let apps = swarm
        .members
        .iter()
        .map(|spec| {
            let mut props = vec![("bootstrap.servers".to_string(), bootstrap.clone())];
            props.extend(spec.props.iter().cloned());
            let config = Config::from_pairs(props.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .expect("group swarm member config is valid");
            App {
                spec: spec.clone(),
                config,
                id: None,
                status: Status::NotStarted,
                epoch: 0,
                stall_until: Instant::ZERO,
                acks: Vec::new(),
                outstanding: BTreeSet::new(),
                handed: BTreeMap::new(),
                committed: BTreeMap::new(),
                revoked: BTreeMap::new(),
                last_tick: Instant::ZERO,
            }
        })
        .collect();
    let st: Shared = Rc::new(RefCell::new(State {
        topics: swarm.topics().into_iter().map(|(t, _)| t).collect(),
        apps,
        ledger: GroupLedger::new(GROUP),
        stats: BTreeMap::new(),
        liveness: false,
        bugs: opts.bugs,
        statics: swarm
            .members
            .iter()
            .any(|m| m.props.iter().any(|(k, _)| k == "group.instance.id")),
        swarm: swarm.clone(),
    }));
    for (i, m) in swarm.members.iter().enumerate() {
        let st = st.clone();
        world.schedule(Instant::ZERO + m.start_at, move |w| {
            if st.borrow().apps[i].status == Status::NotStarted {
                start(w, &st, i);
            }
        });
    }
    let counters = Rc::new(RefCell::new(Counters::default()));
    let safety_end = Instant::ZERO + swarm.base.safety;
    schedule_producer(&mut world, &swarm.base, counters.clone(), safety_end);
    if !swarm.faults.is_empty() {
        let st2 = st.clone();
        let at = world.now() + swarm.fault_every;
        world.schedule(at, move |w| chaos_tick(w, st2, safety_end));
    }
    let check = |w: &mut World| {
        judge_commits(w, &st);
        false
    };
    if let Err(e) = world.run_until(safety_end, check) {
        return Err(fail(&world, e));
    }
    // Liveness: faults stop; everyone runs, polls, commits and acknowledges.
    heal(&mut world, &swarm.base);
    let more = final_batch(&mut world, &swarm, &counters);
    let produced = counters.borrow().produced + more;
    start_liveness(&mut world, &st);
    // A member may try the connections the faults left hung one after another
    // (a hung connection has nothing in flight, so leastLoadedNode picks it), a
    // whole request timeout each, before it reaches a live one: as Java would
    // (seed 118202: four hung connections, 30 s each). The same allowance as the
    // consumer world's stall budget (scenario.rs).
    let hung_wait = st
        .borrow()
        .apps
        .iter()
        .filter_map(|a| {
            let hung = world.hung_connections(a.id?) as u64;
            Some(hung * a.config.request_timeout.as_millis())
        })
        .max()
        .unwrap_or(0);
    let budget = Duration::from_secs(120) + Duration::from_millis(hung_wait);
    let deadline = world.now() + budget;
    let mut last_look = Instant::ZERO;
    let mut unassigned_since = None;
    let mut nudged = false;
    let settled = world.run_until(deadline, |w| {
        if !judge_commits(w, &st) {
            return false;
        }
        if w.now() < last_look + Duration::from_millis(20) {
            return false;
        }
        last_look = w.now();
        let why = unsettled(w, &st.borrow());
        // A static member rejoining (a new process, or the same one after it
        // left: static members send no LeaveGroup) takes its old place without
        // a rebalance (KIP-345), with the assignment the group had: one a
        // cooperative round left a partition out of (the follow-up round was
        // the old membership's to start), or one made from metadata in error.
        // Nothing in the protocol assigns that partition until some rebalance:
        // as an operator would, bounce a member past its session.
        let unassigned = why.as_ref().is_some_and(|y| y.ends_with("is not assigned"));
        match unassigned_since {
            _ if !unassigned => unassigned_since = None,
            None => unassigned_since = Some(w.now()),
            Some(since) => {
                let statics = st.borrow().statics;
                if !nudged && statics && w.now() > since + Duration::from_secs(10) {
                    nudged = true;
                    nudge(w, &st);
                }
            }
        }
        why.is_none()
    });
    match settled {
        Err(e) => return Err(fail(&world, e)),
        Ok(false) => {
            let why = unsettled(&world, &st.borrow()).unwrap_or_default();
            return Err(fail(
                &world,
                format!("liveness: the group did not settle {budget:?} after the faults: {why}"),
            ));
        }
        Ok(true) => {}
    }
    if let Err(e) = st
        .borrow()
        .ledger
        .final_check(world.cluster(), &swarm.topics())
    {
        return Err(fail(&world, format!("group: {e}")));
    }
    let mut s = st.borrow_mut();
    let c = counters.borrow();
    for (k, n) in &c.effective {
        *s.stats.entry(k.clone()).or_default() += n;
    }
    for (api, n) in world.cluster().injections_answered() {
        *s.stats.entry(format!("injected {api:?}")).or_default() += n;
    }
    let (commits, regressions, revoking) = (
        s.ledger.commits,
        s.ledger.regressions,
        s.ledger.revoking_commits,
    );
    s.stats.insert("commits accepted".into(), commits);
    s.stats
        .insert("commits back after a seek".into(), regressions);
    s.stats.insert("commits while revoking".into(), revoking);
    Ok(Outcome {
        seed,
        hash: world.trace().hash(),
        steps: world.steps(),
        sim_time: world.now() - Instant::ZERO,
        produced,
        handed_out: s.ledger.handed_out,
        generations: world
            .cluster()
            .group_view(GROUP)
            .map_or(0, |v| v.generation),
        stats: s.stats.clone(),
    })
}

/// Bounces member 0: it crashes, and its new process starts once its session
/// ended (so the coordinator rebalances, static member or not).
fn nudge(w: &mut World, st: &Shared) {
    let Some(id) = st.borrow().apps[0].id else {
        return;
    };
    w.note("liveness: partitions unassigned (static members): member 0 is bounced");
    w.crash_consumer(id);
    let session = {
        let mut s = st.borrow_mut();
        s.count("bounced for unassigned partitions (static rejoin)");
        let a = &mut s.apps[0];
        a.status = Status::Down;
        a.epoch += 1;
        a.spec.session
    };
    let st = st.clone();
    w.schedule(w.now() + session + Duration::from_millis(500), move |w| {
        if st.borrow().apps[0].status == Status::Down {
            start(w, &st, 0);
        }
    });
}

/// Judges the commits the coordinator accepted since the last step (false:
/// the world failed).
fn judge_commits(w: &mut World, st: &Shared) -> bool {
    let floor = |member: &str, tp: &TopicPartition| {
        w.consumer_ids()
            .into_iter()
            .filter(|id| {
                w.consumer(*id)
                    .group_metadata()
                    .is_some_and(|m| m.member_id == member)
            })
            .find_map(|id| w.checker(id)?.reset_floor(tp))
    };
    let r = st.borrow_mut().ledger.after_step(w.cluster(), floor);
    match r {
        Ok(()) => true,
        Err(e) => {
            w.fail(format!("group: {e}"));
            false
        }
    }
}

/// Runs seed `seed` with default options.
pub fn run_seed(seed: u64) -> Result<Outcome, Box<Failure>> {
    run(seed, RunOptions::default())
}

/// Builds the world a swarm describes (no members yet: they start on schedule).
pub fn build(swarm: &GroupSwarm) -> World {
    let mut cluster = Cluster::new(swarm.base.cluster.clone());
    for (b, api, v) in &swarm.base.api_limits {
        cluster.set_api(*b, *api, *v);
    }
    // Sessions of a few seconds keep runs short; Kafka's floor is 6 s.
    cluster.set_group_session_bounds(Duration::from_millis(1000), Duration::from_secs(300));
    cluster.set_initial_rebalance_delay(swarm.initial_delay);
    World::new(cluster, swarm.base.net, swarm.base.seed)
}

/// A few records into every partition as the faults stop, so that whoever owns
/// a partition in the end hands out something after the last rebalance.
fn final_batch(w: &mut World, swarm: &GroupSwarm, counters: &Rc<RefCell<Counters>>) -> u64 {
    let mut produced = 0;
    for (t, n) in swarm.topics() {
        for p in 0..n {
            let k = w.rng().range_inclusive(1, 3);
            let mut seq = counters.borrow().seq;
            let records = make_records(w.rng(), k, swarm.base.value_size, &mut seq);
            counters.borrow_mut().seq = seq;
            if w.with_cluster(|c| c.produce(&t, p, &records, Compression::None))
                .is_ok()
            {
                produced += k;
            }
        }
    }
    w.note(format!("liveness phase: {produced} more records"));
    produced
}

// ----- the members -------------------------------------------------------------------

/// Starts member `i`: its first process, or a new one in place of the last.
fn start(w: &mut World, st: &Shared, i: usize) {
    let (config, id, bugs, topics) = {
        let s = st.borrow();
        let a = &s.apps[i];
        (a.config.clone(), a.id, s.bugs, s.topics.clone())
    };
    let id = match id {
        None => w.add_checked_consumer(config),
        Some(id) => {
            w.restart_consumer(id, config);
            id
        }
    };
    plant(w, id, bugs);
    let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
    if let Err(e) = w.subscribe(id, &topics) {
        w.fail(format!("member {i}: subscribe: {e}"));
        return;
    }
    w.note(format!("member {i} starts as c{}", id.0));
    let epoch = {
        let mut s = st.borrow_mut();
        let a = &mut s.apps[i];
        a.id = Some(id);
        a.status = Status::Running;
        a.acks.clear();
        a.outstanding.clear();
        a.handed.clear();
        a.committed.clear();
        a.revoked.clear();
        a.last_tick = w.now();
        a.stall_until = Instant::ZERO;
        a.epoch += 1;
        a.epoch
    };
    schedule_tick(w, st, i, epoch, w.now());
}

#[cfg(feature = "sim-bugs")]
fn plant(w: &mut World, id: ConsumerId, bugs: SimBugs) {
    w.with_consumer(id, |c| c.set_sim_bugs(bugs));
}

#[cfg(not(feature = "sim-bugs"))]
fn plant(_: &mut World, _: ConsumerId, bugs: SimBugs) {
    assert_eq!(
        bugs,
        SimBugs::default(),
        "planted client bugs need kasio-sim's sim-bugs feature"
    );
}

fn schedule_tick(w: &mut World, st: &Shared, i: usize, epoch: u64, at: Instant) {
    let st = st.clone();
    w.schedule(at, move |w| tick(w, &st, i, epoch));
}

/// One turn of a member's application loop: poll, hand the records out, answer
/// the events, commit now and then, acknowledge what is due.
fn tick(w: &mut World, st: &Shared, i: usize, epoch: u64) {
    let (id, status, every, stall_until) = {
        let s = st.borrow();
        let a = &s.apps[i];
        if a.epoch != epoch {
            return; // a loop of an earlier process
        }
        (
            a.id.expect("started"),
            a.status,
            a.spec.poll_every,
            a.stall_until,
        )
    };
    let now = w.now();
    if status == Status::Down || w.is_down(id) {
        return;
    }
    if w.is_frozen(id) {
        // The application is frozen with its process (and what its consumer
        // owes it waits for the thaw: no deadline is judged across it).
        st.borrow_mut().apps[i].revoked.clear();
        return schedule_tick(w, st, i, epoch, now + every);
    }
    if now < stall_until {
        return schedule_tick(w, st, i, epoch, stall_until);
    }
    if status != Status::Closing {
        let recs = w.poll_records(id);
        let mut s = st.borrow_mut();
        s.ledger.handed_out(&recs);
        let a = &mut s.apps[i];
        for b in recs.partitions() {
            if let Some(r) = b.records.last() {
                a.handed.insert(b.tp.clone(), r.offset + 1);
            }
        }
    }
    for ev in w.take_events(id) {
        on_event(w, st, i, id, ev);
    }
    let generation = w
        .consumer(id)
        .group_metadata()
        .map_or(-1, |m| m.generation_id);
    let skipped = revoke_commit_skipped(w, &mut st.borrow_mut().apps[i], generation);
    if let Some((tp, since, pos)) = skipped {
        w.fail(format!(
            "member {i}: auto-commit on, {tp} revoked after {since:?} with records up to {pos} \
             handed out, and its next generation came without a commit of it (revoke-time \
             commit missing)"
        ));
        return;
    }
    if let Some((tp, since)) = overdue_revoke_commit(w, &st.borrow().apps[i]) {
        w.fail(format!(
            "member {i}: auto-commit on, {tp} revoked after {since:?} after records of it were \
             handed out, and no commit of it was answered since (revoke-time commit missing)"
        ));
        return;
    }
    st.borrow_mut().apps[i].last_tick = now;
    let (liveness, auto, chance_of) = {
        let s = st.borrow();
        let a = &s.apps[i];
        (s.liveness, a.spec.auto_commit, a.spec.commit_chance)
    };
    let status = st.borrow().apps[i].status;
    if status == Status::Running {
        let busy = {
            let a = &st.borrow().apps[i];
            a.outstanding.len() >= a.spec.max_outstanding
        };
        let commit = !busy
            && if liveness {
                !auto
            } else {
                chance(w.rng(), chance_of)
            };
        if commit {
            commit_consumed(w, st, i, id);
        }
    }
    ack_due(w, st, i, id);
    if st.borrow().apps[i].epoch == epoch {
        schedule_tick(w, st, i, epoch, w.now() + every);
    }
}

fn commit_consumed(w: &mut World, st: &Shared, i: usize, id: ConsumerId) -> Option<CommitId> {
    match w.with_consumer(id, |c| c.commit_consumed()) {
        Ok(cid) => {
            let mut s = st.borrow_mut();
            s.count("app commits");
            s.apps[i].outstanding.insert(cid);
            Some(cid)
        }
        Err(e) => {
            w.note(format!("member {i}: commit_consumed: {e}"));
            None
        }
    }
}

fn on_event(w: &mut World, st: &Shared, i: usize, id: ConsumerId, ev: Event) {
    match ev {
        Event::Revoked {
            token,
            ref partitions,
        }
        | Event::Lost {
            token,
            ref partitions,
        } => {
            let revoked = matches!(ev, Event::Revoked { .. });
            {
                let generation = w
                    .consumer(id)
                    .group_metadata()
                    .map_or(-1, |m| m.generation_id);
                // A partition revoked while its position was being reset has
                // no position to commit (what was handed out of it before the
                // broker said out of range is judged by the commits before).
                let positionless: BTreeSet<TopicPartition> = partitions
                    .iter()
                    .filter(|tp| {
                        w.checker(id)
                            .is_some_and(|ch| ch.revoked_without_position(tp))
                    })
                    .cloned()
                    .collect();
                let mut s = st.borrow_mut();
                s.count(if revoked { "revoked" } else { "lost" });
                let a = &mut s.apps[i];
                for tp in partitions {
                    // With auto-commit, what was handed out of a revoked
                    // partition is committed before the rebalance goes on (its
                    // result comes as a Committed event); a leave commits too,
                    // unless it happens mid-rebalance (not judged).
                    let handed = a.handed.remove(tp);
                    let committed = a.committed.remove(tp);
                    if let (true, true, true, false, Some(pos)) = (
                        revoked,
                        a.spec.auto_commit,
                        a.status == Status::Running,
                        positionless.contains(tp),
                        handed.filter(|&pos| committed.is_none_or(|c| c < pos)),
                    ) {
                        a.revoked.insert(tp.clone(), (a.last_tick, pos, generation));
                    }
                }
                if !revoked {
                    a.revoked.clear();
                }
            }
            let (liveness, max_poll) = {
                let s = st.borrow();
                (s.liveness, s.apps[i].spec.max_poll_interval)
            };
            let now = w.now();
            let style = if liveness {
                w.rng().range_inclusive(0, 1)
            } else {
                w.rng().range_inclusive(0, 3)
            };
            let mut ack = Ack {
                token,
                at: now,
                after_commit: None,
            };
            match style {
                0 => st.borrow_mut().count("ack at once"),
                1 => {
                    commit_consumed(w, st, i, id);
                    st.borrow_mut().count("commit, ack at once");
                }
                2 => {
                    ack.after_commit = commit_consumed(w, st, i, id);
                    st.borrow_mut().count("ack after the commit is answered");
                }
                _ => {
                    let late = w.rng().range_inclusive(0, max_poll.as_micros() * 3 / 2);
                    ack.at = now + Duration::from_micros(late);
                    let s = &mut st.borrow_mut();
                    s.count("late ack");
                    if late > max_poll.as_micros() {
                        s.count("ack past the rebalance deadline");
                    }
                }
            }
            st.borrow_mut().apps[i].acks.push(ack);
        }
        Event::Committed {
            id: cid, results, ..
        } => {
            let mut s = st.borrow_mut();
            s.apps[i].outstanding.remove(&cid);
            for (tp, r) in &results {
                if let Ok(o) = r {
                    let c = s.apps[i].committed.entry(tp.clone()).or_insert(o.offset);
                    *c = (*c).max(o.offset);
                }
                // A failed commit was tried; a successful one must cover what
                // was handed out.
                let covered = match r {
                    Ok(o) => s.apps[i]
                        .revoked
                        .get(tp)
                        .is_some_and(|(_, p, _)| o.offset >= *p),
                    Err(_) => true,
                };
                if covered {
                    s.apps[i].revoked.remove(tp);
                }
            }
            for (_, r) in &results {
                s.count(if r.is_ok() {
                    "partition commits ok"
                } else {
                    "partition commits failed"
                });
            }
            for a in &mut s.apps[i].acks {
                if a.after_commit == Some(cid) {
                    a.after_commit = None;
                }
            }
        }
        Event::OffsetReset { ref tp, offset, .. } => {
            // The position moved (a broker said it is out of range): what a
            // revoke-time commit covers moved with it.
            if let Some(pos) = st.borrow_mut().apps[i].handed.get_mut(tp) {
                *pos = (*pos).min(offset);
            }
        }
        Event::Assigned { ref partitions } => {
            let mut s = st.borrow_mut();
            s.count("assigned");
            for tp in partitions {
                s.apps[i].handed.remove(tp);
            }
        }
        Event::Fatal(e) => w.fail(format!("member {i}: unexpected Fatal: {e}")),
        Event::Error(_) => st.borrow_mut().count("error events"),
        Event::Closed => {
            let status = st.borrow().apps[i].status;
            if status == Status::Closing {
                st.borrow_mut().apps[i].status = Status::Down;
                restart_later(w, st, i);
            }
        }
        _ => {}
    }
}

/// When a member that went away comes back: at once in the liveness phase, else
/// after up to two of its sessions (longer than a session, a dynamic member is
/// gone from the group; a static one keeps its place until then).
fn later(w: &mut World, st: &Shared, i: usize) -> Instant {
    let (liveness, session) = {
        let s = st.borrow();
        (s.liveness, s.apps[i].spec.session)
    };
    if liveness {
        return w.now();
    }
    let d = w.rng().range_inclusive(100_000, session.as_micros() * 2);
    w.now() + Duration::from_micros(d)
}

/// A new process for member `i` later (unless the liveness phase started one).
fn restart_later(w: &mut World, st: &Shared, i: usize) {
    let at = later(w, st, i);
    let st = st.clone();
    w.schedule(at, move |w| {
        if st.borrow().apps[i].status == Status::Down {
            start(w, &st, i);
        }
    });
}

/// A revoked partition (auto-commit on) whose revoke-time commit had no answer
/// when the member went on to a later generation: the rebalance waits for it,
/// unless its deadline (`max.poll.interval.ms`) let it go on without.
fn revoke_commit_skipped(
    w: &World,
    a: &mut App,
    generation: i32,
) -> Option<(TopicPartition, Instant, i64)> {
    if generation < 0 {
        return None;
    }
    let max_poll = a.spec.max_poll_interval;
    let now = w.now();
    let missing = a
        .revoked
        .iter()
        .find(|(_, (since, _, g))| generation > *g && now < *since + max_poll)
        .map(|(tp, (since, pos, _))| (tp.clone(), *since, *pos));
    a.revoked.retain(|_, (_, _, g)| generation <= *g);
    missing
}

/// A revoked partition (auto-commit on) whose revoke-time commit was never
/// answered, though every commit is answered within `default.api.timeout.ms`
/// (plus a request timeout for one in flight) and the rebalance waits at most
/// `max.poll.interval.ms` for it.
fn overdue_revoke_commit(w: &World, a: &App) -> Option<(TopicPartition, Instant)> {
    let request = a
        .config
        .request_timeout
        .max(a.spec.max_poll_interval + Duration::from_secs(5));
    let limit = a.spec.api_timeout + request + a.spec.max_poll_interval + Duration::from_secs(2);
    a.revoked
        .iter()
        .find(|(_, (since, _, _))| w.now() > *since + limit)
        .map(|(tp, (since, _, _))| (tp.clone(), *since))
}

fn ack_due(w: &mut World, st: &Shared, i: usize, id: ConsumerId) {
    let now = w.now();
    let due: Vec<RebalanceToken> = {
        let mut s = st.borrow_mut();
        let a = &mut s.apps[i];
        let (due, keep) = a
            .acks
            .drain(..)
            .partition(|a| a.at <= now && a.after_commit.is_none());
        a.acks = keep;
        due.into_iter().map(|a: Ack| a.token).collect()
    };
    for token in due {
        // A token of a rebalance that did not wait (a leave) or that the
        // deadline ended is refused: harmless.
        let r = w.with_consumer(id, |c| c.ack_rebalance(token));
        w.note(format!("member {i} acks {token}: {r:?}"));
    }
}

/// The liveness phase begins: everyone runs, subscribed, polling.
fn start_liveness(w: &mut World, st: &Shared) {
    let n = {
        let mut s = st.borrow_mut();
        s.liveness = true;
        let now = w.now();
        for a in &mut s.apps {
            a.stall_until = Instant::ZERO;
            for k in &mut a.acks {
                k.at = now;
                k.after_commit = None;
            }
        }
        s.apps.len()
    };
    for i in 0..n {
        let status = st.borrow().apps[i].status;
        match status {
            Status::NotStarted | Status::Down => start(w, st, i),
            Status::Left => resubscribe(w, st, i),
            Status::Running | Status::Closing => {}
        }
    }
}

fn resubscribe(w: &mut World, st: &Shared, i: usize) {
    let (id, status, topics) = {
        let s = st.borrow();
        (s.apps[i].id, s.apps[i].status, s.topics.clone())
    };
    let Some(id) = id else { return };
    if status != Status::Left {
        return;
    }
    let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
    match w.subscribe(id, &topics) {
        Ok(()) => {
            w.note(format!("member {i} subscribes again"));
            st.borrow_mut().apps[i].status = Status::Running;
        }
        Err(e) => w.fail(format!("member {i}: subscribe again: {e}")),
    }
}

/// `None` once the group settled: every member runs and is stable in one
/// generation the coordinator agrees with, every partition is owned by exactly
/// one of them, read to its end and committed there. Else what is missing.
fn unsettled(w: &World, s: &State) -> Option<String> {
    let mut ids = BTreeSet::new();
    let mut owners: BTreeMap<TopicPartition, usize> = BTreeMap::new();
    for (i, a) in s.apps.iter().enumerate() {
        let Some(id) = a.id else {
            return Some(format!("member {i} never started"));
        };
        if a.status != Status::Running || w.is_down(id) || w.is_frozen(id) {
            return Some(format!("member {i} is {:?}", a.status));
        }
        let c = w.consumer(id);
        if c.group_state() != Some(MemberState::Stable) {
            return Some(format!("member {i} is {:?}", c.group_state()));
        }
        if let Some(meta) = c.group_metadata() {
            ids.insert(meta.member_id);
        }
        for tp in c.assignment() {
            if let Some(j) = owners.insert(tp.clone(), i) {
                return Some(format!("{tp} is with members {j} and {i}"));
            }
        }
        let behind = w.checker(id).and_then(|ch| ch.behind(w.cluster(), c));
        if let Some(b) = behind {
            return Some(format!("member {i}: {b}"));
        }
    }
    let Some(view) = w.cluster().group_view(GROUP) else {
        return Some("no group".into());
    };
    if view.state != GroupState::Stable {
        return Some(format!("the group is {:?}", view.state));
    }
    let members: BTreeSet<String> = view.members.keys().cloned().collect();
    if members != ids {
        return Some(format!(
            "the coordinator's members {members:?}, the running ones {ids:?}"
        ));
    }
    for (t, n) in s.swarm.topics() {
        for p in 0..n {
            let tp = TopicPartition::new(t.clone(), p);
            if !owners.contains_key(&tp) {
                return Some(format!("{tp} is not assigned"));
            }
            let Ok(v) = w.cluster().view(&t, p) else {
                return Some(format!("no partition {tp}"));
            };
            let committed = w.cluster().committed(GROUP, &t, p);
            if committed != Some(v.high_watermark) || v.last_stable_offset != v.high_watermark {
                return Some(format!(
                    "{tp}: committed {committed:?}, high watermark {}, last stable {}",
                    v.high_watermark, v.last_stable_offset
                ));
            }
        }
    }
    None
}

// ----- faults ----------------------------------------------------------------------

fn chaos_tick(w: &mut World, st: Shared, until: Instant) {
    if w.now() >= until {
        return;
    }
    let (fault, swarm_every) = {
        let s = st.borrow();
        (s.swarm.faults.clone(), s.swarm.fault_every)
    };
    let fault = pick(w.rng(), &fault);
    if let Some(kind) = apply_group_fault(w, &st, fault, until) {
        st.borrow_mut().count(kind);
    }
    let next = w.now() + jitter(w.rng(), swarm_every);
    w.schedule(next, move |w| chaos_tick(w, st, until));
}

/// A running member, at random.
fn running_member(w: &mut World, st: &Shared) -> Option<(usize, ConsumerId)> {
    let running: Vec<(usize, ConsumerId)> = st
        .borrow()
        .apps
        .iter()
        .enumerate()
        .filter(|(_, a)| a.status == Status::Running)
        .filter_map(|(i, a)| Some((i, a.id?)))
        .filter(|(_, id)| !w.is_down(*id) && !w.is_frozen(*id))
        .collect();
    (!running.is_empty()).then(|| pick(w.rng(), &running))
}

fn apply_group_fault(
    w: &mut World,
    st: &Shared,
    fault: GroupFault,
    until: Instant,
) -> Option<String> {
    match fault {
        GroupFault::Cluster(f) => {
            let base = st.borrow().swarm.base.clone();
            apply_fault(w, &base, f, until)
        }
        GroupFault::InjectGroupError => {
            let (api, codes) = pick(w.rng(), &GROUP_INJECTABLE);
            let code = pick(w.rng(), codes);
            let count = w.rng().range_inclusive(1, 3) as u32;
            w.note(format!("fault: inject {code:?} x{count} into {api:?}"));
            w.with_cluster(|c| {
                c.inject_error(Injection {
                    api,
                    broker: None,
                    code,
                    count,
                })
            });
            Some(format!("inject group {api:?}"))
        }
        GroupFault::MoveCoordinator => {
            let now_at = w.cluster().coordinator_of(GROUP);
            let to: Vec<i32> = w
                .cluster()
                .broker_ids()
                .into_iter()
                .filter(|b| Some(*b) != now_at && w.cluster().is_up(*b))
                .collect();
            if to.is_empty() {
                return None;
            }
            let b = pick(w.rng(), &to);
            w.note(format!("fault: the coordinator moves to b{b}"));
            w.with_cluster(|c| c.move_coordinator(GROUP, b));
            Some("move coordinator".into())
        }
        GroupFault::CrashCoordinator => {
            let b = w.cluster().coordinator_of(GROUP)?;
            w.note(format!("fault: the coordinator b{b} crashes"));
            w.with_cluster(|c| c.crash_broker(b));
            let down = Duration::from_millis(w.rng().range_inclusive(100, 5000));
            w.schedule(w.now() + down, move |w| {
                w.note(format!("fault: restart b{b}"));
                w.with_cluster(|c| c.restart_broker(b));
            });
            Some("crash coordinator".into())
        }
        GroupFault::MemberCrash => {
            let (i, id) = running_member(w, st)?;
            w.note(format!("fault: member {i} crashes"));
            w.crash_consumer(id);
            {
                let mut s = st.borrow_mut();
                s.apps[i].status = Status::Down;
                s.apps[i].epoch += 1;
            }
            restart_later(w, st, i);
            Some("member crash".into())
        }
        GroupFault::MemberLeave => {
            let (i, id) = running_member(w, st)?;
            if chance(w.rng(), 0.5) {
                w.note(format!("fault: member {i} unsubscribes"));
                st.borrow_mut().apps[i].status = Status::Left;
                let r = w.with_consumer(id, |c| c.unsubscribe());
                if let Err(e) = r {
                    w.fail(format!("member {i}: unsubscribe: {e}"));
                }
                st.borrow_mut().apps[i].status = Status::Left;
                let at = later(w, st, i);
                let st = st.clone();
                w.schedule(at, move |w| resubscribe(w, &st, i));
                Some("member unsubscribes".into())
            } else {
                w.note(format!("fault: member {i} closes"));
                st.borrow_mut().apps[i].status = Status::Closing;
                w.with_consumer(id, |c| c.close());
                st.borrow_mut().apps[i].status = Status::Closing;
                Some("member closes".into())
            }
        }
        GroupFault::MemberStall => {
            let (i, _) = running_member(w, st)?;
            let max_poll = st.borrow().apps[i].spec.max_poll_interval;
            let d = Duration::from_micros(
                w.rng()
                    .range_inclusive(max_poll.as_micros() / 4, max_poll.as_micros() * 2),
            );
            w.note(format!("fault: member {i} stops polling for {d:?}"));
            let until = w.now() + d;
            let mut s = st.borrow_mut();
            s.apps[i].stall_until = until;
            Some(if d > max_poll {
                "stall past max.poll.interval.ms".into()
            } else {
                "stall".into()
            })
        }
        GroupFault::MemberFreeze => {
            let (i, id) = running_member(w, st)?;
            let session = st.borrow().apps[i].spec.session;
            let d = Duration::from_micros(
                w.rng()
                    .range_inclusive(session.as_micros() / 4, session.as_micros() * 5 / 2),
            );
            w.note(format!("fault: member {i} freezes for {d:?}"));
            w.freeze(id, w.now() + d);
            Some(if d > session {
                "freeze past the session".into()
            } else {
                "freeze".into()
            })
        }
        GroupFault::SeekBack => {
            let (i, id) = running_member(w, st)?;
            let owned = w.checker(id)?.owned();
            let positions: Vec<(TopicPartition, i64)> = owned
                .into_iter()
                .filter_map(|tp| {
                    let pos = w.consumer(id).position(&tp).ok().flatten()?;
                    (pos > 0).then_some((tp, pos))
                })
                .collect();
            if positions.is_empty() {
                return None;
            }
            let (tp, pos) =
                positions[w.rng().range_inclusive(0, positions.len() as u64 - 1) as usize].clone();
            let to = w
                .rng()
                .range_inclusive((pos - 50).max(0) as u64, pos as u64 - 1)
                as i64;
            w.note(format!(
                "fault: member {i} seeks {tp} back from {pos} to {to}"
            ));
            let until = pos.max(st.borrow().ledger.committed(&tp).unwrap_or(0));
            let member = w.consumer(id).group_metadata().map(|m| m.member_id)?;
            let mut s = st.borrow_mut();
            s.ledger.sought_back(&member, &tp, to, until);
            // What a revoke-time commit covers is the position: `to` now.
            if let Some(pos) = s.apps[i].handed.get_mut(&tp) {
                *pos = (*pos).min(to);
            }
            drop(s);
            w.seek(id, &tp, to);
            Some("seek back".into())
        }
    }
}
