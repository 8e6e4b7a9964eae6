//! Typed chain errors, with a revert's custom error decoded against the contracts' ABIs.

use alloy::dyn_abi::{DynSolValue, JsonAbiExt};
use alloy::json_abi::JsonAbi;
use alloy::primitives::{Address, B256, Bytes, FixedBytes};
use alloy::sol_types::{Panic, Revert, SolError};
use alloy::transports::{RpcError, TransportErrorKind};
use std::collections::HashMap;
use std::sync::OnceLock;

#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The node could not be reached or answered garbage; worth retrying.
    #[error("transport: {0}")]
    Transport(String),
    /// The node answered with a JSON-RPC error that is not a revert.
    #[error("{method}: node error {code}: {message}")]
    Rpc {
        method: &'static str,
        code: i64,
        message: String,
    },
    /// The call or the gas estimate reverted; `reason` is the decoded revert.
    #[error("{what} reverted: {reason}")]
    Revert { what: String, reason: Revert_ },
    /// Mined, but with status 0.
    #[error("transaction {hash} ({what}) was mined in block {block:?} but failed: {reason}")]
    TxFailed {
        what: String,
        hash: B256,
        block: Option<u64>,
        reason: Revert_,
    },
    /// The node did not answer one request in time (the request may still run on the node).
    #[error("{method} ({what}): no answer within {millis} ms")]
    RequestTimeout {
        method: &'static str,
        what: String,
        millis: u64,
    },
    #[error("no receipt for transaction {hash} ({what}) after {secs} s")]
    ReceiptTimeout { what: String, hash: B256, secs: u64 },
    #[error("giving up on {what} after {attempts} attempts: {last}")]
    RetriesExhausted {
        what: String,
        attempts: u32,
        last: Box<ChainError>,
    },
    #[error("building or signing the transaction: {0}")]
    Sign(String),
    #[error("the node answered {what} with an unexpected value: {detail}")]
    Unexpected { what: String, detail: String },
    #[error("contract artifact {name}: {reason}")]
    Artifact { name: String, reason: String },
    #[error("no contract code at {0}")]
    NoCode(Address),
    /// Imua's avs precompile reports a failed call by returning `false` (and dropping the
    /// call's state change), not by reverting: seen in the simulated return value, or in the
    /// service contract's `PrecompileFailed(call)` revert.
    #[error(
        "{what}: the avs precompile returned false for {call} (Imua reports a failed call this \
         way and drops its state change; the chain's log says why)"
    )]
    ReturnedFalse { what: String, call: String },
}

impl ChainError {
    /// Errors on which a retry of the same request may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            ChainError::Transport(_)
            | ChainError::ReceiptTimeout { .. }
            | ChainError::RequestTimeout { .. } => true,
            // Nodes under load answer with "internal error" or a missing header; the same
            // request usually succeeds a moment later.
            ChainError::Rpc { code, message, .. } => {
                let m = message.to_ascii_lowercase();
                *code == -32603 || m.contains("internal error") || m.contains("header not found")
            }
            _ => false,
        }
    }

    /// Whether the same request may succeed later: a transient error, or retries that ran out
    /// on one.
    pub fn is_retryable(&self) -> bool {
        match self {
            ChainError::RetriesExhausted { last, .. } => last.is_retryable(),
            e => e.is_transient(),
        }
    }

    /// A short label for metrics: transport, rpc, revert, tx-failed, timeout, exhausted, other.
    pub fn kind(&self) -> &'static str {
        match self {
            ChainError::Transport(_) => "transport",
            ChainError::Rpc { .. } => "rpc",
            ChainError::Revert { .. } => "revert",
            ChainError::TxFailed { .. } => "tx-failed",
            ChainError::ReceiptTimeout { .. } | ChainError::RequestTimeout { .. } => "timeout",
            ChainError::RetriesExhausted { .. } => "exhausted",
            ChainError::ReturnedFalse { .. } => "returned-false",
            _ => "other",
        }
    }

    /// The decoded revert, if this error is one.
    pub fn revert(&self) -> Option<&Revert_> {
        match self {
            ChainError::Revert { reason, .. } | ChainError::TxFailed { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// The custom error's name (e.g. `"ThresholdNotMet"`), if the revert decoded to one.
    pub fn revert_name(&self) -> Option<&str> {
        match self.revert()? {
            Revert_::Custom { name, .. } => Some(name),
            _ => None,
        }
    }

    /// Classify an RPC error from `method`; reverts are decoded with the known ABIs.
    pub fn from_rpc(
        method: &'static str,
        what: &str,
        e: RpcError<TransportErrorKind>,
    ) -> ChainError {
        match &e {
            RpcError::ErrorResp(p) => {
                if let Some(data) = p.as_revert_data() {
                    return ChainError::Revert {
                        what: what.to_owned(),
                        reason: decode_revert(&data),
                    };
                }
                if p.message.contains("revert") {
                    return ChainError::Revert {
                        what: what.to_owned(),
                        reason: Revert_::Message(p.message.to_string()),
                    };
                }
                ChainError::Rpc {
                    method,
                    code: p.code,
                    message: p.message.to_string(),
                }
            }
            RpcError::SerError(_)
            | RpcError::UnsupportedFeature(_)
            | RpcError::LocalUsageError(_) => ChainError::Unexpected {
                what: what.to_owned(),
                detail: e.to_string(),
            },
            // Transport failures, null and undecodable replies: a retry may see a good one
            // (the simulator's gateway drops and mangles replies on purpose).
            _ => ChainError::Transport(format!("{method}: {e}")),
        }
    }

    /// A `PrecompileFailed(call)` revert of the service contract, as [`ChainError::ReturnedFalse`];
    /// any other error unchanged.
    pub fn precompile_false(self) -> ChainError {
        let call = match self.revert() {
            Some(Revert_::Custom { name, args }) if name == "PrecompileFailed" => args
                .first()
                .map(|a| a.trim_matches('"').to_owned())
                .unwrap_or_default(),
            _ => return self,
        };
        let what = match &self {
            ChainError::Revert { what, .. } | ChainError::TxFailed { what, .. } => what.clone(),
            _ => String::new(),
        };
        ChainError::ReturnedFalse { what, call }
    }

    /// Is this the node telling us our nonce was already used?
    pub fn is_nonce_too_low(&self) -> bool {
        matches!(self, ChainError::Rpc { message, .. } if {
            let m = message.to_ascii_lowercase();
            m.contains("nonce too low") || m.contains("nonce is too low")
        })
    }

    /// The node already has this exact transaction (a resend after a lost reply).
    pub fn is_already_known(&self) -> bool {
        matches!(self, ChainError::Rpc { message, .. } if {
            let m = message.to_ascii_lowercase();
            m.contains("already known") || m.contains("already imported") || m.contains("known transaction")
        })
    }
}

/// A decoded revert. (Named with a trailing underscore: `alloy::sol_types::Revert` is the
/// `Error(string)` type.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Revert_ {
    /// `Error(string)` from `require`/`revert("...")`, or a node's message without data.
    Message(String),
    /// `Panic(uint256)`.
    Panic(u64),
    /// A custom error known from the contracts' ABIs, with its arguments rendered.
    Custom { name: String, args: Vec<String> },
    /// Revert data we could not decode.
    Raw(Bytes),
}

impl std::fmt::Display for Revert_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Revert_::Message(m) => write!(f, "\"{m}\""),
            Revert_::Panic(c) => write!(f, "panic 0x{c:02x}"),
            Revert_::Custom { name, args } => write!(f, "{name}({})", args.join(", ")),
            Revert_::Raw(b) if b.is_empty() => write!(f, "(no revert data)"),
            Revert_::Raw(b) => write!(f, "undecoded revert data {b}"),
        }
    }
}

type ErrorTable = HashMap<FixedBytes<4>, alloy::json_abi::Error>;

static ERRORS: OnceLock<std::sync::RwLock<ErrorTable>> = OnceLock::new();

fn table() -> &'static std::sync::RwLock<ErrorTable> {
    ERRORS.get_or_init(|| {
        let mut t = ErrorTable::new();
        for abi in crate::chain::bindings::all_abis() {
            add_errors(&mut t, &abi);
        }
        std::sync::RwLock::new(t)
    })
}

fn add_errors(t: &mut ErrorTable, abi: &JsonAbi) {
    for e in abi.errors() {
        t.insert(e.selector(), e.clone());
    }
}

/// Teach the decoder another ABI's custom errors (e.g. a test contract).
pub fn register_errors(abi: &JsonAbi) {
    let mut t = table().write().unwrap_or_else(|e| e.into_inner());
    add_errors(&mut t, abi);
}

/// Decode revert data: `Error(string)`, `Panic(uint256)` or a custom error of our contracts.
pub fn decode_revert(data: &[u8]) -> Revert_ {
    if let Ok(r) = Revert::abi_decode(data) {
        return Revert_::Message(r.reason);
    }
    if let Ok(p) = Panic::abi_decode(data) {
        return Revert_::Panic(p.code.saturating_to());
    }
    if data.len() >= 4 {
        let sel = FixedBytes::<4>::from_slice(&data[..4]);
        let t = table().read().unwrap_or_else(|e| e.into_inner());
        if let Some(err) = t.get(&sel)
            && let Ok(vals) = err.abi_decode_input(&data[4..])
        {
            return Revert_::Custom {
                name: err.name.clone(),
                args: vals.iter().map(render).collect(),
            };
        }
    }
    Revert_::Raw(Bytes::copy_from_slice(data))
}

fn render(v: &DynSolValue) -> String {
    match v {
        DynSolValue::Address(a) => a.to_string(),
        DynSolValue::Bool(b) => b.to_string(),
        DynSolValue::Uint(u, _) => u.to_string(),
        DynSolValue::Int(i, _) => i.to_string(),
        DynSolValue::String(s) => format!("{s:?}"),
        DynSolValue::Bytes(b) => Bytes::copy_from_slice(b).to_string(),
        DynSolValue::FixedBytes(w, n) => Bytes::copy_from_slice(&w[..*n]).to_string(),
        DynSolValue::Array(xs) | DynSolValue::FixedArray(xs) | DynSolValue::Tuple(xs) => {
            format!("[{}]", xs.iter().map(render).collect::<Vec<_>>().join(", "))
        }
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_error_string_and_panic() {
        let data = Revert::from("no such task").abi_encode();
        assert_eq!(
            decode_revert(&data),
            Revert_::Message("no such task".into())
        );
        let data = Panic {
            code: alloy::primitives::U256::from(0x11),
        }
        .abi_encode();
        assert_eq!(decode_revert(&data), Revert_::Panic(0x11));
        assert_eq!(
            decode_revert(&[1, 2]),
            Revert_::Raw(Bytes::from(vec![1, 2]))
        );
    }

    #[test]
    fn decodes_a_registered_custom_error() {
        let abi: JsonAbi = serde_json::from_str(
            r#"[{"type":"error","name":"TooLate","inputs":[{"name":"task","type":"uint64"},{"name":"who","type":"address"}]}]"#,
        )
        .expect("abi");
        register_errors(&abi);
        let err = abi.errors().next().expect("one error");
        let mut data = err.selector().to_vec();
        data.extend(
            DynSolValue::Tuple(vec![
                DynSolValue::Uint(alloy::primitives::U256::from(7), 64),
                DynSolValue::Address(Address::repeat_byte(0x11)),
            ])
            .abi_encode_params(),
        );
        match decode_revert(&data) {
            Revert_::Custom { name, args } => {
                assert_eq!(name, "TooLate");
                assert_eq!(args[0], "7");
            }
            other => panic!("not decoded: {other:?}"),
        }
    }
}
