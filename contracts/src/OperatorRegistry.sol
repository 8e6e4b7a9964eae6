// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import "./IAVSManager.sol";
import {AvsPrecompile} from "./AvsPrecompile.sol";

/// The operator registry on a stock Prague chain, where nothing sits at 0x…0901 and EIP-170 limits a
/// contract to 24,576 bytes. It is `AvsPrecompile` itself (31 KB, too large to deploy) cut in two along
/// its functions:
/// - `OperatorRegistry`, at the address every caller uses, holds the storage and runs what a task costs:
///   createTask, verifyTaskAggregate, operatorSubmitTask, challenge, getTaskInfo, the snapshot views and
///   the epoch.
/// - `OperatorRegistryAux` holds the set-up (operators, stake, AVS registration, opt-in/out, BLS keys with
///   proof of possession and the registration message), the two-phase response views and
///   `taskOperators` (the roles' one-call snapshot read). The front
///   reaches it with DELEGATECALL, so its code runs on the front's storage and its events are the front's;
///   each of those transactions pays one DELEGATECALL more (EIP-2929: 2,600 gas for the aux's first
///   access), while the hot path runs as on the emulation.
///
/// Both inherit AvsPrecompile, so the storage layout, the rules, the errors and the ABI are the emulation's
/// by construction; each overrides the other's half with a stub, and the compiler leaves out the bodies
/// nothing reaches. `contracts/test/OrdinaryRegistry.t.sol` runs the whole service-contract suite on the
/// pair. Deployment: the aux first (any constructor arguments: its own storage is never used), then
/// `OperatorRegistry(admin, chainId, aux)`, which initialises itself in its creating transaction.
contract OperatorRegistry is AvsPrecompile {
    /// The aux half, fixed at construction (immutable: in code, so no storage slot of the layout moves).
    address public immutable AUX;

    error AuxHasNoCode(address aux);

    constructor(address admin_, string memory chainId, address aux) AvsPrecompile(admin_, chainId) {
        if (aux.code.length == 0) revert AuxHasNoCode(aux);
        AUX = aux;
    }

    /// Runs the call's own calldata in the aux half and returns (or reverts with) exactly what it returned.
    function _delegate() private {
        address aux = AUX;
        assembly ("memory-safe") {
            calldatacopy(0, 0, calldatasize())
            let ok := delegatecall(gas(), aux, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            if iszero(ok) { revert(0, returndatasize()) }
            return(0, returndatasize())
        }
    }

    /// `_delegate` typed as view, for the view functions. A caller reaches those with STATICCALL, and a
    /// DELEGATECALL inside a static context may not write either, so the aux's view code runs read-only
    /// exactly as it would here.
    function _delegateView() private view {
        function() internal f = _delegate;
        function() internal view g;
        assembly ("memory-safe") {
            g := f
        }
        g();
    }

    // ---------------------------------------------------------------- set-up, in the aux
    function registerOperator() external override returns (bool) {
        _delegate();
    }

    function setOperatorStake(address, address, uint128) external override {
        _delegate();
    }

    function registerAVS(AVSParams calldata) external override returns (bool) {
        _delegate();
    }

    function updateAVS(AVSParams calldata) external override returns (bool) {
        _delegate();
    }

    function deregisterAVS(address, string calldata) external override returns (bool) {
        _delegate();
    }

    function registerOperatorToAVS(address) external override returns (bool) {
        _delegate();
    }

    function deregisterOperatorFromAVS(address) external override returns (bool) {
        _delegate();
    }

    function registerBLSPublicKey(address, address, bytes calldata, bytes calldata) external override returns (bool) {
        _delegate();
    }

    function registrationMessage(address) public view override returns (string memory message) {
        _delegateView();
        return message; // not reached: _delegateView returns from assembly
    }

    // ---------------------------------------------------------------- the two-phase views, in the aux
    function getOperatorTaskResponseList(address, uint64) public view override returns (OperatorResInfo[] memory list) {
        _delegateView();
        return list; // not reached: _delegateView returns from assembly
    }

    function taskOperators(address, uint64)
        external
        view
        override
        returns (address[] memory operators, uint256[] memory stakes, bytes[] memory pubKeys)
    {
        _delegateView();
        return (operators, stakes, pubKeys); // not reached: _delegateView returns from assembly
    }

    function getOperatorTaskResponse(address, address, uint64)
        public
        view
        override
        returns (TaskResultInfo memory result)
    {
        _delegateView();
        return result; // not reached: _delegateView returns from assembly
    }
}

/// The aux half of `OperatorRegistry` (see there). Called directly it only ever touches its own, unused
/// storage; the hot functions, which live in the front, revert here.
contract OperatorRegistryAux is AvsPrecompile {
    error NotInAux();

    constructor() AvsPrecompile(address(0), "") {}

    function createTask(address, string calldata, bytes calldata, uint64, uint64, uint8, uint64)
        external
        pure
        override
        returns (uint64)
    {
        revert NotInAux();
    }

    function challenge(address, uint64, address, uint8, bool, address[] calldata, address[] calldata)
        external
        pure
        override
        returns (bool)
    {
        revert NotInAux();
    }

    function verifyTaskAggregate(address, uint64, bytes32, address[] calldata, bytes calldata, bytes calldata)
        external
        pure
        override
        returns (uint256, uint256)
    {
        revert NotInAux();
    }

    function operatorSubmitTask(address, uint64, bytes calldata, bytes calldata, address, uint8)
        external
        pure
        override
        returns (bool)
    {
        revert NotInAux();
    }

    function taskSnapshot(address, uint64) external pure override returns (uint64, uint256, uint256, bytes memory) {
        revert NotInAux();
    }

    function operatorAt(address, address, uint64) external pure override returns (bool, bool, uint256) {
        revert NotInAux();
    }

    function getTaskInfo(address, uint64) public pure override returns (TaskInfo memory) {
        revert NotInAux();
    }
}
