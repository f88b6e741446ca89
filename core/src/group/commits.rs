//! Committed offsets: what the application (or auto-commit) asked to commit, in
//! order, one OffsetCommit in flight at a time, and each partition's result.
//!
//! One commit in flight per coordinator, never cancelled and resent: a resent
//! lower offset could overtake a newer one on a new connection. A commit whose
//! request was lost with its connection goes back to the head of the queue (it
//! carries the newest offsets the queue had, so applying it twice is harmless);
//! partitions answered with a retriable error are tried again after a backoff
//! until the commit's deadline (`default.api.timeout.ms`).

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::consumer::TopicPartition;
use crate::protocol::ErrorCode;
use crate::time::Instant;

/// Identifies one commit in the event that answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CommitId(pub u64);

/// An offset to commit (or a committed one): the **next** offset to read, the
/// leader epoch of the last record read (KIP-320), and optional metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct OffsetAndMetadata {
    /// The next offset to consume.
    pub offset: i64,
    /// The leader epoch of the last consumed record, if known.
    pub leader_epoch: Option<i32>,
    /// Application metadata stored with the offset.
    pub metadata: Option<String>,
}

impl OffsetAndMetadata {
    /// `offset` without epoch or metadata.
    pub fn new(offset: i64) -> Self {
        Self {
            offset,
            leader_epoch: None,
            metadata: None,
        }
    }
}

/// Why a partition's commit failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum CommitError {
    /// The coordinator refused it with this error (too much metadata, not
    /// authorized, …).
    Broker(ErrorCode),
    /// A rebalance is in progress: commit again once it is over (the partition may
    /// have moved).
    RebalanceInProgress,
    /// The member is no longer in the group (its generation is gone): the
    /// partition may already belong to another member.
    MembershipLost,
    /// Not committed within `default.api.timeout.ms`.
    Timeout,
    /// The consumer was closed first.
    Closed,
    /// The group failed for good (fenced static member, …).
    GroupFailed,
}

impl fmt::Display for CommitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Broker(code) => write!(f, "{} ({})", code.name(), code.message()),
            Self::RebalanceInProgress => f.write_str("a rebalance is in progress"),
            Self::MembershipLost => f.write_str("the member is no longer in the group"),
            Self::Timeout => f.write_str("not committed within default.api.timeout.ms"),
            Self::Closed => f.write_str("the consumer was closed"),
            Self::GroupFailed => f.write_str("the group failed"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for CommitError {}

/// Who asked for a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CommitKind {
    /// The application.
    Application,
    /// `enable.auto.commit`, periodically.
    Auto,
    /// Before partitions are revoked (auto-commit on).
    Revoke,
    /// On close (auto-commit on).
    Close,
}

/// One commit in progress.
#[derive(Debug, Clone)]
pub struct Commit {
    /// Its id.
    pub id: CommitId,
    /// Who asked.
    pub kind: CommitKind,
    /// What is still to commit.
    pub pending: BTreeMap<TopicPartition, OffsetAndMetadata>,
    /// What is decided.
    pub done: Vec<(TopicPartition, Result<OffsetAndMetadata, CommitError>)>,
    /// Not before this instant (after a retriable error).
    pub not_before: Instant,
    /// Give up at this instant.
    pub deadline: Instant,
    /// The member's generation when it was made (-1 outside one): it goes out
    /// under that generation or not at all.
    pub generation: i32,
    /// When it was made (the application's call, or auto-commit's timer).
    pub started: Instant,
}

impl Commit {
    /// Decides `tp`.
    pub fn decide(&mut self, tp: &TopicPartition, result: Result<(), CommitError>) {
        if let Some(o) = self.pending.remove(tp) {
            self.done.push((tp.clone(), result.map(|()| o)));
        }
    }

    /// Decides everything still pending with `error`.
    pub fn fail_all(&mut self, error: &CommitError) {
        for (tp, _) in core::mem::take(&mut self.pending) {
            self.done.push((tp, Err(error.clone())));
        }
    }

    /// Whether every partition is decided.
    pub fn is_done(&self) -> bool {
        self.pending.is_empty()
    }
}

/// The commits of one group: queued, in flight, and what was last committed.
#[derive(Debug, Default)]
pub struct Commits {
    queue: VecDeque<Commit>,
    in_flight: Option<Commit>,
    next_id: u64,
    /// The offset last committed per partition (by anyone through this consumer).
    committed: BTreeMap<TopicPartition, i64>,
    /// Test-only planted bug (`SimBugs::requeue_behind`).
    pub(crate) requeue_behind: bool,
}

impl Commits {
    /// Queues a commit of `offsets`, to be decided by `deadline`.
    pub fn enqueue(
        &mut self,
        kind: CommitKind,
        offsets: BTreeMap<TopicPartition, OffsetAndMetadata>,
        generation: i32,
        now: Instant,
        deadline: Instant,
    ) -> CommitId {
        self.next_id += 1;
        let id = CommitId(self.next_id);
        self.queue.push_back(Commit {
            id,
            kind,
            pending: offsets,
            done: Vec::new(),
            not_before: now,
            deadline,
            generation,
            started: now,
        });
        id
    }

    /// Whether a commit of `kind` is queued or in flight.
    pub fn has(&self, kind: CommitKind) -> bool {
        self.queue
            .iter()
            .chain(self.in_flight.as_ref())
            .any(|c| c.kind == kind)
    }

    /// The newest commit queued or in flight.
    pub fn last_id(&self) -> Option<CommitId> {
        self.queue.back().or(self.in_flight.as_ref()).map(|c| c.id)
    }

    /// Whether a commit is in flight.
    pub fn in_flight(&self) -> bool {
        self.in_flight.is_some()
    }

    /// Whether nothing is queued or in flight.
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.in_flight.is_none()
    }

    /// The commit to send at `now`, if one may go: moved to in flight.
    pub fn start_next(&mut self, now: Instant) -> Option<&Commit> {
        if self.in_flight.is_some() || self.queue.front()?.not_before > now {
            return None;
        }
        self.in_flight = self.queue.pop_front();
        self.in_flight.as_ref()
    }

    /// The commit in flight, to decide its partitions.
    pub fn in_flight_mut(&mut self) -> Option<&mut Commit> {
        self.in_flight.as_mut()
    }

    /// The commit in flight was answered (its partitions decided or left pending
    /// for a retry at `retry_at`): a finished commit is returned, an unfinished one
    /// goes back to the head of the queue.
    pub fn answered(&mut self, retry_at: Instant) -> Option<Commit> {
        let mut c = self.in_flight.take()?;
        for (tp, r) in &c.done {
            if let Ok(o) = r {
                let e = self.committed.entry(tp.clone()).or_insert(o.offset);
                *e = o.offset;
            }
        }
        if c.is_done() {
            return Some(c);
        }
        c.not_before = retry_at;
        self.requeue(c);
        None
    }

    /// A commit that must go again goes first (the planted bug puts it last).
    fn requeue(&mut self, c: Commit) {
        if cfg!(feature = "sim-bugs") && self.requeue_behind {
            self.queue.push_back(c);
        } else {
            self.queue.push_front(c);
        }
    }

    /// The request in flight was lost with its connection: it goes again first.
    pub fn lost(&mut self) {
        if let Some(c) = self.in_flight.take() {
            self.requeue(c);
        }
    }

    /// Commits past their deadline at `now`, failed with a timeout (queued ones
    /// only: one in flight waits for its answer or its connection's timeout).
    pub fn expire(&mut self, now: Instant) -> Vec<Commit> {
        let mut expired = Vec::new();
        let mut keep = VecDeque::new();
        for mut c in self.queue.drain(..) {
            if now >= c.deadline {
                c.fail_all(&CommitError::Timeout);
                expired.push(c);
            } else {
                keep.push_back(c);
            }
        }
        self.queue = keep;
        expired
    }

    /// Fails every queued commit (and the one in flight) with `error`.
    pub fn fail_all(&mut self, error: &CommitError) -> Vec<Commit> {
        let mut out: Vec<Commit> = self.in_flight.take().into_iter().collect();
        out.extend(self.queue.drain(..));
        for c in &mut out {
            c.fail_all(error);
        }
        out
    }

    /// Fails, in every queued commit, the partitions `refuse` picks (they are no
    /// longer the member's to commit); returns the commits that finished so.
    pub fn refuse(
        &mut self,
        mut refuse: impl FnMut(&TopicPartition) -> bool,
        error: &CommitError,
    ) -> Vec<Commit> {
        let mut finished = Vec::new();
        let mut keep = VecDeque::new();
        for mut c in self.queue.drain(..) {
            let gone: Vec<TopicPartition> =
                c.pending.keys().filter(|tp| refuse(tp)).cloned().collect();
            for tp in gone {
                c.decide(&tp, Err(error.clone()));
            }
            if c.is_done() {
                finished.push(c);
            } else {
                keep.push_back(c);
            }
        }
        self.queue = keep;
        finished
    }

    /// Fails the queued commits made under another generation than `generation`;
    /// returns them.
    pub fn refuse_stale(&mut self, generation: i32, error: &CommitError) -> Vec<Commit> {
        let (mut stale, keep): (VecDeque<Commit>, VecDeque<Commit>) = self
            .queue
            .drain(..)
            .partition(|c| c.generation != generation);
        self.queue = keep;
        for c in &mut stale {
            c.fail_all(error);
        }
        stale.into()
    }

    /// The earliest instant after `now` at which a queued commit may be retried
    /// or expires.
    pub fn next_deadline(&self, now: Instant) -> Option<Instant> {
        self.queue
            .iter()
            .flat_map(|c| [c.not_before, c.deadline])
            .filter(|t| *t > now)
            .min()
    }

    /// The offset this consumer last committed for `tp`.
    pub fn last_committed(&self, tp: &TopicPartition) -> Option<i64> {
        self.committed.get(tp).copied()
    }

    /// The highest offset for `tp` this consumer committed or is committing
    /// (queued or in flight).
    pub fn highest(&self, tp: &TopicPartition) -> Option<i64> {
        self.queue
            .iter()
            .chain(self.in_flight.as_ref())
            .filter_map(|c| c.pending.get(tp).map(|o| o.offset))
            .chain(self.last_committed(tp))
            .max()
    }

    /// Forgets what was committed for partitions no longer owned.
    pub fn forget(&mut self, tp: &TopicPartition) {
        self.committed.remove(tp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets(n: i64) -> BTreeMap<TopicPartition, OffsetAndMetadata> {
        [(TopicPartition::new("t", 0), OffsetAndMetadata::new(n))]
            .into_iter()
            .collect()
    }

    #[test]
    fn one_in_flight_in_order_and_a_lost_one_goes_first_again() {
        let mut c = Commits::default();
        let t = Instant::from_millis(1);
        let far = Instant::from_millis(60_000);
        let a = c.enqueue(CommitKind::Application, offsets(10), 1, t, far);
        let b = c.enqueue(CommitKind::Application, offsets(20), 1, t, far);
        assert_eq!(c.start_next(t).map(|x| x.id), Some(a));
        assert!(c.start_next(t).is_none(), "one in flight");
        c.lost();
        assert_eq!(c.start_next(t).map(|x| x.id), Some(a), "a before b");
        c.in_flight_mut()
            .unwrap()
            .decide(&TopicPartition::new("t", 0), Ok(()));
        let done = c.answered(t).unwrap();
        assert_eq!(done.id, a);
        assert_eq!(c.last_committed(&TopicPartition::new("t", 0)), Some(10));
        assert_eq!(c.start_next(t).map(|x| x.id), Some(b));
    }

    #[test]
    fn retries_wait_and_queued_commits_expire() {
        let mut c = Commits::default();
        let t = Instant::from_millis(1);
        c.enqueue(
            CommitKind::Auto,
            offsets(5),
            1,
            t,
            Instant::from_millis(100),
        );
        c.start_next(t);
        assert!(c.answered(Instant::from_millis(50)).is_none());
        assert!(c.start_next(Instant::from_millis(49)).is_none());
        let expired = c.expire(Instant::from_millis(100));
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].done[0].1, Err(CommitError::Timeout));
        assert!(c.is_idle());
    }
}
