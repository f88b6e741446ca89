//! Incremental fetch sessions (KIP-227), the client side: what the next Fetch request
//! to one broker must carry, and how each response moves the session on.
//!
//! A full fetch (epoch 0) lists every partition and asks the broker to open a
//! session. Later requests carry the session id and the next epoch, plus only the
//! partitions whose fetch state changed and the ones to forget; the broker remembers
//! the rest. Any session error falls back to a full fetch. Like the Java client's
//! `FetchSessionHandler`, this type only does bookkeeping; building the wire request
//! is the fetcher's job.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::protocol::ErrorCode;

/// Epoch of a request that opens a new session (a full fetch).
pub const INITIAL_EPOCH: i32 = 0;
/// Epoch of a request that closes the session, or of a sessionless full fetch.
pub const FINAL_EPOCH: i32 = -1;
/// Session id meaning "no session".
pub const INVALID_SESSION_ID: i32 = 0;

/// What the broker must know about one partition to fetch it. Compared field by
/// field to decide whether an incremental request must mention the partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PartitionFetch {
    /// The offset to fetch from.
    pub fetch_offset: i64,
    /// The leader epoch the client knows (KIP-320), -1 if unknown.
    pub current_leader_epoch: i32,
    /// Epoch of the last fetched record (KIP-320 divergence check), -1 if unknown.
    pub last_fetched_epoch: i32,
    /// `max.partition.fetch.bytes`.
    pub max_bytes: i32,
}

/// The partitions of one request, as the session decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRequest<K> {
    /// The session id to send.
    pub session_id: i32,
    /// The epoch to send.
    pub epoch: i32,
    /// Partitions to put in the request (all of them for a full fetch).
    pub to_send: Vec<(K, PartitionFetch)>,
    /// Partitions to list in `forgotten_topics_data`.
    pub to_forget: Vec<K>,
    /// Whether this is a full fetch.
    pub full: bool,
}

/// One broker's fetch session. `K` identifies a partition (topic name or id, and
/// partition index).
#[derive(Debug, Clone)]
pub struct FetchSession<K: Ord + Clone> {
    session_id: i32,
    epoch: i32,
    /// The partitions and their fetch state as the broker knows them.
    known: BTreeMap<K, PartitionFetch>,
    /// What the request in flight will make the broker know, applied on success.
    pending: Option<BTreeMap<K, PartitionFetch>>,
    /// Where the next full request starts in the wanted partitions (kept across
    /// resets). A broker serves a request's partitions in order and may stop once
    /// `fetch.max.bytes` is filled or the wait is over; a full request that named
    /// them in the same order every time starved the last ones for good on a
    /// broker without sessions (tansu under a deep backlog). Each full request
    /// starts one partition further, as librdkafka's round robin does (Java moves
    /// partitions that returned data to the end; Kafka rotates a session's
    /// partitions itself).
    rotation: usize,
}

impl<K: Ord + Clone> Default for FetchSession<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Ord + Clone> FetchSession<K> {
    /// No session yet: the next request is a full fetch that opens one.
    pub fn new() -> Self {
        Self {
            session_id: INVALID_SESSION_ID,
            epoch: INITIAL_EPOCH,
            known: BTreeMap::new(),
            pending: None,
            rotation: 0,
        }
    }

    /// Forgets the session (the next request is a full one), keeping the rotation.
    fn reset(&mut self) {
        let rotation = self.rotation;
        *self = Self::new();
        self.rotation = rotation;
    }

    /// The current session id (0 if none).
    pub fn session_id(&self) -> i32 {
        self.session_id
    }

    /// The epoch the next request will carry.
    pub fn epoch(&self) -> i32 {
        self.epoch
    }

    /// Whether a session is open on the broker.
    pub fn is_open(&self) -> bool {
        self.session_id != INVALID_SESSION_ID
    }

    /// Plans the next request for the partitions the client wants to fetch now.
    /// Must be followed by [`on_response`](Self::on_response) or
    /// [`on_failure`](Self::on_failure) before the next call.
    pub fn build(&mut self, wanted: &BTreeMap<K, PartitionFetch>) -> SessionRequest<K> {
        let full = self.epoch == INITIAL_EPOCH || !self.is_open();
        self.pending = Some(wanted.clone());
        if full {
            let mut to_send: Vec<(K, PartitionFetch)> =
                wanted.iter().map(|(k, v)| (k.clone(), *v)).collect();
            if !to_send.is_empty() {
                let start = self.rotation % to_send.len();
                to_send.rotate_left(start);
                self.rotation = start + 1;
            }
            return SessionRequest {
                session_id: self.session_id,
                epoch: self.epoch,
                to_send,
                to_forget: Vec::new(),
                full: true,
            };
        }
        let to_send = wanted
            .iter()
            .filter(|(k, v)| self.known.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        let to_forget = self
            .known
            .keys()
            .filter(|k| !wanted.contains_key(*k))
            .cloned()
            .collect();
        SessionRequest {
            session_id: self.session_id,
            epoch: self.epoch,
            to_send,
            to_forget,
            full: false,
        }
    }

    /// A request that closes the session (epoch -1, no partitions), or `None` when
    /// there is no session to close. Forgets the session either way.
    pub fn close(&mut self) -> Option<SessionRequest<K>> {
        let open = self.is_open();
        let id = self.session_id;
        self.reset();
        open.then(|| SessionRequest {
            session_id: id,
            epoch: FINAL_EPOCH,
            to_send: Vec::new(),
            to_forget: Vec::new(),
            full: false,
        })
    }

    /// Digests the top-level outcome of the response to the last built request.
    /// Returns whether the response's partition data can be used: a session error
    /// means it carries none and the next request must be a full one.
    pub fn on_response(&mut self, error: ErrorCode, response_session_id: i32) -> bool {
        let pending = self.pending.take();
        match error {
            ErrorCode::None => {}
            ErrorCode::FetchSessionIdNotFound | ErrorCode::InvalidFetchSessionEpoch => {
                // The broker lost or rejected our session: start over with a full fetch.
                self.reset();
                return false;
            }
            _ => {
                // Another top-level error: the session state on the broker is unknown.
                self.reset();
                return false;
            }
        }
        if let Some(next) = pending {
            self.known = next;
        }
        if self.epoch == INITIAL_EPOCH || !self.is_open() {
            if response_session_id == INVALID_SESSION_ID {
                // The broker did not open a session (sessions off, or a broker that
                // has none): keep doing full fetches.
                self.session_id = INVALID_SESSION_ID;
                self.epoch = INITIAL_EPOCH;
            } else {
                self.session_id = response_session_id;
                self.epoch = 1;
            }
        } else if response_session_id != self.session_id {
            // The broker answered an incremental request for another session: do not
            // guess, start over.
            self.reset();
        } else {
            self.epoch = next_epoch(self.epoch);
        }
        true
    }

    /// The request failed (disconnect, timeout): the broker may or may not have
    /// applied it, so the session cannot be trusted. Start over with a full fetch.
    pub fn on_failure(&mut self) {
        self.reset();
    }
}

/// Epochs count up from 1 and wrap back to 1 (0 and -1 have meanings of their own).
pub fn next_epoch(epoch: i32) -> i32 {
    if epoch < 0 || epoch == i32::MAX {
        1
    } else {
        epoch + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pf(offset: i64) -> PartitionFetch {
        PartitionFetch {
            fetch_offset: offset,
            current_leader_epoch: 0,
            last_fetched_epoch: -1,
            max_bytes: 1024,
        }
    }

    fn wanted(items: &[(u32, i64)]) -> BTreeMap<u32, PartitionFetch> {
        items.iter().map(|&(k, o)| (k, pf(o))).collect()
    }

    #[test]
    fn full_requests_without_a_session_start_one_partition_further_each_time() {
        // A broker without sessions gets a full request every time; one that stops
        // serving partitions once its wait is over starved the last ones when they
        // came in the same order every time.
        let mut s = FetchSession::new();
        let all = wanted(&[(1, 0), (2, 0), (3, 0)]);
        let mut firsts = Vec::new();
        for _ in 0..4 {
            let r = s.build(&all);
            assert!(r.full);
            assert_eq!(r.to_send.len(), 3);
            firsts.push(r.to_send[0].0);
            assert!(s.on_response(ErrorCode::None, INVALID_SESSION_ID));
        }
        assert_eq!(firsts, [1, 2, 3, 1]);
        // Failures and session errors keep the rotation.
        s.build(&all);
        s.on_failure();
        assert_eq!(s.build(&all).to_send[0].0, 3);
        assert!(!s.on_response(ErrorCode::FetchSessionIdNotFound, 0));
        assert_eq!(s.build(&all).to_send[0].0, 1);
        // Fewer partitions than the rotation: still every one in turn.
        let two = wanted(&[(1, 0), (2, 0)]);
        assert!(s.on_response(ErrorCode::None, INVALID_SESSION_ID));
        let a = s.build(&two).to_send[0].0;
        assert!(s.on_response(ErrorCode::None, INVALID_SESSION_ID));
        let b = s.build(&two).to_send[0].0;
        assert_ne!(a, b);
    }

    #[test]
    fn full_then_incremental_then_forget() {
        let mut s = FetchSession::new();
        let r = s.build(&wanted(&[(1, 0), (2, 0)]));
        assert!(r.full);
        assert_eq!((r.session_id, r.epoch), (0, 0));
        assert_eq!(r.to_send.len(), 2);
        assert!(s.on_response(ErrorCode::None, 77));
        assert_eq!((s.session_id(), s.epoch()), (77, 1));

        // Partition 1 advanced, 2 did not: only 1 is sent.
        let r = s.build(&wanted(&[(1, 10), (2, 0)]));
        assert!(!r.full);
        assert_eq!((r.session_id, r.epoch), (77, 1));
        assert_eq!(r.to_send, [(1, pf(10))]);
        assert!(r.to_forget.is_empty());
        assert!(s.on_response(ErrorCode::None, 77));
        assert_eq!(s.epoch(), 2);

        // Nothing changed: an empty incremental request (the broker sends what is new).
        let r = s.build(&wanted(&[(1, 10), (2, 0)]));
        assert!(r.to_send.is_empty() && r.to_forget.is_empty());
        assert!(s.on_response(ErrorCode::None, 77));

        // Partition 2 unassigned, 3 added.
        let r = s.build(&wanted(&[(1, 10), (3, 5)]));
        assert_eq!(r.to_send, [(3, pf(5))]);
        assert_eq!(r.to_forget, [2]);
        assert_eq!(r.epoch, 3);
        assert!(s.on_response(ErrorCode::None, 77));
        assert_eq!(s.epoch(), 4);
    }

    #[test]
    fn session_errors_fall_back_to_a_full_fetch() {
        for error in [
            ErrorCode::FetchSessionIdNotFound,
            ErrorCode::InvalidFetchSessionEpoch,
        ] {
            let mut s = FetchSession::new();
            s.build(&wanted(&[(1, 0)]));
            s.on_response(ErrorCode::None, 5);
            s.build(&wanted(&[(1, 3)]));
            assert!(!s.on_response(error, 0), "{error:?} carries no data");
            let r = s.build(&wanted(&[(1, 3)]));
            assert!(r.full);
            assert_eq!((r.session_id, r.epoch), (0, 0));
        }
    }

    #[test]
    fn failure_and_sessionless_brokers() {
        let mut s = FetchSession::new();
        s.build(&wanted(&[(1, 0)]));
        // Broker did not create a session: full fetches again and again.
        assert!(s.on_response(ErrorCode::None, 0));
        let r = s.build(&wanted(&[(1, 4)]));
        assert!(r.full);
        assert_eq!(r.epoch, 0);
        s.on_response(ErrorCode::None, 9);
        s.build(&wanted(&[(1, 8)]));
        s.on_failure();
        assert!(s.build(&wanted(&[(1, 8)])).full);
    }

    #[test]
    fn close_sends_final_epoch_only_for_open_sessions() {
        let mut s: FetchSession<u32> = FetchSession::new();
        assert!(s.close().is_none());
        s.build(&wanted(&[(1, 0)]));
        s.on_response(ErrorCode::None, 42);
        let c = s.close().unwrap();
        assert_eq!((c.session_id, c.epoch), (42, FINAL_EPOCH));
        assert!(!s.is_open());
    }

    #[test]
    fn epochs_wrap_to_one() {
        assert_eq!(next_epoch(1), 2);
        assert_eq!(next_epoch(i32::MAX), 1);
    }

    #[test]
    fn mismatched_session_id_in_response_restarts() {
        let mut s = FetchSession::new();
        s.build(&wanted(&[(1, 0)]));
        s.on_response(ErrorCode::None, 5);
        s.build(&wanted(&[(1, 1)]));
        s.on_response(ErrorCode::None, 6);
        assert!(s.build(&wanted(&[(1, 1)])).full);
    }
}
