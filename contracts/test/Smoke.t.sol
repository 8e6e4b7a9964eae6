// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;
import {Test} from "forge-std/Test.sol";
contract SmokeTest is Test {
    function testFuzz_add(uint64 a, uint64 b) public pure { assertEq(uint256(a) + b, uint256(b) + a); }
    function test_g1add_precompile_live() public view {
        (bool ok, bytes memory out) = address(0x0b).staticcall(new bytes(256));
        assertTrue(ok); assertEq(out.length, 128);
    }
}
