//! The simulated cluster over real TCP (serve mode), checked with clients nobody
//! here wrote (librdkafka, through the rig's reference consumer) and with kasio's
//! own blocking driver.

use std::time::{Duration, Instant};

use kasio_core::config::Config;
use kasio_core::consumer::TopicPartition;
use kasio_core::records::Compression;
use kasio_sim::rig::reference_consume;
use kasio_sim::sim::serve::Served;
use kasio_sim::sim::{Cluster, ClusterSpec, SimRecord};
use kasio_sim::workload::{expected, is_aborted, Checker};

mod common;

const VALUE_SIZE: usize = 100;

/// Record `i` of the rig's workload (see `kasio_sim::workload`), as the simulated
/// producer writes it.
fn workload_record(i: u64) -> SimRecord {
    let e = expected(i, VALUE_SIZE);
    let mut r = SimRecord::new(e.timestamp, e.key.as_deref(), e.value.as_deref());
    for (k, v) in &e.headers {
        r = r.with_header(k, v.as_deref());
    }
    r
}

/// Produces records `0..count` round-robin over `partitions`, in batches of up to
/// 7 records, cycling through every codec; with `txn_size` > 0, in transactions
/// of that many records, every third one aborted (as `workload::is_aborted`).
fn produce(cluster: &mut Cluster, topic: &str, partitions: u64, count: u64, txn_size: u64) {
    let mut per_partition: Vec<Vec<u64>> = vec![Vec::new(); partitions as usize];
    for i in 0..count {
        per_partition[(i % partitions) as usize].push(i);
    }
    let mut codec = Compression::ALL.iter().cycle();
    if txn_size == 0 {
        for (p, seqs) in per_partition.iter().enumerate() {
            for chunk in seqs.chunks(7) {
                let recs: Vec<SimRecord> = chunk.iter().map(|&i| workload_record(i)).collect();
                let c = *codec.next().expect("cycle");
                cluster.produce(topic, p as i32, &recs, c).expect("produce");
            }
        }
        return;
    }
    for start in (0..count).step_by(txn_size as usize) {
        let txn = cluster.begin_transaction();
        for i in start..(start + txn_size).min(count) {
            let p = (i % partitions) as i32;
            let c = *codec.next().expect("cycle");
            cluster
                .produce_in(txn, topic, p, &[workload_record(i)], c)
                .expect("produce");
        }
        if is_aborted(start, txn_size) {
            cluster.abort(txn).expect("abort");
        } else {
            cluster.commit(txn).expect("commit");
        }
    }
}

#[test]
fn librdkafka_reads_what_the_simulation_produced() {
    let served = Served::start(ClusterSpec::new(3).topic("served", 4, 2)).expect("serve");
    served.with_cluster(|c| produce(c, "served", 4, 2000, 0));
    let seqs = reference_consume(&served.bootstrap, "served", 4, &[]);
    assert_eq!(seqs, (0..2000).collect::<Vec<u64>>());
}

#[test]
fn librdkafka_read_committed_skips_aborted_transactions() {
    let served = Served::start(ClusterSpec::new(2).topic("txn", 3, 2)).expect("serve");
    served.with_cluster(|c| produce(c, "txn", 3, 600, 10));
    let want: Vec<u64> = (0..600).filter(|&i| !is_aborted(i, 10)).collect();
    let seqs = reference_consume(
        &served.bootstrap,
        "txn",
        3,
        &["isolation.level=read_committed"],
    );
    assert_eq!(seqs, want);
    let all = reference_consume(&served.bootstrap, "txn", 3, &[]);
    assert_eq!(all, (0..600).collect::<Vec<u64>>());
    // librdkafka alone: no kasio driver takes part in this row.
    kasio_sim::rig::report("sim/serve-librdkafka", "kasio-sim (serve)", &[], 600);
}

/// read_committed, exactly: on a broker that returns aborted transactions (the
/// simulated one, whose answers librdkafka's consumer reads as exactly the committed
/// records in the test above), kasio reads exactly the committed records too, on
/// either driver.
#[test]
fn kasio_read_committed_reads_exactly_the_committed_records() {
    let served = Served::start(ClusterSpec::new(2).topic("txn-k", 3, 2)).expect("serve");
    served.with_cluster(|c| produce(c, "txn-k", 3, 600, 10));
    let committed = (0..600).filter(|&i| !is_aborted(i, 10)).count() as u64;
    let props = [("isolation.level", "read_committed")];
    for driver in common::Driver::ALL {
        let (checker, events) = common::consume(
            driver,
            &served.bootstrap,
            "txn-k",
            3,
            committed,
            VALUE_SIZE,
            &props,
            |_| {},
        );
        checker.assert_complete(0, 600, 10);
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, kasio_core::consumer::Event::Error(_))),
            "{driver:?}: {events:?}"
        );
    }
    common::report_both("sim/serve-read-committed", "kasio-sim (serve)", committed);
}

#[test]
fn kasio_std_consumer_reads_the_served_cluster_while_it_grows() {
    let served = Served::start(ClusterSpec::new(3).topic("grow", 3, 3)).expect("serve");
    served.with_cluster(|c| produce(c, "grow", 3, 300, 0));
    let config = Config::from_pairs([
        ("bootstrap.servers", served.bootstrap.as_str()),
        ("auto.offset.reset", "earliest"),
        ("fetch.max.wait.ms", "50"),
    ])
    .expect("config");
    let mut consumer = kasio_std::Consumer::with_seed(config, 1);
    consumer
        .core_mut()
        .assign((0..3).map(|p| TopicPartition::new("grow", p)))
        .unwrap();
    let mut checker = Checker::new(VALUE_SIZE);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut moved = false;
    while checker.distinct() < 600 && Instant::now() < deadline {
        for (tp, r) in consumer.poll(Duration::from_millis(100)).iter() {
            checker.check(tp, r);
        }
        if checker.distinct() >= 300 && !moved {
            // More data, and a leader move in the middle of it: the long-polling
            // fetch wakes up, the consumer follows the leader.
            moved = true;
            served.with_cluster(|c| {
                c.move_leader("grow", 0, 2).expect("move");
                let recs: Vec<SimRecord> = (300..600)
                    .filter(|i| i % 3 == 0)
                    .map(workload_record)
                    .collect();
                c.produce("grow", 0, &recs, Compression::Zstd)
                    .expect("produce");
                for p in 1..3u64 {
                    let recs: Vec<SimRecord> = (300..600)
                        .filter(|i| i % 3 == p)
                        .map(workload_record)
                        .collect();
                    c.produce("grow", p as i32, &recs, Compression::Lz4)
                        .expect("produce");
                }
            });
        }
    }
    consumer.close(Duration::from_secs(2));
    checker.assert_complete(0, 600, 0);
}

/// Serves a small cluster for `SIM_SERVE_SECS` seconds (default 60) and prints its
/// bootstrap address, for poking at it with any client (`kcat -L -b …`).
#[test]
#[ignore = "manual: serves until SIM_SERVE_SECS pass"]
fn serve_for_a_while() {
    let served = Served::start(ClusterSpec::new(3).topic("served", 4, 2)).expect("serve");
    served.with_cluster(|c| produce(c, "served", 4, 2000, 0));
    println!("bootstrap {}", served.bootstrap);
    let secs = std::env::var("SIM_SERVE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    std::thread::sleep(Duration::from_secs(secs));
}

/// Two librdkafka consumers in one group (subscribe, rebalance, commit) against
/// the simulated group coordinator.
const GROUP_SCRIPT: &str = r#"
import json, sys, time
from confluent_kafka import Consumer
bootstrap, topic, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
conf = {"bootstrap.servers": bootstrap, "group.id": "sim-group",
        "auto.offset.reset": "earliest", "enable.auto.commit": False,
        "session.timeout.ms": 6000, "heartbeat.interval.ms": 300}
members = []
for i in range(2):
    c = Consumer(dict(conf, **{"client.id": "m%d" % i}))
    c.subscribe([topic])
    members.append(c)
    # The second member joins once the first is consuming: a real rebalance.
    t = time.time() + 1.0
    while time.time() < t:
        c.poll(0.05)
seen = {0: set(), 1: set()}
deadline = time.time() + 60
while len(seen[0] | seen[1]) < total and time.time() < deadline:
    for i, c in enumerate(members):
        m = c.poll(0.05)
        if m is None or m.error():
            continue
        seen[i].add(int(dict(m.headers())["seq"]))
for c in members:
    c.commit(asynchronous=False)
assigned = {i: sorted(p.partition for p in c.assignment()) for i, c in enumerate(members)}
for c in members:
    c.close()
print(json.dumps({"seen": {i: sorted(s) for i, s in seen.items()}, "assigned": assigned}))
"#;

#[test]
fn librdkafka_group_consumers_share_partitions_and_commit() {
    let served = Served::start(ClusterSpec::new(3).topic("grouped", 4, 2)).expect("serve");
    served.with_cluster(|c| produce(c, "grouped", 4, 400, 0));
    let mut cmd = std::process::Command::new(kasio_sim::rig::python());
    cmd.args(["-c", GROUP_SCRIPT, &served.bootstrap, "grouped", "400"]);
    let out = kasio_sim::rig::output_within(&mut cmd, std::time::Duration::from_secs(300));
    let line = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "group script failed: {line}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(line.trim()).expect("json");
    let mut all: Vec<u64> = Vec::new();
    for i in ["0", "1"] {
        all.extend(
            v["seen"][i]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_u64().unwrap()),
        );
    }
    all.sort_unstable();
    all.dedup();
    assert_eq!(all, (0..400).collect::<Vec<u64>>(), "every record read");
    // The final assignment: disjoint, covering every partition.
    let mut owned: Vec<u64> = Vec::new();
    for i in ["0", "1"] {
        let ps = v["assigned"][i].as_array().unwrap();
        assert!(!ps.is_empty(), "member {i} owns nothing: {v}");
        owned.extend(ps.iter().map(|p| p.as_u64().unwrap()));
    }
    owned.sort_unstable();
    assert_eq!(owned, vec![0, 1, 2, 3], "assignment {v}");
    // Commits reached the coordinator: every partition at its end.
    served.with_cluster(|c| {
        for p in 0..4 {
            let end = c.view("grouped", p).unwrap().high_watermark;
            assert_eq!(
                c.committed("sim-group", "grouped", p),
                Some(end),
                "partition {p}"
            );
        }
        assert!(c
            .commits()
            .iter()
            .all(|r| r.generation > 0 && !r.member.is_empty()));
    });
}

fn kcat(args: &[&str]) -> String {
    let out = kasio_sim::rig::output_within(
        std::process::Command::new("kcat").args(args),
        std::time::Duration::from_secs(120),
    );
    assert!(
        out.status.success(),
        "kcat {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn kcat_lists_metadata_and_consumes() {
    let served = Served::start(ClusterSpec::new(3).topic("kc", 3, 2)).expect("serve");
    served.with_cluster(|c| produce(c, "kc", 3, 300, 0));
    let meta: serde_json::Value =
        serde_json::from_str(&kcat(&["-b", &served.bootstrap, "-L", "-J"])).expect("json");
    assert_eq!(meta["brokers"].as_array().unwrap().len(), 3, "{meta}");
    let topic = meta["topics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["topic"] == "kc")
        .expect("topic listed");
    assert_eq!(topic["partitions"].as_array().unwrap().len(), 3);
    // Every record, from every partition, to the end.
    let lines = kcat(&[
        "-b",
        &served.bootstrap,
        "-C",
        "-t",
        "kc",
        "-o",
        "beginning",
        "-e",
        "-q",
        "-f",
        "%p %o %h\n",
    ]);
    let mut seqs: Vec<u64> = lines
        .lines()
        .map(|l| {
            let h = l.split(' ').nth(2).expect("headers");
            let seq = h
                .split(',')
                .next()
                .expect("seq first")
                .trim_start_matches("seq=");
            seq.parse().unwrap_or_else(|_| panic!("{l}"))
        })
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..300).collect::<Vec<u64>>());
}

/// kasio-std hands the application a rebalance before any record of the partitions
/// it assigns: `poll` returns (possibly empty) once `Assigned` has arrived, so the
/// application can pause or seek those partitions first (Java runs
/// `onPartitionsAssigned` inside `poll`, before returning any of their records).
/// One `poll` with a long timeout used to hand out the first records while
/// `Assigned` was still queued.
#[test]
fn kasio_std_poll_returns_a_rebalance_before_records_of_its_partitions() {
    let served = Served::start(ClusterSpec::new(1).topic("assigned", 2, 1)).expect("serve");
    served.with_cluster(|c| produce(c, "assigned", 2, 100, 0));
    let config = Config::from_pairs([
        ("bootstrap.servers", served.bootstrap.as_str()),
        ("group.id", "poll-first"),
        ("auto.offset.reset", "earliest"),
        ("enable.auto.commit", "false"),
    ])
    .expect("config");
    let mut consumer = kasio_std::Consumer::with_seed(config, 1);
    consumer.subscribe(["assigned"]).unwrap();
    let mut assigned = Vec::new();
    let mut read = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while read < 100 && Instant::now() < deadline {
        let records = consumer.poll(Duration::from_secs(10));
        for (tp, _) in records.iter() {
            assert!(
                assigned.contains(tp),
                "a record of {tp} before the application saw it assigned"
            );
            read += 1;
        }
        while let Some(e) = consumer.next_event() {
            if let kasio_core::consumer::Event::Assigned { partitions } = e {
                assigned.extend(partitions);
            }
        }
    }
    assert_eq!(read, 100);
    consumer.close(Duration::from_secs(2));
}

/// kasio-std's `commit_and_ack` returns the commit's results even when the member
/// lost its partitions while the commit was out (UNKNOWN_MEMBER_ID: `Lost` follows,
/// and the revoke's token is stale by then); it used to return the ack's
/// `StaleToken` and drop the results.
#[test]
fn kasio_std_commit_and_ack_reports_the_commit_when_the_membership_is_lost_meanwhile() {
    use kasio_core::consumer::Event;
    use kasio_core::group::CommitError;
    use kasio_core::protocol::{ApiKey, ErrorCode};
    use kasio_sim::sim::Injection;

    let served = Served::start(ClusterSpec::new(1).topic("acked", 2, 1)).expect("serve");
    served.with_cluster(|c| produce(c, "acked", 2, 100, 0));
    let config = Config::from_pairs([
        ("bootstrap.servers", served.bootstrap.as_str()),
        ("group.id", "commit-and-ack"),
        ("auto.offset.reset", "earliest"),
        ("enable.auto.commit", "false"),
        ("heartbeat.interval.ms", "100"),
    ])
    .expect("config");
    let mut consumer = kasio_std::Consumer::with_seed(config, 1);
    consumer.subscribe(["acked"]).unwrap();
    let inject = |api, code| {
        served.with_cluster(|c| {
            c.inject_error(Injection {
                api,
                broker: None,
                code,
                count: 1,
            })
        })
    };
    let mut read = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut revoked = None;
    while revoked.is_none() && Instant::now() < deadline {
        read += consumer.poll(Duration::from_millis(100)).len();
        while let Some(e) = consumer.next_event() {
            if let Event::Revoked { token, .. } = e {
                revoked = Some(token);
            }
        }
        // Once the records are read, a rebalance: the member revokes.
        if read >= 100 && revoked.is_none() {
            inject(ApiKey::Heartbeat, ErrorCode::RebalanceInProgress);
            read = 0;
        }
    }
    let token = revoked.expect("a revoke");
    inject(ApiKey::OffsetCommit, ErrorCode::UnknownMemberId);
    let results = consumer
        .commit_and_ack(token, Duration::from_secs(5))
        .expect("the commit's results");
    assert!(!results.is_empty());
    for (tp, r) in &results {
        assert_eq!(r, &Err(CommitError::MembershipLost), "{tp}");
    }
    let lost =
        std::iter::from_fn(|| consumer.next_event()).any(|e| matches!(e, Event::Lost { .. }));
    assert!(lost, "no Lost after the commit's UNKNOWN_MEMBER_ID");
    consumer.close(Duration::from_secs(2));
}
