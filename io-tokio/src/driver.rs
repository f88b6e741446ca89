//! What the application and the driver task share, the driver task itself, and
//! the connection tasks.
//!
//! The core lives in [`State`] behind one `std::sync::Mutex`. Two parties touch it:
//! the driver task (socket input, timers) and the application's calls. Both hold
//! the lock for a synchronous section only — feed the core, drain it — and never
//! across an `.await`; connection tasks never touch it (they talk to the driver
//! over a channel). Wake-ups go through two [`Notify`]s: `app` for whoever waits
//! on the application side, `driver` when an application call moved the core's
//! next timer earlier than the one the driver sleeps on.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kasio_core::conn::ConnId;
use kasio_core::conn::TlsError;
use kasio_core::consumer::{ConnCommand, Consumer as Core, Event};
use kasio_core::group::RebalanceToken;
use kasio_core::time::Instant;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::AbortHandle;
use tokio::time::Instant as TokioInstant;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::TlsConnector;
use tracing::{debug, error, info, info_span, trace, warn, Instrument};

use crate::metrics::Counters;

/// The reader's buffer: reads go into its spare capacity, each read is split off
/// and handed over whole, and the capacity is topped up to this when it runs short.
pub(crate) const READ_CHUNK: usize = 256 * 1024;
/// Top the buffer up when less than this is left to read into.
const READ_MIN: usize = READ_CHUNK / 4;
/// Socket inputs the driver feeds the core before draining it once.
const IO_BATCH: usize = 64;
/// Messages from connection tasks that may wait for the driver; a reader that
/// finds the queue full waits (and stops reading its socket) until it drains.
const IO_QUEUE: usize = 256;

/// What connection tasks tell the driver.
pub(crate) enum Io {
    Connected {
        conn: ConnId,
        writer: mpsc::UnboundedSender<Vec<u8>>,
        writer_task: AbortHandle,
    },
    Data(ConnId, Bytes),
    /// From the reader (EOF or error) or the writer (error); possibly twice for
    /// one connection.
    Closed(ConnId),
    /// The connection could not be made: `host:port (why)`.
    ConnectFailed(ConnId, String),
    /// The TLS handshake failed, or the broker ended TLS with an alert.
    TlsFailed(ConnId, TlsError),
}

/// The driver's side of a connection the core asked for.
struct Link {
    /// The task that connects and then reads.
    reader: AbortHandle,
    /// Once connected: the writer task's queue and the task.
    writer: Option<(mpsc::UnboundedSender<Vec<u8>>, AbortHandle)>,
}

impl Link {
    /// Ends both tasks; dropping their socket halves closes the socket. Pending
    /// writes are discarded (as kasio-std's `shutdown(Both)`): the core only asks
    /// to disconnect once it no longer waits for anything on the connection.
    fn abort(self) {
        self.reader.abort();
        if let Some((_, writer)) = self.writer {
            writer.abort();
        }
    }
}

/// Handed over by a `Drop` impl (see [`Shared::defer`]).
pub(crate) enum Deferred {
    /// A rebalance guard was dropped or acknowledged.
    Ack(RebalanceToken),
    /// A [`Pending`](crate::Pending) was dropped with its answer in it: the
    /// answer goes to the application as an item, as if nobody had awaited it.
    Answer(Event),
}

/// An answer someone awaits, by the id the core gave its request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Answer {
    Commit(u64),
    Query(u64),
}

/// A future waiting for the event that answers its request.
pub(crate) struct Waiter {
    pub(crate) tx: oneshot::Sender<Event>,
}

/// Everything behind the lock.
pub(crate) struct State {
    pub(crate) core: Core,
    /// Events for the application, in the order the core emitted them (answers
    /// that a future awaits are routed to it instead).
    pub(crate) events: VecDeque<Event>,
    links: BTreeMap<ConnId, Link>,
    pub(crate) waiters: BTreeMap<Answer, Waiter>,
    io: mpsc::Sender<Io>,
    runtime: Handle,
    setup_timeout: Duration,
    /// Under `SSL` / `SASL_SSL`.
    tls: Option<Arc<ClientConfig>>,
    /// The core instant the driver's timer is set for (`None`: none set).
    armed: Option<Instant>,
    /// The core emitted `Closed`.
    pub(crate) closed: bool,
    /// Shut down (dropped, closed, or the driver failed): no more I/O.
    pub(crate) stopped: bool,
    /// The driver task ended by a panic (a bug).
    pub(crate) failed: bool,
    pub(crate) counters: Counters,
}

/// Shared by the consumer, the driver task, rebalance guards and streams.
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Wakes the application's waiters (`recv`, `close`, `wait_for`).
    pub(crate) app: Notify,
    /// Wakes the driver task: re-arm the timer, or stop.
    pub(crate) driver: Notify,
    /// What `Drop` impls hand over (rebalance acknowledgements, answers a dropped
    /// future received): whoever takes the lock next applies it, so that dropping
    /// a guard or a future never waits for, nor deadlocks on, the lock (even when
    /// it happens under the lock, inside `with_core`).
    deferred: Mutex<Vec<Deferred>>,
    /// Whether `deferred` may hold anything: spares every call its lock.
    has_deferred: AtomicBool,
    epoch: TokioInstant,
    /// Counted outside the lock, on the application's side of it.
    pub(crate) records: AtomicU64,
    pub(crate) record_bytes: AtomicU64,
}

impl Shared {
    pub(crate) fn new(
        core: Core,
        setup_timeout: Duration,
        tls: Option<Arc<ClientConfig>>,
    ) -> (Arc<Self>, mpsc::Receiver<Io>) {
        let (io, io_rx) = mpsc::channel(IO_QUEUE);
        let state = State {
            core,
            events: VecDeque::new(),
            links: BTreeMap::new(),
            waiters: BTreeMap::new(),
            io,
            runtime: Handle::current(),
            setup_timeout,
            tls,
            armed: None,
            closed: false,
            stopped: false,
            failed: false,
            counters: Counters::default(),
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            app: Notify::new(),
            driver: Notify::new(),
            deferred: Mutex::new(Vec::new()),
            has_deferred: AtomicBool::new(false),
            epoch: TokioInstant::now(),
            records: AtomicU64::new(0),
            record_bytes: AtomicU64::new(0),
        });
        (shared, io_rx)
    }

    /// The core's clock: time since the consumer was made.
    pub(crate) fn now(&self) -> Instant {
        Instant::from_micros(self.epoch.elapsed().as_micros() as u64)
    }

    fn at(&self, t: Instant) -> TokioInstant {
        self.epoch + Duration::from_micros(t.as_micros())
    }

    /// Takes the lock. A panic under it (a bug in the core) poisons it; the state
    /// is still used so that shutting down and dropping never panic in turn.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies what [`defer`](Self::defer) handed over; the caller drains the
    /// core afterwards. Returns whether an answer went to the application.
    fn apply_deferred(&self, st: &mut State) -> bool {
        if !self.has_deferred.swap(false, Ordering::AcqRel) {
            return false;
        }
        let deferred =
            std::mem::take(&mut *self.deferred.lock().unwrap_or_else(|e| e.into_inner()));
        let mut answers = false;
        for d in deferred {
            match d {
                // A stale token: the rebalance moved on without it.
                Deferred::Ack(token) => {
                    let _ = st.core.ack_rebalance(token);
                }
                Deferred::Answer(event) => {
                    st.events.push_back(event);
                    answers = true;
                }
            }
        }
        answers
    }

    /// Hands `d` over to whoever takes the lock next (the driver, woken for it,
    /// or an application call), without taking it.
    pub(crate) fn defer(&self, d: Deferred) {
        self.deferred
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(d);
        self.has_deferred.store(true, Ordering::Release);
        self.driver.notify_one();
    }

    /// An application call: runs `f` on the state, drains the core, and wakes the
    /// driver if the core now needs an earlier timer. `wake_app` also wakes other
    /// application waiters (a call that may have made records or items available).
    pub(crate) fn call<R>(&self, wake_app: bool, f: impl FnOnce(&mut State, Instant) -> R) -> R {
        let (r, wake, rearm) = {
            let mut st = self.lock();
            let now = self.now();
            let answers = self.apply_deferred(&mut st);
            let r = f(&mut st, now);
            let wake = st.pump(now) || wake_app || answers;
            let rearm = match (st.core.poll_timeout(), st.armed) {
                (Some(t), Some(armed)) => t < armed,
                (Some(_), None) => true,
                (None, _) => false,
            };
            (r, wake, rearm)
        };
        if wake {
            self.app.notify_waiters();
        }
        if rearm {
            self.driver.notify_one();
        }
        r
    }

    /// Stops all I/O at once: connection tasks aborted, awaited answers dropped
    /// (their futures resolve to `Error::Closed`), the driver told to end.
    pub(crate) fn shut_down(&self) {
        self.lock().shut_down();
        self.app.notify_waiters();
        self.driver.notify_one();
    }
}

impl State {
    fn shut_down(&mut self) {
        self.stopped = true;
        self.closed = true;
        for (_, link) in std::mem::take(&mut self.links) {
            link.abort();
        }
        self.waiters.clear();
    }

    /// Drains the core: connections to open and close, events, bytes to write.
    /// Returns whether the application has something new to look at.
    pub(crate) fn pump(&mut self, now: Instant) -> bool {
        let mut wake = false;
        loop {
            let mut progressed = false;
            while let Some(command) = self.core.poll_conn_command() {
                progressed = true;
                match command {
                    ConnCommand::Connect {
                        conn,
                        broker,
                        role,
                        host,
                        port,
                    } => {
                        if self.stopped {
                            // Shut down: report it failed so the core does not wait.
                            self.core.handle_disconnected(now, conn);
                            continue;
                        }
                        let span = info_span!("kasio.conn", conn = conn.0, broker = broker.0, role = ?role, %host, port);
                        let task = connection(
                            conn,
                            host,
                            port,
                            self.setup_timeout,
                            self.tls.clone(),
                            self.io.clone(),
                        );
                        let reader = self.runtime.spawn(task.instrument(span)).abort_handle();
                        self.links.insert(
                            conn,
                            Link {
                                reader,
                                writer: None,
                            },
                        );
                    }
                    ConnCommand::Disconnect { conn } => {
                        if let Some(link) = self.links.remove(&conn) {
                            debug!(conn = conn.0, "disconnect");
                            link.abort();
                        }
                    }
                    // Commands this driver does not know yet (a newer core).
                    _ => {}
                }
            }
            while let Some(event) = self.core.poll_event() {
                progressed = true;
                wake |= self.route(event, now);
            }
            let mut out = Vec::new();
            while let Some(t) = self.core.poll_transmit(now, &mut out) {
                progressed = true;
                let data = std::mem::take(&mut out);
                // A writer that is gone has failed; its Closed may still be queued.
                if let Some(Link {
                    writer: Some((writer, _)),
                    ..
                }) = self.links.get(&t.conn)
                {
                    self.counters.bytes_sent += data.len() as u64;
                    if writer.send(data).is_err() {
                        self.lost(t.conn, now);
                    }
                }
            }
            if !progressed {
                return wake;
            }
        }
    }

    /// Sends an event to the future awaiting it, or queues it for the application.
    fn route(&mut self, event: Event, now: Instant) -> bool {
        let answer = match &event {
            Event::RecordsReady => return true,
            Event::Closed => {
                debug!("closed");
                self.closed = true;
                // Nothing will answer what is still awaited.
                self.waiters.clear();
                return true;
            }
            Event::Committed {
                id,
                results,
                started,
            } => {
                let failed = results.iter().filter(|(_, r)| r.is_err()).count();
                self.counters.commits += 1;
                // Every commit, auto-commit's too (their start is the core's).
                let latency = now.as_micros().saturating_sub(started.as_micros());
                self.counters.commit_latency(latency);
                if failed > 0 {
                    self.counters.commit_failures += 1;
                    warn!(
                        id = id.0,
                        partitions = results.len(),
                        failed,
                        "commit failed"
                    );
                } else {
                    debug!(id = id.0, partitions = results.len(), "committed");
                }
                Some(Answer::Commit(id.0))
            }
            Event::CommittedOffsets { id, .. }
            | Event::OffsetsForTimes { id, .. }
            | Event::GroupDescribed { id, .. } => Some(Answer::Query(id.0)),
            Event::Assigned { partitions } => {
                self.counters.rebalances += 1;
                self.counters.partitions_assigned += partitions.len() as u64;
                info!(partitions = ?partitions, "assigned");
                None
            }
            Event::Revoked { partitions, .. } => {
                self.counters.partitions_revoked += partitions.len() as u64;
                info!(partitions = ?partitions, "revoked");
                None
            }
            Event::Lost { partitions, .. } => {
                self.counters.partitions_lost += partitions.len() as u64;
                warn!(partitions = ?partitions, "lost");
                None
            }
            Event::Error(e) => {
                self.counters.errors += 1;
                debug!(error = %e, "consumer error");
                None
            }
            Event::Fatal(e) => {
                self.counters.errors += 1;
                error!(error = %e, "fatal consumer error");
                None
            }
            _ => None,
        };
        if let Some(waiter) = answer.and_then(|a| self.waiters.remove(&a)) {
            match waiter.tx.send(event) {
                Ok(()) => return false,
                // The future was dropped: the answer is the application's to see.
                Err(event) => self.events.push_back(event),
            }
        } else {
            self.events.push_back(event);
        }
        true
    }

    /// Feeds one message from a connection task to the core (drain afterwards).
    fn handle(&mut self, io: Io, now: Instant) {
        match io {
            Io::Connected {
                conn,
                writer,
                writer_task,
            } => match self.links.get_mut(&conn) {
                Some(link) if link.writer.is_none() => {
                    link.writer = Some((writer, writer_task));
                    self.counters.connections += 1;
                    self.core.handle_connected(now, conn);
                }
                // The core gave up on it meanwhile (its reader is aborted).
                _ => writer_task.abort(),
            },
            Io::Data(conn, data) => {
                self.counters.bytes_received += data.len() as u64;
                self.core.handle_input_bytes(now, conn, data);
            }
            Io::Closed(conn) => self.lost(conn, now),
            Io::ConnectFailed(conn, why) => {
                if self.links.contains_key(&conn) {
                    self.counters.last_connect_error = Some(why);
                }
                self.lost(conn, now);
            }
            Io::TlsFailed(conn, error) => {
                if let Some(link) = self.links.remove(&conn) {
                    warn!(conn = conn.0, %error, "TLS failed");
                    if link.writer.is_some() {
                        self.counters.disconnects += 1;
                    } else {
                        self.counters.connect_failures += 1;
                    }
                    self.counters.last_connect_error = Some(error.to_string());
                    link.abort();
                    self.core.handle_tls_failure(now, conn, error);
                }
            }
        }
    }

    /// `conn` failed: ends its tasks and tells the core, unless that was done.
    fn lost(&mut self, conn: ConnId, now: Instant) {
        if let Some(link) = self.links.remove(&conn) {
            if link.writer.is_some() {
                self.counters.disconnects += 1;
                debug!(conn = conn.0, "connection lost");
            } else {
                self.counters.connect_failures += 1;
                debug!(conn = conn.0, "connect failed");
            }
            link.abort();
            self.core.handle_disconnected(now, conn);
        }
    }

    pub(crate) fn open_connections(&self) -> usize {
        self.links.values().filter(|l| l.writer.is_some()).count()
    }
}

/// The driver task: feeds the core socket input and timer expiries, drains it,
/// and wakes the application. Ends when the consumer shuts down.
pub(crate) async fn drive(shared: Arc<Shared>, mut io: mpsc::Receiver<Io>) {
    /// Reports a panic in this task (a bug) to the application, which would
    /// otherwise wait forever.
    struct Failure(Arc<Shared>);
    impl Drop for Failure {
        fn drop(&mut self) {
            if std::thread::panicking() {
                error!("the kasio driver task panicked");
                self.0.lock().failed = true;
                self.0.shut_down();
            }
        }
    }
    let _failure = Failure(Arc::clone(&shared));
    let sleep = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(sleep);
    loop {
        let deadline = {
            let mut st = shared.lock();
            if st.stopped {
                return;
            }
            let t = st.core.poll_timeout();
            st.armed = t;
            t
        };
        if let Some(t) = deadline {
            sleep.as_mut().reset(shared.at(t));
        }
        // Timers first: a busy socket must not starve heartbeats.
        tokio::select! {
            biased;
            () = &mut sleep, if deadline.is_some() => {
                let mut st = shared.lock();
                let now = shared.now();
                trace!("timeout");
                st.core.handle_timeout(now);
                st.pump(now);
            }
            // An application call needs an earlier timer, a deferred ack, or stop.
            () = shared.driver.notified() => {
                let mut st = shared.lock();
                let now = shared.now();
                shared.apply_deferred(&mut st);
                st.pump(now);
            }
            message = io.recv() => {
                let Some(message) = message else { return };
                let mut st = shared.lock();
                let now = shared.now();
                st.handle(message, now);
                // Take whatever else is already there before draining the core.
                for _ in 0..IO_BATCH {
                    match io.try_recv() {
                        Ok(message) => st.handle(message, now),
                        Err(_) => break,
                    }
                }
                st.pump(now);
            }
        }
        // Whatever changed (records buffered, an event, metadata for `wait_for`),
        // the application's waiters look again; a waiter that finds nothing new
        // costs one lock and one empty `poll_records`.
        shared.app.notify_waiters();
    }
}

/// Connects (with the TLS handshake under `SSL` / `SASL_SSL`, both within
/// `socket.connection.setup.timeout.ms`), starts the writer, then reads until the
/// connection ends.
async fn connection(
    conn: ConnId,
    host: String,
    port: u16,
    setup_timeout: Duration,
    tls: Option<Arc<ClientConfig>>,
    io: mpsc::Sender<Io>,
) {
    let started = TokioInstant::now();
    let stream = match connect(&host, port, setup_timeout).await {
        Ok(stream) => stream,
        Err(why) => {
            let _ = io.send(Io::ConnectFailed(conn, why)).await;
            return;
        }
    };
    debug!("connected");
    let _ = stream.set_nodelay(true);
    let Some(tls) = tls else {
        let (read, write) = stream.into_split();
        return run(conn, &host, read, write, io).await;
    };
    let name = match kasio_std::tls::server_name(&host) {
        Ok(name) => name,
        Err(e) => {
            let _ = io.send(Io::TlsFailed(conn, e)).await;
            return;
        }
    };
    let left = setup_timeout.saturating_sub(started.elapsed());
    let handshake = TlsConnector::from(tls).connect(name, stream);
    match tokio::time::timeout(left, handshake).await {
        Ok(Ok(stream)) => {
            debug!("TLS established");
            let (read, write) = tokio::io::split(stream);
            run(conn, &host, read, write, io).await;
        }
        Ok(Err(e)) if kasio_std::tls::is_tls_io_error(&e) => {
            let error = kasio_std::tls::classify_io(&e, &host);
            warn!(%error, "TLS handshake failed");
            let _ = io.send(Io::TlsFailed(conn, error)).await;
        }
        Ok(Err(e)) => {
            let why = format!("{host}:{port} (TLS handshake: {})", io_reason(&e));
            let _ = io.send(Io::ConnectFailed(conn, why)).await;
        }
        Err(_) => {
            let why = format!(
                "{host}:{port} (TLS handshake not done within socket.connection.setup.timeout.ms)"
            );
            let _ = io.send(Io::ConnectFailed(conn, why)).await;
        }
    }
}

/// Starts the writer, then reads until the connection ends.
async fn run<R, W>(conn: ConnId, host: &str, read: R, write: W, io: mpsc::Sender<Io>)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (writer, queue) = mpsc::unbounded_channel();
    let writer_task =
        tokio::spawn(write_loop(conn, write, queue, io.clone()).in_current_span()).abort_handle();
    let connected = Io::Connected {
        conn,
        writer,
        writer_task,
    };
    if io.send(connected).await.is_ok() {
        read_loop(conn, host, read, &io).await;
    }
}

/// Resolves `host` (through tokio) and connects to the first address that
/// answers, each attempt bounded by `socket.connection.setup.timeout.ms`. The
/// error says what was tried and why it failed (`host:port (connection refused)`).
async fn connect(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, String> {
    let addrs = match tokio::time::timeout(timeout, tokio::net::lookup_host((host, port))).await {
        Ok(Ok(addrs)) => addrs,
        Ok(Err(e)) => {
            warn!(error = %e, "cannot resolve");
            return Err(format!("{host}:{port} (cannot resolve: {e})"));
        }
        Err(_) => {
            warn!("name resolution timed out");
            return Err(format!("{host}:{port} (name resolution timed out)"));
        }
    };
    let mut why = String::from("no address");
    for addr in addrs {
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) => {
                debug!(%addr, error = %e, "cannot connect");
                why = io_reason(&e);
            }
            Err(_) => {
                debug!(%addr, "connection setup timed out");
                why = "not connected within socket.connection.setup.timeout.ms".into();
            }
        }
    }
    Err(format!("{host}:{port} ({why})"))
}

/// An I/O error as a short phrase: `connection refused`, not `Connection refused
/// (os error 111)`.
fn io_reason(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => "connection refused".into(),
        ConnectionReset => "connection reset".into(),
        TimedOut => "timed out".into(),
        PermissionDenied => "permission denied".into(),
        AddrNotAvailable => "address not available".into(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_lowercase(),
                None => s,
            }
        }
    }
}

/// Reads until the connection ends, handing each read over whole, without
/// copying: the records the core decodes from it are slices of these buffers.
async fn read_loop(
    conn: ConnId,
    host: &str,
    mut read: impl AsyncRead + Unpin,
    io: &mpsc::Sender<Io>,
) {
    let mut buf = BytesMut::new();
    loop {
        if buf.capacity() - buf.len() < READ_MIN {
            // Reuses the allocation if every earlier read handed out of it has
            // been dropped, else makes a fresh one; never zeroes.
            buf.reserve(READ_CHUNK);
        }
        match read.read_buf(&mut buf).await {
            // The broker ended TLS with an alert (e.g. certificate_required: TLS
            // 1.3 checks the client's certificate after the client's handshake).
            Err(e) if kasio_std::tls::is_tls_io_error(&e) => {
                let error = kasio_std::tls::classify_io(&e, host);
                warn!(%error, "TLS failed");
                let _ = io.send(Io::TlsFailed(conn, error)).await;
                return;
            }
            Ok(0) | Err(_) => {
                debug!("connection closed by the peer");
                let _ = io.send(Io::Closed(conn)).await;
                return;
            }
            Ok(_) => {
                if io.send(Io::Data(conn, buf.split().freeze())).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Writes what the driver queues until it drops the queue or a write fails.
async fn write_loop(
    conn: ConnId,
    mut write: impl AsyncWrite + Unpin,
    mut queue: mpsc::UnboundedReceiver<Vec<u8>>,
    io: mpsc::Sender<Io>,
) {
    while let Some(data) = queue.recv().await {
        // Flushing matters under TLS only: what rustls holds goes out now.
        let written = match write.write_all(&data).await {
            Ok(()) => write.flush().await,
            Err(e) => Err(e),
        };
        if let Err(e) = written {
            debug!(error = %e, "write failed");
            let _ = io.send(Io::Closed(conn)).await;
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        (client, listener.accept().await.unwrap().0)
    }

    #[tokio::test]
    async fn reads_arrive_whole_and_in_order_across_buffer_refills() {
        let (client, mut server) = pair().await;
        let sent: Vec<u8> = (0..3 * READ_CHUNK + 12_345)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let (tx, mut rx) = mpsc::channel(IO_QUEUE);
        let (read, _write) = client.into_split();
        let reader = tokio::spawn(async move { read_loop(ConnId(1), "test", read, &tx).await });
        let to_send = sent.clone();
        tokio::spawn(async move {
            for piece in to_send.chunks(10_000) {
                server.write_all(piece).await.unwrap();
            }
        });
        // Hold every chunk, as records would, so refills cannot reuse the buffer.
        let mut chunks = Vec::new();
        loop {
            match rx.recv().await.unwrap() {
                Io::Data(ConnId(1), data) => chunks.push(data),
                Io::Closed(ConnId(1)) => break,
                _ => panic!("unexpected message"),
            }
        }
        reader.await.unwrap();
        assert_eq!(chunks.concat(), sent);
        assert!(rx.try_recv().is_err(), "nothing after Closed");
    }

    #[tokio::test]
    async fn a_failed_write_is_reported_and_ends_the_writer() {
        let (client, server) = pair().await;
        let (tx, mut rx) = mpsc::channel(IO_QUEUE);
        let (queue_tx, queue) = mpsc::unbounded_channel();
        let (_read, write) = client.into_split();
        let writer = tokio::spawn(write_loop(ConnId(2), write, queue, tx));
        drop(server);
        // The first writes may still be accepted; the writer must fail and stop
        // taking more soon after.
        let mut accepted = 0;
        while queue_tx.send(vec![0u8; 64 * 1024]).is_ok() {
            accepted += 1;
            assert!(accepted < 1000, "the writer never failed");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        writer.await.unwrap();
        assert!(matches!(rx.try_recv(), Ok(Io::Closed(ConnId(2)))));
    }
}
