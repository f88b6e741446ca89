//! What every group interop test checks about its members' reports, whatever the
//! clients: every record consumed with its produced content, a second read of a
//! record only if no commit covered the first, and in no generation a partition
//! held by two members; and the hand-over of committed offsets from client to
//! client ([`handover`]). The workload is `scripts/rig/produce.py`'s (record `i` goes
//! to partition `i % partitions`; see [`crate::workload`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use super::{GroupPeer, PeerConfig, PeerEvent, PeerKind, RebalanceKind, Tp};
use crate::workload::expected;

/// A topic the workload was produced into.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    /// The topic.
    pub topic: &'static str,
    /// Its partition count.
    pub partitions: i32,
    /// Value size of the records.
    pub value_size: usize,
}

/// What [`Workload::check_records`] found.
#[derive(Debug)]
pub struct Consumed {
    /// Reads of a record that had been read before.
    pub duplicates: usize,
    /// Per peer (in the order given), reads of a record some peer read again
    /// later: what that peer read and did not commit before it went.
    pub reread: Vec<usize>,
    /// First offset each peer read per partition, in the order of the peers.
    pub first: Vec<BTreeMap<i32, i64>>,
}

/// One read of a record: which peer, where in its log, whether a commit of that
/// peer covered it (see [`covered`]).
#[derive(Debug, Clone, Copy)]
struct Read {
    peer: usize,
    index: usize,
    covered: bool,
}

impl Workload {
    /// Every partition of the topic.
    pub fn all_partitions(&self) -> BTreeSet<Tp> {
        (0..self.partitions)
            .map(|p| (self.topic.to_string(), p))
            .collect()
    }

    /// The end offset of `partition` once `records` are produced.
    pub fn end_offset(&self, partition: i32, records: u64) -> i64 {
        let p = partition as u64;
        let n = self.partitions as u64;
        (records / n + u64::from(records % n > p)) as i64
    }

    /// Every partition's end offset once `records` are produced, as committed
    /// offsets read back.
    pub fn ends(&self, records: u64) -> BTreeMap<i32, Option<i64>> {
        (0..self.partitions)
            .map(|p| (p, Some(self.end_offset(p, records))))
            .collect()
    }

    /// Every record of `0..records` was read with its produced content, and every
    /// second read of a record comes after no commit covering it (see [`covered`]).
    pub fn check_records(&self, peers: &[&GroupPeer], records: u64) -> Consumed {
        let mut reads: HashMap<(i32, i64), Vec<Read>> = HashMap::new();
        let mut first = vec![BTreeMap::new(); peers.len()];
        for (pi, peer) in peers.iter().enumerate() {
            for (i, e) in peer.log.iter().enumerate() {
                let PeerEvent::Record(r) = e else { continue };
                assert_eq!(r.topic, self.topic, "{}", peer.label);
                let seq = r.offset as u64 * self.partitions as u64 + r.partition as u64;
                assert!(
                    seq < records,
                    "{}: offset {} of partition {} was never produced",
                    peer.label,
                    r.offset,
                    r.partition
                );
                let want = expected(seq, self.value_size);
                assert_eq!(
                    r.key, want.key,
                    "{}: key of record {seq} ({}:{})",
                    peer.label, r.partition, r.offset
                );
                assert_eq!(
                    r.value_len,
                    want.value.as_ref().map(Vec::len),
                    "{}: value length of record {seq}",
                    peer.label
                );
                first[pi].entry(r.partition).or_insert(r.offset);
                reads
                    .entry((r.partition, r.offset))
                    .or_default()
                    .push(Read {
                        peer: pi,
                        index: i,
                        covered: covered(peer, i, r.partition, r.offset),
                    });
            }
        }
        for p in 0..self.partitions {
            for o in 0..self.end_offset(p, records) {
                assert!(
                    reads.contains_key(&(p, o)),
                    "record {p}:{o} was never consumed"
                );
            }
        }
        let mut duplicates = 0;
        let mut reread = vec![0; peers.len()];
        for ((p, o), rs) in &reads {
            if rs.len() < 2 {
                continue;
            }
            duplicates += rs.len() - 1;
            for r in rs.iter().filter(|r| !r.covered) {
                reread[r.peer] += 1;
            }
            // A read whose commit covered the record may only be the last read of it:
            // within one peer the order is known; across peers, two covered reads
            // mean one of them came before another read.
            let covered: Vec<_> = rs.iter().filter(|r| r.covered).collect();
            assert!(
                covered.len() <= 1,
                "record {p}:{o} was read again after a commit covering it: {rs:?}"
            );
            for c in covered {
                assert!(
                    !rs.iter().any(|r| r.peer == c.peer && r.index > c.index),
                    "{}: record {p}:{o} read again after its own commit covering it",
                    peers[c.peer].label
                );
            }
        }
        Consumed {
            duplicates,
            reread,
            first,
        }
    }

    /// Every one of `peers` holds partitions, none held twice, all of them held,
    /// counts within one of each other (by the last assignment each reported).
    pub fn settled(&self, peers: &[&mut GroupPeer]) -> bool {
        let mut union = BTreeSet::new();
        let (mut least, mut most) = (usize::MAX, 0);
        for p in peers {
            let a = p.assignment();
            if a.is_empty() || !union.is_disjoint(&a) {
                return false;
            }
            least = least.min(a.len());
            most = most.max(a.len());
            union.extend(a);
        }
        // Balanced too: every assignor gives members of the same subscription
        // counts within one of each other. A cooperative round that only revoked
        // (its follow-up round still to come) can cover every partition while one
        // member holds too many: the group is still forming then, and on tansu a
        // leader leaving a forming group stalls it (scripts/rig/README.md).
        union == self.all_partitions() && most.saturating_sub(least) <= 1
    }

    /// The group's committed offsets of every partition, read back through `peer`
    /// (OffsetFetch through its client).
    pub fn committed(&self, peer: &mut GroupPeer) -> BTreeMap<i32, Option<i64>> {
        let all: Vec<Tp> = self.all_partitions().into_iter().collect();
        peer.committed(&all)
            .into_iter()
            .map(|(_, p, o)| (p, o))
            .collect()
    }
}

/// Whether `peer` successfully committed past `offset` of `partition` after
/// reading it at `log[index]`, before giving the partition up.
pub fn covered(peer: &GroupPeer, index: usize, partition: i32, offset: i64) -> bool {
    for e in &peer.log[index + 1..] {
        match e {
            PeerEvent::Commit(c)
                if c.error.is_none()
                    && c.offsets
                        .iter()
                        .any(|(_, p, o)| *p == partition && o.is_some_and(|o| o > offset)) =>
            {
                return true;
            }
            PeerEvent::Rebalance(r)
                if r.kind != RebalanceKind::Assigned
                    && r.partitions.iter().any(|(_, p)| *p == partition) =>
            {
                return false;
            }
            _ => {}
        }
    }
    false
}

/// Classic protocol: in no generation did two members hold the same partition. A
/// member holds, in generation G, every partition of an assignment it reported in
/// G and every partition it revoked or lost in G. Returns the generations seen.
pub fn check_generations(peers: &[&GroupPeer]) -> BTreeSet<i32> {
    let mut held: Vec<BTreeMap<i32, BTreeSet<Tp>>> = vec![BTreeMap::new(); peers.len()];
    for (pi, peer) in peers.iter().enumerate() {
        for r in peer.rebalances() {
            let Some(gen) = r.gen.filter(|g| *g >= 0) else {
                continue;
            };
            let set = held[pi].entry(gen).or_default();
            set.extend(r.assignment.iter().cloned());
            if r.kind != RebalanceKind::Assigned {
                set.extend(r.partitions.iter().cloned());
            }
        }
    }
    let gens: BTreeSet<i32> = held.iter().flat_map(|h| h.keys().copied()).collect();
    for gen in &gens {
        for a in 0..peers.len() {
            for b in a + 1..peers.len() {
                let (Some(x), Some(y)) = (held[a].get(gen), held[b].get(gen)) else {
                    continue;
                };
                let both: Vec<_> = x.intersection(y).collect();
                assert!(
                    both.is_empty(),
                    "generation {gen}: {} and {} both held {both:?}",
                    peers[a].label,
                    peers[b].label
                );
            }
        }
    }
    gens
}

/// Pumps every peer until `cond` holds; panics after `timeout` or if one dies.
pub fn wait_all(
    peers: &mut [&mut GroupPeer],
    timeout: Duration,
    what: &str,
    cond: impl Fn(&[&mut GroupPeer]) -> bool,
) {
    let deadline = Instant::now() + timeout;
    while !cond(peers) {
        for p in peers.iter_mut() {
            p.assert_alive();
            p.pump(Duration::from_millis(20));
        }
        if Instant::now() > deadline {
            let state: Vec<String> = peers
                .iter()
                .map(|p| format!("{}: {}", p.label, p.describe()))
                .collect();
            panic!("timed out after {timeout:?} waiting for {what}: {state:#?}");
        }
    }
}

/// Distinct (partition, offset) pairs read by all `peers`.
pub fn distinct(peers: &[&GroupPeer]) -> usize {
    peers
        .iter()
        .flat_map(|p| p.records().map(|r| (r.partition, r.offset)))
        .collect::<BTreeSet<_>>()
        .len()
}

/// The last successful commit per partition.
pub fn last_commits(peer: &GroupPeer) -> BTreeMap<i32, i64> {
    let mut out = BTreeMap::new();
    for c in peer.commits().filter(|c| c.error.is_none()) {
        for (_, p, o) in &c.offsets {
            if let Some(o) = o {
                out.insert(*p, *o);
            }
        }
    }
    out
}

/// Per partition, the offset after the last record `peer` read.
pub fn next_offsets(peer: &GroupPeer) -> BTreeMap<i32, i64> {
    let mut out = BTreeMap::new();
    for r in peer.records() {
        let e = out.entry(r.partition).or_insert(0);
        *e = (*e).max(r.offset + 1);
    }
    out
}

/// Fatal errors `peer` reported (none expected in a passing run).
pub fn assert_no_fatal(peer: &GroupPeer) {
    let fatal: Vec<_> = peer.errors().filter(|e| e.0).collect();
    assert!(fatal.is_empty(), "{}: {fatal:?}", peer.label);
}

/// The offsets `commits` name, for every partition of `w` (`None`: none).
fn as_positions(w: &Workload, commits: &BTreeMap<i32, i64>) -> BTreeMap<i32, Option<i64>> {
    (0..w.partitions)
        .map(|p| (p, commits.get(&p).copied()))
        .collect()
}

/// Committed offsets handed from client to client: `first_batch` records are
/// produced; the first member of `chain` reads 10,000, pauses (everything it read is
/// committed) and leaves; each next member starts paused, alone in the group, reads
/// the group's offsets back through its own client (they must be exactly what the
/// members before it committed), resumes, reads 10,000 more and leaves likewise;
/// before the last member joins, the rest of the `records` are produced, and it
/// reads to the end (the group's offsets are then the end of every partition).
/// Nothing is read twice, and each member starts every partition exactly at the
/// last commit. `produce(start, count)` produces records `start..start + count`.
/// Returns the (stopped) members, in `chain`'s order.
pub fn handover(
    w: &Workload,
    cfg: &PeerConfig,
    chain: &[PeerKind],
    (first_batch, records): (u64, u64),
    produce: impl Fn(u64, u64),
) -> Vec<GroupPeer> {
    assert!(first_batch >= 10_000 * (chain.len() as u64 - 1) && records > first_batch);
    produce(0, first_batch);
    let all = w.all_partitions();
    let mut done: Vec<GroupPeer> = Vec::new();
    // The group's offsets so far, and what they were when each member started.
    let mut want: BTreeMap<i32, i64> = BTreeMap::new();
    let mut starts = Vec::new();
    for (i, kind) in chain.iter().enumerate() {
        let last = i + 1 == chain.len();
        if last {
            produce(first_batch, records - first_batch);
        }
        starts.push(want.clone());
        // Started paused after the first: the group's offsets are read back before
        // it consumes.
        let mut peer = GroupPeer::start(
            *kind,
            &PeerConfig {
                paused: i > 0,
                ..cfg.clone()
            },
        );
        if i > 0 {
            peer.wait_until(Duration::from_secs(40), "the assignment", |p| {
                p.assignment() == all
            });
            assert_eq!(
                w.committed(&mut peer),
                as_positions(w, &want),
                "{} reads back other offsets than {} committed",
                peer.label,
                done[i - 1].label
            );
            peer.resume();
        }
        let target = if last {
            records as usize
        } else {
            10_000 * (i + 1)
        };
        let before: Vec<&GroupPeer> = done.iter().collect();
        peer.wait_until(Duration::from_secs(40), "its share of the records", |p| {
            let mut all = before.clone();
            all.push(p);
            distinct(&all) >= target
        });
        if last {
            assert_eq!(w.committed(&mut peer), w.ends(records));
        } else {
            peer.pause();
        }
        peer.stop();
        // Every record read was committed; a partition it read nothing from was
        // committed (if at all) where it started.
        let read = next_offsets(&peer);
        let commits = last_commits(&peer);
        for (p, o) in &commits {
            let start = want.get(p).copied().unwrap_or(0);
            assert_eq!(
                *o,
                read.get(p).copied().unwrap_or(start),
                "{}: last commit of partition {p}",
                peer.label
            );
        }
        for p in read.keys() {
            assert!(
                commits.contains_key(p),
                "{}: partition {p} read but never committed",
                peer.label
            );
        }
        want.extend(commits);
        done.push(peer);
    }
    let peers: Vec<&GroupPeer> = done.iter().collect();
    let consumed = w.check_records(&peers, records);
    assert_eq!(
        consumed.duplicates, 0,
        "a clean hand-over reads nothing twice"
    );
    for (i, peer) in done.iter().enumerate().skip(1) {
        for (p, o) in &consumed.first[i] {
            assert_eq!(
                *o,
                starts[i].get(p).copied().unwrap_or(0),
                "{}: first offset read from partition {p}",
                peer.label
            );
        }
    }
    done
}
