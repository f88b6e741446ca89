//! The classic group's assignors on arbitrary groups: members (static or not, with
//! racks, any topics, any owned partitions — stale, conflicting, negative, of topics
//! that do not exist — any generation) and topics (any partition count up to a
//! bound, any replica racks), with names drawn from a small pool that includes
//! strings Java orders differently, and the coordinator's protocol vote on arbitrary
//! preference lists.
//!
//! Oracle: no panic; every assignment valid (`validate`); the eager assignors
//! assign everything; the result does not depend on the order of topics, owned
//! partitions and racks; sticky: balanced as Java's `isBalanced` defines it (counts
//! within one with identical subscriptions), and feeding the result back changes
//! nothing; cooperative-sticky: never hands a partition to a member while another
//! still owns it, and settles (no partition withheld) within 8 rounds; the chosen
//! protocol is one every member supports.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};

use arbitrary::{Result, Unstructured};
use kasio_core::consumer::TopicPartition;
use kasio_core::group::assignor::{
    select_protocol, unassigned, validate, Assignment, Assignor, Subscription, TopicMetadata,
};
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 10] = [
    "t0",
    "t1",
    "t2",
    "a",
    "",
    "ä",
    "\u{FFFF}",
    "\u{10000}",
    "t0 ",
    "T0",
];
const RACKS: [&str; 5] = ["a", "b", "c", "", "z"];
const MAX_TOPICS: usize = 6;
const MAX_PARTITIONS: usize = 48;
const MAX_MEMBERS: usize = 24;
const MAX_OWNED: usize = 48;

fn name(u: &mut Unstructured<'_>) -> Result<String> {
    Ok(u.choose(&NAMES)?.to_string())
}

fn group(
    u: &mut Unstructured<'_>,
) -> Result<(
    BTreeMap<String, Subscription>,
    BTreeMap<String, TopicMetadata>,
)> {
    let mut topics = BTreeMap::new();
    for _ in 0..u.int_in_range(0..=MAX_TOPICS)? {
        let n = u.int_in_range(0..=MAX_PARTITIONS)?;
        let racks = u.arbitrary::<bool>()?;
        let mut partitions = Vec::new();
        for _ in 0..n {
            let mut replicas = Vec::new();
            if racks {
                for _ in 0..u.int_in_range(0..=3)? {
                    replicas.push(u.choose(&RACKS)?.to_string());
                }
            }
            partitions.push(replicas);
        }
        topics.insert(
            name(u)?,
            TopicMetadata {
                replica_racks: partitions,
            },
        );
    }
    let identical = u.arbitrary::<bool>()?;
    let mut common = Vec::new();
    for _ in 0..u.int_in_range(0..=4)? {
        common.push(name(u)?);
    }
    let mut members = BTreeMap::new();
    for _ in 0..u.int_in_range(0..=MAX_MEMBERS)? {
        let id = if u.arbitrary::<bool>()? {
            name(u)?
        } else {
            format!("m{}", u.int_in_range(0..=99u8)?)
        };
        let mut subscribed = common.clone();
        if !identical {
            subscribed.clear();
            for _ in 0..u.int_in_range(0..=4)? {
                subscribed.push(name(u)?);
            }
        }
        let mut owned = Vec::new();
        for _ in 0..u.int_in_range(0..=MAX_OWNED)? {
            let p = match u.int_in_range(0..=9u8)? {
                0 => u.arbitrary::<i32>()?,
                _ => i32::from(u.int_in_range(0..=(MAX_PARTITIONS as u8))?),
            };
            owned.push(TopicPartition::new(name(u)?, p));
        }
        let sub = Subscription {
            instance_id: if u.arbitrary::<bool>()? {
                Some(name(u)?)
            } else {
                None
            },
            topics: subscribed,
            owned,
            generation: if u.arbitrary::<bool>()? {
                Some(i32::from(u.int_in_range(-2..=4i8)?))
            } else {
                None
            },
            rack: if u.arbitrary::<bool>()? {
                Some(u.choose(&RACKS)?.to_string())
            } else {
                None
            },
        };
        members.insert(id, sub);
    }
    Ok((members, topics))
}

fn reversed(
    members: &BTreeMap<String, Subscription>,
    topics: &BTreeMap<String, TopicMetadata>,
) -> (
    BTreeMap<String, Subscription>,
    BTreeMap<String, TopicMetadata>,
) {
    let mut m = members.clone();
    for s in m.values_mut() {
        s.topics.reverse();
        s.owned.reverse();
    }
    let mut t = topics.clone();
    for meta in t.values_mut() {
        for racks in &mut meta.replica_racks {
            racks.reverse();
        }
    }
    (m, t)
}

fn owning(
    members: &BTreeMap<String, Subscription>,
    a: &Assignment,
    generation: i32,
) -> BTreeMap<String, Subscription> {
    members
        .iter()
        .map(|(id, s)| {
            let sub = Subscription {
                owned: a[id].clone(),
                generation: Some(generation),
                ..s.clone()
            };
            (id.clone(), sub)
        })
        .collect()
}

fn check_balanced(members: &BTreeMap<String, Subscription>, a: &Assignment) {
    for (from, list) in a {
        for tp in list {
            for (to, sub) in members {
                assert!(
                    to == from
                        || !sub.topics.contains(&tp.topic)
                        || a[from].len() <= a[to].len() + 1,
                    "sticky: {tp} could move from {from:?} to {to:?}: {a:?}"
                );
            }
        }
    }
}

fn check_group(members: &BTreeMap<String, Subscription>, topics: &BTreeMap<String, TopicMetadata>) {
    let (rm, rt) = reversed(members, topics);
    for assignor in Assignor::ALL {
        let out = assignor.assign(members, topics);
        if let Err(e) = validate(members, topics, &out) {
            panic!("{assignor}: {e}: {out:?}");
        }
        if assignor != Assignor::CooperativeSticky {
            let left = unassigned(members, topics, &out);
            assert!(left.is_empty(), "{assignor} left {left:?}");
        }
        assert_eq!(
            out,
            assignor.assign(&rm, &rt),
            "{assignor}: input order matters"
        );
    }

    let generation = members
        .values()
        .filter_map(|s| s.generation)
        .max()
        .unwrap_or(0)
        .max(0);
    let sticky = Assignor::Sticky.assign(members, topics);
    check_balanced(members, &sticky);
    let again = Assignor::Sticky.assign(&owning(members, &sticky, generation + 1), topics);
    assert_eq!(
        sticky, again,
        "sticky: feeding the result back moved partitions"
    );

    let mut current = members.clone();
    let mut g = generation;
    for round in 0.. {
        assert!(round < 8, "cooperative-sticky did not settle in 8 rounds");
        let out = Assignor::CooperativeSticky.assign(&current, topics);
        for (id, list) in &out {
            for tp in list.iter().filter(|tp| !current[id].owned.contains(tp)) {
                let other = current
                    .iter()
                    .find(|(o, s)| *o != id && s.owned.contains(tp));
                assert!(
                    other.is_none(),
                    "{tp} given to {id:?} while {other:?} owns it"
                );
            }
        }
        if unassigned(&current, topics, &out).is_empty() {
            check_balanced(&current, &out);
            break;
        }
        g = g.saturating_add(1);
        current = owning(&current, &out, g);
    }
}

fn check_vote(u: &mut Unstructured<'_>) -> Result<()> {
    let mut lists: Vec<Vec<&str>> = Vec::new();
    for _ in 0..u.int_in_range(0..=8)? {
        let mut list = Vec::new();
        for _ in 0..u.int_in_range(0..=5)? {
            list.push(*u.choose(&NAMES)?);
        }
        lists.push(list);
    }
    if let Some(chosen) = select_protocol(lists.iter().map(|l| l.iter().copied())) {
        assert!(
            lists.iter().all(|l| l.contains(&chosen)),
            "{chosen:?} not supported by all: {lists:?}"
        );
    } else {
        let common: BTreeSet<&str> = NAMES
            .iter()
            .copied()
            .filter(|n| !lists.is_empty() && lists.iter().all(|l| l.contains(n)))
            .collect();
        assert!(common.is_empty(), "no protocol chosen among {common:?}");
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    if let Ok((members, topics)) = group(&mut u) {
        check_group(&members, &topics);
    }
    let _ = check_vote(&mut u);
});
