//! The broker error codes that mean "ask someone else": leadership moved, the
//! broker is behind the consumer's view (or ahead of it), or the partition is
//! briefly unavailable. Every request the consumer sends to a partition leader
//! handles them the same way: fresh metadata, and a retry after a backoff.

use crate::protocol::ErrorCode;

/// Whether `code` means the partition's leader must be looked up again.
pub(crate) fn is_leadership_error(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::NotLeaderOrFollower
            | ErrorCode::UnknownTopicOrPartition
            | ErrorCode::LeaderNotAvailable
            | ErrorCode::FencedLeaderEpoch
            | ErrorCode::UnknownLeaderEpoch
            | ErrorCode::OffsetNotAvailable
            | ErrorCode::ReplicaNotAvailable
            | ErrorCode::KafkaStorageError
            | ErrorCode::UnknownTopicId
            | ErrorCode::InconsistentTopicId
    )
}
