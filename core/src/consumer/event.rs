//! What the consumer tells its driver ([`ConnCommand`], drained with
//! `poll_conn_command`) and its application ([`Event`], drained with `poll_event`).
//!
//! Two drains, as quinn-proto's endpoint and connection events: a driver handles
//! every command itself and never shows one to the application, and an
//! application that embeds the core through a driver sees only events; a single
//! output enum would make each of them match (and ignore) the other's variants.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::conn::ConnId;
use crate::metadata::BrokerId;
use crate::time::Instant;

use super::error::ConsumerError;
use crate::group::{CommitError, CommitId, OffsetAndMetadata, RebalanceToken};

/// A topic partition.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TopicPartition {
    /// The topic name.
    pub topic: String,
    /// The partition index.
    pub partition: i32,
}

impl TopicPartition {
    /// `topic`/`partition`.
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        Self {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// Identifies an asynchronous query (e.g. [`offsets_for_times`]) in the event that
/// answers it.
///
/// [`offsets_for_times`]: super::Consumer::offsets_for_times
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct QueryId(pub u64);

/// An offset found for a timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct OffsetAndTimestamp {
    /// The earliest offset whose timestamp is at or after the one asked for.
    pub offset: i64,
    /// That record's timestamp.
    pub timestamp: i64,
    /// The leader epoch of that record, if the broker said.
    pub leader_epoch: Option<i32>,
}

/// Why a position was reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ResetReason {
    /// The partition had no position (newly assigned, or `seek_to_*`).
    NoPosition,
    /// The broker said the position is out of range (OFFSET_OUT_OF_RANGE).
    OutOfRange,
    /// The log was truncated and where it diverged is unknown.
    Truncation,
}

/// Why the consumer wants a connection. A broker may have one connection per role:
/// Kafka answers a connection's requests in order, so group traffic (heartbeats,
/// commits) gets its own connection and never waits behind a long-poll Fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ConnRole {
    /// Metadata, fetches and offset lookups.
    Data,
    /// The group coordinator: group membership and committed offsets.
    Coordinator,
}

/// Something the driver must do with its sockets. Drain with
/// [`Consumer::poll_conn_command`](super::Consumer::poll_conn_command) after every
/// input, before writing what `poll_transmit` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ConnCommand {
    /// Open a connection to `host:port` and report it with `handle_connected`, or
    /// its failure with `handle_disconnected`.
    Connect {
        /// The handle to report with.
        conn: ConnId,
        /// The broker (negative: a bootstrap server).
        broker: BrokerId,
        /// What the connection is for.
        role: ConnRole,
        /// Host name or address.
        host: String,
        /// Port.
        port: u16,
    },
    /// Close this connection. The core has already forgotten it: do not report it
    /// back with `handle_disconnected`.
    Disconnect {
        /// The connection.
        conn: ConnId,
    },
}

/// Something the application should know. Drain with
/// [`Consumer::poll_event`](super::Consumer::poll_event) after every input.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// Records are buffered: `poll_records` returns some.
    RecordsReady,
    /// The application has consumed up to the end of the partition (its high
    /// watermark, or last stable offset under read_committed). Only with
    /// `enable.partition.eof`.
    PartitionEof {
        /// The partition.
        tp: TopicPartition,
        /// The position, equal to the end offset.
        offset: i64,
    },
    /// The position was set by `auto.offset.reset`.
    OffsetReset {
        /// The partition.
        tp: TopicPartition,
        /// The new position.
        offset: i64,
        /// Why.
        reason: ResetReason,
    },
    /// The partition's log was truncated below what this consumer had fetched (an
    /// unclean leader election, KIP-320). Records from `diverging_offset` on may have
    /// been replaced. Under an `auto.offset.reset` policy the position moves to the
    /// divergence point, as in the Java client; with `none` the partition stops
    /// until the application seeks.
    LogTruncation {
        /// The partition.
        tp: TopicPartition,
        /// The position the consumer had.
        position: i64,
        /// The first offset known to diverge, if the broker could say.
        diverging_offset: Option<i64>,
    },
    /// Answer to an `offsets_for_times` query.
    OffsetsForTimes {
        /// The query.
        id: QueryId,
        /// Per partition: the offset, `None` if no record is that recent, or the error
        /// that ended the query for it.
        offsets: Vec<(
            TopicPartition,
            Result<Option<OffsetAndTimestamp>, ConsumerError>,
        )>,
    },
    /// The group assigned these partitions (newly; with the cooperative protocol,
    /// in addition to those kept). They are fetched from their committed offsets.
    /// Sent after every successful rebalance, possibly with no partitions.
    Assigned {
        /// The partitions.
        partitions: Vec<TopicPartition>,
    },
    /// These partitions are taken away in a rebalance: they are no longer fetched
    /// and their buffered records are gone; the application may still commit them
    /// (auto-commit already did) until it acknowledges `token` with
    /// [`Consumer::ack_rebalance`](super::Consumer::ack_rebalance). The rebalance
    /// waits for that (at most `max.poll.interval.ms`); heartbeats go on meanwhile.
    Revoked {
        /// The partitions.
        partitions: Vec<TopicPartition>,
        /// To acknowledge.
        token: RebalanceToken,
    },
    /// These partitions were lost: the member fell out of the group (session or
    /// poll timeout, fenced generation), so another member may already own them.
    /// They are no longer fetched and may not be committed. The rejoin waits for
    /// the acknowledgement of `token` (at most `max.poll.interval.ms`).
    Lost {
        /// The partitions.
        partitions: Vec<TopicPartition>,
        /// To acknowledge.
        token: RebalanceToken,
    },
    /// Answer to a commit (the application's, or auto-commit's): one result per
    /// partition.
    Committed {
        /// The commit.
        id: CommitId,
        /// Per partition: what was committed, or why not.
        results: Vec<(TopicPartition, Result<OffsetAndMetadata, CommitError>)>,
        /// When the commit was made (the application's call, or auto-commit's
        /// timer), on the clock the consumer is driven with: its latency is the
        /// time this event is drained minus this.
        started: Instant,
    },
    /// Answer to a `committed` query: per partition the committed offset (`None`:
    /// nothing committed), or the error that ended the query for it.
    CommittedOffsets {
        /// The query.
        id: QueryId,
        /// Per partition.
        offsets: Vec<(
            TopicPartition,
            Result<Option<OffsetAndMetadata>, ConsumerError>,
        )>,
    },
    /// Answer to a [`describe_group`](super::Consumer::describe_group) query.
    GroupDescribed {
        /// The query.
        id: QueryId,
        /// The group, or why it could not be described.
        result: Result<crate::group::GroupDescription, ConsumerError>,
    },
    /// `sasl.mechanism=OAUTHBEARER`: the consumer needs a (fresh) token; supply one
    /// with [`Consumer::set_oauthbearer_token`](super::Consumer::set_oauthbearer_token).
    /// Emitted when a connection first needs a token and none was supplied, at
    /// 80–85 % of the current token's lifetime, and when a token expires before a
    /// new one came. Connections that need a token wait for it (at most
    /// `socket.connection.setup.timeout.ms`); the others carry on.
    OAuthBearerTokenRequired,
    /// Something went wrong; what the consumer did about it is in the error's docs.
    Error(ConsumerError),
    /// The consumer cannot go on (a fenced static member, for instance): close it.
    Fatal(ConsumerError),
    /// `close` finished: every connection has been asked to close.
    Closed,
}
