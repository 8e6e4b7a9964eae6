//! The acceptance test: `exoavs-oracle devnet --tasks 3 --hold` runs the oracle end to end on a
//! local Anvil, and the chain, read back with `cast` while the devnet holds it, has an accepted
//! price for each task that follows the contract's rule.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use exoavs_core::avs::Avs;
use exoavs_oracle::{
    ASSETS, OracleAvs, OraclePayload, OracleResponse, check_accepted, reference_price,
};

/// The whole run, from spawn to the cast reads, may take this long before the test gives up.
const DEADLINE: Duration = Duration::from_secs(180);

/// The pinned cast of `contracts/` (installed by `npm ci` there, like anvil). The native
/// per-platform binary is preferred over `.bin/cast`, a node wrapper.
fn cast() -> PathBuf {
    let contracts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../contracts");
    let scope = contracts.join("node_modules/@foundry-rs");
    if let Ok(entries) = std::fs::read_dir(&scope) {
        let mut natives: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("cast-"))
            .map(|e| e.path().join("bin/cast"))
            .filter(|p| p.is_file())
            .collect();
        natives.sort();
        if let Some(p) = natives.into_iter().next() {
            return p;
        }
    }
    let wrapper = contracts.join("node_modules/.bin/cast");
    assert!(
        wrapper.exists(),
        "cast not found at {}: run `npm ci` in {}",
        wrapper.display(),
        contracts.display()
    );
    wrapper
}

/// The devnet process: stopped with SIGINT (so that it takes its Anvil down itself), killed if
/// it does not stop in time; also when the test panics.
struct Devnet {
    child: Child,
}

impl Devnet {
    fn stop(&mut self) -> Option<std::process::ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        self.child.wait().ok()
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Reads a pipe line by line on its own thread, sending each line (tagged) on `tx`.
fn forward(
    pipe: impl Read + Send + 'static,
    tag: &'static str,
    tx: mpsc::Sender<(&'static str, String)>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send((tag, line)).is_err() {
                break;
            }
        }
    });
}

/// `cast call`'s output, one value per line, each value's first word (cast appends a
/// scientific form in brackets to large numbers).
fn cast_call(cast: &PathBuf, avs: &str, sig: &str, id: u64, rpc: &str) -> Vec<String> {
    let out = Command::new(cast)
        .args(["call", avs, sig, &id.to_string(), "--rpc-url", rpc])
        .output()
        .expect("run cast");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "cast call {avs} {sig} {id} failed: {:?}\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

#[test]
fn devnet_accepts_three_prices_on_the_grid() {
    let cast = cast();
    let mut child = Command::new(env!("CARGO_BIN_EXE_exoavs-oracle"))
        .args([
            "devnet",
            "--tasks",
            "3",
            "--interval",
            "1s",
            "--timeout",
            "120s",
            "--hold",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run exoavs-oracle");
    let (tx, rx) = mpsc::channel();
    forward(child.stdout.take().expect("stdout"), "out", tx.clone());
    forward(child.stderr.take().expect("stderr"), "err", tx);
    let mut devnet = Devnet { child };

    let start = Instant::now();
    let (mut stdout, mut stderr) = (String::new(), String::new());
    let (mut rpc, mut avs) = (None::<String>, None::<String>);
    let dump = |why: &str, stdout: &str, stderr: &str| {
        format!("{why}\n--- stdout:\n{stdout}\n--- stderr:\n{stderr}")
    };
    loop {
        let left = DEADLINE.saturating_sub(start.elapsed());
        let (tag, line) = match rx.recv_timeout(left) {
            Ok(l) => l,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                devnet.stop();
                panic!(
                    "{}",
                    dump(
                        "no `holding Anvil` line before the deadline",
                        &stdout,
                        &stderr
                    )
                );
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = devnet.stop();
                panic!(
                    "{}",
                    dump(
                        &format!("the devnet exited early ({status:?})"),
                        &stdout,
                        &stderr
                    )
                );
            }
        };
        if tag == "err" {
            stderr.push_str(&line);
            stderr.push('\n');
            continue;
        }
        stdout.push_str(&line);
        stdout.push('\n');
        if let Some(rest) = line.strip_prefix("Anvil RPC ") {
            rpc = rest.split_whitespace().next().map(str::to_owned);
        }
        if let Some(rest) = line.strip_prefix("AVS contract ") {
            avs = rest.split_whitespace().next().map(str::to_owned);
        }
        if line.starts_with("holding Anvil at ") {
            break;
        }
    }
    let rpc = rpc.unwrap_or_else(|| panic!("{}", dump("no `Anvil RPC` line", &stdout, &stderr)));
    let avs = avs.unwrap_or_else(|| panic!("{}", dump("no `AVS contract` line", &stdout, &stderr)));
    assert!(rpc.starts_with("http://127.0.0.1:"), "{rpc}");
    assert!(
        stdout.contains(&format!(
            "holding Anvil at {rpc} (AVS contract {avs}) until Ctrl-C"
        )),
        "{}",
        dump(
            "the hold line names another node or contract",
            &stdout,
            &stderr
        )
    );
    assert!(
        stdout.contains("3 task(s) settled on chain, 3 accepted; done."),
        "{}",
        dump("not all three tasks were accepted", &stdout, &stderr)
    );

    for id in 1..=3u64 {
        let price = cast_call(&cast, &avs, "accepted(uint64)(uint128,uint8)", id, &rpc);
        assert_eq!(price.len(), 2, "accepted({id}) = {price:?}");
        let p: u128 = price[0].parse().expect("price");
        let d: u8 = price[1].parse().expect("decimals");
        assert!(
            p > 0 && p.is_multiple_of(1_000_000),
            "task {id}: price {p} is off the grid"
        );
        assert_eq!(d, 8, "task {id}: decimals");
        let state = cast_call(
            &cast,
            &avs,
            "taskState(uint64)(bool,bool,bool,uint8,uint64,uint64,uint64)",
            id,
            &rpc,
        );
        assert_eq!(state.len(), 7, "taskState({id}) = {state:?}");
        assert_eq!(
            (state[0].as_str(), state[1].as_str()),
            ("true", "true"),
            "task {id}: (exists, responded) = {state:?}"
        );
        // The example's own invariant on what the chain holds: the query read back, the price
        // within ACCEPT_BOUND of its reference.
        let query = cast_call(&cast, &avs, "taskPayload(uint64)(bytes32,uint64)", id, &rpc);
        assert_eq!(query.len(), 2, "taskPayload({id}) = {query:?}");
        let asset: [u8; 32] = hex::decode(query[0].trim_start_matches("0x"))
            .expect("hex")
            .try_into()
            .expect("32 bytes");
        let payload = OraclePayload {
            asset,
            timestamp: query[1].parse().expect("timestamp"),
        };
        assert!(
            ASSETS.iter().any(|s| exoavs_oracle::asset(s) == asset),
            "task {id}: asset {}",
            query[0]
        );
        let response = OracleResponse {
            price: p,
            decimals: d,
        };
        let avs_logic = OracleAvs::default();
        if let Err(e) = check_accepted(
            &avs_logic.encode_payload(&payload),
            &avs_logic.encode_response(&response),
        ) {
            panic!("task {id}: {e}");
        }
        eprintln!(
            "task {id}: {} accepted {} (reference {}); taskState {state:?}",
            avs_logic.show_payload(&payload),
            avs_logic.show_response(&response),
            reference_price(&payload)
        );
    }

    let status = devnet.stop().expect("devnet status");
    // Stopped by Ctrl-C after a successful run: the devnet exits 0.
    assert!(
        status.success(),
        "{}",
        dump(&format!("{status:?}"), &stdout, &stderr)
    );
}
