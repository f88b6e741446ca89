//! kasio-tokio: an async driver for `kasio-core`'s consumer, on tokio.
//!
//! It owns what the core must not — sockets, DNS, the clock — and moves bytes and
//! time in and out; everything about Kafka stays in the core. Configuration is the
//! core's [`Config`](kasio_core::config::Config), with Kafka's property names.
//!
//! ```no_run
//! use kasio_core::config::Config;
//! use kasio_tokio::{Consumer, Item};
//! use std::time::Duration;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::from_pairs([
//!     ("bootstrap.servers", "localhost:9092"),
//!     ("group.id", "billing"),
//!     ("enable.auto.commit", "false"),
//! ])?;
//! let consumer = Consumer::new(config);
//! consumer.subscribe(["orders"])?;
//! for _ in 0..100 {
//!     match consumer.recv().await? {
//!         Item::Records(records) => {
//!             for (tp, record) in records.iter() {
//!                 println!("{tp}@{}: {:?}", record.offset, record.value);
//!             }
//!             consumer.commit_consumed().await?;
//!         }
//!         Item::Assigned(partitions) => println!("assigned {partitions:?}"),
//!         // Commit while the partitions are still ours, then let the rebalance go on.
//!         Item::Revoked(guard) => drop(guard.commit_and_ack().await?),
//!         Item::Lost(guard) => guard.ack(),
//!         other => println!("{other:?}"),
//!     }
//! }
//! consumer.close(Duration::from_secs(10)).await?;
//! # Ok(()) }
//! ```
//!
//! # What the application sees
//!
//! - [`Consumer::recv`] returns one [`Item`] at a time, in the order things
//!   happened: a batch of records ([`ConsumerRecords`], per partition, at most
//!   `max.poll.records`), `Assigned`, `Revoked`, `Lost`, an end of partition, an
//!   error, or another event. Rebalances are items, never callbacks: the
//!   application handles them with the consumer it already holds, and `Revoked`
//!   and `Lost` carry a [`RebalanceGuard`] that holds the rebalance until it is
//!   acknowledged (or dropped) — commit first, then acknowledge.
//! - [`Consumer::stream`] is the same as a `Stream`; [`Consumer::records`] yields
//!   single records ([`Message`]).
//! - Records own their data: keys, values and headers are `Bytes` slices of the
//!   buffers read from the socket (no copy), and a record may outlive the
//!   consumer.
//! - [`Consumer::commit`], [`commit_consumed`](Consumer::commit_consumed),
//!   [`committed`](Consumer::committed), [`describe_group`](Consumer::describe_group) and
//!   [`offsets_for_times`](Consumer::offsets_for_times) send their request at
//!   once and return a [`Pending`] future with the per-partition answer; nothing
//!   blocks the executor. Auto-commit (`enable.auto.commit`) works as in Java.
//! - [`Consumer::close`] commits (auto-commit) and leaves the group within a
//!   timeout; dropping the consumer never blocks: it aborts its tasks, which
//!   closes the sockets.
//! - [`Consumer::metrics`] reads counters at any time: records, bytes, rebalances,
//!   commits and their latency, lag per partition.
//!
//! # Cancellation safety
//!
//! Every `.await` of this crate is cancel safe: a future dropped before it
//! completes (by `select!`, a timeout) loses nothing.
//! - `recv` takes records from the core inside the one poll that completes it;
//!   until then they stay buffered in the core.
//! - `commit` & co. send their request when called; a dropped [`Pending`] lets the
//!   answer arrive as an [`Item::Event`] instead (also when the answer had
//!   arrived already and the future was dropped unpolled).
//! - A dropped [`RecordStream`] moves the positions of the records it took but
//!   never yielded back, so they are read again.
//! - A dropped [`RebalanceGuard`] (or `commit_and_ack` future) acknowledges.
//! - A dropped `close` leaves the closing to go on in the background.
//!
//! # Design
//!
//! **One background task per consumer drives the core; the application calls it
//! directly, under a mutex.** The core sits in an `Arc` with a
//! `std::sync::Mutex`. The driver task (spawned by [`Consumer::new`]) feeds it
//! socket input and timer expiries (`poll_timeout`, slept on with `sleep_until`)
//! and drains it; so heartbeats, session timers, metadata refreshes and fetches
//! run while the application is busy elsewhere, with no thread per connection.
//! The application's calls take the same lock for a synchronous section — call
//! the core, drain it — and return. The lock is never held across an `.await`,
//! and nothing waits for anything while holding it, so there is nothing to
//! deadlock on. Guards and futures never take it in `Drop`: a guard's acknowledgement,
//! or the answer a dropped [`Pending`] already held, is handed to whoever takes
//! the lock next (the driver is woken for it). Wake-ups go
//! through `tokio::sync::Notify`: the driver wakes the application's waiters
//! after each round; an application call that needs an earlier timer wakes the
//! driver.
//!
//! Why not a driver task that owns the core and serves requests over channels:
//! `recv` would be a request and a reply, and a reply carrying records that
//! arrives after its future was dropped would need to be put back — the
//! cancellation safety the mutex gives for free. It would also cost a channel
//! round trip and an allocation per call. With the lock, handing out records is a
//! plain `poll_records` call whose result the future returns in the same poll.
//!
//! **`max.poll.interval.ms` is the application's.** Records are taken from the
//! core (`poll_records`) only when the application asks — `recv`, `try_recv`, the
//! streams. The driver never takes them ahead to fill a channel: the prefetch
//! stays bounded by the core's own limits (`queued.max.messages.kbytes`,
//! `queued.min.messages`, `fetch.max.bytes`), a slow application never grows
//! memory, and one that stops polling is noticed by the group, as in Java. An
//! application awaiting `recv` is polling: `recv` polls again whenever the driver
//! made progress and at least every third of `max.poll.interval.ms`.
//!
//! **Connections.** Each has a reader task, which reads into a large `BytesMut`
//! and hands each read to the driver as `Bytes` without copying (the core decodes
//! records as slices of it), and a writer task fed by a channel, so a slow socket
//! never stalls the driver. Reads go to the driver through a bounded queue: a
//! driver that falls behind stops the readers. DNS goes through tokio
//! (`lookup_host`); each connection attempt is bounded by
//! `socket.connection.setup.timeout.ms`.
//!
//! **Allocation.** Nothing is allocated per record: a batch moves out of the core
//! as the core made it, record bytes are slices of the read buffers, and the
//! record stream shares one `Arc<TopicPartition>` across a batch.
//!
//! # Tracing
//!
//! With a `tracing` subscriber installed: a `kasio.conn` span per connection
//! (conn, broker, role, host, port) with events for connect, connect failures and
//! disconnects; `assigned`, `revoked` and `lost` events with the partitions;
//! `commit` (debug, with its id) and `committed` / `commit failed` answers;
//! consumer errors; a `records handed out` event per batch (trace).
//!
//! # Not built yet
//!
//! TLS and SASL (as in kasio-std).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod consumer;
mod driver;
mod item;
mod metrics;
mod stream;

pub use consumer::Consumer;
pub use item::{
    CommitResults, CommittedOffsets, DescribedGroup, Error, Item, Message, Pending, RebalanceGuard,
    TimeOffsets,
};
pub use metrics::{Metrics, PartitionMetrics};
pub use stream::{ItemStream, RecordStream};

#[doc(no_inline)]
pub use kasio_core::consumer::ConsumerRecords;

#[cfg(test)]
mod assertions {
    use super::*;

    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>(_: &T) {}

    /// What applications rely on: the consumer can be shared between tasks, and
    /// its futures spawned.
    #[allow(dead_code)]
    fn consumer_and_futures_are_send(consumer: &Consumer) {
        send_sync::<Consumer>();
        send_sync::<RebalanceGuard>();
        send_sync::<Pending<CommitResults>>();
        send(&consumer.recv());
        send(&consumer.close(std::time::Duration::ZERO));
        send(&consumer.stream());
        send(&consumer.records());
    }
}
