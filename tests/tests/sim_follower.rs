//! Follower fetching (KIP-392) against the simulated cluster's replication model:
//! a consumer that says its rack is sent by the leader to the in-sync follower in
//! that rack, reads from it, goes back to the leader when that follower crashes or
//! falls out of the ISR, returns once it is back in sync, and reads every record
//! exactly once, in order (the world's checker sees every delivery).

use kasio_core::config::Config;
use kasio_core::consumer::{Event, TopicPartition};
use kasio_core::records::Compression;
use kasio_core::time::Duration;
use kasio_sim::sim::{Cluster, ClusterSpec, ConsumerId, NetConfig, SimRecord, World};

const TOPIC: &str = "t";

/// Three brokers in three racks; followers replicate within a few milliseconds
/// and leave the ISR after 300 ms behind; leaders use the rack-aware selector.
fn cluster() -> Cluster {
    let mut spec = ClusterSpec::new(3).topic(TOPIC, 1, 3);
    spec.replication.lag = Duration::from_millis(5);
    spec.replication.lag_max = Duration::from_millis(300);
    spec.replication.rack_aware_selector = true;
    for (b, rack) in [(1, "az1"), (2, "az2"), (3, "az3")] {
        spec.replication.racks.insert(b, rack.into());
    }
    Cluster::new(spec)
}

struct Run {
    world: World,
    consumer: ConsumerId,
    /// Records produced so far (their sequence numbers are 0..next).
    next: u64,
}

impl Run {
    /// A checked consumer in rack az2 (broker 2's), assigned partition 0.
    fn new() -> Self {
        let cluster = cluster();
        let bootstrap = cluster.bootstrap();
        let mut world = World::new(cluster, NetConfig::default(), 11);
        let config = Config::from_pairs([
            ("bootstrap.servers", bootstrap.as_str()),
            ("auto.offset.reset", "earliest"),
            ("client.rack", "az2"),
            // The preferred replica is asked again this often (and so is the
            // leader, which may name another).
            ("metadata.max.age.ms", "1000"),
            ("fetch.max.wait.ms", "100"),
        ])
        .unwrap();
        let consumer = world.add_checked_consumer(config);
        world
            .with_consumer(consumer, |c| c.assign([TopicPartition::new(TOPIC, 0)]))
            .unwrap();
        world.set_auto_poll(consumer, Some(Duration::from_millis(5)));
        Self {
            world,
            consumer,
            next: 0,
        }
    }

    /// Produces five records every 20 ms for `ms` milliseconds.
    fn produce_for(&mut self, ms: u64) {
        let end = self.world.now() + Duration::from_millis(ms);
        while self.world.now() < end {
            let records: Vec<SimRecord> = (self.next..self.next + 5)
                .map(|i| {
                    let value = format!("value-{i}");
                    SimRecord::new(1_700_000_000_000 + i as i64, None, Some(value.as_bytes()))
                })
                .collect();
            self.world
                .with_cluster(|c| c.produce(TOPIC, 0, &records, Compression::Lz4))
                .expect("broker 1 leads throughout");
            self.next += 5;
            self.world
                .run_for(Duration::from_millis(20))
                .expect("checked");
        }
    }

    /// Runs until the consumer has delivered everything below the high watermark
    /// (at most `ms` milliseconds).
    fn catch_up(&mut self, ms: u64) {
        let deadline = self.world.now() + Duration::from_millis(ms);
        let c = self.consumer;
        let done = self
            .world
            .run_until(deadline, |w| {
                let hw = w.cluster().view(TOPIC, 0).unwrap().high_watermark;
                w.checker(c).unwrap().delivered() as i64 == hw
            })
            .expect("checked");
        let v = self.world.cluster().view(TOPIC, 0).unwrap();
        assert!(
            done,
            "not caught up: delivered {} of {}",
            self.delivered(),
            v.high_watermark
        );
    }

    fn delivered(&self) -> u64 {
        self.world.checker(self.consumer).unwrap().delivered()
    }

    /// Record bytes broker 2 served as a follower so far.
    fn follower_bytes(&self) -> u64 {
        let reads = self.world.cluster().follower_reads(TOPIC, 0).unwrap();
        assert!(
            reads.keys().all(|b| *b == 2),
            "only the follower in the consumer's rack serves it: {reads:?}"
        );
        reads.get(&2).copied().unwrap_or(0)
    }

    fn isr(&self) -> Vec<i32> {
        self.world.cluster().isr(TOPIC, 0).unwrap()
    }
}

#[test]
fn a_consumer_reads_from_its_racks_follower_and_follows_it_through_failures() {
    let mut run = Run::new();

    // 1. The leader (broker 1, az1) sends the consumer to broker 2 (az2).
    run.produce_for(1000);
    run.catch_up(2000);
    let served = run.follower_bytes();
    assert!(served > 0, "broker 2 served nothing");

    // 2. Broker 2 crashes: the consumer reads from the leader meanwhile.
    run.world.with_cluster(|c| c.crash_broker(2));
    let before = run.delivered();
    run.produce_for(1000);
    run.catch_up(3000);
    assert!(
        run.delivered() >= before + 200,
        "no progress without broker 2"
    );
    assert_eq!(
        run.follower_bytes(),
        served,
        "a crashed broker served records"
    );
    assert_eq!(run.isr(), vec![1, 3]);

    // 3. It comes back, catches up, rejoins the ISR: the leader sends the consumer
    //    there again.
    run.world.with_cluster(|c| c.restart_broker(2));
    run.produce_for(2500);
    run.catch_up(3000);
    assert_eq!(run.isr(), vec![1, 2, 3]);
    assert!(
        run.follower_bytes() > served,
        "broker 2 serves again once in sync"
    );

    // 4. Its replica fetcher stalls: it falls out of the ISR (the high watermark
    //    moves on without it), the consumer's preference expires, and the leader
    //    no longer names it.
    let until = run.world.now() + Duration::from_millis(3000);
    run.world.with_cluster(|c| c.stall_replication(2, until));
    run.produce_for(2000);
    assert_eq!(run.isr(), vec![1, 3]);
    run.catch_up(3000);
    let stalled = run.follower_bytes();
    let r2 = run.world.cluster().replica(TOPIC, 0, 2).unwrap();
    let v = run.world.cluster().view(TOPIC, 0).unwrap();
    assert!(
        r2.high_watermark < v.high_watermark,
        "the stalled follower's HW stays behind: {r2:?} vs {v:?}"
    );

    // 5. The stall ends: back in sync, back to serving the consumer.
    run.world.run_until(until, |_| false).expect("checked");
    run.produce_for(2500);
    run.catch_up(3000);
    assert_eq!(run.isr(), vec![1, 2, 3]);
    assert!(
        run.follower_bytes() > stalled,
        "broker 2 serves again after the stall"
    );

    // Everything, once, in order (the checker failed the world otherwise), with no
    // truncation or reset past the first positioning.
    let v = run.world.cluster().view(TOPIC, 0).unwrap();
    assert_eq!(v.high_watermark, run.next as i64);
    assert_eq!(run.delivered(), run.next);
    let c = run.consumer;
    let events = run.world.take_events(c);
    let resets = events
        .iter()
        .filter(|e| matches!(e, Event::OffsetReset { .. }))
        .count();
    assert_eq!(resets, 1, "one reset (to earliest) only: {events:?}");
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::LogTruncation { .. })),
        "{events:?}"
    );
}

#[test]
fn a_consumer_without_a_rack_reads_from_the_leader_only() {
    let cluster = cluster();
    let bootstrap = cluster.bootstrap();
    let mut world = World::new(cluster, NetConfig::default(), 5);
    let config = Config::from_pairs([
        ("bootstrap.servers", bootstrap.as_str()),
        ("auto.offset.reset", "earliest"),
    ])
    .unwrap();
    let c = world.add_checked_consumer(config);
    world
        .with_consumer(c, |c| c.assign([TopicPartition::new(TOPIC, 0)]))
        .unwrap();
    world.set_auto_poll(c, Some(Duration::from_millis(5)));
    let records: Vec<SimRecord> = (0..50)
        .map(|i| SimRecord::new(1_700_000_000_000 + i, None, Some(b"v")))
        .collect();
    world
        .with_cluster(|cl| cl.produce(TOPIC, 0, &records, Compression::None))
        .unwrap();
    // Replicated only after a follower round trip: not readable at once.
    assert_eq!(world.cluster().view(TOPIC, 0).unwrap().high_watermark, 0);
    let deadline = world.now() + Duration::from_secs(5);
    let done = world
        .run_until(deadline, |w| w.checker(c).unwrap().delivered() == 50)
        .unwrap();
    assert!(done);
    assert!(world.cluster().follower_reads(TOPIC, 0).unwrap().is_empty());
}

/// The swarm (tests/tests/sim_consumer.rs) exercises what this file tests by hand:
/// in some seeds followers serve consumers, and leader elections cut uncommitted
/// tails.
#[test]
fn the_swarm_exercises_follower_fetching_and_clean_cuts() {
    let (mut served, mut cut) = (0, 0);
    let mut replayed = false;
    for seed in 0..60 {
        let o = kasio_sim::sim::scenario::run_seed(seed).unwrap_or_else(|f| panic!("{f}"));
        served += u64::from(o.follower_bytes > 0);
        cut += u64::from(o.cuts.0 > 0);
        if o.follower_bytes > 0 && !replayed {
            // Replication is seeded like everything else: same seed, same run.
            let again = kasio_sim::sim::scenario::run_seed(seed).unwrap();
            assert_eq!(o, again, "seed {seed} ran two different ways");
            replayed = true;
        }
    }
    assert!(
        served >= 5,
        "followers served consumers in {served} of 60 seeds"
    );
    assert!(cut >= 1, "clean elections cut a tail in {cut} of 60 seeds");
}

/// A follower that dies while the consumer has no fetch in flight to it (its
/// buffer was full): the consumer must not wait for the preference to expire
/// (metadata.max.age.ms) before reading from the leader again.
#[test]
fn a_follower_that_dies_between_fetches_is_given_up_at_once() {
    let cluster = cluster();
    let bootstrap = cluster.bootstrap();
    let mut world = World::new(cluster, NetConfig::default(), 3);
    let config = Config::from_pairs([
        ("bootstrap.servers", bootstrap.as_str()),
        ("auto.offset.reset", "earliest"),
        ("client.rack", "az2"),
        ("metadata.max.age.ms", "300000"),
        ("queued.max.messages.kbytes", "1"),
        ("max.partition.fetch.bytes", "2048"),
        ("fetch.max.bytes", "2048"),
        ("max.poll.records", "10"),
    ])
    .unwrap();
    let c = world.add_checked_consumer(config);
    world
        .with_consumer(c, |c| c.assign([TopicPartition::new(TOPIC, 0)]))
        .unwrap();
    let mut next = 0u64;
    let mut produce = |w: &mut World, n: u64| {
        let records: Vec<SimRecord> = (next..next + n)
            .map(|i| SimRecord::new(1_700_000_000_000 + i as i64, None, Some(&[b'x'; 200])))
            .collect();
        w.with_cluster(|cl| cl.produce(TOPIC, 0, &records, Compression::None))
            .unwrap();
        next += n;
    };
    for _ in 0..100 {
        produce(&mut world, 5);
    }
    // Read a little from the follower, then stop polling: the buffer fills and
    // the consumer stops fetching.
    world.set_auto_poll(c, Some(Duration::from_millis(50)));
    world.run_for(Duration::from_millis(500)).unwrap();
    assert!(world.cluster().follower_reads(TOPIC, 0).unwrap()[&2] > 0);
    world.set_auto_poll(c, None);
    world.run_for(Duration::from_millis(500)).unwrap();
    let read = world.checker(c).unwrap().delivered();
    assert!(read < 200, "most records are still to read: {read}");
    world.with_cluster(|cl| cl.crash_broker(2));
    world.run_for(Duration::from_millis(100)).unwrap();
    world.set_auto_poll(c, Some(Duration::from_millis(5)));
    let deadline = world.now() + Duration::from_secs(20);
    let done = world
        .run_until(deadline, |w| w.checker(c).unwrap().delivered() == 500)
        .unwrap();
    assert!(
        done,
        "stuck at {} of 500 records: the dead follower is still preferred",
        world.checker(c).unwrap().delivered()
    );
}
