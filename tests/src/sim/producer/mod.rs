//! The producer side of the wire, so any Kafka producer (librdkafka, Java, …)
//! can write to the simulated cluster: Produce (v3+, record batch v2),
//! idempotence (InitProducerId, per-partition sequence checks) and transactions
//! (InitProducerId with a transactional id, AddPartitionsToTxn, AddOffsetsToTxn,
//! TxnOffsetCommit, EndTxn; FindCoordinator with key type 1 is the group
//! module's, which maps any key to a broker the same way).
//!
//! kasio-core's codec describes the consumer APIs only, so these requests are
//! decoded and their responses encoded with the `kafka-protocol` crate, after a
//! bounds check of each body (`shape.rs`) so that a hostile count cannot make it
//! allocate more than the frame justifies. The batches themselves go through
//! kasio-core: checked (`batch.rs`), given their offset and leader epoch, and
//! stored as the producer encoded them. Transaction markers are written by the
//! cluster's own transaction machinery (`Cluster::end_transaction`), so the
//! last stable offset, the aborted-transaction index and read_committed fetches
//! treat wire transactions exactly like the simulation-side producer's.
//!
//! What correct producers meet in normal operation (not the leader, an unknown
//! partition, a fenced epoch, a sequence gap, a retried batch) is answered as
//! Kafka answers it and noted. What only a broken producer sends (a bad CRC, an
//! invalid batch, a bad acks value, an undecodable or unadvertised request) is
//! answered as Kafka answers it too (an error code, or a closed connection) and
//! recorded as a violation.

mod batch;
mod produce;
mod sequence;
mod shape;
#[cfg(test)]
mod tests;
mod txn;

use std::collections::{BTreeMap, BTreeSet};

use bytes::{Bytes, BytesMut};
use kafka_protocol::protocol::{Decodable, Encodable};
use kasio_core::codec::{encode_frame, RequestHeader, ResponseHeader};

use super::cluster::Cluster;
use super::server::Reply;
use shape::F;

pub(crate) use sequence::Sequences;
pub(crate) use txn::TxnMeta;

/// Wire keys of the producer APIs.
pub(crate) const PRODUCE: i16 = 0;
pub(crate) const INIT_PRODUCER_ID: i16 = 22;
pub(crate) const ADD_PARTITIONS_TO_TXN: i16 = 24;
pub(crate) const ADD_OFFSETS_TO_TXN: i16 = 25;
pub(crate) const END_TXN: i16 = 26;
pub(crate) const TXN_OFFSET_COMMIT: i16 = 28;

/// (key, name, lowest, highest advertised version, first flexible version).
///
/// The ranges are what the handlers implement: Produce from v3 (record batch v2
/// only, as Kafka 4) to v12 (v13 names topics by id); AddPartitionsToTxn up to
/// v3 (v4+ is the broker-to-broker verification form); EndTxn and
/// TxnOffsetCommit below v5 (the KIP-890 "transactions v2" epoch bump per
/// transaction is not simulated).
const APIS: [(i16, &str, i16, i16, i16); 6] = [
    (PRODUCE, "Produce", 3, 12, 9),
    (INIT_PRODUCER_ID, "InitProducerId", 0, 5, 2),
    (ADD_PARTITIONS_TO_TXN, "AddPartitionsToTxn", 0, 3, 3),
    (ADD_OFFSETS_TO_TXN, "AddOffsetsToTxn", 0, 4, 3),
    (END_TXN, "EndTxn", 0, 4, 3),
    (TXN_OFFSET_COMMIT, "TxnOffsetCommit", 0, 4, 3),
];

/// What every simulated broker advertises for the producer APIs by default
/// (key, min, max), next to the consumer APIs of kasio-core's codec.
pub fn default_apis() -> Vec<(i16, i16, i16)> {
    APIS.iter().map(|&(k, _, lo, hi, _)| (k, lo, hi)).collect()
}

/// Whether `key` is a producer API this module serves.
pub(crate) fn is_producer_api(key: i16) -> bool {
    APIS.iter().any(|a| a.0 == key)
}

fn api(key: i16) -> (i16, &'static str, i16, i16, i16) {
    *APIS.iter().find(|a| a.0 == key).expect("a producer API")
}

/// A producer request: header decoded, body still bytes.
pub(crate) struct PReq {
    pub key: i16,
    pub name: &'static str,
    pub version: i16,
    pub corr: i32,
    pub body: Bytes,
    flexible: bool,
}

impl PReq {
    /// The response frame for `body` (size, header, body) at the request's version.
    fn frame<M: Encodable>(&self, body: &M) -> Result<Bytes, String> {
        let mut buf = BytesMut::with_capacity(128);
        encode_frame(&mut buf, |buf| {
            ResponseHeader {
                correlation_id: self.corr,
            }
            .encode(i16::from(self.flexible), buf);
            body.encode(buf, self.version)
        })
        .map_err(|e| {
            format!(
                "{} v{}: cannot encode the response: {e}",
                self.name, self.version
            )
        })?;
        Ok(buf.freeze())
    }
}

/// The wire producers' state: idempotence per partition, the transaction
/// coordinator's transactions, and topic settings producers depend on.
#[derive(Debug, Default)]
pub(crate) struct Producers {
    pub sequences: Sequences,
    /// Transactional id → its producer and transaction.
    pub txns: BTreeMap<String, TxnMeta>,
    /// Producer id → transactional id.
    pub by_pid: BTreeMap<i64, String>,
    /// Topics whose `message.timestamp.type` is LogAppendTime.
    pub log_append_time: BTreeSet<String>,
}

impl Producers {
    /// The current epoch of a transactional producer id (0 for any other: the
    /// simulation-side producer writes at epoch 0).
    pub(crate) fn epoch_of(&self, pid: i64) -> i16 {
        self.by_pid
            .get(&pid)
            .and_then(|t| self.txns.get(t))
            .map_or(0, |m| m.epoch)
    }
}

/// The bounds-check schema of a request body, for the requests that hold arrays
/// (the others cannot make `kafka-protocol` allocate by count).
fn schema(key: i16, version: i16) -> Option<&'static [F]> {
    const PARTITION: &[F] = &[F::I32, F::NBytes];
    const PRODUCE_TOPIC: &[F] = &[F::Str, F::Arr(PARTITION)];
    const PRODUCE_BODY: &[F] = &[F::NStr, F::I16, F::I32, F::Arr(PRODUCE_TOPIC)];
    const TXN_TOPIC: &[F] = &[F::Str, F::ArrI32];
    const ADD_PARTITIONS: &[F] = &[F::Str, F::I64, F::I16, F::Arr(TXN_TOPIC)];
    const OFFSET_V0: &[F] = &[F::I32, F::I64, F::NStr];
    const OFFSET_V2: &[F] = &[F::I32, F::I64, F::I32, F::NStr];
    const TOPIC_V0: &[F] = &[F::Str, F::Arr(OFFSET_V0)];
    const TOPIC_V2: &[F] = &[F::Str, F::Arr(OFFSET_V2)];
    const COMMIT_V0: &[F] = &[F::Str, F::Str, F::I64, F::I16, F::Arr(TOPIC_V0)];
    const COMMIT_V2: &[F] = &[F::Str, F::Str, F::I64, F::I16, F::Arr(TOPIC_V2)];
    const COMMIT_V3: &[F] = &[
        F::Str,
        F::Str,
        F::I64,
        F::I16,
        F::I32,
        F::Str,
        F::NStr,
        F::Arr(TOPIC_V2),
    ];
    match key {
        PRODUCE => Some(PRODUCE_BODY),
        ADD_PARTITIONS_TO_TXN => Some(ADD_PARTITIONS),
        TXN_OFFSET_COMMIT => Some(match version {
            0 | 1 => COMMIT_V0,
            2 => COMMIT_V2,
            _ => COMMIT_V3,
        }),
        _ => None,
    }
}

impl Cluster {
    /// One producer-API request to `broker`: checked against what the broker
    /// advertises, its header decoded, then handled.
    pub(crate) fn dispatch_producer(
        &mut self,
        broker: i32,
        key: i16,
        version: i16,
        corr: i32,
        frame: &Bytes,
    ) -> Reply {
        let (_, name, _, _, first_flexible) = api(key);
        let advertised = self.brokers.get(&broker).and_then(|b| {
            b.foreign_apis
                .iter()
                .find(|a| a.0 == key)
                .map(|&(_, lo, hi)| (lo, hi))
        });
        if !advertised.is_some_and(|(lo, hi)| (lo..=hi).contains(&version)) {
            self.note(broker, format!("{name} v{version} not advertised: closing"));
            self.violation(format!(
                "b{broker}: {name} v{version} sent, advertised {advertised:?}"
            ));
            return Reply::Close;
        }
        let flexible = version >= first_flexible;
        let body = match RequestHeader::decode(1 + i16::from(flexible), frame) {
            Ok((_, body)) => body,
            Err(e) => {
                self.violation(format!("b{broker}: {name} v{version} header: {e:?}"));
                return Reply::Close;
            }
        };
        let req = PReq {
            key,
            name,
            version,
            corr,
            body,
            flexible,
        };
        let reply = match key {
            PRODUCE => self.handle_produce(broker, &req),
            INIT_PRODUCER_ID => self.handle_init_producer_id(broker, &req),
            ADD_PARTITIONS_TO_TXN => self.handle_add_partitions(broker, &req),
            ADD_OFFSETS_TO_TXN => self.handle_add_offsets(broker, &req),
            END_TXN => self.handle_end_txn(broker, &req),
            _ => self.handle_txn_offset_commit(broker, &req),
        };
        reply.unwrap_or(Reply::Close)
    }

    /// Decodes a producer request body; one that does not fit its schema or
    /// does not decode exactly is a violation (and closes the connection).
    pub(crate) fn decode_producer<M: Decodable>(&mut self, broker: i32, req: &PReq) -> Option<M> {
        if let Some(fields) = schema(req.key, req.version) {
            if !shape::fits(fields, req.flexible, &req.body) {
                self.violation(format!(
                    "b{broker}: {} v{} body does not fit its schema",
                    req.name, req.version
                ));
                return None;
            }
        }
        let mut buf = req.body.clone();
        match M::decode(&mut buf, req.version) {
            Ok(m) if buf.is_empty() => Some(m),
            Ok(_) => {
                self.violation(format!(
                    "b{broker}: {} v{}: {} bytes after the body",
                    req.name,
                    req.version,
                    buf.len()
                ));
                None
            }
            Err(e) => {
                self.violation(format!(
                    "b{broker}: {} v{} does not decode: {e}",
                    req.name, req.version
                ));
                None
            }
        }
    }

    /// The response frame, or (a bug of the simulation, not the client's) a
    /// violation and a closed connection.
    pub(crate) fn producer_reply<M: Encodable>(&mut self, req: &PReq, body: &M) -> Option<Reply> {
        match req.frame(body) {
            Ok(f) => Some(Reply::Frame(f)),
            Err(e) => {
                self.violation(e);
                None
            }
        }
    }

    /// Makes `topic`'s timestamps LogAppendTime (`message.timestamp.type`): each
    /// batch produced on the wire is stamped with the cluster's clock (ms).
    pub fn set_log_append_time(&mut self, topic: &str, on: bool) {
        if on {
            self.producers.log_append_time.insert(topic.to_string());
        } else {
            self.producers.log_append_time.remove(topic);
        }
    }

    /// The producer id and epoch a transactional id has now, if it has one.
    pub fn transactional_producer(&self, transactional_id: &str) -> Option<(i64, i16)> {
        self.producers
            .txns
            .get(transactional_id)
            .map(|m| (m.pid, m.epoch))
    }
}
