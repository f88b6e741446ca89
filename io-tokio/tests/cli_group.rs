//! `kasio group lag|describe` against kasio-sim served over TCP: a group with a
//! live member, and the same group once it is empty (its committed offsets still
//! listed, as `kafka-consumer-groups --describe` lists them).

mod common;

use std::process::Command;
use std::time::Duration;

use common::{config, read_until, served, VALUE_SIZE};
use kasio_core::consumer::TopicPartition;
use kasio_core::group::OffsetAndMetadata;
use kasio_sim::rig::output_within;
use kasio_sim::workload::Checker;
use kasio_tokio::Consumer;
use serde_json::Value;

const KASIO: &str = env!("CARGO_BIN_EXE_kasio");

fn lag_json(bootstrap: &str, group: &str) -> Value {
    let out = output_within(
        Command::new(KASIO).args(["group", "lag", group, "-b", bootstrap, "-J"]),
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// (partition, committed, end, lag, has a member).
type Row = (i64, Option<i64>, Option<i64>, Option<i64>, bool);

fn rows(v: &Value) -> Vec<Row> {
    v["partitions"]
        .as_array()
        .expect("partitions")
        .iter()
        .map(|r| {
            (
                r["partition"].as_i64().unwrap(),
                r["committed"].as_i64(),
                r["end"].as_i64(),
                r["lag"].as_i64(),
                !r["member_id"].is_null(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_of_a_live_group_and_of_the_same_group_empty() {
    // 3 partitions of 100 records each.
    let served = served("lagged", 3, 300);
    let b = served.bootstrap.clone();
    let consumer = Consumer::with_seed(
        config(
            &b,
            &[("group.id", "lag-group"), ("enable.auto.commit", "false")],
        ),
        3,
    );
    consumer.subscribe(["lagged"]).unwrap();
    let mut checker = Checker::new(VALUE_SIZE);
    read_until(&consumer, &mut checker, 300, Duration::from_secs(30)).await;
    // Commit 40 of partition 0 and 70 of partition 1; nothing for partition 2.
    let commits = [(0, 40), (1, 70)]
        .map(|(p, o)| (TopicPartition::new("lagged", p), OffsetAndMetadata::new(o)));
    let results = consumer.commit(commits).await.expect("commit");
    assert!(results.iter().all(|(_, r)| r.is_ok()), "{results:?}");

    let v = tokio::task::spawn_blocking({
        let b = b.clone();
        move || lag_json(&b, "lag-group")
    })
    .await
    .unwrap();
    assert_eq!(v["state"], "Stable", "{v}");
    // The member owns all three; partition 2 has no commit, so no lag either.
    assert_eq!(
        rows(&v),
        vec![
            (0, Some(40), Some(100), Some(60), true),
            (1, Some(70), Some(100), Some(30), true),
            (2, None, Some(100), None, true),
        ],
        "{v}"
    );
    assert_eq!(v["total_lag"], 90);

    consumer.close(Duration::from_secs(5)).await.expect("close");
    let v = tokio::task::spawn_blocking(move || lag_json(&b, "lag-group"))
        .await
        .unwrap();
    assert_eq!(v["state"], "Empty", "{v}");
    // Nobody owns anything now: the committed partitions are still listed.
    assert_eq!(
        rows(&v),
        vec![
            (0, Some(40), Some(100), Some(60), false),
            (1, Some(70), Some(100), Some(30), false),
        ],
        "{v}"
    );
    assert_eq!(v["total_lag"], 90);
}
