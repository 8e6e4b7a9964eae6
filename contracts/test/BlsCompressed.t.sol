// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test, console} from "forge-std/Test.sol";
import {TestBLS} from "./AvsBase.sol";
import {BLS} from "../src/BLS.sol";
import {BlsCompressed} from "../src/BlsCompressed.sol";

/// External entry points, so that reverts of the library can be expected and gas measured per call.
contract BlsCompressedHarness {
    function decodeG1(bytes memory c) external view returns (bytes memory) {
        return BlsCompressed.decodeG1(c);
    }

    function decodeG2(bytes memory c) external view returns (bytes memory) {
        return BlsCompressed.decodeG2(c);
    }

    function encodeG1(bytes memory p) external pure returns (bytes memory) {
        return BlsCompressed.encodeG1(p);
    }

    function encodeG2(bytes memory p) external pure returns (bytes memory) {
        return BlsCompressed.encodeG2(p);
    }
}

contract BlsCompressedTest is Test {
    BlsCompressedHarness internal h = new BlsCompressedHarness();

    uint256 internal constant P_HI = 0x1a0111ea397fe69a4b1ba7b6434bacd7;
    uint256 internal constant P_LO = 0x64774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab;

    bytes internal constant G1_COMPRESSED =
        hex"97f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb";
    bytes internal constant G2_COMPRESSED =
        hex"93e02b6052719f607dacd3a088274f65596bd0d09920b61ab5da61bbdc7f5049334cf11213945d57e5ac7d055d042b7e"
        hex"024aa2b2f08f0a91260805272dc51051c6e47ad4fa403b02b4510b647ae3d1770bac0326a805bbefd48056c8c121bdb8";

    /// The G2 generator in EIP-2537 form (x.c0, x.c1, y.c0, y.c1).
    function _g2Generator() internal pure returns (bytes memory) {
        return abi.encodePacked(
            uint256(0x024aa2b2f08f0a91260805272dc51051),
            uint256(0xc6e47ad4fa403b02b4510b647ae3d1770bac0326a805bbefd48056c8c121bdb8),
            uint256(0x13e02b6052719f607dacd3a088274f65),
            uint256(0x596bd0d09920b61ab5da61bbdc7f5049334cf11213945d57e5ac7d055d042b7e),
            uint256(0x0ce5d527727d6e118cc9cdc6da2e351a),
            uint256(0xadfd9baa8cbdd3a76d429a695160d12c923ac9cc3baca289e193548608b82801),
            uint256(0x0606c4a02ea734cc32acd2b02bc28b99),
            uint256(0xcb3e287e85a763af267492ab572e99ab3f370d275cec1da1aaa9075ff05f79be)
        );
    }

    function test_generators() public view {
        // the EIP-2537 generator constants the tests sign with are the compressed generators
        assertEq(h.decodeG1(G1_COMPRESSED), TestBLS.g1Generator());
        assertEq(h.encodeG1(TestBLS.g1Generator()), G1_COMPRESSED);
        assertEq(h.decodeG2(G2_COMPRESSED), _g2Generator());
        assertEq(h.encodeG2(_g2Generator()), G2_COMPRESSED);
        // 1·G2 through the MSM precompile is the same point
        assertEq(TestBLS.mulG2(_g2Generator(), 1), _g2Generator());
    }

    function test_blstFixtureKeys() public view {
        string memory json = vm.readFile("test/fixtures/blst.json");
        bytes[] memory keys = vm.parseJsonBytesArray(json, ".keys");
        bytes[] memory compressed = vm.parseJsonBytesArray(json, ".keysCompressed");
        for (uint256 i = 0; i < keys.length; i++) {
            assertEq(h.decodeG1(compressed[i]), keys[i]);
            assertEq(h.encodeG1(keys[i]), compressed[i]);
        }
    }

    function testFuzz_g1RoundTrip(uint256 sk) public view {
        sk = bound(sk, 1, TestBLS.R - 1);
        bytes memory pt = TestBLS.publicKey(sk);
        bytes memory neg = BLS.g1Neg(pt);
        bytes memory c = h.encodeG1(pt);
        bytes memory cn = h.encodeG1(neg);
        assertEq(c.length, 48);
        // the two roots differ only in the sign flag
        assertEq(uint8(c[0]) ^ uint8(cn[0]), 0x20);
        assertEq(uint8(c[0]) & 0xc0, 0x80);
        assertEq(h.decodeG1(c), pt);
        assertEq(h.decodeG1(cn), neg);
    }

    function testFuzz_g2RoundTrip(uint256 sk, bytes32 message) public view {
        sk = bound(sk, 1, TestBLS.R - 1);
        bytes memory pts = abi.encodePacked(TestBLS.mulG2(_g2Generator(), sk), TestBLS.sign(sk, abi.encodePacked(message)));
        for (uint256 k = 0; k < 2; k++) {
            bytes memory pt = _slice(pts, k * 256, 256);
            bytes memory neg = _g2Neg(pt);
            bytes memory c = h.encodeG2(pt);
            bytes memory cn = h.encodeG2(neg);
            assertEq(c.length, 96);
            assertEq(uint8(c[0]) ^ uint8(cn[0]), 0x20);
            assertEq(uint8(c[0]) & 0xc0, 0x80);
            assertEq(uint8(c[48]) & 0xe0, 0); // the second element carries no flags
            assertEq(h.decodeG2(c), pt);
            assertEq(h.decodeG2(cn), neg);
        }
    }

    function test_rejections_g1() public {
        vm.expectRevert(abi.encodeWithSelector(BlsCompressed.BlsCompressedLength.selector, 47));
        h.decodeG1(new bytes(47));
        vm.expectRevert(abi.encodeWithSelector(BlsCompressed.BlsCompressedLength.selector, 128));
        h.decodeG1(TestBLS.g1Generator());
        vm.expectRevert(abi.encodeWithSelector(BlsCompressed.BlsCompressedLength.selector, 96));
        h.decodeG1(G2_COMPRESSED);
        // compressed flag missing (the generator's x with the flags cleared)
        bytes memory c = G1_COMPRESSED;
        c[0] = 0x17;
        vm.expectRevert(BlsCompressed.BlsNotCompressed.selector);
        h.decodeG1(c);
        // infinity
        c = new bytes(48);
        c[0] = 0xc0;
        vm.expectRevert(BlsCompressed.BlsInfinity.selector);
        h.decodeG1(c);
        // x = p, and x = 2^381 − 1
        c = abi.encodePacked(uint128(P_HI | (1 << 127)), P_LO);
        vm.expectRevert(BlsCompressed.BlsNotInField.selector);
        h.decodeG1(c);
        c = abi.encodePacked(uint128(type(uint128).max & ~(uint128(3) << 125)), type(uint256).max);
        vm.expectRevert(BlsCompressed.BlsNotInField.selector);
        h.decodeG1(c);
        // x = 1: 1 + 4 = 5 is not a square mod p
        c = abi.encodePacked(uint128(1 << 127), uint256(1));
        vm.expectRevert(BlsCompressed.BlsNotOnCurve.selector);
        h.decodeG1(c);
        // encode: length, identity, padding, y >= p
        vm.expectRevert(abi.encodeWithSelector(BlsCompressed.BlsCompressedLength.selector, 48));
        h.encodeG1(G1_COMPRESSED);
        vm.expectRevert(BlsCompressed.BlsInfinity.selector);
        h.encodeG1(new bytes(128));
        bytes memory g = TestBLS.g1Generator();
        g[0] = 0x01;
        vm.expectRevert(BlsCompressed.BlsNotInField.selector);
        h.encodeG1(g);
        g = abi.encodePacked(_slice(TestBLS.g1Generator(), 0, 64), P_HI, P_LO);
        vm.expectRevert(BlsCompressed.BlsNotInField.selector);
        h.encodeG1(g);
    }

    function test_rejections_g2() public {
        vm.expectRevert(abi.encodeWithSelector(BlsCompressed.BlsCompressedLength.selector, 95));
        h.decodeG2(new bytes(95));
        vm.expectRevert(abi.encodeWithSelector(BlsCompressed.BlsCompressedLength.selector, 256));
        h.decodeG2(_g2Generator());
        vm.expectRevert(abi.encodeWithSelector(BlsCompressed.BlsCompressedLength.selector, 48));
        h.decodeG2(G1_COMPRESSED);
        bytes memory c = G2_COMPRESSED;
        c[0] = 0x13;
        vm.expectRevert(BlsCompressed.BlsNotCompressed.selector);
        h.decodeG2(c);
        c = new bytes(96);
        c[0] = 0xc0;
        vm.expectRevert(BlsCompressed.BlsInfinity.selector);
        h.decodeG2(c);
        // x.c1 = p
        c = abi.encodePacked(uint128(P_HI | (1 << 127)), P_LO, _slice(G2_COMPRESSED, 48, 48));
        vm.expectRevert(BlsCompressed.BlsNotInField.selector);
        h.decodeG2(c);
        // x.c0 = p (the c0 half carries no flags; p's own top bits are 0)
        c = abi.encodePacked(_slice(G2_COMPRESSED, 0, 48), uint128(P_HI), P_LO);
        vm.expectRevert(BlsCompressed.BlsNotInField.selector);
        h.decodeG2(c);
        // flag bits in the c0 half make it >= p
        c = G2_COMPRESSED;
        c[48] = bytes1(uint8(c[48]) | 0x80);
        vm.expectRevert(BlsCompressed.BlsNotInField.selector);
        h.decodeG2(c);
        // x = 6 + i: the norm of x³ + 4(1 + i) is not a square, so no y
        c = abi.encodePacked(uint128(1 << 127), uint256(1), uint128(0), uint256(6));
        vm.expectRevert(BlsCompressed.BlsNotOnCurve.selector);
        h.decodeG2(c);
        vm.expectRevert(abi.encodeWithSelector(BlsCompressed.BlsCompressedLength.selector, 96));
        h.encodeG2(G2_COMPRESSED);
        vm.expectRevert(BlsCompressed.BlsInfinity.selector);
        h.encodeG2(new bytes(256));
        bytes memory g = _g2Generator();
        g[64] = 0x01;
        vm.expectRevert(BlsCompressed.BlsNotInField.selector);
        h.encodeG2(g);
    }

    /// Gas of one decode (a call into the harness, minus nothing: the figure includes the call overhead).
    function test_gas_decoders() public view {
        uint256 g0 = gasleft();
        h.decodeG1(G1_COMPRESSED);
        uint256 g1 = gasleft();
        h.decodeG2(G2_COMPRESSED);
        uint256 g2 = gasleft();
        console.log("decodeG1 gas (external call)", g0 - g1);
        console.log("decodeG2 gas (external call)", g1 - g2);
        g0 = gasleft();
        h.encodeG1(TestBLS.g1Generator());
        g1 = gasleft();
        h.encodeG2(_g2Generator());
        g2 = gasleft();
        console.log("encodeG1 gas (external call)", g0 - g1);
        console.log("encodeG2 gas (external call)", g1 - g2);
    }

    function _g2Neg(bytes memory pt) internal pure returns (bytes memory out) {
        out = abi.encodePacked(_slice(pt, 0, 128), _fpNeg(_slice(pt, 128, 64)), _fpNeg(_slice(pt, 192, 64)));
    }

    function _fpNeg(bytes memory a) internal pure returns (bytes memory) {
        (uint256 hi, uint256 lo) = abi.decode(a, (uint256, uint256));
        if (hi == 0 && lo == 0) return a;
        unchecked {
            uint256 rlo = P_LO - lo;
            uint256 rhi = P_HI - hi - (P_LO < lo ? 1 : 0);
            return abi.encodePacked(rhi, rlo);
        }
    }

    function _slice(bytes memory b, uint256 off, uint256 len) internal pure returns (bytes memory out) {
        out = new bytes(len);
        for (uint256 i = 0; i < len; i++) out[i] = b[off + i];
    }
}
