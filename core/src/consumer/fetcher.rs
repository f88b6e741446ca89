//! Fetching: one Fetch per broker covering every fetchable partition it serves, kept
//! small by an incremental fetch session (KIP-227), and the handling of what comes
//! back — records into the prefetch buffer, errors into retries, resets and
//! metadata refreshes.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use bytes::Bytes;

use crate::codec::Uuid;
use crate::fetch::session::{PartitionFetch, SessionRequest, FINAL_EPOCH};
use crate::metadata::{BrokerId, BrokerInfo};
use crate::protocol::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
use crate::protocol::messages::fetch_response::PartitionData;
use crate::protocol::messages::{FetchRequest, FetchResponse};
use crate::protocol::{ApiKey, ErrorCode, Message};
use crate::records::{batches, PartitionRecords};

use super::event::{ConsumerError, Event, ResetReason, TopicPartition};
use super::partition::{Chunk, FetchState};
use super::purpose::{PartKey, Purpose};
use super::Consumer;

/// Fetch v7 brought sessions; below it every fetch is a full one.
const FIRST_SESSION_VERSION: i16 = 7;
/// Fetch v13 names topics by ID.
const FIRST_TOPIC_ID_VERSION: i16 = 13;
/// Fetch v12 brought `last_fetched_epoch` and divergence checks (KIP-320).
const FIRST_EPOCH_VERSION: i16 = 12;

impl Consumer {
    /// Sends a Fetch to every broker that serves a fetchable partition and has no
    /// fetch in flight; closes the sessions of brokers that serve none any more.
    pub(super) fn send_fetches(&mut self) {
        let now = self.now;
        let byte_cap = self.config.queued_max_messages_kbytes as usize * 1024;
        let record_cap = self.config.queued_min_messages as usize;
        let mut by_broker: BTreeMap<BrokerId, BTreeMap<PartKey, PartitionFetch>> = BTreeMap::new();
        let mut serving: Vec<BrokerId> = Vec::new();
        let mut missing_leader = false;
        for (topic, ps) in &self.partitions {
            for (&p, s) in ps {
                let target = match s.preferred_replica {
                    Some((replica, until)) if now < until => Some(replica),
                    _ => self.leader_of(topic, p),
                };
                let Some(target) = target else {
                    missing_leader |= s.state == FetchState::Fetching;
                    continue;
                };
                serving.push(target);
                if self.buffered_bytes >= byte_cap || !s.fetchable(now, record_cap) {
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
                    .insert((topic.clone(), p), fetch);
            }
        }
        if missing_leader {
            self.meta.needed = true;
        }
        // Sessions on brokers that serve none of our partitions any more are closed.
        let idle: Vec<BrokerId> = self
            .sessions
            .iter()
            .filter(|(b, s)| {
                s.is_open() && !serving.contains(b) && !self.fetch_in_flight.contains(b)
            })
            .map(|(b, _)| *b)
            .collect();
        for broker in idle {
            self.close_session(broker);
        }
        for (broker, wanted) in by_broker {
            if self.fetch_in_flight.contains(&broker)
                || !self.fetch_backoff.get(&broker).is_none_or(|b| b.ready(now))
            {
                continue;
            }
            self.send_fetch(broker, wanted);
        }
    }

    fn send_fetch(&mut self, broker: BrokerId, wanted: BTreeMap<PartKey, PartitionFetch>) {
        let Some((_, conn)) = self.brokers.ready(broker) else {
            self.need_broker(broker);
            return;
        };
        let Some(mut version) = conn.versions().version(ApiKey::Fetch) else {
            let api = ApiKey::Fetch.key();
            self.events
                .push_back(Event::Error(ConsumerError::UnsupportedApi { broker, api }));
            self.fetch_backoff_fail(broker);
            return;
        };
        let mut topic_ids: BTreeMap<&str, Uuid> = wanted
            .keys()
            .map(|(t, _)| {
                (
                    t.as_str(),
                    self.metadata.topic(t).map(|i| i.id).unwrap_or_default(),
                )
            })
            .collect();
        if version >= FIRST_TOPIC_ID_VERSION && topic_ids.values().any(Uuid::is_zero) {
            // No topic ID yet for some topic: speak a version that names topics.
            version = FIRST_TOPIC_ID_VERSION - 1;
        }
        // A session names topics one way for its whole life (Kafka answers a switch
        // with FETCH_SESSION_TOPIC_ID_ERROR): a change of naming starts a new one.
        let by_ids = version >= FIRST_TOPIC_ID_VERSION;
        let session = self.sessions.entry(broker).or_default();
        if self.session_topic_ids.insert(broker, by_ids) != Some(by_ids) {
            session.on_failure();
        }
        let plan = if version >= FIRST_SESSION_VERSION {
            let mut plan = session.build(&wanted);
            // Forgotten partitions are named by ID too, and a topic we stopped
            // fetching may have no known ID any more: a zero ID would forget
            // nothing on the broker, which would keep answering for a partition
            // we no longer read (and crowd out the others). Start over instead;
            // a full request lists exactly what we want.
            let metadata = &self.metadata;
            let unnamed = |t: &str| metadata.topic(t).is_none_or(|i| i.id.is_zero());
            if by_ids && plan.to_forget.iter().any(|(t, _)| unnamed(t)) {
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
        for (t, _) in &plan.to_forget {
            let id = self.metadata.topic(t).map(|i| i.id).unwrap_or_default();
            topic_ids.entry(t.as_str()).or_insert(id);
        }
        let req = self.fetch_request(version, &plan, &topic_ids);
        let offsets = wanted
            .iter()
            .map(|(k, v)| (k.clone(), v.fetch_offset))
            .collect();
        let Some((_, conn)) = self.brokers.ready(broker) else {
            return;
        };
        match conn.send(&req, version, Purpose::Fetch { offsets }, self.now) {
            Ok(()) => {
                self.fetch_in_flight.insert(broker);
            }
            Err(e) => {
                kasio_log!(error, "cannot encode Fetch v{}: {:?}", version, e);
                if let Some(s) = self.sessions.get_mut(&broker) {
                    s.on_failure();
                }
            }
        }
    }

    fn fetch_request(
        &self,
        version: i16,
        plan: &SessionRequest<PartKey>,
        ids: &BTreeMap<&str, Uuid>,
    ) -> FetchRequest {
        let by_ids = version >= FIRST_TOPIC_ID_VERSION;
        let id_of = |topic: &str| ids.get(topic).copied().unwrap_or_default();
        let mut topics: Vec<FetchTopic> = Vec::new();
        for ((topic, partition), f) in &plan.to_send {
            if topics.last().is_none_or(|t: &FetchTopic| &t.topic != topic) {
                topics.push(FetchTopic {
                    topic: topic.clone(),
                    topic_id: if by_ids { id_of(topic) } else { Uuid::ZERO },
                    partitions: Vec::new(),
                });
            }
            let t = topics.last_mut().expect("just pushed");
            t.partitions.push(FetchPartition {
                partition: *partition,
                current_leader_epoch: f.current_leader_epoch,
                fetch_offset: f.fetch_offset,
                last_fetched_epoch: if version >= FIRST_EPOCH_VERSION {
                    f.last_fetched_epoch
                } else {
                    -1
                },
                partition_max_bytes: f.max_bytes,
                ..Default::default()
            });
        }
        let mut forgotten: Vec<ForgottenTopic> = Vec::new();
        for (topic, partition) in &plan.to_forget {
            if forgotten
                .last()
                .is_none_or(|t: &ForgottenTopic| &t.topic != topic)
            {
                forgotten.push(ForgottenTopic {
                    topic: topic.clone(),
                    topic_id: if by_ids { id_of(topic) } else { Uuid::ZERO },
                    partitions: Vec::new(),
                });
            }
            forgotten
                .last_mut()
                .expect("just pushed")
                .partitions
                .push(*partition);
        }
        if !by_ids {
            for t in &mut topics {
                t.topic_id = Uuid::ZERO;
            }
        }
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
        let Some(session) = self.sessions.get_mut(&broker) else {
            return;
        };
        let Some(plan) = session.close() else { return };
        let Some((_, conn)) = self.brokers.ready(broker) else {
            return;
        };
        let Some(version) = conn.versions().version(ApiKey::Fetch) else {
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
        let Some((_, conn)) = self.brokers.ready(broker) else {
            return;
        };
        if conn
            .send(&req, version, Purpose::CloseSession, self.now)
            .is_err()
        {
            kasio_log!(
                warn,
                "cannot encode a session close for broker {}",
                broker.0
            );
        }
    }

    /// Closes every open fetch session (on `close`).
    pub(super) fn close_sessions(&mut self) {
        let brokers: Vec<BrokerId> = self.sessions.keys().copied().collect();
        for b in brokers {
            self.close_session(b);
        }
    }

    fn fetch_backoff_fail(&mut self, broker: BrokerId) {
        let (initial, max) = (self.config.retry_backoff, self.config.retry_backoff_max);
        let b = self
            .fetch_backoff
            .entry(broker)
            .or_insert_with(|| crate::backoff::Backoff::new(initial, max));
        b.fail(self.now, &mut self.rng);
    }

    pub(super) fn on_fetch_response(
        &mut self,
        broker: BrokerId,
        version: i16,
        offsets: BTreeMap<PartKey, i64>,
        body: Bytes,
    ) {
        self.fetch_in_flight.remove(&broker);
        let resp = match FetchResponse::decode(version, &body) {
            Ok(r) => r,
            Err(e) => {
                self.sessions.entry(broker).or_default().on_failure();
                self.protocol_error(broker, ApiKey::Fetch, e);
                return;
            }
        };
        let top = ErrorCode::from_code(resp.error_code);
        let usable = if version >= FIRST_SESSION_VERSION {
            self.sessions
                .entry(broker)
                .or_default()
                .on_response(top, resp.session_id)
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
                self.fetch_backoff_fail(broker);
                if top.is_retriable() {
                    self.meta.needed = true;
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
        if let Some(b) = self.fetch_backoff.get_mut(&broker) {
            b.succeed();
        }
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
        let had_records = self.buffered_bytes > 0;
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
                self.meta.needed = true;
                continue;
            };
            for data in topic.partitions {
                let key = (name.clone(), data.partition_index);
                let Some(&sent) = offsets.get(&key) else {
                    continue;
                };
                let Some(s) = self.state_mut(&key) else {
                    continue;
                };
                if s.state != FetchState::Fetching || s.fetch_offset != sent {
                    continue; // the application sought, or the leader changed, meanwhile
                }
                self.on_partition_response(broker, key, data);
            }
        }
        self.recount_buffered();
        if !had_records && self.buffered_bytes > 0 {
            self.events.push_back(Event::RecordsReady);
        }
        self.report_eof();
    }

    fn on_partition_response(&mut self, broker: BrokerId, key: PartKey, data: PartitionData) {
        let code = ErrorCode::from_code(data.error_code);
        if code != ErrorCode::None {
            self.on_partition_error(broker, &key, code, &data);
            return;
        }
        let now = self.now;
        let max_age = self.config.metadata_max_age;
        let leader = self.leader_of(&key.0, key.1);
        let replica_known = data.preferred_read_replica >= 0
            && self
                .metadata
                .broker(BrokerId(data.preferred_read_replica))
                .is_some();
        let read_committed = self.read_committed();
        let decode = self.decode;
        let Some(s) = self.state_mut(&key) else {
            return;
        };
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
            } else {
                s.preferred_replica = None;
            }
        }
        // KIP-320: the log diverged from what we fetched last.
        if data.diverging_epoch.epoch >= 0 || data.diverging_epoch.end_offset >= 0 {
            let position = s.fetch_offset;
            let (end_offset, epoch) = (data.diverging_epoch.end_offset, data.diverging_epoch.epoch);
            self.on_truncation(&key, position, end_offset, epoch);
            return;
        }
        let Some(records) = data.records.filter(|r| !r.is_empty()) else {
            return;
        };
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
                    error = Some(e.in_partition(&key.0, key.1));
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
            return;
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
    }

    fn on_partition_error(
        &mut self,
        broker: BrokerId,
        key: &PartKey,
        code: ErrorCode,
        data: &PartitionData,
    ) {
        let tp = TopicPartition::new(key.0.clone(), key.1);
        let now = self.now;
        let strategy = self.config.auto_offset_reset;
        let leader = self.leader_of(&key.0, key.1);
        // KIP-951: the error may name the new leader; use it without waiting.
        let mut moved = false;
        if data.current_leader.leader_id >= 0 && data.current_leader.leader_epoch >= 0 {
            let (id, epoch) = (
                BrokerId(data.current_leader.leader_id),
                data.current_leader.leader_epoch,
            );
            if self.metadata.update_leader(&key.0, key.1, id, epoch) {
                self.on_leader_change(&key.0, key.1, epoch);
                moved = true;
            }
        }
        let Self {
            partitions,
            rng,
            meta,
            events,
            ..
        } = self;
        let Some(s) = partitions.get_mut(&key.0).and_then(|t| t.get_mut(&key.1)) else {
            return;
        };
        let from_replica = s
            .preferred_replica
            .is_some_and(|(r, _)| Some(r) != leader && r == broker);
        match code {
            ErrorCode::OffsetOutOfRange if from_replica => {
                // A follower may be behind the leader: ask the leader before resetting.
                s.preferred_replica = None;
            }
            ErrorCode::OffsetOutOfRange => {
                if strategy == crate::config::OffsetReset::None {
                    s.state = FetchState::Failed;
                    s.clear_buffer();
                    events.push_back(Event::Error(ConsumerError::NoOffsetForPartition {
                        tp,
                        reason: ResetReason::OutOfRange,
                    }));
                } else {
                    s.request_reset(strategy, ResetReason::OutOfRange);
                }
            }
            ErrorCode::NotLeaderOrFollower
            | ErrorCode::UnknownTopicOrPartition
            | ErrorCode::LeaderNotAvailable
            | ErrorCode::FencedLeaderEpoch
            | ErrorCode::UnknownLeaderEpoch
            | ErrorCode::KafkaStorageError
            | ErrorCode::OffsetNotAvailable
            | ErrorCode::ReplicaNotAvailable
            | ErrorCode::UnknownTopicId
            | ErrorCode::InconsistentTopicId => {
                // Leadership moved (or we are behind it): back to the leader, fresh
                // metadata, and a short wait, unless the response named the new
                // leader (KIP-951): then go there at once.
                s.preferred_replica = None;
                s.fenced |= code == ErrorCode::FencedLeaderEpoch;
                meta.needed = true;
                if !moved {
                    s.backoff.fail(now, rng);
                }
            }
            code if code.is_retriable() => {
                s.backoff.fail(now, rng);
            }
            code => {
                s.state = FetchState::Failed;
                s.clear_buffer();
                events.push_back(Event::Error(ConsumerError::Partition { tp, code }));
            }
        }
    }
}
