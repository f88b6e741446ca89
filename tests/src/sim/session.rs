//! Incremental fetch sessions (KIP-227), the broker side: Kafka's `FetchSessionCache`
//! and `FetchSession`, small. A full fetch (epoch 0) creates a session holding every
//! partition with what the client asked and what the last response said; an
//! incremental request names the session and its expected epoch, adds or updates
//! partitions and forgets others; a response then carries only the partitions that
//! changed, and those move to the end of the session so the next read starts with
//! the others.

use std::collections::{BTreeMap, BTreeSet};

use kasio_core::codec::Uuid;
use kasio_core::rng::Rng;
use kasio_core::time::Instant;

/// A partition as a Fetch names it; `topic` is empty for a topic id the broker does
/// not know.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct PartKey {
    pub topic: String,
    pub id: Uuid,
    pub partition: i32,
}

/// What the client asks for one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PartReq {
    pub fetch_offset: i64,
    pub current_leader_epoch: i32,
    pub last_fetched_epoch: i32,
    pub max_bytes: i32,
}

/// A partition in a session: the request parameters and what the last response
/// told the client (to decide whether the next incremental response must say more).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cached {
    pub req: PartReq,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub id: i32,
    /// The epoch the next request must carry.
    pub epoch: i32,
    /// Created by a Fetch v13+ (partitions named by topic id).
    pub uses_ids: bool,
    /// In read order.
    pub parts: Vec<(PartKey, Cached)>,
    pub last_used: Instant,
}

impl Session {
    /// Applies an incremental request: updates and additions, then removals.
    pub fn update(&mut self, reqs: &[(PartKey, PartReq)], forget: &[PartKey]) {
        for (key, req) in reqs {
            match self.parts.iter_mut().find(|(k, _)| k == key) {
                Some((_, c)) => c.req = *req,
                None => self.parts.push((
                    key.clone(),
                    Cached {
                        req: *req,
                        high_watermark: -1,
                        last_stable_offset: -1,
                        log_start: -1,
                    },
                )),
            }
        }
        self.parts.retain(|(k, _)| !forget.contains(k));
    }
}

/// One broker's sessions.
#[derive(Debug, Clone, Default)]
pub(crate) struct SessionCache {
    pub sessions: BTreeMap<i32, Session>,
    /// Every id this broker ever handed out, and those the client closed itself: a
    /// client naming any other id breaks the protocol.
    pub issued: BTreeSet<i32>,
    pub closed_by_client: BTreeSet<i32>,
}

impl SessionCache {
    /// Creates a session, evicting the least recently used one when all `slots` are
    /// taken; `None` when sessions are off.
    pub fn create(
        &mut self,
        slots: usize,
        rng: &mut Rng,
        now: Instant,
        uses_ids: bool,
        parts: Vec<(PartKey, Cached)>,
    ) -> Option<i32> {
        if slots == 0 {
            return None;
        }
        while self.sessions.len() >= slots {
            let victim = self
                .sessions
                .values()
                .min_by_key(|s| (s.last_used, s.id))
                .map(|s| s.id)?;
            self.sessions.remove(&victim);
        }
        let id = loop {
            let id = (rng.next_u64() & 0x7fff_ffff) as i32;
            if id != 0 && !self.issued.contains(&id) {
                break id;
            }
        };
        self.issued.insert(id);
        self.sessions.insert(
            id,
            Session {
                id,
                epoch: 1,
                uses_ids,
                parts,
                last_used: now,
            },
        );
        Some(id)
    }
}

/// Epochs count from 1 and wrap to 1.
pub(crate) fn next_epoch(epoch: i32) -> i32 {
    if epoch == i32::MAX {
        1
    } else {
        epoch + 1
    }
}
