//! An AVS as this crate runs it: its logic (the core's [`Avs`]) and its service contract. An AVS
//! developer implements [`AvsApp`] for their AVS and gets the whole `exoavs` command line for it
//! ([`crate::cli::main_with`]): `devnet`, `avs deploy`, and every production role. The sum AVS
//! ([`SumAvs`]) is the stock implementation, the one the `exoavs` binary runs.

use alloy::primitives::{Address, Bytes};

use crate::avs::{Avs, SumAvs};
use crate::chain::bindings::service::AvsServiceContract;

/// An AVS the node crate can deploy and run.
pub trait AvsApp: Avs + Clone {
    /// The name `registerAVS` records, and the one logs show.
    fn avs_name(&self) -> String;

    /// The service contract: its name (for logs and errors) and its creation code. It extends
    /// `contracts/src/AvsServiceBase.sol` (whose entry points and events the roles use) and its
    /// constructor takes `(address registry)`.
    fn service_contract(&self) -> (String, Bytes);

    /// One line for `--help`: what this AVS's operators do.
    fn about(&self) -> String {
        format!("{}: an AVS on Exocore/Imua, run by exoavs", self.avs_name())
    }

    /// What `--help` says at length (before the quick start); by default [`AvsApp::about`].
    fn long_about(&self) -> String {
        self.about()
    }

    /// A response that the AVS's rule proves wrong, made from an honest one: what `devnet
    /// --wrong-operators` signs to show rejection and the fraud proof. `None` (the default):
    /// the AVS has no slashing condition, and the flag is refused.
    fn wrong_response(&self, honest: &Self::Response) -> Option<Self::Response> {
        let _ = honest;
        None
    }

    /// How to read a task back with `cast`, printed by `devnet` (`avs` is the contract's
    /// address, `rpc` the node's URL). By default the base contract's `taskState`.
    fn read_back_hint(&self, avs: Address, rpc: &str) -> Vec<String> {
        vec![
            format!(
                "read a task back: cast call {avs} \"taskState(uint64)(bool,bool,bool,uint8,uint64,uint64,uint64)\" 1 --rpc-url {rpc}"
            ),
            "  (exists, responded, settled, threshold, startingEpoch, responsePeriod, statisticalPeriod)".into(),
        ]
    }
}

impl AvsApp for SumAvs {
    fn avs_name(&self) -> String {
        "exoavs-sum".into()
    }

    fn service_contract(&self) -> (String, Bytes) {
        (
            "AvsServiceContract".into(),
            AvsServiceContract::BYTECODE.clone(),
        )
    }

    fn about(&self) -> String {
        "Exocore/Imua AVS: operators BLS-sign the sum of two integers, an aggregator submits once the stake threshold is reached".into()
    }

    fn long_about(&self) -> String {
        "Exocore/Imua AVS: a task generator creates tasks on the AVS contract, operators compute \
         the sum of the task's two integers and BLS-sign it, an aggregator aggregates the \
         signatures and submits them once the signers hold the task's stake threshold; the \
         contract verifies the aggregate (EIP-2537). A challenger settles rewards and slashing."
            .into()
    }

    /// `a + b + 1`: the contract's `proveWrongSum` (and `proveWrongResponse`) proves it wrong.
    fn wrong_response(&self, honest: &u64) -> Option<u64> {
        Some(honest.wrapping_add(1))
    }

    fn read_back_hint(&self, avs: Address, rpc: &str) -> Vec<String> {
        vec![
            format!(
                "read a task while it runs: cast call {avs} \"tasks(uint64)(bool,bool,bool,uint8,uint64,uint64,uint64,uint64,uint64,bytes32)\" 1 --rpc-url {rpc}"
            ),
            "  (exists, responded, settled, threshold, a, b, startingEpoch, responsePeriod, statisticalPeriod, nonSignersHash)".into(),
        ]
    }
}
