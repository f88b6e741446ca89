//! Coordinator faults on librdkafka's mock cluster while kasio consumes in a
//! group: the coordinator moved to another broker and the coordinator broker down
//! and up (a kasio-std, a kasio-tokio and a librdkafka member in one group), and
//! errors injected into FindCoordinator, JoinGroup, SyncGroup, Heartbeat,
//! OffsetCommit and OffsetFetch (a kasio member alone, so that every error is its
//! own: once on kasio-std, the `kasio_group_peer` binary, and once on kasio-tokio,
//! `kasio_tokio_group_peer`, rows `tokio/<row>`).
//! Half the records are read and committed, the fault strikes, the other half is
//! produced; then every record must have been read with its produced content, a
//! record read twice only if no commit covered the earlier read, no partition held
//! twice in a generation, and the group's offsets must be the end of every
//! partition. Errors go to the coordinator broker (`broker_push_request_errors`)
//! and each run checks that all of them were answered.
//!
//! The mock's join rounds last `session.timeout.ms` - 1 s, so sessions are 2 s.
//! Three brokers, partition leaders spread, the group's coordinator set to broker 1;
//! the brokers are behind `mock_cluster.py --proxy` (the mock advertises flexible
//! group API versions it cannot parse; kasio, as Java, would pick them).

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use kasio_sim::peers::broker::GroupBroker;
use kasio_sim::peers::checks::{assert_no_fatal, check_generations, distinct, wait_all, Workload};
use kasio_sim::peers::{GroupPeer, PeerKind, RebalanceKind};
use kasio_sim::rig::{report, MockCluster};
use serde_json::json;

const W: Workload = Workload {
    topic: "gfaults",
    partitions: 6,
    value_size: 100,
};
const RECORDS: u64 = 12_000;
const COORDINATOR: i32 = 1;
/// The group errors injected, each API taking those it can answer.
const CODES: [&str; 6] = [
    "NOT_COORDINATOR",
    "COORDINATOR_NOT_AVAILABLE",
    "COORDINATOR_LOAD_IN_PROGRESS",
    "REBALANCE_IN_PROGRESS",
    "UNKNOWN_MEMBER_ID",
    "ILLEGAL_GENERATION",
];

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Every member holds partitions, none twice, all of them held.
fn settled(peers: &[&mut GroupPeer]) -> bool {
    W.settled(peers)
}

/// Errors for the coordinator broker to answer `api` with, in order.
fn push_errors(m: &mut MockCluster, api: &str, errors: &[&str]) {
    m.command(json!({"cmd": "broker_push_request_errors", "broker": COORDINATOR, "api": api, "errors": errors}));
}

/// How many injected errors of `api` the coordinator broker still holds.
fn errors_left(m: &mut MockCluster, api: &str) -> u64 {
    let a = m.command(json!({"cmd": "broker_error_stack_cnt", "broker": COORDINATOR, "api": api}));
    a["count"].as_u64().expect("count")
}

/// Starts the group (a member of each of `kinds`, in that order), reads and
/// commits half the records, runs `fault`, produces the rest and reads it until
/// `done` says the fault has run its course too; then checks everything, prints
/// what happened and returns the kasio drivers that took part.
fn run(
    group: &str,
    kinds: &[PeerKind],
    fault: impl FnOnce(&mut MockCluster),
    mut done: impl FnMut(&mut MockCluster) -> bool,
) -> Vec<&'static str> {
    let started = Instant::now();
    let mut broker = GroupBroker::mock(&W, 3);
    broker.mock_mut().command(
        json!({"cmd": "coordinator_set", "key_type": "group", "key": group, "broker": COORDINATOR}),
    );
    let mut cfg = broker.member(&W, group);
    cfg.session_timeout_ms = Some(2_000);
    cfg.heartbeat_interval_ms = Some(300);
    let mut peers: Vec<GroupPeer> = kinds.iter().map(|k| GroupPeer::start(*k, &cfg)).collect();
    let mut members: Vec<&mut GroupPeer> = peers.iter_mut().collect();
    wait_all(
        &mut members,
        Duration::from_secs(30),
        "the members to share the partitions",
        settled,
    );
    let half = RECORDS / 2;
    broker.produce(&W, 0, half);
    wait_all(
        &mut members,
        Duration::from_secs(30),
        "the first half",
        |ps| {
            let ps: Vec<&GroupPeer> = ps.iter().map(|p| &**p).collect();
            distinct(&ps) == half as usize
        },
    );
    // Once each member answered a command, what it read is committed.
    for p in members.iter_mut() {
        p.command(json!({"cmd": "ping"}));
    }
    let struck = Instant::now();
    fault(broker.mock_mut());
    broker.produce(&W, half, RECORDS - half);
    let deadline = Instant::now() + Duration::from_secs(40);
    while !done(broker.mock_mut()) {
        assert!(Instant::now() < deadline, "the fault never ran its course");
        for p in members.iter_mut() {
            p.assert_alive();
            p.pump(Duration::from_millis(20));
        }
    }
    wait_all(
        &mut members,
        Duration::from_secs(40),
        "every record after the fault",
        |ps| {
            let all: Vec<&GroupPeer> = ps.iter().map(|p| &**p).collect();
            settled(ps) && distinct(&all) == RECORDS as usize
        },
    );
    let recovered = struck.elapsed();
    for p in members.iter_mut() {
        p.pause();
    }
    // The group's offsets, read back through every member's own client.
    for p in members.iter_mut() {
        let label = p.label.clone();
        assert_eq!(
            W.committed(p),
            W.ends(RECORDS),
            "the group's offsets, read by {label}"
        );
    }
    for p in members.iter_mut() {
        p.stop();
    }

    let all: Vec<&GroupPeer> = peers.iter().collect();
    let consumed = W.check_records(&all, RECORDS);
    let gens = check_generations(&all);
    for p in &all {
        assert_no_fatal(p);
    }
    let reads: Vec<String> = all
        .iter()
        .zip(&consumed.reread)
        .map(|(p, again)| {
            format!(
                "{} read {} ({again} of them read again later)",
                p.label,
                p.record_count()
            )
        })
        .collect();
    let kasio: Vec<String> = all
        .iter()
        .filter(|p| p.kind().driver().is_some())
        .map(|p| {
            let lost = p
                .rebalances()
                .filter(|r| r.kind == RebalanceKind::Lost)
                .count();
            let failed: Vec<&str> = p.commits().filter_map(|c| c.error.as_deref()).collect();
            format!(
                "{}: {} rebalance callbacks ({lost} lost), failed commits {failed:?}",
                p.label,
                p.rebalances().count()
            )
        })
        .collect();
    println!(
        "{group}: every record read {recovered:.1?} after the fault; {}; {}; duplicates {} \
         (none after a covering commit); generations {gens:?}; total {:.1?}",
        reads.join(", "),
        kasio.join("; "),
        consumed.duplicates,
        started.elapsed()
    );
    let mut drivers: Vec<&'static str> = kinds.iter().filter_map(|k| k.driver()).collect();
    drivers.dedup();
    drivers
}

/// Both kasio drivers and librdkafka in one group.
const MIXED: [PeerKind; 3] = [PeerKind::Kasio, PeerKind::KasioTokio, PeerKind::Rdkafka];

/// The group's coordinator moves to broker 2: the old one answers NOT_COORDINATOR,
/// every member finds the new one and carries on (their membership survives).
#[test]
fn coordinator_moved() {
    let _serial = serial();
    let group = "kasio-coordinator-moved";
    let moved = |m: &mut MockCluster| {
        m.command(
            json!({"cmd": "coordinator_set", "key_type": "group", "key": group, "broker": 2}),
        );
    };
    let drivers = run(group, &MIXED, moved, |_| true);
    report(
        "group/coordinator-moved",
        "librdkafka-mock",
        &drivers,
        RECORDS,
    );
}

/// The coordinator broker goes down for 3 s (longer than the session) and comes
/// back: connections to it are closed and refused meanwhile (its partitions
/// cannot be fetched either); the members find it again and rejoin.
#[test]
fn coordinator_down_and_up() {
    let _serial = serial();
    let down_up = |m: &mut MockCluster| {
        m.command(json!({"cmd": "broker_set_down", "broker": COORDINATOR}));
        std::thread::sleep(Duration::from_secs(3));
        m.command(json!({"cmd": "broker_set_up", "broker": COORDINATOR}));
    };
    let drivers = run("kasio-coordinator-down", &MIXED, down_up, |_| true);
    report(
        "group/coordinator-down-up",
        "librdkafka-mock",
        &drivers,
        RECORDS,
    );
}

/// The interop row `row` on the driver of `kind`: `row` on kasio-std,
/// `tokio/<row>` on kasio-tokio.
fn row_id(kind: PeerKind, row: &str) -> String {
    match kind {
        PeerKind::KasioTokio => format!("tokio/{row}"),
        _ => row.to_string(),
    }
}

/// A kasio member (`kind`, either driver) alone in `group`, so that the errors
/// injected into the coordinator's answers are all its own: `api` answers
/// `errors` in turn, after `trigger` (if any) made kasio send it; the run goes on
/// until every error was answered. Reports `row` ([`row_id`]).
fn injected(
    kind: PeerKind,
    (group, row): (&str, &str),
    api: &str,
    errors: &[&str],
    trigger: Option<(&str, &[&str])>,
) {
    let _serial = serial();
    let inject = |m: &mut MockCluster| {
        push_errors(m, api, errors);
        if let Some((api, errors)) = trigger {
            push_errors(m, api, errors);
        }
    };
    let answered = |m: &mut MockCluster| {
        errors_left(m, api) == 0 && trigger.is_none_or(|(t, _)| errors_left(m, t) == 0)
    };
    let drivers = run(group, &[kind], inject, answered);
    report(&row_id(kind, row), "librdkafka-mock", &drivers, RECORDS);
}

/// Heartbeat: NOT_COORDINATOR and COORDINATOR_NOT_AVAILABLE (find it again, keep
/// the membership), COORDINATOR_LOAD_IN_PROGRESS (retry), REBALANCE_IN_PROGRESS
/// (rejoin, revoking first), UNKNOWN_MEMBER_ID and ILLEGAL_GENERATION (partitions
/// lost, rejoin).
fn heartbeat_errors(kind: PeerKind, group: &str) {
    let row = (group, "group/errors-heartbeat");
    injected(kind, row, "Heartbeat", &CODES, None);
}

/// JoinGroup, in a rejoin a heartbeat's REBALANCE_IN_PROGRESS starts:
/// NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE (find it again),
/// COORDINATOR_LOAD_IN_PROGRESS (retry after a backoff), REBALANCE_IN_PROGRESS (join
/// again), UNKNOWN_MEMBER_ID (join again without a member id). (ILLEGAL_GENERATION
/// is no JoinGroup answer: Java and kasio treat it as fatal.)
fn join_group_errors(kind: PeerKind, group: &str) {
    injected(
        kind,
        (group, "group/errors-join-group"),
        "JoinGroup",
        &CODES[..5],
        Some(("Heartbeat", &["REBALANCE_IN_PROGRESS"])),
    );
}

/// SyncGroup, in a rejoin a heartbeat's REBALANCE_IN_PROGRESS starts: the
/// coordinator errors (find it again, join again), COORDINATOR_LOAD_IN_PROGRESS
/// (retry), REBALANCE_IN_PROGRESS (join again), UNKNOWN_MEMBER_ID and
/// ILLEGAL_GENERATION (partitions lost, join again).
fn sync_group_errors(kind: PeerKind, group: &str) {
    injected(
        kind,
        (group, "group/errors-sync-group"),
        "SyncGroup",
        &CODES,
        Some(("Heartbeat", &["REBALANCE_IN_PROGRESS"])),
    );
}

/// OffsetCommit, on the commits after each batch: the coordinator errors and
/// COORDINATOR_LOAD_IN_PROGRESS are retried within the commit; REBALANCE_IN_PROGRESS
/// fails it and rejoins; UNKNOWN_MEMBER_ID and ILLEGAL_GENERATION fail it, lose the
/// partitions and rejoin (their uncommitted records are read again).
fn offset_commit_errors(kind: PeerKind, group: &str) {
    let row = (group, "group/errors-offset-commit");
    injected(kind, row, "OffsetCommit", &CODES, None);
}

/// OffsetFetch, for the partitions a rejoin (a heartbeat's REBALANCE_IN_PROGRESS)
/// assigns again: NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE (find it again, ask
/// again), COORDINATOR_LOAD_IN_PROGRESS (ask again after a backoff). The other codes
/// are no classic OffsetFetch answer (Java fails `poll` on them).
fn offset_fetch_errors(kind: PeerKind, group: &str) {
    injected(
        kind,
        (group, "group/errors-offset-fetch"),
        "OffsetFetch",
        &CODES[..3],
        Some(("Heartbeat", &["REBALANCE_IN_PROGRESS"])),
    );
}

/// FindCoordinator, when a heartbeat's NOT_COORDINATOR sends kasio looking for its
/// coordinator again: COORDINATOR_NOT_AVAILABLE, COORDINATOR_LOAD_IN_PROGRESS,
/// NOT_COORDINATOR (retriable: ask again after a backoff). FindCoordinator goes to
/// any broker, so every broker gets the errors; at least one full set must have
/// been answered.
fn find_coordinator_errors(kind: PeerKind, group: &str) {
    let _serial = serial();
    let errors = &CODES[..3];
    let inject = |m: &mut MockCluster| {
        for b in 1..=3 {
            m.command(json!({"cmd": "broker_push_request_errors", "broker": b, "api": "FindCoordinator", "errors": errors}));
        }
        push_errors(m, "Heartbeat", &["NOT_COORDINATOR"]);
    };
    // At least one full set answered.
    let answered = |m: &mut MockCluster| {
        let left: u64 = (1..=3)
            .map(|b| {
                let a = m.command(
                    json!({"cmd": "broker_error_stack_cnt", "broker": b, "api": "FindCoordinator"}),
                );
                a["count"].as_u64().expect("count")
            })
            .sum();
        left <= 2 * errors.len() as u64 && errors_left(m, "Heartbeat") == 0
    };
    let drivers = run(group, &[kind], inject, answered);
    let row = row_id(kind, "group/errors-find-coordinator");
    report(&row, "librdkafka-mock", &drivers, RECORDS);
}

#[test]
fn heartbeat_errors_std() {
    heartbeat_errors(PeerKind::Kasio, "kasio-heartbeat-errors");
}

#[test]
fn heartbeat_errors_tokio() {
    heartbeat_errors(PeerKind::KasioTokio, "kasio-heartbeat-errors-tokio");
}

#[test]
fn join_group_errors_std() {
    join_group_errors(PeerKind::Kasio, "kasio-join-errors");
}

#[test]
fn join_group_errors_tokio() {
    join_group_errors(PeerKind::KasioTokio, "kasio-join-errors-tokio");
}

#[test]
fn sync_group_errors_std() {
    sync_group_errors(PeerKind::Kasio, "kasio-sync-errors");
}

#[test]
fn sync_group_errors_tokio() {
    sync_group_errors(PeerKind::KasioTokio, "kasio-sync-errors-tokio");
}

#[test]
fn offset_commit_errors_std() {
    offset_commit_errors(PeerKind::Kasio, "kasio-commit-errors");
}

#[test]
fn offset_commit_errors_tokio() {
    offset_commit_errors(PeerKind::KasioTokio, "kasio-commit-errors-tokio");
}

#[test]
fn offset_fetch_errors_std() {
    offset_fetch_errors(PeerKind::Kasio, "kasio-fetch-offsets-errors");
}

#[test]
fn offset_fetch_errors_tokio() {
    offset_fetch_errors(PeerKind::KasioTokio, "kasio-fetch-offsets-errors-tokio");
}

#[test]
fn find_coordinator_errors_std() {
    find_coordinator_errors(PeerKind::Kasio, "kasio-find-errors");
}

#[test]
fn find_coordinator_errors_tokio() {
    find_coordinator_errors(PeerKind::KasioTokio, "kasio-find-errors-tokio");
}
