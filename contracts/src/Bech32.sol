// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// BIP-173 bech32 (not bech32m) of a 20-byte address, as Cosmos SDK's `AccAddress.String()` prints it.
/// The avs precompile puts this string in the BLS key registration message, so the emulation must
/// produce the very bytes the chain (and the Rust signer) produce.
library Bech32 {
    bytes private constant CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

    function encodeAddress(bytes memory hrp, address account) internal pure returns (string memory) {
        // 160 bits = 32 groups of 5 bits, most significant first.
        uint8[] memory data = new uint8[](32);
        uint160 v = uint160(account);
        for (uint256 i = 0; i < 32; i++) {
            data[31 - i] = uint8(v & 31);
            v >>= 5;
        }
        uint8[] memory check = _checksum(hrp, data);
        bytes memory out = new bytes(hrp.length + 1 + 32 + 6);
        uint256 k = 0;
        for (uint256 i = 0; i < hrp.length; i++) out[k++] = hrp[i];
        out[k++] = "1";
        for (uint256 i = 0; i < 32; i++) out[k++] = CHARSET[data[i]];
        for (uint256 i = 0; i < 6; i++) out[k++] = CHARSET[check[i]];
        return string(out);
    }

    function _polymodStep(uint256 chk, uint256 value) private pure returns (uint256) {
        uint256 top = chk >> 25;
        chk = ((chk & 0x1ffffff) << 5) ^ value;
        if (top & 1 != 0) chk ^= 0x3b6a57b2;
        if (top & 2 != 0) chk ^= 0x26508e6d;
        if (top & 4 != 0) chk ^= 0x1ea119fa;
        if (top & 8 != 0) chk ^= 0x3d4233dd;
        if (top & 16 != 0) chk ^= 0x2a1462b3;
        return chk;
    }

    function _checksum(bytes memory hrp, uint8[] memory data) private pure returns (uint8[] memory out) {
        uint256 chk = 1;
        for (uint256 i = 0; i < hrp.length; i++) chk = _polymodStep(chk, uint8(hrp[i]) >> 5);
        chk = _polymodStep(chk, 0);
        for (uint256 i = 0; i < hrp.length; i++) chk = _polymodStep(chk, uint8(hrp[i]) & 31);
        for (uint256 i = 0; i < data.length; i++) chk = _polymodStep(chk, data[i]);
        for (uint256 i = 0; i < 6; i++) chk = _polymodStep(chk, 0);
        chk ^= 1;
        out = new uint8[](6);
        for (uint256 i = 0; i < 6; i++) out[i] = uint8((chk >> (5 * (5 - i))) & 31);
    }
}
