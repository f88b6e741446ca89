//! kasio-std: a minimal blocking driver for `kasio-core`'s consumer.
//!
//! It owns what the core must not: sockets (std::net, one reader thread per broker
//! connection), DNS resolution and the clock. Everything about Kafka stays in the
//! core; this crate only moves bytes and time.
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
//! Not built yet: TLS and SASL (the full drivers come later).

use std::collections::{BTreeMap, VecDeque};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant as StdInstant};

use kasio_core::config::Config;
use kasio_core::conn::ConnId;
use kasio_core::consumer::{ConnCommand, Consumer as Core, ConsumerRecords, Event};
use kasio_core::time::Instant;

/// Bytes read from a socket in one go.
const READ_CHUNK: usize = 256 * 1024;

enum Io {
    Connected(ConnId, TcpStream),
    Data(ConnId, Vec<u8>),
    Closed(ConnId),
}

/// A blocking Kafka consumer: `kasio-core`'s state machine over std sockets.
pub struct Consumer {
    core: Core,
    epoch: StdInstant,
    tx: Sender<Io>,
    rx: Receiver<Io>,
    writers: BTreeMap<ConnId, TcpStream>,
    events: VecDeque<Event>,
    out: Vec<u8>,
    setup_timeout: Duration,
}

impl Consumer {
    /// A consumer with a seed from the OS's hash randomness.
    pub fn new(config: Config) -> Self {
        use std::hash::{BuildHasher, RandomState};
        let seed = RandomState::new().hash_one(std::process::id());
        Self::with_seed(config, seed)
    }

    /// A consumer whose core is seeded with `seed`.
    pub fn with_seed(config: Config, seed: u64) -> Self {
        let setup_timeout = config.socket_connection_setup_timeout.into();
        let (tx, rx) = mpsc::channel();
        Self {
            core: Core::new(config, Instant::ZERO, seed),
            epoch: StdInstant::now(),
            tx,
            rx,
            writers: BTreeMap::new(),
            events: VecDeque::new(),
            out: Vec::new(),
            setup_timeout,
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

    /// Runs I/O until records are buffered or `timeout` passes; returns up to
    /// `max.poll.records` of them (possibly none).
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

    /// Application events (errors, resets, EOF, query answers), in order.
    pub fn next_event(&mut self) -> Option<Event> {
        self.pump();
        self.events.pop_front()
    }

    /// Closes the consumer (fetch sessions closed on the brokers), waiting at most
    /// `timeout`.
    pub fn close(mut self, timeout: Duration) {
        self.core.close();
        self.run_until(timeout, |c| c.is_closed());
        for (_, w) in std::mem::take(&mut self.writers) {
            let _ = w.shutdown(Shutdown::Both);
        }
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
                        if let Some(w) = self.writers.remove(&conn) {
                            let _ = w.shutdown(Shutdown::Both);
                        }
                    }
                    // Commands this driver does not know yet (a newer core).
                    _ => {}
                }
            }
            while let Some(event) = self.core.poll_event() {
                progressed = true;
                self.events.push_back(event);
            }
            let now = self.now();
            self.out.clear();
            while let Some(t) = self.core.poll_transmit(now, &mut self.out) {
                progressed = true;
                let ok = self
                    .writers
                    .get_mut(&t.conn)
                    .is_some_and(|w| w.write_all(&self.out).is_ok());
                self.out.clear();
                if !ok {
                    self.writers.remove(&t.conn);
                    self.core.handle_disconnected(self.now(), t.conn);
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
        let now = self.now();
        match io {
            Io::Connected(conn, writer) => {
                self.writers.insert(conn, writer);
                self.core.handle_connected(now, conn);
            }
            Io::Data(conn, data) => self.core.handle_input(now, conn, &data),
            Io::Closed(conn) => {
                self.writers.remove(&conn);
                self.core.handle_disconnected(now, conn);
            }
        }
    }

    fn spawn_connection(&self, conn: ConnId, host: String, port: u16) {
        let tx = self.tx.clone();
        let timeout = self.setup_timeout;
        thread::spawn(move || {
            let Some(mut stream) = connect(&host, port, timeout) else {
                let _ = tx.send(Io::Closed(conn));
                return;
            };
            let Ok(writer) = stream.try_clone() else {
                let _ = tx.send(Io::Closed(conn));
                return;
            };
            if tx.send(Io::Connected(conn, writer)).is_err() {
                return;
            }
            let mut buf = vec![0u8; READ_CHUNK];
            loop {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => {
                        let _ = tx.send(Io::Closed(conn));
                        return;
                    }
                    Ok(n) => {
                        if tx.send(Io::Data(conn, buf[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }
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
