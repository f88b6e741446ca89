//! The simulated network, after str0m's netem: seeded latency per message, FIFO
//! within a connection and direction (TCP never reorders), independent across
//! connections (so replies from different brokers overtake each other), writes
//! split at random byte boundaries, connection resets, network partitions that
//! hold traffic back until they heal (TCP retransmits), and half-open
//! connections that swallow everything.

use std::collections::BTreeMap;

use bytes::Bytes;
use kasio_core::conn::ConnId;
use kasio_core::rng::Rng;
use kasio_core::time::{Duration, Instant};

/// How the network behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NetConfig {
    /// One-way latency of each message, uniform in this range.
    pub latency: (Duration, Duration),
    /// The probability that a write arrives in several pieces.
    pub fragment: f64,
    /// At most this many pieces.
    pub max_fragments: u32,
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            latency: (Duration::from_micros(200), Duration::from_millis(2)),
            fragment: 0.0,
            max_fragments: 1,
        }
    }
}

/// Which way bytes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Consumer to broker.
    Up,
    /// Broker to consumer.
    Down,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkState {
    Connecting,
    Open,
    Closed,
}

/// One TCP connection between a consumer and a broker.
#[derive(Debug, Clone)]
pub(crate) struct Link {
    pub consumer: usize,
    pub conn: ConnId,
    pub broker: i32,
    pub state: LinkState,
    /// The broker has accepted it and not closed it.
    pub server_open: bool,
    /// Swallows everything in both directions (a half-open connection).
    pub hung: bool,
    /// Latest delivery time scheduled per direction (FIFO).
    last_up: Instant,
    last_down: Instant,
    /// Pieces that arrived while the link was cut, per direction (up, down), in
    /// order: a partition delays a TCP stream, it never reorders it, so
    /// everything behind a held piece waits with it.
    pub held: [std::collections::VecDeque<Held>; 2],
}

/// A piece held back by a network partition, with what it carries (for a Fetch
/// response's last piece).
pub(crate) type Held = (Bytes, Option<std::rc::Rc<crate::sim::world::Carried>>);

impl Link {
    /// The pieces held back in direction `dir`.
    pub(crate) fn held_mut(&mut self, dir: Dir) -> &mut std::collections::VecDeque<Held> {
        match dir {
            Dir::Up => &mut self.held[0],
            Dir::Down => &mut self.held[1],
        }
    }
}

/// Links and the network's state.
#[derive(Debug, Clone, Default)]
pub struct Net {
    pub(crate) cfg: NetConfig,
    pub(crate) links: BTreeMap<u64, Link>,
    pub(crate) by_conn: BTreeMap<(usize, ConnId), u64>,
    next_link: u64,
    /// (consumer, broker) pairs cut off, with the instant they heal.
    pub(crate) partitions: BTreeMap<(usize, i32), Instant>,
}

impl Net {
    /// A network behaving as `cfg` says.
    pub fn new(cfg: NetConfig) -> Self {
        Self {
            cfg,
            next_link: 1,
            ..Default::default()
        }
    }

    pub(crate) fn open(&mut self, consumer: usize, conn: ConnId, broker: i32, now: Instant) -> u64 {
        let id = self.next_link;
        self.next_link += 1;
        self.links.insert(
            id,
            Link {
                consumer,
                conn,
                broker,
                state: LinkState::Connecting,
                server_open: false,
                hung: false,
                last_up: now,
                last_down: now,
                held: Default::default(),
            },
        );
        self.by_conn.insert((consumer, conn), id);
        id
    }

    pub(crate) fn link_of(&self, consumer: usize, conn: ConnId) -> Option<u64> {
        self.by_conn.get(&(consumer, conn)).copied()
    }

    /// One message's latency.
    pub(crate) fn latency(&self, rng: &mut Rng) -> Duration {
        let (lo, hi) = self.cfg.latency;
        Duration::from_micros(
            rng.range_inclusive(lo.as_micros(), hi.as_micros().max(lo.as_micros())),
        )
    }

    /// When a message sent now on `link` arrives: after its latency, and not before
    /// what was sent earlier the same way.
    pub(crate) fn arrival(&mut self, link: u64, dir: Dir, now: Instant, rng: &mut Rng) -> Instant {
        let lat = self.latency(rng);
        let Some(l) = self.links.get_mut(&link) else {
            return now + lat;
        };
        let last = match dir {
            Dir::Up => &mut l.last_up,
            Dir::Down => &mut l.last_down,
        };
        let at = (now + lat).max(*last);
        *last = at;
        at
    }

    /// Splits a write into the pieces that arrive.
    pub(crate) fn fragment(&self, data: Bytes, rng: &mut Rng) -> Vec<Bytes> {
        if data.len() < 2 || self.cfg.max_fragments < 2 || rng.next_f64() >= self.cfg.fragment {
            return vec![data];
        }
        let pieces = rng.range_inclusive(2, u64::from(self.cfg.max_fragments)) as usize;
        let mut cuts: Vec<usize> = (1..pieces)
            .map(|_| rng.range_inclusive(1, data.len() as u64 - 1) as usize)
            .collect();
        cuts.sort_unstable();
        cuts.dedup();
        let mut out = Vec::with_capacity(cuts.len() + 1);
        let mut from = 0;
        for c in cuts {
            out.push(data.slice(from..c));
            from = c;
        }
        out.push(data.slice(from..));
        out
    }

    /// When traffic between `consumer` and `broker` may flow again, if it is cut.
    pub(crate) fn cut_until(&self, consumer: usize, broker: i32, now: Instant) -> Option<Instant> {
        self.partitions
            .get(&(consumer, broker))
            .copied()
            .filter(|&t| t > now)
    }
}
