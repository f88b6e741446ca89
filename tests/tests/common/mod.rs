//! Shared by the end-to-end suites: one consume loop for both drivers, and the
//! interop-matrix report.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use kasio_core::config::Config;
use kasio_core::consumer::{Event, TopicPartition};
use kasio_sim::workload::Checker;

/// The kasio driver a test consumes with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// kasio-std: blocking, the core driven inside `poll`.
    Std,
    /// kasio-tokio: async, the core driven by a background task.
    Tokio,
}

impl Driver {
    /// Both, kasio-std first.
    pub const ALL: [Driver; 2] = [Driver::Std, Driver::Tokio];

    /// The driver's name in the interop matrix.
    pub fn name(self) -> &'static str {
        match self {
            Driver::Std => "kasio-std",
            Driver::Tokio => "kasio-tokio",
        }
    }

    /// The interop-matrix row id of `row` on this driver: `row` itself for
    /// kasio-std, `tokio/<row>` for kasio-tokio.
    pub fn row(self, row: &str) -> String {
        match self {
            Driver::Std => row.to_string(),
            Driver::Tokio => format!("tokio/{row}"),
        }
    }
}

/// Consumes `topic` (all `partitions`, assigned by hand) from the beginning with
/// `driver` until `expect` distinct records are read or 120 s pass, then 300 ms
/// more (nothing beyond the expected records may arrive); `hook` runs after each
/// poll (kasio-std) or batch (kasio-tokio) with the count so far (fault injection
/// mid-run). Returns the checker and every event the consumer reported (kasio-tokio's
/// `Item::Error(e)` as `Event::Error(e)`, `Item::Eof` as `Event::PartitionEof`,
/// `Item::Event(e)` as `e`).
#[allow(clippy::too_many_arguments)]
pub fn consume(
    driver: Driver,
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    expect: u64,
    value_size: usize,
    extra: &[(&str, &str)],
    hook: impl FnMut(u64),
) -> (Checker, Vec<Event>) {
    let checker = Checker::new(value_size);
    consume_into(
        driver, checker, bootstrap, topic, partitions, expect, extra, hook,
    )
}

/// [`consume`] with a checker of the caller's choice.
#[allow(clippy::too_many_arguments)]
pub fn consume_into(
    driver: Driver,
    checker: Checker,
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    expect: u64,
    extra: &[(&str, &str)],
    hook: impl FnMut(u64),
) -> (Checker, Vec<Event>) {
    let mut props = vec![
        ("bootstrap.servers", bootstrap),
        ("auto.offset.reset", "earliest"),
    ];
    props.extend_from_slice(extra);
    let config = Config::from_pairs(props).expect("config");
    let assignment: Vec<TopicPartition> = (0..partitions)
        .map(|p| TopicPartition::new(topic, p))
        .collect();
    match driver {
        Driver::Std => consume_std(config, assignment, checker, expect, hook),
        Driver::Tokio => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime")
            .block_on(consume_tokio(config, assignment, checker, expect, hook)),
    }
}

/// How long a run may take, and how long to go on reading after it.
const DEADLINE: Duration = Duration::from_secs(120);
const SETTLE: Duration = Duration::from_millis(300);

fn consume_std(
    config: Config,
    assignment: Vec<TopicPartition>,
    mut checker: Checker,
    expect: u64,
    mut hook: impl FnMut(u64),
) -> (Checker, Vec<Event>) {
    let mut consumer = kasio_std::Consumer::with_seed(config, 7);
    consumer.core_mut().assign(assignment).unwrap();
    let mut events = Vec::new();
    let deadline = Instant::now() + DEADLINE;
    while checker.distinct() < expect && Instant::now() < deadline {
        let records = consumer.poll(Duration::from_millis(200));
        for (tp, r) in records.iter() {
            checker.check(tp, r);
        }
        while let Some(e) = consumer.next_event() {
            events.push(e);
        }
        hook(checker.distinct());
    }
    // A little more polling: nothing beyond the expected records may arrive.
    let settle = Instant::now() + SETTLE;
    while Instant::now() < settle {
        for (tp, r) in consumer.poll(Duration::from_millis(100)).iter() {
            checker.check(tp, r);
        }
        while let Some(e) = consumer.next_event() {
            events.push(e);
        }
    }
    consumer.close(Duration::from_secs(5));
    (checker, events)
}

async fn consume_tokio(
    config: Config,
    assignment: Vec<TopicPartition>,
    mut checker: Checker,
    expect: u64,
    mut hook: impl FnMut(u64),
) -> (Checker, Vec<Event>) {
    use kasio_tokio::Item;
    let consumer = kasio_tokio::Consumer::with_seed(config, 7);
    consumer.assign(assignment).unwrap();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let mut settle_until = None;
    loop {
        // Until `expect` records are in (at most the deadline), then `SETTLE` more.
        let until = match settle_until {
            Some(t) => t,
            None if checker.distinct() >= expect => {
                let t = tokio::time::Instant::now() + SETTLE;
                settle_until = Some(t);
                t
            }
            None => deadline,
        };
        let Ok(item) = tokio::time::timeout_at(until, consumer.recv()).await else {
            break;
        };
        match item.expect("recv: no fatal error with manual assignment") {
            Item::Records(records) => {
                for (tp, r) in records.iter() {
                    checker.check(tp, r);
                }
                if settle_until.is_none() {
                    hook(checker.distinct());
                }
            }
            Item::Error(e) => events.push(Event::Error(e)),
            Item::Eof { tp, offset } => events.push(Event::PartitionEof { tp, offset }),
            Item::Event(e) => events.push(e),
            other => panic!("no group, yet {other:?}"),
        }
    }
    consumer.close(Duration::from_secs(5)).await.expect("close");
    (checker, events)
}

/// Records that interop-matrix row `row` passed with `driver` (its row id is
/// [`Driver::row`]) against `broker`, `records` records checked. Call it last in
/// a test, after every assertion.
pub fn report(driver: Driver, row: &str, broker: &str, records: u64) {
    kasio_sim::rig::report(&driver.row(row), broker, &[driver.name()], records);
}

/// Records that row `row`, whose test ran both drivers, passed against `broker`.
pub fn report_both(row: &str, broker: &str, records: u64) {
    let drivers: Vec<&str> = Driver::ALL.iter().map(|d| d.name()).collect();
    kasio_sim::rig::report(row, broker, &drivers, records);
}
