//! The seed harness behind the simulation suites, for your own simulation tests
//! too: which seeds to run (`SIM_SEED`, `SIM_SEEDS`, `SIM_SEED_START`, checked-in
//! seed lists) and running them on every core.
//!
//! ```
//! use kasio_sim::sim::seeds::{run_parallel, Selection};
//!
//! // SIM_SEED=<n> picks one seed; else SIM_SEEDS (default 20) from SIM_SEED_START.
//! let seeds = Selection::from_env(&["SIM_SEED"], &["SIM_SEEDS"], 20).seeds();
//! let results = run_parallel(&seeds, |seed| seed % 7 != 100); // your run(seed)
//! assert!(results.iter().all(|(_, ok)| *ok));
//! ```

/// The first of the environment variables `names` that holds a number.
pub fn env_u64(names: &[&str]) -> Option<u64> {
    names
        .iter()
        .find_map(|n| std::env::var(n).ok().and_then(|v| v.trim().parse().ok()))
}

/// Whether `SIM_TRACE=1` asks for every trace line as it happens.
pub fn trace_wanted() -> bool {
    std::env::var("SIM_TRACE").is_ok_and(|v| v == "1")
}

/// The seeds listed in a file: one per line, `#` starts a comment. A missing file
/// is an empty list; a line that is not a number panics (a typo must not drop a
/// regression seed silently).
pub fn seed_file(path: &str) -> Vec<u64> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.parse()
                .unwrap_or_else(|_| panic!("bad seed line {l:?} in {path}"))
        })
        .collect()
}

/// Which seeds a run was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// One seed, to replay it.
    One(u64),
    /// `count` seeds from `start`.
    Range {
        /// The first seed.
        start: u64,
        /// How many.
        count: u64,
    },
}

impl Selection {
    /// `One` if a variable of `one` is set (`SIM_SEED`), else a range of the
    /// count in `count` (`SIM_SEEDS`, default `default_count`) from
    /// `SIM_SEED_START` (default 0).
    pub fn from_env(one: &[&str], count: &[&str], default_count: u64) -> Self {
        match env_u64(one) {
            Some(seed) => Selection::One(seed),
            None => Selection::Range {
                start: env_u64(&["SIM_SEED_START"]).unwrap_or(0),
                count: env_u64(count).unwrap_or(default_count),
            },
        }
    }

    /// The seeds, in order.
    pub fn seeds(&self) -> Vec<u64> {
        match *self {
            Selection::One(seed) => vec![seed],
            Selection::Range { start, count } => (start..start + count).collect(),
        }
    }
}

/// Panics unless two runs of `seed` came out the same: the same outcome, or
/// failures with the same `(trace hash, message)` (`failure_key`).
pub fn assert_same_run<O, F>(
    seed: u64,
    a: Result<O, F>,
    b: Result<O, F>,
    failure_key: impl Fn(&F) -> (u64, String),
) where
    O: PartialEq + std::fmt::Debug,
    F: std::fmt::Debug,
{
    match (a, b) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "seed {seed} ran two different ways"),
        (Err(a), Err(b)) => assert_eq!(
            failure_key(&a),
            failure_key(&b),
            "seed {seed} failed two different ways"
        ),
        (a, b) => panic!("seed {seed}: one run passed, one failed: {a:?} / {b:?}"),
    }
}

/// What a caught panic said (its message, if it was a string).
pub fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Runs `run` for every seed on every core (each run is independent and
/// single-threaded); returns the results in seed order. A run that panics
/// panics here, after the others finished, naming its seed. Long runs (2,000
/// seeds or more) print progress every 1,000 seeds.
pub fn run_parallel<T: Send>(seeds: &[u64], run: impl Fn(u64) -> T + Sync) -> Vec<(u64, T)> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let started = std::time::Instant::now();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let progress_every = if seeds.len() >= 2_000 {
        1_000
    } else {
        usize::MAX
    };
    let results = std::sync::Mutex::new(Vec::with_capacity(seeds.len()));
    let panicked = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads.min(seeds.len()).max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(&seed) = seeds.get(i) else { break };
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(seed))) {
                    Ok(r) => results.lock().unwrap().push((seed, r)),
                    Err(p) => panicked.lock().unwrap().push((seed, panic_message(&*p))),
                }
                let n = done.fetch_add(1, Ordering::SeqCst) + 1;
                if n % progress_every == 0 {
                    eprintln!(
                        "{n}/{} seeds, {:.0}s",
                        seeds.len(),
                        started.elapsed().as_secs_f64()
                    );
                }
            });
        }
    });
    let panicked = panicked.into_inner().unwrap();
    if let Some((seed, msg)) = panicked.first() {
        panic!(
            "seed {seed} panicked: {msg} (and {} more)",
            panicked.len() - 1
        );
    }
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(seed, _)| *seed);
    results
}
