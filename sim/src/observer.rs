//! The auditor's eyes on the chain: reads confirmed blocks from Anvil (outside the fault plan)
//! and turns what the AVS service contract did into trace events — keys registered, tasks
//! created (with their numbers), responses accepted (with the aggregate signature from the
//! calldata), tasks whose response period ended without one. The checker judges these, not
//! what the nodes say about themselves.

use crate::gateway::Gateway;
use crate::scenario::{reaches_threshold, weight_of};
use crate::trace::EventKind;
use alloy::primitives::{Address, B256};
use alloy::sol_types::{SolCall, SolEvent};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

// The interface every AVS contract shares (`contracts/src/AvsServiceBase.sol`); only what the
// auditor reads. Payloads and responses stay the AVS's bytes; `ChainView::judge` shows them.
alloy::sol! {
    event TaskCreated(uint64 indexed taskId, bytes payload, uint8 thresholdPercentage, uint64 startingEpoch, uint64 taskResponsePeriod, uint64 taskChallengePeriod, uint64 taskStatisticalPeriod);
    event TaskResponded(uint64 indexed taskId, bytes response, uint256 signedStake, uint256 totalStake, address[] nonSigners);
    function respondToTask(uint64 taskId, bytes response, address[] nonSigners, bytes nonSignerPubKeys, bytes aggregateSignature);
    function registerBLSPublicKey(bytes pubKey, bytes popSignature) returns (bool);
    event TaskSubmittedByOperator(address indexed taskContractAddress, uint64 indexed taskID, address sender, bytes taskResponse, bytes blsSignature, uint8 phase);
    event TaskSettled(uint64 indexed taskId, uint8 actualThreshold, address[] rewarded, address[] slashed);
}

/// A `respondToTask` carried by a node's chain request — a transaction sent
/// (`eth_sendRawTransaction`) or one being estimated or simulated (`eth_estimateGas`,
/// `eth_call`): (task, sum, non-signers). The auditor judges what the aggregator *tries* to
/// submit, not only what the contract lets through.
pub fn respond_to_task_in(request: &Value) -> Option<(u64, Vec<u8>, Vec<Address>)> {
    let params = request.get("params")?.as_array()?;
    let input = match request.get("method")?.as_str()? {
        "eth_sendRawTransaction" => {
            use alloy::consensus::{Transaction, TxEnvelope};
            use alloy::eips::eip2718::Decodable2718;
            let raw = hex_bytes(params.first()?);
            let tx = TxEnvelope::decode_2718(&mut raw.as_slice()).ok()?;
            tx.input().to_vec()
        }
        "eth_estimateGas" | "eth_call" | "eth_createAccessList" => {
            let call = params.first()?;
            hex_bytes(call.get("input").or_else(|| call.get("data"))?)
        }
        _ => return None,
    };
    let call = respondToTaskCall::abi_decode(&input).ok()?;
    Some((call.taskId, call.response.to_vec(), call.nonSigners))
}

/// What the observer tells the checker beyond the trace: every phase-2 commit on chain and
/// every settlement (`TaskSettled`), operators by index.
pub type SettlementTap = Arc<dyn Fn(Settlement) + Send + Sync>;

pub use crate::invariants::Settlement;

/// What the observer must know about the deployment.
#[derive(Clone, Debug)]
pub struct ChainView {
    pub service: Address,
    /// Seconds per epoch of the AVS's epoch identifier.
    pub epoch_seconds: u64,
    /// On the imua profile, the timestamp x/epochs' counter starts from: the epoch of time `t`
    /// is then 1 up to the origin and ⌈(t − origin) / seconds⌉ after it, not t / seconds.
    pub epoch_origin: Option<u64>,
    /// Operator chain addresses by operator index.
    pub operators: Vec<Address>,
    /// Blocks an event must be under before the auditor believes it (deeper than any reorg).
    pub confirmations: u64,
    /// Two-phase flow: a task is accepted when phase-2 commits of one result reach its threshold.
    pub two_phase: bool,
    /// Stake of each operator (by index), as the setup gave it.
    pub stakes: Vec<u64>,
    /// The run's seed, if the generator draws its payloads from it (the auditor re-derives
    /// them).
    pub seed: Option<u64>,
    /// The AVS under test, to show its payloads and responses in the trace.
    pub judge: Arc<dyn crate::judge::Judge>,
}

struct Open {
    deadline_epoch: u64,
    threshold: u8,
    /// Two-phase commits: operator → (response bytes, uncompressed signature).
    commits: BTreeMap<usize, (Vec<u8>, Vec<u8>)>,
}

pub struct Observer {
    view: ChainView,
    next_block: u64,
    open: BTreeMap<u64, Open>,
    /// Operators whose BLS key the contract accepted (only they can be signers).
    registered: BTreeSet<usize>,
    settlement: Option<SettlementTap>,
}

/// EIP-2537 G1 (128 B: two 64-byte padded Fp) → 96-byte uncompressed (x ‖ y) that blst reads.
/// A 48-byte compressed key (the imua profile's) is decompressed to the same form.
pub fn g1_from_eip2537(b: &[u8]) -> Option<Vec<u8>> {
    if b.len() == 48 {
        return blst::min_pk::PublicKey::from_bytes(b)
            .ok()
            .map(|p| p.serialize().to_vec());
    }
    if b.len() != 128 {
        return None;
    }
    Some([&b[16..64], &b[80..128]].concat())
}

/// EIP-2537 G2 (256 B: x.c0 ‖ x.c1 ‖ y.c0 ‖ y.c1, each padded to 64) → 192-byte uncompressed
/// in the zcash order blst reads (x.c1 ‖ x.c0 ‖ y.c1 ‖ y.c0).
/// A 96-byte compressed signature (the imua profile's) is decompressed to the same form.
pub fn g2_from_eip2537(b: &[u8]) -> Option<Vec<u8>> {
    if b.len() == 96 {
        return blst::min_pk::Signature::from_bytes(b)
            .ok()
            .map(|s| s.serialize().to_vec());
    }
    if b.len() != 256 {
        return None;
    }
    let f = |i: usize| &b[i * 64 + 16..(i + 1) * 64];
    Some([f(1), f(0), f(3), f(2)].concat())
}

fn hex_u64(v: &Value) -> u64 {
    v.as_str()
        .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        .unwrap_or(0)
}

fn hex_bytes(v: &Value) -> Vec<u8> {
    v.as_str()
        .and_then(|s| hex::decode(s.trim_start_matches("0x")).ok())
        .unwrap_or_default()
}

impl Observer {
    pub fn new(view: ChainView) -> Self {
        Observer {
            view,
            next_block: 1,
            open: BTreeMap::new(),
            registered: BTreeSet::new(),
            settlement: None,
        }
    }

    /// Hand commits and settlements to `tap` (the checker) as they become confirmed.
    pub fn with_settlement_tap(mut self, tap: SettlementTap) -> Self {
        self.settlement = Some(tap);
        self
    }

    fn tell(&self, s: Settlement) {
        if let Some(t) = &self.settlement {
            t(s);
        }
    }

    fn index_of(&self, a: &Address) -> Option<usize> {
        self.view.operators.iter().position(|o| o == a)
    }

    /// Read every block that became confirmed since the last call.
    pub fn poll(&mut self, gw: &Gateway) {
        let Ok(head) = gw.admin("eth_blockNumber", json!([])) else {
            return;
        };
        let head = hex_u64(&head);
        while self.next_block + self.view.confirmations <= head {
            let n = self.next_block;
            if self.block(gw, n).is_err() {
                return;
            }
            self.next_block += 1;
        }
    }

    fn block(&mut self, gw: &Gateway, n: u64) -> Result<(), crate::anvil::AnvilError> {
        let at = gw.clock().elapsed();
        let record = |kind: EventKind| gw.trace().record(at, "chain", kind);
        let block = gw.admin("eth_getBlockByNumber", json!([format!("0x{n:x}"), true]))?;
        let ts = hex_u64(&block["timestamp"]);
        let txs = block["transactions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for tx in &txs {
            let to = tx["to"].as_str().and_then(|s| s.parse::<Address>().ok());
            if to != Some(self.view.service) {
                continue;
            }
            let hash = tx["hash"].as_str().unwrap_or_default().to_string();
            let receipt = gw.admin("eth_getTransactionReceipt", json!([hash]))?;
            if receipt["status"].as_str() != Some("0x1") {
                continue;
            }
            let from = tx["from"]
                .as_str()
                .and_then(|s| s.parse::<Address>().ok())
                .unwrap_or_default();
            let input = hex_bytes(&tx["input"]);
            if let Ok(call) = registerBLSPublicKeyCall::abi_decode(&input)
                && let (Some(i), Some(pk)) = (self.index_of(&from), g1_from_eip2537(&call.pubKey))
            {
                self.registered.insert(i);
                record(EventKind::OperatorRegistered {
                    operator: i,
                    pubkey: hex::encode(pk),
                });
            }
            let logs = receipt["logs"].as_array().cloned().unwrap_or_default();
            for log in logs {
                let topics: Vec<B256> = log["topics"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|t| t.as_str().and_then(|s| s.parse().ok()))
                            .collect()
                    })
                    .unwrap_or_default();
                let data = hex_bytes(&log["data"]);
                if topics.first() == Some(&TaskCreated::SIGNATURE_HASH) {
                    if let Ok(e) = TaskCreated::decode_raw_log(topics.iter().copied(), &data) {
                        let shown = self.view.judge.show_payload(&e.payload);
                        self.tell(Settlement::Created {
                            at_ms: at.as_millis() as u64,
                            task: e.taskId,
                            payload: e.payload.to_vec(),
                            seed: self.view.seed,
                            params: crate::scenario::TaskPlan {
                                threshold: e.thresholdPercentage,
                                response_period: e.taskResponsePeriod,
                                challenge_period: e.taskChallengePeriod,
                                statistical_period: e.taskStatisticalPeriod,
                            },
                        });
                        let mut deadline = e.startingEpoch.saturating_add(e.taskResponsePeriod);
                        if self.view.two_phase {
                            deadline = deadline.saturating_add(e.taskStatisticalPeriod);
                        }
                        self.open.insert(
                            e.taskId,
                            Open {
                                deadline_epoch: deadline,
                                threshold: e.thresholdPercentage,
                                commits: BTreeMap::new(),
                            },
                        );
                        record(EventKind::TaskCreated {
                            task: e.taskId,
                            payload: crate::judge::hex0x(&e.payload),
                            shown,
                        });
                    }
                } else if topics.first() == Some(&TaskSubmittedByOperator::SIGNATURE_HASH) {
                    if let Ok(e) =
                        TaskSubmittedByOperator::decode_raw_log(topics.iter().copied(), &data)
                        && e.phase == 2
                        && e.taskContractAddress == self.view.service
                    {
                        if let Some(op) = self.index_of(&e.sender)
                            && let Some((tid, response)) =
                                exoavs::avs::split_signed_bytes(&e.taskResponse)
                            && tid == e.taskID
                        {
                            self.tell(Settlement::Commit {
                                at_ms: at.as_millis() as u64,
                                task: e.taskID,
                                operator: op,
                                response: response.to_vec(),
                            });
                        }
                        self.commit(
                            gw,
                            e.taskID,
                            &e.sender,
                            &e.taskResponse,
                            &e.blsSignature,
                            at,
                        );
                    }
                } else if topics.first() == Some(&TaskSettled::SIGNATURE_HASH) {
                    if let Ok(e) = TaskSettled::decode_raw_log(topics.iter().copied(), &data) {
                        let idx = |v: &[Address]| -> Vec<usize> {
                            v.iter().filter_map(|a| self.index_of(a)).collect()
                        };
                        let (rewarded, slashed) = (idx(&e.rewarded), idx(&e.slashed));
                        record(EventKind::TaskSettled {
                            task: e.taskId,
                            actual_threshold: e.actualThreshold as u64,
                            rewarded: rewarded.clone(),
                            slashed: slashed.clone(),
                        });
                        self.tell(Settlement::Settled {
                            at_ms: at.as_millis() as u64,
                            task: e.taskId,
                            actual_threshold: e.actualThreshold,
                            rewarded,
                            slashed,
                        });
                    }
                } else if topics.first() == Some(&TaskResponded::SIGNATURE_HASH)
                    && let Ok(e) = TaskResponded::decode_raw_log(topics.iter().copied(), &data)
                {
                    let sig = respondToTaskCall::abi_decode(&input)
                        .ok()
                        .and_then(|c| g2_from_eip2537(&c.aggregateSignature))
                        .map(hex::encode)
                        .unwrap_or_default();
                    let named: Vec<usize> = e
                        .nonSigners
                        .iter()
                        .map(|a| self.index_of(a).unwrap_or(usize::MAX))
                        .collect();
                    let non: BTreeSet<usize> = named.iter().copied().collect();
                    let signers: Vec<usize> = self
                        .registered
                        .iter()
                        .copied()
                        .filter(|i| !non.contains(i))
                        .collect();
                    self.open.remove(&e.taskId);
                    record(EventKind::TaskAccepted {
                        task: e.taskId,
                        response: crate::judge::hex0x(&e.response),
                        shown: self.view.judge.show_response(&e.response),
                        signers,
                        signed_weight: u64::try_from(e.signedStake).unwrap_or(u64::MAX),
                        total_weight: u64::try_from(e.totalStake).unwrap_or(u64::MAX),
                        non_signers: named,
                        aggregate_signature: sig,
                    });
                }
            }
        }
        // A task whose response period has ended without an accepted response is expired.
        let d = self.view.epoch_seconds.max(1);
        let epoch = match self.view.epoch_origin {
            None => ts / d,
            Some(o) if ts <= o => 1,
            Some(o) => (ts - o).div_ceil(d),
        };
        let expired: Vec<(u64, u64)> = self
            .open
            .iter()
            .filter(|(_, o)| epoch > o.deadline_epoch)
            .map(|(id, o)| (*id, o.deadline_epoch))
            .collect();
        for (id, deadline) in expired {
            self.open.remove(&id);
            record(EventKind::TaskExpired {
                task: id,
                reason: format!(
                    "response period ended (epoch {epoch} > {deadline}) without an accepted response"
                ),
            });
        }
        Ok(())
    }

    /// A phase-2 commit; once the commits of one result carry the task's threshold of stake,
    /// the task counts as accepted with the aggregate of those operators' signatures.
    fn commit(
        &mut self,
        gw: &Gateway,
        task: u64,
        sender: &Address,
        response: &[u8],
        sig: &[u8],
        at: Duration,
    ) {
        let Some(op) = self.index_of(sender) else {
            return;
        };
        if !self.registered.contains(&op) {
            return;
        }
        let Some((tid, result)) = exoavs::avs::split_signed_bytes(response) else {
            return;
        };
        if tid != task {
            return;
        }
        let result = result.to_vec();
        let Some(sig) = g2_from_eip2537(sig) else {
            return;
        };
        let total = weight_of(&self.view.stakes, 0..self.view.stakes.len());
        let Some(open) = self.open.get_mut(&task) else {
            return;
        };
        open.commits.entry(op).or_insert((result.clone(), sig));
        let signers: Vec<usize> = open
            .commits
            .iter()
            .filter(|(_, (r, _))| *r == result)
            .map(|(i, _)| *i)
            .collect();
        let signed = weight_of(&self.view.stakes, signers.iter().copied());
        if !reaches_threshold(signed, total, open.threshold as u64) || signed == 0 {
            return;
        }
        let sigs: Vec<blst::min_pk::Signature> = signers
            .iter()
            .filter_map(|i| open.commits.get(i))
            .filter_map(|(_, s)| blst::min_pk::Signature::from_bytes(s).ok())
            .collect();
        let refs: Vec<&blst::min_pk::Signature> = sigs.iter().collect();
        let aggregate = blst::min_pk::AggregateSignature::aggregate(&refs, true)
            .map(|a| hex::encode(a.to_signature().to_bytes()))
            .unwrap_or_default();
        self.open.remove(&task);
        gw.trace().record(
            at,
            "chain",
            EventKind::TaskAccepted {
                task,
                response: crate::judge::hex0x(&result),
                shown: self.view.judge.show_response(&result),
                non_signers: (0..self.view.stakes.len())
                    .filter(|i| !signers.contains(i))
                    .collect(),
                signers,
                // The trace fields are u64; a sum beyond it (never with real stakes) saturates.
                signed_weight: u64::try_from(signed).unwrap_or(u64::MAX),
                total_weight: u64::try_from(total).unwrap_or(u64::MAX),
                aggregate_signature: aggregate,
            },
        );
    }

    /// Poll after every block, forever (runs on the gateway node, next to the miner).
    pub async fn run(mut self, gw: Arc<Gateway>, every: Duration) {
        loop {
            tokio::time::sleep(every).await;
            self.poll(&gw);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eip2537_points_convert_to_what_blst_reads() {
        let sk = blst::min_pk::SecretKey::key_gen(&[7u8; 32], &[]).unwrap();
        let pk = sk.sk_to_pk();
        let raw = pk.serialize(); // 96 B x ‖ y
        let mut eip = vec![0u8; 128];
        eip[16..64].copy_from_slice(&raw[..48]);
        eip[80..128].copy_from_slice(&raw[48..]);
        assert_eq!(g1_from_eip2537(&eip).unwrap(), raw.to_vec());

        let sig = sk.sign(b"m", crate::invariants::DST, &[]);
        let raw = sig.serialize(); // 192 B x.c1 ‖ x.c0 ‖ y.c1 ‖ y.c0
        let mut eip = vec![0u8; 256];
        for (i, part) in [1usize, 0, 3, 2].iter().enumerate() {
            eip[part * 64 + 16..(part + 1) * 64].copy_from_slice(&raw[i * 48..(i + 1) * 48]);
        }
        let back = g2_from_eip2537(&eip).unwrap();
        assert_eq!(back, raw.to_vec());
        assert!(blst::min_pk::Signature::from_bytes(&back).is_ok());
    }
}
