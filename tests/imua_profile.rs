//! The two-phase flow on the strict Imua profile, driven by the production commands: the strict
//! emulation of Imua's avs precompile is installed at 0x…0901 (as the chain has it: failures
//! return `false`, compressed BLS points, x/epochs' epoch counter, no extension functions), and
//! every command and role talks to the chain through a proxy that logs each call.
//!
//! What it shows:
//! - `avs register --min-stake 0` exits non-zero, naming the precompile's `false`;
//! - `operator register` stores a 48-byte key;
//! - a two-phase task is prepared, committed, and settled by the AVS's `challenge`;
//! - no role called an extension function (`IAVSManagerExt`), and none tried a cheat method.
//!
//! The set-up that stands for other Imua modules (an operator registering with x/operator, its
//! stake from restaking) goes straight to Anvil, beside the proxy: on a real chain it is not the
//! AVS's software that does it.

mod common;

use alloy::sol_types::{SolCall, SolEvent};
use common::rpc_proxy::{self, Seen};
use exoavs::chain::avs::{Avs, DEVNET_CHAIN_ID, PRECOMPILE, Profile, emulation};
use exoavs::chain::bindings::{base::AvsServiceBase as B, precompile::AvsPrecompile as P};
use exoavs::chain::{Client, Reader, TxConfig};
use exoavs::devnet::anvil::{Anvil, AnvilOptions};
use exoavs::devnet::setup::IMUA_DEVNET_ASSET;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

fn exoavs_out(args: &[String], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_exoavs"))
        .args(args)
        .current_dir(dir)
        .env("EXOAVS_KEY_PASSWORD", "pw")
        .env_remove("EXOAVS_ECDSA_KEY")
        .output()
        .expect("run exoavs")
}

fn exoavs(args: &[String], dir: &Path) -> Output {
    let out = exoavs_out(args, dir);
    assert!(
        out.status.success(),
        "exoavs {args:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// The selectors of the emulation's extension (`IAVSManagerExt`), which Imua does not have.
fn extension_selectors() -> Vec<[u8; 4]> {
    vec![
        P::verifyTaskAggregateCall::SELECTOR,
        P::taskSnapshotCall::SELECTOR,
        P::taskOperatorsCall::SELECTOR,
        P::operatorAtCall::SELECTOR,
        P::getKnownOperatorsCall::SELECTOR,
        P::epochDurationCall::SELECTOR,
        P::rewardOfCall::SELECTOR,
        P::slashedOfCall::SELECTOR,
        P::registrationMessageCall::SELECTOR,
        P::chainIdWithoutRevisionCall::SELECTOR,
        P::adminCall::SELECTOR,
        P::initializeCall::SELECTOR,
        P::registerOperatorCall::SELECTOR,
        P::setOperatorStakeCall::SELECTOR,
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_phase_on_the_strict_imua_profile() {
    let anvil = Anvil::start(AnvilOptions::default()).expect("anvil");
    let cfg = TxConfig {
        poll_interval: Duration::from_millis(50),
        ..TxConfig::default()
    };
    let admin = Client::http(&anvil.url(), anvil.signer(0).expect("key"), cfg.clone())
        .await
        .expect("admin");
    emulation::install_imua(&admin, DEVNET_CHAIN_ID)
        .await
        .expect("install the strict emulation");

    let seen = Arc::new(Mutex::new(Seen::default()));
    let url = rpc_proxy::start(anvil.url(), seen.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let chain = |i: usize| {
        let p = d.join(format!("account{i}.key"));
        std::fs::write(&p, anvil.keys()[i].to_string()).expect("write key");
        strings(&[
            "--rpc-url",
            &url,
            "--ecdsa-key-file",
            p.to_str().expect("utf8"),
            "--insecure-plaintext-key",
            "--profile",
            "imua",
        ])
    };
    let with = |head: &[&str], tail: &[String]| {
        let mut v = strings(head);
        v.extend_from_slice(tail);
        v
    };

    let out = exoavs(&with(&["avs", "deploy"], &chain(0)), d);
    let avs_addr = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("AvsServiceContract deployed at "))
        .and_then(|l| l.split_whitespace().next())
        .expect("deployed address")
        .to_owned();
    let owner = with(&["--avs", &avs_addr], &chain(0));

    // Imua refuses a zero minimum stake by returning false; the command must not call that a
    // success.
    let refused = exoavs_out(
        &with(
            &[
                "avs",
                "register",
                "--epoch-identifier",
                "devnet-1s",
                "--min-stake",
                "0",
                "--asset-id",
                IMUA_DEVNET_ASSET,
            ],
            &owner,
        ),
        d,
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "min stake 0 was accepted");
    assert!(
        stderr.contains("returned false for registerAVS"),
        "the error does not name the precompile's false: {stderr}"
    );
    exoavs(
        &with(
            &[
                "avs",
                "register",
                "--epoch-identifier",
                "devnet-1s",
                "--min-stake",
                "1",
                "--asset-id",
                IMUA_DEVNET_ASSET,
            ],
            &owner,
        ),
        d,
    );

    // Other modules' part, straight to Anvil: Imua operators with stake.
    let r = Reader::http(&anvil.url(), cfg.clone())
        .await
        .expect("reader");
    let avs = Avs::connect(&r, avs_addr.parse().expect("address"))
        .await
        .expect("connect")
        .with_profile(Profile::Imua);
    assert_eq!(avs.registry, PRECOMPILE);
    for i in 1..=3usize {
        let op = Client::from_reader(r.clone(), anvil.signer(i).expect("key"));
        emulation::register_operator(&op, PRECOMPILE)
            .await
            .expect("registerOperator");
        emulation::set_stake(&admin, PRECOMPILE, avs.address, op.address(), 100)
            .await
            .expect("stake");
    }
    // Blocks keep coming without transactions, so that epochs pass.
    let _: serde_json::Value = admin
        .raw("evm_setIntervalMining", (1u64,))
        .await
        .expect("interval mining");

    for i in 1..=3usize {
        let bls = format!("bls{i}.json");
        exoavs(
            &strings(&["keys", "new", "--out", &bls, "--insecure-fast-kdf"]),
            d,
        );
        let out = exoavs(
            &with(
                &[
                    "operator",
                    "register",
                    "--bls-keystore",
                    &bls,
                    "--cosmos-chain-id",
                    DEVNET_CHAIN_ID,
                    "--avs",
                    &avs_addr,
                ],
                &chain(i),
            ),
            d,
        );
        assert!(
            String::from_utf8_lossy(&out.stdout)
                .contains("(48 bytes at the registry, imua profile)"),
            "{out:?}"
        );
        let op = anvil.signer(i).expect("key").address();
        let key = avs.registered_pubkey(&r, op).await.expect("key");
        assert_eq!(key.len(), 48, "the registry stores the compressed key");
    }

    let role = |i: usize| {
        with(
            &[
                "--avs",
                &avs_addr,
                "--confirmations",
                "0",
                "--poll-interval",
                "200ms",
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
    let journal = |name: &str| d.join(name).to_str().expect("utf8").to_owned();
    let mut procs = Procs(Vec::new());
    for i in 1..=3usize {
        procs.0.push(spawn(with(
            &[
                "operator",
                "run",
                "--flow",
                "two-phase",
                "--bls-keystore",
                &format!("bls{i}.json"),
                "--store",
                &journal(&format!("op{i}.journal")),
            ],
            &role(i),
        )));
    }
    procs.0.push(spawn(with(
        &[
            "challenger",
            "run",
            "--flow",
            "two-phase",
            "--store",
            &journal("challenger.journal"),
        ],
        &role(4),
    )));
    tokio::time::sleep(Duration::from_secs(1)).await;
    procs.0.push(spawn(with(
        &[
            "generator",
            "run",
            "--interval",
            "60s",
            "--response-period",
            "2",
            "--statistical-period",
            "2",
            "--challenge-period",
            "1",
            "--store",
            &journal("generator.journal"),
        ],
        &role(0),
    )));

    // Task 1: prepared and committed by every operator, then settled by the AVS's challenge.
    let deadline = Instant::now() + Duration::from_secs(120);
    let settled = loop {
        let logs = alloy::providers::Provider::get_logs(
            r.provider(),
            &avs.all_events_filter().from_block(0),
        )
        .await
        .expect("logs");
        if let Some(s) = logs.iter().find_map(|l| avs.decode_task_settled(l)) {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "task 1 was not settled within 120 s"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let (task, _actual, rewarded, slashed) = settled;
    assert_eq!(task, 1);
    assert_eq!(rewarded.len(), 3, "every operator committed the sum");
    assert!(slashed.is_empty());
    for i in 1..=3usize {
        let op = anvil.signer(i).expect("key").address();
        let (phase, _) = avs.operator_response(&r, op, 1).await.expect("result");
        assert_eq!(phase, 2, "operator {i} committed");
    }
    // The precompile saw the AVS's challenge (ChallengeInitiated, Imua's data-only event).
    let logs = alloy::providers::Provider::get_logs(
        r.provider(),
        &alloy::rpc::types::Filter::new()
            .address(PRECOMPILE)
            .from_block(0),
    )
    .await
    .expect("precompile logs");
    let challenge_topic = P::ChallengeInitiated::SIGNATURE_HASH;
    let initiated: Vec<_> = logs
        .iter()
        .filter(|l| l.topics().first() == Some(&challenge_topic))
        .collect();
    assert_eq!(initiated.len(), 1, "one ChallengeInitiated");
    assert_eq!(initiated[0].topics().len(), 1, "Imua indexes nothing");
    drop(procs);

    let s = seen.lock().expect("lock");
    assert!(s.refused.is_empty(), "cheat methods tried: {:?}", s.refused);
    let ext = extension_selectors();
    let bad: Vec<_> = s
        .calls
        .iter()
        .filter(|c| c.selector.is_some_and(|sel| ext.contains(&sel)))
        .collect();
    assert!(bad.is_empty(), "extension calls through the proxy: {bad:?}");
    let to_precompile = s.calls.iter().filter(|c| c.to == Some(PRECOMPILE)).count();
    assert!(
        s.calls
            .iter()
            .any(|c| c.to == Some(PRECOMPILE)
                && c.selector == Some(P::getCurrentEpochCall::SELECTOR)),
        "the roles read the epoch counter from the precompile"
    );
    assert!(
        s.calls
            .iter()
            .any(|c| c.selector == Some(B::operatorSubmitTaskCall::SELECTOR)),
        "operators submitted through the service contract"
    );
    eprintln!(
        "{} calls through the proxy, {to_precompile} straight to the precompile, none to its extension",
        s.calls.len()
    );
}
