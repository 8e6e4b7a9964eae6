//! `exoavs keys` for chain keys and the roles' key policy, as an operator would type them:
//! v3 keystores created 0600 and decryptable by alloy, a plaintext key refused without the
//! insecure flag (and warned about with it), a hostile keystore refused before any derivation,
//! and a role signing real transactions on Anvil from a keystore.

use alloy::signers::local::PrivateKeySigner;
use exoavs::devnet::anvil::{Anvil, AnvilOptions};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

fn exoavs(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_exoavs"))
        .args(args)
        .current_dir(dir)
        .env("EXOAVS_ECDSA_PASSWORD", "correct horse")
        .env("EXOAVS_KEY_PASSWORD", "pw")
        .env_remove("EXOAVS_ECDSA_KEY")
        .output()
        .expect("run exoavs")
}

fn ok(args: &[&str], dir: &Path) -> String {
    let out = exoavs(args, dir);
    assert!(
        out.status.success(),
        "exoavs {args:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn failing(args: &[&str], dir: &Path) -> String {
    let out = exoavs(args, dir);
    assert!(
        !out.status.success(),
        "exoavs {args:?} should have failed:\nstdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).expect("stat").permissions().mode() & 0o777
}

fn printed_address(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("address "))
        .expect("address line")
        .trim()
        .to_owned()
}

#[test]
fn keys_are_written_0600_and_decrypt_with_alloy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let out = ok(&["keys", "new-ecdsa", "--out", "new.json"], d);
    assert_eq!(mode(&d.join("new.json")), 0o600);
    let signer =
        PrivateKeySigner::decrypt_keystore(d.join("new.json"), "correct horse").expect("decrypt");
    assert_eq!(signer.address().to_string(), printed_address(&out));
    // Never overwrites a key.
    let err = failing(&["keys", "new-ecdsa", "--out", "new.json"], d);
    assert!(err.contains("must not exist"), "{err}");

    // Import of a known key: Anvil's first account.
    let known = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
    std::fs::write(d.join("plain.key"), format!("0x{known}\n")).expect("write");
    let out = ok(
        &[
            "keys",
            "import-ecdsa",
            "--key-file",
            "plain.key",
            "--out",
            "imported.json",
        ],
        d,
    );
    assert_eq!(
        printed_address(&out),
        "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    );
    assert_eq!(mode(&d.join("imported.json")), 0o600);
    let back = PrivateKeySigner::decrypt_keystore(d.join("imported.json"), "correct horse")
        .expect("decrypt");
    assert_eq!(hex::encode(back.to_bytes()), known);
    // A wrong password is refused.
    assert!(PrivateKeySigner::decrypt_keystore(d.join("imported.json"), "wrong").is_err());

    // The BLS keystore is 0600 as well.
    ok(
        &["keys", "new", "--out", "bls.json", "--insecure-fast-kdf"],
        d,
    );
    assert_eq!(mode(&d.join("bls.json")), 0o600);
}

#[test]
fn a_plaintext_key_needs_the_insecure_flag() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(
        d.join("plain.key"),
        "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    )
    .expect("write");
    // Nothing listens on port 1: the role must stop on the key, before connecting.
    let base = [
        "avs",
        "deploy",
        "--rpc-url",
        "http://127.0.0.1:1",
        "--ecdsa-key-file",
        "plain.key",
    ];
    let err = failing(&base, d);
    assert!(
        err.contains("refusing the plaintext ECDSA key")
            && err.contains("--insecure-plaintext-key"),
        "{err}"
    );
    assert!(!err.contains("connecting"), "{err}");
    // With the flag the key is taken, with a warning, and the role goes on to connect (and fails
    // there, as nothing listens).
    let err = failing(&[&base[..], &["--insecure-plaintext-key"]].concat(), d);
    assert!(
        err.contains("WARNING: using the plaintext ECDSA key"),
        "{err}"
    );
    assert!(err.contains("connecting"), "{err}");
    // The environment variable is a plaintext key too.
    let out = Command::new(env!("CARGO_BIN_EXE_exoavs"))
        .args(["avs", "deploy", "--rpc-url", "http://127.0.0.1:1"])
        .current_dir(d)
        .env(
            "EXOAVS_ECDSA_KEY",
            "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
        )
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("EXOAVS_ECDSA_KEY") && err.contains("--insecure-plaintext-key"),
        "{err}"
    );
}

/// Issue 14's hostile keystore (scrypt n = 2^20, r = 32: 4 GiB) given to a role: refused with a
/// message naming the parameters. Deriving it would take ~25 s and 4 GiB; the refusal needs
/// neither (the test does not time it, the cap is checked before alloy sees the file).
#[test]
fn a_hostile_keystore_is_refused_before_any_derivation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    ok(&["keys", "new-ecdsa", "--out", "good.json"], d);
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("good.json")).expect("read"))
            .expect("json");
    v["crypto"]["kdfparams"]["n"] = serde_json::json!(1u64 << 20);
    v["crypto"]["kdfparams"]["r"] = serde_json::json!(32);
    std::fs::write(d.join("hostile.json"), v.to_string()).expect("write");
    let err = failing(
        &[
            "avs",
            "deploy",
            "--rpc-url",
            "http://127.0.0.1:1",
            "--ecdsa-keystore",
            "hostile.json",
        ],
        d,
    );
    assert!(
        err.contains("128·n·r") && err.contains("n = 1048576") && err.contains("256 MiB cap"),
        "{err}"
    );
}

/// A role signs real transactions from a keystore: deploy on Anvil.
#[test]
fn a_role_signs_from_a_keystore_on_anvil() {
    let anvil = Anvil::start(AnvilOptions::default()).expect("anvil");
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(d.join("plain.key"), anvil.keys()[0].to_string()).expect("write");
    std::fs::write(d.join("pw.txt"), "file password\n").expect("write");
    ok(
        &[
            "keys",
            "import-ecdsa",
            "--key-file",
            "plain.key",
            "--out",
            "admin.json",
            "--password-file",
            "pw.txt",
        ],
        d,
    );
    let url = anvil.url();
    let out = ok(
        &[
            "avs",
            "deploy",
            "--install-emulation",
            "--rpc-url",
            &url,
            "--ecdsa-keystore",
            "admin.json",
            "--ecdsa-password-file",
            "pw.txt",
        ],
        d,
    );
    assert!(out.contains("AvsServiceContract deployed at"), "{out}");
    // The env password ("correct horse") is not this keystore's: refused, naming the file.
    let err = failing(
        &[
            "avs",
            "deploy",
            "--rpc-url",
            &url,
            "--ecdsa-keystore",
            "admin.json",
        ],
        d,
    );
    assert!(err.contains("decrypting ECDSA keystore"), "{err}");
}
