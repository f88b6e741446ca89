//! The simulated group coordinator, driven by scripted members over a simulated
//! network (kasio's consumer has no group protocol yet): members find the
//! coordinator, join, sync (range, round-robin or cooperative-sticky), heartbeat,
//! fetch and commit offsets, leave, crash, freeze, stall, restart, run as static
//! members and as duplicates of one, and replay stale requests; the coordinator
//! moves and its broker crashes; group APIs get injected errors. The invariants
//! (`kasio_sim::sim::group_check`) are judged against the coordinator's state at
//! every event.
//!
//! - `SIM_SEED=<n>` (or `SIM_GROUP_SEED`): replay seed `n` only, with its trace.
//! - `SIM_SEEDS=<count>` (or `SIM_GROUP_SEEDS`) and `SIM_SEED_START`: run that many.
//! - `SIM_TRACE=1`: print every trace line as it happens.
//!
//! Every seed in `tests/seeds/group_regressions.txt` runs every time. The
//! `planted_*` tests switch one coordinator fault on at a time and demand that
//! the checks catch it: the harness is only as good as what it can fail.

use kasio_sim::sim::group_run::{run_group, GroupFailure, GroupRunOptions};
use kasio_sim::sim::seeds::{
    assert_same_run, env_u64, panic_message, run_parallel, seed_file, trace_wanted, Selection,
};
use kasio_sim::sim::CoordinatorBugs;

/// Seeds in a normal `cargo test` run.
const DEFAULT_SEEDS: u64 = 500;

fn opts() -> GroupRunOptions {
    GroupRunOptions {
        echo: trace_wanted(),
        ..Default::default()
    }
}

/// Runs `seeds` on every core; returns the failures in seed order (a panic is a
/// failure too).
fn run_all(seeds: &[u64], opts: GroupRunOptions) -> Vec<GroupFailure> {
    run_parallel(seeds, |seed| {
        std::panic::catch_unwind(|| run_group(seed, opts)).unwrap_or_else(|p| {
            let message = panic_message(&*p);
            Err(GroupFailure {
                seed,
                report: format!("group seed {seed} panicked: {message}"),
                message: format!("panic: {message}"),
                hash: 0,
            })
        })
    })
    .into_iter()
    .filter_map(|(_, r)| r.err())
    .collect()
}

fn assert_pass(seeds: &[u64]) {
    let started = std::time::Instant::now();
    let failures = run_all(seeds, opts());
    if let Some(first) = failures.first() {
        eprintln!("{first}");
    }
    for f in &failures {
        eprintln!("FAILED seed {}: {}", f.seed, f.message);
    }
    eprintln!(
        "{} group seeds in {:.1}s; failed: {:?}",
        seeds.len(),
        started.elapsed().as_secs_f64(),
        failures.iter().map(|f| f.seed).collect::<Vec<_>>()
    );
    assert!(
        failures.is_empty(),
        "failing group seeds: {:?}",
        failures.iter().map(|f| f.seed).collect::<Vec<_>>()
    );
}

#[test]
fn seeds() {
    let selection = Selection::from_env(
        &["SIM_SEED", "SIM_GROUP_SEED"],
        &["SIM_SEEDS", "SIM_GROUP_SEEDS"],
        DEFAULT_SEEDS,
    );
    assert_pass(&selection.seeds());
}

#[test]
fn regression_seeds() {
    if env_u64(&["SIM_SEED", "SIM_GROUP_SEED"]).is_some() {
        return;
    }
    assert_pass(&seed_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/seeds/group_regressions.txt"
    )));
}

#[test]
fn same_seed_same_trace() {
    let seed = env_u64(&["SIM_SEED", "SIM_GROUP_SEED"]).unwrap_or(7);
    let a = run_group(seed, GroupRunOptions::default());
    let b = run_group(seed, GroupRunOptions::default());
    assert_same_run(seed, a, b, |f| (f.hash, f.message.clone()));
    // And different seeds run differently.
    let c = run_group(seed + 1, GroupRunOptions::default());
    let hash = |r: &Result<kasio_sim::sim::group_run::GroupOutcome, GroupFailure>| match r {
        Ok(o) => o.hash,
        Err(f) => f.hash,
    };
    let a = run_group(seed, GroupRunOptions::default());
    assert_ne!(
        hash(&a),
        hash(&c),
        "seeds {seed} and {} ran alike",
        seed + 1
    );
}

/// With `bugs` on, some seed of the first `within` fails with `expect` in its
/// message.
fn planted(bugs: CoordinatorBugs, within: u64, expect: &[&str]) {
    planted_with(
        GroupRunOptions {
            bugs,
            ..Default::default()
        },
        within,
        expect,
    );
}

/// With `opts`, some seed of the first `within` fails with `expect` in its
/// message.
fn planted_with(opts: GroupRunOptions, within: u64, expect: &[&str]) {
    let bugs = (opts.bugs, opts.skip_revoke_round);
    // In order, a core's worth at a time, up to the first seed that catches it.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let mut failures = Vec::new();
    let mut from = 0;
    while from < within {
        let seeds: Vec<u64> = (from..(from + threads).min(within)).collect();
        failures.extend(run_all(&seeds, opts));
        if let Some(h) = failures
            .iter()
            .find(|f| expect.iter().any(|e| f.message.contains(e)))
        {
            eprintln!("{bugs:?}: caught by seed {}: {}", h.seed, h.message);
            return;
        }
        from += threads;
    }
    panic!(
        "{bugs:?}: {} of {within} seeds failed, none with {expect:?}: {:?}",
        failures.len(),
        failures
            .iter()
            .map(|f| (f.seed, &f.message))
            .collect::<Vec<_>>()
    );
}

#[test]
fn planted_accept_any_generation_is_caught() {
    planted(
        CoordinatorBugs {
            accept_any_generation: true,
            ..Default::default()
        },
        40,
        &["for a stale generation"],
    );
}

#[test]
fn planted_accept_any_member_is_caught() {
    planted(
        CoordinatorBugs {
            accept_any_member: true,
            ..Default::default()
        },
        40,
        &["not a member of generation"],
    );
}

#[test]
fn planted_ignore_sync_generation_is_caught() {
    planted(
        CoordinatorBugs {
            ignore_sync_generation: true,
            ..Default::default()
        },
        40,
        &[
            "SyncGroup from",
            "before that generation's leader",
            "but the leader assigned",
        ],
    );
}

#[test]
fn planted_never_expire_is_caught() {
    planted(
        CoordinatorBugs {
            never_expire: true,
            ..Default::default()
        },
        40,
        &["past its session timeout"],
    );
}

#[test]
fn planted_never_not_coordinator_is_caught() {
    planted(
        CoordinatorBugs {
            never_not_coordinator: true,
            ..Default::default()
        },
        40,
        &["NOT_COORDINATOR expected"],
    );
}

#[test]
fn planted_unknown_not_fenced_is_caught() {
    planted(
        CoordinatorBugs {
            unknown_not_fenced: true,
            ..Default::default()
        },
        40,
        &["not FENCED_INSTANCE_ID"],
    );
}

#[test]
fn planted_static_rejoin_rebalances_is_caught() {
    planted(
        CoordinatorBugs {
            static_rejoin_rebalances: true,
            ..Default::default()
        },
        40,
        &["a rebalance, not its old assignment"],
    );
}

/// A client fault, not the coordinator's: a cooperative-sticky leader that
/// moves a partition without the revocation round makes two members hold it.
#[test]
fn planted_cooperative_without_revocation_is_caught() {
    planted_with(
        GroupRunOptions {
            skip_revoke_round: true,
            ..Default::default()
        },
        40,
        &["at once"],
    );
}
