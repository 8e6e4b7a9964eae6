// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import "./IAVSManager.sol";
import {IAVSManagerExt} from "./IAVSManagerExt.sol";
import {BLS} from "./BLS.sol";
import {Bech32} from "./Bech32.sol";

/// Emulation of Exocore/Imua's avs precompile (x/avs + precompiles/avs of imuachain) for Anvil.
///
/// Installation on Anvil, at the precompile's address: `anvil_setCode(0x…0901, deployedBytecode)`, then
/// `initialize(admin, chainId)` once. No constructor runs under anvil_setCode, so nothing here depends on
/// one; until `initialize` is called every admin function and key registration reverts with
/// `NotInitialized`. On any other Prague chain it is an ordinary contract, the operator registry of the
/// aggregated flow: deployed with `constructor(admin, chainId)`, which initialises it in the creating
/// transaction (so nobody can initialise it first).
///
/// Rules reproduced from the chain (x/avs/keeper): every `sender` equals tx.origin, except challenge's, which is
/// the AVS that owns the task (as on Imua since Aug 2025); the AVS is the calling
/// contract; createTask is for AVS owners only, numbers tasks per task contract from 1, starts at
/// current epoch + 1, needs AVS stake > 0 and at least one opted-in operator, and snapshots the opted-in
/// operators; one BLS key per (operator, AVS), a key used anywhere is never accepted again, and a key is
/// accepted only with a valid signature over the registration message (proof of possession); the
/// two-phase operatorSubmitTask windows by epoch with the commit signature verified against the
/// registered key; the epoch hook's statistics (signed / unsigned operators, power), computed lazily once
/// the statistical window is over; challenge once, after the statistical window, by the task's AVS.
///
/// Deliberate differences (also in contracts/README.md):
/// - Points are EIP-2537 encoded (key 128 bytes, signature 256 bytes), not compressed (48/96).
/// - Epochs are block.timestamp / duration; besides minute/hour/day/week there are the emulation-only
///   identifiers "devnet-1s" and "devnet-2s" so that two-phase tasks settle in seconds.
/// - Stake comes from the admin (`setOperatorStake`), operators self-register (`registerOperator`).
/// - Task power is the stake snapshotted at createTask (the chain reads the live value at epoch end).
/// - A phase-2 commit is accepted once per operator and task.
/// - `challenge` also executes: eligible reward operators share a pool of
///   snapshotStake * avsRewardProportion / 100 pro rata to their snapshot stake (only if the task met its
///   threshold); each eligible slash operator loses avsSlashProportion % of its current stake.
contract AvsPrecompile is IAVSManager, IAVSManagerExt {
    // ---------------------------------------------------------------- errors
    error NotInitialized();
    error AlreadyInitialized();
    error NotAdmin();
    error SenderNotOrigin();
    error CallerNotOwner();
    error AVSAlreadyRegistered();
    error AVSNotRegistered();
    error TaskAddressInUse();
    error AVSNameMismatch();
    error AVSStillHasOperators();
    error EpochNotFound();
    error InvalidProportion();
    error InvalidThreshold();
    error OperatorNotExist();
    error OperatorNotWhitelisted();
    error AlreadyOptedIn();
    error NotOptedIn();
    error NoVotingPower();
    error NoOptedInOperators();
    error InvalidPublicKey();
    error PublicKeyAlreadySet();
    error PublicKeyInUse();
    error InvalidPopSignature();
    error PubKeyNotExist();
    error TaskNotExist();
    error ResultAlreadyExists();
    error InvalidPhase();
    error InvalidParams();
    error InconsistentSignature();
    error SubmitTooLate();
    error SubmitTooSoon();
    error InvalidTaskSignature();
    error AlreadyChallenged();
    error CallerNotTaskAVS();
    error NotInSnapshot(address operator);
    error DuplicateOperator(address operator);
    error NonSignersNotSorted();
    error NonSignerKeyMismatch(address operator);
    error InvalidAggregateSignature();

    // ---------------------------------------------------------------- types
    struct AvsInfo {
        bool registered;
        string name;
        address taskAddress;
        address slashAddress;
        address rewardAddress;
        address[] owners;
        address[] whitelist;
        string[] assetIDs;
        string epochIdentifier;
        uint64 minStakeAmount;
        uint64 avsUnbondingPeriod;
        uint64 minSelfDelegation;
        uint64 miniOptInOperators;
        uint64 minTotalStakeAmount;
        uint64 rewardProportion;
        uint64 slashProportion;
    }

    /// An operator's state in one AVS's set from version `fromVersion` on (one storage slot).
    struct OpState {
        uint64 fromVersion;
        uint128 stake;
        bool optedIn;
        bool keyed;
        bool exists;
        uint32 histLen;
    }

    /// Aggregates of one AVS's set: all opted-in stake, and stake and key sum of opted-in operators with keys.
    struct Agg {
        uint128 optedStake;
        uint128 keyedStake;
        bytes32[4] apk;
    }

    struct Task {
        bool exists;
        bool challenged;
        bool isExpected;
        uint8 thresholdPercentage;
        uint8 actualThreshold;
        uint64 taskID;
        uint64 taskResponsePeriod;
        uint64 taskStatisticalPeriod;
        uint64 taskChallengePeriod;
        uint64 startingEpoch;
        uint64 setVersion;
        address challenger;
        string name;
        bytes hash;
        address[] eligibleRewardOperators;
        address[] eligibleSlashOperators;
    }

    struct Result {
        uint8 phase;
        bytes taskResponse;
        bytes blsSignature;
    }

    bytes private constant HRP = "im";

    // ---------------------------------------------------------------- storage
    bool public initialized;
    address public admin;
    string public chainIdWithoutRevision;

    mapping(address => bool) internal _isOperator;
    mapping(address avs => AvsInfo) internal _avs;
    mapping(address task => address avs) internal _avsOfTask;

    mapping(address avs => address[]) internal _optedList;
    mapping(address avs => mapping(address op => uint256)) internal _optedIndex; // index + 1
    mapping(address avs => address[]) internal _known;
    mapping(address avs => mapping(address op => bool)) internal _isKnown;

    mapping(address avs => uint64) internal _version;
    mapping(address avs => bool) internal _versionUsed;
    mapping(address avs => Agg) internal _cur;
    mapping(address avs => mapping(uint64 => Agg)) internal _aggAt;
    mapping(address avs => mapping(address op => OpState)) internal _latest;
    mapping(address avs => mapping(address op => mapping(uint256 => OpState))) internal _history;

    mapping(address op => mapping(address avs => bytes)) internal _pubkey;
    mapping(address op => mapping(address avs => bytes32)) internal _pubkeyHash;
    mapping(bytes32 => bool) internal _keyUsed;

    mapping(address task => uint64) internal _lastTaskID;
    mapping(address task => mapping(uint64 => Task)) internal _tasks;
    mapping(address task => mapping(uint64 => mapping(address op => Result))) internal _results;
    mapping(address task => mapping(uint64 => address[])) internal _resultOps;

    mapping(address avs => mapping(address op => uint256)) internal _reward;
    mapping(address avs => mapping(address op => uint256)) internal _slashed;

    // ---------------------------------------------------------------- set-up (extension)
    /// `admin_` zero leaves it uninitialised (the code at 0x…0901 is installed without running this).
    constructor(address admin_, string memory chainId) {
        if (admin_ != address(0)) _initialize(admin_, chainId);
    }

    function initialize(address admin_, string calldata chainId) external {
        _initialize(admin_, chainId);
    }

    function _initialize(address admin_, string memory chainId) internal {
        if (initialized) revert AlreadyInitialized();
        initialized = true;
        admin = admin_;
        chainIdWithoutRevision = chainId;
        emit EmulationInitialized(admin_, chainId);
        _onInitialize();
    }

    function registerOperator() external virtual returns (bool) {
        if (msg.sender != tx.origin) revert SenderNotOrigin();
        _isOperator[msg.sender] = true;
        emit OperatorRegistered(msg.sender);
        return true;
    }

    function setOperatorStake(address avsAddress, address operator, uint128 amount) external virtual {
        if (!initialized) revert NotInitialized();
        if (msg.sender != admin) revert NotAdmin();
        _setStake(avsAddress, operator, amount);
        emit OperatorStakeSet(avsAddress, operator, amount);
    }

    // ---------------------------------------------------------------- AVS registration
    function registerAVS(AVSParams calldata p) external virtual returns (bool) {
        _validateAVS(p);
        _checkAvsSender(p.sender);
        if (!_contains(p.avsOwnerAddresses, p.sender)) revert CallerNotOwner();
        AvsInfo storage a = _avs[msg.sender];
        if (a.registered) revert AVSAlreadyRegistered();
        address taskAddress = p.taskAddress == address(0) ? msg.sender : p.taskAddress;
        if (_avsOfTask[taskAddress] != address(0)) revert TaskAddressInUse();
        a.registered = true;
        _storeParams(a, p, taskAddress);
        _avsOfTask[taskAddress] = msg.sender;
        emit AVSRegistered(msg.sender, p.sender, p.avsName);
        return true;
    }

    function updateAVS(AVSParams calldata p) external virtual returns (bool) {
        _checkAvsSender(p.sender);
        AvsInfo storage a = _avs[msg.sender];
        if (!a.registered) revert AVSNotRegistered();
        if (!_contains(a.owners, p.sender)) revert CallerNotOwner();
        address taskAddress = p.taskAddress == address(0) ? a.taskAddress : p.taskAddress;
        if (taskAddress != a.taskAddress) {
            if (_avsOfTask[taskAddress] != address(0)) revert TaskAddressInUse();
            delete _avsOfTask[a.taskAddress];
            _avsOfTask[taskAddress] = msg.sender;
            a.taskAddress = taskAddress;
        }
        _applyUpdate(a, p);
        emit AVSUpdated(msg.sender, p.sender, p.avsName);
        return true;
    }

    function deregisterAVS(address sender, string calldata avsName) external virtual returns (bool) {
        _checkOrigin(sender);
        AvsInfo storage a = _avs[msg.sender];
        if (!a.registered) revert AVSNotRegistered();
        if (!_contains(a.owners, sender)) revert CallerNotOwner();
        if (keccak256(bytes(avsName)) != keccak256(bytes(a.name))) revert AVSNameMismatch();
        if (_optedList[msg.sender].length != 0) revert AVSStillHasOperators();
        delete _avsOfTask[a.taskAddress];
        delete _avs[msg.sender];
        emit AVSDeregistered(msg.sender, sender, avsName);
        return true;
    }

    /// updateAVS's write of the new parameters (a.taskAddress already holds the new task address). The
    /// emulation overwrites every field; a stricter profile may keep fields the update leaves unset.
    function _applyUpdate(AvsInfo storage a, AVSParams calldata p) internal virtual {
        _storeParams(a, p, a.taskAddress);
    }

    function _storeParams(AvsInfo storage a, AVSParams calldata p, address taskAddress) internal {
        if (p.avsRewardProportion > 100 || p.avsSlashProportion > 100) revert InvalidProportion();
        epochDuration(p.epochIdentifier); // reverts on an unknown identifier
        a.name = p.avsName;
        a.taskAddress = taskAddress;
        a.slashAddress = p.slashAddress;
        a.rewardAddress = p.rewardAddress;
        a.owners = p.avsOwnerAddresses;
        a.whitelist = p.whitelistAddresses;
        delete a.assetIDs;
        for (uint256 i = 0; i < p.assetIDs.length; i++) {
            a.assetIDs.push(p.assetIDs[i]);
        }
        a.epochIdentifier = p.epochIdentifier;
        a.minStakeAmount = p.minStakeAmount;
        a.avsUnbondingPeriod = p.avsUnbondingPeriod;
        a.minSelfDelegation = p.minSelfDelegation;
        a.miniOptInOperators = p.miniOptInOperators;
        a.minTotalStakeAmount = p.minTotalStakeAmount;
        a.rewardProportion = p.avsRewardProportion;
        a.slashProportion = p.avsSlashProportion;
    }

    // ---------------------------------------------------------------- operators
    function registerOperatorToAVS(address sender) external virtual returns (bool) {
        _checkOrigin(sender);
        if (!_isOperator[sender]) revert OperatorNotExist();
        AvsInfo storage a = _avs[msg.sender];
        if (!a.registered) revert AVSNotRegistered();
        if (a.whitelist.length != 0 && !_contains(a.whitelist, sender)) revert OperatorNotWhitelisted();
        if (_optedIndex[msg.sender][sender] != 0) revert AlreadyOptedIn();
        _optedList[msg.sender].push(sender);
        _optedIndex[msg.sender][sender] = _optedList[msg.sender].length;
        OpState memory s = _latest[msg.sender][sender];
        _update(msg.sender, sender, s.stake, true, _pubkeyHash[sender][msg.sender] != bytes32(0));
        emit OperatorJoined(msg.sender, sender);
        return true;
    }

    function deregisterOperatorFromAVS(address sender) external virtual returns (bool) {
        _checkOrigin(sender);
        uint256 idx = _optedIndex[msg.sender][sender];
        if (idx == 0) revert NotOptedIn();
        address[] storage list = _optedList[msg.sender];
        address last = list[list.length - 1];
        list[idx - 1] = last;
        _optedIndex[msg.sender][last] = idx;
        list.pop();
        delete _optedIndex[msg.sender][sender];
        OpState memory s = _latest[msg.sender][sender];
        _update(msg.sender, sender, s.stake, false, s.keyed);
        emit OperatorLeft(msg.sender, sender);
        return true;
    }

    function registerBLSPublicKey(
        address sender,
        address avsAddress,
        bytes calldata pubKey,
        bytes calldata pubKeyRegistrationSignature
    ) external virtual returns (bool) {
        _checkOrigin(sender);
        if (!initialized) revert NotInitialized();
        bytes memory key = _decodeKey(pubKey);
        if (!BLS.isValidPublicKey(key)) revert InvalidPublicKey();
        bytes32 digest = keccak256(bytes(registrationMessage(sender)));
        if (!BLS.verify(key, abi.encodePacked(digest), _decodeSig(pubKeyRegistrationSignature))) {
            revert InvalidPopSignature();
        }
        if (_pubkeyHash[sender][avsAddress] != bytes32(0)) revert PublicKeyAlreadySet();
        bytes32 h = keccak256(key);
        if (_keyUsed[h]) revert PublicKeyInUse();
        _keyUsed[h] = true;
        _pubkey[sender][avsAddress] = key;
        _pubkeyHash[sender][avsAddress] = h;
        OpState memory s = _latest[avsAddress][sender];
        if (s.optedIn) _update(avsAddress, sender, s.stake, true, true);
        else if (s.exists) _update(avsAddress, sender, s.stake, false, true);
        emit PublicKeyRegistered(sender, avsAddress);
        return true;
    }

    function registrationMessage(address operator) public view virtual returns (string memory) {
        return string.concat(
            "BLS12-381 Signed Message\nChainIDWithoutRevision: ",
            chainIdWithoutRevision,
            "\nAccAddressBech32: ",
            Bech32.encodeAddress(HRP, operator)
        );
    }

    // ---------------------------------------------------------------- the versioned operator set
    function _setStake(address avs, address op, uint128 amount) internal {
        OpState memory s = _latest[avs][op];
        _update(avs, op, amount, s.optedIn, s.keyed || _pubkeyHash[op][avs] != bytes32(0));
    }

    /// Moves `op` of `avs` to a new state, keeping the old state for snapshots taken before, and adjusts
    /// the running aggregates. The version only advances when a task has snapshotted the current one, so
    /// changes between tasks cost no history.
    function _update(address avs, address op, uint128 stake, bool optedIn, bool keyed) internal {
        uint64 v = _version[avs];
        if (_versionUsed[avs]) {
            v += 1;
            _version[avs] = v;
            _versionUsed[avs] = false;
        }
        OpState storage l = _latest[avs][op];
        OpState memory old = l;
        if (!old.exists) {
            _known[avs].push(op);
            _isKnown[avs][op] = true;
        } else if (old.fromVersion != v) {
            _history[avs][op][old.histLen] = old;
            old.histLen += 1;
        }
        _latest[avs][op] =
            OpState({fromVersion: v, stake: stake, optedIn: optedIn, keyed: keyed, exists: true, histLen: old.histLen});

        Agg storage c = _cur[avs];
        if (old.optedIn) c.optedStake -= old.stake;
        if (optedIn) c.optedStake += stake;
        bool wasMember = old.optedIn && old.keyed;
        bool isMember = optedIn && keyed;
        if (wasMember) c.keyedStake -= old.stake;
        if (isMember) c.keyedStake += stake;
        if (wasMember != isMember) {
            bytes memory pk = _pubkey[op][avs];
            bytes memory apk = abi.encodePacked(c.apk[0], c.apk[1], c.apk[2], c.apk[3]);
            apk = BLS.g1Add(apk, isMember ? pk : BLS.g1Neg(pk));
            bytes32[4] memory w;
            assembly ("memory-safe") {
                mcopy(w, add(apk, 0x20), 128)
            }
            c.apk = w;
        }
    }

    function _opAt(address avs, address op, uint64 v) internal view returns (OpState memory s) {
        s = _latest[avs][op];
        if (!s.exists || s.fromVersion <= v) return s;
        // Binary search the history (ascending fromVersion) for the last state with fromVersion <= v.
        uint256 lo = 0;
        uint256 hi = s.histLen;
        while (lo < hi) {
            uint256 mid = (lo + hi) / 2;
            if (_history[avs][op][mid].fromVersion <= v) lo = mid + 1;
            else hi = mid;
        }
        if (lo == 0) return OpState(0, 0, false, false, false, 0);
        return _history[avs][op][lo - 1];
    }

    // ---------------------------------------------------------------- tasks
    function createTask(
        address sender,
        string calldata name,
        bytes calldata hash,
        uint64 taskResponsePeriod,
        uint64 taskChallengePeriod,
        uint8 thresholdPercentage,
        uint64 taskStatisticalPeriod
    ) external virtual returns (uint64 taskID) {
        _checkOrigin(sender);
        _validateTaskName(name);
        if (thresholdPercentage > 100) revert InvalidThreshold();
        (uint64 startingEpoch, uint64 v) = _snapshotForTask(sender);
        taskID = ++_lastTaskID[msg.sender];
        Task storage t = _tasks[msg.sender][taskID];
        t.exists = true;
        t.taskID = taskID;
        t.name = name;
        t.hash = hash;
        t.taskResponsePeriod = taskResponsePeriod;
        t.taskStatisticalPeriod = taskStatisticalPeriod;
        t.taskChallengePeriod = taskChallengePeriod;
        t.thresholdPercentage = thresholdPercentage;
        t.startingEpoch = startingEpoch;
        t.setVersion = v;
        _emitTaskCreated(t, sender);
    }

    /// Checks that the calling task contract may create a task now and pins the operator-set version it
    /// will use: the current aggregates are copied once per version (O(1) writes, whatever the set size).
    function _snapshotForTask(address sender) internal returns (uint64 startingEpoch, uint64 v) {
        address avs = _avsOfTask[msg.sender];
        if (avs == address(0)) revert AVSNotRegistered();
        AvsInfo storage a = _avs[avs];
        if (!_contains(a.owners, sender)) revert CallerNotOwner();
        if (_cur[avs].optedStake == 0) revert NoVotingPower();
        if (_optedList[avs].length == 0) revert NoOptedInOperators();
        startingEpoch = uint64(_currentEpoch(a.epochIdentifier)) + 1;
        v = _version[avs];
        if (!_versionUsed[avs]) {
            _aggAt[avs][v] = _cur[avs];
            _versionUsed[avs] = true;
        }
    }

    function _emitTaskCreated(Task storage t, address sender) internal {
        emit TaskCreated(
            msg.sender,
            t.taskID,
            sender,
            t.name,
            t.hash,
            t.taskResponsePeriod,
            t.taskChallengePeriod,
            t.thresholdPercentage,
            t.taskStatisticalPeriod
        );
    }

    function operatorSubmitTask(
        address sender,
        uint64 taskID,
        bytes calldata taskResponse,
        bytes calldata blsSignature,
        address taskContractAddress,
        uint8 phase
    ) external virtual returns (bool) {
        _checkOrigin(sender);
        if (!_isOperator[sender]) revert OperatorNotExist();
        if (phase == 1) {
            if (blsSignature.length == 0 || taskResponse.length != 0) revert InvalidParams();
            _prepare(sender, taskID, taskContractAddress, blsSignature);
        } else if (phase == 2) {
            if (taskResponse.length == 0) revert InvalidParams();
            _commit(sender, taskID, taskContractAddress, taskResponse, blsSignature);
        } else {
            revert InvalidPhase();
        }
        emit TaskSubmittedByOperator(taskContractAddress, taskID, sender, taskResponse, blsSignature, phase);
        return true;
    }

    /// The task, its AVS, and the epochs that end its response and statistical windows.
    function _windows(address sender, address taskContractAddress, uint64 taskID)
        internal
        view
        returns (address avs, int64 epoch, int64 responseEnd, int64 statisticalEnd)
    {
        avs = _avsOfTask[taskContractAddress];
        if (avs == address(0)) revert AVSNotRegistered();
        if (_pubkeyHash[sender][avs] == bytes32(0)) revert PubKeyNotExist();
        Task storage t = _tasks[taskContractAddress][taskID];
        if (!t.exists) revert TaskNotExist();
        epoch = _currentEpoch(_avs[avs].epochIdentifier);
        responseEnd = int64(t.startingEpoch) + int64(t.taskResponsePeriod);
        statisticalEnd = responseEnd + int64(t.taskStatisticalPeriod);
    }

    function _prepare(address sender, uint64 taskID, address taskContractAddress, bytes calldata blsSignature)
        internal
    {
        (, int64 epoch, int64 responseEnd,) = _windows(sender, taskContractAddress, taskID);
        Result storage r = _results[taskContractAddress][taskID][sender];
        if (r.phase != 0) revert ResultAlreadyExists();
        if (epoch > responseEnd) revert SubmitTooLate();
        r.phase = 1;
        r.blsSignature = blsSignature;
        _resultOps[taskContractAddress][taskID].push(sender);
    }

    function _commit(
        address sender,
        uint64 taskID,
        address taskContractAddress,
        bytes calldata taskResponse,
        bytes calldata blsSignature
    ) internal virtual {
        (address avs, int64 epoch, int64 responseEnd, int64 statisticalEnd) =
            _windows(sender, taskContractAddress, taskID);
        if (epoch <= responseEnd) revert SubmitTooSoon();
        if (epoch > statisticalEnd) revert SubmitTooLate();
        Result storage r = _results[taskContractAddress][taskID][sender];
        if (r.phase != 1 || keccak256(r.blsSignature) != keccak256(blsSignature)) revert InconsistentSignature();
        if (!BLS.verify(_pubkey[sender][avs], abi.encodePacked(keccak256(taskResponse)), _decodeSig(blsSignature))) {
            revert InvalidTaskSignature();
        }
        r.phase = 2;
        r.taskResponse = taskResponse;
    }

    function challenge(
        address sender,
        uint64 taskID,
        address taskContractAddress,
        uint8 actualThreshold,
        bool, /* isExpected: recomputed from actualThreshold, as the chain does */
        address[] calldata eligibleRewardOperators,
        address[] calldata eligibleSlashOperators
    ) external virtual returns (bool) {
        address avs = _checkChallenger(sender, taskContractAddress);
        Task storage t = _tasks[taskContractAddress][taskID];
        if (!t.exists) revert TaskNotExist();
        if (t.challenged) revert AlreadyChallenged();
        int64 epoch = _currentEpoch(_avs[avs].epochIdentifier);
        if (epoch <= int64(t.startingEpoch) + int64(t.taskResponsePeriod) + int64(t.taskStatisticalPeriod)) {
            revert SubmitTooSoon();
        }
        t.challenged = true;
        t.challenger = sender;
        t.actualThreshold = actualThreshold;
        t.isExpected = actualThreshold >= t.thresholdPercentage;
        t.eligibleRewardOperators = eligibleRewardOperators;
        t.eligibleSlashOperators = eligibleSlashOperators;
        _execute(avs, t, eligibleRewardOperators, eligibleSlashOperators);
        _emitChallengeInitiated(
            taskID,
            taskContractAddress,
            sender,
            actualThreshold,
            t.isExpected,
            eligibleRewardOperators,
            eligibleSlashOperators
        );
        return true;
    }

    /// Rewards and slashes of a challenged task, on the emulation's balances (see the contract comment).
    function _execute(address avs, Task storage t, address[] calldata rewardOps, address[] calldata slashOps)
        internal
        virtual
    {
        uint64 v = t.setVersion;
        uint256 rewardStake;
        for (uint256 i = 0; i < rewardOps.length; i++) {
            OpState memory s = _opAt(avs, rewardOps[i], v);
            if (!s.optedIn) revert NotInSnapshot(rewardOps[i]);
            _markOnce(t.taskID, 0, rewardOps[i]);
            rewardStake += s.stake;
        }
        if (t.isExpected && rewardStake != 0) {
            uint256 pool = uint256(_aggAt[avs][v].optedStake) * _avs[avs].rewardProportion / 100;
            for (uint256 i = 0; i < rewardOps.length; i++) {
                uint256 amount = pool * _opAt(avs, rewardOps[i], v).stake / rewardStake;
                _reward[avs][rewardOps[i]] += amount;
                emit OperatorRewarded(avs, rewardOps[i], t.taskID, amount);
            }
        }
        uint64 slashProportion = _avs[avs].slashProportion;
        for (uint256 i = 0; i < slashOps.length; i++) {
            address op = slashOps[i];
            if (!_opAt(avs, op, v).optedIn) revert NotInSnapshot(op);
            _markOnce(t.taskID, 1, op);
            uint128 cur = _latest[avs][op].stake;
            uint128 cut = uint128(uint256(cur) * slashProportion / 100);
            if (cut != 0) {
                _setStake(avs, op, cur - cut);
                _slashed[avs][op] += cut;
            }
            emit OperatorSlashed(avs, op, t.taskID, cut);
        }
    }

    /// Rejects an operator listed twice in the same list of one challenge (transient storage, O(1) each). The
    /// key names the task contract and task, so several challenges in one transaction do not collide.
    function _markOnce(uint64 taskID, uint256 list, address op) internal {
        bytes32 slot = keccak256(abi.encode("AvsPrecompile.markOnce", msg.sender, taskID, list, op));
        uint256 seen;
        assembly {
            seen := tload(slot)
        }
        if (seen != 0) revert DuplicateOperator(op);
        assembly {
            tstore(slot, 1)
        }
    }

    // ---------------------------------------------------------------- aggregated flow (extension)
    function verifyTaskAggregate(
        address taskContractAddress,
        uint64 taskID,
        bytes32 message,
        address[] calldata nonSigners,
        bytes calldata nonSignerPubKeys,
        bytes calldata signature
    ) external view virtual returns (uint256 signedStake, uint256 totalStake) {
        if (nonSignerPubKeys.length != nonSigners.length * 128 || signature.length != 256) {
            revert InvalidParams();
        }
        bytes memory apk;
        (apk, signedStake, totalStake) = _signers(taskContractAddress, taskID, nonSigners, nonSignerPubKeys);
        if (!BLS.verify(apk, abi.encodePacked(message), signature)) revert InvalidAggregateSignature();
    }

    /// The signers' aggregate key (snapshot aggregate minus the non-signers) and stakes.
    function _signers(address taskContractAddress, uint64 taskID, address[] calldata nonSigners, bytes calldata keys)
        internal
        view
        returns (bytes memory apk, uint256 signedStake, uint256 totalStake)
    {
        Task storage t = _tasks[taskContractAddress][taskID];
        if (!t.exists) revert TaskNotExist();
        address avs = _avsOfTask[taskContractAddress];
        (bytes memory nonSignerSum, uint256 nonSignerStake) = _sumNonSigners(avs, t.setVersion, nonSigners, keys);
        Agg storage a = _aggAt[avs][t.setVersion];
        totalStake = a.optedStake;
        signedStake = uint256(a.keyedStake) - nonSignerStake;
        apk = BLS.g1Add(abi.encodePacked(a.apk[0], a.apk[1], a.apk[2], a.apk[3]), BLS.g1Neg(nonSignerSum));
    }

    /// Sum and stake of the non-signers, each checked: strictly ascending (so no duplicates), its key the
    /// one registered (hash compare), and a member of the snapshot. One G1ADD and two cold SLOADs each.
    function _sumNonSigners(address avs, uint64 v, address[] calldata nonSigners, bytes calldata keys)
        internal
        view
        returns (bytes memory sum, uint256 stake)
    {
        // buf = [running sum (128) | next key (128)]; G1ADD writes the sum back in place.
        bytes memory buf = new bytes(256);
        uint160 prev;
        for (uint256 i = 0; i < nonSigners.length; i++) {
            address op = nonSigners[i];
            if (uint160(op) <= prev) revert NonSignersNotSorted();
            prev = uint160(op);
            if (_keyHashAt(buf, keys, i) != _pubkeyHash[op][avs]) revert NonSignerKeyMismatch(op);
            OpState memory s = _opAt(avs, op, v);
            if (!(s.optedIn && s.keyed)) revert NotInSnapshot(op);
            stake += s.stake;
            bool ok;
            assembly ("memory-safe") {
                ok := staticcall(2000, 0x0b, add(buf, 0x20), 256, add(buf, 0x20), 128)
            }
            if (!ok) revert InvalidParams();
        }
        sum = buf;
        assembly ("memory-safe") {
            mstore(sum, 128)
        }
    }

    function _keyHashAt(bytes memory buf, bytes calldata keys, uint256 i) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let keyPtr := add(buf, 0xa0)
            calldatacopy(keyPtr, add(keys.offset, mul(i, 128)), 128)
            h := keccak256(keyPtr, 128)
        }
    }

    function taskSnapshot(address taskContractAddress, uint64 taskID)
        external
        view
        virtual
        returns (uint64 version, uint256 optedStake, uint256 keyedStake, bytes memory aggregatePubKey)
    {
        Task storage t = _tasks[taskContractAddress][taskID];
        if (!t.exists) revert TaskNotExist();
        version = t.setVersion;
        Agg storage a = _aggAt[_avsOfTask[taskContractAddress]][version];
        optedStake = a.optedStake;
        keyedStake = a.keyedStake;
        aggregatePubKey = abi.encodePacked(a.apk[0], a.apk[1], a.apk[2], a.apk[3]);
    }

    function operatorAt(address avsAddress, address operator, uint64 version)
        external
        view
        virtual
        returns (bool optedIn, bool hasKey, uint256 stake)
    {
        OpState memory s = _opAt(avsAddress, operator, version);
        return (s.optedIn, s.keyed, s.stake);
    }

    function taskOperators(address taskContractAddress, uint64 taskID)
        external
        view
        virtual
        returns (address[] memory operators, uint256[] memory stakes, bytes[] memory pubKeys)
    {
        Task storage t = _tasks[taskContractAddress][taskID];
        if (!t.exists) revert TaskNotExist();
        address avs = _avsOfTask[taskContractAddress];
        uint64 v = t.setVersion;
        operators = _snapshotOperators(avs, v);
        stakes = new uint256[](operators.length);
        pubKeys = new bytes[](operators.length);
        for (uint256 i; i < operators.length; ++i) {
            OpState memory s = _opAt(avs, operators[i], v);
            stakes[i] = s.stake;
            if (s.keyed) pubKeys[i] = _encodeKey(_pubkey[operators[i]][avs]);
        }
    }

    function getKnownOperators(address avsAddress) external view returns (address[] memory) {
        return _known[avsAddress];
    }

    function rewardOf(address avsAddress, address operator) external view returns (uint256) {
        return _reward[avsAddress][operator];
    }

    function slashedOf(address avsAddress, address operator) external view returns (uint256) {
        return _slashed[avsAddress][operator];
    }

    // ---------------------------------------------------------------- epochs
    function epochDuration(string memory epochIdentifier) public pure returns (uint64) {
        bytes32 h = keccak256(bytes(epochIdentifier));
        if (h == keccak256("minute")) return 60;
        if (h == keccak256("hour")) return 3600;
        if (h == keccak256("day")) return 86400;
        if (h == keccak256("week")) return 604800;
        if (h == keccak256("devnet-1s")) return 1;
        if (h == keccak256("devnet-2s")) return 2;
        revert EpochNotFound();
    }

    function _currentEpoch(string memory epochIdentifier) internal view virtual returns (int64) {
        return int64(uint64(block.timestamp / epochDuration(epochIdentifier)));
    }

    function getCurrentEpoch(string calldata epochIdentifier) external view returns (int64) {
        return _currentEpoch(epochIdentifier);
    }

    // ---------------------------------------------------------------- views
    function getRegisteredPubkey(address operatorAddress, address avsAddress) external view returns (bytes memory) {
        bytes memory key = _pubkey[operatorAddress][avsAddress];
        return key.length == 0 ? key : _encodeKey(key);
    }

    function getOptInOperators(address avsAddress) external view returns (address[] memory) {
        return _optedList[avsAddress];
    }

    function getAVSUSDValue(address avsAddress) external view returns (uint256) {
        return _usd(_cur[avsAddress].optedStake);
    }

    function getOperatorOptedUSDValue(address avsAddress, address operatorAddress) external view returns (uint256) {
        OpState memory s = _latest[avsAddress][operatorAddress];
        return _usd(s.optedIn ? s.stake : 0);
    }

    function getAVSEpochIdentifier(address avsAddress) external view returns (string memory) {
        return _avs[avsAddress].epochIdentifier;
    }

    function isOperator(address operatorAddress) external view returns (bool) {
        return _isOperator[operatorAddress];
    }

    function getChallengeInfo(address taskAddress, uint64 taskID) external view returns (address) {
        return _tasks[taskAddress][taskID].challenger;
    }

    function getTaskInfo(address taskAddress, uint64 taskID) public view virtual returns (TaskInfo memory info) {
        Task storage t = _tasks[taskAddress][taskID];
        if (!t.exists) revert TaskNotExist();
        address avs = _avsOfTask[taskAddress];
        info.taskContractAddress = taskAddress;
        info.name = t.name;
        info.hash = t.hash;
        info.taskID = taskID;
        info.taskResponsePeriod = t.taskResponsePeriod;
        info.taskStatisticalPeriod = t.taskStatisticalPeriod;
        info.taskChallengePeriod = t.taskChallengePeriod;
        info.thresholdPercentage = t.thresholdPercentage;
        info.startingEpoch = t.startingEpoch;
        info.actualThreshold = t.challenged ? _decimal(t.actualThreshold) : "";
        info.optInOperators = _snapshotOperators(avs, t.setVersion);
        info.isExpected = t.isExpected;
        info.eligibleRewardOperators = t.eligibleRewardOperators;
        info.eligibleSlashOperators = t.eligibleSlashOperators;
        info.errSignedOperators = new address[](0);
        int64 epoch = _currentEpoch(_avs[avs].epochIdentifier);
        if (epoch > int64(t.startingEpoch) + int64(t.taskResponsePeriod) + int64(t.taskStatisticalPeriod)) {
            // The epoch hook's statistics, computed when asked instead of at the epoch end.
            address[] memory ops = _resultOps[taskAddress][taskID];
            uint256 n;
            for (uint256 i = 0; i < ops.length; i++) {
                if (_results[taskAddress][taskID][ops[i]].phase == 2) n++;
            }
            info.signedOperators = new address[](n);
            info.operatorActivePower = new OperatorActivePower[](n);
            n = 0;
            for (uint256 i = 0; i < ops.length; i++) {
                if (_results[taskAddress][taskID][ops[i]].phase == 2) {
                    info.signedOperators[n] = ops[i];
                    info.operatorActivePower[n] = OperatorActivePower(ops[i], _opAt(avs, ops[i], t.setVersion).stake);
                    n++;
                }
            }
            address[] memory all = info.optInOperators;
            uint256 m;
            for (uint256 i = 0; i < all.length; i++) {
                if (_results[taskAddress][taskID][all[i]].phase != 2) m++;
            }
            info.noSignedOperators = new address[](m);
            m = 0;
            for (uint256 i = 0; i < all.length; i++) {
                if (_results[taskAddress][taskID][all[i]].phase != 2) info.noSignedOperators[m++] = all[i];
            }
            info.taskTotalPower = _decimal(_aggAt[avs][t.setVersion].optedStake);
        }
    }

    function getOperatorTaskResponseList(address taskAddress, uint64 taskID)
        public
        view
        virtual
        returns (OperatorResInfo[] memory list)
    {
        address avs = _avsOfTask[taskAddress];
        uint64 v = _tasks[taskAddress][taskID].setVersion;
        address[] memory ops = _resultOps[taskAddress][taskID];
        list = new OperatorResInfo[](ops.length);
        for (uint256 i = 0; i < ops.length; i++) {
            Result storage r = _results[taskAddress][taskID][ops[i]];
            list[i] = OperatorResInfo({
                taskContractAddress: taskAddress,
                taskID: taskID,
                operatorAddress: ops[i],
                taskResponseHash: r.phase == 2 ? _hex(keccak256(r.taskResponse)) : "",
                taskResponse: r.taskResponse,
                blsSignature: r.blsSignature,
                power: _opAt(avs, ops[i], v).stake,
                phase: r.phase
            });
        }
    }

    function getOperatorTaskResponse(address taskAddress, address operator, uint64 taskID)
        public
        view
        virtual
        returns (TaskResultInfo memory)
    {
        Result storage r = _results[taskAddress][taskID][operator];
        return TaskResultInfo({
            operatorAddress: operator,
            taskResponseHash: r.phase == 2 ? _hex(keccak256(r.taskResponse)) : "",
            taskResponse: r.taskResponse,
            blsSignature: r.blsSignature,
            taskContractAddress: taskAddress,
            taskID: taskID,
            phase: r.phase
        });
    }

    function _snapshotOperators(address avs, uint64 v) internal view returns (address[] memory out) {
        address[] storage known = _known[avs];
        address[] memory tmp = new address[](known.length);
        uint256 n;
        for (uint256 i = 0; i < known.length; i++) {
            if (_opAt(avs, known[i], v).optedIn) tmp[n++] = known[i];
        }
        out = new address[](n);
        for (uint256 i = 0; i < n; i++) {
            out[i] = tmp[i];
        }
    }

    // ---------------------------------------------------------------- hooks
    // Where a stricter profile of the chain (a subclass) departs from the emulation's defaults. Each
    // default is the emulation's own behaviour; keys and signatures stay EIP-2537 inside (all curve
    // arithmetic, hashing and storage use that form), the hooks only translate at the edge.

    /// A `sender` argument names the transaction's signer.
    function _checkOrigin(address sender) internal view virtual {
        if (sender != tx.origin) revert SenderNotOrigin();
    }

    /// The sender check of registerAVS and updateAVS (Imua's CheckOriginAndSender applies only there).
    function _checkAvsSender(address sender) internal view virtual {
        _checkOrigin(sender);
    }

    /// registerAVS's parameter checks beyond the emulation's own (run first).
    function _validateAVS(AVSParams calldata p) internal view virtual {}

    /// createTask's check of the task name.
    function _validateTaskName(string calldata name) internal pure virtual {}

    /// The 128-byte EIP-2537 G1 form of a public key as the caller sent it.
    function _decodeKey(bytes calldata pubKey) internal view virtual returns (bytes memory) {
        return pubKey;
    }

    /// How getRegisteredPubkey shows a stored (EIP-2537) key (only called for a registered, non-empty key).
    function _encodeKey(bytes memory eip2537Key) internal view virtual returns (bytes memory) {
        return eip2537Key;
    }

    /// The 256-byte EIP-2537 G2 form of a signature as sent (proof of possession, two-phase signature).
    function _decodeSig(bytes calldata sig) internal view virtual returns (bytes memory) {
        return sig;
    }

    /// Runs at the end of `_initialize`.
    function _onInitialize() internal virtual {}

    /// The USD value the stake views report for an emulated stake amount.
    function _usd(uint256 amount) internal pure virtual returns (uint256) {
        return amount;
    }

    /// challenge's authorisation: returns the AVS that owns the task contract. As on Imua since Aug 2025
    /// (precompiles/avs/tx.go, Challenge), `sender` is not tx.origin but the registered AVS that owns the
    /// task; here the calling contract must be that AVS too.
    function _checkChallenger(address sender, address taskContractAddress) internal view virtual returns (address avs) {
        avs = _avsOfTask[taskContractAddress];
        if (avs == address(0)) revert AVSNotRegistered();
        if (sender != avs || msg.sender != avs) revert CallerNotTaskAVS();
    }

    function _emitChallengeInitiated(
        uint64 taskID,
        address taskContractAddress,
        address sender,
        uint8 actualThreshold,
        bool isExpected,
        address[] calldata eligibleRewardOperators,
        address[] calldata eligibleSlashOperators
    ) internal virtual {
        emit ChallengeInitiated(
            taskID,
            taskContractAddress,
            sender,
            actualThreshold,
            isExpected,
            eligibleRewardOperators,
            eligibleSlashOperators
        );
    }

    // ---------------------------------------------------------------- helpers

    function _contains(address[] memory list, address x) internal pure returns (bool) {
        for (uint256 i = 0; i < list.length; i++) {
            if (list[i] == x) return true;
        }
        return false;
    }

    function _decimal(uint256 v) internal pure returns (string memory) {
        if (v == 0) return "0";
        uint256 len;
        for (uint256 x = v; x != 0; x /= 10) {
            len++;
        }
        bytes memory b = new bytes(len);
        for (; v != 0; v /= 10) {
            b[--len] = bytes1(uint8(48 + v % 10));
        }
        return string(b);
    }

    function _hex(bytes32 h) internal pure returns (string memory) {
        bytes memory digits = "0123456789abcdef";
        bytes memory b = new bytes(66);
        b[0] = "0";
        b[1] = "x";
        for (uint256 i = 0; i < 32; i++) {
            b[2 + 2 * i] = digits[uint8(h[i]) >> 4];
            b[3 + 2 * i] = digits[uint8(h[i]) & 15];
        }
        return string(b);
    }
}
