//! Safety invariants for one consumer with manually assigned partitions, checked
//! against everything the cluster ever held ([`super::history`]):
//!
//! - every record delivered is one that was written at that offset of that
//!   partition (same content), and under read_committed one of a committed
//!   transaction (or none);
//! - per partition, offsets strictly increase, and the offsets skipped between two
//!   deliveries hold nothing the consumer should have delivered (markers, and under
//!   read_committed aborted records) — except after an event that said the
//!   position moved (`OffsetReset`, `LogTruncation`);
//! - an `OffsetReset` has a reason the brokers gave: `NoPosition` only before
//!   any position (or after the application asked for one), `OutOfRange` only
//!   after a Fetch answered OFFSET_OUT_OF_RANGE, `Truncation` only after a
//!   `LogTruncation` without a divergence point — and its offset is one a
//!   ListOffsets answered for the reset policy ([`super::answers`]);
//! - a `LogTruncation` event only follows a real truncation below the position;
//! - no record is delivered that was never below the high watermark (replicated
//!   to the whole ISR) while it was in the log.
//!
//! One gap is allowed without an event: across a truncation, since the
//! partition's last delivery, below the offset delivered, when some broker gives a
//! consumer no way to detect it (see `Cluster::detects_truncation`).
//!
//! A consumer subscribed to a group ([`Checker::join_group`]) is judged as a
//! member too:
//!
//! - it hands out records of a partition only between an `Assigned` event that
//!   named it and the `Revoked` or `Lost` event that took it away (a revoked
//!   partition is dropped at once, before the acknowledgement; nothing of a
//!   partition is handed out after its `Fatal`);
//! - the first record it hands out after an `Assigned` is at the partition's
//!   committed offset at that moment (the coordinator's), or the first record
//!   to deliver after it: never above it (records skipped: lost), never below
//!   it (records before the last commit handed out again); with nothing
//!   committed, where `auto.offset.reset` put it.

use std::collections::BTreeMap;

use kasio_core::config::OffsetReset;
use kasio_core::consumer::{Consumer, ConsumerRecords, Event, ResetReason, TopicPartition};

use super::answers::PositionAnswer;
use super::cluster::Cluster;
use super::history::Slot;
use super::record::digest_record;

#[derive(Debug, Clone, Default)]
struct Part {
    /// The lowest offset the next record may have; `None` until a position is set.
    next: Option<i64>,
    /// A truncation was reported without a divergence point: an `OffsetReset`
    /// must come before any record.
    awaiting_reset: bool,
    /// The log generation when the position was last set or a record delivered:
    /// only truncations after it can explain a gap.
    gen: u32,
    /// The application asked for a new position (`seek_to_beginning`/`_end`).
    reset_asked: bool,
    /// ListOffsets answers (timestamp, offset) since the position was last set.
    listed: Vec<(i64, i64)>,
    /// A Fetch answered OFFSET_OUT_OF_RANGE since the position was last set.
    out_of_range: bool,
    /// Group member: the group assigned it (and did not take it away since).
    owned: bool,
    /// Group member: why it is not owned (for the report).
    released: Option<&'static str>,
    /// Group member: assigned, and nothing handed out (or sought) since: the
    /// first record is judged against the committed offset.
    awaiting_start: bool,
    /// Group member: revoked while its position was being reset (a Fetch
    /// answered OFFSET_OUT_OF_RANGE, or a truncation came without a divergence
    /// point, and no `OffsetReset` followed): the consumer had no position to
    /// commit then.
    revoked_without_position: bool,
}

/// The ListOffsets timestamp a reset policy asks for.
fn policy_timestamp(policy: OffsetReset) -> Option<i64> {
    match policy {
        OffsetReset::Earliest => Some(-2),
        OffsetReset::Latest => Some(-1),
        OffsetReset::None => None,
    }
}

/// The invariant checker for one consumer.
#[derive(Debug, Clone)]
pub struct Checker {
    read_committed: bool,
    reset_policy: OffsetReset,
    parts: BTreeMap<TopicPartition, Part>,
    delivered: u64,
    resets: u64,
    truncations: u64,
    /// The group this consumer is a member of, once it subscribed.
    group: Option<String>,
    /// Its member id, as it last said.
    member: String,
    /// Per partition, the lowest offset an `OffsetReset` moved the position
    /// back to on a broker's say (out of range, truncation).
    reset_floor: BTreeMap<TopicPartition, i64>,
}

impl Checker {
    /// A checker for a consumer with this isolation level and `auto.offset.reset`
    /// earliest (see [`Checker::with_reset_policy`]).
    pub fn new(read_committed: bool) -> Self {
        Self {
            read_committed,
            reset_policy: OffsetReset::Earliest,
            parts: BTreeMap::new(),
            delivered: 0,
            resets: 0,
            truncations: 0,
            group: None,
            member: String::new(),
            reset_floor: BTreeMap::new(),
        }
    }

    /// The consumer subscribed to `group`: from now on it may hand out only
    /// what the group assigned it, starting at the committed offsets.
    pub fn join_group(&mut self, group: &str) {
        self.group = Some(group.into());
    }

    /// The consumer's member id now (for a group member; checked against the
    /// coordinator's view).
    pub fn set_member(&mut self, member: &str) {
        if self.member != member {
            self.member = member.into();
        }
    }

    /// The lowest offset an `OffsetReset` for a broker's reason (out of range,
    /// truncation; not a missing position) moved `tp` to: commits may take the
    /// committed offset back to it, as after a seek.
    pub fn reset_floor(&self, tp: &TopicPartition) -> Option<i64> {
        self.reset_floor.get(tp).copied()
    }

    /// Whether `tp`, revoked and not assigned again since, had no position when
    /// it was revoked: a reset was under way (a Fetch was answered
    /// OFFSET_OUT_OF_RANGE, or a truncation came without a divergence point).
    /// An auto-committing member then has nothing of it to commit (Java's
    /// `allConsumed` skips a partition without a valid position). Judged on the
    /// answers as sent, so it may say so of a consumer that had not yet heard.
    pub fn revoked_without_position(&self, tp: &TopicPartition) -> bool {
        self.parts
            .get(tp)
            .is_some_and(|p| !p.owned && p.revoked_without_position)
    }

    /// The group, for a consumer that subscribed.
    pub fn group(&self) -> Option<&str> {
        self.group.as_deref()
    }

    /// Partitions the group assigned and did not take away (group members).
    pub fn owned(&self) -> Vec<TopicPartition> {
        self.parts
            .iter()
            .filter(|(_, p)| p.owned)
            .map(|(tp, _)| tp.clone())
            .collect()
    }

    /// The consumer's `auto.offset.reset`: resets must land where ListOffsets
    /// answered for it.
    pub fn with_reset_policy(mut self, policy: OffsetReset) -> Self {
        self.reset_policy = policy;
        self
    }

    /// A broker answered the consumer (see [`super::answers`]); call it when the
    /// broker sends, before the consumer can act on it.
    pub fn answered(&mut self, answer: &PositionAnswer) {
        let p = self.parts.entry(answer.tp().clone()).or_default();
        match answer {
            PositionAnswer::ListOffsets {
                timestamp, offset, ..
            } => p.listed.push((*timestamp, *offset)),
            PositionAnswer::OutOfRange { .. } => p.out_of_range = true,
            PositionAnswer::Leadership { .. } => {}
        }
    }

    /// The application asked for a new position by policy (`seek_to_beginning`
    /// or `seek_to_end`): an `OffsetReset` with `NoPosition` may follow.
    pub fn reset_asked(&mut self, tp: &TopicPartition) {
        self.parts.entry(tp.clone()).or_default().reset_asked = true;
    }

    /// Records delivered so far.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Offset resets and truncations reported so far.
    pub fn resets(&self) -> (u64, u64) {
        (self.resets, self.truncations)
    }

    /// The application sought: the next record of `tp` may be at `offset`.
    pub fn seeked(&mut self, tp: &TopicPartition, offset: i64) {
        let p = self.parts.entry(tp.clone()).or_default();
        p.next = Some(offset);
        p.awaiting_reset = false;
        p.reset_asked = false;
        p.listed.clear();
        p.out_of_range = false;
        p.awaiting_start = false;
    }

    /// Checks an event the consumer emitted.
    pub fn event(&mut self, cluster: &Cluster, ev: &Event) -> Result<(), String> {
        match ev {
            Event::OffsetReset { tp, offset, reason } => {
                self.resets += 1;
                // The answer may be older than a truncation since: compare with
                // the furthest the log ever reached.
                let history = cluster
                    .history(&tp.topic, tp.partition)
                    .map_err(|e| format!("{tp}: reset on {e}"))?;
                let end = history.end_ever();
                if *offset < 0 || *offset > end {
                    return Err(format!(
                        "{tp}: reset to {offset}, beyond anything the log ever held (end {end})"
                    ));
                }
                let gen = history.generation();
                self.check_reset(tp, *offset, *reason)?;
                if *reason != ResetReason::NoPosition {
                    let floor = self.reset_floor.entry(tp.clone()).or_insert(*offset);
                    *floor = (*floor).min(*offset);
                }
                self.seeked(tp, *offset);
                self.parts.entry(tp.clone()).or_default().gen = gen;
            }
            Event::LogTruncation {
                tp,
                position,
                diverging_offset,
            } => {
                self.truncations += 1;
                let history = cluster
                    .history(&tp.topic, tp.partition)
                    .map_err(|e| e.to_string())?;
                // Only cuts of records that were readable count: a clean leader
                // election that drops an uncommitted tail is not a truncation any
                // consumer can see.
                let visible = history.visible_truncations();
                if !visible.iter().any(|&t| t < *position) {
                    return Err(format!(
                        "{tp}: LogTruncation at position {position} (diverging at \
                         {diverging_offset:?}) but the log was never truncated below it \
                         (visible truncations: {visible:?}; all: {:?})",
                        history.truncations()
                    ));
                }
                let gen = history.generation();
                let p = self.parts.entry(tp.clone()).or_default();
                p.gen = gen;
                match diverging_offset {
                    Some(d) => {
                        p.next = Some((*d).min(*position));
                        p.awaiting_reset = false;
                    }
                    None => p.awaiting_reset = true,
                }
            }
            Event::Assigned { partitions } if self.group.is_some() => {
                for tp in partitions {
                    let gen = cluster
                        .history(&tp.topic, tp.partition)
                        .map_err(|e| format!("assigned {e}"))?
                        .generation();
                    // A new ownership: the position comes from the group (or,
                    // with nothing committed, from a reset).
                    self.parts.insert(
                        tp.clone(),
                        Part {
                            owned: true,
                            awaiting_start: true,
                            gen,
                            ..Part::default()
                        },
                    );
                }
            }
            Event::Revoked { partitions, .. } | Event::Lost { partitions, .. }
                if self.group.is_some() =>
            {
                let why = if matches!(ev, Event::Revoked { .. }) {
                    "its revocation"
                } else {
                    "it was lost"
                };
                for tp in partitions {
                    let p = self.parts.entry(tp.clone()).or_default();
                    p.owned = false;
                    p.released = Some(why);
                    p.revoked_without_position =
                        matches!(ev, Event::Revoked { .. }) && (p.out_of_range || p.awaiting_reset);
                }
            }
            Event::Fatal(_) if self.group.is_some() => {
                for p in self.parts.values_mut() {
                    if p.owned {
                        p.owned = false;
                        p.released = Some("the group failed (Fatal)");
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// A group member's first record of a partition since it was assigned:
    /// at the committed offset, or past only what is not delivered (markers,
    /// aborted records under read_committed).
    fn check_start(
        &self,
        cluster: &Cluster,
        tp: &TopicPartition,
        o: i64,
        gen: u32,
    ) -> Result<Option<i64>, String> {
        let group = self.group.as_deref().unwrap_or_default();
        // A member the coordinator no longer counts as the owner (its session
        // ended while it was frozen, say) hands out what it has until it
        // learns; another member may have moved the committed offset meanwhile.
        let owner = cluster.group_view(group).is_some_and(|v| {
            v.members
                .get(&self.member)
                .is_some_and(|m| m.partitions().contains(&(tp.topic.clone(), tp.partition)))
        });
        if !owner {
            return Ok(Some(o));
        }
        let Some(c) = cluster.committed(group, &tp.topic, tp.partition) else {
            return Ok(None); // nothing committed: auto.offset.reset decides
        };
        let history = cluster
            .history(&tp.topic, tp.partition)
            .map_err(|e| e.to_string())?;
        if o < c {
            return Err(format!(
                "{tp}@{o}: the first record handed out after the group assigned the \
                 partition is below its committed offset {c}: records before the last \
                 commit handed out again (duplicates only come after the last commit)"
            ));
        }
        if let Some(x) = skipped(history, gen, c, o, self.read_committed) {
            return Err(format!(
                "{tp}@{o}: the first record handed out after the group assigned the \
                 partition is above its committed offset {c}, but {x} held a record to \
                 deliver (skipped: lost); log: {}",
                history.describe(x)
            ));
        }
        Ok(Some(c))
    }

    /// Whether the brokers (or the application) gave the consumer a reason for
    /// this reset, and a ListOffsets answer with this offset for its policy.
    fn check_reset(
        &self,
        tp: &TopicPartition,
        offset: i64,
        reason: ResetReason,
    ) -> Result<(), String> {
        let p = self.parts.get(tp).cloned().unwrap_or_default();
        let justified = match reason {
            ResetReason::NoPosition => p.next.is_none() || p.reset_asked,
            ResetReason::OutOfRange => p.out_of_range,
            ResetReason::Truncation => p.awaiting_reset,
        };
        if !justified {
            return Err(format!(
                "{tp}: OffsetReset to {offset} ({reason:?}) without a cause: position \
                 {:?}, seek_to asked: {}, OFFSET_OUT_OF_RANGE answered: {}, \
                 truncation awaiting a reset: {}",
                p.next, p.reset_asked, p.out_of_range, p.awaiting_reset
            ));
        }
        let Some(ts) = policy_timestamp(self.reset_policy) else {
            if p.reset_asked {
                return Ok(());
            }
            return Err(format!(
                "{tp}: OffsetReset to {offset} ({reason:?}) under auto.offset.reset=none"
            ));
        };
        // seek_to_beginning/_end ask for either end whatever the policy.
        let listed = |want: i64| p.listed.iter().any(|&(t, o)| t == want && o == offset);
        if !(listed(ts) || (p.reset_asked && (listed(-1) || listed(-2)))) {
            return Err(format!(
                "{tp}: OffsetReset to {offset} ({reason:?}), but no ListOffsets answered \
                 it for {:?} since the position was last set (answers: {:?})",
                self.reset_policy, p.listed
            ));
        }
        Ok(())
    }

    /// Checks what one `poll_records` returned.
    pub fn records(&mut self, cluster: &Cluster, recs: &ConsumerRecords) -> Result<(), String> {
        for batch in recs.partitions() {
            let tp = &batch.tp;
            let history = cluster
                .history(&tp.topic, tp.partition)
                .map_err(|e| format!("records for {e}"))?;
            let group_start = match self.parts.get(tp) {
                Some(p) if self.group.is_some() && p.owned && p.awaiting_start => {
                    let o = batch.records.first().map_or(0, |r| r.offset);
                    Some(self.check_start(cluster, tp, o, p.gen)?)
                }
                _ => None,
            };
            let p = self.parts.entry(tp.clone()).or_default();
            if self.group.is_some() && !p.owned {
                let o = batch.records.first().map_or(-1, |r| r.offset);
                return Err(format!(
                    "{tp}@{o}: handed out after {} (the group has not assigned it again)",
                    p.released.unwrap_or("never assigned it")
                ));
            }
            if let Some(start) = group_start {
                p.awaiting_start = false;
                if let Some(c) = start {
                    // Judged against the committed offset: from there on, in order.
                    p.next = Some(c);
                    p.awaiting_reset = false;
                }
            }
            for r in &batch.records {
                let o = r.offset;
                let digest = digest_record(r);
                let Some(gen) = history.find(o, digest) else {
                    return Err(format!(
                        "{tp}@{o}: delivered a record that was never written there \
                         (key {:?})",
                        r.key
                    ));
                };
                if !history.was_exposed(o, digest) {
                    return Err(format!(
                        "{tp}@{o}: delivered a record that was never below the high \
                         watermark (not replicated to the ISR); log: {}",
                        history.describe(o)
                    ));
                }
                if self.read_committed {
                    let slot = history.fate(gen, o);
                    if slot != Slot::Visible {
                        return Err(format!(
                            "{tp}@{o}: read_committed delivered a record of an \
                             {slot:?} transaction (log generation {gen}); log: {}",
                            history.describe(o)
                        ));
                    }
                }
                if p.awaiting_reset {
                    return Err(format!(
                        "{tp}@{o}: delivered after a LogTruncation without a \
                         divergence point, before any OffsetReset"
                    ));
                }
                let Some(next) = p.next else {
                    return Err(format!(
                        "{tp}@{o}: delivered before any position was set (no OffsetReset)"
                    ));
                };
                if o < next {
                    return Err(format!(
                        "{tp}@{o}: delivered out of order or twice (expected {next} or \
                         later, no reset or truncation in between)"
                    ));
                }
                // A truncation that rewrote offsets below this one, which no client
                // could have seen (see `Cluster::detects_truncation`), explains a
                // gap by itself.
                let undetectable =
                    !cluster.detects_truncation() && truncated_since(history, p.gen).any(|t| t < o);
                // Cuts after the newest generation that still held this record can
                // explain a gap after it.
                p.gen = gen;
                if undetectable {
                    p.next = Some(o + 1);
                    self.delivered += 1;
                    continue;
                }
                if let Some(x) = skipped(history, gen, next, o, self.read_committed) {
                    return Err(format!(
                        "{tp}@{o}: offsets {next}..{o} skipped without an event, but \
                         {x} held a record to deliver (log generation {gen}); log: {}",
                        history.describe(x)
                    ));
                }
                p.next = Some(o + 1);
                self.delivered += 1;
            }
        }
        Ok(())
    }

    /// `None` when the consumer has every assigned partition at its end (the high
    /// watermark, or the last stable offset under read_committed) and delivered
    /// everything up to there; else what is missing.
    pub fn behind(&self, cluster: &Cluster, consumer: &Consumer) -> Option<String> {
        for tp in consumer.assignment() {
            let Ok(view) = cluster.view(&tp.topic, tp.partition) else {
                return Some(format!("{tp}: no such partition"));
            };
            let end = if self.read_committed {
                view.last_stable_offset
            } else {
                view.high_watermark
            };
            let position = consumer.position(&tp).ok().flatten();
            if position != Some(end) {
                return Some(format!("{tp}: position {position:?}, end {end}"));
            }
            let next = match self.parts.get(&tp) {
                // A group member assigned a partition with nothing to hand out
                // since: it starts at the committed offset.
                Some(p) if p.awaiting_start && p.next.is_none() => {
                    let group = self.group.as_deref().unwrap_or_default();
                    cluster.committed(group, &tp.topic, tp.partition)
                }
                p => p.and_then(|p| p.next),
            };
            let Some(next) = next else {
                return Some(format!("{tp}: never positioned"));
            };
            let history = cluster.history(&tp.topic, tp.partition).ok()?;
            // As for deliveries: below a truncation no client could have seen, the
            // log was rewritten under the consumer's position without a trace.
            let gen = self.parts.get(&tp).map_or(0, |p| p.gen);
            let undetectable =
                !cluster.detects_truncation() && truncated_since(history, gen).any(|t| t < end);
            if next < end && !undetectable {
                if let Some(x) = skipped(
                    history,
                    history.generation(),
                    next,
                    end,
                    self.read_committed,
                ) {
                    return Some(format!(
                        "{tp}: position {end} but {x} was never delivered (delivered up \
                         to {next})"
                    ));
                }
            }
        }
        None
    }
}

/// Where the log lost readable records since generation `gen`.
fn truncated_since(history: &super::history::History, gen: u32) -> impl Iterator<Item = i64> + '_ {
    history.visible_truncations_since(gen)
}

/// The first offset in `from..to` that holds a record the consumer must deliver in
/// log generation `gen`.
fn skipped(
    history: &super::history::History,
    gen: u32,
    from: i64,
    to: i64,
    read_committed: bool,
) -> Option<i64> {
    (from..to).find(|&x| match history.fate(gen, x) {
        Slot::Marker => false,
        Slot::Aborted => !read_committed,
        Slot::Open | Slot::Visible | Slot::Missing => true,
    })
}
