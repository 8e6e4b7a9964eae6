// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// What our emulation of the avs precompile offers BEYOND the Imua interface (IAVSManager.sol).
/// None of this exists on the real chain:
/// - set-up of the emulation (admin, the chain id string of the key registration message),
/// - operator registration and stake, standing in for Exocore's operator and restaking modules,
/// - the aggregated flow of the seed: per-task snapshots of the opted-in operator set (versioned, no
///   O(n) writes at createTask) and verification of one aggregate BLS signature given the non-signers,
/// - the execution of rewards and slashing decided by `challenge`, on emulated balances.
interface IAVSManagerExt {
    event EmulationInitialized(address admin, string chainIdWithoutRevision);
    event OperatorRegistered(address indexed operator);
    event OperatorStakeSet(address indexed avsAddress, address indexed operator, uint256 amount);
    event OperatorRewarded(address indexed avsAddress, address indexed operator, uint64 indexed taskID, uint256 amount);
    event OperatorSlashed(address indexed avsAddress, address indexed operator, uint64 indexed taskID, uint256 amount);

    /// One time, first caller wins (the code is installed with anvil_setCode, so no constructor runs).
    function initialize(address admin, string calldata chainIdWithoutRevision) external;

    function admin() external view returns (address);

    function chainIdWithoutRevision() external view returns (string memory);

    /// Registers msg.sender (an EOA: must be tx.origin) as an operator, as Exocore's operator module does.
    function registerOperator() external returns (bool);

    /// Admin only: the operator's stake ("opted USD value") for one AVS.
    function setOperatorStake(address avsAddress, address operator, uint128 amount) external;

    /// The exact message whose keccak256 an operator signs (BLS, PoP DST) to register its key.
    function registrationMessage(address operator) external view returns (string memory);

    /// Seconds per epoch for an identifier: minute, hour, day, week, and the emulation's devnet-1s, devnet-2s.
    function epochDuration(string calldata epochIdentifier) external pure returns (uint64);

    /// Verifies an aggregate signature over `message` (the 32-byte digest, hashed to G2 with the PoP DST) by
    /// every member of the task's snapshot except `nonSigners` (strictly ascending addresses, their
    /// 128-byte EIP-2537 keys concatenated in `nonSignerPubKeys`). Reverts unless valid. Members are the
    /// operators opted in with a registered key at createTask.
    /// signedStake = members' stake minus the non-signers'; totalStake = stake of all opted-in operators.
    function verifyTaskAggregate(
        address taskContractAddress,
        uint64 taskID,
        bytes32 message,
        address[] calldata nonSigners,
        bytes calldata nonSignerPubKeys,
        bytes calldata signature
    ) external view returns (uint256 signedStake, uint256 totalStake);

    /// The task's snapshot: operator-set version, stake of all opted-in operators, stake and aggregate key of
    /// those with a registered key.
    function taskSnapshot(address taskContractAddress, uint64 taskID)
        external
        view
        returns (uint64 version, uint256 optedStake, uint256 keyedStake, bytes memory aggregatePubKey);

    /// The operator's state in the AVS's operator set at `version`.
    function operatorAt(address avsAddress, address operator, uint64 version)
        external
        view
        returns (bool optedIn, bool hasKey, uint256 stake);

    /// The task's operator set in one call (a snapshot read costs one eth_call, not 2 + 2N): every operator
    /// opted in at the task's set version, in `getKnownOperators` order, its stake then, and its registered
    /// key (empty if it had none at that version).
    function taskOperators(address taskContractAddress, uint64 taskID)
        external
        view
        returns (address[] memory operators, uint256[] memory stakes, bytes[] memory pubKeys);

    /// Every operator that ever touched the AVS's set (for iterating snapshots).
    function getKnownOperators(address avsAddress) external view returns (address[] memory);

    function rewardOf(address avsAddress, address operator) external view returns (uint256);

    function slashedOf(address avsAddress, address operator) external view returns (uint256);
}
