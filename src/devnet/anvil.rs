//! Find, install and start the Anvil that `contracts/`'s npm install provides.
//!
//! Everything here is blocking std code: it runs in tests, in `exoavs devnet` and outside the
//! simulation (the simulator talks to its Anvil through its own gateway).

use alloy::primitives::B256;
use alloy::signers::local::PrivateKeySigner;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Environment variable that names the anvil binary to use instead of the npm one.
pub const ANVIL_ENV: &str = "EXOAVS_ANVIL";

/// How long Anvil may take to answer its first `eth_chainId`.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum AnvilError {
    #[error(
        "cannot find the contracts/ directory (with package.json) above {searched}; \
         run from the exoavs checkout or pass --anvil / set {ANVIL_ENV}"
    )]
    NoContractsDir { searched: String },
    #[error("anvil binary {0} does not exist")]
    BinaryMissing(PathBuf),
    #[error(
        "anvil is not installed and `npm` was not found on PATH; install Node.js (npm) or pass --anvil / set {ANVIL_ENV}"
    )]
    NpmMissing,
    #[error("`npm ci` in {dir} failed ({status}); see its output above")]
    NpmFailed {
        dir: PathBuf,
        status: std::process::ExitStatus,
    },
    #[error("`npm ci` in {dir} finished but {expected} is still missing")]
    NotInstalled { dir: PathBuf, expected: PathBuf },
    #[error("starting {bin}: {source}")]
    Spawn {
        bin: PathBuf,
        source: std::io::Error,
    },
    #[error("anvil exited before it was ready ({status}); last output:\n{log}")]
    Exited {
        status: std::process::ExitStatus,
        log: String,
    },
    #[error("anvil did not become ready within {0:?}; last output:\n{1}")]
    NotReady(Duration, String),
    #[error("anvil's --config-out file {path}: {reason}")]
    BadConfig { path: PathBuf, reason: String },
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("anvil answered {method} with an error: {error}")]
    Rpc { method: String, error: Value },
    #[error("anvil answered {method} with something that is not JSON-RPC: {text}")]
    BadReply { method: String, text: String },
}

/// How to start Anvil. `Default` gives automine, chain id 31337, 10 accounts.
#[derive(Clone, Debug)]
pub struct AnvilOptions {
    pub chain_id: Option<u64>,
    /// Interval mining; fractional seconds are allowed.
    pub block_time: Option<Duration>,
    /// No automine, no interval mining: blocks only on `evm_mine`.
    pub no_mining: bool,
    pub accounts: Option<u32>,
    pub genesis_timestamp: Option<u64>,
    /// Mempool ordering by arrival rather than fee (deterministic block contents).
    pub order_fifo: bool,
    pub hardfork: Option<String>,
    /// Use this anvil instead of looking one up.
    pub binary: Option<PathBuf>,
    /// Run `npm ci` in contracts/ when the npm anvil is missing.
    pub install_if_missing: bool,
    pub extra_args: Vec<String>,
}

impl Default for AnvilOptions {
    fn default() -> Self {
        AnvilOptions {
            chain_id: None,
            block_time: None,
            no_mining: false,
            accounts: None,
            genesis_timestamp: None,
            order_fifo: false,
            hardfork: None,
            binary: None,
            install_if_missing: true,
            extra_args: Vec::new(),
        }
    }
}

/// A running Anvil on a loopback port; dropping it kills its whole process group.
pub struct Anvil {
    child: Child,
    addr: SocketAddr,
    chain_id: u64,
    keys: Vec<B256>,
    binary: PathBuf,
    dir: tempfile::TempDir,
}

impl std::fmt::Debug for Anvil {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Anvil")
            .field("pid", &self.child.id())
            .field("addr", &self.addr)
            .field("chain_id", &self.chain_id)
            .finish()
    }
}

impl Anvil {
    /// Start Anvil on 127.0.0.1 with a port the OS picks, and wait until it answers.
    pub fn start(opts: AnvilOptions) -> Result<Anvil, AnvilError> {
        let binary = match &opts.binary {
            Some(b) => {
                if !b.exists() {
                    return Err(AnvilError::BinaryMissing(b.clone()));
                }
                b.clone()
            }
            None => ensure_anvil(None, opts.install_if_missing)?,
        };
        let dir = tempfile::Builder::new().prefix("exoavs-anvil-").tempdir()?;
        let log_path = dir.path().join("anvil.log");
        let config_path = dir.path().join("config.json");
        let log = std::fs::File::create(&log_path)?;
        let mut cmd = Command::new(&binary);
        // Port 0: anvil binds a free port itself and prints it, so there is no race with
        // another process grabbing a port we probed.
        cmd.args(["--host", "127.0.0.1", "--port", "0", "--config-out"])
            .arg(&config_path);
        if let Some(id) = opts.chain_id {
            cmd.args(["--chain-id", &id.to_string()]);
        }
        if let Some(bt) = opts.block_time {
            cmd.args(["--block-time", &format!("{}", bt.as_secs_f64())]);
        }
        if opts.no_mining {
            cmd.arg("--no-mining");
        }
        if let Some(n) = opts.accounts {
            cmd.args(["--accounts", &n.to_string()]);
        }
        if let Some(ts) = opts.genesis_timestamp {
            cmd.args(["--timestamp", &ts.to_string()]);
        }
        if opts.order_fifo {
            cmd.args(["--order", "fifo"]);
        }
        if let Some(hf) = &opts.hardfork {
            cmd.args(["--hardfork", hf]);
        }
        cmd.args(&opts.extra_args);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log));
        // Own process group, so the drop kills a node wrapper and the real anvil alike.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd.spawn().map_err(|source| AnvilError::Spawn {
            bin: binary.clone(),
            source,
        })?;
        let mut anvil = Anvil {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            chain_id: 0,
            keys: Vec::new(),
            binary,
            dir,
        };
        // On any error below, `anvil` is dropped and the process killed.
        anvil.wait_ready(&log_path, &config_path)?;
        Ok(anvil)
    }

    fn wait_ready(&mut self, log_path: &Path, config_path: &Path) -> Result<(), AnvilError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(AnvilError::Exited {
                    status,
                    log: tail(log_path),
                });
            }
            if self.addr.port() == 0 {
                let text = std::fs::read_to_string(log_path).unwrap_or_default();
                if let Some(port) = listening_port(&text) {
                    self.addr.set_port(port);
                }
            }
            if self.addr.port() != 0
                && config_path.exists()
                && let Ok(v) = self.rpc("eth_chainId", json!([]))
            {
                self.chain_id = parse_quantity(&v).ok_or_else(|| AnvilError::BadReply {
                    method: "eth_chainId".into(),
                    text: v.to_string(),
                })?;
                self.keys = read_keys(config_path)?;
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(AnvilError::NotReady(READY_TIMEOUT, tail(log_path)));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The dev accounts' private keys, in anvil's order (index 0 is the usual deployer).
    pub fn keys(&self) -> &[B256] {
        &self.keys
    }

    pub fn signer(&self, index: usize) -> Option<PrivateKeySigner> {
        let key = self.keys.get(index)?;
        PrivateKeySigner::from_bytes(key).ok()
    }

    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// Anvil's stdout and stderr (the temp dir goes away with `self`).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("anvil.log")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A blocking JSON-RPC call (one HTTP/1.1 request, connection closed after).
    pub fn rpc(&self, method: &str, params: Value) -> Result<Value, AnvilError> {
        rpc_call(self.addr, method, params)
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let pid = self.child.id() as i32;
        // SAFETY: kill(2) on our own child's process group; no memory is touched.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn listening_port(log: &str) -> Option<u16> {
    log.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("Listening on ")?;
        rest.rsplit(':').next()?.trim().parse().ok()
    })
}

fn read_keys(path: &Path) -> Result<Vec<B256>, AnvilError> {
    let bad = |reason: String| AnvilError::BadConfig {
        path: path.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let keys = v
        .get("private_keys")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no private_keys array".into()))?;
    keys.iter()
        .map(|k| {
            k.as_str()
                .and_then(|s| s.parse::<B256>().ok())
                .ok_or_else(|| bad(format!("bad private key entry {k}")))
        })
        .collect()
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

fn parse_quantity(v: &Value) -> Option<u64> {
    let s = v.as_str()?;
    u64::from_str_radix(s.strip_prefix("0x")?, 16).ok()
}

/// One blocking JSON-RPC call over HTTP/1.1 to a loopback node.
pub fn rpc_call(addr: SocketAddr, method: &str, params: Value) -> Result<Value, AnvilError> {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body.as_bytes())?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    let text = String::from_utf8_lossy(&resp);
    let bad = || AnvilError::BadReply {
        method: method.into(),
        text: text.chars().take(500).collect(),
    };
    let (_, json_body) = text.split_once("\r\n\r\n").ok_or_else(bad)?;
    let v: Value = serde_json::from_str(json_body.trim()).map_err(|_| bad())?;
    if let Some(err) = v.get("error") {
        return Err(AnvilError::Rpc {
            method: method.into(),
            error: err.clone(),
        });
    }
    v.get("result").cloned().ok_or_else(bad)
}

/// The `contracts/` directory of the exoavs checkout: from the build's manifest dir if it
/// still exists, else upward from the current dir and from the executable's dir.
pub fn contracts_dir() -> Result<PathBuf, AnvilError> {
    let mut starts: Vec<PathBuf> = vec![PathBuf::from(env!("CARGO_MANIFEST_DIR"))];
    if let Ok(cwd) = std::env::current_dir() {
        starts.push(cwd);
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(d) = exe.parent()
    {
        starts.push(d.to_owned());
    }
    for start in &starts {
        for dir in start.ancestors() {
            let c = dir.join("contracts");
            if c.join("package.json").is_file() {
                return Ok(c);
            }
        }
    }
    Err(AnvilError::NoContractsDir {
        searched: starts
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// The installed anvil under `contracts`, if any. The native per-platform binary is
/// preferred over `.bin/anvil`: that one is a node wrapper which leaves the real anvil
/// running if the wrapper is killed hard.
pub fn installed_anvil(contracts: &Path) -> Option<PathBuf> {
    let scope = contracts.join("node_modules/@foundry-rs");
    if let Ok(entries) = std::fs::read_dir(&scope) {
        let mut natives: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("anvil-"))
            .map(|e| e.path().join("bin/anvil"))
            .filter(|p| p.is_file())
            .collect();
        natives.sort();
        if let Some(p) = natives.into_iter().next() {
            return Some(p);
        }
    }
    let wrapper = contracts.join("node_modules/.bin/anvil");
    wrapper.exists().then_some(wrapper)
}

/// Where anvil is, without installing: the override, then `$EXOAVS_ANVIL`, then npm's.
pub fn locate_anvil(override_path: Option<&Path>) -> Result<PathBuf, AnvilError> {
    if let Some(p) = override_path
        .map(Path::to_owned)
        .or_else(|| std::env::var_os(ANVIL_ENV).map(PathBuf::from))
    {
        return if p.exists() {
            Ok(p)
        } else {
            Err(AnvilError::BinaryMissing(p))
        };
    }
    let contracts = contracts_dir()?;
    installed_anvil(&contracts)
        .ok_or_else(|| AnvilError::BinaryMissing(contracts.join("node_modules/.bin/anvil")))
}

/// Serialises installs within one process (parallel tests).
static INSTALL: Mutex<()> = Mutex::new(());

/// Like [`locate_anvil`], but runs `npm ci` in contracts/ first if anvil is missing.
pub fn ensure_anvil(override_path: Option<&Path>, install: bool) -> Result<PathBuf, AnvilError> {
    if override_path.is_some() || std::env::var_os(ANVIL_ENV).is_some() {
        return locate_anvil(override_path);
    }
    let contracts = contracts_dir()?;
    if let Some(p) = installed_anvil(&contracts) {
        return Ok(p);
    }
    if !install {
        return Err(AnvilError::BinaryMissing(
            contracts.join("node_modules/.bin/anvil"),
        ));
    }
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = installed_anvil(&contracts) {
        return Ok(p);
    }
    eprintln!(
        "exoavs: Anvil is not installed yet; running `npm ci` in {} (one time, about a minute)...",
        contracts.display()
    );
    let status = Command::new("npm")
        .arg("ci")
        .current_dir(&contracts)
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .status()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                AnvilError::NpmMissing
            } else {
                AnvilError::Io(e)
            }
        })?;
    if !status.success() {
        return Err(AnvilError::NpmFailed {
            dir: contracts,
            status,
        });
    }
    eprintln!("exoavs: Anvil installed.");
    installed_anvil(&contracts).ok_or_else(|| AnvilError::NotInstalled {
        expected: contracts.join("node_modules/.bin/anvil"),
        dir: contracts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listening_line() {
        let log = "\nGenesis Number\n==\n0\n\nListening on 127.0.0.1:43577\n";
        assert_eq!(listening_port(log), Some(43577));
        assert_eq!(listening_port("Listening on\n"), None);
    }

    #[test]
    fn starts_answers_and_dies_on_drop() {
        let anvil = Anvil::start(AnvilOptions {
            chain_id: Some(4242),
            accounts: Some(3),
            ..Default::default()
        })
        .expect("anvil starts");
        assert_eq!(anvil.chain_id(), 4242);
        assert_eq!(anvil.keys().len(), 3);
        let signer = anvil.signer(0).expect("key 0");
        let v = anvil
            .rpc("eth_getBalance", json!([signer.address(), "latest"]))
            .expect("balance");
        assert!(
            v.as_str().is_some_and(|s| s.len() > 3),
            "funded dev account: {v}"
        );
        let addr = anvil.addr();
        let pid = anvil.pid() as i32;
        drop(anvil);
        assert!(
            rpc_call(addr, "eth_chainId", json!([])).is_err(),
            "anvil still answers after drop"
        );
        // SAFETY: signal 0 only checks whether the pid exists.
        let alive = unsafe { libc::kill(pid, 0) } == 0;
        assert!(!alive, "anvil process {pid} survived drop");
    }

    #[test]
    fn no_mining_mines_on_demand() {
        let anvil = Anvil::start(AnvilOptions {
            no_mining: true,
            genesis_timestamp: Some(1_704_067_200),
            ..Default::default()
        })
        .expect("anvil starts");
        assert_eq!(
            anvil.rpc("eth_blockNumber", json!([])).ok(),
            Some(json!("0x0"))
        );
        anvil.rpc("evm_mine", json!([])).expect("mine");
        assert_eq!(
            anvil.rpc("eth_blockNumber", json!([])).ok(),
            Some(json!("0x1"))
        );
    }
}
