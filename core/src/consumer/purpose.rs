//! What each in-flight request is for, so that its response (or its loss) goes to
//! the part of the consumer that sent it.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::config::OffsetReset;

use super::event::{QueryId, ResetReason, TopicPartition};

#[derive(Debug)]
pub(crate) enum Purpose {
    /// A metadata refresh; `all_topics`: it asked for every topic.
    Metadata { all_topics: bool },
    /// A fetch, with the fetch offset of every partition the session covered when
    /// it was sent (responses for other offsets are stale).
    Fetch {
        offsets: BTreeMap<TopicPartition, i64>,
    },
    /// Closing a fetch session.
    CloseSession,
    /// ListOffsets for position resets.
    /// With each partition: the strategy, why, and the partition's generation.
    Reset {
        partitions: Vec<(TopicPartition, OffsetReset, ResetReason, u32)>,
    },
    /// ListOffsets for an `offsets_for_times` query.
    Times {
        query: QueryId,
        partitions: Vec<TopicPartition>,
    },
    /// OffsetForLeaderEpoch validating positions.
    /// With each partition: the position checked and the partition's generation.
    Validate {
        partitions: Vec<(TopicPartition, i64, u32)>,
    },
    /// FindCoordinator for the group.
    FindCoordinator,
    /// JoinGroup, sent under this generation.
    JoinGroup { generation: i32 },
    /// SyncGroup for this generation.
    SyncGroup { generation: i32 },
    /// Heartbeat in this generation.
    Heartbeat { generation: i32 },
    /// LeaveGroup (best effort; the answer is not needed).
    LeaveGroup,
    /// OffsetCommit of the commit in flight, under this generation.
    OffsetCommit { generation: i32 },
    /// DescribeGroups for a `describe_group` query.
    DescribeGroup { query: QueryId },
    /// OffsetFetch for assigned partitions' positions (`query: None`) or for an
    /// application's `committed` query.
    OffsetFetch {
        partitions: Vec<TopicPartition>,
        query: Option<QueryId>,
    },
}
