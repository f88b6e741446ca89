//! Fetching: one Fetch per broker covering every fetchable partition it serves, kept
//! small by an incremental fetch session (KIP-227), and the handling of what comes
//! back — records into the prefetch buffer, errors into retries, resets and
//! metadata refreshes.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::backoff::Backoff;
use crate::codec::Uuid;
use crate::fetch::session::{FetchSession, PartitionFetch, SessionRequest, FINAL_EPOCH};
use crate::metadata::{BrokerId, BrokerInfo};
use crate::protocol::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
use crate::protocol::messages::fetch_response::PartitionData;
use crate::protocol::messages::{FetchRequest, FetchResponse};
use crate::protocol::{ApiKey, ErrorCode};
use crate::records::{batches, PartitionRecords};
use crate::rng::Rng;
use crate::time::{Duration, Instant};

use super::by_topic::group_by_topic;
use super::error::{BrokerError, LocalError, RemoteError};
use super::event::{ConnRole, Event, ResetReason, TopicPartition};
use super::leadership::is_leadership_error;
use super::partition::{Chunk, FetchState};
use super::purpose::Purpose;
use super::timer::{Timer, Timers};
use super::Consumer;

/// Fetch v7 brought sessions; below it every fetch is a full one.
const FIRST_SESSION_VERSION: i16 = 7;
/// Fetch v13 names topics by ID.
const FIRST_TOPIC_ID_VERSION: i16 = 13;
/// Fetch v12 brought `last_fetched_epoch` and divergence checks (KIP-320).
const FIRST_EPOCH_VERSION: i16 = 12;

/// One broker's fetch state: its session, how the session names topics, whether a
/// fetch is in flight, and the backoff after a failed one.
#[derive(Debug)]
struct BrokerFetch {
    session: FetchSession<TopicPartition>,
    /// Whether the session names topics by ID (Fetch v13+); `None` before the
    /// first request.
    by_topic_ids: Option<bool>,
    in_flight: bool,
    backoff: Backoff,
}

/// The fetch state of every broker the consumer fetches from.
#[derive(Debug)]
pub(crate) struct Fetcher {
    brokers: BTreeMap<BrokerId, BrokerFetch>,
    backoff: (Duration, Duration),
}

impl Fetcher {
    pub fn new(retry_backoff: Duration, retry_backoff_max: Duration) -> Self {
        Self {
            brokers: BTreeMap::new(),
            backoff: (retry_backoff, retry_backoff_max),
        }
    }

    fn broker(&mut self, broker: BrokerId) -> &mut BrokerFetch {
        let (initial, max) = self.backoff;
        self.brokers.entry(broker).or_insert_with(|| BrokerFetch {
            session: FetchSession::new(),
            by_topic_ids: None,
            in_flight: false,
            backoff: Backoff::new(initial, max),
        })
    }

    /// Whether a fetch may go to `broker` at `now`.
    fn can_send(&self, broker: BrokerId, now: Instant) -> bool {
        self.brokers
            .get(&broker)
            .is_none_or(|b| !b.in_flight && b.backoff.ready(now))
    }

    fn in_flight(&self, broker: BrokerId) -> bool {
        self.brokers.get(&broker).is_some_and(|b| b.in_flight)
    }

    /// A fetch to `broker` failed: wait before the next one.
    fn back_off(&mut self, broker: BrokerId, now: Instant, rng: &mut Rng, timers: &mut Timers) {
        let until = self.broker(broker).backoff.fail(now, rng);
        timers.set(Timer::FetchBackoff(broker), until);
    }

    /// A fetch to `broker` will never be answered: its session starts over.
    pub fn on_lost(&mut self, broker: BrokerId) {
        let b = self.broker(broker);
        b.in_flight = false;
        b.session.on_failure();
    }

    /// Brokers with an open fetch session.
    fn open_sessions(&self) -> Vec<BrokerId> {
        self.brokers
            .iter()
            .filter(|(_, b)| b.session.is_open())
            .map(|(id, _)| *id)
            .collect()
    }
}

impl Consumer {
    /// Sends a Fetch to every broker that serves a fetchable partition and has no
    /// fetch in flight; closes the sessions of brokers that serve none any more.
    pub(super) fn send_fetches(&mut self) {
        let now = self.now;
        let byte_cap = self.config.queued_max_messages_kbytes as usize * 1024;
        let record_cap = self.config.queued_min_messages as usize;
        let mut by_broker: BTreeMap<BrokerId, BTreeMap<TopicPartition, PartitionFetch>> =
            BTreeMap::new();
        let mut serving: Vec<BrokerId> = Vec::new();
        let mut missing_leader = false;
        let full = self.assignment.buffered_bytes() >= byte_cap;
        for (tp, s) in self.assignment.iter() {
            let target = match s.preferred_replica {
                Some((replica, until)) if now < until => Some(replica),
                _ => self.leader_of(tp),
            };
            let Some(target) = target else {
                missing_leader |= s.state == FetchState::Fetching;
                continue;
            };
            serving.push(target);
            if full || !s.fetchable(now, record_cap) {
                continue;
            }
            let fetch = PartitionFetch {
                fetch_offset: s.fetch_offset,
                current_leader_epoch: s.request_epoch(),
                last_fetched_epoch: s.fetch_epoch.unwrap_or(-1),
                max_bytes: self.config.max_partition_fetch_bytes as i32,
            };
            by_broker
                .entry(target)
                .or_default()
                .insert(tp.clone(), fetch);
        }
        if missing_leader {
            self.refresh.request();
        }
        // Sessions on brokers that serve none of our partitions any more are closed.
        for broker in self.fetcher.open_sessions() {
            if !serving.contains(&broker) && !self.fetcher.in_flight(broker) {
                self.close_session(broker);
            }
        }
        for (broker, wanted) in by_broker {
            if self.fetcher.can_send(broker, now) {
                self.send_fetch(broker, wanted);
            }
        }
    }

    fn send_fetch(&mut self, broker: BrokerId, wanted: BTreeMap<TopicPartition, PartitionFetch>) {
        let Some(versions) = self.brokers.ready(broker, ConnRole::Data) else {
            self.need_broker(broker);
            return;
        };
        let Some(mut version) = versions.version(ApiKey::Fetch) else {
            let api = ApiKey::Fetch.key();
            self.report(RemoteError::UnsupportedApi { broker, api });
            self.fetcher
                .back_off(broker, self.now, &mut self.rng, &mut self.timers);
            return;
        };
        let mut topic_ids: BTreeMap<&str, Uuid> = wanted
            .keys()
            .map(|tp| {
                let t = tp.topic.as_str();
                (t, self.metadata.topic(t).map(|i| i.id).unwrap_or_default())
            })
            .collect();
        if version >= FIRST_TOPIC_ID_VERSION && topic_ids.values().any(Uuid::is_zero) {
            // No topic ID yet for some topic: speak a version that names topics.
            version = FIRST_TOPIC_ID_VERSION - 1;
        }
        // A session names topics one way for its whole life (Kafka answers a switch
        // with FETCH_SESSION_TOPIC_ID_ERROR): a change of naming starts a new one.
        let by_ids = version >= FIRST_TOPIC_ID_VERSION;
        let fetch = self.fetcher.broker(broker);
        if fetch.by_topic_ids.replace(by_ids) != Some(by_ids) {
            fetch.session.on_failure();
        }
        let session = &mut fetch.session;
        let plan = if version >= FIRST_SESSION_VERSION {
            let mut plan = session.build(&wanted);
            // Forgotten partitions are named by ID too, and a topic we stopped
            // fetching may have no known ID any more: a zero ID would forget
            // nothing on the broker, which would keep answering for a partition
            // we no longer read (and crowd out the others). Start over instead;
            // a full request lists exactly what we want.
            let metadata = &self.metadata;
            let unnamed = |t: &str| metadata.topic(t).is_none_or(|i| i.id.is_zero());
            if by_ids && plan.to_forget.iter().any(|tp| unnamed(&tp.topic)) {
                session.on_failure();
                plan = session.build(&wanted);
            }
            plan
        } else {
            SessionRequest {
                session_id: 0,
                epoch: FINAL_EPOCH,
                to_send: wanted.iter().map(|(k, v)| (k.clone(), *v)).collect(),
                to_forget: Vec::new(),
                full: true,
            }
        };
        for tp in &plan.to_forget {
            let id = self
                .metadata
                .topic(&tp.topic)
                .map(|i| i.id)
                .unwrap_or_default();
            topic_ids.entry(tp.topic.as_str()).or_insert(id);
        }
        let req = self.fetch_request(version, &plan, &topic_ids);
        let offsets = wanted
            .iter()
            .map(|(k, v)| (k.clone(), v.fetch_offset))
            .collect();
        let purpose = Purpose::Fetch { offsets };
        let sent = self.send(broker, &req, version, purpose);
        let fetch = self.fetcher.broker(broker);
        if sent {
            fetch.in_flight = true;
        } else {
            fetch.session.on_failure();
        }
    }

    fn fetch_request(
        &self,
        version: i16,
        plan: &SessionRequest<TopicPartition>,
        ids: &BTreeMap<&str, Uuid>,
    ) -> FetchRequest {
        let by_ids = version >= FIRST_TOPIC_ID_VERSION;
        let id_of = |topic: &str| {
            if by_ids {
                ids.get(topic).copied().unwrap_or_default()
            } else {
                Uuid::ZERO
            }
        };
        let topics = group_by_topic(
            plan.to_send.iter().map(|(tp, f)| (tp, f)),
            |topic| FetchTopic {
                topic: topic.into(),
                topic_id: id_of(topic),
                partitions: Vec::new(),
            },
            |t, partition, f| {
                t.partitions.push(FetchPartition {
                    partition,
                    current_leader_epoch: f.current_leader_epoch,
                    fetch_offset: f.fetch_offset,
                    last_fetched_epoch: if version >= FIRST_EPOCH_VERSION {
                        f.last_fetched_epoch
                    } else {
                        -1
                    },
                    partition_max_bytes: f.max_bytes,
                    ..Default::default()
                })
            },
        );
        let forgotten = group_by_topic(
            plan.to_forget.iter().map(|tp| (tp, ())),
            |topic| ForgottenTopic {
                topic: topic.into(),
                topic_id: id_of(topic),
                partitions: Vec::new(),
            },
            |t, partition, ()| t.partitions.push(partition),
        );
        FetchRequest {
            replica_id: -1,
            max_wait_ms: self.config.fetch_max_wait.as_millis().min(i32::MAX as u64) as i32,
            min_bytes: self.config.fetch_min_bytes as i32,
            max_bytes: self.config.fetch_max_bytes as i32,
            isolation_level: self.config.isolation_level.as_i8(),
            session_id: plan.session_id,
            session_epoch: plan.epoch,
            topics,
            forgotten_topics_data: forgotten,
            rack_id: self.config.client_rack.clone().unwrap_or_default(),
            ..Default::default()
        }
    }

    /// Asks `broker` to drop our fetch session (epoch -1, no partitions).
    fn close_session(&mut self, broker: BrokerId) {
        let Some(plan) = self.fetcher.broker(broker).session.close() else {
            return;
        };
        let Some(version) = self
            .brokers
            .ready(broker, ConnRole::Data)
            .and_then(|v| v.version(ApiKey::Fetch))
        else {
            return;
        };
        let req = FetchRequest {
            replica_id: -1,
            max_wait_ms: 0,
            session_id: plan.session_id,
            session_epoch: plan.epoch,
            isolation_level: self.config.isolation_level.as_i8(),
            ..Default::default()
        };
        self.send(broker, &req, version, Purpose::CloseSession);
    }

    /// Closes every open fetch session (on `close`).
    pub(super) fn close_sessions(&mut self) {
        for b in self.fetcher.open_sessions() {
            self.close_session(b);
        }
    }

    pub(super) fn on_fetch_response(
        &mut self,
        broker: BrokerId,
        version: i16,
        offsets: BTreeMap<TopicPartition, i64>,
        resp: FetchResponse,
    ) {
        let fetch = self.fetcher.broker(broker);
        fetch.in_flight = false;
        let top = ErrorCode::from_code(resp.error_code);
        let usable = if version >= FIRST_SESSION_VERSION {
            fetch.session.on_response(top, resp.session_id)
        } else {
            top == ErrorCode::None
        };
        if !usable {
            if !matches!(
                top,
                ErrorCode::FetchSessionIdNotFound | ErrorCode::InvalidFetchSessionEpoch
            ) {
                // A session error is fixed by the full fetch that follows at once;
                // anything else waits a little.
                self.fetcher
                    .back_off(broker, self.now, &mut self.rng, &mut self.timers);
                if top.is_retriable() {
                    self.refresh.request();
                }
            }
            kasio_log!(
                debug,
                "fetch from broker {} failed: {}",
                broker.0,
                top.name()
            );
            return;
        }
        self.fetcher.broker(broker).backoff.succeed();
        for node in &resp.node_endpoints {
            if let Ok(port) = u16::try_from(node.port) {
                let id = BrokerId(node.node_id);
                self.metadata.add_broker(BrokerInfo {
                    id,
                    host: node.host.clone(),
                    port,
                    rack: node.rack.clone(),
                });
            }
        }
        self.brokers.update(&self.metadata);
        let had_records = self.assignment.buffered_bytes() > 0;
        for topic in resp.responses {
            let name = if version >= FIRST_TOPIC_ID_VERSION {
                self.metadata
                    .topic_name(&topic.topic_id)
                    .map(alloc::string::String::from)
            } else {
                Some(topic.topic)
            };
            let Some(name) = name else {
                // A topic ID we do not know: metadata is behind.
                self.refresh.request();
                continue;
            };
            // One key per topic, its partition index rewritten for each partition.
            let mut tp = TopicPartition::new(name, 0);
            for data in topic.partitions {
                tp.partition = data.partition_index;
                let Some(&sent) = offsets.get(&tp) else {
                    continue;
                };
                let current = self
                    .assignment
                    .get(&tp)
                    .is_some_and(|s| s.state == FetchState::Fetching && s.fetch_offset == sent);
                if current {
                    // (else the application sought, or the leader changed, meanwhile)
                    self.on_partition_response(broker, &tp, data);
                }
            }
        }
        if !had_records && self.assignment.buffered_bytes() > 0 {
            self.events.push_back(Event::RecordsReady);
        }
        self.report_eof();
    }

    fn on_partition_response(
        &mut self,
        broker: BrokerId,
        tp: &TopicPartition,
        data: PartitionData,
    ) {
        let code = ErrorCode::from_code(data.error_code);
        if code != ErrorCode::None {
            self.on_partition_error(broker, tp, code, &data);
            return;
        }
        let now = self.now;
        let max_age = self.config.metadata_max_age;
        let leader = self.leader_of(tp);
        let replica_known = data.preferred_read_replica >= 0
            && self
                .metadata
                .broker(BrokerId(data.preferred_read_replica))
                .is_some();
        if data.preferred_read_replica >= 0
            && !replica_known
            && leader != Some(BrokerId(data.preferred_read_replica))
        {
            // The leader names a replica our metadata does not know (it may have
            // just come back): fetch from the leader meanwhile and learn the
            // replica, as Java does; else the leader keeps answering with the
            // redirect and no records, for as long as metadata.max.age.ms.
            self.refresh.request();
        }
        let read_committed = self.read_committed();
        let decode = self.decode;
        let timers = &mut self.timers;
        let outcome = self.assignment.update(tp, |s| {
            Self::take_partition_data(
                s,
                tp,
                broker,
                data,
                now,
                max_age,
                leader,
                replica_known,
                read_committed,
                decode,
                timers,
            )
        });
        if let Some(Some((position, end_offset, epoch))) = outcome {
            self.on_truncation(tp, position, end_offset, epoch);
        }
    }

    /// Takes one partition's fetched data into its buffer; returns the divergence
    /// (KIP-320) if the broker reported one, for the caller to act on.
    #[allow(clippy::too_many_arguments)]
    fn take_partition_data(
        s: &mut super::partition::PartitionState,
        tp: &TopicPartition,
        broker: BrokerId,
        data: PartitionData,
        now: Instant,
        max_age: Duration,
        leader: Option<BrokerId>,
        replica_known: bool,
        read_committed: bool,
        decode: crate::records::DecodeOptions,
        timers: &mut Timers,
    ) -> Option<(i64, i64, i32)> {
        s.high_watermark = data.high_watermark;
        if data.last_stable_offset >= 0 {
            s.last_stable_offset = data.last_stable_offset;
        }
        if data.log_start_offset >= 0 {
            s.log_start_offset = data.log_start_offset;
        }
        s.backoff.succeed();
        // KIP-392: a leader may send us to a closer replica (client.rack).
        if data.preferred_read_replica >= 0 {
            let replica = BrokerId(data.preferred_read_replica);
            if Some(replica) != leader && replica_known {
                s.preferred_replica = Some((replica, now + max_age));
                timers.set(Timer::PreferredReplica(tp.clone()), now + max_age);
            } else {
                s.preferred_replica = None;
            }
        }
        // KIP-320: the log diverged from what we fetched last.
        if data.diverging_epoch.epoch >= 0 || data.diverging_epoch.end_offset >= 0 {
            let (end_offset, epoch) = (data.diverging_epoch.end_offset, data.diverging_epoch.epoch);
            return Some((s.fetch_offset, end_offset, epoch));
        }
        let records = data.records.filter(|r| !r.is_empty())?;
        // Walk the batch headers now (and check CRCs): that says where the next fetch
        // starts, so the next fetch can go out before the application polls.
        let mut end_offset = s.fetch_offset;
        let mut last_epoch = None;
        let mut record_estimate = 0usize;
        let mut error = None;
        // The bytes of the batches before a failing one: the only ones handed on.
        let mut good_len = 0;
        let mut walk = batches(records.clone(), decode);
        while let Some(batch) = walk.next() {
            match batch {
                Ok(b) => {
                    good_len = records.len() - walk.remaining_bytes();
                    let h = b.header();
                    end_offset = end_offset.max(h.next_offset());
                    if h.magic >= 2 && h.partition_leader_epoch >= 0 {
                        last_epoch = Some(h.partition_leader_epoch);
                    }
                    record_estimate += h.records_count.max(0) as usize;
                }
                Err(e) => {
                    error = Some(e.in_partition(&tp.topic, tp.partition));
                    break;
                }
            }
        }
        // Without CRC checks the reader would decode a corrupt batch as records.
        let records = if error.is_some() {
            records.slice(..good_len)
        } else {
            records
        };
        if end_offset == s.fetch_offset && error.is_none() {
            // Only a partial batch came back; the next fetch (in the broker's rotated
            // partition order) brings it whole.
            return None;
        }
        let mut opts = decode;
        opts.check_crcs = false; // checked just above
        let aborted: Vec<(i64, i64)> = if read_committed {
            data.aborted_transactions
                .unwrap_or_default()
                .iter()
                .map(|a| (a.producer_id, a.first_offset))
                .collect()
        } else {
            Vec::new()
        };
        let reader = PartitionRecords::with_aborted_transactions(
            records.clone(),
            s.fetch_offset,
            opts,
            aborted,
        );
        if error.is_some() {
            s.error_pending = true;
        }
        s.buffer.push_back(Chunk {
            records: reader,
            broker,
            bytes: records.len(),
            record_estimate,
            end_offset,
            last_epoch,
            error,
        });
        s.buffered_bytes += records.len();
        s.buffered_records += record_estimate;
        s.fetch_offset = end_offset;
        if last_epoch.is_some() {
            s.fetch_epoch = last_epoch;
        }
        None
    }

    fn on_partition_error(
        &mut self,
        broker: BrokerId,
        tp: &TopicPartition,
        code: ErrorCode,
        data: &PartitionData,
    ) {
        let strategy = self.config.auto_offset_reset;
        let leader = self.leader_of(tp);
        // KIP-951: the error may name the new leader; use it without waiting.
        let mut moved = false;
        if data.current_leader.leader_id >= 0 && data.current_leader.leader_epoch >= 0 {
            let (id, epoch) = (
                BrokerId(data.current_leader.leader_id),
                data.current_leader.leader_epoch,
            );
            if self
                .metadata
                .update_leader(&tp.topic, tp.partition, id, epoch)
            {
                self.on_leader_change(tp, epoch);
                moved = true;
            }
        }
        let Some(from_replica) = self.assignment.get(tp).map(|s| {
            s.preferred_replica
                .is_some_and(|(r, _)| Some(r) != leader && r == broker)
        }) else {
            return;
        };
        match code {
            ErrorCode::OffsetOutOfRange if from_replica => {
                // A follower may be behind the leader: ask the leader before resetting.
                self.assignment.update(tp, |s| s.preferred_replica = None);
            }
            ErrorCode::OffsetOutOfRange => {
                if strategy == crate::config::OffsetReset::None {
                    self.fail_partition(
                        tp,
                        LocalError::NoOffsetForPartition {
                            tp: tp.clone(),
                            reason: ResetReason::OutOfRange,
                        },
                    );
                } else {
                    self.assignment
                        .update(tp, |s| s.request_reset(strategy, ResetReason::OutOfRange));
                }
            }
            code if is_leadership_error(code) => {
                // Leadership moved (or we are behind it): back to the leader, fresh
                // metadata, and a short wait, unless the response named the new
                // leader (KIP-951): then go there at once.
                self.assignment.update(tp, |s| {
                    s.preferred_replica = None;
                    s.fenced |= code == ErrorCode::FencedLeaderEpoch;
                });
                self.refresh.request();
                if !moved {
                    self.assignment
                        .back_off(tp, self.now, &mut self.rng, &mut self.timers);
                }
            }
            code if code.is_retriable() => {
                self.assignment
                    .back_off(tp, self.now, &mut self.rng, &mut self.timers);
            }
            code => {
                let error = BrokerError::Partition {
                    tp: tp.clone(),
                    code,
                };
                self.fail_partition(tp, error);
            }
        }
    }
}
