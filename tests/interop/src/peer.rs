//! What the kasio group peers share (`kasio_group_peer` on kasio-std,
//! `kasio_tokio_group_peer` on kasio-tokio): the command line, the JSON lines they
//! print and the commands they read, and the bookkeeping behind the lines (the
//! assignment as the rebalance events made it, the offsets read and not yet
//! committed). Only driving the consumer differs between them.
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
//! How both map the other peers' callbacks onto kasio's acknowledged events:
//!
//! - `Assigned`: reported as `assigned` (kasio gives the new partitions: all of them
//!   with an eager assignor, the added ones with cooperative-sticky, as Java's
//!   callback); paused at once when the member is paused.
//! - `Revoked`: with manual commits, what was consumed is committed (reported as a
//!   `revoke` commit) before the revoke is acknowledged; with auto-commit the core
//!   committed before the event, and the peer acknowledges. Then `revoked`.
//! - `Lost`: acknowledged (nothing may be committed), then `lost`.
//! - Manual commits (`--auto-commit false`, the default): after each poll batch
//!   the peer commits, for every partition of the batch, the offset after its
//!   last record, and waits for the answer (as the other peers do; kasio's records
//!   carry no leader epoch, so none is sent); offsets of a failed commit stay
//!   pending and go with the next batch's commit, or an empty poll retries them
//!   (`retry`). On close the pending offsets are committed (`revoke`, as the
//!   others' revoke callbacks do). A revoke and the `commit` command commit every
//!   owned partition's position with its leader epoch (`commit_consumed`). stdout
//!   is flushed before every commit. A commit not answered within 10 s is
//!   reported failed; its answer, when it comes, as `late`. With auto-commit,
//!   every commit the core makes (periodic, before a revoke, on close) is reported
//!   as `auto` when its `Committed` event arrives.
//! - `gen` is `group_metadata().generation_id` when the event is handled (-1 once
//!   the generation is gone, e.g. for `lost`).
//! - Commands are answered between polls, so every record reported before an
//!   answer has been committed (manual commits).
//!
//! `--group-protocol consumer` (KIP-848) is refused: kasio has no KIP-848 yet.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufWriter, Stdout, Write};
use std::time::Duration;

use kasio_core::config::Config;
use kasio_core::consumer::{Consumer as Core, ConsumerError, TopicPartition};
use kasio_core::group::{CommitError, OffsetAndMetadata, Transition};
use kasio_core::records::Record;
use serde_json::{json, Map, Value};

/// How long a commit or a query may take before the peer gives up waiting.
pub const WAIT: Duration = Duration::from_secs(10);

/// The command line.
pub struct Args {
    /// `--bootstrap`.
    pub bootstrap: String,
    /// `--group`.
    pub group: String,
    /// `--topic` (repeated or comma separated).
    pub topics: Vec<String>,
    /// `--assignor` (range by default).
    pub assignor: String,
    /// `--instance-id` (static membership).
    pub instance_id: Option<String>,
    /// `--auto-commit` (false by default).
    pub auto_commit: bool,
    /// `--auto-offset-reset` (earliest by default).
    pub auto_offset_reset: String,
    /// `--session-timeout-ms`.
    pub session_timeout_ms: Option<u32>,
    /// `--heartbeat-interval-ms` (a third of the session by default).
    pub heartbeat_interval_ms: Option<u32>,
    /// `--max-poll-interval-ms`.
    pub max_poll_interval_ms: Option<u32>,
    /// `--group-protocol` (only classic).
    pub group_protocol: String,
    /// `--remote-assignor`.
    pub remote_assignor: Option<String>,
    /// `--client-rack`.
    pub client_rack: Option<String>,
    /// `--client-id`.
    pub client_id: Option<String>,
    /// `--max-poll-records`.
    pub max_poll_records: Option<u32>,
    /// `--poll-ms`: how long one poll waits (100 by default).
    pub poll_ms: u64,
    /// `--paused`.
    pub paused: bool,
    /// `--set key=value`, applied last.
    pub set: Vec<(String, String)>,
}

/// Parses the command line (without the program name).
pub fn parse_args(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
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

impl Args {
    /// The client configuration the options stand for.
    pub fn config(&self) -> Result<Config, String> {
        let mut props: Vec<(String, String)> = vec![
            ("bootstrap.servers".into(), self.bootstrap.clone()),
            ("group.id".into(), self.group.clone()),
            ("enable.auto.commit".into(), self.auto_commit.to_string()),
            ("auto.offset.reset".into(), self.auto_offset_reset.clone()),
            (
                "partition.assignment.strategy".into(),
                self.assignor.clone(),
            ),
        ];
        let heartbeat = self
            .heartbeat_interval_ms
            .or(self.session_timeout_ms.map(|s| (s / 3).max(1)));
        let options = [
            ("group.instance.id", self.instance_id.clone()),
            ("group.remote.assignor", self.remote_assignor.clone()),
            (
                "session.timeout.ms",
                self.session_timeout_ms.map(|v| v.to_string()),
            ),
            ("heartbeat.interval.ms", heartbeat.map(|v| v.to_string())),
            (
                "max.poll.interval.ms",
                self.max_poll_interval_ms.map(|v| v.to_string()),
            ),
            ("client.rack", self.client_rack.clone()),
            ("client.id", self.client_id.clone()),
            (
                "max.poll.records",
                self.max_poll_records.map(|v| v.to_string()),
            ),
        ];
        for (k, v) in options {
            if let Some(v) = v {
                props.push((k.into(), v));
            }
        }
        props.extend(self.set.iter().cloned());
        Config::from_pairs(props.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .map_err(|e| e.to_string())
    }

    /// The first line a peer prints: who it is and how it was started.
    pub fn info(&self, peer: &str, client: &str) -> Value {
        json!({
            "peer": peer, "client": client,
            "group": self.group, "pid": std::process::id(), "group_protocol": self.group_protocol,
            "assignor": self.assignor, "instance_id": self.instance_id, "auto_commit": self.auto_commit,
            "paused": self.paused,
        })
    }
}

/// `[[topic, partition], ...]`, sorted.
pub fn tps<'a>(parts: impl IntoIterator<Item = &'a TopicPartition>) -> Value {
    let sorted: BTreeSet<&TopicPartition> = parts.into_iter().collect();
    sorted
        .iter()
        .map(|tp| json!([tp.topic, tp.partition]))
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The group generation and member id (-1 and "" without a generation).
pub fn generation(core: &Core) -> (i32, String) {
    core.group_metadata()
        .map(|m| (m.generation_id, m.member_id))
        .unwrap_or((-1, String::new()))
}

/// What came in on stdin.
pub enum Input {
    /// A command (a JSON object).
    Command(Map<String, Value>),
    /// A line that is no command: answered with an error.
    Bad(String),
    /// stdin closed: close the consumer and exit.
    Eof,
}

/// Reads commands from stdin on a thread of its own, handing each to `send`
/// (false: nobody listens any more), then [`Input::Eof`].
pub fn read_stdin(mut send: impl FnMut(Input) -> bool + Send + 'static) {
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
            if !send(input) {
                return;
            }
        }
        send(Input::Eof);
    });
}

/// The answer to a command, before the driver fills in its part.
pub fn answer(cmd: &Map<String, Value>) -> Value {
    let id = cmd.get("id").cloned().unwrap_or(Value::Null);
    let op = cmd.get("cmd").and_then(Value::as_str).unwrap_or("");
    json!({"ok": true, "id": id, "cmd": op})
}

/// The error answer to a command.
pub fn error_answer(cmd: &Map<String, Value>, error: &str) -> Value {
    let id = cmd.get("id").cloned().unwrap_or(Value::Null);
    json!({"ok": false, "id": id, "error": error})
}

/// `stop` with `leave` given: kasio cannot choose (dynamic members leave, static
/// members stay), so a `leave` that says otherwise is an error.
pub fn check_stop(cmd: &Map<String, Value>, static_member: bool) -> Result<(), String> {
    match cmd.get("leave").and_then(Value::as_bool) {
        Some(leave) if leave == static_member => {
            Err("kasio cannot choose: dynamic members leave, static members stay".into())
        }
        _ => Ok(()),
    }
}

/// The partitions a `committed` command asks about (`owned` if it names none).
pub fn committed_partitions(
    cmd: &Map<String, Value>,
    owned: &BTreeSet<TopicPartition>,
) -> Result<Vec<TopicPartition>, String> {
    match cmd.get("partitions") {
        Some(Value::Array(ps)) => ps
            .iter()
            .map(|p| {
                let bad = || "partitions: [[topic, partition], ...]".to_string();
                let t = p[0].as_str().ok_or_else(bad)?;
                let n = p[1].as_i64().ok_or_else(bad)?;
                Ok(TopicPartition::new(t, n as i32))
            })
            .collect(),
        _ => Ok(owned.iter().cloned().collect()),
    }
}

/// The `offsets` of a `committed` answer: `[[topic, partition, offset|null], ...]`,
/// sorted; an error for any partition fails the command.
pub fn committed_offsets(
    got: Vec<(
        TopicPartition,
        Result<Option<OffsetAndMetadata>, ConsumerError>,
    )>,
) -> Result<Value, String> {
    let mut offsets = Vec::new();
    for (tp, r) in got {
        let o = r.map_err(|e| format!("{tp}: {e}"))?;
        offsets.push(json!([tp.topic, tp.partition, o.map(|o| o.offset)]));
    }
    offsets.sort_by_key(|o| (o[0].as_str().map(String::from), o[1].as_i64()));
    Ok(Value::Array(offsets))
}

/// What a peer reports and the state its reports rest on: the output, the
/// assignment as the rebalance events made it, and the offsets read and not yet
/// known to be committed.
pub struct Report {
    out: BufWriter<Stdout>,
    /// `--auto-commit`.
    pub auto_commit: bool,
    /// `--instance-id` given.
    pub static_member: bool,
    /// Paused by `--paused` or the `pause` command.
    pub paused: bool,
    /// Records handed to the application so far.
    pub records: u64,
    /// The assignment, as the rebalance events made it.
    pub owned: BTreeSet<TopicPartition>,
    /// Next offsets read and not yet known to be committed (manual commits).
    pub pending: BTreeMap<TopicPartition, i64>,
    /// `KASIO_PEER_TRACE` set: the member's state changes go to stderr.
    trace: Option<(std::time::Instant, Option<Transition>)>,
}

impl Report {
    /// A report for a member started with `a`.
    pub fn new(a: &Args) -> Self {
        Self {
            out: BufWriter::new(std::io::stdout()),
            auto_commit: a.auto_commit,
            static_member: a.instance_id.is_some(),
            paused: a.paused,
            records: 0,
            owned: BTreeSet::new(),
            pending: BTreeMap::new(),
            trace: std::env::var_os("KASIO_PEER_TRACE").map(|_| (std::time::Instant::now(), None)),
        }
    }

    /// One line out (buffered).
    pub fn emit(&mut self, v: Value) {
        let _ = writeln!(self.out, "{v}");
    }

    /// Everything written so far to stdout.
    pub fn flush(&mut self) {
        let _ = self.out.flush();
    }

    /// A record handed to the application: its line, and (manual commits) its
    /// offset to commit.
    pub fn record(&mut self, tp: &TopicPartition, r: &Record) {
        let line = json!({
            "ev": "record", "topic": tp.topic, "partition": tp.partition, "offset": r.offset,
            "key": r.key.as_deref().map(hex), "value_len": r.value.as_ref().map(|v| v.len()),
        });
        self.emit(line);
        self.records += 1;
        self.pending.insert(tp.clone(), r.offset + 1);
    }

    /// An `assigned`, `revoked` or `lost` line (flushed).
    pub fn rebalance(&mut self, ev: &str, parts: &[TopicPartition], gen: (i32, String)) {
        let line = json!({
            "ev": ev, "gen": gen.0, "member_id": gen.1,
            "partitions": tps(parts), "assignment": tps(&self.owned),
        });
        self.emit(line);
        self.flush();
    }

    /// Partitions assigned: now owned.
    pub fn assigned(&mut self, parts: &[TopicPartition]) {
        self.owned.extend(parts.iter().cloned());
    }

    /// Partitions revoked or lost: neither owned nor to be committed any more.
    pub fn drop_partitions(&mut self, parts: &[TopicPartition]) {
        for tp in parts {
            self.owned.remove(tp);
            self.pending.remove(tp);
        }
    }

    /// Offsets pending for partitions no longer owned are forgotten.
    pub fn retain_owned(&mut self) {
        let owned = &self.owned;
        self.pending.retain(|tp, _| owned.contains(tp));
    }

    /// The pending offsets, as a commit.
    pub fn pending_offsets(&self) -> Vec<(TopicPartition, OffsetAndMetadata)> {
        self.pending
            .iter()
            .map(|(tp, o)| (tp.clone(), OffsetAndMetadata::new(*o)))
            .collect()
    }

    /// Reports a commit's per-partition results (at generation `gen`): a `commit`
    /// line for what was committed, a `commit_failed` line for the rest.
    pub fn commit_results(
        &mut self,
        mode: &str,
        gen: i32,
        results: &[(TopicPartition, Result<OffsetAndMetadata, CommitError>)],
    ) {
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

    /// A commit that got no per-partition answer (`error`): every pending offset
    /// failed.
    pub fn commit_failed(&mut self, mode: &str, error: &str) {
        let offsets: Vec<Value> = self
            .pending
            .iter()
            .map(|(tp, o)| json!([tp.topic, tp.partition, o]))
            .collect();
        self.emit(json!({"ev": "commit_failed", "mode": mode, "error": error, "offsets": offsets}));
    }

    /// A consumer error (`fatal`: the member gives up).
    pub fn error(&mut self, fatal: bool, error: &str) {
        self.emit(json!({"ev": "error", "fatal": fatal, "error": error}));
        if fatal {
            self.flush();
        }
    }

    /// The mode a `Committed` event no commit of the peer waited for is reported
    /// as: auto-commit's, or the late answer of a commit whose wait timed out.
    pub fn unawaited_mode(&self) -> &'static str {
        if self.auto_commit {
            "auto"
        } else {
            "late"
        }
    }

    /// Fills in the `status` answer.
    pub fn status(&self, ans: &mut Value, gen: (i32, String)) {
        ans["gen"] = json!(gen.0);
        ans["member_id"] = json!(gen.1);
        ans["assignment"] = tps(&self.owned);
        ans["paused"] = json!(self.paused);
        ans["records"] = json!(self.records);
    }

    /// With `KASIO_PEER_TRACE`: the group member's last transition, on stderr,
    /// whenever it changed (several in one poll show as the last).
    pub fn trace(&mut self, core: &Core) {
        let Some((start, last)) = self.trace.as_mut() else {
            return;
        };
        let now = core.group_transitions().last().copied();
        if let Some(t) = now.filter(|_| now != *last) {
            let (gen, member) = generation(core);
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

    /// Whether tracing is on (so the driver takes the lock only then).
    pub fn tracing(&self) -> bool {
        self.trace.is_some()
    }
}

/// Starts a peer: parses the command line, makes the consumer with `make` and
/// prints the info line (`peer`, `client`: who it is); or prints `{"error": ...}` and returns `None` (exit 2).
pub fn start<C>(
    peer: &str,
    client: &str,
    make: impl FnOnce(&Args, Config) -> Result<C, String>,
) -> Option<(Args, C, Report)> {
    let started = parse_args(std::env::args().skip(1)).and_then(|a| {
        let config = a.config()?;
        let c = make(&a, config)?;
        Ok((a, c))
    });
    match started {
        Ok((a, c)) => {
            let mut report = Report::new(&a);
            report.emit(a.info(peer, client));
            report.flush();
            Some((a, c, report))
        }
        Err(e) => {
            let mut out = std::io::stdout();
            let _ = writeln!(out, "{}", json!({ "error": e }));
            let _ = out.flush();
            None
        }
    }
}
