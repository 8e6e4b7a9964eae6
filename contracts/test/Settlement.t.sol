// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AvsBase, TestBLS} from "./AvsBase.sol";
import {AvsServiceContract} from "../src/AvsServiceContract.sol";
import {AvsServiceBase} from "../src/AvsServiceBase.sol";
import {IAVSManagerExt} from "../src/IAVSManagerExt.sol";
import "../src/IAVSManager.sol";

/// A registry that fails the way Imua's precompile does: every method returns false (createTask: id 0)
/// and changes nothing, without reverting.
contract FalseRegistry {
    fallback() external {
        assembly {
            mstore(0, 0)
            return(0, 32)
        }
    }
}

/// The base checks every bool the registry returns, and its two-phase settlement needs nothing beyond
/// IAVSManager (Imua has no IAVSManagerExt).
contract SettlementTest is AvsBase {
    uint64 id;

    function setUp() public override {
        super.setUp();
        // stakes 10, 20, 30, 40 (total 100)
        for (uint256 i = 0; i < 4; i++) _addOperator(i, uint128(10 * (i + 1)));
        id = _createTask(40, 2, 60);
    }

    function _failed(string memory call) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(AvsServiceBase.PrecompileFailed.selector, call);
    }

    function test_aFalseFromTheRegistryReverts_naming_the_method() public {
        AvsServiceContract svc = new AvsServiceContract(address(new FalseRegistry()));
        bytes memory pk = TestBLS.publicKey(_sk(9));
        bytes memory pop = _pop(_sk(9), owner);
        vm.startPrank(owner, owner);
        vm.expectRevert(_failed("registerAVS"));
        svc.registerAVS(_params(address(svc)));
        vm.expectRevert(_failed("updateAVS"));
        svc.updateAVS(_params(address(svc)));
        vm.expectRevert(_failed("deregisterAVS"));
        svc.deregisterAVS("sum-avs");
        vm.expectRevert(_failed("registerOperatorToAVS"));
        svc.registerOperatorToAVS();
        vm.expectRevert(_failed("deregisterOperatorFromAVS"));
        svc.deregisterOperatorFromAVS();
        vm.expectRevert(_failed("registerBLSPublicKey"));
        svc.registerBLSPublicKey(pk, pop);
        vm.expectRevert(_failed("operatorSubmitTask"));
        svc.operatorSubmitTask(1, "", hex"01", 1);
        vm.expectRevert(_failed("createTask"));
        svc.createNewTask(_payload(1, 2), 50, RESP, CHAL, STAT);
        vm.stopPrank();
    }

    function test_aFalseChallengeReverts() public {
        _warpToEpoch(_epoch() + 1 + RESP + STAT + 1);
        vm.mockCall(address(pre), abi.encodeWithSelector(IAVSManager.challenge.selector), abi.encode(false));
        vm.expectRevert(_failed("challenge"));
        avs.challenge(id, new address[](0));
        (,, bool settled,,,,) = avs.taskState(id);
        assertFalse(settled);
    }

    /// Every IAVSManagerExt selector reverts, as on Imua where none exists.
    function _noExt() internal {
        bytes4[13] memory sels = [
            IAVSManagerExt.initialize.selector,
            IAVSManagerExt.admin.selector,
            IAVSManagerExt.chainIdWithoutRevision.selector,
            IAVSManagerExt.registerOperator.selector,
            IAVSManagerExt.setOperatorStake.selector,
            IAVSManagerExt.registrationMessage.selector,
            IAVSManagerExt.epochDuration.selector,
            IAVSManagerExt.verifyTaskAggregate.selector,
            IAVSManagerExt.taskSnapshot.selector,
            IAVSManagerExt.operatorAt.selector,
            IAVSManagerExt.getKnownOperators.selector,
            IAVSManagerExt.rewardOf.selector,
            IAVSManagerExt.slashedOf.selector
        ];
        for (uint256 i = 0; i < sels.length; i++) {
            vm.mockCallRevert(address(pre), abi.encodePacked(sels[i]), "not on Imua");
        }
    }

    function test_twoPhaseSettlement_usesIAVSManagerOnly_withTheStatisticsPower() public {
        // op 0 commits the right sum, op 1 a wrong one, ops 2 and 3 nothing
        bytes memory right = abi.encode(id, uint64(42));
        bytes memory wrong = abi.encode(id, uint64(41));
        bytes memory s0 = TestBLS.sign32(_sk(0), keccak256(right));
        bytes memory s1 = TestBLS.sign32(_sk(1), keccak256(wrong));
        uint256 start = _epoch() + 1;
        vm.prank(ops[0], ops[0]);
        avs.operatorSubmitTask(id, "", s0, 1);
        vm.prank(ops[1], ops[1]);
        avs.operatorSubmitTask(id, "", s1, 1);
        _warpToEpoch(start + RESP + 1);
        vm.prank(ops[0], ops[0]);
        avs.operatorSubmitTask(id, right, s0, 2);
        vm.prank(ops[1], ops[1]);
        avs.operatorSubmitTask(id, wrong, s1, 2);
        // op 0's stake grows after creation: the actual threshold uses the power the task's statistics
        // give it (the emulation's snapshot: 10 of 100 = 10 %), not the live value (60 of 150)
        pre.setOperatorStake(address(avs), ops[0], 60);
        _warpToEpoch(start + RESP + STAT + 1);
        _noExt();
        address[] memory rewarded = new address[](1);
        rewarded[0] = ops[0];
        address[] memory slashed = new address[](3);
        slashed[0] = ops[1];
        slashed[1] = ops[2];
        slashed[2] = ops[3];
        vm.expectEmit(true, false, false, true, address(avs));
        emit AvsServiceBase.TaskSettled(id, 10, rewarded, slashed);
        avs.challenge(id, new address[](0));
        vm.clearMockedCalls();
        TaskInfo memory info = pre.getTaskInfo(address(avs), id);
        assertEq(info.eligibleRewardOperators.length, 1);
        assertEq(info.eligibleSlashOperators.length, 3);
        assertEq(info.actualThreshold, "10");
        assertFalse(info.isExpected); // threshold 60
        assertEq(pre.getChallengeInfo(address(avs), id), address(avs));
    }

    /// The operators come from getTaskInfo's optInOperators: an operator that opted in after creation is
    /// neither rewarded nor slashed, one that opted out since is still judged, and the power is the task's
    /// statistics' (the emulation's snapshot: 10 + 20 + 30 + 40).
    function test_twoPhaseSettlement_judgesTheOperatorsOptedInAtCreation() public {
        address late = _addOperator(7, 1000);
        vm.prank(ops[3], ops[3]);
        avs.deregisterOperatorFromAVS();
        bytes memory right = abi.encode(id, uint64(42));
        bytes memory s0 = TestBLS.sign32(_sk(0), keccak256(right));
        uint256 start = _epoch() + 1;
        vm.prank(ops[0], ops[0]);
        avs.operatorSubmitTask(id, "", s0, 1);
        _warpToEpoch(start + RESP + 1);
        vm.prank(ops[0], ops[0]);
        avs.operatorSubmitTask(id, right, s0, 2);
        _warpToEpoch(start + RESP + STAT + 1);
        _noExt();
        avs.challenge(id, new address[](0));
        vm.clearMockedCalls();
        TaskInfo memory info = pre.getTaskInfo(address(avs), id);
        assertEq(info.eligibleRewardOperators.length, 1);
        assertEq(info.eligibleRewardOperators[0], ops[0]);
        assertEq(info.eligibleSlashOperators.length, 3);
        for (uint256 i = 0; i < 3; i++) {
            assertTrue(info.eligibleSlashOperators[i] != late);
        }
        // the statistics' power, the snapshot's: 10 of 100 = 10 %
        assertEq(info.actualThreshold, "10");
    }

    /// A task with an accepted aggregate is judged on the snapshot; commits are not read (a Prague registry
    /// has no two-phase storage).
    function test_aggregatedSettlement_readsNoCommit() public {
        (address[] memory ns, bytes memory keys, bytes memory sig) = _aggregate(id, 42, _skip(1));
        avs.respondToTask(id, _sumResponse(42), ns, keys, sig);
        _warpToEpoch(_epoch() + 1 + RESP + STAT + 1);
        vm.mockCallRevert(
            address(pre), abi.encodePacked(IAVSManager.getOperatorTaskResponse.selector), "no two-phase storage"
        );
        vm.mockCallRevert(address(pre), abi.encodePacked(IAVSManager.getTaskInfo.selector), "not needed");
        avs.challenge(id, ns);
        vm.clearMockedCalls();
        TaskInfo memory info = pre.getTaskInfo(address(avs), id);
        assertEq(info.eligibleRewardOperators.length, 3);
        assertEq(info.eligibleSlashOperators.length, 0);
        assertEq(info.actualThreshold, "80");
    }

    function _skip(uint256 a) internal view returns (bool[] memory s) {
        s = _none();
        s[a] = true;
    }
}
