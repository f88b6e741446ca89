//! A deterministic simulated Kafka cluster, and simulation testing for consumers.
//!
//! Everything here is sans-IO and driven by one seeded clock, so a run is a
//! function of its seed: replay a failing seed and get the same bytes, the same
//! events, the same trace hash.
//!
//! - [`Cluster`] is the cluster: N brokers, topics with replicated partitions
//!   (per-replica log ends, follower lag, the ISR and high watermark, racks and
//!   follower fetching: [`replication`]), leaders and leader epochs, logs of
//!   real record batches (encoded with kasio-core, every codec), transactions,
//!   retention, leader moves, unclean elections, crashes and injected errors.
//!   It speaks the wire protocol through kasio-core's codec: ApiVersions,
//!   Metadata, ListOffsets, OffsetForLeaderEpoch and Fetch (v4–17: sessions,
//!   long polling, read_committed, KIP-74/320/392/951);
//!   and, through [`producer`], Produce, idempotence and transactions, so a
//!   real producer (librdkafka) can write to it.
//!   Feed it request bytes ([`Cluster::handle_input`]) and drain responses
//!   ([`Cluster::poll_output`]); it has timers like any sans-IO peer.
//! - [`World`] runs kasio consumers against it over a simulated network
//!   ([`NetConfig`]: latency, fragmentation, resets, partitions, half-open
//!   connections), jumping time from one wake-up to the next, checking invariants
//!   at every step ([`Checker`], [`memory`]) and hashing everything into a trace.
//! - [`scenario`] is the standard swarm-tested run for one seed (what
//!   `tests/tests/sim_consumer.rs` runs by the hundred).
//! - [`group_run`] drives the group coordinator with scripted classic-protocol
//!   members ([`group_member`]) over a small simulated network, with faults, and
//!   judges the group invariants against the coordinator's state at every event
//!   ([`group_check`]): what `tests/tests/sim_group.rs` runs by the hundred.
//! - [`group_world`] runs real kasio consumers as members of a group in the
//!   [`World`], against the simulated coordinator, with faults on the cluster,
//!   the coordinator and the members (crashes, restarts, leaves, stalls past
//!   the poll interval, freezes past the session); each member's
//!   [`Checker`] and the group's [`group_ledger`] judge every step: what
//!   `tests/tests/sim_group_consumer.rs` runs by the hundred.
//! - [`serve::Served`] puts the same cluster behind real TCP listeners, for any
//!   Kafka client.
//!
//! Your own consumer code against a simulated cluster, deterministically:
//!
//! ```
//! use kasio_core::config::Config;
//! use kasio_core::consumer::TopicPartition;
//! use kasio_core::records::Compression;
//! use kasio_core::time::{Duration, Instant};
//! use kasio_sim::sim::{Cluster, ClusterSpec, NetConfig, SimRecord, World};
//!
//! let mut cluster = Cluster::new(ClusterSpec::new(3).topic("orders", 2, 3));
//! let records: Vec<SimRecord> = (0..10)
//!     .map(|i| SimRecord::new(1_700_000_000_000 + i, Some(b"key"), Some(b"value")))
//!     .collect();
//! cluster.produce("orders", 0, &records, Compression::Lz4).unwrap();
//! let bootstrap = cluster.bootstrap(); // "sim-1:9093,sim-2:9094,sim-3:9095"
//!
//! let mut world = World::new(cluster, NetConfig::default(), 42);
//! let config = Config::from_pairs([
//!     ("bootstrap.servers", bootstrap.as_str()),
//!     ("auto.offset.reset", "earliest"),
//! ])
//! .unwrap();
//! // A checked consumer: every record and event is checked against the cluster.
//! let c = world.add_checked_consumer(config);
//! world.with_consumer(c, |c| c.assign([TopicPartition::new("orders", 0)]));
//!
//! // Half-way, leadership moves: the consumer must follow without loss.
//! let mut read = 0;
//! let deadline = Instant::ZERO + Duration::from_secs(30);
//! let done = world
//!     .run_until(deadline, |w| {
//!         read += w.poll_records(c).len();
//!         if read == 5 {
//!             w.with_cluster(|cl| cl.move_leader("orders", 0, 2)).unwrap();
//!         }
//!         read == 10
//!     })
//!     .unwrap();
//! assert!(done, "read {read} records");
//! // Same seed, same run: the hash pins it.
//! let _hash = world.trace().hash();
//! ```

pub mod answers;
mod apis;
pub mod check;
pub mod cluster;
mod fetch;
mod group;
pub mod group_check;
pub mod group_ledger;
pub mod group_member;
pub mod group_run;
pub mod group_world;
pub mod history;
pub mod log;
pub mod memory;
pub mod net;
pub mod producer;
pub mod record;
pub mod replication;
pub mod sasl_server;
pub mod scenario;
pub mod seeds;
pub mod serve;
pub mod server;
mod session;
pub mod trace;
pub mod world;

pub use answers::PositionAnswer;
pub use check::Checker;
pub use cluster::{Cluster, ClusterSpec, Injection, PartitionView, SimError, TopicSpec, TxnId};
pub use group::{CommitRecord, CoordinatorBugs, GroupState, GroupView, MemberView};
pub use net::NetConfig;
pub use record::SimRecord;
pub use replication::{ReplicaView, ReplicationSpec};
pub use server::{Fetched, Output, ServerConn};
pub use world::{ConsumerId, World};
