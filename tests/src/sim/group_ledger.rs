//! Group invariants across members and their restarts, judged on what every
//! member handed out and on the coordinator's own records of the commits it
//! accepted ([`CommitRecord`]). Per-member invariants (hand out only what the
//! group assigned, start at the committed offset) are the member's
//! [`Checker`](super::Checker)'s; this ledger sees the whole group:
//!
//! - **no record lost**: every accepted commit covers only records some member
//!   handed out at some point (what a committed offset passes over is gone for
//!   the group), and it is never beyond the high watermark; at the end, every
//!   record the partitions hold was handed out to some member
//!   ([`final_check`](GroupLedger::final_check));
//! - **commits only from the owner**: an accepted commit comes from a member of
//!   the group, under the group's current generation, for partitions it owns in
//!   it — or that a leader assigned it before and no other member owns now (a
//!   cooperative member revoking them; a member that never heard its last
//!   assignment was replaced);
//! - **committed offsets move back only by an explicit seek**: a lower offset is
//!   accepted only after the committing member sought that partition back (to
//!   at most that offset), until the committed offset is back where it was, or
//!   after its position was reset there on a broker's say (`auto.offset.reset`
//!   after OFFSET_OUT_OF_RANGE: a policy's seek).
//!
//! Records count as "to hand out" as a read_uncommitted member sees them, less
//! aborted ones: committed transactions and plain records, and records of
//! transactions still open (a read_committed member cannot pass those, so a
//! commit beyond them means a read_uncommitted member handed them out).

use std::collections::BTreeMap;

use kasio_core::consumer::{ConsumerRecords, TopicPartition};

use super::cluster::Cluster;
use super::group::CommitRecord;
use super::history::Slot;

/// A seek back by `member` that allows its commits of a partition to go back:
/// to no lower than `to`; once they did, until the committed offset reaches
/// `until` again.
#[derive(Debug, Clone)]
struct SeekBack {
    member: String,
    to: i64,
    until: i64,
    used: bool,
}

/// What the group handed out and committed, across members and restarts.
#[derive(Debug, Default)]
pub struct GroupLedger {
    group: String,
    /// Per partition, per offset: handed out to some member at some point.
    handed: BTreeMap<TopicPartition, Vec<bool>>,
    /// Records handed out, duplicates included.
    pub handed_out: u64,
    /// Commit records judged so far.
    seen: usize,
    /// The last accepted committed offset per partition.
    committed: BTreeMap<TopicPartition, i64>,
    /// Per partition: everything below this was found handed out.
    covered: BTreeMap<TopicPartition, i64>,
    seeks: BTreeMap<TopicPartition, Vec<SeekBack>>,
    /// Commits accepted (of this group).
    pub commits: u64,
    /// Committed offsets that went back after a seek.
    pub regressions: u64,
    /// Commits of partitions a cooperative member was revoking.
    pub revoking_commits: u64,
}

impl GroupLedger {
    /// A ledger for `group`.
    pub fn new(group: &str) -> Self {
        Self {
            group: group.into(),
            ..Default::default()
        }
    }

    /// A member handed these records to its application.
    pub fn handed_out(&mut self, recs: &ConsumerRecords) {
        for batch in recs.partitions() {
            let v = self.handed.entry(batch.tp.clone()).or_default();
            for r in &batch.records {
                let o = usize::try_from(r.offset).unwrap_or(0);
                if v.len() <= o {
                    v.resize(o + 1, false);
                }
                v[o] = true;
                self.handed_out += 1;
            }
        }
    }

    fn was_handed(&self, tp: &TopicPartition, offset: i64) -> bool {
        self.handed
            .get(tp)
            .and_then(|v| v.get(usize::try_from(offset).ok()?))
            .copied()
            .unwrap_or(false)
    }

    /// `member` sought `tp` back to `to` on purpose; its commits may take the
    /// committed offset back (not below `to`), until it reaches `until` again.
    pub fn sought_back(&mut self, member: &str, tp: &TopicPartition, to: i64, until: i64) {
        self.seeks.entry(tp.clone()).or_default().push(SeekBack {
            member: member.into(),
            to,
            until,
            used: false,
        });
    }

    /// The committed offset the ledger last accepted for `tp`.
    pub fn committed(&self, tp: &TopicPartition) -> Option<i64> {
        self.committed.get(tp).copied()
    }

    /// Judges the commits the coordinator accepted since the last call.
    /// `reset_floor(member, tp)` says how far an `OffsetReset` on a broker's
    /// say moved that member's position back (a policy's seek).
    pub fn after_step(
        &mut self,
        cluster: &Cluster,
        reset_floor: impl Fn(&str, &TopicPartition) -> Option<i64>,
    ) -> Result<(), String> {
        let commits = cluster.commits();
        if commits.len() <= self.seen {
            return Ok(());
        }
        let new: Vec<CommitRecord> = commits[self.seen..]
            .iter()
            .filter(|c| c.group == self.group)
            .cloned()
            .collect();
        self.seen = commits.len();
        for c in &new {
            self.commits += 1;
            self.check_owner(c)?;
            for (t, p, o) in &c.offsets {
                let tp = TopicPartition::new(t.clone(), *p);
                self.check_covered(cluster, &tp, *o, c)?;
                let floor = reset_floor(&c.member, &tp);
                self.check_forward(&tp, *o, c, floor)?;
            }
        }
        Ok(())
    }

    /// Commits only from the owner, under the current generation.
    fn check_owner(&mut self, c: &CommitRecord) -> Result<(), String> {
        let who = format!("{} (generation {}) at {:?}", c.member, c.generation, c.at);
        if c.member.is_empty() || c.generation < 0 {
            return Err(format!(
                "commit of {:?} accepted outside the group protocol ({who}): not from a \
                 member that owns them",
                c.offsets
            ));
        }
        if !c.was_member {
            return Err(format!(
                "commit of {:?} accepted from {who}, not a member of the group",
                c.offsets
            ));
        }
        if c.generation != c.group_generation {
            return Err(format!(
                "commit of {:?} accepted from {who} while the group was at generation {}",
                c.offsets, c.group_generation
            ));
        }
        for (t, p, _) in &c.offsets {
            let key = (t.clone(), *p);
            if c.owned.contains(&key) {
                continue;
            }
            if c.ever.contains(&key) && !c.others.contains(&key) {
                self.revoking_commits += 1;
                continue;
            }
            return Err(format!(
                "commit of {t}-{p} accepted from {who}, which does not own it: it owns \
                 {:?}, was ever assigned {:?}, and others own {:?}",
                c.owned, c.ever, c.others
            ));
        }
        Ok(())
    }

    /// Everything below a committed offset was handed out by some member.
    fn check_covered(
        &mut self,
        cluster: &Cluster,
        tp: &TopicPartition,
        offset: i64,
        c: &CommitRecord,
    ) -> Result<(), String> {
        let view = cluster
            .view(&tp.topic, tp.partition)
            .map_err(|e| format!("commit of {e}"))?;
        if offset > view.high_watermark {
            return Err(format!(
                "{tp}: committed offset {offset} (by {} at {:?}) is beyond the high \
                 watermark {}: it passes over records nobody was handed",
                c.member, c.at, view.high_watermark
            ));
        }
        let history = cluster
            .history(&tp.topic, tp.partition)
            .map_err(|e| e.to_string())?;
        let gen = history.generation();
        let from = self.covered.get(tp).copied().unwrap_or(0);
        for x in from..offset {
            let must = matches!(history.fate(gen, x), Slot::Visible | Slot::Open);
            if must && !self.was_handed(tp, x) {
                return Err(format!(
                    "{tp}: committed offset {offset} (by {} at {:?}) passes over {x}, which \
                     no member was ever handed: the group lost it; log: {}",
                    c.member,
                    c.at,
                    history.describe(x)
                ));
            }
        }
        let e = self.covered.entry(tp.clone()).or_insert(0);
        *e = (*e).max(offset);
        Ok(())
    }

    /// Committed offsets never go back, but after a seek back.
    fn check_forward(
        &mut self,
        tp: &TopicPartition,
        offset: i64,
        c: &CommitRecord,
        reset_floor: Option<i64>,
    ) -> Result<(), String> {
        let before = self.committed.insert(tp.clone(), offset);
        let seeks = self.seeks.entry(tp.clone()).or_default();
        if let Some(before) = before.filter(|b| offset < *b) {
            if reset_floor.is_some_and(|f| f <= offset) {
                self.regressions += 1;
                return Ok(());
            }
            let Some(seek) = seeks
                .iter_mut()
                .find(|s| s.member == c.member && s.to <= offset)
            else {
                return Err(format!(
                    "{tp}: committed offset went back {before} -> {offset} (commit by {} \
                     generation {} at {:?}) without a seek back",
                    c.member, c.generation, c.at
                ));
            };
            seek.used = true;
            self.regressions += 1;
        }
        seeks.retain(|s| !s.used || offset < s.until);
        Ok(())
    }

    /// At the end: every record the partitions hold (below their high
    /// watermarks, aborted ones aside) was handed out to some member.
    pub fn final_check(&self, cluster: &Cluster, topics: &[(String, i32)]) -> Result<(), String> {
        for (t, n) in topics {
            for p in 0..*n {
                let tp = TopicPartition::new(t.clone(), p);
                let view = cluster.view(t, p).map_err(|e| e.to_string())?;
                let history = cluster.history(t, p).map_err(|e| e.to_string())?;
                let gen = history.generation();
                for x in view.log_start..view.high_watermark {
                    if history.slot(gen, x) == Slot::Visible && !self.was_handed(&tp, x) {
                        return Err(format!(
                            "{tp}: {x} was never handed to any member (high watermark {}); \
                             log: {}",
                            view.high_watermark,
                            history.describe(x)
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}
