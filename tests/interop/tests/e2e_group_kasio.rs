//! kasio's consumer group, on both drivers (the `kasio_group_peer` binary on
//! kasio-std, `kasio_tokio_group_peer` on kasio-tokio), with peers nobody here
//! wrote: Java (kafka-clients) and librdkafka members in one group on tansu with a
//! kasio-std and a kasio-tokio member, committed offsets handed between the
//! clients (through both kasio drivers), a SIGKILLed kasio member that comes back,
//! a static kasio member restarted within its session (kasio-sim's coordinator,
//! and tansu's known limit); the last two once per driver (`*_tokio` tests, rows
//! `tokio/<row>`). librdkafka produces the records; the checks
//! ([`kasio_sim::peers::checks`]) are the ones the peers passed among themselves
//! (`e2e_group_peers.rs`):
//!
//! - every record is consumed, with its produced content; a record is read twice
//!   only if no commit covered the earlier read (duplicates are counted and
//!   printed);
//! - in no generation is a partition held by two members;
//! - at the end the group's committed offsets are the end of every partition.
//!
//! The tests of this file run one at a time (JVMs and brokers on a 2-core machine).

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kasio_sim::peers::broker::GroupBroker;
use kasio_sim::peers::checks::{
    self, assert_no_fatal, check_generations, distinct, last_commits, wait_all, Workload,
};
use kasio_sim::peers::{GroupPeer, PeerConfig, PeerKind, RebalanceKind};
use kasio_sim::rig::{produce, report, ProduceSpec};

const TOPIC: &str = "kgroup";
const PARTITIONS: i32 = 12;
const RECORDS: u64 = 60_000;

const W: Workload = Workload {
    topic: TOPIC,
    partitions: PARTITIONS,
    value_size: 100,
};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn config(broker: &GroupBroker, group: &str) -> PeerConfig {
    broker.member(&W, group)
}

/// Produces records `start..start + count` in the background (members consume
/// them meanwhile).
fn produce_async(broker: &GroupBroker, start: u64, count: u64) -> JoinHandle<()> {
    let bootstrap = broker.bootstrap();
    std::thread::spawn(move || {
        let mut spec = ProduceSpec::new(TOPIC, PARTITIONS as u32, count);
        spec.start = start;
        spec.value_size = W.value_size;
        assert_eq!(produce(&bootstrap, &spec).committed, count);
    })
}

/// Every member holds partitions, none twice, all of them held.
fn settled(peers: &[&mut GroupPeer]) -> bool {
    W.settled(peers)
}

/// Waits until `peers` share every partition and have read `records` in all
/// (with `gone`, members that left).
fn settle_and_read(peers: &mut [&mut GroupPeer], gone: &[&GroupPeer], records: u64, what: &str) {
    wait_all(peers, Duration::from_secs(40), what, |ps| {
        let mut all: Vec<&GroupPeer> = gone.to_vec();
        all.extend(ps.iter().map(|p| &**p));
        settled(ps) && distinct(&all) == records as usize
    });
}

/// The kasio drivers of `peers` (kasio-std first), for the interop matrix.
fn drivers(peers: &[&GroupPeer]) -> Vec<&'static str> {
    let kinds: BTreeSet<&'static str> = peers.iter().filter_map(|p| p.kind().driver()).collect();
    let mut drivers: Vec<&'static str> = kinds.into_iter().collect();
    drivers.sort_by_key(|d| *d != "kasio-std");
    drivers
}

/// How many commits failed, and why (each reason once).
fn failed_commits(p: &GroupPeer) -> String {
    let reasons: BTreeSet<&str> = p.commits().filter_map(|c| c.error.as_deref()).collect();
    match p.commits().filter(|c| c.error.is_some()).count() {
        0 => "no failed commits".into(),
        n => format!("{n} failed commits: {reasons:?}"),
    }
}

fn summary(peers: &[&GroupPeer]) -> String {
    peers
        .iter()
        .map(|p| {
            format!(
                "{} read {} ({})",
                p.label,
                p.record_count(),
                failed_commits(p)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Two kasio members, one librdkafka and one Java member in one group on tansu,
/// with members joining and leaving while records flow: kasio-1 (kasio-std),
/// librdkafka and Java start; then, each while a quarter of the records is
/// produced and read, a second kasio member joins (on kasio-tokio), Java leaves,
/// kasio-1 leaves, a third kasio member joins (kasio-std) and (once the group has
/// formed again) librdkafka leaves. The two kasio members left, one per driver,
/// read to the end.
fn mixed_group(assignor: &str, group: &str, row: &str) {
    let _serial = serial();
    let started = Instant::now();
    let broker = GroupBroker::tansu(&W);
    let cfg = config(&broker, group).with_assignor(assignor);
    let mut k1 = GroupPeer::kasio(&cfg);
    let mut rdk = GroupPeer::rdkafka(&cfg);
    let mut java = GroupPeer::java(&cfg);
    wait_all(
        &mut [&mut k1, &mut rdk, &mut java],
        Duration::from_secs(40),
        "kasio, librdkafka and Java to share the partitions",
        settled,
    );
    let joined = started.elapsed();
    let quarter = RECORDS / 4;

    let producing = produce_async(&broker, 0, quarter);
    let mut k2 = GroupPeer::kasio_tokio(&cfg);
    producing.join().unwrap();
    settle_and_read(
        &mut [&mut k1, &mut rdk, &mut java, &mut k2],
        &[],
        quarter,
        "a second kasio member (kasio-tokio) to join",
    );

    let producing = produce_async(&broker, quarter, quarter);
    java.stop();
    producing.join().unwrap();
    settle_and_read(
        &mut [&mut k1, &mut rdk, &mut k2],
        &[&java],
        2 * quarter,
        "Java's partitions to move",
    );

    let producing = produce_async(&broker, 2 * quarter, quarter);
    k1.stop();
    producing.join().unwrap();
    settle_and_read(
        &mut [&mut rdk, &mut k2],
        &[&java, &k1],
        3 * quarter,
        "kasio-1's partitions to move",
    );

    let producing = produce_async(&broker, 3 * quarter, RECORDS - 3 * quarter);
    let mut k3 = GroupPeer::kasio(&cfg);
    wait_all(
        &mut [&mut rdk, &mut k2, &mut k3],
        Duration::from_secs(40),
        "a third kasio member to join",
        settled,
    );
    // Only once the group has formed: a leader that leaves a forming group stalls
    // tansu for good (see scripts/rig/README.md).
    rdk.stop();
    producing.join().unwrap();
    settle_and_read(
        &mut [&mut k2, &mut k3],
        &[&java, &k1, &rdk],
        RECORDS,
        "the last two kasio members to read the rest",
    );
    // Once both answered a command, everything they read is committed.
    k3.pause();
    k2.pause();
    assert_eq!(W.committed(&mut k2), W.ends(RECORDS), "the group's offsets");
    k3.stop();
    k2.stop();

    let all = [&k1, &rdk, &java, &k2, &k3];
    let consumed = W.check_records(&all, RECORDS);
    let gens = check_generations(&all);
    for p in all {
        assert_no_fatal(p);
        assert!(p.record_count() > 0, "{} read nothing", p.label);
    }
    println!(
        "tansu {assignor}: joined in {joined:.1?}, total {:.1?}; {}; duplicates {} (none \
         after a covering commit); generations {gens:?}",
        started.elapsed(),
        summary(&all),
        consumed.duplicates,
    );
    let drivers = drivers(&all);
    assert_eq!(drivers, ["kasio-std", "kasio-tokio"]);
    report(row, "tansu", &drivers, RECORDS);
}

#[test]
fn tansu_mixed_group_range() {
    mixed_group("range", "kasio-mixed-range", "group/mixed-range");
}

#[test]
fn tansu_mixed_group_cooperative_sticky() {
    mixed_group(
        "cooperative-sticky",
        "kasio-mixed-coop",
        "group/mixed-cooperative-sticky",
    );
}

/// Committed offsets handed along Java → kasio-std → librdkafka → kasio-tokio →
/// Java, each member alone in the group, starting exactly at the previous one's
/// commits (read back through its own client first), nothing read twice.
#[test]
fn tansu_committed_offsets_hand_over_through_kasio() {
    let _serial = serial();
    let started = Instant::now();
    let broker = GroupBroker::tansu(&W);
    let cfg = PeerConfig {
        max_poll_records: Some(50),
        ..config(&broker, "kasio-handover")
    };
    let chain = [
        PeerKind::Java,
        PeerKind::Kasio,
        PeerKind::Rdkafka,
        PeerKind::KasioTokio,
        PeerKind::Java,
    ];
    let peers = checks::handover(&W, &cfg, &chain, (40_000, RECORDS), |start, n| {
        broker.produce(&W, start, n)
    });
    let reads: Vec<String> = peers
        .iter()
        .map(|p| format!("{} {}", p.label, p.record_count()))
        .collect();
    println!(
        "tansu hand-over: {}; each started at the previous one's commits; no duplicates; \
         {:.1?}",
        reads.join(" → "),
        started.elapsed()
    );
    let all: Vec<&GroupPeer> = peers.iter().collect();
    report("group/handover", "tansu", &drivers(&all), RECORDS);
}

/// What a member read after its last reported commit of each partition: the
/// records a next owner may read again. (A SIGKILL can fall between a commit's
/// answer and the line reporting it: that last commit's records are then here but
/// are not read again.)
fn read_after_last_commit(p: &GroupPeer) -> BTreeSet<(i32, i64)> {
    let commits = last_commits(p);
    p.records()
        .filter(|r| commits.get(&r.partition).is_none_or(|c| r.offset >= *c))
        .map(|r| (r.partition, r.offset))
        .collect()
}

/// Every record read twice over `all` is one `killed` read after its last commit:
/// returns how many it read after its last reported commit and how many were read
/// twice.
fn assert_rereads_uncommitted(killed: &GroupPeer, all: &[&GroupPeer]) -> (usize, usize) {
    let mut seen = BTreeSet::new();
    let mut twice = BTreeSet::new();
    for r in all.iter().flat_map(|p| p.records()) {
        if !seen.insert((r.partition, r.offset)) {
            twice.insert((r.partition, r.offset));
        }
    }
    let uncommitted = read_after_last_commit(killed);
    assert!(
        twice.is_subset(&uncommitted),
        "records read twice that {} had committed: {:?}",
        killed.label,
        twice.difference(&uncommitted).collect::<Vec<_>>()
    );
    (uncommitted.len(), twice.len())
}

#[test]
fn tansu_kasio_member_killed_and_restarted() {
    kasio_member_killed_and_restarted(PeerKind::Kasio, "kasio-crash", "group/crash-restart");
}

#[test]
fn tansu_kasio_member_killed_and_restarted_tokio() {
    kasio_member_killed_and_restarted(
        PeerKind::KasioTokio,
        "kasio-crash-tokio",
        "tokio/group/crash-restart",
    );
}

/// A kasio member (`kind`: either driver) with auto-commit (every second) is
/// SIGKILLed mid-run (no commit, no LeaveGroup) and a new kasio process of the
/// same driver (manual commits) starts at once; librdkafka's member stays. Once
/// tansu has noticed the dead member (its session), the group rebalances and the
/// restarted member reads on from the group's offsets: nothing is lost, and the
/// records read twice are exactly those the killed member read after its last
/// commit.
fn kasio_member_killed_and_restarted(kind: PeerKind, group: &str, row: &str) {
    let _serial = serial();
    let started = Instant::now();
    let broker = GroupBroker::tansu(&W);
    let cfg = config(&broker, group);
    let auto = PeerConfig {
        auto_commit: true,
        extra: vec![("auto.commit.interval.ms".into(), "1000".into())],
        ..cfg.clone()
    };
    let mut k1 = GroupPeer::start(kind, &auto);
    let mut rdk = GroupPeer::rdkafka(&cfg);
    wait_all(
        &mut [&mut k1, &mut rdk],
        Duration::from_secs(40),
        "kasio and librdkafka to share the partitions",
        settled,
    );
    // Half the records, all read and (auto-)committed; then, while the other half
    // is produced, the kill.
    let half = RECORDS / 2;
    broker.produce(&W, 0, half);
    wait_all(
        &mut [&mut k1, &mut rdk],
        Duration::from_secs(40),
        "the first half read and committed",
        |ps| {
            distinct(&[&*ps[0], &*ps[1]]) == half as usize
                && last_commits(ps[0]).values().sum::<i64>() == ps[0].record_count() as i64
        },
    );
    let before = k1.record_count();
    let producing = produce_async(&broker, half, RECORDS - half);
    k1.wait_until(Duration::from_secs(40), "1,000 more records", |p| {
        p.record_count() >= before + 1_000
    });
    k1.kill();
    let killed = Instant::now();
    let mut k2 = GroupPeer::start(kind, &cfg);
    wait_all(
        &mut [&mut rdk, &mut k2],
        Duration::from_secs(40),
        "the restarted kasio member to hold partitions",
        settled,
    );
    let recovered = killed.elapsed();
    producing.join().unwrap();
    settle_and_read(&mut [&mut rdk, &mut k2], &[&k1], RECORDS, "every record");
    k2.pause();
    rdk.pause();
    assert_eq!(W.committed(&mut k2), W.ends(RECORDS), "the group's offsets");
    k2.stop();
    rdk.stop();

    let all = [&k1, &rdk, &k2];
    let consumed = W.check_records(&all, RECORDS);
    let gens = check_generations(&all);
    let (uncommitted, twice) = assert_rereads_uncommitted(&k1, &all);
    for p in [&rdk, &k2] {
        assert_no_fatal(p);
    }
    println!(
        "tansu {} crash: killed after {} records; it had read {} records after its last \
         commit, {} of them read again ({} duplicates in all, none of a committed record); \
         the restarted member held partitions {recovered:.1?} after the kill; {}; \
         generations {gens:?}; total {:.1?}",
        kind.name(),
        k1.record_count(),
        uncommitted,
        twice,
        consumed.duplicates,
        summary(&all),
        started.elapsed()
    );
    report(row, "tansu", &drivers(&all), RECORDS);
}

/// How a static restart is set up.
struct StaticRun {
    /// The static kasio member's driver (killed and restarted on the same).
    kind: PeerKind,
    /// `session.timeout.ms` of both members.
    session_ms: u32,
    /// kasio joins first, and joins again when librdkafka joins (its subscription
    /// then carries generation 0); else librdkafka first (the leader), and kasio
    /// joins once (its subscription carries generation -1, as the restarted
    /// process's does).
    kasio_first: bool,
    records: u64,
}

/// What a static restart showed.
struct StaticOutcome {
    /// From the kill until the restarted member had its partitions back.
    back: Duration,
    /// The generation the killed member had, and the restarted one got.
    gen: Option<i32>,
    /// Generations seen over the run.
    gens: BTreeSet<i32>,
    /// What the killed member read after its last reported commit, and how many
    /// records were read twice.
    uncommitted: usize,
    twice: usize,
    /// Records per member.
    summary: String,
    /// The kasio drivers that took part.
    drivers: Vec<&'static str>,
}

/// A static kasio member (`group.instance.id`) beside a static librdkafka member,
/// SIGKILLed mid-run and restarted at once with the same instance id: it must get
/// its partitions back in the same generation with no rebalance of the other
/// member; then the rest is read, nothing lost, and only records the killed member
/// read after its last commit are read twice.
fn static_restart(broker: &GroupBroker, group: &str, run: &StaticRun) -> StaticOutcome {
    let mut cfg = config(broker, group);
    cfg.session_timeout_ms = Some(run.session_ms);
    let kasio_cfg = PeerConfig {
        instance_id: Some("kasio-static-1".into()),
        ..cfg.clone()
    };
    let rdk_cfg = PeerConfig {
        instance_id: Some("rdkafka-static-1".into()),
        ..cfg
    };
    let first_assigned = |p: &mut GroupPeer| {
        p.wait_until(Duration::from_secs(20), "its assignment", |p| {
            !p.assignment().is_empty()
        })
    };
    let (mut k1, mut rdk) = if run.kasio_first {
        let mut k1 = GroupPeer::start(run.kind, &kasio_cfg);
        first_assigned(&mut k1);
        (k1, GroupPeer::rdkafka(&rdk_cfg))
    } else {
        let mut rdk = GroupPeer::rdkafka(&rdk_cfg);
        first_assigned(&mut rdk);
        (GroupPeer::start(run.kind, &kasio_cfg), rdk)
    };
    wait_all(
        &mut [&mut k1, &mut rdk],
        Duration::from_secs(40),
        "the static members to share the partitions",
        settled,
    );
    let producing = produce_async(broker, 0, run.records);
    k1.wait_until(Duration::from_secs(40), "2,000 records", |p| {
        p.record_count() >= 2_000
    });
    let held = k1.assignment();
    let gen = k1.rebalances().last().and_then(|r| r.gen);
    k1.kill();
    let killed = Instant::now();
    let mut k2 = GroupPeer::start(run.kind, &kasio_cfg);
    rdk.pump(Duration::ZERO);
    let seen = rdk.rebalances().count();
    first_assigned(&mut k2);
    let back = killed.elapsed();
    let again = k2.rebalances().next().expect("assigned").clone();
    assert_eq!(again.kind, RebalanceKind::Assigned);
    assert_eq!(again.assignment, held, "the restarted member's partitions");
    assert_eq!(again.gen, gen, "the restarted member's generation");
    producing.join().unwrap();

    settle_and_read(
        &mut [&mut rdk, &mut k2],
        &[&k1],
        run.records,
        "every record",
    );
    k2.pause();
    rdk.pause();
    assert_eq!(
        W.committed(&mut k2),
        W.ends(run.records),
        "the group's offsets"
    );
    k2.stop();
    rdk.stop();
    // librdkafka's callbacks since the kill: only the revoke of its own close
    // (librdkafka no longer says the generation then).
    let kinds: Vec<_> = rdk.rebalances().skip(seen).map(|r| r.kind).collect();
    assert_eq!(
        kinds,
        [RebalanceKind::Revoked],
        "librdkafka saw a rebalance"
    );
    let all = [&k1, &rdk, &k2];
    W.check_records(&all, run.records);
    // The killed and the restarted member are one static member: each is checked
    // against the other member.
    let mut gens = check_generations(&[&k1, &rdk]);
    gens.extend(check_generations(&[&k2, &rdk]));
    let (uncommitted, twice) = assert_rereads_uncommitted(&k1, &all);
    for p in [&rdk, &k2] {
        assert_no_fatal(p);
    }
    StaticOutcome {
        back,
        gen,
        gens,
        uncommitted,
        twice,
        summary: summary(&all),
        drivers: drivers(&all),
    }
}

impl std::fmt::Display for StaticOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "partitions back {:.1?} after the kill, generation {:?} kept ({:?} over the \
             run); the killed member had read {} records after its last reported commit, {} \
             of them read again; {}",
            self.back, self.gen, self.gens, self.uncommitted, self.twice, self.summary
        )
    }
}

#[test]
fn sim_static_kasio_member_restarted_keeps_its_partitions() {
    sim_static_restart(PeerKind::Kasio, "group/static-restart-sim");
}

#[test]
fn sim_static_kasio_member_restarted_keeps_its_partitions_tokio() {
    sim_static_restart(PeerKind::KasioTokio, "tokio/group/static-restart-sim");
}

/// KIP-345 against a coordinator that does it right (kasio-sim's, as Kafka's
/// `GroupMetadataManager`): the restarted static kasio member (`kind`) rejoins
/// under its instance id within `session.timeout.ms`, gets its partitions back in
/// the same generation, and the other member sees no rebalance at all.
fn sim_static_restart(kind: PeerKind, row: &str) {
    let _serial = serial();
    let started = Instant::now();
    let run = StaticRun {
        kind,
        // kasio-sim (as Kafka) accepts sessions from 6 s.
        session_ms: 6_000,
        kasio_first: true,
        records: 24_000,
    };
    let broker = GroupBroker::sim(&W);
    let group = "kasio-static";
    let outcome = static_restart(&broker, group, &run);
    let (_, generation, _) = broker
        .served()
        .with_cluster(|c| c.group_state(group))
        .expect("the group exists");
    assert_eq!(
        Some(generation),
        outcome.gen,
        "the group's generation moved"
    );
    println!(
        "kasio-sim static restart ({}): {outcome}; total {:.1?}",
        kind.name(),
        started.elapsed()
    );
    report(row, "kasio-sim", &outcome.drivers, run.records);
}

/// tansu and a restarted static member whose subscription is byte for byte the
/// one tansu stored (kasio joined once, with generation -1 in its subscription, as
/// the restarted process sends): tansu gives it back its member id, generation and
/// assignment, and the other member sees no rebalance; but only after holding the
/// static member's JoinGroup (at least 3 s, tansu's `PAUSE_MS`, or half the
/// session) and its SyncGroup (3 s), where Kafka answers at once. Neither request
/// refreshes the member's session (only heartbeats do), so the session must outlast
/// those holds plus the restart, or another member's heartbeat evicts the member
/// first and the group rebalances (scripts/rig/README.md): 10 s here.
#[test]
fn tansu_static_kasio_member_restarted_same_subscription_after_6s() {
    tansu_static_restart(PeerKind::Kasio, "group/static-restart-tansu");
}

#[test]
fn tansu_static_kasio_member_restarted_same_subscription_after_6s_tokio() {
    tansu_static_restart(PeerKind::KasioTokio, "tokio/group/static-restart-tansu");
}

fn tansu_static_restart(kind: PeerKind, row: &str) {
    let _serial = serial();
    let started = Instant::now();
    let run = StaticRun {
        kind,
        session_ms: 10_000,
        kasio_first: false,
        records: 24_000,
    };
    let broker = GroupBroker::tansu(&W);
    let outcome = static_restart(&broker, "kasio-static", &run);
    assert!(
        outcome.back >= Duration::from_millis(5_500),
        "tansu answered the static rejoin in {:?}: no longer holding JoinGroup and \
         SyncGroup? (update this test and scripts/rig/README.md)",
        outcome.back
    );
    println!(
        "tansu static restart ({}), same subscription: {outcome}; total {:.1?}",
        kind.name(),
        started.elapsed()
    );
    report(row, "tansu", &outcome.drivers, run.records);
}
