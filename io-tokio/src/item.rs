//! What [`Consumer::recv`](crate::Consumer::recv) returns, the rebalance guard,
//! the errors, and the futures that await an answer from the brokers.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use kasio_core::consumer::{
    ConsumerError, ConsumerRecords, Event, OffsetAndTimestamp, TopicPartition, UsageError,
};
use kasio_core::group::{CommitError, OffsetAndMetadata, RebalanceToken};
use kasio_core::records::Record;
use tokio::sync::oneshot;

use crate::driver::{Deferred, Shared};

/// Per-partition results of a commit.
pub type CommitResults = Vec<(TopicPartition, Result<OffsetAndMetadata, CommitError>)>;

/// Per-partition committed offsets (`None`: nothing committed), or why unknown.
pub type CommittedOffsets = Vec<(
    TopicPartition,
    Result<Option<OffsetAndMetadata>, ConsumerError>,
)>;

/// The answer of [`describe_group`](crate::Consumer::describe_group): the group,
/// or why it could not be described.
pub type DescribedGroup = Result<kasio_core::group::GroupDescription, ConsumerError>;

/// Per-partition answers of an offsets-for-times lookup (`None`: no record that
/// recent), or why unknown.
pub type TimeOffsets = Vec<(
    TopicPartition,
    Result<Option<OffsetAndTimestamp>, ConsumerError>,
)>;

/// One thing the consumer hands the application, in the order it happened.
///
/// Rebalances are items, not callbacks: the application sees `Assigned` before
/// any record of those partitions, and `Revoked`/`Lost` hold the rebalance until
/// their guard is acknowledged (or dropped), so the application may commit first
/// with the consumer it already has in hand.
#[derive(Debug)]
#[non_exhaustive]
pub enum Item {
    /// Records, grouped by partition, in offset order within each; at most
    /// `max.poll.records`. They own their data (`Bytes` slices of what was read
    /// from the socket) and outlive the consumer if need be.
    Records(ConsumerRecords),
    /// The group assigned these partitions (with the cooperative protocol: in
    /// addition to those kept). Sent after every rebalance, possibly empty.
    Assigned(Vec<TopicPartition>),
    /// These partitions are being taken away; they may still be committed until
    /// the guard is acknowledged. Their buffered records are gone.
    Revoked(RebalanceGuard),
    /// These partitions were lost (the member fell out of the group): they may not
    /// be committed any more. The rejoin waits for the guard.
    Lost(RebalanceGuard),
    /// The application has read up to the end of the partition (only with
    /// `enable.partition.eof=true`).
    Eof {
        /// The partition.
        tp: TopicPartition,
        /// Its end offset, which is the position now.
        offset: i64,
    },
    /// Something went wrong; the consumer goes on (see the error's docs).
    Error(ConsumerError),
    /// Any other event: offset resets, log truncation, the answer of a commit
    /// whose future was dropped or of an auto-commit (`Event::Committed`), …
    Event(Event),
}

/// Why an operation of the consumer did not succeed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// The application misused the API (nothing changed).
    Usage(UsageError),
    /// The consumer cannot go on (a fenced static member, a failed group): close
    /// it. `recv` returns this once, where the failure happened in the sequence.
    /// (Boxed, as the other variant with an error, to keep `Result`s small.)
    Fatal(Box<ConsumerError>),
    /// A non-fatal error, from [`records`](crate::Consumer::records), which has no
    /// item to carry it (`recv` returns it as [`Item::Error`]).
    Consumer(Box<ConsumerError>),
    /// No answer within the time allowed.
    Timeout,
    /// The consumer is closed (or was dropped): nothing more comes.
    Closed,
    /// The driver task panicked: a bug in kasio. The consumer is shut down.
    Failed,
}

impl From<UsageError> for Error {
    fn from(e: UsageError) -> Self {
        Self::Usage(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage(e) => e.fmt(f),
            Self::Fatal(e) => write!(f, "fatal: {e}"),
            Self::Consumer(e) => e.fmt(f),
            Self::Timeout => f.write_str("no answer within the timeout"),
            Self::Closed => f.write_str("the consumer is closed"),
            Self::Failed => f.write_str("the consumer's driver task failed (a bug in kasio)"),
        }
    }
}

impl std::error::Error for Error {}

/// The partitions of a `Revoked` or `Lost` item, holding the rebalance until it is
/// acknowledged: by [`ack`](Self::ack), by [`commit_and_ack`](Self::commit_and_ack),
/// or by dropping it. The rebalance waits at most `max.poll.interval.ms`;
/// heartbeats go on meanwhile.
///
/// Acknowledging never waits: dropping a guard anywhere (even while another call
/// of the consumer holds its lock) cannot block or deadlock.
///
/// ```no_run
/// # async fn f(consumer: kasio_tokio::Consumer) -> Result<(), kasio_tokio::Error> {
/// use kasio_tokio::Item;
/// loop {
///     match consumer.recv().await? {
///         Item::Records(records) => { /* process */ }
///         Item::Revoked(guard) => {
///             // Commit what was processed while the partitions are still ours.
///             let results = guard.commit_and_ack().await?;
///             println!("committed {} partitions before the revoke", results.len());
///         }
///         _ => {}
///     }
/// }
/// # }
/// ```
pub struct RebalanceGuard {
    shared: Arc<Shared>,
    partitions: Vec<TopicPartition>,
    token: Option<RebalanceToken>,
}

impl RebalanceGuard {
    pub(crate) fn new(
        shared: Arc<Shared>,
        partitions: Vec<TopicPartition>,
        token: RebalanceToken,
    ) -> Self {
        Self {
            shared,
            partitions,
            token: Some(token),
        }
    }

    /// The partitions revoked or lost.
    pub fn partitions(&self) -> &[TopicPartition] {
        &self.partitions
    }

    /// The core's token for this rebalance step.
    pub fn token(&self) -> RebalanceToken {
        self.token.expect("held until acknowledged")
    }

    /// Lets the rebalance go on. A rebalance that already moved on (its token
    /// stale) needs nothing more.
    pub fn ack(mut self) {
        self.ack_now();
    }

    /// Commits what was consumed (the revoked partitions included), waits for the
    /// answer, then acknowledges whatever the outcome, so the rebalance is not held
    /// up. Dropping this future acknowledges too; the commit still completes and
    /// its answer then arrives as an [`Item::Event`]. The `Revoked` that
    /// [`close`](crate::Consumer::close) itself causes comes when commits are
    /// refused already (`Error::Usage(UsageError::Closed)`): closing commits on
    /// its own with auto-commit, so commit before closing otherwise.
    pub async fn commit_and_ack(self) -> Result<CommitResults, Error> {
        let committed = self.shared.commit_consumed().await;
        // `self` is dropped here: the acknowledgement.
        committed
    }

    fn ack_now(&mut self) {
        if let Some(token) = self.token.take() {
            self.shared.defer(Deferred::Ack(token));
        }
    }
}

impl Drop for RebalanceGuard {
    fn drop(&mut self) {
        self.ack_now();
    }
}

impl fmt::Debug for RebalanceGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RebalanceGuard")
            .field("partitions", &self.partitions)
            .field("token", &self.token)
            .finish()
    }
}

/// One record with its partition, from [`Consumer::records`](crate::Consumer::records).
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The partition; shared by the records of one batch (no allocation per record).
    pub tp: Arc<TopicPartition>,
    /// The record; its key, value and headers are `Bytes` slices of fetched data.
    pub record: Record,
}

impl std::ops::Deref for Message {
    type Target = Record;
    fn deref(&self) -> &Record {
        &self.record
    }
}

/// The answer to a request the consumer sent (a commit, a query), as a future.
///
/// The request goes out when the method that returns this is called, not when it
/// is first polled. Dropping the future does not cancel it: the answer then
/// arrives as an [`Item::Event`] (`Event::Committed`, `Event::CommittedOffsets`,
/// `Event::GroupDescribed`,
/// `Event::OffsetsForTimes`). The future is `'static` and `Send`, so it can be
/// spawned. Resolves to [`Error::Closed`] if the consumer closes first.
#[must_use = "the request is sent already; await this for its answer"]
pub struct Pending<T> {
    inner: PendingInner<T>,
}

enum PendingInner<T> {
    Done(Option<Result<T, Error>>),
    Waiting {
        rx: oneshot::Receiver<Event>,
        answer: fn(Event) -> Option<T>,
        shared: Arc<Shared>,
    },
}

impl<T> Pending<T> {
    pub(crate) fn done(result: Result<T, Error>) -> Self {
        Self {
            inner: PendingInner::Done(Some(result)),
        }
    }

    pub(crate) fn waiting(
        rx: oneshot::Receiver<Event>,
        answer: fn(Event) -> Option<T>,
        shared: Arc<Shared>,
    ) -> Self {
        Self {
            inner: PendingInner::Waiting { rx, answer, shared },
        }
    }
}

impl<T> Drop for Pending<T> {
    /// The answer may have arrived between the request and this drop (the
    /// driver runs on another thread): it must not go down with the future.
    fn drop(&mut self) {
        if let PendingInner::Waiting { rx, shared, .. } = &mut self.inner {
            // From here on the driver's send fails, and it queues the answer itself.
            rx.close();
            if let Ok(event) = rx.try_recv() {
                shared.defer(Deferred::Answer(event));
            }
        }
    }
}

// Nothing in it is ever pinned structurally: `T` is only moved out.
impl<T> Unpin for Pending<T> {}

impl<T> Future for Pending<T> {
    type Output = Result<T, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.inner {
            PendingInner::Done(result) => {
                Poll::Ready(result.take().expect("Pending polled after completion"))
            }
            PendingInner::Waiting { rx, answer, .. } => {
                let result = match ready!(Pin::new(rx).poll(cx)) {
                    Ok(event) => answer(event).ok_or(Error::Closed),
                    // The consumer closed or was dropped before the answer came.
                    Err(_) => Err(Error::Closed),
                };
                self.inner = PendingInner::Done(None);
                Poll::Ready(result)
            }
        }
    }
}

impl<T> fmt::Debug for Pending<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.inner {
            PendingInner::Done(_) => "done",
            PendingInner::Waiting { .. } => "waiting",
        };
        f.debug_struct("Pending").field("state", &state).finish()
    }
}

pub(crate) fn commit_answer(event: Event) -> Option<CommitResults> {
    match event {
        Event::Committed { results, .. } => Some(results),
        _ => None,
    }
}

pub(crate) fn committed_answer(event: Event) -> Option<CommittedOffsets> {
    match event {
        Event::CommittedOffsets { offsets, .. } => Some(offsets),
        _ => None,
    }
}

pub(crate) fn times_answer(event: Event) -> Option<TimeOffsets> {
    match event {
        Event::OffsetsForTimes { offsets, .. } => Some(offsets),
        _ => None,
    }
}

pub(crate) fn described_answer(event: Event) -> Option<DescribedGroup> {
    match event {
        Event::GroupDescribed { result, .. } => Some(result),
        _ => None,
    }
}
