//! Everything a partition ever held, for the invariant checker: every batch written,
//! in every *generation* of the log. An unclean leader election (truncation) starts a
//! new generation; the records it cut stay here, so a record a consumer delivered
//! before the consumer noticed the truncation can still be identified, and a gap in
//! what it delivered can be judged against the log as it was when it read it.

/// What a batch was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistKind {
    /// Records; `producer_id` ≥ 0 when transactional.
    Data {
        /// The transactional producer, or -1.
        producer_id: i64,
    },
    /// A transaction marker.
    Marker {
        /// The producer whose transaction it ends.
        producer_id: i64,
        /// Commit (else abort).
        commit: bool,
    },
}

#[derive(Debug, Clone)]
struct HistBatch {
    generation: u32,
    base: i64,
    kind: HistKind,
    /// One content digest per record (see [`super::record::SimRecord::digest`]).
    digests: Vec<u64>,
}

/// How one offset looked in one generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// A record a consumer must deliver (under its isolation level).
    Visible,
    /// A transaction marker (never delivered).
    Marker,
    /// A record of an aborted transaction (delivered only under read_uncommitted).
    Aborted,
    /// A record of a transaction not decided yet (read_committed never gets there).
    Open,
    /// Nothing was written there in that generation.
    Missing,
}

/// One partition's history.
#[derive(Debug, Clone, Default)]
pub struct History {
    batches: Vec<HistBatch>,
    /// `truncations[k]` is where generation `k + 1` cut the log.
    truncations: Vec<i64>,
    /// `visible[k]`: whether `truncations[k]` cut records some consumer could have
    /// read (below a high watermark). A clean leader election cuts only what was
    /// never committed (above every high watermark): no consumer can notice that.
    visible: Vec<bool>,
    /// Per generation, the highest high watermark the partition's leader exposed
    /// while that generation was current (nothing at or above was readable).
    exposed: Vec<i64>,
}

impl History {
    /// The current generation.
    pub fn generation(&self) -> u32 {
        self.truncations.len() as u32
    }

    /// Offsets where the log was truncated, oldest first (including cuts of
    /// records never exposed to consumers).
    pub fn truncations(&self) -> &[i64] {
        &self.truncations
    }

    /// The visible truncations (see [`History::visible_truncations`]) made by the
    /// generations after `gen`.
    pub fn visible_truncations_since(&self, gen: u32) -> impl Iterator<Item = i64> + '_ {
        self.truncations
            .iter()
            .zip(&self.visible)
            .skip(gen as usize)
            .filter(|(_, v)| **v)
            .map(|(t, _)| *t)
    }

    /// Offsets where the log lost records a consumer could have read, oldest
    /// first: the truncations a consumer can notice (and must be told of).
    pub fn visible_truncations(&self) -> Vec<i64> {
        self.truncations
            .iter()
            .zip(&self.visible)
            .filter(|(_, v)| **v)
            .map(|(t, _)| *t)
            .collect()
    }

    /// The leader's high watermark is `hw`: offsets below it are readable.
    pub fn expose(&mut self, hw: i64) {
        if self.exposed.is_empty() {
            self.exposed.push(0);
        }
        let e = self.exposed.last_mut().expect("one per generation");
        *e = (*e).max(hw);
    }

    /// One past the highest offset still in the log that was ever readable (in
    /// any generation): a cut at or above it loses nothing a consumer saw.
    fn exposed_alive(&self) -> i64 {
        (0..self.exposed.len())
            .map(|g| {
                self.truncations[g.min(self.truncations.len())..]
                    .iter()
                    .fold(self.exposed[g], |e, &t| e.min(t))
            })
            .max()
            .unwrap_or(0)
    }

    /// Whether the record at `offset` with `digest` was ever below the leader's
    /// high watermark while it was in the log (consumers read nothing else).
    pub fn was_exposed(&self, offset: i64, digest: u64) -> bool {
        let Some(b) = self.batches.iter().rev().find(|b| {
            matches!(b.kind, HistKind::Data { .. })
                && offset >= b.base
                && b.digests.get((offset - b.base) as usize) == Some(&digest)
        }) else {
            return false;
        };
        let mut g = b.generation;
        loop {
            if self.exposed.get(g as usize).is_some_and(|&e| e > offset) {
                return true;
            }
            if g >= self.generation() || self.truncations[g as usize] <= offset {
                return false;
            }
            g += 1;
        }
    }

    /// A batch was appended at `base`.
    pub fn append(&mut self, base: i64, kind: HistKind, digests: Vec<u64>) {
        self.batches.push(HistBatch {
            generation: self.generation(),
            base,
            kind,
            digests,
        });
    }

    /// One past the highest offset ever written (in any generation).
    pub fn end_ever(&self) -> i64 {
        self.batches
            .iter()
            .map(|b| b.base + b.digests.len() as i64)
            .max()
            .unwrap_or(0)
    }

    /// The log was cut at `offset` by an unclean leader election (or the
    /// simulation said so): a new generation begins, and the cut counts as one a
    /// consumer may notice.
    pub fn truncate(&mut self, offset: i64) {
        self.push_cut(offset, true);
    }

    /// The log was cut at `offset` by a leader election: a new generation begins;
    /// the cut is visible to consumers only if it lost records that were ever
    /// readable. Returns whether it did.
    pub fn cut(&mut self, offset: i64) -> bool {
        let visible = offset < self.exposed_alive();
        self.push_cut(offset, visible);
        visible
    }

    fn push_cut(&mut self, offset: i64, visible: bool) {
        if self.exposed.is_empty() {
            self.exposed.push(0);
        }
        self.truncations.push(offset);
        self.visible.push(visible);
        self.exposed.push(0);
    }

    /// Whether offset `x` of a batch of generation `g0` is still part of generation `g`.
    fn alive(&self, g0: u32, x: i64, g: u32) -> bool {
        self.truncations[g0 as usize..g as usize]
            .iter()
            .all(|&t| x < t)
    }

    /// The newest generation in which `offset` held a record with `digest`: the
    /// record's batch was written in some generation and stays part of the log
    /// until a truncation at or below `offset` cuts it.
    pub fn find(&self, offset: i64, digest: u64) -> Option<u32> {
        let b = self.batches.iter().rev().find(|b| {
            matches!(b.kind, HistKind::Data { .. })
                && offset >= b.base
                && b.digests.get((offset - b.base) as usize) == Some(&digest)
        })?;
        let mut g = b.generation;
        while g < self.generation() && self.truncations[g as usize] > offset {
            g += 1;
        }
        Some(g)
    }

    fn batch_at(&self, g: u32, offset: i64) -> Option<usize> {
        self.batches.iter().rposition(|b| {
            b.generation <= g
                && offset >= b.base
                && offset < b.base + b.digests.len() as i64
                && self.alive(b.generation, offset, g)
        })
    }

    /// What `offset` of generation `g` was to a consumer that read it while it
    /// could: its slot, except that a transaction decided in an earlier
    /// generation holding the same batch keeps that decision when a later cut
    /// lost its marker (the slot reads `Open` again). A transaction's fate is
    /// final once decided: a read_committed consumer that fetched while the
    /// marker was there rightly delivered a committed record or skipped an
    /// aborted one.
    pub fn fate(&self, g: u32, offset: i64) -> Slot {
        let slot = self.slot(g, offset);
        if slot != Slot::Open {
            return slot;
        }
        let Some(i) = self.batch_at(g, offset) else {
            return slot;
        };
        (self.batches[i].generation..g)
            .rev()
            .filter(|&g0| self.batch_at(g0, offset) == Some(i))
            .map(|g0| self.slot(g0, offset))
            .find(|s| matches!(s, Slot::Visible | Slot::Aborted))
            .unwrap_or(slot)
    }

    /// What `offset` was in generation `g`.
    pub fn slot(&self, g: u32, offset: i64) -> Slot {
        let Some(i) = self.batch_at(g, offset) else {
            return Slot::Missing;
        };
        match self.batches[i].kind {
            HistKind::Marker { .. } => Slot::Marker,
            HistKind::Data { producer_id } if producer_id < 0 => Slot::Visible,
            HistKind::Data { producer_id } => {
                // The transaction's fate: the first marker of its producer after it in
                // the same generation. Batches appended later that are alive in `g`
                // lie above `offset` (anything below would have cut it).
                let marker = self.batches[i + 1..].iter().find(|b| {
                    b.generation <= g
                        && matches!(b.kind, HistKind::Marker { producer_id: p, .. } if p == producer_id)
                        && self.alive(b.generation, b.base, g)
                });
                match marker.map(|b| b.kind) {
                    Some(HistKind::Marker { commit: true, .. }) => Slot::Visible,
                    Some(_) => Slot::Aborted,
                    None => Slot::Open,
                }
            }
        }
    }
}

impl History {
    /// The batches around `offset`, one line each (for failure messages).
    pub fn describe(&self, offset: i64) -> String {
        let mut out = Vec::new();
        for b in &self.batches {
            let end = b.base + b.digests.len() as i64;
            if end + 20 >= offset && b.base <= offset + 20 {
                out.push(format!(
                    "gen{} {}..{} {:?}",
                    b.generation, b.base, end, b.kind
                ));
            }
        }
        format!(
            "[{}] truncations {:?} (visible {:?}), exposed {:?}",
            out.join(", "),
            self.truncations,
            self.visible,
            self.exposed
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATA: HistKind = HistKind::Data { producer_id: -1 };

    #[test]
    fn generations_keep_what_truncation_cut() {
        let mut h = History::default();
        h.append(0, DATA, vec![10, 11, 12, 13]);
        h.truncate(2);
        h.append(2, DATA, vec![22, 23]);
        assert_eq!(h.find(3, 13), Some(0));
        assert_eq!(h.find(3, 23), Some(1));
        // Below the cut, the record lives on in the new generation.
        assert_eq!(h.find(1, 11), Some(1));
        assert_eq!(h.slot(0, 3), Slot::Visible);
        assert_eq!(h.slot(1, 3), Slot::Visible);
        assert_eq!(h.slot(1, 4), Slot::Missing);
    }

    #[test]
    fn cuts_above_everything_exposed_are_invisible() {
        let mut h = History::default();
        h.append(0, DATA, vec![10, 11, 12, 13]);
        h.expose(2);
        assert!(h.was_exposed(1, 11));
        assert!(!h.was_exposed(2, 12));
        // A clean election loses 3.. (never readable): no consumer can notice.
        assert!(!h.cut(3));
        h.expose(3);
        assert!(h.was_exposed(2, 12));
        h.append(3, DATA, vec![33]);
        // An unclean one below what was readable is visible.
        assert!(h.cut(1));
        assert_eq!(h.truncations(), &[3, 1]);
        assert_eq!(h.visible_truncations(), vec![1]);
        // 2 was exposed in generation 1 and cut in 2: it was still exposed once.
        assert!(h.was_exposed(2, 12));
        assert!(!h.was_exposed(3, 33));
    }

    #[test]
    fn transaction_fate_follows_the_marker_of_the_generation() {
        let mut h = History::default();
        let txn = HistKind::Data { producer_id: 5 };
        h.append(0, txn, vec![1, 2]);
        assert_eq!(h.slot(0, 1), Slot::Open);
        h.append(
            2,
            HistKind::Marker {
                producer_id: 5,
                commit: false,
            },
            vec![0],
        );
        assert_eq!(h.slot(0, 1), Slot::Aborted);
        assert_eq!(h.slot(0, 2), Slot::Marker);
        h.truncate(2);
        assert_eq!(h.slot(1, 1), Slot::Open);
        h.append(
            2,
            HistKind::Marker {
                producer_id: 5,
                commit: true,
            },
            vec![0],
        );
        assert_eq!(h.slot(1, 0), Slot::Visible);
        assert_eq!(h.slot(0, 0), Slot::Aborted);
    }

    #[test]
    fn an_abort_stays_an_abort_when_a_cut_loses_its_marker() {
        let mut h = History::default();
        let txn = HistKind::Data { producer_id: 7 };
        h.append(0, txn, vec![1, 2]);
        h.append(2, DATA, vec![3]);
        assert_eq!(h.fate(0, 0), Slot::Open, "undecided");
        let abort = HistKind::Marker {
            producer_id: 7,
            commit: false,
        };
        h.append(3, abort, vec![0]);
        assert_eq!(h.fate(0, 1), Slot::Aborted);
        // The cut loses the marker: the slot reads Open again, the abort stands.
        h.truncate(3);
        assert_eq!(h.slot(1, 1), Slot::Open);
        assert_eq!(h.fate(1, 1), Slot::Aborted);
        assert_eq!(h.fate(1, 2), Slot::Visible, "not a transactional record");
        // A cut below the batch: a different batch there is not the aborted one.
        h.truncate(0);
        h.append(0, txn, vec![9]);
        assert_eq!(h.slot(2, 0), Slot::Open);
        assert_eq!(h.fate(2, 0), Slot::Open);
    }

    #[test]
    fn a_commit_stays_a_commit_when_a_cut_loses_its_marker() {
        let mut h = History::default();
        let txn = HistKind::Data { producer_id: 8 };
        h.append(0, txn, vec![1, 2]);
        let commit = HistKind::Marker {
            producer_id: 8,
            commit: true,
        };
        h.append(2, commit, vec![0]);
        h.truncate(1);
        assert_eq!(h.slot(1, 0), Slot::Open);
        assert_eq!(h.fate(1, 0), Slot::Visible);
    }
}
