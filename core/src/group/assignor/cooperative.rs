//! `cooperative-sticky`: the [sticky](super::sticky) assignment under the
//! cooperative rebalance protocol (KIP-429).
//!
//! Under the eager protocol every member revokes everything before it joins, so
//! the leader may hand any partition to anyone. Under the cooperative protocol
//! members keep consuming through the rebalance, so a partition that changes owner
//! must not reach its new owner while the old one may still be consuming it. The
//! leader therefore computes the sticky target and then withholds every partition
//! that changes owner ([`withhold_moving`]): the old owner sees that it was not
//! assigned the partition, revokes it (committing first) and rejoins at once; in
//! that follow-up rebalance nobody claims the partition any more, and it goes to its
//! new owner.
//!
//! With identical subscriptions and no rack changes, two rounds always settle: the
//! follow-up keeps every owned partition (each member owns at most its quota) and
//! only deals the withheld ones, which nobody claims. With different subscriptions,
//! dealing the withheld partitions can unbalance the counts again and move more, as
//! in Java (whose tests allow up to four follow-ups); kasio's tests measure it.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;

use super::sticky::assign_with_claims;
use super::{claims, Assignment, Claim, Subscription, TopicMetadata, TopicPartition};

/// The `cooperative-sticky` assignment: the sticky one, less the partitions that
/// would change owner in this round.
///
/// ```
/// use std::collections::BTreeMap;
/// use kasio_core::group::assignor::{cooperative, Subscription, TopicMetadata};
/// use kasio_core::consumer::TopicPartition;
///
/// let tp = TopicPartition::new;
/// let topics = BTreeMap::from([("t".to_string(), TopicMetadata::without_racks(4))]);
/// let owns = |ps: &[i32]| Subscription {
///     owned: ps.iter().map(|&p| tp("t", p)).collect(),
///     generation: Some(3),
///     ..Subscription::new(["t"])
/// };
/// // `a` owns everything, `b` joins: `a` keeps two, and nothing reaches `b` yet.
/// let mut members = BTreeMap::from([("a".to_string(), owns(&[0, 1, 2, 3])), ("b".to_string(), owns(&[]))]);
/// let first = cooperative::assign(&members, &topics);
/// assert_eq!(first["a"], [tp("t", 0), tp("t", 1)]);
/// assert!(first["b"].is_empty());
/// // `a` revokes 2 and 3 and rejoins: the follow-up hands them to `b`.
/// members.insert("a".to_string(), owns(&[0, 1]));
/// let second = cooperative::assign(&members, &topics);
/// assert_eq!(second["a"], [tp("t", 0), tp("t", 1)]);
/// assert_eq!(second["b"], [tp("t", 2), tp("t", 3)]);
/// ```
pub fn assign(
    members: &BTreeMap<String, Subscription>,
    topics: &BTreeMap<String, TopicMetadata>,
) -> Assignment {
    let claims = claims(members, topics);
    let mut out = assign_with_claims(members, topics, &claims);
    withhold(&claims, &mut out);
    out
}

/// The KIP-429 adjustment, for any target `assignment` of `members`: removes every
/// partition that some other member claims in its `owned` list, unless its new
/// holder is the partition's valid owner (the claim of the highest generation).
/// Returns the partitions removed (Java's "partitions transferring ownership").
///
/// After it, no partition reaches a member while another member still holds it:
/// every partition newly given to a member is one no other member claims.
pub fn withhold_moving(
    members: &BTreeMap<String, Subscription>,
    topics: &BTreeMap<String, TopicMetadata>,
    assignment: &mut Assignment,
) -> BTreeSet<TopicPartition> {
    let claims = claims(members, topics);
    withhold(&claims, assignment)
}

fn withhold(
    claims: &BTreeMap<(&str, i32), Claim<'_>>,
    assignment: &mut Assignment,
) -> BTreeSet<TopicPartition> {
    let mut withheld = BTreeSet::new();
    for (member, list) in assignment.iter_mut() {
        list.retain(|tp| {
            let Some(claim) = claims.get(&(tp.topic.as_str(), tp.partition)) else {
                return true;
            };
            let keeps = claim.owner == Some(member.as_str());
            let claimed_by_other = claim.claimers.iter().any(|c| *c != member.as_str());
            if !keeps && claimed_by_other {
                withheld.insert(tp.clone());
                false
            } else {
                true
            }
        });
    }
    withheld
}
