// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AvsBase} from "./AvsBase.sol";
import {AvsServiceContract} from "../src/AvsServiceContract.sol";

/// A sum AVS that records what the base's `_onResponded` hands it: the accepted response.
contract RecordingSumAvs is AvsServiceContract {
    constructor(address registry_) AvsServiceContract(registry_) {}

    mapping(uint64 => bytes) public acceptedResponse;
    uint256 public respondedCalls;

    function _onResponded(uint64 taskId, bytes calldata response) internal override {
        // the base calls it after acceptance: the task is already marked responded
        require(_tasks[taskId].responded, "not yet accepted");
        acceptedResponse[taskId] = response;
        respondedCalls++;
    }
}

contract HooksTest is AvsBase {
    function _deploy() internal override returns (AvsServiceContract) {
        return new RecordingSumAvs(address(pre));
    }

    function setUp() public override {
        super.setUp();
        for (uint256 i = 0; i < 3; i++) _addOperator(i, 10);
    }

    function test_onResponded_seesOnlyTheAcceptedResponse() public {
        RecordingSumAvs r = RecordingSumAvs(address(avs));
        uint64 id = _createTask(20, 22, 50);
        // a refused aggregate (wrong sum) does not reach _onResponded
        (address[] memory ns, bytes memory keys, bytes memory sig) = _aggregate(id, 41, _none());
        vm.expectRevert(abi.encodeWithSelector(AvsServiceContract.WrongSum.selector, id, 41, 42));
        avs.respondToTask(id, _sumResponse(41), ns, keys, sig);
        assertEq(r.respondedCalls(), 0);
        (ns, keys, sig) = _aggregate(id, 42, _none());
        avs.respondToTask(id, _sumResponse(42), ns, keys, sig);
        assertEq(r.acceptedResponse(id), _sumResponse(42));
        assertEq(r.respondedCalls(), 1);
    }
}
