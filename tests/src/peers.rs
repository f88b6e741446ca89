//! Consumer-group members for interop tests: the Java client (kafka-clients
//! `KafkaConsumer`, `scripts/rig/group_consume_java.sh`), librdkafka
//! (confluent-kafka, `scripts/rig/group_consume.py`) and kasio itself on either
//! driver (the `kasio_group_peer` and `kasio_tokio_group_peer` binaries of the
//! kasio-interop package, `tests/interop/src/bin/`). All take the same options and speak
//! the same JSON lines (scripts/rig/README.md, "Group consumer peers"); [`GroupPeer`]
//! starts any of them, collects what it reports (records, rebalances, commits,
//! errors) and drives it (pause, committed offsets, stop, SIGKILL).
//!
//! A peer is a child process that leaves its group and exits when its stdin closes,
//! so a test that panics takes its peers down too (`Drop` closes stdin, then kills).
//! A missing rig fails the test with the install hint, never skips it.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::rig::{check_answer, close_child, python, repo_root, send_command};

pub mod broker;
pub mod checks;

/// Which client a peer runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerKind {
    /// kafka-clients (Java) `KafkaConsumer`.
    Java,
    /// librdkafka through confluent-kafka.
    Rdkafka,
    /// kasio on kasio-std (the `kasio_group_peer` binary of kasio-interop).
    Kasio,
    /// kasio on kasio-tokio (the `kasio_tokio_group_peer` binary of kasio-interop).
    KasioTokio,
}

impl PeerKind {
    /// "java", "rdkafka", "kasio" (kasio-std) or "kasio-tokio".
    pub fn name(self) -> &'static str {
        match self {
            PeerKind::Java => "java",
            PeerKind::Rdkafka => "rdkafka",
            PeerKind::Kasio => "kasio",
            PeerKind::KasioTokio => "kasio-tokio",
        }
    }

    /// The kasio driver the peer runs on ("kasio-std", "kasio-tokio"); `None` for
    /// the third-party clients.
    pub fn driver(self) -> Option<&'static str> {
        match self {
            PeerKind::Kasio => Some("kasio-std"),
            PeerKind::KasioTokio => Some("kasio-tokio"),
            PeerKind::Java | PeerKind::Rdkafka => None,
        }
    }
}

/// The kasio-std peer: `$KASIO_GROUP_PEER`, else `kasio_group_peer` beside the
/// running test.
pub fn kasio_peer_bin() -> PathBuf {
    peer_bin("KASIO_GROUP_PEER", "kasio_group_peer")
}

/// The kasio-tokio peer: `$KASIO_TOKIO_GROUP_PEER`, else `kasio_tokio_group_peer`
/// beside the running test.
pub fn kasio_tokio_peer_bin() -> PathBuf {
    peer_bin("KASIO_TOKIO_GROUP_PEER", "kasio_tokio_group_peer")
}

/// `$var`, else the binary `name` beside the running test (cargo builds
/// kasio-interop's binaries for its integration tests, into `target/<profile>/`,
/// the parent of the tests' `deps/`).
fn peer_bin(var: &str, name: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(var) {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("the test's own path");
    let mut dir = exe.parent().expect("a directory").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// A topic partition as the peers write it.
pub type Tp = (String, i32);

/// How to start a peer; `None` leaves the client's default. Unset `assignor` is
/// range; `auto_commit` false means a synchronous commit after each poll batch.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// `bootstrap.servers`.
    pub bootstrap: String,
    /// `group.id`.
    pub group: String,
    /// Subscribed topics.
    pub topics: Vec<String>,
    /// range, roundrobin, sticky (Java only) or cooperative-sticky (classic protocol).
    pub assignor: Option<String>,
    /// `group.remote.assignor` (uniform, range; `group.protocol=consumer`).
    pub remote_assignor: Option<String>,
    /// `group.instance.id` (static membership).
    pub instance_id: Option<String>,
    /// `enable.auto.commit`.
    pub auto_commit: bool,
    /// `auto.offset.reset` (the peers default to earliest).
    pub auto_offset_reset: Option<String>,
    /// `session.timeout.ms` (the heartbeat defaults to a third of it).
    pub session_timeout_ms: Option<u32>,
    /// `heartbeat.interval.ms`.
    pub heartbeat_interval_ms: Option<u32>,
    /// `max.poll.interval.ms`.
    pub max_poll_interval_ms: Option<u32>,
    /// `group.protocol`: classic or consumer (KIP-848).
    pub group_protocol: Option<String>,
    /// `client.rack`.
    pub client_rack: Option<String>,
    /// `client.id`.
    pub client_id: Option<String>,
    /// Records per poll (Java `max.poll.records`; librdkafka: the `consume` batch).
    pub max_poll_records: Option<u32>,
    /// Start paused: partitions are assigned but not fetched until
    /// [`GroupPeer::resume`].
    pub paused: bool,
    /// Any client property, applied last (`--set key=value`).
    pub extra: Vec<(String, String)>,
}

impl PeerConfig {
    /// A member of `group` subscribed to `topic`, with a 3 s session (tansu holds a
    /// JoinGroup for half the session timeout) and everything else at the peers'
    /// defaults.
    pub fn new(bootstrap: &str, group: &str, topic: &str) -> Self {
        Self {
            bootstrap: bootstrap.to_string(),
            group: group.to_string(),
            topics: vec![topic.to_string()],
            assignor: None,
            remote_assignor: None,
            instance_id: None,
            auto_commit: false,
            auto_offset_reset: None,
            session_timeout_ms: Some(3000),
            heartbeat_interval_ms: Some(500),
            max_poll_interval_ms: None,
            group_protocol: None,
            client_rack: None,
            client_id: None,
            max_poll_records: None,
            paused: false,
            extra: Vec::new(),
        }
    }

    /// The same with another assignor.
    pub fn with_assignor(mut self, assignor: &str) -> Self {
        self.assignor = Some(assignor.to_string());
        self
    }

    /// KIP-848 (`group.protocol=consumer`): the classic-only settings are dropped.
    pub fn consumer_protocol(mut self) -> Self {
        self.group_protocol = Some("consumer".into());
        self.session_timeout_ms = None;
        self.heartbeat_interval_ms = None;
        self.assignor = None;
        self
    }

    /// The command line both peers accept.
    pub fn args(&self) -> Vec<String> {
        let mut a = vec![
            "--bootstrap".to_string(),
            self.bootstrap.clone(),
            "--group".into(),
            self.group.clone(),
            "--topic".into(),
            self.topics.join(","),
            "--auto-commit".into(),
            self.auto_commit.to_string(),
        ];
        let num = |v: Option<u32>| v.map(|v| v.to_string());
        let options = [
            ("assignor", self.assignor.clone()),
            ("remote-assignor", self.remote_assignor.clone()),
            ("instance-id", self.instance_id.clone()),
            ("auto-offset-reset", self.auto_offset_reset.clone()),
            ("session-timeout-ms", num(self.session_timeout_ms)),
            ("heartbeat-interval-ms", num(self.heartbeat_interval_ms)),
            ("max-poll-interval-ms", num(self.max_poll_interval_ms)),
            ("group-protocol", self.group_protocol.clone()),
            ("client-rack", self.client_rack.clone()),
            ("client-id", self.client_id.clone()),
            ("max-poll-records", num(self.max_poll_records)),
        ];
        for (name, value) in options {
            if let Some(v) = value {
                a.push(format!("--{name}"));
                a.push(v);
            }
        }
        if self.paused {
            a.push("--paused".into());
        }
        for (k, v) in &self.extra {
            a.push("--set".into());
            a.push(format!("{k}={v}"));
        }
        a
    }
}

/// One record a peer consumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerRecord {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Key (`None`: null).
    pub key: Option<Vec<u8>>,
    /// Value length (`None`: null value).
    pub value_len: Option<usize>,
}

/// What a rebalance callback reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebalanceKind {
    /// `onPartitionsAssigned` / `on_assign` (incremental with cooperative-sticky and
    /// KIP-848, the whole assignment otherwise).
    Assigned,
    /// `onPartitionsRevoked` / `on_revoke`.
    Revoked,
    /// `onPartitionsLost` / `on_lost`.
    Lost,
}

/// A rebalance callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rebalance {
    /// Which callback.
    pub kind: RebalanceKind,
    /// The generation (KIP-848: the member epoch) the client reported in the
    /// callback; `None` if it could not say.
    pub gen: Option<i32>,
    /// The member id then.
    pub member_id: String,
    /// The partitions the callback was given.
    pub partitions: BTreeSet<Tp>,
    /// The member's whole assignment after the callback.
    pub assignment: BTreeSet<Tp>,
}

/// A commit and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCommit {
    /// sync (after a poll batch), auto, or command.
    pub mode: String,
    /// `None` when it succeeded, else the client's error.
    pub error: Option<String>,
    /// The generation when it succeeded (`None` if unknown or failed).
    pub gen: Option<i32>,
    /// (topic, partition, next offset to read).
    pub offsets: Vec<(String, i32, Option<i64>)>,
}

/// Everything a peer reports, in its order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerEvent {
    /// A record handed to the application.
    Record(PeerRecord),
    /// A rebalance callback.
    Rebalance(Rebalance),
    /// A commit, successful or not.
    Commit(PeerCommit),
    /// An error the client reported (librdkafka's error callback, a failed poll).
    Error {
        /// The client gave up (the peer exits).
        fatal: bool,
        /// The message.
        error: String,
    },
    /// The peer's stdout closed (it exited).
    Exited,
}

enum Line {
    Event(PeerEvent),
    Answer(Value),
}

/// `[[topic, partition, offset|null], ...]` (`[[topic, partition], ...]`: no offsets).
fn offsets(v: &Value) -> Vec<(String, i32, Option<i64>)> {
    let Some(items) = v.as_array() else {
        return Vec::new();
    };
    items
        .iter()
        .map(|o| {
            (
                o[0].as_str().expect("topic").to_string(),
                o[1].as_i64().expect("partition") as i32,
                o.get(2).and_then(Value::as_i64),
            )
        })
        .collect()
}

fn tp_set(v: &Value) -> BTreeSet<Tp> {
    offsets(v).into_iter().map(|(t, p, _)| (t, p)).collect()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex key"))
        .collect()
}

fn parse_line(line: &str) -> Line {
    let v: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => {
            return Line::Event(PeerEvent::Error {
                fatal: true,
                error: format!("unparseable line {line:?}: {e}"),
            })
        }
    };
    if v.get("ok").is_some() {
        return Line::Answer(v);
    }
    let gen = |v: &Value| v["gen"].as_i64().map(|g| g as i32);
    let event = match v["ev"].as_str().unwrap_or("") {
        "record" => PeerEvent::Record(PeerRecord {
            topic: v["topic"].as_str().expect("topic").to_string(),
            partition: v["partition"].as_i64().expect("partition") as i32,
            offset: v["offset"].as_i64().expect("offset"),
            key: v["key"].as_str().map(hex),
            value_len: v["value_len"].as_u64().map(|n| n as usize),
        }),
        kind @ ("assigned" | "revoked" | "lost") => PeerEvent::Rebalance(Rebalance {
            kind: match kind {
                "assigned" => RebalanceKind::Assigned,
                "revoked" => RebalanceKind::Revoked,
                _ => RebalanceKind::Lost,
            },
            gen: gen(&v),
            member_id: v["member_id"].as_str().unwrap_or("").to_string(),
            partitions: tp_set(&v["partitions"]),
            assignment: tp_set(&v["assignment"]),
        }),
        "commit" => PeerEvent::Commit(PeerCommit {
            mode: v["mode"].as_str().unwrap_or("").to_string(),
            error: None,
            gen: gen(&v),
            offsets: offsets(&v["offsets"]),
        }),
        "commit_failed" => PeerEvent::Commit(PeerCommit {
            mode: v["mode"].as_str().unwrap_or("").to_string(),
            error: Some(v["error"].as_str().unwrap_or("?").to_string()),
            gen: None,
            offsets: offsets(&v["offsets"]),
        }),
        "error" => PeerEvent::Error {
            fatal: v["fatal"].as_bool().unwrap_or(false),
            error: v["error"].as_str().unwrap_or("?").to_string(),
        },
        _ => PeerEvent::Error {
            fatal: true,
            error: format!("unknown line {line}"),
        },
    };
    Line::Event(event)
}

/// A running consumer-group peer and everything it has reported so far.
pub struct GroupPeer {
    kind: PeerKind,
    /// A label for messages (e.g. "java-1").
    pub label: String,
    child: Child,
    stdin: Option<ChildStdin>,
    events_rx: Receiver<PeerEvent>,
    answers_rx: Receiver<Value>,
    /// The first line the peer printed (client version, pid, settings).
    pub info: Value,
    /// Every event taken in so far ([`GroupPeer::pump`]), in the peer's order.
    pub log: Vec<PeerEvent>,
    next_id: u64,
    exited: bool,
}

impl GroupPeer {
    /// A Java (kafka-clients) member.
    pub fn java(cfg: &PeerConfig) -> Self {
        Self::start(PeerKind::Java, cfg)
    }

    /// A librdkafka member.
    pub fn rdkafka(cfg: &PeerConfig) -> Self {
        Self::start(PeerKind::Rdkafka, cfg)
    }

    /// A kasio member on kasio-std.
    pub fn kasio(cfg: &PeerConfig) -> Self {
        Self::start(PeerKind::Kasio, cfg)
    }

    /// A kasio member on kasio-tokio.
    pub fn kasio_tokio(cfg: &PeerConfig) -> Self {
        Self::start(PeerKind::KasioTokio, cfg)
    }

    /// Starts a peer and waits for its info line (the consumer exists and has
    /// subscribed; it has not joined yet).
    pub fn start(kind: PeerKind, cfg: &PeerConfig) -> Self {
        let rig = repo_root().join("scripts/rig");
        let mut cmd = match kind {
            PeerKind::Java => {
                let classes = repo_root().join(".rig/java/classes/GroupConsumer.class");
                assert!(
                    classes.exists(),
                    "{} is missing: run scripts/setup-rig.sh (the README's test command does)",
                    classes.display()
                );
                Command::new(rig.join("group_consume_java.sh"))
            }
            PeerKind::Rdkafka => {
                let mut c = Command::new(python());
                c.arg(rig.join("group_consume.py"));
                c
            }
            PeerKind::Kasio | PeerKind::KasioTokio => {
                let bin = match kind {
                    PeerKind::Kasio => kasio_peer_bin(),
                    _ => kasio_tokio_peer_bin(),
                };
                assert!(
                    bin.exists(),
                    "{} is missing: cargo builds it for kasio-interop's integration tests \
                     (or: cargo build -p kasio-interop --bins)",
                    bin.display()
                );
                Command::new(bin)
            }
        };
        let mut child = cmd
            .args(cfg.args())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the {} peer: {e}", kind.name()));
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut first = String::new();
        stdout
            .read_line(&mut first)
            .unwrap_or_else(|e| panic!("{} peer: {e}", kind.name()));
        let info: Value = serde_json::from_str(&first).unwrap_or_else(|e| {
            let _ = child.kill();
            panic!(
                "the {} peer said {first:?} ({e}); is the rig installed? run scripts/setup-rig.sh",
                kind.name()
            )
        });
        if let Some(err) = info.get("error") {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the {} peer did not start: {err}", kind.name());
        }
        let (events_tx, events_rx) = channel();
        let (answers_tx, answers_rx) = channel();
        std::thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { break };
                if line.trim().is_empty() {
                    continue;
                }
                let sent = match parse_line(&line) {
                    Line::Event(e) => events_tx.send(e).is_ok(),
                    Line::Answer(a) => answers_tx.send(a).is_ok(),
                };
                if !sent {
                    return;
                }
            }
            let _ = events_tx.send(PeerEvent::Exited);
        });
        let label = format!("{}-{}", kind.name(), info["pid"]);
        Self {
            kind,
            label,
            child,
            stdin,
            events_rx,
            answers_rx,
            info,
            log: Vec::new(),
            next_id: 1,
            exited: false,
        }
    }

    /// Java, librdkafka or kasio (on either driver).
    pub fn kind(&self) -> PeerKind {
        self.kind
    }

    /// Takes in what the peer reported: waits up to `wait` for the first event, then
    /// everything already there. Returns how many events were added to
    /// [`GroupPeer::log`].
    pub fn pump(&mut self, wait: Duration) -> usize {
        let mut n = 0;
        let first = if wait.is_zero() {
            self.events_rx.try_recv().ok()
        } else {
            match self.events_rx.recv_timeout(wait) {
                Ok(e) => Some(e),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => None,
            }
        };
        let mut next = first;
        while let Some(e) = next {
            if e == PeerEvent::Exited {
                self.exited = true;
            }
            self.log.push(e);
            n += 1;
            next = self.events_rx.try_recv().ok();
        }
        n
    }

    /// Pumps until `cond` holds for this peer; panics after `timeout`.
    pub fn wait_until(
        &mut self,
        timeout: Duration,
        what: &str,
        mut cond: impl FnMut(&GroupPeer) -> bool,
    ) {
        let deadline = Instant::now() + timeout;
        loop {
            if cond(self) {
                return;
            }
            self.assert_alive();
            assert!(
                Instant::now() < deadline,
                "{}: timed out after {timeout:?} waiting for {what}: {}",
                self.label,
                self.describe()
            );
            self.pump(Duration::from_millis(50));
        }
    }

    /// Panics if the peer reported a fatal error or exited on its own.
    pub fn assert_alive(&self) {
        if let Some(PeerEvent::Error { error, .. }) = self
            .log
            .iter()
            .find(|e| matches!(e, PeerEvent::Error { fatal: true, .. }))
        {
            panic!("{}: fatal error: {error}", self.label);
        }
        assert!(!self.exited, "{}: exited unexpectedly", self.label);
    }

    /// Records read, assignment, and the last rebalances and errors, for messages.
    pub fn describe(&self) -> String {
        let recent: Vec<&PeerEvent> = self
            .log
            .iter()
            .filter(|e| matches!(e, PeerEvent::Rebalance(_) | PeerEvent::Error { .. }))
            .rev()
            .take(6)
            .collect();
        format!(
            "{} records, assignment {:?}, last rebalances/errors (newest first) {recent:?}",
            self.record_count(),
            self.assignment()
        )
    }

    /// The records consumed so far.
    pub fn records(&self) -> impl Iterator<Item = &PeerRecord> {
        self.log.iter().filter_map(|e| match e {
            PeerEvent::Record(r) => Some(r),
            _ => None,
        })
    }

    /// How many records were consumed so far.
    pub fn record_count(&self) -> usize {
        self.records().count()
    }

    /// The rebalance callbacks so far.
    pub fn rebalances(&self) -> impl Iterator<Item = &Rebalance> {
        self.log.iter().filter_map(|e| match e {
            PeerEvent::Rebalance(r) => Some(r),
            _ => None,
        })
    }

    /// The commits so far (successful and failed).
    pub fn commits(&self) -> impl Iterator<Item = &PeerCommit> {
        self.log.iter().filter_map(|e| match e {
            PeerEvent::Commit(c) => Some(c),
            _ => None,
        })
    }

    /// The errors so far (fatal or not).
    pub fn errors(&self) -> impl Iterator<Item = (bool, &str)> {
        self.log.iter().filter_map(|e| match e {
            PeerEvent::Error { fatal, error } => Some((*fatal, error.as_str())),
            _ => None,
        })
    }

    /// The assignment after the last rebalance callback (empty before any).
    pub fn assignment(&self) -> BTreeSet<Tp> {
        self.rebalances()
            .last()
            .map(|r| r.assignment.clone())
            .unwrap_or_default()
    }

    /// Sends a command and waits (up to 30 s) for its answer; panics on an error
    /// answer.
    pub fn command(&mut self, cmd: Value) -> Value {
        let stdin = self.stdin.as_mut().expect("stdin open");
        let cmd = send_command(stdin, &mut self.next_id, cmd);
        let answer = self
            .answers_rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("{}: no answer to {cmd}: {e}", self.label));
        check_answer(&answer, &cmd, &self.label);
        self.pump(Duration::ZERO);
        answer
    }

    /// Stops fetching (the member stays in the group and heartbeats). Every record
    /// reported before the answer has been committed when auto-commit is off.
    pub fn pause(&mut self) {
        self.command(json!({"cmd": "pause"}));
    }

    /// Fetches again.
    pub fn resume(&mut self) {
        self.command(json!({"cmd": "resume"}));
    }

    /// The group's committed offsets for `partitions`, read back through this
    /// member's client (OffsetFetch); `None`: nothing committed.
    pub fn committed(&mut self, partitions: &[Tp]) -> Vec<(String, i32, Option<i64>)> {
        let parts: Vec<Value> = partitions.iter().map(|(t, p)| json!([t, p])).collect();
        let a = self.command(json!({"cmd": "committed", "partitions": parts}));
        offsets(&a["offsets"])
    }

    /// Closes the consumer cleanly (it leaves the group unless static) and waits for
    /// the process to exit; everything it reported is in [`GroupPeer::log`].
    pub fn stop(&mut self) {
        self.command(json!({"cmd": "stop"}));
        self.finish(Duration::from_secs(20));
    }

    /// SIGKILL: no commit, no LeaveGroup (crash tests).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        self.finish(Duration::from_secs(5));
    }

    fn finish(&mut self, timeout: Duration) {
        drop(self.stdin.take());
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // The reader thread ends with `Exited` once stdout is drained.
        while !self.exited && self.pump(Duration::from_secs(2)) > 0 {}
        self.exited = true;
    }
}

impl Drop for GroupPeer {
    fn drop(&mut self) {
        // Closing stdin makes the peer close its consumer (leaving the group).
        close_child(&mut self.child, &mut self.stdin, Duration::from_secs(10));
    }
}
