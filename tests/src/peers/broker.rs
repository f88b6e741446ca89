//! The brokers group interop tests run their members against, each with the
//! workload's topic: tansu, librdkafka's mock cluster (behind `mock_cluster.py
//! --proxy`, which the Java client and kasio need: the mock advertises flexible
//! group API versions it cannot parse), or kasio-sim's own cluster in serve mode.

use super::checks::Workload;
use super::PeerConfig;
use crate::rig::{produce, MockCluster, ProduceSpec, Tansu};
use crate::sim::serve::Served;
use crate::sim::ClusterSpec;

/// A broker (or cluster) with the workload's topic.
pub enum GroupBroker {
    /// tansu (one broker).
    Tansu(Tansu),
    /// librdkafka's mock cluster, behind the repairing proxy.
    Mock(MockCluster),
    /// kasio-sim's simulated cluster, served over TCP.
    Sim(Served),
}

impl GroupBroker {
    /// tansu with `w`'s topic.
    pub fn tansu(w: &Workload) -> Self {
        GroupBroker::Tansu(Tansu::start(&[(w.topic, w.partitions as u32)]))
    }

    /// The mock cluster: `brokers` brokers, the topic replicated on all of them,
    /// partition leaders spread (partition p on broker p % brokers + 1).
    pub fn mock(w: &Workload, brokers: u32) -> Self {
        let mut m =
            MockCluster::start_for_java(brokers, &[(w.topic, w.partitions as u32, brokers)]);
        for p in 0..w.partitions {
            m.set_leader(w.topic, p, p % brokers as i32 + 1);
        }
        GroupBroker::Mock(m)
    }

    /// kasio-sim's cluster: one broker (so one coordinator), the topic.
    pub fn sim(w: &Workload) -> Self {
        let spec = ClusterSpec::new(1).topic(w.topic, w.partitions, 1);
        GroupBroker::Sim(Served::start(spec).expect("serve the simulated cluster"))
    }

    /// How the broker's process ended, if it has crashed (kasio-sim's cluster runs
    /// in this process: never).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        match self {
            GroupBroker::Tansu(t) => t.0.exited(),
            GroupBroker::Mock(m) => m.0.exited(),
            GroupBroker::Sim(_) => None,
        }
    }

    /// The bootstrap servers.
    pub fn bootstrap(&self) -> String {
        match self {
            GroupBroker::Tansu(t) => t.bootstrap(),
            GroupBroker::Mock(m) => m.bootstrap(),
            GroupBroker::Sim(s) => s.bootstrap.clone(),
        }
    }

    /// For messages and the interop matrix.
    pub fn name(&self) -> &'static str {
        match self {
            GroupBroker::Tansu(_) => "tansu",
            GroupBroker::Mock(_) => "librdkafka-mock",
            GroupBroker::Sim(_) => "kasio-sim",
        }
    }

    /// The mock cluster's control channel (panics for other brokers).
    pub fn mock_mut(&mut self) -> &mut MockCluster {
        match self {
            GroupBroker::Mock(m) => m,
            _ => panic!("{} is not the mock cluster", self.name()),
        }
    }

    /// kasio-sim's served cluster (panics for other brokers).
    pub fn served(&self) -> &Served {
        match self {
            GroupBroker::Sim(s) => s,
            _ => panic!("{} is not kasio-sim", self.name()),
        }
    }

    /// A member of `group` subscribed to `w`'s topic, 100 records per poll. A join
    /// round on the mock lasts `session.timeout.ms` - 1 s whoever has rejoined
    /// (tansu holds each JoinGroup for half of it, hence the peers' default 3 s);
    /// there 4 s keeps the rounds short while a member slowed down by a loaded
    /// machine (the Java client behind the proxy) is not evicted mid-join.
    pub fn member(&self, w: &Workload, group: &str) -> PeerConfig {
        let mut cfg = PeerConfig::new(&self.bootstrap(), group, w.topic);
        cfg.max_poll_records = Some(100);
        if let GroupBroker::Mock(_) = self {
            cfg.session_timeout_ms = Some(4_000);
        }
        cfg
    }

    /// Records `start..start + count` of the workload, produced by librdkafka.
    pub fn produce(&self, w: &Workload, start: u64, count: u64) {
        let mut spec = ProduceSpec::new(w.topic, w.partitions as u32, count);
        spec.start = start;
        spec.value_size = w.value_size;
        let done = produce(&self.bootstrap(), &spec);
        assert_eq!(done.committed, count);
    }
}
