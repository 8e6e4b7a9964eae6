//! The aggregator's chain writes, in tasks of their own: `respondToTask` and `proveWrongSum`,
//! reporting each outcome back as [`Written`]. The loop that answers operators hands jobs over
//! and never waits for them.
//!
//! Jobs are pipelined: each is signed and sent as it arrives (one signer, so the client's nonce
//! lock hands out nonces in order and serialises the sends), and their receipts are awaited side
//! by side. Waiting for one receipt before sending the next made a task that reached its
//! threshold in its period's last epoch wait a block behind another task's receipt, and land
//! after the period (fuzz-3039-365 seed 23298667589390).

use crate::chain::avs::Avs;
use crate::chain::{ChainError, Client, TxOutcome};
use crate::protocol::aggregator::Submission;
use crate::protocol::{OperatorId, TaskId};
use tokio::sync::mpsc;

/// Jobs and outcomes travel boxed where one variant is much larger than the others (an
/// aggregate with its keys; a receipt), so the channels' slots stay small.
#[derive(Debug)]
pub enum Job {
    Submit(Box<Submission>),
    /// `proveWrongResponse`: `operator` signed `response`, which the AVS's rule proves wrong.
    ProveWrong {
        task_id: TaskId,
        operator: OperatorId,
        response: Vec<u8>,
        signature: Vec<u8>,
    },
}

#[derive(Debug)]
pub enum Written {
    /// The aggregate was mined and accepted.
    Submitted {
        task_id: TaskId,
        signers: usize,
        non_signers: usize,
        included: Vec<alloy::primitives::Address>,
        outcome: Box<TxOutcome>,
    },
    /// The chain already holds an accepted aggregate for the task (an earlier attempt landed);
    /// its `TaskResponded` event closes the task.
    AlreadyAccepted { task_id: TaskId },
    /// It did not land. The machine decides whether to try again.
    SubmitFailed { task_id: TaskId, error: ChainError },
}

pub struct Writer {
    pub chain: Client,
    pub avs: Avs,
    pub jobs: mpsc::UnboundedReceiver<Job>,
    pub written: mpsc::UnboundedSender<Written>,
}

impl Writer {
    /// Until the aggregator loop drops its end: every job starts at once in a task of its own.
    /// Jobs stay bounded because the machine hands out at most one submission per open task.
    pub async fn run(mut self) {
        // Stopping the writer (the node is dropped) stops its senders too, so a node restarted
        // in the same process never races an old sender for a nonce.
        let mut senders = Senders(Vec::new());
        while let Some(job) = self.jobs.recv().await {
            if self.written.is_closed() {
                return;
            }
            let w = Sender {
                chain: self.chain.clone(),
                avs: self.avs,
                written: self.written.clone(),
            };
            senders.0.retain(|h| !h.is_finished());
            senders.0.push(tokio::spawn(w.run(job)));
        }
    }
}

struct Senders(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Senders {
    fn drop(&mut self) {
        for h in &self.0 {
            h.abort();
        }
    }
}

/// One job's sender.
struct Sender {
    chain: Client,
    avs: Avs,
    written: mpsc::UnboundedSender<Written>,
}

impl Sender {
    async fn run(self, job: Job) {
        match job {
            Job::Submit(sub) => {
                let w = self.submit(*sub).await;
                // A closed channel means the aggregator stopped; the outcome is on chain.
                let _ = self.written.send(w);
            }
            Job::ProveWrong {
                task_id,
                operator,
                response,
                signature,
            } => {
                match self
                    .avs
                    .prove_wrong_response(&self.chain, task_id, operator, &response, signature)
                    .await
                {
                    Ok(out) => {
                        tracing::info!(task = task_id, %operator, tx = %out.hash, "fraud proof accepted")
                    }
                    Err(e) => {
                        tracing::warn!(task = task_id, %operator, "proveWrongResponse failed: {e}")
                    }
                }
            }
        }
    }

    /// Send the aggregate. A resubmission (after a restart or a failed attempt) first asks the
    /// chain whether an earlier attempt already landed, so a task is accepted (and paid for)
    /// once.
    async fn submit(&self, sub: Submission) -> Written {
        let task_id = sub.task_id;
        if sub.resubmit {
            match self.avs.task(self.chain.reader(), task_id).await {
                Ok(t) if t.responded => return Written::AlreadyAccepted { task_id },
                Ok(_) => {}
                // Sending anyway is safe: the contract accepts a task once.
                Err(e) => tracing::warn!(
                    task = task_id,
                    "cannot read the task before resubmitting: {e}"
                ),
            }
        }
        let pubkeys: Vec<u8> = sub
            .non_signer_pubkeys
            .iter()
            .flat_map(|k| k.to_eip2537())
            .collect();
        let sig = sub.aggregate_signature.to_eip2537().to_vec();
        match self
            .avs
            .respond(
                &self.chain,
                task_id,
                &sub.response,
                sub.non_signers.clone(),
                pubkeys,
                sig,
            )
            .await
        {
            Ok(outcome) => Written::Submitted {
                task_id,
                signers: sub.signers.len(),
                non_signers: sub.non_signers.len(),
                included: sub.signers.clone(),
                outcome: Box::new(outcome),
            },
            Err(e) if e.revert_name() == Some("AlreadyResponded") => {
                Written::AlreadyAccepted { task_id }
            }
            Err(error) => Written::SubmitFailed { task_id, error },
        }
    }
}
