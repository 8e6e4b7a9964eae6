// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {console} from "forge-std/Test.sol";
import {AvsBase} from "./AvsBase.sol";
import {AvsServiceContract} from "../src/AvsServiceContract.sol";

/// Gas of respondToTask (the aggregate verification) at 1, 10, 100, 1000 opted-in operators with 0 %, 10 %
/// and 50 % non-signers. Printed as table rows (see contracts/GAS.md) and bounded so that a regression fails.
/// "exec" is the gas the call frame uses (vm.lastCallGas), i.e. the transaction's execution gas minus the
/// caller-side encoding; "calldata" is its calldata's intrinsic cost
/// (EIP-2028: 16 per non-zero byte, 4 per zero byte) that a transaction adds on top of 21,000.
contract GasTest is AvsBase {
    function _measure(uint256 n) internal {
        for (uint256 i = 0; i < n; i++) _addOperator(i, 100);
        uint256[3] memory pct = [uint256(0), 10, 50];
        for (uint256 k = 0; k < 3; k++) {
            uint64 id = _createTask(1, 2, 50);
            bool[] memory skip = _none();
            uint256 nonSigners = n * pct[k] / 100;
            // spread the non-signers over the set
            for (uint256 j = 0; j < nonSigners; j++) skip[j * n / nonSigners] = true;
            (address[] memory ns, bytes memory keys, bytes memory sig) = _aggregate(id, 3, skip);
            bytes memory data = abi.encodeCall(AvsServiceContract.respondToTask, (id, 3, ns, keys, sig));
            avs.respondToTask(id, 3, ns, keys, sig);
            // the callee frame's own gas (not the caller's ABI encoding in this test's large memory)
            uint256 exec = vm.lastCallGas().gasTotalUsed;
            uint256 cd = _calldataGas(data);
            console.log(
                string.concat(
                    "| ", vm.toString(n), " | ", vm.toString(pct[k]), " % | ", vm.toString(ns.length), " | ",
                    vm.toString(exec), " | ", vm.toString(cd), " | ", vm.toString(21000 + exec + cd), " |"
                )
            );
            // regression bounds: fixed part and per-non-signer cost
            assertLt(exec, 230_000 + ns.length * 6_000);
        }
    }

    function _calldataGas(bytes memory data) internal pure returns (uint256 g) {
        for (uint256 i = 0; i < data.length; i++) g += data[i] == 0 ? 4 : 16;
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
