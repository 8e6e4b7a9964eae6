//! The acceptance rule, exactly as the AVS contract computes it (`Quorum.reached` in
//! `contracts/src/Quorum.sol`, which `respondToTask` calls; `tests/differential_quorum.rs`
//! checks the two agree):
//! `signedStake * 100 >= uint256(thresholdPercentage) * totalStake` and `signedStake > 0`, in
//! uint256, with `1 <= thresholdPercentage <= 100` enforced when the task is created.
//! Stakes are `uint128` per operator; sums are taken in uint256 so they cannot overflow.

use alloy_primitives::U256;
use std::collections::{HashMap, HashSet};

use super::types::{OperatorId, TaskOperator};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuorumError {
    #[error("threshold percentage {0} is outside 1..=100")]
    InvalidThreshold(u8),
    #[error("signed stake {signed} exceeds total stake {total}")]
    SignedAboveTotal { signed: U256, total: U256 },
    #[error("arithmetic overflow in uint256")]
    Overflow,
    #[error("signer {0} listed twice")]
    DuplicateSigner(OperatorId),
    #[error("signer {0} is not in the task's snapshot")]
    UnknownSigner(OperatorId),
}

/// Whether `threshold` is one the contract accepts at task creation.
pub fn valid_threshold(threshold: u8) -> bool {
    (1..=100).contains(&threshold)
}

/// The contract's decision. `Err` where the contract would revert.
pub fn quorum_reached(threshold: u8, signed: U256, total: U256) -> Result<bool, QuorumError> {
    if !valid_threshold(threshold) {
        return Err(QuorumError::InvalidThreshold(threshold));
    }
    if signed > total {
        return Err(QuorumError::SignedAboveTotal { signed, total });
    }
    // The contract short-circuits `signedStake == 0` before multiplying, so zero signed stake is a
    // reject even where `threshold * total` would overflow (found by tests/differential_quorum.rs).
    if signed.is_zero() {
        return Ok(false);
    }
    let lhs = signed
        .checked_mul(U256::from(100u8))
        .ok_or(QuorumError::Overflow)?;
    let rhs = U256::from(threshold)
        .checked_mul(total)
        .ok_or(QuorumError::Overflow)?;
    Ok(lhs >= rhs)
}

/// Sum of every snapshot member's stake (members without a key included, as on chain).
pub fn total_stake(snapshot: &[TaskOperator]) -> U256 {
    // u128 summands: fewer than 2^128 members cannot overflow 256 bits.
    snapshot
        .iter()
        .fold(U256::ZERO, |acc, m| acc + U256::from(m.stake))
}

/// Sum of the signers' stake. Duplicate or unknown signers are errors, never double counts.
pub fn signed_stake(
    snapshot: &[TaskOperator],
    signers: &[OperatorId],
) -> Result<U256, QuorumError> {
    // Index the snapshot once: the aggregator calls this with a thousand signers and members.
    // The first entry of an operator listed twice wins, as a linear search would have it.
    let mut stakes: HashMap<OperatorId, u128> = HashMap::with_capacity(snapshot.len());
    for m in snapshot {
        stakes.entry(m.operator).or_insert(m.stake);
    }
    let mut seen = HashSet::with_capacity(signers.len());
    let mut sum = U256::ZERO;
    for s in signers {
        if !seen.insert(*s) {
            return Err(QuorumError::DuplicateSigner(*s));
        }
        let stake = stakes.get(s).ok_or(QuorumError::UnknownSigner(*s))?;
        sum += U256::from(*stake);
    }
    Ok(sum)
}

/// The percentage the signers actually reached, rounded down (the challenge's `actualThreshold`).
/// 0 when the total is 0; capped at 100.
pub fn actual_threshold(signed: U256, total: U256) -> u8 {
    if total.is_zero() {
        return 0;
    }
    let pct = signed.saturating_mul(U256::from(100u8)) / total;
    if pct >= U256::from(100u8) {
        100
    } else {
        pct.to::<u8>()
    }
}

#[cfg(test)]
mod tests;
