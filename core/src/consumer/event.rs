//! What the consumer tells its driver and its application.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::conn::{ConnError, ConnId};
use crate::metadata::BrokerId;
use crate::protocol::ErrorCode;
use crate::records::RecordError;

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

/// Something for the driver or the application. Drain with
/// [`Consumer::poll_event`](super::Consumer::poll_event) after every input.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Open a connection to `host:port` and report it with `handle_connected`, or its
    /// failure with `handle_disconnected`.
    Connect {
        /// The handle to report with.
        conn: ConnId,
        /// The broker (negative: a bootstrap server).
        broker: BrokerId,
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
    /// Something went wrong; what the consumer did about it is in the error's docs.
    Error(ConsumerError),
    /// `close` finished: every connection has been asked to close.
    Closed,
}

/// An error reported through [`Event::Error`] or a query result. The consumer keeps
/// running; each variant says what it did.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ConsumerError {
    /// `auto.offset.reset` is `none` and the partition has no valid position: it is
    /// not fetched until the application seeks.
    NoOffsetForPartition {
        /// The partition.
        tp: TopicPartition,
        /// Why a position was needed.
        reason: ResetReason,
    },
    /// A broker error for one partition that retrying will not fix (authorization,
    /// for instance). The partition is not fetched until the application seeks or
    /// reassigns it.
    Partition {
        /// The partition.
        tp: TopicPartition,
        /// The broker's error.
        code: ErrorCode,
    },
    /// A topic's metadata carries an error (unknown topic, not authorized). Retried
    /// with the metadata refresh.
    Topic {
        /// The topic.
        topic: String,
        /// The broker's error.
        code: ErrorCode,
    },
    /// A record batch did not decode or failed its CRC. The records before it were
    /// delivered; the partition is fetched again from the failing offset after a
    /// backoff, so a transient corruption costs nothing and a persistent one repeats
    /// until the application seeks past it.
    CorruptRecords {
        /// The partition.
        tp: TopicPartition,
        /// What failed, with its offset.
        error: RecordError,
    },
    /// A connection failed or was closed for a protocol violation; it is
    /// re-established after `reconnect.backoff.ms`. Informational.
    Connection {
        /// The broker.
        broker: BrokerId,
        /// What happened.
        error: ConnError,
    },
    /// The broker speaks no version of an API the consumer needs with it.
    UnsupportedApi {
        /// The broker.
        broker: BrokerId,
        /// The API key.
        api: i16,
    },
    /// A query timed out (`default.api.timeout.ms`).
    Timeout,
    /// The consumer was closed before the query was answered.
    Closed,
}

impl fmt::Display for ConsumerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoOffsetForPartition { tp, .. } => {
                write!(f, "{tp}: no valid position and auto.offset.reset is none")
            }
            Self::Partition { tp, code } => write!(f, "{tp}: {} ({})", code.name(), code.message()),
            Self::Topic { topic, code } => {
                write!(f, "topic {topic}: {} ({})", code.name(), code.message())
            }
            Self::CorruptRecords { tp, error } => write!(f, "{tp}: {error}"),
            Self::Connection { broker, error } => write!(f, "broker {}: {error:?}", broker.0),
            Self::UnsupportedApi { broker, api } => write!(
                f,
                "broker {} speaks no usable version of API {api}",
                broker.0
            ),
            Self::Timeout => f.write_str("timed out"),
            Self::Closed => f.write_str("the consumer was closed"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ConsumerError {}

/// The application misused the API; returned at once, nothing changed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum UsageError {
    /// The partition is not assigned to this consumer.
    NotAssigned(TopicPartition),
    /// An offset below zero.
    NegativeOffset(i64),
    /// The consumer is closing or closed.
    Closed,
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAssigned(tp) => write!(f, "{tp} is not assigned to this consumer"),
            Self::NegativeOffset(o) => write!(f, "offset {o} is negative"),
            Self::Closed => f.write_str("the consumer is closed"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for UsageError {}
