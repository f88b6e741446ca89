//! The consumer-group peers among themselves, before kasio has a group of its own:
//! one Java (kafka-clients) member and one librdkafka member share a group on
//! tansu and on librdkafka's mock cluster. librdkafka produces 60,000 records into
//! 12 partitions; the checks are the ones kasio's group will have to pass with these
//! peers beside it:
//!
//! - every record is consumed, with its produced content; a record is consumed twice
//!   only if it was not committed before it was read again (the duplicates are
//!   counted and printed);
//! - no partition is held by two members in one generation (classic protocol, from
//!   the rebalance callbacks);
//! - a member that leaves mid-run hands its partitions to the other;
//! - offsets one client commits are the group's position for the other
//!   ([`handover`]: Java → librdkafka → Java, each starting exactly at the last
//!   commit).
//!
//! The tests of this file run one at a time (they start JVMs and brokers on a
//! 2-core machine); each takes 10–20 s.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use kasio_sim::peers::{GroupPeer, PeerConfig, PeerEvent, PeerKind, RebalanceKind, Tp};
use kasio_sim::rig::{produce, MockCluster, ProduceSpec, Tansu};
use kasio_sim::workload::expected;

const TOPIC: &str = "peers";
const PARTITIONS: i32 = 12;
const RECORDS: u64 = 60_000;
const VALUE_SIZE: usize = 100;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A broker with the topic.
enum Broker {
    Tansu(Tansu),
    Mock(MockCluster),
}

impl Broker {
    fn tansu() -> Self {
        Broker::Tansu(Tansu::start(&[(TOPIC, PARTITIONS as u32)]))
    }

    /// Three brokers, replication 3, leaders spread; behind the proxy the Java
    /// client needs.
    fn mock() -> Self {
        let mut m = MockCluster::start_for_java(3, &[(TOPIC, PARTITIONS as u32, 3)]);
        for p in 0..PARTITIONS {
            m.set_leader(TOPIC, p, p % 3 + 1);
        }
        Broker::Mock(m)
    }

    fn bootstrap(&self) -> String {
        match self {
            Broker::Tansu(t) => t.bootstrap(),
            Broker::Mock(m) => m.bootstrap(),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Broker::Tansu(_) => "tansu",
            Broker::Mock(_) => "librdkafka-mock",
        }
    }

    /// Records `start..start + count` of the workload.
    fn produce(&self, start: u64, count: u64) {
        let mut spec = ProduceSpec::new(TOPIC, PARTITIONS as u32, count);
        spec.start = start;
        spec.value_size = VALUE_SIZE;
        let done = produce(&self.bootstrap(), &spec);
        assert_eq!(done.committed, count);
    }
}

fn all_partitions() -> BTreeSet<Tp> {
    (0..PARTITIONS).map(|p| (TOPIC.to_string(), p)).collect()
}

/// Records per partition once `records` are produced (record i goes to i % 12).
fn end_offset(partition: i32, records: u64) -> i64 {
    let p = partition as u64;
    let n = PARTITIONS as u64;
    (records / n + u64::from(records % n > p)) as i64
}

/// Pumps every peer until `cond` holds; panics after `timeout` or if one dies.
fn wait_all(
    peers: &mut [&mut GroupPeer],
    timeout: Duration,
    what: &str,
    cond: impl Fn(&[&mut GroupPeer]) -> bool,
) {
    let deadline = Instant::now() + timeout;
    while !cond(peers) {
        for p in peers.iter_mut() {
            p.assert_alive();
            p.pump(Duration::from_millis(20));
        }
        if Instant::now() > deadline {
            let state: Vec<String> = peers
                .iter()
                .map(|p| format!("{}: {}", p.label, p.describe()))
                .collect();
            panic!("timed out after {timeout:?} waiting for {what}: {state:#?}");
        }
    }
}

/// Distinct (partition, offset) pairs read by all `peers`.
fn distinct(peers: &[&GroupPeer]) -> usize {
    peers
        .iter()
        .flat_map(|p| p.records().map(|r| (r.partition, r.offset)))
        .collect::<BTreeSet<_>>()
        .len()
}

/// What the record checks found.
#[derive(Debug)]
struct Consumed {
    /// Reads of a record that had been read before.
    duplicates: usize,
    /// First offset each peer read per partition, in the order of `peers`.
    first: Vec<BTreeMap<i32, i64>>,
}

/// One read of a record: which peer, where in its log, whether a commit of that
/// peer covered it (see `covered`).
#[derive(Debug, Clone, Copy)]
struct Read {
    peer: usize,
    index: usize,
    covered: bool,
}

/// Every record of `0..records` was read with its produced content, and every
/// second read of a record comes after no commit covering it (see `covered`).
fn check_records(peers: &[&GroupPeer], records: u64) -> Consumed {
    let mut reads: HashMap<(i32, i64), Vec<Read>> = HashMap::new();
    let mut first = vec![BTreeMap::new(); peers.len()];
    for (pi, peer) in peers.iter().enumerate() {
        for (i, e) in peer.log.iter().enumerate() {
            let PeerEvent::Record(r) = e else { continue };
            assert_eq!(r.topic, TOPIC);
            let seq = r.offset as u64 * PARTITIONS as u64 + r.partition as u64;
            assert!(
                seq < records,
                "{}: offset {} of partition {} was never produced",
                peer.label,
                r.offset,
                r.partition
            );
            let want = expected(seq, VALUE_SIZE);
            assert_eq!(
                r.key, want.key,
                "{}: key of record {seq} ({}:{})",
                peer.label, r.partition, r.offset
            );
            assert_eq!(
                r.value_len,
                want.value.as_ref().map(Vec::len),
                "{}: value length of record {seq}",
                peer.label
            );
            first[pi].entry(r.partition).or_insert(r.offset);
            reads
                .entry((r.partition, r.offset))
                .or_default()
                .push(Read {
                    peer: pi,
                    index: i,
                    covered: covered(peer, i, r.partition, r.offset),
                });
        }
    }
    for p in 0..PARTITIONS {
        for o in 0..end_offset(p, records) {
            assert!(
                reads.contains_key(&(p, o)),
                "record {}:{o} was never consumed",
                p
            );
        }
    }
    let mut duplicates = 0;
    for ((p, o), rs) in &reads {
        if rs.len() < 2 {
            continue;
        }
        duplicates += rs.len() - 1;
        // A read whose commit covered the record may only be the last read of it:
        // within one peer the order is known; across peers, two covered reads mean
        // one of them came before another read.
        let covered: Vec<_> = rs.iter().filter(|r| r.covered).collect();
        assert!(
            covered.len() <= 1,
            "record {p}:{o} was read again after a commit covering it: {rs:?}"
        );
        for c in covered {
            assert!(
                !rs.iter().any(|r| r.peer == c.peer && r.index > c.index),
                "{}: record {p}:{o} read again after its own commit covering it",
                peers[c.peer].label
            );
        }
    }
    Consumed { duplicates, first }
}

/// Whether `peer` successfully committed past `offset` of `partition` after
/// reading it at `log[index]`, before giving the partition up.
fn covered(peer: &GroupPeer, index: usize, partition: i32, offset: i64) -> bool {
    for e in &peer.log[index + 1..] {
        match e {
            PeerEvent::Commit(c)
                if c.error.is_none()
                    && c.offsets
                        .iter()
                        .any(|(_, p, o)| *p == partition && o.is_some_and(|o| o > offset)) =>
            {
                return true;
            }
            PeerEvent::Rebalance(r)
                if r.kind != RebalanceKind::Assigned
                    && r.partitions.iter().any(|(_, p)| *p == partition) =>
            {
                return false;
            }
            _ => {}
        }
    }
    false
}

/// Classic protocol: in no generation did two members hold the same partition. A
/// member holds, in generation G, every partition of an assignment it reported in
/// G and every partition it revoked or lost in G.
fn check_generations(peers: &[&GroupPeer]) -> usize {
    let mut held: Vec<BTreeMap<i32, BTreeSet<Tp>>> = vec![BTreeMap::new(); peers.len()];
    for (pi, peer) in peers.iter().enumerate() {
        for r in peer.rebalances() {
            let Some(gen) = r.gen.filter(|g| *g >= 0) else {
                continue;
            };
            let set = held[pi].entry(gen).or_default();
            set.extend(r.assignment.iter().cloned());
            if r.kind != RebalanceKind::Assigned {
                set.extend(r.partitions.iter().cloned());
            }
        }
    }
    let gens: BTreeSet<i32> = held.iter().flat_map(|h| h.keys().copied()).collect();
    for gen in &gens {
        for a in 0..peers.len() {
            for b in a + 1..peers.len() {
                let (Some(x), Some(y)) = (held[a].get(gen), held[b].get(gen)) else {
                    continue;
                };
                let both: Vec<_> = x.intersection(y).collect();
                assert!(
                    both.is_empty(),
                    "generation {gen}: {} and {} both held {both:?}",
                    peers[a].label,
                    peers[b].label
                );
            }
        }
    }
    gens.len()
}

/// The last successful commit per partition.
fn last_commits(peer: &GroupPeer) -> BTreeMap<i32, i64> {
    let mut out = BTreeMap::new();
    for c in peer.commits().filter(|c| c.error.is_none()) {
        for (_, p, o) in &c.offsets {
            if let Some(o) = o {
                out.insert(*p, *o);
            }
        }
    }
    out
}

/// The group's committed offsets read back through `peer` (OffsetFetch).
fn committed(peer: &mut GroupPeer) -> BTreeMap<i32, Option<i64>> {
    let all: Vec<Tp> = all_partitions().into_iter().collect();
    peer.committed(&all)
        .into_iter()
        .map(|(_, p, o)| (p, o))
        .collect()
}

fn peer_config(broker: &Broker, group: &str) -> PeerConfig {
    let mut cfg = PeerConfig::new(&broker.bootstrap(), group, TOPIC);
    cfg.max_poll_records = Some(100);
    if let Broker::Mock(_) = broker {
        // A join round on the mock lasts session.timeout.ms - 1 s whoever has
        // rejoined (tansu holds each JoinGroup for half of it, hence the default
        // 3 s); 4 s keeps the rounds short while a member slowed down by a loaded
        // machine (the Java client behind the proxy) is not evicted mid-join.
        cfg.session_timeout_ms = Some(4_000);
    }
    cfg
}

/// How a member leaves mid-run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leave {
    /// `close()`: revoke (committing what it read), LeaveGroup.
    Stop,
    /// SIGKILL: no commit, no LeaveGroup; the coordinator notices when the session
    /// times out.
    Kill,
}

/// One Java and one librdkafka member in `group`; both take partitions, 60,000
/// records are produced, `leaver` leaves (`how`) once a third are read, the other
/// takes over and reads the rest. Panics on any failed check.
fn mixed_group(
    broker: &Broker,
    group: &str,
    cfg: PeerConfig,
    (leaver, how): (PeerKind, Leave),
    classic: bool,
) {
    let started = Instant::now();
    let mut java = GroupPeer::java(&cfg);
    let mut rdk = GroupPeer::rdkafka(&cfg);
    wait_all(
        &mut [&mut java, &mut rdk],
        Duration::from_secs(40),
        "both members to hold partitions",
        |ps| {
            let (a, b) = (ps[0].assignment(), ps[1].assignment());
            !a.is_empty()
                && !b.is_empty()
                && a.is_disjoint(&b)
                && a.union(&b).cloned().collect::<BTreeSet<_>>() == all_partitions()
        },
    );
    let joined = started.elapsed();
    broker.produce(0, RECORDS);
    wait_all(
        &mut [&mut java, &mut rdk],
        Duration::from_secs(40),
        "a third of the records, some read by each member",
        |ps| {
            ps[0].record_count() + ps[1].record_count() >= RECORDS as usize / 3
                && ps[0].record_count() >= 500
                && ps[1].record_count() >= 500
        },
    );
    let (gone, stays) = match leaver {
        PeerKind::Java => (&mut java, &mut rdk),
        PeerKind::Rdkafka => (&mut rdk, &mut java),
    };
    let left_behind = gone.assignment();
    match how {
        Leave::Stop => gone.stop(),
        Leave::Kill => gone.kill(),
    }
    let gone: &GroupPeer = gone;
    stays.wait_until(
        Duration::from_secs(40),
        "the remaining member to take every partition and every record",
        |p| {
            p.assignment() == all_partitions()
                && p.record_count() + gone.record_count() >= RECORDS as usize
                && distinct(&[p, gone]) == RECORDS as usize
        },
    );
    // Everything is committed: the group's position is the end of every partition.
    let positions = committed(stays);
    for p in 0..PARTITIONS {
        assert_eq!(
            positions[&p],
            Some(end_offset(p, RECORDS)),
            "{}: committed offset of partition {p}",
            stays.label
        );
    }
    stays.stop();

    let consumed = check_records(&[&java, &rdk], RECORDS);
    let gens = if classic {
        check_generations(&[&java, &rdk])
    } else {
        0
    };
    let (gone, stays) = match leaver {
        PeerKind::Java => (&java, &rdk),
        PeerKind::Rdkafka => (&rdk, &java),
    };
    let taken_over: BTreeSet<i32> = stays
        .records()
        .filter(|r| left_behind.contains(&(r.topic.clone(), r.partition)))
        .map(|r| r.partition)
        .collect();
    assert!(
        !taken_over.is_empty(),
        "{} read nothing from {}'s partitions {left_behind:?}",
        stays.label,
        gone.label
    );
    for peer in [&java, &rdk] {
        let fatal: Vec<_> = peer.errors().filter(|e| e.0).collect();
        assert!(fatal.is_empty(), "{}: {fatal:?}", peer.label);
    }
    let failed = |p: &GroupPeer| p.commits().filter(|c| c.error.is_some()).count();
    println!(
        "{} {group}: joined in {joined:.1?}, total {:.1?}; java read {}, rdkafka read {}; \
         duplicates {} (none after a covering commit); generations {gens}; \
         failed commits java {} rdkafka {}; {} left ({how:?}), {} took partitions {taken_over:?}",
        broker.name(),
        started.elapsed(),
        java.record_count(),
        rdk.record_count(),
        consumed.duplicates,
        failed(&java),
        failed(&rdk),
        gone.label,
        stays.label,
    );
}

/// Java reads part of the records, pauses (everything it read is committed) and
/// leaves; librdkafka joins the group alone, finds Java's commits as the group's
/// offsets and starts exactly there, reads more and leaves; Java comes back and
/// starts exactly at librdkafka's commits. Nothing is read twice.
fn handover(broker: &Broker, group: &str) {
    let started = Instant::now();
    let first_batch = 40_000;
    broker.produce(0, first_batch);
    let cfg = {
        let mut c = peer_config(broker, group);
        c.max_poll_records = Some(50);
        c
    };

    let mut java = GroupPeer::java(&cfg);
    java.wait_until(Duration::from_secs(40), "10,000 records", |p| {
        p.record_count() >= 10_000
    });
    java.pause();
    java.stop();
    let c1 = last_commits(&java);
    assert_eq!(
        c1,
        next_offsets(&java),
        "java: a record read but not committed"
    );

    // Started paused: the group's offsets are read back before it consumes.
    let paused = PeerConfig {
        paused: true,
        ..cfg.clone()
    };
    let mut rdk = GroupPeer::rdkafka(&paused);
    rdk.wait_until(Duration::from_secs(40), "the assignment", |p| {
        p.assignment() == all_partitions()
    });
    assert_eq!(
        committed(&mut rdk),
        as_positions(&c1),
        "librdkafka reads back other offsets than Java committed"
    );
    rdk.resume();
    rdk.wait_until(Duration::from_secs(40), "25,000 records in all", |p| {
        distinct(&[p, &java]) >= 25_000
    });
    rdk.pause();
    rdk.stop();
    let c2 = last_commits(&rdk);
    assert_eq!(
        c2,
        next_offsets(&rdk),
        "rdkafka: a record read but not committed"
    );

    broker.produce(first_batch, RECORDS - first_batch);
    let mut java2 = GroupPeer::java(&paused);
    java2.wait_until(Duration::from_secs(40), "the assignment", |p| {
        p.assignment() == all_partitions()
    });
    let mut want = c1.clone();
    want.extend(c2.iter());
    assert_eq!(
        committed(&mut java2),
        as_positions(&want),
        "Java reads back other offsets than librdkafka committed"
    );
    java2.resume();
    java2.wait_until(Duration::from_secs(40), "every record", |p| {
        distinct(&[p, &java, &rdk]) == RECORDS as usize
    });
    let end: BTreeMap<i32, Option<i64>> = (0..PARTITIONS)
        .map(|p| (p, Some(end_offset(p, RECORDS))))
        .collect();
    assert_eq!(committed(&mut java2), end);
    java2.stop();

    let consumed = check_records(&[&java, &rdk, &java2], RECORDS);
    assert_eq!(
        consumed.duplicates, 0,
        "a clean hand-over reads nothing twice"
    );
    // Each member started every partition it read exactly at the last commit.
    for (i, (label, position)) in [(&rdk.label, &c1), (&java2.label, &want)]
        .into_iter()
        .enumerate()
    {
        for (p, o) in &consumed.first[i + 1] {
            assert_eq!(
                *o,
                position.get(p).copied().unwrap_or(0),
                "{label}: first offset read from partition {p}"
            );
        }
    }
    println!(
        "{} {group}: java read {}, rdkafka {}, java again {}; each started at the \
         other's commits; no duplicates; {:.1?}",
        broker.name(),
        java.record_count(),
        rdk.record_count(),
        java2.record_count(),
        started.elapsed()
    );
}

/// Per partition, the offset after the last record `peer` read.
fn next_offsets(peer: &GroupPeer) -> BTreeMap<i32, i64> {
    let mut out = BTreeMap::new();
    for r in peer.records() {
        let e = out.entry(r.partition).or_insert(0);
        *e = (*e).max(r.offset + 1);
    }
    out
}

fn as_positions(commits: &BTreeMap<i32, i64>) -> BTreeMap<i32, Option<i64>> {
    (0..PARTITIONS)
        .map(|p| (p, commits.get(&p).copied()))
        .collect()
}

/// [`mixed_group`] on a fresh broker, one test at a time; `assignor` None: KIP-848.
fn run_mixed(
    broker: fn() -> Broker,
    group: &str,
    assignor: Option<&str>,
    leaver: (PeerKind, Leave),
) {
    let _serial = serial();
    let broker = broker();
    let cfg = peer_config(&broker, group);
    let (cfg, classic) = match assignor {
        Some(a) => (cfg.with_assignor(a), true),
        None => (cfg.consumer_protocol(), false),
    };
    mixed_group(&broker, group, cfg, leaver, classic);
}

/// [`handover`] on a fresh broker, one test at a time.
fn run_handover(broker: fn() -> Broker) {
    let _serial = serial();
    handover(&broker(), "peers-handover");
}

#[test]
fn tansu_range_java_leaves_rdkafka_takes_over() {
    run_mixed(
        Broker::tansu,
        "peers-range",
        Some("range"),
        (PeerKind::Java, Leave::Stop),
    );
}

#[test]
fn tansu_cooperative_sticky_rdkafka_leaves_java_takes_over() {
    run_mixed(
        Broker::tansu,
        "peers-coop",
        Some("cooperative-sticky"),
        (PeerKind::Rdkafka, Leave::Stop),
    );
}

/// A crash: the Java member is SIGKILLed; librdkafka gets its partitions once the
/// session times out and reads on from Java's last commits.
#[test]
fn tansu_range_java_killed_rdkafka_takes_over() {
    run_mixed(
        Broker::tansu,
        "peers-kill",
        Some("range"),
        (PeerKind::Java, Leave::Kill),
    );
}

#[test]
fn tansu_committed_offsets_hand_over_between_clients() {
    run_handover(Broker::tansu);
}

#[test]
fn mock_range_java_leaves_rdkafka_takes_over() {
    run_mixed(
        Broker::mock,
        "peers-range",
        Some("range"),
        (PeerKind::Java, Leave::Stop),
    );
}

#[test]
fn mock_cooperative_sticky_rdkafka_leaves_java_takes_over() {
    run_mixed(
        Broker::mock,
        "peers-coop",
        Some("cooperative-sticky"),
        (PeerKind::Rdkafka, Leave::Stop),
    );
}

#[test]
fn mock_committed_offsets_hand_over_between_clients() {
    run_handover(Broker::mock);
}

/// KIP-848 (`group.protocol=consumer`, ConsumerGroupHeartbeat) with both clients:
/// only the mock has the coordinator. Member epochs are per member, so there is no
/// generation-wide ownership check.
#[test]
fn mock_kip848_java_leaves_rdkafka_takes_over() {
    run_mixed(
        Broker::mock,
        "peers-848",
        None,
        (PeerKind::Java, Leave::Stop),
    );
}

/// tansu has no ConsumerGroupHeartbeat: the Java client says so at once (a fatal
/// error from poll). (librdkafka logs "ConsumerGroupHeartbeatRequest not supported
/// by broker" at debug level only and waits forever, so it is not run here.)
#[test]
fn tansu_refuses_kip848_java_says_so() {
    let _serial = serial();
    let broker = Broker::tansu();
    let cfg = peer_config(&broker, "peers-848").consumer_protocol();
    let mut java = GroupPeer::java(&cfg);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !java.errors().any(|(fatal, _)| fatal) {
        assert!(
            Instant::now() < deadline,
            "no error from the Java client: {:?}",
            java.log
        );
        java.pump(Duration::from_millis(100));
    }
    let (_, error) = java.errors().find(|e| e.0).expect("fatal error");
    assert!(
        error.contains("does not support the new CONSUMER group protocol"),
        "{error}"
    );
    assert!(java.rebalances().next().is_none());
}
