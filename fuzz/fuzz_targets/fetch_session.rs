//! The fetch session bookkeeping (KIP-227) driven by arbitrary operation sequences,
//! against a model of the broker's session cache.
//!
//! Invariants checked:
//! - a request carries the session id and epoch the session reports; epochs go
//!   0 (full) → 1, 2, … (wrapping to 1) while the session lives;
//! - after any error or failure the next request is full (session 0, epoch 0);
//! - a full request lists exactly the wanted partitions and forgets nothing;
//! - an incremental request lists exactly the wanted partitions whose fetch state
//!   differs from what the broker knows (never an unchanged one), and forgets
//!   exactly the known ones no longer wanted (forgotten = known − wanted);
//! - applying each successful request to the broker's cache makes the cache equal
//!   what the client wanted;
//! - close sends epoch -1 only for an open session and forgets it.
#![no_main]

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use kasio_core::fetch::session::{
    next_epoch, FetchSession, PartitionFetch, SessionRequest, FINAL_EPOCH, INITIAL_EPOCH,
    INVALID_SESSION_ID,
};
use kasio_core::protocol::ErrorCode;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Op {
    /// Plan a request for these partitions (key, offset; small ranges so that
    /// fetch states repeat).
    Build(Vec<(u8, u8, bool)>),
    /// The broker answers the last request.
    Respond {
        error: ErrorChoice,
        session: SessionChoice,
    },
    /// The request failed (disconnect, timeout).
    Fail,
    Close,
    /// An epoch sweep: `next_epoch` stays in 1..=i32::MAX.
    Epoch(i32),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum ErrorChoice {
    None,
    SessionNotFound,
    InvalidEpoch,
    Other(i16),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum SessionChoice {
    /// The id of the session (or a new one for a full request): what a broker does.
    Same,
    /// No session (sessions off on the broker).
    Zero,
    Other(i32),
}

/// The broker's view of one client session.
#[derive(Debug, Default)]
struct Broker {
    id: i32,
    /// The epoch it expects next.
    epoch: i32,
    cache: BTreeMap<u8, PartitionFetch>,
    next_id: i32,
}

fn pf(offset: u8, epoch_bump: bool) -> PartitionFetch {
    PartitionFetch {
        fetch_offset: i64::from(offset % 8),
        current_leader_epoch: i32::from(epoch_bump),
        last_fetched_epoch: -1,
        max_bytes: 1 << 20,
    }
}

fn check_full(req: &SessionRequest<u8>, wanted: &BTreeMap<u8, PartitionFetch>) {
    let sent: BTreeMap<u8, PartitionFetch> = req.to_send.iter().cloned().collect();
    assert_eq!(sent.len(), req.to_send.len(), "a partition listed twice");
    assert_eq!(&sent, wanted, "a full request lists every wanted partition");
    assert!(req.to_forget.is_empty(), "a full request forgets nothing");
}

fuzz_target!(|ops: Vec<Op>| {
    let mut s: FetchSession<u8> = FetchSession::new();
    let mut broker = Broker {
        next_id: 1,
        ..Default::default()
    };
    // The last request built and not yet answered, with what it wanted.
    let mut pending: Option<(SessionRequest<u8>, BTreeMap<u8, PartitionFetch>)> = None;
    // Whether the next request must be full (start, or after an error/failure).
    let mut must_be_full = true;
    // Whether the broker model is exact (a response without a request — a caller's
    // misuse — leaves it unknown until the next full request).
    let mut trusted = true;

    for op in ops.into_iter().take(256) {
        assert_eq!(s.is_open(), s.session_id() != INVALID_SESSION_ID);
        if s.is_open() {
            assert!(s.epoch() >= 1, "an open session is at epoch {}", s.epoch());
        } else {
            assert_eq!(s.epoch(), INITIAL_EPOCH);
        }
        match op {
            Op::Build(parts) => {
                let wanted: BTreeMap<u8, PartitionFetch> = parts
                    .into_iter()
                    .map(|(k, o, e)| (k % 16, pf(o, e)))
                    .collect();
                let (id, epoch) = (s.session_id(), s.epoch());
                let req = s.build(&wanted);
                assert_eq!((req.session_id, req.epoch), (id, epoch));
                if must_be_full {
                    assert!(req.full, "the request after an error or failure is full");
                    assert_eq!(
                        (req.session_id, req.epoch),
                        (INVALID_SESSION_ID, INITIAL_EPOCH)
                    );
                }
                if req.full {
                    assert_eq!(req.epoch, INITIAL_EPOCH);
                    check_full(&req, &wanted);
                } else if trusted {
                    assert_eq!(
                        req.session_id, broker.id,
                        "an incremental request for another session"
                    );
                    assert_eq!(
                        req.epoch, broker.epoch,
                        "an incremental request at the wrong epoch"
                    );
                    for (k, v) in &req.to_send {
                        assert!(wanted.get(k) == Some(v));
                        assert!(
                            broker.cache.get(k) != Some(v),
                            "unchanged partition {k} sent again"
                        );
                    }
                    for (k, v) in &wanted {
                        if broker.cache.get(k) != Some(v) {
                            assert!(
                                req.to_send.iter().any(|(x, _)| x == k),
                                "changed partition {k} not sent"
                            );
                        }
                    }
                    let forget: Vec<u8> = broker
                        .cache
                        .keys()
                        .filter(|k| !wanted.contains_key(*k))
                        .copied()
                        .collect();
                    assert_eq!(req.to_forget, forget, "forgotten = known − wanted");
                }
                pending = Some((req, wanted));
            }
            Op::Respond { error, session } => {
                let code = match error {
                    ErrorChoice::None => ErrorCode::None,
                    ErrorChoice::SessionNotFound => ErrorCode::FetchSessionIdNotFound,
                    ErrorChoice::InvalidEpoch => ErrorCode::InvalidFetchSessionEpoch,
                    ErrorChoice::Other(c) => ErrorCode::from_code(c),
                };
                let was_open = s.is_open();
                let before = s.session_id();
                let req = pending.take();
                // The broker's side: a full request opens a new session (unless the
                // answer says none), an incremental one updates the cache.
                let sid = match (session, &req) {
                    (SessionChoice::Same, Some((r, _))) if r.full => {
                        broker.next_id = broker.next_id.wrapping_add(1).max(1);
                        broker.next_id
                    }
                    (SessionChoice::Same, _) => before,
                    (SessionChoice::Zero, _) => 0,
                    (SessionChoice::Other(x), _) => x,
                };
                let usable = s.on_response(code, sid);
                assert_eq!(usable, code == ErrorCode::None);
                if code != ErrorCode::None {
                    assert!(!s.is_open(), "a session survived {code:?}");
                    must_be_full = true;
                    continue;
                }
                match req {
                    Some((r, wanted)) if r.full => {
                        broker.cache = wanted;
                        trusted = true;
                        if sid == INVALID_SESSION_ID {
                            assert!(!s.is_open());
                            must_be_full = true;
                        } else {
                            assert_eq!((s.session_id(), s.epoch()), (sid, 1));
                            broker.id = sid;
                            broker.epoch = 1;
                            must_be_full = false;
                        }
                    }
                    Some((r, wanted)) => {
                        assert!(was_open);
                        if !trusted {
                            must_be_full = !s.is_open();
                        } else if sid == r.session_id {
                            for k in &r.to_forget {
                                broker.cache.remove(k);
                            }
                            broker.cache.extend(r.to_send.iter().cloned());
                            assert_eq!(
                                broker.cache, wanted,
                                "the broker's cache is what the client wants"
                            );
                            broker.epoch = next_epoch(broker.epoch);
                            assert_eq!(s.epoch(), broker.epoch);
                            assert_eq!(s.session_id(), sid);
                            must_be_full = false;
                        } else {
                            // An answer for another session: start over.
                            assert!(!s.is_open());
                            must_be_full = true;
                        }
                    }
                    None => {
                        // A response with no request built (misuse): no panic, and the
                        // session stays consistent; the model is unknown from here.
                        let _ = (was_open, before);
                        must_be_full = !s.is_open();
                        trusted = false;
                    }
                }
            }
            Op::Fail => {
                s.on_failure();
                pending = None;
                assert!(!s.is_open());
                must_be_full = true;
            }
            Op::Close => {
                let open = s.is_open();
                let id = s.session_id();
                match s.close() {
                    Some(c) => {
                        assert!(open);
                        assert_eq!((c.session_id, c.epoch), (id, FINAL_EPOCH));
                        assert!(c.to_send.is_empty() && c.to_forget.is_empty());
                    }
                    None => assert!(!open),
                }
                assert!(!s.is_open());
                pending = None;
                must_be_full = true;
            }
            Op::Epoch(e) => {
                let n = next_epoch(e);
                assert!(n >= 1);
                if (0..i32::MAX).contains(&e) {
                    assert_eq!(n, e + 1);
                } else {
                    assert_eq!(n, 1);
                }
            }
        }
    }
});
