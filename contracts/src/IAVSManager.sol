// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// The avs precompile of Exocore/Imua (imuachain precompiles/avs), reproduced function for function so
// that an AVS contract compiled against this file runs unchanged on the real chain and on our emulation.
// Types, names, argument order and events are the chain's; behaviour is in AvsPrecompile.sol.

address constant AVSMANAGER_PRECOMPILE_ADDRESS = 0x0000000000000000000000000000000000000901;

IAVSManager constant AVSMANAGER_CONTRACT = IAVSManager(AVSMANAGER_PRECOMPILE_ADDRESS);

/// Parameters of registerAVS / updateAVS. All u64 fields, proportions included.
struct AVSParams {
    address sender;
    string avsName;
    uint64 minStakeAmount;
    address taskAddress;
    address slashAddress;
    address rewardAddress;
    address[] avsOwnerAddresses;
    address[] whitelistAddresses;
    string[] assetIDs;
    uint64 avsUnbondingPeriod;
    uint64 minSelfDelegation;
    string epochIdentifier;
    uint64 miniOptInOperators;
    uint64 minTotalStakeAmount;
    uint64 avsRewardProportion;
    uint64 avsSlashProportion;
}

struct TaskInfo {
    address taskContractAddress;
    string name;
    bytes hash;
    uint64 taskID;
    uint64 taskResponsePeriod;
    uint64 taskStatisticalPeriod;
    uint64 taskChallengePeriod;
    uint8 thresholdPercentage;
    uint64 startingEpoch;
    string actualThreshold;
    address[] optInOperators;
    address[] signedOperators;
    address[] noSignedOperators;
    address[] errSignedOperators;
    string taskTotalPower;
    OperatorActivePower[] operatorActivePower;
    bool isExpected;
    address[] eligibleRewardOperators;
    address[] eligibleSlashOperators;
}

struct OperatorActivePower {
    address operator;
    uint256 power;
}

struct TaskResultInfo {
    address operatorAddress;
    string taskResponseHash;
    bytes taskResponse;
    bytes blsSignature;
    address taskContractAddress;
    uint64 taskID;
    uint8 phase;
}

struct OperatorResInfo {
    address taskContractAddress;
    uint64 taskID;
    address operatorAddress;
    string taskResponseHash;
    bytes taskResponse;
    bytes blsSignature;
    uint256 power;
    uint8 phase;
}

interface IAVSManager {
    event AVSRegistered(address indexed avsAddress, address sender, string avsName);
    event AVSUpdated(address indexed avsAddress, address sender, string avsName);
    event AVSDeregistered(address indexed avsAddress, address sender, string avsName);
    event OperatorJoined(address indexed avsAddress, address sender);
    event OperatorLeft(address indexed avsAddress, address sender);
    event TaskCreated(
        address indexed taskContractAddress,
        uint64 indexed taskID,
        address sender,
        string name,
        bytes hash,
        uint64 taskResponsePeriod,
        uint64 taskChallengePeriod,
        uint8 thresholdPercentage,
        uint64 taskStatisticalPeriod
    );
    event ChallengeInitiated(
        uint64 indexed taskID,
        address indexed taskContractAddress,
        address sender,
        uint8 actualThreshold,
        bool isExpected,
        address[] eligibleRewardOperators,
        address[] eligibleSlashOperators
    );
    event PublicKeyRegistered(address sender, address avsAddress);
    event TaskSubmittedByOperator(
        address indexed taskContractAddress,
        uint64 indexed taskID,
        address sender,
        bytes taskResponse,
        bytes blsSignature,
        uint8 phase
    );

    function registerAVS(AVSParams calldata params) external returns (bool success);

    function updateAVS(AVSParams calldata params) external returns (bool success);

    function deregisterAVS(address sender, string calldata avsName) external returns (bool success);

    /// Opt the sender in to the calling AVS.
    function registerOperatorToAVS(address sender) external returns (bool success);

    /// Opt the sender out of the calling AVS.
    function deregisterOperatorFromAVS(address sender) external returns (bool success);

    function createTask(
        address sender,
        string calldata name,
        bytes calldata hash,
        uint64 taskResponsePeriod,
        uint64 taskChallengePeriod,
        uint8 thresholdPercentage,
        uint64 taskStatisticalPeriod
    ) external returns (uint64 taskID);

    function challenge(
        address sender,
        uint64 taskID,
        address taskContractAddress,
        uint8 actualThreshold,
        bool isExpected,
        address[] calldata eligibleRewardOperators,
        address[] calldata eligibleSlashOperators
    ) external returns (bool success);

    function registerBLSPublicKey(
        address sender,
        address avsAddress,
        bytes calldata pubKey,
        bytes calldata pubKeyRegistrationSignature
    ) external returns (bool success);

    /// phase 1 = prepare (signature only), 2 = commit (response + the same signature).
    function operatorSubmitTask(
        address sender,
        uint64 taskID,
        bytes calldata taskResponse,
        bytes calldata blsSignature,
        address taskContractAddress,
        uint8 phase
    ) external returns (bool success);

    function getRegisteredPubkey(address operatorAddress, address avsAddress)
        external
        view
        returns (bytes memory pubkey);

    function getOptInOperators(address avsAddress) external view returns (address[] memory operators);

    function getAVSUSDValue(address avsAddress) external view returns (uint256 amount);

    function getOperatorOptedUSDValue(address avsAddress, address operatorAddress)
        external
        view
        returns (uint256 amount);

    function getAVSEpochIdentifier(address avsAddress) external view returns (string memory epochIdentifier);

    function getTaskInfo(address taskAddress, uint64 taskID) external view returns (TaskInfo memory taskInfo);

    function isOperator(address operatorAddress) external view returns (bool);

    function getCurrentEpoch(string calldata epochIdentifier) external view returns (int64 currentEpoch);

    function getOperatorTaskResponseList(address taskAddress, uint64 taskID)
        external
        view
        returns (OperatorResInfo[] memory operatorResInfo);

    function getOperatorTaskResponse(address taskAddress, address operator, uint64 taskID)
        external
        view
        returns (TaskResultInfo memory taskResultInfo);

    function getChallengeInfo(address taskAddress, uint64 taskID) external view returns (address challenger);
}
