//! Rejected responses, logged so that a flood cannot flood the log: the first few of each
//! interval one line each, the rest counted by reason and reported as one summary line when the
//! interval is over. Time is a parameter; the driver passes its clock's now.

use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

/// Whether the driver logs this rejection on a line of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    Each,
    Counted,
}

/// What an interval with suppressed lines saw, for its summary line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub over: Duration,
    pub total: u64,
    pub suppressed: u64,
    /// Rejections by reason slug, in slug order.
    pub by_reason: BTreeMap<&'static str, u64>,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} responses rejected in the last {:.0?} ({} not logged one by one):",
            self.total, self.over, self.suppressed
        )?;
        for (reason, n) in &self.by_reason {
            write!(f, " {reason} {n}")?;
        }
        Ok(())
    }
}

#[derive(Debug)]
pub struct RejectLog {
    interval: Duration,
    per_interval: u64,
    started: Option<Instant>,
    total: u64,
    by_reason: BTreeMap<&'static str, u64>,
}

impl RejectLog {
    /// At most `per_interval` lines of their own per `interval`.
    pub fn new(interval: Duration, per_interval: u64) -> RejectLog {
        RejectLog {
            interval,
            per_interval,
            started: None,
            total: 0,
            by_reason: BTreeMap::new(),
        }
    }

    /// One rejection with reason `slug` at `now`. Call [`RejectLog::flush`] first (the driver
    /// does so on every rejection and every tick) so that a finished interval is reported.
    pub fn record(&mut self, now: Instant, slug: &'static str) -> Line {
        let started = *self.started.get_or_insert(now);
        debug_assert!(now >= started);
        self.total += 1;
        *self.by_reason.entry(slug).or_default() += 1;
        if self.total <= self.per_interval {
            Line::Each
        } else {
            Line::Counted
        }
    }

    /// Ends the interval if it is over: its summary, when any line was suppressed in it.
    pub fn flush(&mut self, now: Instant) -> Option<Summary> {
        let started = self.started?;
        let over = now.saturating_duration_since(started);
        if over < self.interval {
            return None;
        }
        let summary = Summary {
            over,
            total: self.total,
            suppressed: self.total.saturating_sub(self.per_interval),
            by_reason: std::mem::take(&mut self.by_reason),
        };
        self.started = None;
        self.total = 0;
        (summary.suppressed > 0).then_some(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_a_few_lines_and_one_summary_per_interval() {
        let t0 = Instant::now();
        let mut log = RejectLog::new(Duration::from_secs(10), 3);
        let mut each = 0;
        for i in 0..40_000u64 {
            let now = t0 + Duration::from_micros(i * 100);
            assert_eq!(log.flush(now), None, "interval not over at {i}");
            let slug = if i % 4 == 0 {
                "provably-wrong"
            } else {
                "invalid-signature"
            };
            if log.record(now, slug) == Line::Each {
                each += 1;
            }
        }
        assert_eq!(each, 3);
        let s = log.flush(t0 + Duration::from_secs(10)).expect("a summary");
        assert_eq!((s.total, s.suppressed), (40_000, 39_997));
        assert_eq!(s.by_reason["provably-wrong"], 10_000);
        assert_eq!(s.by_reason["invalid-signature"], 30_000);
        assert!(s.to_string().contains("40000 responses rejected"), "{s}");
        // A new interval starts with lines of their own again, and a quiet one says nothing.
        let t1 = t0 + Duration::from_secs(11);
        assert_eq!(log.record(t1, "late"), Line::Each);
        assert_eq!(log.flush(t1 + Duration::from_secs(10)), None);
        assert_eq!(log.flush(t1 + Duration::from_secs(30)), None);
    }
}
