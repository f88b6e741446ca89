//! The live progress line on stderr: records and bytes per second, the largest
//! lag, rebalances. One line redrawn in place (`\r` and erase-line), wiped when
//! the run ends or before records go to the same terminal. Hand-written: that is
//! all it takes, where indicatif would bring its own dependencies for a spinner
//! kasio does not draw.

use std::io::Write;
use std::time::Instant;

use kasio_tokio::Metrics;

/// Erases the current line and returns to its start.
const WIPE: &str = "\r\x1b[2K";

pub struct Progress {
    out: Box<dyn Write>,
    drawn: bool,
    last: Option<(Instant, u64, u64)>,
    rate: (f64, f64),
}

impl Progress {
    pub fn new(out: Box<dyn Write>) -> Self {
        Self {
            out,
            drawn: false,
            last: None,
            rate: (0.0, 0.0),
        }
    }

    /// Redraws the line from the consumer's counters.
    pub fn draw(&mut self, m: &Metrics) {
        let now = Instant::now();
        if let Some((t, records, bytes)) = self.last {
            let secs = now.duration_since(t).as_secs_f64();
            if secs > 0.0 {
                self.rate = (
                    m.records.saturating_sub(records) as f64 / secs,
                    m.record_bytes.saturating_sub(bytes) as f64 / secs,
                );
            }
        }
        self.last = Some((now, m.records, m.record_bytes));
        let lag = m
            .records_lag_max
            .map_or_else(|| "-".to_owned(), |l| l.to_string());
        let line = format!(
            "{WIPE}kasio: {} records  {:.0} records/s  {}/s  lag {lag}  rebalances {}",
            m.records,
            self.rate.0,
            human_bytes(self.rate.1),
            m.rebalances
        );
        let _ = self.out.write_all(line.as_bytes());
        let _ = self.out.flush();
        self.drawn = true;
    }

    /// Wipes the line (before other output, and at the end).
    pub fn wipe(&mut self) {
        if self.drawn {
            let _ = self.out.write_all(WIPE.as_bytes());
            let _ = self.out.flush();
            self.drawn = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.wipe();
    }
}

fn human_bytes(b: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_readable() {
        assert_eq!(human_bytes(0.0), "0 B");
        assert_eq!(human_bytes(1023.0), "1023 B");
        assert_eq!(human_bytes(1536.0), "1.5 KiB");
        assert_eq!(human_bytes(3.0 * 1024.0 * 1024.0), "3.0 MiB");
    }
}
