//! The world: a simulated clock, an event queue ordered by (time, sequence), the
//! cluster, the network and one or more kasio consumers, all sans-IO and all driven
//! from here (quinn's test `Pair`, generalised). [`World::step`] does one thing:
//! the next queued event, or the timers that are due, jumping the clock to the
//! next wake-up; every party is drained after every input, and every drain is
//! bounded. A run is a function of the seed: the same seed gives the same trace
//! hash.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use kasio_core::config::{Config, IsolationLevel};
use kasio_core::conn::ConnId;
use kasio_core::consumer::{ConnCommand, Consumer, ConsumerRecords, Event, TopicPartition};
use kasio_core::rng::Rng;
use kasio_core::time::{Duration, Instant};

use super::answers::PositionAnswer;
use super::check::Checker;
use super::cluster::Cluster;
use super::memory::BufferModel;
use super::net::{Dir, LinkState, Net, NetConfig};
use super::server::{Fetched, Output, ServerConn};
use super::trace::Trace;

/// A consumer in the world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConsumerId(pub usize);

/// The most items one drain may yield before it counts as unbounded.
pub const DRAIN_LIMIT: usize = 100_000;
/// The most steps at one instant before it counts as a livelock.
pub const SAME_INSTANT_LIMIT: u64 = 20_000;

type Action = Box<dyn FnOnce(&mut World)>;

/// What a response's last piece carries for the checks: the record data of a
/// Fetch response, the leadership a Metadata response named.
#[derive(Debug)]
pub(crate) struct Carried {
    pub fetched: Vec<Fetched>,
    pub leadership: Vec<(TopicPartition, i32, i32)>,
}

enum Ev {
    ConnectDone(u64),
    /// Bytes arrive; the last piece of a response says what it carried (Fetch
    /// data, Metadata leadership) for the checks.
    Deliver(u64, Dir, Bytes, Option<std::rc::Rc<Carried>>),
    /// The other end learns the connection closed: `Up` the broker, `Down` the
    /// consumer.
    Closed(u64, Dir),
    /// Deliver what a network partition held back on a link, if it healed.
    Flush(u64, Dir),
    AppPoll(usize),
    Action(Action),
    /// A frozen consumer runs again (see [`World::freeze`]).
    Thaw(usize),
}

struct Actor {
    consumer: Consumer,
    timer: Option<Instant>,
    events: VecDeque<Event>,
    checker: Option<Checker>,
    memory: BufferModel,
    auto_poll: Option<Duration>,
    polled: u64,
    /// Crashed: nothing reaches it and it does nothing until restarted.
    down: bool,
    /// Frozen (a GC pause, a stopped VM): neither timers nor inputs reach it;
    /// what arrives meanwhile waits in `held`, in order.
    frozen: bool,
    thaw_at: Instant,
    held: VecDeque<Ev>,
    /// Restarts so far (a new `Consumer` each).
    incarnation: u32,
}

impl Actor {
    fn new(consumer: Consumer) -> Self {
        Self {
            consumer,
            timer: None,
            events: VecDeque::new(),
            checker: None,
            memory: BufferModel::default(),
            auto_poll: None,
            polled: 0,
            down: false,
            frozen: false,
            thaw_at: Instant::ZERO,
            held: VecDeque::new(),
            incarnation: 0,
        }
    }

    /// Whether its timers run (not crashed, not frozen).
    fn running(&self) -> bool {
        !self.down && !self.frozen
    }
}

/// The simulated world. See the [module docs](self) and [`super`] for an example.
pub struct World {
    now: Instant,
    rng: Rng,
    cluster: Cluster,
    net: Net,
    actors: Vec<Actor>,
    queue: BTreeMap<(Instant, u64), Ev>,
    seq: u64,
    trace: Trace,
    failure: Option<String>,
    deviations: Vec<String>,
    /// Deviations stop the world too.
    pub strict: bool,
    /// The most steps a run may take (a livelock that moves the clock is caught
    /// here, or by a scenario's progress check).
    pub max_steps: u64,
    steps: u64,
    same_instant: u64,
    /// The cluster's next timer, once worked out since the cluster was last
    /// driven (it walks every partition and group: most steps reach only a
    /// consumer).
    cluster_timer: std::cell::Cell<Option<Option<Instant>>>,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("now", &self.now)
            .field("steps", &self.steps)
            .field("consumers", &self.actors.len())
            .field("queued", &self.queue.len())
            .finish()
    }
}

impl World {
    /// A world around `cluster`, with `net` and everything seeded from `seed`.
    pub fn new(mut cluster: Cluster, net: NetConfig, seed: u64) -> Self {
        // Checkers judge every offset reset by what the brokers answered.
        cluster.record_answers(true);
        Self {
            now: Instant::ZERO,
            rng: Rng::new(seed),
            cluster,
            net: Net::new(net),
            actors: Vec::new(),
            queue: BTreeMap::new(),
            seq: 0,
            trace: Trace::default(),
            failure: None,
            deviations: Vec::new(),
            strict: false,
            max_steps: u64::MAX,
            steps: 0,
            same_instant: 0,
            cluster_timer: std::cell::Cell::new(None),
        }
    }

    /// The simulated time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Steps taken.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The trace (hash and last lines).
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// The trace, to change what it keeps or echoes.
    pub fn trace_mut(&mut self) -> &mut Trace {
        &mut self.trace
    }

    /// The first invariant violation, if any (the world stops stepping then).
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// Requests a careful client would not have sent (see
    /// [`Cluster::take_deviations`]); fatal when [`strict`](Self::strict).
    pub fn deviations(&self) -> &[String] {
        &self.deviations
    }

    /// A random number from the world's generator (for scenarios).
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    /// The network's settings.
    pub fn net_config(&self) -> NetConfig {
        self.net.cfg
    }

    /// Changes the network's settings (for later messages).
    pub fn set_net_config(&mut self, cfg: NetConfig) {
        self.net.cfg = cfg;
    }

    // ----- consumers -------------------------------------------------------------------

    /// Adds a consumer. Its `bootstrap.servers` should name the cluster's brokers
    /// ([`Cluster::bootstrap`]). Its seed comes from the world's.
    pub fn add_consumer(&mut self, config: Config) -> ConsumerId {
        let seed = self.rng.next_u64();
        let consumer = Consumer::new(config, self.now, seed);
        self.actors.push(Actor::new(consumer));
        let id = ConsumerId(self.actors.len() - 1);
        self.drain_consumer(id.0);
        id
    }

    /// Adds a consumer whose events and records are checked against the cluster's
    /// history as they happen (see [`Checker`]); a violation stops the world.
    pub fn add_checked_consumer(&mut self, config: Config) -> ConsumerId {
        let checker = checker_for(&config);
        let id = self.add_consumer(config);
        self.actors[id.0].checker = Some(checker);
        id
    }

    /// Subscribes a consumer to `topics` (its `group.id` names the group); a
    /// checked consumer's checker judges it as a group member from now on: it
    /// may hand out only what the group assigned it, starting where the group
    /// committed (see [`Checker::join_group`]).
    pub fn subscribe(
        &mut self,
        id: ConsumerId,
        topics: &[&str],
    ) -> Result<(), kasio_core::consumer::UsageError> {
        let group = self.actors[id.0].consumer.config().group_id.clone();
        self.with_consumer(id, |c| c.subscribe(topics.iter().copied()))?;
        if let (Some(ch), Some(g)) = (self.actors[id.0].checker.as_mut(), group) {
            ch.join_group(&g);
        }
        Ok(())
    }

    /// Crashes a consumer: its process is gone. The brokers see its connections
    /// close (after what it had sent arrives); nothing reaches it any more, and
    /// it does nothing until [`restart_consumer`](Self::restart_consumer).
    pub fn crash_consumer(&mut self, id: ConsumerId) {
        let i = id.0;
        if self.actors[i].down {
            return;
        }
        let links: Vec<u64> = self
            .net
            .links
            .iter()
            .filter(|(_, l)| l.consumer == i && l.state != LinkState::Closed)
            .map(|(id, _)| *id)
            .collect();
        for link in links {
            let now = self.now;
            let l = self.net.links.get_mut(&link).expect("listed");
            // A connection still connecting was never accepted; an open one's
            // in-flight bytes still arrive, then the broker sees it close.
            l.state = LinkState::Closed;
            l.held = Default::default();
            if l.server_open {
                let at = self.net.arrival(link, Dir::Up, now, &mut self.rng);
                self.push(at, Ev::Closed(link, Dir::Up));
            }
        }
        // Its connection ids are free for the next incarnation.
        self.net.by_conn.retain(|(c, _), _| *c != i);
        let a = &mut self.actors[i];
        a.down = true;
        a.frozen = false;
        a.held.clear();
        a.timer = None;
        a.events.clear();
        a.auto_poll = None;
        self.trace.line(self.now, format!("c{i} crashes"));
    }

    /// Starts a new process in a consumer's place: a fresh `Consumer` with
    /// `config` (crashing the old one first if it still runs); a checked
    /// consumer gets a fresh checker.
    pub fn restart_consumer(&mut self, id: ConsumerId, config: Config) {
        self.crash_consumer(id);
        let seed = self.rng.next_u64();
        let i = id.0;
        let checker = self.actors[i]
            .checker
            .is_some()
            .then(|| checker_for(&config));
        let a = &mut self.actors[i];
        a.consumer = Consumer::new(config, self.now, seed);
        a.checker = checker;
        a.memory = BufferModel::default();
        a.down = false;
        a.incarnation += 1;
        let n = a.incarnation;
        self.trace
            .line(self.now, format!("c{i} restarts (incarnation {n})"));
        self.drain_consumer(i);
    }

    /// Whether a consumer is crashed (and not restarted).
    pub fn is_down(&self, id: ConsumerId) -> bool {
        self.actors[id.0].down
    }

    /// How many times a consumer was restarted.
    pub fn incarnation(&self, id: ConsumerId) -> u32 {
        self.actors[id.0].incarnation
    }

    /// Freezes a consumer until `until` (a GC pause, a stopped VM): no timer
    /// fires and nothing it receives is handled until then; then it catches up
    /// on everything, in order. A frozen consumer stays frozen until its thaw.
    pub fn freeze(&mut self, id: ConsumerId, until: Instant) {
        let a = &mut self.actors[id.0];
        if a.frozen || a.down || until <= self.now {
            return;
        }
        a.frozen = true;
        a.thaw_at = until;
        self.trace
            .line(self.now, format!("c{} freezes until {until:?}", id.0));
        self.push(until, Ev::Thaw(id.0));
    }

    /// Whether a consumer is frozen.
    pub fn is_frozen(&self, id: ConsumerId) -> bool {
        self.actors[id.0].frozen
    }

    /// Consumer ids.
    pub fn consumer_ids(&self) -> Vec<ConsumerId> {
        (0..self.actors.len()).map(ConsumerId).collect()
    }

    /// A consumer, to look at.
    pub fn consumer(&self, id: ConsumerId) -> &Consumer {
        &self.actors[id.0].consumer
    }

    /// The checker of a checked consumer.
    pub fn checker(&self, id: ConsumerId) -> Option<&Checker> {
        self.actors[id.0].checker.as_ref()
    }

    /// Runs application calls on a consumer (`assign`, `seek`, …), then drains it.
    pub fn with_consumer<R>(&mut self, id: ConsumerId, f: impl FnOnce(&mut Consumer) -> R) -> R {
        let r = f(&mut self.actors[id.0].consumer);
        self.drain_consumer(id.0);
        r
    }

    /// Seeks a checked consumer (tells the checker too).
    pub fn seek(&mut self, id: ConsumerId, tp: &TopicPartition, offset: i64) {
        let ok = self.with_consumer(id, |c| c.seek(tp, offset).is_ok());
        if let (true, Some(ch)) = (ok, self.actors[id.0].checker.as_mut()) {
            ch.seeked(tp, offset);
        }
    }

    /// `seek_to_beginning` (`to_end`: `seek_to_end`) on a consumer; tells its
    /// checker that the position will be reset on purpose. (Calling these through
    /// [`World::with_consumer`] instead makes the reset look unexplained.)
    pub fn seek_to(&mut self, id: ConsumerId, tps: &[TopicPartition], to_end: bool) {
        let ok = self.with_consumer(id, |c| {
            if to_end {
                c.seek_to_end(tps).is_ok()
            } else {
                c.seek_to_beginning(tps).is_ok()
            }
        });
        if let (true, Some(ch)) = (ok, self.actors[id.0].checker.as_mut()) {
            for tp in tps {
                ch.reset_asked(tp);
            }
        }
    }

    /// `poll_records` on a consumer: the records are checked (for a checked
    /// consumer) and traced; the consumer is drained.
    pub fn poll_records(&mut self, id: ConsumerId) -> ConsumerRecords {
        let now = self.now;
        let recs = self.actors[id.0].consumer.poll_records(now);
        if !recs.is_empty() {
            let summary: Vec<String> = recs
                .partitions()
                .iter()
                .map(|b| {
                    format!(
                        "{}@{}..={}",
                        b.tp,
                        b.records.first().map_or(-1, |r| r.offset),
                        b.records.last().map_or(-1, |r| r.offset)
                    )
                })
                .collect();
            self.trace.line(
                self.now,
                format!("c{} polled {} {summary:?}", id.0, recs.len()),
            );
            for (_, r) in recs.iter() {
                self.trace.u64(r.offset as u64);
            }
        }
        let a = &mut self.actors[id.0];
        a.polled += recs.len() as u64;
        if let (Some(ch), Some(m)) = (a.checker.as_mut(), a.consumer.group_metadata()) {
            ch.set_member(&m.member_id);
        }
        if let Some(ch) = a.checker.as_mut() {
            if let Err(e) = ch.records(&self.cluster, &recs) {
                self.fail(format!("consumer {}: {e}", id.0));
            }
        }
        self.drain_consumer(id.0);
        recs
    }

    /// Records polled so far by a consumer.
    pub fn polled(&self, id: ConsumerId) -> u64 {
        self.actors[id.0].polled
    }

    /// Polls (and checks) a consumer's records every `interval`, as an application
    /// loop would; `None` stops. The records are dropped after checking.
    pub fn set_auto_poll(&mut self, id: ConsumerId, interval: Option<Duration>) {
        let start = self.actors[id.0].auto_poll.is_none() && interval.is_some();
        self.actors[id.0].auto_poll = interval;
        if start {
            let at = self.now + interval.unwrap_or(Duration::ZERO);
            self.push(at, Ev::AppPoll(id.0));
        }
    }

    /// The application events (errors, resets, truncations, …) a consumer emitted
    /// since the last call; connection requests are the world's business.
    pub fn take_events(&mut self, id: ConsumerId) -> Vec<Event> {
        self.actors[id.0].events.drain(..).collect()
    }

    // ----- the cluster -----------------------------------------------------------------

    /// The cluster.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// Changes the cluster (produce, crash a broker, move a leader, …), then
    /// drains it.
    pub fn with_cluster<R>(&mut self, f: impl FnOnce(&mut Cluster) -> R) -> R {
        // The cluster's clock only moves with its inputs: bring it to now, so what
        // `f` starts (replication delays, stalls) is timed from now.
        self.cluster.advance(self.now);
        let r = f(&mut self.cluster);
        self.drain_cluster();
        r
    }

    // ----- faults ------------------------------------------------------------------------

    /// Resets connections (to `broker`, or all): both ends see them die, bytes in
    /// flight are lost.
    pub fn reset_connections(&mut self, broker: Option<i32>) {
        let ids: Vec<u64> = self
            .net
            .links
            .iter()
            .filter(|(_, l)| l.state != LinkState::Closed && broker.is_none_or(|b| b == l.broker))
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.reset_link(id);
        }
    }

    /// Resets one connection, chosen at random among open ones.
    /// Returns whether there was an open connection to reset.
    pub fn reset_random_connection(&mut self) -> bool {
        let open: Vec<u64> = self
            .net
            .links
            .iter()
            .filter(|(_, l)| l.state == LinkState::Open)
            .map(|(id, _)| *id)
            .collect();
        if open.is_empty() {
            return false;
        }
        let i = self.rng.range_inclusive(0, open.len() as u64 - 1) as usize;
        self.reset_link(open[i]);
        true
    }

    fn reset_link(&mut self, id: u64) {
        let Some(l) = self.net.links.get_mut(&id) else {
            return;
        };
        let was_server_open = l.server_open;
        l.server_open = false;
        l.hung = true; // nothing more gets through
        let (c, conn) = (l.consumer, l.conn);
        self.trace
            .line(self.now, format!("net reset c{c} conn {}", conn.0));
        if was_server_open {
            self.cluster.handle_disconnect(self.now, ServerConn(id));
            self.drain_cluster();
        }
        let at = self.now + self.net.latency(&mut self.rng);
        self.push(at, Ev::Closed(id, Dir::Down));
    }

    /// Makes one open connection half-open: it swallows everything from now on,
    /// until the consumer gives up on it.
    /// Returns whether there was an open connection to hang.
    pub fn hang_random_connection(&mut self) -> bool {
        let open: Vec<u64> = self
            .net
            .links
            .iter()
            .filter(|(_, l)| l.state == LinkState::Open && !l.hung)
            .map(|(id, _)| *id)
            .collect();
        if open.is_empty() {
            return false;
        }
        let i = self.rng.range_inclusive(0, open.len() as u64 - 1) as usize;
        let l = self.net.links.get_mut(&open[i]).expect("listed");
        l.hung = true;
        let line = format!("net hang c{} conn {}", l.consumer, l.conn.0);
        self.trace.line(self.now, line);
        true
    }

    /// How many of `consumer`'s connections are hung and not yet given up on.
    /// Nothing tells the consumer such a connection is dead but a request on it
    /// outliving `request.timeout.ms`.
    pub fn hung_connections(&self, consumer: ConsumerId) -> usize {
        self.net
            .links
            .values()
            .filter(|l| l.consumer == consumer.0 && l.hung && l.state != LinkState::Closed)
            .count()
    }

    /// Cuts `consumer` off from `broker` until `until` (traffic waits, as TCP
    /// retransmits, and flows when the partition heals).
    pub fn cut(&mut self, consumer: ConsumerId, broker: i32, until: Instant) {
        self.trace.line(
            self.now,
            format!("net cut c{} / b{broker} until {until:?}", consumer.0),
        );
        self.net.partitions.insert((consumer.0, broker), until);
    }

    /// Heals every network partition now.
    pub fn heal(&mut self) {
        let now = self.now;
        for t in self.net.partitions.values_mut() {
            *t = (*t).min(now);
        }
        // What the partitions held back flows now, not at the old heal times.
        let held: Vec<(u64, Dir)> = self
            .net
            .links
            .iter()
            .flat_map(|(id, l)| {
                [(Dir::Up, 0), (Dir::Down, 1)]
                    .into_iter()
                    .filter(|(_, k)| !l.held[*k].is_empty())
                    .map(move |(d, _)| (*id, d))
            })
            .collect();
        for (id, dir) in held {
            self.push(now, Ev::Flush(id, dir));
        }
    }

    /// Runs `f` at `at` (scenario scripting: faults, production, checks).
    pub fn schedule(&mut self, at: Instant, f: impl FnOnce(&mut World) + 'static) {
        self.push(at.max(self.now), Ev::Action(Box::new(f)));
    }

    /// Records a line in the trace.
    pub fn note(&mut self, what: impl AsRef<str>) {
        self.trace.line(self.now, what);
    }

    /// Stops the world with a failure (the first one is kept).
    pub fn fail(&mut self, what: String) {
        if self.failure.is_none() {
            self.trace.line(self.now, format!("FAILURE {what}"));
            self.failure = Some(what);
        }
    }

    // ----- running ----------------------------------------------------------------------

    /// One step. `Ok(false)` when nothing is left to do; `Err` once an invariant
    /// failed.
    pub fn step(&mut self) -> Result<bool, String> {
        let timers = self.next_timers();
        self.step_with(timers)
    }

    /// [`step`](Self::step) with the next timers of the consumers and of the
    /// cluster known (the cluster's take a while to work out).
    fn step_with(&mut self, timers: (Option<Instant>, Option<Instant>)) -> Result<bool, String> {
        if let Some(f) = &self.failure {
            return Err(f.clone());
        }
        let queued = self.queue.keys().next().map(|k| k.0);
        let timer = timers.0.into_iter().chain(timers.1).min();
        let Some(next) = [queued, timer].into_iter().flatten().min() else {
            return Ok(false);
        };
        let next = next.max(self.now);
        if next == self.now {
            self.same_instant += 1;
            if self.same_instant > SAME_INSTANT_LIMIT {
                let due: Vec<String> = self
                    .actors
                    .iter()
                    .enumerate()
                    .filter(|(_, a)| a.running())
                    .flat_map(|(i, a)| {
                        a.consumer
                            .timers()
                            .filter(|(_, t)| *t <= next)
                            .map(move |(timer, _)| format!("c{i} {timer:?}"))
                    })
                    .collect();
                self.fail(format!(
                    "livelock: more than {SAME_INSTANT_LIMIT} steps at {:?} (timers due: \
                     {due:?}; next queued event at {queued:?})",
                    self.now
                ));
                return Err(self.failure.clone().unwrap_or_default());
            }
        } else {
            self.same_instant = 0;
        }
        self.now = next;
        self.steps += 1;
        if self.steps > self.max_steps {
            self.fail(format!("step limit: {} steps", self.max_steps));
            return Err(self.failure.clone().unwrap_or_default());
        }
        if queued.is_some_and(|q| q <= self.now) {
            let (_, ev) = self.queue.pop_first().expect("peeked");
            self.handle(ev);
        } else {
            for i in 0..self.actors.len() {
                if self.actors[i].running() && self.actors[i].timer.is_some_and(|t| t <= self.now) {
                    let now = self.now;
                    self.actors[i].consumer.handle_timeout(now);
                    self.drain_consumer(i);
                }
            }
            if timers.1.is_some_and(|t| t <= self.now) {
                self.cluster.handle_timeout(self.now);
                self.drain_cluster();
            }
        }
        match &self.failure {
            Some(f) => Err(f.clone()),
            None => Ok(true),
        }
    }

    /// Steps until `done` holds (true) or the clock reaches `deadline` (false).
    pub fn run_until(
        &mut self,
        deadline: Instant,
        mut done: impl FnMut(&mut World) -> bool,
    ) -> Result<bool, String> {
        loop {
            if done(self) {
                return Ok(true);
            }
            let timers = self.next_timers();
            let next = self
                .queue
                .keys()
                .next()
                .map(|k| k.0)
                .into_iter()
                .chain(timers.0)
                .chain(timers.1)
                .min();
            if next.is_none_or(|t| t > deadline) {
                self.now = self.now.max(deadline);
                return Ok(done(self));
            }
            self.step_with(timers)?;
        }
    }

    /// Steps for `d` of simulated time.
    pub fn run_for(&mut self, d: Duration) -> Result<(), String> {
        let deadline = self.now + d;
        self.run_until(deadline, |_| false).map(|_| ())
    }

    // ----- internals --------------------------------------------------------------------

    /// The earliest timer of a running consumer, and the cluster's.
    fn next_timers(&self) -> (Option<Instant>, Option<Instant>) {
        let consumers = self
            .actors
            .iter()
            .filter(|a| a.running())
            .filter_map(|a| a.timer)
            .min();
        let cluster = match self.cluster_timer.get() {
            Some(t) => t,
            None => {
                let t = self.cluster.poll_timeout();
                self.cluster_timer.set(Some(t));
                t
            }
        };
        (consumers, cluster)
    }

    /// The consumer an event is for, if it only reaches a consumer (bytes or a
    /// close coming down, a connection completing).
    fn consumer_of(&self, ev: &Ev) -> Option<usize> {
        let link = match ev {
            Ev::Deliver(link, Dir::Down, ..) | Ev::Closed(link, Dir::Down) => *link,
            Ev::ConnectDone(link) => *link,
            Ev::Flush(link, Dir::Down) => *link,
            _ => return None,
        };
        self.net.links.get(&link).map(|l| l.consumer)
    }

    fn push(&mut self, at: Instant, ev: Ev) {
        self.seq += 1;
        self.queue.insert((at, self.seq), ev);
    }

    fn handle(&mut self, ev: Ev) {
        if let Some(i) = self.consumer_of(&ev) {
            if self.actors[i].frozen {
                self.actors[i].held.push_back(ev);
                return;
            }
        }
        match ev {
            Ev::ConnectDone(link) => self.connect_done(link),
            Ev::Deliver(link, dir, data, carried) => self.deliver(link, dir, data, carried),
            Ev::Flush(link, dir) => self.flush(link, dir),
            Ev::Closed(link, dir) => self.closed(link, dir),
            Ev::AppPoll(i) => {
                if let Some(every) = self.actors[i].auto_poll {
                    if self.actors[i].running() {
                        self.poll_records(ConsumerId(i));
                    }
                    let at = self.now + every;
                    self.push(at, Ev::AppPoll(i));
                }
            }
            Ev::Action(f) => {
                f(self);
                self.drain_cluster();
                for i in 0..self.actors.len() {
                    self.drain_consumer(i);
                }
            }
            Ev::Thaw(i) => {
                if !self.actors[i].frozen || self.now < self.actors[i].thaw_at {
                    return; // a thaw of an earlier freeze (crashed meanwhile)
                }
                self.actors[i].frozen = false;
                self.trace.line(self.now, format!("c{i} thaws"));
                // Overdue timers first (a resumed process finds them due), then
                // everything that arrived meanwhile, in order.
                let now = self.now;
                if self.actors[i].timer.is_some_and(|t| t <= now) {
                    self.actors[i].consumer.handle_timeout(now);
                }
                self.drain_consumer(i);
                let held = std::mem::take(&mut self.actors[i].held);
                for ev in held {
                    self.handle(ev);
                }
            }
        }
    }

    fn connect_done(&mut self, id: u64) {
        let Some(l) = self.net.links.get(&id) else {
            return;
        };
        if l.state != LinkState::Connecting || l.hung {
            return;
        }
        let (i, conn, broker) = (l.consumer, l.conn, l.broker);
        if let Some(heal) = self.net.cut_until(i, broker, self.now) {
            // SYNs are retried until the partition heals (or the consumer gives up).
            self.push(heal, Ev::ConnectDone(id));
            return;
        }
        let now = self.now;
        self.cluster_timer.set(None);
        if broker > 0 && self.cluster.handle_connect(now, broker, ServerConn(id)) {
            let l = self.net.links.get_mut(&id).expect("exists");
            l.state = LinkState::Open;
            l.server_open = true;
            self.trace
                .line(now, format!("c{i} conn {} connected to b{broker}", conn.0));
            self.actors[i].consumer.handle_connected(now, conn);
        } else {
            self.net.links.get_mut(&id).expect("exists").state = LinkState::Closed;
            self.trace
                .line(now, format!("c{i} conn {} refused by b{broker}", conn.0));
            self.actors[i].consumer.handle_disconnected(now, conn);
        }
        self.drain_consumer(i);
    }

    fn deliver(&mut self, id: u64, dir: Dir, data: Bytes, carried: Option<std::rc::Rc<Carried>>) {
        let Some(l) = self.net.links.get(&id) else {
            return;
        };
        if l.hung {
            return;
        }
        let (i, broker) = (l.consumer, l.broker);
        let cut = self.net.cut_until(i, broker, self.now);
        let now = self.now;
        let l = self.net.links.get_mut(&id).expect("looked up");
        let held = l.held_mut(dir);
        if cut.is_some() || !held.is_empty() {
            held.push_back((data, carried));
            // The flush at the heal time may be later than now if the cut was
            // shortened since: one now is harmless (it re-checks).
            self.push(cut.unwrap_or(now), Ev::Flush(id, dir));
            return;
        }
        self.deliver_now(id, dir, data, carried);
    }

    /// Delivers what a partition held back on a link, in order, once it healed.
    fn flush(&mut self, id: u64, dir: Dir) {
        let Some(l) = self.net.links.get(&id) else {
            return;
        };
        if let Some(heal) = self.net.cut_until(l.consumer, l.broker, self.now) {
            self.push(heal, Ev::Flush(id, dir));
            return;
        }
        loop {
            let Some(l) = self.net.links.get_mut(&id) else {
                return;
            };
            let Some((data, carried)) = l.held_mut(dir).pop_front() else {
                return;
            };
            self.deliver_now(id, dir, data, carried);
        }
    }

    fn deliver_now(
        &mut self,
        id: u64,
        dir: Dir,
        data: Bytes,
        carried: Option<std::rc::Rc<Carried>>,
    ) {
        let Some(l) = self.net.links.get(&id) else {
            return;
        };
        if l.hung {
            return;
        }
        let (i, conn) = (l.consumer, l.conn);
        let now = self.now;
        self.trace.bytes(&data);
        match dir {
            Dir::Up => {
                if !l.server_open {
                    return;
                }
                self.cluster.handle_input(now, ServerConn(id), &data);
                self.drain_cluster();
            }
            Dir::Down => {
                if l.state != LinkState::Open {
                    return;
                }
                self.actors[i]
                    .consumer
                    .handle_input_bytes(now, conn, data.clone());
                self.drain_consumer(i);
                if let Some(c) = carried {
                    for (tp, leader, epoch) in &c.leadership {
                        self.actors[i].memory.leadership(tp, *leader, *epoch, now);
                    }
                    self.check_memory(i, &c.fetched);
                }
            }
        }
    }

    fn closed(&mut self, id: u64, dir: Dir) {
        let Some(l) = self.net.links.get_mut(&id) else {
            return;
        };
        let (i, conn) = (l.consumer, l.conn);
        match dir {
            Dir::Up => {
                if l.server_open {
                    l.server_open = false;
                    self.cluster.handle_disconnect(self.now, ServerConn(id));
                    self.drain_cluster();
                }
            }
            Dir::Down => {
                if l.state != LinkState::Closed {
                    l.state = LinkState::Closed;
                    let now = self.now;
                    self.trace
                        .line(now, format!("c{i} conn {} closed by the broker", conn.0));
                    self.actors[i].consumer.handle_disconnected(now, conn);
                    self.drain_consumer(i);
                }
            }
        }
    }

    /// Hands the answers the cluster recorded to the checkers (judged as sent)
    /// and collects the leadership ones per connection, for the memory model to
    /// learn with the response that carries them (when the consumer does).
    fn route_answers(&mut self, leadership: &mut BTreeMap<u64, Vec<(TopicPartition, i32, i32)>>) {
        for (conn, answer) in self.cluster.take_answers() {
            let consumer = self.net.links.get(&conn.0).map(|l| l.consumer);
            let Some(a) = consumer.and_then(|i| self.actors.get_mut(i)) else {
                continue;
            };
            if let PositionAnswer::Leadership { tp, leader, epoch } = &answer {
                leadership
                    .entry(conn.0)
                    .or_default()
                    .push((tp.clone(), *leader, *epoch));
            }
            if let Some(ch) = a.checker.as_mut() {
                ch.answered(&answer);
            }
        }
    }

    fn drain_cluster(&mut self) {
        // Every input to the cluster is followed by a drain: its timers may
        // have moved.
        self.cluster_timer.set(None);
        let mut leadership: BTreeMap<u64, Vec<(TopicPartition, i32, i32)>> = BTreeMap::new();
        let mut n = 0;
        while let Some(out) = self.cluster.poll_output() {
            // Polling may complete parked requests, which record answers too:
            // they must reach the checkers before their response leaves.
            self.route_answers(&mut leadership);
            n += 1;
            if n > DRAIN_LIMIT {
                self.fail("cluster poll_output did not run dry".into());
                return;
            }
            match out {
                Output::Send {
                    conn,
                    data,
                    fetched,
                } => {
                    let id = conn.0;
                    if !self.net.links.contains_key(&id) {
                        continue;
                    }
                    let pieces = self.net.fragment(data, &mut self.rng);
                    let last = pieces.len() - 1;
                    // A connection's leadership answers ride with its first
                    // response of the batch (the Metadata one, or one before it:
                    // the model then learns early and errs towards less).
                    let leadership = leadership.remove(&id).unwrap_or_default();
                    let mut carried = (!fetched.is_empty() || !leadership.is_empty()).then(|| {
                        std::rc::Rc::new(Carried {
                            fetched,
                            leadership,
                        })
                    });
                    for (k, p) in pieces.into_iter().enumerate() {
                        let at = self.net.arrival(id, Dir::Down, self.now, &mut self.rng);
                        let f = if k == last { carried.take() } else { None };
                        self.push(at, Ev::Deliver(id, Dir::Down, p, f));
                    }
                }
                Output::Close { conn } => {
                    let id = conn.0;
                    if let Some(l) = self.net.links.get_mut(&id) {
                        l.server_open = false;
                        let at = self.net.arrival(id, Dir::Down, self.now, &mut self.rng);
                        self.push(at, Ev::Closed(id, Dir::Down));
                    }
                }
            }
        }
        self.route_answers(&mut leadership);
        // Answers whose response never left (the connection closed): learned now.
        for (id, parts) in leadership {
            if let Some(a) = self
                .net
                .links
                .get(&id)
                .and_then(|l| self.actors.get_mut(l.consumer))
            {
                for (tp, leader, epoch) in parts {
                    a.memory.leadership(&tp, leader, epoch, self.now);
                }
            }
        }
        for (conn, note) in self.cluster.take_notes() {
            let who = conn
                .and_then(|c| self.net.links.get(&c.0))
                .map(|l| format!("c{}#{} ", l.consumer, l.conn.0))
                .unwrap_or_default();
            self.trace.line(self.now, format!("{who}{note}"));
        }
        let violations = self.cluster.take_violations();
        if let Some(v) = violations.into_iter().next() {
            self.fail(format!("broker-side protocol check: {v}"));
        }
        for d in self.cluster.take_deviations() {
            if self.strict {
                self.fail(format!("broker-side protocol check (strict): {d}"));
            }
            self.deviations.push(d);
        }
    }

    fn drain_consumer(&mut self, i: usize) {
        if self.actors[i].down {
            return;
        }
        let mut n = 0;
        while let Some(cmd) = self.actors[i].consumer.poll_conn_command() {
            n += 1;
            if n > DRAIN_LIMIT {
                self.fail(format!("consumer {i}: poll_conn_command did not run dry"));
                return;
            }
            self.on_conn_command(i, cmd);
        }
        n = 0;
        while let Some(ev) = self.actors[i].consumer.poll_event() {
            n += 1;
            if n > DRAIN_LIMIT {
                self.fail(format!("consumer {i}: poll_event did not run dry"));
                return;
            }
            self.on_event(i, ev);
        }
        let mut buf = Vec::new();
        n = 0;
        loop {
            buf.clear();
            let now = self.now;
            let Some(t) = self.actors[i].consumer.poll_transmit(now, &mut buf) else {
                break;
            };
            n += 1;
            if n > DRAIN_LIMIT {
                self.fail(format!("consumer {i}: poll_transmit did not run dry"));
                return;
            }
            if t.len != buf.len() {
                self.fail(format!(
                    "consumer {i}: Transmit says {} bytes, {} written",
                    t.len,
                    buf.len()
                ));
                return;
            }
            self.send_up(i, t.conn, Bytes::copy_from_slice(&buf));
        }
        let timer = self.actors[i].consumer.poll_timeout();
        if let Some(t) = timer {
            if t < self.now {
                self.fail(format!(
                    "consumer {i}: poll_timeout {t:?} is before the last input at {:?}",
                    self.now
                ));
            }
        }
        self.actors[i].timer = timer;
    }

    fn check_memory(&mut self, i: usize, fetched: &[Fetched]) {
        let brokers = self.cluster.broker_ids().len();
        let a = &mut self.actors[i];
        a.memory.received(fetched);
        if let Err(e) = a.memory.check(&a.consumer, &self.cluster, brokers) {
            self.fail(format!("consumer {i}: memory bound: {e}"));
        }
    }

    fn send_up(&mut self, i: usize, conn: ConnId, data: Bytes) {
        let Some(id) = self.net.link_of(i, conn) else {
            self.fail(format!(
                "consumer {i}: {} bytes for connection {} it never asked to open (or \
                 already closed)",
                data.len(),
                conn.0
            ));
            return;
        };
        let l = &self.net.links[&id];
        if l.state != LinkState::Open {
            self.fail(format!(
                "consumer {i}: bytes for connection {} that is not open ({:?})",
                conn.0, l.state
            ));
            return;
        }
        let pieces = self.net.fragment(data, &mut self.rng);
        for p in pieces {
            let at = self.net.arrival(id, Dir::Up, self.now, &mut self.rng);
            self.push(at, Ev::Deliver(id, Dir::Up, p, None));
        }
    }

    fn on_conn_command(&mut self, i: usize, cmd: ConnCommand) {
        let now = self.now;
        match cmd {
            ConnCommand::Connect {
                conn, host, port, ..
            } => {
                let broker = self.cluster.broker_at(&host, port).unwrap_or(-1);
                self.trace.line(
                    now,
                    format!("c{i} connect conn {} to {host}:{port} (b{broker})", conn.0),
                );
                if self.net.link_of(i, conn).is_some() {
                    self.fail(format!("consumer {i}: connection id {} reused", conn.0));
                    return;
                }
                let id = self.net.open(i, conn, broker, now);
                let rtt = self.net.latency(&mut self.rng) + self.net.latency(&mut self.rng);
                self.push(now + rtt, Ev::ConnectDone(id));
            }
            ConnCommand::Disconnect { conn } => {
                self.trace
                    .line(now, format!("c{i} disconnect conn {}", conn.0));
                let Some(id) = self.net.link_of(i, conn) else {
                    self.fail(format!(
                        "consumer {i}: Disconnect for connection {} it never opened",
                        conn.0
                    ));
                    return;
                };
                let l = self.net.links.get_mut(&id).expect("linked");
                if l.state == LinkState::Closed {
                    self.fail(format!(
                        "consumer {i}: Disconnect for connection {} it was told is closed",
                        conn.0
                    ));
                    return;
                }
                l.state = LinkState::Closed;
                if l.server_open {
                    let at = self.net.arrival(id, Dir::Up, now, &mut self.rng);
                    self.push(at, Ev::Closed(id, Dir::Up));
                }
            }
            other => self.fail(format!("consumer {i}: unknown command {other:?}")),
        }
    }

    fn on_event(&mut self, i: usize, ev: Event) {
        let now = self.now;
        self.trace.line(now, format!("c{i} event {ev:?}"));
        let a = &mut self.actors[i];
        if let Event::OffsetReset { tp, .. } | Event::LogTruncation { tp, .. } = &ev {
            a.memory.forget(tp);
        }
        if let Some(ch) = a.checker.as_mut() {
            if let Err(e) = ch.event(&self.cluster, &ev) {
                self.fail(format!("consumer {i}: {e}"));
            }
        }
        self.actors[i].events.push_back(ev);
    }
}

/// A checker for a consumer with `config` (its isolation level and reset policy).
fn checker_for(config: &Config) -> Checker {
    let rc = config.isolation_level == IsolationLevel::ReadCommitted;
    Checker::new(rc).with_reset_policy(config.auto_offset_reset)
}
