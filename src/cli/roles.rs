//! `exoavs avs|operator|aggregator|generator|challenger`: the production roles. Every value
//! comes from a flag or the TOML config file (`--config`); a flag wins.

use super::config::{FileConfig, config_duration, parse_duration};
use super::keys::{load_bls_key, load_ecdsa_keystore};
use crate::app::AvsApp;
use crate::chain::avs::{self, Avs, AvsParams, DEVNET_CHAIN_ID, PRECOMPILE, Profile, emulation};
use crate::chain::{Client, CursorConfig, TxConfig};
use crate::devnet::run::FlowArg;
use crate::devnet::setup::{self, Deployment};
use crate::metrics::health::{self, Health, HealthConfig};
use crate::metrics::{self, Metrics};
use crate::node::aggregator::{AggregatorNode, AggregatorNodeConfig};
use crate::node::challenger::{ChallengerNode, ChallengerNodeConfig};
use crate::node::generator::{GeneratorNode, GeneratorNodeConfig};
use crate::node::operator::{OperatorConfig, OperatorNode};
use crate::node::{ChainWatch, EventSink};
use crate::protocol::Flow;
use crate::store::{FileStore, Store};
use alloy::primitives::Address;
use alloy::signers::local::PrivateKeySigner;
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Environment variable with the hex ECDSA private key (alternative to --ecdsa-key-file).
pub const ECDSA_KEY_ENV: &str = "EXOAVS_ECDSA_KEY";

#[derive(Debug, Args, Clone)]
pub struct ChainArgs {
    /// TOML config file (see the README); flags override its values.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// JSON-RPC endpoint of the chain.
    #[arg(long)]
    pub rpc_url: Option<String>,
    /// Address of the AvsServiceContract.
    #[arg(long)]
    pub avs: Option<Address>,
    /// Ethereum v3 keystore (scrypt) of the ECDSA key that signs transactions; create one with
    /// `exoavs keys new-ecdsa` or `exoavs keys import-ecdsa`.
    #[arg(long)]
    pub ecdsa_keystore: Option<PathBuf>,
    /// File whose first line is the ECDSA keystore's password (else EXOAVS_ECDSA_PASSWORD).
    #[arg(long)]
    pub ecdsa_password_file: Option<PathBuf>,
    /// File holding a PLAINTEXT hex ECDSA key (else EXOAVS_ECDSA_KEY); refused unless
    /// --insecure-plaintext-key is given.
    #[arg(long)]
    pub ecdsa_key_file: Option<PathBuf>,
    /// Accept a plaintext ECDSA key (--ecdsa-key-file, EXOAVS_ECDSA_KEY): throwaway dev keys only.
    #[arg(long)]
    pub insecure_plaintext_key: bool,
    /// First block to read task events from.
    #[arg(long)]
    pub start_block: Option<u64>,
    /// Blocks an event must be buried under before it is acted on.
    #[arg(long)]
    pub confirmations: Option<u64>,
    /// Between two polls of the chain (e.g. 500ms).
    #[arg(long, value_parser = parse_duration)]
    pub poll_interval: Option<Duration>,
    /// What the AVS's operator registry is: `emulation` (exoavs's own: the Anvil emulation of
    /// the avs precompile, or OperatorRegistry on a Prague chain; the default) or `imua` (Imua's
    /// avs precompile, or the strict emulation of it: compressed BLS points, only IAVSManager
    /// calls, x/epochs' epoch counter, the two-phase flow). Config key `profile`.
    #[arg(long, value_name = "emulation|imua")]
    pub profile: Option<Profile>,
    /// The Cosmos chain id, without its revision, that the operators' key-registration message
    /// names (e.g. `imuachainlocalnet_232` for `imuachainlocalnet_232-1`). Required on the imua
    /// profile; on the emulation it defaults to the registry's own. Config key `cosmos_chain_id`.
    #[arg(long, value_name = "ID")]
    pub cosmos_chain_id: Option<String>,
}

/// Flags merged over the config file.
struct Resolved {
    file: FileConfig,
    client: Client,
    avs: Option<Avs>,
    watch: ChainWatch,
    profile: Profile,
    cosmos_chain_id: Option<String>,
}

impl ChainArgs {
    async fn resolve(&self) -> anyhow::Result<Resolved> {
        let file = FileConfig::load_opt(self.config.as_deref())?;
        let url = self
            .rpc_url
            .clone()
            .or_else(|| file.rpc_url.clone())
            .context(
                "missing the chain's RPC URL: pass --rpc-url or set `rpc_url` in the config file",
            )?;
        let signer = ecdsa_signer(&EcdsaKeySource {
            keystore: self
                .ecdsa_keystore
                .as_deref()
                .or(file.ecdsa_keystore.as_deref()),
            password_file: self
                .ecdsa_password_file
                .as_deref()
                .or(file.ecdsa_password_file.as_deref()),
            plaintext_file: self
                .ecdsa_key_file
                .as_deref()
                .or(file.ecdsa_key_file.as_deref()),
            insecure_plaintext: self.insecure_plaintext_key,
        })?;
        let profile = match self.profile {
            Some(p) => p,
            None => file.profile.unwrap_or_default(),
        };
        let cosmos_chain_id = self
            .cosmos_chain_id
            .clone()
            .or_else(|| file.cosmos_chain_id.clone());
        let client = Client::http(&url, signer, TxConfig::default())
            .await
            .with_context(|| format!("connecting to {url}"))?;
        let avs = match self.avs.or(file.avs) {
            Some(a) => Some(
                Avs::connect(client.reader(), a)
                    .await
                    .with_context(|| format!("reading the registry of the AVS contract {a}"))?
                    .with_profile(profile),
            ),
            None => None,
        };
        let poll = match self.poll_interval {
            Some(d) => d,
            None => config_duration("poll_interval", file.poll_interval.as_ref())?
                .unwrap_or(Duration::from_millis(500)),
        };
        let watch = ChainWatch {
            start_block: self.start_block.or(file.start_block).unwrap_or(0),
            cursor: CursorConfig {
                confirmations: self.confirmations.or(file.confirmations).unwrap_or(1),
                ..CursorConfig::default()
            },
            poll_interval: poll,
            ..ChainWatch::default()
        };
        Ok(Resolved {
            file,
            client,
            avs,
            watch,
            profile,
            cosmos_chain_id,
        })
    }
}

impl Resolved {
    fn avs(&self) -> anyhow::Result<Avs> {
        self.avs
            .context("missing the AVS address: pass --avs or set `avs` in the config file")
    }

    /// The chain id string of the key-registration message: the flag or config key; else, on
    /// exoavs's registry, the registry's own (`chainIdWithoutRevision`). Imua's precompile has
    /// no such view, so there it must be given.
    async fn registration_chain_id(&self, avs: &Avs) -> anyhow::Result<String> {
        match (&self.cosmos_chain_id, self.profile) {
            (Some(id), _) => Ok(id.clone()),
            (None, Profile::Emulation) => {
                Ok(emulation::chain_id_string(self.client.reader(), avs.registry).await?)
            }
            (None, Profile::Imua) => bail!(
                "missing the Cosmos chain id of the key-registration message: on the imua \
                 profile pass --cosmos-chain-id (the chain id without its revision, e.g. \
                 imuachainlocalnet_232) or set `cosmos_chain_id` in the config file"
            ),
        }
    }

    /// Refuse the aggregated flow where the registry cannot verify an aggregate.
    fn require_aggregated_support(&self, role: &str) -> anyhow::Result<()> {
        if self.profile == Profile::Imua {
            bail!(
                "{role}: the aggregated flow needs EIP-2537 and exoavs's registry; Imua's EVM \
                 has neither, so on the imua profile run the two-phase flow (operators with \
                 --flow two-phase, and a challenger; no aggregator)"
            );
        }
        Ok(())
    }
}

/// Where a role's ECDSA key comes from (flags over the config file).
struct EcdsaKeySource<'a> {
    keystore: Option<&'a Path>,
    password_file: Option<&'a Path>,
    plaintext_file: Option<&'a Path>,
    insecure_plaintext: bool,
}

/// The signer of a role: from the encrypted keystore, or, only with `--insecure-plaintext-key`,
/// from a plaintext key (file or environment), with a warning. A plaintext key without the flag
/// stops the role before it connects anywhere.
fn ecdsa_signer(src: &EcdsaKeySource<'_>) -> anyhow::Result<PrivateKeySigner> {
    let env_key = std::env::var(ECDSA_KEY_ENV).ok();
    if let Some(ks) = src.keystore {
        if src.plaintext_file.is_some() {
            bail!(
                "both an ECDSA keystore ({}) and a plaintext key file were given: use one",
                ks.display()
            );
        }
        return load_ecdsa_keystore(ks, src.password_file);
    }
    let (text, what) = match (src.plaintext_file, env_key) {
        (Some(f), _) => (
            zeroize::Zeroizing::new(
                std::fs::read_to_string(f)
                    .with_context(|| format!("reading ECDSA key file {}", f.display()))?,
            ),
            format!("--ecdsa-key-file {}", f.display()),
        ),
        (None, Some(k)) => (zeroize::Zeroizing::new(k), ECDSA_KEY_ENV.to_owned()),
        (None, None) => bail!(
            "no ECDSA key: pass --ecdsa-keystore (or set `ecdsa_keystore` in the config file); \
             create one with `exoavs keys new-ecdsa` or `exoavs keys import-ecdsa`"
        ),
    };
    if !src.insecure_plaintext {
        bail!(
            "refusing the plaintext ECDSA key from {what}: a chain key must be in an encrypted \
             keystore (`exoavs keys import-ecdsa --key-file … --out key.json`, then \
             --ecdsa-keystore key.json); for a throwaway dev key pass --insecure-plaintext-key"
        );
    }
    eprintln!(
        "WARNING: using the plaintext ECDSA key from {what} (--insecure-plaintext-key); \
         anyone who can read it controls the account"
    );
    tracing::warn!(source = %what, "plaintext ECDSA key in use (--insecure-plaintext-key)");
    text.trim()
        .parse::<PrivateKeySigner>()
        .with_context(|| format!("the ECDSA key from {what} is not a 32-byte hex private key"))
}

/// `--metrics`, shared by every `run` subcommand.
#[derive(Debug, Args, Clone, Default)]
pub struct MetricsArgs {
    /// Serve Prometheus metrics on this address (host:port, e.g. 127.0.0.1:9464): plain HTTP,
    /// `GET /metrics`, text format 0.0.4, every series prefixed `exoavs_` and labelled with the
    /// role. Counts tasks created/accepted/expired, responses received and rejected (by reason),
    /// aggregation and acceptance latency, gas per transaction, chain RPC errors and retries.
    /// Beside it `GET /health` (200 while the process runs) and `GET /ready` (200 while the
    /// chain answers a probe made every poll interval and the role's event cursors are at most
    /// --ready-max-lag blocks behind, else 503 with the reason).
    /// Off unless given here or as `metrics` in the config file. Try:
    /// `curl -s http://127.0.0.1:9464/metrics`, `curl -si http://127.0.0.1:9464/ready`.
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics: Option<String>,
    /// `/ready` answers 503 once an event cursor is more than this many blocks behind the
    /// newest block it could read (config `ready_max_lag`; default 64).
    #[arg(long, value_name = "BLOCKS")]
    pub ready_max_lag: Option<u64>,
}

impl MetricsArgs {
    /// The event sink for a role's node. With an address, events feed a registry served there
    /// (and the client's RPC error/retry counters join it), and `/health` and `/ready` judge
    /// the client's chain and cursors at `watch`'s poll interval; otherwise no sink.
    pub async fn sink(
        &self,
        file: Option<&FileConfig>,
        role: &str,
        client: &Client,
        watch: &ChainWatch,
    ) -> anyhow::Result<EventSink> {
        let Some(addr) = self
            .metrics
            .clone()
            .or_else(|| file.and_then(|f| f.metrics.clone()))
        else {
            return Ok(EventSink::none());
        };
        let m = Metrics::new(role);
        m.watch_rpc(client.stats());
        let health = Health::new(
            client.reader().progress().clone(),
            HealthConfig {
                poll_interval: watch.poll_interval,
                max_lag: self
                    .ready_max_lag
                    .or_else(|| file.and_then(|f| f.ready_max_lag))
                    .unwrap_or(health::DEFAULT_MAX_LAG),
                // The generator only writes: it has no event cursor.
                expects_cursor: role != "generator",
            },
        );
        tokio::spawn(health.clone().probe(client.reader().clone()));
        let local = start_metrics_server(&addr, m.clone(), health).await?;
        println!("metrics on http://{local}/metrics");
        println!("health on http://{local}/health and http://{local}/ready");
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(m.consume(rx));
        Ok(EventSink::new(tx))
    }
}

/// Bind `addr` and serve `m` and `health` there in the background; returns the bound address.
pub async fn start_metrics_server(
    addr: &str,
    m: Arc<Metrics>,
    health: Arc<Health>,
) -> anyhow::Result<SocketAddr> {
    let addr = parse_addr(addr, "metrics address")?;
    let listener = metrics::bind(addr)
        .await
        .with_context(|| format!("binding the metrics endpoint {addr}"))?;
    let local = listener.local_addr()?;
    tokio::spawn(metrics::serve(listener, m, health));
    Ok(local)
}

#[derive(Debug, Args, Clone)]
pub struct BlsArgs {
    /// EIP-2335 keystore of the operator's BLS key.
    #[arg(long)]
    pub bls_keystore: Option<PathBuf>,
    /// File whose first line is the keystore password (else EXOAVS_KEY_PASSWORD).
    #[arg(long)]
    pub password_file: Option<PathBuf>,
}

impl BlsArgs {
    fn load(&self, file: &FileConfig) -> anyhow::Result<crate::crypto::bls::SecretKey> {
        let ks = self
            .bls_keystore
            .as_deref()
            .or(file.operator.bls_keystore.as_deref())
            .context(
                "missing the BLS keystore: pass --bls-keystore or set [operator] bls_keystore",
            )?;
        load_bls_key(
            ks,
            self.password_file
                .as_deref()
                .or(file.operator.password_file.as_deref()),
        )
    }
}

#[derive(Debug, Subcommand)]
pub enum AvsCommand {
    /// Deploy a new AvsServiceContract (prints its address and its registry's). Its operator
    /// registry is, by default, the avs precompile at 0x…0901 (Imua); on any other Prague chain
    /// pass --deploy-registry (a new registry as an ordinary contract, no Anvil methods needed)
    /// or --registry (one deployed before).
    Deploy {
        #[command(flatten)]
        chain: ChainArgs,
        /// Dev chains (Anvil) only: install the avs precompile emulation at 0x…0901 first,
        /// with the sender as its admin (uses `anvil_setCode`).
        #[arg(long, conflicts_with_all = ["deploy_registry", "registry"])]
        install_emulation: bool,
        /// First deploy a new operator registry (stake stand-in, BLS keys with proof of
        /// possession, opt-in/out, versioned snapshots, aggregate verification) as an ordinary
        /// contracts, with the sender as its admin; the AVS uses it. Two transactions: the
        /// registry is the emulation cut in two within EIP-170's 24,576 bytes (an aux half, then
        /// the registry naming it), so any Prague chain takes it.
        #[arg(long, conflicts_with = "registry")]
        deploy_registry: bool,
        /// With --deploy-registry: the chain id in the operators' key-registration message
        /// (default `exoavs_<EVM chain id>`).
        #[arg(long, requires = "deploy_registry")]
        registry_chain_id: Option<String>,
        /// The operator registry the AVS uses (default: the avs precompile, 0x…0901).
        #[arg(long)]
        registry: Option<Address>,
    },
    /// Register the AVS with the avs precompile (the sender becomes its owner).
    Register {
        #[command(flatten)]
        chain: ChainArgs,
        #[arg(long, default_value = "exoavs-sum")]
        name: String,
        /// Epoch identifier of the AVS's periods (minute, hour, day, week; devnet-1s, devnet-2s on the emulation).
        #[arg(long, default_value = "minute")]
        epoch_identifier: String,
        /// Percent of a task's reward paid out to rewarded operators.
        #[arg(long, default_value_t = 10)]
        reward_proportion: u64,
        /// Percent of stake slashed from slashed operators.
        #[arg(long, default_value_t = 10)]
        slash_proportion: u64,
        /// The minimum stake of each operator (Imua refuses 0).
        #[arg(long, default_value_t = 0)]
        min_stake: u64,
        /// Additional owners allowed to create tasks (the sender always is one).
        #[arg(long)]
        owner: Vec<Address>,
        /// A staking asset whose value counts for the AVS, as an Imua asset id
        /// `<token address>_<chain id in hex>` (repeatable). Imua refuses an AVS without one;
        /// exoavs's registry ignores them.
        #[arg(long = "asset-id", value_name = "ASSET_ID")]
        asset_ids: Vec<String>,
    },
    /// Emulation admin only: set an operator's stake for the AVS (stands in for Exocore restaking).
    SetStake {
        #[command(flatten)]
        chain: ChainArgs,
        #[arg(long)]
        operator: Address,
        #[arg(long)]
        amount: u128,
    },
}

#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Register as an operator of the AVS: (emulation: Imua operator,) opt in, BLS key with proof of possession.
    Register {
        #[command(flatten)]
        chain: ChainArgs,
        #[command(flatten)]
        bls: BlsArgs,
    },
    /// Opt out of the AVS (tasks created before stay yours).
    OptOut {
        #[command(flatten)]
        chain: ChainArgs,
    },
    /// Run the operator: answer every task (sum, BLS signature) to the aggregator, or on chain in the two-phase flow.
    Run {
        #[command(flatten)]
        chain: ChainArgs,
        #[command(flatten)]
        bls: BlsArgs,
        /// The aggregator's address (host:port).
        #[arg(long)]
        aggregator: Option<String>,
        /// Journal of signed tasks (never sign two results for one task across restarts).
        #[arg(long)]
        store: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = FlowArg::Aggregated)]
        flow: FlowArg,
        #[command(flatten)]
        metrics: MetricsArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum AggregatorCommand {
    /// Collect responses, aggregate, submit once the threshold is reached (and the linger
    /// window has passed, or every operator is in).
    Run {
        #[command(flatten)]
        chain: ChainArgs,
        /// Where operators connect (host:port).
        #[arg(long)]
        listen: Option<String>,
        /// How long to keep collecting after the threshold is reached, so that slower honest
        /// operators join the aggregate and are paid (default 1s; 0 submits at the threshold).
        /// Ends early once every operator is in; never outlasts the task's response period.
        /// Config key: aggregator.linger.
        #[arg(long, value_parser = parse_duration)]
        linger: Option<Duration>,
        /// Journal of accepted responses and submissions.
        #[arg(long)]
        store: Option<PathBuf>,
        #[command(flatten)]
        metrics: MetricsArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum GeneratorCommand {
    /// Create a task (two random integers to add) every interval.
    Run {
        #[command(flatten)]
        chain: ChainArgs,
        /// e.g. 20s (default), 2s.
        #[arg(long, value_parser = parse_duration)]
        interval: Option<Duration>,
        /// Stake threshold of each task in percent.
        #[arg(long)]
        threshold: Option<u8>,
        /// Response window, in epochs of the AVS's epoch identifier.
        #[arg(long)]
        response_period: Option<u64>,
        #[arg(long)]
        challenge_period: Option<u64>,
        #[arg(long)]
        statistical_period: Option<u64>,
        #[arg(long)]
        store: Option<PathBuf>,
        #[command(flatten)]
        metrics: MetricsArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum ChallengerCommand {
    /// Settle each task after its statistical window: reward the operators whose correct answer
    /// is on chain; slash the proven wrong (and, in the two-phase flow, the silent, as Imua's
    /// rule has it). In the aggregated flow absence only forfeits the reward.
    Run {
        #[command(flatten)]
        chain: ChainArgs,
        /// The AVS's flow. Default: per task, as the service contract judges it (an accepted
        /// aggregate: aggregated; phase-2 commits and no aggregate: two-phase).
        #[arg(long, value_enum)]
        flow: Option<FlowArg>,
        #[arg(long)]
        store: Option<PathBuf>,
        #[command(flatten)]
        metrics: MetricsArgs,
    },
}

fn open_store(path: Option<&Path>, default: &str) -> anyhow::Result<Arc<dyn Store>> {
    let p = path
        .map(Path::to_owned)
        .unwrap_or_else(|| PathBuf::from(default));
    let s = FileStore::open(&p).with_context(|| format!("opening store {}", p.display()))?;
    tracing::info!(store = %p.display(), "store opened");
    Ok(Arc::new(s))
}

pub(super) fn parse_addr(s: &str, what: &str) -> anyhow::Result<SocketAddr> {
    use std::net::ToSocketAddrs;
    s.to_socket_addrs()
        .with_context(|| format!("{what} {s:?} is not host:port"))?
        .next()
        .with_context(|| format!("{what} {s:?} resolves to nothing"))
}

pub async fn avs<A: AvsApp>(app: &A, cmd: AvsCommand) -> anyhow::Result<()> {
    match cmd {
        AvsCommand::Deploy {
            chain,
            install_emulation,
            deploy_registry,
            registry_chain_id,
            registry,
        } => {
            let r = chain.resolve().await?;
            if install_emulation && !emulation::installed(r.client.reader()).await? {
                emulation::install(&r.client, DEVNET_CHAIN_ID).await?;
                println!("avs precompile emulation installed at {PRECOMPILE}");
            }
            let registry = if deploy_registry {
                let id = registry_chain_id
                    .unwrap_or_else(|| format!("exoavs_{}", r.client.reader().chain_id()));
                let reg = avs::deploy_registry(&r.client, &id)
                    .await
                    .context("deploying the operator registry")?;
                println!(
                    "operator registry deployed at {} (aux half {}; block {}, gas {} for both; \
                     key-registration chain id {id:?})",
                    reg.address, reg.aux, reg.block, reg.gas_used
                );
                reg.address
            } else {
                registry.unwrap_or(PRECOMPILE)
            };
            if r.client.reader().code_at(registry).await?.is_empty() {
                bail!(
                    "no operator registry at {registry}: on Anvil pass --install-emulation, on \
                     another chain without the avs precompile --deploy-registry"
                );
            }
            let (name, code) = app.service_contract();
            let (avs, out) = Avs::deploy_code(&r.client, &name, code, registry).await?;
            println!(
                "{name} deployed at {} (block {}, gas {}; registry {registry})",
                avs.address, out.block, out.gas_used
            );
            Ok(())
        }
        AvsCommand::Register {
            chain,
            name,
            epoch_identifier,
            reward_proportion,
            slash_proportion,
            min_stake,
            owner,
            asset_ids,
        } => {
            let r = chain.resolve().await?;
            let avs = r.avs()?;
            let mut owners = vec![r.client.address()];
            owners.extend(owner);
            let p = AvsParams {
                name,
                owners,
                epoch_identifier,
                min_stake,
                reward_proportion,
                slash_proportion,
                min_opt_in_operators: 0,
                asset_ids,
            };
            let out = avs.register(&r.client, &p).await?;
            println!("AVS {} registered (gas {})", avs.address, out.gas_used);
            if r.profile == Profile::Imua {
                // See `Avs::register`: until an update, Imua refuses the AVS's own challenges.
                let out = avs
                    .update(&r.client, &p)
                    .await
                    .context("updating the AVS right after registering it")?;
                println!(
                    "AVS {} updated with the same parameters, so that Imua accepts its challenges (gas {})",
                    avs.address, out.gas_used
                );
            }
            Ok(())
        }
        AvsCommand::SetStake {
            chain,
            operator,
            amount,
        } => {
            let r = chain.resolve().await?;
            let avs = r.avs()?;
            emulation::set_stake(&r.client, avs.registry, avs.address, operator, amount).await?;
            println!("stake of {operator} for {} set to {amount}", avs.address);
            Ok(())
        }
    }
}

pub async fn operator<A: AvsApp>(app: &A, cmd: OperatorCommand) -> anyhow::Result<()> {
    match cmd {
        OperatorCommand::Register { chain, bls } => {
            let r = chain.resolve().await?;
            let avs = r.avs()?;
            let key = bls.load(&r.file)?;
            let reader = r.client.reader();
            let me = r.client.address();
            if !emulation::is_operator(reader, avs.registry, me).await? {
                match r.profile {
                    Profile::Emulation => emulation::register_operator(&r.client, avs.registry)
                        .await
                        .context("registering as an Imua operator")?,
                    // Imua's operator module, not the avs precompile, registers operators.
                    Profile::Imua => bail!(
                        "{me} is not an Imua operator: register it with the chain's operator \
                         module first (imuad tx operator register-operator …), then run this again"
                    ),
                };
            }
            let opted = avs.opted_in_operators(reader).await?;
            if !opted.contains(&me) {
                avs.opt_in(&r.client).await.context("opting in")?;
            }
            let dep = Deployment {
                avs,
                admin: r.client.clone(),
                start_block: 0,
                chain_id_string: r.registration_chain_id(&avs).await?,
                epoch_origin: None,
            };
            if avs.registered_pubkey(reader, me).await?.is_empty() {
                setup::register_bls_key(&dep, &r.client, &key).await?;
            }
            let stored = avs.registered_pubkey(reader, me).await?;
            println!(
                "operator {me} opted in to {} with BLS key {} ({} bytes at the registry, {} profile)",
                avs.address,
                hex::encode(key.public_key().to_bytes()),
                stored.len(),
                r.profile
            );
            Ok(())
        }
        OperatorCommand::OptOut { chain } => {
            let r = chain.resolve().await?;
            let avs = r.avs()?;
            avs.opt_out(&r.client).await?;
            println!(
                "operator {} opted out of {}",
                r.client.address(),
                avs.address
            );
            Ok(())
        }
        OperatorCommand::Run {
            chain,
            bls,
            aggregator,
            store,
            flow,
            metrics,
        } => {
            let r = chain.resolve().await?;
            let avs = r.avs()?;
            let key = bls.load(&r.file)?;
            let flow: Flow = flow.into();
            if flow == Flow::Aggregated {
                r.require_aggregated_support("operator run --flow aggregated")?;
            }
            let aggregator = match aggregator.or_else(|| r.file.operator.aggregator.clone()) {
                Some(a) => Some(parse_addr(&a, "aggregator")?),
                None if flow == Flow::Aggregated => {
                    bail!(
                        "missing the aggregator address: pass --aggregator or set [operator] aggregator"
                    )
                }
                None => None,
            };
            let store = open_store(
                store.as_deref().or(r.file.operator.store.as_deref()),
                &format!("exoavs-operator-{}.journal", r.client.address()),
            )?;
            let cfg = OperatorConfig {
                flow,
                aggregator,
                watch: r.watch.clone(),
                ..OperatorConfig::default()
            };
            let sink = metrics
                .sink(Some(&r.file), "operator", &r.client, &r.watch)
                .await?;
            let rng = crate::node::operator::os_seeded_rng()?;
            let node = OperatorNode::with_avs(
                app.clone(),
                rng,
                r.client.clone(),
                avs,
                key,
                store,
                cfg,
                sink,
            )
            .await?;
            tracing::info!(operator = %r.client.address(), avs = %avs.address, "operator running");
            run_until_ctrl_c(node.run()).await
        }
    }
}

pub async fn aggregator<A: AvsApp>(app: &A, cmd: AggregatorCommand) -> anyhow::Result<()> {
    let AggregatorCommand::Run {
        chain,
        listen,
        linger,
        store,
        metrics,
    } = cmd;
    let r = chain.resolve().await?;
    r.require_aggregated_support("aggregator run")?;
    let avs = r.avs()?;
    let listen = listen
        .or_else(|| r.file.aggregator.listen.clone())
        .unwrap_or_else(|| "127.0.0.1:7171".into());
    let store = open_store(
        store.as_deref().or(r.file.aggregator.store.as_deref()),
        "exoavs-aggregator.journal",
    )?;
    let linger = match linger {
        Some(d) => Some(d),
        None => config_duration("aggregator.linger", r.file.aggregator.linger.as_ref())?,
    };
    let mut cfg = AggregatorNodeConfig {
        listen: parse_addr(&listen, "listen address")?,
        watch: r.watch.clone(),
        ..AggregatorNodeConfig::default()
    };
    if let Some(d) = linger {
        cfg.machine.linger_ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    }
    tracing::info!(linger_ms = cfg.machine.linger_ms, "linger window");
    let sink = metrics
        .sink(Some(&r.file), "aggregator", &r.client, &r.watch)
        .await?;
    let node =
        AggregatorNode::with_avs(app.clone(), r.client.clone(), avs, store, cfg, sink).await?;
    println!("aggregator listening on {}", node.local_addr());
    run_until_ctrl_c(node.run()).await
}

pub async fn generator<A: AvsApp>(app: &A, cmd: GeneratorCommand) -> anyhow::Result<()> {
    let GeneratorCommand::Run {
        chain,
        interval,
        threshold,
        response_period,
        challenge_period,
        statistical_period,
        store,
        metrics,
    } = cmd;
    let r = chain.resolve().await?;
    let avs = r.avs()?;
    let g = &r.file.generator;
    let interval = match interval {
        Some(i) => i,
        None => config_duration("generator.interval", g.interval.as_ref())?
            .unwrap_or(Duration::from_secs(20)),
    };
    let d = GeneratorNodeConfig::default();
    let cfg = GeneratorNodeConfig {
        interval,
        threshold: threshold.or(g.threshold).unwrap_or(d.threshold),
        response_period: response_period
            .or(g.response_period)
            .unwrap_or(d.response_period),
        challenge_period: challenge_period
            .or(g.challenge_period)
            .unwrap_or(d.challenge_period),
        statistical_period: statistical_period
            .or(g.statistical_period)
            .unwrap_or(d.statistical_period),
        ..d
    };
    let store = open_store(store.as_deref(), "exoavs-generator.journal")?;
    let sink = metrics
        .sink(Some(&r.file), "generator", &r.client, &r.watch)
        .await?;
    let node = GeneratorNode::with_avs(app.clone(), r.client.clone(), avs, store, cfg, sink)?;
    run_until_ctrl_c(node.run()).await
}

pub async fn challenger<A: AvsApp>(app: &A, cmd: ChallengerCommand) -> anyhow::Result<()> {
    let ChallengerCommand::Run {
        chain,
        flow,
        store,
        metrics,
    } = cmd;
    let r = chain.resolve().await?;
    let avs = r.avs()?;
    let store = open_store(store.as_deref(), "exoavs-challenger.journal")?;
    let cfg = ChallengerNodeConfig {
        watch: r.watch.clone(),
        flow: flow.map(Flow::from),
    };
    let sink = metrics
        .sink(Some(&r.file), "challenger", &r.client, &r.watch)
        .await?;
    let node =
        ChallengerNode::with_avs(app.clone(), r.client.clone(), avs, store, cfg, sink).await?;
    run_until_ctrl_c(node.run()).await
}

async fn run_until_ctrl_c(
    node: impl std::future::Future<Output = Result<(), crate::node::NodeError>>,
) -> anyhow::Result<()> {
    tokio::select! {
        r = node => r.map_err(anyhow::Error::from),
        _ = super::shutdown_signal() => {
            tracing::info!("stopping (Ctrl-C)");
            Ok(())
        }
    }
}
