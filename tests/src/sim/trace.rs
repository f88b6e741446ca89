//! The run's trace: a running hash of every byte delivered and every event (two runs
//! of one seed must end with the same hash), and the last lines in readable form for
//! the failure report.

use std::collections::VecDeque;
use std::fmt::Write as _;

use kasio_core::time::Instant;

use super::record::Digest;

/// Trace lines kept for the report by default.
pub const DEFAULT_TAIL: usize = 400;

/// A trace.
#[derive(Debug, Clone)]
pub struct Trace {
    hash: Digest,
    tail: VecDeque<String>,
    cap: usize,
    lines: u64,
    /// Print every line as it happens (`SIM_TRACE=1`).
    pub echo: bool,
}

impl Default for Trace {
    fn default() -> Self {
        Self::new(DEFAULT_TAIL)
    }
}

impl Trace {
    /// A trace keeping the last `cap` lines.
    pub fn new(cap: usize) -> Self {
        Self {
            hash: Digest::new(),
            tail: VecDeque::with_capacity(cap.min(4096)),
            cap,
            lines: 0,
            echo: false,
        }
    }

    /// Records a line (hashed, kept in the tail).
    pub fn line(&mut self, now: Instant, what: impl AsRef<str>) {
        let what = what.as_ref();
        self.hash.u64(now.as_micros());
        self.hash.bytes(what.as_bytes());
        self.lines += 1;
        let mut s = String::with_capacity(what.len() + 16);
        let _ = write!(s, "{:>12?} {what}", now);
        if self.echo {
            eprintln!("{s}");
        }
        if self.cap > 0 {
            if self.tail.len() == self.cap {
                self.tail.pop_front();
            }
            self.tail.push_back(s);
        }
    }

    /// Hashes bytes without a line.
    pub fn bytes(&mut self, data: &[u8]) {
        self.hash.bytes(data);
    }

    /// The running hash.
    pub fn hash(&self) -> u64 {
        self.hash.finish()
    }

    /// Lines recorded so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// The kept lines, oldest first.
    pub fn tail(&self) -> impl Iterator<Item = &str> {
        self.tail.iter().map(String::as_str)
    }
}

impl Trace {
    /// Hashes a number without a line.
    pub fn u64(&mut self, v: u64) {
        self.hash.u64(v);
    }
}
