// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {Vm} from "forge-std/Vm.sol";
// Real BLS signing in forge (EIP-2537 scalar multiplications on known secret keys), from exoavs's own tests.
import {TestBLS} from "exoavs-test/AvsBase.sol";
import {AvsPrecompile} from "exoavs/AvsPrecompile.sol";
import {AvsServiceBase} from "exoavs/AvsServiceBase.sol";
import "exoavs/IAVSManager.sol";
import {OracleService} from "../src/OracleService.sol";

/// OracleService with its rule's hooks exposed, for the fuzz tests.
contract OracleHarness is OracleService {
    constructor(address registry_) OracleService(registry_) {}

    function isProvablyWrong(uint64 taskId, bytes memory response) external pure returns (bool) {
        return _isProvablyWrong(taskId, response);
    }

    function isCorrectCommit(uint64 taskId, bytes memory commit) external pure returns (bool) {
        return _isCorrectCommit(taskId, commit);
    }
}

/// The oracle on the emulated registry (the avs precompile's emulation at 0x…0901, as devnet installs it),
/// with four operators of stakes 10, 20, 30, 40 and genuine BLS signatures.
contract OracleServiceTest is Test {
    AvsPrecompile internal pre = AvsPrecompile(AVSMANAGER_PRECOMPILE_ADDRESS);
    OracleHarness internal avs;
    address internal owner = address(0xA11CE);
    string internal constant CHAIN_ID = "exoavs_31337";
    string internal constant EPOCH_ID = "minute";
    uint64 internal constant RESP = 2;
    uint64 internal constant CHAL = 1;
    uint64 internal constant STAT = 2;

    bytes32 internal constant ETH_USD = bytes32("ETH/USD");
    uint64 internal constant AT = 1_700_000_000;
    /// 3000.12 at 8 decimals: on the tick.
    uint128 internal constant ON_TICK = 3000_12000000;
    /// 3000.12345678: off the tick.
    uint128 internal constant OFF_TICK = 3000_12345678;

    address[] internal ops;
    mapping(address => uint256) internal skOf;
    uint64 internal id;

    function setUp() public {
        vm.warp(1_700_000_000);
        vm.etch(AVSMANAGER_PRECOMPILE_ADDRESS, type(AvsPrecompile).runtimeCode);
        pre.initialize(address(this), CHAIN_ID);
        avs = new OracleHarness(address(pre));
        vm.prank(owner, owner);
        avs.registerAVS(_params(address(avs)));
        for (uint256 i = 0; i < 4; i++) _addOperator(i, uint128(10 * (i + 1)));
        id = _createTask(ETH_USD, AT, 60);
    }

    // ---------------------------------------------------------------- helpers
    function _params(address task) internal view returns (AVSParams memory p) {
        address[] memory owners = new address[](1);
        owners[0] = owner;
        p.sender = owner;
        p.avsName = "oracle-avs";
        p.taskAddress = task;
        p.avsOwnerAddresses = owners;
        p.assetIDs = new string[](0);
        p.whitelistAddresses = new address[](0);
        p.epochIdentifier = EPOCH_ID;
        p.avsRewardProportion = 10;
        p.avsSlashProportion = 20;
    }

    function _sk(uint256 i) internal pure returns (uint256) {
        return uint256(keccak256(abi.encode("exoavs-oracle-sk", i))) % TestBLS.R;
    }

    /// Operator i: the operator module, opt-in, BLS key with its proof of possession, stake.
    function _addOperator(uint256 i, uint128 stake) internal returns (address op) {
        op = address(uint160(0x10000 + i));
        uint256 sk = _sk(i);
        skOf[op] = sk;
        ops.push(op);
        vm.startPrank(op, op);
        pre.registerOperator();
        avs.registerOperatorToAVS();
        bytes memory pop = TestBLS.sign32(sk, keccak256(bytes(pre.registrationMessage(op))));
        avs.registerBLSPublicKey(TestBLS.publicKey(sk), pop);
        vm.stopPrank();
        pre.setOperatorStake(address(avs), op, stake);
    }

    function _payload(bytes32 asset, uint64 timestamp) internal pure returns (bytes memory) {
        return abi.encode(asset, timestamp);
    }

    function _price(uint128 price, uint8 decimals) internal pure returns (bytes memory) {
        return abi.encode(price, decimals);
    }

    function _createTask(bytes32 asset, uint64 timestamp, uint8 threshold) internal returns (uint64 t) {
        vm.prank(owner, owner);
        t = avs.createNewTask(_payload(asset, timestamp), threshold, RESP, CHAL, STAT);
    }

    /// The aggregate of every operator not in `skip` over `response`, with the sorted non-signers and keys.
    function _aggregate(uint64 t, bytes memory response, uint256 skipMask)
        internal
        view
        returns (address[] memory nonSigners, bytes memory keys, bytes memory sig)
    {
        uint256 skSum;
        uint256 n;
        for (uint256 i = 0; i < ops.length; i++) if ((skipMask >> i) & 1 == 1) n++;
        nonSigners = new address[](n);
        n = 0;
        for (uint256 i = 0; i < ops.length; i++) {
            if ((skipMask >> i) & 1 == 1) {
                nonSigners[n++] = ops[i];
                keys = abi.encodePacked(keys, pre.getRegisteredPubkey(ops[i], address(avs)));
            } else {
                skSum = addmod(skSum, skOf[ops[i]], TestBLS.R);
            }
        }
        sig = TestBLS.sign32(skSum, avs.responseMessage(t, response));
    }

    function _epoch() internal view returns (uint256) {
        return block.timestamp / pre.epochDuration(EPOCH_ID);
    }

    function _warpToEpoch(uint256 e) internal {
        vm.warp(e * pre.epochDuration(EPOCH_ID));
    }

    // ---------------------------------------------------------------- task creation
    function test_createNewTask_eventAndViews() public {
        bytes memory payload = _payload(bytes32("BTC/USD"), AT + 60);
        vm.expectEmit(true, false, false, true, address(avs));
        emit AvsServiceBase.TaskCreated(2, payload, 67, uint64(_epoch() + 1), RESP, CHAL, STAT);
        uint64 t = _createTask(bytes32("BTC/USD"), AT + 60, 67);
        assertEq(t, 2);
        (bytes32 asset, uint64 timestamp) = avs.taskPayload(t);
        assertEq(asset, bytes32("BTC/USD"));
        assertEq(timestamp, AT + 60);
        (bool exists, bool responded, bool settled, uint8 thr, uint64 start, uint64 resp, uint64 stat) = avs.taskState(t);
        assertTrue(exists);
        assertFalse(responded);
        assertFalse(settled);
        assertEq(thr, 67);
        assertEq(start, _epoch() + 1);
        assertEq(resp, RESP);
        assertEq(stat, STAT);
        // the precompile records the task under the oracle's name with the payload as its hash
        TaskInfo memory info = pre.getTaskInfo(address(avs), t);
        assertEq(info.name, "oracle");
        assertEq(info.hash, payload);
    }

    function test_createNewTask_rejectsBadPayloads() public {
        vm.startPrank(owner, owner);
        vm.expectRevert(abi.encodeWithSelector(OracleService.BadPayload.selector, 32));
        avs.createNewTask(abi.encode(ETH_USD), 50, RESP, CHAL, STAT);
        vm.expectRevert(abi.encodeWithSelector(OracleService.BadPayload.selector, 65));
        avs.createNewTask(bytes.concat(_payload(ETH_USD, AT), hex"00"), 50, RESP, CHAL, STAT);
        vm.expectRevert(abi.encodeWithSelector(OracleService.BadPayload.selector, 40));
        avs.createNewTask(abi.encodePacked(ETH_USD, AT), 50, RESP, CHAL, STAT);
        vm.expectRevert(OracleService.EmptyAsset.selector);
        avs.createNewTask(_payload(bytes32(0), AT), 50, RESP, CHAL, STAT);
        // a timestamp word with dirty high bytes: abi.decode refuses it
        vm.expectRevert();
        avs.createNewTask(abi.encode(ETH_USD, uint256(type(uint64).max) + 1), 50, RESP, CHAL, STAT);
        vm.stopPrank();
        // none of them created a task
        assertEq(_createTask(ETH_USD, AT, 50), 2);
    }

    // ---------------------------------------------------------------- aggregates
    function test_respond_onTickAccepted() public {
        bytes memory r = _price(ON_TICK, 8);
        (address[] memory ns, bytes memory keys, bytes memory sig) = _aggregate(id, r, 1 << 3); // 60 of 100 sign
        assertEq(avs.priceMessage(id, ON_TICK, 8), avs.responseMessage(id, r));
        vm.expectEmit(true, false, false, true, address(avs));
        emit AvsServiceBase.TaskResponded(id, r, 60, 100, ns);
        avs.respondToTask(id, r, ns, keys, sig);
        (uint128 price, uint8 decimals) = avs.accepted(id);
        assertEq(price, ON_TICK);
        assertEq(decimals, 8);
        (, bool responded,,,,,) = avs.taskState(id);
        assertTrue(responded);
        // once per task
        vm.expectRevert(abi.encodeWithSelector(AvsServiceBase.AlreadyResponded.selector, id));
        avs.respondToTask(id, r, ns, keys, sig);
    }

    function test_respond_refusesResponsesOffTheRule() public {
        _respondExpecting(_price(OFF_TICK, 8), abi.encodeWithSelector(OracleService.OffTick.selector, OFF_TICK));
        _respondExpecting(_price(ON_TICK, 6), abi.encodeWithSelector(OracleService.WrongDecimals.selector, 6));
        _respondExpecting(_price(0, 8), abi.encodeWithSelector(OracleService.ZeroPrice.selector));
        _respondExpecting(bytes.concat(_price(ON_TICK, 8), hex"00"), abi.encodeWithSelector(OracleService.BadResponse.selector, 65));
        _respondExpecting(abi.encode(ON_TICK), abi.encodeWithSelector(OracleService.BadResponse.selector, 32));
        _respondExpecting(abi.encode(ON_TICK, uint256(8) | (1 << 8)), ""); // dirty decimals: abi.decode reverts
        _respondExpecting(abi.encode(uint256(ON_TICK) | (1 << 128), uint8(8)), ""); // dirty price
        (uint128 price,) = avs.accepted(id);
        assertEq(price, 0);
        (, bool responded,,,,,) = avs.taskState(id);
        assertFalse(responded);
    }

    /// A valid aggregate (everyone signs) over `response`, expected to revert with `err` ("" = any revert).
    function _respondExpecting(bytes memory response, bytes memory err) internal {
        (address[] memory ns, bytes memory keys, bytes memory sig) = _aggregate(id, response, 0);
        if (err.length == 0) vm.expectRevert();
        else vm.expectRevert(err);
        avs.respondToTask(id, response, ns, keys, sig);
    }

    function test_respond_belowThreshold() public {
        bytes memory r = _price(ON_TICK, 8);
        (address[] memory ns, bytes memory keys, bytes memory sig) = _aggregate(id, r, (1 << 3) | 1); // 50 < 60
        vm.expectRevert(abi.encodeWithSelector(AvsServiceBase.ThresholdNotMet.selector, 50, 100, 60));
        avs.respondToTask(id, r, ns, keys, sig);
    }

    // ---------------------------------------------------------------- fraud proofs and settlement
    function test_proveWrongResponse_offTickSignatureSlashes() public {
        bytes memory r = _price(ON_TICK, 8);
        (address[] memory ns, bytes memory keys, bytes memory sig) = _aggregate(id, r, 0);
        avs.respondToTask(id, r, ns, keys, sig);
        // operator 1 also signed an off-tick price: that signature alone is the proof
        bytes memory bad = _price(OFF_TICK, 8);
        bytes memory badSig = TestBLS.sign32(_sk(1), avs.responseMessage(id, bad));
        vm.expectEmit(true, true, false, true, address(avs));
        emit AvsServiceBase.WrongResponseProven(id, ops[1], bad);
        avs.proveWrongResponse(id, ops[1], bad, badSig);
        assertTrue(avs.faultProven(id, ops[1]));
        // someone else's signature over it does not prove operator 0's fault
        vm.expectRevert(abi.encodeWithSelector(AvsServiceBase.InvalidFraudProof.selector, ops[0]));
        avs.proveWrongResponse(id, ops[0], bad, badSig);

        _warpToEpoch(_epoch() + 1 + RESP + STAT + 1);
        vm.prank(owner, owner);
        avs.challenge(id, ns);
        TaskInfo memory info = pre.getTaskInfo(address(avs), id);
        assertEq(info.eligibleSlashOperators.length, 1);
        assertEq(info.eligibleSlashOperators[0], ops[1]);
        assertEq(pre.slashedOf(address(avs), ops[1]), 4); // 20 % of 20
        assertEq(info.eligibleRewardOperators.length, 3);
    }

    function test_proveWrongResponse_refusesWhatTheRuleAllows() public {
        // a different price, but on the tick with the right decimals: the chain cannot tell it is wrong
        bytes memory other = _price(2999_99000000, 8);
        bytes memory s = TestBLS.sign32(_sk(2), avs.responseMessage(id, other));
        vm.expectRevert(abi.encodeWithSelector(AvsServiceBase.NotProvablyWrong.selector, id));
        avs.proveWrongResponse(id, ops[2], other, s);
        // a malformed response is no proof either (dirty decimals; wrong length)
        bytes memory dirty = abi.encode(ON_TICK, uint256(8) | (1 << 8));
        s = TestBLS.sign32(_sk(2), avs.responseMessage(id, dirty));
        vm.expectRevert(abi.encodeWithSelector(AvsServiceBase.NotProvablyWrong.selector, id));
        avs.proveWrongResponse(id, ops[2], dirty, s);
        bytes memory short = abi.encodePacked(OFF_TICK, uint8(8));
        s = TestBLS.sign32(_sk(2), avs.responseMessage(id, short));
        vm.expectRevert(abi.encodeWithSelector(AvsServiceBase.NotProvablyWrong.selector, id));
        avs.proveWrongResponse(id, ops[2], short, s);
        assertFalse(avs.faultProven(id, ops[2]));
    }

    function test_twoPhase_commitsJudgedByTheRule() public {
        // no aggregate; op 0 commits an on-tick price, op 1 an off-tick one, ops 2 and 3 nothing
        bytes memory right = abi.encodePacked(bytes32(uint256(id)), _price(ON_TICK, 8));
        bytes memory wrong = abi.encodePacked(bytes32(uint256(id)), _price(OFF_TICK, 8));
        assertEq(right.length, 96);
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
        assertEq(info.eligibleSlashOperators.length, 3); // the wrong commit and the two without a commit
    }

    function test_isCorrectCommit() public view {
        bytes memory r = _price(ON_TICK, 8);
        assertTrue(avs.isCorrectCommit(id, abi.encodePacked(bytes32(uint256(id)), r)));
        assertFalse(avs.isCorrectCommit(id + 1, abi.encodePacked(bytes32(uint256(id)), r))); // another task
        assertFalse(avs.isCorrectCommit(id, abi.encodePacked(bytes32(uint256(id)), _price(OFF_TICK, 8))));
        assertFalse(avs.isCorrectCommit(id, abi.encodePacked(bytes32(uint256(id)), _price(ON_TICK, 18))));
        assertFalse(avs.isCorrectCommit(id, r)); // no task word
        assertFalse(avs.isCorrectCommit(id, abi.encodePacked(bytes32(uint256(id)), r, hex"00")));
        assertFalse(avs.isCorrectCommit(id, abi.encodePacked(bytes32(uint256(id)), abi.encode(ON_TICK, uint256(8) | (1 << 8)))));
    }

    // ---------------------------------------------------------------- fuzz: the rule
    /// Any well-formed (price, decimals) is provably wrong iff it breaks the rule; followsRule and the two-phase
    /// commit check agree with it.
    function testFuzz_isProvablyWrong(uint128 price, uint8 decimals) public view {
        bool follows = decimals == 8 && price != 0 && price % 1_000_000 == 0;
        assertEq(avs.isProvablyWrong(id, _price(price, decimals)), !follows);
        assertEq(avs.followsRule(price, decimals), follows);
        assertEq(avs.isCorrectCommit(id, abi.encodePacked(bytes32(uint256(id)), _price(price, decimals))), follows);
    }

    /// On the tick: price = k * TICK for any k > 0 fitting uint128 is never provably wrong at 8 decimals.
    function testFuzz_onTickNeverProvablyWrong(uint128 k) public view {
        k = uint128(bound(k, 1, type(uint128).max / 1_000_000));
        assertFalse(avs.isProvablyWrong(id, _price(k * 1_000_000, 8)));
    }

    /// Malformed words (dirty high bytes) are never a proof.
    function testFuzz_malformedNeverProvablyWrong(uint256 w0, uint256 w1) public view {
        vm.assume(w0 > type(uint128).max || w1 > type(uint8).max);
        assertFalse(avs.isProvablyWrong(id, abi.encode(w0, w1)));
    }

    function testFuzz_wrongLengthNeverProvablyWrong(bytes memory response) public view {
        vm.assume(response.length != 64);
        assertFalse(avs.isProvablyWrong(id, response));
    }
}
