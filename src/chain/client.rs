//! One signer's view of the chain: a `RootProvider` over any `RpcClient` (HTTP in production,
//! the simulator's gateway under madsim), a local nonce manager, and transactions sent by
//! build → sign → `send_raw_transaction` → receipt polling with `tokio::time::sleep`.
//!
//! Nothing here uses alloy's `send_transaction`, `get_receipt`, watchers or pollers: those
//! spawn a heartbeat on the real tokio runtime, which does not exist inside the simulation.

use super::error::ChainError;
use super::stats::{CursorProgress, RpcStats};
use alloy::consensus::Transaction as _;
use alloy::eips::eip2718::Encodable2718;
use alloy::network::{EthereumWallet, NetworkTransactionBuilder as _, TransactionBuilder};
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::{Provider, RootProvider};
use alloy::rpc::client::RpcClient;
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// Timing of requests and transactions. The defaults suit a local Anvil.
#[derive(Clone, Debug)]
pub struct TxConfig {
    /// Between two receipt polls.
    pub poll_interval: Duration,
    /// How long to wait for a receipt before the send counts as lost.
    pub receipt_timeout: Duration,
    /// While waiting for a receipt, send the signed transaction again this often. A node drops
    /// pooled transactions that stopped fitting (a reorg took back an earlier nonce of ours and
    /// re-added it after them: Anvil then discards the later one); re-sending the same bytes is
    /// harmless ("already known" / "nonce too low" once mined) and gets it mined.
    pub rebroadcast_interval: Duration,
    /// Longest wait for one JSON-RPC request. A node that stops answering must not hold up a
    /// driver (the aggregator answers operators from the same loop); a timed-out request is a
    /// transient error (`ChainError::RequestTimeout`, naming the method) and is retried.
    pub request_timeout: Duration,
    /// Attempts for one request when the transport fails.
    pub attempts: u32,
    /// First retry delay; doubles per attempt up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// Gas limit = estimate × (100 + margin) / 100.
    pub gas_margin_percent: u64,
}

impl Default for TxConfig {
    fn default() -> Self {
        TxConfig {
            poll_interval: Duration::from_millis(100),
            receipt_timeout: Duration::from_secs(60),
            rebroadcast_interval: Duration::from_secs(6),
            request_timeout: Duration::from_secs(10),
            attempts: 6,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(3),
            gas_margin_percent: 25,
        }
    }
}

/// What became of bytes sent with [`Client::broadcast`].
#[derive(Clone, Debug)]
pub enum Landing {
    /// Mined and succeeded.
    Mined(TxOutcome),
    /// Mined and reverted.
    Reverted(TxOutcome),
    /// Another transaction of this key was mined at its nonce: it can never land.
    Superseded { hash: B256, nonce: u64 },
}

/// What a mined transaction cost and where it landed.
#[derive(Clone, Debug)]
pub struct TxOutcome {
    pub hash: B256,
    pub block: u64,
    pub gas_used: u64,
    pub receipt: TransactionReceipt,
}

/// A read-only view of the chain (no signer): calls, logs, blocks.
#[derive(Clone, Debug)]
pub struct Reader {
    provider: RootProvider,
    chain_id: u64,
    cfg: TxConfig,
    /// Failed requests and retries (shared by clones).
    stats: RpcStats,
    /// Where the event cursors reading through this reader are (shared by clones).
    progress: CursorProgress,
}

impl Reader {
    /// Connect over `client` and learn the chain id.
    pub async fn new(client: RpcClient, cfg: TxConfig) -> Result<Reader, ChainError> {
        let provider = RootProvider::new(client);
        let mut r = Reader {
            provider,
            chain_id: 0,
            cfg,
            stats: RpcStats::default(),
            progress: CursorProgress::default(),
        };
        let p = r.provider.clone();
        r.chain_id = r
            .retry("eth_chainId", "chain id", || {
                let p = p.clone();
                async move { p.get_chain_id().await }
            })
            .await?;
        Ok(r)
    }

    /// HTTP JSON-RPC (production).
    pub async fn http(url: &str, cfg: TxConfig) -> Result<Reader, ChainError> {
        let url = url.parse().map_err(|e| ChainError::Unexpected {
            what: "rpc url".into(),
            detail: format!("{url}: {e}"),
        })?;
        Reader::new(RpcClient::new_http(url), cfg).await
    }

    pub fn provider(&self) -> &RootProvider {
        &self.provider
    }

    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    pub fn config(&self) -> &TxConfig {
        &self.cfg
    }

    /// Failed requests and retries made through this reader and its clones.
    pub fn stats(&self) -> &RpcStats {
        &self.stats
    }

    /// The positions of the event cursors that read through this reader and its clones.
    pub fn progress(&self) -> &CursorProgress {
        &self.progress
    }

    /// Run an RPC request, retrying transport failures with exponential backoff.
    pub async fn retry<T, F, Fut>(
        &self,
        method: &'static str,
        what: &str,
        mut f: F,
    ) -> Result<T, ChainError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = alloy::transports::TransportResult<T>>,
    {
        let mut delay = self.cfg.backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let answer = tokio::time::timeout(self.cfg.request_timeout, f()).await;
            match answer {
                Ok(Ok(v)) => return Ok(v),
                failed => {
                    let err = match failed {
                        Ok(Err(e)) => ChainError::from_rpc(method, what, e),
                        _ => ChainError::RequestTimeout {
                            method,
                            what: what.to_owned(),
                            millis: self.cfg.request_timeout.as_millis() as u64,
                        },
                    };
                    self.stats.error(method, &err);
                    if !err.is_transient() {
                        return Err(err);
                    }
                    if attempt >= self.cfg.attempts {
                        return Err(ChainError::RetriesExhausted {
                            what: what.to_owned(),
                            attempts: attempt,
                            last: Box::new(err),
                        });
                    }
                    tracing::debug!(%err, attempt, "retrying {what}");
                    self.stats.retry(method);
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(self.cfg.max_backoff);
                }
            }
        }
    }

    pub async fn block_number(&self) -> Result<u64, ChainError> {
        let p = self.provider.clone();
        self.retry("eth_blockNumber", "block number", || {
            let p = p.clone();
            async move { p.get_block_number().await }
        })
        .await
    }

    /// The hash and timestamp of block `n`, or None if the node has no such block.
    pub async fn block_hash(&self, n: u64) -> Result<Option<(B256, u64)>, ChainError> {
        let p = self.provider.clone();
        let b = self
            .retry("eth_getBlockByNumber", "block header", || {
                let p = p.clone();
                async move { p.get_block_by_number(n.into()).await }
            })
            .await?;
        Ok(b.map(|b| (b.header.hash, b.header.timestamp)))
    }

    pub async fn code_at(&self, a: Address) -> Result<Bytes, ChainError> {
        let p = self.provider.clone();
        self.retry("eth_getCode", "code", || {
            let p = p.clone();
            async move { p.get_code_at(a).await }
        })
        .await
    }

    /// `eth_call` with decoded revert on failure.
    pub async fn call(&self, what: &str, tx: TransactionRequest) -> Result<Bytes, ChainError> {
        let p = self.provider.clone();
        self.retry("eth_call", what, || {
            let p = p.clone();
            let tx = tx.clone();
            async move { p.call(tx).await }
        })
        .await
    }

    pub async fn receipt(&self, hash: B256) -> Result<Option<TransactionReceipt>, ChainError> {
        let p = self.provider.clone();
        self.retry("eth_getTransactionReceipt", "receipt", || {
            let p = p.clone();
            async move { p.get_transaction_receipt(hash).await }
        })
        .await
    }

    /// A raw JSON-RPC request (for anvil_* / evm_* methods in devnet and tests).
    pub async fn raw<P, R>(&self, method: &'static str, params: P) -> Result<R, ChainError>
    where
        P: alloy_json_rpc::RpcSend + Clone,
        R: alloy_json_rpc::RpcRecv,
    {
        let p = self.provider.clone();
        self.retry(method, method, || {
            let p = p.clone();
            let params = params.clone();
            async move { p.client().request(method, params).await }
        })
        .await
    }

    /// Poll for a receipt with the runtime's (possibly virtual) sleep. With `resend`, the signed
    /// transaction is sent again every `rebroadcast_interval` while no receipt is there.
    pub async fn wait_receipt(
        &self,
        what: &str,
        hash: B256,
        resend: Option<&[u8]>,
    ) -> Result<TxOutcome, ChainError> {
        let start = tokio::time::Instant::now();
        let mut last_sent = start;
        loop {
            if let Some(r) = self.receipt(hash).await? {
                return Ok(TxOutcome {
                    hash,
                    block: r.block_number.unwrap_or_default(),
                    gas_used: r.gas_used,
                    receipt: r,
                });
            }
            if start.elapsed() > self.cfg.receipt_timeout {
                return Err(ChainError::ReceiptTimeout {
                    what: what.to_owned(),
                    hash,
                    secs: self.cfg.receipt_timeout.as_secs(),
                });
            }
            if let Some(raw) = resend
                && last_sent.elapsed() >= self.cfg.rebroadcast_interval
            {
                last_sent = tokio::time::Instant::now();
                // Errors are expected here (already known, nonce too low once it is mined).
                match tokio::time::timeout(
                    self.cfg.request_timeout,
                    self.provider.send_raw_transaction(raw),
                )
                .await
                {
                    Err(_) => tracing::debug!(%hash, "re-sent {what}: no answer in time"),
                    Ok(Err(e)) => tracing::debug!(%hash, "re-sent {what}: {e}"),
                    Ok(Ok(_)) => {
                        tracing::info!(%hash, "no receipt yet for {what}: sent it again")
                    }
                }
            }
            tokio::time::sleep(self.cfg.poll_interval).await;
        }
    }
}

/// A signer's client: a [`Reader`] plus a wallet and a nonce manager. Clones share the
/// nonce manager, so one signer should use one `Client` (and its clones) only.
#[derive(Clone, Debug)]
pub struct Client {
    reader: Reader,
    wallet: EthereumWallet,
    from: Address,
    /// Next nonce to use; None = ask the node. The lock also serialises sends, so nonces
    /// are handed out in order.
    nonce: Arc<Mutex<Option<u64>>>,
}

impl std::ops::Deref for Client {
    type Target = Reader;
    fn deref(&self) -> &Reader {
        &self.reader
    }
}

impl Client {
    pub async fn new(
        client: RpcClient,
        signer: PrivateKeySigner,
        cfg: TxConfig,
    ) -> Result<Client, ChainError> {
        Ok(Client::from_reader(Reader::new(client, cfg).await?, signer))
    }

    pub async fn http(
        url: &str,
        signer: PrivateKeySigner,
        cfg: TxConfig,
    ) -> Result<Client, ChainError> {
        Ok(Client::from_reader(Reader::http(url, cfg).await?, signer))
    }

    /// Another signer over the same connection.
    pub fn from_reader(reader: Reader, signer: PrivateKeySigner) -> Client {
        let from = signer.address();
        Client {
            reader,
            wallet: EthereumWallet::from(signer),
            from,
            nonce: Arc::new(Mutex::new(None)),
        }
    }

    pub fn reader(&self) -> &Reader {
        &self.reader
    }

    pub fn address(&self) -> Address {
        self.from
    }

    pub async fn balance(&self) -> Result<U256, ChainError> {
        let p = self.provider().clone();
        let a = self.from;
        self.retry("eth_getBalance", "balance", || {
            let p = p.clone();
            async move { p.get_balance(a).await }
        })
        .await
    }

    /// `eth_call` from this signer (so `msg.sender`/`tx.origin` checks see it).
    pub async fn call_as(
        &self,
        what: &str,
        mut tx: TransactionRequest,
    ) -> Result<Bytes, ChainError> {
        tx.set_from(self.from);
        self.reader.call(what, tx).await
    }

    async fn pending_nonce(&self) -> Result<u64, ChainError> {
        let p = self.provider().clone();
        let a = self.from;
        self.retry("eth_getTransactionCount", "nonce", || {
            let p = p.clone();
            async move { p.get_transaction_count(a).pending().await }
        })
        .await
    }

    /// Send `tx` and wait for it to be mined. `what` names it in errors and logs.
    /// Reverts are caught at gas estimation (with the decoded custom error); a transaction
    /// that still fails on chain is reported as [`ChainError::TxFailed`].
    pub async fn send(&self, what: &str, tx: TransactionRequest) -> Result<TxOutcome, ChainError> {
        let (hash, raw) = self.submit_raw(what, tx.clone()).await?;
        let outcome = self.reader.wait_receipt(what, hash, Some(&raw)).await?;
        if !outcome.receipt.status() {
            let reason = self.replay_revert(&tx, outcome.block).await;
            return Err(ChainError::TxFailed {
                what: what.to_owned(),
                hash,
                block: Some(outcome.block),
                reason,
            });
        }
        Ok(outcome)
    }

    /// [`Client::send`] for a call whose ABI return value is a success flag (the avs
    /// precompile's transaction methods and the service contract's pass-throughs to them). It
    /// is simulated from this signer first, and a `false` fails with
    /// [`ChainError::ReturnedFalse`] naming `what` before anything is sent: on Imua a failed
    /// call returns `false` and drops its state change, so a mined status-1 receipt alone does
    /// not mean it worked. A `PrecompileFailed(call)` revert becomes the same error.
    pub async fn send_expecting_true(
        &self,
        what: &str,
        tx: TransactionRequest,
    ) -> Result<TxOutcome, ChainError> {
        let out = self
            .call_as(what, tx.clone())
            .await
            .map_err(ChainError::precompile_false)?;
        match <bool as alloy::sol_types::SolValue>::abi_decode(&out) {
            Ok(true) => {}
            Ok(false) => {
                return Err(ChainError::ReturnedFalse {
                    what: what.to_owned(),
                    call: what.split(' ').next().unwrap_or(what).to_owned(),
                });
            }
            Err(e) => {
                return Err(ChainError::Unexpected {
                    what: what.to_owned(),
                    detail: format!("the call's return value is not a bool: {e} ({out})"),
                });
            }
        }
        self.send(what, tx)
            .await
            .map_err(ChainError::precompile_false)
    }

    /// Sign and broadcast `tx`; returns its hash without waiting for it to be mined.
    pub async fn submit(&self, what: &str, tx: TransactionRequest) -> Result<B256, ChainError> {
        Ok(self.submit_raw(what, tx).await?.0)
    }

    /// Sign `tx` at this signer's next nonce without sending it (gas and fees are estimated
    /// first; a call that would revert fails here, with the decoded reason). The nonce is taken:
    /// the next transaction gets the one after. The bytes go out with [`Client::broadcast`], as
    /// often as needed: one nonce, so they land at most once.
    pub async fn sign(&self, what: &str, tx: TransactionRequest) -> Result<Bytes, ChainError> {
        let tx = self.prepare(what, tx).await?;
        let mut guard = self.nonce.lock().await;
        let nonce = match *guard {
            Some(n) => n,
            None => self.pending_nonce().await?,
        };
        let mut tx = tx;
        tx.set_nonce(nonce);
        let envelope = tx
            .build(&self.wallet)
            .await
            .map_err(|e| ChainError::Sign(e.to_string()))?;
        *guard = Some(nonce + 1);
        tracing::debug!(hash = %envelope.tx_hash(), nonce, "signed {what}");
        Ok(envelope.encoded_2718().into())
    }

    /// Send bytes from [`Client::sign`] and wait for their receipt (sending them again every
    /// `rebroadcast_interval`). `Err` means nothing is known yet (the node is unreachable, or no
    /// receipt came in `receipt_timeout`): sending the same bytes later is always safe.
    pub async fn broadcast(&self, what: &str, raw: &[u8]) -> Result<Landing, ChainError> {
        use alloy::eips::eip2718::Decodable2718 as _;
        let hash = alloy::primitives::keccak256(raw);
        let nonce = alloy::consensus::TxEnvelope::decode_2718(&mut &raw[..])
            .map_err(|e| ChainError::Sign(format!("{what}: not a signed transaction: {e}")))?
            .nonce();
        let sent = match tokio::time::timeout(
            self.config().request_timeout,
            self.provider().send_raw_transaction(raw),
        )
        .await
        {
            Ok(sent) => sent.map_err(|e| ChainError::from_rpc("eth_sendRawTransaction", what, e)),
            Err(_) => Err(ChainError::RequestTimeout {
                method: "eth_sendRawTransaction",
                what: what.to_owned(),
                millis: self.config().request_timeout.as_millis() as u64,
            }),
        };
        match sent {
            Ok(_) => {}
            // An earlier send reached the node (or was mined): the receipt tells which.
            Err(e) if e.is_already_known() || e.is_nonce_too_low() => {}
            Err(e) => {
                self.stats.error("eth_sendRawTransaction", &e);
                return Err(e);
            }
        }
        match self.reader.wait_receipt(what, hash, Some(raw)).await {
            Ok(out) if out.receipt.status() => Ok(Landing::Mined(out)),
            Ok(out) => Ok(Landing::Reverted(out)),
            Err(e @ ChainError::ReceiptTimeout { .. }) => {
                // Still no receipt. If the chain has moved past our nonce, another transaction
                // of this key took it: these bytes can never land.
                let p = self.provider().clone();
                let from = self.from;
                let mined: u64 = self
                    .retry("eth_getTransactionCount", "nonce", || {
                        let p = p.clone();
                        async move { p.get_transaction_count(from).latest().await }
                    })
                    .await?;
                if mined > nonce && self.reader.receipt(hash).await?.is_none() {
                    *self.nonce.lock().await = None;
                    Ok(Landing::Superseded { hash, nonce })
                } else {
                    Err(e)
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Fill in sender, chain id, gas and fees.
    async fn prepare(
        &self,
        what: &str,
        mut tx: TransactionRequest,
    ) -> Result<TransactionRequest, ChainError> {
        tx.set_from(self.from);
        tx.set_chain_id(self.chain_id());
        if tx.gas.is_none() {
            let p = self.provider().clone();
            let est = self
                .retry("eth_estimateGas", what, || {
                    let p = p.clone();
                    let tx = tx.clone();
                    async move { p.estimate_gas(tx).await }
                })
                .await?;
            tx.set_gas_limit(est.saturating_mul(100 + self.config().gas_margin_percent) / 100);
        }
        if tx.max_fee_per_gas.is_none() && tx.gas_price.is_none() {
            let p = self.provider().clone();
            let fees = self
                .retry("eth_feeHistory", "fees", || {
                    let p = p.clone();
                    async move { p.estimate_eip1559_fees().await }
                })
                .await?;
            tx.set_max_fee_per_gas(fees.max_fee_per_gas);
            tx.set_max_priority_fee_per_gas(fees.max_priority_fee_per_gas);
        }
        Ok(tx)
    }

    /// [`Client::submit`], also returning the signed bytes (to send again if the node drops them).
    async fn submit_raw(
        &self,
        what: &str,
        tx: TransactionRequest,
    ) -> Result<(B256, Vec<u8>), ChainError> {
        let mut tx = self.prepare(what, tx).await?;
        let mut guard = self.nonce.lock().await;
        let mut resynced = false;
        let mut attempt = 0u32;
        let mut delay = self.config().backoff;
        loop {
            attempt += 1;
            let nonce = match *guard {
                Some(n) => n,
                None => self.pending_nonce().await?,
            };
            tx.set_nonce(nonce);
            let envelope = tx
                .clone()
                .build(&self.wallet)
                .await
                .map_err(|e| ChainError::Sign(e.to_string()))?;
            let hash = *envelope.tx_hash();
            let raw = envelope.encoded_2718();
            // A timed-out send is retried with the same nonce, so the same bytes: a node that
            // did take the first one answers "already known".
            let sent = match tokio::time::timeout(
                self.config().request_timeout,
                self.provider().send_raw_transaction(&raw),
            )
            .await
            {
                Ok(sent) => {
                    sent.map_err(|e| ChainError::from_rpc("eth_sendRawTransaction", what, e))
                }
                Err(_) => Err(ChainError::RequestTimeout {
                    method: "eth_sendRawTransaction",
                    what: what.to_owned(),
                    millis: self.config().request_timeout.as_millis() as u64,
                }),
            };
            if let Err(e) = &sent {
                self.stats.error("eth_sendRawTransaction", e);
            }
            match sent {
                Ok(_) => {
                    *guard = Some(nonce + 1);
                    tracing::debug!(%hash, nonce, gas = envelope.gas_limit(), "sent {what}");
                    return Ok((hash, raw));
                }
                Err(e) if e.is_already_known() => {
                    // An earlier attempt reached the node; its reply was lost.
                    *guard = Some(nonce + 1);
                    return Ok((hash, raw));
                }
                Err(e) if e.is_nonce_too_low() => {
                    // Either an earlier attempt of ours was mined (lost reply), or another
                    // process used this key: check for ours, otherwise resync once.
                    match self.reader.receipt(hash).await {
                        Ok(Some(_)) => {
                            *guard = Some(nonce + 1);
                            return Ok((hash, raw));
                        }
                        Ok(None) => {}
                        Err(re) => {
                            // Ours may have been mined: signing the same call at a later nonce
                            // could do it twice (a duplicate task, seen in the simulator).
                            *guard = None;
                            return Err(re);
                        }
                    }
                    if resynced {
                        return Err(e);
                    }
                    resynced = true;
                    tracing::info!(nonce, "nonce too low for {what}; resyncing from the node");
                    *guard = Some(self.pending_nonce().await?);
                }
                Err(e) if e.is_transient() && attempt < self.config().attempts => {
                    tracing::debug!(%e, attempt, "retrying send of {what}");
                    self.stats.retry("eth_sendRawTransaction");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(self.config().max_backoff);
                }
                Err(e) => {
                    // We do not know whether the node kept it: ask again next time.
                    *guard = None;
                    return Err(e);
                }
            }
        }
    }

    /// Re-run a failed transaction as a call at its block to learn why it reverted.
    async fn replay_revert(&self, tx: &TransactionRequest, block: u64) -> super::error::Revert_ {
        let mut call = tx.clone();
        call.nonce = None;
        let p = self.provider().clone();
        let replay = tokio::time::timeout(
            self.config().request_timeout,
            p.call(call)
                .block(block.saturating_sub(1).into())
                .into_future(),
        )
        .await;
        let Ok(replay) = replay else {
            return super::error::Revert_::Message("replaying it timed out".into());
        };
        match replay {
            Err(e) => match ChainError::from_rpc("eth_call", "replay", e) {
                ChainError::Revert { reason, .. } => reason,
                other => super::error::Revert_::Message(other.to_string()),
            },
            Ok(_) => super::error::Revert_::Message(
                "reverted on chain, but a replay at the parent block succeeds".into(),
            ),
        }
    }

    /// Forget the cached nonce (e.g. after the chain was reverted under us).
    pub async fn reset_nonce(&self) {
        *self.nonce.lock().await = None;
    }
}
