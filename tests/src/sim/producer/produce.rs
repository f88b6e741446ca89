//! Produce, as a Kafka leader answers it: per partition, the topic, leadership,
//! the batch (`batch.rs`), the producer's epoch and sequence
//! (`sequence.rs`) and its transaction are checked in turn, and the first
//! failure is that partition's error; the others are appended. acks=0 gets no
//! response (and, as Kafka does, a closed connection when something failed, so
//! the producer notices).

use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, LeaderIdAndEpoch, NodeEndpoint, PartitionProduceResponse,
    TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;
use kasio_core::protocol::ErrorCode;

use super::batch::{self, Incoming, Refusal};
use super::sequence::Verdict;
use super::PReq;
use crate::sim::cluster::Cluster;
use crate::sim::history::HistKind;
use crate::sim::server::Reply;

/// NOT_LEADER_OR_FOLLOWER names the new leader from here on (KIP-951).
const FIRST_LEADER_HINT_VERSION: i16 = 10;

/// Where a partition's batch went.
struct Appended {
    base: i64,
    log_append_time: i64,
    log_start: i64,
}

impl Cluster {
    pub(super) fn handle_produce(&mut self, broker: i32, req: &PReq) -> Option<Reply> {
        let r: ProduceRequest = self.decode_producer(broker, req)?;
        let mut resp = ProduceResponse::default();
        let mut failed = false;
        let mut summary = Vec::new();
        let mut hinted = Vec::new();
        for t in &r.topic_data {
            let topic = t.name.0.to_string();
            let mut out = TopicProduceResponse::default();
            out.name = t.name.clone();
            for p in &t.partition_data {
                let result = if matches!(r.acks, -1..=1) {
                    self.produce_partition(broker, req.version, &topic, p.index, p.records.as_ref())
                } else {
                    Err((ErrorCode::InvalidRequiredAcks, None))
                };
                let mut pr = PartitionProduceResponse::default();
                pr.index = p.index;
                match result {
                    Ok(a) => {
                        pr.base_offset = a.base;
                        pr.log_append_time_ms = a.log_append_time;
                        pr.log_start_offset = a.log_start;
                        summary.push(format!("{topic}-{}@{}", p.index, a.base));
                    }
                    Err((code, record)) => {
                        failed = true;
                        if is_malformed(code) {
                            // What no correct producer sends (Kafka answers it all
                            // the same).
                            self.violation(format!(
                                "b{broker}: Produce {topic}-{}: {code:?} {record:?}",
                                p.index
                            ));
                        }
                        pr.error_code = code.code();
                        pr.base_offset = -1;
                        pr.log_start_offset = -1;
                        if let Some((index, why)) = record {
                            let mut e = BatchIndexAndErrorMessage::default();
                            e.batch_index = index;
                            e.batch_index_error_message = Some(StrBytes::from_string(why));
                            pr.record_errors.push(e);
                        }
                        if code == ErrorCode::NotLeaderOrFollower
                            && req.version >= FIRST_LEADER_HINT_VERSION
                        {
                            if let Some((leader, epoch)) = self.leader_hint(&topic, p.index) {
                                pr.current_leader = LeaderIdAndEpoch::default()
                                    .with_leader_id(leader.into())
                                    .with_leader_epoch(epoch);
                                hinted.push(leader);
                            }
                        }
                        summary.push(format!("{topic}-{} {code:?}", p.index));
                    }
                }
                out.partition_responses.push(pr);
            }
            resp.responses.push(out);
        }
        hinted.sort_unstable();
        hinted.dedup();
        for id in hinted {
            if let Some(b) = self.brokers.get(&id) {
                resp.node_endpoints.push(
                    NodeEndpoint::default()
                        .with_node_id(id.into())
                        .with_host(StrBytes::from_string(b.host.clone()))
                        .with_port(b.port),
                );
            }
        }
        self.note(
            broker,
            format!(
                "Produce v{} acks={} txn={:?} {summary:?}",
                req.version,
                r.acks,
                r.transactional_id.as_ref().map(|t| t.0.to_string())
            ),
        );
        if r.acks == 0 {
            // No response is expected; on an error Kafka closes the connection
            // so the producer refreshes its metadata.
            return Some(if failed { Reply::Close } else { Reply::Nothing });
        }
        self.producer_reply(req, &resp)
    }

    /// The live leader of a partition and its epoch, for KIP-951 hints.
    fn leader_hint(&self, topic: &str, p: i32) -> Option<(i32, i32)> {
        if !self.spec.leader_hints {
            return None;
        }
        let part = self.partition(topic, p).ok()?;
        Some((part.leader?, part.epoch))
    }

    fn produce_partition(
        &mut self,
        broker: i32,
        version: i16,
        topic: &str,
        p: i32,
        records: Option<&bytes::Bytes>,
    ) -> Result<Appended, Refusal> {
        self.led_by(broker, topic, p, -1)
            .map_err(|code| (code, None))?;
        let stamp = self
            .producers
            .log_append_time
            .contains(topic)
            .then(|| self.now.as_millis() as i64);
        let inc = batch::check(records, version, stamp)?;
        if inc.producer_id >= 0 {
            self.sync_sequences(topic, p);
            if inc.transactional {
                self.check_in_transaction(&inc, topic, p)
                    .map_err(|code| (code, None))?;
            }
            let verdict = self
                .producers
                .sequences
                .check(
                    (topic, p),
                    inc.producer_id,
                    inc.producer_epoch,
                    inc.base_sequence,
                    inc.count,
                )
                .map_err(|code| (code, None))?;
            if let Verdict::Duplicate(base) = verdict {
                // A retry of a batch already written: its original offset, no
                // second copy.
                let part = self.partition(topic, p).map_err(|_| unknown())?;
                return Ok(Appended {
                    base,
                    log_append_time: stamp.unwrap_or(-1),
                    log_start: part.log.log_start(),
                });
            }
        }
        Ok(self.append_incoming(topic, p, inc, stamp))
    }

    /// Brings the partition's producer state up to its log (see
    /// [`super::Sequences::sync`]).
    pub(super) fn sync_sequences(&mut self, topic: &str, p: i32) {
        if let Ok(part) = self.partition(topic, p) {
            let cuts = part.history.truncations().to_vec();
            self.producers.sequences.sync((topic, p), &cuts);
        }
    }

    /// A transactional batch must come from the transactional id's current
    /// producer epoch, into a partition added to its open transaction (Kafka's
    /// KIP-890 verification; without it a stray batch would hold the last
    /// stable offset back forever).
    fn check_in_transaction(&self, inc: &Incoming, topic: &str, p: i32) -> Result<(), ErrorCode> {
        let current = self.producers.epoch_of(inc.producer_id);
        if self.producers.by_pid.contains_key(&inc.producer_id) && inc.producer_epoch < current {
            return Err(ErrorCode::InvalidProducerEpoch);
        }
        let added = self
            .txns
            .get(&inc.producer_id)
            .is_some_and(|parts| parts.contains(&(topic.to_string(), p)));
        if added {
            Ok(())
        } else {
            Err(ErrorCode::InvalidTxnState)
        }
    }

    fn append_incoming(
        &mut self,
        topic: &str,
        p: i32,
        inc: Incoming,
        stamp: Option<i64>,
    ) -> Appended {
        let txn_pid = if inc.transactional {
            inc.producer_id
        } else {
            -1
        };
        let (pid, epoch, seq, count) = (
            inc.producer_id,
            inc.producer_epoch,
            inc.base_sequence,
            inc.count,
        );
        let part = self.partition_mut(topic, p).expect("checked by led_by");
        let (base, _) = part
            .log
            .append_encoded(inc.bytes, part.epoch, txn_pid, inc.timestamps);
        part.history.append(
            base,
            HistKind::Data {
                producer_id: txn_pid,
            },
            inc.digests,
        );
        let log_start = part.log.log_start();
        if pid >= 0 {
            self.producers
                .sequences
                .written((topic, p), pid, epoch, seq, count, base);
        }
        self.dirty = true;
        Appended {
            base,
            log_append_time: stamp.unwrap_or(-1),
            log_start,
        }
    }
}

/// Errors that only a broken producer causes (a bad CRC, an invalid batch, a
/// bad acks value), unlike leadership, sequence or fencing errors, which
/// correct producers meet in normal operation.
fn is_malformed(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::CorruptMessage
            | ErrorCode::InvalidRecord
            | ErrorCode::InvalidRequiredAcks
            | ErrorCode::InvalidTimestamp
            | ErrorCode::UnsupportedCompressionType
    )
}

fn unknown() -> Refusal {
    (ErrorCode::UnknownTopicOrPartition, None)
}
