//! What each in-flight request is for, so that its response (or its loss) goes to
//! the part of the consumer that sent it.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use crate::config::OffsetReset;

use super::event::{QueryId, ResetReason};

/// A partition key as the fetcher uses it: topic name and partition index.
pub(crate) type PartKey = (String, i32);

#[derive(Debug)]
pub(crate) enum Purpose {
    /// A metadata refresh.
    Metadata,
    /// A fetch from `broker`, with the fetch offset of every partition the session
    /// covered when it was sent (responses for other offsets are stale).
    Fetch { offsets: BTreeMap<PartKey, i64> },
    /// Closing a fetch session.
    CloseSession,
    /// ListOffsets for position resets.
    /// With each partition: the strategy, why, and the partition's generation.
    Reset {
        partitions: Vec<(PartKey, OffsetReset, ResetReason, u32)>,
    },
    /// ListOffsets for an `offsets_for_times` query.
    Times {
        query: QueryId,
        partitions: Vec<PartKey>,
    },
    /// OffsetForLeaderEpoch validating positions: the position each was checked at.
    /// With each partition: the position checked and the partition's generation.
    Validate {
        partitions: Vec<(PartKey, i64, u32)>,
    },
}
