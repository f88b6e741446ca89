//! Consumes a topic and prints its records.
//!
//! ```text
//! cargo run -p kasio-std --example consume -- --bootstrap HOST:PORT --topic T \
//!     [--partitions N] [--from-beginning] [--count N] [--quiet] [--set name=value]...
//! ```
//!
//! Without `--partitions`, every partition of the topic (from metadata) is assigned.
//! `--count N` stops after N records; `--quiet` prints only a summary (for
//! benchmarks: every value is still touched).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use kasio_core::config::Config;
use kasio_core::consumer::{Event, TopicPartition};
use kasio_std::Consumer;

struct Args {
    bootstrap: String,
    topic: String,
    partitions: Option<i32>,
    from_beginning: bool,
    count: Option<u64>,
    quiet: bool,
    set: Vec<(String, String)>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let mut a = Args {
        bootstrap: String::new(),
        topic: String::new(),
        partitions: None,
        from_beginning: false,
        count: None,
        quiet: false,
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
            "--from-beginning" => a.from_beginning = true,
            "--quiet" => a.quiet = true,
            "--set" => {
                let kv = value("--set")?;
                let (k, v) = kv.split_once('=').ok_or("--set takes name=value")?;
                a.set.push((k.to_string(), v.to_string()));
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.bootstrap.is_empty() || a.topic.is_empty() {
        return Err("usage: consume --bootstrap HOST:PORT --topic T [--partitions N] [--from-beginning] [--count N] [--quiet] [--set name=value]".into());
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let mut props = vec![("bootstrap.servers".to_string(), args.bootstrap.clone())];
    if args.from_beginning {
        props.push(("auto.offset.reset".into(), "earliest".into()));
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
                    return ExitCode::from(1);
                }
            }
        }
    };
    consumer
        .core_mut()
        .assign((0..partitions).map(|p| TopicPartition::new(args.topic.clone(), p)));
    let started = Instant::now();
    let (mut records, mut bytes) = (0u64, 0u64);
    let mut checksum = 0u64;
    while args.count.is_none_or(|n| records < n) {
        let polled = consumer.poll(Duration::from_millis(500));
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
                Event::Error(e) => eprintln!("error: {e}"),
                Event::LogTruncation {
                    tp,
                    diverging_offset,
                    ..
                } => eprintln!("log truncation on {tp} at {diverging_offset:?}"),
                _ => {}
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "consumed {records} records ({bytes} value bytes) in {secs:.3}s: {:.0} records/s (checksum {checksum:x})",
        records as f64 / secs
    );
    consumer.close(Duration::from_secs(5));
    ExitCode::SUCCESS
}
