//! The classic membership's states and the transitions between them, as data: a
//! test can print the table, check that a transcript only takes legal steps, and
//! compare transcripts as sequences of state names (as rustls' tests do with
//! handshake states).

use core::fmt;

/// Where a member of a classic group is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MemberState {
    /// Not in the group: nothing subscribed, or waiting to (re)join.
    Unjoined,
    /// A rebalance is starting: partitions are being revoked (the application's
    /// acknowledgement or the rebalance deadline is awaited) before JoinGroup.
    PreparingJoin,
    /// JoinGroup is in flight.
    Joining,
    /// SyncGroup is in flight (or, for the leader, about to be sent once the
    /// assignment is computed).
    Syncing,
    /// A member of the current generation with its assignment; heartbeating.
    Stable,
    /// The group cannot go on (fenced static member, authorization, an
    /// inconsistent protocol): the application must close the consumer.
    Fatal,
}

impl MemberState {
    /// Every state, in order.
    pub const ALL: [MemberState; 6] = [
        MemberState::Unjoined,
        MemberState::PreparingJoin,
        MemberState::Joining,
        MemberState::Syncing,
        MemberState::Stable,
        MemberState::Fatal,
    ];

    /// The states a member may move to from this one.
    pub const fn next(self) -> &'static [MemberState] {
        use MemberState::*;
        match self {
            Unjoined => &[PreparingJoin, Joining, Fatal],
            // The deadline or the ack lets JoinGroup go; a lost membership or an
            // unsubscribe ends it.
            PreparingJoin => &[Joining, Unjoined, Fatal],
            // Joining again (MEMBER_ID_REQUIRED, REBALANCE_IN_PROGRESS, …) stays in
            // Joining; that is not a transition.
            Joining => &[Syncing, Unjoined, PreparingJoin, Fatal],
            Syncing => &[Stable, Joining, Unjoined, PreparingJoin, Fatal],
            Stable => &[PreparingJoin, Joining, Unjoined, Fatal],
            Fatal => &[],
        }
    }

    /// Whether `self → to` is a legal step.
    pub fn may_move_to(self, to: MemberState) -> bool {
        self.next().contains(&to)
    }

    /// The state's name.
    pub const fn name(self) -> &'static str {
        match self {
            MemberState::Unjoined => "Unjoined",
            MemberState::PreparingJoin => "PreparingJoin",
            MemberState::Joining => "Joining",
            MemberState::Syncing => "Syncing",
            MemberState::Stable => "Stable",
            MemberState::Fatal => "Fatal",
        }
    }
}

impl fmt::Display for MemberState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why the membership moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Cause {
    /// The application subscribed (or changed its subscription).
    Subscribed,
    /// The application unsubscribed or is closing.
    Left,
    /// JoinGroup went out.
    JoinSent,
    /// JoinGroup was answered: the member is in the new generation.
    Joined,
    /// SyncGroup was answered with an assignment.
    Synced,
    /// The coordinator said a rebalance is in progress (Heartbeat, SyncGroup,
    /// OffsetCommit).
    RebalanceInProgress,
    /// Metadata changed what the group's assignment depends on.
    MetadataChanged,
    /// A cooperative round revoked partitions: a second round follows.
    FollowUpRound,
    /// The coordinator no longer knows this member or generation.
    MembershipLost,
    /// `max.poll.interval.ms` passed without a poll.
    PollTimeout,
    /// The application polled again after a poll timeout.
    Polled,
    /// The coordinator answered with an error that ends the group for this member.
    FatalError,
}

/// One step of the membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Transition {
    /// Where the member was.
    pub from: MemberState,
    /// Where it went.
    pub to: MemberState,
    /// Why.
    pub cause: Cause,
}

impl fmt::Display for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {} ({:?})", self.from, self.to, self.cause)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_but_fatal_can_reach_stable_and_fatal_is_final() {
        for s in MemberState::ALL {
            let mut seen = alloc::vec![s];
            let mut i = 0;
            while i < seen.len() {
                for &n in seen[i].next() {
                    if !seen.contains(&n) {
                        seen.push(n);
                    }
                }
                i += 1;
            }
            assert_eq!(
                seen.contains(&MemberState::Stable),
                s != MemberState::Fatal,
                "{s}"
            );
        }
        assert!(MemberState::Fatal.next().is_empty());
        assert!(!MemberState::Unjoined.may_move_to(MemberState::Stable));
    }
}
