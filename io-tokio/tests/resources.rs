//! What a consumer holds: the prefetch stays bounded while the application does
//! not poll, dropping never blocks and closes the sockets, and pending futures
//! end when the consumer goes.

mod common;

use std::time::{Duration, Instant};

use common::{config, read_until, served};
use kasio_core::consumer::TopicPartition;
use kasio_sim::sim::serve::Served;
use kasio_sim::sim::ClusterSpec;
use kasio_sim::workload::Checker;
use kasio_tokio::{Consumer, Error};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

/// A consumer that never polls: the bytes read from the brokers stop growing at
/// about the core's prefetch limit, however much the topic holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_that_never_polls_keeps_its_prefetch_bounded() {
    const VALUE: usize = 1_000;
    let served = Served::start(ClusterSpec::new(2).topic("bp", 2, 1)).expect("serve");
    served.with_cluster(|c| common::produce_sized(c, "bp", 2, 0, 6_000, VALUE));
    let props = [
        ("queued.max.messages.kbytes", "64"),
        ("max.partition.fetch.bytes", "16384"),
        ("fetch.max.bytes", "32768"),
    ];
    let consumer = Consumer::with_seed(config(&served.bootstrap, &props), 21);
    consumer
        .assign((0..2).map(|p| TopicPartition::new("bp", p)))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let idle = consumer.metrics().bytes_received;
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(consumer.metrics().bytes_received, idle, "still fetching");
    // The limit, one response per broker beyond it, and metadata.
    assert!(
        idle < 64 * 1024 + 2 * 32 * 1024 + 16 * 1024,
        "{idle} bytes read"
    );

    let mut checker = Checker::new(VALUE);
    read_until(&consumer, &mut checker, 6_000, Duration::from_secs(60)).await;
    checker.assert_complete(0, 6_000, 0);
    let total = consumer.metrics().bytes_received;
    println!("{idle} bytes read while not polling, {total} in all");
    assert!(total > 10 * idle, "idle {idle}, total {total}");
}

/// Dropping a consumer whose connections are open (one busy, one to a broker
/// that never answers) returns at once, closes every socket, and ends the
/// futures still waiting for answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_never_blocks_and_closes_the_sockets() {
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap().to_string();
    let (accepted_tx, mut accepted) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = silent.accept().await.unwrap();
            let tx = accepted_tx.clone();
            tokio::spawn(async move {
                let _ = tx.send("accepted");
                let mut buf = [0u8; 4096];
                // Read (and never answer) until the client closes.
                while matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {}
                let _ = tx.send("closed");
            });
        }
    });
    let consumer = Consumer::with_seed(config(&silent_addr, &[]), 22);
    consumer
        .assign([TopicPartition::new("nowhere", 0)])
        .unwrap();
    let query = consumer.offsets_for_times([(TopicPartition::new("nowhere", 0), -1)]);
    assert_eq!(accepted.recv().await, Some("accepted"));

    let started = Instant::now();
    drop(consumer);
    let took = started.elapsed();
    assert!(took < Duration::from_millis(50), "drop took {took:?}");
    let closed = tokio::time::timeout(Duration::from_secs(2), accepted.recv()).await;
    assert_eq!(closed, Ok(Some("closed")), "the socket stayed open");
    let answer = tokio::time::timeout(Duration::from_secs(1), query).await;
    assert_eq!(answer, Ok(Err(Error::Closed)));

    // The same with records flowing from a working cluster.
    let served = served("drop", 3, 3_000);
    let consumer = Consumer::with_seed(config(&served.bootstrap, &[]), 23);
    consumer
        .assign((0..3).map(|p| TopicPartition::new("drop", p)))
        .unwrap();
    let mut checker = Checker::new(common::VALUE_SIZE);
    read_until(&consumer, &mut checker, 100, Duration::from_secs(30)).await;
    assert!(consumer.metrics().open_connections > 0);
    let started = Instant::now();
    drop(consumer);
    let took = started.elapsed();
    assert!(took < Duration::from_millis(50), "drop took {took:?}");
}

/// `close` against a broker that never answers gives up at its timeout and
/// still closes everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_is_bounded_by_its_timeout() {
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let _keep = tokio::spawn(async move {
        let mut sockets = Vec::new();
        loop {
            sockets.push(silent.accept().await.unwrap().0);
        }
    });
    let consumer = Consumer::with_seed(config(&addr, &[("group.id", "g")]), 24);
    consumer.subscribe(["nowhere"]).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let closed = consumer.close(Duration::from_millis(300)).await;
    let took = started.elapsed();
    assert!(matches!(closed, Ok(()) | Err(Error::Timeout)), "{closed:?}");
    assert!(took < Duration::from_millis(600), "close took {took:?}");
    assert_eq!(consumer.recv().await.unwrap_err(), Error::Closed);
    assert_eq!(consumer.metrics().open_connections, 0);
}
