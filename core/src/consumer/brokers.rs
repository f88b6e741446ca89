//! The brokers the consumer knows and its one connection to each: when to connect,
//! reconnect backoff, and routing bytes from the driver to the right connection.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;

use crate::backoff::Backoff;
use crate::config::Config;
use crate::conn::{ConnError, ConnId, ConnSettings, Connection};
use crate::metadata::{BrokerId, Metadata};
use crate::protocol::ApiKey;
use crate::rng::Rng;
use crate::time::{Duration, Instant};

use super::event::Event;
use super::purpose::Purpose;

#[derive(Debug)]
struct Node {
    host: String,
    port: u16,
    conn: Option<ConnId>,
    backoff: Backoff,
}

#[derive(Debug)]
pub(crate) struct Brokers {
    nodes: BTreeMap<BrokerId, Node>,
    conns: BTreeMap<ConnId, (BrokerId, Connection<Purpose>)>,
    next_conn: u64,
    max_in_flight: usize,
    settings: ConnSettings,
    setup_timeout: Duration,
    reconnect_backoff: (Duration, Duration),
}

impl Brokers {
    pub fn new(config: &Config) -> Self {
        let reconnect_backoff = (config.reconnect_backoff, config.reconnect_backoff_max);
        let nodes = config
            .bootstrap_servers
            .iter()
            .enumerate()
            .map(|(i, addr)| {
                let node = Node {
                    host: addr.host.clone(),
                    port: addr.port,
                    conn: None,
                    backoff: Backoff::new(reconnect_backoff.0, reconnect_backoff.1),
                };
                (BrokerId(-1 - i as i32), node)
            })
            .collect();
        Self {
            nodes,
            conns: BTreeMap::new(),
            next_conn: 1,
            max_in_flight: config.max_in_flight_requests_per_connection.max(1) as usize,
            settings: ConnSettings {
                client_id: Some(config.client_id.clone()),
                max_frame: config.receive_message_max_bytes as usize,
                request_timeout: config.request_timeout,
                versions: super::consumer_versions,
            },
            setup_timeout: config.socket_connection_setup_timeout,
            reconnect_backoff,
        }
    }

    /// Learns brokers from metadata. Bootstrap placeholders stay, as fallbacks for
    /// when every known broker is unreachable.
    pub fn update(&mut self, metadata: &Metadata) {
        for b in metadata.brokers() {
            let backoff = Backoff::new(self.reconnect_backoff.0, self.reconnect_backoff.1);
            let node = self.nodes.entry(b.id).or_insert_with(|| Node {
                host: b.host.clone(),
                port: b.port,
                conn: None,
                backoff,
            });
            // A moved broker keeps its connection until that fails; the next one goes
            // to the new address.
            node.host.clone_from(&b.host);
            node.port = b.port;
        }
    }

    /// The connection to `broker` if it can take a request now: negotiated, and
    /// fewer than `max.in.flight.requests.per.connection` requests outstanding.
    pub fn ready(&mut self, broker: BrokerId) -> Option<(ConnId, &mut Connection<Purpose>)> {
        let id = self.nodes.get(&broker)?.conn?;
        let (_, conn) = self.conns.get_mut(&id)?;
        (conn.is_ready() && conn.in_flight() < self.max_in_flight).then_some((id, conn))
    }

    /// The connection to `broker`, in whatever state.
    pub fn conn_of(&self, broker: BrokerId) -> Option<ConnId> {
        self.nodes.get(&broker)?.conn
    }

    /// The connection `id`, ready or not.
    pub fn conn_mut(&mut self, id: ConnId) -> Option<(BrokerId, &mut Connection<Purpose>)> {
        self.conns.get_mut(&id).map(|(b, c)| (*b, c))
    }

    /// Whether the broker has a connection (in any state).
    pub fn is_connected_or_connecting(&self, broker: BrokerId) -> bool {
        self.nodes.get(&broker).is_some_and(|n| n.conn.is_some())
    }

    /// Starts a connection to `broker` unless one exists or it is backing off.
    pub fn connect(&mut self, broker: BrokerId, now: Instant, events: &mut VecDeque<Event>) {
        let Some(node) = self.nodes.get_mut(&broker) else {
            return;
        };
        if node.conn.is_some() || !node.backoff.ready(now) {
            return;
        }
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        node.conn = Some(id);
        let conn = Connection::new(id, &self.settings, now + self.setup_timeout);
        self.conns.insert(id, (broker, conn));
        events.push_back(Event::Connect {
            conn: id,
            broker,
            host: node.host.clone(),
            port: node.port,
        });
    }

    /// Closes connection `id`: returns its broker and the requests that will never
    /// be answered. With `tell_driver`, queues a Disconnect event (the driver did not
    /// report this close itself).
    pub fn close(
        &mut self,
        id: ConnId,
        now: Instant,
        rng: &mut Rng,
        failed: bool,
        events: &mut VecDeque<Event>,
        tell_driver: bool,
    ) -> Option<(BrokerId, Vec<(ApiKey, Purpose)>)> {
        let (broker, conn) = self.conns.remove(&id)?;
        if let Some(node) = self.nodes.get_mut(&broker) {
            if node.conn == Some(id) {
                node.conn = None;
            }
            if failed {
                node.backoff.fail(now, rng);
            }
        }
        if tell_driver {
            events.push_back(Event::Disconnect { conn: id });
        }
        Some((broker, conn.close().collect()))
    }

    /// A connection became usable: reset its broker's backoff.
    pub fn on_ready(&mut self, broker: BrokerId) {
        if let Some(node) = self.nodes.get_mut(&broker) {
            node.backoff.succeed();
        }
    }

    /// A broker to send a cluster-wide request (Metadata) to: a ready connection
    /// with the fewest requests in flight, real brokers before bootstrap
    /// placeholders.
    pub fn least_loaded(&self) -> Option<BrokerId> {
        self.conns
            .values()
            .filter(|(_, c)| c.is_ready())
            .min_by_key(|(b, c)| (c.in_flight(), b.is_bootstrap()))
            .map(|(b, _)| *b)
    }

    /// A broker to connect to when none is ready: real brokers are preferred to
    /// bootstrap placeholders once known; ties are broken at random so that
    /// consumers spread out. Draws randomness only when there is a choice, so that
    /// asking without connecting (a spurious wake-up) does not change later choices.
    pub fn pick_to_connect(&self, now: Instant, rng: &mut Rng) -> Option<BrokerId> {
        let candidates: Vec<BrokerId> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.conn.is_none() && n.backoff.ready(now))
            .map(|(b, _)| *b)
            .collect();
        let real: Vec<BrokerId> = candidates
            .iter()
            .copied()
            .filter(|b| !b.is_bootstrap())
            .collect();
        let pool = if real.is_empty() { &candidates } else { &real };
        (!pool.is_empty()).then(|| pool[rng.range_inclusive(0, pool.len() as u64 - 1) as usize])
    }

    /// Whether any connection is being set up (so a new one need not be started yet).
    pub fn any_pending(&self) -> bool {
        self.conns.values().any(|(_, c)| !c.is_ready())
    }

    /// The earliest instant something here needs attention: a connection deadline,
    /// or a backoff ending after `seen` (the last time the owner acted on them) for a
    /// broker in `wanted`.
    pub fn next_deadline(
        &self,
        wanted: impl Fn(BrokerId) -> bool,
        seen: Instant,
    ) -> Option<Instant> {
        let conns = self.conns.values().filter_map(|(_, c)| c.next_deadline());
        let backoffs = self
            .nodes
            .iter()
            .filter(|(b, n)| n.conn.is_none() && wanted(**b))
            .filter_map(|(_, n)| n.backoff.until())
            .filter(|&t| t > seen);
        conns.chain(backoffs).min()
    }

    /// Connections that timed out at `now`.
    pub fn timed_out(&self, now: Instant) -> Vec<(ConnId, ConnError)> {
        self.conns
            .iter()
            .filter_map(|(id, (_, c))| c.check_timeouts(now).err().map(|e| (*id, e)))
            .collect()
    }

    /// All connection ids.
    pub fn conn_ids(&self) -> Vec<ConnId> {
        self.conns.keys().copied().collect()
    }

    /// Connections with bytes to write, in id order.
    pub fn next_transmit(&mut self) -> Option<(ConnId, bytes::Bytes)> {
        self.conns
            .iter_mut()
            .find_map(|(id, (_, c))| c.poll_transmit().map(|b| (*id, b)))
    }
}
