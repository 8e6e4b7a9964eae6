// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import "./IAVSManager.sol";
import {IAVSManagerExt} from "./IAVSManagerExt.sol";
import {BLS} from "./BLS.sol";
import {Quorum} from "./Quorum.sol";

/// Declared at file level so that a derived contract may re-declare it (Solidity does not resolve an
/// inherited error through the derived contract's name, `Derived.AlreadySettled`).
error AlreadySettled(uint64 taskId);

/// The base an AVS's service contract extends. It owns what every AVS shares: the registration
/// pass-throughs to the operator registry (`registry`: on Imua, and under the Anvil emulation, the avs
/// precompile at 0x…0901; on any other Prague chain an `AvsPrecompile` deployed as an ordinary
/// contract), task creation with an opaque payload, the aggregate
/// response (`_respond`: the BLS and quorum check, done by the precompile's `verifyTaskAggregate`), the
/// two-phase pass-through, the fraud proofs and the settlement (`challenge`). The AVS supplies its rules
/// through the virtual hooks below.
///
/// Every AVS on this base has the same external interface, so that one client drives any of them with the
/// same selectors: `createNewTask(bytes payload, …)` emits `TaskCreated(taskId, payload, …)`, and
/// `respondToTask(taskId, bytes response, …)` emits `TaskResponded(taskId, response, …)`. The payload and the
/// response are the AVS's own ABI encodings, which it checks in `_checkPayload` and `_checkResponse`.
///
/// Message convention (shared with the Rust side, `responseMessage`): the BLS message of a response is
/// keccak256(abi.encodePacked(bytes32(uint256(taskId)), response)), where `response` is the AVS's ABI
/// encoding of its answer.
///
/// Quorum (integer, no rounding): accept iff signedStake * 100 >= thresholdPercentage * totalStake and
/// signedStake > 0, where totalStake is the stake of all operators opted in at task creation and
/// signedStake the stake of the snapshot's keyed members minus the non-signers'.
///
/// Slashing and rewards, aggregated flow (the default rule; a task that received an accepted aggregate).
/// Only provable faults slash:
/// - a signed response that the AVS's rule proves wrong (`proveWrongResponse`, hook `_isProvablyWrong`);
/// - an equivocation: two valid BLS signatures by one operator's registered key over different responses
///   to one task (`proveEquivocation`).
/// Absence alone never slashes: an operator that is not in the aggregate only forfeits that task's reward.
/// An operator opted in at creation that signed the accepted aggregate and has no proven fault is rewarded.
/// An AVS may choose a stricter rule through `_slashAbsent` (for example: slash after K missed tasks in a
/// row); the default never slashes for absence.
///
/// The aggregated rule reads the registry's snapshot (IAVSManagerExt) and no phase-2 commit.
///
/// Two-phase flow (Imua's semantics; a task with no accepted aggregate and at least one phase-2 commit):
/// the precompile's two phases (phase 1: an empty response and the signature; phase 2: the response and the
/// same signature) are the operators' answers. An operator opted in at creation is rewarded if it committed
/// a correct response (`_isCorrectCommit`) in phase 2, and slashed otherwise: a wrong commit, or no commit
/// within the windows, as Imua's statistical rule for this flow has it. Proven faults slash in both flows.
/// A task that received neither an aggregate nor a commit slashes only proven faults and rewards nobody.
/// This rule uses IAVSManager's functions only (Imua has no IAVSManagerExt): the operators come from
/// `getTaskInfo(…).optInOperators` (opted in at creation), the commits from `getOperatorTaskResponse`, and
/// the power behind the actual threshold from the same task's statistics (`operatorActivePower` over
/// `taskTotalPower`): the snapshot stake on the emulation, the power at the epoch end on Imua.
///
/// Failures cannot hide: Imua's precompile does not revert, a failed transaction method returns false and
/// drops its state change. Every call here that returns a bool checks it and reverts
/// `PrecompileFailed(method name)`; a createTask that returns id 0 does too.
///
/// Every function that names an operator or owner uses msg.sender, which the precompile requires to be
/// tx.origin: call these from EOAs. `challenge` names this contract instead (anyone may settle).
abstract contract AvsServiceBase {
    IAVSManager internal immutable AVS;
    IAVSManagerExt internal immutable EXT;

    /// `registry_`: the avs precompile's address (AVSMANAGER_PRECOMPILE_ADDRESS) on Imua and under the
    /// emulation, or the address of a registry deployed as an ordinary contract.
    constructor(address registry_) {
        AVS = IAVSManager(registry_);
        EXT = IAVSManagerExt(registry_);
    }

    /// Where this AVS's operators, keys and snapshots live (the roles read it from here).
    function registry() external view returns (address) {
        return address(AVS);
    }

    /// What the base keeps per task, packed in one slot (4 + 3 × 8 = 28 bytes), plus the non-signers' hash
    /// (written only when there are non-signers).
    struct TaskCore {
        bool exists;
        bool responded;
        bool settled;
        uint8 thresholdPercentage;
        uint64 startingEpoch;
        uint64 taskResponsePeriod;
        uint64 taskStatisticalPeriod;
    }

    mapping(uint64 => TaskCore) internal _tasks;
    mapping(uint64 => bytes32) internal _nonSignersHash;
    mapping(uint64 => mapping(address => bool)) public faultProven;

    /// The creation event of every AVS on this base (`createNewTask`): `payload` is the AVS's ABI bytes exactly
    /// as the creator sent them (and as the precompile stores them as the task's hash).
    event TaskCreated(
        uint64 indexed taskId,
        bytes payload,
        uint8 thresholdPercentage,
        uint64 startingEpoch,
        uint64 taskResponsePeriod,
        uint64 taskChallengePeriod,
        uint64 taskStatisticalPeriod
    );
    /// The acceptance event of every AVS on this base (`respondToTask`): `response` is the AVS's ABI bytes the
    /// aggregate signs (see `responseMessage`).
    event TaskResponded(
        uint64 indexed taskId, bytes response, uint256 signedStake, uint256 totalStake, address[] nonSigners
    );
    event WrongResponseProven(uint64 indexed taskId, address indexed operator, bytes response);
    event EquivocationProven(uint64 indexed taskId, address indexed operator, bytes responseA, bytes responseB);
    event TaskSettled(uint64 indexed taskId, uint8 actualThreshold, address[] rewarded, address[] slashed);

    error InvalidThreshold(uint8 thresholdPercentage);
    error TaskUnknown(uint64 taskId);
    error AlreadyResponded(uint64 taskId);
    error ResponseWindowClosed(uint64 taskId, int64 currentEpoch, int64 lastEpoch);
    error ThresholdNotMet(uint256 signedStake, uint256 totalStake, uint8 thresholdPercentage);
    error InvalidFraudProof(address operator);
    error NotProvablyWrong(uint64 taskId);
    error SameResponse(uint64 taskId);
    error NonSignersMismatch(uint64 taskId);
    // Raised by the precompile's verifyTaskAggregate and bubbled up unchanged; declared here so that they are
    // in the contract's ABI.
    error NonSignersNotSorted();
    error NonSignerKeyMismatch(address operator);
    error NotInSnapshot(address operator);
    error InvalidAggregateSignature();
    error InvalidParams();
    error TaskNotExist();
    /// The registry returned false for `call` (its method's name): on Imua a failed precompile call does not
    /// revert, it returns false and drops the state change.
    error PrecompileFailed(string call);

    // ---------------------------------------------------------------- hooks (the AVS's rules)
    /// The name the precompile records for the AVS's tasks.
    function _taskName() internal view virtual returns (string memory);

    /// Validity of a task's payload (the AVS's ABI bytes) at `createNewTask`; revert (with the AVS's own
    /// error) to refuse it. Default: every payload is accepted.
    function _checkPayload(bytes calldata payload) internal view virtual {
        payload;
    }

    /// Called by `createNewTask` once the task exists (after `_checkPayload` and the precompile's createTask),
    /// before `TaskCreated` is emitted: an AVS keeps what it needs of the payload here. Default: nothing.
    function _onTaskCreated(uint64 taskId, bytes calldata payload) internal virtual {
        taskId;
        payload;
    }

    /// Validity of a response submitted as an aggregate; revert (with the AVS's own error) to refuse it.
    function _checkResponse(uint64 taskId, bytes memory response) internal view virtual;

    /// Called by `respondToTask` once the aggregate is accepted (after `_respond`), before `TaskResponded` is
    /// emitted: an AVS keeps the accepted answer here if it serves it on chain. Default: nothing.
    function _onResponded(uint64 taskId, bytes calldata response) internal virtual {
        taskId;
        response;
    }

    /// The fraud proof: true iff `response` is provably wrong for the task. Default: no response is.
    function _isProvablyWrong(uint64 taskId, bytes memory response) internal view virtual returns (bool) {
        taskId;
        response;
        return false;
    }

    /// Two-phase flow: true iff the phase-2 commit `response` is correct.
    function _isCorrectCommit(uint64 taskId, bytes memory response) internal view virtual returns (bool);

    /// The absence rule: called at settlement for each operator opted in at creation and without a proven
    /// fault, with `present` = it signed the accepted aggregate (or committed correctly). Returning true
    /// slashes it. Default: absence never slashes. It may keep state (e.g. a count of missed tasks).
    function _slashAbsent(uint64 taskId, address operator, bool present) internal virtual returns (bool) {
        taskId;
        operator;
        present;
        return false;
    }

    // ---------------------------------------------------------------- registration pass-throughs
    /// params.sender must be tx.origin and one of params.avsOwnerAddresses; params.taskAddress is this
    /// contract (0 is filled in).
    // Each pass-through checks the registry's bool: Imua's precompile does not revert on failure, it returns
    // false and drops the state change. They return true (kept in the ABI) or revert PrecompileFailed(method).
    function registerAVS(AVSParams calldata params) external returns (bool) {
        if (!AVS.registerAVS(params)) revert PrecompileFailed("registerAVS");
        return true;
    }

    function updateAVS(AVSParams calldata params) external returns (bool) {
        if (!AVS.updateAVS(params)) revert PrecompileFailed("updateAVS");
        return true;
    }

    function deregisterAVS(string calldata avsName) external returns (bool) {
        if (!AVS.deregisterAVS(msg.sender, avsName)) revert PrecompileFailed("deregisterAVS");
        return true;
    }

    function registerOperatorToAVS() external returns (bool) {
        if (!AVS.registerOperatorToAVS(msg.sender)) revert PrecompileFailed("registerOperatorToAVS");
        return true;
    }

    function deregisterOperatorFromAVS() external returns (bool) {
        if (!AVS.deregisterOperatorFromAVS(msg.sender)) revert PrecompileFailed("deregisterOperatorFromAVS");
        return true;
    }

    /// pubKey: 128-byte EIP-2537 G1; signature: 256-byte EIP-2537 G2 over keccak256 of the registration message.
    function registerBLSPublicKey(bytes calldata pubKey, bytes calldata signature) external returns (bool) {
        if (!AVS.registerBLSPublicKey(msg.sender, address(this), pubKey, signature)) {
            revert PrecompileFailed("registerBLSPublicKey");
        }
        return true;
    }

    // ---------------------------------------------------------------- tasks: the shared entry points
    /// The one task-creation entry point of every AVS on this base (AVS owners only, as the precompile checks:
    /// msg.sender must be tx.origin and an owner). `payload` is the AVS's ABI encoding of the task's input; the
    /// AVS refuses a malformed one in `_checkPayload`. 1 <= thresholdPercentage <= 100. Task ids start at 1 per
    /// AVS contract. Emits `TaskCreated` with the payload bytes as sent.
    function createNewTask(
        bytes calldata payload,
        uint8 thresholdPercentage,
        uint64 taskResponsePeriod,
        uint64 taskChallengePeriod,
        uint64 taskStatisticalPeriod
    ) external returns (uint64 taskId) {
        _checkPayload(payload);
        uint64 startingEpoch;
        (taskId, startingEpoch) =
            _createTask(payload, thresholdPercentage, taskResponsePeriod, taskChallengePeriod, taskStatisticalPeriod);
        _onTaskCreated(taskId, payload);
        emit TaskCreated(
            taskId, payload, thresholdPercentage, startingEpoch, taskResponsePeriod, taskChallengePeriod, taskStatisticalPeriod
        );
    }

    /// The one aggregate-response entry point of every AVS on this base (the aggregator's; anyone may call it).
    /// `response` is the AVS's ABI encoding of the answer, refused by the AVS's `_checkResponse` if it is not
    /// acceptable; the aggregate is over responseMessage(taskId, response). See `_respond` for the non-signer
    /// list, the window and the quorum. Then `_onResponded`; emits `TaskResponded`.
    function respondToTask(
        uint64 taskId,
        bytes calldata response,
        address[] calldata nonSigners,
        bytes calldata nonSignerPubKeys,
        bytes calldata signature
    ) external {
        (uint256 signedStake, uint256 totalStake) = _respond(taskId, response, nonSigners, nonSignerPubKeys, signature);
        _onResponded(taskId, response);
        emit TaskResponded(taskId, response, signedStake, totalStake, nonSigners);
    }

    // ---------------------------------------------------------------- tasks: the internals
    /// Creates a task whose payload (the AVS's ABI bytes) the precompile stores; returns its id and the
    /// epoch its response window starts in.
    function _createTask(
        bytes memory payload,
        uint8 thresholdPercentage,
        uint64 taskResponsePeriod,
        uint64 taskChallengePeriod,
        uint64 taskStatisticalPeriod
    ) internal returns (uint64 taskId, uint64 startingEpoch) {
        if (!Quorum.validThreshold(thresholdPercentage)) revert InvalidThreshold(thresholdPercentage);
        taskId = AVS.createTask(
            msg.sender,
            _taskName(),
            payload,
            taskResponsePeriod,
            taskChallengePeriod,
            thresholdPercentage,
            taskStatisticalPeriod
        );
        if (taskId == 0) revert PrecompileFailed("createTask"); // Imua's failure value: ids start at 1
        startingEpoch = uint64(_epoch()) + 1;
        _tasks[taskId] = TaskCore({
            exists: true,
            responded: false,
            settled: false,
            thresholdPercentage: thresholdPercentage,
            startingEpoch: startingEpoch,
            taskResponsePeriod: taskResponsePeriod,
            taskStatisticalPeriod: taskStatisticalPeriod
        });
    }

    /// The aggregate response. nonSigners: strictly ascending addresses of the snapshot's keyed members that
    /// did not sign; nonSignerPubKeys: their 128-byte keys concatenated in that order; signature: the
    /// 256-byte aggregate over responseMessage(taskId, response). Accepted at most once per task, while
    /// currentEpoch <= startingEpoch + taskResponsePeriod. Returns the stakes for `TaskResponded`.
    function _respond(
        uint64 taskId,
        bytes memory response,
        address[] calldata nonSigners,
        bytes calldata nonSignerPubKeys,
        bytes calldata signature
    ) internal returns (uint256 signedStake, uint256 totalStake) {
        uint8 threshold = _checkRespondable(taskId);
        _checkResponse(taskId, response);
        (signedStake, totalStake) = EXT.verifyTaskAggregate(
            address(this), taskId, responseMessage(taskId, response), nonSigners, nonSignerPubKeys, signature
        );
        if (!Quorum.reached(signedStake, totalStake, threshold)) {
            revert ThresholdNotMet(signedStake, totalStake, threshold);
        }
        _tasks[taskId].responded = true;
        if (nonSigners.length != 0) _nonSignersHash[taskId] = _listHash(nonSigners); // none: no 22k SSTORE
    }

    function _checkRespondable(uint64 taskId) private view returns (uint8) {
        TaskCore storage t = _tasks[taskId];
        if (!t.exists) revert TaskUnknown(taskId);
        if (t.responded) revert AlreadyResponded(taskId);
        int64 epoch = _epoch();
        int64 lastEpoch = int64(t.startingEpoch) + int64(t.taskResponsePeriod);
        if (epoch > lastEpoch) revert ResponseWindowClosed(taskId, epoch, lastEpoch);
        return t.thresholdPercentage;
    }

    /// What the base records of a task, for every AVS alike (the roles read this, not an AVS's own view).
    function taskState(uint64 taskId)
        external
        view
        returns (
            bool exists,
            bool responded,
            bool settled,
            uint8 thresholdPercentage,
            uint64 startingEpoch,
            uint64 taskResponsePeriod,
            uint64 taskStatisticalPeriod
        )
    {
        TaskCore storage t = _tasks[taskId];
        return (
            t.exists,
            t.responded,
            t.settled,
            t.thresholdPercentage,
            t.startingEpoch,
            t.taskResponsePeriod,
            t.taskStatisticalPeriod
        );
    }

    /// The 32-byte message operators sign for `response` to `taskId`.
    function responseMessage(uint64 taskId, bytes memory response) public pure returns (bytes32) {
        return keccak256(abi.encodePacked(bytes32(uint256(taskId)), response));
    }

    /// Two-phase flow pass-through (phase 1: empty response + signature; phase 2: the response + the same
    /// signature).
    function operatorSubmitTask(uint64 taskID, bytes calldata taskResponse, bytes calldata blsSignature, uint8 phase)
        external
        returns (bool)
    {
        if (!AVS.operatorSubmitTask(msg.sender, taskID, taskResponse, blsSignature, address(this), phase)) {
            revert PrecompileFailed("operatorSubmitTask");
        }
        return true;
    }

    // ---------------------------------------------------------------- fraud proofs
    /// `signature` is `operator`'s BLS signature (by its registered key) over a response that the AVS's rule
    /// proves wrong. Anyone may submit it before the task is settled; the operator is slashed at settlement.
    function proveWrongResponse(uint64 taskId, address operator, bytes calldata response, bytes calldata signature)
        external
    {
        _proveWrong(taskId, operator, response, signature);
    }

    function _proveWrong(uint64 taskId, address operator, bytes memory response, bytes memory signature)
        internal
        returns (bool fresh)
    {
        bytes memory key = _openForProof(taskId, operator);
        if (!_isProvablyWrong(taskId, response)) revert NotProvablyWrong(taskId);
        if (!BLS.verify(key, abi.encodePacked(responseMessage(taskId, response)), signature)) {
            revert InvalidFraudProof(operator);
        }
        fresh = !faultProven[taskId][operator];
        if (fresh) {
            faultProven[taskId][operator] = true;
            emit WrongResponseProven(taskId, operator, response);
        }
    }

    /// Equivocation: two valid signatures by `operator`'s registered key over two different responses to one
    /// task. Anyone may submit it before the task is settled; the operator is slashed at settlement.
    function proveEquivocation(
        uint64 taskId,
        address operator,
        bytes calldata responseA,
        bytes calldata signatureA,
        bytes calldata responseB,
        bytes calldata signatureB
    ) external {
        bytes memory key = _openForProof(taskId, operator);
        if (keccak256(responseA) == keccak256(responseB)) revert SameResponse(taskId);
        if (
            !BLS.verify(key, abi.encodePacked(responseMessage(taskId, responseA)), signatureA)
                || !BLS.verify(key, abi.encodePacked(responseMessage(taskId, responseB)), signatureB)
        ) revert InvalidFraudProof(operator);
        if (!faultProven[taskId][operator]) {
            faultProven[taskId][operator] = true;
            emit EquivocationProven(taskId, operator, responseA, responseB);
        }
    }

    /// The checks every proof shares: the task exists and is unsettled, the operator was opted in at its
    /// creation; returns the operator's registered key.
    function _openForProof(uint64 taskId, address operator) private view returns (bytes memory) {
        TaskCore storage t = _tasks[taskId];
        if (!t.exists) revert TaskUnknown(taskId);
        if (t.settled) revert AlreadySettled(taskId);
        (uint64 version,,,) = EXT.taskSnapshot(address(this), taskId);
        (bool optedIn,,) = EXT.operatorAt(address(this), operator, version);
        if (!optedIn) revert NotInSnapshot(operator);
        return AVS.getRegisteredPubkey(operator, address(this));
    }

    // ---------------------------------------------------------------- settlement
    /// Settles a task once its statistical window is over (the precompile enforces the timing and that it
    /// happens once). `nonSigners` must be the list of the accepted response (empty if none was accepted).
    /// Anyone may call it; the precompile's challenge is called with this contract as its first argument (on
    /// Imua the registered AVS that owns the task).
    function challenge(uint64 taskId, address[] calldata nonSigners) external returns (bool) {
        TaskCore storage t = _tasks[taskId];
        if (!t.exists) revert TaskUnknown(taskId);
        if (t.settled) revert AlreadySettled(taskId);
        bool responded = t.responded;
        if ((responded ? _listHash(nonSigners) : bytes32(0)) != _nonSignersHash[taskId] || (!responded && nonSigners.length != 0)) {
            revert NonSignersMismatch(taskId);
        }
        t.settled = true;
        (address[] memory rewarded, address[] memory slashed, uint8 actual) =
            responded ? _judgeAggregated(taskId, nonSigners) : _judgeTwoPhase(taskId);
        if (!AVS.challenge(address(this), taskId, address(this), actual, actual >= t.thresholdPercentage, rewarded, slashed)) {
            revert PrecompileFailed("challenge");
        }
        emit TaskSettled(taskId, actual, rewarded, slashed);
        return true;
    }

    struct Tally {
        address[] rewarded;
        address[] slashed;
        uint256 nr;
        uint256 ns;
        uint256 rewardedStake;
        bool twoPhase;
    }

    struct Seen {
        address op;
        uint256 stake;
        bool committed;
        bool committedCorrect;
        bool signedAggregate;
    }

    /// A task with an accepted aggregate, judged on the registry's snapshot (IAVSManagerExt: the operator-set
    /// version, its total stake, and each known operator's state at that version). Phase-2 commits are not
    /// read (a registry without the two-phase flow has none).
    function _judgeAggregated(uint64 taskId, address[] calldata nonSigners)
        private
        returns (address[] memory, address[] memory, uint8)
    {
        (uint64 version, uint256 totalStake,,) = EXT.taskSnapshot(address(this), taskId);
        address[] memory known = EXT.getKnownOperators(address(this));
        Tally memory y = _tally(known.length);
        Seen memory s;
        for (uint256 i = 0; i < known.length; i++) {
            (bool optedIn, bool keyed, uint256 stake) = EXT.operatorAt(address(this), known[i], version);
            if (!optedIn) continue;
            s.op = known[i];
            s.stake = stake;
            s.signedAggregate = keyed && !_sortedContains(nonSigners, known[i]);
            _judgeOne(taskId, y, s);
        }
        return _result(y, totalStake);
    }

    /// A task without an accepted aggregate, judged with IAVSManager's functions only (Imua has no
    /// IAVSManagerExt): the operators opted in at creation (`getTaskInfo(…).optInOperators`), each one's
    /// phase-2 commit (`getOperatorTaskResponse`; Imua's query fails for an operator without a result, which
    /// counts as no commit) and, for the actual threshold, the power the chain's own statistics gave the task
    /// (`getTaskInfo(…).operatorActivePower` of the committers over `taskTotalPower`): the emulation's
    /// snapshot stake, Imua's power at the epoch end. A decimal `taskTotalPower` ("60.000000000000000000",
    /// LegacyDec) is read with its fraction digits, in the same unit as Imua's powers (× 10^18).
    function _judgeTwoPhase(uint64 taskId) private returns (address[] memory, address[] memory, uint8) {
        TaskInfo memory info = AVS.getTaskInfo(address(this), taskId);
        address[] memory ops = info.optInOperators;
        Tally memory y = _tally(ops.length);
        Seen[] memory seen = new Seen[](ops.length);
        for (uint256 i = 0; i < ops.length; i++) {
            Seen memory s = seen[i];
            s.op = ops[i];
            try AVS.getOperatorTaskResponse(address(this), ops[i], taskId) returns (TaskResultInfo memory r) {
                s.committed = r.phase == 2;
                s.committedCorrect = s.committed && _isCorrectCommit(taskId, r.taskResponse);
                if (s.committed) y.twoPhase = true;
            } catch {}
        }
        // Without a commit nobody is rewarded and the actual threshold is 0: no power to read.
        uint256 totalStake = y.twoPhase ? _decimalUnits(info.taskTotalPower) : 0;
        for (uint256 i = 0; i < ops.length; i++) {
            if (y.twoPhase) seen[i].stake = _powerOf(info.operatorActivePower, ops[i]);
            _judgeOne(taskId, y, seen[i]);
        }
        return _result(y, totalStake);
    }

    function _powerOf(OperatorActivePower[] memory powers, address op) private pure returns (uint256) {
        for (uint256 i = 0; i < powers.length; i++) {
            if (powers[i].operator == op) return powers[i].power;
        }
        return 0;
    }

    /// The digits of a decimal string as one integer, its point ignored ("60.5" → 605, "60" → 60); 0 for ""
    /// or anything that is not a decimal.
    function _decimalUnits(string memory d) private pure returns (uint256 v) {
        bytes memory b = bytes(d);
        for (uint256 i = 0; i < b.length; i++) {
            bytes1 c = b[i];
            if (c == ".") continue;
            if (c < "0" || c > "9") return 0;
            v = v * 10 + (uint8(c) - 48);
        }
    }

    function _tally(uint256 n) private pure returns (Tally memory y) {
        y.rewarded = new address[](n);
        y.slashed = new address[](n);
    }

    function _result(Tally memory y, uint256 totalStake)
        private
        pure
        returns (address[] memory rewarded, address[] memory slashed, uint8 actual)
    {
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

    function _judgeOne(uint64 taskId, Tally memory y, Seen memory s) private {
        bool present = s.signedAggregate || s.committedCorrect;
        bool wrong = faultProven[taskId][s.op] || (s.committed && !s.committedCorrect);
        // Two-phase flow (Imua's semantics): no correct commit is slashed. Aggregated flow: absence is
        // slashed only if the AVS's stricter rule says so.
        bool absentSlashed = y.twoPhase ? !present : _slashAbsent(taskId, s.op, present);
        if (wrong || absentSlashed) {
            y.slashed[y.ns++] = s.op;
        } else if (present) {
            y.rewarded[y.nr++] = s.op;
            y.rewardedStake += s.stake;
        }
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

    function _epoch() internal view returns (int64) {
        return AVS.getCurrentEpoch(AVS.getAVSEpochIdentifier(address(this)));
    }
}
