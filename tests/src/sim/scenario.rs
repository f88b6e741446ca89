//! The standard simulation run for one seed, as TigerBeetle's VOPR does it: the
//! seed picks the configuration itself (swarm testing: cluster shape, API
//! versions, consumer settings, network, workload, which faults are on and how
//! often), then a safety phase runs the workload under those faults with every
//! invariant checked at every step, and a liveness phase without faults must bring
//! every consumer to the end of every assigned partition within a bounded
//! simulated time.

use std::fmt;

use kasio_core::config::Config;
use kasio_core::consumer::TopicPartition;
use kasio_core::protocol::{ApiKey, ErrorCode};
use kasio_core::records::Compression;
use kasio_core::rng::Rng;
use kasio_core::time::{Duration, Instant};

use super::cluster::{Cluster, ClusterSpec, Injection};
use super::net::NetConfig;
use super::record::SimRecord;
use super::replication::ReplicationSpec;
use super::world::{ConsumerId, World};

/// The faults a run can enable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// Reset a random connection.
    Reset,
    /// Make a random connection half-open.
    Hang,
    /// Cut a consumer off from a broker for a while.
    Partition,
    /// Crash a broker; it restarts later.
    Crash,
    /// Move a partition's leadership.
    MoveLeader,
    /// Answer a few requests with an error.
    InjectError,
    /// Delete records from the start of a partition (retention).
    Retention,
    /// Unclean leader election: lose the tail of a partition.
    Truncate,
    /// The application stops polling for a while.
    SlowApp,
    /// A broker's replica fetchers stall for a while: its followers fall behind,
    /// out of the ISR, and back in (only in runs that replicate with racks/lag).
    StallReplication,
}

const ALL_FAULTS: [Fault; 9] = [
    Fault::Reset,
    Fault::Hang,
    Fault::Partition,
    Fault::Crash,
    Fault::MoveLeader,
    Fault::InjectError,
    Fault::Retention,
    Fault::Truncate,
    Fault::SlowApp,
];

/// An API limit on one broker: (broker, API, advertised versions or none).
pub type ApiLimit = (i32, ApiKey, Option<(i16, i16)>);

/// Everything a seed decides.
#[derive(Debug, Clone)]
pub struct Swarm {
    /// The seed.
    pub seed: u64,
    /// The cluster.
    pub cluster: ClusterSpec,
    /// Per broker, API limits: (broker, api, versions or removed).
    pub api_limits: Vec<ApiLimit>,
    /// The network.
    pub net: NetConfig,
    /// Each consumer's properties, assignment and poll interval.
    pub consumers: Vec<ConsumerSpec>,
    /// Records per batch, at most.
    pub batch_records: u64,
    /// Value sizes, at most.
    pub value_size: u64,
    /// Records to produce in all (the producer stops there).
    pub records: u64,
    /// Codecs the producer picks from.
    pub codecs: Vec<Compression>,
    /// Probability that a batch goes into a transaction.
    pub txn_rate: f64,
    /// Time between produced batches.
    pub produce_every: Duration,
    /// Faults on, with the mean time between them.
    pub faults: Vec<Fault>,
    /// Mean time between faults.
    pub fault_every: Duration,
    /// Length of the safety phase.
    pub safety: Duration,
}

/// One consumer of a run.
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    /// Kafka properties (`bootstrap.servers` is added).
    pub props: Vec<(String, String)>,
    /// The partitions it is assigned.
    pub assignment: Vec<TopicPartition>,
    /// How often the application polls.
    pub poll_every: Duration,
}

impl ConsumerSpec {
    /// A numeric property, if set.
    pub fn prop_u64(&self, key: &str) -> Option<u64> {
        self.props
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.parse().ok())
    }
}

pub(crate) fn pick<T: Copy>(rng: &mut Rng, xs: &[T]) -> T {
    xs[rng.range_inclusive(0, xs.len() as u64 - 1) as usize]
}

pub(crate) fn chance(rng: &mut Rng, p: f64) -> bool {
    rng.next_f64() < p
}

impl Swarm {
    /// The configuration seed `seed` stands for.
    pub fn from_seed(seed: u64) -> Self {
        let mut rng = Rng::new(seed ^ 0x5357_4152_4d00);
        let brokers = rng.range_inclusive(1, 4) as i32;
        let mut cluster = ClusterSpec::new(brokers);
        cluster.seed = seed;
        cluster.session_slots = pick(&mut rng, &[0, 1, 2, 1000, 1000, 1000]);
        cluster.leader_hints = chance(&mut rng, 0.5);
        for t in 0..rng.range_inclusive(1, 2) {
            let partitions = rng.range_inclusive(1, 6) as i32;
            let rf = rng.range_inclusive(1, brokers.min(3) as u64) as i32;
            cluster = cluster.topic(&format!("t{t}"), partitions, rf);
        }
        let mut api_limits = Vec::new();
        if chance(&mut rng, 0.15) {
            // tansu speaks no OffsetForLeaderEpoch.
            for b in 1..=brokers {
                api_limits.push((b, ApiKey::OffsetForLeaderEpoch, None));
            }
        }
        for b in 1..=brokers {
            if chance(&mut rng, 0.25) {
                let v = pick(&mut rng, &[4, 6, 7, 10, 11, 12, 13, 15, 16]);
                api_limits.push((b, ApiKey::Fetch, Some((4, v))));
            }
            if chance(&mut rng, 0.1) {
                // Fetch v4 means Kafka 0.11 or later: ListOffsets v2 at least.
                let v = pick(&mut rng, &[2, 3, 4, 7]);
                api_limits.push((b, ApiKey::ListOffsets, Some((1, v))));
            }
            if chance(&mut rng, 0.1) {
                let v = pick(&mut rng, &[1, 4, 8, 9]);
                api_limits.push((b, ApiKey::Metadata, Some((0, v))));
            }
        }
        let net = NetConfig {
            latency: pick(
                &mut rng,
                &[
                    (Duration::from_micros(50), Duration::from_millis(1)),
                    (Duration::from_millis(1), Duration::from_millis(20)),
                    (Duration::ZERO, Duration::from_millis(100)),
                ],
            ),
            fragment: pick(&mut rng, &[0.0, 0.1, 0.5]),
            max_fragments: pick(&mut rng, &[2, 4, 16]),
        };
        let all: Vec<TopicPartition> = cluster
            .topics
            .iter()
            .flat_map(|t| (0..t.partitions).map(move |p| TopicPartition::new(t.name.clone(), p)))
            .collect();
        let consumers = (0..rng.range_inclusive(1, 3))
            .map(|i| consumer_spec(&mut rng, i, &all))
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
        let value_size = pick(&mut rng, &[8, 100, 2000, 20_000]);
        let mut faults: Vec<Fault> = ALL_FAULTS
            .iter()
            .copied()
            .filter(|_| chance(&mut rng, 0.5))
            .collect();
        let mut consumers: Vec<ConsumerSpec> = consumers;
        replication(seed, &mut cluster, &api_limits, &mut consumers, &mut faults);
        Self {
            seed,
            cluster,
            api_limits,
            net,
            consumers,
            batch_records: pick(&mut rng, &[1, 5, 50]),
            value_size,
            // At most a few MiB in all: enough for every byte limit to bite.
            records: pick(&mut rng, &[100, 500, 2000]).min((8 << 20) / value_size),
            codecs,
            txn_rate: pick(&mut rng, &[0.0, 0.0, 0.3, 1.0]),
            produce_every: Duration::from_millis(pick(&mut rng, &[2, 20, 100])),
            faults,
            fault_every: Duration::from_millis(pick(&mut rng, &[100, 500, 2000])),
            safety: Duration::from_secs(pick(&mut rng, &[2, 5, 10])),
        }
    }
}

/// Replication choices for a seed, from a stream of their own (so every other
/// choice a seed made before replication was modelled stays the same): in about
/// half the runs, followers lag, brokers have racks, leaders may send consumers to
/// followers (KIP-392), some consumers say their rack, unclean elections may be
/// on, and replica fetchers may stall. The other runs replicate at once, as
/// before.
fn replication(
    seed: u64,
    cluster: &mut ClusterSpec,
    api_limits: &[ApiLimit],
    consumers: &mut [ConsumerSpec],
    faults: &mut Vec<Fault>,
) {
    let mut rng = Rng::new(seed ^ 0x5245_504c_4943_4153);
    if !chance(&mut rng, 0.5) {
        return;
    }
    const RACKS: [&str; 3] = ["az1", "az2", "az3"];
    let mut spec = ReplicationSpec {
        lag: Duration::from_millis(pick(&mut rng, &[0, 1, 5, 20, 50])),
        lag_max: Duration::from_millis(pick(&mut rng, &[100, 500, 2000])),
        unclean_election: chance(&mut rng, 0.3),
        rack_aware_selector: chance(&mut rng, 0.9),
        ..ReplicationSpec::default()
    };
    for b in 1..=cluster.brokers {
        if chance(&mut rng, 0.85) {
            spec.racks.insert(b, pick(&mut rng, &RACKS).to_string());
        }
    }
    // A cluster whose leaders name preferred replicas runs Kafka 2.4+ everywhere:
    // a broker below Fetch v11 cannot serve a follower fetch, and every client
    // sent there would come back to the leader and be sent there again.
    let fetch_v11 = api_limits
        .iter()
        .all(|(_, api, v)| *api != ApiKey::Fetch || v.is_some_and(|(_, max)| max >= 11));
    spec.rack_aware_selector &= fetch_v11;
    cluster.replication = spec;
    for c in consumers {
        if chance(&mut rng, 0.85) {
            // Mostly a rack some broker is in (else the leader serves anyway).
            let rack = if chance(&mut rng, 0.9) && !cluster.replication.racks.is_empty() {
                let racks: Vec<&String> = cluster.replication.racks.values().collect();
                pick(&mut rng, &racks).clone()
            } else {
                pick(&mut rng, &RACKS).to_string()
            };
            c.props.push(("client.rack".into(), rack));
        }
    }
    if !faults.is_empty() && chance(&mut rng, 0.6) {
        faults.push(Fault::StallReplication);
    }
}

fn consumer_spec(rng: &mut Rng, i: u64, all: &[TopicPartition]) -> ConsumerSpec {
    let mut props: Vec<(String, String)> = Vec::new();
    let mut set = |k: &str, v: String| props.push((k.into(), v));
    set("client.id", format!("sim-c{i}"));
    let rc = chance(rng, 0.4);
    set(
        "isolation.level",
        if rc {
            "read_committed"
        } else {
            "read_uncommitted"
        }
        .into(),
    );
    set(
        "auto.offset.reset",
        if chance(rng, 0.8) {
            "earliest"
        } else {
            "latest"
        }
        .into(),
    );
    let fetch_max = pick(rng, &[1024u32, 16_384, 1_048_576, 52_428_800]);
    set("fetch.max.bytes", fetch_max.to_string());
    set(
        "max.partition.fetch.bytes",
        pick(rng, &[512u32, 4096, 1_048_576]).to_string(),
    );
    set(
        "fetch.min.bytes",
        pick(rng, &[1u32, 1, 100, 10_000])
            .min(fetch_max)
            .to_string(),
    );
    // 0 makes a busy fetch loop: legal, and costly to simulate, so rare.
    let wait = if chance(rng, 1.0 / 16.0) {
        0
    } else {
        pick(rng, &[10u32, 100, 500])
    };
    set("fetch.max.wait.ms", wait.to_string());
    set(
        "queued.max.messages.kbytes",
        pick(rng, &[1u32, 4, 64, 65536]).to_string(),
    );
    set(
        "queued.min.messages",
        pick(rng, &[1u32, 10, 100_000]).to_string(),
    );
    let max_poll = pick(rng, &[1u64, 10, 500]);
    set("max.poll.records", max_poll.to_string());
    set(
        "request.timeout.ms",
        pick(rng, &[1000u32, 5000, 30_000]).to_string(),
    );
    let retry = pick(rng, &[10u32, 100]);
    set("retry.backoff.ms", retry.to_string());
    set(
        "retry.backoff.max.ms",
        pick(rng, &[100u32, 1000]).max(retry).to_string(),
    );
    let reconnect = pick(rng, &[10u32, 50]);
    set("reconnect.backoff.ms", reconnect.to_string());
    set(
        "reconnect.backoff.max.ms",
        pick(rng, &[100u32, 1000]).max(reconnect).to_string(),
    );
    set(
        "metadata.max.age.ms",
        pick(rng, &[500u32, 5000, 300_000]).to_string(),
    );
    set(
        "socket.connection.setup.timeout.ms",
        pick(rng, &[1000u32, 10_000]).to_string(),
    );
    set("check.crcs", chance(rng, 0.8).to_string());
    set("enable.partition.eof", chance(rng, 0.3).to_string());
    let mut assignment: Vec<TopicPartition> =
        all.iter().filter(|_| chance(rng, 0.6)).cloned().collect();
    if assignment.is_empty() {
        assignment.push(all[rng.range_inclusive(0, all.len() as u64 - 1) as usize].clone());
    }
    // Slow applications come from the SlowApp fault; the normal pace reads at
    // least 200 records a second, so the backlog drains in bounded time.
    let every = pick(rng, &[1u64, 5, 50, 500]).min((max_poll * 1000 / 200).max(1));
    ConsumerSpec {
        props,
        assignment,
        poll_every: Duration::from_millis(every),
    }
}

/// What a successful run did.
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
    /// Records produced and records delivered (over all consumers).
    pub produced: u64,
    /// Records delivered.
    pub delivered: u64,
    /// Faults applied.
    pub faults: u64,
    /// Faults that took effect, by kind ("crash", "inject Fetch", …).
    pub effective: std::collections::BTreeMap<String, u64>,
    /// Injected errors the brokers answered, by API.
    pub injected: std::collections::BTreeMap<String, u64>,
    /// Deviations seen (the first, and how many).
    pub deviations: Option<(String, usize)>,
    /// Record bytes followers served to consumers (KIP-392), over all partitions.
    pub follower_bytes: u64,
    /// Log cuts by leader elections that lost nothing readable, and truncations
    /// consumers could notice, over all partitions.
    pub cuts: (u64, u64),
}

/// A failed run: what broke, the configuration, the end of the trace, and how to
/// replay it.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The seed.
    pub seed: u64,
    /// The violated invariant.
    pub message: String,
    /// The seed's configuration.
    pub swarm: String,
    /// The last trace lines.
    pub trace: Vec<String>,
    /// The trace hash at the failure.
    pub hash: u64,
    /// The test suite that runs it (for the replay command).
    pub suite: &'static str,
}

impl Failure {
    /// `message` broke seed `seed` of `suite` (configuration `swarm`) in
    /// `world`.
    pub fn new(
        seed: u64,
        suite: &'static str,
        swarm: String,
        world: &World,
        message: String,
    ) -> Box<Self> {
        Box::new(Self {
            seed,
            message,
            swarm,
            trace: world.trace().tail().map(str::to_string).collect(),
            hash: world.trace().hash(),
            suite,
        })
    }

    /// Seed `seed` of `suite` panicked with `message`.
    pub fn panicked(seed: u64, suite: &'static str, message: &str) -> Box<Self> {
        Box::new(Self {
            seed,
            message: format!("panic: {message}"),
            swarm: String::new(),
            trace: Vec::new(),
            hash: 0,
            suite,
        })
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} seed {} failed: {}",
            self.suite, self.seed, self.message
        )?;
        writeln!(f, "--- configuration ---\n{}", self.swarm)?;
        writeln!(f, "--- last {} trace lines ---", self.trace.len())?;
        for l in &self.trace {
            writeln!(f, "{l}")?;
        }
        writeln!(f, "--- trace hash {:016x} ---", self.hash)?;
        writeln!(
            f,
            "replay: SIM_SEED={} cargo test -p kasio-sim --test {} -- seeds --nocapture \
             (SIM_TRACE=1 prints every line)",
            self.seed, self.suite
        )
    }
}

/// Options for [`run`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Print every trace line as it happens.
    pub echo: bool,
    /// Deviations (requests a careful client avoids) fail the run.
    pub strict: bool,
}

/// What the producer and the chaos loop did.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) produced: u64,
    pub(crate) batches: u64,
    pub(crate) faults: u64,
    /// Faults that took effect, by kind.
    pub(crate) effective: std::collections::BTreeMap<String, u64>,
    pub(crate) seq: u64,
}

/// What moves when consumers make progress: their positions and deliveries.
fn progress(w: &World) -> u64 {
    let mut d = super::record::Digest::new();
    for id in w.consumer_ids() {
        let c = w.consumer(id);
        for tp in c.assignment() {
            d.u64(c.position(&tp).ok().flatten().unwrap_or(-1) as u64);
        }
        d.u64(w.checker(id).map_or(0, |ch| ch.delivered()));
    }
    d.finish()
}

/// Runs seed `seed` with default options.
pub fn run_seed(seed: u64) -> Result<Outcome, Box<Failure>> {
    run(seed, RunOptions::default())
}

/// Runs seed `seed`.
pub fn run(seed: u64, opts: RunOptions) -> Result<Outcome, Box<Failure>> {
    let swarm = Swarm::from_seed(seed);
    let mut world = build(&swarm);
    world.trace_mut().echo = opts.echo;
    world.strict = opts.strict;
    world.max_steps = 5_000_000;
    let fail = |world: &World, message: String| {
        Failure::new(seed, "sim_consumer", format!("{swarm:#?}"), world, message)
    };
    let counters = std::rc::Rc::new(std::cell::RefCell::new(Counters {
        produced: 0,
        batches: 0,
        faults: 0,
        effective: Default::default(),
        seq: 0,
    }));
    let safety_end = Instant::ZERO + swarm.safety;
    schedule_producer(&mut world, &swarm, counters.clone(), safety_end);
    if !swarm.faults.is_empty() {
        schedule_chaos(&mut world, &swarm, counters.clone(), safety_end);
    }
    if let Err(e) = world.run_until(safety_end, |_| false) {
        return Err(fail(&world, e));
    }
    // Liveness: no more faults, no more data; every consumer must catch up.
    heal(&mut world, &swarm);
    // The largest value of a property over the consumers, or Kafka's default.
    let max_prop = |key: &str, default: u64| {
        swarm
            .consumers
            .iter()
            .filter_map(|c| c.prop_u64(key))
            .max()
            .unwrap_or(default)
    };
    let request_timeout = max_prop("request.timeout.ms", 30_000);
    // Time for the application to poll the whole backlog, at its pace. A small
    // prefetch buffer (queued.max.messages.kbytes) can hold one batch at a time,
    // so the slowest legitimate pace is one batch per poll.
    let produced = counters.borrow().produced;
    let batches = counters.borrow().batches;
    let backlog = swarm
        .consumers
        .iter()
        .map(|c| {
            let per_poll = c.prop_u64("max.poll.records").unwrap_or(500);
            c.poll_every.as_millis() * (produced / per_poll + batches + 1)
        })
        .max()
        .unwrap_or(0);
    // A consumer with a high fetch.min.bytes waits fetch.max.wait.ms for every
    // fetch once no new data comes, and may get one batch a time.
    let max_wait = max_prop("fetch.max.wait.ms", 500);
    // A max.partition.fetch.bytes below a batch's size gets a whole batch only
    // when the partition comes first in the broker's rotated order (KIP-74): one
    // batch per round of the session's partitions, a fetch round trip each.
    let rtt = 2 * swarm.net.latency.1.as_millis();
    let rotation = swarm
        .consumers
        .iter()
        .filter(|c| {
            c.prop_u64("max.partition.fetch.bytes")
                .is_some_and(|b| b < swarm.value_size * swarm.batch_records + 100)
        })
        .map(|c| 2 * batches * c.assignment.len() as u64 * (rtt + max_wait))
        .max()
        .unwrap_or(0);
    // Connections hung during the faults stay hung: a half-open socket is found
    // out only when a request on it outlives request.timeout.ms (Java's
    // NetworkClient.handleTimedOutRequests; an idle one is closed only after
    // connections.max.idle.ms, 9 minutes). Metadata goes to the least loaded
    // node, and an idle established connection is the first choice there
    // (leastLoadedNode returns one with no requests in flight at once), which a
    // hung connection always is. With one Metadata request at a time, a consumer
    // waiting for metadata (fenced, leader unknown) can try its hung connections
    // one after another, a whole request timeout each, before it reaches a live
    // one (a hung bootstrap connection counts too: it is the fallback when no
    // real broker's connection is ready).
    let hung_wait = swarm
        .consumers
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let hung = world.hung_connections(ConsumerId(i)) as u64;
            hung * c.prop_u64("request.timeout.ms").unwrap_or(30_000)
        })
        .max()
        .unwrap_or(0);
    let budget = Duration::from_millis(
        (3 * request_timeout).max(hung_wait + request_timeout)
            + 60_000
            + 2 * backlog
            + 2 * batches * max_wait
            + rotation,
    );
    let deadline = world.now() + budget;
    let ids = world.consumer_ids();
    // No progress for this long (no position moved, nothing delivered) ends the
    // phase early: a stuck consumer is reported without simulating the rest.
    let stall_limit = Duration::from_millis((2 * request_timeout).max(hung_wait) + 20_000);
    let mut last_progress = (progress(&world), world.now());
    let caught_up = world.run_until(deadline, |w| {
        let p = progress(w);
        if p != last_progress.0 {
            last_progress = (p, w.now());
        } else if w.now() >= last_progress.1 + stall_limit {
            return true;
        }
        ids.iter().all(|&id| {
            w.checker(id)
                .is_some_and(|ch| ch.behind(w.cluster(), w.consumer(id)).is_none())
        })
    });
    let stalled = world.now() >= last_progress.1 + stall_limit;
    let behind: Vec<String> = ids
        .iter()
        .filter_map(|&id| {
            let ch = world.checker(id)?;
            ch.behind(world.cluster(), world.consumer(id))
                .map(|b| format!("consumer {}: {b}", id.0))
        })
        .collect();
    match caught_up {
        Err(e) => return Err(fail(&world, e)),
        Ok(false) | Ok(true) if !behind.is_empty() => {
            let why = if stalled {
                format!("no progress for {stall_limit:?}")
            } else {
                format!("not caught up {budget:?} after the faults stopped")
            };
            return Err(fail(
                &world,
                format!("liveness: {why}: {}", behind.join("; ")),
            ));
        }
        _ => {}
    }
    let delivered = ids
        .iter()
        .filter_map(|&id| world.checker(id).map(|c| c.delivered()))
        .sum();
    let c = counters.borrow();
    Ok(Outcome {
        seed,
        hash: world.trace().hash(),
        steps: world.steps(),
        sim_time: world.now() - Instant::ZERO,
        produced: c.produced,
        delivered,
        faults: c.faults,
        effective: c.effective.clone(),
        injected: world
            .cluster()
            .injections_answered()
            .iter()
            .map(|(api, n)| (format!("{api:?}"), *n))
            .collect(),
        deviations: world
            .deviations()
            .first()
            .map(|d| (d.clone(), world.deviations().len())),
        follower_bytes: replication_stats(world.cluster()).0,
        cuts: replication_stats(world.cluster()).1,
    })
}

/// What replication did in a run: follower bytes served, (invisible, visible)
/// log cuts.
fn replication_stats(c: &Cluster) -> (u64, (u64, u64)) {
    let mut bytes = 0;
    let mut cuts = (0, 0);
    for (t, n) in c.topics() {
        for p in 0..n {
            bytes += c.follower_reads(&t, p).map_or(0, |r| r.values().sum());
            if let Ok(h) = c.history(&t, p) {
                let visible = h.visible_truncations().len() as u64;
                cuts.0 += h.truncations().len() as u64 - visible;
                cuts.1 += visible;
            }
        }
    }
    (bytes, cuts)
}

/// Builds the world a swarm configuration describes.
pub fn build(swarm: &Swarm) -> World {
    let mut cluster = Cluster::new(swarm.cluster.clone());
    for (b, api, v) in &swarm.api_limits {
        cluster.set_api(*b, *api, *v);
    }
    let bootstrap = cluster.bootstrap();
    let mut world = World::new(cluster, swarm.net, swarm.seed);
    for spec in &swarm.consumers {
        let mut props = vec![("bootstrap.servers".to_string(), bootstrap.clone())];
        props.extend(spec.props.iter().cloned());
        let config = Config::from_pairs(props.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .expect("swarm consumer config is valid");
        let id = world.add_checked_consumer(config);
        let assignment = spec.assignment.clone();
        world.with_consumer(id, |c| c.assign(assignment)).unwrap();
        world.set_auto_poll(id, Some(spec.poll_every));
    }
    world
}

/// Base timestamp of produced records.
const BASE_TS: i64 = 1_700_000_000_000;

pub(crate) fn make_records(
    rng: &mut Rng,
    n: u64,
    value_size: u64,
    seq: &mut u64,
) -> Vec<SimRecord> {
    (0..n)
        .map(|_| {
            let i = *seq;
            *seq += 1;
            let size = rng.range_inclusive(0, value_size) as usize;
            let mut value = format!("v{i}-").into_bytes();
            value.resize(size.max(value.len()), b'a' + (i % 26) as u8);
            let key = format!("k{i}");
            let mut r = SimRecord::new(BASE_TS + i as i64, Some(key.as_bytes()), Some(&value));
            if i % 3 == 0 {
                r = r.with_header("seq", Some(i.to_string().as_bytes()));
            }
            if i % 11 == 0 {
                r.key = None;
            }
            r
        })
        .collect()
}

pub(crate) fn schedule_producer(
    world: &mut World,
    swarm: &Swarm,
    counters: std::rc::Rc<std::cell::RefCell<Counters>>,
    until: Instant,
) {
    let swarm = swarm.clone();
    let at = world.now() + swarm.produce_every;
    world.schedule(at, move |w| produce_tick(w, swarm, counters, until));
}

fn produce_tick(
    w: &mut World,
    swarm: Swarm,
    counters: std::rc::Rc<std::cell::RefCell<Counters>>,
    until: Instant,
) {
    if w.now() >= until || counters.borrow().produced >= swarm.records {
        return;
    }
    let parts: Vec<(String, i32)> = swarm
        .cluster
        .topics
        .iter()
        .flat_map(|t| (0..t.partitions).map(move |p| (t.name.clone(), p)))
        .collect();
    let (topic, p) = parts[w.rng().range_inclusive(0, parts.len() as u64 - 1) as usize].clone();
    let n = w.rng().range_inclusive(1, swarm.batch_records);
    let codec = pick(w.rng(), &swarm.codecs);
    let txn = chance(w.rng(), swarm.txn_rate);
    let records = {
        let mut c = counters.borrow_mut();
        let mut seq = c.seq;
        let recs = make_records(w.rng(), n, swarm.value_size, &mut seq);
        c.seq = seq;
        recs
    };
    let open = w.cluster().open_transactions();
    let result = if txn {
        // One open transaction at a time; it spans a few batches, then ends.
        let t = match open.first() {
            Some(t) => *t,
            None => w.with_cluster(|c| c.begin_transaction()),
        };
        let r = w.with_cluster(|c| c.produce_in(t, &topic, p, &records, codec));
        if chance(w.rng(), 0.3) {
            let commit = chance(w.rng(), 0.6);
            w.with_cluster(|c| if commit { c.commit(t) } else { c.abort(t) })
                .expect("open");
            w.note(format!(
                "producer {} txn {}",
                if commit { "commit" } else { "abort" },
                t.0
            ));
        }
        r
    } else {
        w.with_cluster(|c| c.produce(&topic, p, &records, codec))
    };
    match result {
        Ok((base, last)) => {
            counters.borrow_mut().produced += n;
            counters.borrow_mut().batches += 1;
            w.note(format!(
                "producer {topic}-{p} {base}..={last} {codec:?}{}",
                if txn { " txn" } else { "" }
            ));
        }
        Err(e) => w.note(format!("producer {topic}-{p}: {e}")),
    }
    let next = w.now() + jitter(w.rng(), swarm.produce_every);
    w.schedule(next, move |w| produce_tick(w, swarm, counters, until));
}

/// Somewhere between half and one and a half times `d`.
pub(crate) fn jitter(rng: &mut Rng, d: Duration) -> Duration {
    let us = d.as_micros();
    Duration::from_micros(rng.range_inclusive(us / 2, us + us / 2).max(1))
}

fn schedule_chaos(
    world: &mut World,
    swarm: &Swarm,
    counters: std::rc::Rc<std::cell::RefCell<Counters>>,
    until: Instant,
) {
    let swarm = swarm.clone();
    let at = world.now() + swarm.fault_every;
    world.schedule(at, move |w| chaos_tick(w, swarm, counters, until));
}

fn random_partition(w: &mut World, swarm: &Swarm) -> (String, i32) {
    let parts: Vec<(String, i32)> = swarm
        .cluster
        .topics
        .iter()
        .flat_map(|t| (0..t.partitions).map(move |p| (t.name.clone(), p)))
        .collect();
    parts[w.rng().range_inclusive(0, parts.len() as u64 - 1) as usize].clone()
}

fn chaos_tick(
    w: &mut World,
    swarm: Swarm,
    counters: std::rc::Rc<std::cell::RefCell<Counters>>,
    until: Instant,
) {
    if w.now() >= until {
        return;
    }
    let fault = pick(w.rng(), &swarm.faults);
    counters.borrow_mut().faults += 1;
    if let Some(kind) = apply_fault(w, &swarm, fault, until) {
        *counters.borrow_mut().effective.entry(kind).or_default() += 1;
    }
    let next = w.now() + jitter(w.rng(), swarm.fault_every);
    w.schedule(next, move |w| chaos_tick(w, swarm, counters, until));
}

/// Errors worth injecting per API: what a broker really answers there, retriable
/// or not, so the consumer's handling of each is exercised.
const INJECTABLE: [(ApiKey, &[ErrorCode]); 5] = [
    (
        ApiKey::Fetch,
        &[
            ErrorCode::NotLeaderOrFollower,
            ErrorCode::FencedLeaderEpoch,
            ErrorCode::UnknownLeaderEpoch,
            ErrorCode::UnknownTopicOrPartition,
            ErrorCode::KafkaStorageError,
            ErrorCode::FetchSessionIdNotFound,
            ErrorCode::InvalidFetchSessionEpoch,
            ErrorCode::UnknownServerError,
            ErrorCode::OffsetOutOfRange,
            ErrorCode::CorruptMessage,
            ErrorCode::OffsetNotAvailable,
            ErrorCode::ReplicaNotAvailable,
        ],
    ),
    (
        ApiKey::ListOffsets,
        &[
            ErrorCode::NotLeaderOrFollower,
            ErrorCode::LeaderNotAvailable,
            ErrorCode::OffsetNotAvailable,
            ErrorCode::FencedLeaderEpoch,
            ErrorCode::UnknownLeaderEpoch,
            ErrorCode::UnknownTopicOrPartition,
            ErrorCode::KafkaStorageError,
            ErrorCode::RequestTimedOut,
        ],
    ),
    (
        ApiKey::OffsetForLeaderEpoch,
        &[
            ErrorCode::NotLeaderOrFollower,
            ErrorCode::FencedLeaderEpoch,
            ErrorCode::UnknownLeaderEpoch,
            ErrorCode::UnknownTopicOrPartition,
            ErrorCode::KafkaStorageError,
        ],
    ),
    (
        ApiKey::Metadata,
        &[
            ErrorCode::LeaderNotAvailable,
            ErrorCode::UnknownTopicOrPartition,
        ],
    ),
    (
        ApiKey::ApiVersions,
        &[ErrorCode::UnknownServerError, ErrorCode::UnsupportedVersion],
    ),
];

/// Applies one fault; returns what took effect (`None`: nothing to act on, e.g.
/// no open connection, a broker already down, no other live replica).
pub(crate) fn apply_fault(
    w: &mut World,
    swarm: &Swarm,
    fault: Fault,
    until: Instant,
) -> Option<String> {
    let brokers = w.cluster().broker_ids();
    let broker = pick(w.rng(), &brokers);
    match fault {
        Fault::Reset => w.reset_random_connection().then(|| "reset".into()),
        Fault::Hang => w.hang_random_connection().then(|| "hang".into()),
        Fault::Partition => {
            let ids = w.consumer_ids();
            let c = pick(w.rng(), &ids);
            let len = Duration::from_millis(w.rng().range_inclusive(10, 3000));
            let heal = (w.now() + len).min(until);
            w.cut(c, broker, heal);
            Some("partition".into())
        }
        Fault::Crash => {
            if !w.cluster().is_up(broker) {
                return None;
            }
            w.note(format!("fault: crash b{broker}"));
            w.with_cluster(|c| c.crash_broker(broker));
            let down = Duration::from_millis(w.rng().range_inclusive(10, 3000));
            w.schedule(w.now() + down, move |w| {
                w.note(format!("fault: restart b{broker}"));
                w.with_cluster(|c| c.restart_broker(broker));
            });
            Some("crash".into())
        }
        Fault::MoveLeader => {
            let (t, p) = random_partition(w, swarm);
            // Only a live replica other than the leader can take over.
            let leader = w.cluster().view(&t, p).ok()?.leader;
            let candidates: Vec<i32> = w
                .cluster()
                .replicas(&t, p)
                .ok()?
                .into_iter()
                .filter(|&b| Some(b) != leader && w.cluster().is_up(b))
                .collect();
            if candidates.is_empty() {
                return None;
            }
            let to = pick(w.rng(), &candidates);
            let r = w.with_cluster(|c| c.move_leader(&t, p, to));
            w.note(format!("fault: move {t}-{p} to b{to}: {r:?}"));
            r.ok().map(|_| "move leader".into())
        }
        Fault::InjectError => {
            let (api, codes) = pick(w.rng(), &INJECTABLE);
            let code = pick(w.rng(), codes);
            let count = w.rng().range_inclusive(1, 3) as u32;
            // Half the time on one broker only, as a sick broker would.
            let on = chance(w.rng(), 0.5).then_some(broker);
            w.note(format!(
                "fault: inject {code:?} x{count} into {api:?} on {}",
                on.map_or("every broker".to_string(), |b| format!("b{b}"))
            ));
            w.with_cluster(|c| {
                c.inject_error(Injection {
                    api,
                    broker: on,
                    code,
                    count,
                })
            });
            Some(format!("inject {api:?}"))
        }
        Fault::Retention => {
            let (t, p) = random_partition(w, swarm);
            let v = w.cluster().view(&t, p).ok()?;
            if v.high_watermark <= v.log_start {
                return None;
            }
            let to = w
                .rng()
                .range_inclusive(v.log_start as u64 + 1, v.high_watermark as u64)
                as i64;
            let at = w.with_cluster(|c| c.delete_records(&t, p, to));
            w.note(format!("fault: retention {t}-{p} log start -> {at:?}"));
            at.ok().map(|_| "retention".into())
        }
        Fault::Truncate => {
            let (t, p) = random_partition(w, swarm);
            let v = w.cluster().view(&t, p).ok()?;
            let lo = v.log_start.max(v.high_watermark - 50);
            let to = w.rng().range_inclusive(lo as u64, v.high_watermark as u64) as i64;
            // The unclean election's winner: a live replica (or the leader stays).
            let live: Vec<i32> = w
                .cluster()
                .replicas(&t, p)
                .ok()?
                .into_iter()
                .filter(|&b| w.cluster().is_up(b))
                .collect();
            let leader = (!live.is_empty()).then(|| pick(w.rng(), &live));
            let r = w.with_cluster(|c| {
                c.truncate(&t, p, to, leader)
                    .or_else(|_| c.truncate(&t, p, to, None))
            });
            w.note(format!("fault: truncate {t}-{p} at {to} -> {r:?}"));
            r.ok().map(|_| "truncate".into())
        }
        Fault::StallReplication => {
            let len = Duration::from_millis(w.rng().range_inclusive(10, 3000));
            let until = w.now() + len;
            w.note(format!("fault: b{broker} replication stalls for {len:?}"));
            w.with_cluster(|c| c.stall_replication(broker, until));
            Some("stall replication".into())
        }
        Fault::SlowApp => {
            let ids = w.consumer_ids();
            let c = pick(w.rng(), &ids);
            let pause = Duration::from_millis(w.rng().range_inclusive(100, 5000));
            let normal = swarm.consumers[c.0].poll_every;
            w.note(format!("fault: consumer {} pauses {pause:?}", c.0));
            w.set_auto_poll(c, Some(pause));
            w.schedule(w.now() + pause, move |w| w.set_auto_poll(c, Some(normal)));
            Some("slow app".into())
        }
    }
}

/// Ends the safety phase: brokers up, the network whole, no injected errors, open
/// transactions decided, applications polling normally.
pub(crate) fn heal(w: &mut World, swarm: &Swarm) {
    w.note("liveness phase: faults off");
    w.heal();
    let brokers = w.cluster().broker_ids();
    w.with_cluster(|c| {
        for b in brokers {
            c.restart_broker(b);
        }
        c.clear_injections();
        c.resume_replication();
        for t in c.open_transactions() {
            let _ = c.commit(t);
        }
    });
    for (i, spec) in swarm.consumers.iter().enumerate() {
        w.set_auto_poll(ConsumerId(i), Some(spec.poll_every));
    }
}
