//! `roundrobin`: every partition of every subscribed topic, sorted by topic then
//! partition, is dealt in turn around the members in order (static members first
//! by `group.instance.id`, then by member id, as in Java); a member not subscribed
//! to a partition's topic is skipped, and the deal goes on from the member after the
//! one that took it (Java's `CircularIterator`).
//!
//! With identical subscriptions the counts differ by at most one. With different
//! subscriptions it can be far from balanced (Java's javadoc shows one member with
//! all of one topic and more): use a sticky assignor for that.
//!
//! Not rack-aware, as in Java.
//!
//! Cost: `O(P · C)`.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::vec::Vec;

use super::{
    empty_assignment, java_cmp, member_cmp, sorted, Assignment, Subscription, TopicMetadata,
    TopicPartition,
};

/// The `roundrobin` assignment. See the [module docs](self).
///
/// Java's javadoc example: three members, `C0` subscribed to `t0`, `C1` to `t0` and
/// `t1`, `C2` to all three topics, of 1, 2 and 3 partitions:
///
/// ```
/// use std::collections::BTreeMap;
/// use kasio_core::group::assignor::{roundrobin, Subscription, TopicMetadata};
/// use kasio_core::consumer::TopicPartition;
///
/// let topics = BTreeMap::from([
///     ("t0".to_string(), TopicMetadata::without_racks(1)),
///     ("t1".to_string(), TopicMetadata::without_racks(2)),
///     ("t2".to_string(), TopicMetadata::without_racks(3)),
/// ]);
/// let members = BTreeMap::from([
///     ("C0".to_string(), Subscription::new(["t0"])),
///     ("C1".to_string(), Subscription::new(["t0", "t1"])),
///     ("C2".to_string(), Subscription::new(["t0", "t1", "t2"])),
/// ]);
/// let out = roundrobin::assign(&members, &topics);
/// let tp = TopicPartition::new;
/// assert_eq!(out["C0"], [tp("t0", 0)]);
/// assert_eq!(out["C1"], [tp("t1", 0)]);
/// assert_eq!(out["C2"], [tp("t1", 1), tp("t2", 0), tp("t2", 1), tp("t2", 2)]);
/// ```
pub fn assign(
    members: &BTreeMap<String, Subscription>,
    topics: &BTreeMap<String, TopicMetadata>,
) -> Assignment {
    let mut out = empty_assignment(members);
    let mut ring: Vec<(&str, &Subscription, BTreeSet<&str>)> = members
        .iter()
        .map(|(id, sub)| {
            let subscribed = sub.topics.iter().map(String::as_str).collect();
            (id.as_str(), sub, subscribed)
        })
        .collect();
    ring.sort_by(|a, b| member_cmp((a.0, a.1), (b.0, b.1)));

    let mut subscribed: Vec<&str> = ring
        .iter()
        .flat_map(|m| m.2.iter().copied())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    subscribed.sort_by(|a, b| java_cmp(a, b));

    let mut next = 0;
    for topic in subscribed {
        let Some(meta) = topics.get(topic) else {
            continue;
        };
        for p in meta.partitions() {
            // The next member (from `next` on, around the ring) subscribed to it.
            let taker = (0..ring.len())
                .map(|k| (next + k) % ring.len())
                .find(|&i| ring.get(i).is_some_and(|m| m.2.contains(topic)));
            let Some(i) = taker else { break };
            if let Some(list) = ring.get(i).and_then(|m| out.get_mut(m.0)) {
                list.push(TopicPartition::new(topic, p));
            }
            next = (i + 1) % ring.len();
        }
    }
    sorted(out)
}
