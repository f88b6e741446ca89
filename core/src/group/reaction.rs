//! What a classic group member does with each error code of each group API, as
//! tables (Java's `AbstractCoordinator` / `ConsumerCoordinator` handling, see
//! GROUPS.md). The membership applies them; tests walk every row.
//!
//! Two answers depend on context the table cannot see and are refined by the
//! caller: UNKNOWN_MEMBER_ID or ILLEGAL_GENERATION for a request sent under a
//! generation the member has since left are ignored ("the generation already moved
//! on"), and JoinGroup's UNKNOWN_MEMBER_ID resets the member id only if the
//! generation did not move meanwhile.

use crate::protocol::ErrorCode;

/// What the member does about a group API's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Reaction {
    /// Success.
    Proceed,
    /// Send JoinGroup again at once (with the member id the answer carried, for
    /// MEMBER_ID_REQUIRED).
    RejoinNow,
    /// Forget the member id and join again at once.
    ResetMemberIdAndRejoin,
    /// Retry the same request after `retry.backoff.ms`.
    RetryAfterBackoff,
    /// The coordinator moved or is not available: find it again (with backoff),
    /// keeping the membership, then carry on.
    Rediscover,
    /// A rebalance started: prepare to join again, keeping the generation (so a
    /// revoke-time commit can still go through).
    Rebalance,
    /// The member is no longer in the generation: its partitions are lost; join
    /// again (keeping the member id unless `reset_member_id`).
    MembershipLost {
        /// Forget the member id too (UNKNOWN_MEMBER_ID).
        reset_member_id: bool,
    },
    /// The group cannot go on for this member.
    Fatal,
}

fn coordinator_error(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable
    )
}

/// FindCoordinator.
pub fn find_coordinator(code: ErrorCode) -> Reaction {
    match code {
        ErrorCode::None => Reaction::Proceed,
        code if code.is_retriable() => Reaction::RetryAfterBackoff,
        _ => Reaction::Fatal,
    }
}

/// JoinGroup.
pub fn join_group(code: ErrorCode) -> Reaction {
    match code {
        ErrorCode::None => Reaction::Proceed,
        ErrorCode::MemberIdRequired | ErrorCode::RebalanceInProgress => Reaction::RejoinNow,
        ErrorCode::UnknownMemberId => Reaction::ResetMemberIdAndRejoin,
        ErrorCode::CoordinatorLoadInProgress => Reaction::RetryAfterBackoff,
        code if coordinator_error(code) => Reaction::Rediscover,
        // FENCED_INSTANCE_ID, INCONSISTENT_GROUP_PROTOCOL, INVALID_SESSION_TIMEOUT,
        // INVALID_GROUP_ID, GROUP_AUTHORIZATION_FAILED, GROUP_MAX_SIZE_REACHED, and
        // anything else unexpected.
        _ => Reaction::Fatal,
    }
}

/// SyncGroup.
pub fn sync_group(code: ErrorCode) -> Reaction {
    match code {
        ErrorCode::None => Reaction::Proceed,
        ErrorCode::RebalanceInProgress => Reaction::RejoinNow,
        ErrorCode::UnknownMemberId => Reaction::MembershipLost {
            reset_member_id: true,
        },
        ErrorCode::IllegalGeneration => Reaction::MembershipLost {
            reset_member_id: false,
        },
        ErrorCode::CoordinatorLoadInProgress => Reaction::RetryAfterBackoff,
        code if coordinator_error(code) => Reaction::Rediscover,
        _ => Reaction::Fatal,
    }
}

/// Heartbeat.
pub fn heartbeat(code: ErrorCode) -> Reaction {
    match code {
        ErrorCode::None => Reaction::Proceed,
        ErrorCode::RebalanceInProgress => Reaction::Rebalance,
        ErrorCode::UnknownMemberId => Reaction::MembershipLost {
            reset_member_id: true,
        },
        ErrorCode::IllegalGeneration => Reaction::MembershipLost {
            reset_member_id: false,
        },
        code if coordinator_error(code) => Reaction::Rediscover,
        ErrorCode::CoordinatorLoadInProgress => Reaction::RetryAfterBackoff,
        ErrorCode::FencedInstanceId => Reaction::Fatal,
        code if code.is_retriable() => Reaction::RetryAfterBackoff,
        _ => Reaction::Fatal,
    }
}

/// What a commit does about one partition's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum CommitReaction {
    /// Committed.
    Committed,
    /// Try the partition again after a backoff (the commit is not failed yet).
    Retry,
    /// Find the coordinator again, then retry.
    RediscoverAndRetry,
    /// The commit fails with "rebalance in progress"; the member prepares to join
    /// again, keeping its generation.
    FailRebalancing,
    /// The commit fails; the member's generation is gone (partitions lost) unless
    /// it already moved on.
    FailMembershipLost {
        /// Forget the member id too (UNKNOWN_MEMBER_ID).
        reset_member_id: bool,
    },
    /// The commit of this partition fails with the broker's error.
    Fail,
    /// The group cannot go on for this member.
    Fatal,
}

/// OffsetCommit, per partition (a top-level error applies to every partition).
pub fn offset_commit(code: ErrorCode) -> CommitReaction {
    match code {
        ErrorCode::None => CommitReaction::Committed,
        ErrorCode::CoordinatorLoadInProgress | ErrorCode::UnknownTopicOrPartition => {
            CommitReaction::Retry
        }
        ErrorCode::NotCoordinator
        | ErrorCode::CoordinatorNotAvailable
        | ErrorCode::RequestTimedOut => CommitReaction::RediscoverAndRetry,
        ErrorCode::RebalanceInProgress => CommitReaction::FailRebalancing,
        ErrorCode::UnknownMemberId => CommitReaction::FailMembershipLost {
            reset_member_id: true,
        },
        ErrorCode::IllegalGeneration => CommitReaction::FailMembershipLost {
            reset_member_id: false,
        },
        ErrorCode::FencedInstanceId => CommitReaction::Fatal,
        // OFFSET_METADATA_TOO_LARGE, INVALID_COMMIT_OFFSET_SIZE, authorization,
        // anything else.
        _ => CommitReaction::Fail,
    }
}

/// What an OffsetFetch does about an answer (top level or one partition's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum FetchReaction {
    /// The committed offset (or none) is known.
    Found,
    /// Ask again after a backoff (UNSTABLE_OFFSET_COMMIT: a transaction touching
    /// the offset is open; load in progress).
    Retry,
    /// Find the coordinator again, then ask again.
    RediscoverAndRetry,
    /// Give up for this partition and tell the application.
    Fail,
}

/// OffsetFetch.
pub fn offset_fetch(code: ErrorCode) -> FetchReaction {
    match code {
        ErrorCode::None => FetchReaction::Found,
        ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
            FetchReaction::RediscoverAndRetry
        }
        ErrorCode::UnstableOffsetCommit | ErrorCode::CoordinatorLoadInProgress => {
            FetchReaction::Retry
        }
        code if code.is_retriable() => FetchReaction::Retry,
        _ => FetchReaction::Fail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_rows_of_groups_md() {
        use ErrorCode as E;
        use Reaction as R;
        assert_eq!(
            find_coordinator(E::CoordinatorNotAvailable),
            R::RetryAfterBackoff
        );
        assert_eq!(find_coordinator(E::GroupAuthorizationFailed), R::Fatal);
        assert_eq!(join_group(E::MemberIdRequired), R::RejoinNow);
        assert_eq!(join_group(E::UnknownMemberId), R::ResetMemberIdAndRejoin);
        assert_eq!(join_group(E::RebalanceInProgress), R::RejoinNow);
        assert_eq!(
            join_group(E::CoordinatorLoadInProgress),
            R::RetryAfterBackoff
        );
        assert_eq!(join_group(E::NotCoordinator), R::Rediscover);
        assert_eq!(join_group(E::CoordinatorNotAvailable), R::Rediscover);
        for fatal in [
            E::FencedInstanceId,
            E::InconsistentGroupProtocol,
            E::InvalidSessionTimeout,
            E::InvalidGroupId,
            E::GroupAuthorizationFailed,
            E::GroupMaxSizeReached,
        ] {
            assert_eq!(join_group(fatal), R::Fatal, "{fatal:?}");
        }
        assert_eq!(sync_group(E::RebalanceInProgress), R::RejoinNow);
        assert_eq!(
            sync_group(E::UnknownMemberId),
            R::MembershipLost {
                reset_member_id: true
            }
        );
        assert_eq!(
            sync_group(E::IllegalGeneration),
            R::MembershipLost {
                reset_member_id: false
            }
        );
        assert_eq!(sync_group(E::NotCoordinator), R::Rediscover);
        assert_eq!(heartbeat(E::RebalanceInProgress), R::Rebalance);
        assert_eq!(heartbeat(E::FencedInstanceId), R::Fatal);
        assert_eq!(heartbeat(E::CoordinatorNotAvailable), R::Rediscover);
        assert_eq!(
            heartbeat(E::IllegalGeneration),
            R::MembershipLost {
                reset_member_id: false
            }
        );
        assert_eq!(
            offset_commit(E::UnknownTopicOrPartition),
            CommitReaction::Retry
        );
        assert_eq!(
            offset_commit(E::RequestTimedOut),
            CommitReaction::RediscoverAndRetry
        );
        assert_eq!(
            offset_commit(E::RebalanceInProgress),
            CommitReaction::FailRebalancing
        );
        assert_eq!(
            offset_commit(E::OffsetMetadataTooLarge),
            CommitReaction::Fail
        );
        assert_eq!(
            offset_commit(E::InvalidCommitOffsetSize),
            CommitReaction::Fail
        );
        assert_eq!(offset_commit(E::FencedInstanceId), CommitReaction::Fatal);
        assert_eq!(offset_fetch(E::UnstableOffsetCommit), FetchReaction::Retry);
        assert_eq!(
            offset_fetch(E::NotCoordinator),
            FetchReaction::RediscoverAndRetry
        );
        assert_eq!(
            offset_fetch(E::GroupAuthorizationFailed),
            FetchReaction::Fail
        );
    }
}
