//! The TOML config file of the production roles. Every value can also be given as a flag;
//! a flag wins over the file.

use alloy::primitives::Address;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config {path}: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("{what}: {value:?} is not a duration (use e.g. 500ms, 2s, 1m, 1h)")]
    Duration { what: String, value: String },
    #[error("missing {what}: pass {flag} or set `{key}` in the config file")]
    Missing {
        what: &'static str,
        flag: &'static str,
        key: &'static str,
    },
}

/// ```toml
/// rpc_url = "http://127.0.0.1:8545"
/// avs = "0x…"                      # the AvsServiceContract
/// ecdsa_keystore = "operator.json"  # v3 keystore of the account that sends transactions
/// ecdsa_password_file = "operator.pass"  # else EXOAVS_ECDSA_PASSWORD
/// # ecdsa_key_file = "operator.key" # plaintext hex key: needs --insecure-plaintext-key
/// start_block = 0                   # read task events from here
/// confirmations = 1
/// poll_interval = "500ms"
/// metrics = "127.0.0.1:9464"        # serve GET /metrics, /health, /ready (off if absent)
/// ready_max_lag = 64                # /ready: 503 once an event cursor is more blocks behind
/// profile = "emulation"             # or "imua": Imua's avs precompile (two-phase flow only)
/// cosmos_chain_id = "imuachainlocalnet_232"  # key-registration message; required on imua
///
/// [operator]
/// bls_keystore = "bls.json"         # EIP-2335; password from EXOAVS_KEY_PASSWORD or password_file
/// password_file = "bls.pass"
/// aggregator = "127.0.0.1:7171"
/// store = "operator.db"
///
/// [aggregator]
/// listen = "0.0.0.0:7171"
/// store = "aggregator.db"
///
/// [generator]
/// interval = "20s"
/// threshold = 67
/// ```
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub rpc_url: Option<String>,
    pub avs: Option<Address>,
    pub ecdsa_keystore: Option<PathBuf>,
    pub ecdsa_password_file: Option<PathBuf>,
    pub ecdsa_key_file: Option<PathBuf>,
    pub start_block: Option<u64>,
    pub confirmations: Option<u64>,
    pub poll_interval: Option<String>,
    /// host:port of the Prometheus endpoint of whichever role runs with this file.
    pub metrics: Option<String>,
    /// Blocks an event cursor may be behind the chain before `/ready` says 503.
    pub ready_max_lag: Option<u64>,
    /// `emulation` (default) or `imua`: what the AVS's operator registry is (`--profile`).
    pub profile: Option<crate::chain::avs::Profile>,
    /// The Cosmos chain id without revision in the key-registration message
    /// (`--cosmos-chain-id`; required on the imua profile).
    pub cosmos_chain_id: Option<String>,
    #[serde(default)]
    pub operator: OperatorSection,
    #[serde(default)]
    pub aggregator: AggregatorSection,
    #[serde(default)]
    pub generator: GeneratorSection,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorSection {
    pub bls_keystore: Option<PathBuf>,
    pub password_file: Option<PathBuf>,
    pub aggregator: Option<String>,
    pub store: Option<PathBuf>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregatorSection {
    pub listen: Option<String>,
    pub store: Option<PathBuf>,
    /// The linger window after the threshold (e.g. "1s", "0").
    pub linger: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratorSection {
    pub interval: Option<String>,
    pub threshold: Option<u8>,
    pub response_period: Option<u64>,
    pub challenge_period: Option<u64>,
    pub statistical_period: Option<u64>,
}

impl FileConfig {
    pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })
    }

    /// The file at `path`, or an empty config when no file was named.
    pub fn load_opt(path: Option<&Path>) -> Result<FileConfig, ConfigError> {
        path.map(FileConfig::load)
            .transpose()
            .map(Option::unwrap_or_default)
    }
}

/// `500ms`, `2s`, `1.5s`, `3m`, `1h`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (num, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&t[..i], &t[i..]),
        None => (t, "s"),
    };
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (use e.g. 500ms, 2s, 1m)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (ms, s, m, h)")),
    };
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
        return Err(format!("{s:?} is out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A duration from the config file, named for the error message.
pub fn config_duration(what: &str, v: Option<&String>) -> Result<Option<Duration>, ConfigError> {
    v.map(|s| {
        parse_duration(s).map_err(|_| ConfigError::Duration {
            what: what.to_owned(),
            value: s.clone(),
        })
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("2 parsecs").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn file_config_rejects_unknown_keys() {
        let c: FileConfig = toml::from_str(
            "rpc_url = \"http://x\"\n[operator]\naggregator = \"127.0.0.1:1\"\n[generator]\ninterval = \"2s\"\n",
        )
        .expect("parses");
        assert_eq!(c.operator.aggregator.as_deref(), Some("127.0.0.1:1"));
        assert!(toml::from_str::<FileConfig>("rpc = 1").is_err());
    }
}
