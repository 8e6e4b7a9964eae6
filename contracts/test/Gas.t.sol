// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {console} from "forge-std/Test.sol";
import {AvsBase} from "./AvsBase.sol";
import {AvsServiceBase} from "../src/AvsServiceBase.sol";

/// Gas of createNewTask and of respondToTask (the aggregate verification) at 1, 10, 100, 1000 opted-in operators
/// with 0 %, 10 % and 50 % non-signers. Printed as table rows (see contracts/GAS.md) and bounded so that a
/// regression fails. "exec" is the gas the call frame uses (vm.lastCallGas), i.e. the transaction's execution
/// gas; "calldata" is its calldata's intrinsic cost (EIP-2028: 16 per non-zero byte, 4 per zero byte) that a
/// transaction adds on top of 21,000.
///
/// The figures and bounds are per real transaction only under `forge test --isolate`, where every call from
/// the test is a transaction of its own and starts with cold slots and accounts (EIP-2929), as on a chain.
/// Without it the calls share one transaction and read slots that task creation has just warmed: respondToTask
/// then looks ~53 k cheaper than any aggregator pays. scripts/test.sh runs this contract with --isolate.
contract GasTest is AvsBase {
    // Bounds on execution gas per real transaction (--isolate), a few percent above what GAS.md records.
    /// A createNewTask that snapshots a new operator-set version (here the first): the set's aggregates are copied.
    uint256 internal constant CREATE_FIRST_BOUND = 415_000;
    /// Every later createNewTask.
    uint256 internal constant CREATE_BOUND = 255_000;
    /// respondToTask with every operator signing.
    uint256 internal constant RESPOND_FIXED_BOUND = 240_000;
    /// Once for any non-signer: the hash of the non-signer list is stored for settlement (a fresh slot).
    uint256 internal constant RESPOND_ANY_NON_SIGNER_BOUND = 26_000;
    /// Each non-signer: its key checked against the registered one, its stake read, both cold.
    uint256 internal constant RESPOND_PER_NON_SIGNER_BOUND = 10_000;

    function _measure(uint256 n) internal {
        for (uint256 i = 0; i < n; i++) {
            _addOperator(i, 100);
        }
        uint256[3] memory pct = [uint256(0), 10, 50];
        for (uint256 k = 0; k < 3; k++) {
            uint64 id = _create(n, k);
            _respond(n, id, pct[k]);
        }
    }

    /// The k-th task's createNewTask (threshold 50 %), printed as a row and bounded.
    function _create(uint256 n, uint256 k) internal returns (uint64 id) {
        vm.prank(owner, owner);
        id = avs.createNewTask(_payload(1, 2), 50, RESP, CHAL, STAT);
        uint256 exec = vm.lastCallGas().gasTotalUsed;
        uint256 cd = _calldataGas(abi.encodeCall(AvsServiceBase.createNewTask, (_payload(1, 2), 50, RESP, CHAL, STAT)));
        console.log(_row(string.concat("| createNewTask | ", vm.toString(n), " | task ", vm.toString(k + 1)), exec, cd));
        assertLt(exec, k == 0 ? CREATE_FIRST_BOUND : CREATE_BOUND);
    }

    /// respondToTask on task `id` with `pct` % of the n operators as non-signers, spread over the set.
    function _respond(uint256 n, uint64 id, uint256 pct) internal {
        bool[] memory skip = _none();
        uint256 nonSigners = n * pct / 100;
        for (uint256 j = 0; j < nonSigners; j++) {
            skip[j * n / nonSigners] = true;
        }
        (address[] memory ns, bytes memory keys, bytes memory sig) = _aggregate(id, 3, skip);
        bytes memory data = abi.encodeCall(AvsServiceBase.respondToTask, (id, _sumResponse(3), ns, keys, sig));
        avs.respondToTask(id, _sumResponse(3), ns, keys, sig);
        // the callee frame's own gas (not the caller's ABI encoding in this test's large memory)
        uint256 exec = vm.lastCallGas().gasTotalUsed;
        string memory head = string.concat(
            "| respondToTask | ", vm.toString(n), " | ", vm.toString(pct), " % | ", vm.toString(ns.length)
        );
        console.log(_row(head, exec, _calldataGas(data)));
        uint256 any = ns.length == 0 ? 0 : RESPOND_ANY_NON_SIGNER_BOUND;
        assertLt(exec, RESPOND_FIXED_BOUND + any + ns.length * RESPOND_PER_NON_SIGNER_BOUND);
    }

    /// A GAS.md table row: the leading cells, then exec, calldata and the transaction's total.
    function _row(string memory head, uint256 exec, uint256 cd) internal pure returns (string memory) {
        return string.concat(
            head, " | ", vm.toString(exec), " | ", vm.toString(cd), " | ", vm.toString(21000 + exec + cd), " |"
        );
    }

    function _calldataGas(bytes memory data) internal pure returns (uint256 g) {
        for (uint256 i = 0; i < data.length; i++) {
            g += data[i] == 0 ? 4 : 16;
        }
    }

    function test_gas_1() public {
        _measure(1);
    }

    function test_gas_10() public {
        _measure(10);
    }

    function test_gas_100() public {
        _measure(100);
    }

    function test_gas_1000() public {
        _measure(1000);
    }
}
