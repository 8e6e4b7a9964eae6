//! Seed sweeps: which seeds a run covers, split into shards so a CI matrix (or nextest's
//! partitioning) spreads them over machines, and run over several worker threads, each with
//! its own Anvil, on one machine.

use std::str::FromStr;

/// `k/n`: this process runs the k-th of n slices (1-based) of every seed list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Default for Shard {
    fn default() -> Self {
        Shard { index: 1, count: 1 }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("shard `{0}`: expected k/n with 1 <= k <= n")]
pub struct ShardError(String);

impl FromStr for Shard {
    type Err = ShardError;
    fn from_str(s: &str) -> Result<Self, ShardError> {
        let err = || ShardError(s.to_string());
        let (k, n) = s.split_once('/').ok_or_else(err)?;
        let index: u64 = k.trim().parse().map_err(|_| err())?;
        let count: u64 = n.trim().parse().map_err(|_| err())?;
        if index == 0 || count == 0 || index > count {
            return Err(err());
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    /// Whether the `position`-th seed of a list belongs to this shard.
    pub fn owns(&self, position: u64) -> bool {
        position % self.count == self.index - 1
    }
}

/// The seeds of one scenario: its own list, then (with `extra`) more derived from its name,
/// so that `EXOAVS_SIM_SEEDS=1000` explores 1000 distinct worlds per scenario.
pub fn seeds_for(name: &str, listed: &[u64], total: u64) -> Vec<u64> {
    let mut v: Vec<u64> = listed.iter().copied().take(total as usize).collect();
    let mut base = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    while (v.len() as u64) < total {
        base = base
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let s = base >> 16;
        if !v.contains(&s) {
            v.push(s);
        }
    }
    v
}

/// How many seeds per scenario: `EXOAVS_SIM_SEEDS`, else the scenario's own list.
pub fn seed_count(listed: usize) -> u64 {
    std::env::var("EXOAVS_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(listed.max(1) as u64)
}

/// The shard from `EXOAVS_SIM_SHARD` (`k/n`), else the whole list.
pub fn shard_from_env() -> Result<Shard, ShardError> {
    match std::env::var("EXOAVS_SIM_SHARD") {
        Ok(s) => s.parse(),
        Err(_) => Ok(Shard::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_seeds() {
        let shards: Vec<Shard> = (1..=3).map(|k| format!("{k}/3").parse().unwrap()).collect();
        for pos in 0..30 {
            assert_eq!(shards.iter().filter(|s| s.owns(pos)).count(), 1);
        }
        assert!("0/3".parse::<Shard>().is_err());
        assert!("4/3".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
    }

    #[test]
    fn seed_lists_extend_deterministically() {
        let a = seeds_for("byzantine", &[1, 2], 50);
        assert_eq!(a.len(), 50);
        assert_eq!(&a[..2], &[1, 2]);
        assert_eq!(a, seeds_for("byzantine", &[1, 2], 50));
        assert_ne!(a[2..], seeds_for("reorg", &[1, 2], 50)[2..]);
        assert_eq!(seeds_for("x", &[1, 2, 3], 2), vec![1, 2]);
    }
}
