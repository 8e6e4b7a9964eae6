// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import "./IAVSManager.sol";
import {IAVSManagerExt} from "./IAVSManagerExt.sol";

/// The code at 0x…0901 on the strict Imua profile. It has no storage of its own: every call it accepts is a
/// delegatecall into the ImuaAvsPrecompile runtime installed at IMPL (anvil_setCode / vm.etch), so the state
/// lives at 0x…0901. It reproduces precompiles/avs/avs.go `Run` at the EVM boundary:
/// - transaction methods (registerAVS, updateAVS, deregisterAVS, registerOperatorToAVS,
///   deregisterOperatorFromAVS, registerBLSPublicKey, challenge, operatorSubmitTask): a failure returns
///   abi.encode(false) and its state changes are dropped (the reverted delegatecall, as Imua's CacheContext
///   whose writeFunc is not called);
/// - createTask: a failure REVERTS. avs.go packs `method.Outputs.Pack(false, uint64(0))` but createTask has a
///   single output (uint64 taskID), so Pack fails with an argument-count error, Run returns that error and
///   the call reverts (no data);
/// - views: the result as is; on failure what avs.go packs instead (getCurrentEpoch 0, getRegisteredPubkey
///   empty bytes, getAVSUSDValue / getOperatorOptedUSDValue 0, isOperator false, getAVSEpochIdentifier "",
///   getChallengeInfo the zero address), or a revert where that Pack fails too (getOptInOperators packs
///   []string{} into address[], getTaskInfo / getOperatorTaskResponse / getOperatorTaskResponseList pack nil);
/// - the set-up stand-ins for Imua's other modules pass through unchanged: initialize, registerOperator,
///   setOperatorStake, admin, chainIdWithoutRevision, initialized, registrationMessage;
/// - every other selector, in particular the IAVSManagerExt functions Imua does not have
///   (verifyTaskAggregate, taskSnapshot, operatorAt, getKnownOperators, epochDuration, rewardOf, slashedOf),
///   reverts NotOnImua(selector).
contract ImuaPrecompileFront {
    /// Where the ImuaAvsPrecompile runtime is installed ("AB" + the precompile's 0901).
    address internal constant IMPL = 0x0000000000000000000000000000000000Ab0901;

    error NotOnImua(bytes4 selector);

    uint256 private constant REFUSE = 0;
    uint256 private constant TX = 1; // failure → false
    uint256 private constant REVERT = 2; // failure → revert (createTask, views whose Pack fails)
    uint256 private constant PASS = 3; // set-up: as the implementation does
    uint256 private constant VIEW_ZERO = 4; // failure → one zero word (0, false, address(0), int64 0)
    uint256 private constant VIEW_EMPTY = 5; // failure → abi.encode(empty bytes / string)

    fallback() external {
        bytes4 s = msg.sig;
        uint256 kind = _kind(s);
        if (kind == REFUSE) revert NotOnImua(s);
        assembly {
            calldatacopy(0, 0, calldatasize())
            let ok := delegatecall(gas(), IMPL, 0, calldatasize(), 0, 0)
            let n := returndatasize()
            if ok {
                returndatacopy(0, 0, n)
                return(0, n)
            }
            switch kind
            case 1 {
                mstore(0, 0)
                return(0, 0x20)
            }
            case 4 {
                mstore(0, 0)
                return(0, 0x20)
            }
            case 5 {
                mstore(0, 0x20)
                mstore(0x20, 0)
                return(0, 0x40)
            }
            default {
                returndatacopy(0, 0, n)
                revert(0, n)
            }
        }
    }

    function _kind(bytes4 s) private pure returns (uint256) {
        if (
            s == IAVSManager.registerAVS.selector || s == IAVSManager.updateAVS.selector
                || s == IAVSManager.deregisterAVS.selector || s == IAVSManager.registerOperatorToAVS.selector
                || s == IAVSManager.deregisterOperatorFromAVS.selector || s == IAVSManager.registerBLSPublicKey.selector
                || s == IAVSManager.challenge.selector || s == IAVSManager.operatorSubmitTask.selector
        ) return TX;
        if (
            s == IAVSManager.createTask.selector || s == IAVSManager.getOptInOperators.selector
                || s == IAVSManager.getTaskInfo.selector || s == IAVSManager.getOperatorTaskResponse.selector
                || s == IAVSManager.getOperatorTaskResponseList.selector
        ) return REVERT;
        if (
            s == IAVSManager.getCurrentEpoch.selector || s == IAVSManager.getAVSUSDValue.selector
                || s == IAVSManager.getOperatorOptedUSDValue.selector || s == IAVSManager.isOperator.selector
                || s == IAVSManager.getChallengeInfo.selector
        ) return VIEW_ZERO;
        if (s == IAVSManager.getRegisteredPubkey.selector || s == IAVSManager.getAVSEpochIdentifier.selector) {
            return VIEW_EMPTY;
        }
        if (
            s == IAVSManagerExt.initialize.selector || s == IAVSManagerExt.registerOperator.selector
                || s == IAVSManagerExt.setOperatorStake.selector || s == IAVSManagerExt.admin.selector
                || s == IAVSManagerExt.chainIdWithoutRevision.selector || s == bytes4(keccak256("initialized()"))
                || s == IAVSManagerExt.registrationMessage.selector
        ) return PASS;
        return REFUSE;
    }
}
