//! kasio's consumer-group peer: a kasio-std `Consumer` in a group, with the command
//! line, JSON events and commands of the Java and librdkafka peers
//! (`scripts/rig/java/GroupConsumer.java`, `scripts/rig/group_consume.py`;
//! scripts/rig/README.md, "Group consumer peers"), so a test drives all three alike
//! (`kasio_sim::peers::GroupPeer::kasio`).
//!
//! ```text
//! kasio_group_peer --bootstrap B --group G --topic T [--topic T2 ...]
//!     [--assignor range|roundrobin|cooperative-sticky] [--instance-id ID]
//!     [--auto-commit true|false] [--auto-offset-reset earliest|latest|none]
//!     [--session-timeout-ms MS] [--heartbeat-interval-ms MS]
//!     [--max-poll-interval-ms MS] [--client-rack RACK] [--client-id ID]
//!     [--max-poll-records N] [--poll-ms MS] [--paused] [--set key=value ...]
//! ```
//!
//! How it maps the other peers' callbacks onto kasio's acknowledged events:
//!
//! - `Assigned`: reported as `assigned` (kasio gives the new partitions: all of them
//!   with an eager assignor, the added ones with cooperative-sticky, as Java's
//!   callback); paused at once when the member is paused.
//! - `Revoked`: with manual commits, `commit_and_ack` commits what was consumed
//!   (reported as a `revoke` commit) and acknowledges; with auto-commit the core
//!   committed before the event, and the peer acknowledges. Then `revoked`.
//! - `Lost`: acknowledged (nothing may be committed), then `lost`.
//! - Manual commits (`--auto-commit false`, the default): after each poll batch
//!   `commit_sync` commits, for every partition of the batch, the offset after its
//!   last record (as the other peers do; kasio's records carry no leader epoch, so
//!   none is sent); offsets of a failed commit stay pending and go with the next
//!   batch's commit, or an empty poll retries them (`retry`). On close the pending
//!   offsets are committed (`revoke`, as the others' revoke callbacks do). A revoke
//!   (`commit_and_ack`) and the `commit` command commit every owned partition's
//!   position with its leader epoch (`commit_consumed`). stdout is flushed before
//!   every commit. With auto-commit, every
//!   commit the core makes (periodic, before a revoke, on close) is reported as
//!   `auto` when its `Committed` event arrives.
//! - `gen` is `group_metadata().generation_id` when the event is handled (-1 once
//!   the generation is gone, e.g. for `lost`).
//!
//! `--group-protocol consumer` (KIP-848) is refused: kasio has no KIP-848 yet.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufWriter, Stdout, Write};
use std::process::ExitCode;
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

use kasio_core::config::Config;
use kasio_core::consumer::{Event, TopicPartition};
use kasio_core::group::{OffsetAndMetadata, RebalanceToken, Transition};
use kasio_std::{CommitResults, Consumer, SyncError};
use serde_json::{json, Map, Value};

/// How long a blocking commit or query may take.
const WAIT: Duration = Duration::from_secs(10);

struct Args {
    bootstrap: String,
    group: String,
    topics: Vec<String>,
    assignor: String,
    instance_id: Option<String>,
    auto_commit: bool,
    auto_offset_reset: String,
    session_timeout_ms: Option<u32>,
    heartbeat_interval_ms: Option<u32>,
    max_poll_interval_ms: Option<u32>,
    group_protocol: String,
    remote_assignor: Option<String>,
    client_rack: Option<String>,
    client_id: Option<String>,
    max_poll_records: Option<u32>,
    poll_ms: u64,
    paused: bool,
    set: Vec<(String, String)>,
}

fn parse_args(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut a = Args {
        bootstrap: String::new(),
        group: String::new(),
        topics: Vec::new(),
        assignor: "range".into(),
        instance_id: None,
        auto_commit: false,
        auto_offset_reset: "earliest".into(),
        session_timeout_ms: None,
        heartbeat_interval_ms: None,
        max_poll_interval_ms: None,
        group_protocol: "classic".into(),
        remote_assignor: None,
        client_rack: None,
        client_id: None,
        max_poll_records: None,
        poll_ms: 100,
        paused: false,
        set: Vec::new(),
    };
    fn num<T: std::str::FromStr>(flag: &str, v: String) -> Result<T, String> {
        v.parse().map_err(|_| format!("{flag}: not a number: {v}"))
    }
    while let Some(flag) = argv.next() {
        if flag == "--paused" {
            a.paused = true;
            continue;
        }
        let v = argv
            .next()
            .ok_or_else(|| format!("missing value for {flag}"))?;
        match flag.as_str() {
            "--bootstrap" => a.bootstrap = v,
            "--group" => a.group = v,
            "--topic" => a
                .topics
                .extend(v.split(',').filter(|t| !t.is_empty()).map(String::from)),
            "--assignor" => a.assignor = v,
            "--remote-assignor" => a.remote_assignor = Some(v),
            "--instance-id" => a.instance_id = Some(v),
            "--auto-commit" => {
                a.auto_commit = match v.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(format!("--auto-commit takes true or false, not {v}")),
                }
            }
            "--auto-offset-reset" => a.auto_offset_reset = v,
            "--session-timeout-ms" => a.session_timeout_ms = Some(num(&flag, v)?),
            "--heartbeat-interval-ms" => a.heartbeat_interval_ms = Some(num(&flag, v)?),
            "--max-poll-interval-ms" => a.max_poll_interval_ms = Some(num(&flag, v)?),
            "--group-protocol" => a.group_protocol = v,
            "--client-rack" => a.client_rack = Some(v),
            "--client-id" => a.client_id = Some(v),
            "--max-poll-records" => a.max_poll_records = Some(num(&flag, v)?),
            "--poll-ms" => a.poll_ms = num(&flag, v)?,
            "--set" => {
                let (k, val) = v
                    .split_once('=')
                    .ok_or_else(|| format!("--set takes key=value, not {v}"))?;
                a.set.push((k.into(), val.into()));
            }
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if a.bootstrap.is_empty() || a.group.is_empty() || a.topics.is_empty() {
        return Err("--bootstrap, --group and --topic are required".into());
    }
    if a.group_protocol != "classic" {
        return Err(format!(
            "--group-protocol {}: kasio has only the classic group protocol (KIP-848 is not built)",
            a.group_protocol
        ));
    }
    Ok(a)
}

/// The client configuration the options stand for.
fn config(a: &Args) -> Result<Config, String> {
    let mut props: Vec<(String, String)> = vec![
        ("bootstrap.servers".into(), a.bootstrap.clone()),
        ("group.id".into(), a.group.clone()),
        ("enable.auto.commit".into(), a.auto_commit.to_string()),
        ("auto.offset.reset".into(), a.auto_offset_reset.clone()),
        ("partition.assignment.strategy".into(), a.assignor.clone()),
    ];
    let heartbeat = a
        .heartbeat_interval_ms
        .or(a.session_timeout_ms.map(|s| (s / 3).max(1)));
    let options = [
        ("group.instance.id", a.instance_id.clone()),
        ("group.remote.assignor", a.remote_assignor.clone()),
        (
            "session.timeout.ms",
            a.session_timeout_ms.map(|v| v.to_string()),
        ),
        ("heartbeat.interval.ms", heartbeat.map(|v| v.to_string())),
        (
            "max.poll.interval.ms",
            a.max_poll_interval_ms.map(|v| v.to_string()),
        ),
        ("client.rack", a.client_rack.clone()),
        ("client.id", a.client_id.clone()),
        (
            "max.poll.records",
            a.max_poll_records.map(|v| v.to_string()),
        ),
    ];
    for (k, v) in options {
        if let Some(v) = v {
            props.push((k.into(), v));
        }
    }
    props.extend(a.set.iter().cloned());
    Config::from_pairs(props.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|e| e.to_string())
}

fn tps<'a>(parts: impl IntoIterator<Item = &'a TopicPartition>) -> Value {
    let sorted: BTreeSet<&TopicPartition> = parts.into_iter().collect();
    sorted
        .iter()
        .map(|tp| json!([tp.topic, tp.partition]))
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// What a commit commits.
enum Commit {
    /// The offsets after the records read and not committed yet (`pending`), as
    /// the other peers commit after each batch.
    Pending,
    /// Every owned partition's position, with the leader epoch of its last record
    /// (`commit_consumed`); with a token, the revoke is acknowledged after it
    /// (`commit_and_ack`).
    Consumed(Option<RebalanceToken>),
}

/// What came in on stdin.
enum Input {
    Command(Map<String, Value>),
    Bad(String),
    Eof,
}

struct Member {
    c: Consumer,
    out: BufWriter<Stdout>,
    auto_commit: bool,
    static_member: bool,
    paused: bool,
    records: u64,
    /// The assignment, as the rebalance events made it.
    owned: BTreeSet<TopicPartition>,
    /// `KASIO_PEER_TRACE` set: the member's state changes go to stderr.
    trace: Option<(std::time::Instant, Option<Transition>)>,
    /// Next offsets read and not yet known to be committed (manual commits).
    pending: BTreeMap<TopicPartition, i64>,
}

impl Member {
    fn emit(&mut self, v: Value) {
        let _ = writeln!(self.out, "{v}");
    }

    fn flush(&mut self) {
        let _ = self.out.flush();
    }

    fn generation(&self) -> (i32, String) {
        self.c
            .core()
            .group_metadata()
            .map(|m| (m.generation_id, m.member_id))
            .unwrap_or((-1, String::new()))
    }

    fn rebalance(&mut self, ev: &str, parts: &[TopicPartition], gen: (i32, String)) {
        let line = json!({
            "ev": ev, "gen": gen.0, "member_id": gen.1,
            "partitions": tps(parts), "assignment": tps(&self.owned),
        });
        self.emit(line);
        self.flush();
    }

    /// Reports a commit's per-partition results: a `commit` line for what was
    /// committed, a `commit_failed` line for the rest.
    fn report_commit(&mut self, mode: &str, results: &CommitResults) {
        let gen = self.generation().0;
        let mut ok = Vec::new();
        let mut failed = Vec::new();
        let mut error = String::new();
        for (tp, r) in results {
            match r {
                Ok(o) => {
                    if self.pending.get(tp).is_some_and(|p| *p <= o.offset) {
                        self.pending.remove(tp);
                    }
                    ok.push(json!([tp.topic, tp.partition, o.offset]));
                }
                Err(e) => {
                    error = e.to_string();
                    failed.push(json!([tp.topic, tp.partition, self.pending.get(tp)]));
                }
            }
        }
        if !ok.is_empty() {
            self.emit(json!({"ev": "commit", "mode": mode, "gen": gen, "offsets": ok}));
        }
        if !failed.is_empty() {
            self.emit(
                json!({"ev": "commit_failed", "mode": mode, "error": error, "offsets": failed}),
            );
        }
    }

    /// Commits and waits for the answer: the pending offsets (`Commit::Pending`), or
    /// what was consumed, then acknowledging a revoke (`Commit::Consumed`).
    fn commit(&mut self, mode: &'static str, what: Commit) {
        // Records are reported before their offsets are committed: a member killed
        // right after the commit took no committed-but-unreported record with it.
        self.flush();
        let result = match what {
            Commit::Pending => {
                let offsets: Vec<(TopicPartition, OffsetAndMetadata)> = self
                    .pending
                    .iter()
                    .map(|(tp, o)| (tp.clone(), OffsetAndMetadata::new(*o)))
                    .collect();
                self.c.commit_sync(offsets, WAIT)
            }
            Commit::Consumed(Some(t)) => self.c.commit_and_ack(t, WAIT),
            Commit::Consumed(None) => self.c.commit_consumed_sync(WAIT),
        };
        match result {
            Ok(results) => self.report_commit(mode, &results),
            Err(e) => {
                let offsets: Vec<Value> = self
                    .pending
                    .iter()
                    .map(|(tp, o)| json!([tp.topic, tp.partition, o]))
                    .collect();
                let e = match e {
                    // The answer may still come: it is reported then, as `late`.
                    SyncError::Timeout => "no answer within 10 s".to_string(),
                    e => e.to_string(),
                };
                self.emit(
                    json!({"ev": "commit_failed", "mode": mode, "error": e, "offsets": offsets}),
                );
            }
        }
        self.flush();
    }

    /// Handles the events kasio has queued.
    fn events(&mut self) -> Result<(), ()> {
        while let Some(event) = self.c.next_event() {
            self.event(event)?;
        }
        Ok(())
    }

    fn event(&mut self, event: Event) -> Result<(), ()> {
        match event {
            Event::Assigned { partitions } => {
                self.owned.extend(partitions.iter().cloned());
                if self.paused && !partitions.is_empty() {
                    let _ = self.c.core_mut().pause(&partitions);
                }
                let gen = self.generation();
                self.rebalance("assigned", &partitions, gen);
            }
            Event::Revoked { partitions, token } => {
                let gen = self.generation();
                if self.auto_commit {
                    // The core committed what was consumed before the event.
                    let _ = self.c.ack_rebalance(token);
                } else {
                    self.commit("revoke", Commit::Consumed(Some(token)));
                }
                self.drop_partitions(&partitions);
                self.rebalance("revoked", &partitions, gen);
            }
            Event::Lost { partitions, token } => {
                let _ = self.c.ack_rebalance(token);
                self.drop_partitions(&partitions);
                let gen = self.generation();
                self.rebalance("lost", &partitions, gen);
            }
            // Not one a commit above waited for: auto-commit's, or the late answer
            // to a commit whose wait timed out.
            Event::Committed { results, .. } => {
                let mode = if self.auto_commit { "auto" } else { "late" };
                self.report_commit(mode, &results);
            }
            Event::Error(e) => {
                self.emit(json!({"ev": "error", "fatal": false, "error": e.to_string()}));
            }
            Event::Fatal(e) => {
                self.emit(json!({"ev": "error", "fatal": true, "error": e.to_string()}));
                self.flush();
                return Err(());
            }
            _ => {}
        }
        Ok(())
    }

    fn drop_partitions(&mut self, parts: &[TopicPartition]) {
        for tp in parts {
            self.owned.remove(tp);
            self.pending.remove(tp);
        }
    }

    /// With `KASIO_PEER_TRACE`: the group member's last transition, on stderr,
    /// whenever it changed (several in one poll show as the last).
    fn trace(&mut self) {
        let Some((start, last)) = self.trace.as_mut() else {
            return;
        };
        let now = self.c.core().group_transitions().last().copied();
        if let Some(t) = now.filter(|_| now != *last) {
            let (gen, member) = self
                .c
                .core()
                .group_metadata()
                .map(|m| (m.generation_id, m.member_id))
                .unwrap_or_default();
            eprintln!(
                "[{:>8.3}s kasio peer {}] {} -> {} ({:?}), generation {gen} {member}",
                start.elapsed().as_secs_f64(),
                std::process::id(),
                t.from,
                t.to,
                t.cause
            );
            *last = now;
        }
    }

    /// One poll: the records, the events, then (manual mode) the commit.
    fn poll(&mut self, timeout: Duration) -> Result<(), ()> {
        self.trace();
        let batch = self.c.poll(timeout);
        for (tp, r) in batch.iter() {
            let line = json!({
                "ev": "record", "topic": tp.topic, "partition": tp.partition, "offset": r.offset,
                "key": r.key.as_deref().map(hex), "value_len": r.value.as_ref().map(|v| v.len()),
            });
            self.emit(line);
            self.records += 1;
            self.pending.insert(tp.clone(), r.offset + 1);
        }
        self.events()?;
        if !self.auto_commit {
            self.pending.retain(|tp, _| self.owned.contains(tp));
            if !batch.is_empty() {
                self.commit("sync", Commit::Pending);
            } else if !self.pending.is_empty() {
                self.commit("retry", Commit::Pending);
            }
        }
        self.events()?;
        self.flush();
        Ok(())
    }

    /// Closes the consumer: manual mode commits what was consumed first (as the
    /// other peers do in their revoke callback); kasio's close revokes, commits
    /// (auto-commit) and leaves (dynamic members).
    fn close(&mut self) {
        if !self.auto_commit && !self.pending.is_empty() {
            self.commit("revoke", Commit::Pending);
        }
        let gen = self.generation();
        self.c.core_mut().close();
        self.c.run_until(WAIT, |c| c.is_closed());
        while let Some(event) = self.c.next_event() {
            match event {
                Event::Revoked { partitions, .. } => {
                    self.drop_partitions(&partitions);
                    self.rebalance("revoked", &partitions, gen.clone());
                }
                other => {
                    let _ = self.event(other);
                }
            }
        }
        self.flush();
    }

    /// Answers one command; false when the member should exit.
    fn handle(&mut self, cmd: &Map<String, Value>) -> Result<bool, String> {
        let id = cmd.get("id").cloned().unwrap_or(Value::Null);
        let op = cmd.get("cmd").and_then(Value::as_str).unwrap_or("");
        let mut ans = json!({"ok": true, "id": id, "cmd": op});
        match op {
            "ping" => {}
            "status" => {
                let (gen, member) = self.generation();
                ans["gen"] = json!(gen);
                ans["member_id"] = json!(member);
                ans["assignment"] = tps(&self.owned);
                ans["paused"] = json!(self.paused);
                ans["records"] = json!(self.records);
            }
            "pause" | "resume" => {
                self.paused = op == "pause";
                let owned: Vec<TopicPartition> = self.owned.iter().cloned().collect();
                let core = self.c.core_mut();
                let r = if self.paused {
                    core.pause(&owned)
                } else {
                    core.resume(&owned)
                };
                r.map_err(|e| e.to_string())?;
            }
            "committed" => {
                let parts: Vec<TopicPartition> = match cmd.get("partitions") {
                    Some(Value::Array(ps)) => ps
                        .iter()
                        .map(|p| {
                            let t = p[0]
                                .as_str()
                                .ok_or("partitions: [[topic, partition], ...]")?;
                            let n = p[1]
                                .as_i64()
                                .ok_or("partitions: [[topic, partition], ...]")?;
                            Ok(TopicPartition::new(t, n as i32))
                        })
                        .collect::<Result<_, &str>>()?,
                    _ => self.owned.iter().cloned().collect(),
                };
                let got = self.c.committed(parts, WAIT).map_err(|e| e.to_string())?;
                let mut offsets = Vec::new();
                for (tp, r) in got {
                    let o = r.map_err(|e| format!("{tp}: {e}"))?;
                    offsets.push(json!([tp.topic, tp.partition, o.map(|o| o.offset)]));
                }
                offsets.sort_by_key(|o| (o[0].as_str().map(String::from), o[1].as_i64()));
                ans["offsets"] = Value::Array(offsets);
            }
            "commit" => {
                self.commit("command", Commit::Consumed(None));
                ans["offsets"] = self
                    .owned
                    .iter()
                    .map(|tp| {
                        json!([
                            tp.topic,
                            tp.partition,
                            self.c.core().position(tp).ok().flatten()
                        ])
                    })
                    .collect();
            }
            "stop" => {
                match cmd.get("leave").and_then(Value::as_bool) {
                    Some(leave) if leave == self.static_member => {
                        return Err(
                            "kasio cannot choose: dynamic members leave, static members stay"
                                .into(),
                        );
                    }
                    _ => {}
                }
                self.close();
                ans["records"] = json!(self.records);
                self.emit(ans);
                self.flush();
                return Ok(false);
            }
            other => return Err(format!("unknown cmd {other:?}")),
        }
        self.emit(ans);
        self.flush();
        Ok(true)
    }

    fn run(&mut self, poll: Duration, commands: &Receiver<Input>) -> u8 {
        loop {
            while let Ok(input) = commands.try_recv() {
                let cmd = match input {
                    Input::Eof => {
                        self.close();
                        return 0;
                    }
                    Input::Bad(e) => {
                        self.emit(json!({"ok": false, "id": null, "error": e}));
                        self.flush();
                        continue;
                    }
                    Input::Command(cmd) => cmd,
                };
                match self.handle(&cmd) {
                    Ok(true) => {}
                    Ok(false) => return 0,
                    Err(e) => {
                        let id = cmd.get("id").cloned().unwrap_or(Value::Null);
                        self.emit(json!({"ok": false, "id": id, "error": e}));
                        self.flush();
                    }
                }
            }
            if self.poll(poll).is_err() {
                self.close();
                return 1;
            }
        }
    }
}

fn main() -> ExitCode {
    let mut out = BufWriter::new(std::io::stdout());
    let started = parse_args(std::env::args().skip(1)).and_then(|a| {
        let config = config(&a)?;
        let mut c = Consumer::new(config);
        c.subscribe(a.topics.clone()).map_err(|e| e.to_string())?;
        Ok((a, c))
    });
    let (a, c) = match started {
        Ok(x) => x,
        Err(e) => {
            let _ = writeln!(out, "{}", json!({ "error": e }));
            let _ = out.flush();
            return ExitCode::from(2);
        }
    };
    let info = json!({
        "peer": "kasio", "client": concat!("kasio-std ", env!("CARGO_PKG_VERSION")),
        "group": a.group, "pid": std::process::id(), "group_protocol": a.group_protocol,
        "assignor": a.assignor, "instance_id": a.instance_id, "auto_commit": a.auto_commit,
        "paused": a.paused,
    });
    let mut m = Member {
        c,
        out,
        auto_commit: a.auto_commit,
        static_member: a.instance_id.is_some(),
        paused: a.paused,
        records: 0,
        owned: BTreeSet::new(),
        pending: BTreeMap::new(),
        trace: std::env::var_os("KASIO_PEER_TRACE").map(|_| (std::time::Instant::now(), None)),
    };
    m.emit(info);
    m.flush();
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let input = match serde_json::from_str::<Value>(line) {
                Ok(Value::Object(cmd)) => Input::Command(cmd),
                Ok(_) => Input::Bad(format!("bad command {line}: not a JSON object")),
                Err(e) => Input::Bad(format!("bad command {line}: {e}")),
            };
            if tx.send(input).is_err() {
                return;
            }
        }
        let _ = tx.send(Input::Eof);
    });
    ExitCode::from(m.run(Duration::from_millis(a.poll_ms), &rx))
}
