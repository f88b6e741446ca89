//! Fetch, as a Kafka leader answers it: fetch sessions (see [`super::session`]),
//! leadership and leader-epoch checks, divergence detection from the last fetched
//! epoch (KIP-320), offset range checks, reads cut at the partition and response
//! byte limits with the first batch always whole (KIP-74), read_committed (the last
//! stable offset and the aborted transactions), new-leader hints (KIP-951), and long
//! polling: a fetch that finds less than `min_bytes` waits for data or `max_wait_ms`.
//! From v11, followers serve consumers too, up to their own high watermark, and a
//! leader may send a consumer to a replica in its rack (KIP-392, see
//! [`super::replication`]).

use bytes::Bytes;
use kasio_core::codec::Uuid;
use kasio_core::consumer::TopicPartition;
use kasio_core::protocol::messages::fetch_response::{
    AbortedTransaction, EpochEndOffset, FetchableTopicResponse, LeaderIdAndEpoch, NodeEndpoint,
    PartitionData,
};
use kasio_core::protocol::messages::{FetchRequest, FetchResponse};
use kasio_core::protocol::{ApiKey, ErrorCode};
use kasio_core::time::{Duration, Instant};

use super::answers::PositionAnswer;
use super::cluster::Cluster;
use super::server::{response_frame, Reply, Req};
use super::session::{next_epoch, Cached, PartKey, PartReq};

const FINAL_EPOCH: i32 = -1;
const INITIAL_EPOCH: i32 = 0;
const FIRST_SESSION_VERSION: i16 = 7;
/// Fetch v11 carries the client's rack: followers serve it (KIP-392).
const FIRST_RACK_VERSION: i16 = 11;
const FIRST_EPOCH_VERSION: i16 = 12;
const FIRST_TOPIC_ID_VERSION: i16 = 13;
const FIRST_ENDPOINTS_VERSION: i16 = 16;

/// Which partitions a fetch reads and how its response is built.
#[derive(Debug, Clone)]
pub(crate) enum FetchCtx {
    /// No session: every partition of the request, answered in full.
    Sessionless(Vec<(PartKey, PartReq)>),
    /// A full fetch that opens a session when answered.
    Full(Vec<(PartKey, PartReq)>),
    /// An incremental fetch in session `id`.
    Incremental(i32),
}

/// A fetch waiting for data (Kafka's `DelayedFetch`).
#[derive(Debug, Clone)]
pub(crate) struct Parked {
    pub deadline: Instant,
    version: i16,
    corr: i32,
    ctx: FetchCtx,
    read_committed: bool,
    min_bytes: i32,
    max_bytes: i32,
    uses_ids: bool,
    /// An injected per-partition error for the first partition.
    injected: Option<ErrorCode>,
    /// The partitions the request named, with their fetch offsets: the client
    /// holds nothing of them beyond those offsets (memory accounting).
    requested: Vec<(PartKey, i64)>,
    /// The client's rack (Fetch v11+; empty: none).
    rack: String,
    /// When the request arrived.
    received: Instant,
}

/// One read of every partition of a fetch.
struct Evaluation {
    parts: Vec<(PartKey, PartitionData)>,
    bytes: usize,
    /// An error or a divergence: Kafka answers at once.
    urgent: bool,
}

fn is_top_level(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::FetchSessionIdNotFound
            | ErrorCode::InvalidFetchSessionEpoch
            | ErrorCode::FetchSessionTopicIdError
            | ErrorCode::UnknownServerError
    )
}

impl Cluster {
    pub(crate) fn handle_fetch(&mut self, broker: i32, req: &Req) -> Reply {
        let Some(r) = self.decode::<FetchRequest>(broker, req) else {
            return Reply::Close;
        };
        let version = req.version;
        let uses_ids = version >= FIRST_TOPIC_ID_VERSION;
        let mut injected = self.take_injection(broker, ApiKey::Fetch);
        if let Some(code) = injected.filter(|c| is_top_level(*c)) {
            self.note(broker, format!("Fetch v{version} injected {code:?}"));
            return Reply::Frame(self.fetch_error_frame(req, code));
        }
        let mut wanted: Vec<(PartKey, PartReq)> = Vec::new();
        for t in &r.topics {
            for p in &t.partitions {
                let req = PartReq {
                    fetch_offset: p.fetch_offset,
                    current_leader_epoch: p.current_leader_epoch,
                    last_fetched_epoch: p.last_fetched_epoch,
                    max_bytes: p.partition_max_bytes,
                };
                wanted.push((
                    self.part_key(uses_ids, &t.topic, t.topic_id, p.partition),
                    req,
                ));
            }
        }
        let mut forgotten: Vec<PartKey> = Vec::new();
        for t in &r.forgotten_topics_data {
            for &p in &t.partitions {
                forgotten.push(self.part_key(uses_ids, &t.topic, t.topic_id, p));
            }
        }
        let requested: Vec<(PartKey, i64)> = wanted
            .iter()
            .map(|(k, q)| (k.clone(), q.fetch_offset))
            .collect();
        let ctx = if version < FIRST_SESSION_VERSION {
            FetchCtx::Sessionless(wanted)
        } else {
            match self.fetch_context(broker, &r, uses_ids, wanted, &forgotten) {
                Ok(ctx) => ctx,
                Err(code) => {
                    self.note(
                        broker,
                        format!(
                            "Fetch v{version} session {}/{} -> {code:?}",
                            r.session_id, r.session_epoch
                        ),
                    );
                    return Reply::Frame(self.fetch_error_frame(req, code));
                }
            }
        };
        if injected.is_some_and(is_top_level) {
            injected = None;
        }
        let parked = Parked {
            deadline: self.now + Duration::from_millis(r.max_wait_ms.max(0) as u64),
            version,
            corr: req.corr,
            ctx,
            read_committed: r.isolation_level == 1,
            min_bytes: r.min_bytes,
            max_bytes: r.max_bytes,
            uses_ids,
            injected,
            requested,
            rack: r.rack_id.clone(),
            received: self.now,
        };
        let wait = r.max_wait_ms > 0;
        match self.complete_parked(broker, parked, !wait) {
            Ok(frame) => Reply::Frame(frame),
            Err(parked) => Reply::Park(parked),
        }
    }

    /// A partition as the request names it: by topic id from v13 (empty name if
    /// the id is unknown), else by name.
    fn part_key(&self, uses_ids: bool, topic: &str, id: Uuid, partition: i32) -> PartKey {
        let (topic, id) = if uses_ids {
            let name = self
                .topics
                .iter()
                .find(|(_, t)| t.id == id)
                .map(|(n, _)| n.clone())
                .unwrap_or_default();
            (name, id)
        } else {
            (topic.to_string(), self.topic_id(topic).unwrap_or_default())
        };
        PartKey {
            topic,
            id,
            partition,
        }
    }

    /// KIP-227 on the broker: which context a request opens, or its session error.
    fn fetch_context(
        &mut self,
        broker: i32,
        r: &FetchRequest,
        uses_ids: bool,
        wanted: Vec<(PartKey, PartReq)>,
        forgotten: &[PartKey],
    ) -> Result<FetchCtx, ErrorCode> {
        let now = self.now;
        let cache = self.sessions.entry(broker).or_default();
        if r.session_epoch == FINAL_EPOCH || r.session_epoch == INITIAL_EPOCH {
            // A full request closes any session it names.
            if r.session_id != 0 {
                cache.sessions.remove(&r.session_id);
                if r.session_epoch == FINAL_EPOCH {
                    cache.closed_by_client.insert(r.session_id);
                }
            }
            return Ok(if r.session_epoch == FINAL_EPOCH {
                FetchCtx::Sessionless(wanted)
            } else {
                FetchCtx::Full(wanted)
            });
        }
        let issued = cache.issued.contains(&r.session_id);
        let closed = cache.closed_by_client.contains(&r.session_id);
        let Some(session) = cache.sessions.get_mut(&r.session_id) else {
            if !issued || closed {
                let what = if closed { "closed" } else { "never issued" };
                self.violation(format!(
                    "b{broker}: incremental fetch in session {} that the client {what}",
                    r.session_id
                ));
            }
            return Err(ErrorCode::FetchSessionIdNotFound);
        };
        if session.epoch != r.session_epoch {
            let expected = session.epoch;
            self.violation(format!(
                "b{broker}: fetch session {} epoch {} but {expected} expected",
                r.session_id, r.session_epoch
            ));
            return Err(ErrorCode::InvalidFetchSessionEpoch);
        }
        if session.uses_ids != uses_ids {
            self.deviation(format!(
                "b{broker}: fetch session {} switched topic-id use",
                r.session_id
            ));
            return Err(ErrorCode::FetchSessionTopicIdError);
        }
        session.update(&wanted, forgotten);
        if session.parts.is_empty() {
            cache.sessions.remove(&r.session_id);
            return Ok(FetchCtx::Sessionless(wanted));
        }
        session.epoch = next_epoch(session.epoch);
        session.last_used = now;
        Ok(FetchCtx::Incremental(r.session_id))
    }

    fn fetch_error_frame(&self, req: &Req, code: ErrorCode) -> Bytes {
        let resp = FetchResponse {
            error_code: code.code(),
            session_id: 0,
            ..Default::default()
        };
        response_frame(ApiKey::Fetch, req.version, req.corr, &resp)
    }

    /// Reads for a parked (or new) fetch and answers it if Kafka would: enough
    /// bytes, an error or divergence, or the wait is over (`expired`).
    pub(crate) fn complete_parked(
        &mut self,
        broker: i32,
        p: Parked,
        expired: bool,
    ) -> Result<Bytes, Parked> {
        let reqs: Vec<(PartKey, PartReq)> = match &p.ctx {
            FetchCtx::Sessionless(parts) | FetchCtx::Full(parts) => parts.clone(),
            FetchCtx::Incremental(id) => {
                match self.sessions.get(&broker).and_then(|c| c.sessions.get(id)) {
                    Some(s) => s.parts.iter().map(|(k, c)| (k.clone(), c.req)).collect(),
                    None => {
                        // Evicted while waiting.
                        let resp = FetchResponse {
                            error_code: ErrorCode::FetchSessionIdNotFound.code(),
                            ..Default::default()
                        };
                        return Ok(response_frame(ApiKey::Fetch, p.version, p.corr, &resp));
                    }
                }
            }
        };
        let eval = self.evaluate(broker, &reqs, &p);
        let ready = expired
            || reqs.is_empty()
            || eval.urgent
            || eval.bytes as i64 >= i64::from(p.min_bytes.max(0));
        if !ready {
            return Err(p);
        }
        Ok(self.fetch_response(broker, &p, eval))
    }

    fn evaluate(&self, broker: i32, reqs: &[(PartKey, PartReq)], p: &Parked) -> Evaluation {
        let mut limit = p.max_bytes.max(0) as usize;
        let mut min_one = true;
        let mut bytes = 0;
        let mut urgent = false;
        let mut parts = Vec::with_capacity(reqs.len());
        for (i, (key, req)) in reqs.iter().enumerate() {
            let injected = if i == 0 { p.injected } else { None };
            let d = self.read_partition(broker, key, req, p, injected, &mut limit, &mut min_one);
            bytes += d.records.as_ref().map_or(0, Bytes::len);
            // Kafka answers at once on an error, a divergence, or a preferred read
            // replica (the client should go there instead of waiting here).
            urgent |=
                d.error_code != 0 || d.diverging_epoch.epoch >= 0 || d.preferred_read_replica >= 0;
            parts.push((key.clone(), d));
        }
        Evaluation {
            parts,
            bytes,
            urgent,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn read_partition(
        &self,
        broker: i32,
        key: &PartKey,
        req: &PartReq,
        p: &Parked,
        injected: Option<ErrorCode>,
        limit: &mut usize,
        min_one: &mut bool,
    ) -> PartitionData {
        let mut d = PartitionData {
            partition_index: key.partition,
            high_watermark: -1,
            last_stable_offset: -1,
            log_start_offset: -1,
            aborted_transactions: None,
            preferred_read_replica: -1,
            records: Some(Bytes::new()),
            ..Default::default()
        };
        let fail = |mut d: PartitionData, code: ErrorCode| {
            d.error_code = code.code();
            d
        };
        if key.topic.is_empty() {
            return fail(d, ErrorCode::UnknownTopicId);
        }
        if let Some(code) = injected {
            return fail(d, code);
        }
        let follower_ok = p.version >= FIRST_RACK_VERSION;
        let source = self.fetch_source(
            broker,
            &key.topic,
            key.partition,
            req.current_leader_epoch,
            follower_ok,
        );
        let (part, src) = match source {
            Ok(found) => found,
            Err(code) => {
                if self.spec.leader_hints
                    && p.version >= FIRST_EPOCH_VERSION
                    && matches!(
                        code,
                        ErrorCode::NotLeaderOrFollower | ErrorCode::FencedLeaderEpoch
                    )
                {
                    if let Ok(part) = self.partition(&key.topic, key.partition) {
                        if let Some(leader) = part.leader {
                            d.current_leader = LeaderIdAndEpoch {
                                leader_id: leader,
                                leader_epoch: part.epoch,
                            };
                        }
                    }
                }
                return fail(d, code);
            }
        };
        let log = &part.log;
        // What this replica holds and may serve: its log end and high watermark.
        let lso = log.last_stable_offset_at(src.hw);
        if src.leader {
            // KIP-392: a consumer in another rack is sent to a replica in its own;
            // the leader then reads nothing (Kafka's `findPreferredReadReplica`).
            if let Some(r) = self.preferred_read_replica(part, &p.rack, req.fetch_offset) {
                d.high_watermark = src.hw;
                d.last_stable_offset = lso;
                d.log_start_offset = log.log_start();
                d.preferred_read_replica = r;
                return d;
            }
        }
        // Below the log start is out of range whatever the epochs say.
        if req.fetch_offset < log.log_start() {
            return fail(d, ErrorCode::OffsetOutOfRange);
        }
        if p.version >= FIRST_EPOCH_VERSION && req.last_fetched_epoch >= 0 {
            // A follower answers from its own epoch cache and log end.
            let (epoch, end) = log.end_offset_for_at(req.last_fetched_epoch, src.leo);
            if epoch < 0 || end < 0 {
                return fail(d, ErrorCode::OffsetOutOfRange);
            }
            if epoch < req.last_fetched_epoch || end < req.fetch_offset {
                d.high_watermark = src.hw;
                d.last_stable_offset = lso;
                d.log_start_offset = log.log_start();
                d.diverging_epoch = EpochEndOffset {
                    epoch,
                    end_offset: end,
                };
                return d;
            }
        }
        // Beyond the replica's log end is out of range; between its high watermark
        // and log end there is nothing to read yet (Kafka's `LocalLog.read`). A
        // follower behind the consumer says OFFSET_OUT_OF_RANGE too, and the
        // consumer asks the leader (KIP-392).
        if req.fetch_offset > src.leo {
            return fail(d, ErrorCode::OffsetOutOfRange);
        }
        d.high_watermark = src.hw;
        d.last_stable_offset = lso;
        d.log_start_offset = log.log_start();
        let max_offset = if p.read_committed { lso } else { src.hw };
        let budget = (req.max_bytes.max(0) as usize).min(*limit);
        let read = log.read(req.fetch_offset, max_offset, budget, *min_one);
        *limit = limit.saturating_sub(read.bytes.len());
        if !read.bytes.is_empty() {
            *min_one = false;
        }
        if p.read_committed {
            d.aborted_transactions = Some(
                log.aborted_between(req.fetch_offset, read.upper_bound)
                    .into_iter()
                    .map(|a| AbortedTransaction {
                        producer_id: a.producer_id,
                        first_offset: a.first_offset,
                    })
                    .collect(),
            );
        }
        d.records = Some(read.bytes);
        d
    }

    /// Builds the response frame; opens, filters and rotates the session as the
    /// context says.
    fn fetch_response(&mut self, broker: i32, p: &Parked, eval: Evaluation) -> Bytes {
        let slots = self.spec.session_slots;
        let now = self.now;
        let (session_id, parts) = match &p.ctx {
            FetchCtx::Sessionless(_) => (0, eval.parts),
            FetchCtx::Full(reqs) => {
                let cached = reqs
                    .iter()
                    .zip(&eval.parts)
                    .map(|((k, req), (_, d))| {
                        (
                            k.clone(),
                            Cached {
                                req: *req,
                                high_watermark: d.high_watermark,
                                last_stable_offset: d.last_stable_offset,
                                log_start: d.log_start_offset,
                            },
                        )
                    })
                    .collect();
                let Self { sessions, rng, .. } = self;
                let id = sessions
                    .entry(broker)
                    .or_default()
                    .create(slots, rng, now, p.uses_ids, cached);
                (id.unwrap_or(0), eval.parts)
            }
            FetchCtx::Incremental(id) => {
                let mut out = Vec::new();
                if let Some(s) = self
                    .sessions
                    .get_mut(&broker)
                    .and_then(|c| c.sessions.get_mut(id))
                {
                    for (key, d) in eval.parts {
                        let Some(i) = s.parts.iter().position(|(k, _)| *k == key) else {
                            continue;
                        };
                        let c = &mut s.parts[i].1;
                        let changed = d.error_code != 0
                            || d.diverging_epoch.epoch >= 0
                            || d.preferred_read_replica >= 0
                            || d.records.as_ref().is_some_and(|r| !r.is_empty())
                            || d.high_watermark != c.high_watermark
                            || d.last_stable_offset != c.last_stable_offset
                            || d.log_start_offset != c.log_start;
                        if !changed {
                            continue;
                        }
                        // After an error the cached high watermark is invalid, so
                        // the partition is sent again once the error clears (as
                        // Kafka's CachedPartition does).
                        c.high_watermark = if d.error_code != 0 {
                            -1
                        } else {
                            d.high_watermark
                        };
                        c.last_stable_offset = d.last_stable_offset;
                        c.log_start = d.log_start_offset;
                        // Answered partitions go last, so the others are read first
                        // next time.
                        let entry = s.parts.remove(i);
                        s.parts.push(entry);
                        out.push((key, d));
                    }
                }
                (*id, out)
            }
        };
        let offsets: std::collections::BTreeMap<PartKey, i64> = match &p.ctx {
            FetchCtx::Sessionless(r) | FetchCtx::Full(r) => {
                r.iter().map(|(k, q)| (k.clone(), q.fetch_offset)).collect()
            }
            FetchCtx::Incremental(id) => self
                .sessions
                .get(&broker)
                .and_then(|c| c.sessions.get(id))
                .map(|s| {
                    s.parts
                        .iter()
                        .map(|(k, c)| (k.clone(), c.req.fetch_offset))
                        .collect()
                })
                .unwrap_or_default(),
        };
        let mut summary = Vec::new();
        self.fetched.clear();
        let mut responses: Vec<FetchableTopicResponse> = Vec::new();
        let mut endpoints: Vec<NodeEndpoint> = Vec::new();
        for (key, d) in parts {
            if d.error_code == ErrorCode::OffsetOutOfRange.code() {
                self.answered(PositionAnswer::OutOfRange {
                    tp: TopicPartition::new(key.topic.clone(), key.partition),
                    fetch_offset: offsets.get(&key).copied().unwrap_or(-1),
                });
            }
            summary.push(format!(
                "{}-{}@{}:{}b/e{}/hw{}{}{}",
                key.topic,
                key.partition,
                offsets.get(&key).copied().unwrap_or(-1),
                d.records.as_ref().map_or(0, Bytes::len),
                d.error_code,
                d.high_watermark,
                if d.preferred_read_replica >= 0 {
                    format!("/to-b{}", d.preferred_read_replica)
                } else {
                    String::new()
                },
                if d.diverging_epoch.epoch >= 0 {
                    format!(
                        "/div{}@{}",
                        d.diverging_epoch.epoch, d.diverging_epoch.end_offset
                    )
                } else {
                    String::new()
                }
            ));
            let bytes = d.records.as_ref().map_or(0, Bytes::len);
            self.count_follower_read(&key.topic, key.partition, broker, bytes);
            if bytes > 0 || p.requested.iter().any(|(k, _)| *k == key) {
                let from = offsets.get(&key).copied().unwrap_or(-1);
                let part = self.partition(&key.topic, key.partition).ok();
                let end = part.map_or(from, |part| part.log.whole_batches_end(from, bytes));
                self.fetched.push(super::server::Fetched {
                    topic: key.topic.clone(),
                    partition: key.partition,
                    from,
                    end,
                    bytes,
                    leader_epoch: part.map_or(-1, |part| part.epoch),
                    requested_at: p.received,
                });
            }
            if p.version >= FIRST_ENDPOINTS_VERSION && d.current_leader.leader_id >= 0 {
                let id = d.current_leader.leader_id;
                if !endpoints.iter().any(|e| e.node_id == id) {
                    if let Some(b) = self.brokers.get(&id) {
                        endpoints.push(NodeEndpoint {
                            node_id: id,
                            host: b.host.clone(),
                            port: b.port,
                            rack: None,
                        });
                    }
                }
            }
            let same = responses.last().is_some_and(|t| {
                if p.uses_ids {
                    t.topic_id == key.id
                } else {
                    t.topic == key.topic
                }
            });
            if !same {
                responses.push(FetchableTopicResponse {
                    topic: if p.uses_ids {
                        String::new()
                    } else {
                        key.topic.clone()
                    },
                    topic_id: if p.uses_ids {
                        key.id
                    } else {
                        Default::default()
                    },
                    partitions: Vec::new(),
                });
            }
            responses
                .last_mut()
                .expect("just pushed")
                .partitions
                .push(d);
        }
        // Named in the request but not in the (incremental) response: still says
        // where the client's buffer ends.
        for (key, from) in &p.requested {
            if !self
                .fetched
                .iter()
                .any(|f| f.topic == key.topic && f.partition == key.partition)
            {
                self.fetched.push(super::server::Fetched {
                    topic: key.topic.clone(),
                    partition: key.partition,
                    from: *from,
                    end: *from,
                    bytes: 0,
                    leader_epoch: -1,
                    requested_at: p.received,
                });
            }
        }
        let kind = match p.ctx {
            FetchCtx::Sessionless(_) => "sessionless",
            FetchCtx::Full(_) => "full",
            FetchCtx::Incremental(_) => "incr",
        };
        let asked: Vec<String> = p
            .requested
            .iter()
            .map(|(k, o)| format!("{}-{}@{o}", k.topic, k.partition))
            .collect();
        self.note(
            broker,
            format!(
                "Fetch v{} {kind} {asked:?} -> session {session_id} {summary:?}",
                p.version
            ),
        );
        let resp = FetchResponse {
            session_id,
            responses,
            node_endpoints: endpoints,
            ..Default::default()
        };
        response_frame(ApiKey::Fetch, p.version, p.corr, &resp)
    }
}
