//! The main job: `exoavs devnet --tasks 3 --interval 2s` exits 0 after three tasks were
//! accepted on chain (the binary checks each by reading the contract), and ends with a summary
//! table whose numbers agree with the run — also when stopped with Ctrl-C.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The value column of the summary row `key` (rows are `  key   value`).
fn row(stdout: &str, key: &str) -> String {
    let table = stdout
        .split_once("\nsummary\n")
        .unwrap_or_else(|| panic!("no summary table:\n{stdout}"))
        .1;
    table
        .lines()
        .find_map(|l| {
            let rest = l.trim_start().strip_prefix(key)?;
            rest.starts_with("  ").then(|| rest.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no `{key}` row:\n{table}"))
}

fn num(stdout: &str, key: &str) -> u64 {
    let v = row(stdout, key);
    v.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("`{key}` is not a number: {v}"))
}

/// `(n=K)` at the end of a latency or gas row.
fn samples(stdout: &str, key: &str) -> u64 {
    let v = row(stdout, key);
    v.rsplit_once("(n=")
        .and_then(|(_, n)| n.trim_end_matches(')').parse().ok())
        .unwrap_or_else(|| panic!("`{key}` has no sample count: {v}"))
}

#[test]
fn devnet_runs_three_tasks_and_exits_zero() {
    let out = Command::new(env!("CARGO_BIN_EXE_exoavs"))
        .args([
            "devnet",
            "--tasks",
            "3",
            "--interval",
            "2s",
            "--timeout",
            "120s",
        ])
        .output()
        .expect("run exoavs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(stdout.contains("Anvil RPC http://127.0.0.1:"), "{stdout}");
    for t in 1..=3 {
        assert!(
            stdout.contains(&format!("task {t}: accepted in block"))
                && stdout.contains(&format!("taskState({t}).responded = true")),
            "task {t} not accepted:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("3 task(s) settled on chain, 3 accepted; done."),
        "{stdout}"
    );

    // The summary agrees with the run: 3 created, 3 accepted (each after one aggregate), 3
    // settled by the challenger.
    assert_eq!(num(&stdout, "tasks accepted"), 3, "{stdout}");
    let created = num(&stdout, "tasks created");
    assert_eq!(created, 3, "{stdout}");
    assert_eq!(num(&stdout, "tasks settled"), 3, "{stdout}");
    // Issue 12: on a healthy devnet every honest response is in the aggregate (the linger
    // window), and nobody is slashed.
    assert!(
        row(&stdout, "responses in an aggregate").starts_with("12 of 12 "),
        "{stdout}"
    );
    let all = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("all "))
        .unwrap_or_else(|| panic!("no operator table:\n{stdout}"));
    let cols: Vec<u64> = all
        .split_whitespace()
        .skip(1)
        .map(|n| n.parse().expect("number"))
        .collect();
    assert_eq!(
        cols,
        vec![12, 12, 12, 0],
        "signed, included, rewarded, slashed:\n{stdout}"
    );
    assert_eq!(
        samples(&stdout, "gas per settlement (challenge) min / avg / max"),
        3,
        "{stdout}"
    );
    assert_eq!(num(&stdout, "tasks expired"), 0, "{stdout}");
    // 4 operators at 67 %: at least 3 responses per accepted task reached the aggregator. A
    // response that arrives before the aggregator has read its task is refused as
    // "unknown-task" and sent again at the operator's next poll, so a few frames count twice.
    let received = num(&stdout, "responses received");
    assert!(received >= 9 && received <= 3 * 4 * created, "{stdout}");
    assert!(
        num(&stdout, "responses rejected") <= received - 9,
        "{stdout}"
    );
    assert_eq!(
        samples(&stdout, "acceptance latency p50 / p95"),
        3,
        "{stdout}"
    );
    assert_eq!(
        samples(&stdout, "aggregation latency p50 / p95"),
        3,
        "{stdout}"
    );
    let gas = row(&stdout, "gas per submission (respond) min / avg / max");
    let parts: Vec<u64> = gas
        .split(" / ")
        .map(|p| {
            p.split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .expect("gas")
        })
        .collect();
    // respondToTask per transaction: ≈ 261k with every operator signing, ≈ 22k more once there is a
    // non-signer and ≈ 11k per non-signer (contracts/GAS.md, forge test --isolate).
    assert!(parts[0] <= parts[1] && parts[1] <= parts[2], "{gas}");
    assert!((200_000..400_000).contains(&parts[0]), "{gas}");
    assert_eq!(
        samples(&stdout, "gas per submission (respond) min / avg / max"),
        3
    );
    assert!(row(&stdout, "chain RPC errors / retries").contains(" / "));
}

/// Ctrl-C (SIGINT) mid-run still prints the summary, with the tasks accepted so far.
#[test]
fn devnet_prints_the_summary_on_ctrl_c() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_exoavs"))
        .args(["devnet", "--interval", "1s", "--wrong-operators", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run exoavs");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    // Wait until a task was accepted and a wrong response rejected.
    while !(seen.contains(": accepted in block") && seen.contains("provably-wrong")) {
        let mut line = String::new();
        if out.read_line(&mut line).expect("read") == 0 || Instant::now() > deadline {
            let _ = child.kill();
            panic!("devnet ended or stalled before a task was accepted:\n{seen}");
        }
        seen.push_str(&line);
    }
    // SAFETY: plain kill(2) on our own child's pid.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(rc, 0);
    out.read_to_string(&mut seen).expect("read rest");
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status:?}\n{seen}");
    assert!(seen.contains("stopping (Ctrl-C)"), "{seen}");
    let accepted = seen.matches(": accepted in block").count() as u64;
    assert_eq!(num(&seen, "tasks accepted"), accepted, "{seen}");
    assert!(num(&seen, "tasks created") >= accepted, "{seen}");
    assert!(num(&seen, "provably-wrong") >= 1, "{seen}");
}

#[test]
fn help_names_every_role() {
    let out = Command::new(env!("CARGO_BIN_EXE_exoavs"))
        .arg("--help")
        .output()
        .expect("run exoavs");
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in [
        "devnet",
        "keys",
        "avs",
        "operator",
        "aggregator",
        "generator",
        "challenger",
    ] {
        assert!(text.contains(cmd), "--help lacks {cmd}:\n{text}");
    }
}

#[test]
fn every_run_command_documents_metrics() {
    for role in [
        &["operator", "run"][..],
        &["aggregator", "run"],
        &["generator", "run"],
        &["challenger", "run"],
        &["devnet"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_exoavs"))
            .args(role)
            .arg("--help")
            .output()
            .expect("run exoavs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{role:?}");
        assert!(
            text.contains("--metrics <HOST:PORT>") && text.contains("GET /metrics"),
            "{role:?} --help does not describe --metrics:\n{text}"
        );
    }
}

#[test]
fn keys_new_then_show_with_password_from_env() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ks = dir.path().join("bls.json");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_exoavs"))
            .args(args)
            .env("EXOAVS_KEY_PASSWORD", "correct horse")
            .output()
            .expect("run exoavs")
    };
    let ks_s = ks.to_str().expect("utf8 path");
    let out = run(&["keys", "new", "--out", ks_s, "--insecure-fast-kdf"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created = String::from_utf8_lossy(&out.stdout).to_string();
    let pk = created
        .lines()
        .find_map(|l| l.strip_prefix("public key "))
        .expect("public key line")
        .to_owned();
    let out = run(&["keys", "show", ks_s, "--decrypt"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(&pk));
    // Refuses to overwrite, and a wrong password fails.
    assert!(!run(&["keys", "new", "--out", ks_s]).status.success());
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "wrong\n").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_exoavs"))
        .args([
            "keys",
            "show",
            ks_s,
            "--decrypt",
            "--password-file",
            pw.to_str().expect("utf8"),
        ])
        .output()
        .expect("run");
    assert!(!out.status.success());
}
