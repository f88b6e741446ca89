//! kasio-sim's simulated cluster in serve mode as a process of its own, for the
//! benchmark scripts (`scripts/bench/group.py`): a broker that completes a join
//! round as soon as every member has rejoined (as Kafka does), so a rebalance's
//! time is the clients' own, not a broker's hold.
//!
//! ```text
//! kasio_sim_serve [--brokers N] [--topic NAME:PARTITIONS]... [--initial-rebalance-delay-ms MS]
//! ```
//!
//! The first stdout line is `{"bootstrap": "127.0.0.1:P,...", "pid": N, "broker":
//! "kasio-sim"}`, printed once the listeners are up. The cluster serves until stdin
//! closes (or a `{"cmd":"quit"}` line), then stops and the process exits 0. Topics
//! have one replica each (on broker 1 with one broker); the group coordinator's
//! `group.initial.rebalance.delay.ms` is 0 unless given.

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::time::Duration;

use kasio_sim::sim::serve::Served;
use kasio_sim::sim::{Cluster, ClusterSpec};
use serde_json::json;

struct Args {
    brokers: i32,
    topics: Vec<(String, i32)>,
    initial_delay_ms: u64,
}

fn parse_args(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut a = Args {
        brokers: 1,
        topics: Vec::new(),
        initial_delay_ms: 0,
    };
    while let Some(flag) = argv.next() {
        let v = argv
            .next()
            .ok_or_else(|| format!("missing value for {flag}"))?;
        match flag.as_str() {
            "--brokers" => a.brokers = v.parse().map_err(|_| format!("--brokers: {v}"))?,
            "--topic" => {
                let (name, n) = v.split_once(':').unwrap_or((&v, "1"));
                let n = n.parse().map_err(|_| format!("--topic: {v}"))?;
                a.topics.push((name.to_string(), n));
            }
            "--initial-rebalance-delay-ms" => {
                a.initial_delay_ms = v.parse().map_err(|_| format!("{flag}: {v}"))?
            }
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if a.brokers < 1 {
        return Err("--brokers must be at least 1".into());
    }
    Ok(a)
}

fn main() -> ExitCode {
    let a = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            println!("{}", json!({ "error": e }));
            return ExitCode::from(2);
        }
    };
    let mut spec = ClusterSpec::new(a.brokers);
    for (name, partitions) in &a.topics {
        spec = spec.topic(name, *partitions, 1);
    }
    let mut cluster = Cluster::new(spec);
    cluster.set_initial_rebalance_delay(Duration::from_millis(a.initial_delay_ms).into());
    let served = match Served::serve(cluster) {
        Ok(s) => s,
        Err(e) => {
            println!("{}", json!({ "error": format!("serve: {e}") }));
            return ExitCode::from(1);
        }
    };
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "{}",
        json!({"bootstrap": served.bootstrap, "pid": std::process::id(), "broker": "kasio-sim"})
    );
    let _ = out.flush();
    for line in std::io::stdin().lock().lines() {
        match line {
            Ok(l) if l.contains("\"quit\"") => break,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    drop(served);
    ExitCode::SUCCESS
}
