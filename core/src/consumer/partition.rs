//! Per-partition state: where the application is (the position), where fetching is
//! (the fetch offset, ahead of the position by what is buffered), what the broker
//! last said about the log, and the buffered records themselves.

use alloc::collections::VecDeque;

use crate::backoff::Backoff;
use crate::config::OffsetReset;
use crate::metadata::BrokerId;
use crate::records::{PartitionRecords, RecordError};
use crate::time::Instant;

use super::event::ResetReason;

/// What a partition is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FetchState {
    /// No position: find one with ListOffsets per `strategy`.
    AwaitReset {
        strategy: OffsetReset,
        reason: ResetReason,
    },
    /// Position known but the leader changed: check it with OffsetForLeaderEpoch
    /// before fetching (KIP-320).
    AwaitValidation,
    /// Newly assigned by the group: the committed offset is being looked up
    /// (OffsetFetch); `auto.offset.reset` applies only if nothing is committed.
    AwaitCommitted,
    /// Fetching from `fetch_offset`.
    Fetching,
    /// Stopped until the application seeks (auto.offset.reset=none, or a
    /// non-retriable error).
    Failed,
}

/// Records fetched in one response for one partition, decoded lazily as the
/// application polls.
#[derive(Debug)]
pub(crate) struct Chunk {
    pub records: PartitionRecords,
    /// The broker whose fetch response held it (the leader, or a follower sent to
    /// by KIP-392).
    pub broker: BrokerId,
    /// Bytes of fetched data it holds (for the prefetch bound).
    pub bytes: usize,
    /// Records it holds at most (from the batch headers, for the prefetch bound).
    pub record_estimate: usize,
    /// The fetch offset right after this chunk.
    pub end_offset: i64,
    /// The leader epoch of the chunk's last batch, if stamped (v2).
    pub last_epoch: Option<i32>,
    /// A batch that failed at the end of this chunk: reported when reached.
    pub error: Option<RecordError>,
}

#[derive(Debug)]
pub(crate) struct PartitionState {
    pub state: FetchState,
    /// A ListOffsets or OffsetForLeaderEpoch for this partition is outstanding.
    pub in_flight: bool,
    /// Bumped whenever the position is set or dropped: a ListOffsets or
    /// OffsetForLeaderEpoch answer sent for an older generation is stale.
    pub generation: u32,
    pub backoff: Backoff,
    /// The next offset to hand to the application.
    pub position: i64,
    /// The leader epoch of the last record handed out, if known.
    pub position_epoch: Option<i32>,
    /// The next offset to fetch (position + what is buffered).
    pub fetch_offset: i64,
    /// The leader epoch of the last fetched batch, if known.
    pub fetch_epoch: Option<i32>,
    /// The leader epoch metadata last gave for this partition.
    pub leader_epoch: i32,
    /// A broker answered FENCED_LEADER_EPOCH to `leader_epoch`: it is stale.
    pub fenced: bool,
    /// Fenced, and metadata could not name a newer epoch (a broker before
    /// Metadata v7 answered): requests carry no epoch until one is known.
    pub epoch_unknown: bool,
    pub paused: bool,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    /// Fetch from this replica instead of the leader until the instant (KIP-392).
    pub preferred_replica: Option<(BrokerId, Instant)>,
    pub buffer: VecDeque<Chunk>,
    pub buffered_bytes: usize,
    pub buffered_records: usize,
    /// An EOF event was sent for the current position.
    pub eof_reported: bool,
    /// A corrupt batch is buffered: fetching waits until the application reaches it.
    pub error_pending: bool,
    /// The position (and its epoch) before the first records handed out in poll
    /// number `.0`: while that is the latest poll, the application may still be
    /// working on those records, so auto-commit stops there (see
    /// [`PartitionState::auto_commit_position`]). `None` after a seek.
    pub before_poll: Option<(u64, i64, Option<i32>)>,
}

impl PartitionState {
    pub fn new(strategy: OffsetReset, backoff: Backoff) -> Self {
        Self {
            state: FetchState::AwaitReset {
                strategy,
                reason: ResetReason::NoPosition,
            },
            in_flight: false,
            generation: 0,
            backoff,
            position: -1,
            position_epoch: None,
            fetch_offset: -1,
            fetch_epoch: None,
            leader_epoch: -1,
            fenced: false,
            epoch_unknown: false,
            paused: false,
            high_watermark: -1,
            last_stable_offset: -1,
            log_start_offset: -1,
            preferred_replica: None,
            buffer: VecDeque::new(),
            buffered_bytes: 0,
            buffered_records: 0,
            eof_reported: false,
            before_poll: None,
            error_pending: false,
        }
    }

    /// The current leader epoch to send with Fetch, ListOffsets and
    /// OffsetForLeaderEpoch (-1: not checked by the broker).
    pub fn request_epoch(&self) -> i32 {
        if self.epoch_unknown {
            -1
        } else {
            self.leader_epoch
        }
    }

    /// Moves position and fetch offset to `offset`, dropping what is buffered (it no
    /// longer follows the position). A retry backoff in progress is forgotten.
    pub fn seek(&mut self, offset: i64, epoch: Option<i32>) {
        self.generation = self.generation.wrapping_add(1);
        self.clear_buffer();
        self.position = offset;
        self.position_epoch = epoch;
        self.before_poll = None;
        self.fetch_offset = offset;
        self.fetch_epoch = epoch;
        self.state = FetchState::Fetching;
        self.in_flight = false;
        self.backoff.succeed();
        self.eof_reported = false;
    }

    /// Notes that poll number `poll` hands out records from here on (the first
    /// time only: what the poll hands out later starts further on).
    pub fn handing_out(&mut self, poll: u64) {
        if self.before_poll.is_none_or(|(n, _, _)| n != poll) {
            self.before_poll = Some((poll, self.position, self.position_epoch));
        }
    }

    /// The position auto-commit may commit when `latest_poll` is the latest
    /// poll: what earlier polls handed out (the application polled again, so it
    /// is done with those, as Java's auto-commit assumes), not what the latest
    /// one did. Returns whether that stops short of the position.
    pub fn auto_commit_position(&self, latest_poll: u64) -> (i64, Option<i32>, bool) {
        match self.before_poll {
            Some((n, offset, epoch)) if n == latest_poll && offset != self.position => {
                (offset, epoch, true)
            }
            _ => (self.position, self.position_epoch, false),
        }
    }

    /// Starts from the group's committed offset, once OffsetFetch says.
    pub fn await_committed(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        self.clear_buffer();
        self.state = FetchState::AwaitCommitted;
        self.in_flight = false;
        self.backoff.succeed();
    }

    /// Needs a new position from ListOffsets.
    pub fn request_reset(&mut self, strategy: OffsetReset, reason: ResetReason) {
        self.generation = self.generation.wrapping_add(1);
        self.clear_buffer();
        self.state = FetchState::AwaitReset { strategy, reason };
        self.in_flight = false;
        self.backoff.succeed();
    }

    /// Restarts fetching from the position (buffered data is dropped), e.g. after the
    /// leader changed and the fetched-ahead data must be checked again.
    pub fn rewind_to_position(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        self.clear_buffer();
        self.fetch_offset = self.position;
        self.fetch_epoch = self.position_epoch;
    }

    /// The leader changed under a partition being fetched: drop what was fetched
    /// ahead and, if the position carries an epoch, check it with the new leader
    /// before fetching on (KIP-320).
    pub fn revalidate(&mut self) {
        self.rewind_to_position();
        if self.position_epoch.is_some() {
            self.state = FetchState::AwaitValidation;
        }
    }

    pub fn clear_buffer(&mut self) {
        self.error_pending = false;
        self.buffer.clear();
        self.buffered_bytes = 0;
        self.buffered_records = 0;
    }

    /// Whether a request of any kind is pending or backing off at `now`.
    pub fn ready(&self, now: Instant) -> bool {
        !self.in_flight && self.backoff.ready(now)
    }

    /// Whether to include the partition in the next fetch: a position, not paused,
    /// not backing off, and room in its buffer.
    pub fn fetchable(&self, now: Instant, max_records: usize) -> bool {
        self.state == FetchState::Fetching
            && !self.paused
            && !self.error_pending
            && self.backoff.ready(now)
            && self.buffered_records < max_records
    }

    /// The end offset the application consumes up to: the last stable offset under
    /// read_committed, else the high watermark.
    pub fn end_offset(&self, read_committed: bool) -> i64 {
        if read_committed && self.last_stable_offset >= 0 {
            self.last_stable_offset
        } else {
            self.high_watermark
        }
    }
}
