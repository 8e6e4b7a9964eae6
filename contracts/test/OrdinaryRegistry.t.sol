// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AvsPrecompile} from "../src/AvsPrecompile.sol";
import {AvsServiceContractTest} from "./AvsServiceContract.t.sol";
import "../src/IAVSManager.sol";

/// The aggregated flow on a Prague chain without the precompile: the whole service-contract suite again,
/// with the registry deployed as an ordinary contract (initialised by its constructor) and nothing at
/// 0x…0901.
contract OrdinaryRegistryTest is AvsServiceContractTest {
    function _installRegistry() internal override {
        pre = new AvsPrecompile(address(this), CHAIN_ID);
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

    function test_an_uninitialised_registry_waits_for_initialize() public {
        AvsPrecompile fresh = new AvsPrecompile(address(0), "");
        assertFalse(fresh.initialized());
        fresh.initialize(address(this), CHAIN_ID);
        assertEq(fresh.admin(), address(this));
    }
}
