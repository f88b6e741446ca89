//! Exponential backoff with jitter, as Kafka's `ExponentialBackoff`: the n-th retry
//! waits `initial * 2^n`, capped at `max`, then spread by ±20 % so that many clients
//! do not retry in lockstep.

use crate::rng::Rng;
use crate::time::{Duration, Instant};

/// Jitter applied to every backoff, as in the Java client.
const JITTER: f64 = 0.2;

/// Backoff state for one thing that fails and retries (a connection, a request).
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    failures: u32,
    until: Option<Instant>,
}

impl Backoff {
    /// Backoff from `initial` up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            failures: 0,
            until: None,
        }
    }

    /// The wait after `failures` consecutive failures, before jitter.
    pub fn base_delay(&self, failures: u32) -> Duration {
        if failures == 0 || self.initial == Duration::ZERO {
            return Duration::ZERO;
        }
        let exp = (failures - 1).min(32);
        let grown = self.initial.saturating_mul(1u64 << exp);
        if self.max > self.initial {
            grown.min(self.max)
        } else {
            self.initial
        }
    }

    /// Records a failure at `now`; returns the instant before which not to retry.
    pub fn fail(&mut self, now: Instant, rng: &mut Rng) -> Instant {
        self.failures = self.failures.saturating_add(1);
        let base = self.base_delay(self.failures).as_micros() as f64;
        let factor = 1.0 - JITTER + 2.0 * JITTER * rng.next_f64();
        let until = now + Duration::from_micros((base * factor) as u64);
        self.until = Some(until);
        until
    }

    /// Records a success: the next failure starts from `initial` again.
    pub fn succeed(&mut self) {
        self.failures = 0;
        self.until = None;
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The instant before which not to retry, if backing off.
    pub fn until(&self) -> Option<Instant> {
        self.until
    }

    /// Whether a retry is allowed at `now`.
    pub fn ready(&self, now: Instant) -> bool {
        self.until.is_none_or(|u| now >= u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_to_the_cap_with_bounded_jitter() {
        let mut rng = Rng::new(3);
        let mut b = Backoff::new(Duration::from_millis(50), Duration::from_millis(1000));
        let now = Instant::from_millis(10_000);
        let expected = [50u64, 100, 200, 400, 800, 1000, 1000];
        for &base in &expected {
            let until = b.fail(now, &mut rng);
            let waited = (until - now).as_micros() as f64 / 1000.0;
            assert!(
                waited >= base as f64 * 0.8 - 0.001 && waited <= base as f64 * 1.2 + 0.001,
                "{waited} vs {base}"
            );
            assert!(!b.ready(now));
            assert!(b.ready(until));
        }
        b.succeed();
        assert!(b.ready(now));
        assert_eq!(b.base_delay(1), Duration::from_millis(50));
    }

    #[test]
    fn jitter_differs_between_seeds_but_replays_per_seed() {
        let now = Instant::ZERO;
        let run = |seed| {
            let mut rng = Rng::new(seed);
            let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(100));
            (0..5)
                .map(|_| b.fail(now, &mut rng))
                .collect::<alloc::vec::Vec<_>>()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }
}
