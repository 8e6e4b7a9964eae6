//! The production roles as separate processes (`aggregator run`, `operator run`,
//! `generator run`) against a real Anvil: a task is created, answered, aggregated, accepted.

use exoavs::chain::{Client, TxConfig};
use exoavs::crypto::bls::SecretKey;
use exoavs::crypto::keystore::{EncryptParams, Kdf, Keystore};
use exoavs::devnet::anvil::{Anvil, AnvilOptions};
use exoavs::devnet::setup::{self, AvsSetup};
use exoavs::protocol::Flow;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Kills the role processes however the test ends.
struct Procs(Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[tokio::test]
async fn roles_as_processes_get_a_task_accepted() {
    let anvil = Anvil::start(AnvilOptions::default()).expect("anvil");
    let url = anvil.url();
    let fast = TxConfig {
        poll_interval: Duration::from_millis(20),
        ..TxConfig::default()
    };
    let admin = Client::http(&url, anvil.signer(0).expect("key"), fast)
        .await
        .expect("admin");
    let dep = setup::deploy_avs(&admin, &AvsSetup::for_flow(Flow::Aggregated))
        .await
        .expect("deploy");
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let agg_addr = format!("127.0.0.1:{port}");
    let avs = dep.avs.address.to_string();
    let common = |key_file: &str| {
        vec![
            "--rpc-url".to_owned(),
            url.clone(),
            "--avs".to_owned(),
            avs.clone(),
            "--ecdsa-key-file".to_owned(),
            key_file.to_owned(),
            "--insecure-plaintext-key".to_owned(),
            "--confirmations".to_owned(),
            "0".to_owned(),
            "--poll-interval".to_owned(),
            "100ms".to_owned(),
        ]
    };
    let spawn = |args: Vec<String>| {
        Command::new(env!("CARGO_BIN_EXE_exoavs"))
            .args(&args)
            .current_dir(d)
            .env("EXOAVS_KEY_PASSWORD", "pw")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn exoavs")
    };
    let mut procs = Procs(Vec::new());
    let admin_key = d.join("admin.key");
    std::fs::write(&admin_key, anvil.keys()[0].to_string()).expect("write");
    let mut args = vec![
        "aggregator".into(),
        "run".into(),
        "--listen".into(),
        agg_addr.clone(),
    ];
    args.extend(common(admin_key.to_str().expect("utf8")));
    procs.0.push(spawn(args));

    for i in 1..=3usize {
        let client = Client::from_reader(admin.reader().clone(), anvil.signer(i).expect("key"));
        let bls = SecretKey::from_ikm(&[i as u8 + 50; 32]).expect("ikm");
        setup::register_operator(&dep, &client, &bls, 100)
            .await
            .expect("register");
        let ks = Keystore::encrypt(
            &bls,
            "pw",
            &EncryptParams::from_rng(Kdf::SCRYPT_INSECURE_FAST, &mut rand::rngs::OsRng),
            "",
            "",
        )
        .expect("keystore");
        let ks_path = d.join(format!("bls{i}.json"));
        std::fs::write(&ks_path, ks.to_json()).expect("write");
        let key_path = d.join(format!("op{i}.key"));
        std::fs::write(&key_path, anvil.keys()[i].to_string()).expect("write");
        let mut args = vec![
            "operator".into(),
            "run".into(),
            "--aggregator".into(),
            agg_addr.clone(),
            "--bls-keystore".into(),
            ks_path.to_str().expect("utf8").into(),
            "--store".into(),
            d.join(format!("op{i}.journal"))
                .to_str()
                .expect("utf8")
                .into(),
        ];
        args.extend(common(key_path.to_str().expect("utf8")));
        procs.0.push(spawn(args));
    }
    // Give the aggregator and operators a moment to start watching before tasks appear.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut args = vec![
        "generator".into(),
        "run".into(),
        "--interval".into(),
        "1s".into(),
    ];
    args.extend(common(admin_key.to_str().expect("utf8")));
    procs.0.push(spawn(args));

    let r = admin.reader();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let t = dep.avs.task(r, 1).await.expect("task");
        if t.responded {
            break;
        }
        for c in &mut procs.0 {
            assert!(
                c.try_wait().expect("wait").is_none(),
                "a role process exited early"
            );
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "task 1 not accepted within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
