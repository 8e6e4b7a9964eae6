// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AvsPrecompile} from "../src/AvsPrecompile.sol";
import {OperatorRegistry, OperatorRegistryAux} from "../src/OperatorRegistry.sol";
import {AvsServiceContractTest} from "./AvsServiceContract.t.sol";
import "../src/IAVSManager.sol";
import {IAVSManagerExt} from "../src/IAVSManagerExt.sol";

/// The aggregated flow on a Prague chain without the precompile: the whole service-contract suite again,
/// with the registry deployed as ordinary contracts within EIP-170 (`OperatorRegistry` and its aux half,
/// initialised by the constructor) and nothing at 0x…0901.
contract OrdinaryRegistryTest is AvsServiceContractTest {
    /// EIP-170's limit on deployed code.
    uint256 internal constant MAX_CODE = 24_576;

    function _installRegistry() internal override {
        OperatorRegistryAux aux = new OperatorRegistryAux();
        pre = new OperatorRegistry(address(this), CHAIN_ID, address(aux));
    }

    function test_registry_is_an_ordinary_contract() public {
        assertEq(avs.registry(), address(pre));
        assertTrue(address(pre) != AVSMANAGER_PRECOMPILE_ADDRESS);
        assertEq(AVSMANAGER_PRECOMPILE_ADDRESS.code.length, 0);
        // Initialised in its creating transaction: nobody can take it over afterwards.
        assertEq(pre.admin(), address(this));
        vm.expectRevert(AvsPrecompile.AlreadyInitialized.selector);
        pre.initialize(address(0xbad), "other");
    }

    function test_both_halves_fit_eip170() public view {
        address aux = OperatorRegistry(address(pre)).AUX();
        assertLe(address(pre).code.length, MAX_CODE, "OperatorRegistry exceeds EIP-170");
        assertLe(aux.code.length, MAX_CODE, "OperatorRegistryAux exceeds EIP-170");
        // The emulation itself does not fit: that is why the registry is cut in two.
        assertGt(type(AvsPrecompile).runtimeCode.length, MAX_CODE);
    }

    /// The aux's functions write the front's storage and emit from the front's address.
    function test_set_up_in_the_aux_lands_in_the_front() public {
        address aux = OperatorRegistry(address(pre)).AUX();
        address op = address(0x0be);
        vm.expectEmit(true, false, false, false, address(pre));
        emit IAVSManagerExt.OperatorRegistered(op);
        vm.prank(op, op);
        assertTrue(pre.registerOperator());
        assertTrue(pre.isOperator(op));
        assertFalse(AvsPrecompile(aux).isOperator(op));
        // The aux alone is an uninitialised shell whose hot half is not there.
        assertFalse(AvsPrecompile(aux).initialized());
        vm.expectRevert(OperatorRegistryAux.NotInAux.selector);
        AvsPrecompile(aux).taskSnapshot(address(avs), 1);
    }

    function test_the_aux_must_exist() public {
        vm.expectRevert(abi.encodeWithSelector(OperatorRegistry.AuxHasNoCode.selector, address(0xdead)));
        new OperatorRegistry(address(this), CHAIN_ID, address(0xdead));
    }

    function test_an_uninitialised_registry_waits_for_initialize() public {
        OperatorRegistry fresh = new OperatorRegistry(address(0), "", address(new OperatorRegistryAux()));
        assertFalse(fresh.initialized());
        fresh.initialize(address(this), CHAIN_ID);
        assertEq(fresh.admin(), address(this));
    }
}
