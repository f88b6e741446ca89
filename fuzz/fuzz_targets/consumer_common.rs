//! Shared by the `consumer` and `group` targets: the broker model (metadata, fetch,
//! offsets), the fake driver (connections accepted, refused and dropped; answers
//! valid, arbitrary, corrupt, truncated or misaddressed; raw bytes; time), the
//! drain loop, and the checks every run of the consumer must pass (see
//! `consumer.rs`). A target adds its own checks and answers through [`Ext`].
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use arbitrary::{Arbitrary, Unstructured};
use bytes::{BufMut, Bytes, BytesMut};
use kasio_core::codec::{
    encode_frame, EncodeError, FrameDecoder, RequestHeader, ResponseHeader, Uuid,
};
use kasio_core::config::Config;
use kasio_core::conn::ConnId;
use kasio_core::consumer::{ConnCommand, Consumer, ConsumerRecords, Event, TopicPartition};
use kasio_core::protocol::messages::api_versions_response::ApiVersion;
use kasio_core::protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use kasio_core::protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kasio_core::protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kasio_core::protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kasio_core::protocol::messages::*;
use kasio_core::protocol::{ApiKey, ErrorCode, Message};
use kasio_core::records::{BatchBuilder, Compression, ControlType};
use kasio_core::time::{Duration, Instant};

/// Drain iterations allowed after one input before it counts as a livelock.
pub const DRAIN_LIMIT: usize = 10_000;
/// The key of the model's records in aborted transactions.
pub const ABORTED: &[u8] = b"ABORTED!";

pub const TOPICS: [(&str, [u8; 16]); 3] = [("t", [7; 16]), ("u", [8; 16]), ("gone", [9; 16])];

/// Real record sets (v2 every codec, transactional, legacy magic 0 and 1), from the
/// project's fixtures: the consumer meets what real producers wrote.
pub const FIXTURES: [&[u8]; 8] = [
    include_bytes!("../../core/tests/fixtures/records/v2-none.bin"),
    include_bytes!("../../core/tests/fixtures/records/v2-gzip.bin"),
    include_bytes!("../../core/tests/fixtures/records/v2-snappy.bin"),
    include_bytes!("../../core/tests/fixtures/records/v2-lz4.bin"),
    include_bytes!("../../core/tests/fixtures/records/v2-zstd.bin"),
    include_bytes!("../../core/tests/fixtures/records/v2-txn-abort.bin"),
    include_bytes!("../../core/tests/fixtures/records/v0-none.bin"),
    include_bytes!("../../core/tests/fixtures/records/v1-none.bin"),
];

/// Error codes worth trying: the ones the consumer treats specially, and a few it
/// does not know.
pub const ERRORS: [ErrorCode; 16] = [
    ErrorCode::OffsetOutOfRange,
    ErrorCode::NotLeaderOrFollower,
    ErrorCode::UnknownTopicOrPartition,
    ErrorCode::LeaderNotAvailable,
    ErrorCode::FencedLeaderEpoch,
    ErrorCode::UnknownLeaderEpoch,
    ErrorCode::FetchSessionIdNotFound,
    ErrorCode::InvalidFetchSessionEpoch,
    ErrorCode::UnsupportedVersion,
    ErrorCode::UnknownTopicId,
    ErrorCode::OffsetNotAvailable,
    ErrorCode::KafkaStorageError,
    ErrorCode::CorruptMessage,
    ErrorCode::TopicAuthorizationFailed,
    ErrorCode::RequestTimedOut,
    ErrorCode::UnknownServerError,
];

#[derive(Arbitrary, Debug)]
pub struct ClusterSpec {
    pub brokers: u8,
    pub partitions: [u8; 2],
    pub leaders: [u8; 8],
    pub log_end: [u8; 8],
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct Tp {
    pub topic: u8,
    pub partition: u8,
}

impl Tp {
    pub fn get(self) -> TopicPartition {
        // Mostly existing partitions; sometimes unknown topics or partitions.
        let topic = TOPICS[usize::from(self.topic) % 3].0;
        let partition = i32::from(self.partition % 5) - i32::from(self.partition == 255);
        TopicPartition::new(topic, partition)
    }
}

#[derive(Arbitrary, Debug)]
pub enum Answer {
    /// A well-formed answer from the broker model, with some tweaks; delivered in
    /// chunks of `chunk` bytes (0: whole).
    Valid { tweak: Tweak, chunk: u8 },
    /// An arbitrary value of the right response type at the right version.
    Arbitrary { data: Vec<u8> },
    /// The valid answer with one byte changed.
    Corrupt { tweak: Tweak, at: u16, xor: u8 },
    /// The valid answer cut short (and its frame size with it).
    Truncated { tweak: Tweak, keep: u16 },
    /// The valid answer with a correlation id off by `delta`.
    WrongCorrelation { delta: i8 },
}

#[derive(Arbitrary, Debug, Clone)]
pub struct Tweak {
    /// Top-level error (where the response has one).
    pub error: Option<u8>,
    /// Error of the first partition.
    pub part_error: Option<u8>,
    /// Fetch: 0 keep/open the session, 1 no session, 2 another id.
    pub session: u8,
    pub records: Recs,
    /// Fetch: the batch starts this many offsets before the fetch offset.
    pub back: u8,
    pub codec: u8,
    pub hw_delta: i8,
    pub diverge: Option<(u8, u8)>,
    pub replica: Option<u8>,
    pub current_leader: Option<(u8, u8)>,
    pub aborted: bool,
    /// ApiVersions: limit or drop one API.
    pub api_limit: Option<(u8, u8)>,
    /// ListOffsets / OffsetForLeaderEpoch: move the answer.
    pub offset_delta: i8,
}

#[derive(Arbitrary, Debug, Clone)]
pub enum Recs {
    Log(u8),
    Fixture(u8),
    Bytes(Vec<u8>),
    Truncated(u8, u8),
    Control(bool),
    None,
}

#[derive(Arbitrary, Debug)]
pub enum Change {
    Leader { tp: Tp, broker: u8 },
    NoLeader(Tp),
    PartitionError { tp: Tp, code: u8 },
    TopicError { topic: u8, code: Option<u8> },
    Produce { tp: Tp, n: u8 },
    Truncate { tp: Tp, n: u8 },
    DeleteBefore { tp: Tp, n: u8 },
    NewTopicId(u8),
}

// ----- the broker model -----------------------------------------------------------

#[derive(Debug, Clone)]
pub struct Part {
    pub leader: i32,
    pub epoch: i32,
    pub error: i16,
    pub start: i64,
    pub end: i64,
}

#[derive(Debug)]
pub struct Cluster {
    pub brokers: Vec<i32>,
    pub topics: BTreeMap<&'static str, (Uuid, i16, Vec<Part>)>,
    pub next_session: i32,
}

impl Cluster {
    pub fn new(spec: &ClusterSpec) -> Self {
        let n = i32::from(spec.brokers % 3) + 1;
        let mut topics = BTreeMap::new();
        for (i, (name, id)) in TOPICS.iter().take(2).enumerate() {
            let parts = (0..usize::from(spec.partitions[i] % 4) + 1)
                .map(|p| {
                    let k = (i * 4 + p) % 8;
                    Part {
                        leader: i32::from(spec.leaders[k]) % n + 1,
                        epoch: 5,
                        error: 0,
                        start: 0,
                        end: i64::from(spec.log_end[k] % 40),
                    }
                })
                .collect();
            topics.insert(*name, (Uuid(*id), 0, parts));
        }
        Cluster {
            brokers: (1..=n).collect(),
            topics,
            next_session: 1,
        }
    }

    pub fn part(&self, topic: &str, p: i32) -> Option<&Part> {
        self.topics.get(topic)?.2.get(usize::try_from(p).ok()?)
    }

    pub fn part_mut(&mut self, tp: &TopicPartition) -> Option<&mut Part> {
        self.topics
            .get_mut(tp.topic.as_str())?
            .2
            .get_mut(usize::try_from(tp.partition).ok()?)
    }

    pub fn name_of(&self, id: &Uuid) -> Option<&'static str> {
        self.topics
            .iter()
            .find(|(_, t)| t.0 == *id)
            .map(|(n, _)| *n)
    }

    pub fn change(&mut self, c: Change) {
        match c {
            Change::Leader { tp, broker } => {
                let n = self.brokers.len() as i32;
                if let Some(p) = self.part_mut(&tp.get()) {
                    p.leader = i32::from(broker) % n + 1;
                    p.epoch += 1;
                }
            }
            Change::NoLeader(tp) => {
                if let Some(p) = self.part_mut(&tp.get()) {
                    p.leader = -1;
                    p.epoch += 1;
                }
            }
            Change::PartitionError { tp, code } => {
                if let Some(p) = self.part_mut(&tp.get()) {
                    p.error = if code % 3 == 0 { 0 } else { error(code).code() };
                }
            }
            Change::TopicError { topic, code } => {
                if let Some(t) = self.topics.get_mut(TOPICS[usize::from(topic) % 2].0) {
                    t.1 = code.map_or(0, |c| error(c).code());
                }
            }
            Change::Produce { tp, n } => {
                if let Some(p) = self.part_mut(&tp.get()) {
                    p.end += i64::from(n % 50);
                }
            }
            Change::Truncate { tp, n } => {
                // An unclean leader election: the log loses its tail, epoch moves on.
                if let Some(p) = self.part_mut(&tp.get()) {
                    p.end = (p.end - i64::from(n % 20)).max(p.start);
                    p.epoch += 1;
                }
            }
            Change::DeleteBefore { tp, n } => {
                if let Some(p) = self.part_mut(&tp.get()) {
                    p.start = (p.start + i64::from(n % 20)).min(p.end);
                }
            }
            Change::NewTopicId(b) => {
                if let Some(t) = self.topics.get_mut(TOPICS[usize::from(b) % 2].0) {
                    t.0 = Uuid([b | 0x80; 16]); // deleted and recreated
                }
            }
        }
    }
}

pub fn error(i: u8) -> ErrorCode {
    ERRORS[usize::from(i) % ERRORS.len()]
}

// ----- the harness -------------------------------------------------------------------

#[derive(Debug)]
pub struct Pending {
    pub api: ApiKey,
    pub version: i16,
    pub correlation_id: i32,
    pub frame: Bytes,
}

impl Pending {
    /// The request's body (after its header).
    pub fn body(&self) -> Option<Bytes> {
        let (_, body) =
            RequestHeader::decode(self.api.request_header_version(self.version), &self.frame)
                .ok()?;
        Some(body)
    }
}

#[derive(Debug)]
pub struct FakeConn {
    pub broker: i32,
    pub connected: bool,
    pub unanswered: VecDeque<Pending>,
}

/// What a target adds to the shared harness: checks on what the consumer does, and
/// answers to the requests the shared broker model does not speak (the group APIs).
/// Every hook does nothing by default; the `consumer` target uses `()`.
pub trait Ext {
    /// An event, after the shared checks.
    fn on_event(&mut self, _c: &Consumer, _e: &Event) {}
    /// The consumer transmitted this request on `conn` (after the shared checks).
    fn on_request(&mut self, _conn: ConnId, _req: &Pending) {}
    /// The answer to request `correlation_id` on `conn` is about to reach the consumer
    /// (whole, or its last piece).
    fn on_answered(&mut self, _conn: ConnId, _correlation_id: i32) {}
    /// `conn` is gone: the consumer closed it, or the driver lost it.
    fn on_conn_gone(&mut self, _conn: ConnId) {}
    /// Bytes the harness did not frame went to `conn`: they may answer anything.
    fn on_raw(&mut self, _conn: ConnId) {}
    /// A valid answer to `req` (sent to `broker`), for an API the broker model does
    /// not answer itself; `None` to fall back to an empty body of the right type.
    fn respond(&mut self, _cluster: &Cluster, _broker: i32, _req: &Pending) -> Option<Bytes> {
        None
    }
}

impl Ext for () {}

pub struct Harness<E: Ext = ()> {
    pub c: Consumer,
    pub now: Instant,
    pub cluster: Cluster,
    pub conns: BTreeMap<ConnId, FakeConn>,
    pub seen: BTreeSet<ConnId>,
    pub closed: bool,
    pub close_called: bool,
    pub read_committed: bool,
    /// For `KASIO_FUZZ_STATS=1`: how far runs get.
    pub polled: usize,
    pub requests: BTreeMap<&'static str, usize>,
    pub ext: E,
}

impl<E: Ext> Harness<E> {
    pub fn new(
        config: Config,
        seed: u64,
        cluster: &ClusterSpec,
        read_committed: bool,
        ext: E,
    ) -> Self {
        let now = Instant::from_millis(1_000_000);
        Harness {
            c: Consumer::new(config, now, seed),
            now,
            cluster: Cluster::new(cluster),
            conns: BTreeMap::new(),
            seen: BTreeSet::new(),
            closed: false,
            close_called: false,
            read_committed,
            polled: 0,
            requests: BTreeMap::new(),
            ext,
        }
    }

    // ----- draining ----------------------------------------------------------------

    /// Drains events and transmits until both are empty; returns how many came out.
    pub fn drain_once(&mut self, budget: &mut usize) -> usize {
        let mut n = 0;
        loop {
            let mut progressed = false;
            while let Some(cmd) = self.c.poll_conn_command() {
                progressed = true;
                n += 1;
                spend(budget);
                self.on_command(cmd);
            }
            while let Some(e) = self.c.poll_event() {
                progressed = true;
                n += 1;
                spend(budget);
                self.on_event(e);
            }
            let mut buf = Vec::new();
            while let Some(t) = self.c.poll_transmit(self.now, &mut buf) {
                progressed = true;
                n += 1;
                spend(budget);
                assert_eq!(t.len, buf.len(), "transmit length");
                self.receive_requests(t.conn, Bytes::from(std::mem::take(&mut buf)));
            }
            if !progressed {
                return n;
            }
        }
    }

    pub fn on_command(&mut self, cmd: ConnCommand) {
        // After Closed the consumer does no more I/O.
        assert!(!self.closed, "{cmd:?} after Closed");
        match cmd {
            ConnCommand::Connect { conn, broker, .. } => {
                assert!(self.seen.insert(conn), "connection id {conn:?} reused");
                self.conns.insert(
                    conn,
                    FakeConn {
                        broker: broker.0,
                        connected: false,
                        unanswered: VecDeque::new(),
                    },
                );
            }
            ConnCommand::Disconnect { conn } => {
                assert!(self.seen.contains(&conn), "disconnect of unknown {conn:?}");
                self.conns.remove(&conn);
                self.ext.on_conn_gone(conn);
            }
            other => panic!("unknown command {other:?}"),
        }
    }

    pub fn on_event(&mut self, e: Event) {
        // After Closed the consumer does no more I/O. (It may still answer an
        // application call, e.g. an empty `offsets_for_times`.)
        if self.closed {
            assert!(
                !matches!(e, Event::RecordsReady | Event::Closed),
                "{e:?} after Closed"
            );
        }
        match e {
            Event::Closed => {
                assert!(self.c.is_closed());
                self.closed = true;
            }
            other => {
                let _ = format!("{other:?}");
                self.ext.on_event(&self.c, &other);
            }
        }
    }

    pub fn receive_requests(&mut self, conn: ConnId, data: Bytes) {
        let fc = self
            .conns
            .get_mut(&conn)
            .unwrap_or_else(|| panic!("transmit on unknown or closed connection {conn:?}"));
        assert!(fc.connected, "transmit on {conn:?} before it connected");
        let mut frames = FrameDecoder::new(usize::MAX);
        frames.push_bytes(data);
        while let Some(frame) = frames.next_frame().expect("request framing") {
            let (key, version, correlation_id) =
                RequestHeader::peek(&frame).expect("request header");
            let api = ApiKey::from_i16(key).expect("a known API");
            let (lo, hi) = api.versions();
            assert!(
                (lo..=hi).contains(&version),
                "{api:?} v{version} out of range"
            );
            // The consumer's own requests must decode.
            let (header, body) = RequestHeader::decode(api.request_header_version(version), &frame)
                .expect("request header decodes");
            assert_eq!(header.correlation_id, correlation_id);
            check_request(api, version, &body);
            *self.requests.entry(api.name()).or_default() += 1;
            let req = Pending {
                api,
                version,
                correlation_id,
                frame,
            };
            self.ext.on_request(conn, &req);
            fc.unanswered.push_back(req);
        }
        assert_eq!(frames.buffered(), 0, "partial frame");
    }

    /// Drains, then honours the timer as a driver would: while `poll_timeout` says
    /// now, `handle_timeout(now)`, which must make progress. Bounded.
    pub fn drain(&mut self) {
        let mut budget = DRAIN_LIMIT;
        loop {
            self.drain_once(&mut budget);
            let Some(t) = self.c.poll_timeout() else {
                assert!(!self.closed || self.c.is_closed());
                return;
            };
            assert!(!self.closed, "poll_timeout after Closed");
            assert!(
                t >= self.now,
                "poll_timeout {t:?} is before the last input at {:?}",
                self.now
            );
            if t > self.now {
                return;
            }
            self.c.handle_timeout(self.now);
            spend(&mut budget);
            let n = self.drain_once(&mut budget);
            if n == 0 && self.c.poll_timeout().is_some_and(|t| t <= self.now) {
                panic!(
                    "poll_timeout keeps returning now ({:?}) but handle_timeout does nothing: \
                     a driver would spin",
                    self.now
                );
            }
        }
    }

    // ----- connections ---------------------------------------------------------------

    pub fn nth_conn(&self, i: u8, connected: Option<bool>) -> Option<ConnId> {
        let ids: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| connected.is_none_or(|x| c.connected == x))
            .map(|(id, _)| *id)
            .collect();
        (!ids.is_empty()).then(|| ids[usize::from(i) % ids.len()])
    }

    pub fn accept(&mut self, i: u8) {
        if let Some(conn) = self.nth_conn(i, Some(false)) {
            self.conns.get_mut(&conn).unwrap().connected = true;
            self.c.handle_connected(self.now, conn);
        }
    }

    pub fn refuse(&mut self, i: u8, connected: bool) {
        if let Some(conn) = self.nth_conn(i, Some(connected)) {
            self.conns.remove(&conn);
            self.ext.on_conn_gone(conn);
            self.c.handle_disconnected(self.now, conn);
        }
    }

    /// Raw bytes on the `i`th live connection.
    pub fn raw(&mut self, i: u8, bytes: &[u8]) {
        if let Some(c) = self.nth_conn(i, Some(true)) {
            self.ext.on_raw(c);
            self.c.handle_input(self.now, c, bytes);
        }
    }

    pub fn stale(&mut self, k: u8) {
        // A connection the core never minted, or one it already forgot.
        let gone: Vec<ConnId> = self
            .seen
            .iter()
            .filter(|c| !self.conns.contains_key(c))
            .copied()
            .collect();
        let conn = if gone.is_empty() || k & 1 == 0 {
            ConnId(1_000_000 + u64::from(k))
        } else {
            gone[usize::from(k >> 1) % gone.len()]
        };
        match (k >> 1) % 3 {
            0 => self.c.handle_connected(self.now, conn),
            1 => self.c.handle_disconnected(self.now, conn),
            _ => self
                .c
                .handle_input(self.now, conn, &[0, 0, 0, 4, 0, 0, 0, 0]),
        }
    }

    /// Hands the answer to request `correlation_id` to the consumer, in pieces of
    /// `chunk` bytes (0: whole).
    pub fn deliver(&mut self, conn: ConnId, bytes: &[u8], chunk: u8, correlation_id: i32) {
        if chunk == 0 {
            self.ext.on_answered(conn, correlation_id);
            self.c.handle_input(self.now, conn, bytes);
            return;
        }
        let pieces = bytes.len().div_ceil(usize::from(chunk));
        for (i, piece) in bytes.chunks(usize::from(chunk)).enumerate() {
            if i + 1 == pieces {
                self.ext.on_answered(conn, correlation_id);
            }
            self.c.handle_input(self.now, conn, piece);
            self.drain();
            if !self.conns.contains_key(&conn) {
                return; // the consumer closed it meanwhile
            }
        }
    }

    pub fn answer(&mut self, i: u8, how: Answer) {
        if let Some(conn) = self.nth_conn(i, Some(true)) {
            self.answer_on(conn, how);
        }
    }

    pub fn answer_on(&mut self, conn: ConnId, how: Answer) {
        let Some(fc) = self.conns.get_mut(&conn) else {
            return;
        };
        let Some(req) = fc.unanswered.pop_front() else {
            return;
        };
        let broker = fc.broker;
        let (tweak, corr_delta) = match &how {
            Answer::Valid { tweak, .. }
            | Answer::Corrupt { tweak, .. }
            | Answer::Truncated { tweak, .. } => (tweak.clone(), 0i32),
            Answer::WrongCorrelation { delta } => (no_tweak(), i32::from(*delta).max(1)),
            Answer::Arbitrary { .. } => (no_tweak(), 0),
        };
        let body = match &how {
            Answer::Arbitrary { data } => arbitrary_response(req.api, req.version, data),
            _ => self.valid_response(broker, &req, &tweak),
        };
        let Some(body) = body else {
            // Nothing encodable: the broker stays silent (the request times out).
            return;
        };
        let header_version = if req.api == ApiKey::ApiVersions {
            0 // always, so that a client can read it whatever version it asked
        } else {
            req.api.response_header_version(req.version)
        };
        let mut content = BytesMut::new();
        ResponseHeader {
            correlation_id: req.correlation_id.wrapping_add(corr_delta),
        }
        .encode(header_version, &mut content);
        content.put_slice(&body);
        let mut chunk = 0;
        match how {
            Answer::Valid { chunk: c, .. } => chunk = c,
            Answer::Corrupt { at, xor, .. } => {
                let at = usize::from(at) % content.len().max(1);
                if at < content.len() {
                    content[at] ^= xor.max(1);
                }
            }
            Answer::Truncated { keep, .. } => {
                // The frame's size says what is left.
                content.truncate(usize::from(keep) % (content.len() + 1));
            }
            _ => {}
        }
        let mut buf = BytesMut::new();
        encode_frame(&mut buf, |b| {
            b.put_slice(&content);
            Ok::<_, EncodeError>(())
        })
        .expect("a response frame");
        self.deliver(conn, &buf, chunk, req.correlation_id);
    }

    pub fn answer_all(&mut self) {
        // Every request next in line, validly, as a healthy cluster would.
        let conns: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.connected)
            .map(|(id, _)| *id)
            .collect();
        for conn in conns {
            for _ in 0..8 {
                let Some(fc) = self.conns.get(&conn) else {
                    break;
                };
                if fc.unanswered.is_empty() {
                    break;
                }
                self.answer_on(
                    conn,
                    Answer::Valid {
                        tweak: no_tweak(),
                        chunk: 0,
                    },
                );
                self.drain();
            }
        }
    }

    pub fn run(&mut self, n: u8) {
        for _ in 0..=n % 8 {
            while self.nth_conn(0, Some(false)).is_some() {
                self.accept(0);
                self.drain();
            }
            let pending = self
                .conns
                .values()
                .any(|c| c.connected && !c.unanswered.is_empty());
            if pending {
                self.answer_all();
            } else if let Some(t) = self.c.poll_timeout() {
                self.now = self.now.max(t);
                self.c.handle_timeout(self.now);
            } else {
                return;
            }
            self.drain();
        }
    }

    // ----- the application -------------------------------------------------------------

    /// `poll_records` at `now`, checked: records only for assigned, unpaused
    /// partitions, in order, at or after the position, each where the model's log
    /// put it (and none of an aborted transaction under read_committed).
    pub fn poll(&mut self) -> ConsumerRecords {
        let assigned: BTreeSet<TopicPartition> = self.c.assignment().into_iter().collect();
        let paused: BTreeSet<TopicPartition> = self.c.paused().into_iter().collect();
        let before: BTreeMap<TopicPartition, Option<i64>> = assigned
            .iter()
            .map(|tp| (tp.clone(), self.c.position(tp).ok().flatten()))
            .collect();
        let got = self.c.poll_records(self.now);
        self.polled += got.len();
        for batch in got.partitions() {
            let tp = &batch.tp;
            assert!(assigned.contains(tp), "records for unassigned {tp}");
            assert!(!paused.contains(tp), "records for paused {tp}");
            let mut last = None;
            for r in &batch.records {
                // A record from the model's log carries its own offset.
                let h = r.headers.get("h").and_then(|h| h.value);
                if let (Some(h), Some(v)) = (h, r.value.as_deref()) {
                    if h == v && v.len() == 8 {
                        let o = i64::from_be_bytes(v.try_into().unwrap());
                        assert_eq!(
                            r.offset, o,
                            "{tp}: a record from offset {o} delivered at {}",
                            r.offset
                        );
                        if self.read_committed {
                            assert!(
                                r.key.as_deref() != Some(ABORTED),
                                "{tp}: aborted record {o} delivered under read_committed"
                            );
                        }
                    }
                }
                if let Some(Some(pos)) = before.get(tp) {
                    assert!(
                        r.offset >= *pos,
                        "{tp}: record {} before the position {pos}",
                        r.offset
                    );
                }
                if let Some(l) = last {
                    assert!(r.offset > l, "{tp}: record {} after {l}", r.offset);
                }
                last = Some(r.offset);
            }
            if let (Some(l), Ok(Some(pos))) = (last, self.c.position(tp)) {
                assert!(pos > l, "{tp}: position {pos} after delivering {l}");
            }
        }
        got
    }

    /// Finally the consumer closes within its request timeout, whatever happened
    /// (nothing is answered any more; the driver follows `poll_timeout`).
    pub fn finish(&mut self) {
        let deadline = self.now + self.c.config().request_timeout;
        self.c.close();
        self.drain();
        while !self.c.is_closed() {
            match self.c.poll_timeout() {
                Some(t) if t <= deadline => {
                    self.now = self.now.max(t);
                    self.c.handle_timeout(self.now);
                    self.drain();
                }
                _ => break,
            }
        }
        assert!(self.c.is_closed(), "close did not finish by its deadline");
    }

    /// Time passes: up to 2 s.
    pub fn advance(&mut self, ms: u16) {
        self.now += Duration::from_millis(u64::from(ms) % 2000);
        self.c.handle_timeout(self.now);
    }

    /// Time passes: whole seconds.
    pub fn advance_long(&mut self, s: u8) {
        self.now += Duration::from_secs(u64::from(s));
        self.c.handle_timeout(self.now);
    }

    /// Time moves to the consumer's next deadline.
    pub fn jump_to_timeout(&mut self) {
        if let Some(t) = self.c.poll_timeout() {
            self.now = self.now.max(t);
            self.c.handle_timeout(self.now);
        }
    }

    /// A driver clock that jumps back: the core keeps its own `now`.
    pub fn backwards(&mut self, ms: u16) {
        let earlier = Instant::from_millis(self.now.as_millis().saturating_sub(u64::from(ms)));
        self.c.handle_timeout(earlier);
    }

    // ----- valid responses -------------------------------------------------------------

    pub fn valid_response(&mut self, broker: i32, req: &Pending, tw: &Tweak) -> Option<Bytes> {
        let body = req.body()?;
        let v = req.version;
        let mut buf = BytesMut::new();
        let ok = match req.api {
            ApiKey::ApiVersions => {
                let mut keys: Vec<ApiVersion> = ApiKey::ALL
                    .iter()
                    .map(|k| ApiVersion {
                        api_key: k.key(),
                        min_version: k.versions().0,
                        max_version: k.versions().1,
                    })
                    .collect();
                if let Some((which, max)) = tw.api_limit {
                    let i = usize::from(which) % keys.len();
                    if max == 0 {
                        keys.remove(i);
                    } else {
                        keys[i].max_version = keys[i].min_version.max(i16::from(max % 18));
                    }
                }
                let resp = ApiVersionsResponse {
                    error_code: tw.error.map_or(0, |e| {
                        if e % 2 == 0 {
                            ErrorCode::UnsupportedVersion.code()
                        } else {
                            error(e).code()
                        }
                    }),
                    api_keys: keys,
                    ..Default::default()
                };
                resp.encode(v, &mut buf)
            }
            ApiKey::Metadata => {
                let req = MetadataRequest::decode(v, &body).ok()?;
                self.metadata(&req, tw).encode(v, &mut buf)
            }
            ApiKey::Fetch => {
                let req = FetchRequest::decode(v, &body).ok()?;
                self.fetch(broker, v, &req, tw).encode(v, &mut buf)
            }
            ApiKey::ListOffsets => {
                let req = ListOffsetsRequest::decode(v, &body).ok()?;
                self.list_offsets(&req, tw).encode(v, &mut buf)
            }
            ApiKey::OffsetForLeaderEpoch => {
                let req = OffsetForLeaderEpochRequest::decode(v, &body).ok()?;
                self.epochs(&req, tw).encode(v, &mut buf)
            }
            other => {
                // The target's own model (the group coordinator), else an empty body
                // of the right type.
                return self
                    .ext
                    .respond(&self.cluster, broker, req)
                    .or_else(|| arbitrary_response(other, v, &[]));
            }
        };
        ok.ok().map(|()| buf.freeze())
    }

    pub fn metadata(&self, req: &MetadataRequest, tw: &Tweak) -> MetadataResponse {
        let names: Vec<String> = match &req.topics {
            Some(ts) => ts.iter().filter_map(|t| t.name.clone()).collect(),
            None => self.cluster.topics.keys().map(|n| n.to_string()).collect(),
        };
        MetadataResponse {
            brokers: self
                .cluster
                .brokers
                .iter()
                .map(|&id| MetadataResponseBroker {
                    node_id: id,
                    host: format!("b{id}"),
                    port: 9092,
                    rack: Some(format!("rack{id}")),
                })
                .collect(),
            cluster_id: Some("fuzz".into()),
            controller_id: 1,
            topics: names
                .iter()
                .map(|name| match self.cluster.topics.get(name.as_str()) {
                    Some((id, err, parts)) => MetadataResponseTopic {
                        error_code: *err,
                        name: Some(name.clone()),
                        topic_id: *id,
                        partitions: parts
                            .iter()
                            .enumerate()
                            .map(|(i, p)| MetadataResponsePartition {
                                error_code: if i == 0 {
                                    tw.part_error.map_or(p.error, |e| error(e).code())
                                } else {
                                    p.error
                                },
                                partition_index: i as i32,
                                leader_id: p.leader,
                                leader_epoch: p.epoch,
                                replica_nodes: self.cluster.brokers.clone(),
                                isr_nodes: self.cluster.brokers.clone(),
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    },
                    None => MetadataResponseTopic {
                        error_code: ErrorCode::UnknownTopicOrPartition.code(),
                        name: Some(name.clone()),
                        ..Default::default()
                    },
                })
                .collect(),
            ..Default::default()
        }
    }

    pub fn fetch(
        &mut self,
        broker: i32,
        version: i16,
        req: &FetchRequest,
        tw: &Tweak,
    ) -> FetchResponse {
        let session_id = match tw.session % 4 {
            0 | 3 if req.session_id == 0 && req.session_epoch == 0 => {
                self.cluster.next_session += 1;
                self.cluster.next_session
            }
            0 | 3 => req.session_id,
            1 => 0,
            _ => req.session_id.wrapping_add(1),
        };
        let mut responses = Vec::new();
        let mut first = true;
        for t in &req.topics {
            let name = if version >= 13 {
                self.cluster.name_of(&t.topic_id)
            } else {
                TOPICS.iter().map(|x| x.0).find(|n| *n == t.topic)
            };
            let mut parts = Vec::new();
            for p in &t.partitions {
                let model = name
                    .and_then(|n| self.cluster.part(n, p.partition))
                    .cloned();
                let mut data = match &model {
                    None => PartitionData {
                        partition_index: p.partition,
                        error_code: if version >= 13 {
                            ErrorCode::UnknownTopicId.code()
                        } else {
                            ErrorCode::UnknownTopicOrPartition.code()
                        },
                        high_watermark: -1,
                        ..Default::default()
                    },
                    Some(m) if m.leader != broker && tw.replica.is_none() => PartitionData {
                        partition_index: p.partition,
                        error_code: ErrorCode::NotLeaderOrFollower.code(),
                        high_watermark: -1,
                        ..Default::default()
                    },
                    Some(m) if p.fetch_offset < m.start || p.fetch_offset > m.end => {
                        PartitionData {
                            partition_index: p.partition,
                            error_code: ErrorCode::OffsetOutOfRange.code(),
                            high_watermark: m.end,
                            log_start_offset: m.start,
                            ..Default::default()
                        }
                    }
                    Some(m) => {
                        let hw = m.end.saturating_add(i64::from(tw.hw_delta.min(0)));
                        PartitionData {
                            partition_index: p.partition,
                            high_watermark: hw,
                            last_stable_offset: hw,
                            log_start_offset: m.start,
                            records: records(m, p.fetch_offset, tw),
                            ..Default::default()
                        }
                    }
                };
                if first {
                    first = false;
                    if let Some(e) = tw.part_error {
                        data.error_code = error(e).code();
                    }
                    if let Some((epoch, end)) = tw.diverge {
                        data.diverging_epoch.epoch = i32::from(epoch % 8);
                        data.diverging_epoch.end_offset = i64::from(end % 40);
                    }
                    if let Some(r) = tw.replica {
                        data.preferred_read_replica = i32::from(r % 4);
                    }
                    if let Some((id, epoch)) = tw.current_leader {
                        data.current_leader.leader_id = i32::from(id % 4);
                        data.current_leader.leader_epoch = i32::from(epoch % 10);
                    }
                }
                if tw.aborted && data.records.is_some() {
                    // Every batch the model writes for this response is part of an
                    // aborted transaction of producer 77.
                    data.aborted_transactions = Some(vec![AbortedTransaction {
                        producer_id: 77,
                        first_offset: p.fetch_offset.min(data.log_start_offset.max(0)),
                    }]);
                }
                parts.push(data);
            }
            responses.push(FetchableTopicResponse {
                topic: if version < 13 {
                    t.topic.clone()
                } else {
                    String::new()
                },
                topic_id: if version >= 13 {
                    t.topic_id
                } else {
                    Uuid::ZERO
                },
                partitions: parts,
            });
        }
        FetchResponse {
            error_code: tw.error.map_or(0, |e| error(e).code()),
            session_id: if version >= 7 { session_id } else { 0 },
            responses,
            ..Default::default()
        }
    }

    pub fn list_offsets(&self, req: &ListOffsetsRequest, tw: &Tweak) -> ListOffsetsResponse {
        let mut first = true;
        ListOffsetsResponse {
            topics: req
                .topics
                .iter()
                .map(|t| ListOffsetsTopicResponse {
                    name: t.name.clone(),
                    partitions: t
                        .partitions
                        .iter()
                        .map(|p| {
                            let model = self.cluster.part(&t.name, p.partition_index);
                            let (code, offset, epoch) = match model {
                                None => (ErrorCode::UnknownTopicOrPartition.code(), -1, -1),
                                Some(m) => {
                                    let o = match p.timestamp {
                                        -2 => m.start,
                                        -1 => m.end,
                                        ts if ts < 0 => m.end,
                                        ts => (m.start + ts % 7).min(m.end),
                                    };
                                    (m.error, o, m.epoch)
                                }
                            };
                            let mut r = ListOffsetsPartitionResponse {
                                partition_index: p.partition_index,
                                error_code: code,
                                timestamp: if p.timestamp >= 0 { p.timestamp } else { -1 },
                                offset,
                                leader_epoch: epoch,
                                old_style_offsets: Vec::new(),
                            };
                            if std::mem::take(&mut first) {
                                if let Some(e) = tw.part_error {
                                    r.error_code = error(e).code();
                                }
                                r.offset = r.offset.saturating_add(i64::from(tw.offset_delta));
                            }
                            r
                        })
                        .collect(),
                })
                .collect(),
            ..Default::default()
        }
    }

    pub fn epochs(
        &self,
        req: &OffsetForLeaderEpochRequest,
        tw: &Tweak,
    ) -> OffsetForLeaderEpochResponse {
        let mut first = true;
        OffsetForLeaderEpochResponse {
            topics: req
                .topics
                .iter()
                .map(|t| OffsetForLeaderTopicResult {
                    topic: t.topic.clone(),
                    partitions: t
                        .partitions
                        .iter()
                        .map(|p| {
                            let model = self.cluster.part(&t.topic, p.partition);
                            let mut r = match model {
                                None => EpochEndOffset {
                                    error_code: ErrorCode::UnknownTopicOrPartition.code(),
                                    partition: p.partition,
                                    leader_epoch: -1,
                                    end_offset: -1,
                                },
                                Some(m) => EpochEndOffset {
                                    error_code: m.error,
                                    partition: p.partition,
                                    leader_epoch: p.leader_epoch.min(m.epoch),
                                    end_offset: m.end,
                                },
                            };
                            if std::mem::take(&mut first) {
                                if let Some(e) = tw.part_error {
                                    r.error_code = error(e).code();
                                }
                                r.end_offset =
                                    r.end_offset.saturating_add(i64::from(tw.offset_delta));
                            }
                            r
                        })
                        .collect(),
                })
                .collect(),
            ..Default::default()
        }
    }
}

pub fn spend(budget: &mut usize) {
    *budget = budget.checked_sub(1).unwrap_or_else(|| {
        panic!("livelock: more than {DRAIN_LIMIT} drain iterations for one input")
    });
}

pub fn no_tweak() -> Tweak {
    Tweak {
        error: None,
        part_error: None,
        session: 0,
        records: Recs::Log(8),
        back: 0,
        codec: 0,
        hw_delta: 0,
        diverge: None,
        replica: None,
        current_leader: None,
        aborted: false,
        api_limit: None,
        offset_delta: 0,
    }
}

/// The records a leader returns from `offset`: a batch from the model log (possibly
/// starting before `offset`, as brokers return whole batches), a real fixture, a
/// control marker, raw bytes, or a cut batch.
pub fn records(m: &Part, offset: i64, tw: &Tweak) -> Option<Bytes> {
    let codec = Compression::ALL[usize::from(tw.codec) % 5];
    let build = |from: i64, n: i64| {
        let mut b = BatchBuilder::new(from).with_compression(codec);
        b.partition_leader_epoch = m.epoch;
        if tw.aborted {
            b.transactional = true;
            b.producer_id = 77;
            b.producer_epoch = 0;
        }
        for o in from..from + n {
            // Records say where they belong (checked when polled): value and header
            // `h` are the offset; the key is the offset too, or ABORTED! when the
            // response lists the batch as aborted.
            let v = o.to_be_bytes();
            let key: &[u8] = if tw.aborted { ABORTED } else { &v };
            b.push(
                1_700_000_000_000 + o,
                Some(key),
                Some(&v),
                &[("h", Some(&v))],
            );
        }
        let mut buf = BytesMut::new();
        b.encode(&mut buf).expect("encode");
        buf
    };
    let from = (offset - i64::from(tw.back % 4)).max(m.start);
    let avail = (m.end - from).max(0);
    match &tw.records {
        Recs::Log(n) => {
            let n = avail.min(i64::from(*n % 16));
            (n > 0).then(|| build(from, n).freeze())
        }
        Recs::Fixture(i) => Some(Bytes::from_static(
            FIXTURES[usize::from(*i) % FIXTURES.len()],
        )),
        Recs::Bytes(b) => Some(Bytes::copy_from_slice(b)),
        Recs::Truncated(n, cut) => {
            let mut buf = build(from, avail.clamp(1, i64::from(*n % 8) + 1));
            let keep = usize::from(*cut) % buf.len();
            buf.truncate(keep);
            Some(buf.freeze())
        }
        Recs::Control(commit) => {
            let ty = if *commit {
                ControlType::Commit
            } else {
                ControlType::Abort
            };
            let b = BatchBuilder::control_marker(offset, 77, 0, ty, 3, 1_700_000_000_000);
            let mut buf = build(from, avail.min(3));
            b.encode(&mut buf).expect("encode");
            Some(buf.freeze())
        }
        Recs::None => None,
    }
}

/// An arbitrary value of the response type of `api` at `version`, encoded.
pub fn arbitrary_response(api: ApiKey, version: i16, data: &[u8]) -> Option<Bytes> {
    fn enc<M: Message>(version: i16, data: &[u8]) -> Option<Bytes> {
        let mut u = Unstructured::new(data);
        let m = M::arbitrary_at(&mut u, version).ok()?;
        let mut buf = BytesMut::new();
        m.encode(version, &mut buf).ok()?;
        Some(buf.freeze())
    }
    match api {
        ApiKey::ApiVersions => enc::<ApiVersionsResponse>(version, data),
        ApiKey::Metadata => enc::<MetadataResponse>(version, data),
        ApiKey::Fetch => enc::<FetchResponse>(version, data),
        ApiKey::ListOffsets => enc::<ListOffsetsResponse>(version, data),
        ApiKey::OffsetForLeaderEpoch => enc::<OffsetForLeaderEpochResponse>(version, data),
        ApiKey::FindCoordinator => enc::<FindCoordinatorResponse>(version, data),
        ApiKey::JoinGroup => enc::<JoinGroupResponse>(version, data),
        ApiKey::SyncGroup => enc::<SyncGroupResponse>(version, data),
        ApiKey::Heartbeat => enc::<HeartbeatResponse>(version, data),
        ApiKey::LeaveGroup => enc::<LeaveGroupResponse>(version, data),
        ApiKey::OffsetCommit => enc::<OffsetCommitResponse>(version, data),
        ApiKey::OffsetFetch => enc::<OffsetFetchResponse>(version, data),
        _ => Some(Bytes::from(data.to_vec())),
    }
}

/// The consumer's requests decode exactly at the version they were sent with.
pub fn check_request(api: ApiKey, version: i16, body: &Bytes) {
    fn exact<M: Message>(version: i16, body: &Bytes) {
        if let Err(e) = M::decode_exact(version, body) {
            panic!(
                "the consumer sent a {} v{version} that does not decode: {e:?}",
                M::NAME
            );
        }
    }
    match api {
        ApiKey::ApiVersions => exact::<ApiVersionsRequest>(version, body),
        ApiKey::Metadata => exact::<MetadataRequest>(version, body),
        ApiKey::Fetch => exact::<FetchRequest>(version, body),
        ApiKey::ListOffsets => exact::<ListOffsetsRequest>(version, body),
        ApiKey::OffsetForLeaderEpoch => exact::<OffsetForLeaderEpochRequest>(version, body),
        ApiKey::FindCoordinator => exact::<FindCoordinatorRequest>(version, body),
        ApiKey::JoinGroup => exact::<JoinGroupRequest>(version, body),
        ApiKey::SyncGroup => exact::<SyncGroupRequest>(version, body),
        ApiKey::Heartbeat => exact::<HeartbeatRequest>(version, body),
        ApiKey::LeaveGroup => exact::<LeaveGroupRequest>(version, body),
        ApiKey::OffsetCommit => exact::<OffsetCommitRequest>(version, body),
        ApiKey::OffsetFetch => exact::<OffsetFetchRequest>(version, body),
        _ => {}
    }
}

pub fn tps(v: &[Tp]) -> Vec<TopicPartition> {
    v.iter().take(8).map(|t| t.get()).collect()
}
