//! The chain gateway: the one simulated node that talks to the real Anvil.
//!
//! Every simulated node reaches the chain through [`GatewayTransport`], an alloy transport
//! that frames JSON-RPC over madsim's simulated TCP to the gateway node. The gateway forwards
//! each request to Anvil with a blocking HTTP POST (virtual time stands still meanwhile), so
//! the EVM sees one deterministic sequence of calls. It is also where the test injects chain
//! faults (RPC errors, timeouts, delays, duplicates, reorgs) and where blocks are mined, at
//! simulated times with explicit timestamps.

use crate::anvil::{AnvilError, AnvilHttp, GENESIS_TIMESTAMP};
use crate::trace::{EventKind, Trace};
use alloy::transports::{TransportError, TransportErrorKind, TransportFut};
use alloy_json_rpc::{RequestPacket, ResponsePacket};
use madsim::rand::Rng;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

pub const GATEWAY_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const GATEWAY_PORT: u16 = 8545;
/// Largest JSON-RPC frame either side accepts.
pub const MAX_FRAME: usize = 16 << 20;

/// See [`Gateway::set_request_tap`].
pub type RequestTap = Arc<dyn Fn(&str, &Value) + Send + Sync>;

pub fn gateway_addr() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(GATEWAY_IP), GATEWAY_PORT)
}

/// Probabilities of chain faults per request, drawn from the seeded simulator RNG.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RpcFaultRates {
    /// Answer with a JSON-RPC error (-32603 internal error) without forwarding.
    pub error: f64,
    /// Close the connection without forwarding or answering (a transport failure).
    pub reset: f64,
    /// Forward, then never answer (the client's timeout fires).
    pub timeout: f64,
    /// Hold the request for up to `delay_max` before forwarding.
    pub delay: f64,
    pub delay_max: Duration,
    /// Forward twice (the second answer is discarded).
    pub duplicate: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Normal,
    Error,
    Reset,
    Timeout,
    Delay(Duration),
    Duplicate,
}

/// Simulated time since the run started.
#[derive(Clone, Copy, Debug)]
pub struct SimClock {
    start: Instant,
}

impl SimClock {
    pub fn start() -> Self {
        SimClock {
            start: Instant::now(),
        }
    }
    pub fn elapsed(&self) -> Duration {
        Instant::now().duration_since(self.start)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockInfo {
    pub number: u64,
    pub hash: String,
    pub timestamp: u64,
    pub txs: Vec<String>,
}

pub struct Gateway {
    anvil: Mutex<AnvilHttp>,
    trace: Trace,
    clock: SimClock,
    faults: Mutex<RpcFaultRates>,
    names: Mutex<HashMap<IpAddr, String>>,
    last_timestamp: Mutex<u64>,
    /// Nodes whose chain reads come from a forked node: node name → the last block of the
    /// forked past (see [`Gateway::fork_view`]).
    forked: Mutex<HashMap<String, u64>>,
    /// Sees every single (non-batch) request a node sends, with the node's name, before any
    /// fault: the auditor's view of what nodes try to do on chain.
    request_tap: Mutex<Option<RequestTap>>,
    /// How long a "timeout" fault keeps the connection silent.
    pub silence: Duration,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Gateway {
    pub fn new(anvil: SocketAddr, trace: Trace, clock: SimClock) -> Arc<Self> {
        Arc::new(Gateway {
            anvil: Mutex::new(AnvilHttp::new(anvil)),
            trace,
            clock,
            faults: Mutex::new(RpcFaultRates::default()),
            names: Mutex::new(HashMap::new()),
            last_timestamp: Mutex::new(GENESIS_TIMESTAMP),
            forked: Mutex::new(HashMap::new()),
            request_tap: Mutex::new(None),
            silence: Duration::from_secs(30),
        })
    }

    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    pub fn clock(&self) -> SimClock {
        self.clock
    }

    /// Name the node behind an IP, for the trace.
    pub fn name_ip(&self, ip: IpAddr, name: &str) {
        lock(&self.names).insert(ip, name.to_string());
    }

    fn name_of(&self, ip: IpAddr) -> String {
        lock(&self.names)
            .get(&ip)
            .cloned()
            .unwrap_or_else(|| ip.to_string())
    }

    /// From now on `node` reads the chain through a node on another fork: in the task events
    /// of blocks up to `up_to_block`, a task id carries another `a` (the fork created its tasks
    /// with other numbers). Only `eth_getLogs` answers to that node change; the chain does not.
    /// This is what a reorg that reuses task ids looks like to an operator: the task it signed
    /// now asks for another result.
    pub fn fork_view(&self, node: &str, up_to_block: u64) {
        lock(&self.forked).insert(node.to_string(), up_to_block);
    }

    /// Hand every request a node sends (parsed, with the node's name) to `tap`.
    pub fn set_request_tap(&self, tap: RequestTap) {
        *lock(&self.request_tap) = Some(tap);
    }

    /// Every node reads the real chain again.
    pub fn unfork_all(&self) {
        lock(&self.forked).clear();
    }

    /// The current head block number (a sim call, folded into the digest).
    pub fn head(&self) -> Result<u64, AnvilError> {
        Ok(hex_u64(&self.admin("eth_blockNumber", json!([]))?))
    }

    pub fn set_faults(&self, rates: RpcFaultRates) {
        *lock(&self.faults) = rates;
    }

    pub fn faults(&self) -> RpcFaultRates {
        lock(&self.faults).clone()
    }

    fn fate(&self) -> Fate {
        let r = self.faults();
        if r == RpcFaultRates::default() {
            return Fate::Normal;
        }
        let mut rng = madsim::rand::thread_rng();
        let x: f64 = rng.r#gen();
        let mut acc = r.error;
        if x < acc {
            return Fate::Error;
        }
        acc += r.reset;
        if x < acc {
            return Fate::Reset;
        }
        acc += r.timeout;
        if x < acc {
            return Fate::Timeout;
        }
        acc += r.duplicate;
        if x < acc {
            return Fate::Duplicate;
        }
        acc += r.delay;
        if x < acc {
            let max = r.delay_max.as_millis().max(1) as u64;
            return Fate::Delay(Duration::from_millis(rng.gen_range(1..=max)));
        }
        Fate::Normal
    }

    /// Forward a request body to Anvil as is; fold the exchange into the trace digest.
    pub fn forward(&self, body: &[u8]) -> Result<Vec<u8>, AnvilError> {
        let reply = lock(&self.anvil).post(body)?;
        self.trace.record_rpc(body, &reply);
        Ok(reply)
    }

    /// Answer a node's request. Two methods are answered differently from a plain forward,
    /// both so that a run depends only on its seed and runs fast:
    /// - `eth_feeHistory` is answered here with a fixed history (base fee 1 gwei — the genesis
    ///   base fee, which under-target blocks only lower — and zero rewards). Anvil fills its
    ///   fee history from a background task after each block, so under load its answer (and so
    ///   every fee, and every transaction hash) depended on wall-clock timing.
    /// - `eth_estimateGas` becomes one `eth_createAccessList` (its `gasUsed`): Anvil's estimate
    ///   is a binary search that executes the transaction ~20 times, and with the contract's BLS
    ///   (hash-to-G2 in Solidity) that was most of a run's wall time. A call that fails is
    ///   forwarded as the original `eth_estimateGas`, so reverts come back exactly as Anvil
    ///   reports them. Clients add their margin to the answer as usual.
    pub fn answer(&self, body: &[u8]) -> Result<Vec<u8>, AnvilError> {
        let Ok(req) = serde_json::from_slice::<Value>(body) else {
            return self.forward(body);
        };
        match req.get("method").and_then(Value::as_str) {
            Some("eth_feeHistory") => {
                let gwei = "0x3b9aca00";
                let reply = json!({
                    "jsonrpc": "2.0",
                    "id": req["id"],
                    "result": {
                        "oldestBlock": "0x0",
                        "baseFeePerGas": [gwei, gwei],
                        "gasUsedRatio": [0.0],
                        "reward": [["0x0"]],
                    }
                });
                let out = serde_json::to_vec(&reply).unwrap_or_default();
                self.trace.record_rpc(body, &out);
                Ok(out)
            }
            Some("eth_estimateGas") => {
                let mut list = req.clone();
                list["method"] = json!("eth_createAccessList");
                let lbody = serde_json::to_vec(&list).unwrap_or_default();
                // Not folded into the digest as is: Anvil lists the access list in hash-map
                // order. The answer the node gets (the gas) is what counts.
                let reply = lock(&self.anvil).post(&lbody)?;
                let used = serde_json::from_slice::<Value>(&reply).ok().and_then(|v| {
                    let r = v.get("result")?;
                    if r.get("error").is_some_and(|e| !e.is_null()) {
                        return None;
                    }
                    r.get("gasUsed").cloned()
                });
                match used {
                    Some(gas) => {
                        let out = serde_json::to_vec(
                            &json!({"jsonrpc": "2.0", "id": req["id"], "result": gas}),
                        )
                        .unwrap_or_default();
                        self.trace.record_rpc(body, &out);
                        Ok(out)
                    }
                    None => self.forward(body),
                }
            }
            _ => self.forward(body),
        }
    }

    /// A call made by the sim itself (not subject to faults), folded into the digest.
    pub fn admin(&self, method: &str, params: Value) -> Result<Value, AnvilError> {
        let (req, reply, result) = lock(&self.anvil).call_raw(method, params)?;
        self.trace.record_rpc(&req, &reply);
        Ok(result)
    }

    fn next_timestamp(&self) -> u64 {
        let now = GENESIS_TIMESTAMP + 1 + self.clock.elapsed().as_secs();
        let mut last = lock(&self.last_timestamp);
        let ts = now.max(*last + 1);
        *last = ts;
        ts
    }

    /// Mine one block now, stamped with the simulated time.
    pub fn mine(&self) -> Result<BlockInfo, AnvilError> {
        let ts = self.next_timestamp();
        self.admin("evm_mine", json!([ts]))?;
        let block = self.admin("eth_getBlockByNumber", json!(["latest", false]))?;
        let info = block_info(&block);
        self.trace.record(
            self.clock.elapsed(),
            "chain",
            EventKind::BlockMined {
                number: info.number,
                hash: info.hash.clone(),
                timestamp: info.timestamp,
                txs: info.txs.len(),
            },
        );
        for tx in &info.txs {
            let receipt = self.admin("eth_getTransactionReceipt", json!([tx]))?;
            let status = receipt.get("status").and_then(Value::as_str) == Some("0x1");
            self.trace.record(
                self.clock.elapsed(),
                "chain",
                EventKind::TxMined {
                    hash: tx.clone(),
                    block: info.number,
                    status,
                },
            );
        }
        Ok(info)
    }

    /// Replace the last `depth` blocks: their transactions go back to the pool and a longer
    /// chain of new blocks (new timestamps, so new hashes) takes their place.
    pub fn reorg(&self, depth: u64) -> Result<(), AnvilError> {
        let head = hex_u64(&self.admin("eth_blockNumber", json!([]))?);
        let depth = depth.min(head);
        if depth == 0 {
            return Ok(());
        }
        let mut raw = Vec::new();
        for n in (head + 1 - depth)..=head {
            let block = self.admin("eth_getBlockByNumber", json!([format!("0x{n:x}"), false]))?;
            for tx in block_info(&block).txs {
                raw.push(self.admin("eth_getRawTransactionByHash", json!([tx]))?);
            }
        }
        self.admin("anvil_rollback", json!([depth]))?;
        self.trace.record(
            self.clock.elapsed(),
            "chain",
            EventKind::Fault {
                fault: format!(
                    "reorg depth {depth} at head {head}, {} txs back to the pool",
                    raw.len()
                ),
            },
        );
        for tx in raw {
            // A transaction that no longer fits (nonce taken) is simply gone, as in a real reorg.
            let _ = self.admin("eth_sendRawTransaction", json!([tx]));
        }
        for _ in 0..=depth {
            self.mine()?;
        }
        Ok(())
    }

    /// Accept gateway connections forever. Runs as the init of the gateway node.
    pub async fn serve(self: Arc<Self>) {
        let listener = match TcpListener::bind(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            GATEWAY_PORT,
        ))
        .await
        {
            Ok(l) => l,
            Err(e) => {
                self.trace.record(
                    self.clock.elapsed(),
                    "gateway",
                    EventKind::Note {
                        text: format!("bind failed: {e}"),
                    },
                );
                return;
            }
        };
        while let Ok((stream, peer)) = listener.accept().await {
            let me = self.clone();
            tokio::spawn(async move { me.connection(stream, peer.ip()).await });
        }
    }

    async fn connection(self: Arc<Self>, mut stream: TcpStream, peer: IpAddr) {
        while let Ok(Some(body)) = read_frame(&mut stream).await {
            let fate = self.fate();
            let parsed = serde_json::from_slice::<Value>(&body).ok();
            let method = parsed
                .as_ref()
                .and_then(|v| v.get("method").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_else(|| "batch".into());
            let tap = lock(&self.request_tap).clone();
            if let (Some(tap), Some(req)) = (tap, parsed.as_ref()) {
                tap(&self.name_of(peer), req);
            }
            if fate != Fate::Normal {
                self.trace.record(
                    self.clock.elapsed(),
                    "gateway",
                    EventKind::Fault {
                        fault: format!("rpc {fate:?} {method} from {}", self.name_of(peer)),
                    },
                );
            }
            let reply = match fate {
                Fate::Error => error_reply(&body, "injected fault: rpc error"),
                Fate::Reset => return,
                Fate::Delay(d) => {
                    tokio::time::sleep(d).await;
                    self.forward_or_error(&body)
                }
                Fate::Duplicate => {
                    let first = self.forward_or_error(&body);
                    let _ = self.forward_or_error(&body);
                    first
                }
                Fate::Timeout => {
                    let _ = self.forward_or_error(&body);
                    tokio::time::sleep(self.silence).await;
                    return;
                }
                Fate::Normal => self.forward_or_error(&body),
            };
            let forked = if method == "eth_getLogs" {
                lock(&self.forked).get(&self.name_of(peer)).copied()
            } else {
                None
            };
            let reply = match forked.and_then(|up_to| forked_task_logs(&reply, up_to)) {
                Some(r) => r,
                None => reply,
            };
            if write_frame(&mut stream, &reply).await.is_err() {
                return;
            }
        }
    }

    fn forward_or_error(&self, body: &[u8]) -> Vec<u8> {
        match self.answer(body) {
            Ok(r) => r,
            Err(e) => error_reply(body, &format!("gateway: {e}")),
        }
    }

    /// Mine every `block_time` of simulated time, forever.
    pub async fn run_miner(self: Arc<Self>, block_time: Duration) {
        loop {
            tokio::time::sleep(block_time).await;
            if let Err(e) = self.mine() {
                self.trace.record(
                    self.clock.elapsed(),
                    "chain",
                    EventKind::Note {
                        text: format!("mining failed: {e}"),
                    },
                );
            }
        }
    }
}

/// topic0 of `TaskCreated(uint64 indexed,bytes,uint8,uint64,uint64,uint64,uint64)`.
fn new_task_topic() -> String {
    let sig = "TaskCreated(uint64,bytes,uint8,uint64,uint64,uint64,uint64)";
    format!("{:#x}", alloy::primitives::keccak256(sig.as_bytes()))
}

/// An `eth_getLogs` answer as a node on the fork would give it: every `TaskCreated` log of a
/// block up to `up_to` has the first word of its payload (the sum's `a`) plus 1. `None` when
/// nothing changed.
fn forked_task_logs(reply: &[u8], up_to: u64) -> Option<Vec<u8>> {
    let mut v: Value = serde_json::from_slice(reply).ok()?;
    let topic = new_task_topic();
    let mut changed = false;
    for log in v.get_mut("result")?.as_array_mut()? {
        if log["topics"][0].as_str() != Some(topic.as_str()) || hex_u64(&log["blockNumber"]) > up_to
        {
            continue;
        }
        let Some(data) = log["data"].as_str() else {
            continue;
        };
        // Word 0 is the payload's offset; there its length word, then its first word, whose
        // low 8 bytes are `a`.
        let hex = data.trim_start_matches("0x");
        let word = |i: usize| hex.get(i * 64..(i + 1) * 64);
        let Some(offset) = word(0).and_then(|w| usize::from_str_radix(&w[48..], 16).ok()) else {
            continue;
        };
        if offset % 32 != 0 {
            continue;
        }
        let at = offset / 32 + 1;
        let Some(first) = word(at) else {
            continue;
        };
        let Ok(a) = u64::from_str_radix(&first[48..], 16) else {
            continue;
        };
        let new = format!(
            "0x{}{}{:016x}{}",
            &hex[..at * 64],
            &first[..48],
            a.wrapping_add(1),
            &hex[(at + 1) * 64..]
        );
        log["data"] = Value::String(new);
        changed = true;
    }
    if !changed {
        return None;
    }
    serde_json::to_vec(&v).ok()
}

fn hex_u64(v: &Value) -> u64 {
    v.as_str()
        .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        .unwrap_or(0)
}

fn block_info(block: &Value) -> BlockInfo {
    BlockInfo {
        number: hex_u64(&block["number"]),
        hash: block["hash"].as_str().unwrap_or_default().to_string(),
        timestamp: hex_u64(&block["timestamp"]),
        txs: block["transactions"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// A JSON-RPC error answer to every request in `body` (single or batch).
fn error_reply(body: &[u8], message: &str) -> Vec<u8> {
    let one = |req: &Value| {
        json!({"jsonrpc": "2.0", "id": req.get("id").cloned().unwrap_or(Value::Null),
               "error": {"code": -32603, "message": message}})
    };
    let v = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(reqs)) => Value::Array(reqs.iter().map(one).collect()),
        Ok(req) => one(&req),
        Err(_) => one(&Value::Null),
    };
    serde_json::to_vec(&v).unwrap_or_default()
}

/// Read one length-prefixed frame; `None` on a clean end of stream.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let n = u32::from_be_bytes(len) as usize;
    if n > MAX_FRAME {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("frame of {n} bytes"),
        ));
    }
    let mut buf = vec![0; n];
    r.read_exact(&mut buf).await?;
    Ok(Some(buf))
}

pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, body: &[u8]) -> std::io::Result<()> {
    let n = u32::try_from(body.len()).map_err(|_| std::io::Error::other("frame too large"))?;
    w.write_all(&n.to_be_bytes()).await?;
    w.write_all(body).await?;
    w.flush().await
}

/// alloy transport to the gateway over simulated TCP: one connection per request, so a
/// restarted or partitioned node never holds a half-dead connection.
#[derive(Clone, Debug)]
pub struct GatewayTransport {
    addr: SocketAddr,
    timeout: Duration,
}

impl GatewayTransport {
    pub fn new(addr: SocketAddr, timeout: Duration) -> Self {
        GatewayTransport { addr, timeout }
    }

    /// An alloy `RpcClient` on this transport (marked local: no rate-limit backoff).
    pub fn client(addr: SocketAddr, timeout: Duration) -> alloy::rpc::client::RpcClient {
        alloy::rpc::client::RpcClient::new(Self::new(addr, timeout), true)
    }
}

async fn round_trip(addr: SocketAddr, body: Vec<u8>) -> std::io::Result<Vec<u8>> {
    let mut s = TcpStream::connect(addr).await?;
    write_frame(&mut s, &body).await?;
    read_frame(&mut s).await?.ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "gateway closed the connection",
        )
    })
}

impl tower::Service<RequestPacket> for GatewayTransport {
    type Response = ResponsePacket;
    type Error = TransportError;
    type Future = TransportFut<'static>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: RequestPacket) -> Self::Future {
        let addr = self.addr;
        let timeout = self.timeout;
        Box::pin(async move {
            let body = serde_json::to_vec(&req).map_err(TransportError::ser_err)?;
            let reply = match tokio::time::timeout(timeout, round_trip(addr, body)).await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => return Err(TransportErrorKind::custom(e)),
                Err(_) => {
                    return Err(TransportErrorKind::custom_str(
                        "chain gateway: request timed out",
                    ));
                }
            };
            serde_json::from_slice(&reply)
                .map_err(|e| TransportError::deser_err(e, String::from_utf8_lossy(&reply)))
        })
    }
}
