//! Rack awareness (KIP-881): a member that sets `client.rack` sends it in its
//! subscription (v3+), the leader knows from metadata on which racks each
//! partition's replicas live, and the rack-aware assignors prefer to give a member
//! partitions with a replica on its own rack, so that it can fetch from that
//! follower (KIP-392) and cross-rack traffic stays low.
//!
//! As in Java:
//! - Rack awareness is used only when it can make a difference ([`applies`]): some
//!   member has a rack, some partition has a replica on a member's rack, and not
//!   every partition has its replicas on the same set of racks.
//! - Balance comes first: a rack-aware assignment gives every member as many
//!   partitions as the plain one would; racks only decide which.
//! - Without rack information (or when it cannot matter) the result is exactly the
//!   plain assignor's.
//! - All replicas count, in sync or not: a consumer does not rebalance when the ISR
//!   changes, and an out-of-sync replica usually catches up soon.
//! - A member whose rack is `""` has no rack; a replica without a rack is left out of
//!   the partition's racks by whoever builds the [`TopicMetadata`](super::TopicMetadata).
//!
//! [`range`](super::range) and the [`sticky`](super::sticky) pair are rack-aware;
//! [`roundrobin`](super::roundrobin) is not (Java's `RoundRobinAssignor` has no rack
//! logic either).

use alloc::collections::BTreeSet;
use alloc::vec::Vec;

/// Whether rack-aware assignment applies, by Java's rule
/// (`AbstractPartitionAssignor.useRackAwareAssignment`): some member has a
/// (non-empty) rack, some partition has a replica on one of those racks, and the
/// partitions do not all have replicas on the same set of racks (if they did, every
/// member would be equally close, or equally far, from every partition).
///
/// `partitions` are the replica racks of each partition considered (for range: one
/// topic's; for the sticky assignors: every subscribed topic's).
///
/// ```
/// use kasio_core::group::assignor::rack::applies;
/// // Replicas on a and b for p0, on b and c for p1; members on a and c.
/// assert!(applies(["a", "c"], [vec!["a", "b"], vec!["b", "c"]]));
/// // Every partition on every rack: nothing to gain.
/// assert!(!applies(["a", "c"], [vec!["a", "c"], vec!["c", "a"]]));
/// // No member rack among the replica racks.
/// assert!(!applies(["x"], [vec!["a"], vec!["b"]]));
/// ```
pub fn applies<'a, M, P, R>(member_racks: M, partitions: P) -> bool
where
    M: IntoIterator<Item = &'a str>,
    P: IntoIterator<Item = R>,
    R: IntoIterator<Item = &'a str>,
{
    let members: BTreeSet<&str> = member_racks.into_iter().filter(|r| !r.is_empty()).collect();
    if members.is_empty() {
        return false;
    }
    let partitions: Vec<BTreeSet<&str>> = partitions
        .into_iter()
        .map(|racks| racks.into_iter().collect())
        .collect();
    let all: BTreeSet<&str> = partitions.iter().flatten().copied().collect();
    if members.is_disjoint(&all) {
        return false;
    }
    partitions.iter().any(|racks| *racks != all)
}

/// A partition's replica racks as a set.
pub(crate) fn rack_set(racks: &[alloc::string::String]) -> BTreeSet<&str> {
    racks.iter().map(|r| r.as_str()).collect()
}
