//! `range`: per topic, the partitions in order are cut into consecutive ranges, one
//! per subscribed member, in member order; with `P` partitions and `C` members each
//! gets `⌊P/C⌋` and the first `P mod C` one more. Member order is Java's: static
//! members first by `group.instance.id`, then dynamic members by member id (so a
//! static member that restarts with a new member id keeps its range).
//!
//! Because every topic is cut the same way, members subscribed to the same topics
//! get the same partition numbers of each ("co-partitioning": partition 0 of every
//! topic to the first member), which joins keyed the same way across topics rely on.
//!
//! Rack-aware (KIP-881, Java 3.5+), when [`rack::applies`] to some topic: before the
//! plain cut, partitions are matched to members on a replica's rack, within the same
//! per-member counts, so the counts (and the balance) are those of the plain cut.
//! Topics with the same members (and racks) and the same partition count stay
//! co-partitioned: partition `p` of all of them goes to the first member with room
//! whose rack holds a replica of `p` in every one of them. A single such topic
//! matches each member, in order, to the first partitions on its rack. What cannot
//! be matched is then cut in ranges as without racks. The result is Java's,
//! partition for partition.
//!
//! Cost: `O(C · P · log P)` per topic at worst.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::vec::Vec;

use super::rack::{self, rack_set};
use super::{
    empty_assignment, member_cmp, sorted, Assignment, Subscription, TopicMetadata, TopicPartition,
};

/// The `range` assignment. See the [module docs](self).
///
/// ```
/// use std::collections::BTreeMap;
/// use kasio_core::group::assignor::{range, Subscription, TopicMetadata};
/// use kasio_core::consumer::TopicPartition;
///
/// let topics = BTreeMap::from([("t".to_string(), TopicMetadata::without_racks(5))]);
/// let members = BTreeMap::from([
///     ("b".to_string(), Subscription::new(["t"])),
///     ("a".to_string(), Subscription::new(["t"])),
/// ]);
/// let out = range::assign(&members, &topics);
/// let ps = |m: &str| out[m].iter().map(|tp| tp.partition).collect::<Vec<_>>();
/// assert_eq!(ps("a"), [0, 1, 2]);
/// assert_eq!(ps("b"), [3, 4]);
/// ```
pub fn assign(
    members: &BTreeMap<String, Subscription>,
    topics: &BTreeMap<String, TopicMetadata>,
) -> Assignment {
    let mut out = empty_assignment(members);

    // The members of each existing, non-empty topic, in member order.
    let mut consumers: BTreeMap<&str, Vec<(&str, &Subscription)>> = BTreeMap::new();
    for (id, sub) in members {
        for topic in &sub.topics {
            let Some((name, meta)) = topics.get_key_value(topic) else {
                continue;
            };
            if meta.partition_count() == 0 {
                continue;
            }
            let list = consumers.entry(name.as_str()).or_default();
            // A topic listed twice: this member was the last one pushed.
            if list.last().map(|(last, _)| *last) != Some(id.as_str()) {
                list.push((id.as_str(), sub));
            }
        }
    }
    let mut states: Vec<TopicState<'_>> = consumers
        .into_iter()
        .filter_map(|(topic, mut list)| {
            list.sort_by(|a, b| member_cmp(*a, *b));
            let meta = topics.get(topic)?;
            Some(TopicState::new(topic, meta, &list))
        })
        .collect();

    if states.iter().any(|s| s.needs_rack_matching) {
        match_racks(&mut states, &mut out);
    }
    for state in &mut states {
        state.assign_ranges(&mut out, |_, _, _| true);
    }
    sorted(out)
}

/// The rack-matching passes (Java's `assignWithRackMatching`).
fn match_racks(states: &mut [TopicState<'_>], out: &mut Assignment) {
    // Topics with the same members (and racks) and, among those, the same number of
    // partitions with rack data are assigned together, partition by partition.
    let mut groups: BTreeMap<(&[Member<'_>], usize), Vec<usize>> = BTreeMap::new();
    for (i, s) in states.iter().enumerate() {
        groups
            .entry((s.consumers.as_slice(), s.partition_racks.len()))
            .or_default()
            .push(i);
    }
    // Owned keys, so that `states` can be borrowed mutably below.
    let groups: Vec<(usize, Vec<usize>)> = groups
        .into_iter()
        .map(|((_, partitions), idx)| (partitions, idx))
        .collect();
    for (partitions, idx) in groups {
        match idx.as_slice() {
            [] => {}
            [single] => {
                if let Some(state) = states.get_mut(*single) {
                    if state.needs_rack_matching {
                        state.assign_ranges(out, |s, c, p| s.racks_match(c, p));
                    }
                }
            }
            many => assign_co_partitioned(states, many, partitions, out),
        }
    }
}

/// Partition `p` of every topic in `idx` to the first member (in order, with room
/// left in every topic) whose rack matches `p` in every topic.
fn assign_co_partitioned(
    states: &mut [TopicState<'_>],
    idx: &[usize],
    partitions: usize,
    out: &mut Assignment,
) {
    let members = idx
        .first()
        .and_then(|&i| states.get(i))
        .map_or(0, |s| s.consumers.len());
    let mut remaining: Vec<usize> = (0..members).collect();
    for p in (0..partitions).map_while(|p| i32::try_from(p).ok()) {
        let fits = |c: usize, states: &[TopicState<'_>]| {
            idx.iter().all(|&i| {
                states
                    .get(i)
                    .is_some_and(|s| s.racks_match(c, p) && s.max_assignable(c) > 0)
            })
        };
        let Some(pos) = remaining.iter().position(|&c| fits(c, states)) else {
            continue;
        };
        let Some(&c) = remaining.get(pos) else {
            continue;
        };
        for &i in idx {
            if let Some(s) = states.get_mut(i) {
                s.assign(c, &[p], out);
            }
        }
        let full = idx
            .iter()
            .all(|&i| states.get(i).is_none_or(|s| s.max_assignable(c) == 0));
        if full {
            remaining.remove(pos);
            if remaining.is_empty() {
                break;
            }
        }
    }
}

/// A member id and its rack.
type Member<'a> = (&'a str, Option<&'a str>);

/// One topic's assignment in progress (Java's `TopicAssignmentState`).
struct TopicState<'a> {
    topic: &'a str,
    /// Its members in order, with their racks.
    consumers: Vec<Member<'a>>,
    /// Each partition's replica racks; empty when none of the members has a rack.
    partition_racks: Vec<BTreeSet<&'a str>>,
    needs_rack_matching: bool,
    unassigned: BTreeSet<i32>,
    /// Partitions given so far, per member (index into `consumers`).
    assigned: Vec<usize>,
    per_member: usize,
    /// How many members may still get one more than `per_member`.
    extra_left: usize,
}

impl<'a> TopicState<'a> {
    fn new(
        topic: &'a str,
        meta: &'a TopicMetadata,
        members: &[(&'a str, &'a Subscription)],
    ) -> Self {
        let consumers: Vec<(&str, Option<&str>)> =
            members.iter().map(|(id, sub)| (*id, sub.rack())).collect();
        let partition_racks: Vec<BTreeSet<&str>> = if consumers.iter().any(|c| c.1.is_some()) {
            meta.replica_racks.iter().map(|r| rack_set(r)).collect()
        } else {
            Vec::new()
        };
        let needs_rack_matching = rack::applies(
            consumers.iter().filter_map(|c| c.1),
            partition_racks.iter().map(|s| s.iter().copied()),
        );
        let count = meta.partition_count();
        let (per_member, extra_left) = match consumers.len() {
            0 => (0, 0),
            n => (count / n, count % n),
        };
        Self {
            topic,
            assigned: consumers.iter().map(|_| 0).collect(),
            consumers,
            partition_racks,
            needs_rack_matching,
            unassigned: meta.partitions().collect(),
            per_member,
            extra_left,
        }
    }

    /// Member `c` may take partition `p` in a rack-matching pass: it has no rack,
    /// or a replica of `p` is on its rack.
    fn racks_match(&self, c: usize, p: i32) -> bool {
        match self.consumers.get(c).and_then(|c| c.1) {
            None => true,
            Some(rack) => usize::try_from(p)
                .ok()
                .and_then(|p| self.partition_racks.get(p))
                .is_some_and(|racks| racks.contains(rack)),
        }
    }

    /// How many more partitions member `c` may take and keep the counts balanced.
    fn max_assignable(&self, c: usize) -> usize {
        let cap = self.per_member + usize::from(self.extra_left > 0);
        cap.saturating_sub(self.assigned.get(c).copied().unwrap_or(0))
    }

    fn assign(&mut self, c: usize, partitions: &[i32], out: &mut Assignment) {
        let (Some(&(member, _)), Some(count)) = (self.consumers.get(c), self.assigned.get_mut(c))
        else {
            return;
        };
        *count += partitions.len();
        if *count > self.per_member {
            self.extra_left = self.extra_left.saturating_sub(1);
        }
        for p in partitions {
            self.unassigned.remove(p);
        }
        if let Some(list) = out.get_mut(member) {
            list.extend(
                partitions
                    .iter()
                    .map(|&p| TopicPartition::new(self.topic, p)),
            );
        }
    }

    /// Each member in order takes the first unassigned partitions `may` allows, up
    /// to its count.
    fn assign_ranges(&mut self, out: &mut Assignment, may: impl Fn(&Self, usize, i32) -> bool) {
        for c in 0..self.consumers.len() {
            if self.unassigned.is_empty() {
                break;
            }
            let take: Vec<i32> = self
                .unassigned
                .iter()
                .copied()
                .filter(|&p| may(self, c, p))
                .take(self.max_assignable(c))
                .collect();
            if !take.is_empty() {
                self.assign(c, &take, out);
            }
        }
    }
}
