//! Splitting repositories among replicas without coordination: shard K of N holds the ids
//! whose stable hash falls in K. The hash is jump consistent hashing (Lamping and Veach,
//! 2014) of a SplitMix64 mix of the id: the same on every machine and in every version, and
//! going from N to N+1 shards moves only about 1/(N+1) of the ids, all into the new shard.

use std::{fmt, str::FromStr};

use crate::{Error, RepositoryId};

/// One of `count` shards, numbered from 0 (a Kubernetes StatefulSet's ordinal).
///
/// ```
/// use codearts_repo::{RepositoryId, watch::Shard};
/// let shards: Vec<Shard> = (0..3).map(|k| Shard::new(k, 3).unwrap()).collect();
/// let id = RepositoryId::new(2112036131).unwrap();
/// assert_eq!(shards.iter().filter(|s| s.contains(id)).count(), 1);
/// assert!("3/3".parse::<Shard>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shard {
    index: u32,
    count: u32,
}

impl Shard {
    /// Shard `index` of `count`: `index` from 0 to `count - 1`.
    pub fn new(index: u32, count: u32) -> Result<Self, Error> {
        if count == 0 || index >= count {
            return Err(Error::invalid(
                "shard",
                format!("must be K/N with N at least 1 and K from 0 to N-1, not {index}/{count}"),
            ));
        }
        Ok(Self { index, count })
    }

    /// This shard's number.
    pub fn index(self) -> u32 {
        self.index
    }

    /// How many shards there are.
    pub fn count(self) -> u32 {
        self.count
    }

    /// Whether `id` belongs to this shard.
    pub fn contains(self, id: RepositoryId) -> bool {
        Self::of(id, self.count) == self.index
    }

    /// The shard of `id` among `count` (at least 1).
    pub fn of(id: RepositoryId, count: u32) -> u32 {
        jump_consistent_hash(split_mix64(u64::from(id.get())), count.max(1))
    }
}

impl FromStr for Shard {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let malformed = || Error::invalid("shard", format!("must be K/N, like 0/3, not `{s}`"));
        let (index, count) = s.trim().split_once('/').ok_or_else(malformed)?;
        let index = index.trim().parse().map_err(|_| malformed())?;
        let count = count.trim().parse().map_err(|_| malformed())?;
        Self::new(index, count)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Spreads consecutive ids over the whole 64-bit range before bucketing.
fn split_mix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// "A Fast, Minimal Memory, Consistent Hash Algorithm", figure 1.
fn jump_consistent_hash(mut key: u64, buckets: u32) -> u32 {
    let (mut b, mut j) = (-1i64, 0i64);
    while j < i64::from(buckets) {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> impl Iterator<Item = RepositoryId> {
        (1..=30_000).map(|n| RepositoryId::new(n).unwrap())
    }

    #[test]
    fn every_id_falls_in_exactly_one_shard_and_shards_are_even() {
        let mut sizes = [0u32; 4];
        for id in ids() {
            let owners: Vec<u32> = (0..4)
                .filter(|&k| Shard::new(k, 4).unwrap().contains(id))
                .collect();
            assert_eq!(owners.len(), 1, "{id} is in shards {owners:?}");
            sizes[owners[0] as usize] += 1;
        }
        for size in sizes {
            assert!((7_000..8_000).contains(&size), "uneven shards: {sizes:?}");
        }
    }

    #[test]
    fn one_more_shard_moves_only_ids_into_the_new_shard() {
        let mut moved = 0;
        for id in ids() {
            let (before, after) = (Shard::of(id, 3), Shard::of(id, 4));
            if before != after {
                assert_eq!(after, 3, "{id} moved from {before} to {after}");
                moved += 1;
            }
        }
        assert!((7_000..8_000).contains(&moved), "{moved} ids moved");
    }

    #[test]
    fn jump_hash_agrees_with_other_implementations() {
        // Vectors of Microsoft's TypeScript implementation and of a C one.
        assert_eq!(jump_consistent_hash(1, 1), 0);
        assert_eq!(jump_consistent_hash(100, 20), 4);
        assert_eq!(jump_consistent_hash(2_016_238_256_797_177_309, 11), 3);
        assert_eq!(jump_consistent_hash(1, 10), 6);
        assert_eq!(jump_consistent_hash(1, 100), 55);
        assert_eq!(jump_consistent_hash(0xdead_beef, 1000), 285);
    }

    #[test]
    fn the_hash_is_pinned_so_replicas_of_different_versions_agree() {
        // Computed by an independent Python transcription of SplitMix64 and jump hash.
        let shards: Vec<u32> = [1u32, 2, 3, 2112036131]
            .into_iter()
            .map(|n| Shard::of(RepositoryId::new(n).unwrap(), 10))
            .collect();
        assert_eq!(shards, [9, 0, 4, 0]);
    }

    #[test]
    fn malformed_shards_name_the_field_and_the_rule() {
        for text in ["", "1", "a/3", "3/3", "0/0", "-1/2", "1/2/3"] {
            let error = text.parse::<Shard>().unwrap_err().to_string();
            assert!(
                error.starts_with("invalid shard: must be K/N"),
                "{text}: {error}"
            );
        }
        assert_eq!(" 2 / 5 ".parse::<Shard>().unwrap().to_string(), "2/5");
    }
}
