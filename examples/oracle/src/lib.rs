//! A price-oracle AVS on exoavs: a task asks for the price of an asset at a time, each operator
//! answers from its own feed rounded to the tick, and the aggregate whose signers reach the
//! quorum is accepted and kept on chain (`contracts/src/OracleService.sol`).
//!
//! Everything here goes through the public seams only: [`exoavs_core::avs::Avs`] (the logic) and
//! [`exoavs::app::AvsApp`] (the contract and the command line), so `src/main.rs` is one line.
//!
//! The chain judges the form of an answer, not whether it is the right price: an aggregate is
//! refused unless `decimals == DECIMALS`, `price > 0` and `price % TICK == 0`, and a single
//! signature over a well-formed response that breaks that rule is a fraud proof. Whether an
//! accepted price is close to the market is this example's own invariant, [`check_accepted`].

use alloy::primitives::{B256, Bytes, keccak256};
use alloy::sol_types::{SolType, SolValue, sol_data};
use exoavs::app::AvsApp;
use exoavs_core::avs::{Avs, CodecError, ComputeCtx};
use rand::{Rng, RngCore};

// Generated code: argument counts follow the contract's functions.
#[allow(clippy::too_many_arguments)]
mod bindings {
    alloy::sol!(
        #[derive(Debug)]
        OracleService,
        "contracts/artifacts/OracleService.json"
    );
}
pub use bindings::OracleService;

/// Decimals of every price (the contract's `DECIMALS`).
pub const DECIMALS: u8 = 8;
/// Prices are multiples of `TICK` units: 0.01 at 8 decimals (the contract's `TICK`).
pub const TICK: u128 = 1_000_000;
/// The lowest reference price, 1000.00 at 8 decimals.
pub const REFERENCE_MIN: u128 = 1_000 * 100_000_000;
/// The width of the reference range: references lie in `[1000.00, 5000.00)`.
pub const REFERENCE_SPAN: u128 = 4_000 * 100_000_000;
/// How far an operator's feed strays from the reference: strictly less than this (a twentieth
/// of a tick) either way. Small, so that honest operators split over a rounding boundary on few
/// tasks (about one in ten), as feeds that agree to a fraction of the tick do.
pub const NOISE_BOUND: u128 = TICK / 20;
/// How far an accepted price may be from the reference: strictly less than this. Rounding to the
/// nearest tick moves a feed by at most `TICK / 2`, the feed is within `NOISE_BOUND` of the
/// reference, so an honest answer (and hence an honest majority's) is never this far off.
pub const ACCEPT_BOUND: u128 = TICK / 2 + NOISE_BOUND;

/// The assets the task generator asks about.
pub const ASSETS: [&str; 3] = ["ETH/USD", "BTC/USD", "SOL/USD"];
/// The generator's timestamps are `TIMESTAMP_BASE + r % TIMESTAMP_SPAN`.
pub const TIMESTAMP_BASE: u64 = 1_700_000_000;
pub const TIMESTAMP_SPAN: u64 = 10_000_000;

/// `bytes32(symbol)` as Solidity writes it: the ASCII bytes left-aligned, zero-padded.
///
/// # Panics
/// If `symbol` is longer than 32 bytes. An empty symbol gives the zero asset, which the
/// contract (and [`OracleAvs::decode_payload`]) refuses.
pub fn asset(symbol: &str) -> [u8; 32] {
    let b = symbol.as_bytes();
    assert!(b.len() <= 32, "asset symbol {symbol:?} exceeds 32 bytes");
    let mut out = [0u8; 32];
    out[..b.len()].copy_from_slice(b);
    out
}

/// An asset's symbol as text: the bytes up to the zero padding (non-UTF-8 shown lossily).
pub fn asset_symbol(asset: &[u8; 32]) -> String {
    let end = asset.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
    String::from_utf8_lossy(&asset[..end]).into_owned()
}

/// `(uint128, uint8)`: a Rust `u8` is no `SolValue` (a `Vec<u8>` would be ambiguous), so the
/// response goes through the `SolType` of its Solidity types.
type ResponseAbi = (sol_data::Uint<128>, sol_data::Uint<8>);

/// A task's query: `abi.encode(bytes32 asset, uint64 timestamp)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OraclePayload {
    /// A left-aligned ASCII symbol ([`asset`]), never zero.
    pub asset: [u8; 32],
    pub timestamp: u64,
}

/// An operator's answer: `abi.encode(uint128 price, uint8 decimals)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OracleResponse {
    pub price: u128,
    pub decimals: u8,
}

impl OracleResponse {
    /// The contract's `followsRule`: `DECIMALS` decimals, positive, a multiple of `TICK`.
    pub fn follows_rule(&self) -> bool {
        self.decimals == DECIMALS && self.price != 0 && self.price.is_multiple_of(TICK)
    }
}

impl OraclePayload {
    /// `abi.encode(bytes32 asset, uint64 timestamp)`.
    pub fn to_bytes(&self) -> Vec<u8> {
        (B256::from(self.asset), self.timestamp).abi_encode()
    }

    /// Strict decoding: exactly 64 bytes, clean high bytes in the timestamp's word (the
    /// contract's `abi.decode` reverts on dirty ones), asset non-zero (`EmptyAsset`).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CodecError> {
        const WHAT: &str = "oracle payload";
        if bytes.len() != 64 {
            return Err(CodecError::Invalid {
                what: WHAT,
                detail: format!("expected 64 bytes, got {}", bytes.len()),
            });
        }
        let (asset, timestamp) = <(B256, u64)>::abi_decode_validate(bytes)
            .map_err(|e| CodecError::abi(WHAT, bytes, e))?;
        if asset.is_zero() {
            return Err(CodecError::Invalid {
                what: WHAT,
                detail: "the asset is zero".into(),
            });
        }
        Ok(Self {
            asset: asset.0,
            timestamp,
        })
    }
}

impl OracleResponse {
    /// `abi.encode(uint128 price, uint8 decimals)`.
    pub fn to_bytes(&self) -> Vec<u8> {
        ResponseAbi::abi_encode(&(self.price, self.decimals))
    }

    /// Strict decoding: exactly 64 bytes, clean high bytes in both words. Whether the response
    /// follows the rule is not a decoding matter: a well-formed response that breaks it is what
    /// a fraud proof is made of.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CodecError> {
        const WHAT: &str = "oracle response";
        if bytes.len() != 64 {
            return Err(CodecError::Invalid {
                what: WHAT,
                detail: format!("expected 64 bytes, got {}", bytes.len()),
            });
        }
        let (price, decimals) =
            ResponseAbi::abi_decode_validate(bytes).map_err(|e| CodecError::abi(WHAT, bytes, e))?;
        Ok(Self { price, decimals })
    }
}

/// The "market" price that every operator's feed approximates, at `DECIMALS` decimals:
/// `REFERENCE_MIN + h % REFERENCE_SPAN`, `h` the low 16 bytes of `keccak256` of the payload's ABI
/// bytes (as a big-endian `u128`). Deterministic, so tests and the simulator can judge an
/// accepted price without any network.
pub fn reference_price(p: &OraclePayload) -> u128 {
    let h = keccak256(p.to_bytes());
    let low = u128::from_be_bytes(h.0[16..].try_into().expect("16 bytes"));
    REFERENCE_MIN + low % REFERENCE_SPAN
}

/// `price` rounded to the nearest tick, halves up.
pub fn round_to_tick(price: u128) -> u128 {
    (price + TICK / 2) / TICK * TICK
}

/// The example's correctness invariant for an accepted (task, response): both decode, the
/// response follows the contract's rule, and the price is within [`ACCEPT_BOUND`] of the
/// reference. An honest majority always passes; the error says which part failed, for which
/// asset, against which reference and bound.
pub fn check_accepted(payload_bytes: &[u8], response_bytes: &[u8]) -> Result<(), String> {
    let p = OraclePayload::from_bytes(payload_bytes).map_err(|e| e.to_string())?;
    let r = OracleResponse::from_bytes(response_bytes).map_err(|e| e.to_string())?;
    let reference = reference_price(&p);
    let task = format!("{} @ {}", asset_symbol(&p.asset), p.timestamp);
    if !r.follows_rule() {
        return Err(format!(
            "{task}: accepted {} breaks the rule (decimals {DECIMALS}, positive, multiple of {TICK})",
            show_price(&r)
        ));
    }
    let off = r.price.abs_diff(reference);
    if off >= ACCEPT_BOUND {
        return Err(format!(
            "{task}: accepted price {} is {off} units from the reference {} \
             (bound: less than {ACCEPT_BOUND}, half a tick plus the feeds' noise)",
            r.price, reference
        ));
    }
    Ok(())
}

/// `3141.59 (8 decimals)`: the price with its decimal point, at least two fraction digits.
fn show_price(r: &OracleResponse) -> String {
    let d = usize::from(r.decimals);
    let digits = format!("{:0>width$}", r.price, width = d + 1);
    let (int, frac) = digits.split_at(digits.len() - d);
    let keep = frac
        .trim_end_matches('0')
        .len()
        .max(2.min(d))
        .min(frac.len());
    let frac = &frac[..keep];
    let sep = if frac.is_empty() { "" } else { "." };
    format!("{int}{sep}{frac} ({} decimals)", r.decimals)
}

/// The price-oracle AVS. Honest operators answer `round_to_tick(reference + noise)` with noise
/// from their own RNG ([`ComputeCtx::rng`]), so their feeds differ a little.
#[derive(Debug, Clone, Default)]
pub struct OracleAvs {
    /// The planted bug: round with `(feed + TICK) / TICK * TICK`, a whole tick where half a tick
    /// belongs. The result stays on the tick grid, so the contract accepts it; only
    /// [`check_accepted`] sees that it is up to a tick and the noise off.
    #[cfg(feature = "planted-bugs")]
    pub rounding_bug: bool,
}

impl OracleAvs {
    /// An oracle whose `compute` has the planted rounding bug (see [`OracleAvs::rounding_bug`]).
    #[cfg(feature = "planted-bugs")]
    pub fn with_rounding_bug() -> Self {
        Self { rounding_bug: true }
    }

    fn round(&self, feed: u128) -> u128 {
        #[cfg(feature = "planted-bugs")]
        if self.rounding_bug {
            return (feed + TICK) / TICK * TICK;
        }
        round_to_tick(feed)
    }
}

impl Avs for OracleAvs {
    type Payload = OraclePayload;
    type Response = OracleResponse;

    fn encode_payload(&self, p: &OraclePayload) -> Vec<u8> {
        p.to_bytes()
    }

    fn decode_payload(&self, bytes: &[u8]) -> Result<OraclePayload, CodecError> {
        OraclePayload::from_bytes(bytes)
    }

    fn encode_response(&self, r: &OracleResponse) -> Vec<u8> {
        r.to_bytes()
    }

    fn decode_response(&self, bytes: &[u8]) -> Result<OracleResponse, CodecError> {
        OracleResponse::from_bytes(bytes)
    }

    /// The operator's own feed, `reference + noise` with noise uniform in the open interval
    /// `(-NOISE_BOUND, NOISE_BOUND)` drawn from `ctx.rng`, rounded to the nearest tick (halves
    /// up).
    ///
    /// Honest operators therefore disagree when the reference lies within `NOISE_BOUND` of a
    /// rounding boundary (`k * TICK + TICK/2`): some round down, some up. That is expected: the
    /// aggregator counts signatures per response digest and submits the first digest whose
    /// signers reach the threshold, so only the majority's price is accepted, and either
    /// neighbour is within [`ACCEPT_BOUND`] of the reference.
    fn compute(&self, p: &OraclePayload, ctx: &mut ComputeCtx<'_>) -> Option<OracleResponse> {
        let q = NOISE_BOUND as i128;
        let noise: i128 = ctx.rng.gen_range(-(q - 1)..=(q - 1));
        let feed = reference_price(p).checked_add_signed(noise)?;
        Some(OracleResponse {
            price: self.round(feed),
            decimals: DECIMALS,
        })
    }

    /// The contract's fraud proof: a well-formed response (every decoded one is) that breaks the
    /// rule. A price on the tick, however far from the market, is not provably wrong.
    fn is_provably_wrong(&self, _p: &OraclePayload, r: &OracleResponse) -> bool {
        !r.follows_rule()
    }

    fn next_payload(&mut self, rng: &mut dyn RngCore) -> OraclePayload {
        let symbol = ASSETS[(rng.next_u64() % ASSETS.len() as u64) as usize];
        OraclePayload {
            asset: asset(symbol),
            timestamp: TIMESTAMP_BASE + rng.next_u64() % TIMESTAMP_SPAN,
        }
    }

    fn show_payload(&self, p: &OraclePayload) -> String {
        format!("{} @ {}", asset_symbol(&p.asset), p.timestamp)
    }

    fn show_response(&self, r: &OracleResponse) -> String {
        show_price(r)
    }
}

impl AvsApp for OracleAvs {
    fn avs_name(&self) -> String {
        "exoavs-oracle".into()
    }

    fn service_contract(&self) -> (String, Bytes) {
        ("OracleService".into(), OracleService::BYTECODE.clone())
    }

    fn about(&self) -> String {
        "price oracle: operators sign an asset's price rounded to the tick; the majority digest is accepted on chain".into()
    }

    fn long_about(&self) -> String {
        "price oracle on Exocore/Imua: a task generator asks for the price of an asset at a \
         time, operators answer from their own feeds rounded to the tick (0.01 at 8 decimals) \
         and BLS-sign the answer, an aggregator submits the response whose signers reach the \
         stake threshold; the contract accepts it only if it is on the tick grid, and a \
         signature over an off-grid price is a fraud proof."
            .into()
    }

    /// One unit above the honest price: off the tick, so the contract proves it wrong.
    fn wrong_response(&self, honest: &OracleResponse) -> Option<OracleResponse> {
        Some(OracleResponse {
            price: honest.price.wrapping_add(1),
            decimals: honest.decimals,
        })
    }

    fn read_back_hint(&self, avs: alloy::primitives::Address, rpc: &str) -> Vec<String> {
        vec![
            format!(
                "read task 1's accepted price: cast call {avs} \"accepted(uint64)(uint128,uint8)\" 1 --rpc-url {rpc}"
            ),
            format!(
                "read task 1's query: cast call {avs} \"taskPayload(uint64)(bytes32,uint64)\" 1 --rpc-url {rpc}"
            ),
        ]
    }
}

/// The oracle under exoavs's simulator (`tests/sim.rs` runs `scenarios/*.toml`): beside the
/// generic invariants, the auditor holds every accepted price to [`check_accepted`].
#[cfg(feature = "sim")]
impl exoavs_sim::judge::SimAvs for OracleAvs {
    fn check_accepted(&self, payload: &[u8], response: &[u8]) -> Result<(), String> {
        check_accepted(payload, response)
    }

    fn repro(&self, scenario: &str, seed: u64) -> String {
        #[cfg(feature = "planted-bugs")]
        let (features, bug) = if self.rounding_bug {
            ("sim,planted-bugs", " EXOAVS_ORACLE_BUG=rounding")
        } else {
            ("sim", "")
        };
        #[cfg(not(feature = "planted-bugs"))]
        let (features, bug) = ("sim", "");
        format!(
            "EXOAVS_SIM_SCENARIO={scenario} EXOAVS_SIM_SEED={seed}{bug} RUSTFLAGS=\"--cfg madsim\" \
             CARGO_TARGET_DIR=target/madsim cargo test -p exoavs-oracle --features {features} \
             --test sim -- --nocapture one_seed"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_show_with_their_decimal_point() {
        let s = |price, decimals| show_price(&OracleResponse { price, decimals });
        assert_eq!(s(314_159_000_000, 8), "3141.59 (8 decimals)");
        assert_eq!(s(100_000_000_000, 8), "1000.00 (8 decimals)");
        assert_eq!(s(314_159_000_001, 8), "3141.59000001 (8 decimals)");
        assert_eq!(s(1, 8), "0.00000001 (8 decimals)");
        assert_eq!(s(0, 8), "0.00 (8 decimals)");
        assert_eq!(s(42, 0), "42 (0 decimals)");
        assert_eq!(s(42, 1), "4.2 (1 decimals)");
        assert_eq!(s(u128::MAX, 255).len(), 257 + " (255 decimals)".len());
    }

    #[test]
    fn payloads_show_as_symbol_at_time() {
        let p = OraclePayload {
            asset: asset("ETH/USD"),
            timestamp: 1_700_000_123,
        };
        assert_eq!(
            OracleAvs::default().show_payload(&p),
            "ETH/USD @ 1700000123"
        );
    }
}
