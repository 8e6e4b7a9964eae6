//! The production commands against a real Anvil, as an operator would type them: deploy and
//! register the AVS, stake, a BLS keystore, operator registration, opt-out; config file + flags.

use exoavs::chain::avs::Avs;
use exoavs::chain::{Reader, TxConfig};
use exoavs::devnet::anvil::{Anvil, AnvilOptions};
use std::path::Path;
use std::process::{Command, Output};

fn exoavs(args: &[&str], dir: &Path) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_exoavs"))
        .args(args)
        .current_dir(dir)
        .env("EXOAVS_KEY_PASSWORD", "pw")
        .env("EXOAVS_ECDSA_PASSWORD", "admin pw")
        .env_remove("EXOAVS_ECDSA_KEY")
        .output()
        .expect("run exoavs");
    assert!(
        out.status.success(),
        "exoavs {args:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[tokio::test]
async fn deploy_register_stake_opt_in_and_out_from_the_command_line() {
    let anvil = Anvil::start(AnvilOptions::default()).expect("anvil");
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let admin_key = d.join("admin.key");
    let op_key = d.join("op.key");
    std::fs::write(&admin_key, format!("{}\n", anvil.keys()[0])).expect("write");
    std::fs::write(&op_key, anvil.keys()[1].to_string()).expect("write");
    let url = anvil.url();
    // The admin signs from an encrypted v3 keystore; the operator below from a plaintext file,
    // which needs the explicit insecure flag.
    exoavs(
        &[
            "keys",
            "import-ecdsa",
            "--key-file",
            admin_key.to_str().expect("utf8"),
            "--out",
            "admin.json",
        ],
        d,
    );
    let admin = ["--rpc-url", url.as_str(), "--ecdsa-keystore", "admin.json"];

    let out = exoavs(
        &[&["avs", "deploy", "--install-emulation"][..], &admin[..]].concat(),
        d,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let avs_addr = text
        .lines()
        .find_map(|l| l.strip_prefix("AvsServiceContract deployed at "))
        .and_then(|l| l.split_whitespace().next())
        .expect("address line")
        .to_owned();
    exoavs(
        &[&["avs", "register", "--avs", &avs_addr][..], &admin[..]].concat(),
        d,
    );

    // The operator's side uses a config file; the flag for the key file overrides nothing in it.
    let cfg = d.join("operator.toml");
    std::fs::write(
        &cfg,
        format!(
            "rpc_url = \"{url}\"\navs = \"{avs_addr}\"\n[operator]\nbls_keystore = \"bls.json\"\n"
        ),
    )
    .expect("write");
    exoavs(
        &["keys", "new", "--out", "bls.json", "--insecure-fast-kdf"],
        d,
    );
    let operator = anvil.signer(1).expect("key").address().to_string();
    let op = [
        "--config",
        cfg.to_str().expect("utf8"),
        "--ecdsa-key-file",
        op_key.to_str().expect("utf8"),
        "--insecure-plaintext-key",
    ];
    // Stake is the emulation admin's job (Exocore restaking, emulated).
    exoavs(
        &[
            &[
                "avs",
                "set-stake",
                "--avs",
                &avs_addr,
                "--operator",
                &operator,
                "--amount",
                "100",
            ][..],
            &admin[..],
        ]
        .concat(),
        d,
    );
    exoavs(&[&["operator", "register"][..], &op[..]].concat(), d);

    let r = Reader::http(&url, TxConfig::default())
        .await
        .expect("reader");
    let avs = Avs::at(avs_addr.parse().expect("address"));
    let opted = avs.opted_in_operators(&r).await.expect("opted");
    assert_eq!(
        opted,
        vec![
            operator
                .parse::<alloy::primitives::Address>()
                .expect("address")
        ]
    );
    assert_eq!(
        avs.registered_pubkey(&r, opted[0])
            .await
            .expect("key")
            .len(),
        128
    );
    // Registering again is a no-op, not an error.
    exoavs(&[&["operator", "register"][..], &op[..]].concat(), d);

    exoavs(&[&["operator", "opt-out"][..], &op[..]].concat(), d);
    assert!(avs.opted_in_operators(&r).await.expect("opted").is_empty());
}
