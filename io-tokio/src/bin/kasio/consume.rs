//! `-C` and `-G`: the consumer loop.
//!
//! - `-C -t T [-p P]`: every partition of T (from metadata), or P, assigned by hand;
//!   `-o` positions each one. `-G GROUP topics...`: a group member (auto-commit as
//!   configured, on by default); a given `-o` positions each partition as it is
//!   assigned, as kcat does, and `stored` (or no `-o`) keeps the committed offsets.
//! - `-e`: when a partition is assigned, its end is looked up once (ListOffsets
//!   "latest": the high watermark, or the last stable offset under
//!   `isolation.level=read_committed`). The partition is done once its position
//!   reaches that end; the position moves past transaction markers and aborted
//!   records although no record is handed out, so a marker at the end counts.
//!   Records at or past the recorded end are not printed. The run ends when
//!   every assigned partition is done.
//! - `-o e@T`: a partition is done at its first record with a timestamp at or
//!   after T (not printed).
//! - Unreachable cluster: if no connection to any broker was ever made within `-m`
//!   seconds (default 5), the run fails (exit 1) naming the address tried and the
//!   reason. Once connected, outages are retried for as long as it takes, as
//!   kcat does.
//! - Ctrl-C (SIGINT) or SIGTERM: the consumer is closed (final auto-commit, the
//!   group left) and the run ends with exit code 0, as kcat.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use kasio_core::consumer::{BrokerError, ConsumerError, RemoteError, TopicPartition};
use kasio_tokio::{Consumer, Item};

use crate::args::{Consume, Progress as ProgressMode, Source};
use crate::format::eof_notice;
use crate::offsets::StartOffset;
use crate::progress::Progress;
use crate::record::RecordView;
use crate::Failure;

/// How often the loop looks at positions, the clock and the progress line.
const TICK: Duration = Duration::from_millis(250);
/// How long closing may take.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

fn runtime(msg: impl Into<String>) -> Failure {
    Failure::Runtime(msg.into())
}

/// Fails when no broker connection was ever made within the `-m` timeout.
pub fn check_reachable(
    consumer: &Consumer,
    started: Instant,
    timeout: Duration,
    bootstrap: &str,
) -> Result<(), Failure> {
    if started.elapsed() < timeout {
        return Ok(());
    }
    let m = consumer.metrics();
    if m.connections > 0 {
        return Ok(());
    }
    let tried = m
        .last_connect_error
        .unwrap_or_else(|| format!("{bootstrap} (no answer)"));
    let others = if crate::kafka::servers(bootstrap).len() > 1 {
        format!(" (nor to any other of {bootstrap})")
    } else {
        String::new()
    };
    Err(runtime(format!(
        "cannot connect to broker {tried}{others} within {} s (-m)",
        timeout.as_secs()
    )))
}

/// Waits for `topic`'s partitions, failing with what went wrong after the `-m`
/// timeout.
pub async fn partitions_of(
    consumer: &Consumer,
    topic: &str,
    timeout: Duration,
    bootstrap: &str,
) -> Result<Vec<i32>, Failure> {
    let started = Instant::now();
    loop {
        if let Ok(ps) = consumer.partitions_for(topic, TICK).await {
            return Ok(ps);
        }
        check_reachable(consumer, started, timeout, bootstrap)?;
        if started.elapsed() >= timeout {
            let error = consumer.with_core(|core| core.metadata().topic(topic).map(|t| t.error));
            let why = match error {
                Some(code) if code.code() != 0 => crate::kafka::rdkafka_broker_error(code),
                _ => "no metadata for it".to_owned(),
            };
            return Err(runtime(format!(
                "topic '{topic}' not found within {} s (-m): {why}",
                timeout.as_secs()
            )));
        }
    }
}

/// ListOffsets for `tps` at `ts` (-1 end, -2 start): offset per partition.
async fn offsets_at(
    consumer: &Consumer,
    tps: &[TopicPartition],
    ts: i64,
) -> Result<BTreeMap<TopicPartition, Option<i64>>, Failure> {
    let answers = consumer
        .offsets_for_times(tps.iter().map(|tp| (tp.clone(), ts)))
        .await
        .map_err(|e| runtime(format!("looking up offsets: {e}")))?;
    answers
        .into_iter()
        .map(|(tp, r)| match r {
            Ok(o) => Ok((tp, o.map(|o| o.offset))),
            Err(e) => Err(runtime(format!("looking up offsets of {tp}: {e}"))),
        })
        .collect()
}

/// Positions `tps` as `-o` says.
async fn apply_start(
    consumer: &Consumer,
    tps: &[TopicPartition],
    start: Option<StartOffset>,
) -> Result<(), Failure> {
    let seek = |tp: &TopicPartition, o: i64| {
        consumer
            .seek(tp, o)
            .map_err(|e| runtime(format!("seek {tp} to {o}: {e}")))
    };
    match start {
        None | Some(StartOffset::Stored) => {}
        Some(StartOffset::Beginning) => consumer
            .seek_to_beginning(tps)
            .map_err(|e| runtime(format!("seek to the beginning: {e}")))?,
        Some(StartOffset::End) => consumer
            .seek_to_end(tps)
            .map_err(|e| runtime(format!("seek to the end: {e}")))?,
        Some(StartOffset::Offset(o)) => {
            for tp in tps {
                seek(tp, o)?;
            }
        }
        Some(StartOffset::Tail(n)) => {
            let ends = offsets_at(consumer, tps, -1).await?;
            let starts = offsets_at(consumer, tps, -2).await?;
            for tp in tps {
                let end = ends.get(tp).copied().flatten().unwrap_or(0);
                let first = starts.get(tp).copied().flatten().unwrap_or(0);
                seek(tp, end.saturating_sub(n as i64).max(first))?;
            }
        }
        Some(StartOffset::Timestamp(ts)) => {
            let found = offsets_at(consumer, tps, ts).await?;
            for tp in tps {
                match found.get(tp).copied().flatten() {
                    Some(o) => seek(tp, o)?,
                    // No record that recent: from the end, as librdkafka.
                    None => consumer
                        .seek_to_end(std::slice::from_ref(tp))
                        .map_err(|e| runtime(format!("seek {tp} to the end: {e}")))?,
                }
            }
        }
    }
    Ok(())
}

/// The partitions being read and how far each must go.
#[derive(Default)]
struct Partitions {
    assigned: BTreeSet<TopicPartition>,
    /// `-e`: the end recorded when the partition was assigned.
    ends: BTreeMap<TopicPartition, i64>,
    done: BTreeSet<TopicPartition>,
}

impl Partitions {
    fn all_done(&self) -> bool {
        !self.assigned.is_empty() && self.assigned.iter().all(|tp| self.done.contains(tp))
    }
}

pub async fn run(
    c: Consume,
    config: kasio_core::config::Config,
    bootstrap: String,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let verbosity = c.common.verbosity;
    let timeout = c.common.request_timeout;
    let exit_at_end = c.exit_at_end;
    let finishes = exit_at_end || c.stop_at.is_some();
    let consumer = Consumer::new(config);
    let started = Instant::now();
    let mut parts = Partitions::default();

    let show_progress = match c.progress {
        ProgressMode::Always => true,
        ProgressMode::Never => false,
        ProgressMode::Auto => verbosity > 0 && std::io::stderr().is_terminal(),
    };
    let mut progress = show_progress.then(|| Progress::new(Box::new(std::io::stderr())));
    let stdout_tty = std::io::stdout().is_terminal();

    match &c.source {
        Source::Partitions { topic, partition } => {
            let ids = match partition {
                Some(p) => vec![*p],
                None => partitions_of(&consumer, topic, timeout, &bootstrap).await?,
            };
            let tps: Vec<TopicPartition> = ids
                .iter()
                .map(|&p| TopicPartition::new(topic.clone(), p))
                .collect();
            consumer
                .assign(tps.clone())
                .map_err(|e| runtime(format!("assign: {e}")))?;
            on_assigned(&consumer, &c, &tps, &mut parts).await?;
        }
        Source::Group { topics, .. } => {
            let patterns: Vec<&String> = topics.iter().filter(|t| t.starts_with('^')).collect();
            let subscribed = match (patterns.len(), topics.len()) {
                (0, _) => consumer.subscribe(topics.iter().cloned()),
                (1, 1) => {
                    let p = &topics[0][1..];
                    consumer.subscribe_pattern(p.strip_suffix('$').unwrap_or(p))
                }
                _ => {
                    return Err(Failure::Usage(crate::args::UsageError(
                        "-G: give either topic names or one ^regex".into(),
                    )))
                }
            };
            subscribed.map_err(|e| runtime(format!("subscribe: {e}")))?;
        }
    }

    let mut buf = Vec::with_capacity(64 * 1024);
    let mut line = Vec::with_capacity(1024);
    let mut printed: u64 = 0;
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stop = std::pin::pin!(shutdown_signal());
    let result: Result<(), Failure> = 'run: loop {
        if finishes && parts.all_done() {
            break Ok(());
        }
        if c.count.is_some_and(|n| printed >= n) {
            break Ok(());
        }
        let item = tokio::select! {
            item = consumer.recv() => item,
            _ = ticker.tick() => {
                if let Err(e) = check_reachable(&consumer, started, timeout, &bootstrap) {
                    break Err(e);
                }
                if exit_at_end {
                    mark_done_at_end(&consumer, &mut parts, verbosity, progress.as_mut());
                }
                if let Some(p) = progress.as_mut() {
                    p.draw(&consumer.metrics());
                }
                continue;
            }
            _ = &mut stop => break Ok(()),
        };
        let item = match item {
            Ok(item) => item,
            Err(e) => break Err(runtime(format!("{e}"))),
        };
        match item {
            Item::Records(records) => {
                buf.clear();
                // Per batch: the first record not printed (-c, -e, e@ cut it short).
                let mut unprinted: Vec<(&TopicPartition, i64)> = Vec::new();
                for batch in records.partitions() {
                    let tp = &batch.tp;
                    let mut next = batch.records.first().map_or(0, |r| r.offset);
                    let last = batch.records.last().map_or(-1, |r| r.offset);
                    if parts.done.contains(tp) || c.count.is_some_and(|n| printed >= n) {
                        unprinted.push((tp, next));
                        continue;
                    }
                    let end = parts.ends.get(tp).copied();
                    for r in &batch.records {
                        if exit_at_end && end.is_some_and(|e| r.offset >= e) {
                            break;
                        }
                        if c.stop_at.is_some_and(|t| r.timestamp >= t) {
                            finish_partition(&consumer, &mut parts, tp);
                            break;
                        }
                        let view =
                            RecordView::from_record(&tp.topic, tp.partition, batch.broker.0, r);
                        line.clear();
                        c.output.render(&view, &mut line);
                        buf.extend_from_slice(&line);
                        printed += 1;
                        next = r.offset + 1;
                        if c.common.unbuffered {
                            if let Err(e) = write_out(out, &mut buf, progress.as_mut(), stdout_tty)
                            {
                                break 'run Err(e);
                            }
                        }
                        if c.count.is_some_and(|n| printed >= n) {
                            break;
                        }
                    }
                    if next <= last {
                        unprinted.push((tp, next));
                    }
                }
                // Records handed out but not printed are not consumed: the
                // position (and so the commit, with -G) goes back to the first.
                for (tp, offset) in unprinted {
                    let _ = consumer.seek(tp, offset);
                }
                if let Err(e) = write_out(out, &mut buf, progress.as_mut(), stdout_tty) {
                    break Err(e);
                }
                if exit_at_end {
                    mark_done_at_end(&consumer, &mut parts, verbosity, progress.as_mut());
                }
            }
            Item::Assigned(tps) => {
                if verbosity >= 2 {
                    wipe(progress.as_mut());
                    eprintln!("% Group rebalanced: assigned {}", list(&tps));
                }
                if let Err(e) = on_assigned(&consumer, &c, &tps, &mut parts).await {
                    break Err(e);
                }
            }
            Item::Revoked(guard) => {
                if verbosity >= 2 {
                    wipe(progress.as_mut());
                    eprintln!("% Group rebalanced: revoked {}", list(guard.partitions()));
                }
                for tp in guard.partitions() {
                    parts.assigned.remove(tp);
                    parts.ends.remove(tp);
                    parts.done.remove(tp);
                }
                // Auto-commit (if on) committed them already; acknowledge.
                guard.ack();
            }
            Item::Lost(guard) => {
                for tp in guard.partitions() {
                    parts.assigned.remove(tp);
                    parts.ends.remove(tp);
                    parts.done.remove(tp);
                }
                guard.ack();
            }
            Item::Eof { tp, offset } => {
                if exit_at_end {
                    mark_done_at_end(&consumer, &mut parts, verbosity, progress.as_mut());
                } else if verbosity >= 1 && !parts.done.contains(&tp) {
                    wipe(progress.as_mut());
                    eprint!("{}", eof_notice(&tp.topic, tp.partition, offset, false));
                }
            }
            Item::Error(e) => {
                if c.common.exit_on_error && fails_the_run(&e) {
                    break Err(runtime(e.to_string()));
                }
                if verbosity >= 1 {
                    wipe(progress.as_mut());
                    eprintln!("% ERROR: {e}");
                }
            }
            _ => {}
        }
    };
    wipe(progress.as_mut());
    drop(progress);
    let written = out.flush();
    // Closing commits (auto-commit) and leaves the group; a run that failed to
    // reach any broker has nothing to close.
    if let Err(e) = consumer.close(CLOSE_TIMEOUT).await {
        if result.is_ok() && verbosity >= 1 {
            eprintln!("% closing the consumer: {e}");
        }
    }
    match (result, written) {
        (Err(Failure::Quiet), _) => Ok(()),
        (Err(e), _) => Err(e),
        (Ok(()), Err(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        (Ok(()), Err(e)) => Err(runtime(format!("writing to stdout: {e}"))),
        (Ok(()), Ok(())) => Ok(()),
    }
}

/// Errors that end a run (kcat exits on a partition's consume error unless `-E`):
/// a partition the broker refuses, records that do not decode (retried from the
/// same offset otherwise, forever). Others (a connection lost, a coordinator
/// moving) are retried by the consumer.
fn fails_the_run(e: &ConsumerError) -> bool {
    matches!(
        e,
        ConsumerError::Broker(BrokerError::Partition { .. })
            | ConsumerError::Remote(RemoteError::CorruptRecords { .. })
    )
}

fn write_out(
    out: &mut dyn Write,
    buf: &mut Vec<u8>,
    progress: Option<&mut Progress>,
    stdout_tty: bool,
) -> Result<(), Failure> {
    if buf.is_empty() {
        return Ok(());
    }
    if stdout_tty {
        // Records go to the terminal the progress line is on: wipe it first.
        wipe(progress);
    }
    let r = out.write_all(buf).and_then(|()| out.flush());
    buf.clear();
    match r {
        Ok(()) => Ok(()),
        // `| head`: the reader is gone, which ends the run quietly.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Failure::Quiet),
        Err(e) => Err(runtime(format!("writing to stdout: {e}"))),
    }
}

fn wipe(progress: Option<&mut Progress>) {
    if let Some(p) = progress {
        p.wipe();
    }
}

fn list(tps: &[TopicPartition]) -> String {
    let v: Vec<String> = tps.iter().map(ToString::to_string).collect();
    v.join(", ")
}

async fn on_assigned(
    consumer: &Consumer,
    c: &Consume,
    tps: &[TopicPartition],
    parts: &mut Partitions,
) -> Result<(), Failure> {
    if tps.is_empty() {
        return Ok(());
    }
    if c.exit_at_end {
        for (tp, end) in offsets_at(consumer, tps, -1).await? {
            parts.ends.insert(tp, end.unwrap_or(0));
        }
    }
    apply_start(consumer, tps, c.start).await?;
    parts.assigned.extend(tps.iter().cloned());
    Ok(())
}

/// Stops reading `tp` (its end or its `e@` time was reached).
fn finish_partition(consumer: &Consumer, parts: &mut Partitions, tp: &TopicPartition) {
    parts.done.insert(tp.clone());
    let _ = consumer.pause(std::slice::from_ref(tp));
}

/// `-e`: marks the partitions whose position reached their recorded end, with
/// kcat's notice for each (`: exiting` on the last).
fn mark_done_at_end(
    consumer: &Consumer,
    parts: &mut Partitions,
    verbosity: u8,
    mut progress: Option<&mut Progress>,
) {
    let pending: Vec<(TopicPartition, i64)> = parts
        .assigned
        .iter()
        .filter(|tp| !parts.done.contains(*tp))
        .filter_map(|tp| Some((tp.clone(), *parts.ends.get(tp)?)))
        .collect();
    for (tp, end) in pending {
        let Ok(Some(position)) = consumer.position(&tp) else {
            continue;
        };
        if position >= end {
            finish_partition(consumer, parts, &tp);
            if verbosity >= 1 {
                wipe(progress.as_deref_mut());
                let exiting = parts.all_done();
                eprint!("{}", eof_notice(&tp.topic, tp.partition, position, exiting));
            }
        }
    }
}

/// Ctrl-C (SIGINT) or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
