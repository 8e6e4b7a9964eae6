// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// The compressed BLS12-381 point encodings of blst and Imua (the ZCash / IETF serialisation, big-endian),
/// translated to and from EIP-2537's uncompressed form.
///
/// Compressed: G1 = x (48 bytes); G2 = x.c1 ‖ x.c0 (96 bytes, the imaginary part FIRST). The three high
/// bits of the first byte are flags: 0x80 compressed (must be set), 0x40 infinity (refused here: no key or
/// signature may be the identity), 0x20 sign (y is the lexicographically larger of its two roots: for G1
/// y > p − y; for G2 compare y.c1 that way, and y.c0 only when y.c1 == 0).
///
/// EIP-2537: an Fp element is 64 bytes (16 zero bytes, then 48 big-endian bytes); G1 = x ‖ y (128 bytes);
/// G2 = x.c0 ‖ x.c1 ‖ y.c0 ‖ y.c1 (256 bytes).
///
/// Decoding recovers y from the curve equation (G1: y² = x³ + 4; G2: y² = x³ + 4(1 + i) over Fp2, i² = −1)
/// with the modexp precompile (0x05): Fp square roots are a^((p+1)/4) (p ≡ 3 mod 4), Fp2 square roots by the
/// norm method, and every root is squared back. A product ab is ((a+b)² − (a−b)²)/4, two modexp squarings.
/// Subgroup membership is NOT checked here: the EIP-2537 MSM and pairing precompiles check it where the
/// point is used.
///
/// An Fp element travels as two words (hi, lo): hi = the top 16 of the 48 bytes, lo = the other 32, which
/// are also exactly the two words of its EIP-2537 encoding.
library BlsCompressed {
    error BlsCompressedLength(uint256 length);
    /// The 0x80 flag is not set.
    error BlsNotCompressed();
    /// The 0x40 flag is set (the identity).
    error BlsInfinity();
    /// A coordinate is not below p, or (EIP-2537 input) its 16 padding bytes are not zero.
    error BlsNotInField();
    /// x³ + b has no square root: no point with this x.
    error BlsNotOnCurve();
    error BlsModexpFailed();

    // p = 0x1a0111ea…ffffaaab
    uint256 private constant P_HI = 0x1a0111ea397fe69a4b1ba7b6434bacd7;
    uint256 private constant P_LO = 0x64774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab;
    // (p + 1) / 4
    uint256 private constant SQRT_HI = 0x0680447a8e5ff9a692c6e9ed90d2eb35;
    uint256 private constant SQRT_LO = 0xd91dd2e13ce144afd9cc34a83dac3d8907aaffffac54ffffee7fbfffffffeaab;
    // p − 2 (inversion by Fermat)
    uint256 private constant INV_LO = 0x64774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaa9;

    uint256 private constant FLAG_COMPRESSED = 1 << 127;
    uint256 private constant FLAG_INFINITY = 1 << 126;
    uint256 private constant FLAG_SIGN = 1 << 125;
    uint256 private constant FLAG_MASK = 7 << 125;

    // ---------------------------------------------------------------- G1
    /// 48-byte compressed G1 → 128-byte EIP-2537 G1.
    function decodeG1(bytes memory c) internal view returns (bytes memory out) {
        if (c.length != 48) revert BlsCompressedLength(c.length);
        (uint256 xh, uint256 xl, bool sign) = _readCompressed(c, 0, true);
        // y² = x³ + 4
        (uint256 rh, uint256 rl) = _powSmall(xh, xl, 3);
        (rh, rl) = _add(rh, rl, 0, 4);
        (uint256 yh, uint256 yl, bool ok) = _sqrt(rh, rl);
        if (!ok) revert BlsNotOnCurve();
        if (_isLarger(yh, yl) != sign) (yh, yl) = _neg(yh, yl);
        out = new bytes(128);
        assembly ("memory-safe") {
            mstore(add(out, 0x20), xh)
            mstore(add(out, 0x40), xl)
            mstore(add(out, 0x60), yh)
            mstore(add(out, 0x80), yl)
        }
    }

    /// 128-byte EIP-2537 G1 (not the identity) → 48-byte compressed G1. The point is not checked to be on
    /// the curve (callers pass points that came from the precompiles or from decodeG1).
    function encodeG1(bytes memory p) internal pure returns (bytes memory out) {
        if (p.length != 128) revert BlsCompressedLength(p.length);
        (uint256 xh, uint256 xl) = _readFp(p, 0);
        (uint256 yh, uint256 yl) = _readFp(p, 64);
        if ((xh | xl | yh | yl) == 0) revert BlsInfinity();
        out = new bytes(48);
        _writeFp48(out, 0, xh | FLAG_COMPRESSED | (_isLarger(yh, yl) ? FLAG_SIGN : 0), xl);
    }

    // ---------------------------------------------------------------- G2
    /// 96-byte compressed G2 (x.c1 ‖ x.c0) → 256-byte EIP-2537 G2 (x.c0, x.c1, y.c0, y.c1).
    function decodeG2(bytes memory c) internal view returns (bytes memory out) {
        if (c.length != 96) revert BlsCompressedLength(c.length);
        (uint256 x1h, uint256 x1l, bool sign) = _readCompressed(c, 0, true);
        (uint256 x0h, uint256 x0l,) = _readCompressed(c, 48, false);
        uint256[4] memory y = _g2Y(x0h, x0l, x1h, x1l);
        bool larger = (y[2] | y[3]) != 0 ? _isLarger(y[2], y[3]) : _isLarger(y[0], y[1]);
        if (larger != sign) {
            (y[0], y[1]) = _neg(y[0], y[1]);
            (y[2], y[3]) = _neg(y[2], y[3]);
        }
        out = new bytes(256);
        assembly ("memory-safe") {
            mstore(add(out, 0x20), x0h)
            mstore(add(out, 0x40), x0l)
            mstore(add(out, 0x60), x1h)
            mstore(add(out, 0x80), x1l)
            mcopy(add(out, 0xa0), y, 0x80)
        }
    }

    /// 256-byte EIP-2537 G2 (not the identity) → 96-byte compressed G2 (x.c1 ‖ x.c0). Not checked to be
    /// on the curve, as encodeG1.
    function encodeG2(bytes memory p) internal pure returns (bytes memory out) {
        if (p.length != 256) revert BlsCompressedLength(p.length);
        (uint256 x0h, uint256 x0l) = _readFp(p, 0);
        (uint256 x1h, uint256 x1l) = _readFp(p, 64);
        (uint256 y0h, uint256 y0l) = _readFp(p, 128);
        (uint256 y1h, uint256 y1l) = _readFp(p, 192);
        if ((x0h | x0l | x1h | x1l | y0h | y0l | y1h | y1l) == 0) revert BlsInfinity();
        bool larger = (y1h | y1l) != 0 ? _isLarger(y1h, y1l) : _isLarger(y0h, y0l);
        out = new bytes(96);
        _writeFp48(out, 0, x1h | FLAG_COMPRESSED | (larger ? FLAG_SIGN : 0), x1l);
        _writeFp48(out, 48, x0h, x0l);
    }

    /// y (one of the two roots) of the G2 point with x = x0 + x1·i: sqrt(x³ + 4 + 4i) in Fp2, as
    /// [y0.hi, y0.lo, y1.hi, y1.lo].
    function _g2Y(uint256 x0h, uint256 x0l, uint256 x1h, uint256 x1l) private view returns (uint256[4] memory y) {
        // (x0 + x1 i)³ = x0³ − 3·x0·x1² + (3·x0²·x1 − x1³) i
        uint256[4] memory r;
        {
            (uint256 s0h, uint256 s0l) = _powSmall(x0h, x0l, 2);
            (uint256 s1h, uint256 s1l) = _powSmall(x1h, x1l, 2);
            (uint256 th, uint256 tl) = _mul(x0h, x0l, s1h, s1l); // x0·x1²
            (uint256 uh, uint256 ul) = _mul(s0h, s0l, x1h, x1l); // x0²·x1
            (r[0], r[1]) = _powSmall(x0h, x0l, 3);
            (r[2], r[3]) = _powSmall(x1h, x1l, 3);
            (th, tl) = _add3(th, tl);
            (uh, ul) = _add3(uh, ul);
            (r[0], r[1]) = _sub(r[0], r[1], th, tl);
            (r[2], r[3]) = _sub(uh, ul, r[2], r[3]);
        }
        (r[0], r[1]) = _add(r[0], r[1], 0, 4);
        (r[2], r[3]) = _add(r[2], r[3], 0, 4);
        y = _sqrtFp2(r);
    }

    /// Square root in Fp2 = Fp[i]/(i² + 1) of a = a0 + a1 i, by the norm: g = sqrt(a0² + a1²),
    /// y0 = sqrt((a0 ± g)/2) (whichever is a square), y1 = a1 / (2·y0). Checked: y² == a.
    function _sqrtFp2(uint256[4] memory a) private view returns (uint256[4] memory y) {
        bool ok;
        if ((a[2] | a[3]) == 0) {
            // a is in Fp: either a0 is a square (y = sqrt(a0)), or −a0 is (y = sqrt(−a0)·i, as i² = −1).
            (y[0], y[1], ok) = _sqrt(a[0], a[1]);
            if (!ok) {
                (uint256 nh, uint256 nl) = _neg(a[0], a[1]);
                (y[2], y[3], ok) = _sqrt(nh, nl);
                y[0] = 0;
                y[1] = 0;
            }
            if (!ok) revert BlsNotOnCurve();
            return y;
        }
        (uint256 gh, uint256 gl) = _norm(a);
        (gh, gl, ok) = _sqrt(gh, gl);
        if (!ok) revert BlsNotOnCurve();
        (uint256 dh, uint256 dl) = _add(a[0], a[1], gh, gl);
        (dh, dl) = _half(dh, dl);
        (y[0], y[1], ok) = _sqrt(dh, dl);
        if (!ok) {
            (dh, dl) = _sub(a[0], a[1], gh, gl);
            (dh, dl) = _half(dh, dl);
            (y[0], y[1], ok) = _sqrt(dh, dl);
            if (!ok) revert BlsNotOnCurve();
        }
        // a1 != 0, so y0 != 0 (y0 = 0 would mean g = ∓a0, hence a1² = g² − a0² = 0)
        (uint256 th, uint256 tl) = _add(y[0], y[1], y[0], y[1]);
        (th, tl) = _pow(th, tl, P_HI, INV_LO);
        (y[2], y[3]) = _mul(a[2], a[3], th, tl);
        // check y² == a: (y0² − y1²) + 2·y0·y1 i
        (uint256 s0h, uint256 s0l) = _powSmall(y[0], y[1], 2);
        (uint256 s1h, uint256 s1l) = _powSmall(y[2], y[3], 2);
        (s0h, s0l) = _sub(s0h, s0l, s1h, s1l);
        (s1h, s1l) = _mul(y[0], y[1], y[2], y[3]);
        (s1h, s1l) = _add(s1h, s1l, s1h, s1l);
        if (s0h != a[0] || s0l != a[1] || s1h != a[2] || s1l != a[3]) revert BlsNotOnCurve();
    }

    /// a0² + a1²
    function _norm(uint256[4] memory a) private view returns (uint256 h, uint256 l) {
        (uint256 s0h, uint256 s0l) = _powSmall(a[0], a[1], 2);
        (uint256 s1h, uint256 s1l) = _powSmall(a[2], a[3], 2);
        (h, l) = _add(s0h, s0l, s1h, s1l);
    }

    // ---------------------------------------------------------------- encoding helpers
    /// The 48-byte field element at c[off..off+48] with its flags: checks them (if `flagged`) and x < p.
    function _readCompressed(bytes memory c, uint256 off, bool flagged)
        private
        pure
        returns (uint256 h, uint256 l, bool sign)
    {
        assembly ("memory-safe") {
            let w0 := mload(add(add(c, 0x20), off))
            let w1 := mload(add(add(c, 0x40), off))
            h := shr(128, w0)
            l := or(shl(128, w0), shr(128, w1))
        }
        if (flagged) {
            if (h & FLAG_COMPRESSED == 0) revert BlsNotCompressed();
            if (h & FLAG_INFINITY != 0) revert BlsInfinity();
            sign = h & FLAG_SIGN != 0;
            h &= ~FLAG_MASK;
        }
        if (!_lt(h, l, P_HI, P_LO)) revert BlsNotInField();
    }

    /// The EIP-2537 Fp at p[off..off+64]: padding zero and value < p.
    function _readFp(bytes memory p, uint256 off) private pure returns (uint256 h, uint256 l) {
        assembly ("memory-safe") {
            h := mload(add(add(p, 0x20), off))
            l := mload(add(add(p, 0x40), off))
        }
        if (h >> 128 != 0 || !_lt(h, l, P_HI, P_LO)) revert BlsNotInField();
    }

    /// Writes the 48 bytes (h: top 16, flags included; l: the other 32) at out[off..off+48], front to back,
    /// so bytes before `off` are untouched.
    function _writeFp48(bytes memory out, uint256 off, uint256 h, uint256 l) private pure {
        assembly ("memory-safe") {
            let d := add(add(out, 0x20), off)
            mstore(d, shl(128, h))
            mstore(add(d, 16), l)
        }
    }

    /// y > p − y, i.e. y is the larger root (y ≠ 0 assumed by the caller when it matters).
    function _isLarger(uint256 h, uint256 l) private pure returns (bool) {
        (uint256 nh, uint256 nl) = _neg(h, l);
        return _lt(nh, nl, h, l);
    }

    // ---------------------------------------------------------------- Fp arithmetic (values < p)
    function _lt(uint256 ah, uint256 al, uint256 bh, uint256 bl) private pure returns (bool) {
        return ah < bh || (ah == bh && al < bl);
    }

    function _add(uint256 ah, uint256 al, uint256 bh, uint256 bl) private pure returns (uint256 h, uint256 l) {
        unchecked {
            l = al + bl;
            h = ah + bh + (l < al ? 1 : 0);
        }
        if (!_lt(h, l, P_HI, P_LO)) (h, l) = _rawSub(h, l, P_HI, P_LO);
    }

    function _sub(uint256 ah, uint256 al, uint256 bh, uint256 bl) private pure returns (uint256 h, uint256 l) {
        if (_lt(ah, al, bh, bl)) {
            (ah, al) = _rawAdd(ah, al, P_HI, P_LO);
        }
        (h, l) = _rawSub(ah, al, bh, bl);
    }

    function _neg(uint256 h, uint256 l) private pure returns (uint256, uint256) {
        if ((h | l) == 0) return (0, 0);
        return _rawSub(P_HI, P_LO, h, l);
    }

    /// a / 2 mod p: a if even, else a + p (even), then shift.
    function _half(uint256 h, uint256 l) private pure returns (uint256, uint256) {
        if (l & 1 == 1) (h, l) = _rawAdd(h, l, P_HI, P_LO);
        return (h >> 1, (l >> 1) | (h << 255));
    }

    /// 3a mod p
    function _add3(uint256 h, uint256 l) private pure returns (uint256 rh, uint256 rl) {
        (rh, rl) = _add(h, l, h, l);
        (rh, rl) = _add(rh, rl, h, l);
    }

    /// ab mod p = ((a + b)² − (a − b)²) / 4
    function _mul(uint256 ah, uint256 al, uint256 bh, uint256 bl) private view returns (uint256 h, uint256 l) {
        (uint256 sh, uint256 sl) = _add(ah, al, bh, bl);
        (uint256 dh, uint256 dl) = _sub(ah, al, bh, bl);
        (sh, sl) = _powSmall(sh, sl, 2);
        (dh, dl) = _powSmall(dh, dl, 2);
        (h, l) = _sub(sh, sl, dh, dl);
        (h, l) = _half(h, l);
        (h, l) = _half(h, l);
    }

    /// (sqrt(a), true) if a is a square in Fp (the root a^((p+1)/4), squared back), else (_, _, false).
    function _sqrt(uint256 h, uint256 l) private view returns (uint256 rh, uint256 rl, bool ok) {
        (rh, rl) = _pow(h, l, SQRT_HI, SQRT_LO);
        (uint256 ch, uint256 cl) = _powSmall(rh, rl, 2);
        ok = ch == h && cl == l;
    }

    function _rawAdd(uint256 ah, uint256 al, uint256 bh, uint256 bl) private pure returns (uint256 h, uint256 l) {
        unchecked {
            l = al + bl;
            h = ah + bh + (l < al ? 1 : 0);
        }
    }

    function _rawSub(uint256 ah, uint256 al, uint256 bh, uint256 bl) private pure returns (uint256 h, uint256 l) {
        unchecked {
            l = al - bl;
            h = ah - bh - (al < bl ? 1 : 0);
        }
    }

    /// base^e mod p with a 48-byte exponent (eh = its top 16 bytes).
    function _pow(uint256 bh, uint256 bl, uint256 eh, uint256 el) private view returns (uint256 h, uint256 l) {
        bool ok;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, 48)
            mstore(add(m, 0x20), 48)
            mstore(add(m, 0x40), 48)
            mstore(add(m, 0x60), shl(128, bh))
            mstore(add(m, 0x70), bl)
            mstore(add(m, 0x90), shl(128, eh))
            mstore(add(m, 0xa0), el)
            mstore(add(m, 0xc0), shl(128, P_HI))
            mstore(add(m, 0xd0), P_LO)
            ok := staticcall(gas(), 0x05, m, 0xf0, m, 48)
            h := shr(128, mload(m))
            l := mload(add(m, 16))
        }
        if (!ok) revert BlsModexpFailed();
    }

    /// base^e mod p for a one-byte exponent (2: square, 3: cube).
    function _powSmall(uint256 bh, uint256 bl, uint256 e) private view returns (uint256 h, uint256 l) {
        bool ok;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, 48)
            mstore(add(m, 0x20), 1)
            mstore(add(m, 0x40), 48)
            mstore(add(m, 0x60), shl(128, bh))
            mstore(add(m, 0x70), bl)
            mstore8(add(m, 0x90), e)
            mstore(add(m, 0x91), shl(128, P_HI))
            mstore(add(m, 0xa1), P_LO)
            ok := staticcall(gas(), 0x05, m, 0xc1, m, 48)
            h := shr(128, mload(m))
            l := mload(add(m, 16))
        }
        if (!ok) revert BlsModexpFailed();
    }
}
