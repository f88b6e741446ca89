//! The simulated cluster behind real TCP listeners on 127.0.0.1, one port per
//! broker, so any Kafka client can use it. The cluster is the same sans-IO state
//! machine; here a thread per connection feeds it bytes, a timer thread drives its
//! timers (parked fetches, group sessions) from the wall clock, and responses are
//! written as soon as they exist. Metadata advertises the real ports.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration as StdDuration, Instant as StdInstant};

use kasio_core::time::Instant;

use kasio_core::records::Compression;

use super::cluster::{Cluster, ClusterSpec};
use super::record::SimRecord;
use super::server::{Output, ServerConn};

struct Shared {
    cluster: Cluster,
    writers: BTreeMap<ServerConn, TcpStream>,
    epoch: StdInstant,
    /// Protocol violations by clients, kept for [`Served::take_violations`].
    violations: Vec<String>,
}

impl Shared {
    fn now(&self) -> Instant {
        Instant::from_micros(self.epoch.elapsed().as_micros() as u64)
    }

    /// Writes what the cluster produced.
    fn flush(&mut self) {
        while let Some(out) = self.cluster.poll_output() {
            match out {
                Output::Send { conn, data, .. } => {
                    let failed = match self.writers.get_mut(&conn) {
                        Some(w) => w.write_all(&data).is_err(),
                        None => false,
                    };
                    if failed {
                        self.drop_conn(conn);
                    }
                }
                Output::Close { conn } => {
                    if let Some(w) = self.writers.remove(&conn) {
                        let _ = w.shutdown(Shutdown::Both);
                    }
                }
            }
        }
        // Nobody reads notes and deviations here; violations are kept for tests.
        self.cluster.take_notes();
        self.cluster.take_deviations();
        let v = self.cluster.take_violations();
        self.violations.extend(v);
    }

    fn drop_conn(&mut self, conn: ServerConn) {
        if let Some(w) = self.writers.remove(&conn) {
            let _ = w.shutdown(Shutdown::Both);
        }
        let now = self.now();
        self.cluster.handle_disconnect(now, conn);
    }
}

/// A simulated cluster served over TCP; stops (listeners closed, connections
/// dropped, threads joined) when dropped.
pub struct Served {
    /// `127.0.0.1:<port>` of every broker, comma-separated.
    pub bootstrap: String,
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Served {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Served")
            .field("bootstrap", &self.bootstrap)
            .finish()
    }
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // A panicking client thread must not take the whole server down with it.
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// Records in the demo cluster's topic.
pub const DEMO_RECORDS: u64 = 60;

/// The cluster the `kasio` CLI and the `consume` examples read when no broker is
/// given: served on 127.0.0.1, three brokers, `topic` with 3 partitions of 20
/// records each, with keys, headers, a null value now and then, each partition in
/// another codec.
pub fn serve_demo(topic: &str) -> io::Result<Served> {
    let served = Served::start(ClusterSpec::new(3).topic(topic, 3, 3))?;
    let codecs = [Compression::None, Compression::Lz4, Compression::Zstd];
    served.with_cluster(|cluster| {
        for (p, codec) in codecs.into_iter().enumerate() {
            let records: Vec<SimRecord> = (0..20)
                .map(|i| {
                    let key = format!("user-{}", i % 5);
                    let value = (i % 7 != 6).then(|| format!("event {i} on partition {p}"));
                    SimRecord::new(
                        1_700_000_000_000 + i,
                        Some(key.as_bytes()),
                        value.as_deref().map(str::as_bytes),
                    )
                    .with_header("source", Some(b"kasio-sim"))
                })
                .collect();
            cluster
                .produce(topic, p as i32, &records, codec)
                .expect("the demo topic exists");
        }
    });
    Ok(served)
}

impl Served {
    /// Builds the cluster `spec` describes and serves it.
    pub fn start(spec: ClusterSpec) -> io::Result<Served> {
        Self::serve(Cluster::new(spec))
    }

    /// Serves an existing cluster (topics created, records produced, APIs
    /// limited, …). Broker addresses are replaced by the real listeners.
    pub fn serve(mut cluster: Cluster) -> io::Result<Served> {
        let mut listeners = Vec::new();
        for id in cluster.broker_ids() {
            let l = TcpListener::bind("127.0.0.1:0")?;
            l.set_nonblocking(true)?;
            let port = l.local_addr()?.port();
            cluster.set_address(id, "127.0.0.1", port);
            listeners.push((id, l));
        }
        let bootstrap = cluster.bootstrap();
        let shared = Arc::new(Mutex::new(Shared {
            cluster,
            writers: BTreeMap::new(),
            epoch: StdInstant::now(),
            violations: Vec::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let next_conn = Arc::new(AtomicU64::new(1));
        let mut threads = Vec::new();
        for (broker, listener) in listeners {
            let (shared, stop, next_conn) = (shared.clone(), stop.clone(), next_conn.clone());
            threads.push(std::thread::spawn(move || {
                accept_loop(broker, listener, shared, stop, next_conn)
            }));
        }
        let (s, st) = (shared.clone(), stop.clone());
        threads.push(std::thread::spawn(move || timer_loop(s, st)));
        Ok(Served {
            bootstrap,
            shared,
            stop,
            threads,
        })
    }

    /// Runs `f` on the cluster (produce, crash a broker, …) and sends whatever it
    /// caused (a parked fetch that now has data, closed connections).
    pub fn with_cluster<R>(&self, f: impl FnOnce(&mut Cluster) -> R) -> R {
        let mut s = lock(&self.shared);
        let r = f(&mut s.cluster);
        s.flush();
        r
    }

    /// Protocol violations clients committed since the last call (requests a
    /// correct client never sends; see [`Cluster::take_violations`]).
    pub fn take_violations(&self) -> Vec<String> {
        std::mem::take(&mut lock(&self.shared).violations)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        {
            let mut s = lock(&self.shared);
            for (_, w) in std::mem::take(&mut s.writers) {
                let _ = w.shutdown(Shutdown::Both);
            }
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn accept_loop(
    broker: i32,
    listener: TcpListener,
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    next_conn: Arc<AtomicU64>,
) {
    let mut readers: Vec<JoinHandle<()>> = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_nodelay(true);
                let conn = ServerConn(next_conn.fetch_add(1, Ordering::SeqCst));
                let Ok(writer) = stream.try_clone() else {
                    continue;
                };
                {
                    let mut s = lock(&shared);
                    let now = s.now();
                    if !s.cluster.handle_connect(now, broker, conn) {
                        // A crashed broker refuses connections.
                        let _ = stream.shutdown(Shutdown::Both);
                        continue;
                    }
                    s.writers.insert(conn, writer);
                }
                let (shared, stop) = (shared.clone(), stop.clone());
                readers.push(std::thread::spawn(move || {
                    read_loop(conn, stream, shared, stop)
                }));
                readers.retain(|r| !r.is_finished());
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(StdDuration::from_millis(2));
            }
            Err(_) => std::thread::sleep(StdDuration::from_millis(2)),
        }
    }
    for r in readers {
        let _ = r.join();
    }
}

fn read_loop(
    conn: ServerConn,
    mut stream: TcpStream,
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
) {
    // A read timeout lets the thread notice the server stopping.
    let _ = stream.set_read_timeout(Some(StdDuration::from_millis(50)));
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let mut s = lock(&shared);
                if !s.writers.contains_key(&conn) {
                    break; // the broker closed it
                }
                let now = s.now();
                s.cluster.handle_input(now, conn, &buf[..n]);
                s.flush();
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(_) => break,
        }
    }
    let mut s = lock(&shared);
    s.drop_conn(conn);
    s.flush();
}

fn timer_loop(shared: Arc<Mutex<Shared>>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::SeqCst) {
        let wait = {
            let mut s = lock(&shared);
            let now = s.now();
            s.cluster.handle_timeout(now);
            s.flush();
            s.cluster
                .poll_timeout()
                .map(|t| StdDuration::from_micros(t.as_micros().saturating_sub(now.as_micros())))
        };
        let wait = wait
            .unwrap_or(StdDuration::from_millis(10))
            .min(StdDuration::from_millis(10));
        std::thread::sleep(wait.max(StdDuration::from_micros(200)));
    }
}
