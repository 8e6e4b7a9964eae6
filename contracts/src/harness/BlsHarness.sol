// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {BLS} from "../BLS.sol";

/// Test-only: many aggregate verifications in one eth_call for `tests/differential_bls.rs`, with the BLS
/// library and the shape of AvsPrecompile.verifyTaskAggregate: apk = (sum of the snapshot's keys) +
/// -(sum of the non-signers' keys), then BLS.verify(apk, abi.encodePacked(message), signature).
/// Verdicts: 0 rejected, 1 verified, 2 reverted (e.g. a key that is not a curve point in G1ADD).
contract BlsHarness {
    function verifyMany(
        bytes[] calldata keys,
        bytes[] calldata nonSignerKeys,
        bytes32[] calldata messages,
        bytes[] calldata signatures
    ) external view returns (uint8[] memory v) {
        v = new uint8[](messages.length);
        for (uint256 i = 0; i < messages.length; i++) {
            try this.verifyOne(keys[i], nonSignerKeys[i], messages[i], signatures[i]) returns (bool ok) {
                v[i] = ok ? 1 : 0;
            } catch {
                v[i] = 2;
            }
        }
    }

    function verifyOne(bytes calldata keys, bytes calldata nonSignerKeys, bytes32 message, bytes calldata signature)
        external
        view
        returns (bool)
    {
        bytes memory apk = BLS.g1Add(_sum(keys), BLS.g1Neg(_sum(nonSignerKeys)));
        return BLS.verify(apk, abi.encodePacked(message), signature);
    }

    /// The registration-time key check (length, not infinity, on curve, in the subgroup), batched.
    function validKeys(bytes[] calldata pks) external view returns (bool[] memory ok) {
        ok = new bool[](pks.length);
        for (uint256 i = 0; i < pks.length; i++) {
            ok[i] = BLS.isValidPublicKey(pks[i]);
        }
    }

    /// Sum of concatenated 128-byte G1 points (infinity for none), with G1ADD as the precompile does.
    function _sum(bytes calldata points) private view returns (bytes memory acc) {
        if (points.length % 128 != 0) revert BLS.BLSInvalidLength();
        acc = new bytes(128);
        for (uint256 off = 0; off < points.length; off += 128) {
            acc = BLS.g1Add(acc, points[off:off + 128]);
        }
    }
}
