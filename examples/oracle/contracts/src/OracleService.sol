// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AvsServiceBase} from "exoavs/AvsServiceBase.sol";

/// A price-oracle AVS on `AvsServiceBase`: a task asks for the price of an asset at a time; operators sign a
/// price and the aggregate that reaches the quorum is accepted and kept on chain (`accepted`).
///
/// Payload: abi.encode(bytes32 asset, uint64 timestamp), asset a left-aligned ASCII symbol such as
/// bytes32("ETH/USD") (non-zero). Response: abi.encode(uint128 price, uint8 decimals) with decimals = DECIMALS
/// and price a positive multiple of TICK (1_000_000 units = 0.01 at 8 decimals).
///
/// What the chain can judge is the form of an answer, not whether the price is right: an aggregate is refused
/// unless it follows the rule above, and a single operator's signature over a well-formed response that breaks
/// the rule (wrong decimals, zero, off tick) is a fraud proof (`proveWrongResponse`). A malformed response
/// (not 64 bytes, or dirty high bytes) is not a proof: no honest-looking operator signs it. Slashing and
/// rewards follow the base's default rule. Two-phase commit: abi.encodePacked(bytes32(uint256(taskId)),
/// response), 96 bytes, correct iff it names the task and the response follows the rule.
contract OracleService is AvsServiceBase {
    string public constant TASK_NAME = "oracle";
    uint8 public constant DECIMALS = 8;
    /// Prices are multiples of TICK price units (0.01 at 8 decimals).
    uint128 public constant TICK = 1_000_000;

    struct Query {
        bytes32 asset;
        uint64 timestamp;
    }

    struct Price {
        uint128 price;
        uint8 decimals;
    }

    mapping(uint64 => Query) internal _queries;
    mapping(uint64 => Price) internal _accepted;

    /// A payload that is not 64 bytes (abi.encode(bytes32 asset, uint64 timestamp)).
    error BadPayload(uint256 length);
    /// A payload whose asset is zero.
    error EmptyAsset();
    /// A response that is not 64 bytes (abi.encode(uint128 price, uint8 decimals)).
    error BadResponse(uint256 length);
    error WrongDecimals(uint8 decimals);
    error ZeroPrice();
    error OffTick(uint128 price);

    constructor(address registry_) AvsServiceBase(registry_) {}

    // ---------------------------------------------------------------- hooks
    function _taskName() internal pure override returns (string memory) {
        return TASK_NAME;
    }

    /// 64 bytes, abi-decodable (a timestamp with dirty high bytes reverts in abi.decode), asset non-zero.
    function _checkPayload(bytes calldata payload) internal pure override {
        if (payload.length != 64) revert BadPayload(payload.length);
        (bytes32 asset,) = abi.decode(payload, (bytes32, uint64));
        if (asset == bytes32(0)) revert EmptyAsset();
    }

    function _onTaskCreated(uint64 taskId, bytes calldata payload) internal override {
        (bytes32 asset, uint64 timestamp) = abi.decode(payload, (bytes32, uint64));
        _queries[taskId] = Query(asset, timestamp);
    }

    /// An aggregate's response must be 64 bytes, abi-decodable (dirty high bytes revert in abi.decode) and
    /// follow the rule.
    function _checkResponse(uint64, bytes memory response) internal pure override {
        if (response.length != 64) revert BadResponse(response.length);
        (uint128 price, uint8 decimals) = abi.decode(response, (uint128, uint8));
        if (decimals != DECIMALS) revert WrongDecimals(decimals);
        if (price == 0) revert ZeroPrice();
        if (price % TICK != 0) revert OffTick(price);
    }

    function _onResponded(uint64 taskId, bytes calldata response) internal override {
        (uint128 price, uint8 decimals) = abi.decode(response, (uint128, uint8));
        _accepted[taskId] = Price(price, decimals);
    }

    /// True iff `response` is well-formed (64 bytes, clean high bytes) and breaks the rule.
    function _isProvablyWrong(uint64, bytes memory response) internal pure override returns (bool) {
        (bool wellFormed, uint128 price, uint8 decimals) = _parse(response, 0);
        return wellFormed && !followsRule(price, decimals);
    }

    /// The commit is abi.encodePacked(bytes32(uint256(taskId)), response): 96 bytes, the first word the task's
    /// id, the rest a well-formed response that follows the rule.
    function _isCorrectCommit(uint64 taskId, bytes memory commit) internal pure override returns (bool) {
        if (commit.length != 96) return false;
        bytes32 head;
        assembly ("memory-safe") {
            head := mload(add(commit, 0x20))
        }
        if (head != bytes32(uint256(taskId))) return false;
        (bool wellFormed, uint128 price, uint8 decimals) = _parse(commit, 32);
        return wellFormed && followsRule(price, decimals);
    }

    /// Reads abi.encode(uint128, uint8) at byte `offset` of `b`, which must end there (length == offset + 64),
    /// without reverting: wellFormed is false for a wrong length or dirty high bytes.
    function _parse(bytes memory b, uint256 offset)
        private
        pure
        returns (bool wellFormed, uint128 price, uint8 decimals)
    {
        if (b.length != offset + 64) return (false, 0, 0);
        uint256 w0;
        uint256 w1;
        assembly ("memory-safe") {
            let p := add(add(b, 0x20), offset)
            w0 := mload(p)
            w1 := mload(add(p, 0x20))
        }
        if (w0 > type(uint128).max || w1 > type(uint8).max) return (false, 0, 0);
        return (true, uint128(w0), uint8(w1));
    }

    // ---------------------------------------------------------------- views
    /// The rule every accepted price follows: DECIMALS decimals, positive, a multiple of TICK.
    function followsRule(uint128 price, uint8 decimals) public pure returns (bool) {
        return decimals == DECIMALS && price != 0 && price % TICK == 0;
    }

    /// The 32-byte message operators sign for (taskId, price, decimals).
    function priceMessage(uint64 taskId, uint128 price, uint8 decimals) external pure returns (bytes32) {
        return responseMessage(taskId, abi.encode(price, decimals));
    }

    /// The task's query (zero for an unknown task).
    function taskPayload(uint64 taskId) external view returns (bytes32 asset, uint64 timestamp) {
        Query storage q = _queries[taskId];
        return (q.asset, q.timestamp);
    }

    /// The accepted price of the task (zero until an aggregate is accepted).
    function accepted(uint64 taskId) external view returns (uint128 price, uint8 decimals) {
        Price storage p = _accepted[taskId];
        return (p.price, p.decimals);
    }
}
