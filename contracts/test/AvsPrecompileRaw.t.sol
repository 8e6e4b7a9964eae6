// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AvsBase, TestBLS} from "./AvsBase.sol";
import {AvsPrecompile} from "../src/AvsPrecompile.sol";
import "../src/IAVSManager.sol";

/// An AVS contract that forwards anything to the precompile, to test the precompile's own checks with
/// inputs a well-behaved AVS would never send.
contract RawAvs {
    function registerAVS(AVSParams calldata p) external returns (bool) {
        return AVSMANAGER_CONTRACT.registerAVS(p);
    }

    function updateAVS(AVSParams calldata p) external returns (bool) {
        return AVSMANAGER_CONTRACT.updateAVS(p);
    }

    function deregisterAVS(address sender, string calldata name) external returns (bool) {
        return AVSMANAGER_CONTRACT.deregisterAVS(sender, name);
    }

    function optIn(address sender) external returns (bool) {
        return AVSMANAGER_CONTRACT.registerOperatorToAVS(sender);
    }

    function optOut(address sender) external returns (bool) {
        return AVSMANAGER_CONTRACT.deregisterOperatorFromAVS(sender);
    }

    function createTask(address sender, uint8 threshold) external returns (uint64) {
        return AVSMANAGER_CONTRACT.createTask(sender, "raw", "", 1, 1, threshold, 1);
    }

    function challenge(address sender, uint64 id, address[] calldata reward, address[] calldata slash)
        external
        returns (bool)
    {
        return AVSMANAGER_CONTRACT.challenge(sender, id, address(this), 100, true, reward, slash);
    }
}

contract AvsPrecompileRawTest is AvsBase {
    RawAvs raw;
    address op1 = address(0x5001);
    address op2 = address(0x5002);

    function setUp() public override {
        super.setUp();
        raw = new RawAvs();
        vm.prank(owner, owner);
        raw.registerAVS(_params(address(0)));
        for (uint256 i = 0; i < 2; i++) {
            address op = i == 0 ? op1 : op2;
            vm.startPrank(op, op);
            pre.registerOperator();
            raw.optIn(op);
            vm.stopPrank();
            pre.setOperatorStake(address(raw), op, 50);
        }
    }

    function test_taskAddressDefaultsToCaller() public {
        vm.prank(owner, owner);
        assertEq(raw.createTask(owner, 50), 1);
    }

    function test_senderMustBeOrigin_everywhere() public {
        vm.startPrank(owner, address(0xBEEF));
        vm.expectRevert(AvsPrecompile.SenderNotOrigin.selector);
        raw.createTask(owner, 50);
        vm.expectRevert(AvsPrecompile.SenderNotOrigin.selector);
        raw.optIn(owner);
        vm.expectRevert(AvsPrecompile.SenderNotOrigin.selector);
        AVSMANAGER_CONTRACT.operatorSubmitTask(owner, 1, "", hex"01", address(raw), 1);
        vm.stopPrank();
    }

    /// challenge's first argument is the AVS that owns the task (Imua since Aug 2025), not tx.origin, and the
    /// calling contract must be that AVS too.
    function test_challengeSenderIsTheTaskAVS() public {
        vm.prank(owner, owner);
        uint64 id = raw.createTask(owner, 50);
        _warpToEpoch(_epoch() + 1 + 1 + 1 + 1);
        address[] memory none = new address[](0);
        vm.prank(owner, owner);
        vm.expectRevert(AvsPrecompile.CallerNotTaskAVS.selector);
        raw.challenge(owner, id, none, none);
        RawAvs other = new RawAvs();
        vm.prank(owner, owner);
        other.registerAVS(_params(address(0)));
        vm.prank(owner, owner);
        vm.expectRevert(AvsPrecompile.CallerNotTaskAVS.selector);
        raw.challenge(address(other), id, none, none);
        // the AVS names itself; tx.origin is irrelevant
        vm.prank(address(0xBEEF), address(0xBEEF));
        raw.challenge(address(raw), id, none, none);
        assertEq(pre.getChallengeInfo(address(raw), id), address(raw));
    }

    function test_thresholdAbove100Refused() public {
        vm.prank(owner, owner);
        vm.expectRevert(AvsPrecompile.InvalidThreshold.selector);
        raw.createTask(owner, 101);
    }

    function test_updateAndDeregister() public {
        AVSParams memory p = _params(address(0));
        p.avsName = "renamed";
        p.avsSlashProportion = 101;
        vm.prank(owner, owner);
        vm.expectRevert(AvsPrecompile.InvalidProportion.selector);
        raw.updateAVS(p);
        p.avsSlashProportion = 5;
        p.sender = op1;
        vm.prank(op1, op1);
        vm.expectRevert(AvsPrecompile.CallerNotOwner.selector);
        raw.updateAVS(p);
        p.sender = owner;
        vm.prank(owner, owner);
        raw.updateAVS(p);
        // deregistration: name must match, and no operator may remain opted in
        vm.prank(owner, owner);
        vm.expectRevert(AvsPrecompile.AVSNameMismatch.selector);
        raw.deregisterAVS(owner, "sum-avs");
        vm.prank(owner, owner);
        vm.expectRevert(AvsPrecompile.AVSStillHasOperators.selector);
        raw.deregisterAVS(owner, "renamed");
        vm.prank(op1, op1);
        raw.optOut(op1);
        vm.prank(op2, op2);
        raw.optOut(op2);
        vm.prank(owner, owner);
        raw.deregisterAVS(owner, "renamed");
        vm.prank(owner, owner);
        vm.expectRevert(AvsPrecompile.AVSNotRegistered.selector);
        raw.createTask(owner, 50);
    }

    function test_whitelist() public {
        RawAvs w = new RawAvs();
        AVSParams memory p = _params(address(0));
        p.whitelistAddresses = new address[](1);
        p.whitelistAddresses[0] = op1;
        vm.prank(owner, owner);
        w.registerAVS(p);
        vm.prank(op2, op2);
        vm.expectRevert(AvsPrecompile.OperatorNotWhitelisted.selector);
        w.optIn(op2);
        vm.prank(op1, op1);
        w.optIn(op1);
    }

    function test_challengeListsValidated() public {
        vm.prank(owner, owner);
        uint64 id = raw.createTask(owner, 50);
        _warpToEpoch(_epoch() + 1 + 1 + 1 + 1);
        address[] memory dup = new address[](2);
        dup[0] = op1;
        dup[1] = op1;
        address[] memory none = new address[](0);
        vm.prank(owner, owner);
        vm.expectRevert(abi.encodeWithSelector(AvsPrecompile.DuplicateOperator.selector, op1));
        raw.challenge(address(raw), id, dup, none);
        address[] memory stranger = new address[](1);
        stranger[0] = address(0x9999);
        vm.prank(owner, owner);
        vm.expectRevert(abi.encodeWithSelector(AvsPrecompile.NotInSnapshot.selector, address(0x9999)));
        raw.challenge(address(raw), id, none, stranger);
        // the same operator may be in both lists (the AVS decides); here: reward op1, slash op2
        address[] memory r = new address[](1);
        r[0] = op1;
        address[] memory s = new address[](1);
        s[0] = op2;
        vm.prank(owner, owner);
        raw.challenge(address(raw), id, r, s);
        // pool = 100 * 10 % = 10, all to op1; op2 loses 20 % of 50
        assertEq(pre.rewardOf(address(raw), op1), 10);
        assertEq(pre.slashedOf(address(raw), op2), 10);
        assertEq(pre.getAVSUSDValue(address(raw)), 90);
        TaskInfo memory info = pre.getTaskInfo(address(raw), id);
        assertEq(info.actualThreshold, "100");
        assertTrue(info.isExpected);
        vm.prank(owner, owner);
        vm.expectRevert(AvsPrecompile.AlreadyChallenged.selector);
        raw.challenge(address(raw), id, r, s);
    }

    function test_responseListAndRepeatedCommit() public {
        // op1 gets a key for the raw AVS so it can submit
        uint256 sk = _sk(42);
        bytes memory pk = TestBLS.publicKey(sk);
        bytes memory pop = _pop(sk, op1);
        vm.prank(op1, op1);
        AVSMANAGER_CONTRACT.registerBLSPublicKey(op1, address(raw), pk, pop);
        vm.prank(owner, owner);
        uint64 id = raw.createTask(owner, 50);
        uint256 start = _epoch() + 1;
        bytes memory resp = abi.encode(id, uint64(5));
        bytes memory sig = TestBLS.sign32(sk, keccak256(resp));
        vm.prank(op1, op1);
        AVSMANAGER_CONTRACT.operatorSubmitTask(op1, id, "", sig, address(raw), 1);
        // op2 has no key for this AVS
        vm.prank(op2, op2);
        vm.expectRevert(AvsPrecompile.PubKeyNotExist.selector);
        AVSMANAGER_CONTRACT.operatorSubmitTask(op2, id, "", sig, address(raw), 1);
        _warpToEpoch(start + 1 + 1);
        vm.prank(op1, op1);
        AVSMANAGER_CONTRACT.operatorSubmitTask(op1, id, resp, sig, address(raw), 2);
        vm.prank(op1, op1);
        vm.expectRevert(AvsPrecompile.InconsistentSignature.selector);
        AVSMANAGER_CONTRACT.operatorSubmitTask(op1, id, resp, sig, address(raw), 2);
        OperatorResInfo[] memory list = pre.getOperatorTaskResponseList(address(raw), id);
        assertEq(list.length, 1);
        assertEq(list[0].operatorAddress, op1);
        assertEq(list[0].phase, 2);
        assertEq(list[0].power, 50);
        assertEq(list[0].taskResponseHash, vm.toString(keccak256(resp)));
    }
}

/// Two challenges in one transaction (a batching AVS) must not see each other's duplicate marks.
contract BatchingAvs is RawAvs {
    function challengeTwo(address sender, uint64 a, uint64 b, address[] calldata reward) external {
        AVSMANAGER_CONTRACT.challenge(sender, a, address(this), 100, true, reward, new address[](0));
        AVSMANAGER_CONTRACT.challenge(sender, b, address(this), 100, true, reward, new address[](0));
    }
}

contract AvsPrecompileBatchTest is AvsBase {
    function test_twoChallengesInOneTransaction() public {
        BatchingAvs b = new BatchingAvs();
        vm.prank(owner, owner);
        b.registerAVS(_params(address(0)));
        address op = address(0x6001);
        vm.startPrank(op, op);
        pre.registerOperator();
        b.optIn(op);
        vm.stopPrank();
        pre.setOperatorStake(address(b), op, 10);
        vm.startPrank(owner, owner);
        uint64 t1 = b.createTask(owner, 50);
        uint64 t2 = b.createTask(owner, 50);
        vm.stopPrank();
        _warpToEpoch(_epoch() + 4);
        address[] memory reward = new address[](1);
        reward[0] = op;
        vm.prank(owner, owner);
        b.challengeTwo(address(b), t1, t2, reward);
        assertEq(pre.rewardOf(address(b), op), 2); // 1 per task: 10 * 10 %
    }
}
