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
/// commit is abi.encode(uint64 taskId, uint64 sum), as before. Tasks are created and answered through the
/// base's shared entry points (`createNewTask(bytes payload, …)`, `respondToTask(taskId, bytes response, …)`).
contract AvsServiceContract is AvsServiceBase {
    string public constant TASK_NAME = "sum";

    struct SumInputs {
        uint64 a;
        uint64 b;
    }

    mapping(uint64 => SumInputs) internal _inputs;

    constructor(address registry_) AvsServiceBase(registry_) {}

    event WrongSumProven(uint64 indexed taskId, address indexed operator, uint64 wrongSum);

    error SumOverflows(uint64 a, uint64 b);
    /// A payload that is not abi.encode(uint64 a, uint64 b), by length (64 bytes). A 64-byte payload whose
    /// words have dirty high bytes is refused by abi.decode (a revert without data).
    error BadPayload(uint256 length);
    /// A response that is not abi.encode(uint64 sum), by length (32 bytes).
    error BadResponse(uint256 length);
    error WrongSum(uint64 taskId, uint64 claimed, uint64 expected);
    error NotAWrongSum(uint64 taskId, uint64 sum);
    // The base's file-level error, named again here for tests and callers that spell it
    // `AvsServiceContract.AlreadySettled` (same selector).
    error AlreadySettled(uint64 taskId);

    // ---------------------------------------------------------------- hooks
    function _taskName() internal pure override returns (string memory) {
        return TASK_NAME;
    }

    /// The payload is abi.encode(uint64 a, uint64 b) and a + b fits in a uint64.
    function _checkPayload(bytes calldata payload) internal pure override {
        if (payload.length != 64) revert BadPayload(payload.length);
        (uint64 a, uint64 b) = abi.decode(payload, (uint64, uint64));
        if (uint256(a) + uint256(b) > type(uint64).max) revert SumOverflows(a, b);
    }

    function _onTaskCreated(uint64 taskId, bytes calldata payload) internal override {
        (uint64 a, uint64 b) = abi.decode(payload, (uint64, uint64));
        _inputs[taskId] = SumInputs(a, b);
    }

    /// The response is abi.encode(uint64 sum) with sum = a + b (abi.decode refuses dirty high bytes; a longer
    /// response would decode too, hence the length check).
    function _checkResponse(uint64 taskId, bytes memory response) internal view override {
        if (response.length != 32) revert BadResponse(response.length);
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

    // ---------------------------------------------------------------- the sum's helpers
    // Tasks are created and answered through the base's shared entry points: createNewTask(abi.encode(a, b),
    // ...) and respondToTask(taskId, abi.encode(sum), ...), with the base's TaskCreated / TaskResponded events.

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
