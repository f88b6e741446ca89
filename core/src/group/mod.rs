//! Consumer groups, classic protocol: the parts of the group protocol that are
//! pure logic, each in its own file, used by the consumer's group wiring
//! (`consumer/group.rs`), which sends their requests and routes the answers.
//!
//! - [`state`]: the member's states and legal transitions, as data;
//! - [`coordinator`]: finding the group coordinator;
//! - [`reaction`]: what each error code of each group API makes the member do;
//! - [`commits`]: committed offsets: the queue, one commit in flight, results;
//! - [`description`]: a group as DescribeGroups describes it;
//! - [`assignor`]: the client-side assignors the group leader runs.
//!
//! What the application sees of a group is the same whatever the protocol (the
//! classic one today, KIP-848's later): [`Event::Assigned`], [`Event::Revoked`] and
//! [`Event::Lost`] with a [`RebalanceToken`] to acknowledge, commits with
//! per-partition results, and [`GroupMetadata`] for a transactional producer.
//!
//! [`Event::Assigned`]: crate::consumer::Event::Assigned
//! [`Event::Revoked`]: crate::consumer::Event::Revoked
//! [`Event::Lost`]: crate::consumer::Event::Lost

pub mod assignor;
pub mod commits;
pub mod coordinator;
pub mod description;
pub mod reaction;
pub mod state;

use alloc::string::String;
use core::fmt;

use crate::protocol::ErrorCode;

pub use commits::{CommitError, CommitId, OffsetAndMetadata};
pub use description::{GroupDescription, MemberDescription};
pub use state::{Cause, MemberState, Transition};

/// The group membership a transactional producer needs to commit offsets with
/// its transaction (`send_offsets_to_transaction`), as Java's
/// `ConsumerGroupMetadata`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct GroupMetadata {
    /// `group.id`.
    pub group_id: String,
    /// The generation (classic) or member epoch (KIP-848); -1 outside a group.
    pub generation_id: i32,
    /// The member id the coordinator gave; empty outside a group.
    pub member_id: String,
    /// `group.instance.id`, for a static member.
    pub group_instance_id: Option<String>,
}

/// Identifies one `Revoked` or `Lost` event; acknowledging it with
/// [`Consumer::ack_rebalance`](crate::consumer::Consumer::ack_rebalance) lets the
/// rebalance go on. A token of an earlier rebalance is stale and refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RebalanceToken(pub(crate) u64);

/// Any token, made up: the group fuzz target acknowledges tokens the consumer never
/// issued, which must be refused as stale.
#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for RebalanceToken {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Self(u.arbitrary()?))
    }
}

impl fmt::Display for RebalanceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rebalance #{}", self.0)
    }
}

/// Test-only client bugs planted in the group member, so that a simulation can
/// prove its invariants catch them (switched on with `Consumer::set_sim_bugs`,
/// which exists only with the `sim-bugs` feature). All off by default; each one
/// is a mistake a group client could plausibly make.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimBugs {
    /// A revocation keeps fetching the revoked partitions: their records are
    /// still handed out.
    pub fetch_after_revoke: bool,
    /// Commits of consumed positions commit one past what was handed out.
    pub commit_ahead: bool,
    /// Newly assigned partitions skip their committed offsets and start at the
    /// end of the log.
    pub ignore_committed: bool,
    /// Queued commits go out under whatever generation the member has then,
    /// for whatever partitions they name (not checked again when they go).
    pub send_stale_commits: bool,
    /// A commit that must go again (its request lost with its connection, or
    /// partitions answered with a retriable error) goes behind newer ones.
    pub requeue_behind: bool,
    /// A committed offset is taken for the last record read: fetching starts
    /// one past it.
    pub committed_off_by_one: bool,
    /// Revocations skip the auto-commit of what was handed out.
    pub skip_revoke_commit: bool,
}

/// The group could not go on: what the coordinator said, in answer to which API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct GroupFailure {
    /// The API that was answered (its key).
    pub api: i16,
    /// The coordinator's error.
    pub code: ErrorCode,
}

impl fmt::Display for GroupFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let api =
            crate::protocol::ApiKey::from_i16(self.api).map_or("an unknown API", |a| a.name());
        write!(
            f,
            "the group coordinator answered {} with {} ({})",
            api,
            self.code.name(),
            self.code.message()
        )?;
        if self.code == ErrorCode::FencedInstanceId {
            f.write_str(
                ": another consumer with the same group.instance.id joined the group; \
                 this one must close",
            )?;
        }
        Ok(())
    }
}
