//! `offsets_for_times`: ListOffsets by timestamp for partitions that need not be
//! assigned, answered as one event per query, and given up after
//! `default.api.timeout.ms`.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::metadata::BrokerId;
use crate::protocol::messages::ListOffsetsResponse;
use crate::protocol::ErrorCode;

use super::error::{BrokerError, ConsumerError, LocalError};
use super::event::{Event, OffsetAndTimestamp, QueryId, TopicPartition};
use super::leadership::is_leadership_error;
use super::purpose::Purpose;
use super::timer::Timer;
use super::Consumer;

type QueryResult = Result<Option<OffsetAndTimestamp>, ConsumerError>;

/// One query in progress.
#[derive(Debug)]
struct TimesQuery {
    /// Partitions still to answer, with their timestamps, and whether a request for
    /// each is out.
    pending: BTreeMap<TopicPartition, (i64, bool)>,
    done: Vec<(TopicPartition, QueryResult)>,
}

/// The queries in progress.
#[derive(Debug)]
pub(crate) struct Queries {
    queries: BTreeMap<QueryId, TimesQuery>,
    next: u64,
}

impl Default for Queries {
    fn default() -> Self {
        Self {
            queries: BTreeMap::new(),
            next: 1,
        }
    }
}

impl Queries {
    /// A fresh query id (shared with the group's `committed` queries).
    pub fn take_id(&mut self) -> u64 {
        let id = self.next;
        self.next += 1;
        id
    }

    pub fn is_empty(&self) -> bool {
        self.queries.is_empty()
    }

    /// The topics still being asked about.
    pub fn topics(&self) -> impl Iterator<Item = &str> {
        self.queries
            .values()
            .flat_map(|q| q.pending.keys().map(|tp| tp.topic.as_str()))
    }

    /// Requests for `partitions` of query `id` are no longer out: ask again.
    fn unsent(&mut self, id: QueryId, partitions: &[TopicPartition]) {
        if let Some(q) = self.queries.get_mut(&id) {
            for tp in partitions {
                if let Some(entry) = q.pending.get_mut(tp) {
                    entry.1 = false;
                }
            }
        }
    }

    /// Ends query `id` if nothing is pending; its answer.
    fn finish_if_done(&mut self, id: QueryId) -> Option<Event> {
        if !self.queries.get(&id)?.pending.is_empty() {
            return None;
        }
        let q = self.queries.remove(&id)?;
        Some(Event::OffsetsForTimes {
            id,
            offsets: q.done,
        })
    }

    /// Ends query `id`: what is still pending gets `error`.
    fn end(&mut self, id: QueryId, error: &ConsumerError) -> Option<Event> {
        let mut q = self.queries.remove(&id)?;
        for (tp, _) in core::mem::take(&mut q.pending) {
            q.done.push((tp, Err(error.clone())));
        }
        Some(Event::OffsetsForTimes {
            id,
            offsets: q.done,
        })
    }
}

impl Consumer {
    /// Looks up, for each partition, the earliest offset whose timestamp is at or
    /// after the given one (`KafkaConsumer::offsetsForTimes`). The answer comes as
    /// [`Event::OffsetsForTimes`] with the returned id; partitions need not be
    /// assigned. Gives up after `default.api.timeout.ms`.
    pub fn offsets_for_times(
        &mut self,
        query: impl IntoIterator<Item = (TopicPartition, i64)>,
    ) -> QueryId {
        let id = QueryId(self.queries.take_id());
        let pending: BTreeMap<TopicPartition, (i64, bool)> = query
            .into_iter()
            .map(|(tp, ts)| (tp, (ts, false)))
            .collect();
        let unknown_topic = pending
            .keys()
            .any(|tp| self.metadata.topic(&tp.topic).is_none());
        self.queries.queries.insert(
            id,
            TimesQuery {
                pending,
                done: Vec::new(),
            },
        );
        if self.closing.is_some() || self.closed {
            // Nothing will be sent any more: answer at once.
            self.end_queries(LocalError::Closed.into());
            return id;
        }
        self.timers
            .set(Timer::Query(id), self.now + self.config.default_api_timeout);
        if unknown_topic {
            self.refresh.request();
        }
        self.finish_query_if_done(id);
        self.drive();
        id
    }

    /// Sends ListOffsets for `offsets_for_times` partitions not yet asked.
    pub(super) fn send_times_queries(&mut self) {
        let mut by_leader: BTreeMap<BrokerId, Vec<(QueryId, TopicPartition, i64)>> =
            BTreeMap::new();
        for (id, q) in &self.queries.queries {
            for (tp, (ts, sent)) in &q.pending {
                if *sent {
                    continue;
                }
                match self.leader_of(tp) {
                    Some(leader) => {
                        by_leader
                            .entry(leader)
                            .or_default()
                            .push((*id, tp.clone(), *ts))
                    }
                    None => self.refresh.request(),
                }
            }
        }
        for (leader, parts) in by_leader {
            let Some(version) = self.list_offsets_version(leader) else {
                continue;
            };
            // One request per query keeps the answer routing trivial.
            let mut per_query: BTreeMap<QueryId, Vec<(TopicPartition, i64)>> = BTreeMap::new();
            for (id, tp, ts) in parts {
                per_query.entry(id).or_default().push((tp, ts));
            }
            for (id, parts) in per_query {
                let req = self.list_offsets_request(
                    version,
                    parts.iter().map(|(tp, ts)| {
                        let epoch = self
                            .metadata
                            .partition(&tp.topic, tp.partition)
                            .map_or(-1, |p| p.leader_epoch);
                        (tp, *ts, epoch)
                    }),
                );
                let purpose = Purpose::Times {
                    query: id,
                    partitions: parts.iter().map(|(tp, _)| tp.clone()).collect(),
                };
                if self.send(leader, &req, version, purpose) {
                    if let Some(q) = self.queries.queries.get_mut(&id) {
                        for (tp, _) in &parts {
                            if let Some(entry) = q.pending.get_mut(tp) {
                                entry.1 = true;
                            }
                        }
                    }
                }
            }
        }
    }

    pub(super) fn on_times_response(
        &mut self,
        id: QueryId,
        partitions: Vec<TopicPartition>,
        resp: ListOffsetsResponse,
    ) {
        let mut retry = false;
        if let Some(q) = self.queries.queries.get_mut(&id) {
            for t in resp.topics {
                let mut tp = TopicPartition::new(t.name, 0);
                for p in &t.partitions {
                    tp.partition = p.partition_index;
                    if !partitions.contains(&tp) {
                        continue;
                    }
                    let result = match ErrorCode::from_code(p.error_code) {
                        ErrorCode::None if p.offset < 0 => Ok(None),
                        ErrorCode::None => Ok(Some(OffsetAndTimestamp {
                            offset: p.offset,
                            timestamp: p.timestamp,
                            leader_epoch: (p.leader_epoch >= 0).then_some(p.leader_epoch),
                        })),
                        code if code.is_retriable() => {
                            retry |= is_leadership_error(code);
                            continue;
                        }
                        code => Err(BrokerError::Partition {
                            tp: tp.clone(),
                            code,
                        }
                        .into()),
                    };
                    if q.pending.remove(&tp).is_some() {
                        q.done.push((tp.clone(), result));
                    }
                }
            }
        }
        // What is still pending (retriable errors, or left out) is asked again.
        self.queries.unsent(id, &partitions);
        if retry {
            self.refresh.request();
        }
        self.finish_query_if_done(id);
    }

    /// The request for `partitions` of query `id` will never be answered.
    pub(super) fn times_lost(&mut self, id: QueryId, partitions: Vec<TopicPartition>) {
        self.queries.unsent(id, &partitions);
    }

    fn finish_query_if_done(&mut self, id: QueryId) {
        if let Some(event) = self.queries.finish_if_done(id) {
            self.timers.clear(&Timer::Query(id));
            self.events.push_back(event);
        }
    }

    /// Ends every query: what is still pending gets `error`.
    pub(super) fn end_queries(&mut self, error: ConsumerError) {
        let ids: Vec<QueryId> = self.queries.queries.keys().copied().collect();
        for id in ids {
            self.end_query(id, &error);
        }
    }

    /// Query `id` reached `default.api.timeout.ms`: it ends with a timeout for what
    /// is left.
    pub(super) fn expire_query(&mut self, id: QueryId) {
        self.end_query(id, &LocalError::Timeout.into());
    }

    fn end_query(&mut self, id: QueryId, error: &ConsumerError) {
        self.timers.clear(&Timer::Query(id));
        if let Some(event) = self.queries.end(id, error) {
            self.events.push_back(event);
        }
    }
}
