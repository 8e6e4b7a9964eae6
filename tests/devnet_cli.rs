//! The main job: `exoavs devnet --tasks 3 --interval 2s` exits 0 after three tasks were
//! accepted on chain (the binary checks each by reading the contract).

use std::process::Command;

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
                && stdout.contains(&format!("tasks({t}).responded = true")),
            "task {t} not accepted:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("3 task(s) accepted on chain; done."),
        "{stdout}"
    );
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
