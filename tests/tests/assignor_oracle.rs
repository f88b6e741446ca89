//! kasio-core's assignors against the simulator's own, an independent
//! implementation written for the coordinator tests (`GroupMember::assign` in
//! `kasio_sim::sim::group_member`: one topic, dynamic members, range, round robin
//! and cooperative-sticky).
//!
//! The simulator's leader is reached through its public API: a scripted
//! `GroupMember` finds its coordinator, is made the leader of a JoinGroup whose
//! member list (member ids in order, as the simulated coordinator sends them) and
//! subscriptions come from a seeded generator, and its SyncGroup request carries the
//! assignment it computed.
//!
//! - range and roundrobin: both must give exactly the same assignment;
//! - cooperative-sticky (the two differ in their steps, not their goals): both must
//!   give valid assignments that hand nothing to a member while another still owns
//!   it, settle after one follow-up rebalance into a complete assignment whose counts
//!   differ by at most one, and stay put when fed back; and kasio must keep at least
//!   as many owned partitions in place as the simulator.
//!
//! `ORACLE_SEEDS=<n>` runs more seeds (default 300).

use std::collections::{BTreeMap, BTreeSet};

use bytes::{Bytes, BytesMut};
use kasio_core::codec::{RequestHeader, ResponseHeader};
use kasio_core::consumer::TopicPartition;
use kasio_core::group::assignor::{self, Assignment, Subscription, TopicMetadata};
use kasio_core::protocol::consumer_protocol::{decode_versioned, encode_versioned};
use kasio_core::protocol::messages::consumer_protocol_subscription::TopicPartition as Owned;
use kasio_core::protocol::messages::join_group_response::JoinGroupResponseMember;
use kasio_core::protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, FindCoordinatorResponse,
    JoinGroupResponse, SyncGroupRequest,
};
use kasio_core::protocol::{ApiKey, Message};
use kasio_core::rng::Rng;
use kasio_core::time::{Duration, Instant};
use kasio_sim::sim::group_member::{Assignor as SimAssignor, GroupMember, MemberConfig, Versions};

const TOPIC: &str = "t";

/// One member as the leader sees it: id, owned partitions, generation.
#[derive(Debug, Clone)]
struct Joined {
    id: String,
    owned: Vec<i32>,
    generation: i32,
}

fn versions() -> Versions {
    Versions {
        find: 1,
        join: 5,
        sync: 3,
        heartbeat: 3,
        leave: 3,
        commit: 7,
        fetch: 5,
        subscription: 2,
    }
}

fn respond<M: Message>(api: ApiKey, version: i16, corr: i32, msg: &M) -> Bytes {
    let mut buf = BytesMut::new();
    ResponseHeader {
        correlation_id: corr,
    }
    .encode(api.response_header_version(version), &mut buf);
    msg.encode(version, &mut buf).expect("response encodes");
    buf.freeze()
}

/// The simulator's leader's assignment of `partitions` partitions of [`TOPIC`].
fn sim_assign(
    kind: SimAssignor,
    partitions: i32,
    members: &[Joined],
) -> BTreeMap<String, Vec<i32>> {
    let cfg = MemberConfig {
        name: "leader".into(),
        instance_id: None,
        assignor: kind,
        session: Duration::from_secs(10),
        rebalance: Duration::from_secs(30),
        heartbeat: Duration::from_secs(3),
        commit_every: Duration::from_secs(5),
        versions: versions(),
        skip_revoke_round: false,
    };
    let mut leader = GroupMember::new(cfg, "g", TOPIC, partitions, 1);
    let mut rng = Rng::new(1);
    let now = Instant::ZERO;

    leader.poll(now, &mut rng).expect("FindCoordinator");
    let (api, v, corr) = leader.in_flight().expect("in flight");
    assert_eq!(api, ApiKey::FindCoordinator);
    let found = FindCoordinatorResponse {
        node_id: 1,
        host: "b1".into(),
        port: 9092,
        ..Default::default()
    };
    leader
        .on_response(now, &respond(api, v, corr, &found))
        .unwrap();

    leader.poll(now, &mut rng).expect("JoinGroup");
    let (api, v, corr) = leader.in_flight().expect("in flight");
    assert_eq!(api, ApiKey::JoinGroup);
    let leader_id = members
        .first()
        .map_or("leader".to_string(), |m| m.id.clone());
    let joined = JoinGroupResponse {
        generation_id: members.iter().map(|m| m.generation).max().unwrap_or(0) + 1,
        protocol_type: Some("consumer".into()),
        protocol_name: Some(kind.name().into()),
        leader: leader_id.clone(),
        member_id: leader_id,
        members: members
            .iter()
            .map(|m| JoinGroupResponseMember {
                member_id: m.id.clone(),
                group_instance_id: None,
                metadata: subscription_bytes(m),
            })
            .collect(),
        ..Default::default()
    };
    leader
        .on_response(now, &respond(api, v, corr, &joined))
        .unwrap();

    let sync = leader.poll(now, &mut rng).expect("SyncGroup");
    let (api, v, _) = leader.in_flight().expect("in flight");
    assert_eq!(api, ApiKey::SyncGroup);
    let frame = sync.frame.slice(4..);
    let (_, body) = RequestHeader::decode(api.request_header_version(v), &frame).unwrap();
    let req = SyncGroupRequest::decode(v, &body).unwrap();
    req.assignments
        .iter()
        .map(|a| {
            let (assignment, _) =
                decode_versioned::<ConsumerProtocolAssignment>(&a.assignment).unwrap();
            let ps = assignment
                .assigned_partitions
                .iter()
                .filter(|t| t.topic == TOPIC)
                .flat_map(|t| t.partitions.iter().copied())
                .collect::<BTreeSet<i32>>();
            (a.member_id.clone(), ps.into_iter().collect())
        })
        .collect()
}

fn subscription_bytes(m: &Joined) -> Bytes {
    let sub = ConsumerProtocolSubscription {
        topics: vec![TOPIC.into()],
        user_data: None,
        owned_partitions: if m.owned.is_empty() {
            Vec::new()
        } else {
            vec![Owned {
                topic: TOPIC.into(),
                partitions: m.owned.clone(),
            }]
        },
        generation_id: m.generation,
        rack_id: None,
    };
    encode_versioned(&sub, versions().subscription).unwrap()
}

/// The same group for kasio: members by id, one topic.
fn kasio_input(
    partitions: i32,
    members: &[Joined],
) -> (
    BTreeMap<String, Subscription>,
    BTreeMap<String, TopicMetadata>,
) {
    let topics = BTreeMap::from([(
        TOPIC.to_string(),
        TopicMetadata::without_racks(partitions as usize),
    )]);
    let subs = members
        .iter()
        .map(|m| {
            let sub = Subscription {
                owned: m
                    .owned
                    .iter()
                    .map(|&p| TopicPartition::new(TOPIC, p))
                    .collect(),
                generation: (m.generation != -1).then_some(m.generation),
                ..Subscription::new([TOPIC])
            };
            (m.id.clone(), sub)
        })
        .collect();
    (subs, topics)
}

fn kasio_assign(
    kind: assignor::Assignor,
    partitions: i32,
    members: &[Joined],
) -> BTreeMap<String, Vec<i32>> {
    let (subs, topics) = kasio_input(partitions, members);
    let out: Assignment = kind.assign(&subs, &topics);
    assignor::validate(&subs, &topics, &out).expect("kasio's assignment is valid");
    out.into_iter()
        .map(|(id, tps)| (id, tps.iter().map(|tp| tp.partition).collect()))
        .collect()
}

/// A random group: 1..=8 members with ASCII ids, in id order as the simulated
/// coordinator lists them; with `owned`, a previous assignment (each partition
/// owned by at most one member, some members new with no generation).
fn random_group(rng: &mut Rng, owned: bool) -> (i32, Vec<Joined>) {
    let partitions = rng.range_inclusive(0, 24) as i32;
    let n = rng.range_inclusive(1, 8);
    let mut ids = BTreeSet::new();
    while (ids.len() as u64) < n {
        ids.insert(format!("member-{:03}", rng.range_inclusive(0, 999)));
    }
    let mut members: Vec<Joined> = ids
        .into_iter()
        .map(|id| {
            let new = !owned || rng.range_inclusive(0, 3) == 0;
            Joined {
                id,
                owned: Vec::new(),
                generation: if new { -1 } else { 1 },
            }
        })
        .collect();
    if owned {
        for p in 0..partitions {
            let k = rng.range_inclusive(0, members.len() as u64) as usize;
            if let Some(m) = members.get_mut(k).filter(|m| m.generation == 1) {
                m.owned.push(p);
            }
        }
    }
    (partitions, members)
}

fn seeds() -> u64 {
    std::env::var("ORACLE_SEEDS").map_or(300, |s| s.parse().expect("ORACLE_SEEDS"))
}

#[test]
fn range_and_roundrobin_match_the_simulator() {
    for seed in 0..seeds() {
        let rng = &mut Rng::new(seed);
        let (partitions, members) = random_group(rng, false);
        for (sim, ours) in [
            (SimAssignor::Range, assignor::Assignor::Range),
            (SimAssignor::RoundRobin, assignor::Assignor::RoundRobin),
        ] {
            assert_eq!(
                sim_assign(sim, partitions, &members),
                kasio_assign(ours, partitions, &members),
                "seed {seed}: {ours}, {partitions} partitions, members {members:?}"
            );
        }
    }
}

/// The properties every cooperative-sticky leader must have, checked on one
/// implementation over two rounds; returns how many owned partitions round one
/// kept in place.
fn check_cooperative(
    name: &str,
    assign: impl Fn(i32, &[Joined]) -> BTreeMap<String, Vec<i32>>,
    partitions: i32,
    members: &[Joined],
) -> Result<usize, String> {
    let first = assign(partitions, members);
    let mut given = BTreeSet::new();
    for (id, ps) in &first {
        for p in ps {
            if !given.insert(*p) || *p < 0 || *p >= partitions {
                return Err(format!("{name}: partition {p} given twice or out of range"));
            }
            let mine = members.iter().any(|m| m.id == *id && m.owned.contains(p));
            let other = members.iter().find(|m| m.id != *id && m.owned.contains(p));
            if let (false, Some(other)) = (mine, other) {
                return Err(format!(
                    "{name}: {p} given to {id} while {} owns it",
                    other.id
                ));
            }
        }
    }
    let kept = members
        .iter()
        .map(|m| {
            m.owned
                .iter()
                .filter(|p| first.get(&m.id).is_some_and(|ps| ps.contains(p)))
                .count()
        })
        .sum();
    // Members revoke what they lost, keep the rest and rejoin.
    let after: Vec<Joined> = members
        .iter()
        .map(|m| Joined {
            id: m.id.clone(),
            owned: first.get(&m.id).cloned().unwrap_or_default(),
            generation: 2,
        })
        .collect();
    let second = assign(partitions, &after);
    let total: usize = second.values().map(Vec::len).sum();
    if total != partitions as usize {
        return Err(format!(
            "{name}: {total} of {partitions} assigned after the follow-up: {second:?}"
        ));
    }
    let counts: Vec<usize> = members
        .iter()
        .map(|m| second.get(&m.id).map_or(0, Vec::len))
        .collect();
    if counts.iter().max().unwrap_or(&0) - counts.iter().min().unwrap_or(&0) > 1 {
        return Err(format!("{name}: unbalanced {counts:?}"));
    }
    let settled: Vec<Joined> = after
        .iter()
        .map(|m| Joined {
            owned: second.get(&m.id).cloned().unwrap_or_default(),
            generation: 3,
            ..m.clone()
        })
        .collect();
    let third = assign(partitions, &settled);
    if third != second {
        return Err(format!(
            "{name}: moved again when fed back: {second:?} -> {third:?}"
        ));
    }
    Ok(kept)
}

#[test]
fn cooperative_sticky_has_the_simulators_properties() {
    let (mut ours_total, mut sims_total) = (0, 0);
    for seed in 0..seeds() {
        let rng = &mut Rng::new(seed ^ 0xc00b);
        let (partitions, members) = random_group(rng, true);
        let fail = |why: String| -> ! {
            panic!("seed {seed}: {why}\n{partitions} partitions, members {members:?}")
        };
        let sim = check_cooperative(
            "simulator",
            |p, m| sim_assign(SimAssignor::CooperativeSticky, p, m),
            partitions,
            &members,
        )
        .unwrap_or_else(|e| fail(e));
        let ours = check_cooperative(
            "kasio",
            |p, m| kasio_assign(assignor::Assignor::CooperativeSticky, p, m),
            partitions,
            &members,
        )
        .unwrap_or_else(|e| fail(e));
        if ours < sim {
            fail(format!(
                "kasio kept {ours} owned partitions in place, the simulator {sim}"
            ));
        }
        ours_total += ours;
        sims_total += sim;
    }
    eprintln!("owned partitions kept in round one: kasio {ours_total}, simulator {sims_total}");
}
