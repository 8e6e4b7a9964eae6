// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {BLS} from "../src/BLS.sol";
import {Bech32} from "../src/Bech32.sol";
import {TestBLS} from "./AvsBase.sol";

contract BLSHarness {
    function verify(bytes memory pk, bytes memory m, bytes memory sig) external view returns (bool) {
        return BLS.verify(pk, m, sig);
    }
}

contract BLSTest is Test {
    BLSHarness h = new BLSHarness();

    // (4, sqrt(4^3 + 4)): on the curve y^2 = x^3 + 4 but (overwhelmingly likely, and checked below via the
    // subgroup-checking G1MSM) outside the order-r subgroup.
    bytes constant OFF_SUBGROUP = abi.encodePacked(
        uint256(0), uint256(4), uint256(0x0a989badd40d6212b33cffc3f3763e9b), uint256(0xc760f988c9926b26da9dd85e928483446346b8ed00e1de5d5ea93e354abe706c)
    );

    function test_signVerifyRoundTrip() public view {
        uint256 sk = 0x1234567890abcdef;
        bytes memory pk = TestBLS.publicKey(sk);
        bytes memory m = abi.encodePacked(keccak256("hello"));
        assertTrue(BLS.isValidPublicKey(pk));
        assertTrue(h.verify(pk, m, TestBLS.sign(sk, m)));
    }

    function test_rejectsWrongMessageKeyOrTamperedSignature() public view {
        uint256 sk = 77;
        bytes memory pk = TestBLS.publicKey(sk);
        bytes memory m = abi.encodePacked(keccak256("m"));
        bytes memory sig = TestBLS.sign(sk, m);
        assertFalse(h.verify(pk, abi.encodePacked(keccak256("other")), sig));
        assertFalse(h.verify(TestBLS.publicKey(78), m, sig));
        bytes memory tampered = bytes.concat(sig);
        tampered[200] ^= 0x01; // no longer on the curve: the pairing precompile fails, verify says false
        assertFalse(h.verify(pk, m, tampered));
        // A valid point, wrong signature: sig of another key.
        assertFalse(h.verify(pk, m, TestBLS.sign(78, m)));
    }

    function test_rejectsInfinityAndBadLengths() public view {
        bytes memory m = abi.encodePacked(keccak256("m"));
        bytes memory infG1 = new bytes(128);
        bytes memory infG2 = new bytes(256);
        // e(O, H) * e(-G, O) == 1 would accept anything: must be refused explicitly.
        assertFalse(h.verify(infG1, m, infG2));
        assertFalse(h.verify(TestBLS.publicKey(5), m, infG2));
        assertFalse(h.verify(infG1, m, TestBLS.sign(5, m)));
        assertFalse(h.verify(new bytes(127), m, TestBLS.sign(5, m)));
        assertFalse(h.verify(TestBLS.publicKey(5), m, new bytes(255)));
        assertFalse(BLS.isValidPublicKey(infG1));
        assertFalse(BLS.isValidPublicKey(new bytes(96)));
    }

    function test_rejectsOffCurveAndOffSubgroupKeys() public view {
        bytes memory pk = TestBLS.publicKey(9);
        bytes memory offCurve = bytes.concat(pk);
        offCurve[127] ^= 0x01;
        assertFalse(BLS.isValidPublicKey(offCurve));
        assertFalse(BLS.isValidPublicKey(OFF_SUBGROUP));
        // G1ADD alone would accept it (no subgroup check): that is why keys are checked where they enter.
        bytes memory sum = BLS.g1Add(OFF_SUBGROUP, pk);
        assertEq(sum.length, 128);
        // And the pairing refuses it as a key.
        bytes memory m = abi.encodePacked(keccak256("m"));
        assertFalse(h.verify(OFF_SUBGROUP, m, TestBLS.sign(9, m)));
    }

    function test_negationCancels() public view {
        bytes memory pk = TestBLS.publicKey(123456);
        assertTrue(BLS.isInfinity(BLS.g1Add(pk, BLS.g1Neg(pk))));
        assertEq(BLS.g1Neg(new bytes(128)), new bytes(128));
    }

    function test_aggregateOfTwoVerifiesAgainstSumOfKeys() public view {
        bytes memory m = abi.encodePacked(keccak256("agg"));
        bytes memory apk = BLS.g1Add(TestBLS.publicKey(11), TestBLS.publicKey(22));
        assertTrue(h.verify(apk, m, TestBLS.sign(33, m)));
        assertFalse(h.verify(apk, m, TestBLS.sign(32, m)));
    }

    function testFuzz_signVerify(uint256 sk, bytes32 digest, bytes32 other) public view {
        sk = bound(sk, 1, TestBLS.R - 1);
        vm.assume(digest != other);
        bytes memory pk = TestBLS.publicKey(sk);
        bytes memory sig = TestBLS.sign32(sk, digest);
        assertTrue(h.verify(pk, abi.encodePacked(digest), sig));
        assertFalse(h.verify(pk, abi.encodePacked(other), sig));
    }

    function test_bech32MatchesReference() public pure {
        // Reference values from a BIP-173 implementation (Python, the spec's reference algorithm).
        assertEq(Bech32.encodeAddress("im", address(1)), "im1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqpxjk8u6");
        assertEq(
            Bech32.encodeAddress("im", 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266),
            "im17w0adeg64ky0daxwd2ugyuneellmjgnxt6eld4"
        );
        assertEq(
            Bech32.encodeAddress("im", 0x70997970C51812dc3A010C7d01b50e0d17dc79C8),
            "im1wzvhjux9rqfdcwspp37srdgwp5tac7wgr3aqen"
        );
    }
}
