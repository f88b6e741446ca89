//! Unit tests of the assignors: Java's documented examples and Java's own test
//! cases (expected assignments copied from apache/kafka's `RangeAssignorTest`,
//! `AbstractPartitionAssignorTest`, the javadoc of `RangeAssignor`,
//! `RoundRobinAssignor` and `StickyAssignor`). The randomised properties are in
//! `core/tests/assignors.rs`.

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use alloc::{format, vec};

use super::*;

fn tp(topic: &str, p: i32) -> TopicPartition {
    TopicPartition::new(topic, p)
}

fn plain_topics(spec: &[(&str, usize)]) -> BTreeMap<String, TopicMetadata> {
    spec.iter()
        .map(|(t, n)| (t.to_string(), TopicMetadata::without_racks(*n)))
        .collect()
}

fn members(spec: &[(&str, &[&str])]) -> BTreeMap<String, Subscription> {
    spec.iter()
        .map(|(id, topics)| (id.to_string(), Subscription::new(topics.iter().copied())))
        .collect()
}

/// Java's `toSortedString`: the partitions as `topic-p`, sorted as strings.
fn java_string(list: &[TopicPartition]) -> String {
    let mut names: Vec<String> = list.iter().map(|tp| format!("{tp}")).collect();
    names.sort();
    names.join(", ")
}

#[test]
fn names_and_protocols() {
    for a in Assignor::ALL {
        assert_eq!(Assignor::from_name(a.name()), Ok(a));
        assert_eq!(a.name().parse::<Assignor>(), Ok(a));
        assert_eq!(format!("{a}"), a.name());
        let strategy = crate::config::AssignmentStrategy::from(a);
        assert_eq!(strategy.as_str(), a.name());
        assert_eq!(Assignor::from(strategy), a);
    }
    for (class, a) in [
        (
            "org.apache.kafka.clients.consumer.RangeAssignor",
            Assignor::Range,
        ),
        (
            "org.apache.kafka.clients.consumer.RoundRobinAssignor",
            Assignor::RoundRobin,
        ),
        (
            "org.apache.kafka.clients.consumer.StickyAssignor",
            Assignor::Sticky,
        ),
        (
            "org.apache.kafka.clients.consumer.CooperativeStickyAssignor",
            Assignor::CooperativeSticky,
        ),
    ] {
        assert_eq!(Assignor::from_name(class), Ok(a));
    }
    let err = Assignor::from_name("Range").unwrap_err();
    assert_eq!(err.name, "Range");
    let text = format!("{err}");
    for a in Assignor::ALL {
        assert!(text.contains(a.name()), "{text}");
    }
    assert!(Assignor::from_name("").is_err());
    assert!(Assignor::from_name("uniform").is_err());

    assert_eq!(
        Assignor::Range.rebalance_protocol(),
        RebalanceProtocol::Eager
    );
    assert_eq!(
        Assignor::Sticky.rebalance_protocol(),
        RebalanceProtocol::Eager
    );
    assert_eq!(
        Assignor::CooperativeSticky.rebalance_protocol(),
        RebalanceProtocol::Cooperative
    );
    assert_eq!(
        Assignor::CooperativeSticky.supported_protocols(),
        [RebalanceProtocol::Cooperative, RebalanceProtocol::Eager]
    );
}

fn select(lists: &[&[&'static str]]) -> Option<&'static str> {
    select_protocol(lists.iter().map(|l| l.iter().copied()))
}

#[test]
fn protocol_selection() {
    // Nobody, or nothing in common.
    assert_eq!(select(&[]), None);
    assert_eq!(select(&[&["range"], &["roundrobin"]]), None);
    assert_eq!(select(&[&["range"], &[]]), None);
    // One member: its first choice.
    assert_eq!(select(&[&["sticky", "range"]]), Some("sticky"));
    // Only common protocols get votes: the second member's `roundrobin` is not
    // supported by the first, so it votes `range`.
    assert_eq!(
        select(&[&["range", "sticky"], &["roundrobin", "range", "sticky"]]),
        Some("range")
    );
    // Majority of first choices.
    assert_eq!(
        select(&[
            &["range", "cooperative-sticky"],
            &["cooperative-sticky", "range"],
            &["cooperative-sticky", "range"],
        ]),
        Some("cooperative-sticky")
    );
    // A tie in votes: the protocol ranked higher over all members wins.
    assert_eq!(
        select(&[
            &["range", "roundrobin", "sticky"],
            &["sticky", "range", "roundrobin"],
            &["roundrobin", "range", "sticky"],
        ]),
        Some("range"),
        "one vote each; range's positions sum to 1, the others' to 3 and 4"
    );
    // A full tie: by name.
    assert_eq!(select(&[&["b", "a"], &["a", "b"]]), Some("a"));
    // Duplicates count once; the order of members does not matter.
    assert_eq!(select(&[&["x", "x", "y"], &["y", "x"], &["y"]]), Some("y"));
    assert_eq!(select(&[&["y"], &["y", "x"], &["x", "x", "y"]]), Some("y"));
}

#[test]
fn java_string_order() {
    use core::cmp::Ordering;
    // U+FFFF sorts after U+10000 in UTF-16 (a surrogate pair starts 0xD800), before
    // it in UTF-8.
    assert_eq!(java_cmp("\u{FFFF}", "\u{10000}"), Ordering::Greater);
    assert!("\u{FFFF}" < "\u{10000}");
    assert_eq!(java_cmp("a", "b"), Ordering::Less);
    assert_eq!(java_cmp("ab", "a"), Ordering::Greater);
    // Round robin deals in Java's order.
    let topics = plain_topics(&[("t", 2)]);
    let m = members(&[("\u{FFFF}", &["t"]), ("\u{10000}", &["t"])]);
    let out = roundrobin::assign(&m, &topics);
    assert_eq!(out["\u{10000}"], [tp("t", 0)]);
    assert_eq!(out["\u{FFFF}"], [tp("t", 1)]);
}

#[test]
fn range_javadoc_and_java_tests() {
    let topics = plain_topics(&[("t0", 3), ("t1", 3)]);
    let m = members(&[("C0", &["t0", "t1"]), ("C1", &["t0", "t1"])]);
    let out = range::assign(&m, &topics);
    assert_eq!(
        out["C0"],
        [tp("t0", 0), tp("t0", 1), tp("t1", 0), tp("t1", 1)]
    );
    assert_eq!(out["C1"], [tp("t0", 2), tp("t1", 2)]);

    // testMultipleConsumersMixedTopics.
    let topics = plain_topics(&[("topic1", 3), ("topic2", 2)]);
    let m = members(&[
        ("consumer1", &["topic1"]),
        ("consumer2", &["topic1", "topic2"]),
        ("consumer3", &["topic1"]),
    ]);
    let out = range::assign(&m, &topics);
    assert_eq!(out["consumer1"], [tp("topic1", 0)]);
    assert_eq!(
        out["consumer2"],
        [tp("topic1", 1), tp("topic2", 0), tp("topic2", 1)]
    );
    assert_eq!(out["consumer3"], [tp("topic1", 2)]);

    // A topic nobody has metadata for, one nobody subscribes to, no topics.
    let topics = plain_topics(&[("topic1", 3), ("other", 3)]);
    let m = members(&[("c", &["topic1", "missing", "topic1"]), ("d", &[])]);
    let out = range::assign(&m, &topics);
    assert_eq!(
        out["c"],
        [tp("topic1", 0), tp("topic1", 1), tp("topic1", 2)]
    );
    assert!(out["d"].is_empty());
}

#[test]
fn static_members_come_first() {
    // testTwoStaticConsumersTwoTopicsSixPartitions: the instance ids decide, not the
    // member ids.
    let topics = plain_topics(&[("topic1", 3), ("topic2", 3)]);
    let sub = |instance: Option<&str>| Subscription {
        instance_id: instance.map(String::from),
        ..Subscription::new(["topic1", "topic2"])
    };
    let m = BTreeMap::from([
        ("consumer-b".to_string(), sub(Some("instance1"))),
        ("consumer-a".to_string(), sub(Some("instance2"))),
    ]);
    let low = [
        tp("topic1", 0),
        tp("topic1", 1),
        tp("topic2", 0),
        tp("topic2", 1),
    ];
    let high = [tp("topic1", 2), tp("topic2", 2)];
    let out = range::assign(&m, &topics);
    assert_eq!(out["consumer-b"], low);
    assert_eq!(out["consumer-a"], high);
    // testOneStaticConsumerAndOneDynamicConsumerTwoTopicsSixPartitions.
    let m = BTreeMap::from([
        ("consumer-b".to_string(), sub(Some("instance1"))),
        ("consumer-a".to_string(), sub(None)),
    ]);
    let out = range::assign(&m, &topics);
    assert_eq!(out["consumer-b"], low);
    assert_eq!(out["consumer-a"], high);

    // RoundRobinAssignor's javadoc: static members keep their partitions across a
    // rolling bounce that renames them.
    let topics = plain_topics(&[("t0", 3), ("t1", 3)]);
    let statics = |ids: [&str; 3]| -> BTreeMap<String, Subscription> {
        ids.iter()
            .zip(["I0", "I1", "I2"])
            .map(|(id, instance)| {
                let s = Subscription {
                    instance_id: Some(instance.to_string()),
                    ..Subscription::new(["t0", "t1"])
                };
                (id.to_string(), s)
            })
            .collect()
    };
    let by_instance = |m: &BTreeMap<String, Subscription>, out: &Assignment| {
        m.iter()
            .map(|(id, s)| (s.instance_id.clone(), out[id].clone()))
            .collect::<BTreeMap<_, _>>()
    };
    for assignor in [Assignor::Range, Assignor::RoundRobin] {
        let before = statics(["C0", "C1", "C2"]);
        let after = statics(["C5", "C3", "C4"]);
        assert_eq!(
            by_instance(&before, &assignor.assign(&before, &topics)),
            by_instance(&after, &assignor.assign(&after, &topics)),
            "{assignor}"
        );
    }
}

#[test]
fn roundrobin_javadoc() {
    let topics = plain_topics(&[("t0", 3), ("t1", 3)]);
    let m = members(&[("C0", &["t0", "t1"]), ("C1", &["t0", "t1"])]);
    let out = roundrobin::assign(&m, &topics);
    assert_eq!(out["C0"], [tp("t0", 0), tp("t0", 2), tp("t1", 1)]);
    assert_eq!(out["C1"], [tp("t0", 1), tp("t1", 0), tp("t1", 2)]);

    let m = members(&[
        ("C0", &["t0", "t1"]),
        ("C1", &["t0", "t1"]),
        ("C2", &["t0", "t1"]),
    ]);
    let out = roundrobin::assign(&m, &topics);
    assert_eq!(out["C0"], [tp("t0", 0), tp("t1", 0)]);
    assert_eq!(out["C1"], [tp("t0", 1), tp("t1", 1)]);
    assert_eq!(out["C2"], [tp("t0", 2), tp("t1", 2)]);
}

/// Java's test topics (`AbstractPartitionAssignorTest.partitionsPerTopic`):
/// brokers `0..n` on `broker_racks`, partition `i` of a topic on the `rf` brokers
/// from `i + offset`, where `offset` counts the partitions of the topics before it
/// (in the order given, as Java's `mkMap` keeps insertion order).
fn java_topics(
    spec: &[(&str, usize)],
    rf: usize,
    broker_racks: &[Option<&str>],
) -> BTreeMap<String, TopicMetadata> {
    let mut offset = 0;
    let mut out = BTreeMap::new();
    for (topic, n) in spec {
        let racks = (0..*n)
            .map(|i| {
                (0..rf)
                    .filter_map(|j| broker_racks[(i + j + offset) % broker_racks.len()])
                    .map(String::from)
                    .collect()
            })
            .collect();
        out.insert(
            topic.to_string(),
            TopicMetadata {
                replica_racks: racks,
            },
        );
        offset += n;
    }
    out
}

fn racks(n: usize) -> Vec<Option<&'static str>> {
    ["a", "b", "c", "d", "e", "f"][..n]
        .iter()
        .map(|r| Some(*r))
        .collect()
}

fn null_racks(n: usize) -> Vec<Option<&'static str>> {
    vec![None; n]
}

/// Java's `verifyRackAssignment`: members `consumer0..`, the expected assignments
/// as Java's sorted strings, and the number of partitions off their member's rack
/// (`None`: not checked).
#[allow(clippy::too_many_arguments)]
fn verify_racks(
    assignor: Assignor,
    spec: &[(&str, usize)],
    rf: usize,
    broker_racks: &[Option<&str>],
    member_racks: &[Option<&str>],
    member_topics: &[&[&str]],
    expected: &[&str],
    mismatches: Option<usize>,
) {
    let topics = java_topics(spec, rf, broker_racks);
    let members: BTreeMap<String, Subscription> = member_topics
        .iter()
        .zip(member_racks)
        .enumerate()
        .map(|(i, (t, rack))| {
            let sub = Subscription {
                rack: rack.map(String::from),
                ..Subscription::new(t.iter().copied())
            };
            (format!("consumer{i}"), sub)
        })
        .collect();
    let out = assignor.assign(&members, &topics);
    for (i, want) in expected.iter().enumerate() {
        let id = format!("consumer{i}");
        assert_eq!(
            java_string(&out[&id]),
            *want,
            "{id}, rf {rf}, brokers {broker_racks:?}, members {member_racks:?}"
        );
    }
    if let Some(want) = mismatches {
        let mut off = 0;
        for (i, rack) in member_racks.iter().enumerate() {
            let Some(rack) = rack else { continue };
            for tp in &out[&format!("consumer{i}")] {
                let replicas = &topics[&tp.topic].replica_racks[tp.partition as usize];
                if !replicas.iter().any(|r| r == rack) {
                    off += 1;
                }
            }
        }
        assert_eq!(off, want, "off-rack partitions, rf {rf}");
    }
}

/// `verifyNonRackAwareAssignment`: the combinations in which racks cannot matter.
fn verify_not_rack_aware(spec: &[(&str, usize)], member_topics: &[&[&str]], expected: &[&str]) {
    let r = Assignor::Range;
    let n = member_topics.len();
    verify_racks(
        r,
        spec,
        3,
        &null_racks(3),
        &racks(3),
        member_topics,
        expected,
        None,
    );
    verify_racks(
        r,
        spec,
        3,
        &racks(3),
        &null_racks(3),
        member_topics,
        expected,
        None,
    );
    verify_racks(
        r,
        spec,
        3,
        &racks(3),
        &racks(3),
        member_topics,
        expected,
        Some(0),
    );
    verify_racks(
        r,
        spec,
        4,
        &racks(4),
        &racks(3),
        member_topics,
        expected,
        Some(0),
    );
    let def = [Some("d"), Some("e"), Some("f")];
    verify_racks(
        r,
        spec,
        3,
        &racks(3),
        &def[..n],
        member_topics,
        expected,
        None,
    );
    let nef = [None, Some("e"), Some("f")];
    verify_racks(
        r,
        spec,
        3,
        &racks(3),
        &nef[..n],
        member_topics,
        expected,
        None,
    );
}

#[test]
fn range_racks_uniform_subscription() {
    // testRackAwareAssignmentWithUniformSubscription.
    let spec = [("t1", 6), ("t2", 7), ("t3", 2)];
    let all: &[&str] = &["t1", "t2", "t3"];
    let topics = [all, all, all];
    verify_not_rack_aware(
        &spec,
        &topics,
        &[
            "t1-0, t1-1, t2-0, t2-1, t2-2, t3-0",
            "t1-2, t1-3, t2-3, t2-4, t3-1",
            "t1-4, t1-5, t2-5, t2-6",
        ],
    );
    let r = Assignor::Range;
    verify_racks(
        r,
        &spec,
        1,
        &racks(3),
        &racks(3),
        &topics,
        &[
            "t1-0, t1-3, t2-0, t2-3, t2-6",
            "t1-1, t1-4, t2-1, t2-4, t3-0",
            "t1-2, t1-5, t2-2, t2-5, t3-1",
        ],
        Some(0),
    );
    verify_racks(
        r,
        &spec,
        2,
        &racks(3),
        &racks(3),
        &topics,
        &[
            "t1-0, t1-2, t2-0, t2-2, t2-3, t3-1",
            "t1-1, t1-3, t2-1, t2-4, t3-0",
            "t1-4, t1-5, t2-5, t2-6",
        ],
        Some(1),
    );
    // One member on a rack with no partitions.
    verify_racks(
        r,
        &spec,
        3,
        &racks(2),
        &racks(3),
        &topics,
        &[
            "t1-0, t1-1, t2-0, t2-1, t2-2, t3-0",
            "t1-2, t1-3, t2-3, t2-4, t3-1",
            "t1-4, t1-5, t2-5, t2-6",
        ],
        Some(4),
    );
}

#[test]
fn range_racks_non_equal_subscription() {
    // testRackAwareAssignmentWithNonEqualSubscription.
    let spec = [("t1", 6), ("t2", 7), ("t3", 2)];
    let all: &[&str] = &["t1", "t2", "t3"];
    let topics = [all, all, &["t1", "t3"]];
    verify_not_rack_aware(
        &spec,
        &topics,
        &[
            "t1-0, t1-1, t2-0, t2-1, t2-2, t2-3, t3-0",
            "t1-2, t1-3, t2-4, t2-5, t2-6, t3-1",
            "t1-4, t1-5",
        ],
    );
    let r = Assignor::Range;
    verify_racks(
        r,
        &spec,
        1,
        &racks(3),
        &racks(3),
        &topics,
        &[
            "t1-0, t1-3, t2-0, t2-2, t2-3, t2-6",
            "t1-1, t1-4, t2-1, t2-4, t2-5, t3-0",
            "t1-2, t1-5, t3-1",
        ],
        Some(2),
    );
    verify_racks(
        r,
        &spec,
        2,
        &racks(3),
        &racks(3),
        &topics,
        &[
            "t1-0, t1-2, t2-0, t2-2, t2-3, t2-5, t3-1",
            "t1-1, t1-3, t2-1, t2-4, t2-6, t3-0",
            "t1-4, t1-5",
        ],
        Some(0),
    );
    verify_racks(
        r,
        &spec,
        3,
        &racks(2),
        &racks(3),
        &topics,
        &[
            "t1-0, t1-1, t2-0, t2-1, t2-2, t2-3, t3-0",
            "t1-2, t1-3, t2-4, t2-5, t2-6, t3-1",
            "t1-4, t1-5",
        ],
        Some(2),
    );
}

#[test]
fn range_racks_uniform_partitions() {
    // testRackAwareAssignmentWithUniformPartitions: co-partitioning beats racks.
    let spec = [("t1", 5), ("t2", 5), ("t3", 5)];
    let all: &[&str] = &["t1", "t2", "t3"];
    let topics = [all, all, all];
    let plain = [
        "t1-0, t1-1, t2-0, t2-1, t3-0, t3-1",
        "t1-2, t1-3, t2-2, t2-3, t3-2, t3-3",
        "t1-4, t2-4, t3-4",
    ];
    verify_not_rack_aware(&spec, &topics, &plain);
    let r = Assignor::Range;
    verify_racks(r, &spec, 1, &racks(3), &racks(3), &topics, &plain, Some(10));
    verify_racks(r, &spec, 2, &racks(3), &racks(3), &topics, &plain, Some(5));
    verify_racks(r, &spec, 3, &racks(2), &racks(3), &topics, &plain, Some(3));

    // testRackAwareAssignmentWithUniformPartitionsNonEqualSubscription.
    let topics = [all, all, &["t1", "t3"]];
    verify_not_rack_aware(
        &spec,
        &topics,
        &[
            "t1-0, t1-1, t2-0, t2-1, t2-2, t3-0, t3-1",
            "t1-2, t1-3, t2-3, t2-4, t3-2, t3-3",
            "t1-4, t3-4",
        ],
    );
    verify_racks(
        r,
        &spec,
        1,
        &racks(3),
        &racks(3),
        &topics,
        &[
            "t1-0, t1-1, t2-0, t2-1, t2-4, t3-0, t3-1",
            "t1-2, t1-3, t2-2, t2-3, t3-2, t3-3",
            "t1-4, t3-4",
        ],
        Some(9),
    );
    verify_racks(
        r,
        &spec,
        2,
        &racks(3),
        &racks(3),
        &topics,
        &[
            "t1-2, t2-0, t2-1, t2-3, t3-2",
            "t1-0, t1-3, t2-2, t2-4, t3-0, t3-3",
            "t1-1, t1-4, t3-1, t3-4",
        ],
        Some(0),
    );
    verify_racks(
        r,
        &spec,
        3,
        &racks(2),
        &racks(3),
        &topics,
        &[
            "t1-0, t1-1, t2-0, t2-1, t2-2, t3-0, t3-1",
            "t1-2, t1-3, t2-3, t2-4, t3-2, t3-3",
            "t1-4, t3-4",
        ],
        Some(2),
    );
}

#[test]
fn range_racks_co_partitioning() {
    // testRackAwareAssignmentWithCoPartitioning.
    let spec = [("t1", 6), ("t2", 6), ("t3", 2), ("t4", 2)];
    let (t12, t34): (&[&str], &[&str]) = (&["t1", "t2"], &["t3", "t4"]);
    let topics = [t12, t12, t34, t34];
    let member_racks = [Some("a"), Some("b"), Some("b"), Some("a")];
    let plain = [
        "t1-0, t1-1, t1-2, t2-0, t2-1, t2-2",
        "t1-3, t1-4, t1-5, t2-3, t2-4, t2-5",
        "t3-0, t4-0",
        "t3-1, t4-1",
    ];
    let r = Assignor::Range;
    verify_racks(r, &spec, 3, &racks(2), &member_racks, &topics, &plain, None);
    verify_racks(
        r,
        &spec,
        2,
        &racks(2),
        &member_racks,
        &topics,
        &plain,
        Some(0),
    );
    verify_racks(
        r,
        &spec,
        1,
        &racks(2),
        &member_racks,
        &topics,
        &[
            "t1-0, t1-2, t1-4, t2-0, t2-2, t2-4",
            "t1-1, t1-3, t1-5, t2-1, t2-3, t2-5",
            "t3-1, t4-1",
            "t3-0, t4-0",
        ],
        Some(0),
    );

    let all: &[&str] = &["t1", "t2", "t3", "t4"];
    let topics = [all, all, all, all];
    let plain = [
        "t1-0, t1-1, t2-0, t2-1, t3-0, t4-0",
        "t1-2, t1-3, t2-2, t2-3, t3-1, t4-1",
        "t1-4, t2-4",
        "t1-5, t2-5",
    ];
    verify_racks(r, &spec, 3, &racks(2), &member_racks, &topics, &plain, None);
    verify_racks(
        r,
        &spec,
        2,
        &racks(2),
        &member_racks,
        &topics,
        &plain,
        Some(0),
    );
    verify_racks(
        r,
        &spec,
        1,
        &racks(2),
        &member_racks,
        &topics,
        &[
            "t1-0, t1-2, t2-0, t2-2, t3-0, t4-0",
            "t1-1, t1-3, t2-1, t2-3, t3-1, t4-1",
            "t1-5, t2-5",
            "t1-4, t2-4",
        ],
        Some(0),
    );
    verify_racks(
        r,
        &spec,
        1,
        &racks(3),
        &member_racks,
        &topics,
        &[
            "t1-0, t1-3, t2-0, t2-3, t3-0, t4-0",
            "t1-1, t1-4, t2-1, t2-4, t3-1, t4-1",
            "t1-2, t2-2",
            "t1-5, t2-5",
        ],
        Some(6),
    );
}

#[test]
fn rack_awareness_applies_as_in_java() {
    // testUseRackAwareAssignment.
    let all = ["a", "b", "c"];
    let on_all: Vec<Vec<&str>> = (0..10).map(|_| all.to_vec()).collect();
    let on_one: Vec<Vec<&str>> = (0..10).map(|i| vec![all[i % 3]]).collect();
    let none: [&str; 0] = [];
    assert!(!rack::applies(none, on_all.clone()));
    assert!(!rack::applies(all, Vec::<Vec<&str>>::new()));
    assert!(!rack::applies(["d"], on_all.clone()));
    assert!(!rack::applies(all, on_all.clone()));
    assert!(!rack::applies(["a", "b"], on_all.clone()));
    assert!(!rack::applies(["a", "d"], on_all.clone()));
    assert!(rack::applies(all, on_one.clone()));
    assert!(rack::applies(["a", "b"], on_one.clone()));
    assert!(rack::applies(["a", "d"], on_one.clone()));
    assert!(!rack::applies([""], on_one));
}

fn owning(topics: &[&str], owned: &[(&str, i32)], generation: i32) -> Subscription {
    Subscription {
        owned: owned.iter().map(|(t, p)| tp(t, *p)).collect(),
        generation: Some(generation),
        ..Subscription::new(topics.iter().copied())
    }
}

#[test]
fn sticky_javadoc() {
    // StickyAssignor's javadoc, example 1: C1 leaves; the others keep everything.
    let all = ["t0", "t1", "t2", "t3"];
    let topics = plain_topics(&[("t0", 2), ("t1", 2), ("t2", 2), ("t3", 2)]);
    let m = BTreeMap::from([
        (
            "C0".to_string(),
            owning(&all, &[("t0", 0), ("t1", 1), ("t3", 0)], 1),
        ),
        ("C2".to_string(), owning(&all, &[("t1", 0), ("t2", 1)], 1)),
    ]);
    for a in [Assignor::Sticky, Assignor::CooperativeSticky] {
        let out = a.assign(&m, &topics);
        assert_eq!(
            out["C0"],
            [tp("t0", 0), tp("t1", 1), tp("t2", 0), tp("t3", 0)],
            "{a}"
        );
        assert_eq!(
            out["C2"],
            [tp("t0", 1), tp("t1", 0), tp("t2", 1), tp("t3", 1)],
            "{a}"
        );
    }

    // Example 2, different subscriptions.
    let topics = plain_topics(&[("t0", 1), ("t1", 2), ("t2", 3)]);
    let m = members(&[
        ("C0", &["t0"]),
        ("C1", &["t0", "t1"]),
        ("C2", &["t0", "t1", "t2"]),
    ]);
    let out = sticky::assign(&m, &topics);
    assert_eq!(out["C0"], [tp("t0", 0)]);
    assert_eq!(out["C1"], [tp("t1", 0), tp("t1", 1)]);
    assert_eq!(out["C2"], [tp("t2", 0), tp("t2", 1), tp("t2", 2)]);
    // C0 leaves: t0p0 goes to C1, nothing else moves.
    let m = BTreeMap::from([
        (
            "C1".to_string(),
            owning(&["t0", "t1"], &[("t1", 0), ("t1", 1)], 1),
        ),
        (
            "C2".to_string(),
            owning(&["t0", "t1", "t2"], &[("t2", 0), ("t2", 1), ("t2", 2)], 1),
        ),
    ]);
    let out = sticky::assign(&m, &topics);
    assert_eq!(out["C1"], [tp("t0", 0), tp("t1", 0), tp("t1", 1)]);
    assert_eq!(out["C2"], [tp("t2", 0), tp("t2", 1), tp("t2", 2)]);
}

#[test]
fn conflicting_claims() {
    let topics = plain_topics(&[("t", 2)]);
    let t: &[&str] = &["t"];
    // Higher generation wins t-0; a's stale claim does not count.
    let m = BTreeMap::from([
        ("a".to_string(), owning(t, &[("t", 0)], 4)),
        ("b".to_string(), owning(t, &[("t", 0), ("t", 1)], 5)),
        ("c".to_string(), owning(t, &[], 5)),
    ]);
    let out = sticky::assign(&m, &topics);
    assert_eq!(
        out["b"],
        [tp("t", 0)],
        "b keeps one of its two, the higher-generation claim"
    );
    // Cooperative: b keeps t-0 (a's older claim does not hold it back); t-1 moves
    // from b to another member, so it is withheld this round.
    let out = cooperative::assign(&m, &topics);
    assert_eq!(out["b"], [tp("t", 0)]);
    assert!(out["a"].is_empty() && out["c"].is_empty(), "{out:?}");

    // Same generation: neither keeps t-0; under the cooperative protocol nobody gets
    // it until both have revoked it.
    let m = BTreeMap::from([
        ("a".to_string(), owning(t, &[("t", 0)], 5)),
        ("b".to_string(), owning(t, &[("t", 0), ("t", 1)], 5)),
    ]);
    let out = sticky::assign(&m, &topics);
    assert_eq!(out["a"], [tp("t", 0)]);
    assert_eq!(out["b"], [tp("t", 1)]);
    let mut out = cooperative::assign(&m, &topics);
    assert!(out["a"].is_empty());
    assert_eq!(out["b"], [tp("t", 1)]);
    let mut target = sticky::assign(&m, &topics);
    let withheld = cooperative::withhold_moving(&m, &topics, &mut target);
    assert_eq!(withheld.into_iter().collect::<Vec<_>>(), [tp("t", 0)]);
    assert_eq!(target, out);

    // Claims on partitions or topics that no longer exist are dropped.
    let m = BTreeMap::from([(
        "a".to_string(),
        owning(t, &[("t", 7), ("gone", 0), ("t", -1)], 1),
    )]);
    out = cooperative::assign(&m, &topics);
    assert_eq!(out["a"], [tp("t", 0), tp("t", 1)]);
}

#[test]
fn sticky_racks() {
    // Members on racks a and b; partitions 0 and 1 on a, 2 and 3 on b.
    let topics = BTreeMap::from([(
        "t".to_string(),
        TopicMetadata::with_racks([["a"], ["a"], ["b"], ["b"]]),
    )]);
    let on = |rack: &str, owned: &[i32]| Subscription {
        rack: Some(rack.to_string()),
        owned: owned.iter().map(|&p| tp("t", p)).collect(),
        generation: Some(1),
        ..Subscription::new(["t"])
    };
    // From scratch: each member gets the partitions on its rack.
    let m = BTreeMap::from([
        ("x".to_string(), on("b", &[])),
        ("y".to_string(), on("a", &[])),
    ]);
    let out = sticky::assign(&m, &topics);
    assert_eq!(out["x"], [tp("t", 2), tp("t", 3)]);
    assert_eq!(out["y"], [tp("t", 0), tp("t", 1)]);
    // Owning the other rack's partitions: exchanged, as Java would revoke them.
    let m = BTreeMap::from([
        ("x".to_string(), on("b", &[0, 1])),
        ("y".to_string(), on("a", &[2, 3])),
    ]);
    assert_eq!(sticky::assign(&m, &topics), out);
    // Cooperative: everything moves, so nothing is handed out this round.
    let first = cooperative::assign(&m, &topics);
    assert!(first.values().all(Vec::is_empty), "{first:?}");
    // Balance first: three members on rack a, one partition each at most... and the
    // member on rack b still gets its share of rack-a partitions.
    let m = BTreeMap::from([
        ("x".to_string(), on("a", &[])),
        ("y".to_string(), on("a", &[])),
        ("z".to_string(), on("a", &[])),
        ("w".to_string(), on("b", &[])),
    ]);
    let out = sticky::assign(&m, &topics);
    assert!(out.values().all(|ps| ps.len() == 1), "{out:?}");
    assert_eq!(out["w"].len(), 1);
    let on_b = [tp("t", 2), tp("t", 3)];
    assert!(on_b.contains(&out["w"][0]), "{out:?}");
    // Without rack data, the result is the rack-less one.
    let bare = plain_topics(&[("t", 4)]);
    let plain: BTreeMap<String, Subscription> = m
        .iter()
        .map(|(id, s)| {
            (
                id.clone(),
                Subscription {
                    rack: None,
                    ..s.clone()
                },
            )
        })
        .collect();
    assert_eq!(sticky::assign(&m, &bare), sticky::assign(&plain, &bare));
}

#[test]
fn subscription_from_protocol() {
    use crate::protocol::consumer_protocol::{decode_versioned, encode_versioned};
    use crate::protocol::messages::consumer_protocol_subscription::TopicPartition as Owned;
    use crate::protocol::messages::ConsumerProtocolSubscription;

    let sub = ConsumerProtocolSubscription {
        topics: vec!["t".into(), "u".into()],
        user_data: None,
        owned_partitions: vec![Owned {
            topic: "t".into(),
            partitions: vec![2, 0],
        }],
        generation_id: 9,
        rack_id: Some("r1".into()),
    };
    let want = Subscription {
        instance_id: Some("i".into()),
        topics: vec!["t".into(), "u".into()],
        owned: vec![tp("t", 2), tp("t", 0)],
        generation: Some(9),
        rack: Some("r1".into()),
    };
    let bytes = encode_versioned(&sub, 3).unwrap();
    let (back, _) = decode_versioned::<ConsumerProtocolSubscription>(&bytes).unwrap();
    assert_eq!(Subscription::from_protocol(&back, Some("i")), want);
    // Version 0: only the topics.
    let bytes = encode_versioned(&sub, 0).unwrap();
    let (back, _) = decode_versioned::<ConsumerProtocolSubscription>(&bytes).unwrap();
    let v0 = Subscription::from_protocol(&back, None);
    assert_eq!(v0, Subscription::new(["t", "u"]));
}
