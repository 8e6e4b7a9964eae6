// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Quorum} from "../Quorum.sol";

/// Test-only: evaluates many quorum decisions in one eth_call for `tests/differential_quorum.rs`, with the
/// library the service contract uses (`Quorum`) and the precompile's stake arithmetic (uint128 running
/// sums `optedStake`/`keyedStake`, signed = keyed - non-signers). Never deployed by exoavs itself.
/// Verdicts: 0 reject, 1 accept, 2 threshold refused at task creation, 3 arithmetic revert (overflow).
contract QuorumHarness {
    uint8 internal constant REJECT = 0;
    uint8 internal constant ACCEPT = 1;
    uint8 internal constant BAD_THRESHOLD = 2;
    uint8 internal constant ARITH = 3;

    /// Raw decisions on given (signed, total, threshold) triples: the library alone, near uint256 limits.
    function decideRaw(uint256[] calldata signed, uint256[] calldata total, uint8[] calldata threshold)
        external
        view
        returns (uint8[] memory v)
    {
        v = new uint8[](signed.length);
        for (uint256 i = 0; i < signed.length; i++) {
            if (!Quorum.validThreshold(threshold[i])) {
                v[i] = BAD_THRESHOLD;
                continue;
            }
            try this.reachedOne(signed[i], total[i], threshold[i]) returns (bool ok) {
                v[i] = ok ? ACCEPT : REJECT;
            } catch {
                v[i] = ARITH;
            }
        }
    }

    function reachedOne(uint256 signed, uint256 total, uint8 threshold) external pure returns (bool) {
        return Quorum.reached(signed, total, threshold);
    }

    /// Decisions over operator sets. Case i owns stakes[offsets[i] .. offsets[i+1]] (offsets has one more
    /// entry than threshold); bit j of keyless[i]: operator j opted in without a key (counts in the total,
    /// can never sign); bit j of signers[i]: operator j signed (ignored for keyless ones, as on chain where
    /// they are not snapshot members).
    function decideWeighted(
        uint128[] calldata stakes,
        uint256[] calldata offsets,
        uint256[] calldata keyless,
        uint256[] calldata signers,
        uint8[] calldata threshold
    ) external view returns (uint8[] memory v) {
        v = new uint8[](threshold.length);
        for (uint256 i = 0; i < threshold.length; i++) {
            if (!Quorum.validThreshold(threshold[i])) {
                v[i] = BAD_THRESHOLD;
                continue;
            }
            try this.weightedOne(stakes[offsets[i]:offsets[i + 1]], keyless[i], signers[i], threshold[i]) returns (
                bool ok
            ) {
                v[i] = ok ? ACCEPT : REJECT;
            } catch {
                v[i] = ARITH;
            }
        }
    }

    function weightedOne(uint128[] calldata stakes, uint256 keyless, uint256 signers, uint8 threshold)
        external
        pure
        returns (bool)
    {
        // Same shapes as AvsPrecompile: uint128 running sums of opted-in and keyed stake, then
        // signed = uint256(keyed) - sum of the keyed non-signers' stake.
        uint128 opted;
        uint128 keyed;
        uint256 nonSigner;
        for (uint256 j = 0; j < stakes.length; j++) {
            opted += stakes[j];
            if (keyless >> j & 1 == 1) continue;
            keyed += stakes[j];
            if (signers >> j & 1 == 0) nonSigner += stakes[j];
        }
        return Quorum.reached(uint256(keyed) - nonSigner, opted, threshold);
    }
}
