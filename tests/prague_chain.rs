//! The aggregated flow on a Prague chain that is not Anvil: every command and role talks to the
//! chain through a JSON-RPC proxy that refuses `anvil_*`, `evm_*` and `hardhat_*` methods, as a
//! public node would. `avs deploy --deploy-registry` puts the operator registry at an ordinary
//! address (nothing at 0x…0901), operators register from the command line, and
//! `aggregator run`, three `operator run` and `generator run` get 3 tasks accepted. The proxy
//! refused nothing, because nothing tried.
//!
//! The Anvil is a stock one: EIP-170's 24,576-byte limit holds, and the registry, cut in two
//! (`OperatorRegistry` and its aux half), fits it.

mod common;

use alloy::network::TransactionBuilder;
use alloy::providers::Provider;
use alloy::sol_types::SolValue;
use common::rpc_proxy::{self, Seen};
use exoavs::chain::avs::{Avs, PRECOMPILE};
use exoavs::chain::bindings::precompile::AvsPrecompile;
use exoavs::chain::{Reader, TxConfig};
use exoavs::devnet::anvil::{Anvil, AnvilOptions};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
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

fn exoavs(args: &[&str], dir: &Path) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_exoavs"))
        .args(args)
        .current_dir(dir)
        .env("EXOAVS_KEY_PASSWORD", "pw")
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

/// The address after `prefix` on a line of `out`'s stdout.
fn address_after(out: &Output, prefix: &str) -> String {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no line {prefix:?} in {:?}", out))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregated_flow_without_cheat_methods() {
    for size in exoavs::chain::avs::registry_code_sizes() {
        assert!(
            size <= exoavs::chain::avs::CODE_SIZE_LIMIT,
            "a half of the registry ({size} bytes) is over EIP-170's limit"
        );
    }
    let anvil = Anvil::start(AnvilOptions::default()).expect("anvil");
    let seen = Arc::new(Mutex::new(Seen::default()));
    let url = rpc_proxy::start(anvil.url(), seen.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let key = |i: usize| {
        let p = d.join(format!("account{i}.key"));
        std::fs::write(&p, anvil.keys()[i].to_string()).expect("write key");
        p.to_str().expect("utf8").to_owned()
    };
    let chain = |i: usize| {
        vec![
            "--rpc-url".to_owned(),
            url.clone(),
            "--ecdsa-key-file".to_owned(),
            key(i),
            "--insecure-plaintext-key".to_owned(),
        ]
    };
    let with = |head: &[&str], tail: &[String]| {
        let mut v: Vec<String> = head.iter().map(|s| (*s).to_owned()).collect();
        v.extend_from_slice(tail);
        v
    };
    let run = |args: Vec<String>| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        exoavs(&refs, d)
    };

    // Account 0 deploys and owns the AVS and is the registry's admin.
    let out = run(with(&["avs", "deploy", "--deploy-registry"], &chain(0)));
    let registry = address_after(&out, "operator registry deployed at ");
    let avs_addr = address_after(&out, "AvsServiceContract deployed at ");
    let admin = with(&["--avs", &avs_addr], &chain(0));
    run(with(&["avs", "register"], &admin));

    let r = Reader::http(&anvil.url(), TxConfig::default())
        .await
        .expect("reader");
    let avs = Avs::connect(&r, avs_addr.parse().expect("address"))
        .await
        .expect("connect");
    assert_eq!(avs.registry.to_string(), registry);
    assert_ne!(avs.registry, PRECOMPILE);
    assert!(
        r.code_at(PRECOMPILE).await.expect("code").is_empty(),
        "nothing was installed at the precompile's address"
    );
    // The limit is in force on this chain: the emulation in one piece is refused.
    let whole = alloy::providers::ProviderBuilder::new()
        .connect_http(anvil.url().parse().expect("url"))
        .estimate_gas(
            alloy::rpc::types::TransactionRequest::default()
                .from(anvil.signer(0).expect("key").address())
                .with_deploy_code(
                    [
                        AvsPrecompile::BYTECODE.as_ref(),
                        &(alloy::primitives::Address::ZERO, String::new()).abi_encode_params(),
                    ]
                    .concat(),
                ),
        )
        .await;
    assert!(
        format!("{whole:?}").contains("CreateContractSizeLimit"),
        "a stock Anvil should refuse AvsPrecompile's {} bytes: {whole:?}",
        AvsPrecompile::DEPLOYED_BYTECODE.len()
    );

    // Operators 1..=3: stake (the registry admin's stand-in for restaking), then their own
    // registration with a BLS keystore.
    for i in 1..=3usize {
        let op = anvil.signer(i).expect("key").address().to_string();
        run(with(
            &["avs", "set-stake", "--operator", &op, "--amount", "100"],
            &admin,
        ));
        let bls = format!("bls{i}.json");
        exoavs(&["keys", "new", "--out", &bls, "--insecure-fast-kdf"], d);
        run(with(
            &["operator", "register", "--bls-keystore", &bls],
            &with(&["--avs", &avs_addr], &chain(i)),
        ));
    }
    assert_eq!(avs.opted_in_operators(&r).await.expect("opted").len(), 3);

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let agg = format!("127.0.0.1:{port}");
    let role = |i: usize| {
        with(
            &[
                "--avs",
                &avs_addr,
                "--confirmations",
                "0",
                "--poll-interval",
                "100ms",
            ],
            &chain(i),
        )
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
    let journal = |name: &str| d.join(name).to_str().expect("utf8").to_owned();
    procs.0.push(spawn(with(
        &[
            "aggregator",
            "run",
            "--listen",
            &agg,
            "--store",
            &journal("aggregator.journal"),
        ],
        &role(4),
    )));
    for i in 1..=3usize {
        procs.0.push(spawn(with(
            &[
                "operator",
                "run",
                "--aggregator",
                &agg,
                "--bls-keystore",
                &format!("bls{i}.json"),
                "--store",
                &journal(&format!("op{i}.journal")),
            ],
            &role(i),
        )));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    procs.0.push(spawn(with(
        &[
            "generator",
            "run",
            "--interval",
            "1s",
            "--store",
            &journal("generator.journal"),
        ],
        &role(0),
    )));

    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    'tasks: loop {
        let mut accepted = 0;
        for id in 1..=3 {
            match avs.task(&r, id).await {
                Ok(t) if t.responded => accepted += 1,
                _ => {}
            }
        }
        if accepted == 3 {
            break 'tasks;
        }
        for c in &mut procs.0 {
            assert!(
                c.try_wait().expect("wait").is_none(),
                "a role process exited early"
            );
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{accepted} of tasks 1..=3 accepted within 120 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(procs);

    let s = seen.lock().expect("lock");
    assert!(
        s.refused.is_empty(),
        "the proxy refused cheat methods: {:?}",
        s.refused
    );
    // The roles did go through the proxy: transactions sent, logs and state read.
    for m in ["eth_sendRawTransaction", "eth_getLogs", "eth_call"] {
        assert!(
            s.calls.iter().any(|c| c.method == *m),
            "no {m} through the proxy"
        );
    }
    println!(
        "{} JSON-RPC calls through the proxy, none refused",
        s.calls.len()
    );
}
