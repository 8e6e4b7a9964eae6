// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// BLS12-381 signatures of the blst `min_pk` proof-of-possession scheme (public keys in G1, signatures
/// in G2, ciphersuite BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_) verified with the EIP-2537
/// precompiles (live since Prague).
///
/// Encodings are EIP-2537's: an Fp element is 64 bytes (16 zero bytes, then 48 big-endian bytes), a G1
/// point 128 bytes (x, y), a G2 point 256 bytes (x.c0, x.c1, y.c0, y.c1), all zeros = infinity.
///
/// What the precompiles check, and so what callers may rely on:
/// - G1ADD/G2ADD check encoding and curve membership but NOT the subgroup. Sums of points that were
///   validated on entry stay in the subgroup, so keys are validated once, where they enter
///   (`isValidPublicKey`, which uses G1MSM, a subgroup-checking operation).
/// - PAIRING_CHECK checks encoding, curve and subgroup of every input: a signature is subgroup-checked
///   by the verification itself.
/// - Infinity is accepted by the precompiles, and e(O, Q) = 1, so an infinity key with an infinity
///   signature would "verify" anything: `verify` rejects both explicitly.
library BLS {
    /// blst min_pk, proof-of-possession scheme (the DST the Rust side signs with).
    bytes internal constant DST = "BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";

    uint256 internal constant G1_LEN = 128;
    uint256 internal constant G2_LEN = 256;

    address internal constant G1ADD = address(0x0b);
    address internal constant G1MSM = address(0x0c);
    address internal constant G2ADD = address(0x0d);
    address internal constant G2MSM = address(0x0e);
    address internal constant PAIRING = address(0x0f);
    address internal constant MAP_FP2_TO_G2 = address(0x11);
    address internal constant MODEXP = address(0x05);

    // p, split for the 48-byte MODEXP modulus: the first 32 bytes, then the last 16 (left-aligned).
    uint256 private constant P_FIRST32 = 0x1a0111ea397fe69a4b1ba7b6434bacd764774b84f38512bf6730d2a0f6b0f624;
    uint256 private constant P_LAST16 = 0x1eabfffeb153ffffb9feffffffffaaab00000000000000000000000000000000;
    // p as the two 32-byte words of its 64-byte EIP-2537 encoding.
    uint256 private constant P_HI = 0x1a0111ea397fe69a4b1ba7b6434bacd7;
    uint256 private constant P_LO = 0x64774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab;

    // -G1 generator (x, p - y) in EIP-2537 words.
    uint256 private constant NEG_G1_X_HI = 0x17f1d3a73197d7942695638c4fa9ac0f;
    uint256 private constant NEG_G1_X_LO = 0xc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb;
    uint256 private constant NEG_G1_Y_HI = 0x114d1d6855d545a8aa7d76c8cf2e21f2;
    uint256 private constant NEG_G1_Y_LO = 0x67816aef1db507c96655b9d5caac42364e6f38ba0ecb751bad54dcd6b939c2ca;

    // Gas forwarded to each precompile: its EIP-2537/EIP-2565 price with room to spare. A failing precompile
    // call burns all gas it was given, so bounded amounts keep an invalid input from burning the whole tx.
    uint256 internal constant GAS_ADD = 2_000;
    uint256 internal constant GAS_MAP = 40_000;
    uint256 internal constant GAS_MSM1 = 30_000;
    uint256 internal constant GAS_PAIRING2 = 150_000;
    uint256 internal constant GAS_MODEXP = 10_000;

    error BLSInvalidDst();
    error BLSInvalidLength();
    error BLSPrecompileFailed(address precompile);

    /// RFC 9380 section 5.3.1 expand_message_xmd with SHA-256 (b_in_bytes 32, s_in_bytes 64).
    function expandMessageXmd(bytes memory message, bytes memory dst, uint256 lenInBytes)
        internal
        pure

        returns (bytes memory out)
    {
        if (dst.length > 255) revert BLSInvalidDst();
        uint256 ell = (lenInBytes + 31) / 32;
        if (ell > 255 || lenInBytes > 65535 || lenInBytes == 0) revert BLSInvalidLength();
        bytes memory dstPrime = abi.encodePacked(dst, uint8(dst.length));
        // msg_prime = Z_pad(64) || msg || I2OSP(len, 2) || I2OSP(0, 1) || DST_prime
        bytes32 b0 = sha256(abi.encodePacked(bytes32(0), bytes32(0), message, uint16(lenInBytes), uint8(0), dstPrime));
        bytes32 bi = sha256(abi.encodePacked(b0, uint8(1), dstPrime));
        out = new bytes(ell * 32);
        assembly ("memory-safe") {
            mstore(add(out, 0x20), bi)
        }
        for (uint256 i = 2; i <= ell; i++) {
            bi = sha256(abi.encodePacked(b0 ^ bi, uint8(i), dstPrime));
            assembly ("memory-safe") {
                mstore(add(out, mul(i, 0x20)), bi)
            }
        }
        assembly ("memory-safe") {
            mstore(out, lenInBytes)
        }
    }

    /// RFC 9380 hash_to_field for Fp2 with count = 2 (L = 64): 256 bytes, u0.c0 ‖ u0.c1 ‖ u1.c0 ‖ u1.c1,
    /// each a 64-byte EIP-2537 Fp element reduced mod p with MODEXP.
    function hashToFieldFp2(bytes memory message, bytes memory dst) internal view returns (bytes memory u) {
        bytes memory uniform = expandMessageXmd(message, dst, 256);
        u = new bytes(256);
        for (uint256 i = 0; i < 4; i++) {
            _reduceModP(uniform, i * 64, u, i * 64);
        }
    }

    /// RFC 9380 hash_to_curve for BLS12381G2_XMD:SHA-256_SSWU_RO_ with the given DST. MAP_FP2_TO_G2 maps and
    /// clears the cofactor; clearing is a homomorphism, so clear(Q0) + clear(Q1) = clear(Q0 + Q1).
    function hashToG2(bytes memory message, bytes memory dst) internal view returns (bytes memory h) {
        bytes memory u = hashToFieldFp2(message, dst);
        h = new bytes(256);
        bool ok;
        assembly ("memory-safe") {
            let q := mload(0x40)
            mstore(0x40, add(q, 512))
            ok := staticcall(GAS_MAP, 0x11, add(u, 0x20), 128, q, 256)
            ok := and(ok, staticcall(GAS_MAP, 0x11, add(u, 0xa0), 128, add(q, 256), 256))
            ok := and(ok, staticcall(GAS_ADD, 0x0d, q, 512, add(h, 0x20), 256))
        }
        if (!ok) revert BLSPrecompileFailed(MAP_FP2_TO_G2);
    }

    function hashToG2(bytes memory message) internal view returns (bytes memory) {
        return hashToG2(message, DST);
    }

    /// True iff `pk` is a 128-byte encoding of a G1 point on the curve, in the r-torsion subgroup, and not
    /// infinity. G1MSM with scalar 1 is used for the subgroup check (EIP-2537 MSM checks subgroup).
    function isValidPublicKey(bytes memory pk) internal view returns (bool ok) {
        if (pk.length != G1_LEN || isInfinity(pk)) return false;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mcopy(m, add(pk, 0x20), 128)
            mstore(add(m, 128), 1)
            ok := staticcall(GAS_MSM1, 0x0c, m, 160, m, 128)
        }
    }

    /// e(pk, H(m)) · e(-G1, sig) == 1, with pk and sig non-infinity and (by the pairing precompile) on the
    /// curve and in their subgroups. Any malformed input yields false, never a revert.
    function verify(bytes memory pk, bytes memory message, bytes memory sig) internal view returns (bool) {
        if (pk.length != G1_LEN || sig.length != G2_LEN) return false;
        if (isInfinity(pk) || isInfinity(sig)) return false;
        return pairingCheck(pk, hashToG2(message, DST), sig);
    }

    /// The pairing equation for a key, a hashed message and a signature (all EIP-2537 encoded, lengths
    /// checked by the caller): false on any precompile failure or a failed equation.
    function pairingCheck(bytes memory pk, bytes memory hm, bytes memory sig) internal view returns (bool ok) {
        assembly ("memory-safe") {
            let m := mload(0x40)
            mcopy(m, add(pk, 0x20), 128)
            mcopy(add(m, 128), add(hm, 0x20), 256)
            mstore(add(m, 384), NEG_G1_X_HI)
            mstore(add(m, 416), NEG_G1_X_LO)
            mstore(add(m, 448), NEG_G1_Y_HI)
            mstore(add(m, 480), NEG_G1_Y_LO)
            mcopy(add(m, 512), add(sig, 0x20), 256)
            let success := staticcall(GAS_PAIRING2, 0x0f, m, 768, m, 32)
            ok := and(success, eq(mload(m), 1))
        }
    }

    function g1Add(bytes memory a, bytes memory b) internal view returns (bytes memory r) {
        if (a.length != G1_LEN || b.length != G1_LEN) revert BLSInvalidLength();
        r = new bytes(128);
        bool ok;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mcopy(m, add(a, 0x20), 128)
            mcopy(add(m, 128), add(b, 0x20), 128)
            ok := staticcall(GAS_ADD, 0x0b, m, 256, add(r, 0x20), 128)
        }
        if (!ok) revert BLSPrecompileFailed(G1ADD);
    }

    /// -P = (x, p - y); infinity stays infinity.
    function g1Neg(bytes memory a) internal pure returns (bytes memory r) {
        if (a.length != G1_LEN) revert BLSInvalidLength();
        r = new bytes(128);
        if (isInfinity(a)) return r;
        assembly ("memory-safe") {
            mstore(add(r, 0x20), mload(add(a, 0x20)))
            mstore(add(r, 0x40), mload(add(a, 0x40)))
            let yHi := mload(add(a, 0x60))
            let yLo := mload(add(a, 0x80))
            let lo := sub(P_LO, yLo)
            let borrow := lt(P_LO, yLo)
            mstore(add(r, 0x60), sub(sub(P_HI, yHi), borrow))
            mstore(add(r, 0x80), lo)
        }
    }

    function isInfinity(bytes memory p) internal pure returns (bool inf) {
        inf = true;
        for (uint256 i = 0; i < p.length; i += 32) {
            uint256 w;
            assembly ("memory-safe") {
                w := mload(add(add(p, 0x20), i))
            }
            if (w != 0) return false;
        }
    }

    /// src[srcOff..srcOff+64] as a big-endian integer mod p, written as a 64-byte Fp at dst[dstOff..].
    function _reduceModP(bytes memory src, uint256 srcOff, bytes memory dst, uint256 dstOff) private view {
        bool ok;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, 64)
            mstore(add(m, 0x20), 1)
            mstore(add(m, 0x40), 48)
            let s := add(add(src, 0x20), srcOff)
            mstore(add(m, 0x60), mload(s))
            mstore(add(m, 0x80), mload(add(s, 0x20)))
            mstore8(add(m, 0xa0), 1)
            mstore(add(m, 0xa1), P_FIRST32)
            mstore(add(m, 0xc1), P_LAST16)
            let d := add(add(dst, 0x20), dstOff)
            mstore(d, 0)
            ok := staticcall(GAS_MODEXP, 0x05, m, 0xd1, add(d, 16), 48)
        }
        if (!ok) revert BLSPrecompileFailed(MODEXP);
    }
}
