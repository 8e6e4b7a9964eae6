//! Encrypted BLS key files.
//!
//! - EIP-2335 keystores (version 4): scrypt or PBKDF2-HMAC-SHA256 → 32-byte decryption key;
//!   checksum `SHA-256(dk[16..32] ‖ ciphertext)`; AES-128-CTR with `dk[..16]`. The password is
//!   NFKD-normalised and stripped of C0, C1 and DEL control characters before use.
//! - The Imua SDK's BLS key file (imua-avs-sdk `crypto/bls/utils.go` `EncryptedBLSKeyJSONV3`,
//!   written by hello-world-avs `cmd/imua-key`): `{"pubKey": hex(48-byte compressed key),
//!   "crypto": <go-ethereum keystore v3 CryptoJSON>}` holding prysm's 32-byte big-endian scalar.
//!   The v3 crypto differs from EIP-2335: the MAC is `keccak256(dk[16..32] ‖ ciphertext)` and the
//!   password is used as raw bytes (no normalisation).
//!
//! Randomness (salt, IV, UUID) is supplied by the caller; nothing here reads files or clocks.

use aes::Aes128;
use alloy::primitives::keccak256;
use ctr::cipher::{KeyIvInit, StreamCipher};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

use super::bls::{BlsError, PublicKey, SecretKey};

type Aes128Ctr = ctr::Ctr128BE<Aes128>;

/// Upper bounds on KDF work read from a file, checked when the parameters are parsed and
/// before any derivation, so a hostile file cannot make us allocate gigabytes or spin for hours.
/// scrypt's working memory is 128·n·r bytes (plus 128·r·p for its p blocks); EIP-2335's default
/// (n = 2^18, r = 8) is exactly the 256 MiB cap, geth's "standard" (n = 2^18, r = 8) too.
pub const MAX_KDF_MEMORY: u64 = 256 * 1024 * 1024;
const MAX_SCRYPT_P: u32 = 16;
const MAX_PBKDF2_C: u32 = 10_000_000;

#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    #[error("keystore is not valid JSON of the expected shape: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unsupported keystore version {0} (expected 4)")]
    UnsupportedVersion(u64),
    #[error("unsupported KDF {0:?} (scrypt or pbkdf2)")]
    UnsupportedKdf(String),
    #[error("unsupported cipher {0:?} (aes-128-ctr)")]
    UnsupportedCipher(String),
    #[error("unsupported checksum function {0:?} (sha256)")]
    UnsupportedChecksum(String),
    #[error("invalid keystore parameter: {0}")]
    BadParams(String),
    #[error("keystore KDF refused before deriving: {0}")]
    KdfTooCostly(String),
    #[error("checksum mismatch: wrong password (or a corrupted keystore)")]
    ChecksumMismatch,
    #[error("decrypted secret is not a valid BLS key: {0}")]
    Key(#[from] BlsError),
    #[error("the key file's public key does not match the decrypted secret")]
    PubkeyMismatch,
}

fn bad(msg: impl Into<String>) -> KeystoreError {
    KeystoreError::BadParams(msg.into())
}

/// Key derivation function and its work parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kdf {
    /// `n` must be a power of two.
    Scrypt { n: u32, r: u32, p: u32 },
    /// PBKDF2 with HMAC-SHA256.
    Pbkdf2 { c: u32 },
}

impl Kdf {
    /// EIP-2335's recommended scrypt parameters (256 MiB, ~1 s).
    pub const SCRYPT_DEFAULT: Kdf = Kdf::Scrypt {
        n: 262_144,
        r: 8,
        p: 1,
    };
    pub const PBKDF2_DEFAULT: Kdf = Kdf::Pbkdf2 { c: 262_144 };
    /// Cheap parameters for devnet and test keys only.
    pub const SCRYPT_INSECURE_FAST: Kdf = Kdf::Scrypt {
        n: 1024,
        r: 8,
        p: 1,
    };

    fn derive(&self, password: &[u8], salt: &[u8]) -> Result<Zeroizing<[u8; 32]>, KeystoreError> {
        let mut dk = Zeroizing::new([0u8; 32]);
        match *self {
            Kdf::Scrypt { n, r, p } => {
                self.check()?;
                let log_n = n.trailing_zeros() as u8;
                let params = scrypt::Params::new(log_n, r, p, 32)
                    .map_err(|e| bad(format!("scrypt parameters: {e}")))?;
                scrypt::scrypt(password, salt, &params, dk.as_mut())
                    .map_err(|e| bad(format!("scrypt: {e}")))?;
            }
            Kdf::Pbkdf2 { c } => {
                self.check()?;
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, c, dk.as_mut());
            }
        }
        Ok(dk)
    }

    /// Refuses work parameters beyond the caps (memory 128·n·r ≤ [`MAX_KDF_MEMORY`], p ≤ 16,
    /// pbkdf2 c ≤ 10^7). The error names the parameter.
    pub fn check(&self) -> Result<(), KeystoreError> {
        match *self {
            Kdf::Scrypt { n, r, p } => {
                if !n.is_power_of_two() || n < 2 {
                    return Err(bad(format!("scrypt n = {n} is not a power of two ≥ 2")));
                }
                if r == 0 {
                    return Err(bad("scrypt r = 0"));
                }
                let mem = 128u64 * u64::from(n) * u64::from(r);
                if mem > MAX_KDF_MEMORY {
                    return Err(KeystoreError::KdfTooCostly(format!(
                        "scrypt memory 128·n·r = {} MiB (n = {n}, r = {r}) exceeds the {} MiB cap",
                        mem >> 20,
                        MAX_KDF_MEMORY >> 20
                    )));
                }
                if p == 0 || p > MAX_SCRYPT_P {
                    return Err(KeystoreError::KdfTooCostly(format!(
                        "scrypt p = {p} (1..={MAX_SCRYPT_P})"
                    )));
                }
            }
            Kdf::Pbkdf2 { c } => {
                if c == 0 || c > MAX_PBKDF2_C {
                    return Err(KeystoreError::KdfTooCostly(format!(
                        "pbkdf2 c = {c} (1..={MAX_PBKDF2_C})"
                    )));
                }
            }
        }
        Ok(())
    }

    fn params_json(&self, salt: &[u8]) -> (String, Value) {
        match *self {
            Kdf::Scrypt { n, r, p } => (
                "scrypt".into(),
                json!({"dklen": 32, "n": n, "r": r, "p": p, "salt": hex::encode(salt)}),
            ),
            Kdf::Pbkdf2 { c } => (
                "pbkdf2".into(),
                json!({"dklen": 32, "c": c, "prf": "hmac-sha256", "salt": hex::encode(salt)}),
            ),
        }
    }

    /// Reads `(kdf, salt)` from a function name and its params object (EIP-2335 and geth v3 use
    /// the same parameter names).
    fn from_json(function: &str, params: &Value) -> Result<(Kdf, Vec<u8>), KeystoreError> {
        let num = |k: &str| -> Result<u32, KeystoreError> {
            params
                .get(k)
                .and_then(Value::as_u64)
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| bad(format!("kdf param {k:?} missing or not a u32")))
        };
        if num("dklen")? != 32 {
            return Err(bad("dklen must be 32"));
        }
        let salt = hex_field(params, "salt")?;
        let kdf = match function {
            "scrypt" => Kdf::Scrypt {
                n: num("n")?,
                r: num("r")?,
                p: num("p")?,
            },
            "pbkdf2" => {
                let prf = params.get("prf").and_then(Value::as_str).unwrap_or("");
                if prf != "hmac-sha256" {
                    return Err(bad(format!("pbkdf2 prf {prf:?} (hmac-sha256 only)")));
                }
                Kdf::Pbkdf2 { c: num("c")? }
            }
            other => return Err(KeystoreError::UnsupportedKdf(other.to_string())),
        };
        kdf.check()?;
        Ok((kdf, salt))
    }
}

fn hex_field(obj: &Value, key: &str) -> Result<Vec<u8>, KeystoreError> {
    let s = obj
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("{key:?} missing or not a string")))?;
    hex::decode(s.strip_prefix("0x").unwrap_or(s)).map_err(|_| bad(format!("{key:?} is not hex")))
}

fn aes_ctr(key: &[u8], iv: &[u8], data: &mut [u8]) -> Result<(), KeystoreError> {
    let mut cipher =
        Aes128Ctr::new_from_slices(key, iv).map_err(|_| bad("AES-128-CTR needs a 16-byte IV"))?;
    cipher.apply_keystream(data);
    Ok(())
}

/// EIP-2335 password processing: NFKD, then drop C0 (U+0000–U+001F), DEL (U+007F) and C1
/// (U+0080–U+009F); the result is UTF-8 encoded.
pub fn process_password(password: &str) -> Zeroizing<Vec<u8>> {
    let cleaned: Zeroizing<String> = Zeroizing::new(
        password
            .nfkd()
            .filter(|&c| !matches!(c as u32, 0x00..=0x1f | 0x7f | 0x80..=0x9f))
            .collect(),
    );
    Zeroizing::new(cleaned.as_bytes().to_vec())
}

/// The caller's randomness for one encryption.
#[derive(Debug, Clone)]
pub struct EncryptParams {
    pub kdf: Kdf,
    pub salt: [u8; 32],
    pub iv: [u8; 16],
    pub uuid: [u8; 16],
}

impl EncryptParams {
    pub fn from_rng<R: rand::RngCore + ?Sized>(kdf: Kdf, rng: &mut R) -> Self {
        let mut p = Self {
            kdf,
            salt: [0; 32],
            iv: [0; 16],
            uuid: [0; 16],
        };
        rng.fill_bytes(&mut p.salt);
        rng.fill_bytes(&mut p.iv);
        rng.fill_bytes(&mut p.uuid);
        p
    }
}

/// An EIP-2335 keystore as stored on disk (field order as in the EIP's examples).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Keystore {
    pub crypto: Value,
    #[serde(default)]
    pub description: String,
    /// Hex of the 48-byte compressed public key; may be empty in the EIP.
    #[serde(default)]
    pub pubkey: String,
    #[serde(default)]
    pub path: String,
    pub uuid: String,
    pub version: u64,
}

impl Keystore {
    pub fn from_json(s: &str) -> Result<Self, KeystoreError> {
        let ks: Keystore = serde_json::from_str(s)?;
        if ks.version != 4 {
            return Err(KeystoreError::UnsupportedVersion(ks.version));
        }
        Ok(ks)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a Keystore always serialises")
    }

    pub fn encrypt(
        sk: &SecretKey,
        password: &str,
        params: &EncryptParams,
        path: &str,
        description: &str,
    ) -> Result<Self, KeystoreError> {
        let crypto = encrypt_crypto(sk.to_bytes().as_ref(), &process_password(password), params)?;
        Ok(Self {
            crypto,
            description: description.to_string(),
            pubkey: hex::encode(sk.public_key().to_bytes()),
            path: path.to_string(),
            uuid: uuid::Builder::from_random_bytes(params.uuid)
                .into_uuid()
                .to_string(),
            version: 4,
        })
    }

    /// The public key recorded in the file, if any (readable without the password).
    pub fn public_key(&self) -> Result<Option<PublicKey>, KeystoreError> {
        if self.pubkey.is_empty() {
            return Ok(None);
        }
        let bytes = hex::decode(self.pubkey.trim_start_matches("0x"))
            .map_err(|_| bad("pubkey is not hex"))?;
        Ok(Some(PublicKey::from_bytes(&bytes)?))
    }

    /// The raw 32-byte secret (the EIP-2335 test vectors' secret is not a valid key for every
    /// curve use, so the byte-level result is exposed too).
    pub fn decrypt_secret(&self, password: &str) -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
        decrypt_crypto(&self.crypto, &process_password(password))
    }

    pub fn decrypt(&self, password: &str) -> Result<SecretKey, KeystoreError> {
        let secret = self.decrypt_secret(password)?;
        let sk = SecretKey::from_bytes(&secret)?;
        if let Some(pk) = self.public_key()?
            && pk != sk.public_key()
        {
            return Err(KeystoreError::PubkeyMismatch);
        }
        Ok(sk)
    }
}

fn encrypt_crypto(
    secret: &[u8],
    password: &[u8],
    p: &EncryptParams,
) -> Result<Value, KeystoreError> {
    let dk = p.kdf.derive(password, &p.salt)?;
    let mut ct = secret.to_vec();
    aes_ctr(&dk[..16], &p.iv, &mut ct)?;
    let checksum = Sha256::new()
        .chain_update(&dk[16..32])
        .chain_update(&ct)
        .finalize();
    let (function, params) = p.kdf.params_json(&p.salt);
    Ok(json!({
        "kdf": {"function": function, "params": params, "message": ""},
        "checksum": {"function": "sha256", "params": {}, "message": hex::encode(checksum)},
        "cipher": {"function": "aes-128-ctr", "params": {"iv": hex::encode(p.iv)}, "message": hex::encode(ct)},
    }))
}

fn module<'a>(
    crypto: &'a Value,
    name: &str,
) -> Result<(&'a str, &'a Value, &'a Value), KeystoreError> {
    let m = crypto
        .get(name)
        .ok_or_else(|| bad(format!("crypto.{name} missing")))?;
    let function = m
        .get("function")
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("crypto.{name}.function missing")))?;
    let params = m
        .get("params")
        .ok_or_else(|| bad(format!("crypto.{name}.params missing")))?;
    Ok((function, params, m))
}

fn decrypt_crypto(crypto: &Value, password: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
    let (kdf_fn, kdf_params, _) = module(crypto, "kdf")?;
    let (ck_fn, _, ck) = module(crypto, "checksum")?;
    let (cipher_fn, cipher_params, cipher) = module(crypto, "cipher")?;
    if ck_fn != "sha256" {
        return Err(KeystoreError::UnsupportedChecksum(ck_fn.to_string()));
    }
    if cipher_fn != "aes-128-ctr" {
        return Err(KeystoreError::UnsupportedCipher(cipher_fn.to_string()));
    }
    let (kdf, salt) = Kdf::from_json(kdf_fn, kdf_params)?;
    let expected = hex_field(ck, "message")?;
    let ct = hex_field(cipher, "message")?;
    let iv = hex_field(cipher_params, "iv")?;
    let dk = kdf.derive(password, &salt)?;
    let got = Sha256::new()
        .chain_update(&dk[16..32])
        .chain_update(&ct)
        .finalize();
    if !ct_eq(&got, &expected) {
        return Err(KeystoreError::ChecksumMismatch);
    }
    let mut secret = Zeroizing::new(ct);
    aes_ctr(&dk[..16], &iv, &mut secret)?;
    Ok(secret)
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks the KDF of an Ethereum v3 (Web3 Secret Storage) keystore without deriving anything:
/// the KDF must be scrypt or pbkdf2 within the caps of [`Kdf::check`]. Call it before handing the
/// file to a decrypter that has no caps of its own (alloy's, through `eth-keystore`). geth
/// writes `crypto`, some old tools `Crypto`.
pub fn check_v3_kdf(json: &str) -> Result<(), KeystoreError> {
    let v: Value = serde_json::from_str(json)?;
    let crypto = v
        .get("crypto")
        .or_else(|| v.get("Crypto"))
        .ok_or_else(|| bad("crypto missing: not a v3 keystore"))?;
    let kdf_fn = crypto
        .get("kdf")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("crypto.kdf missing"))?;
    let params = crypto
        .get("kdfparams")
        .ok_or_else(|| bad("crypto.kdfparams missing"))?;
    Kdf::from_json(kdf_fn, params).map(|_| ())
}

// ---------------------------------------------------------------------------------------------
// Imua SDK key files

#[derive(Debug, Deserialize, Serialize)]
struct ImuaKeyFile {
    #[serde(rename = "pubKey")]
    pub_key: String,
    crypto: Value,
}

/// Decrypts an Imua SDK / hello-world-avs BLS key file (`*.bls.key.json`).
pub fn import_imua_sdk_key(json: &str, password: &str) -> Result<SecretKey, KeystoreError> {
    let file: ImuaKeyFile = serde_json::from_str(json)?;
    // The SDK refuses files without pubKey (that is how it tells BLS files from ECDSA ones).
    if file.pub_key.is_empty() {
        return Err(bad("pubKey missing: not a BLS key file"));
    }
    let c = &file.crypto;
    let cipher = c.get("cipher").and_then(Value::as_str).unwrap_or("");
    if cipher != "aes-128-ctr" {
        return Err(KeystoreError::UnsupportedCipher(cipher.to_string()));
    }
    let kdf_fn = c.get("kdf").and_then(Value::as_str).unwrap_or("");
    let kdf_params = c
        .get("kdfparams")
        .ok_or_else(|| bad("crypto.kdfparams missing"))?;
    let (kdf, salt) = Kdf::from_json(kdf_fn, kdf_params)?;
    let ct = hex_field(c, "ciphertext")?;
    let mac = hex_field(c, "mac")?;
    let iv = hex_field(c.get("cipherparams").unwrap_or(&Value::Null), "iv")?;
    let dk = kdf.derive(password.as_bytes(), &salt)?;
    let mut mac_input = Zeroizing::new(dk[16..32].to_vec());
    mac_input.extend_from_slice(&ct);
    if !ct_eq(keccak256(&*mac_input).as_slice(), &mac) {
        return Err(KeystoreError::ChecksumMismatch);
    }
    let mut secret = Zeroizing::new(ct);
    aes_ctr(&dk[..16], &iv, &mut secret)?;
    let sk = SecretKey::from_bytes(&secret)?;
    let pk_bytes =
        hex::decode(file.pub_key.trim_start_matches("0x")).map_err(|_| bad("pubKey is not hex"))?;
    if PublicKey::from_bytes(&pk_bytes)? != sk.public_key() {
        return Err(KeystoreError::PubkeyMismatch);
    }
    Ok(sk)
}

/// Writes a key in the Imua SDK's format (so keys can move back to Go tooling).
pub fn export_imua_sdk_key(
    sk: &SecretKey,
    password: &str,
    params: &EncryptParams,
) -> Result<String, KeystoreError> {
    let dk = params.kdf.derive(password.as_bytes(), &params.salt)?;
    let mut ct = sk.to_bytes().to_vec();
    aes_ctr(&dk[..16], &params.iv, &mut ct)?;
    let mut mac_input = Zeroizing::new(dk[16..32].to_vec());
    mac_input.extend_from_slice(&ct);
    let (kdf, kdfparams) = params.kdf.params_json(&params.salt);
    let file = ImuaKeyFile {
        pub_key: hex::encode(sk.public_key().to_bytes()),
        crypto: json!({
            "cipher": "aes-128-ctr",
            "ciphertext": hex::encode(&ct),
            "cipherparams": {"iv": hex::encode(params.iv)},
            "kdf": kdf,
            "kdfparams": kdfparams,
            "mac": hex::encode(keccak256(&*mac_input)),
        }),
    };
    Ok(serde_json::to_string(&file)?)
}

#[cfg(test)]
mod tests;
