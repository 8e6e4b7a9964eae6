// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Vm} from "forge-std/Test.sol";
import {AvsBase, TestBLS} from "./AvsBase.sol";
import {AvsServiceContract} from "../src/AvsServiceContract.sol";
import {AvsServiceBase} from "../src/AvsServiceBase.sol";
import {ImuaAvsPrecompile} from "../src/ImuaAvsPrecompile.sol";
import {ImuaPrecompileFront} from "../src/ImuaPrecompileFront.sol";
import {IAVSManagerExt} from "../src/IAVSManagerExt.sol";
import {BlsCompressed} from "../src/BlsCompressed.sol";
import "../src/IAVSManager.sol";

/// Reads what the strict profile stores but no Imua view shows (installed at 0x…0901 for one read only).
contract ImuaProbe is ImuaAvsPrecompile {
    function probe(address a)
        external
        view
        returns (string memory name, uint64 minStake, uint64 reward, uint64 slash, uint256 owners)
    {
        AvsInfo storage i = _avs[a];
        return (i.name, i.minStakeAmount, i.rewardProportion, i.slashProportion, i.owners.length);
    }
}

/// The strict Imua profile: the front at 0x…0901, ImuaAvsPrecompile's runtime at IMPL, the seed's sum AVS
/// on AvsServiceBase, every call as imuachain answers it.
contract ImuaStrictTest is AvsBase {
    address internal constant IMPL = 0x0000000000000000000000000000000000Ab0901; // ImuaPrecompileFront.IMPL
    IAVSManager internal imua = IAVSManager(AVSMANAGER_PRECOMPILE_ADDRESS);
    uint256 internal genesis;

    function setUp() public override {
        vm.warp(1_700_000_000);
        epochId = "devnet-1s";
        _installRegistry();
        genesis = block.timestamp;
        avs = _deploy();
        vm.prank(owner, owner);
        avs.registerAVS(_strictParams(address(avs)));
    }

    function _installRegistry() internal override {
        vm.etch(AVSMANAGER_PRECOMPILE_ADDRESS, type(ImuaPrecompileFront).runtimeCode);
        vm.etch(IMPL, type(ImuaAvsPrecompile).runtimeCode);
        pre.initialize(address(this), CHAIN_ID);
    }

    function _strictParams(address task) internal view returns (AVSParams memory p) {
        p = _params(task);
        p.minStakeAmount = 1;
        p.assetIDs = new string[](1);
        p.assetIDs[0] = "0xeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee_0x65";
    }

    /// Operator i with a 48-byte key and a 96-byte proof of possession.
    function _addStrict(uint256 i, uint128 stake) internal returns (address op) {
        op = _opAddr(i);
        uint256 sk = _sk(i);
        skOf[op] = sk;
        ops.push(op);
        vm.startPrank(op, op);
        pre.registerOperator();
        avs.registerOperatorToAVS();
        avs.registerBLSPublicKey(BlsCompressed.encodeG1(TestBLS.publicKey(sk)), BlsCompressed.encodeG2(_pop(sk, op)));
        vm.stopPrank();
        pre.setOperatorStake(address(avs), op, stake);
    }

    function _sig96(uint256 sk, bytes memory response) internal view returns (bytes memory) {
        return BlsCompressed.encodeG2(TestBLS.sign32(sk, keccak256(response)));
    }

    function _precompileFailed(string memory call) internal pure returns (bytes memory) {
        return abi.encodeWithSignature("PrecompileFailed(string)", call);
    }

    function _probe(address who)
        internal
        returns (string memory name, uint64 minStake, uint64 reward, uint64 slash, uint256 owners)
    {
        vm.etch(AVSMANAGER_PRECOMPILE_ADDRESS, type(ImuaProbe).runtimeCode);
        (name, minStake, reward, slash, owners) = ImuaProbe(AVSMANAGER_PRECOMPILE_ADDRESS).probe(who);
        vm.etch(AVSMANAGER_PRECOMPILE_ADDRESS, type(ImuaPrecompileFront).runtimeCode);
    }

    // ---------------------------------------------------------------- registerAVS
    function test_registerAVS_minStakeZero_isFalse() public {
        AvsServiceContract other = new AvsServiceContract(AVSMANAGER_PRECOMPILE_ADDRESS);
        AVSParams memory p = _strictParams(address(other));
        p.minStakeAmount = 0;
        vm.prank(owner, owner);
        vm.expectRevert(_precompileFailed("registerAVS"));
        other.registerAVS(p);
        // straight to the front: false, nothing stored
        p.sender = address(this); // CheckOriginAndSender: the calling contract may name itself
        p.avsOwnerAddresses[0] = address(this);
        assertFalse(imua.registerAVS(p));
        assertEq(imua.getAVSEpochIdentifier(address(this)), "");
        // empty epoch identifier, unknown asset: false too
        p.minStakeAmount = 1;
        p.epochIdentifier = "";
        assertFalse(imua.registerAVS(p));
        p.epochIdentifier = "minute";
        p.assetIDs[0] = "0x0000000000000000000000000000000000000001_0x65";
        assertFalse(imua.registerAVS(p));
        // sender neither tx.origin nor the caller
        p.assetIDs[0] = "0xdac17f958d2ee523a2206206994597c13d831ec7_0x65";
        p.sender = address(0xBEEF);
        p.avsOwnerAddresses[0] = address(0xBEEF);
        assertFalse(imua.registerAVS(p));
        // a contract registering itself as its own sender and owner succeeds
        p.sender = address(this);
        p.avsOwnerAddresses[0] = address(this);
        assertTrue(imua.registerAVS(p));
        assertEq(imua.getAVSEpochIdentifier(address(this)), "minute");
    }

    /// tx.go RegisterAVS: a sender that is not an owner gets `errorsmod.Wrap(nil, …)` = nil: empty return data.
    function test_registerAVS_notOwner_returnsNoData() public {
        AVSParams memory p = _strictParams(address(this));
        p.sender = address(this); // not in the owners (owner is 0xA11CE)
        (bool ok, bytes memory ret) =
            AVSMANAGER_PRECOMPILE_ADDRESS.call(abi.encodeCall(IAVSManager.registerAVS, (p)));
        assertTrue(ok);
        assertEq(ret.length, 0);
        assertEq(imua.getAVSEpochIdentifier(address(this)), "");
    }

    // ---------------------------------------------------------------- keys
    function test_blsKey_48bytes() public {
        address op = _addStrict(1, 10);
        bytes memory key = imua.getRegisteredPubkey(op, address(avs));
        assertEq(key.length, 48);
        assertEq(key, BlsCompressed.encodeG1(TestBLS.publicKey(_sk(1))));
        // a 128-byte (EIP-2537) key is refused: false through the front, PrecompileFailed through the AVS
        address op2 = _opAddr(2);
        bytes memory pk128 = TestBLS.publicKey(_sk(2));
        bytes memory pop96 = BlsCompressed.encodeG2(_pop(_sk(2), op2));
        vm.startPrank(op2, op2);
        pre.registerOperator();
        vm.expectRevert(_precompileFailed("registerBLSPublicKey"));
        avs.registerBLSPublicKey(pk128, pop96);
        // non-canonical: the 48-byte key without the compressed flag
        bytes memory bad = BlsCompressed.encodeG1(pk128);
        bad[0] = bytes1(uint8(bad[0]) & 0x7f);
        vm.expectRevert(_precompileFailed("registerBLSPublicKey"));
        avs.registerBLSPublicKey(bad, pop96);
        vm.stopPrank();
        assertFalse(imua.registerBLSPublicKey(op2, address(avs), pk128, pop96));
        assertEq(imua.getRegisteredPubkey(op2, address(avs)).length, 0);
        // no origin check: anyone may submit an operator's key with its proof of possession
        assertTrue(imua.registerBLSPublicKey(op2, address(avs), BlsCompressed.encodeG1(pk128), pop96));
        assertEq(imua.getRegisteredPubkey(op2, address(avs)).length, 48);
    }

    // ---------------------------------------------------------------- the extension is not there
    function test_extensionSelectors_NotOnImua() public {
        bytes4[10] memory sels = [
            IAVSManagerExt.verifyTaskAggregate.selector,
            IAVSManagerExt.taskSnapshot.selector,
            IAVSManagerExt.taskOperators.selector,
            IAVSManagerExt.operatorAt.selector,
            IAVSManagerExt.getKnownOperators.selector,
            IAVSManagerExt.epochDuration.selector,
            IAVSManagerExt.rewardOf.selector,
            IAVSManagerExt.slashedOf.selector,
            ImuaAvsPrecompile.isStakingAsset.selector,
            bytes4(keccak256("genesisTime()"))
        ];
        for (uint256 i = 0; i < sels.length; i++) {
            (bool ok, bytes memory ret) = AVSMANAGER_PRECOMPILE_ADDRESS.call(abi.encodePacked(sels[i], new bytes(96)));
            assertFalse(ok);
            assertEq(ret, abi.encodeWithSelector(ImuaPrecompileFront.NotOnImua.selector, sels[i]));
        }
        // the set-up stand-ins pass
        assertEq(pre.admin(), address(this));
        assertEq(pre.chainIdWithoutRevision(), CHAIN_ID);
        assertTrue(pre.initialized());
    }

    // ---------------------------------------------------------------- epochs
    function test_epochCounter_from1() public {
        assertEq(imua.getCurrentEpoch("devnet-1s"), 1);
        assertEq(imua.getCurrentEpoch("minute"), 1);
        vm.warp(genesis + 1);
        assertEq(imua.getCurrentEpoch("devnet-1s"), 1);
        vm.warp(genesis + 2);
        assertEq(imua.getCurrentEpoch("devnet-1s"), 2);
        assertEq(imua.getCurrentEpoch("devnet-2s"), 1);
        vm.warp(genesis + 60);
        assertEq(imua.getCurrentEpoch("minute"), 1);
        vm.warp(genesis + 61);
        assertEq(imua.getCurrentEpoch("minute"), 2);
        assertEq(imua.getCurrentEpoch("devnet-1s"), 61);
        // unknown identifier: avs.go packs int64(0)
        assertEq(imua.getCurrentEpoch("fortnight"), 0);
    }

    // ---------------------------------------------------------------- updateAVS
    function test_updateAVS_merges() public {
        AVSParams memory p = _strictParams(address(avs));
        p.avsName = "";
        p.minStakeAmount = 7;
        p.avsRewardProportion = 0;
        p.avsSlashProportion = 0;
        vm.prank(owner, owner);
        avs.updateAVS(p);
        (string memory name, uint64 minStake, uint64 reward, uint64 slash, uint256 owners) = _probe(address(avs));
        assertEq(name, "sum-avs");
        assertEq(minStake, 7);
        assertEq(reward, 10);
        assertEq(slash, 20);
        assertEq(owners, 1);
        // minStakeAmount 0 is refused on update too (GetAVSParamsFromInputs)
        p.minStakeAmount = 0;
        vm.prank(owner, owner);
        vm.expectRevert(_precompileFailed("updateAVS"));
        avs.updateAVS(p);
    }

    // ---------------------------------------------------------------- failure = false, nothing changed
    function test_failureIsFalse_noStateChange() public {
        address op = _opAddr(1);
        vm.prank(op, op);
        pre.registerOperator();
        vm.startPrank(address(avs)); // the AVS contract calls; no origin check on Imua
        assertTrue(imua.registerOperatorToAVS(op));
        vm.recordLogs();
        assertFalse(imua.registerOperatorToAVS(op));
        assertEq(vm.getRecordedLogs().length, 0);
        vm.stopPrank();
        address[] memory list = imua.getOptInOperators(address(avs));
        assertEq(list.length, 1);
        assertEq(list[0], op);
        // createTask: empty name → the call reverts (single output, Pack(false, 0) fails)
        pre.setOperatorStake(address(avs), op, 5);
        vm.prank(address(avs));
        vm.expectRevert();
        imua.createTask(owner, "", hex"01", 1, 1, 50, 1);
        vm.prank(address(avs));
        assertEq(imua.createTask(owner, "t", hex"01", 1, 1, 50, 1), 1);
        // views fail as avs.go packs them: a task that does not exist reverts
        vm.expectRevert();
        imua.getTaskInfo(address(avs), 99);
    }

    // ---------------------------------------------------------------- the two-phase task, end to end
    address internal a;
    address internal b;
    address internal c;

    function test_twoPhase_endToEnd() public {
        a = _addStrict(1, 10);
        b = _addStrict(2, 20);
        c = _addStrict(3, 30);
        assertEq(imua.getAVSUSDValue(address(avs)), 60e18);
        assertEq(imua.getOperatorOptedUSDValue(address(avs), b), 20e18);
        vm.prank(owner, owner);
        uint64 id = avs.createNewTask(_payload(2, 3), 50, RESP, CHAL, STAT);
        uint64 start = _submitBothPhases(id);
        // past the statistical window
        vm.warp(genesis + start + RESP + STAT + 1);
        _checkStatistics(id);
        _settle(id);
    }

    /// An operator that submitted nothing has no result, and Imua's query for it fails: the settlement
    /// must still run, and slash it as the two-phase rule has it.
    function test_twoPhase_silentOperator_isSlashed_settlementRuns() public {
        a = _addStrict(1, 10);
        b = _addStrict(2, 20);
        c = _addStrict(3, 30);
        vm.prank(owner, owner);
        uint64 id = avs.createNewTask(_payload(2, 3), 50, RESP, CHAL, STAT);
        uint64 start = imua.getTaskInfo(address(avs), id).startingEpoch;
        bytes memory good = abi.encode(id, uint64(5));
        bytes memory sa = _sig96(skOf[a], good);
        bytes memory sb = _sig96(skOf[b], good);
        vm.prank(a, a);
        avs.operatorSubmitTask(id, "", sa, 1);
        vm.prank(b, b);
        avs.operatorSubmitTask(id, "", sb, 1);
        vm.warp(genesis + start + RESP + 1);
        vm.prank(a, a);
        avs.operatorSubmitTask(id, good, sa, 2);
        vm.prank(b, b);
        avs.operatorSubmitTask(id, good, sb, 2);
        vm.warp(genesis + start + RESP + STAT + 1);
        vm.expectRevert();
        imua.getOperatorTaskResponse(address(avs), c, id); // c has no result
        vm.prank(owner, owner);
        avs.updateAVS(_strictParams(address(avs)));
        address[] memory rewarded = new address[](2);
        rewarded[0] = a;
        rewarded[1] = b;
        address[] memory slashed = new address[](1);
        slashed[0] = c;
        vm.expectEmit(true, false, false, true, address(avs));
        emit AvsServiceBase.TaskSettled(id, 50, rewarded, slashed);
        avs.challenge(id, new address[](0));
    }

    function _submitBothPhases(uint64 id) internal returns (uint64 start) {
        TaskInfo memory info = imua.getTaskInfo(address(avs), id);
        start = info.startingEpoch;
        assertEq(start, uint64(imua.getCurrentEpoch(epochId)) + 1);
        assertEq(info.taskTotalPower, "0.000000000000000000");
        bytes memory good = abi.encode(id, uint64(5));
        bytes memory wrong = abi.encode(id, uint64(6));
        bytes memory sa = _sig96(skOf[a], good);
        bytes memory sb = _sig96(skOf[b], good);
        bytes memory sc = _sig96(skOf[c], wrong);
        // phase 1 (prepare) within the response window
        vm.prank(a, a);
        avs.operatorSubmitTask(id, "", sa, 1);
        vm.prank(b, b);
        avs.operatorSubmitTask(id, "", sb, 1);
        vm.prank(c, c);
        avs.operatorSubmitTask(id, "", sc, 1);
        // a commit in the response window is too soon
        vm.prank(a, a);
        vm.expectRevert(_precompileFailed("operatorSubmitTask"));
        avs.operatorSubmitTask(id, good, sa, 2);
        // phase 2 (commit) after it: epoch e is the second genesis + e (devnet-1s)
        vm.warp(genesis + start + RESP + 1);
        assertEq(uint64(imua.getCurrentEpoch(epochId)), start + RESP + 1);
        vm.prank(a, a);
        avs.operatorSubmitTask(id, good, sa, 2);
        vm.prank(b, b);
        avs.operatorSubmitTask(id, good, sb, 2);
        vm.prank(c, c);
        avs.operatorSubmitTask(id, wrong, sc, 2);
        // a commit may be sent again on Imua (overwrite)
        vm.prank(a, a);
        avs.operatorSubmitTask(id, good, sa, 2);
        assertEq(imua.getOperatorTaskResponse(address(avs), a, id).phase, 2);
        assertEq(imua.getOperatorTaskResponseList(address(avs), id).length, 0); // no statistics yet
    }

    function _checkStatistics(uint64 id) internal view {
        TaskInfo memory info = imua.getTaskInfo(address(avs), id);
        assertEq(info.taskTotalPower, "60.000000000000000000");
        assertEq(info.signedOperators.length, 3);
        assertEq(info.operatorActivePower[0].power, 10e18);
        OperatorResInfo[] memory list = imua.getOperatorTaskResponseList(address(avs), id);
        assertEq(list.length, 3);
        assertEq(list[2].power, 30e18);
    }

    function _settle(uint64 id) internal {
        // tx.go compares the stored lower-case AVS address with its EIP-55 form: an AVS that was never
        // updated can challenge only if its EIP-55 form is all lower case.
        string memory hexAddr = vm.toString(address(avs));
        if (keccak256(bytes(hexAddr)) != keccak256(bytes(vm.toLowercase(hexAddr)))) {
            vm.expectRevert(_precompileFailed("challenge"));
            avs.challenge(id, new address[](0));
            vm.prank(owner, owner);
            avs.updateAVS(_strictParams(address(avs))); // stores the EIP-55 form (keeper.go:257)
        }
        address[] memory rewarded = new address[](2);
        rewarded[0] = a;
        rewarded[1] = b;
        address[] memory slashed = new address[](1);
        slashed[0] = c;
        vm.recordLogs();
        vm.expectEmit(true, false, false, true, address(avs));
        emit AvsServiceBase.TaskSettled(id, 50, rewarded, slashed);
        vm.prank(address(0xCAFE)); // anyone may settle; Imua does not check the calling account
        avs.challenge(id, new address[](0));
        // ChallengeInitiated: topic0 only, every argument in data
        Vm.Log[] memory logs = vm.getRecordedLogs();
        uint256 found;
        for (uint256 i = 0; i < logs.length; i++) {
            if (
                logs[i].emitter == AVSMANAGER_PRECOMPILE_ADDRESS
                    && logs[i].topics[0] == IAVSManager.ChallengeInitiated.selector
            ) {
                found++;
                assertEq(logs[i].topics.length, 1);
                _checkChallengeData(logs[i].data, id, rewarded, slashed);
            }
        }
        assertEq(found, 1);
        assertEq(imua.getChallengeInfo(address(avs), id), address(avs));
        TaskInfo memory info = imua.getTaskInfo(address(avs), id);
        assertEq(info.actualThreshold, "50");
        assertEq(info.eligibleSlashOperators, slashed);
        // the verdict is stored only: no stake moves on this profile
        assertEq(imua.getOperatorOptedUSDValue(address(avs), c), 30e18);
    }

    function _checkChallengeData(bytes memory data, uint64 id, address[] memory rewarded, address[] memory slashed)
        internal
        view
    {
        (uint64 tid, address task, address sender, uint8 actual, bool expected, address[] memory r, address[] memory s) =
            abi.decode(data, (uint64, address, address, uint8, bool, address[], address[]));
        assertEq(tid, id);
        assertEq(task, address(avs));
        assertEq(sender, address(avs));
        assertEq(actual, 50);
        assertTrue(expected);
        assertEq(r, rewarded);
        assertEq(s, slashed);
    }

    /// challenge names the AVS, which must own the task; a contract that is no registered AVS is refused.
    function test_challenge_rule() public {
        _addStrict(1, 10);
        vm.prank(owner, owner);
        uint64 id = avs.createNewTask(_payload(1, 1), 50, RESP, CHAL, STAT);
        vm.warp(genesis + 100);
        address[] memory none = new address[](0);
        // not a registered AVS
        assertFalse(imua.challenge(address(0xBEEF), id, address(avs), 0, false, none, none));
        // a registered AVS that does not own the task
        AvsServiceContract other = new AvsServiceContract(AVSMANAGER_PRECOMPILE_ADDRESS);
        vm.prank(owner, owner);
        other.registerAVS(_strictParams(address(other)));
        vm.prank(owner, owner);
        other.updateAVS(_strictParams(address(other)));
        assertFalse(imua.challenge(address(other), id, address(avs), 0, false, none, none));
        // the owner, updated once (EIP-55 stored): accepted from any caller
        vm.prank(owner, owner);
        avs.updateAVS(_strictParams(address(avs)));
        assertTrue(imua.challenge(address(avs), id, address(avs), 0, false, none, none));
        // once only
        assertFalse(imua.challenge(address(avs), id, address(avs), 0, false, none, none));
    }
}
