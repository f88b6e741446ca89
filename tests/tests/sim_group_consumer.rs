//! Real kasio group consumers against the simulated coordinator, in the
//! simulated world (`kasio_sim::sim::group_world`): members join, leave, crash
//! and restart, stall past the poll interval, freeze past the session, run as
//! static members, with random assignors and commit and acknowledgement styles;
//! the coordinator moves and crashes, group APIs answer injected errors, the
//! network and the brokers fail. Each member's checker and the group's ledger
//! judge every step (nothing lost, hand out only what is owned, start at the
//! committed offset, commits only from the owner, committed offsets back only
//! by a seek); a liveness phase must settle the group with everything handed
//! out and committed.
//!
//! - `SIM_SEED=<n>` (or `SIM_GROUP_SEED`): replay seed `n` only.
//! - `SIM_SEEDS=<count>` (or `SIM_GROUP_SEEDS`) and `SIM_SEED_START`: run that
//!   many.
//! - `SIM_TRACE=1`: print every trace line as it happens.
//!
//! Every seed in `tests/seeds/group_consumer_regressions.txt` runs every time.
//! The `planted_*` tests switch one client bug on in every member and demand
//! that the checks catch it.

use std::collections::BTreeMap;

use kasio_core::group::SimBugs;
use kasio_sim::sim::group_world::{run, Failure, Outcome, RunOptions, SUITE};
use kasio_sim::sim::seeds::{
    assert_same_run, env_u64, panic_message, run_parallel, seed_file, trace_wanted, Selection,
};

/// Seeds in a normal `cargo test` run.
const DEFAULT_SEEDS: u64 = 500;

fn opts() -> RunOptions {
    RunOptions {
        echo: trace_wanted(),
        ..Default::default()
    }
}

fn regressions() -> Vec<u64> {
    seed_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/seeds/group_consumer_regressions.txt"
    ))
}

/// Runs `seeds` on every core; returns the results in seed order (a panic is
/// a failure too).
fn run_all(seeds: &[u64], opts: RunOptions) -> Vec<(u64, Result<Outcome, Box<Failure>>)> {
    let long = seeds.len() >= 2_000;
    run_parallel(seeds, |seed| {
        let t = std::time::Instant::now();
        let r = std::panic::catch_unwind(|| run(seed, opts))
            .unwrap_or_else(|p| Err(Failure::panicked(seed, SUITE, &panic_message(&*p))));
        if std::env::var("SIM_TIMING").is_ok() {
            let (steps, hash) = match &r {
                Ok(o) => (o.steps, o.hash),
                Err(f) => (0, f.hash),
            };
            eprintln!(
                "seed {seed}: {:.2}s, {steps} steps, hash {hash:016x}",
                t.elapsed().as_secs_f64()
            );
        }
        if long && r.is_err() {
            eprintln!("seed {seed} FAILED (details at the end)");
        }
        r
    })
}

/// Runs `seeds`, reports failures in seed order, panics if any; returns the
/// outcomes.
fn assert_pass(seeds: &[u64]) -> Vec<Outcome> {
    let started = std::time::Instant::now();
    let results = run_all(seeds, opts());
    let mut failures = Vec::new();
    for (seed, r) in &results {
        if let Err(f) = r {
            if failures.is_empty() {
                eprintln!("{f}");
            }
            eprintln!("FAILED seed {seed}: {}", f.message);
            failures.push(*seed);
        }
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{} group consumer seeds in {secs:.1}s ({:.1} seeds/s); failed: {failures:?}",
        results.len(),
        results.len() as f64 / secs.max(1e-9)
    );
    assert!(failures.is_empty(), "failing seeds: {failures:?}");
    results.into_iter().filter_map(|(_, r)| r.ok()).collect()
}

/// Every fault and every application behaviour took effect often enough over
/// the default seeds: one that silently stopped happening would leave its
/// invariants untested.
fn assert_coverage(outcomes: &[Outcome]) {
    let mut stats: BTreeMap<String, u64> = BTreeMap::new();
    for o in outcomes {
        for (k, n) in &o.stats {
            *stats.entry(k.clone()).or_default() += n;
        }
    }
    eprintln!("over {} seeds: {stats:?}", outcomes.len());
    let wanted = [
        ("reset", 50),
        ("hang", 50),
        ("partition", 50),
        ("crash", 50),
        ("move leader", 50),
        ("inject group JoinGroup", 20),
        ("inject group OffsetCommit", 20),
        ("move coordinator", 50),
        ("crash coordinator", 50),
        ("member crash", 50),
        ("member unsubscribes", 30),
        ("member closes", 30),
        ("stall past max.poll.interval.ms", 30),
        ("freeze past the session", 30),
        ("seek back", 30),
        ("revoked", 200),
        ("lost", 50),
        ("late ack", 50),
        ("ack past the rebalance deadline", 10),
        ("ack after the commit is answered", 50),
        ("commit, ack at once", 50),
        ("commits accepted", 1000),
        ("commits while revoking", 10),
        ("commits back after a seek", 10),
    ];
    for (k, min) in wanted {
        let n = stats.get(k).copied().unwrap_or(0);
        assert!(n >= min, "{k:?} happened {n} times (at least {min} wanted)");
    }
}

#[test]
fn seeds() {
    let selection = Selection::from_env(
        &["SIM_SEED", "SIM_GROUP_SEED"],
        &["SIM_SEEDS", "SIM_GROUP_SEEDS"],
        DEFAULT_SEEDS,
    );
    let outcomes = assert_pass(&selection.seeds());
    if matches!(selection, Selection::Range { count, .. } if count >= DEFAULT_SEEDS) {
        assert_coverage(&outcomes);
    }
}

#[test]
fn regression_seeds() {
    if env_u64(&["SIM_SEED", "SIM_GROUP_SEED"]).is_some() {
        return;
    }
    assert_pass(&regressions());
}

/// Every regression seed and a sample of others, each run twice: same outcome,
/// same trace hash (`SIM_SEED`: that seed only); and two seeds differ.
#[test]
fn same_seed_same_trace() {
    let seeds: Vec<u64> = match env_u64(&["SIM_SEED", "SIM_GROUP_SEED"]) {
        Some(seed) => vec![seed],
        None => regressions()
            .into_iter()
            .chain((0..DEFAULT_SEEDS).step_by(100))
            .collect(),
    };
    let hash = |r: &Result<Outcome, Box<Failure>>| match r {
        Ok(o) => o.hash,
        Err(f) => f.hash,
    };
    let mut hashes = Vec::new();
    for seed in seeds {
        let a = run(seed, RunOptions::default());
        let b = run(seed, RunOptions::default());
        hashes.push(hash(&a));
        assert_same_run(seed, a, b, |f| (f.hash, f.message.clone()));
    }
    hashes.sort_unstable();
    hashes.dedup();
    assert!(hashes.len() > 1 || env_u64(&["SIM_SEED"]).is_some());
}

/// With `bugs` planted in every member, some seed of the first `within` fails
/// with one of `expect` in its message.
fn planted(bugs: SimBugs, within: u64, expect: &[&str]) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let opts = RunOptions { echo: false, bugs };
    let mut failures: Vec<(u64, String)> = Vec::new();
    let mut from = 0;
    while from < within {
        let seeds: Vec<u64> = (from..(from + threads).min(within)).collect();
        for (seed, r) in run_all(&seeds, opts) {
            if let Err(f) = r {
                failures.push((seed, f.message.clone()));
            }
        }
        if let Some((seed, m)) = failures
            .iter()
            .find(|(_, m)| expect.iter().any(|e| m.contains(e)))
        {
            eprintln!("{bugs:?}: caught by seed {seed} ({from} seeds run): {m}");
            return;
        }
        from += threads;
    }
    panic!(
        "{bugs:?}: {} of {within} seeds failed, none with {expect:?}: {failures:?}",
        failures.len()
    );
}

/// A revoked partition still fetched and handed out.
#[test]
fn planted_fetch_after_revoke_is_caught() {
    planted(
        SimBugs {
            fetch_after_revoke: true,
            ..Default::default()
        },
        200,
        &["handed out after its revocation"],
    );
}

/// Commits one past what was handed out: the group would lose that record.
#[test]
fn planted_commit_ahead_is_caught() {
    planted(
        SimBugs {
            commit_ahead: true,
            ..Default::default()
        },
        200,
        &[
            "which no member was ever handed",
            "beyond the high watermark",
        ],
    );
}

/// Committed offsets skipped: a new owner starts at the end of the log.
#[test]
fn planted_ignore_committed_is_caught() {
    planted(
        SimBugs {
            ignore_committed: true,
            ..Default::default()
        },
        200,
        &["above its committed offset", "OffsetReset to"],
    );
}

/// Queued commits not checked again when they go out: commits of partitions
/// revoked (or lost) meanwhile go under a later generation, from a member that
/// no longer owns them (what kasio did before it was fixed).
#[test]
fn planted_send_stale_commits_is_caught() {
    planted(
        SimBugs {
            send_stale_commits: true,
            ..Default::default()
        },
        200,
        &["which does not own it", "without a seek back"],
    );
}

/// A commit that must go again goes behind newer ones: an older offset is
/// committed after a newer one.
#[test]
fn planted_requeue_behind_is_caught() {
    planted(
        SimBugs {
            requeue_behind: true,
            ..Default::default()
        },
        200,
        &["without a seek back"],
    );
}

/// A committed offset taken for the last record read: a new owner starts one
/// past it and that record is never handed out.
#[test]
fn planted_committed_off_by_one_is_caught() {
    planted(
        SimBugs {
            committed_off_by_one: true,
            ..Default::default()
        },
        200,
        &["above its committed offset"],
    );
}

/// With auto-commit on, revocations acknowledged without committing what was
/// handed out.
#[test]
fn planted_skip_revoke_commit_is_caught() {
    planted(
        SimBugs {
            skip_revoke_commit: true,
            ..Default::default()
        },
        200,
        &["revoke-time commit missing"],
    );
}
