//! `/health` and `/ready` for the metrics endpoint.
//!
//! `/health` says the process is alive: it answers 200 whenever the endpoint does. `/ready`
//! says the role can do its work now: the chain answers, and every event cursor of the role
//! is at most `max_lag` blocks behind what it could read. A probe task asks the chain for its
//! head once per poll interval, with the poll interval as its timeout, without retries (the
//! drivers' own requests retry, which would hide an outage), so a dead node turns `/ready` to
//! 503 at the next probe and a hung one a timeout later: within two poll intervals either
//! way. The cursors report where they are through their reader's
//! [`CursorProgress`](crate::chain::CursorProgress); the drivers report nothing.
//!
//! Call order: [`Health::new`] with the role's reader's cursor progress, spawn [`Health::probe`]
//! on that reader, then [`Health::ready`] per request.

use crate::chain::{CursorProgress, CursorSeen, Reader};
use alloy::providers::Provider;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Default `--ready-max-lag`, in blocks.
pub const DEFAULT_MAX_LAG: u64 = 64;

#[derive(Clone, Debug)]
pub struct HealthConfig {
    /// Between two probes, and the longest a probe may take.
    pub poll_interval: Duration,
    /// Blocks a cursor may be behind before the role is not ready.
    pub max_lag: u64,
    /// The role reads events (every role but the generator): until a cursor has registered,
    /// it is not ready.
    pub expects_cursor: bool,
}

/// The last probe of the chain.
#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    /// When it finished.
    pub at: Instant,
    /// The head block, or why there is none.
    pub head: Result<u64, String>,
}

/// The readiness of one role.
#[derive(Debug)]
pub struct Health {
    cfg: HealthConfig,
    progress: CursorProgress,
    last: Mutex<Option<Probe>>,
    /// Since when probes have failed without a success in between.
    failing_since: Mutex<Option<Instant>>,
}

impl Health {
    /// Readiness of a role whose event cursors report to `progress` (its reader's
    /// [`Reader::progress`]).
    pub fn new(progress: CursorProgress, cfg: HealthConfig) -> Arc<Health> {
        Arc::new(Health {
            cfg,
            progress,
            last: Mutex::new(None),
            failing_since: Mutex::new(None),
        })
    }

    /// Probe the chain's head through `reader` once per poll interval, forever.
    pub async fn probe(self: Arc<Self>, reader: Reader) {
        let every = self.cfg.poll_interval.max(Duration::from_millis(1));
        loop {
            let started = Instant::now();
            let head = match tokio::time::timeout(every, reader.provider().get_block_number()).await
            {
                Ok(Ok(n)) => Ok(n),
                Ok(Err(e)) => Err(format!("eth_blockNumber failed: {e}")),
                Err(_) => Err(format!(
                    "eth_blockNumber unanswered after {} ms",
                    every.as_millis()
                )),
            };
            let at = Instant::now();
            self.record(Probe { at, head });
            tokio::time::sleep(every.saturating_sub(at - started)).await;
        }
    }

    /// Take the outcome of one probe.
    pub fn record(&self, p: Probe) {
        let mut since = self.failing_since.lock().unwrap_or_else(|e| e.into_inner());
        match (&p.head, *since) {
            (Ok(_), _) => *since = None,
            (Err(e), None) => {
                tracing::warn!("chain probe failed, not ready: {e}");
                *since = Some(p.at);
            }
            (Err(_), Some(_)) => {}
        }
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(p);
    }

    /// Ready (`Ok`) or not (`Err`), with a line that says why, at `now`.
    pub fn ready(&self, now: Instant) -> Result<String, String> {
        let last = self.last.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let since = *self.failing_since.lock().unwrap_or_else(|e| e.into_inner());
        judge(
            now,
            last.as_ref(),
            since,
            &self.progress.snapshot(),
            &self.cfg,
        )
    }
}

/// The verdict, from the last probe and the cursors' positions alone.
pub fn judge(
    now: Instant,
    last: Option<&Probe>,
    failing_since: Option<Instant>,
    cursors: &[CursorSeen],
    cfg: &HealthConfig,
) -> Result<String, String> {
    let Some(p) = last else {
        return Err("not ready: the chain has not been probed yet".into());
    };
    let head = match &p.head {
        Ok(h) => *h,
        Err(e) => {
            let for_ms = failing_since.map_or(0, |s| (now - s).as_millis());
            return Err(format!(
                "not ready: the chain is unreachable (for {for_ms} ms): {e}"
            ));
        }
    };
    // The probe task itself stalled: what it last saw is no longer news.
    let stale = cfg.poll_interval * 3;
    if now.saturating_duration_since(p.at) > stale {
        return Err(format!(
            "not ready: no chain probe in the last {} ms",
            stale.as_millis()
        ));
    }
    if cursors.is_empty() && cfg.expects_cursor {
        return Err(format!(
            "not ready: chain head {head}, but no event cursor has read yet"
        ));
    }
    let lag = cursors.iter().map(|c| c.lag(head)).max().unwrap_or(0);
    if lag > cfg.max_lag {
        return Err(format!(
            "not ready: chain head {head}, an event cursor is {lag} blocks behind (bound {})",
            cfg.max_lag
        ));
    }
    Ok(if cursors.is_empty() {
        format!("ready: chain head {head}")
    } else {
        format!(
            "ready: chain head {head}, event cursors at most {lag} blocks behind (bound {})",
            cfg.max_lag
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(expects_cursor: bool) -> HealthConfig {
        HealthConfig {
            poll_interval: Duration::from_millis(100),
            max_lag: 10,
            expects_cursor,
        }
    }

    fn cursor(next: u64, confirmations: u64) -> CursorSeen {
        CursorSeen {
            next,
            confirmations,
        }
    }

    #[test]
    fn lag_counts_readable_blocks_not_yet_read() {
        // Head 100, 2 confirmations: blocks through 98 are readable.
        assert_eq!(cursor(99, 2).lag(100), 0);
        assert_eq!(cursor(90, 2).lag(100), 9);
        assert_eq!(cursor(150, 0).lag(100), 0);
        assert_eq!(cursor(0, 5).lag(3), 0, "nothing is deep enough yet");
        assert_eq!(cursor(0, 0).lag(0), 1, "block 0 is readable and unread");
    }

    #[tokio::test]
    async fn verdicts() {
        let t0 = Instant::now();
        let ok = |at| Probe { at, head: Ok(100) };
        let c = cfg(true);
        let one = Duration::from_millis(100);

        let e = judge(t0, None, None, &[], &c).unwrap_err();
        assert!(e.contains("not been probed"), "{e}");

        let down = Probe {
            at: t0 + one,
            head: Err("connection refused".into()),
        };
        let e = judge(t0 + one * 2, Some(&down), Some(t0 + one), &[], &c).unwrap_err();
        assert!(
            e.contains("unreachable (for 100 ms): connection refused"),
            "{e}"
        );

        let e = judge(t0, Some(&ok(t0)), None, &[], &c).unwrap_err();
        assert!(e.contains("no event cursor"), "{e}");
        assert_eq!(
            judge(t0, Some(&ok(t0)), None, &[], &cfg(false)),
            Ok("ready: chain head 100".into())
        );

        // At the bound is ready, one past it is not; the worst cursor decides.
        let at_bound = [cursor(101, 0), cursor(91, 0)];
        let r = judge(t0, Some(&ok(t0)), None, &at_bound, &c).expect("ready");
        assert!(r.contains("at most 10 blocks behind"), "{r}");
        let past = [cursor(101, 0), cursor(90, 0)];
        let e = judge(t0, Some(&ok(t0)), None, &past, &c).unwrap_err();
        assert!(e.contains("11 blocks behind (bound 10)"), "{e}");

        // A probe older than three poll intervals no longer counts.
        assert!(judge(t0 + one * 3, Some(&ok(t0)), None, &at_bound, &c).is_ok());
        let e = judge(t0 + one * 3 + one / 10, Some(&ok(t0)), None, &at_bound, &c).unwrap_err();
        assert!(e.contains("no chain probe"), "{e}");
    }
}
