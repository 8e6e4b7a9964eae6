// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AvsBase} from "./AvsBase.sol";
import {BLS} from "../src/BLS.sol";

contract BLSView {
    function verify(bytes memory pk, bytes memory m, bytes memory sig) external view returns (bool) {
        return BLS.verify(pk, m, sig);
    }
}

/// Bytes made by blst on the Rust side (test/fixtures/blst.json, written and checked by
/// tests/onchain_bls.rs::forge_fixture_is_what_blst_produces) verify with our EVM code: single signatures,
/// their aggregate against the sum of keys, and proofs of possession over the registration message
/// (which also checks that our Bech32 and message bytes equal the Rust side's).
contract BlstFixtureTest is AvsBase {
    string internal json;
    BLSView internal v = new BLSView();

    function setUp() public override {
        super.setUp();
        json = vm.readFile("test/fixtures/blst.json");
    }

    function test_blstSignaturesVerify() public view {
        bytes32 message = vm.parseJsonBytes32(json, ".message");
        uint64 taskId = uint64(vm.parseJsonUint(json, ".taskId"));
        uint64 sum = uint64(vm.parseJsonUint(json, ".sum"));
        assertEq(message, keccak256(abi.encode(taskId, sum)), "the Rust digest is keccak256(abi.encode(uint64,uint64))");
        bytes[] memory keys = vm.parseJsonBytesArray(json, ".keys");
        bytes[] memory sigs = vm.parseJsonBytesArray(json, ".signatures");
        bytes memory apk = new bytes(128);
        for (uint256 i = 0; i < keys.length; i++) {
            assertTrue(BLS.isValidPublicKey(keys[i]));
            assertTrue(v.verify(keys[i], abi.encodePacked(message), sigs[i]));
            assertFalse(v.verify(keys[i], abi.encodePacked(message), sigs[(i + 1) % sigs.length]));
            apk = BLS.g1Add(apk, keys[i]);
        }
        assertTrue(v.verify(apk, abi.encodePacked(message), vm.parseJsonBytes(json, ".aggregateSignature")));
    }

    function test_blstProofsOfPossessionVerifyAndRegister() public {
        assertEq(vm.parseJsonString(json, ".chainId"), CHAIN_ID);
        bytes[] memory keys = vm.parseJsonBytesArray(json, ".keys");
        bytes[] memory pops = vm.parseJsonBytesArray(json, ".pops");
        address[] memory operators = vm.parseJsonAddressArray(json, ".operators");
        for (uint256 i = 0; i < keys.length; i++) {
            bytes32 digest = keccak256(bytes(pre.registrationMessage(operators[i])));
            assertTrue(v.verify(keys[i], abi.encodePacked(digest), pops[i]));
            vm.prank(operators[i], operators[i]);
            avs.registerBLSPublicKey(keys[i], pops[i]);
            assertEq(pre.getRegisteredPubkey(operators[i], address(avs)), keys[i]);
        }
    }
}
