// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {BLS} from "../src/BLS.sol";
import {AvsPrecompile} from "../src/AvsPrecompile.sol";
import {AvsServiceContract} from "../src/AvsServiceContract.sol";
import "../src/IAVSManager.sol";

/// Real BLS signing inside forge: scalar multiplications with the EIP-2537 MSM precompiles on known
/// secret keys (pk = sk·G1, sig = sk·H(m)), so every signature the tests use is a genuine one.
library TestBLS {
    uint256 internal constant R = 0x73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001;

    function g1Generator() internal pure returns (bytes memory) {
        return abi.encodePacked(
            uint256(0x17f1d3a73197d7942695638c4fa9ac0f),
            uint256(0xc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb),
            uint256(0x08b3f481e3aaa0f1a09e30ed741d8ae4),
            uint256(0xfcf5e095d5d00af600db18cb2c04b3edd03cc744a2888ae40caa232946c5e7e1)
        );
    }

    function publicKey(uint256 sk) internal view returns (bytes memory out) {
        bytes memory input = abi.encodePacked(g1Generator(), sk);
        out = new bytes(128);
        bool ok;
        assembly {
            ok := staticcall(gas(), 0x0c, add(input, 0x20), 160, add(out, 0x20), 128)
        }
        require(ok, "G1MSM");
    }

    function mulG2(bytes memory point, uint256 sk) internal view returns (bytes memory out) {
        bytes memory input = abi.encodePacked(point, sk);
        out = new bytes(256);
        bool ok;
        assembly {
            ok := staticcall(gas(), 0x0e, add(input, 0x20), 288, add(out, 0x20), 256)
        }
        require(ok, "G2MSM");
    }

    function sign(uint256 sk, bytes memory message) internal view returns (bytes memory) {
        return mulG2(BLS.hashToG2(message), sk);
    }

    function sign32(uint256 sk, bytes32 digest) internal view returns (bytes memory) {
        return sign(sk, abi.encodePacked(digest));
    }
}

abstract contract AvsBase is Test {
    AvsPrecompile internal pre = AvsPrecompile(AVSMANAGER_PRECOMPILE_ADDRESS);
    AvsServiceContract internal avs;
    address internal owner = address(0xA11CE);
    string internal constant CHAIN_ID = "exoavs_31337";
    string internal epochId = "minute";
    uint64 internal constant RESP = 2;
    uint64 internal constant STAT = 2;
    uint64 internal constant CHAL = 1;

    address[] internal ops;
    mapping(address => uint256) internal skOf;

    function setUp() public virtual {
        vm.warp(1_700_000_000);
        _installRegistry();
        avs = _deploy();
        vm.prank(owner, owner);
        avs.registerAVS(_params(address(avs)));
    }

    /// The operator registry: by default the emulation at the precompile's address, as devnet installs it.
    function _installRegistry() internal virtual {
        vm.etch(AVSMANAGER_PRECOMPILE_ADDRESS, type(AvsPrecompile).runtimeCode);
        pre.initialize(address(this), CHAIN_ID);
    }

    /// The AVS contract under test; a test of another rule deploys its own contract on the base.
    function _deploy() internal virtual returns (AvsServiceContract) {
        return new AvsServiceContract(address(pre));
    }

    function _params(address task) internal view returns (AVSParams memory p) {
        address[] memory owners = new address[](1);
        owners[0] = owner;
        p.sender = owner;
        p.avsName = "sum-avs";
        p.taskAddress = task;
        p.avsOwnerAddresses = owners;
        p.assetIDs = new string[](0);
        p.whitelistAddresses = new address[](0);
        p.epochIdentifier = epochId;
        p.avsRewardProportion = 10;
        p.avsSlashProportion = 20;
    }

    function _opAddr(uint256 i) internal pure returns (address) {
        return address(uint160(0x10000 + i));
    }

    function _sk(uint256 i) internal pure returns (uint256) {
        return uint256(keccak256(abi.encode("exoavs-test-sk", i))) % TestBLS.R;
    }

    /// Registers operator i (operator module, opt-in, BLS key with its proof of possession, stake).
    function _addOperator(uint256 i, uint128 stake) internal returns (address op) {
        op = _opAddr(i);
        uint256 sk = _sk(i);
        skOf[op] = sk;
        ops.push(op);
        vm.startPrank(op, op);
        pre.registerOperator();
        avs.registerOperatorToAVS();
        avs.registerBLSPublicKey(TestBLS.publicKey(sk), _pop(sk, op));
        vm.stopPrank();
        pre.setOperatorStake(address(avs), op, stake);
    }

    /// An opted-in operator with stake but no BLS key (it counts in the total, never signs).
    function _addKeylessOperator(uint256 i, uint128 stake) internal returns (address op) {
        op = _opAddr(i);
        vm.startPrank(op, op);
        pre.registerOperator();
        avs.registerOperatorToAVS();
        vm.stopPrank();
        pre.setOperatorStake(address(avs), op, stake);
    }

    function _pop(uint256 sk, address op) internal view returns (bytes memory) {
        return TestBLS.sign32(sk, keccak256(bytes(pre.registrationMessage(op))));
    }

    function _createTask(uint64 a, uint64 b, uint8 threshold) internal returns (uint64 id) {
        vm.prank(owner, owner);
        id = avs.createNewTask(_payload(a, b), threshold, RESP, CHAL, STAT);
    }

    /// The sum's task payload, as the shared `createNewTask` takes it.
    function _payload(uint64 a, uint64 b) internal pure returns (bytes memory) {
        return abi.encode(a, b);
    }

    /// The sum's response bytes, as the shared `respondToTask` takes them.
    function _sumResponse(uint64 sum) internal pure returns (bytes memory) {
        return abi.encode(sum);
    }

    /// Aggregate signature of every operator in `ops` except those flagged, over (taskId, sum), with the
    /// sorted non-signer list and their keys.
    function _aggregate(uint64 taskId, uint64 sum, bool[] memory skip)
        internal
        view
        returns (address[] memory nonSigners, bytes memory keys, bytes memory sig)
    {
        uint256 skSum;
        uint256 n;
        for (uint256 i = 0; i < ops.length; i++) {
            if (skip[i]) n++;
        }
        nonSigners = new address[](n);
        n = 0;
        for (uint256 i = 0; i < ops.length; i++) {
            if (skip[i]) {
                nonSigners[n++] = ops[i];
                keys = abi.encodePacked(keys, pre.getRegisteredPubkey(ops[i], address(avs)));
            } else {
                skSum = addmod(skSum, skOf[ops[i]], TestBLS.R);
            }
        }
        sig = TestBLS.sign32(skSum, avs.messageOf(taskId, sum));
    }

    function _none() internal view returns (bool[] memory) {
        return new bool[](ops.length);
    }

    function _epochSeconds() internal view returns (uint256) {
        return pre.epochDuration(epochId);
    }

    /// Moves time to the first second of epoch `e`.
    function _warpToEpoch(uint256 e) internal {
        vm.warp(e * _epochSeconds());
    }

    function _epoch() internal view returns (uint256) {
        return block.timestamp / _epochSeconds();
    }
}
