// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AvsBase, TestBLS} from "./AvsBase.sol";
import {AvsPrecompile} from "../src/AvsPrecompile.sol";
import {AvsServiceContract} from "../src/AvsServiceContract.sol";
import "../src/IAVSManager.sol";

/// The rules of the avs precompile, one by one, through the AVS contract as the chain sees them.
contract AvsPrecompileTest is AvsBase {
    function test_initializeOnlyOnce() public {
        vm.expectRevert(AvsPrecompile.AlreadyInitialized.selector);
        pre.initialize(address(1), "x");
        assertEq(pre.admin(), address(this));
        assertEq(pre.chainIdWithoutRevision(), CHAIN_ID);
    }

    function test_stakeSetterIsAdminOnly() public {
        vm.prank(address(0xBAD));
        vm.expectRevert(AvsPrecompile.NotAdmin.selector);
        pre.setOperatorStake(address(avs), address(1), 5);
    }

    function test_registerAVS_rules() public {
        AvsServiceContract other = new AvsServiceContract(AVSMANAGER_PRECOMPILE_ADDRESS);
        // sender must be tx.origin
        vm.prank(owner, address(0xBEEF));
        vm.expectRevert(AvsPrecompile.SenderNotOrigin.selector);
        other.registerAVS(_params(address(other)));
        // sender must be an owner
        AVSParams memory p = _params(address(other));
        p.sender = address(0xBEEF);
        vm.prank(address(0xBEEF), address(0xBEEF));
        vm.expectRevert(AvsPrecompile.CallerNotOwner.selector);
        other.registerAVS(p);
        // unknown epoch identifier
        p = _params(address(other));
        p.epochIdentifier = "fortnight";
        vm.prank(owner, owner);
        vm.expectRevert(AvsPrecompile.EpochNotFound.selector);
        other.registerAVS(p);
        // a task address already used by another AVS
        vm.prank(owner, owner);
        vm.expectRevert(AvsPrecompile.TaskAddressInUse.selector);
        other.registerAVS(_params(address(avs)));
        // twice
        vm.prank(owner, owner);
        vm.expectRevert(AvsPrecompile.AVSAlreadyRegistered.selector);
        avs.registerAVS(_params(address(avs)));
        assertEq(pre.getAVSEpochIdentifier(address(avs)), "minute");
    }

    function test_optInRules() public {
        address op = _opAddr(1);
        vm.startPrank(op, op);
        vm.expectRevert(AvsPrecompile.OperatorNotExist.selector);
        avs.registerOperatorToAVS();
        pre.registerOperator();
        avs.registerOperatorToAVS();
        vm.expectRevert(AvsPrecompile.AlreadyOptedIn.selector);
        avs.registerOperatorToAVS();
        vm.stopPrank();
        assertEq(pre.getOptInOperators(address(avs)).length, 1);
        vm.prank(op, op);
        avs.deregisterOperatorFromAVS();
        assertEq(pre.getOptInOperators(address(avs)).length, 0);
        vm.prank(op, op);
        vm.expectRevert(AvsPrecompile.NotOptedIn.selector);
        avs.deregisterOperatorFromAVS();
        // not from an EOA-origin
        vm.prank(op, address(0xBEEF));
        vm.expectRevert(AvsPrecompile.SenderNotOrigin.selector);
        avs.registerOperatorToAVS();
    }

    function test_registrationMessageIsExact() public view {
        assertEq(
            pre.registrationMessage(0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266),
            "BLS12-381 Signed Message\nChainIDWithoutRevision: exoavs_31337\nAccAddressBech32: im17w0adeg64ky0daxwd2ugyuneellmjgnxt6eld4"
        );
    }

    function test_blsKeyRegistration_proofOfPossession() public {
        address op = _opAddr(1);
        uint256 sk = _sk(1);
        bytes memory pk = TestBLS.publicKey(sk);
        bytes memory rogue = _pop(_sk(2), op);
        bytes memory replay = _pop(sk, _opAddr(2));
        bytes memory goodPop = _pop(sk, op);
        bytes memory otherChain = TestBLS.sign32(
            sk,
            keccak256(
                bytes(
                    string.concat(
                        "BLS12-381 Signed Message\nChainIDWithoutRevision: other_1\nAccAddressBech32: ", _bech(op)
                    )
                )
            )
        );
        vm.startPrank(op, op);
        // rogue key: a valid point but the signature is by another key
        vm.expectRevert(AvsPrecompile.InvalidPopSignature.selector);
        avs.registerBLSPublicKey(pk, rogue);
        // signature over another operator's message (replay)
        vm.expectRevert(AvsPrecompile.InvalidPopSignature.selector);
        avs.registerBLSPublicKey(pk, replay);
        // signature over another chain id's message
        vm.expectRevert(AvsPrecompile.InvalidPopSignature.selector);
        avs.registerBLSPublicKey(pk, otherChain);
        // infinity key
        vm.expectRevert(AvsPrecompile.InvalidPublicKey.selector);
        avs.registerBLSPublicKey(new bytes(128), new bytes(256));
        // compressed (48-byte) key: not the on-chain encoding
        vm.expectRevert(AvsPrecompile.InvalidPublicKey.selector);
        avs.registerBLSPublicKey(new bytes(48), goodPop);
        // good
        avs.registerBLSPublicKey(pk, goodPop);
        assertEq(pre.getRegisteredPubkey(op, address(avs)), pk);
        vm.stopPrank();
        // a second key for the same (operator, AVS)
        bytes memory pk3 = TestBLS.publicKey(_sk(3));
        bytes memory pop3 = _pop(_sk(3), op);
        vm.prank(op, op);
        vm.expectRevert(AvsPrecompile.PublicKeyAlreadySet.selector);
        avs.registerBLSPublicKey(pk3, pop3);
        // the same key by another operator, even with its own valid proof of possession
        address op2 = _opAddr(2);
        bytes memory pop2 = _pop(sk, op2);
        vm.prank(op2, op2);
        vm.expectRevert(AvsPrecompile.PublicKeyInUse.selector);
        avs.registerBLSPublicKey(pk, pop2);
        // the same key by the same operator for another AVS
        AvsServiceContract other = new AvsServiceContract(AVSMANAGER_PRECOMPILE_ADDRESS);
        vm.prank(owner, owner);
        other.registerAVS(_params(address(other)));
        vm.prank(op, op);
        vm.expectRevert(AvsPrecompile.PublicKeyInUse.selector);
        other.registerBLSPublicKey(pk, goodPop);
    }

    function _bech(address a) internal view returns (string memory) {
        string memory m = pre.registrationMessage(a);
        bytes memory b = bytes(m);
        bytes memory out = new bytes(41);
        for (uint256 i = 0; i < 41; i++) out[i] = b[b.length - 41 + i];
        return string(out);
    }

    function test_createTask_rules() public {
        // no operators, no stake
        vm.prank(owner, owner);
        vm.expectRevert(AvsPrecompile.NoVotingPower.selector);
        avs.createNewTask(_payload(1, 2), 50, RESP, CHAL, STAT);
        address op = _addOperator(1, 0);
        vm.prank(owner, owner);
        vm.expectRevert(AvsPrecompile.NoVotingPower.selector);
        avs.createNewTask(_payload(1, 2), 50, RESP, CHAL, STAT);
        pre.setOperatorStake(address(avs), op, 10);
        // not an owner
        vm.prank(op, op);
        vm.expectRevert(AvsPrecompile.CallerNotOwner.selector);
        avs.createNewTask(_payload(1, 2), 50, RESP, CHAL, STAT);
        // ids per task contract from 1, startingEpoch = current + 1
        uint64 id1 = _createTask(1, 2, 50);
        uint64 id2 = _createTask(3, 4, 50);
        assertEq(id1, 1);
        assertEq(id2, 2);
        TaskInfo memory info = pre.getTaskInfo(address(avs), id2);
        assertEq(info.startingEpoch, _epoch() + 1);
        assertEq(info.taskID, 2);
        assertEq(info.hash, abi.encode(uint64(3), uint64(4)));
        assertEq(info.optInOperators.length, 1);
        // another AVS numbers its own tasks from 1
        AvsServiceContract other = new AvsServiceContract(AVSMANAGER_PRECOMPILE_ADDRESS);
        vm.prank(owner, owner);
        other.registerAVS(_params(address(other)));
        vm.startPrank(op, op);
        other.registerOperatorToAVS();
        vm.stopPrank();
        pre.setOperatorStake(address(other), op, 1);
        vm.prank(owner, owner);
        assertEq(other.createNewTask(_payload(1, 1), 50, RESP, CHAL, STAT), 1);
    }

    function test_snapshotIgnoresLaterChanges() public {
        address a = _addOperator(1, 10);
        _addOperator(2, 20);
        uint64 id = _createTask(1, 2, 50);
        // after the snapshot: a opts out, b's stake changes, c joins
        vm.prank(a, a);
        avs.deregisterOperatorFromAVS();
        pre.setOperatorStake(address(avs), _opAddr(2), 1000);
        _addOperator(3, 30);
        (uint64 v, uint256 opted, uint256 keyed,) = pre.taskSnapshot(address(avs), id);
        assertEq(opted, 30);
        assertEq(keyed, 30);
        (bool optedIn,, uint256 stake) = pre.operatorAt(address(avs), a, v);
        assertTrue(optedIn);
        assertEq(stake, 10);
        assertEq(pre.getTaskInfo(address(avs), id).optInOperators.length, 2);
        // a new task sees the new set
        uint64 id2 = _createTask(1, 2, 50);
        (, opted,,) = pre.taskSnapshot(address(avs), id2);
        assertEq(opted, 1030);
        assertEq(pre.getAVSUSDValue(address(avs)), 1030);
        assertEq(pre.getOperatorOptedUSDValue(address(avs), a), 0);
    }

    function test_keylessOperatorCountsInTotalOnly() public {
        _addOperator(1, 10);
        _addKeylessOperator(9, 5);
        uint64 id = _createTask(1, 2, 50);
        (, uint256 opted, uint256 keyed,) = pre.taskSnapshot(address(avs), id);
        assertEq(opted, 15);
        assertEq(keyed, 10);
    }

    function test_taskOperatorsIsTheSnapshotInOneCall() public {
        address a = _addOperator(1, 10);
        address b = _addOperator(2, 20);
        address k = _addKeylessOperator(9, 5);
        uint64 id = _createTask(1, 2, 50);
        vm.prank(a, a);
        avs.deregisterOperatorFromAVS();
        pre.setOperatorStake(address(avs), b, 1000);
        address c = _addOperator(3, 30);
        uint64 id2 = _createTask(1, 2, 50);

        (address[] memory ops, uint256[] memory stakes, bytes[] memory keys) = pre.taskOperators(address(avs), id);
        assertEq(ops.length, 3);
        assertEq(stakes.length, 3);
        assertEq(keys.length, 3);
        assertEq(ops[0], a);
        assertEq(ops[1], b);
        assertEq(ops[2], k);
        assertEq(stakes[0], 10);
        assertEq(stakes[1], 20);
        assertEq(stakes[2], 5);
        assertEq(keys[0], pre.getRegisteredPubkey(a, address(avs)));
        assertEq(keys[1], pre.getRegisteredPubkey(b, address(avs)));
        assertEq(keys[0].length, 128);
        assertEq(keys[2].length, 0);

        (ops, stakes, keys) = pre.taskOperators(address(avs), id2);
        assertEq(ops.length, 3);
        assertEq(ops[0], b);
        assertEq(ops[1], k);
        assertEq(ops[2], c);
        assertEq(stakes[0], 1000);
        assertEq(stakes[2], 30);
        assertEq(keys[2], pre.getRegisteredPubkey(c, address(avs)));

        vm.expectRevert(AvsPrecompile.TaskNotExist.selector);
        pre.taskOperators(address(avs), id2 + 1);
    }

    // ---------------------------------------------------------------- two-phase flow
    function _twoPhaseSetup() internal returns (uint64 id, address op, uint256 sk, bytes memory resp, bytes memory sig) {
        op = _addOperator(1, 10);
        _addOperator(2, 10);
        id = _createTask(5, 6, 50);
        sk = _sk(1);
        resp = abi.encode(id, uint64(11));
        sig = TestBLS.sign32(sk, keccak256(resp));
    }

    function test_twoPhase_happyPathAndStatistics() public {
        (uint64 id, address op, , bytes memory resp, bytes memory sig) = _twoPhaseSetup();
        uint256 start = _epoch() + 1;
        vm.startPrank(op, op);
        avs.operatorSubmitTask(id, "", sig, 1);
        vm.expectRevert(AvsPrecompile.ResultAlreadyExists.selector);
        avs.operatorSubmitTask(id, "", sig, 1);
        // commit too soon (still inside the response window)
        _warpToEpoch(start + RESP);
        vm.expectRevert(AvsPrecompile.SubmitTooSoon.selector);
        avs.operatorSubmitTask(id, resp, sig, 2);
        _warpToEpoch(start + RESP + 1);
        avs.operatorSubmitTask(id, resp, sig, 2);
        vm.stopPrank();
        TaskResultInfo memory r = pre.getOperatorTaskResponse(address(avs), op, id);
        assertEq(r.phase, 2);
        assertEq(r.taskResponse, resp);
        // statistics only after the statistical window
        assertEq(pre.getTaskInfo(address(avs), id).signedOperators.length, 0);
        _warpToEpoch(start + RESP + STAT + 1);
        TaskInfo memory info = pre.getTaskInfo(address(avs), id);
        assertEq(info.signedOperators.length, 1);
        assertEq(info.signedOperators[0], op);
        assertEq(info.noSignedOperators.length, 1);
        assertEq(info.noSignedOperators[0], _opAddr(2));
        assertEq(info.operatorActivePower[0].power, 10);
        assertEq(info.taskTotalPower, "20");
    }

    function test_twoPhase_rejections() public {
        (uint64 id, address op, uint256 sk, bytes memory resp, bytes memory sig) = _twoPhaseSetup();
        uint256 start = _epoch() + 1;
        vm.startPrank(op, op);
        // phase 1 must not reveal the response
        vm.expectRevert(AvsPrecompile.InvalidParams.selector);
        avs.operatorSubmitTask(id, resp, sig, 1);
        vm.expectRevert(AvsPrecompile.InvalidPhase.selector);
        avs.operatorSubmitTask(id, "", sig, 3);
        // commit without prepare
        _warpToEpoch(start + RESP + 1);
        vm.expectRevert(AvsPrecompile.InconsistentSignature.selector);
        avs.operatorSubmitTask(id, resp, sig, 2);
        // prepare too late
        vm.expectRevert(AvsPrecompile.SubmitTooLate.selector);
        avs.operatorSubmitTask(id, "", sig, 1);
        vm.stopPrank();

        // second operator: prepare in time, then commit with another signature / a forged one / too late
        address op2 = _opAddr(2);
        uint64 id2 = _createTask(7, 8, 50);
        uint256 start2 = _epoch() + 1;
        bytes memory resp2 = abi.encode(id2, uint64(15));
        bytes memory good = TestBLS.sign32(_sk(2), keccak256(resp2));
        bytes memory forged = TestBLS.sign32(sk, keccak256(resp2)); // op1's key, not op2's
        vm.startPrank(op2, op2);
        avs.operatorSubmitTask(id2, "", forged, 1);
        _warpToEpoch(start2 + RESP + 1);
        vm.expectRevert(AvsPrecompile.InconsistentSignature.selector);
        avs.operatorSubmitTask(id2, resp2, good, 2);
        vm.expectRevert(AvsPrecompile.InvalidTaskSignature.selector);
        avs.operatorSubmitTask(id2, resp2, forged, 2);
        _warpToEpoch(start2 + RESP + STAT + 1);
        vm.expectRevert(AvsPrecompile.SubmitTooLate.selector);
        avs.operatorSubmitTask(id2, resp2, forged, 2);
        vm.stopPrank();
    }

    function test_challenge_timingOnceAndOnlyByTheAVS() public {
        (uint64 id,,,,) = _twoPhaseSetup();
        uint256 start = _epoch() + 1;
        address[] memory none = new address[](0);
        vm.prank(owner, owner);
        vm.expectRevert(AvsPrecompile.SubmitTooSoon.selector);
        avs.challenge(id, none);
        _warpToEpoch(start + RESP + STAT + 1);
        // another contract cannot challenge this AVS's task
        vm.prank(owner, owner);
        vm.expectRevert(AvsPrecompile.CallerNotTaskAVS.selector);
        pre.challenge(owner, id, address(avs), 0, false, none, none);
        vm.expectRevert(AvsPrecompile.CallerNotTaskAVS.selector);
        pre.challenge(address(avs), id, address(avs), 0, false, none, none);
        // anyone may settle through the AVS, which names itself as the challenger
        vm.prank(owner, owner);
        avs.challenge(id, none);
        assertEq(pre.getChallengeInfo(address(avs), id), address(avs));
        vm.prank(owner, owner);
        vm.expectRevert(abi.encodeWithSelector(AvsServiceContract.AlreadySettled.selector, id));
        avs.challenge(id, none);
    }

    function test_epochs() public {
        vm.warp(3600 * 100 + 59);
        assertEq(uint256(uint64(pre.getCurrentEpoch("minute"))), 6000);
        assertEq(uint256(uint64(pre.getCurrentEpoch("hour"))), 100);
        assertEq(uint256(uint64(pre.getCurrentEpoch("devnet-1s"))), 3600 * 100 + 59);
        assertEq(uint256(uint64(pre.getCurrentEpoch("devnet-2s"))), 180029);
        assertEq(uint256(uint64(pre.getCurrentEpoch("day"))), 4);
        assertEq(uint256(uint64(pre.getCurrentEpoch("week"))), 0);
        vm.expectRevert(AvsPrecompile.EpochNotFound.selector);
        pre.getCurrentEpoch("year");
    }
}
