//! The brokers the consumer knows and its connections to them: at most one per
//! broker and [`ConnRole`], when to connect, reconnect backoff, routing bytes from
//! the driver to the right connection, and the commands that ask the driver to open
//! and close sockets. Under a `SASL_*` protocol every connection authenticates
//! (`sasl::Authenticator`) before it is ready; after a fatal authentication failure
//! no connection is opened until [`Brokers::resume`].

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;

use bytes::Bytes;

use crate::backoff::Backoff;
use crate::config::Config;
use crate::conn::{ConnError, ConnId, ConnSettings, Connection};
use crate::metadata::{BrokerId, Metadata};
use crate::protocol::{NegotiatedVersions, Request};
use crate::rng::Rng;
use crate::sasl::{Authenticator, OAuthBearerToken, SaslConfig};
use crate::time::{Duration, Instant};

use super::event::{ConnCommand, ConnRole};
use super::purpose::Purpose;
use super::timer::{Timer, Timers};

#[derive(Debug)]
struct Node {
    host: String,
    port: u16,
}

/// One (broker, role) connection slot: the live connection, if any, and the
/// backoff before the next attempt.
#[derive(Debug)]
struct Slot {
    conn: Option<ConnId>,
    backoff: Backoff,
}

#[derive(Debug)]
struct Conn {
    broker: BrokerId,
    role: ConnRole,
    conn: Connection<Purpose>,
}

#[derive(Debug)]
pub(crate) struct Brokers {
    nodes: BTreeMap<BrokerId, Node>,
    slots: BTreeMap<(BrokerId, ConnRole), Slot>,
    conns: BTreeMap<ConnId, Conn>,
    commands: VecDeque<ConnCommand>,
    next_conn: u64,
    max_in_flight: usize,
    settings: ConnSettings,
    setup_timeout: Duration,
    reconnect_backoff: (Duration, Duration),
    /// What connections authenticate with, under a `SASL_*` protocol.
    sasl: Option<SaslConfig>,
    /// Seeds each connection's authenticator (SCRAM nonces, re-authentication
    /// jitter): a stream of its own, so that SASL leaves every other random choice
    /// as it is without SASL.
    sasl_rng: Rng,
    /// Authentication failed for good: no connection is opened.
    halted: bool,
}

/// Mixed into the consumer's seed for [`Brokers::sasl_rng`].
const SASL_STREAM: u64 = 0x5341_534c_5f52_4e47;

impl Brokers {
    pub fn new(config: &Config, seed: u64) -> Self {
        let nodes = config
            .bootstrap_servers
            .iter()
            .enumerate()
            .map(|(i, addr)| {
                let node = Node {
                    host: addr.host.clone(),
                    port: addr.port,
                };
                (BrokerId(-1 - i as i32), node)
            })
            .collect();
        Self {
            nodes,
            slots: BTreeMap::new(),
            conns: BTreeMap::new(),
            commands: VecDeque::new(),
            next_conn: 1,
            max_in_flight: config.max_in_flight_requests_per_connection.max(1) as usize,
            settings: ConnSettings {
                client_id: Some(config.client_id.clone()),
                max_frame: config.receive_message_max_bytes as usize,
                request_timeout: config.request_timeout,
                versions: super::consumer_versions,
            },
            setup_timeout: config.socket_connection_setup_timeout,
            reconnect_backoff: (config.reconnect_backoff, config.reconnect_backoff_max),
            sasl: SaslConfig::from_config(config),
            sasl_rng: Rng::new(seed ^ SASL_STREAM),
            halted: false,
        }
    }

    /// Learns brokers from metadata. Bootstrap placeholders stay, as fallbacks for
    /// when every known broker is unreachable.
    pub fn update(&mut self, metadata: &Metadata) {
        for b in metadata.brokers() {
            let node = self.nodes.entry(b.id).or_insert_with(|| Node {
                host: b.host.clone(),
                port: b.port,
            });
            // A moved broker keeps its connections until they fail; the next ones go
            // to the new address.
            node.host.clone_from(&b.host);
            node.port = b.port;
        }
    }

    fn slot(&mut self, broker: BrokerId, role: ConnRole) -> &mut Slot {
        let (initial, max) = self.reconnect_backoff;
        self.slots.entry((broker, role)).or_insert_with(|| Slot {
            conn: None,
            backoff: Backoff::new(initial, max),
        })
    }

    fn live(&self, broker: BrokerId, role: ConnRole) -> Option<(ConnId, &Connection<Purpose>)> {
        let id = self.slots.get(&(broker, role))?.conn?;
        self.conns.get(&id).map(|c| (id, &c.conn))
    }

    /// The negotiated versions of the connection to `broker` in `role`, if it can
    /// take a request now: negotiated, and fewer than
    /// `max.in.flight.requests.per.connection` requests outstanding.
    pub fn ready(&self, broker: BrokerId, role: ConnRole) -> Option<&NegotiatedVersions> {
        let (_, conn) = self.live(broker, role)?;
        (conn.is_ready() && conn.in_flight() < self.max_in_flight).then(|| conn.versions())
    }

    /// Sends `req` to `broker` in `role` if that connection is ready; `purpose`
    /// comes back with the answer. Returns whether it was sent.
    #[allow(clippy::too_many_arguments)]
    pub fn send<R: Request>(
        &mut self,
        broker: BrokerId,
        role: ConnRole,
        req: &R,
        version: i16,
        purpose: Purpose,
        now: Instant,
        timeout: Option<Duration>,
        timers: &mut Timers,
    ) -> bool {
        if self.ready(broker, role).is_none() {
            return false;
        }
        let Some((id, _)) = self.live(broker, role) else {
            return false;
        };
        let conn = &mut self.conns.get_mut(&id).expect("live").conn;
        let sent = match timeout {
            Some(t) => conn.send_with_timeout(req, version, purpose, now, t),
            None => conn.send(req, version, purpose, now),
        };
        match sent {
            Ok(()) => {
                timers.set_opt(Timer::Connection(id), conn.next_deadline());
                true
            }
            Err(e) => {
                kasio_log!(
                    error,
                    "cannot encode {:?} v{}: {:?}",
                    R::API_KEY,
                    version,
                    e
                );
                false
            }
        }
    }

    /// The connection to `broker` in `role`, in whatever state.
    pub fn conn_of(&self, broker: BrokerId, role: ConnRole) -> Option<ConnId> {
        self.slots.get(&(broker, role))?.conn
    }

    /// The connection `id`, ready or not.
    pub fn conn_mut(
        &mut self,
        id: ConnId,
    ) -> Option<(BrokerId, ConnRole, &mut Connection<Purpose>)> {
        self.conns
            .get_mut(&id)
            .map(|c| (c.broker, c.role, &mut c.conn))
    }

    /// Whether `broker` has a connection in `role` (in any state).
    pub fn is_connected_or_connecting(&self, broker: BrokerId, role: ConnRole) -> bool {
        self.conn_of(broker, role).is_some()
    }

    /// Starts a connection to `broker` in `role` unless one exists or it is backing
    /// off.
    pub fn connect(&mut self, broker: BrokerId, role: ConnRole, now: Instant, timers: &mut Timers) {
        if self.halted {
            return;
        }
        let Some(node) = self.nodes.get(&broker) else {
            return;
        };
        let (host, port) = (node.host.clone(), node.port);
        let id = ConnId(self.next_conn);
        let slot = self.slot(broker, role);
        if slot.conn.is_some() || !slot.backoff.ready(now) {
            return;
        }
        slot.conn = Some(id);
        self.next_conn += 1;
        let deadline = now + self.setup_timeout;
        let mut conn = Connection::new(id, &self.settings, deadline);
        if let Some(sasl) = &self.sasl {
            let auth = Authenticator::new(sasl.clone(), self.sasl_rng.next_u64());
            conn = conn.with_sasl(auth, self.setup_timeout);
        }
        self.conns.insert(id, Conn { broker, role, conn });
        timers.set(Timer::Connection(id), deadline);
        self.commands.push_back(ConnCommand::Connect {
            conn: id,
            broker,
            role,
            host,
            port,
        });
    }

    /// Closes connection `id`: returns its broker, role and the requests that will
    /// never be answered. With `failed`, the slot backs off before reconnecting;
    /// with `tell_driver`, the driver is asked to close the socket (it did not
    /// report this close itself).
    #[allow(clippy::too_many_arguments)]
    pub fn close(
        &mut self,
        id: ConnId,
        now: Instant,
        rng: &mut Rng,
        failed: bool,
        tell_driver: bool,
        timers: &mut Timers,
    ) -> Option<(BrokerId, ConnRole, Vec<Purpose>)> {
        let Conn { broker, role, conn } = self.conns.remove(&id)?;
        timers.clear(&Timer::Connection(id));
        timers.clear(&Timer::Reauthenticate(id));
        let slot = self.slot(broker, role);
        if slot.conn == Some(id) {
            slot.conn = None;
        }
        if failed {
            let until = slot.backoff.fail(now, rng);
            timers.set(Timer::Reconnect(broker, role), until);
        }
        if tell_driver {
            self.commands
                .push_back(ConnCommand::Disconnect { conn: id });
        }
        Some((broker, role, conn.close().map(|(_, p)| p).collect()))
    }

    /// A connection became usable: reset its slot's backoff.
    pub fn on_ready(&mut self, broker: BrokerId, role: ConnRole) {
        self.slot(broker, role).backoff.succeed();
    }

    /// Brings connection `id`'s timers in line with its deadlines and its SASL
    /// session's renewal (after input).
    pub fn sync_timer(&self, id: ConnId, timers: &mut Timers) {
        match self.conns.get(&id) {
            Some(c) => {
                timers.set_opt(Timer::Connection(id), c.conn.next_deadline());
                timers.set_opt(Timer::Reauthenticate(id), c.conn.reauth_deadline());
            }
            None => {
                timers.clear(&Timer::Connection(id));
                timers.clear(&Timer::Reauthenticate(id));
            }
        }
    }

    /// Renews connection `id`'s SASL session if it is due (KIP-368); the error
    /// means the connection must be closed.
    pub fn start_reauthentication(&mut self, id: ConnId, now: Instant) -> Result<(), ConnError> {
        match self.conns.get_mut(&id) {
            Some(c) => c.conn.start_reauthentication(now),
            None => Ok(()),
        }
    }

    /// Connections whose OAUTHBEARER exchange waits for a token.
    pub fn awaiting_token(&self) -> Vec<ConnId> {
        self.conns
            .iter()
            .filter(|(_, c)| c.conn.awaiting_token())
            .map(|(id, _)| *id)
            .collect()
    }

    /// Hands `token` to connection `id` if it waits for one; the error means the
    /// connection must be closed.
    pub fn provide_token(
        &mut self,
        id: ConnId,
        token: &OAuthBearerToken,
        now: Instant,
    ) -> Result<(), ConnError> {
        match self.conns.get_mut(&id) {
            Some(c) => c.conn.provide_token(token, now),
            None => Ok(()),
        }
    }

    /// Stops opening connections (a fatal authentication failure).
    pub fn halt(&mut self) {
        self.halted = true;
    }

    /// Opens connections again after [`halt`](Self::halt), without waiting for
    /// reconnect backoffs.
    pub fn resume(&mut self) {
        if core::mem::replace(&mut self.halted, false) {
            for slot in self.slots.values_mut() {
                slot.backoff.succeed();
            }
        }
    }

    /// Whether [`halt`](Self::halt) stopped all connecting.
    pub fn is_halted(&self) -> bool {
        self.halted
    }

    /// Why connection `id` must close at `now`, if one of its deadlines passed.
    pub fn timed_out(&self, id: ConnId, now: Instant) -> Option<ConnError> {
        self.conns.get(&id)?.conn.check_timeouts(now).err()
    }

    /// A broker to send a cluster-wide request (Metadata, FindCoordinator) to: a
    /// ready data connection to a real broker with the fewest requests in flight;
    /// a bootstrap placeholder only when no real broker's connection is ready.
    ///
    /// A placeholder is never preferred for being idle: Java's `leastLoadedNode`
    /// only considers the brokers metadata named once it has any, and an idle
    /// connection is exactly what a half-open one looks like. Preferring the
    /// bootstrap connection over a busy real one could park Metadata on a dead
    /// socket for a whole `request.timeout.ms` while a live connection was at hand.
    pub fn least_loaded(&self) -> Option<BrokerId> {
        self.conns
            .values()
            .filter(|c| c.role == ConnRole::Data && c.conn.is_ready())
            .min_by_key(|c| (c.broker.is_bootstrap(), c.conn.in_flight()))
            .map(|c| c.broker)
    }

    /// A broker to open a data connection to when none is ready: real brokers are
    /// preferred to bootstrap placeholders once known; ties are broken at random so
    /// that consumers spread out. Draws randomness only when there is a choice, so
    /// that asking without connecting (a spurious wake-up) does not change later
    /// choices.
    pub fn pick_to_connect(&self, now: Instant, rng: &mut Rng) -> Option<BrokerId> {
        if self.halted {
            return None;
        }
        let free = |b: &BrokerId| {
            self.slots
                .get(&(*b, ConnRole::Data))
                .is_none_or(|s| s.conn.is_none() && s.backoff.ready(now))
        };
        let candidates: Vec<BrokerId> = self.nodes.keys().copied().filter(free).collect();
        let real: Vec<BrokerId> = candidates
            .iter()
            .copied()
            .filter(|b| !b.is_bootstrap())
            .collect();
        let pool = if real.is_empty() { &candidates } else { &real };
        (!pool.is_empty()).then(|| pool[rng.range_inclusive(0, pool.len() as u64 - 1) as usize])
    }

    /// Whether a data connection is being set up (so a new one need not be started
    /// yet).
    pub fn any_pending(&self) -> bool {
        self.conns
            .values()
            .any(|c| c.role == ConnRole::Data && !c.conn.is_ready())
    }

    /// The connections in `role`.
    pub fn conns_in_role(&self, role: ConnRole) -> Vec<ConnId> {
        self.conns
            .iter()
            .filter(|(_, c)| c.role == role)
            .map(|(id, _)| *id)
            .collect()
    }

    /// All connection ids.
    pub fn conn_ids(&self) -> Vec<ConnId> {
        self.conns.keys().copied().collect()
    }

    /// Whether any connection has a request with this purpose in flight.
    pub fn any_in_flight(&self, mut pred: impl FnMut(&Purpose) -> bool) -> bool {
        self.conns.values().any(|c| c.conn.has_in_flight(&mut pred))
    }

    /// Connections with bytes to write, in id order.
    pub fn next_transmit(&mut self) -> Option<(ConnId, &mut Connection<Purpose>, Bytes)> {
        self.conns
            .iter_mut()
            .find_map(|(id, c)| c.conn.poll_transmit().map(|b| (*id, &mut c.conn, b)))
    }

    /// The next command for the driver.
    pub fn poll_command(&mut self) -> Option<ConnCommand> {
        self.commands.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_gets_its_own_connection_to_the_same_broker() {
        let config = Config::from_pairs([("bootstrap.servers", "a:9092")]).unwrap();
        let mut brokers = Brokers::new(&config, 1);
        let mut timers = Timers::default();
        let b = BrokerId(-1);
        brokers.connect(b, ConnRole::Data, Instant::ZERO, &mut timers);
        brokers.connect(b, ConnRole::Data, Instant::ZERO, &mut timers);
        brokers.connect(b, ConnRole::Coordinator, Instant::ZERO, &mut timers);
        let commands: Vec<ConnCommand> = core::iter::from_fn(|| brokers.poll_command()).collect();
        let roles: Vec<(ConnId, ConnRole)> = commands
            .iter()
            .map(|c| match c {
                ConnCommand::Connect { conn, role, .. } => (*conn, *role),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            roles,
            [
                (ConnId(1), ConnRole::Data),
                (ConnId(2), ConnRole::Coordinator)
            ]
        );
        assert_eq!(brokers.conn_of(b, ConnRole::Data), Some(ConnId(1)));
        assert_eq!(brokers.conn_of(b, ConnRole::Coordinator), Some(ConnId(2)));
        // Losing one leaves the other, and only the lost one backs off.
        let mut rng = Rng::new(1);
        let (_, role, _) = brokers
            .close(ConnId(2), Instant::ZERO, &mut rng, true, false, &mut timers)
            .unwrap();
        assert_eq!(role, ConnRole::Coordinator);
        assert_eq!(brokers.conn_of(b, ConnRole::Data), Some(ConnId(1)));
        assert!(timers
            .get(&Timer::Reconnect(b, ConnRole::Coordinator))
            .is_some());
        assert!(timers.get(&Timer::Reconnect(b, ConnRole::Data)).is_none());
    }
}
