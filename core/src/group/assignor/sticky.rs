//! The sticky assignment, shared by `sticky` (eager) and `cooperative-sticky`
//! (which then holds back what moves, see [`cooperative`](super::cooperative)).
//!
//! Goals, in order: a valid assignment (every partition of a subscribed topic to
//! exactly one member subscribed to it), balance, then keep partitions where they
//! are ("stickiness"), then rack affinity (KIP-881). The same goals and the same two
//! cases as Java's `AbstractStickyAssignor`; the steps are our own.
//!
//! **Who owns what now.** Each member's `owned` partitions, with its generation. A
//! partition claimed by several members belongs to the claim of the highest
//! generation; two claims at the highest generation cancel (nobody keeps it).
//! Partitions that no longer exist, or whose topic the claimer no longer
//! subscribes to, are dropped.
//!
//! **All members subscribe to the same topics** (the common case; Java's
//! "constrained" assignment). With `P` partitions and `C` members, every member gets
//! `⌊P/C⌋` or `⌈P/C⌉`, and exactly `P mod C` members get the larger count:
//! 1. Members keep what they own up to their quota. The members owning the most go
//!    first, so that the larger quotas go to those that would otherwise give up the
//!    most.
//! 2. The rest is dealt to the member with the fewest partitions that still has room
//!    (ties: member id order); with racks, first to such members on a replica's
//!    rack, partitions with the fewest candidate members first.
//!
//! **Different subscriptions** (Java's "general" assignment). Quotas do not apply:
//! 1. Members keep everything they own.
//! 2. Each remaining partition, those with the fewest candidate members first, goes
//!    to a subscribed member with the fewest partitions (ties: on a replica's rack,
//!    then member id order).
//! 3. Balancing: while some member holds a partition that another member subscribed
//!    to it could take and that other member has at least two partitions fewer, the
//!    partition moves (from the fullest such member to the emptiest candidate,
//!    preferring partitions the giver did not own before). The result is "balanced"
//!    as Java defines it (`isBalanced`): no partition can move to a member subscribed
//!    to it that has two fewer. With identical subscriptions this means the counts
//!    differ by at most one.
//!
//!    *Termination.* Each move takes a partition from a member with `a` partitions
//!    to one with `b ≤ a − 2`, which lowers the sum of the squared counts by
//!    `2(a − b − 1) ≥ 2`. That sum starts at most at `P²` and never goes below zero,
//!    so there are at most `P²/2` moves. The loop is also capped at that number, a
//!    cap no valid run reaches.
//!
//! **Racks** (when [`rack::applies`] to the members' racks and
//! all subscribed partitions). Balance is settled first; racks never unbalance the
//! counts. With identical subscriptions the dealing prefers members on a replica's
//! rack (see above). Then, in both cases, a partition whose holder is not on one of
//! its replicas' racks is exchanged with a partition of the same topic that a member
//! on such a rack holds off its own rack: the first partition gains its rack, the
//! second loses nothing. With identical subscriptions a partition may also move
//! alone to such a member holding one partition fewer (the two counts trade
//! places). An exchange within a topic keeps every member's count per topic, so the
//! balance of the first steps holds. Each change puts one more partition on its
//! holder's rack, so there are at most `P` of them (and the passes looking for them
//! are capped at `P + 1`). Unlike Java, which revokes every owned partition off its
//! member's rack, a member keeps one unless such a change is found: so feeding an
//! assignment back in always returns it unchanged.
//!
//! **Stickiness.** Feeding the result back as the members' owned partitions (at one
//! generation) returns the same assignment: all of it is kept, nothing is left to
//! deal, the balancing and rack steps find nothing to change.
//!
//! Cost: identical subscriptions `O(P · C)`; different subscriptions
//! `O(C · log C + T · C)` per balancing move; with racks, `O(P · C)` per pass of
//! the rack step.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::vec::Vec;
use core::cmp::Reverse;

use super::rack::{self, rack_set};
use super::{claims, sorted, Assignment, Claim, Subscription, TopicMetadata, TopicPartition};

/// The `sticky` assignment (eager). See the [module docs](self).
///
/// ```
/// use std::collections::BTreeMap;
/// use kasio_core::group::assignor::{sticky, Subscription, TopicMetadata};
/// use kasio_core::consumer::TopicPartition;
///
/// let tp = TopicPartition::new;
/// let topics = BTreeMap::from([("t".to_string(), TopicMetadata::without_racks(4))]);
/// // `a` owned everything; `b` joins.
/// let members = BTreeMap::from([
///     ("a".to_string(), Subscription {
///         owned: (0..4).map(|p| tp("t", p)).collect(),
///         generation: Some(7),
///         ..Subscription::new(["t"])
///     }),
///     ("b".to_string(), Subscription::new(["t"])),
/// ]);
/// let out = sticky::assign(&members, &topics);
/// // `a` keeps two of its partitions, `b` gets the other two.
/// assert_eq!(out["a"], [tp("t", 0), tp("t", 1)]);
/// assert_eq!(out["b"], [tp("t", 2), tp("t", 3)]);
/// ```
pub fn assign(
    members: &BTreeMap<String, Subscription>,
    topics: &BTreeMap<String, TopicMetadata>,
) -> Assignment {
    let claims = claims(members, topics);
    assign_with_claims(members, topics, &claims)
}

/// The sticky assignment with the claims already worked out.
pub(crate) fn assign_with_claims(
    members: &BTreeMap<String, Subscription>,
    topics: &BTreeMap<String, TopicMetadata>,
    claims: &BTreeMap<(&str, i32), Claim<'_>>,
) -> Assignment {
    let mut plan = Plan::new(members, topics, claims);
    if plan.identical_subscriptions() {
        plan.constrained();
    } else {
        plan.general();
    }
    plan.into_assignment()
}

/// A partition: topic index and partition number (as an index).
type Part = (usize, usize);

/// The assignment being built, with members and topics by index.
struct Plan<'a> {
    /// Member ids, in order.
    ids: Vec<&'a str>,
    /// Member racks; all `None` unless rack awareness applies.
    racks: Vec<Option<&'a str>>,
    /// Topic names: the existing, non-empty topics some member subscribes to.
    topics: Vec<&'a str>,
    /// Per topic: the replica racks of each partition (empty sets unless rack
    /// awareness applies).
    partition_racks: Vec<Vec<BTreeSet<&'a str>>>,
    /// Per member: the topics (indices) it subscribes to.
    subscribed: Vec<BTreeSet<usize>>,
    /// Per topic: the members subscribed to it, in order.
    eligible: Vec<Vec<usize>>,
    /// Per topic, per partition: its valid owner before this assignment.
    before: Vec<Vec<Option<usize>>>,
    /// Per topic, per partition: its owner in the assignment being built.
    owner: Vec<Vec<Option<usize>>>,
    /// Per member: what it holds, by topic.
    held: Vec<BTreeMap<usize, BTreeSet<usize>>>,
    /// Per member with a rack: what it holds off its rack, by topic.
    off_rack_held: Vec<BTreeMap<usize, BTreeSet<usize>>>,
    /// Per member: how many partitions it holds.
    count: Vec<usize>,
    /// The number of partitions to assign.
    total: usize,
}

impl<'a> Plan<'a> {
    fn new(
        members: &'a BTreeMap<String, Subscription>,
        metadata: &'a BTreeMap<String, TopicMetadata>,
        claims: &BTreeMap<(&str, i32), Claim<'_>>,
    ) -> Self {
        let ids: Vec<&str> = members.keys().map(String::as_str).collect();
        // Topics anyone subscribes to that exist and have partitions, by name.
        let wanted: BTreeSet<&str> = members
            .values()
            .flat_map(|s| s.topics.iter().map(String::as_str))
            .collect();
        let topics: Vec<(&str, &TopicMetadata)> = metadata
            .iter()
            .filter(|(name, meta)| wanted.contains(name.as_str()) && meta.partition_count() > 0)
            .map(|(name, meta)| (name.as_str(), meta))
            .collect();
        let index: BTreeMap<&str, usize> = topics
            .iter()
            .enumerate()
            .map(|(i, (n, _))| (*n, i))
            .collect();
        let subscribed: Vec<BTreeSet<usize>> = members
            .values()
            .map(|s| {
                s.topics
                    .iter()
                    .filter_map(|t| index.get(t.as_str()).copied())
                    .collect()
            })
            .collect();
        let mut eligible: Vec<Vec<usize>> = topics.iter().map(|_| Vec::new()).collect();
        for (m, subs) in subscribed.iter().enumerate() {
            for &t in subs {
                if let Some(list) = eligible.get_mut(t) {
                    list.push(m);
                }
            }
        }
        // Partition numbers are `i32`: a topic cannot have more.
        let max_partitions = usize::try_from(i32::MAX).unwrap_or(usize::MAX);
        let sizes: Vec<usize> = topics
            .iter()
            .map(|(_, meta)| meta.partition_count().min(max_partitions))
            .collect();
        let total = sizes.iter().fold(0usize, |a, &n| a.saturating_add(n));

        // Rack awareness, over every member and every partition to assign (Java's
        // `RackInfo`).
        let member_racks: Vec<Option<&str>> = members.values().map(|s| s.rack()).collect();
        let all_racks: Vec<Vec<BTreeSet<&str>>> = topics
            .iter()
            .zip(&sizes)
            .map(|((_, meta), &n)| {
                meta.replica_racks
                    .iter()
                    .take(n)
                    .map(|r| rack_set(r))
                    .collect()
            })
            .collect();
        let rack_aware = member_racks.iter().any(Option::is_some)
            && rack::applies(
                member_racks.iter().flatten().copied(),
                all_racks.iter().flatten().map(|s| s.iter().copied()),
            );
        let (racks, partition_racks) = if rack_aware {
            (member_racks, all_racks)
        } else {
            (
                ids.iter().map(|_| None).collect(),
                sizes
                    .iter()
                    .map(|&n| (0..n).map(|_| BTreeSet::new()).collect())
                    .collect(),
            )
        };

        let member_index: BTreeMap<&str, usize> =
            ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        let mut before: Vec<Vec<Option<usize>>> = sizes
            .iter()
            .map(|&n| (0..n).map(|_| None).collect())
            .collect();
        for (&(topic, p), claim) in claims {
            let (Some(&t), Some(owner)) = (index.get(topic), claim.owner) else {
                continue;
            };
            let Some(&m) = member_index.get(owner) else {
                continue;
            };
            let still_subscribed = subscribed.get(m).is_some_and(|s| s.contains(&t));
            let slot = usize::try_from(p)
                .ok()
                .and_then(|p| before.get_mut(t).and_then(|ps| ps.get_mut(p)));
            if let (true, Some(slot)) = (still_subscribed, slot) {
                *slot = Some(m);
            }
        }

        Self {
            owner: sizes
                .iter()
                .map(|&n| (0..n).map(|_| None).collect())
                .collect(),
            held: ids.iter().map(|_| BTreeMap::new()).collect(),
            off_rack_held: ids.iter().map(|_| BTreeMap::new()).collect(),
            count: ids.iter().map(|_| 0).collect(),
            topics: topics.iter().map(|(n, _)| *n).collect(),
            ids,
            racks,
            partition_racks,
            subscribed,
            eligible,
            before,
            total,
        }
    }

    fn identical_subscriptions(&self) -> bool {
        self.subscribed.windows(2).all(|w| w[0] == w[1])
    }

    /// Every partition, in topic then partition order.
    fn all_partitions(&self) -> impl Iterator<Item = Part> + '_ {
        self.owner
            .iter()
            .enumerate()
            .flat_map(|(t, ps)| (0..ps.len()).map(move |p| (t, p)))
    }

    fn owner_of(&self, (t, p): Part) -> Option<usize> {
        self.owner
            .get(t)
            .and_then(|ps| ps.get(p))
            .copied()
            .flatten()
    }

    fn before_of(&self, (t, p): Part) -> Option<usize> {
        self.before
            .get(t)
            .and_then(|ps| ps.get(p))
            .copied()
            .flatten()
    }

    fn count_of(&self, m: usize) -> usize {
        self.count.get(m).copied().unwrap_or(0)
    }

    /// Member `m` is on a rack holding a replica of the partition.
    fn on_rack(&self, m: usize, (t, p): Part) -> bool {
        match self.racks.get(m).copied().flatten() {
            None => false,
            Some(rack) => self
                .partition_racks
                .get(t)
                .and_then(|ps| ps.get(p))
                .is_some_and(|racks| racks.contains(rack)),
        }
    }

    /// Member `m` has a rack and no replica of the partition is on it.
    fn off_rack(&self, m: usize, part: Part) -> bool {
        self.racks.get(m).copied().flatten().is_some() && !self.on_rack(m, part)
    }

    /// The number of members on a rack holding a replica of the partition.
    fn members_on_rack(&self, part: Part) -> usize {
        (0..self.ids.len())
            .filter(|&m| self.on_rack(m, part))
            .count()
    }

    fn give(&mut self, m: usize, (t, p): Part) {
        let Some(slot) = self.owner.get_mut(t).and_then(|ps| ps.get_mut(p)) else {
            return;
        };
        if slot.is_some() {
            return;
        }
        *slot = Some(m);
        if let (Some(held), Some(count)) = (self.held.get_mut(m), self.count.get_mut(m)) {
            held.entry(t).or_default().insert(p);
            *count += 1;
        }
        if self.off_rack(m, (t, p)) {
            if let Some(off) = self.off_rack_held.get_mut(m) {
                off.entry(t).or_default().insert(p);
            }
        }
    }

    fn take_back(&mut self, (t, p): Part) {
        let Some(slot) = self.owner.get_mut(t).and_then(|ps| ps.get_mut(p)) else {
            return;
        };
        let Some(m) = slot.take() else { return };
        if let (Some(held), Some(count)) = (self.held.get_mut(m), self.count.get_mut(m)) {
            if let Some(ps) = held.get_mut(&t) {
                ps.remove(&p);
                if ps.is_empty() {
                    held.remove(&t);
                }
            }
            *count = count.saturating_sub(1);
        }
        if let Some(off) = self.off_rack_held.get_mut(m) {
            if let Some(ps) = off.get_mut(&t) {
                ps.remove(&p);
                if ps.is_empty() {
                    off.remove(&t);
                }
            }
        }
    }

    fn reassign(&mut self, part: Part, to: usize) {
        self.take_back(part);
        self.give(to, part);
    }

    /// All members subscribe to the same topics: quotas.
    fn constrained(&mut self) {
        let members = self.ids.len();
        if members == 0 {
            return;
        }
        let min = self.total / members;
        let mut extras = self.total % members;

        // 1. Keep owned partitions up to the quota: those on the member's rack
        //    first, then by partition and topic (as Java, which spreads what is
        //    kept over the topics).
        let mut owned: Vec<Vec<Part>> = self.ids.iter().map(|_| Vec::new()).collect();
        for part in self.all_partitions() {
            if let Some(list) = self.before_of(part).and_then(|m| owned.get_mut(m)) {
                list.push(part);
            }
        }
        for (m, list) in owned.iter_mut().enumerate() {
            list.sort_by_key(|&(t, p)| (self.off_rack(m, (t, p)), p, t));
        }
        let mut order: Vec<usize> = (0..members).collect();
        order.sort_by_key(|&m| (Reverse(owned.get(m).map_or(0, Vec::len)), m));
        for m in order {
            let list = owned.get(m).map_or(&[][..], Vec::as_slice);
            let quota = if list.len() > min && extras > 0 {
                extras -= 1;
                min + 1
            } else {
                min
            };
            for &part in list.iter().take(quota) {
                self.give(m, part);
            }
        }

        // 2. Deal the rest to the members with room, fewest partitions first. The
        //    room left (members under `min`, plus `extras` members at `min`) always
        //    equals the partitions left, so every partition finds a member.
        let mut left: Vec<Part> = self
            .all_partitions()
            .filter(|&part| self.owner_of(part).is_none())
            .collect();
        let has_room = |count: usize, extras: usize| count < min || (count == min && extras > 0);
        if self.racks.iter().any(Option::is_some) {
            left.sort_by_cached_key(|&part| self.members_on_rack(part));
            let mut unmatched = Vec::new();
            for part in left {
                let pick = (0..members)
                    .filter(|&m| has_room(self.count_of(m), extras) && self.on_rack(m, part))
                    .min_by_key(|&m| (self.count_of(m), m));
                match pick {
                    Some(m) => {
                        if self.count_of(m) == min {
                            extras = extras.saturating_sub(1);
                        }
                        self.give(m, part);
                    }
                    None => unmatched.push(part),
                }
            }
            unmatched.sort_unstable();
            left = unmatched;
        }
        for part in left {
            let pick = (0..members)
                .filter(|&m| has_room(self.count_of(m), extras))
                .min_by_key(|&m| (self.count_of(m), m));
            if let Some(m) = pick {
                if self.count_of(m) == min {
                    extras = extras.saturating_sub(1);
                }
                self.give(m, part);
            }
        }

        self.improve_racks(true);
    }

    /// Members subscribe to different topics: keep, deal, balance.
    fn general(&mut self) {
        // 1. Keep everything owned.
        let kept: Vec<(usize, Part)> = self
            .all_partitions()
            .filter_map(|part| self.before_of(part).map(|m| (m, part)))
            .collect();
        for (m, part) in kept {
            self.give(m, part);
        }

        // 2. Deal the rest, the partitions with the fewest candidates first.
        let mut left: Vec<Part> = self
            .all_partitions()
            .filter(|&part| self.owner_of(part).is_none())
            .collect();
        left.sort_by_key(|&(t, p)| (self.eligible.get(t).map_or(0, Vec::len), t, p));
        for part in left {
            let candidates = self.eligible.get(part.0).map_or(&[][..], Vec::as_slice);
            let pick = candidates
                .iter()
                .copied()
                .min_by_key(|&m| (self.count_of(m), !self.on_rack(m, part), m));
            if let Some(m) = pick {
                self.give(m, part);
            }
        }

        // 3. Balance (see the module docs for why this ends).
        let max_moves = (self.total.saturating_mul(self.total) / 2).saturating_add(1);
        for _ in 0..max_moves {
            let Some((part, to)) = self.balancing_move() else {
                break;
            };
            self.reassign(part, to);
        }

        self.improve_racks(false);
    }

    /// A partition that can move to a member subscribed to it with at least two
    /// partitions fewer than its holder: from the fullest holder to the emptiest
    /// candidate.
    fn balancing_move(&self) -> Option<(Part, usize)> {
        // Per topic, its two emptiest candidates (two: the emptiest may be the giver).
        let emptiest: Vec<[Option<(usize, usize)>; 2]> = self
            .eligible
            .iter()
            .map(|members| {
                let mut best = [None, None];
                for &m in members {
                    let key = Some((self.count_of(m), m));
                    if best[0].is_none() || key < best[0] {
                        best = [key, best[0]];
                    } else if best[1].is_none() || key < best[1] {
                        best[1] = key;
                    }
                }
                best
            })
            .collect();
        let mut order: Vec<usize> = (0..self.ids.len()).collect();
        order.sort_by_key(|&m| (Reverse(self.count_of(m)), m));
        for from in order {
            let have = self.count_of(from);
            if have < 2 {
                return None;
            }
            let Some(held) = self.held.get(from) else {
                continue;
            };
            // The emptiest member that could take one of `from`'s topics.
            let best = held
                .keys()
                .filter_map(|&t| {
                    let [first, second] = emptiest.get(t)?;
                    let (count, to) = match first {
                        Some((_, m)) if *m == from => (*second)?,
                        _ => (*first)?,
                    };
                    Some((count, to, t))
                })
                .min();
            let Some((to_count, to, t)) = best else {
                continue;
            };
            if to_count.saturating_add(2) > have {
                continue;
            }
            // Which of its partitions of `t`: one it did not own before, then one
            // that lands on the taker's rack, then one off its own rack.
            let part = held.get(&t)?.iter().map(|&p| (t, p)).min_by_key(|&part| {
                (
                    self.before_of(part) == Some(from),
                    !self.on_rack(to, part),
                    !self.off_rack(from, part),
                    part.1,
                )
            })?;
            return Some((part, to));
        }
        None
    }

    /// Moves and exchanges that put more partitions on their owner's rack without
    /// changing the balance (see the module docs). `constrained`: all members
    /// subscribe to everything, so a single move between members whose counts
    /// differ by one keeps the counts' balance.
    fn improve_racks(&mut self, constrained: bool) {
        if self.racks.iter().all(Option::is_none) {
            return;
        }
        // Each change puts one more partition on its owner's rack: at most `total`
        // changes, and a pass without one ends the loop.
        let max_passes = self.total.saturating_add(1);
        for _ in 0..max_passes {
            let mut changed = false;
            let parts: Vec<Part> = self.all_partitions().collect();
            for part in parts {
                let Some(from) = self.owner_of(part) else {
                    continue;
                };
                if self.on_rack(from, part) {
                    continue;
                }
                if let Some(change) = self.rack_change(part, from, constrained) {
                    match change {
                        RackChange::Move(to) => self.reassign(part, to),
                        RackChange::Swap(other, to) => {
                            self.reassign(part, to);
                            self.reassign(other, from);
                        }
                    }
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }

    /// A change that puts `part` (held by `from`, off its rack) on the rack of a
    /// member: a move (see [`improve_racks`](Self::improve_racks)), or an exchange
    /// with a partition of the same topic that the member holds off its own rack
    /// (so that partition loses nothing by going to `from`).
    fn rack_change(&self, part: Part, from: usize, constrained: bool) -> Option<RackChange> {
        let t = part.0;
        let mut takers = self
            .eligible
            .get(t)?
            .iter()
            .copied()
            .filter(|&m| m != from && self.on_rack(m, part));
        if constrained {
            let have = self.count_of(from);
            let to = takers
                .clone()
                .find(|&m| self.count_of(m).saturating_add(1) == have);
            if let Some(to) = to {
                return Some(RackChange::Move(to));
            }
        }
        takers.find_map(|to| {
            let q = self.off_rack_held.get(to)?.get(&t)?.first()?;
            Some(RackChange::Swap((t, *q), to))
        })
    }

    fn into_assignment(self) -> Assignment {
        let mut out: Assignment = self
            .ids
            .iter()
            .map(|id| (String::from(*id), Vec::new()))
            .collect();
        for (t, ps) in self.owner.iter().enumerate() {
            let Some(topic) = self.topics.get(t) else {
                continue;
            };
            for (p, owner) in ps.iter().enumerate() {
                let (Some(m), Ok(p)) = (owner, i32::try_from(p)) else {
                    continue;
                };
                if let Some(list) = self.ids.get(*m).and_then(|id| out.get_mut(*id)) {
                    list.push(TopicPartition::new(*topic, p));
                }
            }
        }
        sorted(out)
    }
}

/// A rack improvement.
enum RackChange {
    /// The partition moves to this member.
    Move(usize),
    /// The partition goes to the member, which gives this partition in exchange.
    Swap(Part, usize),
}
