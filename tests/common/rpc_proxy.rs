//! A JSON-RPC proxy in front of an Anvil, as a test's window on what the roles ask of a chain.
//! It logs every call — the method, and for `eth_call`, `eth_estimateGas` and
//! `eth_sendRawTransaction` the target address and the 4-byte selector (a raw transaction is
//! decoded for them) — and refuses the test-chain methods (`anvil_*`, `evm_*`, `hardhat_*`)
//! that a public node does not serve.

use alloy::consensus::Transaction as _;
use alloy::eips::eip2718::Decodable2718;
use alloy::primitives::Address;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// The methods a node without test cheats does not serve.
pub fn is_cheat(method: &str) -> bool {
    ["anvil_", "evm_", "hardhat_"]
        .iter()
        .any(|p| method.starts_with(p))
}

/// One call through the proxy.
#[derive(Clone, Debug)]
pub struct Call {
    pub method: String,
    /// The contract called (`eth_call`, `eth_estimateGas`, a raw transaction).
    pub to: Option<Address>,
    /// The first 4 bytes of the call data, if it has them.
    pub selector: Option<[u8; 4]>,
}

/// Everything the proxy saw, and what it refused.
#[derive(Default)]
pub struct Seen {
    pub calls: Vec<Call>,
    pub refused: Vec<String>,
}

fn selector_of(data: &[u8]) -> Option<[u8; 4]> {
    data.get(..4).map(|s| [s[0], s[1], s[2], s[3]])
}

fn hex_bytes(v: &Value) -> Option<Vec<u8>> {
    hex::decode(v.as_str()?.trim_start_matches("0x")).ok()
}

/// What `call` targets: (to, selector).
fn target(method: &str, params: &Value) -> (Option<Address>, Option<[u8; 4]>) {
    match method {
        "eth_call" | "eth_estimateGas" => {
            let tx = &params[0];
            let to = tx["to"].as_str().and_then(|s| s.parse().ok());
            let data = hex_bytes(&tx["input"]).or_else(|| hex_bytes(&tx["data"]));
            (to, data.as_deref().and_then(selector_of))
        }
        "eth_sendRawTransaction" => {
            let Some(raw) = hex_bytes(&params[0]) else {
                return (None, None);
            };
            match alloy::consensus::TxEnvelope::decode_2718(&mut raw.as_slice()) {
                Ok(tx) => (tx.to(), selector_of(tx.input())),
                Err(_) => (None, None),
            }
        }
        _ => (None, None),
    }
}

async fn answer(
    call: Value,
    upstream: &str,
    http: &alloy::transports::http::reqwest::Client,
    seen: &Mutex<Seen>,
) -> Value {
    let method = call["method"].as_str().unwrap_or_default().to_owned();
    let cheat = is_cheat(&method);
    let (to, selector) = target(&method, &call["params"]);
    {
        let mut s = seen.lock().expect("lock");
        s.calls.push(Call {
            method: method.clone(),
            to,
            selector,
        });
        if cheat {
            s.refused.push(method.clone());
        }
    }
    if cheat {
        return json!({
            "jsonrpc": "2.0",
            "id": call["id"],
            "error": {"code": -32601, "message": format!("method {method} refused: not a test chain")},
        });
    }
    let reply = http
        .post(upstream)
        .header("content-type", "application/json")
        .body(call.to_string())
        .send()
        .await
        .expect("forward to anvil")
        .text()
        .await
        .expect("anvil's reply");
    serde_json::from_str(&reply).expect("anvil's reply is JSON")
}

/// One client connection: HTTP/1.1 requests with a body, kept alive.
async fn serve_conn(
    stream: tokio::net::TcpStream,
    upstream: String,
    http: alloy::transports::http::reqwest::Client,
    seen: Arc<Mutex<Seen>>,
) {
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    loop {
        let mut len = 0usize;
        let mut line = String::new();
        let mut first = true;
        loop {
            line.clear();
            if rd.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" && !first {
                break;
            }
            first = false;
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                len = v.trim().parse().expect("content-length");
            }
        }
        let mut body = vec![0u8; len];
        if rd.read_exact(&mut body).await.is_err() {
            return;
        }
        let req: Value = serde_json::from_slice(&body).expect("JSON-RPC request");
        let reply = match req {
            Value::Array(calls) => {
                let mut out = Vec::new();
                for c in calls {
                    out.push(answer(c, &upstream, &http, &seen).await);
                }
                Value::Array(out)
            }
            call => answer(call, &upstream, &http, &seen).await,
        };
        let body = reply.to_string();
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        if wr.write_all(head.as_bytes()).await.is_err()
            || wr.write_all(body.as_bytes()).await.is_err()
        {
            return;
        }
    }
}

/// Start the proxy in front of `upstream`; returns its URL. Everything it sees goes to `seen`.
pub async fn start(upstream: String, seen: Arc<Mutex<Seen>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind proxy");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let http = alloy::transports::http::reqwest::Client::new();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(serve_conn(
                stream,
                upstream.clone(),
                http.clone(),
                seen.clone(),
            ));
        }
    });
    url
}
