//! What the auditor must know about the AVS under test, and nothing else: how its generator's
//! seeded source plans payloads, whether an accepted response is right (the AVS's own
//! correctness invariant), and how to show its bytes in a trace. The generic invariants
//! (threshold, one response per key, the aggregate verifies, liveness, nothing lost) are the
//! checker's; this is where an AVS's own rule plugs in beside them.

use exoavs::app::AvsApp;
use exoavs::avs::{Avs, SumAvs, show_payload_bytes, show_response_bytes};
use exoavs::protocol::generator::{AvsPayloads, PayloadSource};
use rand::SeedableRng;
use std::sync::Arc;

/// An AVS the simulator runs: its app (logic and contract) plus the auditor's view of it.
pub trait SimAvs: AvsApp + std::fmt::Debug {
    /// The one command that reruns `seed` of `scenario` for this AVS. By default the
    /// simulator's own (`cargo sim`, which runs the sum's scenarios of `scenarios/`); an AVS
    /// with scenarios of its own names its own runner.
    fn repro(&self, scenario: &str, seed: u64) -> String {
        format!("cargo sim --scenario {scenario} --seed {seed}")
    }

    /// The AVS's own correctness invariant for a response the chain accepted for a task with
    /// `payload`: `Err(why)` when it is wrong. By default: both decode and the AVS's slashing
    /// condition does not hold.
    fn check_accepted(&self, payload: &[u8], response: &[u8]) -> Result<(), String> {
        if exoavs::protocol::challenger::is_correct(self, payload, response) {
            Ok(())
        } else {
            Err(format!(
                "{} is not a correct answer to {}",
                show_response_bytes(self, response),
                show_payload_bytes(self, payload)
            ))
        }
    }
}

/// The sum, as the sim's scenarios have always run it: summands up to
/// [`crate::scenario::PAIR_MAX`], and an accepted sum must be `a + b`.
pub fn sum_avs() -> SumAvs {
    SumAvs {
        max_addend: crate::scenario::PAIR_MAX,
    }
}

impl SimAvs for SumAvs {
    fn check_accepted(&self, payload: &[u8], response: &[u8]) -> Result<(), String> {
        let p = self
            .decode_payload(payload)
            .map_err(|e| format!("the task's payload: {e}"))?;
        let sum = self
            .decode_response(response)
            .map_err(|e| format!("the accepted response: {e}"))?;
        match p.sum() {
            Some(want) if want == sum => Ok(()),
            Some(want) => Err(format!("accepted {sum}, the sum is {want}")),
            None => Err(format!("accepted {sum}, {} + {} has no sum", p.a, p.b)),
        }
    }
}

/// The auditor's object-safe handle on a [`SimAvs`].
pub trait Judge: Send + Sync + std::fmt::Debug {
    /// The first `n` payloads of the generator's source seeded with `seed`.
    fn planned_payloads(&self, seed: u64, n: u64) -> Vec<Vec<u8>>;
    fn check_accepted(&self, payload: &[u8], response: &[u8]) -> Result<(), String>;
    /// Whether a committed (two-phase) response is correct, as the challenger judges it.
    fn is_correct(&self, payload: &[u8], response: &[u8]) -> bool;
    fn show_payload(&self, payload: &[u8]) -> String;
    fn show_response(&self, response: &[u8]) -> String;
}

impl<A: SimAvs> Judge for A {
    fn planned_payloads(&self, seed: u64, n: u64) -> Vec<Vec<u8>> {
        let mut src = AvsPayloads {
            avs: self.clone(),
            rng: rand::rngs::StdRng::seed_from_u64(seed),
        };
        (0..n).map(|_| src.next_payload()).collect()
    }

    fn check_accepted(&self, payload: &[u8], response: &[u8]) -> Result<(), String> {
        SimAvs::check_accepted(self, payload, response)
    }

    fn is_correct(&self, payload: &[u8], response: &[u8]) -> bool {
        exoavs::protocol::challenger::is_correct(self, payload, response)
    }

    fn show_payload(&self, payload: &[u8]) -> String {
        show_payload_bytes(self, payload)
    }

    fn show_response(&self, response: &[u8]) -> String {
        show_response_bytes(self, response)
    }
}

/// The sum's judge, the checker's default.
pub fn sum_judge() -> Arc<dyn Judge> {
    Arc::new(sum_avs())
}

/// `0x…` hex of bytes, as the trace keeps payloads and responses.
pub fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

/// The bytes of a trace's `0x…` hex (empty for text that is not hex).
pub fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.trim_start_matches("0x")).unwrap_or_default()
}
