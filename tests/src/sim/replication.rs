//! Replication as Kafka does it, small: every replica of a partition has its own log
//! end offset (LEO) and high watermark (HW); followers fetch from the leader after a
//! seeded delay ([`ReplicationSpec::lag`]); the leader tracks which followers are in
//! sync (the ISR: a follower that is down, or not caught up for
//! `replica.lag.time.max.ms`, leaves it, and rejoins once it has reached the HW and
//! the start of the current leader epoch) and advances the HW to the smallest LEO of
//! the ISR, so data is readable only once every in-sync replica has it. A follower
//! learns the HW from its next fetch, so its HW trails the leader's.
//!
//! Logs are modelled as prefixes of the leader's log ([`super::log::PartitionLog`]
//! holds the leader's): a follower holds the first `leo` offsets of it. A follower
//! whose log diverged would truncate it on its next fetch; here it is truncated at
//! once, when the leader's log is cut.
//!
//! Leaders are elected from the ISR (the first live in-sync replica in assignment
//! order, as Kafka's controller does). A new leader's log ends where its own did: a
//! tail only the old leader had is cut. That tail was above every HW (each ISR
//! member has the HW), so no consumer could have read it, and the history records
//! the cut as invisible. With `unclean.leader.election.enable`, a live out-of-sync
//! replica takes over when no in-sync one is alive, and what it lacks is lost — a
//! truncation consumers must be told of.
//!
//! KIP-392: brokers have racks; with the rack-aware selector a leader answering a
//! Fetch v11+ from a client in another rack names an in-sync replica in the
//! client's rack (`preferred_read_replica`, no records), and a follower serves
//! Fetch v11+ up to its own HW.
//!
//! With the default spec (no lag), followers have every append at once and the HW
//! is the log end, as before this module existed.

use std::collections::{BTreeMap, BTreeSet};

use kasio_core::protocol::ErrorCode;
use kasio_core::rng::Rng;
use kasio_core::time::{Duration, Instant};

use super::cluster::{Cluster, Partition, SimError};

/// How partitions replicate ([`super::ClusterSpec::replication`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationSpec {
    /// How long a follower takes to fetch from its leader once there is something
    /// to fetch (each fetch between half and one and a half of it, seeded). Zero:
    /// followers have every append at once and the high watermark is the log end.
    pub lag: Duration,
    /// Kafka's `replica.lag.time.max.ms`: a follower not caught up for this long
    /// leaves the ISR.
    pub lag_max: Duration,
    /// Kafka's `unclean.leader.election.enable`: with no live in-sync replica, a
    /// live out-of-sync one becomes leader and the log loses what it lacks.
    pub unclean_election: bool,
    /// `broker.rack` per node id (brokers not listed have none).
    pub racks: BTreeMap<i32, String>,
    /// `replica.selector.class=RackAwareReplicaSelector`: leaders send consumers
    /// in another rack to an in-sync replica in theirs (KIP-392).
    pub rack_aware_selector: bool,
}

impl Default for ReplicationSpec {
    fn default() -> Self {
        Self {
            lag: Duration::ZERO,
            lag_max: Duration::from_secs(30),
            unclean_election: false,
            racks: BTreeMap::new(),
            rack_aware_selector: false,
        }
    }
}

/// One replica of a partition as the simulation sees it (for tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaView {
    /// Its log end offset.
    pub log_end_offset: i64,
    /// The high watermark it knows (a follower's trails the leader's).
    pub high_watermark: i64,
    /// Whether it is in the ISR.
    pub in_sync: bool,
    /// Whether it leads the partition.
    pub leader: bool,
}

/// One replica's replication state.
#[derive(Debug, Clone)]
pub(crate) struct Replica {
    /// Log end offset: it holds the leader's log up to here.
    leo: i64,
    /// The high watermark it knows.
    hw: i64,
    /// Its LEO as the leader knows it (from its last fetch).
    acked: i64,
    /// When it last had everything the leader had (Kafka's `lastCaughtUpTimeMs`).
    caught_up: Instant,
    /// Its next fetch from the leader, if it has something to fetch.
    next_fetch: Option<Instant>,
    /// Its fetcher is stuck until then (a slow disk, a GC pause, a network
    /// partition between brokers).
    stalled_until: Option<Instant>,
}

/// The replicas of one partition.
#[derive(Debug, Clone)]
pub(crate) struct Replicas {
    replicas: BTreeMap<i32, Replica>,
    isr: BTreeSet<i32>,
    /// The leader's high watermark (while offline, the last leader's).
    hw: i64,
    /// Transaction markers decided while the partition had no leader: the
    /// transaction coordinator writes them once one is elected.
    pending_markers: Vec<(i64, bool)>,
    /// Record bytes each follower served to consumers.
    follower_bytes: BTreeMap<i32, u64>,
    /// The log end replication last saw: an append past it (by any producer)
    /// is replicated when the cluster next settles.
    seen_end: i64,
}

impl Replicas {
    /// Replicas of a new, empty partition: the live ones are in sync.
    pub(crate) fn new(replicas: &[i32], up: impl Fn(i32) -> bool, now: Instant) -> Self {
        let state = replicas
            .iter()
            .map(|&r| {
                (
                    r,
                    Replica {
                        leo: 0,
                        hw: 0,
                        acked: 0,
                        caught_up: now,
                        next_fetch: None,
                        stalled_until: None,
                    },
                )
            })
            .collect();
        let mut isr: BTreeSet<i32> = replicas.iter().copied().filter(|r| up(*r)).collect();
        if isr.is_empty() {
            isr.extend(replicas.first());
        }
        Self {
            replicas: state,
            isr,
            hw: 0,
            pending_markers: Vec::new(),
            follower_bytes: BTreeMap::new(),
            seen_end: 0,
        }
    }
}

/// What a broker reads a Fetch from: the leader's log, or a follower's prefix.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Source {
    /// The broker leads the partition.
    pub leader: bool,
    /// The broker's log end offset.
    pub leo: i64,
    /// The broker's high watermark: it serves nothing at or above.
    pub hw: i64,
}

/// What replication steps need from the cluster.
struct Ctx<'a> {
    now: Instant,
    spec: &'a ReplicationSpec,
    up: &'a BTreeSet<i32>,
    rng: &'a mut Rng,
}

impl Ctx<'_> {
    /// When a follower's fetch that has something to do happens.
    fn fetch_at(&mut self) -> Instant {
        let us = self.spec.lag.as_micros();
        if us == 0 {
            return self.now;
        }
        self.now + Duration::from_micros(self.rng.range_inclusive(us / 2, us + us / 2).max(1))
    }
}

impl Partition {
    /// The leader's high watermark.
    pub(crate) fn high_watermark(&self) -> i64 {
        self.repl.hw
    }

    /// The leader's last stable offset.
    pub(crate) fn last_stable_offset(&self) -> i64 {
        self.log.last_stable_offset_at(self.repl.hw)
    }

    /// The HW moved (the leader's, or after a cut); the history learns what is
    /// readable.
    fn set_hw(&mut self, hw: i64) {
        self.repl.hw = hw;
        if let Some(l) = self.leader {
            if let Some(st) = self.repl.replicas.get_mut(&l) {
                st.hw = hw;
            }
        }
        self.history.expose(hw);
    }

    /// The leader's own entry follows its log.
    fn sync_leader(&mut self, now: Instant) {
        let end = self.log.log_end();
        let hw = self.repl.hw;
        if let Some(st) = self.leader.and_then(|l| self.repl.replicas.get_mut(&l)) {
            st.leo = end;
            st.acked = end;
            st.hw = hw;
            st.caught_up = now;
            st.next_fetch = None;
        }
    }

    /// The leader advances its HW to the smallest LEO it knows in the ISR (never
    /// backwards, as Kafka's `maybeIncrementLeaderHW`). Returns whether it moved.
    fn update_hw(&mut self) -> bool {
        let Some(leader) = self.leader else {
            return false;
        };
        let end = self.log.log_end();
        let min = self
            .repl
            .isr
            .iter()
            .map(|r| {
                if *r == leader {
                    end
                } else {
                    self.repl.replicas.get(r).map_or(end, |s| s.acked)
                }
            })
            .min()
            .unwrap_or(end);
        let hw = self.repl.hw.max(min.min(end));
        let moved = hw != self.repl.hw;
        self.set_hw(hw);
        moved
    }

    /// Every replica loses what the leader's log lost at `at`.
    fn cut_replicas(&mut self, at: i64) {
        for st in self.repl.replicas.values_mut() {
            st.leo = st.leo.min(at);
            st.hw = st.hw.min(at);
            st.acked = st.acked.min(at);
        }
        let hw = self.repl.hw.min(at);
        self.set_hw(hw);
        self.repl.seen_end = self.log.log_end();
    }

    /// Schedules a fetch for every live follower that has something to learn.
    fn wake_followers(&mut self, ctx: &mut Ctx) {
        let Some(leader) = self.leader else {
            return;
        };
        let end = self.log.log_end();
        let hw = self.repl.hw;
        for (r, st) in &mut self.repl.replicas {
            if *r == leader || !ctx.up.contains(r) || st.next_fetch.is_some() {
                continue;
            }
            if st.leo < end || st.hw < hw || st.acked < st.leo {
                st.next_fetch = Some(ctx.fetch_at());
            }
        }
    }

    /// The leader appended (past what replication last saw): followers that had
    /// everything were caught up until now, and all have something to fetch.
    fn on_append(&mut self, ctx: &mut Ctx) {
        let now = ctx.now;
        let before = self.repl.seen_end;
        self.repl.seen_end = self.log.log_end();
        for st in self.repl.replicas.values_mut() {
            if st.leo >= before {
                st.caught_up = now;
            }
        }
        self.sync_leader(now);
        self.update_hw();
        self.wake_followers(ctx);
    }

    /// One fetch of follower `r`: the leader learns its LEO (and may take it back
    /// into the ISR and advance the HW), then it gets the leader's log end and HW.
    fn follower_fetch(&mut self, r: i32, ctx: &mut Ctx) {
        let now = ctx.now;
        let leader = self.leader;
        let Some(st) = self.repl.replicas.get_mut(&r) else {
            return;
        };
        st.next_fetch = None;
        if leader.is_none() || leader == Some(r) || !ctx.up.contains(&r) {
            return;
        }
        if let Some(until) = st.stalled_until {
            if now < until {
                st.next_fetch = Some(until);
                return;
            }
            st.stalled_until = None;
        }
        st.acked = st.leo;
        let acked = st.acked;
        // Kafka's `isFollowerInSync`: at the HW and past the start of the leader's
        // epoch (so it holds nothing of an older leader's that this one cut).
        let epoch_start = self.log.epochs().last().map_or(0, |e| e.1);
        if !self.repl.isr.contains(&r) && acked >= self.repl.hw.max(epoch_start) {
            self.repl.isr.insert(r);
        }
        self.update_hw();
        let end = self.log.log_end();
        let hw = self.repl.hw;
        let st = self.repl.replicas.get_mut(&r).expect("looked up");
        st.leo = end;
        st.hw = hw.min(end);
        st.caught_up = now;
        if st.acked < st.leo || st.hw < hw {
            st.next_fetch = Some(ctx.fetch_at());
        }
        // Others learn a new HW from their next fetch.
        self.wake_followers(ctx);
    }

    /// Followers not caught up for `replica.lag.time.max.ms` leave the ISR (and
    /// the HW may move up). Returns whether the ISR changed.
    fn shrink_isr(&mut self, ctx: &Ctx) -> bool {
        let Some(leader) = self.leader else {
            return false;
        };
        let end = self.log.log_end();
        let lag_max = ctx.spec.lag_max;
        let out: Vec<i32> = self
            .repl
            .isr
            .iter()
            .copied()
            .filter(|r| *r != leader)
            .filter(|r| {
                self.repl
                    .replicas
                    .get(r)
                    .is_some_and(|s| s.leo < end && ctx.now >= s.caught_up + lag_max)
            })
            .collect();
        for r in &out {
            self.repl.isr.remove(r);
        }
        if !out.is_empty() {
            self.update_hw();
        }
        !out.is_empty()
    }

    /// When something is due next: a follower fetch, or an ISR expiry.
    fn next_deadline(&self, lag_max: Duration) -> Option<Instant> {
        let fetches = self.repl.replicas.values().filter_map(|s| s.next_fetch);
        let end = self.log.log_end();
        let expiries = self.leader.into_iter().flat_map(move |leader| {
            self.repl
                .isr
                .iter()
                .filter(move |r| **r != leader)
                .filter_map(|r| self.repl.replicas.get(r))
                .filter(move |s| s.leo < end)
                .map(move |s| s.caught_up + lag_max)
        });
        fetches.chain(expiries).min()
    }

    /// Runs everything due at `ctx.now` until nothing is. Returns whether anything
    /// changed.
    fn run_due(&mut self, ctx: &mut Ctx) -> bool {
        let mut changed = false;
        if self.leader.is_some() && self.log.log_end() != self.repl.seen_end {
            self.on_append(ctx);
            changed = true;
        }
        for _ in 0..100_000 {
            let now = ctx.now;
            let due: Vec<i32> = self
                .repl
                .replicas
                .iter()
                .filter(|(_, s)| s.next_fetch.is_some_and(|t| t <= now))
                .map(|(r, _)| *r)
                .collect();
            let expiring = self
                .next_deadline(ctx.spec.lag_max)
                .is_some_and(|t| t <= now);
            if due.is_empty() && !expiring {
                return changed;
            }
            changed = true;
            for r in due {
                self.follower_fetch(r, ctx);
            }
            self.shrink_isr(ctx);
        }
        panic!("replication did not settle at {:?}", ctx.now);
    }
}

impl Cluster {
    /// Runs the replication steps that are due (follower fetches, ISR expiry);
    /// with no lag, everything settles at once.
    pub(crate) fn replicate(&mut self) {
        let up = self.live_brokers();
        let Self {
            topics,
            rng,
            spec,
            now,
            dirty,
            ..
        } = self;
        let mut ctx = Ctx {
            now: *now,
            spec: &spec.replication,
            up: &up,
            rng,
        };
        for t in topics.values_mut() {
            for part in &mut t.partitions {
                if part.run_due(&mut ctx) {
                    *dirty = true;
                }
            }
        }
    }

    /// When [`replicate`](Self::replicate) has something to do next.
    pub(crate) fn replication_deadline(&self) -> Option<Instant> {
        let lag_max = self.spec.replication.lag_max;
        self.topics
            .values()
            .flat_map(|t| &t.partitions)
            .filter_map(|p| p.next_deadline(lag_max))
            .min()
    }

    fn live_brokers(&self) -> BTreeSet<i32> {
        self.brokers
            .iter()
            .filter(|(_, b)| b.up)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Runs `f` on one partition with a replication context, then what is due.
    fn with_replicas<R>(
        &mut self,
        topic: &str,
        p: i32,
        f: impl FnOnce(&mut Partition, &mut Ctx) -> R,
    ) -> Result<R, SimError> {
        let up = self.live_brokers();
        let Self {
            topics,
            rng,
            spec,
            now,
            dirty,
            ..
        } = self;
        let part = topics
            .get_mut(topic)
            .and_then(|t| t.partitions.get_mut(usize::try_from(p).ok()?))
            .ok_or_else(|| SimError::UnknownPartition(topic.into(), p))?;
        let mut ctx = Ctx {
            now: *now,
            spec: &spec.replication,
            up: &up,
            rng,
        };
        let r = f(part, &mut ctx);
        part.run_due(&mut ctx);
        *dirty = true;
        Ok(r)
    }

    /// The leader of `topic`-`p` appended: replicate it (at once, without lag).
    /// Appends nobody reports are found when the cluster next settles.
    pub(crate) fn replicate_append(&mut self, topic: &str, p: i32) {
        let _ = self.with_replicas(topic, p, |part, ctx| part.on_append(ctx));
    }

    /// The log start moved to `start`: followers that were behind it start over
    /// from there (Kafka's follower truncates fully and fetches from the leader's
    /// log start).
    pub(crate) fn replicate_log_start(&mut self, topic: &str, p: i32, start: i64) {
        let _ = self.with_replicas(topic, p, |part, _| {
            for st in part.repl.replicas.values_mut() {
                st.leo = st.leo.max(start);
                st.hw = st.hw.max(start).min(st.leo);
            }
        });
    }

    /// An explicit unclean election ([`Cluster::truncate`]) cut the log at `at`:
    /// every replica loses the tail, the leader is alone in the ISR, the others
    /// rejoin as they catch up.
    pub(crate) fn replicate_truncation(&mut self, topic: &str, p: i32, at: i64) {
        let _ = self.with_replicas(topic, p, |part, ctx| {
            part.cut_replicas(at);
            if let Some(l) = part.leader {
                part.repl.isr = BTreeSet::from([l]);
                let hw = part
                    .repl
                    .replicas
                    .get(&l)
                    .map_or(at, |s| s.hw)
                    .max(part.repl.hw)
                    .min(at);
                part.set_hw(hw);
            }
            part.sync_leader(ctx.now);
            part.update_hw();
            part.wake_followers(ctx);
        });
    }

    /// The largest log end `new_leader` (or the current leader) holds, for an
    /// explicit truncation: a replica cannot lead with more than it replicated.
    pub(crate) fn replica_log_end(&self, topic: &str, p: i32, broker: Option<i32>) -> i64 {
        let Ok(part) = self.partition(topic, p) else {
            return 0;
        };
        match broker.or(part.leader) {
            Some(b) if part.leader != Some(b) => part
                .repl
                .replicas
                .get(&b)
                .map_or(part.log.log_end(), |s| s.leo),
            _ => part.log.log_end(),
        }
    }

    /// Whether `broker` is in the ISR of `topic`-`p`.
    pub(crate) fn in_sync(&self, topic: &str, p: i32, broker: i32) -> bool {
        self.partition(topic, p)
            .is_ok_and(|part| part.repl.isr.contains(&broker))
    }

    /// `new` becomes the leader of `topic`-`p` (elected from the ISR, or uncleanly
    /// from outside it). Its log is the log now: a tail it lacks is cut.
    pub(crate) fn make_leader(&mut self, topic: &str, p: i32, new: i32, unclean: bool) {
        let mut reopened = Vec::new();
        let mut pending = Vec::new();
        let mut note = None;
        let _ = self.with_replicas(topic, p, |part, ctx| {
            let leo = part
                .repl
                .replicas
                .get(&new)
                .map_or(part.log.log_end(), |s| s.leo);
            let own_hw = part.repl.replicas.get(&new).map_or(0, |s| s.hw);
            if leo < part.log.log_end() {
                let end = part.log.log_end();
                let (at, re) = part.log.truncate(leo);
                let visible = part.history.cut(at);
                part.cut_replicas(at);
                reopened = re;
                note = Some(format!(
                    "{} election of b{new} cuts {topic}-{p} at {at} (log end was {end}, \
                     {})",
                    if unclean { "unclean" } else { "clean" },
                    if visible {
                        "records consumers could read are lost"
                    } else {
                        "nothing committed is lost"
                    }
                ));
            }
            part.leader = Some(new);
            part.epoch += 1;
            let epoch = part.epoch;
            part.log.assign_epoch(epoch);
            if unclean {
                part.repl.isr = BTreeSet::from([new]);
            } else {
                part.repl.isr.insert(new);
            }
            // The new leader's HW is the one it knew as a follower: it may trail
            // what the old leader exposed, and catches up as followers fetch.
            let hw = own_hw.min(part.log.log_end());
            part.set_hw(hw);
            part.sync_leader(ctx.now);
            part.update_hw();
            for st in part.repl.replicas.values_mut() {
                st.next_fetch = None;
            }
            part.wake_followers(ctx);
            pending = std::mem::take(&mut part.repl.pending_markers);
        });
        if let Some(n) = note {
            self.notes.push((None, n));
        }
        for (pid, ty) in reopened {
            // A transaction still open in the producer's view keeps waiting for it.
            if !self.txns.contains_key(&pid) {
                pending.push((pid, ty == kasio_core::records::ControlType::Commit));
            }
        }
        for (pid, commit) in pending {
            self.write_marker(topic, p, pid, commit);
        }
    }

    /// Elects a leader for `topic`-`p` (which has none): the first live in-sync
    /// replica, else (unclean elections on) the first live one. With none, the
    /// partition stays offline.
    pub(crate) fn elect(&mut self, topic: &str, p: i32) {
        let Ok(part) = self.partition(topic, p) else {
            return;
        };
        let clean = part
            .replicas
            .iter()
            .copied()
            .find(|r| self.is_up(*r) && part.repl.isr.contains(r));
        let unclean = part.replicas.iter().copied().find(|r| self.is_up(*r));
        match (clean, unclean) {
            (Some(r), _) => self.make_leader(topic, p, r, false),
            (None, Some(r)) if self.spec.replication.unclean_election => {
                self.make_leader(topic, p, r, true)
            }
            _ => {
                // Offline. (The epoch still moves, as the controller records the
                // leader change.)
                if let Ok(part) = self.partition_mut(topic, p) {
                    part.leader = None;
                    part.epoch += 1;
                    let epoch = part.epoch;
                    part.log.assign_epoch(epoch);
                }
            }
        }
    }

    /// The controller learned that `broker` died: it leaves every ISR (unless it
    /// is the last member: Kafka keeps the ISR non-empty, to know who may lead
    /// cleanly), and the partitions it led elect a new leader.
    pub(crate) fn replication_broker_down(&mut self, broker: i32) {
        let mut led = Vec::new();
        for (name, t) in &mut self.topics {
            for (i, part) in t.partitions.iter_mut().enumerate() {
                let Some(st) = part.repl.replicas.get_mut(&broker) else {
                    continue;
                };
                st.next_fetch = None;
                if part.repl.isr.len() > 1 {
                    part.repl.isr.remove(&broker);
                }
                if part.leader == Some(broker) {
                    part.leader = None;
                    led.push((name.clone(), i as i32));
                } else {
                    part.update_hw();
                }
            }
        }
        for (t, p) in led {
            self.elect(&t, p);
        }
        self.replicate();
        self.dirty = true;
    }

    /// `broker` is back: it fetches again where it leads nothing, and offline
    /// partitions elect a leader.
    pub(crate) fn replication_broker_up(&mut self, broker: i32) {
        let mut offline = Vec::new();
        let mut following = Vec::new();
        for (name, t) in &self.topics {
            for (i, part) in t.partitions.iter().enumerate() {
                if !part.replicas.contains(&broker) {
                    continue;
                }
                if part.leader.is_none() {
                    offline.push((name.clone(), i as i32));
                } else {
                    following.push((name.clone(), i as i32));
                }
            }
        }
        for (t, p) in offline {
            self.elect(&t, p);
        }
        for (t, p) in following {
            let _ = self.with_replicas(&t, p, |part, ctx| part.wake_followers(ctx));
        }
        self.replicate();
        self.dirty = true;
    }

    /// Writes the markers that waited for `topic`-`p` to have a leader again.
    pub(crate) fn flush_pending_markers(&mut self, topic: &str, p: i32) {
        let pending = match self.partition_mut(topic, p) {
            Ok(part) if part.leader.is_some() => std::mem::take(&mut part.repl.pending_markers),
            _ => return,
        };
        for (pid, commit) in pending {
            self.write_marker(topic, p, pid, commit);
        }
    }

    /// A transaction marker for a partition without a leader waits for one.
    pub(crate) fn defer_marker(&mut self, topic: &str, p: i32, pid: i64, commit: bool) {
        if let Ok(part) = self.partition_mut(topic, p) {
            part.repl.pending_markers.push((pid, commit));
        }
    }

    /// Where `broker` reads a Fetch for `topic`-`p` from, or the error Kafka
    /// answers: epoch checks first (FENCED_LEADER_EPOCH when the client is behind,
    /// UNKNOWN_LEADER_EPOCH when ahead), then leadership — a follower serves only
    /// `follower_ok` requests (Fetch v11+, which carry client metadata).
    pub(crate) fn fetch_source(
        &self,
        broker: i32,
        topic: &str,
        p: i32,
        current_epoch: i32,
        follower_ok: bool,
    ) -> Result<(&Partition, Source), ErrorCode> {
        let part = self
            .partition(topic, p)
            .map_err(|_| ErrorCode::UnknownTopicOrPartition)?;
        if !part.replicas.contains(&broker) {
            return Err(ErrorCode::NotLeaderOrFollower);
        }
        if current_epoch >= 0 && current_epoch < part.epoch {
            return Err(ErrorCode::FencedLeaderEpoch);
        }
        if current_epoch > part.epoch {
            return Err(ErrorCode::UnknownLeaderEpoch);
        }
        if part.leader == Some(broker) {
            let source = Source {
                leader: true,
                leo: part.log.log_end(),
                hw: part.repl.hw,
            };
            return Ok((part, source));
        }
        match part.repl.replicas.get(&broker) {
            Some(st) if follower_ok => Ok((
                part,
                Source {
                    leader: false,
                    leo: st.leo,
                    hw: st.hw,
                },
            )),
            _ => Err(ErrorCode::NotLeaderOrFollower),
        }
    }

    /// Kafka's `RackAwareReplicaSelector`, as the leader of `part` applies it to a
    /// consumer in `rack` fetching at `fetch_offset`: among the leader and the
    /// in-sync followers known to hold that offset, those in the client's rack;
    /// none, or the leader among them: the leader (`None`); else the most caught-up
    /// (highest LEO, then most recently caught up; lowest id on a tie).
    pub(crate) fn preferred_read_replica(
        &self,
        part: &Partition,
        rack: &str,
        fetch_offset: i64,
    ) -> Option<i32> {
        let repl = &self.spec.replication;
        let leader = part.leader?;
        if !repl.rack_aware_selector || rack.is_empty() {
            return None;
        }
        let in_rack = |b: i32| repl.racks.get(&b).is_some_and(|r| r == rack);
        if in_rack(leader) {
            return None;
        }
        let log_start = part.log.log_start();
        part.repl
            .isr
            .iter()
            .copied()
            .filter(|r| *r != leader && self.is_up(*r) && in_rack(*r))
            .filter_map(|r| part.repl.replicas.get(&r).map(|s| (r, s)))
            .filter(|(_, s)| s.acked >= fetch_offset && log_start <= fetch_offset)
            .max_by_key(|(r, s)| (s.acked, s.caught_up, std::cmp::Reverse(*r)))
            .map(|(r, _)| r)
    }

    /// A follower served `bytes` of records of `topic`-`p` to a consumer.
    pub(crate) fn count_follower_read(&mut self, topic: &str, p: i32, broker: i32, bytes: usize) {
        if let Ok(part) = self.partition_mut(topic, p) {
            if part.leader != Some(broker) && bytes > 0 {
                *part.repl.follower_bytes.entry(broker).or_default() += bytes as u64;
            }
        }
    }

    /// Metadata's view of the ISR, in assignment order.
    pub(crate) fn isr_nodes(&self, part: &Partition) -> Vec<i32> {
        part.replicas
            .iter()
            .copied()
            .filter(|r| part.repl.isr.contains(r))
            .collect()
    }

    // ----- simulation-side API -----------------------------------------------------

    /// A broker's rack (`broker.rack`), if it has one.
    pub fn rack(&self, broker: i32) -> Option<&str> {
        self.spec.replication.racks.get(&broker).map(String::as_str)
    }

    /// The in-sync replicas of a partition, in assignment order.
    pub fn isr(&self, topic: &str, p: i32) -> Result<Vec<i32>, SimError> {
        Ok(self.isr_nodes(self.partition(topic, p)?))
    }

    /// One replica of a partition: its log end, the HW it knows, whether it is in
    /// sync and whether it leads.
    pub fn replica(&self, topic: &str, p: i32, broker: i32) -> Result<ReplicaView, SimError> {
        let part = self.partition(topic, p)?;
        let st = part
            .repl
            .replicas
            .get(&broker)
            .ok_or(SimError::BadBroker(broker))?;
        Ok(ReplicaView {
            log_end_offset: st.leo,
            high_watermark: st.hw,
            in_sync: part.repl.isr.contains(&broker),
            leader: part.leader == Some(broker),
        })
    }

    /// Record bytes each follower of a partition served to consumers (KIP-392).
    pub fn follower_reads(&self, topic: &str, p: i32) -> Result<BTreeMap<i32, u64>, SimError> {
        Ok(self.partition(topic, p)?.repl.follower_bytes.clone())
    }

    /// Stalls `broker`'s replica fetchers until `until` (its followers stop
    /// replicating: they fall behind, and out of the ISR after
    /// `replica.lag.time.max.ms`).
    pub fn stall_replication(&mut self, broker: i32, until: Instant) {
        for t in self.topics.values_mut() {
            for part in &mut t.partitions {
                if let Some(st) = part.repl.replicas.get_mut(&broker) {
                    st.stalled_until = Some(until);
                }
            }
        }
        self.dirty = true;
    }

    /// Ends every replication stall now.
    pub fn resume_replication(&mut self) {
        let now = self.now;
        for t in self.topics.values_mut() {
            for part in &mut t.partitions {
                for st in part.repl.replicas.values_mut() {
                    if st.stalled_until.take().is_some() && st.next_fetch.is_some() {
                        st.next_fetch = Some(now);
                    }
                }
            }
        }
        self.replicate();
        self.dirty = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{ClusterSpec, SimRecord};
    use kasio_core::records::Compression;

    fn recs(n: usize) -> Vec<SimRecord> {
        (0..n)
            .map(|i| SimRecord::new(1000 + i as i64, None, Some(b"v")))
            .collect()
    }

    fn lagging(lag_ms: u64) -> ClusterSpec {
        let mut spec = ClusterSpec::new(3).topic("t", 1, 3);
        spec.replication.lag = Duration::from_millis(lag_ms);
        spec.replication.lag_max = Duration::from_millis(100);
        spec
    }

    /// Runs the cluster's timers up to `ms`, each at its time (as a driver does).
    fn at(c: &mut Cluster, ms: u64) {
        let target = Instant::ZERO + Duration::from_millis(ms);
        while let Some(t) = c.poll_timeout().filter(|t| *t <= target) {
            c.handle_timeout(t);
        }
        c.handle_timeout(target);
    }

    #[test]
    fn no_lag_means_every_append_is_visible_at_once() {
        let mut c = Cluster::new(ClusterSpec::new(3).topic("t", 1, 3));
        c.produce("t", 0, &recs(5), Compression::None).unwrap();
        let v = c.view("t", 0).unwrap();
        assert_eq!((v.high_watermark, v.log_end_offset), (5, 5));
        assert_eq!(c.isr("t", 0).unwrap(), vec![1, 2, 3]);
        for b in 1..=3 {
            let r = c.replica("t", 0, b).unwrap();
            assert_eq!((r.log_end_offset, r.high_watermark), (5, 5));
        }
        assert_eq!(c.replication_deadline(), None);
    }

    #[test]
    fn the_high_watermark_waits_for_the_isr_and_followers_learn_it_later() {
        let mut c = Cluster::new(lagging(10));
        c.produce("t", 0, &recs(5), Compression::None).unwrap();
        let v = c.view("t", 0).unwrap();
        assert_eq!((v.high_watermark, v.log_end_offset), (0, 5));
        // Within 1.5 lags every follower fetched once: the data is there, the
        // leader does not know it yet.
        at(&mut c, 15);
        assert_eq!(c.replica("t", 0, 2).unwrap().log_end_offset, 5);
        assert_eq!(c.view("t", 0).unwrap().high_watermark, 0);
        // Their next fetches tell it; the one after tells them the HW.
        at(&mut c, 30);
        assert_eq!(c.view("t", 0).unwrap().high_watermark, 5);
        at(&mut c, 60);
        for b in 2..=3 {
            assert_eq!(c.replica("t", 0, b).unwrap().high_watermark, 5);
        }
        assert_eq!(c.replication_deadline(), None);
    }

    #[test]
    fn a_stalled_follower_leaves_the_isr_and_rejoins_when_caught_up() {
        let mut c = Cluster::new(lagging(5));
        c.stall_replication(3, Instant::ZERO + Duration::from_millis(500));
        c.produce("t", 0, &recs(5), Compression::None).unwrap();
        at(&mut c, 50);
        // Broker 3 holds the HW back until it leaves the ISR.
        assert_eq!(c.view("t", 0).unwrap().high_watermark, 0);
        at(&mut c, 101);
        assert_eq!(c.isr("t", 0).unwrap(), vec![1, 2]);
        at(&mut c, 120);
        assert_eq!(c.view("t", 0).unwrap().high_watermark, 5);
        assert_eq!(c.replica("t", 0, 3).unwrap().log_end_offset, 0);
        // The stall ends: it catches up and is back in sync.
        at(&mut c, 500);
        at(&mut c, 530);
        assert_eq!(c.isr("t", 0).unwrap(), vec![1, 2, 3]);
        assert_eq!(c.replica("t", 0, 3).unwrap().log_end_offset, 5);
    }

    #[test]
    fn a_clean_election_cuts_only_the_uncommitted_tail() {
        let mut c = Cluster::new(lagging(10));
        c.produce("t", 0, &recs(5), Compression::None).unwrap();
        at(&mut c, 60);
        assert_eq!(c.view("t", 0).unwrap().high_watermark, 5);
        // More data that no follower has yet, then the leader dies.
        c.produce("t", 0, &recs(3), Compression::None).unwrap();
        c.crash_broker(1);
        let v = c.view("t", 0).unwrap();
        assert_eq!((v.leader, v.log_end_offset), (Some(2), 5));
        let h = c.history("t", 0).unwrap();
        assert_eq!(h.truncations(), &[5]);
        assert!(h.visible_truncations().is_empty());
    }

    #[test]
    fn an_unclean_election_loses_committed_records_visibly() {
        let mut spec = lagging(5);
        spec.replication.unclean_election = true;
        let mut c = Cluster::new(spec);
        c.stall_replication(3, Instant::ZERO + Duration::from_secs(10));
        c.produce("t", 0, &recs(5), Compression::None).unwrap();
        at(&mut c, 200);
        assert_eq!(c.isr("t", 0).unwrap(), vec![1, 2]);
        assert_eq!(c.view("t", 0).unwrap().high_watermark, 5);
        // Both in-sync replicas die: only broker 3 (empty) is left.
        c.crash_broker(2);
        c.crash_broker(1);
        let v = c.view("t", 0).unwrap();
        assert_eq!((v.leader, v.log_end_offset), (Some(3), 0));
        assert_eq!(c.history("t", 0).unwrap().visible_truncations(), vec![0]);
    }

    #[test]
    fn without_unclean_elections_an_out_of_sync_replica_waits_for_the_isr() {
        let mut c = Cluster::new(lagging(5));
        c.stall_replication(3, Instant::ZERO + Duration::from_secs(10));
        c.produce("t", 0, &recs(5), Compression::None).unwrap();
        at(&mut c, 200);
        c.crash_broker(2);
        c.crash_broker(1);
        assert_eq!(c.view("t", 0).unwrap().leader, None);
        assert_eq!(c.isr("t", 0).unwrap(), vec![1]);
        c.restart_broker(1);
        let v = c.view("t", 0).unwrap();
        assert_eq!((v.leader, v.high_watermark), (Some(1), 5));
    }

    #[test]
    fn the_selector_names_an_in_sync_replica_in_the_clients_rack() {
        let mut spec = ClusterSpec::new(3).topic("t", 1, 3);
        spec.replication.rack_aware_selector = true;
        for (b, r) in [(1, "a"), (2, "b"), (3, "c")] {
            spec.replication.racks.insert(b, r.into());
        }
        let mut c = Cluster::new(spec);
        c.produce("t", 0, &recs(5), Compression::None).unwrap();
        let part = c.partition("t", 0).unwrap();
        assert_eq!(c.preferred_read_replica(part, "b", 3), Some(2));
        assert_eq!(c.preferred_read_replica(part, "a", 3), None);
        assert_eq!(c.preferred_read_replica(part, "z", 3), None);
        assert_eq!(c.preferred_read_replica(part, "", 3), None);
        // Not known to hold the offset: the leader serves it.
        assert_eq!(c.preferred_read_replica(part, "b", 6), None);
        // Followers serve v11+ only, up to their own HW.
        let (_, s) = c.fetch_source(3, "t", 0, 0, true).unwrap();
        assert_eq!((s.leader, s.hw), (false, 5));
        assert_eq!(
            c.fetch_source(3, "t", 0, 0, false).err(),
            Some(ErrorCode::NotLeaderOrFollower)
        );
    }
}
