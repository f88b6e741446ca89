//! The application's handle: [`Consumer`].

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use kasio_core::config::Config;
use kasio_core::consumer::{Consumer as Core, Event, TopicPartition, UsageError, Watermarks};
use kasio_core::group::OffsetAndMetadata;
use kasio_core::time::Instant;
use tokio::sync::oneshot;
use tokio::task::AbortHandle;
use tokio::time::Instant as TokioInstant;
use tracing::{debug, info, trace};

use crate::driver::{drive, Answer, Shared, State, Waiter};
use crate::item::{
    commit_answer, committed_answer, described_answer, times_answer, CommitResults,
    CommittedOffsets, DescribedGroup, Error, Item, Pending, RebalanceGuard, TimeOffsets,
};
use crate::metrics::{Metrics, PartitionMetrics};
use crate::stream::{ItemStream, RecordStream};

/// An async Kafka consumer: `kasio-core`'s state machine over tokio sockets.
///
/// Made with [`Consumer::new`] inside a tokio runtime; a background task does the
/// I/O and the timers from then on. Every method takes `&self`, so the consumer
/// can be shared (`Arc<Consumer>`) between the task that reads and one that
/// commits. See the [crate documentation](crate) for the design.
pub struct Consumer {
    shared: Arc<Shared>,
    driver: AbortHandle,
    /// How long `recv` waits before it polls the core again, though nothing woke
    /// it: an application that awaits `recv` is polling, and the core must see
    /// it poll within `max.poll.interval.ms`.
    repoll: Duration,
}

impl Consumer {
    /// A consumer with `config` (Kafka's property names, see
    /// [`Config::from_pairs`]), seeded from the OS's hash randomness. Spawns the
    /// driver task: call it inside a tokio runtime (it panics otherwise).
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// use kasio_core::config::Config;
    /// let config = Config::from_pairs([
    ///     ("bootstrap.servers", "localhost:9092"),
    ///     ("group.id", "billing"),
    /// ])?;
    /// let consumer = kasio_tokio::Consumer::new(config);
    /// consumer.subscribe(["orders"])?;
    /// # Ok(()) }
    /// ```
    pub fn new(config: Config) -> Self {
        use std::hash::{BuildHasher, RandomState};
        let seed = RandomState::new().hash_one(std::process::id());
        Self::with_seed(config, seed)
    }

    /// A consumer whose core is seeded with `seed` (backoff jitter, broker choice).
    pub fn with_seed(config: Config, seed: u64) -> Self {
        let setup_timeout = config.socket_connection_setup_timeout.into();
        let max_poll: Duration = config.max_poll_interval.into();
        let repoll = (max_poll / 3).max(Duration::from_millis(1));
        let tls = kasio_std::tls::client_config(&config);
        let mut core = Core::new(config, Instant::ZERO, seed);
        // Unusable TLS settings: a fatal error, never a connection (in clear or not).
        let tls = tls.unwrap_or_else(|e| {
            core.fail_tls_setup(e);
            None
        });
        let (shared, io) = Shared::new(core, setup_timeout, tls);
        let driver = tokio::spawn(drive(Arc::clone(&shared), io)).abort_handle();
        Self {
            shared,
            driver,
            repoll,
        }
    }

    // ----- receiving ---------------------------------------------------------------

    /// The next item: records, a rebalance, an end of partition, an error or
    /// another event, in the order they happened. Waits until there is one.
    ///
    /// This is the poll of `max.poll.interval.ms`: records are taken from the
    /// core only here (and in [`try_recv`](Self::try_recv) and the streams); the
    /// background task never takes them ahead of the application, so the
    /// prefetch stays bounded by the core's limits and an application that stops
    /// polling is noticed by the group.
    ///
    /// Returns `Err(Error::Fatal)` once for a fatal error (close the consumer),
    /// and `Err(Error::Closed)` from then on once the consumer is closed.
    ///
    /// **Cancel safe.** Records are taken from the core inside a single poll of
    /// this future, which then completes with them; a future dropped while
    /// waiting (in a `select!`, a timeout) has taken nothing, and the records stay
    /// buffered for the next call.
    ///
    /// ```no_run
    /// # async fn f(consumer: kasio_tokio::Consumer) -> Result<(), kasio_tokio::Error> {
    /// use kasio_tokio::Item;
    /// use std::time::Duration;
    /// loop {
    ///     tokio::select! {
    ///         item = consumer.recv() => match item? {
    ///             Item::Records(records) => {
    ///                 for (tp, record) in records.iter() {
    ///                     println!("{tp}@{}: {:?}", record.offset, record.value);
    ///                 }
    ///             }
    ///             Item::Assigned(partitions) => println!("assigned {partitions:?}"),
    ///             Item::Revoked(guard) => { guard.commit_and_ack().await?; }
    ///             other => println!("{other:?}"),
    ///         },
    ///         // Nothing is lost when this branch wins.
    ///         _ = tokio::time::sleep(Duration::from_secs(1)) => println!("tick"),
    ///     }
    /// }
    /// # }
    /// ```
    pub async fn recv(&self) -> Result<Item, Error> {
        loop {
            let notified = self.shared.app.notified();
            tokio::pin!(notified);
            // Registered before looking, so a wake-up in between is not missed.
            notified.as_mut().enable();
            if let Some(item) = self.try_recv() {
                return item;
            }
            let _ = tokio::time::timeout(self.repoll, notified).await;
        }
    }

    /// The next item if one is ready now (records buffered, an event queued),
    /// without waiting. Counts as a poll, like [`recv`](Self::recv).
    pub fn try_recv(&self) -> Option<Result<Item, Error>> {
        let shared = &self.shared;
        let item = shared.call(false, |st, now| next_item(shared, st, now));
        if let Some(Ok(Item::Records(records))) = &item {
            let bytes: usize = records
                .iter()
                .map(|(_, r)| {
                    r.key.as_ref().map_or(0, |k| k.len()) + r.value.as_ref().map_or(0, |v| v.len())
                })
                .sum();
            shared
                .records
                .fetch_add(records.len() as u64, Ordering::Relaxed);
            shared
                .record_bytes
                .fetch_add(bytes as u64, Ordering::Relaxed);
            trace!(
                records = records.len(),
                partitions = records.partitions().len(),
                bytes,
                "records handed out"
            );
        }
        item
    }

    /// The items of [`recv`](Self::recv) as a `Stream` that ends once the
    /// consumer is closed.
    ///
    /// ```no_run
    /// # async fn f(consumer: kasio_tokio::Consumer) {
    /// let mut items = consumer.stream();
    /// while let Some(item) = items.next().await {
    ///     println!("{item:?}");
    /// }
    /// # }
    /// ```
    pub fn stream(&self) -> ItemStream<'_> {
        ItemStream::new(self)
    }

    /// Records one at a time as a `Stream` (see [`RecordStream`] for what it does
    /// with rebalances and errors).
    ///
    /// ```no_run
    /// # async fn f(consumer: kasio_tokio::Consumer) -> Result<(), kasio_tokio::Error> {
    /// let mut records = consumer.records();
    /// while let Some(message) = records.next().await {
    ///     let message = message?;
    ///     println!("{}@{}: {:?}", message.tp, message.offset, message.value);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn records(&self) -> RecordStream<'_> {
        RecordStream::new(self)
    }

    /// Records a record stream took but never yielded: read them again.
    pub(crate) fn give_back(&self, first_unread: &[(TopicPartition, i64)]) {
        self.shared.call(true, |st, _| {
            for (tp, offset) in first_unread {
                // Not assigned any more: nobody will read them here anyway.
                let _ = st.core.seek(tp, *offset);
            }
        });
    }

    // ----- assignment and positions ------------------------------------------------

    /// Replaces the assignment with `partitions` (no group management); new ones
    /// start at `auto.offset.reset` (or a committed offset, with `group.id`).
    ///
    /// ```no_run
    /// # fn f(consumer: &kasio_tokio::Consumer) -> Result<(), kasio_tokio::Error> {
    /// use kasio_core::consumer::TopicPartition;
    /// consumer.assign((0..3).map(|p| TopicPartition::new("orders", p)))?;
    /// # Ok(()) }
    /// ```
    pub fn assign(
        &self,
        partitions: impl IntoIterator<Item = TopicPartition>,
    ) -> Result<(), Error> {
        Ok(self.shared.call(true, |st, _| st.core.assign(partitions))?)
    }

    /// Drops the whole manual assignment.
    pub fn unassign(&self) -> Result<(), Error> {
        Ok(self.shared.call(true, |st, _| st.core.unassign())?)
    }

    /// The assigned partitions (by hand or by the group).
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.shared.lock().core.assignment()
    }

    /// Consumes `tp` from `offset` next; its buffered records are dropped.
    pub fn seek(&self, tp: &TopicPartition, offset: i64) -> Result<(), Error> {
        Ok(self.shared.call(true, |st, _| st.core.seek(tp, offset))?)
    }

    /// Consumes each partition from its first offset next.
    pub fn seek_to_beginning(&self, partitions: &[TopicPartition]) -> Result<(), Error> {
        Ok(self
            .shared
            .call(true, |st, _| st.core.seek_to_beginning(partitions))?)
    }

    /// Consumes each partition from its end next (only records produced later).
    pub fn seek_to_end(&self, partitions: &[TopicPartition]) -> Result<(), Error> {
        Ok(self
            .shared
            .call(true, |st, _| st.core.seek_to_end(partitions))?)
    }

    /// Stops fetching and handing out these partitions; positions and buffered
    /// records stay.
    pub fn pause(&self, partitions: &[TopicPartition]) -> Result<(), Error> {
        Ok(self.shared.call(true, |st, _| st.core.pause(partitions))?)
    }

    /// Supplies the OAUTHBEARER token (`sasl.mechanism=OAUTHBEARER`), when
    /// [`Event::OAuthBearerTokenRequired`](kasio_core::consumer::Event::OAuthBearerTokenRequired)
    /// asks for one (as an [`Item::Event`]) or ahead of it. Its lifetime counts
    /// from now; connections waiting for it go on.
    pub fn set_oauthbearer_token(
        &self,
        token: kasio_core::sasl::OAuthBearerToken,
    ) -> Result<(), Error> {
        Ok(self.shared.call(true, |st, now| {
            // The core counts the lifetime from its own clock: bring it to now.
            st.core.handle_timeout(now);
            st.core.set_oauthbearer_token(token)
        })?)
    }

    /// Undoes [`pause`](Self::pause).
    pub fn resume(&self, partitions: &[TopicPartition]) -> Result<(), Error> {
        Ok(self.shared.call(true, |st, _| st.core.resume(partitions))?)
    }

    /// The offset of the next record for `tp` (`None` while it is looked up).
    pub fn position(&self, tp: &TopicPartition) -> Result<Option<i64>, Error> {
        Ok(self.shared.lock().core.position(tp)?)
    }

    /// `tp`'s log start, high watermark and last stable offset as the last fetch
    /// response gave them (-1 where not known yet).
    pub fn watermarks(&self, tp: &TopicPartition) -> Result<Watermarks, Error> {
        Ok(self.shared.lock().core.watermarks(tp)?)
    }

    /// How far `tp`'s position is behind its end, once both are known.
    pub fn lag(&self, tp: &TopicPartition) -> Result<Option<i64>, Error> {
        Ok(self.shared.lock().core.lag(tp)?)
    }

    // ----- groups ------------------------------------------------------------------

    /// Subscribes to `topics` and joins the group named by `group.id`;
    /// partitions come as [`Item::Assigned`].
    pub fn subscribe<S: Into<String>>(
        &self,
        topics: impl IntoIterator<Item = S>,
    ) -> Result<(), Error> {
        Ok(self.shared.call(true, |st, _| st.core.subscribe(topics))?)
    }

    /// Subscribes to every topic whose whole name matches the regular
    /// expression `pattern`, now and as topics come and go.
    pub fn subscribe_pattern(&self, pattern: &str) -> Result<(), Error> {
        Ok(self
            .shared
            .call(true, |st, _| st.core.subscribe_pattern(pattern))?)
    }

    /// Leaves the group (with a final auto-commit) and drops the subscription.
    pub fn unsubscribe(&self) -> Result<(), Error> {
        Ok(self.shared.call(true, |st, _| st.core.unsubscribe())?)
    }

    /// The subscribed topics (empty when not subscribed).
    pub fn subscription(&self) -> Vec<String> {
        self.shared.lock().core.subscription()
    }

    /// Commits `offsets` (the **next** offset to read, per partition). The commit
    /// is sent now; the returned future gives the per-partition results (see
    /// [`Pending`] for what dropping it does).
    ///
    /// ```no_run
    /// # async fn f(consumer: &kasio_tokio::Consumer) -> Result<(), kasio_tokio::Error> {
    /// use kasio_core::consumer::TopicPartition;
    /// use kasio_core::group::OffsetAndMetadata;
    /// let tp = TopicPartition::new("orders", 0);
    /// for (tp, result) in consumer.commit([(tp, OffsetAndMetadata::new(42))]).await? {
    ///     if let Err(e) = result {
    ///         eprintln!("{tp}: {e}");
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn commit(
        &self,
        offsets: impl IntoIterator<Item = (TopicPartition, OffsetAndMetadata)>,
    ) -> Pending<CommitResults> {
        self.shared.request(
            Answer::Commit,
            |core| core.commit(offsets).map(|id| id.0),
            commit_answer,
        )
    }

    /// Commits what the application was handed: each owned partition's position.
    pub fn commit_consumed(&self) -> Pending<CommitResults> {
        self.shared.commit_consumed()
    }

    /// The group's committed offsets for `partitions` (owned or not).
    pub fn committed(
        &self,
        partitions: impl IntoIterator<Item = TopicPartition>,
    ) -> Pending<CommittedOffsets> {
        self.shared.request(
            Answer::Query,
            |core| core.committed(partitions).map(|id| id.0),
            committed_answer,
        )
    }

    /// Describes the group named by `group.id` (DescribeGroups): its state,
    /// protocol and members with their client ids, hosts, subscriptions and
    /// assignments. Works without subscribing. Gives up after
    /// `default.api.timeout.ms`.
    ///
    /// ```no_run
    /// # async fn f(consumer: &kasio_tokio::Consumer) -> Result<(), Box<dyn std::error::Error>> {
    /// let group = consumer.describe_group().await??;
    /// for m in &group.members {
    ///     println!("{} ({}): {:?}", m.member_id, m.client_host, m.assignment);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn describe_group(&self) -> Pending<DescribedGroup> {
        self.shared.request(
            Answer::Query,
            |core| core.describe_group().map(|id| id.0),
            described_answer,
        )
    }

    // ----- queries -----------------------------------------------------------------

    /// Per partition, the earliest offset whose timestamp is at or after the one
    /// given (`KafkaConsumer::offsetsForTimes`); partitions need not be assigned.
    /// Gives up after `default.api.timeout.ms`.
    pub fn offsets_for_times(
        &self,
        query: impl IntoIterator<Item = (TopicPartition, i64)>,
    ) -> Pending<TimeOffsets> {
        self.shared.request(
            Answer::Query,
            |core| Ok(core.offsets_for_times(query).0),
            times_answer,
        )
    }

    /// The partitions of `topic`, once metadata has them (at most `timeout`).
    ///
    /// ```no_run
    /// # async fn f(consumer: &kasio_tokio::Consumer) -> Result<(), kasio_tokio::Error> {
    /// use kasio_core::consumer::TopicPartition;
    /// use std::time::Duration;
    /// let partitions = consumer.partitions_for("orders", Duration::from_secs(10)).await?;
    /// consumer.assign(partitions.into_iter().map(|p| TopicPartition::new("orders", p)))?;
    /// # Ok(()) }
    /// ```
    pub async fn partitions_for(&self, topic: &str, timeout: Duration) -> Result<Vec<i32>, Error> {
        self.shared
            .call(false, |st, _| st.core.want_metadata(topic));
        let mut found = None;
        let ok = self
            .wait_for(timeout, |core| {
                found = core.partitions_for(topic);
                found.is_some()
            })
            .await;
        match found {
            Some(partitions) if ok => Ok(partitions),
            _ => Err(Error::Timeout),
        }
    }

    /// Runs `f` on the core, under the consumer's lock, then lets the driver do
    /// what it asked for: the way to anything the core offers that this type
    /// does not wrap (metadata, group state, `want_metadata`, …).
    ///
    /// `f` must not block or take long (the driver waits for the lock meanwhile),
    /// and should not call `poll_records` (records taken there bypass
    /// [`metrics`](Self::metrics)).
    ///
    /// ```no_run
    /// # fn f(consumer: &kasio_tokio::Consumer) {
    /// let brokers = consumer.with_core(|core| core.metadata().brokers().count());
    /// let state = consumer.with_core(|core| core.group_state());
    /// # }
    /// ```
    pub fn with_core<R>(&self, f: impl FnOnce(&mut Core) -> R) -> R {
        self.shared.call(true, |st, _| f(&mut st.core))
    }

    /// Waits until `done` holds for the core (checked whenever the driver made
    /// progress), at most `timeout`; returns whether it held. Cancel safe.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&mut Core) -> bool,
    ) -> bool {
        let deadline = TokioInstant::now() + timeout;
        self.wait_state(deadline, |st| done(&mut st.core)).await
    }

    async fn wait_state(
        &self,
        deadline: TokioInstant,
        mut done: impl FnMut(&mut State) -> bool,
    ) -> bool {
        loop {
            let notified = self.shared.app.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.shared.call(false, |st, _| done(st)) {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.shared.call(false, |st, _| done(st));
            }
        }
    }

    /// The counters so far, with each assigned partition's position and lag.
    pub fn metrics(&self) -> Metrics {
        let st = self.shared.lock();
        let paused = st.core.paused();
        let partitions = st
            .core
            .assignment()
            .into_iter()
            .map(|tp| PartitionMetrics {
                position: st.core.position(&tp).ok().flatten(),
                high_watermark: st.core.watermarks(&tp).map_or(-1, |w| w.high_watermark),
                lag: st.core.lag(&tp).ok().flatten(),
                paused: paused.contains(&tp),
                tp,
            })
            .collect();
        Metrics::from_counters(
            &st.counters,
            self.shared.records.load(Ordering::Relaxed),
            self.shared.record_bytes.load(Ordering::Relaxed),
            st.open_connections(),
            partitions,
        )
    }

    // ----- closing -----------------------------------------------------------------

    /// Closes the consumer, waiting at most `timeout`: with a group, what was
    /// consumed is committed (auto-commit) and the group is left; fetch sessions
    /// are closed on the brokers. Then every connection is closed, whether or not
    /// that finished in time (`Err(Error::Timeout)` if not). Later calls return
    /// at once. Cancel safe: a dropped `close` leaves the closing to go on in the
    /// background, until the consumer is dropped.
    pub async fn close(&self, timeout: Duration) -> Result<(), Error> {
        let deadline = TokioInstant::now() + timeout;
        let stopped = self.shared.call(true, |st, _| {
            if !st.stopped {
                info!("closing");
                st.core.close();
            }
            st.stopped
        });
        if !stopped {
            self.wait_state(deadline, |st| st.core.is_closed() || st.stopped)
                .await;
        }
        let (closed, failed) = {
            let st = self.shared.lock();
            (st.core.is_closed(), st.failed)
        };
        self.shared.shut_down();
        if failed {
            Err(Error::Failed)
        } else if closed {
            debug!("closed");
            Ok(())
        } else {
            Err(Error::Timeout)
        }
    }
}

impl Drop for Consumer {
    /// Aborts the driver and connection tasks (sockets close as their tasks end)
    /// and resolves every pending future to `Error::Closed`; never waits for I/O.
    /// Without [`close`](Consumer::close) the group learns of the departure only
    /// when the session times out.
    fn drop(&mut self) {
        self.shared.shut_down();
        self.driver.abort();
    }
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer").finish_non_exhaustive()
    }
}

/// Under the lock: the next queued event, else records.
fn next_item(shared: &Arc<Shared>, st: &mut State, now: Instant) -> Option<Result<Item, Error>> {
    if let Some(event) = st.events.pop_front() {
        return Some(to_item(shared, event));
    }
    if st.failed {
        return Some(Err(Error::Failed));
    }
    if st.closed {
        return Some(Err(Error::Closed));
    }
    let records = st.core.poll_records(now);
    (!records.is_empty()).then_some(Ok(Item::Records(records)))
}

fn to_item(shared: &Arc<Shared>, event: Event) -> Result<Item, Error> {
    Ok(match event {
        Event::Assigned { partitions } => Item::Assigned(partitions),
        Event::Revoked { partitions, token } => {
            Item::Revoked(RebalanceGuard::new(Arc::clone(shared), partitions, token))
        }
        Event::Lost { partitions, token } => {
            Item::Lost(RebalanceGuard::new(Arc::clone(shared), partitions, token))
        }
        Event::PartitionEof { tp, offset } => Item::Eof { tp, offset },
        Event::Error(e) => Item::Error(e),
        Event::Fatal(e) => return Err(Error::Fatal(Box::new(e))),
        other => Item::Event(other),
    })
}

impl Shared {
    /// Sends a request with `send` and returns the future of its answer; the
    /// waiter is registered before the core is drained, so the answer cannot
    /// slip past it.
    pub(crate) fn request<T>(
        self: &Arc<Self>,
        key: fn(u64) -> Answer,
        send: impl FnOnce(&mut Core) -> Result<u64, UsageError>,
        answer: fn(Event) -> Option<T>,
    ) -> Pending<T> {
        let (tx, rx) = oneshot::channel();
        let sent = self.call(false, |st, _| {
            if st.stopped {
                return Err(Error::Closed);
            }
            let id = send(&mut st.core)?;
            let key = key(id);
            if let Answer::Commit(id) = key {
                debug!(id, "commit");
            }
            st.waiters.insert(key, Waiter { tx });
            Ok(())
        });
        match sent {
            Ok(()) => Pending::waiting(rx, answer, Arc::clone(self)),
            Err(e) => Pending::done(Err(e)),
        }
    }

    pub(crate) fn commit_consumed(self: &Arc<Self>) -> Pending<CommitResults> {
        self.request(
            Answer::Commit,
            |core| core.commit_consumed().map(|id| id.0),
            commit_answer,
        )
    }
}
