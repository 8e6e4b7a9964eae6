//! The exact bytes that operators sign, byte-for-byte those of Imua (imuachain):
//!
//! - Task response: `abi.encode(uint64 taskID, uint64 result)` (64 bytes); the BLS message is its
//!   `keccak256` (imuachain `x/avs/keeper/keeper.go` hashes `info.TaskResponse` with
//!   `crypto.Keccak256Hash` before checking the signature).
//! - Key registration (proof of possession): `keccak256` of the UTF-8 string
//!   `"BLS12-381 Signed Message\nChainIDWithoutRevision: <id>\nAccAddressBech32: <addr>"`
//!   (`x/avs/types/types.go` `BLSMessageToSign`, formatted and hashed in
//!   `x/avs/keeper/keeper.go` `RegisterBLSPublicKey`). `<id>` is the Cosmos chain id with its
//!   IBC revision suffix stripped (`utils/utils.go` `ChainIDWithoutRevision`), `<addr>` is
//!   `sdk.AccAddress.String()`: bech32 (BIP-173, not bech32m) with the account prefix `"im"`
//!   (`cmd/config/config.go` `Bech32Prefix = "im"`) over the 20 address bytes — already lowercase.

use alloy_primitives::{Address, keccak256};
use alloy_sol_types::SolValue;
use bech32::{Bech32, Hrp};

/// Account address prefix of Imua chain (`imuachain/cmd/config/config.go`).
pub const IMUA_HRP: &str = "im";

pub const TASK_RESPONSE_LEN: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("task response must be {TASK_RESPONSE_LEN} bytes, got {0}")]
    WrongLength(usize),
    #[error("task response word {0} does not fit in uint64")]
    NotUint64(usize),
    #[error("invalid bech32 prefix {0:?}")]
    BadHrp(String),
}

/// `abi.encode(uint64 taskID, uint64 result)`.
pub fn task_response_bytes(task_id: u64, result: u64) -> [u8; TASK_RESPONSE_LEN] {
    let encoded = (task_id, result).abi_encode();
    let mut out = [0u8; TASK_RESPONSE_LEN];
    out.copy_from_slice(&encoded);
    out
}

/// Strict inverse of `task_response_bytes`: the contract's `abi.decode(..., (uint64, uint64))`
/// reverts on dirty high bytes, so we reject them too.
pub fn decode_task_response(bytes: &[u8]) -> Result<(u64, u64), MessageError> {
    if bytes.len() != TASK_RESPONSE_LEN {
        return Err(MessageError::WrongLength(bytes.len()));
    }
    let word = |i: usize| -> Result<u64, MessageError> {
        let w = &bytes[i * 32..(i + 1) * 32];
        if w[..24].iter().any(|&b| b != 0) {
            return Err(MessageError::NotUint64(i));
        }
        let mut be = [0u8; 8];
        be.copy_from_slice(&w[24..]);
        Ok(u64::from_be_bytes(be))
    };
    Ok((word(0)?, word(1)?))
}

/// The 32-byte BLS message of a task response.
pub fn task_response_digest(task_id: u64, result: u64) -> [u8; 32] {
    keccak256(task_response_bytes(task_id, result)).0
}

/// `"imuachaintestnet_233-1"` → `"imuachaintestnet_233"`. Only a final `-<n>` with `n` matching
/// `[1-9][0-9]*`, preceded by at least one character that is neither `-` nor a newline, is a
/// revision (ibc-go's `IsRevisionFormat` regex `^.*[^\n-]{1}[-]{1}[1-9][0-9]*$`); anything else
/// is returned unchanged.
pub fn chain_id_without_revision(chain_id: &str) -> &str {
    let Some(idx) = chain_id.rfind('-') else {
        return chain_id;
    };
    let (head, rev) = (&chain_id[..idx], &chain_id[idx + 1..]);
    let rev_ok =
        !rev.is_empty() && rev.bytes().all(|b| b.is_ascii_digit()) && !rev.starts_with('0');
    let head_ok = matches!(head.chars().last(), Some(c) if c != '-' && c != '\n');
    if rev_ok && head_ok { head } else { chain_id }
}

/// Bech32 of the 20 address bytes with prefix `hrp`.
pub fn address_bech32(address: Address, hrp: &str) -> Result<String, MessageError> {
    let hrp = Hrp::parse(hrp).map_err(|_| MessageError::BadHrp(hrp.to_string()))?;
    bech32::encode::<Bech32>(hrp, address.as_slice())
        .map_err(|_| MessageError::BadHrp(hrp.to_string()))
}

/// The operator's Imua account address string (`im1...`).
pub fn operator_bech32(address: Address) -> String {
    address_bech32(address, IMUA_HRP).expect("\"im\" is a valid prefix and 20 bytes fit")
}

/// The registration message (before hashing) for a chain id (revision suffix is stripped here).
pub fn registration_message(chain_id: &str, operator: Address) -> String {
    format!(
        "BLS12-381 Signed Message\nChainIDWithoutRevision: {}\nAccAddressBech32: {}",
        chain_id_without_revision(chain_id),
        operator_bech32(operator)
    )
}

/// What the operator BLS-signs to register its key: keccak256 of `registration_message`.
pub fn registration_digest(chain_id: &str, operator: Address) -> [u8; 32] {
    keccak256(registration_message(chain_id, operator).as_bytes()).0
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::address;

    #[test]
    fn task_response_is_two_abi_words() {
        let b = task_response_bytes(7, 0x0102_0304_0506_0708);
        assert_eq!(b.len(), 64);
        assert_eq!(b[31], 7);
        assert!(b[..31].iter().all(|&x| x == 0));
        assert_eq!(&b[56..64], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(decode_task_response(&b), Ok((7, 0x0102_0304_0506_0708)));
    }

    #[test]
    fn task_response_decode_is_strict() {
        let mut b = task_response_bytes(1, 2);
        assert_eq!(
            decode_task_response(&b[..63]),
            Err(MessageError::WrongLength(63))
        );
        b[32] = 1;
        assert_eq!(decode_task_response(&b), Err(MessageError::NotUint64(1)));
    }

    #[test]
    fn digest_is_keccak_of_response() {
        // keccak256(abi.encode(uint64(1), uint64(3))), the same bytes `cast keccak` gives for
        // 0x00..01 00..03.
        let d = task_response_digest(1, 3);
        assert_eq!(d, keccak256(task_response_bytes(1, 3)).0);
        assert_ne!(d, task_response_digest(1, 4));
        assert_ne!(d, task_response_digest(2, 3));
    }

    #[test]
    fn chain_id_revision_rules() {
        assert_eq!(
            chain_id_without_revision("imuachaintestnet_233-1"),
            "imuachaintestnet_233"
        );
        assert_eq!(
            chain_id_without_revision("exocoretestnet_233-12"),
            "exocoretestnet_233"
        );
        assert_eq!(chain_id_without_revision("a-b-3"), "a-b");
        assert_eq!(
            chain_id_without_revision("onemorechain_211"),
            "onemorechain_211"
        );
        assert_eq!(chain_id_without_revision("chain-0"), "chain-0");
        assert_eq!(chain_id_without_revision("chain-01"), "chain-01");
        assert_eq!(chain_id_without_revision("chain--1"), "chain--1");
        assert_eq!(chain_id_without_revision("-1"), "-1");
        assert_eq!(chain_id_without_revision("chain-"), "chain-");
        assert_eq!(chain_id_without_revision("chain-1a"), "chain-1a");
    }

    #[test]
    fn bech32_of_operator_address() {
        // The zero address in bech32 with "im": checked against the BIP-173 algorithm by
        // decoding it back and by the fixed prefix/length.
        let a = address!("0x00000000000000000000000000000000000000ff");
        let s = operator_bech32(a);
        assert!(s.starts_with("im1"));
        assert_eq!(s.len(), 2 + 1 + 32 + 6);
        let (hrp, data) = bech32::decode(&s).unwrap();
        assert_eq!(hrp.as_str(), "im");
        assert_eq!(data, a.as_slice());
        assert_eq!(s, s.to_lowercase());
    }

    #[test]
    fn registration_message_format() {
        let a = address!("0x0102030405060708090a0b0c0d0e0f1011121314");
        let m = registration_message("imuachainlocalnet_232-1", a);
        assert_eq!(
            m,
            format!(
                "BLS12-381 Signed Message\nChainIDWithoutRevision: imuachainlocalnet_232\nAccAddressBech32: {}",
                operator_bech32(a)
            )
        );
        assert_eq!(
            registration_digest("imuachainlocalnet_232-1", a),
            keccak256(m.as_bytes()).0
        );
        // The revision does not change the digest; the chain does.
        assert_eq!(
            registration_digest("imuachainlocalnet_232-1", a),
            registration_digest("imuachainlocalnet_232-2", a)
        );
        assert_ne!(
            registration_digest("imuachainlocalnet_232-1", a),
            registration_digest("imuachainlocalnet_233-1", a)
        );
    }
}

#[cfg(test)]
mod vectors {
    use super::*;
    use alloy_primitives::address;

    /// imuachain `local_node.sh`: `0x3e108c058e8066DA635321Dc3018294cA82ddEdf ==
    /// im18cggcpvwspnd5c6ny8wrqxpffj5zmhkl3agtrj`.
    #[test]
    fn imua_bech32_vector() {
        let a = address!("0x3e108c058e8066DA635321Dc3018294cA82ddEdf");
        assert_eq!(
            operator_bech32(a),
            "im18cggcpvwspnd5c6ny8wrqxpffj5zmhkl3agtrj"
        );
    }

    /// A worked example, pinned: both digests were cross-checked with `cast keccak`.
    #[test]
    fn worked_example() {
        let a = address!("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
        assert_eq!(
            operator_bech32(a),
            "im17w0adeg64ky0daxwd2ugyuneellmjgnxt6eld4"
        );
        assert_eq!(
            hex::encode(registration_digest("exoavs_31337", a)),
            "a66b1b0977a0b6f1d771c04a8f7986482ac58e2aa5b1fab60963e9e7080cb49a"
        );
        assert_eq!(
            hex::encode(task_response_digest(1, 3)),
            "a15bc60c955c405d20d9149c709e2460f1c2d9a497496a7f46004d1772c3054c"
        );
        // Deterministic signatures from the fixed key; the forge tests use these bytes.
        let sk = crate::crypto::bls::SecretKey::from_ikm(&[1u8; 32]).unwrap();
        let pop = crate::crypto::bls::pop_prove(&sk, "exoavs_31337", a);
        assert_eq!(hex::encode(&pop.to_eip2537()[16..24]), "0016bcd7fd231e18");
        crate::crypto::bls::pop_verify(&sk.public_key(), "exoavs_31337", a, &pop).unwrap();
    }
}
