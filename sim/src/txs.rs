//! Transactions from simulated nodes, the one way that stays deterministic: fill, then
//! `send_raw_transaction`, then poll the receipt on virtual time. `send_transaction`,
//! `get_receipt` and watchers start real tokio tasks and break the simulation.

use alloy::eips::eip2718::Encodable2718;
use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::primitives::{B256, TxHash, keccak256};
use alloy::providers::fillers::{FillProvider, TxFiller};
use alloy::providers::{Provider, ProviderBuilder, RootProvider};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use std::net::SocketAddr;
use std::time::Duration;

use crate::gateway::GatewayTransport;

#[derive(Debug, thiserror::Error)]
pub enum TxError {
    #[error("rpc: {0}")]
    Rpc(#[from] alloy::transports::TransportError),
    #[error("filling the transaction left it unsigned")]
    Unsigned,
    #[error("no receipt for {0} after {1:?}")]
    NoReceipt(TxHash, Duration),
}

/// A deterministic secp256k1 key for actor `index` of a run with `seed`.
pub fn derived_key(seed: u64, role: &str, index: u64) -> PrivateKeySigner {
    let mut material = Vec::new();
    material.extend_from_slice(b"exoavs-sim key");
    material.extend_from_slice(&seed.to_be_bytes());
    material.extend_from_slice(role.as_bytes());
    material.extend_from_slice(&index.to_be_bytes());
    let mut h: B256 = keccak256(&material);
    // A hash is a valid secp256k1 scalar except with negligible probability; rehash if not.
    loop {
        if let Ok(k) = PrivateKeySigner::from_bytes(&h) {
            return k;
        }
        h = keccak256(h);
    }
}

/// A wallet-filling provider over the gateway transport.
pub fn provider(
    gateway: SocketAddr,
    key: PrivateKeySigner,
    timeout: Duration,
) -> FillProvider<impl TxFiller, RootProvider> {
    ProviderBuilder::new()
        .wallet(EthereumWallet::from(key))
        .connect_client(GatewayTransport::client(gateway, timeout))
}

pub async fn send<F: TxFiller, P: Provider>(
    provider: &FillProvider<F, P>,
    tx: TransactionRequest,
) -> Result<TxHash, TxError> {
    let filled = provider.fill(tx).await?;
    let envelope = filled.try_into_envelope().map_err(|_| TxError::Unsigned)?;
    let pending = provider
        .send_raw_transaction(&envelope.encoded_2718())
        .await?;
    Ok(*pending.tx_hash())
}

pub async fn wait_receipt(
    provider: &impl Provider,
    hash: TxHash,
    poll: Duration,
    limit: Duration,
) -> Result<TransactionReceipt, TxError> {
    let start = tokio::time::Instant::now();
    loop {
        if let Ok(Some(r)) = provider.get_transaction_receipt(hash).await {
            return Ok(r);
        }
        if start.elapsed() >= limit {
            return Err(TxError::NoReceipt(hash, limit));
        }
        tokio::time::sleep(poll).await;
    }
}

/// Deploy raw creation code; returns the contract address.
pub async fn deploy<F: TxFiller, P: Provider>(
    provider: &FillProvider<F, P>,
    code: alloy::primitives::Bytes,
    poll: Duration,
) -> Result<alloy::primitives::Address, TxError> {
    let tx = TransactionRequest::default().with_deploy_code(code);
    let hash = send(provider, tx).await?;
    let r = wait_receipt(provider, hash, poll, Duration::from_secs(120)).await?;
    r.contract_address
        .ok_or(TxError::NoReceipt(hash, Duration::ZERO))
}
