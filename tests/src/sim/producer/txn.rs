//! The transaction coordinator: InitProducerId (producer ids, epoch bumps that
//! fence older instances), AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit
//! and EndTxn. The coordinator of a transactional id is the broker
//! `coordinator_of` names for it, the one FindCoordinator (key type 1) returns.
//!
//! Simplified against Kafka: the transaction log is not simulated, so every
//! state change is complete when answered (markers are written synchronously;
//! no PrepareCommit/PrepareAbort, hence no CONCURRENT_TRANSACTIONS), and
//! `transaction.timeout.ms` is checked but never expires a transaction.

use std::collections::BTreeSet;

use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse, EndTxnRequest, EndTxnResponse, InitProducerIdRequest,
    InitProducerIdResponse, TxnOffsetCommitRequest, TxnOffsetCommitResponse,
};
use kasio_core::protocol::ErrorCode;

use super::PReq;
use crate::sim::cluster::{Cluster, TxnId};
use crate::sim::server::Reply;

/// Kafka's `transaction.max.timeout.ms` default.
const MAX_TXN_TIMEOUT_MS: i32 = 900_000;

/// An offset TxnOffsetCommit staged: (topic, partition, offset, leader epoch,
/// metadata).
type StagedOffset = (String, i32, i64, i32, Option<String>);

/// Where a transactional id's transaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TxnState {
    /// None open.
    Empty,
    /// Partitions or offsets were added.
    Ongoing,
    /// The last one was committed.
    CompleteCommit,
    /// The last one was aborted.
    CompleteAbort,
}

/// One transactional id at the coordinator.
#[derive(Debug, Clone)]
pub(crate) struct TxnMeta {
    pub pid: i64,
    pub epoch: i16,
    pub state: TxnState,
    /// Groups whose offsets the open transaction may commit.
    groups: BTreeSet<String>,
    /// Offsets staged by TxnOffsetCommit, per group, committed with the
    /// transaction.
    offsets: Vec<(String, StagedOffset)>,
}

/// PRODUCER_FENCED exists from these versions (KIP-588); older ones get
/// INVALID_PRODUCER_EPOCH, as Kafka maps it.
fn fenced(req: &PReq) -> ErrorCode {
    let first = match req.key {
        super::INIT_PRODUCER_ID => 4,
        super::TXN_OFFSET_COMMIT => 3,
        _ => 2,
    };
    if req.version >= first {
        ErrorCode::ProducerFenced
    } else {
        ErrorCode::InvalidProducerEpoch
    }
}

impl Cluster {
    /// The coordinator check: `key`'s coordinator must be `broker`.
    fn not_txn_coordinator(&self, broker: i32, key: &str) -> Option<ErrorCode> {
        match self.coordinator_of(key) {
            Some(b) if b == broker => None,
            Some(_) => Some(ErrorCode::NotCoordinator),
            None => Some(ErrorCode::CoordinatorNotAvailable),
        }
    }

    /// The transaction of `txn_id` if `pid` at `epoch` is its current producer.
    fn current_txn(&self, req: &PReq, txn_id: &str, pid: i64, epoch: i16) -> Result<(), ErrorCode> {
        let meta = self
            .producers
            .txns
            .get(txn_id)
            .filter(|m| m.pid == pid)
            .ok_or(ErrorCode::InvalidProducerIdMapping)?;
        if meta.epoch != epoch {
            return Err(fenced(req));
        }
        Ok(())
    }

    fn meta_mut(&mut self, txn_id: &str) -> &mut TxnMeta {
        self.producers.txns.get_mut(txn_id).expect("checked")
    }

    pub(super) fn handle_init_producer_id(&mut self, broker: i32, req: &PReq) -> Option<Reply> {
        let r: InitProducerIdRequest = self.decode_producer(broker, req)?;
        let txn_id = r.transactional_id.as_ref().map(|t| t.0.to_string());
        let result = match &txn_id {
            // Idempotence only: a fresh producer id from any broker.
            None => Ok(self.new_producer_id()),
            Some(t) => self.init_transactional(broker, req, t, &r),
        };
        let mut resp = InitProducerIdResponse::default();
        match result {
            Ok((pid, epoch)) => {
                resp.producer_id = pid.into();
                resp.producer_epoch = epoch;
            }
            Err(code) => {
                resp.error_code = code.code();
                resp.producer_id = (-1).into();
                resp.producer_epoch = -1;
            }
        }
        self.note(
            broker,
            format!(
                "InitProducerId v{} {txn_id:?} -> {}/{} err {}",
                req.version, resp.producer_id.0, resp.producer_epoch, resp.error_code
            ),
        );
        self.producer_reply(req, &resp)
    }

    fn new_producer_id(&mut self) -> (i64, i16) {
        let pid = self.next_producer_id;
        self.next_producer_id += 1;
        (pid, 0)
    }

    fn init_transactional(
        &mut self,
        broker: i32,
        req: &PReq,
        txn_id: &str,
        r: &InitProducerIdRequest,
    ) -> Result<(i64, i16), ErrorCode> {
        if txn_id.is_empty() {
            return Err(ErrorCode::InvalidRequest);
        }
        if r.transaction_timeout_ms <= 0 || r.transaction_timeout_ms > MAX_TXN_TIMEOUT_MS {
            return Err(ErrorCode::InvalidTransactionTimeout);
        }
        if let Some(code) = self.not_txn_coordinator(broker, txn_id) {
            return Err(code);
        }
        let Some(meta) = self.producers.txns.get(txn_id).cloned() else {
            let (pid, epoch) = self.new_producer_id();
            self.producers.txns.insert(
                txn_id.to_string(),
                TxnMeta {
                    pid,
                    epoch,
                    state: TxnState::Empty,
                    groups: BTreeSet::new(),
                    offsets: Vec::new(),
                },
            );
            self.producers.by_pid.insert(pid, txn_id.to_string());
            return Ok((pid, epoch));
        };
        // KIP-360: a producer that names its id and epoch must be the current one.
        let named = r.producer_id.0 >= 0;
        if named && (r.producer_id.0 != meta.pid || r.producer_epoch != meta.epoch) {
            return Err(fenced(req));
        }
        // A new instance: the epoch goes up (fencing the old one), and whatever
        // it left open is aborted, with markers at the new epoch.
        let (pid, epoch) = if meta.epoch >= i16::MAX - 1 {
            let fresh = self.new_producer_id();
            self.producers.by_pid.remove(&meta.pid);
            self.producers.by_pid.insert(fresh.0, txn_id.to_string());
            fresh
        } else {
            (meta.pid, meta.epoch + 1)
        };
        {
            let m = self.meta_mut(txn_id);
            m.epoch = epoch;
            m.state = TxnState::Empty;
            m.groups.clear();
            m.offsets.clear();
            m.pid = pid;
        }
        if meta.state == TxnState::Ongoing {
            if pid != meta.pid {
                // The markers go out under the old id, still mapped for them.
                self.producers.by_pid.insert(meta.pid, txn_id.to_string());
            }
            self.finish(meta.pid, epoch, false);
            if pid != meta.pid {
                self.producers.by_pid.remove(&meta.pid);
            }
        }
        Ok((pid, epoch))
    }

    /// Writes the markers of `pid`'s transaction (through the cluster's
    /// transaction machinery) and moves each partition's producer state to the
    /// marker's epoch.
    fn finish(&mut self, pid: i64, epoch: i16, commit: bool) {
        let parts: Vec<(String, i32)> = self
            .txns
            .get(&pid)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        // A transaction of offsets only has no partition here.
        let _ = self.end_transaction(TxnId(pid), commit);
        for (t, p) in parts {
            self.sync_sequences(&t, p);
            self.producers.sequences.marker((&t, p), pid, epoch);
        }
    }

    pub(super) fn handle_add_partitions(&mut self, broker: i32, req: &PReq) -> Option<Reply> {
        let r: AddPartitionsToTxnRequest = self.decode_producer(broker, req)?;
        let txn_id = r.v3_and_below_transactional_id.0.to_string();
        let (pid, epoch) = (r.v3_and_below_producer_id.0, r.v3_and_below_producer_epoch);
        let mut error = self
            .not_txn_coordinator(broker, &txn_id)
            .map_or_else(|| self.current_txn(req, &txn_id, pid, epoch), Err)
            .err();
        let wanted: Vec<(String, i32)> = r
            .v3_and_below_topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(move |p| (t.name.0.to_string(), *p)))
            .collect();
        let unknown: Vec<bool> = wanted
            .iter()
            .map(|(t, p)| self.partition(t, *p).is_err())
            .collect();
        if error.is_none() && unknown.contains(&true) {
            // Kafka adds none of them then.
            error = Some(ErrorCode::OperationNotAttempted);
        }
        if error.is_none() {
            let set = self.txns.entry(pid).or_default();
            set.extend(wanted.iter().cloned());
            self.meta_mut(&txn_id).state = TxnState::Ongoing;
        }
        let mut resp = AddPartitionsToTxnResponse::default();
        for t in &r.v3_and_below_topics {
            let mut tr = AddPartitionsToTxnTopicResult::default();
            tr.name = t.name.clone();
            for &p in &t.partitions {
                let bad = self.partition(&t.name.0, p).is_err();
                let code = match error {
                    Some(ErrorCode::OperationNotAttempted) if bad => {
                        ErrorCode::UnknownTopicOrPartition
                    }
                    Some(c) => c,
                    None => ErrorCode::None,
                };
                tr.results_by_partition.push(
                    AddPartitionsToTxnPartitionResult::default()
                        .with_partition_index(p)
                        .with_partition_error_code(code.code()),
                );
            }
            resp.results_by_topic_v3_and_below.push(tr);
        }
        self.note(
            broker,
            format!(
                "AddPartitionsToTxn v{} {txn_id} {pid}/{epoch} {wanted:?} -> {error:?}",
                req.version
            ),
        );
        self.producer_reply(req, &resp)
    }

    pub(super) fn handle_add_offsets(&mut self, broker: i32, req: &PReq) -> Option<Reply> {
        let r: AddOffsetsToTxnRequest = self.decode_producer(broker, req)?;
        let txn_id = r.transactional_id.0.to_string();
        let (pid, epoch) = (r.producer_id.0, r.producer_epoch);
        let error = self
            .not_txn_coordinator(broker, &txn_id)
            .map_or_else(|| self.current_txn(req, &txn_id, pid, epoch), Err)
            .err();
        if error.is_none() {
            let m = self.meta_mut(&txn_id);
            m.groups.insert(r.group_id.0.to_string());
            m.state = TxnState::Ongoing;
        }
        self.note(
            broker,
            format!(
                "AddOffsetsToTxn v{} {txn_id} {:?} -> {error:?}",
                req.version, r.group_id.0
            ),
        );
        let resp =
            AddOffsetsToTxnResponse::default().with_error_code(error.map_or(0, ErrorCode::code));
        self.producer_reply(req, &resp)
    }

    pub(super) fn handle_txn_offset_commit(&mut self, broker: i32, req: &PReq) -> Option<Reply> {
        let r: TxnOffsetCommitRequest = self.decode_producer(broker, req)?;
        let txn_id = r.transactional_id.0.to_string();
        let group = r.group_id.0.to_string();
        let (pid, epoch) = (r.producer_id.0, r.producer_epoch);
        // Sent to the group's coordinator, which knows the producer from the
        // offsets partition's producer state.
        let error = self
            .not_txn_coordinator(broker, &group)
            .map_or_else(|| self.current_txn(req, &txn_id, pid, epoch), Err)
            .err()
            .or_else(|| {
                let added = self.producers.txns[&txn_id].groups.contains(&group);
                (!added).then_some(ErrorCode::InvalidTxnState)
            });
        let mut resp = TxnOffsetCommitResponse::default();
        let mut staged = Vec::new();
        for t in &r.topics {
            let mut tr = TxnOffsetCommitResponseTopic::default();
            tr.name = t.name.clone();
            for p in &t.partitions {
                let code = error.unwrap_or_else(|| {
                    if self.partition(&t.name.0, p.partition_index).is_err() {
                        ErrorCode::UnknownTopicOrPartition
                    } else {
                        ErrorCode::None
                    }
                });
                if code == ErrorCode::None {
                    staged.push((
                        group.clone(),
                        (
                            t.name.0.to_string(),
                            p.partition_index,
                            p.committed_offset,
                            p.committed_leader_epoch,
                            p.committed_metadata.as_ref().map(|m| m.to_string()),
                        ),
                    ));
                }
                tr.partitions.push(
                    TxnOffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code.code()),
                );
            }
            resp.topics.push(tr);
        }
        self.note(
            broker,
            format!(
                "TxnOffsetCommit v{} {txn_id} {group} {} offsets -> {error:?}",
                req.version,
                staged.len()
            ),
        );
        if !staged.is_empty() {
            self.meta_mut(&txn_id).offsets.extend(staged);
        }
        self.producer_reply(req, &resp)
    }

    pub(super) fn handle_end_txn(&mut self, broker: i32, req: &PReq) -> Option<Reply> {
        let r: EndTxnRequest = self.decode_producer(broker, req)?;
        let txn_id = r.transactional_id.0.to_string();
        let (pid, epoch) = (r.producer_id.0, r.producer_epoch);
        let error = self
            .not_txn_coordinator(broker, &txn_id)
            .map_or_else(|| self.current_txn(req, &txn_id, pid, epoch), Err)
            .err()
            .or_else(|| self.end_txn(&txn_id, pid, epoch, r.committed).err());
        self.note(
            broker,
            format!(
                "EndTxn v{} {txn_id} {pid}/{epoch} commit={} -> {error:?}",
                req.version, r.committed
            ),
        );
        let resp = EndTxnResponse::default().with_error_code(error.map_or(0, ErrorCode::code));
        self.producer_reply(req, &resp)
    }

    /// Ends the open transaction; a retried EndTxn of the same outcome is fine,
    /// anything else in the wrong state is INVALID_TXN_STATE.
    fn end_txn(
        &mut self,
        txn_id: &str,
        pid: i64,
        epoch: i16,
        commit: bool,
    ) -> Result<(), ErrorCode> {
        let meta = self.producers.txns[txn_id].clone();
        match (meta.state, commit) {
            (TxnState::Ongoing, _) => {}
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => return Ok(()),
            _ => return Err(ErrorCode::InvalidTxnState),
        }
        self.finish(pid, epoch, commit);
        if commit {
            let mut by_group: Vec<(String, Vec<StagedOffset>)> = Vec::new();
            for (g, o) in meta.offsets {
                match by_group.iter_mut().find(|(x, _)| *x == g) {
                    Some((_, v)) => v.push(o),
                    None => by_group.push((g, vec![o])),
                }
            }
            for (g, offsets) in by_group {
                self.commit_txn_offsets(&g, &offsets);
            }
        }
        let m = self.meta_mut(txn_id);
        m.state = if commit {
            TxnState::CompleteCommit
        } else {
            TxnState::CompleteAbort
        };
        m.groups.clear();
        m.offsets.clear();
        Ok(())
    }
}
