//! The consumer state machine: connections, metadata, fetch sessions and positions
//! for manually assigned partitions.
//!
//! # Driving it
//!
//! The consumer is sans-IO: a driver owns the sockets and the clock and moves bytes
//! and time in and out. After **every** input — [`handle_connected`],
//! [`handle_input`] / [`handle_input_bytes`], [`handle_disconnected`],
//! [`handle_timeout`] and every application call ([`assign`], [`seek`],
//! [`poll_records`], …) — drain:
//!
//! 1. [`poll_conn_command`] until `None`: connections to open and close. These are
//!    the driver's business alone;
//! 2. [`poll_transmit`] until `None`: bytes to write, per connection;
//! 3. [`poll_event`] until `None`: what the application should know (records ready,
//!    resets, errors, query answers);
//! 4. [`poll_timeout`] once: call [`handle_timeout`] at that instant (or earlier —
//!    spurious calls are harmless).
//!
//! The drains are independent queues: draining one never adds to another, so any
//! order works as long as each is emptied. Two drains rather than one output enum
//! (quinn-proto's shape rather than str0m's) because their readers differ: a driver
//! consumes every [`ConnCommand`] and passes [`Event`]s on untouched.
//!
//! ```
//! use kasio_core::config::Config;
//! use kasio_core::consumer::{ConnCommand, Consumer, TopicPartition};
//! use kasio_core::time::Instant;
//!
//! let config = Config::from_pairs([("bootstrap.servers", "localhost:9092")]).unwrap();
//! let mut consumer = Consumer::new(config, Instant::ZERO, 42);
//! consumer.assign([TopicPartition::new("orders", 0)]);
//! // The consumer wants a connection to the bootstrap server first.
//! match consumer.poll_conn_command() {
//!     Some(ConnCommand::Connect { host, port, .. }) => assert_eq!((host.as_str(), port), ("localhost", 9092)),
//!     other => panic!("{other:?}"),
//! }
//! assert!(consumer.poll_event().is_none());
//! ```
//!
//! # Inside
//!
//! `Consumer` routes inputs and responses to the parts that own the state: the
//! [`Assignment`](assignment) (positions and buffered records per partition), the
//! per-broker fetch state (`fetcher.rs`), the metadata refresh (`refresh.rs`), the
//! `offsets_for_times` queries (`queries.rs`), the connections (`brokers.rs`) and
//! the timer table (`timer.rs`) and SASL's consumer-wide part: the OAUTHBEARER token,
//! session renewals and the authentication failure policy (`auth.rs`).
//!
//! [`handle_connected`]: Consumer::handle_connected
//! [`handle_input`]: Consumer::handle_input
//! [`handle_input_bytes`]: Consumer::handle_input_bytes
//! [`handle_disconnected`]: Consumer::handle_disconnected
//! [`handle_timeout`]: Consumer::handle_timeout
//! [`assign`]: Consumer::assign
//! [`seek`]: Consumer::seek
//! [`poll_records`]: Consumer::poll_records
//! [`poll_conn_command`]: Consumer::poll_conn_command
//! [`poll_event`]: Consumer::poll_event
//! [`poll_transmit`]: Consumer::poll_transmit
//! [`poll_timeout`]: Consumer::poll_timeout

mod assignment;
mod auth;
mod brokers;
mod by_topic;
mod error;
mod event;
mod fetcher;
mod group;
mod group_describe;
mod leadership;
mod partition;
mod poll;
mod positions;
mod purpose;
mod queries;
mod refresh;
mod timer;

use alloc::collections::{BTreeSet, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;

use bytes::Bytes;

pub use error::{
    AuthenticationError, BrokerError, ConsumerError, LocalError, RemoteError, UsageError,
};
pub use event::{
    ConnCommand, ConnRole, Event, OffsetAndTimestamp, QueryId, ResetReason, TopicPartition,
};
pub use poll::{ConsumerRecords, PartitionBatch};
pub use timer::Timer;

use crate::backoff::Backoff;
use crate::codec::DecodeError;
use crate::config::{Config, IsolationLevel, OffsetReset};
use crate::conn::{Completion, ConnError, ConnId, Incoming};
use crate::metadata::{BrokerId, Metadata};
use crate::protocol::messages::{
    DescribeGroupsResponse, FetchResponse, FindCoordinatorResponse, HeartbeatResponse,
    JoinGroupResponse, ListOffsetsResponse, MetadataResponse, OffsetCommitResponse,
    OffsetFetchResponse, OffsetForLeaderEpochResponse, SyncGroupResponse,
};
use crate::protocol::{ApiKey, ErrorCode, Message, Request};
use crate::records::DecodeOptions;
use crate::rng::Rng;
use crate::time::Instant;

use assignment::Assignment;
use brokers::Brokers;
use fetcher::Fetcher;
use group::Group;
use partition::{FetchState, PartitionState};
use purpose::Purpose;
use queries::Queries;
use refresh::MetadataRefresh;
use timer::Timers;

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

/// A response, decoded once for whichever part of the consumer sent the request.
enum Response {
    Metadata(MetadataResponse),
    Fetch(FetchResponse),
    ListOffsets(ListOffsetsResponse),
    OffsetForLeaderEpoch(OffsetForLeaderEpochResponse),
    FindCoordinator(FindCoordinatorResponse),
    JoinGroup(JoinGroupResponse),
    SyncGroup(SyncGroupResponse),
    Heartbeat(HeartbeatResponse),
    OffsetCommit(OffsetCommitResponse),
    OffsetFetch(OffsetFetchResponse),
    DescribeGroups(DescribeGroupsResponse),
    /// An answer nothing waits for (a fetch session's close, LeaveGroup).
    Ignored,
}

impl Response {
    fn decode(purpose: &Purpose, version: i16, body: &Bytes) -> Result<Self, DecodeError> {
        Ok(match purpose {
            Purpose::Metadata { .. } => Self::Metadata(MetadataResponse::decode(version, body)?),
            Purpose::Fetch { .. } => Self::Fetch(FetchResponse::decode(version, body)?),
            Purpose::Reset { .. } | Purpose::Times { .. } => {
                Self::ListOffsets(ListOffsetsResponse::decode(version, body)?)
            }
            Purpose::Validate { .. } => {
                Self::OffsetForLeaderEpoch(OffsetForLeaderEpochResponse::decode(version, body)?)
            }
            Purpose::FindCoordinator => {
                Self::FindCoordinator(FindCoordinatorResponse::decode(version, body)?)
            }
            Purpose::JoinGroup { .. } => Self::JoinGroup(JoinGroupResponse::decode(version, body)?),
            Purpose::SyncGroup { .. } => Self::SyncGroup(SyncGroupResponse::decode(version, body)?),
            Purpose::Heartbeat { .. } => Self::Heartbeat(HeartbeatResponse::decode(version, body)?),
            Purpose::OffsetCommit { .. } => {
                Self::OffsetCommit(OffsetCommitResponse::decode(version, body)?)
            }
            Purpose::OffsetFetch { .. } => {
                Self::OffsetFetch(OffsetFetchResponse::decode(version, body)?)
            }
            Purpose::DescribeGroup { .. } => {
                Self::DescribeGroups(DescribeGroupsResponse::decode(version, body)?)
            }
            Purpose::CloseSession | Purpose::LeaveGroup => Self::Ignored,
        })
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
    timers: Timers,
    brokers: Brokers,
    metadata: Metadata,
    refresh: MetadataRefresh,
    assignment: Assignment,
    fetcher: Fetcher,
    queries: Queries,
    /// The consumer group (with `group.id`): membership and committed offsets.
    group: Option<Group>,
    /// Topics whose metadata the application asked for without assigning them.
    extra_topics: BTreeSet<String>,
    events: VecDeque<Event>,
    /// `close` was called: the instant it stops waiting for sessions to close.
    closing: Option<Instant>,
    closed: bool,
    /// OAUTHBEARER: the application's token and its refresh schedule.
    oauth: Option<auth::TokenState>,
    /// [`Consumer::refuse_unsupported`] was called: no connection, ever.
    refused: bool,
}

impl Consumer {
    /// A consumer with `config`, starting at `now`; `seed` drives all of its
    /// randomness (backoff jitter, broker choice), so a seed and a sequence of
    /// inputs replay exactly.
    pub fn new(config: Config, now: Instant, seed: u64) -> Self {
        let mut decode = DecodeOptions::from_fetch_max_bytes(config.fetch_max_bytes as usize);
        decode.check_crcs = config.check_crcs;
        let retry = Backoff::new(config.retry_backoff, config.retry_backoff_max);
        Self {
            brokers: Brokers::new(&config, seed),
            decode,
            rng: Rng::new(seed),
            now,
            timers: Timers::default(),
            metadata: Metadata::default(),
            refresh: MetadataRefresh::new(retry, config.metadata_max_age),
            assignment: Assignment::default(),
            fetcher: Fetcher::new(config.retry_backoff, config.retry_backoff_max),
            queries: Queries::default(),
            group: config.group_id.clone().map(|id| Group::new(&config, id)),
            extra_topics: BTreeSet::new(),
            events: VecDeque::new(),
            closing: None,
            closed: false,
            oauth: None,
            refused: false,
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

    /// The timer table: every deadline the consumer waits for (for tests and
    /// debugging; [`poll_timeout`](Self::poll_timeout) is its earliest entry).
    pub fn timers(&self) -> impl Iterator<Item = (&Timer, Instant)> {
        self.timers.iter()
    }

    // ----- application calls -------------------------------------------------------

    /// Keeps `topic`'s metadata fresh although none of it is assigned, e.g. to learn
    /// its partitions with [`partitions_for`](Self::partitions_for).
    pub fn want_metadata(&mut self, topic: &str) {
        if self.extra_topics.insert(topic.into()) {
            self.refresh.request();
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
    /// without a position, which `auto.offset.reset` supplies. Not while subscribed
    /// to a group ([`UsageError::Subscribed`]).
    pub fn assign(
        &mut self,
        partitions: impl IntoIterator<Item = TopicPartition>,
    ) -> Result<(), UsageError> {
        if self.closing.is_some() || self.closed {
            return Err(UsageError::Closed);
        }
        // Subscribed at all, even to no topic (yet): a pattern that matches nothing
        // is a subscription too.
        if self.group.as_ref().is_some_and(Group::subscribed) {
            return Err(UsageError::Subscribed);
        }
        let wanted: BTreeSet<TopicPartition> = partitions.into_iter().collect();
        let strategy = self.config.auto_offset_reset;
        let backoff = self.retry_backoff();
        let added = self
            .assignment
            .replace(wanted, || PartitionState::new(strategy, backoff.clone()));
        self.manual_assignment_added(&added);
        let assignment = &self.assignment;
        self.timers.retain(|t| match t {
            Timer::PartitionBackoff(tp) | Timer::PreferredReplica(tp) => {
                assignment.get(tp).is_some()
            }
            _ => true,
        });
        let added_topic = added
            .iter()
            .any(|tp| self.metadata.topic(&tp.topic).is_none());
        if added_topic || !self.refresh.ever_succeeded() {
            self.refresh.request();
        }
        self.drive();
        Ok(())
    }

    /// Drops the whole (manual) assignment.
    pub fn unassign(&mut self) -> Result<(), UsageError> {
        self.assign(core::iter::empty())
    }

    /// The assigned partitions.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.assignment.iter().map(|(tp, _)| tp.clone()).collect()
    }

    /// Consumes from `offset` next. Buffered records of the partition are dropped.
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) -> Result<(), UsageError> {
        if offset < 0 {
            return Err(UsageError::NegativeOffset(offset));
        }
        self.check_assigned(tp)?;
        self.assignment.update(tp, |s| s.seek(offset, None));
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
            self.check_assigned(tp)?;
        }
        for tp in tps {
            self.assignment
                .update(tp, |s| s.request_reset(strategy, ResetReason::NoPosition));
        }
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
            self.check_assigned(tp)?;
        }
        for tp in tps {
            self.assignment.update(tp, |s| s.paused = paused);
        }
        self.drive();
        Ok(())
    }

    /// The paused partitions.
    pub fn paused(&self) -> Vec<TopicPartition> {
        self.assignment
            .iter()
            .filter(|(_, s)| s.paused)
            .map(|(tp, _)| tp.clone())
            .collect()
    }

    /// The offset of the next record `poll_records` will return for `tp`, or `None`
    /// while the position is being looked up.
    pub fn position(&self, tp: &TopicPartition) -> Result<Option<i64>, UsageError> {
        let s = self.check_assigned(tp)?;
        Ok(match s.state {
            FetchState::AwaitReset { .. } | FetchState::AwaitCommitted => None,
            _ => Some(s.position),
        })
    }

    /// The partition's offsets as of the last fetch response (-1 where not known yet).
    pub fn watermarks(&self, tp: &TopicPartition) -> Result<Watermarks, UsageError> {
        let s = self.check_assigned(tp)?;
        Ok(Watermarks {
            log_start_offset: s.log_start_offset,
            high_watermark: s.high_watermark,
            last_stable_offset: s.last_stable_offset,
        })
    }

    /// How far the position is behind the end of the partition (the high watermark,
    /// or the last stable offset under read_committed), once both are known.
    pub fn lag(&self, tp: &TopicPartition) -> Result<Option<i64>, UsageError> {
        let s = self.check_assigned(tp)?;
        let end = s.end_offset(self.read_committed());
        Ok(match s.state {
            FetchState::AwaitReset { .. } | FetchState::AwaitCommitted => None,
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
        let deadline = self.now + self.config.request_timeout;
        self.closing = Some(deadline);
        self.timers.set(Timer::Close, deadline);
        // Commit what was consumed and leave the group before the partitions go.
        self.close_group();
        self.assignment.clear();
        self.end_queries(LocalError::Closed.into());
        self.close_sessions();
        self.drive();
    }

    /// Whether [`Event::Closed`] has been emitted.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    // ----- I/O inputs ---------------------------------------------------------------

    /// The driver connected `conn` (after [`ConnCommand::Connect`]).
    pub fn handle_connected(&mut self, now: Instant, conn: ConnId) {
        self.advance(now);
        if let Some((broker, _, c)) = self.brokers.conn_mut(conn) {
            if let Err(e) = c.on_connected(now) {
                kasio_log!(
                    warn,
                    "cannot encode ApiVersions for broker {}: {:?}",
                    broker.0,
                    e
                );
            }
            self.brokers.sync_timer(conn, &mut self.timers);
        }
        self.drive();
    }

    /// Bytes arrived on `conn`, in any chunking. A stale `conn` is ignored.
    pub fn handle_input(&mut self, now: Instant, conn: ConnId, data: &[u8]) {
        self.advance(now);
        let Some((_, _, c)) = self.brokers.conn_mut(conn) else {
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
        let Some((_, _, c)) = self.brokers.conn_mut(conn) else {
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

    /// The driver's TLS handshake on `conn` failed: the connection is dropped as by
    /// [`handle_disconnected`](Self::handle_disconnected), with the usual reconnect
    /// backoff, and the application hears `error` ([`Event::Error`] with
    /// [`RemoteError::Connection`] and [`ConnError::Tls`]). A stale `conn` is
    /// ignored.
    pub fn handle_tls_failure(&mut self, now: Instant, conn: ConnId, error: crate::conn::TlsError) {
        self.advance(now);
        self.drop_connection(conn, ConnError::Tls(error), false);
        self.drive();
    }

    /// Time passed: every timer due at `now` fires and is cleared. Idempotent:
    /// calling it early or twice does nothing extra.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        let now = self.now;
        for timer in self.timers.take_due(now) {
            match timer {
                Timer::Connection(conn) => match self.brokers.timed_out(conn, now) {
                    Some(error) => self.drop_connection(conn, error, true),
                    None => self.brokers.sync_timer(conn, &mut self.timers),
                },
                Timer::PreferredReplica(tp) => {
                    self.assignment.update(&tp, |s| {
                        if s.preferred_replica.is_some_and(|(_, until)| now >= until) {
                            s.preferred_replica = None;
                        }
                    });
                }
                Timer::Reauthenticate(conn) => self.on_reauth_timer(conn),
                Timer::OAuthBearerToken => self.on_token_timer(),
                Timer::Query(id) => {
                    if !self.expire_committed_query(id) && !self.expire_describe(id) {
                        self.expire_query(id);
                    }
                }
                Timer::GroupCoordinator
                | Timer::GroupRetry
                | Timer::Heartbeat
                | Timer::Session
                | Timer::PollInterval
                | Timer::AutoCommit
                | Timer::CommitDeadline
                | Timer::RebalanceDeadline => self.on_group_timer(&timer),
                // A wait ended: `drive` below does what it allowed.
                Timer::Reconnect(..)
                | Timer::Metadata
                | Timer::FetchBackoff(_)
                | Timer::PartitionBackoff(_)
                | Timer::Close => {}
            }
        }
        self.drive();
    }

    // ----- drains ---------------------------------------------------------------------

    /// The next thing the driver must do with its sockets, if any.
    #[must_use]
    pub fn poll_conn_command(&mut self) -> Option<ConnCommand> {
        self.brokers.poll_command()
    }

    /// The next event for the application, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Appends the bytes waiting for one connection to `buf` and says which
    /// connection they are for; `None` when nothing is waiting.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        self.advance(now);
        let (conn, c, first) = self.brokers.next_transmit()?;
        let start = buf.len();
        buf.extend_from_slice(&first);
        // Everything else queued for the same connection goes in the same write.
        while let Some(more) = c.poll_transmit() {
            buf.extend_from_slice(&more);
        }
        Some(Transmit {
            conn,
            len: buf.len() - start,
        })
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next, if ever: the
    /// earliest entry of the timer table.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        self.timers.next().map(|t| t.max(self.now))
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

    /// The partition's state, if the application may act on it.
    fn check_assigned(&self, tp: &TopicPartition) -> Result<&PartitionState, UsageError> {
        if self.closing.is_some() || self.closed {
            return Err(UsageError::Closed);
        }
        self.assignment
            .get(tp)
            .ok_or_else(|| UsageError::NotAssigned(tp.clone()))
    }

    /// The broker to send a partition's requests to: its leader.
    fn leader_of(&self, tp: &TopicPartition) -> Option<BrokerId> {
        self.metadata.partition(&tp.topic, tp.partition)?.leader
    }

    /// Tells the application.
    fn report(&mut self, error: impl Into<ConsumerError>) {
        self.events.push_back(Event::Error(error.into()));
    }

    /// Stops a partition until the application seeks, and says why.
    fn fail_partition(&mut self, tp: &TopicPartition, error: impl Into<ConsumerError>) {
        self.assignment.update(tp, |s| {
            s.state = FetchState::Failed;
            s.clear_buffer();
        });
        self.report(error);
    }

    /// Sends a request on `broker`'s data connection, if it can take one now.
    fn send<R: Request>(
        &mut self,
        broker: BrokerId,
        req: &R,
        version: i16,
        purpose: Purpose,
    ) -> bool {
        let now = self.now;
        self.brokers.send(
            broker,
            ConnRole::Data,
            req,
            version,
            purpose,
            now,
            None,
            &mut self.timers,
        )
    }

    /// Makes sure a data connection to `broker` exists or is being made.
    fn need_broker(&mut self, broker: BrokerId) {
        if !self
            .brokers
            .is_connected_or_connecting(broker, ConnRole::Data)
        {
            if self.metadata.broker(broker).is_none() {
                self.refresh.request();
            }
            self.brokers
                .connect(broker, ConnRole::Data, self.now, &mut self.timers);
        }
    }

    fn process_incoming(&mut self, conn: ConnId) {
        loop {
            let Some((broker, role, c)) = self.brokers.conn_mut(conn) else {
                return;
            };
            match c.next_incoming(self.now) {
                Ok(None) => break,
                Ok(Some(Incoming::Ready)) => {
                    self.brokers.on_ready(broker, role);
                    kasio_log!(debug, "connection to broker {} ready", broker.0);
                }
                Ok(Some(Incoming::Response(done))) => self.on_response(conn, broker, done),
                Err(error) => {
                    self.drop_connection(conn, error, true);
                    return;
                }
            }
        }
        self.after_conn_input(conn);
    }

    /// Closes `conn` and hands its unanswered requests back to their owners.
    fn drop_connection(&mut self, conn: ConnId, error: ConnError, tell_driver: bool) {
        // Every lost connection backs off before the next attempt, clean close or not.
        let now = self.now;
        let Some((broker, role, lost)) = self.brokers.close(
            conn,
            now,
            &mut self.rng,
            true,
            tell_driver,
            &mut self.timers,
        ) else {
            return;
        };
        let auth_fatal = match error {
            ConnError::Disconnected => false,
            ConnError::Sasl(error) => self.report_auth_failure(broker, error),
            error => {
                self.report(RemoteError::Connection { broker, error });
                false
            }
        };
        for purpose in lost {
            self.on_request_lost(broker, purpose);
        }
        if role == ConnRole::Coordinator
            && self
                .group
                .as_ref()
                .is_some_and(|g| g.coordinator_is(broker))
        {
            // The coordinator may have moved: find it again, keeping the membership.
            self.coordinator_lost();
        }
        if role == ConnRole::Data {
            // A follower we were sent to (KIP-392) is gone: back to the leader for
            // every partition it served, not only those with a fetch in flight (Java
            // falls back to the leader when the replica is not online); otherwise we
            // would reconnect to a dead broker until the preference expires.
            self.assignment.update_all(|_, s| {
                if s.preferred_replica.is_some_and(|(r, _)| r == broker) {
                    s.preferred_replica = None;
                }
            });
            // A lost broker may mean moved leadership: look again.
            self.refresh.request();
        }
        if auth_fatal {
            self.halt_connections();
        }
    }

    fn on_request_lost(&mut self, broker: BrokerId, purpose: Purpose) {
        match purpose {
            Purpose::Metadata { .. } => self.refresh.on_lost(),
            Purpose::Fetch { offsets } => {
                self.fetcher.on_lost(broker);
                // A follower we were sent to (KIP-392) failed: back to the leader, as
                // Java's `clearPreferredReadReplica` on a fetch failure.
                for tp in offsets.keys() {
                    self.assignment.update(tp, |s| {
                        if s.preferred_replica.is_some_and(|(r, _)| r == broker) {
                            s.preferred_replica = None;
                        }
                    });
                }
            }
            Purpose::CloseSession => {}
            Purpose::Reset { partitions } => {
                for (tp, _, _, generation) in partitions {
                    self.retry_later(&tp, generation);
                }
            }
            Purpose::Validate { partitions } => {
                for (tp, _, generation) in partitions {
                    self.retry_later(&tp, generation);
                }
            }
            Purpose::Times { query, partitions } => self.times_lost(query, partitions),
            group => self.on_group_request_lost(group),
        }
    }

    /// A partition's request failed: try again after its backoff, unless the
    /// partition has moved on (sought, reset) since the request went out.
    fn retry_later(&mut self, tp: &TopicPartition, generation: u32) {
        let current = self.assignment.update(tp, |s| {
            let current = s.generation == generation;
            if current {
                s.in_flight = false;
            }
            current
        });
        if current == Some(true) {
            self.assignment
                .back_off(tp, self.now, &mut self.rng, &mut self.timers);
        }
    }

    /// Hands a response to the part that sent the request. A response that does not
    /// decode means the connection cannot be trusted: the request counts as lost
    /// and the connection is closed (which fails whatever else it carried).
    fn on_response(&mut self, conn: ConnId, broker: BrokerId, done: Completion<Purpose>) {
        let Completion {
            api,
            version,
            purpose,
            body,
        } = done;
        let response = match Response::decode(&purpose, version, &body) {
            Ok(response) => response,
            Err(error) => {
                kasio_log!(
                    warn,
                    "broker {} sent an undecodable {:?} v{} response",
                    broker.0,
                    api,
                    version
                );
                self.on_request_lost(broker, purpose);
                self.drop_connection(conn, ConnError::Decode(error), true);
                return;
            }
        };
        match (purpose, response) {
            (Purpose::Metadata { all_topics }, Response::Metadata(r)) => {
                self.on_metadata(&r, all_topics)
            }
            (Purpose::Fetch { offsets }, Response::Fetch(r)) => {
                self.on_fetch_response(broker, version, offsets, r)
            }
            (Purpose::Reset { partitions }, Response::ListOffsets(r)) => {
                self.on_reset_response(partitions, r)
            }
            (Purpose::Times { query, partitions }, Response::ListOffsets(r)) => {
                self.on_times_response(query, partitions, r)
            }
            (Purpose::Validate { partitions }, Response::OffsetForLeaderEpoch(r)) => {
                self.on_validate_response(partitions, r)
            }
            (Purpose::FindCoordinator, Response::FindCoordinator(r)) => {
                self.on_find_coordinator(version, r)
            }
            (Purpose::JoinGroup { generation }, Response::JoinGroup(r)) => {
                self.on_join_response(generation, r)
            }
            (Purpose::SyncGroup { generation }, Response::SyncGroup(r)) => {
                self.on_sync_response(generation, r)
            }
            (Purpose::Heartbeat { generation }, Response::Heartbeat(r)) => {
                self.on_heartbeat_response(generation, r)
            }
            (Purpose::OffsetCommit { generation }, Response::OffsetCommit(r)) => {
                self.on_commit_response(generation, r)
            }
            (Purpose::OffsetFetch { partitions, query }, Response::OffsetFetch(r)) => {
                self.on_offset_fetch_response(partitions, query, r)
            }
            (Purpose::DescribeGroup { query }, Response::DescribeGroups(r)) => {
                self.on_describe_response(query, r)
            }
            (_, Response::Ignored) => {}
            // `Response::decode` follows the purpose, so this cannot happen; if it
            // did, the request would simply count as lost.
            (purpose, _) => self.on_request_lost(broker, purpose),
        }
    }

    /// Plans and sends whatever is due: metadata, position resets and validations,
    /// fetches, and the connections they need. Called after every input.
    fn drive(&mut self) {
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
        self.drive_group();
        self.send_fetches();
        // The steps after the first may have found a leader or broker missing.
        self.drive_metadata();
        self.assignment.debug_check();
    }

    fn drive_close(&mut self, deadline: Instant) {
        // The group's last commit and LeaveGroup go first.
        self.drive_group();
        let pending = self
            .brokers
            .any_in_flight(|p| matches!(p, Purpose::CloseSession))
            || self.group_busy();
        if pending && self.now < deadline {
            return;
        }
        self.end_group();
        for id in self.brokers.conn_ids() {
            self.brokers
                .close(id, self.now, &mut self.rng, false, true, &mut self.timers);
        }
        self.closed = true;
        self.closing = None;
        self.timers.retain(|_| false);
        self.events.push_back(Event::Closed);
    }
}
