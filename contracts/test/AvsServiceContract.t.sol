// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AvsBase, TestBLS} from "./AvsBase.sol";
import {AvsPrecompile} from "../src/AvsPrecompile.sol";
import {AvsServiceContract} from "../src/AvsServiceContract.sol";
import {AvsServiceBase} from "../src/AvsServiceBase.sol";
import "../src/IAVSManager.sol";
import {Vm} from "forge-std/Vm.sol";

/// The seed's aggregated flow: respondToTask accepts exactly the valid, sufficient, first, timely response.
contract AvsServiceContractTest is AvsBase {
    uint64 id;

    function setUp() public override {
        super.setUp();
        // stakes 10, 20, 30, 40 (total 100)
        for (uint256 i = 0; i < 4; i++) _addOperator(i, uint128(10 * (i + 1)));
        id = _createTask(40, 2, 60);
    }

    function _skip(uint256 a) internal view returns (bool[] memory s) {
        s = _none();
        s[a] = true;
    }

    function test_createNewTask_event() public {
        vm.expectEmit(true, false, false, true, address(avs));
        emit AvsServiceBase.TaskCreated(2, abi.encode(uint64(7), uint64(8)), 67, uint64(_epoch() + 1), RESP, CHAL, STAT);
        _createTask(7, 8, 67);
        (bool exists,,,, uint64 a, uint64 b,,,,) = avs.tasks(2);
        assertTrue(exists);
        assertEq(a, 7);
        assertEq(b, 8);
    }

    /// TaskCreated carries the payload bytes exactly as sent (the operators decode the task from them), and
    /// the precompile stores the same bytes as the task's hash.
    function test_createNewTask_eventCarriesExactPayload() public {
        bytes memory payload = abi.encode(uint64(0x0102030405060708), uint64(type(uint64).max - 0x0102030405060708));
        vm.recordLogs();
        vm.prank(owner, owner);
        uint64 t = avs.createNewTask(payload, 50, RESP, CHAL, STAT);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        uint256 found;
        for (uint256 i = 0; i < logs.length; i++) {
            if (logs[i].emitter != address(avs) || logs[i].topics[0] != AvsServiceBase.TaskCreated.selector) continue;
            found++;
            assertEq(logs[i].topics[1], bytes32(uint256(t)));
            (bytes memory emitted,,,,,) = abi.decode(logs[i].data, (bytes, uint8, uint64, uint64, uint64, uint64));
            assertEq(keccak256(emitted), keccak256(payload));
            assertEq(emitted.length, 64);
        }
        assertEq(found, 1);
        assertEq(pre.getTaskInfo(address(avs), t).hash, payload);
        (,,,, uint64 a, uint64 b,,,,) = avs.tasks(t);
        assertEq(a, 0x0102030405060708);
        assertEq(b, type(uint64).max - 0x0102030405060708);
    }

    function test_createNewTask_rejectsBadThresholdAndOverflow() public {
        vm.startPrank(owner, owner);
        vm.expectRevert(abi.encodeWithSelector(AvsServiceBase.InvalidThreshold.selector, 0));
        avs.createNewTask(_payload(1, 2), 0, RESP, CHAL, STAT);
        vm.expectRevert(abi.encodeWithSelector(AvsServiceBase.InvalidThreshold.selector, 101));
        avs.createNewTask(_payload(1, 2), 101, RESP, CHAL, STAT);
        vm.expectRevert(abi.encodeWithSelector(AvsServiceContract.SumOverflows.selector, type(uint64).max, 1));
        avs.createNewTask(_payload(type(uint64).max, 1), 50, RESP, CHAL, STAT);
        // the largest sum that fits is accepted
        avs.createNewTask(_payload(type(uint64).max - 1, 1), 50, RESP, CHAL, STAT);
        vm.stopPrank();
    }

    function test_createNewTask_rejectsWrongPayloadLength() public {
        bytes[4] memory bad = [bytes(""), abi.encode(uint64(1)), abi.encodePacked(uint64(1), uint64(2)), abi.encode(uint64(1), uint64(2), uint64(3))];
        vm.startPrank(owner, owner);
        for (uint256 i = 0; i < bad.length; i++) {
            vm.expectRevert(abi.encodeWithSelector(AvsServiceContract.BadPayload.selector, bad[i].length));
            avs.createNewTask(bad[i], 50, RESP, CHAL, STAT);
        }
        // one byte too many or too few
        vm.expectRevert(abi.encodeWithSelector(AvsServiceContract.BadPayload.selector, 65));
        avs.createNewTask(bytes.concat(_payload(1, 2), hex"00"), 50, RESP, CHAL, STAT);
        vm.expectRevert(abi.encodeWithSelector(AvsServiceContract.BadPayload.selector, 63));
        avs.createNewTask(abi.encodePacked(bytes31(0), bytes32(uint256(2))), 50, RESP, CHAL, STAT);
        vm.stopPrank();
    }

    /// A 64-byte payload whose words are not uint64s (dirty high bytes) is refused by abi.decode.
    function test_createNewTask_rejectsDirtyPayload() public {
        vm.startPrank(owner, owner);
        vm.expectRevert();
        avs.createNewTask(abi.encode(uint256(1) << 64, uint256(2)), 50, RESP, CHAL, STAT);
        vm.expectRevert();
        avs.createNewTask(abi.encode(uint256(1), uint256(type(uint64).max) + 1), 50, RESP, CHAL, STAT);
        vm.expectRevert();
        avs.createNewTask(abi.encode(bytes32(uint256(1) | (uint256(1) << 255)), uint256(2)), 50, RESP, CHAL, STAT);
        vm.stopPrank();
        // nothing was created: the next id is still 2
        assertEq(_createTask(1, 2, 50), 2);
    }

    function testFuzz_createNewTask_payloadRule(uint256 wa, uint256 wb) public {
        bool clean = wa <= type(uint64).max && wb <= type(uint64).max;
        bool fits = clean && wa + wb <= type(uint64).max;
        vm.prank(owner, owner);
        if (!clean) {
            vm.expectRevert();
        } else if (!fits) {
            vm.expectRevert(abi.encodeWithSelector(AvsServiceContract.SumOverflows.selector, uint64(wa), uint64(wb)));
        }
        avs.createNewTask(abi.encode(wa, wb), 50, RESP, CHAL, STAT);
    }

    function test_respond_allSign() public {
        (address[] memory ns, bytes memory keys, bytes memory sig) = _aggregate(id, 42, _none());
        vm.expectEmit(true, false, false, true, address(avs));
        emit AvsServiceBase.TaskResponded(id, abi.encode(uint64(42)), 100, 100, ns);
        avs.respondToTask(id, _sumResponse(42), ns, keys, sig);
        (, bool responded,,,,,,,,) = avs.tasks(id);
        assertTrue(responded);
    }

    /// The response must be exactly abi.encode(uint64 sum): a longer one (which abi.decode would accept) and a
    /// shorter one are refused by length, a dirty one by abi.decode, even under a valid aggregate over them.
    function test_respond_malformedResponse() public {
        bytes[3] memory bad = [bytes.concat(_sumResponse(42), hex"00"), abi.encodePacked(uint64(42)), bytes("")];
        for (uint256 i = 0; i < bad.length; i++) {
            (address[] memory ns, bytes memory keys, bytes memory sig) = _aggregateOver(id, bad[i]);
            vm.expectRevert(abi.encodeWithSelector(AvsServiceContract.BadResponse.selector, bad[i].length));
            avs.respondToTask(id, bad[i], ns, keys, sig);
        }
        bytes memory dirty = abi.encode(uint256(42) | (uint256(1) << 64));
        (address[] memory ns2, bytes memory keys2, bytes memory sig2) = _aggregateOver(id, dirty);
        vm.expectRevert();
        avs.respondToTask(id, dirty, ns2, keys2, sig2);
        // still open for the right answer
        (ns2, keys2, sig2) = _aggregate(id, 42, _none());
        avs.respondToTask(id, _sumResponse(42), ns2, keys2, sig2);
    }

    /// Everyone's aggregate over arbitrary response bytes.
    function _aggregateOver(uint64 t, bytes memory response)
        internal
        view
        returns (address[] memory ns, bytes memory keys, bytes memory sig)
    {
        uint256 skSum;
        for (uint256 i = 0; i < ops.length; i++) skSum = addmod(skSum, skOf[ops[i]], TestBLS.R);
        ns = new address[](0);
        keys = "";
        sig = TestBLS.sign32(skSum, avs.responseMessage(t, response));
    }

    function test_respond_withNonSigners_exactThreshold() public {
        // 60 % needed; without the 40-stake operator exactly 60 sign: accepted (>=)
        (address[] memory ns, bytes memory keys, bytes memory sig) = _aggregate(id, 42, _skip(3));
        avs.respondToTask(id, _sumResponse(42), ns, keys, sig);
    }

    function test_respond_belowThreshold() public {
        bool[] memory s = _none();
        s[3] = true;
        s[0] = true; // 20 + 30 = 50 < 60
        (address[] memory ns, bytes memory keys, bytes memory sig) = _aggregate(id, 42, s);
        vm.expectRevert(abi.encodeWithSelector(AvsServiceBase.ThresholdNotMet.selector, 50, 100, 60));
        avs.respondToTask(id, _sumResponse(42), ns, keys, sig);
    }

    function test_respond_wrongSum() public {
        (address[] memory ns, bytes memory keys, bytes memory sig) = _aggregate(id, 43, _none());
        vm.expectRevert(abi.encodeWithSelector(AvsServiceContract.WrongSum.selector, id, 43, 42));
        avs.respondToTask(id, _sumResponse(43), ns, keys, sig);
    }

    function test_respond_secondResponse() public {
        (address[] memory ns, bytes memory keys, bytes memory sig) = _aggregate(id, 42, _none());
        avs.respondToTask(id, _sumResponse(42), ns, keys, sig);
        vm.expectRevert(abi.encodeWithSelector(AvsServiceBase.AlreadyResponded.selector, id));
        avs.respondToTask(id, _sumResponse(42), ns, keys, sig);
    }

    function test_respond_outsideWindow() public {
        (address[] memory ns, bytes memory keys, bytes memory sig) = _aggregate(id, 42, _none());
        uint256 last = _epoch() + 1 + RESP;
        _warpToEpoch(last + 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                AvsServiceBase.ResponseWindowClosed.selector, id, int64(uint64(last + 1)), int64(uint64(last))
            )
        );
        avs.respondToTask(id, _sumResponse(42), ns, keys, sig);
        vm.expectRevert(abi.encodeWithSelector(AvsServiceBase.TaskUnknown.selector, 99));
        avs.respondToTask(99, _sumResponse(42), ns, keys, sig);
    }

    function test_respond_lastEpochOfWindowStillAccepted() public {
        (address[] memory ns, bytes memory keys, bytes memory sig) = _aggregate(id, 42, _none());
        _warpToEpoch(_epoch() + 1 + RESP);
        vm.warp(block.timestamp + _epochSeconds() - 1);
        avs.respondToTask(id, _sumResponse(42), ns, keys, sig);
    }

    function test_respond_tamperedSignature() public {
        (address[] memory ns, bytes memory keys, bytes memory sig) = _aggregate(id, 42, _none());
        // a valid G2 point that is not the signature: signature of another sum
        (,, bytes memory other) = _aggregate(id, 41, _none());
        vm.expectRevert(AvsServiceBase.InvalidAggregateSignature.selector);
        avs.respondToTask(id, _sumResponse(42), ns, keys, other);
        sig[255] ^= 0x01; // off the curve
        vm.expectRevert(AvsServiceBase.InvalidAggregateSignature.selector);
        avs.respondToTask(id, _sumResponse(42), ns, keys, sig);
    }

    function test_respond_missingSigner() public {
        // The signature lacks operator 0 but the response claims everyone signed.
        (,, bytes memory sig) = _aggregate(id, 42, _skip(0));
        vm.expectRevert(AvsServiceBase.InvalidAggregateSignature.selector);
        avs.respondToTask(id, _sumResponse(42), new address[](0), "", sig);
    }

    function test_respond_duplicateOrUnsortedNonSigners() public {
        bool[] memory s = _none();
        s[0] = true;
        (address[] memory ns, bytes memory keys,) = _aggregate(id, 42, s);
        address[] memory dup = new address[](2);
        dup[0] = ns[0];
        dup[1] = ns[0];
        bytes memory dupKeys = bytes.concat(keys, keys);
        (,, bytes memory sig) = _aggregate(id, 42, s);
        vm.expectRevert(AvsServiceBase.NonSignersNotSorted.selector);
        avs.respondToTask(id, _sumResponse(42), dup, dupKeys, sig);
        s[1] = true;
        bytes memory keys2;
        (ns, keys2, sig) = _aggregate(id, 42, s);
        address[] memory rev = new address[](2);
        rev[0] = ns[1];
        rev[1] = ns[0];
        bytes memory revKeys =
            bytes.concat(pre.getRegisteredPubkey(ns[1], address(avs)), pre.getRegisteredPubkey(ns[0], address(avs)));
        vm.expectRevert(AvsServiceBase.NonSignersNotSorted.selector);
        avs.respondToTask(id, _sumResponse(42), rev, revKeys, sig);
        // the right order is accepted
        avs.respondToTask(id, _sumResponse(42), ns, keys2, sig);
    }

    function test_respond_nonSignerNotInSnapshotOrWrongKey() public {
        // an operator that joined after the task cannot be named as a non-signer
        address late = _addOperator(7, 50);
        (address[] memory ns, bytes memory keys, bytes memory sig) = _aggregate(id, 42, _none());
        // _aggregate now includes `late` as a signer; build the list by hand: all of the snapshot sign,
        // and `late` is (falsely) declared a non-signer.
        address[] memory lateList = new address[](1);
        lateList[0] = late;
        bytes memory lateKey = pre.getRegisteredPubkey(late, address(avs));
        vm.expectRevert(abi.encodeWithSelector(AvsServiceBase.NotInSnapshot.selector, late));
        avs.respondToTask(id, _sumResponse(42), lateList, lateKey, sig);
        // a non-signer with someone else's key
        address[] memory one = new address[](1);
        one[0] = ops[0];
        bytes memory wrongKey = pre.getRegisteredPubkey(ops[1], address(avs));
        vm.expectRevert(abi.encodeWithSelector(AvsServiceBase.NonSignerKeyMismatch.selector, ops[0]));
        avs.respondToTask(id, _sumResponse(42), one, wrongKey, sig);
        ns;
        keys;
    }

    function test_respond_lateJoinerSignatureDoesNotCount() public {
        // a task snapshotted with 4 operators; a 5th joins and signs along: the aggregate no longer matches
        _addOperator(7, 1000);
        (address[] memory ns, bytes memory keys, bytes memory sig) = _aggregate(id, 42, _none());
        vm.expectRevert(AvsServiceBase.InvalidAggregateSignature.selector);
        avs.respondToTask(id, _sumResponse(42), ns, keys, sig);
    }

    function test_respond_keylessOperatorCannotHelp() public {
        // an opted-in operator without a key adds stake to the total but can never sign
        _addKeylessOperator(9, 100);
        uint64 id2 = _createTask(1, 1, 51);
        (address[] memory ns, bytes memory keys, bytes memory sig) = _aggregate(id2, 2, _none());
        vm.expectRevert(abi.encodeWithSelector(AvsServiceBase.ThresholdNotMet.selector, 100, 200, 51));
        avs.respondToTask(id2, _sumResponse(2), ns, keys, sig);
    }

    // ---------------------------------------------------------------- slashing and rewards
    function test_settlement_slashesProvenWrongNotAbsent() public {
        // operators 0..2 sign the aggregate; 3 is silent
        (address[] memory ns, bytes memory keys, bytes memory sig) = _aggregate(id, 42, _skip(3));
        avs.respondToTask(id, _sumResponse(42), ns, keys, sig);
        // operator 1 also signed a wrong sum: fraud proof
        bytes memory wrongSig = TestBLS.sign32(_sk(1), avs.messageOf(id, 41));
        avs.proveWrongSum(id, ops[1], 41, wrongSig);
        assertTrue(avs.wrongSumProven(id, ops[1]));
        // a non-proof (a signature over the right sum) is refused
        vm.expectRevert(abi.encodeWithSelector(AvsServiceContract.NotAWrongSum.selector, id, 42));
        avs.proveWrongSum(id, ops[0], 42, wrongSig);
        bytes memory notHers = TestBLS.sign32(_sk(2), avs.messageOf(id, 41));
        vm.expectRevert(abi.encodeWithSelector(AvsServiceBase.InvalidFraudProof.selector, ops[0]));
        avs.proveWrongSum(id, ops[0], 41, notHers);
        // the generic entry point refuses the right sum too
        vm.expectRevert(abi.encodeWithSelector(AvsServiceBase.NotProvablyWrong.selector, id));
        avs.proveWrongResponse(id, ops[0], abi.encode(uint64(42)), wrongSig);

        _warpToEpoch(_epoch() + 1 + RESP + STAT + 1);
        // the nonSigners must be those of the accepted response
        vm.prank(owner, owner);
        vm.expectRevert(abi.encodeWithSelector(AvsServiceBase.NonSignersMismatch.selector, id));
        avs.challenge(id, new address[](0));
        vm.prank(owner, owner);
        avs.challenge(id, ns);

        // rewarded: ops 0 and 2 (stakes 10 + 30 = 40 % < 60 %: the task is not "expected" and no reward is paid)
        TaskInfo memory info = pre.getTaskInfo(address(avs), id);
        assertEq(info.eligibleRewardOperators.length, 2);
        assertEq(info.eligibleSlashOperators.length, 1);
        assertEq(info.eligibleSlashOperators[0], ops[1]);
        assertEq(info.actualThreshold, "40");
        assertFalse(info.isExpected);
        assertEq(pre.rewardOf(address(avs), ops[0]), 0);
        // slashed 20 % of current stake: op1 (20 -> 16) only; the silent op3 keeps its stake
        assertEq(pre.slashedOf(address(avs), ops[1]), 4);
        assertEq(pre.slashedOf(address(avs), ops[3]), 0);
        assertEq(pre.getOperatorOptedUSDValue(address(avs), ops[3]), 40);
    }

    function test_settlement_absenceAloneDoesNotSlash() public {
        (address[] memory ns, bytes memory keys, bytes memory sig) = _aggregate(id, 42, _skip(0));
        avs.respondToTask(id, _sumResponse(42), ns, keys, sig);
        _warpToEpoch(_epoch() + 1 + RESP + STAT + 1);
        vm.prank(owner, owner);
        avs.challenge(id, ns);
        // pool = 100 * 10 % = 10, split 20:30:40 over 90 -> 2, 3, 4 (floor)
        assertEq(pre.rewardOf(address(avs), ops[1]), 2);
        assertEq(pre.rewardOf(address(avs), ops[2]), 3);
        assertEq(pre.rewardOf(address(avs), ops[3]), 4);
        // the absent operator forfeits its reward and nothing else
        assertEq(pre.rewardOf(address(avs), ops[0]), 0);
        assertEq(pre.slashedOf(address(avs), ops[0]), 0);
        assertEq(pre.getTaskInfo(address(avs), id).eligibleSlashOperators.length, 0);
        assertTrue(pre.getTaskInfo(address(avs), id).isExpected);
    }

    function test_settlement_noAggregateNoCommitSlashesNobody() public {
        _warpToEpoch(_epoch() + 1 + RESP + STAT + 1);
        vm.prank(owner, owner);
        avs.challenge(id, new address[](0));
        TaskInfo memory info = pre.getTaskInfo(address(avs), id);
        assertEq(info.eligibleSlashOperators.length, 0);
        assertEq(info.eligibleRewardOperators.length, 0);
    }

    function test_settlement_equivocationSlashes() public {
        // op 2 signs the aggregate (42) and, separately, another response to the same task
        (address[] memory ns, bytes memory keys, bytes memory sig) = _aggregate(id, 42, _none());
        avs.respondToTask(id, _sumResponse(42), ns, keys, sig);
        bytes memory rA = abi.encode(uint64(42));
        bytes memory rB = abi.encode(uint64(7));
        bytes memory sA = TestBLS.sign32(_sk(2), avs.responseMessage(id, rA));
        bytes memory sB = TestBLS.sign32(_sk(2), avs.responseMessage(id, rB));
        // the message convention: the sum's response message is the old abi.encode(taskId, sum) hash
        assertEq(avs.responseMessage(id, rA), keccak256(abi.encode(id, uint64(42))));
        vm.expectRevert(abi.encodeWithSelector(AvsServiceBase.SameResponse.selector, id));
        avs.proveEquivocation(id, ops[2], rA, sA, rA, sA);
        bytes memory other = TestBLS.sign32(_sk(1), avs.responseMessage(id, rB));
        vm.expectRevert(abi.encodeWithSelector(AvsServiceBase.InvalidFraudProof.selector, ops[2]));
        avs.proveEquivocation(id, ops[2], rA, sA, rB, other);
        vm.expectEmit(true, true, false, true, address(avs));
        emit AvsServiceBase.EquivocationProven(id, ops[2], rA, rB);
        avs.proveEquivocation(id, ops[2], rA, sA, rB, sB);

        _warpToEpoch(_epoch() + 1 + RESP + STAT + 1);
        vm.prank(owner, owner);
        avs.challenge(id, ns);
        TaskInfo memory info = pre.getTaskInfo(address(avs), id);
        assertEq(info.eligibleSlashOperators.length, 1);
        assertEq(info.eligibleSlashOperators[0], ops[2]);
        assertEq(pre.slashedOf(address(avs), ops[2]), 6); // 20 % of 30
        // a settled task takes no more proofs
        vm.expectRevert(abi.encodeWithSelector(AvsServiceContract.AlreadySettled.selector, id));
        avs.proveEquivocation(id, ops[1], rA, sA, rB, sB);
    }

    function test_settlement_twoPhaseCommitsCount() public {
        // No aggregate; op 0 commits the right sum in the two-phase flow, op 1 a wrong one.
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
        _warpToEpoch(start + RESP + STAT + 1);
        vm.prank(owner, owner);
        avs.challenge(id, new address[](0));
        TaskInfo memory info = pre.getTaskInfo(address(avs), id);
        assertEq(info.eligibleRewardOperators.length, 1);
        assertEq(info.eligibleRewardOperators[0], ops[0]);
        assertEq(info.eligibleSlashOperators.length, 3);
        assertEq(info.signedOperators.length, 2);
    }

    // ---------------------------------------------------------------- fuzz: the quorum rule
    function testFuzz_quorumRule(uint8 mask, uint8 threshold, uint64 s0, uint64 s1, uint64 s2, uint64 s3) public {
        threshold = uint8(bound(threshold, 1, 100));
        mask = mask & 15;
        vm.assume(mask != 15); // an empty signer set has an infinity aggregate key: covered by unit tests
        (uint256 signed, uint256 total) = _setStakes([s0 % 1e12, s1 % 1e12, s2 % 1e12, s3 % 1e12], mask);
        vm.assume(total > 0);
        uint64 t = _createTask(1, 2, threshold);
        bool expectOk = signed > 0 && signed * 100 >= uint256(threshold) * total;
        _respondExpecting(t, mask, expectOk, abi.encodeWithSelector(AvsServiceBase.ThresholdNotMet.selector, signed, total, threshold));
        (, bool responded,,,,,,,,) = avs.tasks(t);
        assertEq(responded, expectOk);
    }

    function _setStakes(uint64[4] memory st, uint8 mask) internal returns (uint256 signed, uint256 total) {
        for (uint256 i = 0; i < 4; i++) {
            pre.setOperatorStake(address(avs), ops[i], st[i]);
            total += st[i];
            if ((mask >> i) & 1 == 0) signed += st[i];
        }
    }

    function _respondExpecting(uint64 t, uint8 mask, bool ok, bytes memory err) internal {
        bool[] memory skip = _none();
        for (uint256 i = 0; i < 4; i++) skip[i] = (mask >> i) & 1 == 1;
        (address[] memory ns, bytes memory keys, bytes memory sig) = _aggregate(t, 3, skip);
        if (!ok) vm.expectRevert(err);
        avs.respondToTask(t, _sumResponse(3), ns, keys, sig);
    }
}
