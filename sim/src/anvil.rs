//! The real Anvil behind the gateway, and a blocking HTTP/1.1 JSON-RPC client for it.
//!
//! Blocking I/O is deliberate: the simulation stands still while Anvil answers, so virtual
//! time does not move during a call and the EVM sees one ordered sequence of requests.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Genesis timestamp of every simulated chain (2024-01-01T00:00:00Z): fixed, so block hashes
/// do not depend on the wall clock.
pub const GENESIS_TIMESTAMP: u64 = 1_704_067_200;

#[derive(Debug, thiserror::Error)]
pub enum AnvilError {
    #[error("starting anvil: {0}")]
    Start(String),
    #[error("anvil did not answer on {0}")]
    NotReady(SocketAddr),
    #[error("http to anvil: {0}")]
    Io(#[from] std::io::Error),
    #[error("anvil answered {method} with an error: {error}")]
    Rpc { method: String, error: Value },
    #[error("anvil answered {method} with something that is not JSON-RPC: {text}")]
    BadReply { method: String, text: String },
}

/// The Anvil process: `exoavs::devnet::anvil` (finds or installs the npm Anvil, free
/// loopback port, process-group kill on drop), started without automine — the gateway mines
/// at simulated times — and with a fixed genesis timestamp and FIFO ordering.
pub struct AnvilProcess {
    inner: exoavs::devnet::anvil::Anvil,
    pub addr: SocketAddr,
}

impl AnvilProcess {
    pub fn start() -> Result<Self, AnvilError> {
        let opts = exoavs::devnet::anvil::AnvilOptions {
            chain_id: Some(31337),
            no_mining: true,
            genesis_timestamp: Some(GENESIS_TIMESTAMP),
            order_fifo: true,
            ..Default::default()
        };
        let inner = exoavs::devnet::anvil::Anvil::start(opts)
            .map_err(|e| AnvilError::Start(e.to_string()))?;
        let addr = inner.addr();
        Ok(AnvilProcess { inner, addr })
    }

    pub fn pid(&self) -> u32 {
        self.inner.pid()
    }
}

/// Keep-alive HTTP/1.1 client for Anvil's JSON-RPC endpoint.
pub struct AnvilHttp {
    addr: SocketAddr,
    conn: Option<BufReader<TcpStream>>,
    next_id: u64,
}

impl AnvilHttp {
    pub fn new(addr: SocketAddr) -> Self {
        AnvilHttp {
            addr,
            conn: None,
            next_id: 1,
        }
    }

    /// POST one JSON-RPC body and return the reply body. One retry on a fresh connection
    /// covers a keep-alive connection the server closed.
    pub fn post(&mut self, body: &[u8]) -> Result<Vec<u8>, AnvilError> {
        if self.conn.is_some() {
            match self.post_once(body) {
                Ok(r) => return Ok(r),
                Err(_) => self.conn = None,
            }
        }
        self.post_once(body)
    }

    fn post_once(&mut self, body: &[u8]) -> Result<Vec<u8>, AnvilError> {
        if self.conn.is_none() {
            let s = TcpStream::connect(self.addr)?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(Duration::from_secs(60)))?;
            self.conn = Some(BufReader::new(s));
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err(AnvilError::NotReady(self.addr));
        };
        let head = format!(
            "POST / HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        );
        let s = conn.get_mut();
        s.write_all(head.as_bytes())?;
        s.write_all(body)?;
        s.flush()?;
        read_response(conn)
    }

    /// A JSON-RPC call made by the sim itself (mining, snapshots, funding).
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value, AnvilError> {
        self.call_raw(method, params).map(|(_, _, result)| result)
    }

    /// Like [`call`](Self::call), also returning the raw exchange for the trace digest.
    pub fn call_raw(
        &mut self,
        method: &str,
        params: Value,
    ) -> Result<(Vec<u8>, Vec<u8>, Value), AnvilError> {
        let id = self.next_id;
        self.next_id += 1;
        let req = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let body = serde_json::to_vec(&req).map_err(|e| AnvilError::BadReply {
            method: method.into(),
            text: e.to_string(),
        })?;
        let reply = self.post(&body)?;
        let v: Value = serde_json::from_slice(&reply).map_err(|_| AnvilError::BadReply {
            method: method.into(),
            text: String::from_utf8_lossy(&reply).into_owned(),
        })?;
        if let Some(err) = v.get("error") {
            return Err(AnvilError::Rpc {
                method: method.into(),
                error: err.clone(),
            });
        }
        let result = v.get("result").cloned().unwrap_or(Value::Null);
        Ok((body, reply, result))
    }
}

fn read_response(conn: &mut BufReader<TcpStream>) -> Result<Vec<u8>, AnvilError> {
    let bad = |t: &str| {
        AnvilError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            t.to_string(),
        ))
    };
    let mut line = String::new();
    if conn.read_line(&mut line)? == 0 {
        return Err(bad("connection closed"));
    }
    if !line.starts_with("HTTP/1.") {
        return Err(bad("not an HTTP response"));
    }
    let mut content_length = None;
    let mut chunked = false;
    loop {
        line.clear();
        if conn.read_line(&mut line)? == 0 {
            return Err(bad("eof in headers"));
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            let k = k.trim().to_ascii_lowercase();
            let v = v.trim();
            if k == "content-length" {
                content_length = v.parse::<usize>().ok();
            } else if k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked") {
                chunked = true;
            }
        }
    }
    if let Some(n) = content_length {
        let mut body = vec![0; n];
        conn.read_exact(&mut body)?;
        return Ok(body);
    }
    if !chunked {
        return Err(bad("neither content-length nor chunked"));
    }
    let mut body = Vec::new();
    loop {
        line.clear();
        conn.read_line(&mut line)?;
        let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
            .map_err(|_| bad("bad chunk size"))?;
        if size == 0 {
            line.clear();
            conn.read_line(&mut line)?;
            return Ok(body);
        }
        let start = body.len();
        body.resize(start + size, 0);
        conn.read_exact(&mut body[start..])?;
        let mut crlf = [0u8; 2];
        conn.read_exact(&mut crlf)?;
    }
}

/// One Anvil reused across runs: every run starts from the same snapshot of the fresh chain,
/// with the pending pool emptied, so a seed's run does not depend on the runs before it.
pub struct ChainSlot {
    pub process: AnvilProcess,
    snapshot: Option<Value>,
}

impl ChainSlot {
    pub fn start() -> Result<Self, AnvilError> {
        let process = AnvilProcess::start()?;
        let mut http = AnvilHttp::new(process.addr);
        let snapshot = http.call("evm_snapshot", json!([]))?;
        Ok(ChainSlot {
            process,
            snapshot: Some(snapshot),
        })
    }

    /// Back to the genesis state. `evm_revert` consumes the snapshot, so take it again.
    pub fn reset(&mut self) -> Result<(), AnvilError> {
        let mut http = AnvilHttp::new(self.process.addr);
        http.call("anvil_dropAllTransactions", json!([]))?;
        if let Some(id) = self.snapshot.take() {
            let ok = http.call("evm_revert", json!([id]))?;
            if ok != Value::Bool(true) {
                return Err(AnvilError::BadReply {
                    method: "evm_revert".into(),
                    text: ok.to_string(),
                });
            }
        }
        // The fee manager is not part of the snapshot: reset the base fee to genesis's.
        http.call("anvil_setNextBlockBaseFeePerGas", json!(["0x3b9aca00"]))?;
        self.snapshot = Some(http.call("evm_snapshot", json!([]))?);
        Ok(())
    }

    pub fn addr(&self) -> SocketAddr {
        self.process.addr
    }
}
