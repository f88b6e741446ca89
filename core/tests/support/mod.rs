//! A scripted fake broker for the consumer state machine.
//!
//! The test plays every broker: it reads what the consumer transmits (parsed into
//! requests, queued per connection), answers with encoded responses, moves a fake
//! clock, and drains events after every input as a driver would. Everything is
//! deterministic: one seed, no wall clock.
//!
//! Every drain also checks the timer contract: `poll_timeout` is never before the
//! last input, and when it says "now", `handle_timeout(now)` must make progress (a
//! deadline that stays due but does nothing would spin a real driver).
#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;

use bytes::{BufMut, Bytes, BytesMut};

use kasio_core::codec::{encode_response_frame, FrameDecoder, RequestHeader, Uuid};
use kasio_core::config::Config;
use kasio_core::conn::ConnId;
use kasio_core::consumer::{ConnCommand, Consumer, ConsumerRecords, Event, TopicPartition};
use kasio_core::protocol::messages::api_versions_response::ApiVersion;
use kasio_core::protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kasio_core::protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kasio_core::protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, FetchRequest, FetchResponse, ListOffsetsRequest,
    MetadataRequest, MetadataResponse,
};
use kasio_core::protocol::{ApiKey, ErrorCode, Message, Request};
use kasio_core::records::BatchBuilder;
use kasio_core::time::{Duration, Instant};

pub const SEED: u64 = 0x006b_6173_696f;
pub const TOPIC: &str = "t";
pub const TOPIC_ID: Uuid = Uuid([7; 16]);

pub fn tp(p: i32) -> TopicPartition {
    TopicPartition::new(TOPIC, p)
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

// ----- the broker's API versions table ---------------------------------------------

/// What a broker answers ApiVersions with.
#[derive(Debug, Clone)]
pub struct Versions(pub Vec<(ApiKey, i16, i16)>);

impl Versions {
    /// Every API at the codec's full range (a current Kafka).
    pub fn all() -> Self {
        Versions(
            ApiKey::ALL
                .iter()
                .map(|&k| (k, k.versions().0, k.versions().1))
                .collect(),
        )
    }

    /// Without `api` (tansu has no OffsetForLeaderEpoch).
    pub fn without(mut self, api: ApiKey) -> Self {
        self.0.retain(|(k, ..)| *k != api);
        self
    }

    /// `api` limited to `min..=max`.
    pub fn with(mut self, api: ApiKey, min: i16, max: i16) -> Self {
        self.0.retain(|(k, ..)| *k != api);
        self.0.push((api, min, max));
        self
    }

    pub fn response(&self) -> ApiVersionsResponse {
        ApiVersionsResponse {
            api_keys: self
                .0
                .iter()
                .map(|&(k, min_version, max_version)| ApiVersion {
                    api_key: k.key(),
                    min_version,
                    max_version,
                })
                .collect(),
            ..Default::default()
        }
    }
}

// ----- the cluster as metadata describes it ----------------------------------------

#[derive(Debug, Clone)]
pub struct PartMeta {
    pub index: i32,
    pub leader: i32,
    pub epoch: i32,
    pub error: i16,
}

#[derive(Debug, Clone)]
pub struct TopicMeta {
    pub name: String,
    pub id: Uuid,
    pub error: i16,
    pub partitions: Vec<PartMeta>,
}

#[derive(Debug, Clone)]
pub struct Cluster {
    /// (node id, host, port, rack)
    pub brokers: Vec<(i32, String, u16, Option<String>)>,
    pub topics: Vec<TopicMeta>,
}

impl Cluster {
    /// Brokers 1..=n at `b{i}:9092`, and topic `t` with `partitions` partitions led by
    /// broker 1 at leader epoch 5.
    pub fn new(brokers: i32, partitions: i32) -> Self {
        Cluster {
            brokers: (1..=brokers)
                .map(|i| (i, format!("b{i}"), 9092, Some(format!("rack{i}"))))
                .collect(),
            topics: vec![TopicMeta {
                name: TOPIC.into(),
                id: TOPIC_ID,
                error: 0,
                partitions: (0..partitions)
                    .map(|index| PartMeta {
                        index,
                        leader: 1,
                        epoch: 5,
                        error: 0,
                    })
                    .collect(),
            }],
        }
    }

    pub fn part_mut(&mut self, topic: &str, p: i32) -> &mut PartMeta {
        self.topics
            .iter_mut()
            .find(|t| t.name == topic)
            .and_then(|t| t.partitions.iter_mut().find(|x| x.index == p))
            .expect("partition in the cluster")
    }

    pub fn set_leader(&mut self, p: i32, leader: i32, epoch: i32) {
        let part = self.part_mut(TOPIC, p);
        part.leader = leader;
        part.epoch = epoch;
    }

    pub fn topic_id(&self, name: &str) -> Uuid {
        self.topics
            .iter()
            .find(|t| t.name == name)
            .map_or(Uuid::ZERO, |t| t.id)
    }

    pub fn topic_name(&self, id: &Uuid) -> String {
        self.topics
            .iter()
            .find(|t| t.id == *id)
            .map(|t| t.name.clone())
            .unwrap_or_default()
    }

    /// The answer to `req`: the requested topics (unknown ones with
    /// UNKNOWN_TOPIC_OR_PARTITION), all brokers.
    pub fn metadata(&self, req: &MetadataRequest) -> MetadataResponse {
        let names: Vec<String> = match &req.topics {
            Some(ts) => ts.iter().filter_map(|t| t.name.clone()).collect(),
            None => self.topics.iter().map(|t| t.name.clone()).collect(),
        };
        MetadataResponse {
            brokers: self
                .brokers
                .iter()
                .map(|(id, host, port, rack)| MetadataResponseBroker {
                    node_id: *id,
                    host: host.clone(),
                    port: i32::from(*port),
                    rack: rack.clone(),
                })
                .collect(),
            cluster_id: Some("fake".into()),
            controller_id: 1,
            topics: names
                .iter()
                .map(|name| match self.topics.iter().find(|t| &t.name == name) {
                    Some(t) => MetadataResponseTopic {
                        error_code: t.error,
                        name: Some(t.name.clone()),
                        topic_id: t.id,
                        partitions: t
                            .partitions
                            .iter()
                            .map(|p| MetadataResponsePartition {
                                error_code: p.error,
                                partition_index: p.index,
                                leader_id: p.leader,
                                leader_epoch: p.epoch,
                                replica_nodes: self.brokers.iter().map(|b| b.0).collect(),
                                isr_nodes: self.brokers.iter().map(|b| b.0).collect(),
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
}

// ----- records and responses -------------------------------------------------------

/// One v2 batch at `base` with leader epoch `epoch`: record i has key `k{offset}`,
/// value `v{offset}` and a header `h` = `x{offset}`.
pub fn batch(base: i64, count: usize, epoch: i32) -> Bytes {
    let mut b = BatchBuilder::new(base);
    b.partition_leader_epoch = epoch;
    for i in 0..count {
        let off = base + i as i64;
        let (k, v, h) = (format!("k{off}"), format!("v{off}"), format!("x{off}"));
        b.push(
            1_700_000_000_000 + off,
            Some(k.as_bytes()),
            Some(v.as_bytes()),
            &[("h", Some(h.as_bytes()))],
        );
    }
    let mut buf = BytesMut::new();
    b.encode(&mut buf).expect("encode batch");
    buf.freeze()
}

/// Concatenated batches.
pub fn concat(parts: &[Bytes]) -> Bytes {
    let mut buf = BytesMut::new();
    for p in parts {
        buf.put_slice(p);
    }
    buf.freeze()
}

/// Partition data without records, with `high_watermark` = `last_stable_offset` = hw.
pub fn pdata(p: i32, hw: i64) -> PartitionData {
    PartitionData {
        partition_index: p,
        high_watermark: hw,
        last_stable_offset: hw,
        log_start_offset: 0,
        records: None,
        ..Default::default()
    }
}

/// Partition data carrying `records`.
pub fn pdata_with(p: i32, hw: i64, records: Bytes) -> PartitionData {
    PartitionData {
        records: Some(records),
        ..pdata(p, hw)
    }
}

/// Partition data with only an error.
pub fn perror(p: i32, code: ErrorCode) -> PartitionData {
    PartitionData {
        partition_index: p,
        error_code: code.code(),
        high_watermark: -1,
        last_stable_offset: -1,
        log_start_offset: -1,
        ..Default::default()
    }
}

/// A Fetch response for topic `t` (named and by ID, so any version encodes).
pub fn fetch_resp(session_id: i32, parts: Vec<PartitionData>) -> FetchResponse {
    FetchResponse {
        session_id,
        responses: if parts.is_empty() {
            Vec::new()
        } else {
            vec![FetchableTopicResponse {
                topic: TOPIC.into(),
                topic_id: TOPIC_ID,
                partitions: parts,
            }]
        },
        ..Default::default()
    }
}

/// The partitions of a Fetch request as `(partition, fetch_offset)`, in order.
pub fn fetch_parts(req: &FetchRequest) -> Vec<(i32, i64)> {
    req.topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (p.partition, p.fetch_offset)))
        .collect()
}

/// The forgotten partitions of a Fetch request.
pub fn forgotten(req: &FetchRequest) -> Vec<i32> {
    req.forgotten_topics_data
        .iter()
        .flat_map(|t| t.partitions.iter().copied())
        .collect()
}

/// `(partition, timestamp)` of a ListOffsets request.
pub fn list_parts(req: &ListOffsetsRequest) -> Vec<(i32, i64)> {
    req.topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (p.partition_index, p.timestamp))
        })
        .collect()
}

/// Records as `(partition, offset)`, for assertions.
/// A ListOffsets answer for partitions of `t` (leader epoch 5).
pub fn list_offsets_resp(
    parts: &[(i32, i64)],
) -> kasio_core::protocol::messages::ListOffsetsResponse {
    use kasio_core::protocol::messages::list_offsets_response::*;
    kasio_core::protocol::messages::ListOffsetsResponse {
        topics: vec![ListOffsetsTopicResponse {
            name: TOPIC.into(),
            partitions: parts
                .iter()
                .map(|&(p, offset)| ListOffsetsPartitionResponse {
                    partition_index: p,
                    offset,
                    timestamp: -1,
                    leader_epoch: 5,
                    ..Default::default()
                })
                .collect(),
        }],
        ..Default::default()
    }
}

pub fn summarize(records: &ConsumerRecords) -> Vec<(i32, i64)> {
    records
        .iter()
        .map(|(tp, r)| (tp.partition, r.offset))
        .collect()
}

// ----- the harness ---------------------------------------------------------------

/// A request as the broker received it.
#[derive(Debug, Clone)]
pub struct Req<T> {
    pub conn: ConnId,
    pub broker: i32,
    pub header: RequestHeader,
    pub version: i16,
    pub body: T,
}

#[derive(Debug, Clone)]
struct Frame {
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    bytes: Bytes,
}

#[derive(Debug)]
struct FakeConn {
    broker: i32,
    host: String,
    connected: bool,
    /// Requests not yet taken by `expect`.
    unread: VecDeque<Frame>,
    /// Correlation ids not yet answered, oldest first.
    unanswered: VecDeque<i32>,
}

/// The consumer, a fake clock and the brokers' side of every connection.
pub struct Harness {
    pub c: Consumer,
    pub now: Instant,
    pub cluster: Cluster,
    /// Every event, in order (Connect and Disconnect included).
    pub events: Vec<Event>,
    /// Every connection command, in order.
    pub commands: Vec<ConnCommand>,
    /// Request kinds in the order the consumer transmitted them, e.g. `Metadata v12`
    /// or `Fetch v17 incr epoch=3`.
    pub trace: Vec<String>,
    /// The same, with the broker each went to (negative: a bootstrap server).
    pub routed: Vec<(i32, String)>,
    /// Every transmit, byte for byte, with its connection.
    pub wire: Vec<(u64, Vec<u8>)>,
    /// Every event and transmit with the instant it came out.
    pub timeline: Vec<(Instant, String)>,
    /// Deliver responses in chunks of this many bytes (`None`: whole).
    pub chunk: Option<usize>,
    /// After every drain, call `handle_timeout(now)` once more and require that it
    /// changes nothing (no event, no transmit, the same `poll_timeout`). On by
    /// default.
    pub spurious_timeouts: bool,
    conns: BTreeMap<ConnId, FakeConn>,
}

impl Harness {
    /// A consumer bootstrapped from `b1:9092` with `extra` config on top of test
    /// defaults, and a cluster of `brokers` brokers with `partitions` partitions of `t`.
    pub fn new(extra: &[(&str, &str)], brokers: i32, partitions: i32) -> Self {
        Self::with_seed(extra, brokers, partitions, SEED)
    }

    pub fn with_seed(extra: &[(&str, &str)], brokers: i32, partitions: i32, seed: u64) -> Self {
        let mut pairs: Vec<(&str, &str)> = vec![
            ("bootstrap.servers", "b1:9092"),
            ("client.id", "test"),
            ("auto.offset.reset", "earliest"),
            ("request.timeout.ms", "5000"),
            ("reconnect.backoff.ms", "50"),
            ("reconnect.backoff.max.ms", "1000"),
            ("retry.backoff.ms", "100"),
            ("retry.backoff.max.ms", "1000"),
        ];
        pairs.extend_from_slice(extra);
        let config = Config::from_pairs(pairs).expect("valid test config");
        let now = Instant::from_millis(1_000);
        Harness {
            c: Consumer::new(config, now, seed),
            now,
            cluster: Cluster::new(brokers, partitions),
            events: Vec::new(),
            commands: Vec::new(),
            trace: Vec::new(),
            routed: Vec::new(),
            wire: Vec::new(),
            timeline: Vec::new(),
            chunk: None,
            spurious_timeouts: true,
            conns: BTreeMap::new(),
        }
    }

    // ----- draining -------------------------------------------------------------

    /// Drains events and transmits once; returns how many of either came out.
    fn drain_once(&mut self) -> usize {
        let mut n = 0;
        loop {
            let mut progressed = false;
            while let Some(cmd) = self.c.poll_conn_command() {
                progressed = true;
                n += 1;
                match &cmd {
                    ConnCommand::Connect {
                        conn, broker, host, ..
                    } => {
                        let old = self.conns.insert(
                            *conn,
                            FakeConn {
                                broker: broker.0,
                                host: host.clone(),
                                connected: false,
                                unread: VecDeque::new(),
                                unanswered: VecDeque::new(),
                            },
                        );
                        assert!(old.is_none(), "connection id {conn:?} reused");
                    }
                    ConnCommand::Disconnect { conn } => {
                        self.conns.remove(conn);
                    }
                    other => panic!("unknown command {other:?}"),
                }
                self.timeline.push((self.now, format!("{cmd:?}")));
                self.commands.push(cmd);
            }
            while let Some(e) = self.c.poll_event() {
                progressed = true;
                n += 1;
                self.timeline.push((self.now, format!("{e:?}")));
                self.events.push(e);
            }
            let mut buf = Vec::new();
            while let Some(t) = self.c.poll_transmit(self.now, &mut buf) {
                progressed = true;
                n += 1;
                assert_eq!(t.len, buf.len(), "transmit length");
                self.wire.push((t.conn.0, buf.clone()));
                self.timeline
                    .push((self.now, format!("transmit {:?} {} bytes", t.conn, t.len)));
                self.receive_requests(t.conn, Bytes::from(std::mem::take(&mut buf)));
            }
            if !progressed {
                return n;
            }
        }
    }

    fn receive_requests(&mut self, conn: ConnId, data: Bytes) {
        let Some(fc) = self.conns.get_mut(&conn) else {
            panic!("transmit on unknown connection {conn:?}");
        };
        assert!(fc.connected, "transmit on {conn:?} before it connected");
        let mut frames = FrameDecoder::new(usize::MAX);
        frames.push_bytes(data);
        while let Some(frame) = frames.next_frame().expect("request framing") {
            let (key, version, correlation_id) = RequestHeader::peek(&frame).expect("header");
            let api = ApiKey::from_i16(key).expect("known api");
            let line = describe(api, version, &frame);
            self.trace.push(line.clone());
            self.routed.push((fc.broker, line));
            fc.unread.push_back(Frame {
                api,
                version,
                correlation_id,
                bytes: frame,
            });
            fc.unanswered.push_back(correlation_id);
        }
        assert_eq!(frames.buffered(), 0, "partial frame");
    }

    /// Drains everything, then honours the timer: while `poll_timeout` says "now",
    /// calls `handle_timeout(now)`, which must make progress.
    pub fn drain(&mut self) {
        for _ in 0..1000 {
            self.drain_once();
            let Some(t) = self.c.poll_timeout() else {
                self.check_spurious_timeout();
                return;
            };
            assert!(
                t >= self.now,
                "poll_timeout {t:?} is before the last input at {:?}",
                self.now
            );
            if t > self.now {
                self.check_spurious_timeout();
                return;
            }
            self.c.handle_timeout(self.now);
            let n = self.drain_once();
            if n == 0 && self.c.poll_timeout().is_some_and(|t| t <= self.now) {
                panic!(
                    "poll_timeout keeps returning now ({:?}) but handle_timeout does nothing: \
                     a driver would spin\n{}",
                    self.now,
                    self.dump()
                );
            }
        }
        panic!("livelock: 1000 rounds at {:?}\n{}", self.now, self.dump());
    }

    fn check_spurious_timeout(&mut self) {
        if !self.spurious_timeouts {
            return;
        }
        let before = self.c.poll_timeout();
        self.c.handle_timeout(self.now);
        let n = self.drain_once();
        assert_eq!(
            n,
            0,
            "a spurious handle_timeout at {:?} did something\n{}",
            self.now,
            self.dump()
        );
        assert_eq!(
            self.c.poll_timeout(),
            before,
            "a spurious handle_timeout moved the timer"
        );
    }

    pub fn dump(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "trace: {:#?}", self.routed);
        let _ = writeln!(s, "events: {:#?}", self.events);
        s
    }

    // ----- time -------------------------------------------------------------------

    /// Moves the clock by `d` in one jump and fires timers.
    pub fn advance(&mut self, d: Duration) {
        self.now += d;
        self.c.handle_timeout(self.now);
        self.drain();
    }

    /// Moves the clock to `until`, stopping at every deadline on the way (as a
    /// driver would).
    pub fn run_until(&mut self, until: Instant) {
        while let Some(t) = self.c.poll_timeout() {
            if t > until {
                break;
            }
            self.now = self.now.max(t);
            self.c.handle_timeout(self.now);
            self.drain();
        }
        self.now = self.now.max(until);
        self.c.handle_timeout(self.now);
        self.drain();
    }

    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    /// Jumps to the next deadline, fires it, and returns it.
    pub fn step(&mut self) -> Instant {
        let t = self.c.poll_timeout().expect("a deadline");
        self.now = self.now.max(t);
        self.c.handle_timeout(self.now);
        self.drain();
        self.now
    }

    // ----- events -----------------------------------------------------------------

    /// Events other than RecordsReady since the last call.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
            .into_iter()
            .filter(|e| !matches!(e, Event::RecordsReady))
            .collect()
    }

    pub fn take_all_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    pub fn take_trace(&mut self) -> Vec<String> {
        self.routed.clear();
        std::mem::take(&mut self.trace)
    }

    pub fn take_routed(&mut self) -> Vec<(i32, String)> {
        self.trace.clear();
        std::mem::take(&mut self.routed)
    }

    // ----- connections --------------------------------------------------------------

    /// Open connections (connected or not) to `broker`.
    pub fn conns_to(&self, broker: i32) -> Vec<ConnId> {
        self.conns
            .iter()
            .filter(|(_, c)| c.broker == broker)
            .map(|(id, _)| *id)
            .collect()
    }

    pub fn is_connecting(&self, broker: i32) -> bool {
        self.conns
            .values()
            .any(|c| c.broker == broker && !c.connected)
    }

    /// The broker of some connection the consumer asked for and that is not yet
    /// connected.
    pub fn connecting_broker(&self) -> Option<i32> {
        self.conns.values().find(|c| !c.connected).map(|c| c.broker)
    }

    /// The consumer asked to connect to `broker`: the connection succeeds.
    pub fn accept(&mut self, broker: i32) -> ConnId {
        let conn = self
            .conns
            .iter()
            .find(|(_, c)| c.broker == broker && !c.connected)
            .map(|(id, _)| *id)
            .unwrap_or_else(|| panic!("no pending connection to broker {broker}\n{}", self.dump()));
        self.conns.get_mut(&conn).unwrap().connected = true;
        self.c.handle_connected(self.now, conn);
        self.drain();
        conn
    }

    /// The driver reports the connection lost.
    pub fn disconnect(&mut self, conn: ConnId) {
        self.conns.remove(&conn);
        self.c.handle_disconnected(self.now, conn);
        self.drain();
    }

    /// Answers ApiVersions on the newest connection of `broker` with `versions`.
    pub fn negotiate(&mut self, broker: i32, versions: &Versions) -> ConnId {
        let req = self.expect_api::<ApiVersionsRequest>(broker);
        self.respond(&req, &versions.response());
        req.conn
    }

    pub fn connect_and_negotiate(&mut self, broker: i32, versions: &Versions) -> ConnId {
        self.accept(broker);
        self.negotiate(broker, versions)
    }

    // ----- requests and responses ----------------------------------------------------

    /// The oldest request on any connection of `broker` not yet taken, if any.
    pub fn try_next(&mut self, broker: i32) -> Option<(ConnId, ApiKey, i16)> {
        self.conns
            .iter()
            .filter(|(_, c)| c.broker == broker)
            .find_map(|(id, c)| c.unread.front().map(|f| (*id, f.api, f.version)))
    }

    /// Requests not yet taken, per broker, for assertions.
    pub fn unread(&self) -> Vec<(i32, String)> {
        self.conns
            .values()
            .flat_map(|c| {
                c.unread
                    .iter()
                    .map(|f| (c.broker, describe(f.api, f.version, &f.bytes)))
            })
            .collect()
    }

    /// Takes the oldest request sent to `broker`, which must be an `R`.
    pub fn expect<R: Request>(&mut self, broker: i32) -> Req<R> {
        let conn = self
            .conns
            .iter()
            .filter(|(_, c)| c.broker == broker)
            .find(|(_, c)| !c.unread.is_empty())
            .map(|(id, _)| *id)
            .unwrap_or_else(|| {
                panic!(
                    "expected {} to broker {broker}, nothing pending\n{}",
                    R::API_KEY.name(),
                    self.dump()
                )
            });
        self.expect_on::<R>(conn)
    }

    /// The API of the request next in line on `conn`, if any.
    pub fn next_api_on(&self, conn: ConnId) -> Option<ApiKey> {
        self.conns.get(&conn)?.unread.front().map(|f| f.api)
    }

    /// Takes the request of type `R` that is next in line on one of `broker`'s
    /// connections (others may have other requests in front).
    pub fn expect_api<R: Request>(&mut self, broker: i32) -> Req<R> {
        let conn = self
            .conns
            .iter()
            .filter(|(_, c)| c.broker == broker)
            .find(|(_, c)| c.unread.front().is_some_and(|f| f.api == R::API_KEY))
            .map(|(id, _)| *id)
            .unwrap_or_else(|| {
                panic!(
                    "expected {} next on a connection to broker {broker}\n{}",
                    R::API_KEY.name(),
                    self.dump()
                )
            });
        self.expect_on::<R>(conn)
    }

    /// Takes the oldest request on `conn`, which must be an `R`.
    pub fn expect_on<R: Request>(&mut self, conn: ConnId) -> Req<R> {
        let dump = self.dump();
        let fc = self.conns.get_mut(&conn).expect("open connection");
        let frame = fc
            .unread
            .pop_front()
            .unwrap_or_else(|| panic!("nothing pending on {conn:?}\n{dump}"));
        assert_eq!(
            frame.api,
            R::API_KEY,
            "expected {} on {conn:?}, got {:?} v{}\n{dump}",
            R::API_KEY.name(),
            frame.api,
            frame.version
        );
        let (header, body) = RequestHeader::decode(
            frame.api.request_header_version(frame.version),
            &frame.bytes,
        )
        .expect("request header");
        let body = R::decode_exact(frame.version, &body).expect("request body");
        assert_eq!(header.correlation_id, frame.correlation_id);
        Req {
            conn,
            broker: fc.broker,
            header,
            version: frame.version,
            body,
        }
    }

    /// Asserts that nothing was sent to `broker` and not yet taken.
    pub fn expect_nothing(&self, broker: i32) {
        let pending: Vec<_> = self
            .unread()
            .into_iter()
            .filter(|(b, _)| *b == broker)
            .collect();
        assert!(
            pending.is_empty(),
            "expected nothing to broker {broker}, got {pending:?}"
        );
    }

    /// The response bytes (size prefix, header, body) for `req`.
    pub fn encode_response<T, M: Message>(req: &Req<T>, resp: &M, correlation_id: i32) -> Bytes {
        let api = ApiKey::from_i16(req.header.api_key).unwrap();
        let mut buf = BytesMut::new();
        encode_response_frame(&mut buf, api, req.version, correlation_id, resp)
            .expect("encode response");
        buf.freeze()
    }

    /// Answers `req` with `resp` at the request's version.
    pub fn respond<T, M: Message>(&mut self, req: &Req<T>, resp: &M) {
        self.mark_answered(req);
        let bytes = Self::encode_response(req, resp, req.header.correlation_id);
        self.deliver(req.conn, &bytes);
    }

    /// Answers an ApiVersions request with a v0 body (what a broker that does not
    /// speak the request's version sends).
    pub fn respond_v0<T, M: Message>(&mut self, req: &Req<T>, resp: &M) {
        self.mark_answered(req);
        let mut buf = BytesMut::new();
        let corr = req.header.correlation_id;
        encode_response_frame(&mut buf, ApiKey::ApiVersions, 0, corr, resp)
            .expect("encode v0 response");
        self.deliver(req.conn, &buf.freeze());
    }

    fn mark_answered<T>(&mut self, req: &Req<T>) {
        if let Some(fc) = self.conns.get_mut(&req.conn) {
            assert_eq!(
                fc.unanswered.front(),
                Some(&req.header.correlation_id),
                "brokers answer in order: {:?} is not the oldest request on {:?}",
                req.header.correlation_id,
                req.conn
            );
            fc.unanswered.pop_front();
        }
    }

    /// Feeds raw bytes on `conn` (chunked per `self.chunk`) and drains.
    pub fn deliver(&mut self, conn: ConnId, bytes: &[u8]) {
        match self.chunk {
            Some(n) => {
                for piece in bytes.chunks(n.max(1)) {
                    self.c.handle_input(self.now, conn, piece);
                    self.drain();
                }
            }
            None => {
                self.c.handle_input(self.now, conn, bytes);
                self.drain();
            }
        }
    }

    /// Answers the pending Metadata request to `broker` from `self.cluster`.
    pub fn answer_metadata(&mut self, broker: i32) -> Req<MetadataRequest> {
        let req = self.expect::<MetadataRequest>(broker);
        let resp = self.cluster.metadata(&req.body);
        self.respond(&req, &resp);
        req
    }

    /// Answers every Metadata request that is next in line on its connection, on any
    /// broker; returns how many.
    pub fn answer_any_metadata(&mut self) -> usize {
        let mut n = 0;
        let brokers: Vec<i32> = self.conns.values().map(|c| c.broker).collect();
        for b in brokers {
            while let Some((_, api, _)) = self.try_next(b) {
                if api != ApiKey::Metadata {
                    break;
                }
                self.answer_metadata(b);
                n += 1;
                assert!(
                    n < 100,
                    "metadata requests follow each other without pause\n{}",
                    self.dump()
                );
            }
        }
        n
    }

    /// Runs the clock (answering metadata on the way) until a Fetch is pending on
    /// `broker`, for at most `limit`.
    pub fn wait_for_fetch(&mut self, broker: i32, limit: Duration) -> Req<FetchRequest> {
        let until = self.now + limit;
        loop {
            self.answer_any_metadata();
            if let Some((_, api, _)) = self.try_next(broker) {
                if api == ApiKey::Fetch {
                    return self.expect::<FetchRequest>(broker);
                }
                panic!(
                    "expected a Fetch to broker {broker}, got {api:?}\n{}",
                    self.dump()
                );
            }
            match self.c.poll_timeout() {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    self.c.handle_timeout(self.now);
                    self.drain();
                }
                _ => panic!(
                    "no Fetch to broker {broker} within {limit:?}\n{}",
                    self.dump()
                ),
            }
        }
    }

    /// Answers a pending ListOffsets to `broker`: every partition at `offset`.
    pub fn answer_list_offsets(&mut self, broker: i32, offset: i64) -> Req<ListOffsetsRequest> {
        use kasio_core::protocol::messages::list_offsets_response::{
            ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
        };
        use kasio_core::protocol::messages::ListOffsetsResponse;
        let req = self.expect::<ListOffsetsRequest>(broker);
        let resp = ListOffsetsResponse {
            topics: req
                .body
                .topics
                .iter()
                .map(|t| ListOffsetsTopicResponse {
                    name: t.name.clone(),
                    partitions: t
                        .partitions
                        .iter()
                        .map(|p| ListOffsetsPartitionResponse {
                            partition_index: p.partition_index,
                            timestamp: -1,
                            offset,
                            leader_epoch: 5,
                            ..Default::default()
                        })
                        .collect(),
                })
                .collect(),
            ..Default::default()
        };
        self.respond(&req, &resp);
        req
    }

    /// Bootstrap, metadata, the leader's connection and the offset reset: from a fresh
    /// consumer to the first Fetch to broker 1 being in flight (returned, unanswered).
    /// Partitions start at `offset`.
    pub fn start(&mut self, partitions: &[i32], offset: i64) -> Req<FetchRequest> {
        self.start_with(partitions, offset, &Versions::all())
    }

    pub fn start_with(
        &mut self,
        partitions: &[i32],
        offset: i64,
        versions: &Versions,
    ) -> Req<FetchRequest> {
        self.c.assign(partitions.iter().map(|&p| tp(p))).unwrap();
        self.drain();
        self.connect_and_negotiate(-1, versions);
        self.answer_metadata(-1);
        self.connect_and_negotiate(1, versions);
        self.answer_list_offsets(1, offset);
        let fetch = self.expect::<FetchRequest>(1);
        self.take_events();
        self.take_trace();
        fetch
    }

    /// Polls records and drains.
    pub fn poll(&mut self) -> ConsumerRecords {
        let r = self.c.poll_records(self.now);
        self.drain();
        r
    }
}

/// A one-line description of a request frame for traces.
pub fn describe(api: ApiKey, version: i16, frame: &Bytes) -> String {
    let mut s = format!("{} v{version}", api.name());
    if api == ApiKey::Fetch {
        let (_, body) =
            RequestHeader::decode(api.request_header_version(version), frame).expect("header");
        let req = FetchRequest::decode_exact(version, &body).expect("fetch body");
        let kind = match (req.session_id, req.session_epoch) {
            (0, 0) | (0, -1) => "full".to_string(),
            (_, -1) => "close".to_string(),
            (_, 0) => "full".to_string(),
            (_, _) => "incr".to_string(),
        };
        let _ = write!(s, " {kind} epoch={}", req.session_epoch);
    }
    s
}

/// FindCoordinator's answer: broker `node` (host `b<node>`, port 9092) coordinates
/// group `group`.
pub fn coordinator_answer(
    group: &str,
    node: i32,
) -> kasio_core::protocol::messages::FindCoordinatorResponse {
    kasio_core::protocol::messages::FindCoordinatorResponse {
        coordinators: vec![
            kasio_core::protocol::messages::find_coordinator_response::Coordinator {
                key: group.into(),
                node_id: node,
                host: format!("b{node}"),
                port: 9092,
                error_code: 0,
                error_message: None,
            },
        ],
        ..Default::default()
    }
}
