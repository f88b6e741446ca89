//! Cancellation safety: `recv()` and record-stream futures dropped thousands of
//! times in a `select!` against a timer lose nothing and repeat nothing.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use common::{config, served, VALUE_SIZE};
use kasio_core::consumer::TopicPartition;
use kasio_sim::workload::Checker;
use kasio_tokio::{Consumer, Item};

/// Pending for `polls` polls (waking itself each time), then ready: a timer that
/// fires right after the other branch of a `select!` was polled and found
/// waiting, whatever the clock's resolution.
struct AfterPolls(u32);

impl Future for AfterPolls {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 == 0 {
            return Poll::Ready(());
        }
        self.0 -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Small fetches, small polls, and a partition fetched only once its buffer is
/// empty. With `hold`, brokers also hold each fetch for 2 ms (`fetch.min.bytes`
/// is never reached): `recv` waits often, and for a while each time.
fn trickle(bootstrap: &str, hold: bool) -> kasio_core::config::Config {
    let mut props = vec![
        ("max.poll.records", "5"),
        ("queued.min.messages", "1"),
        ("max.partition.fetch.bytes", "600"),
        ("fetch.max.bytes", "1200"),
    ];
    if hold {
        props.extend([("fetch.min.bytes", "1200"), ("fetch.max.wait.ms", "2")]);
    }
    config(bootstrap, &props)
}

/// A cheap xorshift, so each iteration picks its timer differently.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

const RECORDS: u64 = 6_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recv_dropped_thousands_of_times_loses_and_repeats_nothing() {
    let served = served("cancel", 3, RECORDS);
    let consumer = Consumer::with_seed(trickle(&served.bootstrap, true), 11);
    consumer
        .assign((0..3).map(|p| TopicPartition::new("cancel", p)))
        .unwrap();
    let mut checker = Checker::new(VALUE_SIZE);
    let (mut drops, mut drops_reading, mut rng) = (0u64, 0u64, 0x9e37_79b9_7f4a_7c15u64);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while checker.distinct() < RECORDS {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} records, {drops} drops after 120 s",
            checker.distinct()
        );
        let r = next(&mut rng);
        // Mostly a timer that fires just after `recv` was found waiting; now and
        // then a real short sleep (the clock's resolution is 1 ms).
        let timer = async move {
            if r % 8 == 0 {
                tokio::time::sleep(Duration::from_micros(r % 1_500)).await;
            } else {
                AfterPolls((r % 3) as u32 + 1).await;
            }
        };
        tokio::select! {
            item = consumer.recv() => match item.expect("recv") {
                Item::Records(records) => {
                    for (tp, record) in records.iter() {
                        checker.check(tp, record);
                    }
                }
                Item::Error(e) => panic!("{e}"),
                _ => {}
            },
            () = timer => {
                drops += 1;
                if checker.distinct() < RECORDS {
                    drops_reading += 1;
                }
            }
        }
    }
    // Nothing more: every record exactly once, in order per partition (the
    // checker fails on a repeat or an offset that goes back).
    assert_eq!(
        common::records_within(&consumer, Duration::from_millis(300)).await,
        0
    );
    checker.assert_complete(0, RECORDS, 0);
    assert_eq!(checker.duplicates(), 0);
    assert_eq!(consumer.metrics().records, RECORDS);
    println!("{drops} recv futures dropped, {drops_reading} while records were coming");
    assert!(drops_reading >= 2_000, "only {drops_reading} drops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_streams_dropped_mid_batch_give_their_records_back() {
    let served = served("cancel-stream", 3, RECORDS);
    let consumer = Consumer::with_seed(trickle(&served.bootstrap, false), 12);
    consumer
        .assign((0..3).map(|p| TopicPartition::new("cancel-stream", p)))
        .unwrap();
    let mut checker = Checker::new(VALUE_SIZE);
    let (mut drops, mut streams, mut rng) = (0u64, 0u64, 0x2545_f491_4f6c_dd1du64);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while checker.distinct() < RECORDS {
        assert!(tokio::time::Instant::now() < deadline, "too slow");
        // A fresh stream every few records: most are dropped holding part of a
        // batch, whose records must be read again, not lost.
        streams += 1;
        let mut stream = consumer.records();
        for _ in 0..next(&mut rng) % 4 + 1 {
            let r = next(&mut rng);
            tokio::select! {
                message = stream.next() => {
                    let message = message.expect("open").expect("no errors");
                    checker.check(&message.tp, &message.record);
                }
                () = AfterPolls((r % 3) as u32 + 1) => drops += 1,
            }
        }
    }
    assert_eq!(
        common::records_within(&consumer, Duration::from_millis(300)).await,
        0
    );
    checker.assert_complete(0, RECORDS, 0);
    assert!(streams > 1_000, "{streams} streams");
    println!("{streams} streams, {drops} next() futures dropped");
}
