//! The consumer state machine: connections, metadata, fetch sessions, positions and
//! offsets for manually assigned partitions.
//!
//! # Driving it
//!
//! The consumer is sans-IO: a driver owns the sockets and the clock and moves bytes
//! and time in and out. After **every** input — [`handle_connected`],
//! [`handle_input`], [`handle_disconnected`], [`handle_timeout`] and every
//! application call ([`assign`], [`seek`], [`poll_records`], …) — drain:
//!
//! 1. [`poll_event`] until `None` (it asks for connections to open and close, and
//!    tells the application what happened);
//! 2. [`poll_transmit`] until `None` (bytes to write, per connection);
//! 3. [`poll_timeout`] once: call [`handle_timeout`] at that instant (or earlier —
//!    spurious calls are harmless).
//!
//! ```
//! use kasio_core::config::Config;
//! use kasio_core::consumer::{Consumer, Event, TopicPartition};
//! use kasio_core::time::Instant;
//!
//! let config = Config::from_pairs([("bootstrap.servers", "localhost:9092")]).unwrap();
//! let mut consumer = Consumer::new(config, Instant::ZERO, 42);
//! consumer.assign([TopicPartition::new("orders", 0)]);
//! // The consumer wants a connection to the bootstrap server first.
//! match consumer.poll_event() {
//!     Some(Event::Connect { host, port, .. }) => assert_eq!((host.as_str(), port), ("localhost", 9092)),
//!     other => panic!("{other:?}"),
//! }
//! ```
//!
//! [`handle_connected`]: Consumer::handle_connected
//! [`handle_input`]: Consumer::handle_input
//! [`handle_disconnected`]: Consumer::handle_disconnected
//! [`handle_timeout`]: Consumer::handle_timeout
//! [`assign`]: Consumer::assign
//! [`seek`]: Consumer::seek
//! [`poll_records`]: Consumer::poll_records
//! [`poll_event`]: Consumer::poll_event
//! [`poll_transmit`]: Consumer::poll_transmit
//! [`poll_timeout`]: Consumer::poll_timeout

mod brokers;
mod event;
mod fetcher;
mod offsets;
mod partition;
mod poll;
mod purpose;

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;

use bytes::Bytes;

pub use event::{
    ConsumerError, Event, OffsetAndTimestamp, QueryId, ResetReason, TopicPartition, UsageError,
};
pub use poll::{ConsumerRecords, PartitionBatch};

use crate::backoff::Backoff;
use crate::config::{Config, IsolationLevel, OffsetReset};
use crate::conn::{ConnError, ConnId, Incoming};
use crate::fetch::session::FetchSession;
use crate::metadata::{BrokerId, Metadata};
use crate::protocol::messages::metadata_request::MetadataRequestTopic;
use crate::protocol::messages::{MetadataRequest, MetadataResponse};
use crate::protocol::{ApiKey, ErrorCode, Message};
use crate::records::DecodeOptions;
use crate::rng::Rng;
use crate::time::Instant;

use brokers::Brokers;
use offsets::TimesQuery;
use partition::{FetchState, PartitionState};
use purpose::{PartKey, Purpose};

/// Bytes written for one connection by [`Consumer::poll_transmit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Transmit {
    /// The connection to write to.
    pub conn: ConnId,
    /// How many bytes were appended to the buffer.
    pub len: usize,
}

/// Log end offsets of a partition as the last fetch response gave them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Watermarks {
    /// The first offset in the log (-1 if not known yet).
    pub log_start_offset: i64,
    /// The high watermark: one past the last committed (replicated) record.
    pub high_watermark: i64,
    /// The last stable offset: transactions below it are decided.
    pub last_stable_offset: i64,
}

#[derive(Debug)]
struct MetadataState {
    needed: bool,
    in_flight: bool,
    last_success: Option<Instant>,
    backoff: Backoff,
}

/// The versions of each API the consumer can work with (a subset of what the codec
/// speaks: Fetch from v4, which brings isolation levels and record batch v2
/// awareness; ListOffsets from v1, the single-offset form).
pub(crate) fn consumer_versions(api: ApiKey) -> (i16, i16) {
    let (lo, hi) = api.versions();
    match api {
        ApiKey::Fetch => (lo.max(4), hi),
        ApiKey::ListOffsets => (lo.max(1), hi),
        _ => (lo, hi),
    }
}

/// A Kafka consumer for manually assigned partitions, as a pure state machine; see
/// the [module documentation](self) for how to drive it.
#[derive(Debug)]
pub struct Consumer {
    config: Config,
    decode: DecodeOptions,
    rng: Rng,
    now: Instant,
    brokers: Brokers,
    metadata: Metadata,
    meta: MetadataState,
    /// Assigned partitions by topic, then partition index.
    partitions: BTreeMap<String, BTreeMap<i32, PartitionState>>,
    sessions: BTreeMap<BrokerId, FetchSession<PartKey>>,
    /// Whether each broker's session names topics by ID (Fetch v13+).
    session_topic_ids: BTreeMap<BrokerId, bool>,
    fetch_in_flight: BTreeSet<BrokerId>,
    fetch_backoff: BTreeMap<BrokerId, Backoff>,
    queries: BTreeMap<QueryId, TimesQuery>,
    next_query: u64,
    /// Topics whose metadata the application asked for without assigning them.
    extra_topics: BTreeSet<String>,
    events: VecDeque<Event>,
    buffered_bytes: usize,
    /// Where the next `poll_records` starts, for fairness between partitions.
    poll_cursor: Option<PartKey>,
    closing: Option<Instant>,
    closed: bool,
    /// The instant `drive` last ran at: backoffs that ended by then were acted on (or
    /// are blocked on something whose change is itself an input), so they are no
    /// reason to wake up again.
    driven_at: Instant,
}

impl Consumer {
    /// A consumer with `config`, starting at `now`; `seed` drives all of its
    /// randomness (backoff jitter, broker choice), so a seed and a sequence of
    /// inputs replay exactly.
    pub fn new(config: Config, now: Instant, seed: u64) -> Self {
        let mut decode = DecodeOptions::from_fetch_max_bytes(config.fetch_max_bytes as usize);
        decode.check_crcs = config.check_crcs;
        let meta_backoff = Backoff::new(config.retry_backoff, config.retry_backoff_max);
        Self {
            brokers: Brokers::new(&config),
            decode,
            rng: Rng::new(seed),
            now,
            metadata: Metadata::default(),
            meta: MetadataState {
                needed: false,
                in_flight: false,
                last_success: None,
                backoff: meta_backoff,
            },
            partitions: BTreeMap::new(),
            sessions: BTreeMap::new(),
            session_topic_ids: BTreeMap::new(),
            fetch_in_flight: BTreeSet::new(),
            fetch_backoff: BTreeMap::new(),
            queries: BTreeMap::new(),
            next_query: 1,
            extra_topics: BTreeSet::new(),
            events: VecDeque::new(),
            buffered_bytes: 0,
            poll_cursor: None,
            closing: None,
            closed: false,
            driven_at: now,
            config,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The cluster metadata as last seen.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    // ----- application calls -------------------------------------------------------

    /// Keeps `topic`'s metadata fresh although none of it is assigned, e.g. to learn
    /// its partitions with [`partitions_for`](Self::partitions_for).
    pub fn want_metadata(&mut self, topic: &str) {
        if self.extra_topics.insert(topic.into()) {
            self.meta.needed = true;
        }
        self.drive();
    }

    /// The partitions of `topic` as metadata last gave them, if it exists.
    pub fn partitions_for(&self, topic: &str) -> Option<Vec<i32>> {
        let t = self.metadata.topic(topic)?;
        (t.error == ErrorCode::None && !t.partitions.is_empty())
            .then(|| t.partitions.keys().copied().collect())
    }

    /// Replaces the assignment with `partitions` (like `KafkaConsumer::assign`).
    /// Partitions that stay keep their positions and buffered records; new ones start
    /// without a position, which `auto.offset.reset` supplies.
    pub fn assign(&mut self, partitions: impl IntoIterator<Item = TopicPartition>) {
        let wanted: BTreeSet<TopicPartition> = partitions.into_iter().collect();
        let mut next: BTreeMap<String, BTreeMap<i32, PartitionState>> = BTreeMap::new();
        let mut added_topic = false;
        for tp in wanted {
            let state = match self
                .partitions
                .get_mut(&tp.topic)
                .and_then(|t| t.remove(&tp.partition))
            {
                Some(state) => state,
                None => {
                    added_topic |= self.metadata.topic(&tp.topic).is_none();
                    PartitionState::new(self.config.auto_offset_reset, self.retry_backoff())
                }
            };
            next.entry(tp.topic)
                .or_default()
                .insert(tp.partition, state);
        }
        self.partitions = next;
        self.recount_buffered();
        if added_topic || self.meta.last_success.is_none() {
            self.meta.needed = true;
        }
        self.drive();
    }

    /// Drops the whole assignment.
    pub fn unassign(&mut self) {
        self.assign(core::iter::empty());
    }

    /// The assigned partitions.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.partitions
            .iter()
            .flat_map(|(t, ps)| ps.keys().map(move |p| TopicPartition::new(t.clone(), *p)))
            .collect()
    }

    /// Consumes from `offset` next. Buffered records of the partition are dropped.
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) -> Result<(), UsageError> {
        if offset < 0 {
            return Err(UsageError::NegativeOffset(offset));
        }
        self.partition_mut(tp)?.seek(offset, None);
        self.recount_buffered();
        self.drive();
        Ok(())
    }

    /// Consumes from the first offset of each partition next.
    pub fn seek_to_beginning(&mut self, tps: &[TopicPartition]) -> Result<(), UsageError> {
        self.seek_to(tps, OffsetReset::Earliest)
    }

    /// Consumes from the end of each partition next (only records produced later).
    pub fn seek_to_end(&mut self, tps: &[TopicPartition]) -> Result<(), UsageError> {
        self.seek_to(tps, OffsetReset::Latest)
    }

    fn seek_to(&mut self, tps: &[TopicPartition], strategy: OffsetReset) -> Result<(), UsageError> {
        for tp in tps {
            self.partition(tp)?;
        }
        for tp in tps {
            self.partition_mut(tp)?
                .request_reset(strategy, ResetReason::NoPosition);
        }
        self.recount_buffered();
        self.drive();
        Ok(())
    }

    /// Stops fetching and returning records for these partitions; positions and
    /// buffered records stay.
    pub fn pause(&mut self, tps: &[TopicPartition]) -> Result<(), UsageError> {
        self.set_paused(tps, true)
    }

    /// Undoes [`pause`](Self::pause).
    pub fn resume(&mut self, tps: &[TopicPartition]) -> Result<(), UsageError> {
        self.set_paused(tps, false)
    }

    fn set_paused(&mut self, tps: &[TopicPartition], paused: bool) -> Result<(), UsageError> {
        for tp in tps {
            self.partition(tp)?;
        }
        for tp in tps {
            self.partition_mut(tp)?.paused = paused;
        }
        self.drive();
        Ok(())
    }

    /// The paused partitions.
    pub fn paused(&self) -> Vec<TopicPartition> {
        self.partitions
            .iter()
            .flat_map(|(t, ps)| {
                ps.iter()
                    .filter(|(_, s)| s.paused)
                    .map(move |(p, _)| TopicPartition::new(t.clone(), *p))
            })
            .collect()
    }

    /// The offset of the next record `poll_records` will return for `tp`, or `None`
    /// while the position is being looked up.
    pub fn position(&self, tp: &TopicPartition) -> Result<Option<i64>, UsageError> {
        let s = self.partition(tp)?;
        Ok(match s.state {
            FetchState::AwaitReset { .. } => None,
            _ => Some(s.position),
        })
    }

    /// The partition's offsets as of the last fetch response (-1 where not known yet).
    pub fn watermarks(&self, tp: &TopicPartition) -> Result<Watermarks, UsageError> {
        let s = self.partition(tp)?;
        Ok(Watermarks {
            log_start_offset: s.log_start_offset,
            high_watermark: s.high_watermark,
            last_stable_offset: s.last_stable_offset,
        })
    }

    /// How far the position is behind the end of the partition (the high watermark,
    /// or the last stable offset under read_committed), once both are known.
    pub fn lag(&self, tp: &TopicPartition) -> Result<Option<i64>, UsageError> {
        let s = self.partition(tp)?;
        let end = s.end_offset(self.read_committed());
        Ok(match s.state {
            FetchState::AwaitReset { .. } => None,
            _ if end < 0 => None,
            _ => Some(end.saturating_sub(s.position).max(0)),
        })
    }

    /// Starts closing: fetch sessions are closed on the brokers (best effort, within
    /// `request.timeout.ms`), then every connection is dropped and [`Event::Closed`]
    /// is emitted.
    pub fn close(&mut self) {
        if self.closing.is_some() || self.closed {
            return;
        }
        self.closing = Some(self.now + self.config.request_timeout);
        self.partitions.clear();
        self.buffered_bytes = 0;
        self.end_queries(ConsumerError::Closed);
        self.close_sessions();
        self.drive();
    }

    /// Whether [`Event::Closed`] has been emitted.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    // ----- I/O inputs ---------------------------------------------------------------

    /// The driver connected `conn` (after [`Event::Connect`]).
    pub fn handle_connected(&mut self, now: Instant, conn: ConnId) {
        self.advance(now);
        if let Some((broker, c)) = self.brokers.conn_mut(conn) {
            if let Err(e) = c.on_connected(now) {
                kasio_log!(
                    warn,
                    "cannot encode ApiVersions for broker {}: {:?}",
                    broker.0,
                    e
                );
            }
        }
        self.drive();
    }

    /// Bytes arrived on `conn`, in any chunking. A stale `conn` is ignored.
    pub fn handle_input(&mut self, now: Instant, conn: ConnId, data: &[u8]) {
        self.advance(now);
        let Some((_, c)) = self.brokers.conn_mut(conn) else {
            return;
        };
        c.on_input(data);
        self.process_incoming(conn);
        self.drive();
    }

    /// Bytes arrived on `conn`, as [`Bytes`] the driver hands over: frames that lie
    /// whole inside `data` reach the record path without being copied. Otherwise as
    /// [`handle_input`](Self::handle_input).
    pub fn handle_input_bytes(&mut self, now: Instant, conn: ConnId, data: Bytes) {
        self.advance(now);
        let Some((_, c)) = self.brokers.conn_mut(conn) else {
            return;
        };
        c.on_input_bytes(data);
        self.process_incoming(conn);
        self.drive();
    }

    /// The driver lost `conn`, or failed to open it. A stale `conn` is ignored.
    pub fn handle_disconnected(&mut self, now: Instant, conn: ConnId) {
        self.advance(now);
        self.drop_connection(conn, ConnError::Disconnected, false);
        self.drive();
    }

    /// Time passed. Idempotent: calling it early or twice does nothing extra.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        for (conn, error) in self.brokers.timed_out(self.now) {
            self.drop_connection(conn, error, true);
        }
        self.drive();
    }

    // ----- drains ---------------------------------------------------------------------

    /// The next event, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Appends the bytes waiting for one connection to `buf` and says which
    /// connection they are for; `None` when nothing is waiting.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        self.advance(now);
        let (conn, first) = self.brokers.next_transmit()?;
        let start = buf.len();
        buf.extend_from_slice(&first);
        // Everything else queued for the same connection goes in the same write.
        if let Some((_, c)) = self.brokers.conn_mut(conn) {
            while let Some(more) = c.poll_transmit() {
                buf.extend_from_slice(&more);
            }
        }
        Some(Transmit {
            conn,
            len: buf.len() - start,
        })
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next, if ever.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        // Connection deadlines always need handling; a backoff that `drive` already saw
        // end does not: whatever still waits is blocked on an input (a connection, a
        // response, buffer space), and reporting it would make the driver spin.
        let pending = |t: Option<Instant>| t.filter(|&t| t > self.driven_at);
        let meta_wanted = self.meta_wanted();
        let meta_needs_conn = meta_wanted && !self.meta.in_flight;
        let wanted = |b: BrokerId| meta_needs_conn || self.wants_broker(b);
        let mut next = self.brokers.next_deadline(wanted, self.driven_at);
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        consider(self.closing);
        if self.meta_interested() {
            consider(pending(
                self.meta
                    .last_success
                    .map(|t| t + self.config.metadata_max_age),
            ));
            if self.meta.needed && !self.meta.in_flight {
                consider(pending(self.meta.backoff.until()));
            }
        }
        for ps in self.partitions.values() {
            for s in ps.values() {
                consider(pending(s.backoff.until()));
                consider(pending(s.preferred_replica.map(|(_, until)| until)));
            }
        }
        for b in self.fetch_backoff.values() {
            consider(pending(b.until()));
        }
        for q in self.queries.values() {
            consider(Some(q.deadline));
        }
        next.map(|t| t.max(self.now))
    }

    /// Whether anything assigned or asked for needs metadata at all.
    fn meta_interested(&self) -> bool {
        !self.partitions.is_empty() || !self.queries.is_empty() || !self.extra_topics.is_empty()
    }

    /// Whether a metadata request is due (needed or stale) and not yet answered.
    fn meta_wanted(&self) -> bool {
        let stale = self
            .meta
            .last_success
            .is_none_or(|t| self.now >= t + self.config.metadata_max_age);
        self.meta_interested() && (self.meta.needed || stale)
    }

    // ----- internals ------------------------------------------------------------------

    fn advance(&mut self, now: Instant) {
        // Time never runs backwards for the core, whatever the driver's clock does.
        self.now = self.now.max(now);
    }

    fn read_committed(&self) -> bool {
        self.config.isolation_level == IsolationLevel::ReadCommitted
    }

    fn retry_backoff(&self) -> Backoff {
        Backoff::new(self.config.retry_backoff, self.config.retry_backoff_max)
    }

    fn partition(&self, tp: &TopicPartition) -> Result<&PartitionState, UsageError> {
        if self.closing.is_some() || self.closed {
            return Err(UsageError::Closed);
        }
        self.partitions
            .get(&tp.topic)
            .and_then(|t| t.get(&tp.partition))
            .ok_or_else(|| UsageError::NotAssigned(tp.clone()))
    }

    fn partition_mut(&mut self, tp: &TopicPartition) -> Result<&mut PartitionState, UsageError> {
        if self.closing.is_some() || self.closed {
            return Err(UsageError::Closed);
        }
        self.partitions
            .get_mut(&tp.topic)
            .and_then(|t| t.get_mut(&tp.partition))
            .ok_or_else(|| UsageError::NotAssigned(tp.clone()))
    }

    fn state_mut(&mut self, key: &PartKey) -> Option<&mut PartitionState> {
        self.partitions.get_mut(&key.0)?.get_mut(&key.1)
    }

    fn recount_buffered(&mut self) {
        self.buffered_bytes = self
            .partitions
            .values()
            .flat_map(|t| t.values())
            .map(|s| s.buffered_bytes)
            .sum();
    }

    /// Whether the consumer currently needs a connection to `broker`.
    fn wants_broker(&self, broker: BrokerId) -> bool {
        self.partitions.iter().any(|(t, ps)| {
            ps.iter().any(|(p, s)| {
                self.leader_of(t, *p) == Some(broker)
                    || s.preferred_replica.is_some_and(|(r, _)| r == broker)
            })
        })
    }

    /// The broker to send a partition's requests to: its leader.
    fn leader_of(&self, topic: &str, partition: i32) -> Option<BrokerId> {
        self.metadata.partition(topic, partition)?.leader
    }

    fn process_incoming(&mut self, conn: ConnId) {
        loop {
            let Some((broker, c)) = self.brokers.conn_mut(conn) else {
                return;
            };
            match c.next_incoming(self.now) {
                Ok(None) => return,
                Ok(Some(Incoming::Ready)) => {
                    self.brokers.on_ready(broker);
                    kasio_log!(debug, "connection to broker {} ready", broker.0);
                }
                Ok(Some(Incoming::Response(done))) => {
                    let version = done.version;
                    self.on_response(broker, done.api, version, done.purpose, done.body);
                }
                Err(error) => {
                    self.drop_connection(conn, error, true);
                    return;
                }
            }
        }
    }

    /// Closes `conn` and hands its unanswered requests back to their owners.
    fn drop_connection(&mut self, conn: ConnId, error: ConnError, tell_driver: bool) {
        // Every lost connection backs off before the next attempt, clean close or not.
        let Some((broker, lost)) = self.brokers.close(
            conn,
            self.now,
            &mut self.rng,
            true,
            &mut self.events,
            tell_driver,
        ) else {
            return;
        };
        if error != ConnError::Disconnected {
            self.events
                .push_back(Event::Error(ConsumerError::Connection { broker, error }));
        }
        for (_, purpose) in lost {
            self.on_request_lost(broker, purpose);
        }
        // A follower we were sent to (KIP-392) is gone: back to the leader for every
        // partition it served, not only those with a fetch in flight (Java falls
        // back to the leader when the replica is not online); otherwise we would
        // reconnect to a dead broker until the preference expires.
        for s in self.partitions.values_mut().flat_map(|ps| ps.values_mut()) {
            if s.preferred_replica.is_some_and(|(r, _)| r == broker) {
                s.preferred_replica = None;
            }
        }
        // A lost broker may mean moved leadership: look again.
        self.meta.needed = true;
    }

    fn on_request_lost(&mut self, broker: BrokerId, purpose: Purpose) {
        match purpose {
            Purpose::Metadata => self.meta.in_flight = false,
            Purpose::Fetch { offsets } => {
                self.fetch_in_flight.remove(&broker);
                if let Some(s) = self.sessions.get_mut(&broker) {
                    s.on_failure();
                }
                // A follower we were sent to (KIP-392) failed: back to the leader, as
                // Java's `clearPreferredReadReplica` on a fetch failure.
                for key in offsets.keys() {
                    if let Some(s) = self.state_mut(key) {
                        if s.preferred_replica.is_some_and(|(r, _)| r == broker) {
                            s.preferred_replica = None;
                        }
                    }
                }
            }
            Purpose::CloseSession => {}
            Purpose::Reset { partitions } => {
                for (key, _, _, generation) in partitions {
                    self.retry_later(&key, generation);
                }
            }
            Purpose::Validate { partitions } => {
                for (key, _, generation) in partitions {
                    self.retry_later(&key, generation);
                }
            }
            Purpose::Times { query, partitions } => self.times_lost(query, partitions),
        }
    }

    /// A partition's request failed: try again after its backoff, unless the
    /// partition has moved on (sought, reset) since the request went out.
    fn retry_later(&mut self, key: &PartKey, generation: u32) {
        let now = self.now;
        let Self {
            partitions, rng, ..
        } = self;
        if let Some(s) = partitions.get_mut(&key.0).and_then(|t| t.get_mut(&key.1)) {
            if s.generation == generation {
                s.in_flight = false;
                s.backoff.fail(now, rng);
            }
        }
    }

    fn on_response(
        &mut self,
        broker: BrokerId,
        api: ApiKey,
        version: i16,
        purpose: Purpose,
        body: Bytes,
    ) {
        match purpose {
            Purpose::Metadata => {
                self.meta.in_flight = false;
                match MetadataResponse::decode(version, &body) {
                    Ok(resp) => self.on_metadata(&resp),
                    Err(e) => self.protocol_error(broker, api, e),
                }
            }
            Purpose::Fetch { offsets, .. } => {
                self.on_fetch_response(broker, version, offsets, body)
            }
            Purpose::CloseSession => {}
            Purpose::Reset { partitions } => {
                self.on_reset_response(broker, version, partitions, body)
            }
            Purpose::Times { query, partitions } => {
                self.on_times_response(version, query, partitions, body)
            }
            Purpose::Validate { partitions } => {
                self.on_validate_response(version, partitions, body)
            }
        }
    }

    /// A response that does not decode: the connection cannot be trusted.
    fn protocol_error(&mut self, broker: BrokerId, api: ApiKey, error: crate::codec::DecodeError) {
        kasio_log!(
            warn,
            "broker {} sent an undecodable {:?} response",
            broker.0,
            api
        );
        if let Some(conn) = self.brokers.conn_of(broker) {
            self.drop_connection(conn, ConnError::Decode(error), true);
        }
    }

    fn on_metadata(&mut self, resp: &MetadataResponse) {
        self.meta.last_success = Some(self.now);
        self.meta.needed = false;
        let changes = self.metadata.apply(resp);
        self.brokers.update(&self.metadata);
        for t in &resp.topics {
            let code = ErrorCode::from_code(t.error_code);
            let Some(name) = &t.name else { continue };
            if code != ErrorCode::None && self.partitions.contains_key(name) {
                // Unknown topics are retried with the next refresh (they may be being
                // created); the application hears about it each time.
                self.meta.needed = true;
                self.events.push_back(Event::Error(ConsumerError::Topic {
                    topic: name.clone(),
                    code,
                }));
            }
        }
        for change in changes {
            self.on_leader_change(&change.topic, change.partition, change.leader_epoch);
        }
        self.on_epochless_metadata(resp);
        // An answer that leaves an assigned partition without a leader (or its topic
        // in error) keeps the backoff set when the request went out, so the retry
        // waits `retry.backoff.ms` (growing) instead of following at once.
        let incomplete = self.meta.needed
            || self
                .partitions
                .iter()
                .any(|(t, ps)| ps.keys().any(|p| self.leader_of(t, *p).is_none()));
        if !incomplete {
            self.meta.backoff.succeed();
        }
        // Topic IDs follow the metadata (Fetch v13+ is keyed by them).
        for (topic, ps) in self.partitions.iter_mut() {
            let id = self.metadata.topic(topic).map(|t| t.id).unwrap_or_default();
            for s in ps.values_mut() {
                s.topic_id = id;
            }
        }
    }

    /// The leader of a partition changed: fetched-ahead data is dropped and the
    /// position is validated against the new leader before fetching resumes.
    fn on_leader_change(&mut self, topic: &str, partition: i32, epoch: i32) {
        let Some(s) = self
            .partitions
            .get_mut(topic)
            .and_then(|t| t.get_mut(&partition))
        else {
            return;
        };
        let first_sight = s.leader_epoch < 0;
        s.leader_epoch = epoch;
        s.fenced = false;
        s.epoch_unknown = false;
        s.preferred_replica = None;
        // A retry that waited for new leadership need not wait longer (as in the Java
        // client, which fetches from the new leader as soon as metadata names it).
        s.backoff.succeed();
        if first_sight || s.state != FetchState::Fetching {
            return;
        }
        s.rewind_to_position();
        if s.position_epoch.is_some() {
            s.state = FetchState::AwaitValidation;
        }
        self.recount_buffered();
    }

    /// A broker before Metadata v7 names no leader epochs. Where a broker has
    /// fenced our epoch, such metadata can never tell us the newer one, and
    /// insisting on ours would fence us forever: fall back to no epoch (as the
    /// Java client does with such metadata), but validate the position first, so
    /// a truncation is still caught by the epoch of the last record we read.
    fn on_epochless_metadata(&mut self, resp: &MetadataResponse) {
        let mut changed = false;
        for t in &resp.topics {
            let Some(name) = &t.name else { continue };
            for p in t.partitions.iter().filter(|p| p.leader_epoch < 0) {
                let Some(s) = self
                    .partitions
                    .get_mut(name)
                    .and_then(|ps| ps.get_mut(&p.partition_index))
                else {
                    continue;
                };
                if !s.fenced || s.epoch_unknown {
                    continue;
                }
                s.fenced = false;
                s.epoch_unknown = true;
                s.preferred_replica = None;
                s.backoff.succeed();
                if s.state == FetchState::Fetching {
                    s.rewind_to_position();
                    if s.position_epoch.is_some() {
                        s.state = FetchState::AwaitValidation;
                    }
                    changed = true;
                }
            }
        }
        if changed {
            self.recount_buffered();
        }
    }

    /// Plans and sends whatever is due: metadata, position resets and validations,
    /// fetches, and the connections they need. Called after every input.
    fn drive(&mut self) {
        self.driven_at = self.now;
        if self.closed {
            return;
        }
        if let Some(deadline) = self.closing {
            self.drive_close(deadline);
            return;
        }
        self.drive_metadata();
        self.send_resets();
        self.send_validations();
        self.send_times_queries();
        self.send_fetches();
        self.expire_queries();
        // The steps after the first may have found a leader or broker missing.
        self.drive_metadata();
    }

    fn drive_metadata(&mut self) {
        if !self.meta_wanted() || self.meta.in_flight || !self.meta.backoff.ready(self.now) {
            return;
        }
        let Some(broker) = self.brokers.least_loaded() else {
            if !self.brokers.any_pending() {
                if let Some(b) = self.brokers.pick_to_connect(self.now, &mut self.rng) {
                    self.brokers.connect(b, self.now, &mut self.events);
                }
            }
            return;
        };
        let topics = self.interesting_topics();
        let Some((_, conn)) = self.brokers.ready(broker) else {
            return;
        };
        let Some(version) = conn
            .versions()
            .version(ApiKey::Metadata)
            .filter(|&v| v >= 1)
        else {
            self.events
                .push_back(Event::Error(ConsumerError::UnsupportedApi {
                    broker,
                    api: ApiKey::Metadata.key(),
                }));
            return;
        };
        let req = MetadataRequest {
            topics: Some(
                topics
                    .into_iter()
                    .map(|name| MetadataRequestTopic {
                        name: Some(name),
                        ..Default::default()
                    })
                    .collect(),
            ),
            allow_auto_topic_creation: self.config.allow_auto_create_topics,
            ..Default::default()
        };
        match conn.send(&req, version, Purpose::Metadata, self.now) {
            Ok(()) => {
                self.meta.in_flight = true;
                // Retried after a backoff if the answer is not good enough.
                self.meta.backoff.fail(self.now, &mut self.rng);
            }
            Err(e) => kasio_log!(error, "cannot encode Metadata: {:?}", e),
        }
    }

    fn interesting_topics(&self) -> Vec<String> {
        let mut topics: BTreeSet<String> = self.partitions.keys().cloned().collect();
        topics.extend(self.extra_topics.iter().cloned());
        for q in self.queries.values() {
            topics.extend(q.topics());
        }
        topics.into_iter().collect()
    }

    /// Makes sure a connection to `broker` exists or is being made.
    fn need_broker(&mut self, broker: BrokerId) {
        if !self.brokers.is_connected_or_connecting(broker) {
            if self.metadata.broker(broker).is_none() {
                self.meta.needed = true;
            }
            self.brokers.connect(broker, self.now, &mut self.events);
        }
    }

    fn drive_close(&mut self, deadline: Instant) {
        let pending = self.brokers.conn_ids().into_iter().any(|id| {
            self.brokers
                .conn_mut(id)
                .is_some_and(|(_, c)| c.has_in_flight(|p| matches!(p, Purpose::CloseSession)))
        });
        if pending && self.now < deadline {
            return;
        }
        for id in self.brokers.conn_ids() {
            self.brokers
                .close(id, self.now, &mut self.rng, false, &mut self.events, true);
        }
        self.closed = true;
        self.closing = None;
        self.events.push_back(Event::Closed);
    }
}
