//! Properties of the classic-group assignors over seeded random groups: members
//! (static or not, with or without racks, owning partitions that may be stale,
//! conflicting or gone) and topics (with or without replica racks, with names that
//! sort differently in Java's UTF-16 order). A failure prints its seed; rerun one
//! with `ASSIGNOR_SEED=<seed> cargo test -p kasio-core --test assignors`, or more
//! seeds with `ASSIGNOR_SEEDS=<n>`.
//!
//! - valid: one entry per member, no partition twice, only existing partitions of
//!   subscribed topics;
//! - complete: the eager assignors assign every subscribed partition;
//!   cooperative-sticky does by the end of its follow-up rebalances;
//! - balanced: with identical subscriptions the counts differ by at most one
//!   (roundrobin, sticky), range's per topic; the sticky assignors are balanced as
//!   Java's `isBalanced` defines it for any subscriptions;
//! - sticky: feeding the result back as the owned partitions changes nothing;
//! - cooperative: nothing reaches a member while another still claims it, the
//!   result is the sticky target less what moves, and the follow-ups settle (one
//!   follow-up with identical subscriptions and no racks; at most four, Java's own
//!   bound, otherwise);
//! - order: shuffling topics, owned partitions and racks changes nothing;
//! - racks: without rack data (on either side), or with every partition on every
//!   rack, the result is the rack-less one exactly; range's counts per topic are
//!   the rack-less ones (racks may change who gets the extra partitions).

use std::collections::{BTreeMap, BTreeSet};

use kasio_core::consumer::TopicPartition;
use kasio_core::group::assignor::{
    cooperative, range, sticky, unassigned, validate, Assignment, Assignor, Subscription,
    TopicMetadata,
};
use kasio_core::rng::Rng;

const SEEDS: u64 = 2000;
const TOPIC_NAMES: [&str; 8] = ["t0", "t1", "t2", "t3", "t4", "ä", "\u{FFFF}", "\u{10000}"];
const RACKS: [&str; 4] = ["a", "b", "c", "d"];

#[derive(Debug, Clone)]
struct Case {
    members: BTreeMap<String, Subscription>,
    topics: BTreeMap<String, TopicMetadata>,
}

fn chance(r: &mut Rng, percent: u64) -> bool {
    r.range_inclusive(0, 99) < percent
}

fn pick<'a, T>(r: &mut Rng, items: &'a [T]) -> &'a T {
    &items[r.range_inclusive(0, items.len() as u64 - 1) as usize]
}

fn shuffle<T>(r: &mut Rng, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let j = r.range_inclusive(0, i as u64) as usize;
        items.swap(i, j);
    }
}

fn random_case(seed: u64) -> Case {
    let r = &mut Rng::new(seed);
    let big = chance(r, 10);
    let mut names: Vec<&str> = TOPIC_NAMES.to_vec();
    shuffle(r, &mut names);
    names.truncate(r.range_inclusive(0, 5) as usize);
    let replica_racks = chance(r, 50);
    let topics: BTreeMap<String, TopicMetadata> = names
        .iter()
        .map(|name| {
            let n = r.range_inclusive(0, if big { 40 } else { 8 }) as usize;
            let partitions = (0..n)
                .map(|_| {
                    if !replica_racks {
                        return Vec::new();
                    }
                    let rf = r.range_inclusive(1, 3);
                    (0..rf).map(|_| pick(r, &RACKS).to_string()).collect()
                })
                .collect();
            (
                name.to_string(),
                TopicMetadata {
                    replica_racks: partitions,
                },
            )
        })
        .collect();

    let mut pool: Vec<&str> = names.clone();
    pool.push("missing");
    let subset = |r: &mut Rng| -> Vec<String> {
        pool.iter()
            .filter(|_| chance(r, 60))
            .map(|t| t.to_string())
            .collect()
    };
    let identical = chance(r, 50);
    let common = subset(r);
    let member_racks = chance(r, 50);
    let all_partitions: Vec<TopicPartition> = topics
        .iter()
        .flat_map(|(t, m)| {
            (0..m.replica_racks.len() as i32).map(|p| TopicPartition::new(t.clone(), p))
        })
        .collect();
    let n_members = r.range_inclusive(0, if big { 30 } else { 7 });
    let mut members = BTreeMap::new();
    for k in 0..n_members {
        let id = match r.range_inclusive(0, 9) {
            0 => String::new(),
            1 => format!("\u{10000}{k}"),
            2 => format!("\u{FFFF}{k}"),
            _ => format!("m{k}"),
        };
        let mut topics = if identical { common.clone() } else { subset(r) };
        if chance(r, 10) && !topics.is_empty() {
            let again = pick(r, &topics).clone();
            topics.push(again);
        }
        shuffle(r, &mut topics);
        let mut owned: Vec<TopicPartition> = if chance(r, 60) {
            all_partitions
                .iter()
                .filter(|_| chance(r, 40))
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        if chance(r, 10) {
            owned.push(TopicPartition::new("gone", 0));
            owned.push(TopicPartition::new(pick(r, &TOPIC_NAMES).to_string(), -1));
            owned.push(TopicPartition::new(pick(r, &TOPIC_NAMES).to_string(), 99));
        }
        shuffle(r, &mut owned);
        let sub = Subscription {
            instance_id: chance(r, 25).then(|| format!("i{}", r.range_inclusive(0, 9))),
            topics,
            owned,
            generation: chance(r, 80).then(|| r.range_inclusive(0, 3) as i32),
            rack: (member_racks && chance(r, 85)).then(|| match r.range_inclusive(0, 9) {
                0 => String::new(),
                1 => "z".to_string(),
                _ => pick(r, &RACKS).to_string(),
            }),
        };
        members.insert(id, sub);
    }
    Case { members, topics }
}

/// The seeds to run: `ASSIGNOR_SEED` alone, else `0..ASSIGNOR_SEEDS` (default
/// `SEEDS`).
fn seeds() -> Vec<u64> {
    let var = |name: &str| {
        std::env::var(name)
            .ok()
            .map(|s| s.parse::<u64>().expect(name))
    };
    match (var("ASSIGNOR_SEED"), var("ASSIGNOR_SEEDS")) {
        (Some(seed), _) => vec![seed],
        (None, n) => (0..n.unwrap_or(SEEDS)).collect(),
    }
}

/// Runs `check` on every seed's case, naming the seed on failure.
fn for_each_case(check: impl Fn(&Case) -> Result<(), String>) {
    for seed in seeds() {
        let case = random_case(seed);
        if let Err(why) = check(&case) {
            panic!("seed {seed}: {why}\n{case:#?}");
        }
    }
}

/// Each member's effective topics: subscribed, existing, with partitions.
fn effective_topics(case: &Case) -> Vec<BTreeSet<&str>> {
    case.members
        .values()
        .map(|s| {
            s.topics
                .iter()
                .filter(|t| {
                    case.topics
                        .get(*t)
                        .is_some_and(|m| !m.replica_racks.is_empty())
                })
                .map(String::as_str)
                .collect()
        })
        .collect()
}

fn identical_subscriptions(case: &Case) -> bool {
    effective_topics(case).windows(2).all(|w| w[0] == w[1])
}

fn counts(a: &Assignment) -> Vec<usize> {
    a.values().map(Vec::len).collect()
}

fn spread(a: &Assignment) -> usize {
    let c = counts(a);
    c.iter().max().unwrap_or(&0) - c.iter().min().unwrap_or(&0)
}

/// Java's `isBalanced`: no member holds a partition that a member subscribed to it
/// with two partitions fewer could take.
fn java_balanced(case: &Case, a: &Assignment) -> Result<(), String> {
    for (from, list) in a {
        for tp in list {
            for (to, sub) in &case.members {
                if to != from && sub.topics.contains(&tp.topic) && a[from].len() > a[to].len() + 1 {
                    return Err(format!(
                        "{tp} could move from {from:?} ({}) to {to:?} ({})",
                        a[from].len(),
                        a[to].len()
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The members after they took `a` as their owned partitions, in `generation`.
fn owning(case: &Case, a: &Assignment, generation: i32) -> BTreeMap<String, Subscription> {
    case.members
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

fn max_generation(case: &Case) -> i32 {
    case.members
        .values()
        .filter_map(|s| s.generation)
        .max()
        .unwrap_or(0)
}

#[test]
fn valid_and_complete() {
    for_each_case(|case| {
        for assignor in Assignor::ALL {
            let out = assignor.assign(&case.members, &case.topics);
            validate(&case.members, &case.topics, &out).map_err(|e| format!("{assignor}: {e}"))?;
            let left = unassigned(&case.members, &case.topics, &out);
            if assignor != Assignor::CooperativeSticky && !left.is_empty() {
                return Err(format!("{assignor} left {left:?} unassigned"));
            }
            // Deterministic.
            if assignor.assign(&case.members, &case.topics) != out {
                return Err(format!("{assignor} is not deterministic"));
            }
        }
        Ok(())
    });
}

#[test]
fn balanced() {
    for_each_case(|case| {
        let identical = identical_subscriptions(case);
        for assignor in [Assignor::RoundRobin, Assignor::Sticky] {
            let out = assignor.assign(&case.members, &case.topics);
            if identical && spread(&out) > 1 {
                return Err(format!("{assignor}: counts {:?}", counts(&out)));
            }
        }
        java_balanced(case, &sticky::assign(&case.members, &case.topics))?;
        // Range: per topic, its subscribers' counts differ by at most one, and
        // racks never change them.
        let out = range::assign(&case.members, &case.topics);
        let bare = strip_all_racks(case);
        let plain = range::assign(&bare.members, &bare.topics);
        for topic in case.topics.keys() {
            let per = |a: &Assignment| -> Vec<usize> {
                case.members
                    .iter()
                    .filter(|(_, s)| s.topics.contains(topic))
                    .map(|(id, _)| a[id].iter().filter(|tp| tp.topic == *topic).count())
                    .collect()
            };
            let c = per(&out);
            if c.iter().max().unwrap_or(&0) - c.iter().min().unwrap_or(&0) > 1 {
                return Err(format!("range: {topic}: counts {c:?}"));
            }
            // Racks may change who gets the extra partitions, not how many do.
            let (mut c, mut p) = (c, per(&plain));
            c.sort_unstable();
            p.sort_unstable();
            if c != p {
                return Err(format!("range: {topic}: racks changed the counts"));
            }
        }
        Ok(())
    });
}

#[test]
fn sticky_results_stick() {
    for_each_case(|case| {
        let generation = max_generation(case) + 1;
        for assignor in [Assignor::Sticky, Assignor::CooperativeSticky] {
            let out = converge(case, assignor)?;
            let again = assignor.assign(&owning(case, &out, generation + 10), &case.topics);
            if again != out {
                return Err(format!("{assignor}: fed back\n{out:?}\ngives\n{again:?}"));
            }
        }
        Ok(())
    });
}

/// Rounds of `assignor` until nothing is withheld: each round, members own what
/// the last one gave them. Returns the final assignment.
fn converge(case: &Case, assignor: Assignor) -> Result<Assignment, String> {
    let mut members = case.members.clone();
    let mut generation = max_generation(case);
    for _ in 0..6 {
        let out = assignor.assign(&members, &case.topics);
        if unassigned(&members, &case.topics, &out).is_empty() {
            return Ok(out);
        }
        generation += 1;
        members = owning(
            &Case {
                members,
                topics: case.topics.clone(),
            },
            &out,
            generation,
        );
    }
    Err(format!("{assignor} did not settle in 6 rounds"))
}

#[test]
fn cooperative_rounds() {
    let mut worst = 0;
    for seed in seeds() {
        let case = random_case(seed);
        let fail = |why: String| -> ! { panic!("seed {seed}: {why}\n{case:#?}") };
        let identical = identical_subscriptions(&case);
        let racks = case
            .members
            .values()
            .any(|s| s.rack.as_deref().is_some_and(|r| !r.is_empty()))
            && case
                .topics
                .values()
                .any(|t| t.replica_racks.iter().any(|r| !r.is_empty()));
        let mut members = case.members.clone();
        let mut generation = max_generation(&case);
        let mut follow_ups = 0;
        loop {
            let out = cooperative::assign(&members, &case.topics);
            // The sticky target less what moves.
            let target = sticky::assign(&members, &case.topics);
            for (id, list) in &out {
                if !list.iter().all(|tp| target[id].contains(tp)) {
                    fail(format!(
                        "{id:?} got {list:?}, not in the target {:?}",
                        target[id]
                    ));
                }
            }
            // Nothing reaches a member while another still claims it.
            for (id, list) in &out {
                for tp in list.iter().filter(|tp| !members[id].owned.contains(tp)) {
                    if let Some((other, _)) = members
                        .iter()
                        .find(|(o, s)| *o != id && s.owned.contains(tp))
                    {
                        fail(format!(
                            "{tp} given to {id:?} while {other:?} still owns it"
                        ));
                    }
                }
            }
            if unassigned(&members, &case.topics, &out).is_empty() {
                break;
            }
            follow_ups += 1;
            let limit = if identical && !racks { 1 } else { 4 };
            if follow_ups > limit {
                fail(format!("more than {limit} follow-up rebalances"));
            }
            generation += 1;
            members = owning(
                &Case {
                    members,
                    topics: case.topics.clone(),
                },
                &out,
                generation,
            );
        }
        worst = worst.max(follow_ups);
    }
    eprintln!("cooperative-sticky: at most {worst} follow-up rebalance(s)");
}

#[test]
fn input_order_does_not_matter() {
    for seed in seeds() {
        let case = random_case(seed);
        let r = &mut Rng::new(seed ^ 0x5eed);
        let mut shuffled = case.clone();
        for s in shuffled.members.values_mut() {
            shuffle(r, &mut s.topics);
            shuffle(r, &mut s.owned);
        }
        for t in shuffled.topics.values_mut() {
            for racks in &mut t.replica_racks {
                shuffle(r, racks);
            }
        }
        for assignor in Assignor::ALL {
            assert_eq!(
                assignor.assign(&case.members, &case.topics),
                assignor.assign(&shuffled.members, &shuffled.topics),
                "seed {seed}: {assignor}"
            );
        }
    }
}

fn strip_member_racks(case: &Case) -> Case {
    let mut c = case.clone();
    for s in c.members.values_mut() {
        s.rack = None;
    }
    c
}

fn strip_replica_racks(case: &Case) -> Case {
    let mut c = case.clone();
    for t in c.topics.values_mut() {
        for racks in &mut t.replica_racks {
            racks.clear();
        }
    }
    c
}

fn strip_all_racks(case: &Case) -> Case {
    strip_member_racks(&strip_replica_racks(case))
}

#[test]
fn racks_only_matter_when_they_can() {
    for_each_case(|case| {
        let bare = strip_all_racks(case);
        let mut everywhere = case.clone();
        for t in everywhere.topics.values_mut() {
            for racks in &mut t.replica_racks {
                *racks = RACKS.iter().rev().map(|r| r.to_string()).collect();
            }
        }
        for assignor in Assignor::ALL {
            let plain = assignor.assign(&bare.members, &bare.topics);
            for (what, c) in [
                ("no replica racks", strip_replica_racks(case)),
                ("no member racks", strip_member_racks(case)),
                ("every partition on every rack", everywhere.clone()),
            ] {
                if assignor.assign(&c.members, &c.topics) != plain {
                    return Err(format!("{assignor}: {what}: not the rack-less result"));
                }
            }
        }
        Ok(())
    });
}

/// A large group: every assignor finishes, and the sticky ones are balanced.
#[test]
fn large_group() {
    let topics: BTreeMap<String, TopicMetadata> = (0..10)
        .map(|t| {
            let racks = (0..300)
                .map(|p| vec![RACKS[(p + t) % 4].to_string()])
                .collect();
            (
                format!("topic-{t}"),
                TopicMetadata {
                    replica_racks: racks,
                },
            )
        })
        .collect();
    // 100 members on different subsets of topics; the first owns everything.
    let members: BTreeMap<String, Subscription> = (0..100)
        .map(|m| {
            let subscribed: Vec<String> = (0..10)
                .filter(|t| (t + m) % 3 != 0 || m == 0)
                .map(|t| format!("topic-{t}"))
                .collect();
            let owned = if m == 0 {
                topics
                    .iter()
                    .flat_map(|(t, meta)| {
                        (0..meta.replica_racks.len() as i32)
                            .map(|p| TopicPartition::new(t.clone(), p))
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let sub = Subscription {
                owned,
                generation: Some(1),
                rack: Some(RACKS[m % 4].to_string()),
                ..Subscription::new(subscribed)
            };
            (format!("member-{m:03}"), sub)
        })
        .collect();
    let case = Case { members, topics };
    for assignor in Assignor::ALL {
        let start = std::time::Instant::now();
        let out = assignor.assign(&case.members, &case.topics);
        validate(&case.members, &case.topics, &out).unwrap();
        eprintln!("{assignor}: {:?}", start.elapsed());
    }
    java_balanced(&case, &sticky::assign(&case.members, &case.topics)).unwrap();
}

/// The name as the Java oracle reads it: `x` and the hex of its UTF-8 bytes.
fn java_token(s: &str) -> String {
    let hex: String = s.bytes().map(|b| format!("{b:02x}")).collect();
    format!("x{hex}")
}

fn java_name(token: &str) -> String {
    let hex = token.strip_prefix('x').expect("a name token");
    let bytes: Vec<u8> = (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex"))
        .collect();
    String::from_utf8(bytes).expect("UTF-8")
}

/// A random case as the Java oracle gets it: instance ids made unique (Java orders
/// two members with the same one by its `HashMap`), owned partitions that do not
/// exist dropped (Java's constrained sticky path would keep them).
fn java_case(seed: u64) -> Case {
    let mut case = random_case(seed);
    let topics = case.topics.clone();
    for (k, s) in case.members.values_mut().enumerate() {
        if let Some(i) = &mut s.instance_id {
            *i = format!("{i}-{k}");
        }
        s.owned.retain(|tp| {
            topics.get(&tp.topic).is_some_and(|t| {
                tp.partition >= 0 && (tp.partition as usize) < t.replica_racks.len()
            })
        });
    }
    case
}

fn java_input(groups: &[(u64, Assignor, Case)]) -> String {
    let mut out = String::new();
    let opt = |s: &Option<String>| s.as_deref().map_or("-".to_string(), java_token);
    for (_, assignor, case) in groups {
        out += &format!("case {}\n", assignor.name());
        for (name, meta) in &case.topics {
            out += &format!("topic {} {}\n", java_token(name), meta.replica_racks.len());
            for racks in &meta.replica_racks {
                let racks: Vec<String> = racks.iter().map(|r| java_token(r)).collect();
                out += &format!("racks {}\n", racks.join(" ")).replace("racks \n", "racks\n");
            }
        }
        for (id, s) in &case.members {
            let mut line = format!(
                "member {} {} {} {} {}",
                java_token(id),
                opt(&s.instance_id),
                opt(&s.rack),
                s.generation.map_or("-".to_string(), |g| g.to_string()),
                s.topics.len()
            );
            for t in &s.topics {
                line += &format!(" {}", java_token(t));
            }
            line += &format!(" {}", s.owned.len());
            for tp in &s.owned {
                line += &format!(" {} {}", java_token(&tp.topic), tp.partition);
            }
            out += &line;
            out += "\n";
        }
        out += "end\n";
    }
    out
}

fn java_output(text: &str) -> Vec<Result<Assignment, String>> {
    let mut results = Vec::new();
    let mut current: Result<Assignment, String> = Ok(Assignment::new());
    for line in text.lines() {
        let t: Vec<&str> = line.split(' ').collect();
        match t[0] {
            "case" => current = Ok(Assignment::new()),
            "error" => current = Err(line.to_string()),
            "assign" => {
                let n: usize = t[2].parse().unwrap();
                let mut list: Vec<TopicPartition> = (0..n)
                    .map(|k| {
                        TopicPartition::new(java_name(t[3 + 2 * k]), t[4 + 2 * k].parse().unwrap())
                    })
                    .collect();
                list.sort();
                if let Ok(a) = &mut current {
                    a.insert(java_name(t[1]), list);
                }
            }
            "end" => results.push(std::mem::replace(&mut current, Ok(Assignment::new()))),
            other => panic!("unexpected oracle line {other:?}"),
        }
    }
    results
}

/// How many of the members' valid owned partitions an assignment leaves in place
/// (a partition's owner is its claim of the highest generation, when unique).
fn kept_in_place(case: &Case, a: &Assignment) -> usize {
    let mut claims: BTreeMap<&TopicPartition, Vec<(i32, &str)>> = BTreeMap::new();
    for (id, s) in &case.members {
        for tp in s.owned.iter().collect::<BTreeSet<_>>() {
            claims
                .entry(tp)
                .or_default()
                .push((s.generation.unwrap_or(-1), id));
        }
    }
    claims
        .iter()
        .filter(|(tp, c)| {
            let best = c.iter().map(|x| x.0).max();
            let top: Vec<_> = c.iter().filter(|x| Some(x.0) == best).collect();
            top.len() == 1 && a[top[0].1].contains(tp)
        })
        .count()
}

/// Java's own assignors (kafka-clients, through `scripts/java/AssignorOracle.java`)
/// on the same random groups: range and roundrobin must agree partition for
/// partition; for the sticky pair, whose steps differ, both must be valid and
/// balanced, and the test prints how often they agree and how many owned
/// partitions each keeps in place. Run by `scripts/java-assignor-oracle.sh`
/// (which fetches the jar, compiles the oracle and sets `KASIO_JAVA_CLASSPATH`);
/// `ORACLE_CASES` groups (default 400), each through all four assignors.
#[test]
#[ignore = "needs Java and kafka-clients: scripts/java-assignor-oracle.sh"]
fn java_oracle() {
    let classpath = std::env::var("KASIO_JAVA_CLASSPATH")
        .expect("KASIO_JAVA_CLASSPATH: the oracle's classes and the kafka-clients jar");
    let n: u64 = std::env::var("ORACLE_CASES").map_or(400, |s| s.parse().expect("ORACLE_CASES"));
    // A group has at least its leader (Java's assignors fail on an empty one).
    let groups: Vec<(u64, Assignor, Case)> = (0..n)
        .map(|seed| (seed, java_case(seed)))
        .filter(|(_, case)| !case.members.is_empty())
        .flat_map(|(seed, case)| Assignor::ALL.map(|a| (seed, a, case.clone())))
        .collect();
    let dir = std::env::temp_dir().join(format!("kasio-java-oracle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (input, output) = (dir.join("groups.txt"), dir.join("java.txt"));
    std::fs::write(&input, java_input(&groups)).unwrap();
    let status = std::process::Command::new("java")
        .args(["-cp", &classpath, "AssignorOracle"])
        .arg(&input)
        .arg(&output)
        .status()
        .expect("java runs");
    assert!(status.success(), "the Java oracle failed: {status}");
    let java = java_output(&std::fs::read_to_string(&output).unwrap());
    assert_eq!(java.len(), groups.len(), "one answer per group");

    let mut mismatches = Vec::new();
    let mut errors = Vec::new();
    // Per sticky assignor: groups, identical results, kept (kasio, Java), Java unbalanced.
    let mut stats: BTreeMap<Assignor, (usize, usize, usize, usize, usize)> = BTreeMap::new();
    for ((seed, assignor, case), java) in groups.iter().zip(java) {
        let ours = assignor.assign(&case.members, &case.topics);
        let java = match java {
            Ok(j) => j,
            Err(e) => {
                errors.push(format!("seed {seed} {assignor}: {e}"));
                if std::env::var("ORACLE_SHOW").is_ok() {
                    for (id, s) in &case.members {
                        let owned: Vec<String> = s.owned.iter().map(|tp| tp.to_string()).collect();
                        eprintln!(
                            "  {id:?} {:?} gen {:?} topics {:?} owned {owned:?}",
                            s.instance_id, s.generation, s.topics
                        );
                    }
                    let t: Vec<(&String, usize)> = case
                        .topics
                        .iter()
                        .map(|(n, m)| (n, m.replica_racks.len()))
                        .collect();
                    eprintln!("  topics {t:?}");
                }
                continue;
            }
        };
        if let Err(e) = validate(&case.members, &case.topics, &java) {
            errors.push(format!(
                "seed {seed} {assignor}: Java's result is invalid: {e}"
            ));
            continue;
        }
        match assignor {
            Assignor::Range | Assignor::RoundRobin => {
                if ours != java {
                    mismatches.push(format!(
                        "seed {seed} {assignor}:\n  kasio {ours:?}\n  java  {java:?}"
                    ));
                }
            }
            Assignor::Sticky | Assignor::CooperativeSticky => {
                let s = stats.entry(*assignor).or_default();
                s.0 += 1;
                s.1 += usize::from(ours == java);
                s.2 += kept_in_place(case, &ours);
                s.3 += kept_in_place(case, &java);
                let eager = *assignor == Assignor::Sticky;
                let unbalanced = (eager && java_balanced(case, &java).is_err())
                    || (eager && identical_subscriptions(case) && spread(&java) > 1);
                s.4 += usize::from(unbalanced);
            }
        }
    }
    for (a, (groups, same, kasio_kept, java_kept, java_unbalanced)) in &stats {
        eprintln!(
            "{a}: {groups} groups, identical results in {same}; owned partitions kept in place: \
             kasio {kasio_kept}, Java {java_kept}; Java unbalanced in {java_unbalanced}"
        );
    }
    // One example of each kind of Java failure.
    let mut kinds: BTreeMap<String, (usize, &String)> = BTreeMap::new();
    for e in &errors {
        let kind = e.split_once(": ").map_or(e.as_str(), |x| x.1);
        let kind = kind
            .split(' ')
            .skip(1)
            .take(3)
            .collect::<Vec<_>>()
            .join(" ");
        kinds.entry(kind).or_insert((0, e)).0 += 1;
    }
    for (n, example) in kinds.values() {
        eprintln!("Java failed {n} times like: {example}");
    }
    eprintln!("{} of {} groups failed in Java", errors.len(), groups.len());
    assert!(
        mismatches.is_empty(),
        "{} range/roundrobin results differ from Java's; first ones:\n{}",
        mismatches.len(),
        mismatches
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
