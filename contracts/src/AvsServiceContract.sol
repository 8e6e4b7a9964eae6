// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import "./IAVSManager.sol";
import {IAVSManagerExt} from "./IAVSManagerExt.sol";
import {BLS} from "./BLS.sol";
import {Quorum} from "./Quorum.sol";

/// The seed's AVS: operators compute the sum of two integers and BLS-sign
/// keccak256(abi.encode(uint64 taskID, uint64 sum)); an aggregator submits one aggregate signature once the
/// signers hold `thresholdPercentage` of the stake snapshotted at task creation. The AVS is a client of the
/// avs precompile (0x…0901): registration, opt-in, tasks and challenges go through it; the aggregate is
/// verified by the precompile's extension `verifyTaskAggregate` (the emulation's stand-in for what the
/// chain does natively). Every function that names an operator or owner uses msg.sender, which the
/// precompile requires to be tx.origin: call these from EOAs.
///
/// Quorum (integer, no rounding): accept iff signedStake * 100 >= thresholdPercentage * totalStake and
/// signedStake > 0, where totalStake is the stake of all operators opted in at task creation and
/// signedStake the stake of the snapshot's keyed members minus the non-signers'.
///
/// Slashing and rewards (executed by the precompile's `challenge`, with the AVS's proportions), decided
/// here once the statistical window is over, for each operator opted in at task creation:
/// - slashed if it signed a wrong sum (a fraud proof via `proveWrongSum`, or a two-phase commit of a
///   wrong response), or if it neither signed the accepted aggregate nor committed the correct sum in
///   the two-phase flow within the windows;
/// - rewarded otherwise if it signed the accepted aggregate or committed the correct sum.
contract AvsServiceContract {
    IAVSManager internal constant AVS = AVSMANAGER_CONTRACT;
    IAVSManagerExt internal constant EXT = IAVSManagerExt(AVSMANAGER_PRECOMPILE_ADDRESS);

    string public constant TASK_NAME = "sum";

    struct SumTask {
        bool exists;
        bool responded;
        bool settled;
        uint8 thresholdPercentage;
        uint64 a;
        uint64 b;
        uint64 startingEpoch;
        uint64 taskResponsePeriod;
        uint64 taskStatisticalPeriod;
        bytes32 nonSignersHash;
    }

    mapping(uint64 => SumTask) public tasks;
    mapping(uint64 => mapping(address => bool)) public wrongSumProven;

    event NewTaskCreated(
        uint64 indexed taskId,
        uint64 a,
        uint64 b,
        uint8 thresholdPercentage,
        uint64 startingEpoch,
        uint64 taskResponsePeriod,
        uint64 taskChallengePeriod,
        uint64 taskStatisticalPeriod
    );
    event TaskResponded(uint64 indexed taskId, uint64 sum, uint256 signedStake, uint256 totalStake, address[] nonSigners);
    event WrongSumProven(uint64 indexed taskId, address indexed operator, uint64 wrongSum);
    event TaskSettled(uint64 indexed taskId, uint8 actualThreshold, address[] rewarded, address[] slashed);

    error InvalidThreshold(uint8 thresholdPercentage);
    error SumOverflows(uint64 a, uint64 b);
    error TaskUnknown(uint64 taskId);
    error AlreadyResponded(uint64 taskId);
    error ResponseWindowClosed(uint64 taskId, int64 currentEpoch, int64 lastEpoch);
    error WrongSum(uint64 taskId, uint64 claimed, uint64 expected);
    error ThresholdNotMet(uint256 signedStake, uint256 totalStake, uint8 thresholdPercentage);
    error NotAWrongSum(uint64 taskId, uint64 sum);
    error InvalidFraudProof(address operator);
    error AlreadySettled(uint64 taskId);
    error NonSignersMismatch(uint64 taskId);
    // Raised by the precompile's verifyTaskAggregate and bubbled up unchanged; declared here so that they are
    // in this contract's ABI.
    error NonSignersNotSorted();
    error NonSignerKeyMismatch(address operator);
    error NotInSnapshot(address operator);
    error InvalidAggregateSignature();
    error InvalidParams();
    error TaskNotExist();

    // ---------------------------------------------------------------- registration pass-throughs
    /// params.sender must be tx.origin and one of params.avsOwnerAddresses; params.taskAddress is this
    /// contract (0 is filled in).
    function registerAVS(AVSParams calldata params) external returns (bool) {
        return AVS.registerAVS(params);
    }

    function updateAVS(AVSParams calldata params) external returns (bool) {
        return AVS.updateAVS(params);
    }

    function deregisterAVS(string calldata avsName) external returns (bool) {
        return AVS.deregisterAVS(msg.sender, avsName);
    }

    function registerOperatorToAVS() external returns (bool) {
        return AVS.registerOperatorToAVS(msg.sender);
    }

    function deregisterOperatorFromAVS() external returns (bool) {
        return AVS.deregisterOperatorFromAVS(msg.sender);
    }

    /// pubKey: 128-byte EIP-2537 G1; signature: 256-byte EIP-2537 G2 over keccak256 of the registration message.
    function registerBLSPublicKey(bytes calldata pubKey, bytes calldata signature) external returns (bool) {
        return AVS.registerBLSPublicKey(msg.sender, address(this), pubKey, signature);
    }

    // ---------------------------------------------------------------- tasks
    function createNewTask(
        uint64 a,
        uint64 b,
        uint8 thresholdPercentage,
        uint64 taskResponsePeriod,
        uint64 taskChallengePeriod,
        uint64 taskStatisticalPeriod
    ) external returns (uint64 taskId) {
        if (!Quorum.validThreshold(thresholdPercentage)) revert InvalidThreshold(thresholdPercentage);
        if (uint256(a) + uint256(b) > type(uint64).max) revert SumOverflows(a, b);
        taskId = AVS.createTask(
            msg.sender,
            TASK_NAME,
            abi.encode(a, b),
            taskResponsePeriod,
            taskChallengePeriod,
            thresholdPercentage,
            taskStatisticalPeriod
        );
        uint64 startingEpoch = uint64(_epoch()) + 1;
        tasks[taskId] = SumTask({
            exists: true,
            responded: false,
            settled: false,
            thresholdPercentage: thresholdPercentage,
            a: a,
            b: b,
            startingEpoch: startingEpoch,
            taskResponsePeriod: taskResponsePeriod,
            taskStatisticalPeriod: taskStatisticalPeriod,
            nonSignersHash: bytes32(0)
        });
        emit NewTaskCreated(
            taskId, a, b, thresholdPercentage, startingEpoch, taskResponsePeriod, taskChallengePeriod, taskStatisticalPeriod
        );
    }

    /// The aggregator's entry point. nonSigners: strictly ascending addresses of the snapshot's keyed members
    /// that did not sign; nonSignerPubKeys: their 128-byte keys concatenated in that order; signature: the
    /// 256-byte aggregate over keccak256(abi.encode(taskId, sum)). Accepted at most once per task, while
    /// currentEpoch <= startingEpoch + taskResponsePeriod.
    function respondToTask(
        uint64 taskId,
        uint64 sum,
        address[] calldata nonSigners,
        bytes calldata nonSignerPubKeys,
        bytes calldata signature
    ) external {
        uint8 threshold = _checkRespondable(taskId, sum);
        (uint256 signedStake, uint256 totalStake) = EXT.verifyTaskAggregate(
            address(this), taskId, messageOf(taskId, sum), nonSigners, nonSignerPubKeys, signature
        );
        if (!Quorum.reached(signedStake, totalStake, threshold)) {
            revert ThresholdNotMet(signedStake, totalStake, threshold);
        }
        SumTask storage t = tasks[taskId];
        t.responded = true;
        if (nonSigners.length != 0) t.nonSignersHash = _listHash(nonSigners); // none: no 22k SSTORE
        emit TaskResponded(taskId, sum, signedStake, totalStake, nonSigners);
    }

    function _checkRespondable(uint64 taskId, uint64 sum) private view returns (uint8) {
        SumTask storage t = tasks[taskId];
        if (!t.exists) revert TaskUnknown(taskId);
        if (t.responded) revert AlreadyResponded(taskId);
        int64 epoch = _epoch();
        int64 lastEpoch = int64(t.startingEpoch) + int64(t.taskResponsePeriod);
        if (epoch > lastEpoch) revert ResponseWindowClosed(taskId, epoch, lastEpoch);
        uint64 expected = t.a + t.b;
        if (sum != expected) revert WrongSum(taskId, sum, expected);
        return t.thresholdPercentage;
    }

    /// The 32-byte message operators sign for (taskId, sum).
    function messageOf(uint64 taskId, uint64 sum) public pure returns (bytes32) {
        return keccak256(abi.encode(taskId, sum));
    }

    /// Two-phase flow pass-through (phase 1: empty response + signature; phase 2: abi.encode(taskId, sum) +
    /// the same signature).
    function operatorSubmitTask(uint64 taskID, bytes calldata taskResponse, bytes calldata blsSignature, uint8 phase)
        external
        returns (bool)
    {
        return AVS.operatorSubmitTask(msg.sender, taskID, taskResponse, blsSignature, address(this), phase);
    }

    // ---------------------------------------------------------------- slashing and rewards
    /// Fraud proof: `signature` is `operator`'s BLS signature (by its registered key) over a sum other than the
    /// correct one. Anyone may submit it before the task is settled; the operator is slashed at settlement.
    function proveWrongSum(uint64 taskId, address operator, uint64 wrongSum, bytes calldata signature) external {
        SumTask storage t = tasks[taskId];
        if (!t.exists) revert TaskUnknown(taskId);
        if (t.settled) revert AlreadySettled(taskId);
        if (wrongSum == t.a + t.b) revert NotAWrongSum(taskId, wrongSum);
        (uint64 version,,,) = EXT.taskSnapshot(address(this), taskId);
        (bool optedIn,,) = EXT.operatorAt(address(this), operator, version);
        if (!optedIn) revert NotInSnapshot(operator);
        bytes memory key = AVS.getRegisteredPubkey(operator, address(this));
        if (!BLS.verify(key, abi.encodePacked(messageOf(taskId, wrongSum)), signature)) {
            revert InvalidFraudProof(operator);
        }
        if (!wrongSumProven[taskId][operator]) {
            wrongSumProven[taskId][operator] = true;
            emit WrongSumProven(taskId, operator, wrongSum);
        }
    }

    /// Settles a task once its statistical window is over (the precompile enforces the timing and that it
    /// happens once). `nonSigners` must be the list of the accepted response (empty if none was accepted).
    function challenge(uint64 taskId, address[] calldata nonSigners) external returns (bool) {
        SumTask storage t = tasks[taskId];
        if (!t.exists) revert TaskUnknown(taskId);
        if (t.settled) revert AlreadySettled(taskId);
        if ((t.responded ? _listHash(nonSigners) : bytes32(0)) != t.nonSignersHash || (!t.responded && nonSigners.length != 0)) {
            revert NonSignersMismatch(taskId);
        }
        t.settled = true;
        (address[] memory rewarded, address[] memory slashed, uint8 actual) = _judge(taskId, t, nonSigners);
        AVS.challenge(msg.sender, taskId, address(this), actual, actual >= t.thresholdPercentage, rewarded, slashed);
        emit TaskSettled(taskId, actual, rewarded, slashed);
        return true;
    }

    struct Tally {
        address[] rewarded;
        address[] slashed;
        uint256 nr;
        uint256 ns;
        uint256 rewardedStake;
        uint64 version;
        bytes32 correct;
    }

    function _judge(uint64 taskId, SumTask storage t, address[] calldata nonSigners)
        private
        view
        returns (address[] memory rewarded, address[] memory slashed, uint8 actual)
    {
        Tally memory y;
        uint256 totalStake;
        (y.version, totalStake,,) = EXT.taskSnapshot(address(this), taskId);
        address[] memory known = EXT.getKnownOperators(address(this));
        y.rewarded = new address[](known.length);
        y.slashed = new address[](known.length);
        y.correct = keccak256(abi.encode(taskId, t.a + t.b));
        bool responded = t.responded;
        for (uint256 i = 0; i < known.length; i++) {
            _judgeOne(taskId, y, known[i], responded, nonSigners);
        }
        rewarded = y.rewarded;
        slashed = y.slashed;
        uint256 nr = y.nr;
        uint256 ns = y.ns;
        assembly ("memory-safe") {
            mstore(rewarded, nr)
            mstore(slashed, ns)
        }
        actual = totalStake == 0 ? 0 : uint8(y.rewardedStake * 100 / totalStake);
    }

    function _judgeOne(uint64 taskId, Tally memory y, address op, bool responded, address[] calldata nonSigners)
        private
        view
    {
        (bool optedIn, bool keyed, uint256 stake) = EXT.operatorAt(address(this), op, y.version);
        if (!optedIn) return;
        bool signedAggregate = responded && keyed && !_sortedContains(nonSigners, op);
        (bool committed, bool committedCorrect) = _twoPhase(taskId, op, y.correct);
        bool wrong = wrongSumProven[taskId][op] || (committed && !committedCorrect);
        if (wrong || !(signedAggregate || committedCorrect)) {
            y.slashed[y.ns++] = op;
        } else {
            y.rewarded[y.nr++] = op;
            y.rewardedStake += stake;
        }
    }

    function _twoPhase(uint64 taskId, address op, bytes32 correct)
        private
        view
        returns (bool committed, bool committedCorrect)
    {
        TaskResultInfo memory r = AVS.getOperatorTaskResponse(address(this), op, taskId);
        committed = r.phase == 2;
        committedCorrect = committed && keccak256(r.taskResponse) == correct;
    }

    function _listHash(address[] calldata list) private pure returns (bytes32) {
        return list.length == 0 ? bytes32(0) : keccak256(abi.encode(list));
    }

    function _sortedContains(address[] calldata list, address x) private pure returns (bool) {
        uint256 lo = 0;
        uint256 hi = list.length;
        while (lo < hi) {
            uint256 mid = (lo + hi) / 2;
            if (list[mid] == x) return true;
            if (list[mid] < x) lo = mid + 1;
            else hi = mid;
        }
        return false;
    }

    function _epoch() private view returns (int64) {
        return AVS.getCurrentEpoch(AVS.getAVSEpochIdentifier(address(this)));
    }
}
