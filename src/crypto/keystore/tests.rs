use super::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

// EIP-2335 "Test cases": password, secret, salt and IV shared by both vectors.
const PASSWORD: &str = "𝔱𝔢𝔰𝔱𝔭𝔞𝔰𝔰𝔴𝔬𝔯𝔡🔑";
const SECRET: &str = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f";
const SALT: &str = "d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3";
const IV: &str = "264daa3f303d7259501c93d997d84fe6";
const PUBKEY: &str = "9612d7a727c9d0a22e185a1c768478dfe919cada9266988cb32359c11f2b7b27f4ae4040902382ae2910c15e2b420d07";

const SCRYPT_VECTOR: &str = r#"{
  "crypto": {
    "kdf": {"function": "scrypt", "params": {"dklen": 32, "n": 262144, "p": 1, "r": 8,
      "salt": "d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3"}, "message": ""},
    "checksum": {"function": "sha256", "params": {},
      "message": "d2217fe5f3e9a1e34581ef8a78f7c9928e436d36dacc5e846690a5581e8ea484"},
    "cipher": {"function": "aes-128-ctr", "params": {"iv": "264daa3f303d7259501c93d997d84fe6"},
      "message": "06ae90d55fe0a6e9c5c3bc5b170827b2e5cce3929ed3f116c2811e6366dfe20f"}
  },
  "description": "This is a test keystore that uses scrypt to secure the secret.",
  "pubkey": "9612d7a727c9d0a22e185a1c768478dfe919cada9266988cb32359c11f2b7b27f4ae4040902382ae2910c15e2b420d07",
  "path": "m/12381/60/3141592653/589793238",
  "uuid": "1d85ae20-35c5-4611-98e8-aa14a633906f",
  "version": 4
}"#;

const PBKDF2_VECTOR: &str = r#"{
  "crypto": {
    "kdf": {"function": "pbkdf2", "params": {"dklen": 32, "c": 262144, "prf": "hmac-sha256",
      "salt": "d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3"}, "message": ""},
    "checksum": {"function": "sha256", "params": {},
      "message": "8a9f5d9912ed7e75ea794bc5a89bca5f193721d30868ade6f73043c6ea6febf1"},
    "cipher": {"function": "aes-128-ctr", "params": {"iv": "264daa3f303d7259501c93d997d84fe6"},
      "message": "cee03fde2af33149775b7223e7845e4fb2c8ae1792e5f99fe9ecf474cc8c16ad"}
  },
  "description": "This is a test keystore that uses PBKDF2 to secure the secret.",
  "pubkey": "9612d7a727c9d0a22e185a1c768478dfe919cada9266988cb32359c11f2b7b27f4ae4040902382ae2910c15e2b420d07",
  "path": "m/12381/60/0/0",
  "uuid": "64625def-3331-4eea-ab6f-782f3ed16a83",
  "version": 4
}"#;

fn vector_params(kdf: Kdf) -> EncryptParams {
    let mut p = EncryptParams {
        kdf,
        salt: [0; 32],
        iv: [0; 16],
        uuid: [7; 16],
    };
    p.salt.copy_from_slice(&hex::decode(SALT).unwrap());
    p.iv.copy_from_slice(&hex::decode(IV).unwrap());
    p
}

#[test]
fn password_processing_matches_eip() {
    assert_eq!(
        hex::encode(&*process_password(PASSWORD)),
        "7465737470617373776f7264f09f9491"
    );
    assert_eq!(
        &*process_password("a\u{7f}b\u{0}c\u{85}d\u{1f}e f\u{9f}"),
        b"abcde f"
    );
    // NFKD: "ﬁ" (U+FB01) decomposes to "fi"; é (U+00E9) to e + U+0301.
    assert_eq!(&*process_password("\u{fb01}"), b"fi");
    assert_eq!(&*process_password("\u{e9}"), "e\u{301}".as_bytes());
}

#[test]
fn eip2335_scrypt_vector() {
    let ks = Keystore::from_json(SCRYPT_VECTOR).unwrap();
    assert_eq!(hex::encode(&*ks.decrypt_secret(PASSWORD).unwrap()), SECRET);
    let sk = ks.decrypt(PASSWORD).unwrap();
    assert_eq!(hex::encode(sk.public_key().to_bytes()), PUBKEY);
    // Encrypting with the vector's salt and IV reproduces the vector's bytes.
    let ours = Keystore::encrypt(
        &sk,
        PASSWORD,
        &vector_params(Kdf::SCRYPT_DEFAULT),
        "m/12381/60/3141592653/589793238",
        "",
    )
    .unwrap();
    assert_eq!(
        ours.crypto["cipher"]["message"],
        ks.crypto["cipher"]["message"]
    );
    assert_eq!(
        ours.crypto["checksum"]["message"],
        ks.crypto["checksum"]["message"]
    );
    assert_eq!(ours.pubkey, PUBKEY);
    assert!(matches!(
        ks.decrypt("testpassword"),
        Err(KeystoreError::ChecksumMismatch)
    ));
}

#[test]
fn eip2335_pbkdf2_vector() {
    let ks = Keystore::from_json(PBKDF2_VECTOR).unwrap();
    let sk = ks.decrypt(PASSWORD).unwrap();
    assert_eq!(hex::encode(*sk.to_bytes()), SECRET);
    let ours = Keystore::encrypt(
        &sk,
        PASSWORD,
        &vector_params(Kdf::PBKDF2_DEFAULT),
        "m/12381/60/0/0",
        "",
    )
    .unwrap();
    assert_eq!(
        ours.crypto["cipher"]["message"],
        ks.crypto["cipher"]["message"]
    );
    assert_eq!(
        ours.crypto["checksum"]["message"],
        ks.crypto["checksum"]["message"]
    );
    assert!(matches!(
        ks.decrypt("wrong"),
        Err(KeystoreError::ChecksumMismatch)
    ));
}

#[test]
fn round_trip_json_and_typed_errors() {
    let mut rng = StdRng::seed_from_u64(5);
    let sk = SecretKey::random(&mut rng);
    let params = EncryptParams::from_rng(Kdf::SCRYPT_INSECURE_FAST, &mut rng);
    let ks = Keystore::encrypt(&sk, "pw with spaces", &params, "", "exoavs operator key").unwrap();
    assert_eq!(ks.version, 4);
    assert_eq!(ks.uuid.len(), 36);
    assert_eq!(&ks.uuid[14..15], "4", "v4 uuid");
    let back = Keystore::from_json(&ks.to_json()).unwrap();
    assert_eq!(
        *back.decrypt("pw with spaces").unwrap().to_bytes(),
        *sk.to_bytes()
    );
    assert_eq!(back.public_key().unwrap(), Some(sk.public_key()));
    // Control characters are stripped, so they do not change the password.
    assert!(back.decrypt("pw with spaces\n").is_ok());
    assert!(matches!(
        back.decrypt("pw with  spaces"),
        Err(KeystoreError::ChecksumMismatch)
    ));

    // A tampered ciphertext fails the checksum, not later.
    let mut t = back.clone();
    let m = t.crypto["cipher"]["message"]
        .as_str()
        .unwrap()
        .replacen('0', "1", 1)
        .replacen('a', "b", 1);
    t.crypto["cipher"]["message"] = Value::String(m);
    assert!(matches!(
        t.decrypt("pw with spaces"),
        Err(KeystoreError::ChecksumMismatch)
    ));
    // A pubkey that belongs to another key.
    let mut t = back.clone();
    t.pubkey = hex::encode(SecretKey::random(&mut rng).public_key().to_bytes());
    assert!(matches!(
        t.decrypt("pw with spaces"),
        Err(KeystoreError::PubkeyMismatch)
    ));
    // Unsupported modules and versions.
    let mut t = back.clone();
    t.crypto["cipher"]["function"] = json!("aes-256-gcm");
    assert!(matches!(
        t.decrypt("pw with spaces"),
        Err(KeystoreError::UnsupportedCipher(_))
    ));
    let mut t = back.clone();
    t.crypto["kdf"]["function"] = json!("argon2");
    assert!(matches!(
        t.decrypt("pw with spaces"),
        Err(KeystoreError::UnsupportedKdf(_))
    ));
    let mut t = back.clone();
    t.crypto["kdf"]["params"]["n"] = json!(1u64 << 30);
    assert!(matches!(
        t.decrypt("pw with spaces"),
        Err(KeystoreError::KdfTooCostly(_))
    ));
    let mut t = back.clone();
    t.crypto["kdf"]["params"]["n"] = json!(1000);
    assert!(matches!(
        t.decrypt("pw with spaces"),
        Err(KeystoreError::BadParams(_))
    ));
    let mut v3 = serde_json::from_str::<Value>(&back.to_json()).unwrap();
    v3["version"] = json!(3);
    assert!(matches!(
        Keystore::from_json(&v3.to_string()),
        Err(KeystoreError::UnsupportedVersion(3))
    ));
    assert!(matches!(
        Keystore::from_json("{"),
        Err(KeystoreError::Json(_))
    ));
}

/// A real key file written by hello-world-avs's `imua-key generate` (imua-xyz/hello-world-avs
/// at 53469a4e, `bls-c8dbe9fe-.../keys/1.bls.key.json`, with its `password.txt` and
/// `private_key_hex.txt` alongside).
#[test]
fn imports_hello_world_avs_key_file() {
    let json = include_str!("testdata/hello-world-avs-1.bls.key.json");
    let sk = import_imua_sdk_key(json, "IqSUMH17Xm7RrNuLuhXD").unwrap();
    assert_eq!(
        hex::encode(*sk.to_bytes()),
        "49ae66973530ae554306ed5fd9de3626cd17f9f5ceb27ea21693c8e6e0763520"
    );
    assert_eq!(
        hex::encode(sk.public_key().to_bytes()),
        "91f1fd91723ed2f8f6e855c4033800cf3ce81913982a2df91dd3cde7bbaaf1ccfa54ac585dfde04fc3315c890ef4b386"
    );
    assert!(matches!(
        import_imua_sdk_key(json, "IqSUMH17Xm7RrNuLuhXd"),
        Err(KeystoreError::ChecksumMismatch)
    ));
}

#[test]
fn imua_sdk_format_round_trip_and_errors() {
    let mut rng = StdRng::seed_from_u64(6);
    let sk = SecretKey::random(&mut rng);
    for kdf in [Kdf::SCRYPT_INSECURE_FAST, Kdf::Pbkdf2 { c: 1000 }] {
        let params = EncryptParams::from_rng(kdf, &mut rng);
        let json = export_imua_sdk_key(&sk, "secret", &params).unwrap();
        let v: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["pubKey"], json!(hex::encode(sk.public_key().to_bytes())));
        assert_eq!(v["crypto"]["cipher"], json!("aes-128-ctr"));
        assert_eq!(
            *import_imua_sdk_key(&json, "secret").unwrap().to_bytes(),
            *sk.to_bytes()
        );
        // v3 files use the raw password: no control-character stripping.
        assert!(matches!(
            import_imua_sdk_key(&json, "secret\n"),
            Err(KeystoreError::ChecksumMismatch)
        ));
        // Missing pubKey: the SDK's guard against ECDSA files.
        let mut no_pk = v.clone();
        no_pk["pubKey"] = json!("");
        assert!(matches!(
            import_imua_sdk_key(&no_pk.to_string(), "secret"),
            Err(KeystoreError::BadParams(_))
        ));
        let mut other_pk = v.clone();
        other_pk["pubKey"] = json!(hex::encode(
            SecretKey::random(&mut rng).public_key().to_bytes()
        ));
        assert!(matches!(
            import_imua_sdk_key(&other_pk.to_string(), "secret"),
            Err(KeystoreError::PubkeyMismatch)
        ));
    }
}

/// The attack of issue 14: scrypt n = 2^20, r = 32 asks for 128·n·r = 4 GiB. It is refused when
/// the parameters are parsed, before any derivation (were it derived, this test would allocate
/// 4 GiB and take tens of seconds), with a message naming the parameters.
#[test]
fn hostile_scrypt_keystore_is_refused_before_derivation() {
    let hostile = SCRYPT_VECTOR.replace(
        r#""n": 262144, "p": 1, "r": 8"#,
        r#""n": 1048576, "p": 1, "r": 32"#,
    );
    assert_ne!(hostile, SCRYPT_VECTOR);
    let ks = Keystore::from_json(&hostile).unwrap();
    let err = ks.decrypt(PASSWORD).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, KeystoreError::KdfTooCostly(_)), "{msg}");
    assert!(
        msg.contains("n = 1048576") && msg.contains("r = 32") && msg.contains("4096 MiB"),
        "{msg}"
    );

    // The same parameters in an Ethereum v3 keystore (what alloy would decrypt).
    let v3 = json!({
        "address": "0000000000000000000000000000000000000000",
        "crypto": {
            "cipher": "aes-128-ctr", "ciphertext": "00", "cipherparams": {"iv": IV},
            "kdf": "scrypt",
            "kdfparams": {"dklen": 32, "n": 1u64 << 20, "r": 32, "p": 1, "salt": SALT},
            "mac": "00"
        },
        "id": "1d85ae20-35c5-4611-98e8-aa14a633906f", "version": 3
    });
    let msg = check_v3_kdf(&v3.to_string()).unwrap_err().to_string();
    assert!(
        msg.contains("128·n·r") && msg.contains("n = 1048576"),
        "{msg}"
    );
    // pbkdf2 with an absurd iteration count, and scrypt p beyond the cap.
    let mut t = v3.clone();
    t["crypto"]["kdf"] = json!("pbkdf2");
    t["crypto"]["kdfparams"] =
        json!({"dklen": 32, "c": 2_000_000_000u64, "prf": "hmac-sha256", "salt": SALT});
    let msg = check_v3_kdf(&t.to_string()).unwrap_err().to_string();
    assert!(msg.contains("pbkdf2 c = 2000000000"), "{msg}");
    let mut t = v3.clone();
    t["crypto"]["kdfparams"] = json!({"dklen": 32, "n": 1024, "r": 8, "p": 1000, "salt": SALT});
    assert!(
        check_v3_kdf(&t.to_string())
            .unwrap_err()
            .to_string()
            .contains("p = 1000")
    );
    // At the cap is accepted: EIP-2335's and geth's default n = 2^18, r = 8 (256 MiB).
    let mut t = v3.clone();
    t["crypto"]["kdfparams"] = json!({"dklen": 32, "n": 1u64 << 18, "r": 8, "p": 1, "salt": SALT});
    check_v3_kdf(&t.to_string()).unwrap();
    // One step above it is not.
    t["crypto"]["kdfparams"]["r"] = json!(9);
    assert!(check_v3_kdf(&t.to_string()).is_err());
}
