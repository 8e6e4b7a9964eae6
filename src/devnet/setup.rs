//! Provision a dev chain: install the precompile emulation, deploy and register the AVS,
//! register operators (Imua operator, stake, opt-in, BLS key with proof of possession).
//! Used by `exoavs devnet`, the integration tests and the simulator.

use crate::chain::avs::{
    Avs, AvsParams, DEVNET_CHAIN_ID, PRECOMPILE, Profile, deploy_registry, emulation,
};
use crate::chain::{ChainError, Client};
use crate::crypto::bls::{SecretKey, pop_prove};
use crate::protocol::Flow;
use alloy::primitives::{Address, Bytes};

/// Epoch identifiers of the emulation (`contracts/src/AvsPrecompile.sol`): real ones and the
/// short devnet ones.
pub const EPOCH_MINUTE: &str = "minute";
pub const EPOCH_DEVNET_1S: &str = "devnet-1s";
pub const EPOCH_DEVNET_2S: &str = "devnet-2s";

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{step}: {source}")]
    Chain {
        step: String,
        #[source]
        source: ChainError,
    },
}

fn at(step: impl Into<String>) -> impl FnOnce(ChainError) -> SetupError {
    let step = step.into();
    move |source| SetupError::Chain { step, source }
}

/// The AVS's parameters on a dev chain.
#[derive(Clone, Debug)]
pub struct AvsSetup {
    pub name: String,
    pub epoch_identifier: String,
    pub reward_proportion: u64,
    pub slash_proportion: u64,
    /// The service contract to deploy, as (name, creation code), when it is not the stock
    /// AvsServiceContract: a contract that extends it, with rules of its own.
    pub service_code: Option<(String, Bytes)>,
    /// Deploy the operator registry as an ordinary contract (as on a Prague chain without the
    /// precompile) instead of installing the emulation at 0x…0901 with `anvil_setCode`.
    pub ordinary_registry: bool,
    /// Which registry the AVS runs on: exoavs's emulation, or the strict emulation of Imua's
    /// precompile ([`Profile::Imua`]: two-phase flow only).
    pub profile: Profile,
}

/// The staking asset the devnet's AVS names on the imua profile: USDT on imuachain's localnet
/// (LayerZero chain 101), one of the assets the strict emulation knows.
pub const IMUA_DEVNET_ASSET: &str = "0xdac17f958d2ee523a2206206994597c13d831ec7_0x65";

impl AvsSetup {
    /// Aggregated flow: minute epochs (a task's response window is minutes of wall clock).
    /// Two-phase flow: one-second epochs, so that a task settles in seconds.
    pub fn for_flow(flow: Flow) -> AvsSetup {
        AvsSetup {
            name: "exoavs-sum".into(),
            epoch_identifier: match flow {
                Flow::Aggregated => EPOCH_MINUTE.into(),
                Flow::TwoPhase => EPOCH_DEVNET_1S.into(),
            },
            reward_proportion: 10,
            slash_proportion: 10,
            service_code: None,
            ordinary_registry: false,
            profile: Profile::Emulation,
        }
    }
}

/// One registered operator: its ECDSA client and BLS key.
pub struct OperatorAccount {
    pub client: Client,
    pub bls: SecretKey,
    pub stake: u128,
}

impl OperatorAccount {
    pub fn address(&self) -> Address {
        self.client.address()
    }
}

/// What provisioning produced.
pub struct Deployment {
    pub avs: Avs,
    /// Emulation admin, AVS owner and task creator.
    pub admin: Client,
    /// Block of the AVS deployment: drivers read events from here.
    pub start_block: u64,
    pub chain_id_string: String,
    /// On the imua profile: the timestamp x/epochs' counter starts from (epoch 1 until then;
    /// epoch n covers `(origin + (n−2)·d, origin + (n−1)·d]`). `None` on exoavs's registry, whose
    /// epoch is timestamp / d.
    pub epoch_origin: Option<u64>,
}

/// Install the emulation (if absent) or deploy an ordinary registry, then deploy + register the
/// AVS, as `admin`.
pub async fn deploy_avs(admin: &Client, setup: &AvsSetup) -> Result<Deployment, SetupError> {
    let mut epoch_origin = None;
    let registry = if setup.profile == Profile::Imua {
        let out = emulation::install_imua(admin, DEVNET_CHAIN_ID)
            .await
            .map_err(at("install the strict Imua emulation at 0x…0901"))?;
        epoch_origin = admin
            .reader()
            .block_hash(out.block)
            .await
            .map_err(at("read the emulation's genesis block"))?
            .map(|(_, ts)| ts);
        PRECOMPILE
    } else if setup.ordinary_registry {
        deploy_registry(admin, DEVNET_CHAIN_ID)
            .await
            .map_err(at("deploy the operator registry"))?
            .address
    } else {
        if !emulation::installed(admin.reader())
            .await
            .map_err(at("probe the precompile emulation"))?
        {
            emulation::install(admin, DEVNET_CHAIN_ID)
                .await
                .map_err(at("install the precompile emulation at 0x…0901"))?;
        }
        PRECOMPILE
    };
    // Imua's precompile has no view of it: the devnet knows what it installed.
    let chain_id_string = match setup.profile {
        Profile::Imua => DEVNET_CHAIN_ID.to_owned(),
        Profile::Emulation => emulation::chain_id_string(admin.reader(), registry)
            .await
            .map_err(at("read the registry's chain id"))?,
    };
    let (avs, out) = match &setup.service_code {
        None => Avs::deploy(admin, registry)
            .await
            .map_err(at("deploy AvsServiceContract"))?,
        Some((name, code)) => Avs::deploy_code(admin, name, code.clone(), registry)
            .await
            .map_err(at(format!("deploy {name}")))?,
    };
    let avs = avs.with_profile(setup.profile);
    let imua = setup.profile == Profile::Imua;
    let params = AvsParams {
        name: setup.name.clone(),
        owners: vec![admin.address()],
        epoch_identifier: setup.epoch_identifier.clone(),
        // Imua refuses a zero minimum stake and an AVS without a staking asset.
        min_stake: u64::from(imua),
        reward_proportion: setup.reward_proportion,
        slash_proportion: setup.slash_proportion,
        min_opt_in_operators: 0,
        asset_ids: if imua {
            vec![IMUA_DEVNET_ASSET.to_owned()]
        } else {
            Vec::new()
        },
    };
    avs.register(admin, &params)
        .await
        .map_err(at("registerAVS"))?;
    if imua {
        // See `Avs::register`'s note: without an update the chain refuses the AVS's own
        // challenge.
        avs.update(admin, &params).await.map_err(at(
            "updateAVS (so that the chain accepts the AVS's challenges)",
        ))?;
    }
    Ok(Deployment {
        avs,
        admin: admin.clone(),
        start_block: out.block,
        chain_id_string,
        epoch_origin,
    })
}

/// Make `op` a full operator of the AVS: Imua operator, stake, opt-in, BLS key + PoP.
pub async fn register_operator(
    dep: &Deployment,
    op: &Client,
    bls: &SecretKey,
    stake: u128,
) -> Result<(), SetupError> {
    let who = op.address();
    let registry = dep.avs.registry;
    if !emulation::is_operator(op.reader(), registry, who)
        .await
        .map_err(at("isOperator"))?
    {
        emulation::register_operator(op, registry)
            .await
            .map_err(at(format!("registerOperator {who}")))?;
    }
    emulation::set_stake(&dep.admin, registry, dep.avs.address, who, stake)
        .await
        .map_err(at(format!("setOperatorStake {who}")))?;
    dep.avs
        .opt_in(op)
        .await
        .map_err(at(format!("opt in {who}")))?;
    register_bls_key(dep, op, bls).await
}

/// Register `bls` as `op`'s key for the AVS, with its proof of possession.
pub async fn register_bls_key(
    dep: &Deployment,
    op: &Client,
    bls: &SecretKey,
) -> Result<(), SetupError> {
    let who = op.address();
    let pop = pop_prove(bls, &dep.chain_id_string, who);
    let profile = dep.avs.profile;
    dep.avs
        .register_bls_key(
            op,
            &profile.encode_key(&bls.public_key()),
            &profile.encode_signature(&pop),
        )
        .await
        .map_err(at(format!("registerBLSPublicKey {who}")))?;
    Ok(())
}
