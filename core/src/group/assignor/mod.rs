//! The classic group's client-side partition assignors, as plain functions.
//!
//! In a classic group the coordinator picks one member as the leader and hands it
//! every member's subscription; the leader computes who consumes which partition and
//! sends the result back in SyncGroup. These are the four assignors every Kafka
//! client ships, under their protocol names:
//!
//! | [`Assignor`] | name | rebalance protocol | module |
//! |---|---|---|---|
//! | [`Range`](Assignor::Range) | `range` | eager | [`range`] |
//! | [`RoundRobin`](Assignor::RoundRobin) | `roundrobin` | eager | [`roundrobin`] |
//! | [`Sticky`](Assignor::Sticky) | `sticky` | eager | [`sticky`] |
//! | [`CooperativeSticky`](Assignor::CooperativeSticky) | `cooperative-sticky` | cooperative (KIP-429) | [`cooperative`] |
//!
//! Range and the sticky pair are rack-aware (KIP-881, see [`rack`]); round robin is
//! not, as in Java.
//!
//! Inputs are the members by member id ([`Subscription`]: what JoinGroup carried) and
//! the metadata of the topics they subscribe to ([`TopicMetadata`]); the output is an
//! [`Assignment`]: every member id with its partitions, sorted. Every function here is
//! total: any input gives an assignment (members that subscribe to nothing get
//! nothing; topics missing from the metadata and owned partitions that no longer
//! exist are ignored), never a panic, in time polynomial in the input's size, and
//! allocations are proportional to the input (nothing is sized by a number read from
//! it). The result depends only on the contents of the inputs, not on the order of
//! the topics, owned partitions or racks inside a subscription.
//!
//! ```
//! use std::collections::BTreeMap;
//! use kasio_core::group::assignor::{Assignor, Subscription, TopicMetadata};
//! use kasio_core::consumer::TopicPartition;
//!
//! // RangeAssignor's javadoc example: two consumers, two topics of three partitions.
//! let topics = BTreeMap::from([
//!     ("t0".to_string(), TopicMetadata::without_racks(3)),
//!     ("t1".to_string(), TopicMetadata::without_racks(3)),
//! ]);
//! let members = BTreeMap::from([
//!     ("C0".to_string(), Subscription::new(["t0", "t1"])),
//!     ("C1".to_string(), Subscription::new(["t0", "t1"])),
//! ]);
//! let assignor = Assignor::from_name("range")?;
//! let assignment = assignor.assign(&members, &topics);
//! let tp = TopicPartition::new;
//! assert_eq!(assignment["C0"], [tp("t0", 0), tp("t0", 1), tp("t1", 0), tp("t1", 1)]);
//! assert_eq!(assignment["C1"], [tp("t0", 2), tp("t1", 2)]);
//! # Ok::<(), kasio_core::group::assignor::UnknownAssignor>(())
//! ```

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::vec::Vec;
use core::cmp::Ordering;
use core::fmt;
use core::str::FromStr;

pub use crate::consumer::TopicPartition;
use crate::protocol::messages::ConsumerProtocolSubscription;

pub mod cooperative;
pub mod rack;
pub mod range;
pub mod roundrobin;
pub mod sticky;
pub mod sticky_user_data;

/// The leader's result: every member id with the partitions it is to consume, each
/// list sorted (by topic, then partition). Members that get nothing are present with
/// an empty list.
pub type Assignment = BTreeMap<String, Vec<TopicPartition>>;

/// One member's subscription as the leader reads it from JoinGroup: the parts of a
/// `ConsumerProtocolSubscription` the assignors use, and the member's
/// `group.instance.id`. The member id is the key of the map the assignors take.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subscription {
    /// `group.instance.id`, for a static member. Range and round robin order static
    /// members first (by this id), so their partitions survive a restart that gives
    /// them a new member id.
    pub instance_id: Option<String>,
    /// The topics it subscribes to (duplicates and order do not matter).
    pub topics: Vec<String>,
    /// The partitions it owns now (subscription v1+; empty before, and for eager
    /// members, which revoke everything before they join).
    pub owned: Vec<TopicPartition>,
    /// The generation in which it got `owned` (subscription v2+); `None` when unknown,
    /// which compares as Java's `-1`.
    pub generation: Option<i32>,
    /// Its `client.rack` (subscription v3+). `Some("")` counts as no rack, as in Java.
    pub rack: Option<String>,
}

impl Subscription {
    /// A dynamic member subscribing to `topics`, owning nothing, no rack.
    pub fn new<S: Into<String>>(topics: impl IntoIterator<Item = S>) -> Self {
        Self {
            topics: topics.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// The subscription a member sent in JoinGroup, already decoded (with
    /// [`decode_versioned`](crate::protocol::consumer_protocol::decode_versioned),
    /// which fills the fields its version lacks with their defaults), with the
    /// member's `group.instance.id` from the JoinGroup response.
    ///
    /// Reads the generation and the rack from their fields. For the eager
    /// `sticky` assignor, [`Subscription::with_sticky_user_data`] then takes what
    /// the member owned from its user data. (The generation cooperative-sticky
    /// members put in their user data before subscription v2 is not read: a
    /// member that old counts as generation -1.)
    pub fn from_protocol(sub: &ConsumerProtocolSubscription, instance_id: Option<&str>) -> Self {
        Self {
            instance_id: instance_id.map(String::from),
            topics: sub.topics.clone(),
            owned: sub
                .owned_partitions
                .iter()
                .flat_map(|t| {
                    t.partitions
                        .iter()
                        .map(|&p| TopicPartition::new(t.topic.clone(), p))
                })
                .collect(),
            generation: (sub.generation_id != -1).then_some(sub.generation_id),
            rack: sub.rack_id.clone(),
        }
    }

    /// What the eager `sticky` assignor reads as owned: the previous assignment
    /// and generation in `user_data` (see [`sticky_user_data`]), whatever the
    /// subscription's own fields say, as Java's `StickyAssignor` does. No or
    /// undecodable user data: the member owns nothing.
    pub fn with_sticky_user_data(mut self, user_data: Option<&[u8]>) -> Self {
        let data = user_data.and_then(sticky_user_data::decode);
        self.owned = data
            .as_ref()
            .map(|d| d.partitions.clone())
            .unwrap_or_default();
        self.generation = data.and_then(|d| d.generation);
        self
    }

    /// The rack, if it names one.
    pub(crate) fn rack(&self) -> Option<&str> {
        self.rack.as_deref().filter(|r| !r.is_empty())
    }

    /// The generation, Java's `-1` when unknown.
    pub(crate) fn generation_or_default(&self) -> i32 {
        self.generation.unwrap_or(-1)
    }
}

/// What the leader knows of one topic from metadata: its partitions, and for each
/// the racks of its replicas (KIP-881). Partition `i` is `replica_racks[i]`: Kafka
/// numbers a topic's partitions `0..n`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicMetadata {
    /// For each partition, the racks of its replicas (any order; empty when the
    /// brokers have no `broker.rack`, or the replicas are unknown).
    pub replica_racks: Vec<Vec<String>>,
}

impl TopicMetadata {
    /// A topic of `partitions` partitions with no rack information. Allocates one
    /// (empty) entry per partition: pass a count from the leader's own metadata.
    pub fn without_racks(partitions: usize) -> Self {
        Self {
            replica_racks: (0..partitions).map(|_| Vec::new()).collect(),
        }
    }

    /// A topic whose partition `i` has replicas on the racks of the `i`-th item.
    pub fn with_racks<R, S>(partitions: impl IntoIterator<Item = R>) -> Self
    where
        R: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            replica_racks: partitions
                .into_iter()
                .map(|racks| racks.into_iter().map(Into::into).collect())
                .collect(),
        }
    }

    /// The number of partitions.
    pub fn partition_count(&self) -> usize {
        self.replica_racks.len()
    }

    /// The partition numbers, `0..n` (stopping at `i32::MAX`, which no real topic
    /// reaches).
    pub(crate) fn partitions(&self) -> impl Iterator<Item = i32> + '_ {
        (0..self.replica_racks.len()).map_while(|i| i32::try_from(i).ok())
    }

    /// Whether partition `p` exists.
    pub(crate) fn has(&self, p: i32) -> bool {
        usize::try_from(p).is_ok_and(|p| p < self.replica_racks.len())
    }
}

/// How members give up partitions in a rebalance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RebalanceProtocol {
    /// Every member revokes all its partitions before it joins; the assignment
    /// starts from nothing.
    Eager,
    /// KIP-429: members keep their partitions through the rebalance and revoke only
    /// those that move; a moving partition reaches its new owner in a follow-up
    /// rebalance, once the old owner has revoked it.
    Cooperative,
}

/// One of the classic group's assignors, by its protocol name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Assignor {
    /// `range`: per topic, consecutive ranges of partitions to the members in order.
    Range,
    /// `roundrobin`: all partitions dealt one by one around the members.
    RoundRobin,
    /// `sticky`: balanced, and keeps what members had where balance allows (eager).
    Sticky,
    /// `cooperative-sticky`: the sticky assignment under the cooperative protocol.
    CooperativeSticky,
}

/// The protocol names and the Java class names [`Assignor::from_name`] accepts.
const NAMES: [(Assignor, &str, &str); 4] = [
    (
        Assignor::Range,
        "range",
        "org.apache.kafka.clients.consumer.RangeAssignor",
    ),
    (
        Assignor::RoundRobin,
        "roundrobin",
        "org.apache.kafka.clients.consumer.RoundRobinAssignor",
    ),
    (
        Assignor::Sticky,
        "sticky",
        "org.apache.kafka.clients.consumer.StickyAssignor",
    ),
    (
        Assignor::CooperativeSticky,
        "cooperative-sticky",
        "org.apache.kafka.clients.consumer.CooperativeStickyAssignor",
    ),
];

impl Assignor {
    /// Every assignor.
    pub const ALL: [Assignor; 4] = [
        Assignor::Range,
        Assignor::RoundRobin,
        Assignor::Sticky,
        Assignor::CooperativeSticky,
    ];

    /// The protocol name, as sent in JoinGroup and as Java's `name()` says.
    pub const fn name(self) -> &'static str {
        match self {
            Assignor::Range => "range",
            Assignor::RoundRobin => "roundrobin",
            Assignor::Sticky => "sticky",
            Assignor::CooperativeSticky => "cooperative-sticky",
        }
    }

    /// The assignor named `name`: a protocol name (`range`, `roundrobin`, `sticky`,
    /// `cooperative-sticky`) or the Java class name of the same assignor
    /// (`org.apache.kafka.clients.consumer.RangeAssignor`, …). Exact spelling: this
    /// reads protocol names off the wire. The configuration property
    /// (`partition.assignment.strategy`, [`AssignmentStrategy`]) is the lenient
    /// reader for people; it converts with `From`.
    ///
    /// [`AssignmentStrategy`]: crate::config::AssignmentStrategy
    pub fn from_name(name: &str) -> Result<Self, UnknownAssignor> {
        NAMES
            .iter()
            .find(|(_, short, class)| name == *short || name == *class)
            .map(|(a, _, _)| *a)
            .ok_or_else(|| UnknownAssignor {
                name: String::from(name),
            })
    }

    /// The rebalance protocol a group using this assignor follows.
    pub const fn rebalance_protocol(self) -> RebalanceProtocol {
        match self {
            Assignor::CooperativeSticky => RebalanceProtocol::Cooperative,
            _ => RebalanceProtocol::Eager,
        }
    }

    /// The rebalance protocols this assignor works under, preferred first. As in
    /// Java, cooperative-sticky also works eagerly (the upgrade path from eager
    /// assignors), the others only eagerly.
    pub const fn supported_protocols(self) -> &'static [RebalanceProtocol] {
        match self {
            Assignor::CooperativeSticky => {
                &[RebalanceProtocol::Cooperative, RebalanceProtocol::Eager]
            }
            _ => &[RebalanceProtocol::Eager],
        }
    }

    /// Assigns the partitions of `topics` to `members` (keyed by member id).
    ///
    /// Every member appears in the result. Only partitions of topics a member
    /// subscribes to and that exist in `topics` are assigned to it. The eager
    /// assignors assign every such partition; cooperative-sticky holds back the ones
    /// that change owner until the follow-up rebalance (see [`cooperative`]).
    pub fn assign(
        self,
        members: &BTreeMap<String, Subscription>,
        topics: &BTreeMap<String, TopicMetadata>,
    ) -> Assignment {
        match self {
            Assignor::Range => range::assign(members, topics),
            Assignor::RoundRobin => roundrobin::assign(members, topics),
            Assignor::Sticky => sticky::assign(members, topics),
            Assignor::CooperativeSticky => cooperative::assign(members, topics),
        }
    }
}

impl fmt::Display for Assignor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Assignor {
    type Err = UnknownAssignor;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_name(s)
    }
}

impl From<crate::config::AssignmentStrategy> for Assignor {
    fn from(s: crate::config::AssignmentStrategy) -> Self {
        use crate::config::AssignmentStrategy as S;
        match s {
            S::Range => Assignor::Range,
            S::RoundRobin => Assignor::RoundRobin,
            S::Sticky => Assignor::Sticky,
            S::CooperativeSticky => Assignor::CooperativeSticky,
        }
    }
}

impl From<Assignor> for crate::config::AssignmentStrategy {
    fn from(a: Assignor) -> Self {
        use crate::config::AssignmentStrategy as S;
        match a {
            Assignor::Range => S::Range,
            Assignor::RoundRobin => S::RoundRobin,
            Assignor::Sticky => S::Sticky,
            Assignor::CooperativeSticky => S::CooperativeSticky,
        }
    }
}

/// A name that is not one of the assignors kasio has.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct UnknownAssignor {
    /// The name asked for.
    pub name: String,
}

impl fmt::Display for UnknownAssignor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown assignor {:?}: expected one of ", self.name)?;
        for (i, (_, short, _)) in NAMES.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{short}")?;
        }
        f.write_str(
            " (or the Java class name, e.g. org.apache.kafka.clients.consumer.RangeAssignor)",
        )
    }
}

#[cfg(feature = "std")]
impl std::error::Error for UnknownAssignor {}

/// The protocol a classic group agrees on, as Kafka's coordinator picks it
/// (`ClassicGroup.selectProtocol`): among the protocols every member supports, each
/// member votes for the first of its own list (its preference order), and the one
/// with the most votes wins. `None` for an empty group or when no protocol is common
/// to all members (the coordinator refuses such a member with
/// INCONSISTENT_GROUP_PROTOCOL before it gets here).
///
/// Ties: Kafka takes the first protocol with the most votes in the iteration order
/// of a `HashMap` of protocol names — deterministic for a given JVM, but by hash
/// bucket, with no meaning. Here a tie goes to the protocol with the smaller sum of
/// the members' preference positions (the one the group as a whole ranks higher),
/// then to the smaller name, so the result depends only on the members' lists, not
/// on their order. A member listing a protocol twice counts it once.
///
/// ```
/// use kasio_core::group::assignor::select_protocol;
/// let members = [
///     vec!["cooperative-sticky", "range"],
///     vec!["range", "cooperative-sticky"],
///     vec!["cooperative-sticky", "range", "roundrobin"],
/// ];
/// let chosen = select_protocol(members.iter().map(|m| m.iter().copied()));
/// assert_eq!(chosen, Some("cooperative-sticky"));
/// ```
pub fn select_protocol<'a, I, P>(members: I) -> Option<&'a str>
where
    I: IntoIterator<Item = P>,
    P: IntoIterator<Item = &'a str>,
{
    let mut lists: Vec<Vec<&'a str>> = Vec::new();
    for member in members {
        let mut list: Vec<&'a str> = Vec::new();
        for name in member {
            if !list.contains(&name) {
                list.push(name);
            }
        }
        lists.push(list);
    }
    // How many members support each protocol, and the sum of its positions.
    let mut support: BTreeMap<&'a str, (usize, usize)> = BTreeMap::new();
    for list in &lists {
        for (rank, name) in list.iter().enumerate() {
            let e = support.entry(name).or_insert((0, 0));
            e.0 += 1;
            e.1 = e.1.saturating_add(rank);
        }
    }
    let candidates: BTreeSet<&'a str> = support
        .iter()
        .filter(|(_, (n, _))| *n == lists.len())
        .map(|(name, _)| *name)
        .collect();
    let mut votes: BTreeMap<&'a str, usize> = BTreeMap::new();
    for list in &lists {
        if let Some(name) = list.iter().find(|n| candidates.contains(*n)) {
            *votes.entry(name).or_insert(0) += 1;
        }
    }
    votes
        .into_iter()
        .min_by(|(a, va), (b, vb)| {
            let rank = |n: &str| support.get(n).map_or(0, |s| s.1);
            vb.cmp(va)
                .then_with(|| rank(a).cmp(&rank(b)))
                .then_with(|| a.cmp(b))
        })
        .map(|(name, _)| name)
}

/// Why an assignment is not valid for its members and topics ([`validate`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum InvalidAssignment {
    /// A member of the group has no entry.
    MissingMember(String),
    /// An entry for a member id that is not in the group.
    UnknownMember(String),
    /// A partition given twice (to one member or to two).
    Duplicate(TopicPartition),
    /// A partition that does not exist in the topic metadata.
    NoSuchPartition(TopicPartition),
    /// A partition given to a member that does not subscribe to its topic.
    NotSubscribed {
        /// The member.
        member: String,
        /// The partition.
        partition: TopicPartition,
    },
}

impl fmt::Display for InvalidAssignment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingMember(m) => write!(f, "member {m:?} has no assignment"),
            Self::UnknownMember(m) => write!(f, "assignment for {m:?}, not a member"),
            Self::Duplicate(tp) => write!(f, "{tp} assigned twice"),
            Self::NoSuchPartition(tp) => write!(f, "{tp} does not exist"),
            Self::NotSubscribed { member, partition } => {
                write!(
                    f,
                    "{partition} assigned to {member:?}, not subscribed to it"
                )
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for InvalidAssignment {}

/// Checks that `assignment` is a valid assignment of `topics` to `members`: one
/// entry per member, each partition at most once, only existing partitions of
/// topics their member subscribes to. (Whether every partition is assigned is
/// [`unassigned`]'s question: cooperative-sticky leaves some out on purpose.) The
/// assignors here always pass; a leader may check before it sends SyncGroup.
pub fn validate(
    members: &BTreeMap<String, Subscription>,
    topics: &BTreeMap<String, TopicMetadata>,
    assignment: &Assignment,
) -> Result<(), InvalidAssignment> {
    if let Some(m) = members.keys().find(|m| !assignment.contains_key(*m)) {
        return Err(InvalidAssignment::MissingMember(m.clone()));
    }
    let mut seen: BTreeSet<&TopicPartition> = BTreeSet::new();
    for (member, list) in assignment {
        let Some(sub) = members.get(member) else {
            return Err(InvalidAssignment::UnknownMember(member.clone()));
        };
        for tp in list {
            if !seen.insert(tp) {
                return Err(InvalidAssignment::Duplicate(tp.clone()));
            }
            if !topics.get(&tp.topic).is_some_and(|t| t.has(tp.partition)) {
                return Err(InvalidAssignment::NoSuchPartition(tp.clone()));
            }
            if !sub.topics.contains(&tp.topic) {
                return Err(InvalidAssignment::NotSubscribed {
                    member: member.clone(),
                    partition: tp.clone(),
                });
            }
        }
    }
    Ok(())
}

/// The partitions that some member subscribes to and `assignment` gives to nobody,
/// sorted. Empty after any eager assignor; after cooperative-sticky, the partitions
/// withheld until their owners have revoked them.
pub fn unassigned(
    members: &BTreeMap<String, Subscription>,
    topics: &BTreeMap<String, TopicMetadata>,
    assignment: &Assignment,
) -> Vec<TopicPartition> {
    let given: BTreeSet<&TopicPartition> = assignment.values().flatten().collect();
    let wanted: BTreeSet<&str> = members
        .values()
        .flat_map(|s| s.topics.iter().map(String::as_str))
        .collect();
    let mut out = Vec::new();
    for (topic, meta) in topics.iter().filter(|(t, _)| wanted.contains(t.as_str())) {
        for p in meta.partitions() {
            let tp = TopicPartition::new(topic.as_str(), p);
            if !given.contains(&tp) {
                out.push(tp);
            }
        }
    }
    out
}

/// Java's `String.compareTo`: by UTF-16 code units. It differs from Rust's `str`
/// order (by UTF-8 bytes, that is by code points) only when one string has a
/// character above U+FFFF where the other has one in U+E000..=U+FFFF; range and
/// round robin sort with it so that they agree with Java on every name.
pub(crate) fn java_cmp(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// The member order of Java's range and round-robin assignors
/// (`AbstractPartitionAssignor.MemberInfo`): static members first, by
/// `group.instance.id`, then dynamic members by member id. Two static members with
/// the same instance id (which a coordinator never lets happen) fall back to their
/// member ids, where Java keeps the order of its input.
pub(crate) fn member_cmp(a: (&str, &Subscription), b: (&str, &Subscription)) -> Ordering {
    match (&a.1.instance_id, &b.1.instance_id) {
        (Some(x), Some(y)) => java_cmp(x, y).then_with(|| java_cmp(a.0, b.0)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => java_cmp(a.0, b.0),
    }
}

/// One existing partition's claims: who says it owns it, and who validly does.
#[derive(Debug, Clone, Default)]
pub(crate) struct Claim<'a> {
    /// Every member whose `owned` lists it (each once, in member id order).
    pub claimers: Vec<&'a str>,
    /// The claimer with the highest generation, when exactly one has it. Two claims
    /// at the highest generation cancel out: nobody keeps the partition (Java's
    /// sticky assignors do the same; the coordinator never produces this, a zombie
    /// or a bug does).
    pub owner: Option<&'a str>,
}

/// The claims on every existing partition of `topics`, from the members' `owned`
/// lists, whether or not the claimer still subscribes to the topic (a claim of the
/// highest generation on a topic its claimer dropped still beats older claims: that
/// member may still be consuming it, so nobody else keeps it without a revoke).
pub(crate) fn claims<'a>(
    members: &'a BTreeMap<String, Subscription>,
    topics: &'a BTreeMap<String, TopicMetadata>,
) -> BTreeMap<(&'a str, i32), Claim<'a>> {
    let mut out: BTreeMap<(&'a str, i32), Claim<'a>> = BTreeMap::new();
    for (id, sub) in members {
        for tp in &sub.owned {
            let Some((topic, meta)) = topics.get_key_value(&tp.topic) else {
                continue;
            };
            if !meta.has(tp.partition) {
                continue;
            }
            let claim = out.entry((topic.as_str(), tp.partition)).or_default();
            if claim.claimers.last() != Some(&id.as_str()) {
                claim.claimers.push(id);
            }
        }
    }
    for claim in out.values_mut() {
        let generation = |id: &str| members.get(id).map_or(-1, |s| s.generation_or_default());
        let best = claim.claimers.iter().map(|id| generation(id)).max();
        let mut at_best = claim
            .claimers
            .iter()
            .filter(|id| Some(generation(id)) == best);
        claim.owner = match (at_best.next(), at_best.next()) {
            (Some(only), None) => Some(only),
            _ => None,
        };
    }
    out
}

/// An assignment with an empty list for every member.
pub(crate) fn empty_assignment(members: &BTreeMap<String, Subscription>) -> Assignment {
    members.keys().map(|id| (id.clone(), Vec::new())).collect()
}

/// Sorts every member's list.
pub(crate) fn sorted(mut assignment: Assignment) -> Assignment {
    for list in assignment.values_mut() {
        list.sort();
        list.dedup();
    }
    assignment
}

#[cfg(test)]
mod tests;
