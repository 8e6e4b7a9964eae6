// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AvsBase} from "./AvsBase.sol";
import {AvsServiceContract} from "../src/AvsServiceContract.sol";
import "../src/IAVSManager.sol";

/// A test AVS that chooses a stricter rule than the default: an operator that misses K = 2 tasks in a row
/// (opted in, not in the accepted aggregate) is slashed on the second; being present resets the count.
contract StrictSumAvs is AvsServiceContract {
    constructor(address registry_) AvsServiceContract(registry_) {}

    uint256 public constant K = 2;
    mapping(address => uint256) public missedInARow;

    function _slashAbsent(uint64, address operator, bool present) internal override returns (bool) {
        if (present) {
            missedInARow[operator] = 0;
            return false;
        }
        return ++missedInARow[operator] >= K;
    }
}

contract StrictRuleTest is AvsBase {
    function _deploy() internal override returns (AvsServiceContract) {
        return new StrictSumAvs(address(pre));
    }

    function setUp() public override {
        super.setUp();
        for (uint256 i = 0; i < 4; i++) _addOperator(i, 10);
    }

    function _runTask(uint256 silent) internal returns (uint64 id) {
        id = _createTask(1, 2, 50);
        bool[] memory skip = _none();
        skip[silent] = true;
        (address[] memory ns, bytes memory keys, bytes memory sig) = _aggregate(id, 3, skip);
        avs.respondToTask(id, _sumResponse(3), ns, keys, sig);
        _warpToEpoch(_epoch() + 1 + RESP + STAT + 1);
        vm.prank(owner, owner);
        avs.challenge(id, ns);
    }

    function test_stricterRule_slashesAfterKMissesInARow() public {
        uint64 t1 = _runTask(3);
        // one miss: not yet slashed (the default rule would never slash it)
        assertEq(pre.getTaskInfo(address(avs), t1).eligibleSlashOperators.length, 0);
        assertEq(pre.slashedOf(address(avs), ops[3]), 0);
        uint64 t2 = _runTask(3);
        // the second miss in a row: slashed under this AVS's rule
        TaskInfo memory info = pre.getTaskInfo(address(avs), t2);
        assertEq(info.eligibleSlashOperators.length, 1);
        assertEq(info.eligibleSlashOperators[0], ops[3]);
        assertEq(pre.slashedOf(address(avs), ops[3]), 2); // 20 % of 10
        // a miss by another operator after a presence starts its own count at 1: not slashed
        uint64 t3 = _runTask(0);
        assertEq(pre.getTaskInfo(address(avs), t3).eligibleSlashOperators.length, 0);
        assertEq(StrictSumAvs(address(avs)).missedInARow(ops[3]), 0);
        assertEq(StrictSumAvs(address(avs)).missedInARow(ops[0]), 1);
    }
}
