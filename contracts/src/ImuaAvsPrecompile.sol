// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import "./IAVSManager.sol";
import {AvsPrecompile} from "./AvsPrecompile.sol";
import {BLS} from "./BLS.sol";
import {BlsCompressed} from "./BlsCompressed.sol";

/// The STRICT IMUA PROFILE of the precompile emulation: AvsPrecompile with its hooks set to what
/// imuachain (imua-xyz/imuachain @ cb32b9c8) does, point by point. It is never called directly: its runtime
/// is installed at `ImuaPrecompileFront.IMPL` and reached by the front at 0x…0901 through delegatecall (so
/// the storage is 0x…0901's), which also turns failures into Imua's `false` and hides the extension.
/// The runtime exceeds EIP-170's 24 KiB: install it with anvil_setCode / vm.etch, never deploy it.
///
/// What changes against the emulation (file:line of imuachain in brackets):
/// - Keys are 48-byte compressed G1, signatures 96-byte compressed G2 (x/avs/keeper/keeper.go:325
///   bls.PublicKeyFromBytes, :653 blst.VerifySignature); stored EIP-2537 inside, getRegisteredPubkey
///   returns the 48 bytes. A 128-byte key is refused (length).
/// - getCurrentEpoch is x/epochs' counter (x/epochs/keeper/abci.go BeginBlocker): 1 from initialize (the
///   genesis time of every identifier), then +1 each time a block's time is strictly after the current
///   epoch's start + duration: epoch(t) = t <= genesis ? 1 : ceil((t − genesis) / duration).
/// - `sender` is checked against tx.origin only in registerAVS / updateAVS, and there as
///   CheckOriginAndSender (precompiles/avs/types.go:217): sender == calling contract, or sender ==
///   tx.origin. Nowhere else (tx.go: BindOperatorToAVS, CreateAVSTask, RegisterBLSPublicKey,
///   OperatorSubmitTask ignore the origin).
/// - registerAVS / updateAVS parameters as GetAVSParamsFromInputs (types.go:17-104): minStakeAmount > 0,
///   non-empty epoch identifier; asset ids must be staking assets (keeper.go:80 ValidateAssetIDs, :114,
///   :217). The staking assets of this profile are those of imuachain's localnet genesis (local_node.sh,
///   x/assets/types/general.go): see `isStakingAsset`.
/// - registerAVS by a sender that is not among the owners returns EMPTY data, not false (tx.go:47:
///   `errorsmod.Wrap(err, …)` with err == nil is nil, so RegisterAVS returns (nil, nil)).
/// - updateAVS merges (keeper.go:194-258): name, minStakeAmount, unbonding period, epoch identifier,
///   miniOptInOperators, minTotalStakeAmount and the proportions only when non-empty / > 0; the task,
///   slash and reward addresses, owners, whitelist, asset ids and minSelfDelegation always
///   (`common.Address.String()` is never "", ABI-decoded arrays are never nil).
/// - createTask needs a non-empty name (types.go:114).
/// - USD values are LegacyDec.BigInt(): the emulated stake (whole USD) × 10^18 (query.go:110, :137);
///   getTaskInfo's taskTotalPower is LegacyDec.String() ("30.000000000000000000"), operator powers × 10^18;
///   statistics exist only for a task with at least one result (impl_epoch_hook.go:34, avs.go:140), else
///   taskTotalPower is "0.000000000000000000" and the lists are empty.
/// - getOperatorTaskResponse of an operator without a result fails (keeper task.go:240, avs.go Pack(nil));
///   getOperatorTaskResponseList lists only the statistics' signed operators (query.go:314).
/// - A phase-2 commit may be submitted again (keeper.go:614-661 has no "already committed" check).
/// - challenge (tx.go:228-262): the first argument must be a registered AVS that owns the task contract;
///   the calling contract is not checked at all. The ownership compare is avsInfo.AvsAddress (lower-case
///   hex after registerAVS, keeper.go:120; EIP-55 after an updateAVS, keeper.go:257) against
///   `callerAddress.String()` (EIP-55): so it holds only if the AVS was updated since registering, or its
///   EIP-55 form is all lower case. Reproduced (`_checksumIsLower`).
/// - challenge stores the verdict only (keeper.go:503-512): no reward or slash is executed here.
/// - ChallengeInitiated has topic0 only, every argument in data (events.go:230 emitEvent).
contract ImuaAvsPrecompile is AvsPrecompile {
    error MinStakeAmountZero();
    error EmptyEpochIdentifier();
    error InvalidAssetID(string assetID);
    error EmptyTaskName();
    error NoTaskResult();

    /// The time every epoch identifier started counting (x/epochs' genesis StartTime).
    uint256 public genesisTime;
    /// Whether the chain's avsInfo.AvsAddress is EIP-55 (set by an update) rather than lower case.
    mapping(address avs => bool) internal _addressChecksummed;

    constructor() AvsPrecompile(address(0), "") {}

    // ---------------------------------------------------------------- hooks
    function _onInitialize() internal override {
        genesisTime = block.timestamp;
    }

    function _checkOrigin(address) internal view override {}

    /// CheckOriginAndSender (precompiles/avs/types.go).
    function _checkAvsSender(address sender) internal view override {
        if (sender != msg.sender && sender != tx.origin) revert SenderNotOrigin();
    }

    function _validateAVS(AVSParams calldata p) internal view override {
        _checkAvsSender(p.sender);
        if (p.minStakeAmount == 0) revert MinStakeAmountZero();
        if (bytes(p.epochIdentifier).length == 0) revert EmptyEpochIdentifier();
        if (!_contains(p.avsOwnerAddresses, p.sender)) {
            // tx.go RegisterAVS: `return nil, errorsmod.Wrap(err, …)` with err == nil: success, no data.
            assembly {
                return(0, 0)
            }
        }
        epochDuration(p.epochIdentifier); // keeper.go:96, the epoch must exist
        _validateAssets(p.assetIDs);
    }

    function _applyUpdate(AvsInfo storage a, AVSParams calldata p) internal override {
        if (p.minStakeAmount == 0) revert MinStakeAmountZero();
        if (bytes(p.epochIdentifier).length == 0) revert EmptyEpochIdentifier();
        _validateAssets(p.assetIDs);
        if (bytes(p.avsName).length != 0) a.name = p.avsName;
        a.minStakeAmount = p.minStakeAmount; // > 0, checked above
        // a.taskAddress: set by the caller (AvsPrecompile.updateAVS) already
        a.slashAddress = p.slashAddress;
        a.rewardAddress = p.rewardAddress;
        a.owners = p.avsOwnerAddresses;
        a.whitelist = p.whitelistAddresses;
        delete a.assetIDs;
        for (uint256 i = 0; i < p.assetIDs.length; i++) {
            a.assetIDs.push(p.assetIDs[i]);
        }
        if (p.avsUnbondingPeriod > 0) a.avsUnbondingPeriod = p.avsUnbondingPeriod;
        a.minSelfDelegation = p.minSelfDelegation;
        // the new identifier is not looked up on Imua (keeper.go:93-96 checks the stored one)
        a.epochIdentifier = p.epochIdentifier;
        if (p.miniOptInOperators > 0) a.miniOptInOperators = p.miniOptInOperators;
        if (p.minTotalStakeAmount > 0) a.minTotalStakeAmount = p.minTotalStakeAmount;
        if (p.avsSlashProportion > 0) a.slashProportion = p.avsSlashProportion;
        if (p.avsRewardProportion > 0) a.rewardProportion = p.avsRewardProportion;
        _addressChecksummed[msg.sender] = true;
    }

    function _validateTaskName(string calldata name) internal pure override {
        if (bytes(name).length == 0) revert EmptyTaskName();
    }

    function _decodeKey(bytes calldata pubKey) internal view override returns (bytes memory) {
        return BlsCompressed.decodeG1(pubKey);
    }

    function _encodeKey(bytes memory key) internal pure override returns (bytes memory) {
        return BlsCompressed.encodeG1(key);
    }

    function _decodeSig(bytes calldata sig) internal view override returns (bytes memory) {
        return BlsCompressed.decodeG2(sig);
    }

    function _currentEpoch(string memory epochIdentifier) internal view override returns (int64) {
        uint256 d = epochDuration(epochIdentifier);
        uint256 g = genesisTime;
        if (block.timestamp <= g) return 1;
        return int64(uint64((block.timestamp - g + d - 1) / d));
    }

    function _usd(uint256 amount) internal pure override returns (uint256) {
        return amount * 1e18;
    }

    /// tx.go Challenge: IsAVS(sender); the task's AVS must be `sender` (compared as the chain's strings).
    function _checkChallenger(address sender, address taskContractAddress)
        internal
        view
        override
        returns (address avs)
    {
        if (sender == address(0) || taskContractAddress == address(0)) revert InvalidParams();
        if (!_avs[sender].registered) revert AVSNotRegistered();
        avs = _avsOfTask[taskContractAddress];
        if (avs == address(0)) revert AVSNotRegistered();
        if (avs != sender) revert CallerNotTaskAVS();
        if (!_addressChecksummed[avs] && !_checksumIsLower(avs)) revert CallerNotTaskAVS();
    }

    /// keeper.go RaiseAndResolveChallenge records the lists and executes nothing.
    function _execute(address, Task storage, address[] calldata, address[] calldata) internal override {}

    function _emitChallengeInitiated(
        uint64 taskID,
        address taskContractAddress,
        address sender,
        uint8 actualThreshold,
        bool isExpected,
        address[] calldata eligibleRewardOperators,
        address[] calldata eligibleSlashOperators
    ) internal override {
        bytes memory data = abi.encode(
            taskID, taskContractAddress, sender, actualThreshold, isExpected, eligibleRewardOperators, eligibleSlashOperators
        );
        bytes32 topic = ChallengeInitiated.selector;
        assembly {
            log1(add(data, 0x20), mload(data), topic)
        }
    }

    /// Phase 2 as keeper.go SubmitTaskResult PhaseDoCommit: a result with the same signature must exist
    /// (phase 1 or an earlier commit, which this one overwrites), in the statistical window, signature valid.
    function _commit(
        address sender,
        uint64 taskID,
        address taskContractAddress,
        bytes calldata taskResponse,
        bytes calldata blsSignature
    ) internal override {
        (address avs, int64 epoch, int64 responseEnd, int64 statisticalEnd) =
            _windows(sender, taskContractAddress, taskID);
        Result storage r = _results[taskContractAddress][taskID][sender];
        if (r.phase == 0 || keccak256(r.blsSignature) != keccak256(blsSignature)) revert InconsistentSignature();
        if (epoch <= responseEnd) revert SubmitTooSoon();
        if (epoch > statisticalEnd) revert SubmitTooLate();
        if (!BLS.verify(_pubkey[sender][avs], abi.encodePacked(keccak256(taskResponse)), _decodeSig(blsSignature))) {
            revert InvalidTaskSignature();
        }
        r.phase = 2;
        r.taskResponse = taskResponse;
    }

    // ---------------------------------------------------------------- views as query.go returns them
    function getTaskInfo(address taskAddress, uint64 taskID) public view override returns (TaskInfo memory info) {
        info = super.getTaskInfo(taskAddress, taskID);
        if (bytes(info.taskTotalPower).length != 0 && _resultOps[taskAddress][taskID].length != 0) {
            info.taskTotalPower = string.concat(info.taskTotalPower, ".000000000000000000");
            for (uint256 i = 0; i < info.operatorActivePower.length; i++) {
                info.operatorActivePower[i].power *= 1e18;
            }
        } else {
            info.taskTotalPower = "0.000000000000000000";
            info.signedOperators = new address[](0);
            info.noSignedOperators = new address[](0);
            info.operatorActivePower = new OperatorActivePower[](0);
        }
    }

    function getOperatorTaskResponse(address taskAddress, address operator, uint64 taskID)
        public
        view
        override
        returns (TaskResultInfo memory)
    {
        if (_results[taskAddress][taskID][operator].phase == 0) revert NoTaskResult();
        return super.getOperatorTaskResponse(taskAddress, operator, taskID);
    }

    function getOperatorTaskResponseList(address taskAddress, uint64 taskID)
        public
        view
        override
        returns (OperatorResInfo[] memory list)
    {
        TaskInfo memory info = getTaskInfo(taskAddress, taskID); // reverts for an unknown task, as on Imua
        OperatorResInfo[] memory all = super.getOperatorTaskResponseList(taskAddress, taskID);
        list = new OperatorResInfo[](info.signedOperators.length);
        uint256 n;
        for (uint256 i = 0; i < all.length; i++) {
            if (all[i].phase == 2 && n < list.length) {
                all[i].power *= 1e18;
                list[n++] = all[i];
            }
        }
    }

    // ---------------------------------------------------------------- assets
    /// The staking assets of imuachain's localnet genesis: the native IMUA (x/assets/types/general.go
    /// ImuachainAssetID) and local_node.sh's client-chain tokens (USDT-address token and NST ETH on
    /// LayerZero chain 101 = 0x65, NST SOL on 291 = 0x123). The emulated stake stands for any of them.
    function isStakingAsset(string memory assetID) public pure returns (bool) {
        bytes32 h = keccak256(bytes(assetID));
        return h == keccak256("0x0000000000000000000000000000000000000000_0x0")
            || h == keccak256("0xdac17f958d2ee523a2206206994597c13d831ec7_0x65")
            || h == keccak256("0xeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee_0x65")
            || h == keccak256("0xeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee_0x123");
    }

    function _validateAssets(string[] calldata assetIDs) internal pure {
        for (uint256 i = 0; i < assetIDs.length; i++) {
            if (!isStakingAsset(assetIDs[i])) revert InvalidAssetID(assetIDs[i]);
        }
    }

    /// True iff the EIP-55 form of `a` has no upper-case letter (so it equals the lower-case hex).
    function _checksumIsLower(address a) internal pure returns (bool) {
        bytes memory hexStr = new bytes(40);
        uint160 v = uint160(a);
        for (uint256 i = 0; i < 40; i++) {
            uint8 nib = uint8(v >> (4 * (39 - i))) & 0xf;
            hexStr[i] = bytes1(nib < 10 ? 48 + nib : 87 + nib);
        }
        bytes32 h = keccak256(hexStr);
        for (uint256 i = 0; i < 40; i++) {
            uint8 nib = uint8(v >> (4 * (39 - i))) & 0xf;
            uint8 hn = (i % 2 == 0 ? uint8(h[i / 2]) >> 4 : uint8(h[i / 2])) & 0xf;
            if (nib >= 10 && hn >= 8) return false;
        }
        return true;
    }
}
