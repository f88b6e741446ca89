//! The simulated cluster's state and its simulation-side API: brokers, topics,
//! partitions with leaders and leader epochs, the producer (plain and
//! transactional), retention, leader moves, unclean elections, broker crashes and
//! error injection. The wire protocol is in [`super::server`] and the modules it
//! dispatches to; everything here is plain data, driven by the caller's clock.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use kasio_core::codec::Uuid;
use kasio_core::protocol::{ApiKey, ErrorCode};
use kasio_core::records::{Compression, ControlType, EncodeRecordError};
use kasio_core::rng::Rng;
use kasio_core::time::Instant;

use super::group::Coordinator;
use super::history::{HistKind, History};
use super::log::{AppendOptions, PartitionLog};
use super::record::SimRecord;
use super::replication::{Replicas, ReplicationSpec};
use super::server::{Conn, Output, ServerConn};
use super::session::SessionCache;

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    /// Name.
    pub name: String,
    /// Partition count.
    pub partitions: i32,
    /// Replicas per partition (at most the broker count).
    pub replication: i32,
}

/// How to build a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSpec {
    /// Broker count; node ids are `1..=brokers`.
    pub brokers: i32,
    /// Topics to create.
    pub topics: Vec<TopicSpec>,
    /// Broker `id` is advertised as `sim-<id>:<base_port + id>` (serve mode
    /// advertises its real listeners instead).
    pub base_port: u16,
    /// The cluster id in Metadata.
    pub cluster_id: String,
    /// Incremental fetch sessions each broker keeps (Kafka's
    /// `max.incremental.fetch.session.cache.slots`); 0 turns sessions off.
    pub session_slots: usize,
    /// Whether NOT_LEADER_OR_FOLLOWER / FENCED_LEADER_EPOCH fetch errors name the
    /// new leader (KIP-951, Kafka 3.7+).
    pub leader_hints: bool,
    /// Seeds the cluster's own randomness (session ids, member ids).
    pub seed: u64,
    /// How partitions replicate: follower lag, ISR expiry, unclean elections,
    /// racks and follower fetching (KIP-392). The default replicates at once.
    pub replication: ReplicationSpec,
    /// A SASL listener: SaslHandshake and SaslAuthenticate are advertised and
    /// every connection must authenticate first (see [`super::sasl_server`]).
    pub sasl: Option<super::sasl_server::SaslSpec>,
}

impl ClusterSpec {
    /// `brokers` brokers and no topics.
    pub fn new(brokers: i32) -> Self {
        Self {
            brokers,
            topics: Vec::new(),
            base_port: 9092,
            cluster_id: "kasio-sim".into(),
            session_slots: 1000,
            leader_hints: true,
            seed: 0,
            replication: ReplicationSpec::default(),
            sasl: None,
        }
    }

    /// Makes every broker a SASL listener with `sasl`'s mechanisms and users.
    #[must_use]
    pub fn sasl(mut self, sasl: super::sasl_server::SaslSpec) -> Self {
        self.sasl = Some(sasl);
        self
    }

    /// Adds a topic.
    #[must_use]
    pub fn topic(mut self, name: &str, partitions: i32, replication: i32) -> Self {
        self.topics.push(TopicSpec {
            name: name.into(),
            partitions,
            replication,
        });
        self
    }
}

/// Why a simulation-side call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimError {
    /// No such topic or partition.
    UnknownPartition(String, i32),
    /// The partition has no leader (all its replicas are down).
    NoLeader(String, i32),
    /// No such broker, or it cannot lead that partition.
    BadBroker(i32),
    /// The transaction is not open.
    NoTransaction(i64),
    /// The batch cannot be encoded (codec disabled).
    Encode(EncodeRecordError),
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownPartition(t, p) => write!(f, "no partition {t}-{p}"),
            Self::NoLeader(t, p) => write!(f, "{t}-{p} has no leader"),
            Self::BadBroker(b) => write!(f, "broker {b} cannot do that"),
            Self::NoTransaction(p) => write!(f, "producer {p} has no open transaction"),
            Self::Encode(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for SimError {}

/// A transaction of the simulation-side producer (its producer id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TxnId(pub i64);

/// One broker.
#[derive(Debug, Clone)]
pub(crate) struct Broker {
    pub host: String,
    pub port: i32,
    pub up: bool,
    /// The versions advertised in ApiVersions; an API missing here is not spoken.
    pub apis: BTreeMap<ApiKey, (i16, i16)>,
    /// APIs outside kasio-core's codec, by wire key (key, min, max): the
    /// producer APIs (served by [`super::producer`]) and whatever a test adds;
    /// requests for any other of them close the connection.
    pub foreign_apis: Vec<(i16, i16, i16)>,
}

/// One partition: replicas, leadership and the log.
#[derive(Debug, Clone)]
pub(crate) struct Partition {
    pub replicas: Vec<i32>,
    pub leader: Option<i32>,
    pub epoch: i32,
    pub log: PartitionLog,
    pub history: History,
    /// Per-replica log ends, the ISR and the high watermark.
    pub repl: Replicas,
}

#[derive(Debug, Clone)]
pub(crate) struct Topic {
    pub id: Uuid,
    pub partitions: Vec<Partition>,
}

/// An error to answer instead of the real result, for the next `count` requests of
/// one API (on one broker, or any).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Injection {
    /// The API.
    pub api: ApiKey,
    /// Only this broker (`None`: any).
    pub broker: Option<i32>,
    /// The error. Fetch applies session errors and UNKNOWN_SERVER_ERROR at the top
    /// level, anything else to the first partition; partitioned APIs to the first
    /// partition; Metadata to the first topic; group APIs to the whole response.
    pub code: ErrorCode,
    /// How many requests it applies to.
    pub count: u32,
}

/// A read-only view of one partition, for tests and checkers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionView {
    /// The leader, if any replica is up.
    pub leader: Option<i32>,
    /// The leader epoch.
    pub leader_epoch: i32,
    /// The log start offset.
    pub log_start: i64,
    /// The leader's high watermark: what the ISR has (consumers read below it).
    pub high_watermark: i64,
    /// The leader's last stable offset.
    pub last_stable_offset: i64,
    /// The leader's log end offset (above the high watermark while followers lag).
    pub log_end_offset: i64,
}

/// The simulated cluster. See the [module docs](super) for how to drive it.
#[derive(Debug)]
pub struct Cluster {
    pub(crate) spec: ClusterSpec,
    pub(crate) brokers: BTreeMap<i32, Broker>,
    pub(crate) topics: BTreeMap<String, Topic>,
    pub(crate) rng: Rng,
    pub(crate) now: Instant,
    pub(crate) conns: BTreeMap<ServerConn, Conn>,
    pub(crate) sessions: BTreeMap<i32, SessionCache>,
    pub(crate) outputs: VecDeque<Output>,
    /// What the Fetch response being built carries (moved into its `Output`).
    pub(crate) fetched: Vec<super::server::Fetched>,
    pub(crate) injections: Vec<Injection>,
    pub(crate) violations: Vec<String>,
    pub(crate) deviations: Vec<String>,
    pub(crate) notes: Vec<(Option<ServerConn>, String)>,
    /// The connection whose request is being handled (for notes).
    pub(crate) current: Option<ServerConn>,
    pub(crate) coordinator: Coordinator,
    /// Something changed that a parked fetch may be waiting for.
    pub(crate) dirty: bool,
    /// Open transactions: producer id → the partitions written in it (the
    /// simulation-side producer's and the wire producers' alike).
    pub(crate) txns: BTreeMap<i64, BTreeSet<(String, i32)>>,
    /// Producer ids come from one counter for both producers.
    pub(crate) next_producer_id: i64,
    /// Producers on the wire: idempotence and the transaction coordinator.
    pub(crate) producers: super::producer::Producers,
    /// Answers that can move a consumer's position, when kept
    /// ([`Cluster::record_answers`]).
    pub(crate) answers: Option<Vec<(ServerConn, super::answers::PositionAnswer)>>,
    /// Injected errors answered so far, per API.
    injected: BTreeMap<ApiKey, u64>,
    /// Successful SASL re-authentications (see `sasl_server`).
    pub(crate) sasl_reauthentications: u64,
}

/// The versions a simulated broker speaks by default: all the codec speaks, from
/// where Kafka 4 starts (Fetch v4, ListOffsets v1), the group APIs the coordinator
/// implements, and nothing it does not.
pub fn default_apis() -> BTreeMap<ApiKey, (i16, i16)> {
    ApiKey::ALL
        .iter()
        .filter(|k| {
            !matches!(
                k,
                ApiKey::SaslHandshake | ApiKey::SaslAuthenticate | ApiKey::ConsumerGroupHeartbeat
            )
        })
        .map(|&k| {
            let (lo, hi) = k.versions();
            let lo = match k {
                ApiKey::Fetch => lo.max(4),
                ApiKey::ListOffsets => lo.max(1),
                _ => lo,
            };
            (k, (lo, hi))
        })
        .collect()
}

impl Cluster {
    /// A cluster as `spec` says, every partition led by its first replica at epoch 0.
    pub fn new(spec: ClusterSpec) -> Self {
        let brokers = (1..=spec.brokers)
            .map(|id| {
                (
                    id,
                    Broker {
                        host: format!("sim-{id}"),
                        port: i32::from(spec.base_port) + id,
                        up: true,
                        apis: {
                            let mut apis = default_apis();
                            if spec.sasl.is_some() {
                                // Only SaslHandshake v1: v0's raw tokens are not spoken.
                                apis.insert(ApiKey::SaslHandshake, (1, 1));
                                apis.insert(
                                    ApiKey::SaslAuthenticate,
                                    ApiKey::SaslAuthenticate.versions(),
                                );
                            }
                            apis
                        },
                        foreign_apis: super::producer::default_apis(),
                    },
                )
            })
            .collect();
        let mut c = Self {
            rng: Rng::new(spec.seed ^ 0x5155_5354_4552),
            brokers,
            topics: BTreeMap::new(),
            now: Instant::ZERO,
            conns: BTreeMap::new(),
            sessions: BTreeMap::new(),
            outputs: VecDeque::new(),
            fetched: Vec::new(),
            injections: Vec::new(),
            violations: Vec::new(),
            deviations: Vec::new(),
            notes: Vec::new(),
            current: None,
            coordinator: Coordinator::default(),
            dirty: false,
            txns: BTreeMap::new(),
            next_producer_id: 1000,
            producers: Default::default(),
            answers: None,
            injected: BTreeMap::new(),
            sasl_reauthentications: 0,
            spec: spec.clone(),
        };
        for t in &spec.topics {
            c.create_topic(&t.name, t.partitions, t.replication);
        }
        c
    }

    /// The spec the cluster was built from.
    pub fn spec(&self) -> &ClusterSpec {
        &self.spec
    }

    /// `host:port` of every broker, comma-separated (a bootstrap list).
    pub fn bootstrap(&self) -> String {
        self.brokers
            .values()
            .map(|b| format!("{}:{}", b.host, b.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The broker that `host:port` names, if any.
    pub fn broker_at(&self, host: &str, port: u16) -> Option<i32> {
        self.brokers
            .iter()
            .find(|(_, b)| b.host == host && b.port == i32::from(port))
            .map(|(id, _)| *id)
    }

    /// Broker ids.
    pub fn broker_ids(&self) -> Vec<i32> {
        self.brokers.keys().copied().collect()
    }

    /// Whether the broker is up.
    pub fn is_up(&self, broker: i32) -> bool {
        self.brokers.get(&broker).is_some_and(|b| b.up)
    }

    /// Changes where a broker says it is (serve mode: the real listener).
    pub fn set_address(&mut self, broker: i32, host: &str, port: u16) {
        if let Some(b) = self.brokers.get_mut(&broker) {
            b.host = host.into();
            b.port = i32::from(port);
        }
    }

    /// Limits (or with `None` removes) an API on one broker, as ApiVersions will
    /// advertise it; requests outside what is advertised close the connection, as
    /// Kafka does. `set_api(b, ApiKey::OffsetForLeaderEpoch, None)` mimics tansu.
    pub fn set_api(&mut self, broker: i32, api: ApiKey, versions: Option<(i16, i16)>) {
        if let Some(b) = self.brokers.get_mut(&broker) {
            match versions {
                Some(v) => {
                    b.apis.insert(api, v);
                }
                None => {
                    b.apis.remove(&api);
                }
            }
        }
    }

    /// Advertises an API the simulation does not implement (by wire key), for
    /// clients that infer features from the whole list: librdkafka enables its
    /// v2 record format, and with it Fetch v4+, only if Produce v3+ is listed too.
    /// A request for it closes the connection.
    pub fn advertise_foreign_api(&mut self, broker: i32, key: i16, min: i16, max: i16) {
        if let Some(b) = self.brokers.get_mut(&broker) {
            b.foreign_apis.retain(|(k, ..)| *k != key);
            b.foreign_apis.push((key, min, max));
        }
    }

    /// Whether every broker lets a consumer detect an unclean truncation: it speaks
    /// Fetch v12+ (divergence in fetch responses), or Fetch v9+ (fetches carry the
    /// current leader epoch, so a stale one is fenced) with OffsetForLeaderEpoch
    /// v3+ (validation once fenced or after a leader change). Below Fetch v9 a
    /// truncation that keeps the leader is never fenced: by the time metadata
    /// shows the new epoch the consumer may already read past the truncation
    /// point, and its last record's epoch is the new one. A broker with neither
    /// (tansu's Fetch range and no OffsetForLeaderEpoch) can lose records under a
    /// consumer silently, and no client can tell.
    ///
    /// Fencing also needs the consumer to know the current leader epoch, and only
    /// Metadata v7+ names it. Where any broker answers Metadata below v7, a
    /// consumer can be left with no epoch to send: Java's client drops a
    /// partition's epoch on every such answer (`Metadata.updateLatestMetadata`),
    /// kasio once a broker fenced the one it had. A Fetch v9-v11 leader then
    /// serves it unfenced (`Partition.checkCurrentLeaderEpoch` accepts "no
    /// epoch"), and nothing in that response shows a truncation either.
    pub fn detects_truncation(&self) -> bool {
        let max = |b: &Broker, api: ApiKey| b.apis.get(&api).map_or(-1, |v| v.1);
        let epochs_known = self.brokers.values().all(|b| max(b, ApiKey::Metadata) >= 7);
        self.brokers.values().all(|b| {
            let fetch = max(b, ApiKey::Fetch);
            let validate = max(b, ApiKey::OffsetForLeaderEpoch);
            fetch >= 12 || (fetch >= 9 && validate >= 3 && epochs_known)
        })
    }

    /// Creates a topic (no-op if it exists); replicas go round-robin over the
    /// brokers. Returns its id.
    pub fn create_topic(&mut self, name: &str, partitions: i32, replication: i32) -> Uuid {
        if let Some(t) = self.topics.get(name) {
            return t.id;
        }
        let n = self.spec.brokers.max(1);
        let rf = replication.clamp(1, n);
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.rng.next_u64().to_be_bytes());
        id[8..].copy_from_slice(&self.rng.next_u64().to_be_bytes());
        id[0] |= 1; // never the zero uuid
        let parts = (0..partitions)
            .map(|p| {
                let replicas: Vec<i32> = (0..rf).map(|r| (p + r) % n + 1).collect();
                let leader = replicas.iter().copied().find(|b| self.is_up(*b));
                let repl = Replicas::new(&replicas, |b| self.is_up(b), self.now);
                Partition {
                    replicas,
                    leader,
                    epoch: 0,
                    log: PartitionLog::new(0),
                    history: History::default(),
                    repl,
                }
            })
            .collect();
        self.topics.insert(
            name.into(),
            Topic {
                id: Uuid(id),
                partitions: parts,
            },
        );
        self.dirty = true;
        Uuid(id)
    }

    /// Topic names with their partition counts.
    pub fn topics(&self) -> Vec<(String, i32)> {
        self.topics
            .iter()
            .map(|(n, t)| (n.clone(), t.partitions.len() as i32))
            .collect()
    }

    /// A topic's id.
    pub fn topic_id(&self, topic: &str) -> Option<Uuid> {
        self.topics.get(topic).map(|t| t.id)
    }

    pub(crate) fn partition(&self, topic: &str, p: i32) -> Result<&Partition, SimError> {
        self.topics
            .get(topic)
            .and_then(|t| t.partitions.get(usize::try_from(p).ok()?))
            .ok_or_else(|| SimError::UnknownPartition(topic.into(), p))
    }

    pub(crate) fn partition_mut(
        &mut self,
        topic: &str,
        p: i32,
    ) -> Result<&mut Partition, SimError> {
        self.topics
            .get_mut(topic)
            .and_then(|t| t.partitions.get_mut(usize::try_from(p).ok()?))
            .ok_or_else(|| SimError::UnknownPartition(topic.into(), p))
    }

    /// The state of one partition.
    pub fn view(&self, topic: &str, p: i32) -> Result<PartitionView, SimError> {
        let part = self.partition(topic, p)?;
        Ok(PartitionView {
            leader: part.leader,
            leader_epoch: part.epoch,
            log_start: part.log.log_start(),
            high_watermark: part.high_watermark(),
            last_stable_offset: part.last_stable_offset(),
            log_end_offset: part.log.log_end(),
        })
    }

    /// Everything the partition ever held (for checkers).
    pub fn history(&self, topic: &str, p: i32) -> Result<&History, SimError> {
        Ok(&self.partition(topic, p)?.history)
    }

    /// The partition's log (for checkers and tests).
    pub fn log(&self, topic: &str, p: i32) -> Result<&PartitionLog, SimError> {
        Ok(&self.partition(topic, p)?.log)
    }

    // ----- the producer ------------------------------------------------------------

    /// Appends `records` as one batch with `compression`, stamped with the leader
    /// epoch. Returns the first and last offsets.
    pub fn produce(
        &mut self,
        topic: &str,
        partition: i32,
        records: &[SimRecord],
        compression: Compression,
    ) -> Result<(i64, i64), SimError> {
        self.append(topic, partition, records, compression, None)
    }

    fn append(
        &mut self,
        topic: &str,
        partition: i32,
        records: &[SimRecord],
        compression: Compression,
        txn: Option<i64>,
    ) -> Result<(i64, i64), SimError> {
        let part = self.partition_mut(topic, partition)?;
        if part.leader.is_none() {
            return Err(SimError::NoLeader(topic.into(), partition));
        }
        let opts = AppendOptions {
            epoch: part.epoch,
            compression,
            transaction: txn.map(|pid| (pid, 0)),
        };
        let (base, last) = part.log.append(records, opts).map_err(SimError::Encode)?;
        let kind = HistKind::Data {
            producer_id: txn.unwrap_or(-1),
        };
        part.history
            .append(base, kind, records.iter().map(SimRecord::digest).collect());
        self.replicate_append(topic, partition);
        self.dirty = true;
        Ok((base, last))
    }

    /// Starts a transaction (a new transactional producer id).
    pub fn begin_transaction(&mut self) -> TxnId {
        let pid = self.next_producer_id;
        self.next_producer_id += 1;
        self.txns.insert(pid, BTreeSet::new());
        TxnId(pid)
    }

    /// Open transactions.
    pub fn open_transactions(&self) -> Vec<TxnId> {
        self.txns.keys().map(|p| TxnId(*p)).collect()
    }

    /// Appends `records` in transaction `txn`.
    pub fn produce_in(
        &mut self,
        txn: TxnId,
        topic: &str,
        partition: i32,
        records: &[SimRecord],
        compression: Compression,
    ) -> Result<(i64, i64), SimError> {
        if !self.txns.contains_key(&txn.0) {
            return Err(SimError::NoTransaction(txn.0));
        }
        let r = self.append(topic, partition, records, compression, Some(txn.0))?;
        self.txns
            .get_mut(&txn.0)
            .expect("checked")
            .insert((topic.into(), partition));
        Ok(r)
    }

    /// Commits `txn`: a COMMIT marker in every partition it wrote to.
    pub fn commit(&mut self, txn: TxnId) -> Result<(), SimError> {
        self.end_transaction(txn, true)
    }

    /// Aborts `txn`: an ABORT marker in every partition it wrote to.
    pub fn abort(&mut self, txn: TxnId) -> Result<(), SimError> {
        self.end_transaction(txn, false)
    }

    pub(crate) fn end_transaction(&mut self, txn: TxnId, commit: bool) -> Result<(), SimError> {
        let parts = self
            .txns
            .remove(&txn.0)
            .ok_or(SimError::NoTransaction(txn.0))?;
        for (topic, p) in parts {
            self.write_marker(&topic, p, txn.0, commit);
        }
        Ok(())
    }

    /// Writes a transaction marker through the partition's leader; without one,
    /// it waits for the next (the transaction coordinator retries until it can).
    pub(crate) fn write_marker(&mut self, topic: &str, p: i32, pid: i64, commit: bool) {
        if self
            .partition(topic, p)
            .is_ok_and(|part| part.leader.is_none())
        {
            self.defer_marker(topic, p, pid, commit);
            return;
        }
        // A wire producer's marker carries its current epoch (fencing older ones).
        let pepoch = self.producers.epoch_of(pid);
        let Ok(part) = self.partition_mut(topic, p) else {
            return;
        };
        let ts = part.log.log_end();
        if let Some(at) = part.log.append_marker(part.epoch, pid, pepoch, commit, ts) {
            part.history.append(
                at,
                HistKind::Marker {
                    producer_id: pid,
                    commit,
                },
                vec![0],
            );
        }
        self.replicate_append(topic, p);
        self.dirty = true;
    }

    // ----- operations on partitions -------------------------------------------------

    /// Retention (or DeleteRecords): the log starts at `offset` now (at most the
    /// high watermark). Returns the new log start.
    pub fn delete_records(&mut self, topic: &str, p: i32, offset: i64) -> Result<i64, SimError> {
        let part = self.partition_mut(topic, p)?;
        let hw = part.high_watermark();
        let at = part.log.delete_records(offset.min(hw));
        self.replicate_log_start(topic, p, at);
        self.dirty = true;
        Ok(at)
    }

    /// Moves leadership to `broker` (a live, in-sync replica; with no lag, every
    /// live replica): the leader epoch goes up. A tail of the old leader's log
    /// the new one lacks (above the high watermark) is cut.
    pub fn move_leader(&mut self, topic: &str, p: i32, broker: i32) -> Result<(), SimError> {
        if !self.is_up(broker) {
            return Err(SimError::BadBroker(broker));
        }
        let part = self.partition(topic, p)?;
        if !part.replicas.contains(&broker) || !self.in_sync(topic, p, broker) {
            return Err(SimError::BadBroker(broker));
        }
        self.make_leader(topic, p, broker, false);
        self.dirty = true;
        Ok(())
    }

    /// An unclean leader election: `new_leader` (a live replica; `None` keeps the
    /// current one) takes over with a log that ends at `offset` (rounded down to a
    /// batch boundary, and to what it replicated); everything after is lost and the
    /// leader epoch goes up. Decided transactions whose marker was lost get it
    /// written again. Returns the truncation point.
    pub fn truncate(
        &mut self,
        topic: &str,
        p: i32,
        offset: i64,
        new_leader: Option<i32>,
    ) -> Result<i64, SimError> {
        if let Some(b) = new_leader {
            if !self.is_up(b) || !self.partition(topic, p)?.replicas.contains(&b) {
                return Err(SimError::BadBroker(b));
            }
        }
        let limit = self.replica_log_end(topic, p, new_leader);
        let part = self.partition_mut(topic, p)?;
        let (at, reopened) = part.log.truncate(offset.min(limit));
        part.history.truncate(at);
        if let Some(b) = new_leader {
            part.leader = Some(b);
        }
        part.epoch += 1;
        let epoch = part.epoch;
        part.log.assign_epoch(epoch);
        self.replicate_truncation(topic, p, at);
        // A leader again (when there was none): markers that waited are written.
        self.flush_pending_markers(topic, p);
        for (pid, ty) in reopened {
            // A transaction still open in the producer's view keeps waiting for it.
            if !self.txns.contains_key(&pid) {
                self.write_marker(topic, p, pid, ty == ControlType::Commit);
            }
        }
        self.dirty = true;
        Ok(at)
    }

    /// Crashes a broker: its connections close, its fetch sessions and parked
    /// requests are lost, and the partitions it led move to another live replica
    /// (or go offline).
    pub fn crash_broker(&mut self, broker: i32) {
        let Some(b) = self.brokers.get_mut(&broker) else {
            return;
        };
        if !b.up {
            return;
        }
        b.up = false;
        let conns: Vec<ServerConn> = self
            .conns
            .iter()
            .filter(|(_, c)| c.broker == broker)
            .map(|(id, _)| *id)
            .collect();
        for id in &conns {
            self.conns.remove(id);
            self.outputs.push_back(Output::Close { conn: *id });
        }
        // Sessions live in memory: lost. (What was issued is remembered, to tell a
        // stale session from one the client made up.)
        if let Some(cache) = self.sessions.get_mut(&broker) {
            cache.sessions.clear();
        }
        self.coordinator.broker_down(&conns);
        // It leaves every ISR; what it led elects a new leader from the ISR.
        self.replication_broker_down(broker);
        self.dirty = true;
    }

    /// Restarts a crashed broker: it catches up as a follower; offline
    /// partitions elect it if it is in their ISR (or any live replica, with
    /// unclean elections on).
    pub fn restart_broker(&mut self, broker: i32) {
        let Some(b) = self.brokers.get_mut(&broker) else {
            return;
        };
        if b.up {
            return;
        }
        b.up = true;
        self.replication_broker_up(broker);
        self.dirty = true;
    }

    /// Answers the next `inj.count` requests of an API with an error.
    pub fn inject_error(&mut self, inj: Injection) {
        self.injections.push(inj);
    }

    /// Drops every pending injection.
    pub fn clear_injections(&mut self) {
        self.injections.clear();
    }

    /// Takes one use of an injection for `api` on `broker`.
    /// How many injected errors were answered, per API (an injection nobody
    /// asked for before it was cleared never took effect).
    pub fn injections_answered(&self) -> &BTreeMap<ApiKey, u64> {
        &self.injected
    }

    /// A partition's replicas (the leader among them).
    pub fn replicas(&self, topic: &str, p: i32) -> Result<Vec<i32>, SimError> {
        Ok(self.partition(topic, p)?.replicas.clone())
    }

    pub(crate) fn take_injection(&mut self, broker: i32, api: ApiKey) -> Option<ErrorCode> {
        let i = self
            .injections
            .iter()
            .position(|j| j.api == api && j.count > 0 && j.broker.is_none_or(|b| b == broker))?;
        let j = &mut self.injections[i];
        j.count -= 1;
        let code = j.code;
        *self.injected.entry(api).or_default() += 1;
        if j.count == 0 {
            self.injections.remove(i);
        }
        Some(code)
    }

    /// Protocol violations by clients seen since the last call (a request the
    /// broker must reject that a correct client never sends: a fetch session epoch
    /// out of order, an API or version not advertised, an undecodable request).
    pub fn take_violations(&mut self) -> Vec<String> {
        std::mem::take(&mut self.violations)
    }

    /// What the brokers did since the last call, one line per request, with the
    /// connection it came on (for traces).
    pub fn take_notes(&mut self) -> Vec<(Option<ServerConn>, String)> {
        std::mem::take(&mut self.notes)
    }

    /// Requests a broker rejects with a retriable error that a careful client
    /// avoids (switching topic-id use within a fetch session): not fatal, but
    /// counted, and fatal in strict runs.
    pub fn take_deviations(&mut self) -> Vec<String> {
        std::mem::take(&mut self.deviations)
    }

    pub(crate) fn deviation(&mut self, what: String) {
        self.notes.push((self.current, format!("DEVIATION {what}")));
        self.deviations.push(what);
    }

    pub(crate) fn violation(&mut self, what: String) {
        self.notes.push((self.current, format!("VIOLATION {what}")));
        self.violations.push(what);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::ClusterSpec;

    #[test]
    fn truncation_is_detectable_only_where_consumers_learn_leader_epochs() {
        let cluster = || Cluster::new(ClusterSpec::new(3).topic("t", 1, 3));
        assert!(cluster().detects_truncation(), "every API at its newest");
        // Fetch v11 fences a stale epoch, if the consumer has one to send.
        let mut c = cluster();
        c.set_api(2, ApiKey::Fetch, Some((4, 11)));
        assert!(c.detects_truncation());
        // Sim seed 14814: b2's Metadata v4 names no leader epochs, so a consumer
        // can fetch with none and b2's Fetch v11 serves it across a truncation.
        c.set_api(2, ApiKey::Metadata, Some((0, 4)));
        assert!(!c.detects_truncation());
        // Another broker's old Metadata leaves it epochless just the same.
        let mut c = cluster();
        c.set_api(2, ApiKey::Fetch, Some((4, 11)));
        c.set_api(1, ApiKey::Metadata, Some((0, 4)));
        assert!(!c.detects_truncation());
        // With Fetch v12+ everywhere the divergence check needs no current epoch.
        let mut c = cluster();
        c.set_api(2, ApiKey::Metadata, Some((0, 4)));
        assert!(c.detects_truncation());
    }
}
