// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {StdInvariant} from "forge-std/StdInvariant.sol";
import {AvsBase, TestBLS} from "./AvsBase.sol";
import {AvsPrecompile} from "../src/AvsPrecompile.sol";
import {AvsServiceContract} from "../src/AvsServiceContract.sol";
import "../src/IAVSManager.sol";
import {BLS} from "../src/BLS.sol";

library BLSAdd {
    function add(bytes memory a, bytes memory b) internal view returns (bytes memory) {
        return BLS.g1Add(a, b);
    }
}

/// The auditor: keeps its own model of the operator set (opt-in, keys, stakes), snapshots it at each task,
/// and judges every response only by the model. Actors: the AVS owner (tasks), the admin (stakes), the
/// operators (opt in/out), the clock, and an aggregator that is honest or tries one of several cheats.
/// Every call the handler makes must behave as the model says; any mismatch is counted in a ghost counter.
contract AvsHandler is Test {
    AvsPrecompile internal pre;
    AvsServiceContract internal avs;
    address internal owner;
    address[] internal ops; // ascending addresses
    uint256[] internal sks;
    bool[] internal keyed;
    uint64 internal constant RESP = 2;

    // model of the current set
    mapping(uint256 => bool) internal optedIn;
    mapping(uint256 => uint128) internal stake;

    struct Snapshot {
        bool exists;
        uint8 threshold;
        uint64 a;
        uint64 b;
        uint64 startingEpoch;
        bool[] member; // opted in with a key
        bool[] opted;
        uint128[] stake;
        uint256 total;
    }

    mapping(uint64 => Snapshot) internal snaps;
    uint64[] internal taskIds;
    mapping(uint64 => uint256) public acceptedCount;

    // ghost counters
    uint256 public ghostAccepted;
    uint256 public ghostAcceptedWrongly; // accepted although the model says no
    uint256 public ghostRejectedWrongly; // an honest, sufficient, timely, first response was refused
    uint256 public ghostDoubleAccepted;
    uint256 public ghostCheatsTried;

    constructor(AvsPrecompile pre_, AvsServiceContract avs_, address owner_, address[] memory ops_, uint256[] memory sks_, bool[] memory keyed_) {
        pre = pre_;
        avs = avs_;
        owner = owner_;
        ops = ops_;
        sks = sks_;
        keyed = keyed_;
        for (uint256 i = 0; i < ops.length; i++) {
            optedIn[i] = true;
            stake[i] = 100;
        }
    }

    // ---------------------------------------------------------------- actors
    function createTask(uint64 a, uint64 b, uint8 threshold) external {
        a = uint64(bound(a, 0, type(uint32).max));
        b = uint64(bound(b, 0, type(uint32).max));
        threshold = uint8(bound(threshold, 1, 100));
        uint256 total;
        uint256 n;
        for (uint256 i = 0; i < ops.length; i++) {
            if (optedIn[i]) {
                total += stake[i];
                n++;
            }
        }
        if (total == 0 || n == 0) return; // the precompile refuses: not this actor's business
        vm.prank(owner, owner);
        uint64 id = avs.createNewTask(abi.encode(a, b), threshold, RESP, 1, 2);
        Snapshot storage s = snaps[id];
        s.exists = true;
        s.threshold = threshold;
        s.a = a;
        s.b = b;
        s.startingEpoch = uint64(block.timestamp / 60) + 1;
        s.total = total;
        for (uint256 i = 0; i < ops.length; i++) {
            s.opted.push(optedIn[i]);
            s.member.push(optedIn[i] && keyed[i]);
            s.stake.push(stake[i]);
        }
        taskIds.push(id);
    }

    function setStake(uint256 i, uint128 amount) external {
        i = bound(i, 0, ops.length - 1);
        amount = uint128(bound(amount, 1, 1e24));
        pre.setOperatorStake(address(avs), ops[i], amount);
        stake[i] = amount;
    }

    function toggleOptIn(uint256 i) external {
        i = bound(i, 0, ops.length - 1);
        vm.prank(ops[i], ops[i]);
        if (optedIn[i]) avs.deregisterOperatorFromAVS();
        else avs.registerOperatorToAVS();
        optedIn[i] = !optedIn[i];
    }

    function warp(uint256 secs) external {
        secs = bound(secs, 1, 150);
        vm.warp(block.timestamp + secs);
    }

    /// mode 0 honest; 1 wrong sum; 2 a non-signer left out of the list (claimed as signer); 3 an operator that
    /// is not a snapshot member signs and is counted as a signer; 4 the same non-signer listed twice.
    function respond(uint256 taskSeed, uint256 mask, uint256 mode) external {
        if (taskIds.length == 0) return;
        uint64 id = taskIds[bound(taskSeed, 0, taskIds.length - 1)];
        mode = bound(mode, 0, 5);
        Snapshot storage s = snaps[id];
        uint64 sum = s.a + s.b + (mode == 1 ? 1 : 0);
        (bool[] memory signs, uint256 signed) = _signers(s, mask);
        uint256 skSum;
        for (uint256 i = 0; i < ops.length; i++) if (signs[i]) skSum = addmod(skSum, sks[i], TestBLS.R);
        // the non-signer list from the model
        (address[] memory ns, bytes memory keys) = _nonSigners(s, signs);
        if (mode == 2) {
            if (ns.length == 0) return;
            (ns, keys) = _dropFirst(ns, keys);
        } else if (mode == 3) {
            uint256 outsider = type(uint256).max;
            for (uint256 i = 0; i < ops.length; i++) if (!s.member[i] && keyed[i]) outsider = i;
            if (outsider == type(uint256).max) return;
            skSum = addmod(skSum, sks[outsider], TestBLS.R);
        } else if (mode == 4) {
            if (ns.length == 0) return;
            (ns, keys) = _dupFirst(ns, keys);
        } else if (mode == 5) {
            // A key that was never registered (the keyless operator's) signs along, unlisted: it
            // must not count, so the aggregate cannot verify against the snapshot's key.
            uint256 unregistered = type(uint256).max;
            for (uint256 i = 0; i < ops.length; i++) if (!keyed[i]) unregistered = i;
            if (unregistered == type(uint256).max) return;
            skSum = addmod(skSum, sks[unregistered], TestBLS.R);
        }
        if (skSum == 0) return; // nobody signs: nothing to submit
        bytes memory sig = TestBLS.sign32(skSum, avs.messageOf(id, sum));
        bool inWindow = block.timestamp / 60 <= s.startingEpoch + RESP;
        bool shouldAccept = mode == 0 && acceptedCount[id] == 0 && inWindow && signed > 0
            && signed * 100 >= uint256(s.threshold) * s.total;
        if (mode != 0) ghostCheatsTried++;
        try avs.respondToTask(id, abi.encode(sum), ns, keys, sig) {
            ghostAccepted++;
            acceptedCount[id]++;
            if (acceptedCount[id] > 1) ghostDoubleAccepted++;
            if (!shouldAccept) ghostAcceptedWrongly++;
        } catch {
            if (shouldAccept) ghostRejectedWrongly++;
        }
    }

    // ---------------------------------------------------------------- helpers
    function _signers(Snapshot storage s, uint256 mask) internal view returns (bool[] memory signs, uint256 signed) {
        signs = new bool[](ops.length);
        for (uint256 i = 0; i < ops.length; i++) {
            if (s.member[i] && (mask >> i) & 1 == 1) {
                signs[i] = true;
                signed += s.stake[i];
            }
        }
    }

    function _nonSigners(Snapshot storage s, bool[] memory signs) internal view returns (address[] memory ns, bytes memory keys) {
        uint256 n;
        for (uint256 i = 0; i < ops.length; i++) if (s.member[i] && !signs[i]) n++;
        ns = new address[](n);
        n = 0;
        for (uint256 i = 0; i < ops.length; i++) {
            if (s.member[i] && !signs[i]) {
                ns[n++] = ops[i];
                keys = bytes.concat(keys, TestBLS.publicKey(sks[i]));
            }
        }
    }

    function _dropFirst(address[] memory ns, bytes memory keys) internal pure returns (address[] memory out, bytes memory k) {
        out = new address[](ns.length - 1);
        for (uint256 i = 1; i < ns.length; i++) out[i - 1] = ns[i];
        k = new bytes(keys.length - 128);
        for (uint256 i = 128; i < keys.length; i++) k[i - 128] = keys[i];
    }

    function _dupFirst(address[] memory ns, bytes memory keys) internal pure returns (address[] memory out, bytes memory k) {
        out = new address[](ns.length + 1);
        out[0] = ns[0];
        for (uint256 i = 0; i < ns.length; i++) out[i + 1] = ns[i];
        bytes memory first = new bytes(128);
        for (uint256 i = 0; i < 128; i++) first[i] = keys[i];
        k = bytes.concat(first, keys);
    }

    function taskCount() external view returns (uint256) {
        return taskIds.length;
    }

    function taskAt(uint256 k) external view returns (uint64) {
        return taskIds[k];
    }

    /// The model's snapshot of a task: stake of all opted-in operators, stake and key sum of the members.
    function modelSnapshot(uint64 id) external view returns (uint256 opted, uint256 keyedStake, bytes memory apk) {
        Snapshot storage s = snaps[id];
        apk = new bytes(128);
        for (uint256 i = 0; i < ops.length; i++) {
            if (s.opted[i]) opted += s.stake[i];
            if (s.member[i]) {
                keyedStake += s.stake[i];
                apk = BLSAdd.add(apk, TestBLS.publicKey(sks[i]));
            }
        }
    }
}

contract AvsInvariantTest is StdInvariant, AvsBase {
    AvsHandler internal handler;

    function setUp() public override {
        super.setUp();
        uint256 n = 6;
        uint256[] memory sks = new uint256[](n);
        bool[] memory keyedList = new bool[](n);
        address[] memory list = new address[](n);
        for (uint256 i = 0; i < n; i++) {
            if (i == n - 1) {
                // one operator without a BLS key: stake counts in the total, never as a signer
                address k = _opAddr(i);
                vm.startPrank(k, k);
                pre.registerOperator();
                avs.registerOperatorToAVS();
                vm.stopPrank();
                pre.setOperatorStake(address(avs), k, 100);
                list[i] = k;
                sks[i] = _sk(i);
            } else {
                list[i] = _addOperator(i, 100);
                sks[i] = _sk(i);
                keyedList[i] = true;
            }
        }
        handler = new AvsHandler(pre, avs, owner, list, sks, keyedList);
        // the handler is the stake admin's stand-in
        _makeAdmin(address(handler));
        targetContract(address(handler));
    }

    /// The admin is set once by `initialize`; to let the handler act as the admin the slot is rewritten.
    function _makeAdmin(address a) internal {
        // slot 0: bool initialized (byte 0) | address admin (bytes 1..20)
        vm.store(address(pre), bytes32(uint256(0)), bytes32((uint256(uint160(a)) << 8) | 1));
        assertEq(pre.admin(), a);
        assertTrue(pre.initialized());
    }

    /// The handler itself can accept and detect (so the invariants are not vacuous).
    function test_handlerAcceptsHonestAndRefusesCheats() public {
        handler.createTask(1, 2, 50);
        handler.respond(0, type(uint256).max, 0);
        assertEq(handler.ghostAccepted(), 1);
        handler.respond(0, type(uint256).max, 0); // a second response
        handler.createTask(3, 4, 50);
        for (uint256 mode = 1; mode <= 5; mode++) handler.respond(1, 0x0f, mode);
        handler.toggleOptIn(0); // operator 0 leaves: it can now pose as an outsider signer
        handler.createTask(5, 6, 50);
        handler.respond(2, type(uint256).max, 3);
        assertEq(handler.ghostAccepted(), 1);
        assertEq(handler.ghostAcceptedWrongly(), 0);
        assertEq(handler.ghostRejectedWrongly(), 0);
        assertEq(handler.ghostCheatsTried(), 5); // modes 1, 2, 4, 5 on task 2 (no outsider yet) + mode 3 on task 3
    }

    /// The versioned operator set: every task's snapshot (aggregate key, keyed stake, opted-in stake) equals
    /// the model's, whatever opt-ins, opt-outs and stake changes happened after it.
    function invariant_snapshotsMatchModel() public view {
        uint256 n = handler.taskCount();
        for (uint256 k = 0; k < n; k++) {
            uint64 id = handler.taskAt(k);
            (, uint256 opted, uint256 keyedStake, bytes memory apk) = pre.taskSnapshot(address(avs), id);
            (uint256 mOpted, uint256 mKeyed, bytes memory mApk) = handler.modelSnapshot(id);
            assertEq(opted, mOpted, "opted-in stake");
            assertEq(keyedStake, mKeyed, "keyed stake");
            assertEq(apk, mApk, "aggregate key");
        }
    }

    function invariant_neverAcceptedWrongly() public view {
        assertEq(handler.ghostAcceptedWrongly(), 0);
    }

    function invariant_neverTwicePerTask() public view {
        assertEq(handler.ghostDoubleAccepted(), 0);
    }

    function invariant_honestSufficientResponsesAccepted() public view {
        assertEq(handler.ghostRejectedWrongly(), 0);
    }
}
