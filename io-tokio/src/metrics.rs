//! Counters the application can read at any time, in the spirit of the Java
//! consumer's fetch-manager and coordinator metrics.

use std::time::Duration;

use kasio_core::consumer::TopicPartition;

/// Counters the driver keeps under its lock.
#[derive(Debug, Default, Clone)]
pub(crate) struct Counters {
    pub(crate) bytes_received: u64,
    pub(crate) bytes_sent: u64,
    pub(crate) connections: u64,
    pub(crate) connect_failures: u64,
    pub(crate) disconnects: u64,
    pub(crate) rebalances: u64,
    pub(crate) partitions_assigned: u64,
    pub(crate) partitions_revoked: u64,
    pub(crate) partitions_lost: u64,
    pub(crate) commits: u64,
    pub(crate) commit_failures: u64,
    pub(crate) commit_latency_count: u64,
    pub(crate) commit_latency_total_us: u64,
    pub(crate) commit_latency_max_us: u64,
    pub(crate) errors: u64,
    pub(crate) last_connect_error: Option<String>,
}

impl Counters {
    pub(crate) fn commit_latency(&mut self, micros: u64) {
        self.commit_latency_count += 1;
        self.commit_latency_total_us += micros;
        self.commit_latency_max_us = self.commit_latency_max_us.max(micros);
    }
}

/// A snapshot of the consumer's counters ([`Consumer::metrics`](crate::Consumer::metrics)).
///
/// Totals count from the consumer's creation. Java's names, where one applies:
/// `records-consumed-total`, `bytes-consumed-total` (here the keys and values
/// handed out, and separately the bytes read from sockets), `rebalance-total`,
/// `commit-total`, `commit-latency-avg`/`-max`, `records-lag` per partition and
/// `records-lag-max`.
///
/// ```no_run
/// # async fn f(consumer: &kasio_tokio::Consumer) {
/// let m = consumer.metrics();
/// println!("{} records, max lag {:?}", m.records, m.records_lag_max);
/// for p in &m.partitions {
///     println!("{}: position {:?} lag {:?}", p.tp, p.position, p.lag);
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Records handed to the application.
    pub records: u64,
    /// Key and value bytes of those records.
    pub record_bytes: u64,
    /// Bytes read from broker connections (responses of every kind).
    pub bytes_received: u64,
    /// Bytes written to broker connections.
    pub bytes_sent: u64,
    /// Connections established.
    pub connections: u64,
    /// Connection attempts that failed (resolution, refusal, setup timeout).
    pub connect_failures: u64,
    /// Established connections that ended (by the broker, an error, or a timeout).
    pub disconnects: u64,
    /// Connections open now.
    pub open_connections: usize,
    /// Completed rebalances (each `Assigned` item).
    pub rebalances: u64,
    /// Partitions assigned, revoked and lost, summed over all rebalances.
    pub partitions_assigned: u64,
    /// See [`partitions_assigned`](Self::partitions_assigned).
    pub partitions_revoked: u64,
    /// See [`partitions_assigned`](Self::partitions_assigned).
    pub partitions_lost: u64,
    /// Commits answered (the application's and auto-commit's).
    pub commits: u64,
    /// Commits answered with at least one partition failed.
    pub commit_failures: u64,
    /// Mean time from a commit's start (the application's call, or auto-commit's
    /// timer) to its answer, over every commit.
    pub commit_latency_avg: Option<Duration>,
    /// Longest such time.
    pub commit_latency_max: Option<Duration>,
    /// Errors reported (`Item::Error` and fatal ones).
    pub errors: u64,
    /// The last connection attempt that failed, as `host:port (why)`, e.g.
    /// `localhost:9099 (connection refused)`: what a tool tells its user when no
    /// broker can be reached (the core only learns that the connection failed).
    pub last_connect_error: Option<String>,
    /// Each assigned partition.
    pub partitions: Vec<PartitionMetrics>,
    /// The largest lag over the assigned partitions whose lag is known.
    pub records_lag_max: Option<i64>,
}

/// One assigned partition in [`Metrics`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartitionMetrics {
    /// The partition.
    pub tp: TopicPartition,
    /// The next offset the application will be handed (`None` while looked up).
    pub position: Option<i64>,
    /// The high watermark from the last fetch response (-1 before one).
    pub high_watermark: i64,
    /// Records between the position and the end of the partition (the high
    /// watermark, or the last stable offset under read_committed), once known.
    pub lag: Option<i64>,
    /// Whether the application paused it.
    pub paused: bool,
}

impl Metrics {
    pub(crate) fn from_counters(
        c: &Counters,
        records: u64,
        record_bytes: u64,
        open_connections: usize,
        partitions: Vec<PartitionMetrics>,
    ) -> Self {
        let us = Duration::from_micros;
        Self {
            records,
            record_bytes,
            bytes_received: c.bytes_received,
            bytes_sent: c.bytes_sent,
            connections: c.connections,
            connect_failures: c.connect_failures,
            disconnects: c.disconnects,
            open_connections,
            rebalances: c.rebalances,
            partitions_assigned: c.partitions_assigned,
            partitions_revoked: c.partitions_revoked,
            partitions_lost: c.partitions_lost,
            commits: c.commits,
            commit_failures: c.commit_failures,
            commit_latency_avg: (c.commit_latency_count > 0)
                .then(|| us(c.commit_latency_total_us / c.commit_latency_count)),
            commit_latency_max: (c.commit_latency_count > 0).then(|| us(c.commit_latency_max_us)),
            errors: c.errors,
            last_connect_error: c.last_connect_error.clone(),
            records_lag_max: partitions.iter().filter_map(|p| p.lag).max(),
            partitions,
        }
    }
}
