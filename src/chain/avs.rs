//! Typed calls of the AVS service contract and of the avs precompile (our emulation of it on
//! Anvil): calldata from the `sol!` bindings, sent through [`Client`] / read through [`Reader`].

use super::bindings::{
    base::AvsServiceBase as B,
    precompile::AvsPrecompile as P,
    registry::{OperatorRegistry, OperatorRegistryAux},
    service::AvsServiceContract as S,
};
use super::client::{Client, Reader, TxOutcome};
use super::error::ChainError;
use crate::crypto::bls::{PublicKey, Signature};
use crate::protocol::{Task, TaskId, TaskOperator};
use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, Bytes, U256, address};
use alloy::rpc::types::{Filter, Log, TransactionRequest};
use alloy::sol_types::{SolCall, SolEvent, SolValue};

/// Where the avs precompile lives on Imua, and where devnet installs the emulation. On any other
/// Prague chain the registry is an ordinary contract ([`deploy_registry`]) and the service
/// contract names it (`registry()`, read by [`Avs::connect`]).
pub const PRECOMPILE: Address = address!("0000000000000000000000000000000000000901");

/// The chain id string the emulation puts in the key-registration message on devnets.
pub const DEVNET_CHAIN_ID: &str = "exoavs_31337";

/// Which operator registry the roles talk to, and so which calls and encodings they use.
///
/// - `Emulation`: exoavs's own registry — the Anvil emulation of the avs precompile at 0x…0901,
///   or the `OperatorRegistry` contract on any Prague chain. EIP-2537 points (128-byte keys,
///   256-byte signatures), epochs from block timestamps (`epochDuration`), snapshots through
///   the registry's extension views (`taskSnapshot`, `operatorAt`, `getKnownOperators`).
/// - `Imua`: Imua's avs precompile as the chain has it (or the strict emulation of it): only
///   `IAVSManager` functions, compressed points (48-byte keys, 96-byte signatures), the epoch as
///   x/epochs' counter (`getCurrentEpoch`), a task's operators from `getTaskInfo`, USD values
///   scaled by 10^18; only the two-phase flow (Imua's EVM has no EIP-2537).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    #[default]
    Emulation,
    Imua,
}

impl Profile {
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Emulation => "emulation",
            Profile::Imua => "imua",
        }
    }

    /// The bytes of a BLS public key as this registry takes them.
    pub fn encode_key(self, pk: &PublicKey) -> Vec<u8> {
        match self {
            Profile::Emulation => pk.to_eip2537().to_vec(),
            Profile::Imua => pk.to_bytes().to_vec(),
        }
    }

    /// The bytes of a BLS signature as this registry takes them.
    pub fn encode_signature(self, sig: &Signature) -> Vec<u8> {
        match self {
            Profile::Emulation => sig.to_eip2537().to_vec(),
            Profile::Imua => sig.to_bytes().to_vec(),
        }
    }

    /// A key as this registry returns it (`getRegisteredPubkey`).
    pub fn decode_key(self, raw: &[u8]) -> Result<PublicKey, crate::crypto::bls::BlsError> {
        match self {
            Profile::Emulation => PublicKey::from_eip2537(raw),
            Profile::Imua => PublicKey::from_bytes(raw),
        }
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Profile, String> {
        match s {
            "emulation" => Ok(Profile::Emulation),
            "imua" => Ok(Profile::Imua),
            _ => Err(format!(
                "unknown chain profile {s:?}: expected `emulation` (exoavs's registry: the Anvil \
                 emulation or OperatorRegistry on a Prague chain) or `imua` (Imua's avs precompile)"
            )),
        }
    }
}

/// USD values on Imua are `LegacyDec.BigInt()`: the value × 10^18.
const IMUA_USD_SCALE: u128 = 1_000_000_000_000_000_000;

/// A view call: encode, `eth_call`, decode.
pub async fn view<C: SolCall>(
    r: &Reader,
    to: Address,
    what: &str,
    call: C,
) -> Result<C::Return, ChainError> {
    let tx = TransactionRequest::default()
        .with_to(to)
        .with_input(call.abi_encode());
    let out = r.call(what, tx).await?;
    C::abi_decode_returns(&out).map_err(|e| ChainError::Unexpected {
        what: what.to_owned(),
        detail: format!("cannot decode the return value: {e}"),
    })
}

/// A view call on the operator registry at `registry` (the avs precompile or its emulation, or
/// an ordinary registry contract), named in errors by its function name.
async fn registry_view<C: SolCall>(
    r: &Reader,
    registry: Address,
    call: C,
) -> Result<C::Return, ChainError> {
    let name = C::SIGNATURE.split('(').next().unwrap_or(C::SIGNATURE);
    view(r, registry, name, call).await
}

/// EIP-170's limit on a contract's runtime code, in bytes.
pub const CODE_SIZE_LIMIT: usize = 0x6000;

/// The runtime code sizes of the operator registry's two halves on a Prague chain
/// (`OperatorRegistry`, `OperatorRegistryAux`), in bytes; each is within [`CODE_SIZE_LIMIT`].
pub fn registry_code_sizes() -> [usize; 2] {
    [
        OperatorRegistry::DEPLOYED_BYTECODE.len(),
        OperatorRegistryAux::DEPLOYED_BYTECODE.len(),
    ]
}

/// A deployed operator registry: the address every caller uses and its aux half.
#[derive(Clone, Copy, Debug)]
pub struct DeployedRegistry {
    pub address: Address,
    pub aux: Address,
    /// Gas of the two creating transactions together.
    pub gas_used: u64,
    /// The block of the registry's own creation (the second transaction).
    pub block: u64,
}

/// Deploy the operator registry as ordinary contracts (the aggregated flow on a Prague chain
/// without the precompile, no `anvil_*` methods needed): `AvsPrecompile` cut in two within
/// EIP-170, first `OperatorRegistryAux`, then `OperatorRegistry` naming it, initialised in its
/// creating transaction with `c` as admin and `chain_id_without_revision` in the
/// key-registration message. The roles then call it with the [`P`] ABI.
pub async fn deploy_registry(
    c: &Client,
    chain_id_without_revision: &str,
) -> Result<DeployedRegistry, ChainError> {
    let (aux, first) = deploy(
        c,
        "deploy the operator registry's aux half (OperatorRegistryAux)",
        OperatorRegistryAux::BYTECODE.to_vec(),
    )
    .await?;
    let args = (c.address(), chain_id_without_revision.to_owned(), aux).abi_encode_params();
    let (address, out) = deploy(
        c,
        "deploy the operator registry (OperatorRegistry)",
        [OperatorRegistry::BYTECODE.as_ref(), &args].concat(),
    )
    .await?;
    Ok(DeployedRegistry {
        address,
        aux,
        gas_used: first.gas_used + out.gas_used,
        block: out.block,
    })
}

/// Send `code` (creation code with its constructor arguments) from `c`; the new contract's
/// address. `what` names the deployment in errors and logs.
async fn deploy(c: &Client, what: &str, code: Vec<u8>) -> Result<(Address, TxOutcome), ChainError> {
    let out = c
        .send(what, TransactionRequest::default().with_deploy_code(code))
        .await?;
    let address = out
        .receipt
        .contract_address
        .ok_or_else(|| ChainError::Unexpected {
            what: what.into(),
            detail: "receipt has no contract address".into(),
        })?;
    Ok((address, out))
}

/// A transaction request calling `call` on `to`.
pub fn call_tx<C: SolCall>(to: Address, call: &C) -> TransactionRequest {
    TransactionRequest::default()
        .with_to(to)
        .with_input(call.abi_encode())
}

/// The AVS's registration parameters (those devnet and `avs register` set; the rest follow
/// the Imua defaults of an AVS without asset restrictions).
#[derive(Clone, Debug)]
pub struct AvsParams {
    pub name: String,
    pub owners: Vec<Address>,
    pub epoch_identifier: String,
    pub min_stake: u64,
    pub reward_proportion: u64,
    pub slash_proportion: u64,
    pub min_opt_in_operators: u64,
    /// The staking assets whose value counts for the AVS (Imua asset ids, `<token>_<chain id>`,
    /// e.g. `0xdac17f958d2ee523a2206206994597c13d831ec7_0x65`). Imua refuses an AVS without any;
    /// exoavs's registry ignores them.
    pub asset_ids: Vec<String>,
}

/// The base contract's record of one task (`taskState(id)`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskState {
    pub exists: bool,
    pub responded: bool,
    pub settled: bool,
    pub threshold: u8,
    pub starting_epoch: u64,
}

/// The `TaskResponded` event: an aggregate the contract accepted.
#[derive(Clone, Debug)]
pub struct Accepted {
    pub task_id: TaskId,
    /// The AVS's response bytes the aggregate signed.
    pub response: Vec<u8>,
    pub signed_stake: U256,
    pub total_stake: U256,
    pub non_signers: Vec<Address>,
    pub block: Option<u64>,
}

/// The deployed AVS service contract, and the operator registry it uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Avs {
    pub address: Address,
    /// Where its operators, keys and snapshots live: [`PRECOMPILE`] on Imua and under the
    /// emulation, an ordinary contract elsewhere.
    pub registry: Address,
    /// What that registry is (see [`Profile`]).
    pub profile: Profile,
}

impl Avs {
    /// Send `call` to this contract from `c`; `what` names it in errors and logs.
    async fn tx<C: SolCall>(
        &self,
        c: &Client,
        what: &str,
        call: C,
    ) -> Result<TxOutcome, ChainError> {
        c.send(what, call_tx(self.address, &call)).await
    }

    /// [`Avs::tx`] for a pass-through whose return value is the precompile's success flag:
    /// simulated first, a `false` (or the contract's `PrecompileFailed`) fails naming `what`.
    async fn tx_expecting_true<C: SolCall>(
        &self,
        c: &Client,
        what: &str,
        call: C,
    ) -> Result<TxOutcome, ChainError> {
        c.send_expecting_true(what, call_tx(self.address, &call))
            .await
    }

    /// The contract at `address`, its registry at [`PRECOMPILE`] (Imua, the emulation).
    pub fn at(address: Address) -> Avs {
        Avs {
            address,
            registry: PRECOMPILE,
            profile: Profile::Emulation,
        }
    }

    /// The contract at `address`, with the registry it names (`registry()`).
    pub async fn connect(r: &Reader, address: Address) -> Result<Avs, ChainError> {
        let registry = view(r, address, "registry", B::registryCall {}).await?;
        Ok(Avs {
            address,
            registry,
            profile: Profile::Emulation,
        })
    }

    /// The same contract, its registry taken as `profile`.
    pub fn with_profile(self, profile: Profile) -> Avs {
        Avs { profile, ..self }
    }

    /// A view call on this AVS's registry.
    async fn registry_view<C: SolCall>(
        &self,
        r: &Reader,
        call: C,
    ) -> Result<C::Return, ChainError> {
        registry_view(r, self.registry, call).await
    }

    /// Deploy a fresh AvsServiceContract from the artifact's creation code, on `registry`.
    pub async fn deploy(c: &Client, registry: Address) -> Result<(Avs, TxOutcome), ChainError> {
        Avs::deploy_code(c, "AvsServiceContract", S::BYTECODE.clone(), registry).await
    }

    /// Deploy `code`, the creation code of a contract that extends AvsServiceContract (its
    /// ABI, so every call here works on it, and its constructor, `(address registry)`); `name`
    /// names it in errors and logs.
    pub async fn deploy_code(
        c: &Client,
        name: &str,
        code: Bytes,
        registry: Address,
    ) -> Result<(Avs, TxOutcome), ChainError> {
        let code = [code.as_ref(), &registry.abi_encode()].concat();
        let (address, out) = deploy(c, &format!("deploy {name}"), code).await?;
        Ok((
            Avs {
                address,
                registry,
                profile: Profile::Emulation,
            },
            out,
        ))
    }

    /// `registerAVS`, sent by the AVS owner (it becomes `params.sender`).
    ///
    /// On Imua, follow it with [`Avs::update`]: the chain stores a newly registered AVS's
    /// address in lower case (`x/avs/keeper/keeper.go`, `strings.ToLower` in the registration)
    /// and compares it with the EIP-55 form in `challenge` (`precompiles/avs/tx.go`), so an AVS
    /// whose checksummed address has an upper-case letter cannot settle its tasks until an
    /// `updateAVS` has stored the EIP-55 form. The strict emulation reproduces this.
    pub async fn register(&self, c: &Client, p: &AvsParams) -> Result<TxOutcome, ChainError> {
        let params = self.params(c, p);
        self.tx_expecting_true(c, "registerAVS", B::registerAVSCall { params })
            .await
    }

    /// `updateAVS` with `p` (Imua merges the non-empty fields; exoavs's registry overwrites).
    pub async fn update(&self, c: &Client, p: &AvsParams) -> Result<TxOutcome, ChainError> {
        let params = self.params(c, p);
        self.tx_expecting_true(c, "updateAVS", B::updateAVSCall { params })
            .await
    }

    fn params(&self, c: &Client, p: &AvsParams) -> B::AVSParams {
        B::AVSParams {
            sender: c.address(),
            avsName: p.name.clone(),
            minStakeAmount: p.min_stake,
            taskAddress: self.address,
            slashAddress: self.address,
            rewardAddress: self.address,
            avsOwnerAddresses: p.owners.clone(),
            whitelistAddresses: Vec::new(),
            assetIDs: p.asset_ids.clone(),
            avsUnbondingPeriod: 0,
            minSelfDelegation: 0,
            epochIdentifier: p.epoch_identifier.clone(),
            miniOptInOperators: p.min_opt_in_operators,
            minTotalStakeAmount: 0,
            avsRewardProportion: p.reward_proportion,
            avsSlashProportion: p.slash_proportion,
        }
    }

    pub async fn opt_in(&self, c: &Client) -> Result<TxOutcome, ChainError> {
        self.tx_expecting_true(
            c,
            "registerOperatorToAVS (opt in)",
            B::registerOperatorToAVSCall {},
        )
        .await
    }

    pub async fn opt_out(&self, c: &Client) -> Result<TxOutcome, ChainError> {
        self.tx_expecting_true(
            c,
            "deregisterOperatorFromAVS (opt out)",
            B::deregisterOperatorFromAVSCall {},
        )
        .await
    }

    /// Register the operator's BLS key and its proof of possession, encoded as the registry
    /// takes them ([`Profile::encode_key`], [`Profile::encode_signature`]).
    pub async fn register_bls_key(
        &self,
        c: &Client,
        pubkey: &[u8],
        pop: &[u8],
    ) -> Result<TxOutcome, ChainError> {
        let call = B::registerBLSPublicKeyCall {
            pubKey: Bytes::copy_from_slice(pubkey),
            signature: Bytes::copy_from_slice(pop),
        };
        self.tx_expecting_true(c, "registerBLSPublicKey", call)
            .await
    }

    /// `createNewTask(payload, …)`; returns the task as its event announced it.
    pub async fn create_task(
        &self,
        c: &Client,
        payload: &[u8],
        threshold: u8,
        response_period: u64,
        challenge_period: u64,
        statistical_period: u64,
    ) -> Result<(Task, TxOutcome), ChainError> {
        let call = Self::create_task_call(
            payload,
            threshold,
            response_period,
            challenge_period,
            statistical_period,
        );
        let out = c
            .send("createNewTask", call_tx(self.address, &call))
            .await?;
        Ok((self.created_task(&out)?, out))
    }

    /// [`Avs::create_task`] with the sum AVS's payload `abi.encode(uint64 a, uint64 b)`.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_sum_task(
        &self,
        c: &Client,
        a: u64,
        b: u64,
        threshold: u8,
        response_period: u64,
        challenge_period: u64,
        statistical_period: u64,
    ) -> Result<(Task, TxOutcome), ChainError> {
        let payload = crate::avs::SumAvs::payload_bytes(a, b);
        self.create_task(
            c,
            &payload,
            threshold,
            response_period,
            challenge_period,
            statistical_period,
        )
        .await
    }

    /// `createNewTask`, signed but not sent (see [`Client::sign`]): the generator persists these
    /// bytes before they leave the node, so that a request lands at most once.
    pub async fn sign_create_task(
        &self,
        c: &Client,
        req: &crate::protocol::generator::TaskRequest,
    ) -> Result<Bytes, ChainError> {
        let call = Self::create_task_call(
            &req.payload,
            req.threshold_percentage,
            req.response_period,
            req.challenge_period,
            req.statistical_period,
        );
        c.sign("createNewTask", call_tx(self.address, &call)).await
    }

    fn create_task_call(
        payload: &[u8],
        threshold: u8,
        response_period: u64,
        challenge_period: u64,
        statistical_period: u64,
    ) -> B::createNewTaskCall {
        B::createNewTaskCall {
            payload: Bytes::copy_from_slice(payload),
            thresholdPercentage: threshold,
            taskResponsePeriod: response_period,
            taskChallengePeriod: challenge_period,
            taskStatisticalPeriod: statistical_period,
        }
    }

    /// The task a mined `createNewTask` created (its `TaskCreated` event).
    pub fn created_task(&self, out: &TxOutcome) -> Result<Task, ChainError> {
        out.receipt
            .inner
            .logs()
            .iter()
            .find_map(|l| self.decode_task_created(l))
            .ok_or_else(|| ChainError::Unexpected {
                what: "createNewTask".into(),
                detail: "receipt carries no TaskCreated event".into(),
            })
    }

    /// `respondToTask` with the aggregate (non-signers ascending, their keys in that order) over
    /// `response`, the AVS's response bytes the signers signed.
    pub async fn respond(
        &self,
        c: &Client,
        task_id: TaskId,
        response: &[u8],
        non_signers: Vec<Address>,
        non_signer_pubkeys: Vec<u8>,
        aggregate_signature_eip2537: Vec<u8>,
    ) -> Result<TxOutcome, ChainError> {
        let call = B::respondToTaskCall {
            taskId: task_id,
            response: Bytes::copy_from_slice(response),
            nonSigners: non_signers,
            nonSignerPubKeys: non_signer_pubkeys.into(),
            signature: aggregate_signature_eip2537.into(),
        };
        self.tx(c, &format!("respondToTask({task_id})"), call).await
    }

    /// Two-phase flow: phase 1 (prepare: empty response) or 2 (commit: the response bytes);
    /// `signature` encoded as the registry takes it ([`Profile::encode_signature`]).
    pub async fn operator_submit(
        &self,
        c: &Client,
        task_id: TaskId,
        response: Vec<u8>,
        signature: Vec<u8>,
        phase: u8,
    ) -> Result<TxOutcome, ChainError> {
        let call = B::operatorSubmitTaskCall {
            taskID: task_id,
            taskResponse: response.into(),
            blsSignature: signature.into(),
            phase,
        };
        self.tx_expecting_true(
            c,
            &format!("operatorSubmitTask({task_id}, phase {phase})"),
            call,
        )
        .await
    }

    /// Settle a task after its statistical window (rewards and slashing).
    pub async fn challenge(
        &self,
        c: &Client,
        task_id: TaskId,
        non_signers: Vec<Address>,
    ) -> Result<TxOutcome, ChainError> {
        let call = B::challengeCall {
            taskId: task_id,
            nonSigners: non_signers,
        };
        self.tx_expecting_true(c, &format!("challenge({task_id})"), call)
            .await
    }

    /// The fraud proof of any AVS (`proveWrongResponse`): `operator` signed `response`, which
    /// the AVS's rule proves wrong.
    pub async fn prove_wrong_response(
        &self,
        c: &Client,
        task_id: TaskId,
        operator: Address,
        response: &[u8],
        signature_eip2537: Vec<u8>,
    ) -> Result<TxOutcome, ChainError> {
        let call = B::proveWrongResponseCall {
            taskId: task_id,
            operator,
            response: Bytes::copy_from_slice(response),
            signature: signature_eip2537.into(),
        };
        self.tx(
            c,
            &format!("proveWrongResponse({task_id}, {operator})"),
            call,
        )
        .await
    }

    /// The sum AVS's own fraud proof against an operator that signed a wrong sum.
    pub async fn prove_wrong_sum(
        &self,
        c: &Client,
        task_id: TaskId,
        operator: Address,
        wrong_sum: u64,
        signature_eip2537: Vec<u8>,
    ) -> Result<TxOutcome, ChainError> {
        let call = S::proveWrongSumCall {
            taskId: task_id,
            operator,
            wrongSum: wrong_sum,
            signature: signature_eip2537.into(),
        };
        self.tx(c, &format!("proveWrongSum({task_id}, {operator})"), call)
            .await
    }

    /// The task as the base contract records it (`taskState`), for any AVS.
    pub async fn task(&self, r: &Reader, task_id: TaskId) -> Result<TaskState, ChainError> {
        let t = view(
            r,
            self.address,
            "taskState",
            B::taskStateCall { taskId: task_id },
        )
        .await?;
        Ok(TaskState {
            exists: t.exists,
            responded: t.responded,
            settled: t.settled,
            threshold: t.thresholdPercentage,
            starting_epoch: t.startingEpoch,
        })
    }

    /// The sum AVS's inputs of a task, as its contract stores them (`tasks(id)`: `a`, `b`).
    pub async fn sum_inputs(&self, r: &Reader, task_id: TaskId) -> Result<(u64, u64), ChainError> {
        let t = view(r, self.address, "tasks", S::tasksCall { taskId: task_id }).await?;
        Ok((t.a, t.b))
    }

    pub fn task_created_filter(&self) -> Filter {
        Filter::new()
            .address(self.address)
            .event_signature(B::TaskCreated::SIGNATURE_HASH)
    }

    pub fn task_responded_filter(&self) -> Filter {
        Filter::new()
            .address(self.address)
            .event_signature(B::TaskResponded::SIGNATURE_HASH)
    }

    /// Everything the contract emits (tasks created, responded, settled).
    pub fn all_events_filter(&self) -> Filter {
        Filter::new().address(self.address)
    }

    /// The `TaskCreated` event of one task in `from..=to`, if any (the task id is an indexed
    /// topic, so this is one `eth_getLogs` that returns at most one log). For looking up a task
    /// that a response names before the event watch has reached it.
    pub async fn find_task_created(
        &self,
        r: &Reader,
        task_id: TaskId,
        from: u64,
        to: u64,
    ) -> Result<Option<Task>, ChainError> {
        let filter = self
            .task_created_filter()
            .topic1(alloy::primitives::B256::from(U256::from(task_id)))
            .from_block(from)
            .to_block(to);
        let p = r.provider().clone();
        let logs = r
            .retry("eth_getLogs", "task lookup", || {
                let p = p.clone();
                let f = filter.clone();
                async move { alloy::providers::Provider::get_logs(&p, &f).await }
            })
            .await?;
        Ok(logs
            .iter()
            .filter(|l| !l.removed)
            .find_map(|l| self.decode_task_created(l).filter(|t| t.id == task_id)))
    }

    pub fn decode_task_created(&self, log: &alloy::rpc::types::Log) -> Option<Task> {
        if log.address() != self.address {
            return None;
        }
        let ev = B::TaskCreated::decode_log(&log.inner).ok()?;
        Some(Task {
            id: ev.taskId,
            payload: ev.payload.to_vec(),
            threshold_percentage: ev.thresholdPercentage,
            starting_epoch: ev.startingEpoch,
            response_period: ev.taskResponsePeriod,
            challenge_period: ev.taskChallengePeriod,
            statistical_period: ev.taskStatisticalPeriod,
            created_block: log.block_number.unwrap_or_default(),
        })
    }

    pub fn decode_task_responded(&self, log: &Log) -> Option<Accepted> {
        if log.address() != self.address {
            return None;
        }
        let ev = B::TaskResponded::decode_log(&log.inner).ok()?;
        Some(Accepted {
            task_id: ev.taskId,
            response: ev.response.to_vec(),
            signed_stake: ev.signedStake,
            total_stake: ev.totalStake,
            non_signers: ev.nonSigners.clone(),
            block: log.block_number,
        })
    }

    /// The task settled (`TaskSettled`): (task, actual threshold, rewarded, slashed).
    pub fn decode_task_settled(
        &self,
        log: &Log,
    ) -> Option<(TaskId, u8, Vec<Address>, Vec<Address>)> {
        if log.address() != self.address {
            return None;
        }
        let ev = B::TaskSettled::decode_log(&log.inner).ok()?;
        Some((
            ev.taskId,
            ev.actualThreshold,
            ev.rewarded.clone(),
            ev.slashed.clone(),
        ))
    }

    /// Seconds per epoch of this AVS's epoch identifier.
    pub async fn epoch_seconds(&self, r: &Reader) -> Result<u64, ChainError> {
        let id = self
            .registry_view(
                r,
                P::getAVSEpochIdentifierCall {
                    avsAddress: self.address,
                },
            )
            .await?;
        self.registry_view(
            r,
            P::epochDurationCall {
                epochIdentifier: id,
            },
        )
        .await
    }

    /// The operators a task snapshotted: opted in at creation, with stake and key (if any).
    pub async fn snapshot(
        &self,
        r: &Reader,
        task_id: TaskId,
    ) -> Result<Vec<TaskOperator>, ChainError> {
        match self.profile {
            Profile::Emulation => self.snapshot_by_version(r, task_id).await,
            Profile::Imua => self.snapshot_from_task_info(r, task_id).await,
        }
    }

    /// exoavs's registry: the task's operator set in one `taskOperators` call (it was 2 + 2N
    /// sequential calls, which at 256 operators outlasted a task's response window in the
    /// simulator).
    async fn snapshot_by_version(
        &self,
        r: &Reader,
        task_id: TaskId,
    ) -> Result<Vec<TaskOperator>, ChainError> {
        let set = self
            .registry_view(
                r,
                P::taskOperatorsCall {
                    taskContractAddress: self.address,
                    taskID: task_id,
                },
            )
            .await?;
        if set.stakes.len() != set.operators.len() || set.pubKeys.len() != set.operators.len() {
            return Err(ChainError::Unexpected {
                what: "taskOperators".into(),
                detail: format!(
                    "{} operators, {} stakes, {} keys",
                    set.operators.len(),
                    set.stakes.len(),
                    set.pubKeys.len()
                ),
            });
        }
        let mut out: Vec<TaskOperator> = set
            .operators
            .into_iter()
            .zip(set.stakes)
            .zip(set.pubKeys)
            .map(|((operator, stake), raw)| TaskOperator {
                operator,
                stake: stake.saturating_to(),
                pubkey: self.parse_key(&raw),
            })
            .collect();
        out.sort_by_key(|o| o.operator);
        out.dedup_by_key(|o| o.operator);
        Ok(out)
    }

    /// Imua: the operators `getTaskInfo` lists as opted in at the task's creation, each with
    /// its registered key and its current opted-in USD value (Imua keeps no stake snapshot;
    /// its statistics use live power too), in whole USD.
    async fn snapshot_from_task_info(
        &self,
        r: &Reader,
        task_id: TaskId,
    ) -> Result<Vec<TaskOperator>, ChainError> {
        let info = self
            .registry_view(
                r,
                P::getTaskInfoCall {
                    taskAddress: self.address,
                    taskID: task_id,
                },
            )
            .await?;
        let mut out = Vec::new();
        for op in info.optInOperators {
            let usd = self
                .registry_view(
                    r,
                    P::getOperatorOptedUSDValueCall {
                        avsAddress: self.address,
                        operatorAddress: op,
                    },
                )
                .await?;
            out.push(TaskOperator {
                operator: op,
                stake: (usd / U256::from(IMUA_USD_SCALE)).saturating_to(),
                pubkey: self.pubkey_of(r, op).await?,
            });
        }
        out.sort_by_key(|o| o.operator);
        out.dedup_by_key(|o| o.operator);
        Ok(out)
    }

    /// `op`'s registered key, if it has one that parses. A key the registry accepted is valid;
    /// if it does not parse, the operator simply cannot sign (it still counts in the stake).
    async fn pubkey_of(&self, r: &Reader, op: Address) -> Result<Option<PublicKey>, ChainError> {
        Ok(self.parse_key(&self.registered_pubkey(r, op).await?))
    }

    /// A key as the registry returns it: empty for none; one that does not parse reads as none.
    fn parse_key(&self, raw: &[u8]) -> Option<PublicKey> {
        if raw.is_empty() {
            return None;
        }
        self.profile.decode_key(raw).ok()
    }

    /// The AVS's current epoch, as its registry numbers it (`getCurrentEpoch` of its epoch
    /// identifier).
    pub async fn current_epoch(&self, r: &Reader) -> Result<u64, ChainError> {
        let id = self.epoch_identifier(r).await?;
        self.epoch_of(r, &id).await
    }

    /// The AVS's epoch identifier (`getAVSEpochIdentifier`).
    pub async fn epoch_identifier(&self, r: &Reader) -> Result<String, ChainError> {
        self.registry_view(
            r,
            P::getAVSEpochIdentifierCall {
                avsAddress: self.address,
            },
        )
        .await
    }

    /// The current epoch of `identifier` (`getCurrentEpoch`; negative reads as 0).
    pub async fn epoch_of(&self, r: &Reader, identifier: &str) -> Result<u64, ChainError> {
        let e = self
            .registry_view(
                r,
                P::getCurrentEpochCall {
                    epochIdentifier: identifier.to_owned(),
                },
            )
            .await?;
        Ok(e.max(0) as u64)
    }

    pub async fn reward_of(&self, r: &Reader, op: Address) -> Result<U256, ChainError> {
        self.registry_view(
            r,
            P::rewardOfCall {
                avsAddress: self.address,
                operator: op,
            },
        )
        .await
    }

    pub async fn slashed_of(&self, r: &Reader, op: Address) -> Result<U256, ChainError> {
        self.registry_view(
            r,
            P::slashedOfCall {
                avsAddress: self.address,
                operator: op,
            },
        )
        .await
    }

    pub async fn opted_in_operators(&self, r: &Reader) -> Result<Vec<Address>, ChainError> {
        self.registry_view(
            r,
            P::getOptInOperatorsCall {
                avsAddress: self.address,
            },
        )
        .await
    }

    pub async fn registered_pubkey(&self, r: &Reader, op: Address) -> Result<Bytes, ChainError> {
        self.registry_view(
            r,
            P::getRegisteredPubkeyCall {
                operatorAddress: op,
                avsAddress: self.address,
            },
        )
        .await
    }
}

/// The emulation of the avs precompile: installing it on an Anvil, and its admin functions
/// that stand in for Exocore's operator and restaking modules.
pub mod emulation {
    use super::*;

    /// `anvil_setCode` the emulation at 0x…0901 and initialize it with `admin` as admin.
    /// Only for Anvil (dev chains): a real Imua chain has the precompile built in.
    pub async fn install(
        admin: &Client,
        chain_id_without_revision: &str,
    ) -> Result<TxOutcome, ChainError> {
        let code = P::DEPLOYED_BYTECODE.clone();
        let _: serde_json::Value = admin.raw("anvil_setCode", (PRECOMPILE, code)).await?;
        let call = P::initializeCall {
            admin_: admin.address(),
            chainId: chain_id_without_revision.to_owned(),
        };
        admin
            .send(
                "initialize the avs precompile emulation",
                call_tx(PRECOMPILE, &call),
            )
            .await
    }

    /// Where the strict Imua profile's implementation lives (`ImuaPrecompileFront.IMPL`): the
    /// front at 0x…0901 delegatecalls it, so the state stays at 0x…0901.
    pub const IMUA_IMPL: Address = address!("0000000000000000000000000000000000Ab0901");

    /// `anvil_setCode` the strict Imua profile — the front at 0x…0901, the implementation at
    /// [`IMUA_IMPL`] — and initialize it through the front with `admin` as admin. Its epoch
    /// counter starts at this transaction's block. Anvil only.
    pub async fn install_imua(
        admin: &Client,
        chain_id_without_revision: &str,
    ) -> Result<TxOutcome, ChainError> {
        use crate::chain::bindings::imua::{ImuaAvsPrecompile, ImuaPrecompileFront};
        let _: serde_json::Value = admin
            .raw(
                "anvil_setCode",
                (IMUA_IMPL, ImuaAvsPrecompile::DEPLOYED_BYTECODE.clone()),
            )
            .await?;
        let _: serde_json::Value = admin
            .raw(
                "anvil_setCode",
                (PRECOMPILE, ImuaPrecompileFront::DEPLOYED_BYTECODE.clone()),
            )
            .await?;
        let call = P::initializeCall {
            admin_: admin.address(),
            chainId: chain_id_without_revision.to_owned(),
        };
        admin
            .send(
                "initialize the strict Imua emulation",
                call_tx(PRECOMPILE, &call),
            )
            .await
    }

    /// Is the emulation installed and initialized?
    pub async fn installed(r: &Reader) -> Result<bool, ChainError> {
        if r.code_at(PRECOMPILE).await?.is_empty() {
            return Ok(false);
        }
        let admin = registry_view(r, PRECOMPILE, P::adminCall {}).await?;
        Ok(admin != Address::ZERO)
    }

    /// The operator registers itself as an Imua operator (Exocore's operator module) at
    /// `registry`.
    pub async fn register_operator(c: &Client, registry: Address) -> Result<TxOutcome, ChainError> {
        c.send_expecting_true(
            "registerOperator",
            call_tx(registry, &P::registerOperatorCall {}),
        )
        .await
    }

    pub async fn is_operator(
        r: &Reader,
        registry: Address,
        op: Address,
    ) -> Result<bool, ChainError> {
        registry_view(
            r,
            registry,
            P::isOperatorCall {
                operatorAddress: op,
            },
        )
        .await
    }

    /// Admin: the operator's stake for the AVS (Exocore's restaking, emulated).
    pub async fn set_stake(
        admin: &Client,
        registry: Address,
        avs: Address,
        op: Address,
        amount: u128,
    ) -> Result<TxOutcome, ChainError> {
        let call = P::setOperatorStakeCall {
            avsAddress: avs,
            operator: op,
            amount,
        };
        admin
            .send("setOperatorStake", call_tx(registry, &call))
            .await
    }

    /// The chain id string the registry at `registry` uses in the key-registration message.
    pub async fn chain_id_string(r: &Reader, registry: Address) -> Result<String, ChainError> {
        registry_view(r, registry, P::chainIdWithoutRevisionCall {}).await
    }
}

impl Avs {
    /// Two-phase flow: the operator's submission for a task as the precompile stores it:
    /// (phase, response bytes). Phase 0 = nothing submitted.
    pub async fn operator_response(
        &self,
        r: &Reader,
        op: Address,
        task_id: TaskId,
    ) -> Result<(u8, Bytes), ChainError> {
        let info = self
            .registry_view(
                r,
                P::getOperatorTaskResponseCall {
                    taskAddress: self.address,
                    operator: op,
                    taskID: task_id,
                },
            )
            .await;
        match info {
            Ok(info) => Ok((info.phase, info.taskResponse)),
            // Imua's query fails for an operator without a result (x/avs keeper's
            // GetTaskResultInfo), where exoavs's registry returns phase 0.
            Err(e) if self.profile == Profile::Imua && e.revert().is_some() => {
                Ok((0, Bytes::new()))
            }
            Err(e) => Err(e),
        }
    }

    /// `WrongSumProven` (the sum AVS's own event): (task, operator, wrong sum).
    pub fn decode_wrong_sum_proven(&self, log: &Log) -> Option<(TaskId, Address, u64)> {
        if log.address() != self.address {
            return None;
        }
        let ev = S::WrongSumProven::decode_log(&log.inner).ok()?;
        Some((ev.taskId, ev.operator, ev.wrongSum))
    }

    /// A proven fault of any AVS (`WrongResponseProven` or `EquivocationProven`): (task,
    /// operator). The base contract slashes these at settlement.
    pub fn decode_fault_proven(&self, log: &Log) -> Option<(TaskId, Address)> {
        if log.address() != self.address {
            return None;
        }
        if let Ok(ev) = B::WrongResponseProven::decode_log(&log.inner) {
            return Some((ev.taskId, ev.operator));
        }
        let ev = B::EquivocationProven::decode_log(&log.inner).ok()?;
        Some((ev.taskId, ev.operator))
    }
}
