//! Consumes a topic and prints its records.
//!
//! ```text
//! cargo run -p kasio-std --example consume -- [--bootstrap HOST:PORT --topic T] \
//!     [--group ID | --partitions N] [--from-beginning] [--count N] [--quiet] \
//!     [--set name=value]...
//! ```
//!
//! Without `--bootstrap`, an in-process simulated cluster (kasio-sim, served on
//! 127.0.0.1) with a `demo` topic is started and read from the beginning.
//!
//! With `--group ID` the consumer joins group `ID` (subscribe; auto-commit on by
//! default) and prints rebalances on stderr; a revoke commits what was consumed
//! before it is acknowledged. Otherwise, without `--partitions`, every partition of
//! the topic (from metadata) is assigned.
//! `--count N` stops after N records; `--quiet` prints only a summary (for
//! benchmarks: every value is still touched).
//!
//! For benchmark scripts (`scripts/bench/group.py`): `--until-eof` also stops when
//! stdin closes, and `--json` prints progress and the summary as JSON lines on
//! stdout (use it with `--quiet`): `{"records": N, "t_us": T}` at most every 100 ms
//! while records come and once a poll comes back empty, then `{"done": true, "records",
//! "bytes", "checksum", "first_us", "last_us"}`, the last two the wall-clock times
//! (µs since the Unix epoch) at which the first and the last records were handed
//! over, so that several processes' times can be put side by side. `--wait-go`
//! (with `--group`) pauses the partitions it is assigned until a `go` line comes on
//! stdin, reporting `{"owned": N}` after each rebalance with `--json`: a script
//! starts several members, waits until the group has handed out every partition,
//! then lets them all start at once.

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kasio_core::config::Config;
use kasio_core::consumer::{Event, TopicPartition};
use kasio_sim::sim::serve::{serve_demo, DEMO_RECORDS};
use kasio_std::Consumer;

struct Args {
    bootstrap: String,
    topic: String,
    partitions: Option<i32>,
    group: Option<String>,
    from_beginning: bool,
    count: Option<u64>,
    quiet: bool,
    json: bool,
    until_eof: bool,
    wait_go: bool,
    set: Vec<(String, String)>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let mut a = Args {
        bootstrap: String::new(),
        topic: String::new(),
        partitions: None,
        group: None,
        from_beginning: false,
        count: None,
        quiet: false,
        json: false,
        until_eof: false,
        wait_go: false,
        set: Vec::new(),
    };
    while let Some(flag) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match flag.as_str() {
            "--bootstrap" => a.bootstrap = value("--bootstrap")?,
            "--topic" => a.topic = value("--topic")?,
            "--partitions" => {
                a.partitions = Some(
                    value("--partitions")?
                        .parse()
                        .map_err(|e| format!("--partitions: {e}"))?,
                )
            }
            "--count" => {
                a.count = Some(
                    value("--count")?
                        .parse()
                        .map_err(|e| format!("--count: {e}"))?,
                )
            }
            "--group" => a.group = Some(value("--group")?),
            "--from-beginning" => a.from_beginning = true,
            "--quiet" => a.quiet = true,
            "--json" => a.json = true,
            "--until-eof" => a.until_eof = true,
            "--wait-go" => a.wait_go = true,
            "--set" => {
                let kv = value("--set")?;
                let (k, v) = kv.split_once('=').ok_or("--set takes name=value")?;
                a.set.push((k.to_string(), v.to_string()));
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if !a.bootstrap.is_empty() && a.topic.is_empty() {
        return Err("usage: consume [--bootstrap HOST:PORT --topic T] [--group ID | --partitions N] [--from-beginning] [--count N] [--quiet] [--json] [--until-eof] [--wait-go] [--set name=value]".into());
    }
    if a.group.is_some() && a.partitions.is_some() {
        return Err("--group and --partitions exclude each other".into());
    }
    Ok(a)
}

/// Assigns every partition of the topic (or `--partitions N`) by hand.
fn assign_all(consumer: &mut Consumer, args: &Args) -> Result<(), ExitCode> {
    let partitions = match args.partitions {
        Some(n) => n,
        None => {
            consumer.core_mut().want_metadata(&args.topic);
            let topic = args.topic.clone();
            let found = consumer.run_until(Duration::from_secs(30), |c| {
                c.partitions_for(&topic).is_some()
            });
            match consumer.core().partitions_for(&args.topic) {
                Some(ps) if found => ps.len() as i32,
                _ => {
                    eprintln!("topic {} not found", args.topic);
                    return Err(ExitCode::from(1));
                }
            }
        }
    };
    consumer
        .core_mut()
        .assign((0..partitions).map(|p| TopicPartition::new(args.topic.clone(), p)))
        .expect("a new consumer takes an assignment");
    Ok(())
}

fn list(partitions: &[TopicPartition]) -> String {
    let names: Vec<String> = partitions.iter().map(ToString::to_string).collect();
    format!("[{}]", names.join(", "))
}

const DEMO_TOPIC: &str = "demo";

fn main() -> ExitCode {
    let mut args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    // Kept alive until the end: the simulated cluster, when no broker was given.
    let _served = if args.bootstrap.is_empty() {
        let served = match serve_demo(DEMO_TOPIC) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("cannot start the simulated cluster: {e}");
                return ExitCode::from(1);
            }
        };
        eprintln!(
            "no --bootstrap given: serving a simulated cluster (kasio-sim) at {} with topic '{DEMO_TOPIC}' ({DEMO_RECORDS} records)",
            served.bootstrap
        );
        args.bootstrap = served.bootstrap.clone();
        args.topic = DEMO_TOPIC.into();
        args.from_beginning = true;
        args.count = args.count.or(Some(DEMO_RECORDS));
        Some(served)
    } else {
        None
    };
    let mut props = vec![("bootstrap.servers".to_string(), args.bootstrap.clone())];
    if args.from_beginning {
        props.push(("auto.offset.reset".into(), "earliest".into()));
    }
    if let Some(group) = &args.group {
        props.push(("group.id".into(), group.clone()));
    }
    props.extend(args.set.iter().cloned());
    let config = match Config::from_pairs(props.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("configuration: {e}");
            return ExitCode::from(2);
        }
    };
    let mut consumer = Consumer::new(config);
    if args.group.is_some() {
        if let Err(e) = consumer.subscribe([args.topic.clone()]) {
            eprintln!("subscribe: {e}");
            return ExitCode::from(2);
        }
    } else if let Err(code) = assign_all(&mut consumer, &args) {
        return code;
    }
    // --until-eof: stdin closing stops the loop (at its next poll). --wait-go: a
    // `go` line (or the end of stdin) resumes the assigned partitions.
    let eof = Arc::new(AtomicBool::new(false));
    let go = Arc::new(AtomicBool::new(!args.wait_go));
    if args.until_eof || args.wait_go {
        let (eof, go, until_eof) = (eof.clone(), go.clone(), args.until_eof);
        std::thread::spawn(move || {
            for line in std::io::stdin().lines() {
                match line {
                    Ok(l) if l.trim() == "go" => go.store(true, Ordering::SeqCst),
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            go.store(true, Ordering::SeqCst);
            eof.store(until_eof, Ordering::SeqCst);
        });
    }
    let mut going = !args.wait_go;
    let mut owned = 0usize;
    let started = Instant::now();
    let (mut records, mut bytes) = (0u64, 0u64);
    let mut checksum = 0u64;
    // --json: when the first and last records were handed over, and progress.
    let (mut first_us, mut last_us) = (None::<u128>, None::<u128>);
    let (mut reported, mut reported_at) = (0u64, Instant::now());
    while args.count.is_none_or(|n| records < n) && !eof.load(Ordering::SeqCst) {
        if !going && go.load(Ordering::SeqCst) {
            going = true;
            let paused = consumer.core().paused();
            if let Err(e) = consumer.core_mut().resume(&paused) {
                eprintln!("resume: {e}");
            }
        }
        let polled = consumer.poll(Duration::from_millis(if going { 500 } else { 50 }));
        if args.json && !polled.is_empty() {
            let now = unix_us();
            first_us.get_or_insert(now);
            last_us = Some(now);
        }
        let idle = polled.is_empty();
        for (tp, r) in polled.iter() {
            records += 1;
            let value = r.value.as_deref().unwrap_or_default();
            bytes += value.len() as u64;
            // Touch every value byte, as a real application would.
            checksum = value.iter().fold(checksum, |h, &b| {
                h.wrapping_mul(31).wrapping_add(u64::from(b))
            });
            if !args.quiet {
                let key = r.key.as_deref().map(String::from_utf8_lossy);
                let headers: Vec<String> = r
                    .headers()
                    .map(|h| {
                        format!(
                            "{}={}",
                            h.key,
                            String::from_utf8_lossy(h.value.unwrap_or_default())
                        )
                    })
                    .collect();
                println!(
                    "{tp}@{} ts={} key={} value={} headers=[{}]",
                    r.offset,
                    r.timestamp,
                    key.as_deref().unwrap_or("null"),
                    r.value
                        .as_deref()
                        .map(String::from_utf8_lossy)
                        .as_deref()
                        .unwrap_or("null"),
                    headers.join(",")
                );
            }
        }
        while let Some(event) = consumer.next_event() {
            match event {
                Event::Assigned { partitions } => {
                    eprintln!("assigned: {}", list(&partitions));
                    if !going {
                        if let Err(e) = consumer.core_mut().pause(&partitions) {
                            eprintln!("pause: {e}");
                        }
                    }
                    owned += partitions.len();
                    if args.json {
                        json_line(&format!("{{\"owned\": {owned}}}"));
                    }
                }
                Event::Revoked { partitions, token } => {
                    eprintln!("revoked: {}", list(&partitions));
                    owned = owned.saturating_sub(partitions.len());
                    if args.json {
                        json_line(&format!("{{\"owned\": {owned}}}"));
                    }
                    if let Err(e) = consumer.commit_and_ack(token, Duration::from_secs(10)) {
                        eprintln!("commit before the revoke: {e}");
                    }
                }
                Event::Lost { partitions, token } => {
                    eprintln!("lost: {}", list(&partitions));
                    owned = owned.saturating_sub(partitions.len());
                    let _ = consumer.ack_rebalance(token);
                }
                Event::Fatal(e) => {
                    eprintln!("fatal: {e}");
                    consumer.close(Duration::from_secs(5));
                    return ExitCode::from(1);
                }
                Event::Error(e) => eprintln!("error: {e}"),
                Event::LogTruncation {
                    tp,
                    diverging_offset,
                    ..
                } => eprintln!("log truncation on {tp} at {diverging_offset:?}"),
                _ => {}
            }
        }
        if args.json
            && records > reported
            && (idle || reported_at.elapsed() >= Duration::from_millis(100))
        {
            (reported, reported_at) = (records, Instant::now());
            json_line(&format!(
                "{{\"records\": {records}, \"t_us\": {}}}",
                unix_us()
            ));
        }
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "consumed {records} records ({bytes} value bytes) in {secs:.3}s: {:.0} records/s (checksum {checksum:x})",
        records as f64 / secs
    );
    if args.json {
        let us = |t: Option<u128>| t.map_or("null".to_string(), |t| t.to_string());
        json_line(&format!(
            "{{\"done\": true, \"records\": {records}, \"bytes\": {bytes}, \"checksum\": \"{checksum:x}\", \"first_us\": {}, \"last_us\": {}}}",
            us(first_us),
            us(last_us)
        ));
    }
    consumer.close(Duration::from_secs(5));
    ExitCode::SUCCESS
}

/// Microseconds since the Unix epoch (comparable between processes).
fn unix_us() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros())
}

/// One line on stdout, flushed at once (a script reads it while the process runs).
fn json_line(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
