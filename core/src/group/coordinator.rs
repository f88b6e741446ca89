//! Finding the group coordinator: `Unknown (backoff) → Finding → Known(broker)`.
//!
//! NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, a request timeout or a lost
//! connection make the coordinator unknown again. That never costs the membership:
//! the member keeps its generation and sends its next request to the coordinator
//! it finds next.

use crate::backoff::Backoff;
use crate::metadata::BrokerId;
use crate::rng::Rng;
use crate::time::Instant;

/// Where the lookup is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CoordinatorState {
    /// Not known; a FindCoordinator may go out once the backoff allows.
    Unknown,
    /// FindCoordinator is in flight.
    Finding,
    /// The coordinator is this broker.
    Known(BrokerId),
}

/// The coordinator lookup of one group.
#[derive(Debug, Clone)]
pub struct CoordinatorLookup {
    state: CoordinatorState,
    backoff: Backoff,
}

impl CoordinatorLookup {
    /// Not known yet; failed lookups back off with `backoff`.
    pub fn new(backoff: Backoff) -> Self {
        Self {
            state: CoordinatorState::Unknown,
            backoff,
        }
    }

    /// Where the lookup is.
    pub fn state(&self) -> CoordinatorState {
        self.state
    }

    /// The coordinator, if known.
    pub fn broker(&self) -> Option<BrokerId> {
        match self.state {
            CoordinatorState::Known(b) => Some(b),
            _ => None,
        }
    }

    /// Whether a FindCoordinator should go out at `now`.
    pub fn should_find(&self, now: Instant) -> bool {
        self.state == CoordinatorState::Unknown && self.backoff.ready(now)
    }

    /// FindCoordinator went out.
    pub fn on_sent(&mut self) {
        self.state = CoordinatorState::Finding;
    }

    /// FindCoordinator named `broker`.
    pub fn on_found(&mut self, broker: BrokerId) {
        self.state = CoordinatorState::Known(broker);
        self.backoff.succeed();
    }

    /// FindCoordinator failed (an error, or its connection was lost): try again
    /// after the backoff, which is returned.
    pub fn on_failed(&mut self, now: Instant, rng: &mut Rng) -> Instant {
        self.state = CoordinatorState::Unknown;
        self.backoff.fail(now, rng)
    }

    /// The coordinator said it is not (or no longer) the coordinator, or its
    /// connection failed: look it up again, after a backoff so that a coordinator
    /// that keeps moving is not hammered. Returns when the next lookup may go.
    pub fn mark_unknown(&mut self, now: Instant, rng: &mut Rng) -> Instant {
        if let CoordinatorState::Known(_) = self.state {
            self.state = CoordinatorState::Unknown;
            return self.backoff.fail(now, rng);
        }
        self.backoff.until().unwrap_or(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;

    #[test]
    fn lookup_cycle_and_backoff() {
        let mut rng = Rng::new(1);
        let b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let mut c = CoordinatorLookup::new(b);
        let t0 = Instant::from_millis(1000);
        assert!(c.should_find(t0));
        c.on_sent();
        assert!(!c.should_find(t0));
        let until = c.on_failed(t0, &mut rng);
        assert!(!c.should_find(t0));
        assert!(c.should_find(until));
        c.on_sent();
        c.on_found(BrokerId(3));
        assert_eq!(c.broker(), Some(BrokerId(3)));
        let again = c.mark_unknown(until, &mut rng);
        assert_eq!(c.state(), CoordinatorState::Unknown);
        assert!(again > until);
        // Marking an unknown coordinator unknown again changes nothing.
        assert_eq!(c.mark_unknown(until, &mut rng), again);
    }
}
