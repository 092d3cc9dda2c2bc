//! The events table against the pushes made: each push must be recorded exactly once, and
//! nothing else but the baselines.

use std::collections::{BTreeSet, HashMap};

use crate::pushes::Push;

/// A push as the table and the watch's output name it: (repository, created_at).
pub type Key = (u64, String);

pub struct Events {
    pub lost: Vec<Push>,
    /// Rows beyond the first of a push.
    pub duplicated: usize,
    /// The pushes recorded more than once, with their rows.
    pub duplicates: Vec<(Key, usize)>,
    pub invented: Vec<Key>,
    pub baselines: usize,
    /// Pushes printed by a replica at least once, and more than once.
    pub printed: usize,
    pub printed_twice: usize,
}

impl Events {
    /// `table`: psql's rows of `repository_id|created_at|baseline`; `printed`: what the
    /// replicas printed.
    pub fn reconcile(table: &str, pushes: &[Push], printed: &[Key]) -> Result<Self, String> {
        let mut recorded: HashMap<Key, usize> = HashMap::new();
        let mut baselines = 0;
        for line in table.lines() {
            let columns: Vec<&str> = line.split('|').collect();
            let [id, created, baseline] = columns[..] else {
                return Err(format!("unexpected row {line:?}"));
            };
            if baseline == "t" {
                baselines += 1;
                continue;
            }
            let id = id.parse().map_err(|_| format!("unexpected row {line:?}"))?;
            *recorded.entry((id, created.to_owned())).or_default() += 1;
        }
        let pushed: BTreeSet<Key> = pushes
            .iter()
            .map(|p| (p.id, p.created_at.clone()))
            .collect();
        let lost = pushes
            .iter()
            .filter(|p| !recorded.contains_key(&(p.id, p.created_at.clone())))
            .cloned()
            .collect();
        let mut duplicates: Vec<(Key, usize)> = recorded
            .iter()
            .filter(|(_, count)| **count > 1)
            .map(|(key, count)| (key.clone(), *count))
            .collect();
        duplicates.sort();
        let mut invented: Vec<Key> = recorded
            .keys()
            .filter(|key| !pushed.contains(*key))
            .cloned()
            .collect();
        invented.sort();
        let mut times_printed: HashMap<&Key, usize> = HashMap::new();
        for key in printed {
            *times_printed.entry(key).or_default() += 1;
        }
        let printed_at_least = |n: usize| {
            pushed
                .iter()
                .filter(|key| times_printed.get(key).is_some_and(|t| *t >= n))
                .count()
        };
        Ok(Self {
            lost,
            duplicated: duplicates.iter().map(|(_, count)| count - 1).sum(),
            duplicates,
            invented,
            baselines,
            printed: printed_at_least(1),
            printed_twice: printed_at_least(2),
        })
    }

    /// Whether the table differs from the pushes.
    pub fn differ(&self) -> bool {
        !self.lost.is_empty() || self.duplicated > 0 || !self.invented.is_empty()
    }
}
