//! The ordered event log of one simulated run, and its digest.
//!
//! Two digests make up the run digest: the events a person reads (tasks, responses, faults,
//! blocks) and every JSON-RPC exchange the gateway had with Anvil. Equal digests for one seed
//! mean the simulation and the EVM took exactly the same path.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// What happened. Node names are the madsim node names (`generator`, `operator-2`, …).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    OperatorRegistered {
        operator: usize,
        pubkey: String,
    },
    /// A task on chain: its payload bytes (`0x…` hex), and as the AVS shows it.
    TaskCreated {
        task: u64,
        payload: String,
        shown: String,
    },
    /// An operator's signed response (`0x…` hex of the AVS's response bytes), and as the AVS
    /// shows it.
    ResponseSent {
        task: u64,
        operator: usize,
        response: String,
        shown: String,
    },
    ResponseReceived {
        task: u64,
        operator: usize,
    },
    ResponseRejected {
        task: u64,
        operator: usize,
        reason: String,
    },
    /// The generator's own view: its `createNewTask` transaction landed (the chain's
    /// `TaskCreated`, seen by the auditor in confirmed blocks, comes later).
    TaskSubmitted {
        task: u64,
        shown: String,
        block: u64,
        gas: u64,
    },
    /// The aggregator sent `respondToTask` for the task.
    AggregateSubmitted {
        task: u64,
        signers: usize,
        non_signers: usize,
        tx: String,
        gas: u64,
    },
    TaskAccepted {
        task: u64,
        /// The accepted response bytes (`0x…` hex), and as the AVS shows them.
        response: String,
        shown: String,
        signers: Vec<usize>,
        /// The signed stake as the chain computed it (`TaskResponded.signedStake`).
        signed_weight: u64,
        /// The total stake as the chain computed it (`TaskResponded.totalStake`).
        #[serde(default)]
        total_weight: u64,
        /// The non-signers the submission named, by operator index; an address that is no
        /// operator of the scenario is `usize::MAX`.
        #[serde(default)]
        non_signers: Vec<usize>,
        aggregate_signature: String,
    },
    TaskExpired {
        task: u64,
        reason: String,
    },
    /// Two-phase flow: the challenger's verdict on a task, as the chain recorded it.
    TaskSettled {
        task: u64,
        actual_threshold: u64,
        rewarded: Vec<usize>,
        slashed: Vec<usize>,
    },
    TxSent {
        from: String,
        hash: String,
    },
    TxMined {
        hash: String,
        block: u64,
        status: bool,
    },
    BlockMined {
        number: u64,
        hash: String,
        timestamp: u64,
        txs: usize,
    },
    Fault {
        fault: String,
    },
    FaultHealed {
        fault: String,
    },
    PhaseChanged {
        phase: String,
    },
    Note {
        text: String,
    },
    Violation {
        invariant: String,
        detail: String,
    },
}

#[cfg(test)]
impl EventKind {
    /// A sum task's creation, as the observer records it (tests).
    pub(crate) fn sum_task_created(task: u64, a: u64, b: u64) -> EventKind {
        EventKind::TaskCreated {
            task,
            payload: crate::judge::hex0x(&exoavs::avs::SumAvs::payload_bytes(a, b)),
            shown: format!("{a} + {b}"),
        }
    }

    /// A sum response, as the operators' drivers report it (tests).
    pub(crate) fn sum_response_sent(task: u64, operator: usize, result: u64) -> EventKind {
        EventKind::ResponseSent {
            task,
            operator,
            response: crate::judge::hex0x(&exoavs::avs::SumAvs::response_bytes(result)),
            shown: result.to_string(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Simulated time since the run started.
    pub at_ms: u64,
    pub node: String,
    #[serde(flatten)]
    pub kind: EventKind,
}

#[derive(Default)]
struct Inner {
    events: Vec<Event>,
    event_hash: Sha256,
    rpc_hash: Sha256,
    rpc_calls: u64,
    rpc_log: Option<Vec<(String, String)>>,
    listeners: Vec<Listener>,
}

type Listener = Box<dyn FnMut(&Event, &Trace) + Send>;

/// Shared, append-only log. Cloning shares it.
#[derive(Clone, Default)]
pub struct Trace {
    inner: Arc<Mutex<Inner>>,
}

impl Trace {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the log must not hide the log from the report.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Append an event and hand it to every listener (the invariant checker), in order.
    pub fn record(&self, at: Duration, node: impl Into<String>, kind: EventKind) {
        let ev = Event {
            at_ms: at.as_millis() as u64,
            node: node.into(),
            kind,
        };
        let mut g = self.lock();
        let line = serde_json::to_vec(&ev).unwrap_or_default();
        g.event_hash.update((line.len() as u64).to_be_bytes());
        g.event_hash.update(&line);
        let mut listeners = std::mem::take(&mut g.listeners);
        g.events.push(ev.clone());
        drop(g);
        for l in listeners.iter_mut() {
            l(&ev, self);
        }
        let mut g = self.lock();
        listeners.append(&mut g.listeners);
        g.listeners = listeners;
    }

    /// Fold one raw JSON-RPC exchange with Anvil into the digest.
    pub fn record_rpc(&self, request: &[u8], response: &[u8]) {
        let mut g = self.lock();
        g.rpc_calls += 1;
        if let Some(log) = g.rpc_log.as_mut() {
            log.push((
                String::from_utf8_lossy(request).into_owned(),
                String::from_utf8_lossy(response).into_owned(),
            ));
        }
        for part in [request, response] {
            g.rpc_hash.update((part.len() as u64).to_be_bytes());
            g.rpc_hash.update(part);
        }
    }

    /// Keep every RPC exchange (to find where two runs of a seed part).
    pub fn keep_rpc_log(&self) {
        self.lock().rpc_log.get_or_insert_with(Vec::new);
    }

    pub fn rpc_log(&self) -> Vec<(String, String)> {
        self.lock().rpc_log.clone().unwrap_or_default()
    }

    pub fn add_listener(&self, mut f: impl FnMut(&Event) + Send + 'static) {
        self.lock().listeners.push(Box::new(move |e, _| f(e)));
    }

    /// A listener that may record follow-up events (e.g. the invariant checker recording a
    /// `Violation` right after the event that broke it). Events it records are appended in
    /// order but are not shown to the listeners again.
    pub fn add_recording_listener(&self, f: impl FnMut(&Event, &Trace) + Send + 'static) {
        self.lock().listeners.push(Box::new(f));
    }

    pub fn events(&self) -> Vec<Event> {
        self.lock().events.clone()
    }

    pub fn rpc_calls(&self) -> u64 {
        self.lock().rpc_calls
    }

    /// Hex sha256 over the event digest and the RPC digest.
    pub fn digest(&self) -> String {
        let g = self.lock();
        let mut h = Sha256::new();
        h.update(g.event_hash.clone().finalize());
        h.update(g.rpc_hash.clone().finalize());
        hex::encode(h.finalize())
    }

    /// The log as JSON lines, for a failing run's report.
    pub fn to_jsonl(&self) -> String {
        let g = self.lock();
        let mut out = String::new();
        for ev in &g.events {
            out.push_str(&serde_json::to_string(ev).unwrap_or_default());
            out.push('\n');
        }
        out
    }
}

/// Read back a log written by [`Trace::to_jsonl`] (`cargo sim --trace f.jsonl`).
/// Blank lines are skipped; an unreadable line is an error naming its number.
pub fn parse_jsonl(text: &str) -> Result<Vec<Event>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recording_listener_appends_after_the_event_and_jsonl_round_trips() {
        let t = Trace::new();
        t.add_recording_listener(|e, trace| {
            if let EventKind::TaskCreated { task, .. } = e.kind {
                trace.record(
                    Duration::from_millis(e.at_ms),
                    e.node.clone(),
                    EventKind::Violation {
                        invariant: "test".into(),
                        detail: format!("task {task}"),
                    },
                );
            }
        });
        t.record(
            Duration::from_millis(5),
            "chain",
            EventKind::sum_task_created(1, 2, 3),
        );
        let evs = t.events();
        assert_eq!(evs.len(), 2);
        assert!(matches!(evs[1].kind, EventKind::Violation { .. }));
        assert_eq!(parse_jsonl(&t.to_jsonl()).unwrap(), evs);
        assert!(
            parse_jsonl("{\"at_ms\":1}\n")
                .unwrap_err()
                .starts_with("line 1")
        );
    }

    #[test]
    fn digest_depends_on_order_and_content() {
        let a = Trace::new();
        a.record(
            Duration::from_millis(1),
            "g",
            EventKind::sum_task_created(1, 1, 1),
        );
        a.record(
            Duration::from_millis(2),
            "g",
            EventKind::sum_task_created(2, 1, 1),
        );
        let b = Trace::new();
        b.record(
            Duration::from_millis(2),
            "g",
            EventKind::sum_task_created(2, 1, 1),
        );
        b.record(
            Duration::from_millis(1),
            "g",
            EventKind::sum_task_created(1, 1, 1),
        );
        assert_ne!(a.digest(), b.digest());
        let c = Trace::new();
        c.record(
            Duration::from_millis(1),
            "g",
            EventKind::sum_task_created(1, 1, 1),
        );
        c.record(
            Duration::from_millis(2),
            "g",
            EventKind::sum_task_created(2, 1, 1),
        );
        assert_eq!(a.digest(), c.digest());
        c.record_rpc(b"{}", b"{}");
        assert_ne!(a.digest(), c.digest());
    }

    #[test]
    fn listeners_see_every_event_in_order() {
        let t = Trace::new();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        t.add_listener(move |e| s.lock().unwrap().push(e.at_ms));
        for i in 0..5 {
            t.record(
                Duration::from_millis(i),
                "n",
                EventKind::Note {
                    text: String::new(),
                },
            );
        }
        assert_eq!(*seen.lock().unwrap(), vec![0, 1, 2, 3, 4]);
    }
}
