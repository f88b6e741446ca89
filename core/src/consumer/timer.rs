//! Every deadline the consumer waits for, in one table.
//!
//! Whatever starts a wait (a backoff, a request, a refresh interval) sets its timer
//! here; [`Consumer::poll_timeout`](super::Consumer::poll_timeout) is the table's
//! earliest entry and [`Consumer::handle_timeout`](super::Consumer::handle_timeout)
//! takes out what is due and hands each to its owner. A timer that fires is gone:
//! a wait that is still blocked on something else (a connection, buffer space)
//! continues when that input arrives, so nothing keeps the driver spinning.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::conn::ConnId;
use crate::metadata::BrokerId;
use crate::time::Instant;

use super::event::{ConnRole, QueryId, TopicPartition};

/// What a deadline is for. The order is only for determinism (the table is a
/// sorted map); timers due at the same instant fire in this order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Timer {
    /// A connection's setup deadline or its oldest request's timeout.
    Connection(ConnId),
    /// A broker may be connected to again in this role (`reconnect.backoff.ms`).
    Reconnect(BrokerId, ConnRole),
    /// Metadata is due: the periodic refresh (`metadata.max.age.ms`) or a retry.
    Metadata,
    /// A broker's fetches may resume after a failure.
    FetchBackoff(BrokerId),
    /// A partition's requests may resume after a failure.
    PartitionBackoff(TopicPartition),
    /// A partition's preferred read replica (KIP-392) expires.
    PreferredReplica(TopicPartition),
    /// An `offsets_for_times` or `committed` query gives up
    /// (`default.api.timeout.ms`).
    Query(QueryId),
    /// The group coordinator may be looked up again.
    GroupCoordinator,
    /// JoinGroup / SyncGroup may be retried (after COORDINATOR_LOAD_IN_PROGRESS).
    GroupRetry,
    /// The next heartbeat is due (`heartbeat.interval.ms`).
    Heartbeat,
    /// No successful heartbeat for `session.timeout.ms`.
    Session,
    /// No poll for `max.poll.interval.ms`.
    PollInterval,
    /// The next auto-commit is due (`auto.commit.interval.ms`).
    AutoCommit,
    /// A queued commit may be retried, or reaches `default.api.timeout.ms`.
    CommitDeadline,
    /// A revoke or loss waits no longer for its acknowledgement (the rebalance
    /// timeout, `max.poll.interval.ms`).
    RebalanceDeadline,
    /// A connection's SASL session is due for renewal (KIP-368): at 85–95 % of the
    /// session lifetime the broker gave.
    Reauthenticate(ConnId),
    /// The OAUTHBEARER token is due for refresh (the application is asked for a new
    /// one), or expires.
    OAuthBearerToken,
    /// `close` stops waiting for fetch sessions to close.
    Close,
}

/// The timer table: at most one deadline per [`Timer`].
#[derive(Debug, Default)]
pub(crate) struct Timers {
    table: BTreeMap<Timer, Instant>,
}

impl Timers {
    /// Sets (or moves) `timer` to `at`.
    pub fn set(&mut self, timer: Timer, at: Instant) {
        self.table.insert(timer, at);
    }

    /// Sets `timer` to `at`, or clears it with `None`.
    pub fn set_opt(&mut self, timer: Timer, at: Option<Instant>) {
        match at {
            Some(at) => self.set(timer, at),
            None => self.clear(&timer),
        }
    }

    /// Clears `timer`, if set.
    pub fn clear(&mut self, timer: &Timer) {
        self.table.remove(timer);
    }

    /// Clears every timer `keep` rejects.
    pub fn retain(&mut self, mut keep: impl FnMut(&Timer) -> bool) {
        self.table.retain(|t, _| keep(t));
    }

    /// When `timer` is due, if set.
    #[cfg(test)]
    pub fn get(&self, timer: &Timer) -> Option<Instant> {
        self.table.get(timer).copied()
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.table.values().min().copied()
    }

    /// Takes out every timer due at `now`, in the table's order.
    pub fn take_due(&mut self, now: Instant) -> Vec<Timer> {
        let due: Vec<Timer> = self
            .table
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(t, _)| t.clone())
            .collect();
        for t in &due {
            self.table.remove(t);
        }
        due
    }

    /// Every timer and its deadline, in order (for tests and debugging).
    pub fn iter(&self) -> impl Iterator<Item = (&Timer, Instant)> {
        self.table.iter().map(|(t, at)| (t, *at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earliest_deadline_fires_once_and_is_gone() {
        let mut t = Timers::default();
        t.set(Timer::Metadata, Instant::from_millis(30));
        t.set(Timer::Close, Instant::from_millis(10));
        t.set(
            Timer::Reconnect(BrokerId(1), ConnRole::Data),
            Instant::from_millis(10),
        );
        assert_eq!(t.next(), Some(Instant::from_millis(10)));
        assert!(t.take_due(Instant::from_millis(9)).is_empty());
        let due = t.take_due(Instant::from_millis(10));
        assert_eq!(
            due,
            [Timer::Reconnect(BrokerId(1), ConnRole::Data), Timer::Close]
        );
        assert!(t.take_due(Instant::from_millis(10)).is_empty());
        assert_eq!(t.next(), Some(Instant::from_millis(30)));
        t.set_opt(Timer::Metadata, None);
        assert_eq!(t.next(), None);
    }
}
