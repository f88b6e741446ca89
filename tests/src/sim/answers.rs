//! What the brokers told each client that can move a consumer's position or
//! drop what it prefetched: the offsets ListOffsets answered, the
//! OFFSET_OUT_OF_RANGE errors Fetch gave, and the leaders Metadata named. The
//! checker ([`super::Checker`]) accepts an `OffsetReset` only when one of these
//! explains it, so a consumer that resets on its own (on a leadership error, say)
//! is caught; the memory model ([`super::memory`]) forgets what a consumer
//! prefetched from a partition whose leadership it learned changed.
//!
//! Recording is off by default (a served cluster would keep them forever);
//! [`super::World`] turns it on and hands each answer to the checker of the
//! consumer whose connection it went to, when the broker sends it (before the
//! consumer can act on it).

use kasio_core::consumer::TopicPartition;

use super::cluster::Cluster;
use super::server::ServerConn;

/// One answer that can justify a position change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PositionAnswer {
    /// ListOffsets answered `offset` for `timestamp` (-2 earliest, -1 latest, or
    /// a time).
    ListOffsets {
        /// The partition.
        tp: TopicPartition,
        /// The timestamp asked for.
        timestamp: i64,
        /// The offset answered.
        offset: i64,
    },
    /// Fetch answered OFFSET_OUT_OF_RANGE for `fetch_offset`.
    OutOfRange {
        /// The partition.
        tp: TopicPartition,
        /// The offset the client asked for.
        fetch_offset: i64,
    },
    /// Metadata named this leader and leader epoch.
    Leadership {
        /// The partition.
        tp: TopicPartition,
        /// The leader (-1: none).
        leader: i32,
        /// The leader epoch (-1 for a client of Metadata below v7, which is told
        /// none).
        epoch: i32,
    },
}

impl PositionAnswer {
    /// The partition the answer is about.
    pub fn tp(&self) -> &TopicPartition {
        match self {
            PositionAnswer::ListOffsets { tp, .. }
            | PositionAnswer::OutOfRange { tp, .. }
            | PositionAnswer::Leadership { tp, .. } => tp,
        }
    }
}

impl Cluster {
    /// Starts (or stops) keeping the answers that can move a consumer's position,
    /// for [`Cluster::take_answers`].
    pub fn record_answers(&mut self, on: bool) {
        self.answers = on.then(Vec::new);
    }

    /// The answers kept since the last call, with the connection each went to.
    pub fn take_answers(&mut self) -> Vec<(ServerConn, PositionAnswer)> {
        self.answers
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    pub(crate) fn answered(&mut self, answer: PositionAnswer) {
        if let (Some(list), Some(conn)) = (self.answers.as_mut(), self.current) {
            list.push((conn, answer));
        }
    }
}
