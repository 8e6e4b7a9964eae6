// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AvsServiceBase} from "./AvsServiceBase.sol";

/// The seed's AVS, a thin contract on `AvsServiceBase`: operators compute the sum of two integers.
/// Payload: abi.encode(uint64 a, uint64 b). Response: abi.encode(uint64 sum), so the signed message
/// keccak256(abi.encodePacked(bytes32(uint256(taskId)), abi.encode(sum))) is byte-identical to
/// keccak256(abi.encode(uint64 taskId, uint64 sum)) (`messageOf`). An aggregate over any other sum than
/// a + b is refused (`WrongSum`); a single operator's signature over a wrong sum is the sum's fraud proof
/// (`proveWrongSum`, or the generic `proveWrongResponse`). Slashing and rewards follow the base's default
/// rule (see `AvsServiceBase`): only proven faults slash; absence forfeits the reward. The two-phase flow's
/// commit is abi.encode(uint64 taskId, uint64 sum), as before.
contract AvsServiceContract is AvsServiceBase {
    string public constant TASK_NAME = "sum";

    struct SumInputs {
        uint64 a;
        uint64 b;
    }

    mapping(uint64 => SumInputs) internal _inputs;

    constructor(address registry_) AvsServiceBase(registry_) {}

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

    error SumOverflows(uint64 a, uint64 b);
    error WrongSum(uint64 taskId, uint64 claimed, uint64 expected);
    error NotAWrongSum(uint64 taskId, uint64 sum);
    // The base's file-level error, named again here for tests and callers that spell it
    // `AvsServiceContract.AlreadySettled` (same selector).
    error AlreadySettled(uint64 taskId);

    // ---------------------------------------------------------------- hooks
    function _taskName() internal pure override returns (string memory) {
        return TASK_NAME;
    }

    function _checkResponse(uint64 taskId, bytes memory response) internal view override {
        uint64 sum = abi.decode(response, (uint64));
        uint64 expected = _expected(taskId);
        if (sum != expected) revert WrongSum(taskId, sum, expected);
    }

    /// A response is provably wrong iff it is a well-formed sum other than a + b (a malformed one is not a
    /// sum an honest-looking operator signed; abi.decode of it reverts).
    function _isProvablyWrong(uint64 taskId, bytes memory response) internal view override returns (bool) {
        if (response.length != 32) return false;
        uint256 word = abi.decode(response, (uint256));
        return word > type(uint64).max || uint64(word) != _expected(taskId);
    }

    function _isCorrectCommit(uint64 taskId, bytes memory response) internal view override returns (bool) {
        return keccak256(response) == keccak256(abi.encode(taskId, _expected(taskId)));
    }

    function _expected(uint64 taskId) private view returns (uint64) {
        SumInputs storage i = _inputs[taskId];
        return i.a + i.b;
    }

    // ---------------------------------------------------------------- the sum's entry points
    function createNewTask(
        uint64 a,
        uint64 b,
        uint8 thresholdPercentage,
        uint64 taskResponsePeriod,
        uint64 taskChallengePeriod,
        uint64 taskStatisticalPeriod
    ) external returns (uint64 taskId) {
        if (uint256(a) + uint256(b) > type(uint64).max) revert SumOverflows(a, b);
        uint64 startingEpoch;
        (taskId, startingEpoch) = _createTask(
            abi.encode(a, b), thresholdPercentage, taskResponsePeriod, taskChallengePeriod, taskStatisticalPeriod
        );
        _inputs[taskId] = SumInputs(a, b);
        emit NewTaskCreated(
            taskId, a, b, thresholdPercentage, startingEpoch, taskResponsePeriod, taskChallengePeriod, taskStatisticalPeriod
        );
    }

    /// The aggregator's entry point (see `AvsServiceBase._respond`); the aggregate is over messageOf(taskId, sum).
    function respondToTask(
        uint64 taskId,
        uint64 sum,
        address[] calldata nonSigners,
        bytes calldata nonSignerPubKeys,
        bytes calldata signature
    ) external {
        (uint256 signedStake, uint256 totalStake) =
            _respond(taskId, abi.encode(sum), nonSigners, nonSignerPubKeys, signature);
        emit TaskResponded(taskId, sum, signedStake, totalStake, nonSigners);
    }

    /// The 32-byte message operators sign for (taskId, sum): keccak256(abi.encode(uint64 taskId, uint64 sum)).
    function messageOf(uint64 taskId, uint64 sum) public pure returns (bytes32) {
        return responseMessage(taskId, abi.encode(sum));
    }

    /// The sum's fraud proof: `signature` is `operator`'s BLS signature (by its registered key) over a sum
    /// other than a + b. Anyone may submit it before the task is settled; the operator is slashed at settlement.
    function proveWrongSum(uint64 taskId, address operator, uint64 wrongSum, bytes calldata signature) external {
        if (_tasks[taskId].exists && wrongSum == _expected(taskId)) revert NotAWrongSum(taskId, wrongSum);
        if (_proveWrong(taskId, operator, abi.encode(wrongSum), signature)) {
            emit WrongSumProven(taskId, operator, wrongSum);
        }
    }

    function wrongSumProven(uint64 taskId, address operator) external view returns (bool) {
        return faultProven[taskId][operator];
    }

    /// The task as the contract records it (the layout the Rust side reads).
    function tasks(uint64 taskId)
        external
        view
        returns (
            bool exists,
            bool responded,
            bool settled,
            uint8 thresholdPercentage,
            uint64 a,
            uint64 b,
            uint64 startingEpoch,
            uint64 taskResponsePeriod,
            uint64 taskStatisticalPeriod,
            bytes32 nonSignersHash
        )
    {
        TaskCore storage t = _tasks[taskId];
        exists = t.exists;
        responded = t.responded;
        settled = t.settled;
        thresholdPercentage = t.thresholdPercentage;
        startingEpoch = t.startingEpoch;
        taskResponsePeriod = t.taskResponsePeriod;
        taskStatisticalPeriod = t.taskStatisticalPeriod;
        a = _inputs[taskId].a;
        b = _inputs[taskId].b;
        nonSignersHash = _nonSignersHash[taskId];
    }
}
