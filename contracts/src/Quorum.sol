// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// The acceptance rule of an aggregate response, in one place so that the service contract and the
/// differential-test harness (`harness/QuorumHarness.sol`) run the very same code. The Rust side
/// (`src/protocol/quorum.rs`) implements it bit for bit; `tests/differential_quorum.rs` checks that.
library Quorum {
    /// Thresholds a task may be created with (percent of the snapshot's opted-in stake).
    function validThreshold(uint8 thresholdPercentage) internal pure returns (bool) {
        return thresholdPercentage != 0 && thresholdPercentage <= 100;
    }

    /// Accept iff some stake signed and signedStake / totalStake >= threshold / 100, in uint256 integers
    /// (cross-multiplied: no division, no rounding). Checked arithmetic: an overflow reverts (Panic 0x11);
    /// unreachable from the contract, whose stakes are uint128 sums. `signedStake == 0` short-circuits
    /// before any multiplication.
    function reached(uint256 signedStake, uint256 totalStake, uint8 thresholdPercentage)
        internal
        pure
        returns (bool)
    {
        return signedStake != 0 && signedStake * 100 >= uint256(thresholdPercentage) * totalStake;
    }
}
