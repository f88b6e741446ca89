//! kasio-std: a minimal blocking driver for `kasio-core`'s consumer.
//!
//! It owns what the core must not: sockets (std::net), DNS resolution and the clock.
//! Everything about Kafka stays in the core; this crate only moves bytes and time.
//!
//! Each broker connection has two threads: a reader, which reads into large shared
//! buffers and hands each read to the core as [`Bytes`](bytes::Bytes) without
//! copying it, and a writer, fed through a channel, so a slow socket never blocks
//! the thread that calls [`Consumer::poll`]. The core runs on that calling thread.
//!
//! ```no_run
//! use kasio_core::config::Config;
//! use kasio_core::consumer::TopicPartition;
//! use kasio_std::Consumer;
//! use std::time::Duration;
//!
//! let config = Config::from_pairs([("bootstrap.servers", "localhost:9092"), ("auto.offset.reset", "earliest")])?;
//! let mut consumer = Consumer::new(config);
//! consumer.core_mut().assign([TopicPartition::new("orders", 0)]);
//! loop {
//!     for (tp, record) in consumer.poll(Duration::from_millis(500)).iter() {
//!         println!("{tp}@{}: {:?}", record.offset, record.value);
//!     }
//! }
//! # Ok::<(), kasio_core::config::ConfigError>(())
//! ```
//!
//! SASL (PLAIN, SCRAM, OAUTHBEARER) runs in the core, so `security.protocol=SASL_PLAINTEXT`
//! works here as in any driver. TLS (`SSL`, `SASL_SSL`) is rustls with a pure-Rust
//! crypto provider, set up from the `ssl.*` properties by the [`tls`] module (which
//! kasio-tokio shares): the handshake runs when the connection is made, within
//! `socket.connection.setup.timeout.ms`, and a failed one is reported as a
//! connection error of its own kind ([`kasio_core::conn::TlsErrorKind`]), then
//! retried after the usual reconnect backoff.

use std::collections::{BTreeMap, VecDeque};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant as StdInstant};

use bytes::{Bytes, BytesMut};
use kasio_core::config::Config;
use kasio_core::conn::{ConnId, TlsError};
use kasio_core::consumer::{
    ConnCommand, Consumer as Core, ConsumerError, ConsumerRecords, Event, TopicPartition,
    UsageError,
};
use kasio_core::group::{CommitError, CommitId, OffsetAndMetadata, RebalanceToken};
use kasio_core::sasl::OAuthBearerToken;
use kasio_core::time::Instant;
use rustls::{ClientConfig, ClientConnection};

pub mod tls;

/// The reader's buffer: reads go into its zeroed tail, each read is split off and
/// handed over, and the tail is topped up to this size when it runs short.
const READ_CHUNK: usize = 256 * 1024;
/// Top the buffer up when less than this is left to read into.
const READ_MIN: usize = READ_CHUNK / 4;

/// What the connection threads tell the loop.
enum Io {
    Connected(ConnId, Link),
    Data(ConnId, Bytes),
    /// From a failed connect, the reader (EOF or error) or the writer (error);
    /// possibly twice for one connection.
    Closed(ConnId),
    /// The TLS handshake failed, or the broker ended TLS with an alert.
    TlsFailed(ConnId, TlsError),
}

/// The loop's side of an open connection.
struct Link {
    /// To the writer thread; dropping it ends that thread once its queue is written.
    writer: Sender<Vec<u8>>,
    /// Shared with both threads; shutting it down ends them.
    stream: Arc<TcpStream>,
}

impl Link {
    fn shutdown(&self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// Per-partition results of a commit.
pub type CommitResults = Vec<(TopicPartition, Result<OffsetAndMetadata, CommitError>)>;

/// Per-partition committed offsets (`None`: nothing committed) or why not known.
pub type CommittedOffsets = Vec<(
    TopicPartition,
    Result<Option<OffsetAndMetadata>, ConsumerError>,
)>;

/// Why a blocking call returned without its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncError {
    /// The application misused the API (see [`UsageError`]).
    Usage(UsageError),
    /// No answer within the timeout; the request may still complete later (its
    /// event then arrives through [`Consumer::next_event`]).
    Timeout,
}

impl std::fmt::Display for SyncError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Usage(e) => e.fmt(f),
            Self::Timeout => f.write_str("no answer within the timeout"),
        }
    }
}

impl std::error::Error for SyncError {}

/// A blocking Kafka consumer: `kasio-core`'s state machine over std sockets.
pub struct Consumer {
    core: Core,
    epoch: StdInstant,
    tx: Sender<Io>,
    rx: Receiver<Io>,
    /// Every connection the core asked for and has not been told is gone: `None`
    /// while connecting. Removing an entry is what reports a connection lost, so
    /// the core hears of it once, however many threads notice.
    links: BTreeMap<ConnId, Option<Link>>,
    events: VecDeque<Event>,
    /// Rebalance events (`Assigned`, `Revoked`, `Lost`) taken from the core so far,
    /// and how many of them `poll` has returned early for or the application has
    /// taken: `poll` returns once for each new one (see [`Consumer::poll`]).
    rebalances: u64,
    rebalances_seen: u64,
    setup_timeout: Duration,
    /// Under `SSL` / `SASL_SSL`.
    tls: Option<Arc<ClientConfig>>,
}

impl Consumer {
    /// A consumer with a seed from the OS's hash randomness (which also makes its
    /// SCRAM nonces unpredictable).
    pub fn new(config: Config) -> Self {
        use std::hash::{BuildHasher, RandomState};
        let seed = RandomState::new().hash_one(std::process::id());
        Self::with_seed(config, seed)
    }

    /// A consumer whose core is seeded with `seed`.
    ///
    /// Under `SSL` / `SASL_SSL`, TLS settings that cannot be used (an unreadable
    /// CA file, a keystore instead of PEM, a wrong `ssl.key.password`) make the
    /// consumer fail at once ([`Event::Fatal`] with `LocalError::Tls`) without
    /// connecting.
    pub fn with_seed(config: Config, seed: u64) -> Self {
        let setup_timeout = config.socket_connection_setup_timeout.into();
        let (tx, rx) = mpsc::channel();
        let tls = tls::client_config(&config);
        let mut core = Core::new(config, Instant::ZERO, seed);
        let tls = tls.unwrap_or_else(|e| {
            core.fail_tls_setup(e);
            None
        });
        Self {
            core,
            epoch: StdInstant::now(),
            tx,
            rx,
            links: BTreeMap::new(),
            events: VecDeque::new(),
            rebalances: 0,
            rebalances_seen: 0,
            setup_timeout,
            tls,
        }
    }

    /// The core state machine, for application calls (`assign`, `seek`, …).
    pub fn core(&self) -> &Core {
        &self.core
    }

    /// The core state machine, for application calls (`assign`, `seek`, …).
    pub fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }

    fn now(&self) -> Instant {
        Instant::from_micros(self.epoch.elapsed().as_micros() as u64)
    }

    /// Runs I/O until records are buffered, a rebalance event arrives, or `timeout`
    /// passes; returns up to `max.poll.records` records (possibly none).
    ///
    /// A rebalance (`Assigned`, `Revoked`, `Lost`) the application has not taken
    /// with [`next_event`](Self::next_event) ends the poll once, before any record
    /// of the partitions it assigns can be handed out: the application sees
    /// `Assigned` first and may pause or seek them (as Java's `poll` runs
    /// `onPartitionsAssigned` before returning their records).
    pub fn poll(&mut self, timeout: Duration) -> ConsumerRecords {
        let deadline = StdInstant::now() + timeout;
        loop {
            self.pump();
            let now = self.now();
            let records = self.core.poll_records(now);
            if !records.is_empty() {
                self.pump();
                return records;
            }
            if self.rebalances_seen < self.rebalances {
                self.rebalances_seen = self.rebalances;
                return records;
            }
            if !self.wait(deadline) {
                return records;
            }
        }
    }

    /// Runs I/O until `done` says so or `timeout` passes; returns whether `done` held.
    pub fn run_until(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&mut Core) -> bool,
    ) -> bool {
        let deadline = StdInstant::now() + timeout;
        loop {
            self.pump();
            if done(&mut self.core) {
                return true;
            }
            if !self.wait(deadline) {
                return done(&mut self.core);
            }
        }
    }

    /// Supplies the OAUTHBEARER token (`sasl.mechanism=OAUTHBEARER`), after
    /// [`Event::OAuthBearerTokenRequired`] or ahead of it: see
    /// [`kasio_core::consumer::Consumer::set_oauthbearer_token`]. The token's
    /// lifetime counts from now.
    pub fn set_oauthbearer_token(&mut self, token: OAuthBearerToken) -> Result<(), UsageError> {
        // The core counts the lifetime from its own clock: bring that to now.
        let now = self.now();
        self.core.handle_timeout(now);
        let result = self.core.set_oauthbearer_token(token);
        // Connections that waited for the token go on.
        self.pump();
        result
    }

    /// Application events (errors, resets, EOF, query answers, rebalances), in
    /// order.
    pub fn next_event(&mut self) -> Option<Event> {
        self.pump();
        let event = self.events.pop_front();
        if !self.events.iter().any(is_rebalance) {
            // Every rebalance taken: none is left for `poll` to return early for.
            self.rebalances_seen = self.rebalances;
        }
        event
    }

    /// Subscribes to `topics` in the group named by `group.id`; partitions come
    /// with [`Event::Assigned`] (see [`next_event`](Self::next_event)).
    pub fn subscribe<S: Into<String>>(
        &mut self,
        topics: impl IntoIterator<Item = S>,
    ) -> Result<(), UsageError> {
        self.core.subscribe(topics)
    }

    /// Leaves the group (with a final auto-commit) and drops the subscription.
    pub fn unsubscribe(&mut self) -> Result<(), UsageError> {
        self.core.unsubscribe()
    }

    /// Acknowledges a [`Event::Revoked`] or [`Event::Lost`]: the rebalance may go on.
    pub fn ack_rebalance(&mut self, token: RebalanceToken) -> Result<(), UsageError> {
        self.core.ack_rebalance(token)
    }

    /// The usual answer to [`Event::Revoked`]: commit what was consumed (the
    /// revoked partitions included), wait for the answer (at most `timeout`), then
    /// acknowledge, whatever the commit's outcome, so the rebalance is not held up.
    /// Returns the commit's per-partition results. If the member lost its
    /// partitions meanwhile (the commit then says so, and [`Event::Lost`] follows),
    /// the revoke is over and its token stale: nothing is left to acknowledge.
    pub fn commit_and_ack(
        &mut self,
        token: RebalanceToken,
        timeout: Duration,
    ) -> Result<CommitResults, SyncError> {
        let committed = self.commit_consumed_sync(timeout);
        match self.core.ack_rebalance(token) {
            Ok(()) | Err(UsageError::StaleToken(_)) => committed,
            Err(e) => Err(SyncError::Usage(e)),
        }
    }

    /// Commits `offsets` (the next offset to read per partition); the answer comes
    /// later as [`Event::Committed`] with the returned id.
    pub fn commit_async(
        &mut self,
        offsets: impl IntoIterator<Item = (TopicPartition, OffsetAndMetadata)>,
    ) -> Result<CommitId, UsageError> {
        let id = self.core.commit(offsets)?;
        self.pump();
        Ok(id)
    }

    /// Commits `offsets` and waits (at most `timeout`) for the per-partition results.
    pub fn commit_sync(
        &mut self,
        offsets: impl IntoIterator<Item = (TopicPartition, OffsetAndMetadata)>,
        timeout: Duration,
    ) -> Result<CommitResults, SyncError> {
        let id = self.core.commit(offsets).map_err(SyncError::Usage)?;
        self.wait_committed(id, timeout)
    }

    /// Commits what the application was handed (every owned partition's position)
    /// and waits (at most `timeout`) for the results.
    pub fn commit_consumed_sync(&mut self, timeout: Duration) -> Result<CommitResults, SyncError> {
        let id = self.core.commit_consumed().map_err(SyncError::Usage)?;
        self.wait_committed(id, timeout)
    }

    fn wait_committed(
        &mut self,
        id: CommitId,
        timeout: Duration,
    ) -> Result<CommitResults, SyncError> {
        match self.wait_for_event(
            timeout,
            |e| matches!(e, Event::Committed { id: i, .. } if *i == id),
        ) {
            Some(Event::Committed { results, .. }) => Ok(results),
            _ => Err(SyncError::Timeout),
        }
    }

    /// The group's committed offsets for `partitions` (`None`: nothing committed),
    /// waiting at most `timeout`.
    pub fn committed(
        &mut self,
        partitions: impl IntoIterator<Item = TopicPartition>,
        timeout: Duration,
    ) -> Result<CommittedOffsets, SyncError> {
        let id = self.core.committed(partitions).map_err(SyncError::Usage)?;
        match self.wait_for_event(
            timeout,
            |e| matches!(e, Event::CommittedOffsets { id: i, .. } if *i == id),
        ) {
            Some(Event::CommittedOffsets { offsets, .. }) => Ok(offsets),
            _ => Err(SyncError::Timeout),
        }
    }

    /// Runs I/O until an event `pick` selects arrives (taken out of the queue;
    /// other events stay for [`next_event`](Self::next_event)), or `timeout`.
    fn wait_for_event(
        &mut self,
        timeout: Duration,
        mut pick: impl FnMut(&Event) -> bool,
    ) -> Option<Event> {
        let deadline = StdInstant::now() + timeout;
        loop {
            self.pump();
            if let Some(i) = self.events.iter().position(&mut pick) {
                return self.events.remove(i);
            }
            if !self.wait(deadline) {
                return None;
            }
        }
    }

    /// Closes the consumer, waiting at most `timeout`: with a group, what was
    /// consumed is committed (auto-commit) and the group is left; fetch sessions
    /// are closed on the brokers.
    pub fn close(mut self, timeout: Duration) {
        self.core.close();
        self.run_until(timeout, |c| c.is_closed());
        // Dropping self shuts the connections down.
    }

    /// Drains the core: events, then bytes to write.
    fn pump(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(command) = self.core.poll_conn_command() {
                progressed = true;
                match command {
                    ConnCommand::Connect {
                        conn, host, port, ..
                    } => self.spawn_connection(conn, host, port),
                    ConnCommand::Disconnect { conn } => {
                        if let Some(Some(link)) = self.links.remove(&conn) {
                            link.shutdown();
                        }
                    }
                    // Commands this driver does not know yet (a newer core).
                    _ => {}
                }
            }
            while let Some(event) = self.core.poll_event() {
                progressed = true;
                if is_rebalance(&event) {
                    self.rebalances += 1;
                }
                self.events.push_back(event);
            }
            let now = self.now();
            let mut out = Vec::new();
            while let Some(t) = self.core.poll_transmit(now, &mut out) {
                progressed = true;
                let data = std::mem::take(&mut out);
                // A writer that is gone has failed; its Closed may still be queued.
                if let Some(Some(link)) = self.links.get(&t.conn) {
                    if link.writer.send(data).is_err() {
                        self.lost(t.conn);
                    }
                }
            }
            if !progressed {
                return;
            }
        }
    }

    /// Waits for socket activity or the core's next timer; false once `deadline`
    /// has passed.
    fn wait(&mut self, deadline: StdInstant) -> bool {
        let now_std = StdInstant::now();
        if now_std >= deadline {
            return false;
        }
        let mut wait = deadline - now_std;
        if let Some(t) = self.core.poll_timeout() {
            let until = Duration::from_micros(t.as_micros().saturating_sub(self.now().as_micros()));
            wait = wait.min(until);
        }
        match self.rx.recv_timeout(wait) {
            Ok(io) => {
                self.handle(io);
                // Take whatever else is already there before going back to the core.
                while let Ok(io) = self.rx.try_recv() {
                    self.handle(io);
                }
            }
            Err(RecvTimeoutError::Timeout) => self.core.handle_timeout(self.now()),
            Err(RecvTimeoutError::Disconnected) => unreachable!("we hold a sender"),
        }
        true
    }

    fn handle(&mut self, io: Io) {
        match io {
            Io::Connected(conn, link) => match self.links.get_mut(&conn) {
                Some(slot @ None) => {
                    *slot = Some(link);
                    self.core.handle_connected(self.now(), conn);
                }
                // The core gave up on it meanwhile (or it is a duplicate).
                _ => link.shutdown(),
            },
            Io::Data(conn, data) => self.core.handle_input_bytes(self.now(), conn, data),
            Io::Closed(conn) => self.lost(conn),
            Io::TlsFailed(conn, error) => {
                if let Some(link) = self.links.remove(&conn) {
                    if let Some(link) = link {
                        link.shutdown();
                    }
                    self.core.handle_tls_failure(self.now(), conn, error);
                }
            }
        }
    }

    /// `conn` failed: shuts it down and tells the core, unless that was done already.
    fn lost(&mut self, conn: ConnId) {
        if let Some(link) = self.links.remove(&conn) {
            if let Some(link) = link {
                link.shutdown();
            }
            self.core.handle_disconnected(self.now(), conn);
        }
    }

    fn spawn_connection(&mut self, conn: ConnId, host: String, port: u16) {
        self.links.insert(conn, None);
        let tx = self.tx.clone();
        let timeout = self.setup_timeout;
        let tls = self.tls.clone();
        thread::spawn(move || {
            let started = StdInstant::now();
            let Some(stream) = connect(&host, port, timeout) else {
                let _ = tx.send(Io::Closed(conn));
                return;
            };
            let session = match tls {
                None => None,
                Some(config) => {
                    let left = timeout.saturating_sub(started.elapsed());
                    match handshake(config, &host, &stream, left) {
                        Ok(session) => Some(Arc::new(Mutex::new(session))),
                        Err(Some(error)) => {
                            let _ = stream.shutdown(Shutdown::Both);
                            let _ = tx.send(Io::TlsFailed(conn, error));
                            return;
                        }
                        Err(None) => {
                            let _ = stream.shutdown(Shutdown::Both);
                            let _ = tx.send(Io::Closed(conn));
                            return;
                        }
                    }
                }
            };
            let stream = Arc::new(stream);
            let (writer, queue) = mpsc::channel();
            let (w_stream, w_tx, w_session) = (Arc::clone(&stream), tx.clone(), session.clone());
            thread::spawn(move || match w_session {
                None => write_loop(conn, &w_stream, &queue, &w_tx),
                Some(session) => tls_write_loop(conn, &w_stream, &session, &queue, &w_tx),
            });
            let nudge = writer.clone();
            let link = Link {
                writer,
                stream: Arc::clone(&stream),
            };
            if tx.send(Io::Connected(conn, link)).is_ok() {
                match session {
                    None => read_loop(conn, &stream, &tx),
                    Some(session) => tls_read_loop(conn, &host, &stream, &session, &nudge, &tx),
                }
            }
        });
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        // Ends every connection's threads (a reader would otherwise wait on its
        // socket for as long as the broker keeps it open).
        for link in self.links.values().flatten() {
            link.shutdown();
        }
    }
}

fn is_rebalance(e: &Event) -> bool {
    matches!(
        e,
        Event::Assigned { .. } | Event::Revoked { .. } | Event::Lost { .. }
    )
}

/// Reads `stream` until it ends, handing each read over whole; reports the end.
fn read_loop(conn: ConnId, mut stream: &TcpStream, tx: &Sender<Io>) {
    let mut buf = BytesMut::new();
    loop {
        if buf.len() < READ_MIN {
            // Zeroes only the new part. The allocation is reused if every earlier
            // read handed out of it has been dropped, else a fresh one is made.
            buf.resize(READ_CHUNK, 0);
        }
        match stream.read(&mut buf) {
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Ok(0) | Err(_) => {
                let _ = tx.send(Io::Closed(conn));
                return;
            }
            Ok(n) => {
                if tx.send(Io::Data(conn, buf.split_to(n).freeze())).is_err() {
                    return;
                }
            }
        }
    }
}

/// Writes what the loop queues until the loop drops its sender or a write fails;
/// a failure shuts the socket (ending the reader too) and is reported.
fn write_loop(conn: ConnId, mut stream: &TcpStream, queue: &Receiver<Vec<u8>>, tx: &Sender<Io>) {
    for data in queue {
        if stream.write_all(&data).is_err() {
            let _ = stream.shutdown(Shutdown::Both);
            let _ = tx.send(Io::Closed(conn));
            return;
        }
    }
}

/// Runs the TLS handshake on `stream` within `timeout`. `Err(None)`: the socket
/// failed or timed out (a plain connection failure).
fn handshake(
    config: Arc<ClientConfig>,
    host: &str,
    mut stream: &TcpStream,
    timeout: Duration,
) -> Result<ClientConnection, Option<TlsError>> {
    let name = tls::server_name(host).map_err(Some)?;
    let mut session =
        ClientConnection::new(config, name).map_err(|e| Some(tls::classify(&e, host)))?;
    let _ = stream.set_read_timeout(Some(timeout.max(Duration::from_millis(1))));
    let _ = stream.set_write_timeout(Some(timeout.max(Duration::from_millis(1))));
    while session.is_handshaking() {
        if let Err(e) = session.complete_io(&mut stream) {
            if tls::is_tls_io_error(&e) {
                // Tell the broker why (the alert rustls queued), best effort.
                let _ = session.write_tls(&mut stream);
                return Err(Some(tls::classify_io(&e, host)));
            }
            return Err(None);
        }
    }
    let _ = stream.set_read_timeout(None);
    let _ = stream.set_write_timeout(None);
    Ok(session)
}

/// [`read_loop`] under TLS: reads the socket without the session's lock, then
/// decrypts under it and hands the plaintext over. TLS output the reading causes
/// (alerts, key updates) is written by the writer thread, nudged with an empty
/// message, so the socket has one writer and TLS records stay in order.
fn tls_read_loop(
    conn: ConnId,
    host: &str,
    mut stream: &TcpStream,
    session: &Mutex<ClientConnection>,
    nudge: &Sender<Vec<u8>>,
    tx: &Sender<Io>,
) {
    let mut raw = vec![0u8; 64 * 1024];
    let mut buf = BytesMut::new();
    loop {
        let n = match stream.read(&mut raw) {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Ok(0) | Err(_) => {
                let _ = tx.send(Io::Closed(conn));
                return;
            }
            Ok(n) => n,
        };
        let mut plain = Vec::new();
        let mut closed = false;
        {
            let mut session = session.lock().unwrap_or_else(|e| e.into_inner());
            let mut input = &raw[..n];
            while !input.is_empty() {
                if session.read_tls(&mut input).is_err() {
                    // Skipping the bytes it refused would desynchronise the
                    // stream: the connection ends instead.
                    let _ = stream.shutdown(Shutdown::Both);
                    let _ = tx.send(Io::Closed(conn));
                    return;
                }
                match session.process_new_packets() {
                    Err(e) => {
                        let error = tls::classify(&e, host);
                        let _ = session.write_tls(&mut stream);
                        let _ = stream.shutdown(Shutdown::Both);
                        let _ = tx.send(Io::TlsFailed(conn, error));
                        return;
                    }
                    Ok(state) => closed |= state.peer_has_closed(),
                }
                loop {
                    if buf.len() < READ_MIN {
                        buf.resize(READ_CHUNK, 0);
                    }
                    match session.reader().read(&mut buf) {
                        Ok(0) => {
                            closed = true;
                            break;
                        }
                        Ok(n) => plain.push(buf.split_to(n).freeze()),
                        Err(_) => break,
                    }
                }
            }
            if session.wants_write() {
                let _ = nudge.send(Vec::new());
            }
        }
        for data in plain {
            if tx.send(Io::Data(conn, data)).is_err() {
                return;
            }
        }
        if closed {
            let _ = tx.send(Io::Closed(conn));
            return;
        }
    }
}

/// [`write_loop`] under TLS: encrypts under the session's lock, writes the socket
/// without it (so a slow broker never stops the reader).
fn tls_write_loop(
    conn: ConnId,
    mut stream: &TcpStream,
    session: &Mutex<ClientConnection>,
    queue: &Receiver<Vec<u8>>,
    tx: &Sender<Io>,
) {
    let mut out = Vec::new();
    for data in queue {
        {
            let mut session = session.lock().unwrap_or_else(|e| e.into_inner());
            if !data.is_empty() && session.writer().write_all(&data).is_err() {
                break;
            }
            while session.wants_write() {
                if session.write_tls(&mut out).is_err() {
                    break;
                }
            }
        }
        if !out.is_empty() && stream.write_all(&out).is_err() {
            break;
        }
        out.clear();
    }
    let _ = stream.shutdown(Shutdown::Both);
    let _ = tx.send(Io::Closed(conn));
}

/// Resolves `host` and connects to the first address that answers.
fn connect(host: &str, port: u16, timeout: Duration) -> Option<TcpStream> {
    let addrs = (host, port).to_socket_addrs().ok()?;
    for addr in addrs {
        if let Ok(s) = TcpStream::connect_timeout(&addr, timeout) {
            let _ = s.set_nodelay(true);
            return Some(s);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        (client, listener.accept().unwrap().0)
    }

    #[test]
    fn unusable_tls_settings_fail_at_once_without_connecting() {
        // A listener that must never see a connection: the settings cannot work.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let config = Config::from_pairs([
            ("bootstrap.servers", addr.as_str()),
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "PLAIN"),
            ("sasl.username", "u"),
            ("sasl.password", "secret"),
            ("ssl.keystore.location", "/etc/kafka/client.p12"),
        ])
        .unwrap();
        let mut consumer = Consumer::with_seed(config, 1);
        consumer
            .core_mut()
            .assign([TopicPartition::new("t", 0)])
            .unwrap();
        assert!(consumer.poll(Duration::from_millis(300)).is_empty());
        match consumer.next_event() {
            Some(Event::Fatal(ConsumerError::Local(kasio_core::consumer::LocalError::Tls(e)))) => {
                assert_eq!(e.kind, kasio_core::conn::TlsErrorKind::Config);
                assert!(e.message.contains("convert it to PEM"), "{e}");
            }
            other => panic!("{other:?}"),
        }
        assert!(listener.accept().is_err(), "a connection was opened");
    }

    #[test]
    fn reads_arrive_whole_and_in_order_across_buffer_refills() {
        let (client, mut server) = pair();
        let sent: Vec<u8> = (0..3 * READ_CHUNK + 12_345)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let (tx, rx) = mpsc::channel();
        let reader = thread::spawn(move || read_loop(ConnId(1), &client, &tx));
        for piece in sent.chunks(10_000) {
            server.write_all(piece).unwrap();
        }
        drop(server);
        // Hold every chunk, as records would, so refills cannot reuse the buffer.
        let mut chunks = Vec::new();
        loop {
            match rx.recv().unwrap() {
                Io::Data(ConnId(1), data) => chunks.push(data),
                Io::Closed(ConnId(1)) => break,
                _ => panic!("unexpected message"),
            }
        }
        reader.join().unwrap();
        assert_eq!(chunks.concat(), sent);
        assert!(rx.try_recv().is_err(), "nothing after Closed");
    }

    #[test]
    fn a_failed_write_is_reported_once_and_ends_the_writer() {
        let (client, server) = pair();
        let (tx, rx) = mpsc::channel();
        let (queue_tx, queue) = mpsc::channel();
        let writer = thread::spawn(move || write_loop(ConnId(2), &client, &queue, &tx));
        drop(server);
        // The first writes may still be accepted; the writer must fail and stop
        // taking more soon after.
        let mut accepted = 0;
        while queue_tx.send(vec![0u8; 64 * 1024]).is_ok() {
            accepted += 1;
            assert!(accepted < 1000, "the writer never failed");
            thread::sleep(Duration::from_millis(1));
        }
        writer.join().unwrap();
        assert!(matches!(rx.try_recv(), Ok(Io::Closed(ConnId(2)))));
        assert!(rx.try_recv().is_err(), "reported once");
    }
}
