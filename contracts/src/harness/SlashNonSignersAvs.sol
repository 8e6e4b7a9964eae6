// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AvsServiceContract} from "../AvsServiceContract.sol";

/// Test-only: the sum AVS with a planted bug, "slash every non-signer" (issue 12). Under the default rule
/// absence forfeits a task's reward and never slashes; this variant slashes every opted-in operator that
/// is not in the accepted aggregate, as the seed's `_judgeOne` once did. The simulator deploys it in
/// `sim/tests/planted_bugs.rs` to show that its auditor catches the unfair slash. Never deployed by exoavs
/// itself.
contract SlashNonSignersAvs is AvsServiceContract {
    constructor(address registry_) AvsServiceContract(registry_) {}

    function _slashAbsent(uint64, address, bool present) internal pure override returns (bool) {
        return !present;
    }
}
