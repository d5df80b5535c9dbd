//! Pair treatments: which of a group's training pairs a treatment trains on, as a `pairs` table
//! of a `[[treatment]]` (the notes' open questions 1-3):
//!
//! ```toml
//! [[treatment]]
//! name = "source-fixed"
//! pairs = { source_models = ["zephyr-7b-beta"] }   # both responses from the listed models
//! [[treatment]]
//! name = "equal"
//! pairs = { equal_groups = true }                   # both groups: the same users and pairs
//! [[treatment]]
//! name = "on-support"
//! pairs = { ref_logp_quantile = 0.25 }              # drop the group's least likely quarter
//! ```
//!
//! - `source_models`: only pairs whose chosen and rejected responses were both written by
//!   listed models (PRISM's later turns are within-model pairs: a source-fixed design).
//! - `equal_groups`: the two groups of a split train on the same number of users and pairs.
//!   With `U` the smaller group's users, each group keeps `U` users (the larger group's drawn
//!   at random by whole users, seeded by the hold-out seed and the split's name), then both
//!   keep `N` pairs, `N` the fewer pairs the two kept user sets have, drawn at random within
//!   each group (same seed; so the pair draw can leave a group a user fewer). Baseline runs
//!   keep every user.
//! - `min_ref_logp_per_token = X` / `ref_logp_quantile = q`: drop training pairs whose reference
//!   per-token log-prob of either response is below `X`, or below the `q`-quantile of the run's
//!   own training pairs (the group's). These need the reference model, so the worker applies
//!   them (train's `filter_min_ref_mean_logp` / `filter_ref_logp_quantile`, scored once through
//!   the study's reference cache); they enter the run's identity through its training config.
//! - `min_train_pairs` (default 10 batches): a group left with fewer training pairs is an error
//!   naming the split, group, treatment and count, before anything runs.
//!
//! A run records its treatment's selection (`source_models`, `equal_groups`) in its
//! [`crate::RunSpec`] only when it has one, so runs without pair treatments keep their ids.

use std::collections::{BTreeMap, HashSet};

use prefscope_data::Pair;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

/// A treatment's `pairs` table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairTreatment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_models: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub equal_groups: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_ref_logp_per_token: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ref_logp_quantile: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_train_pairs: Option<usize>,
}

/// The part of a pair treatment that selects pairs at plan time, as a run records it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairSelection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_models: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub equal_groups: bool,
}

impl PairSelection {
    /// True when the selection keeps every pair (a run then records nothing).
    pub fn is_none(&self) -> bool {
        self.source_models.is_none() && !self.equal_groups
    }
}

impl PairTreatment {
    /// Checks the values; `Err` says what is wrong (the caller names the treatment).
    pub fn check(&self) -> Result<(), String> {
        if let Some(models) = &self.source_models {
            if models.is_empty() {
                return Err("pairs.source_models: expected at least one model".into());
            }
        }
        if let Some(q) = self.ref_logp_quantile {
            if !(q > 0.0 && q < 1.0) {
                return Err(format!(
                    "pairs.ref_logp_quantile: expected in (0, 1), found {q}"
                ));
            }
        }
        if self.min_ref_logp_per_token.is_some() && self.ref_logp_quantile.is_some() {
            return Err(
                "pairs: min_ref_logp_per_token and ref_logp_quantile are two filters; use one"
                    .into(),
            );
        }
        if self.min_train_pairs == Some(0) {
            return Err("pairs.min_train_pairs: expected at least 1".into());
        }
        Ok(())
    }

    /// The plan-time selection.
    pub fn selection(&self) -> PairSelection {
        PairSelection {
            source_models: self.source_models.clone(),
            equal_groups: self.equal_groups,
        }
    }

    /// The fewest training pairs a group may keep: `min_train_pairs`, else 10 batches.
    pub fn min_train_pairs(&self, batch_size: usize) -> usize {
        self.min_train_pairs.unwrap_or(10 * batch_size)
    }
}

/// Keeps the pairs (indices into `pairs`) whose two responses both come from `models`.
pub fn from_sources(pairs: &[Pair], idx: &[usize], models: &[String]) -> Vec<usize> {
    let keep: HashSet<&str> = models.iter().map(String::as_str).collect();
    idx.iter()
        .copied()
        .filter(|&i| {
            keep.contains(pairs[i].chosen_model.as_str())
                && keep.contains(pairs[i].rejected_model.as_str())
        })
        .collect()
}

/// Equal groups (module docs): the two groups' training pairs cut to the same users and pairs,
/// each list kept in its original order. `seed` seeds the draws.
pub fn equalize(pairs: &[Pair], a: &[usize], b: &[usize], seed: u64) -> [Vec<usize>; 2] {
    let by_user = |idx: &[usize]| {
        let mut m: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for &i in idx {
            m.entry(pairs[i].user_id.as_str()).or_default().push(i);
        }
        m
    };
    let groups = [by_user(a), by_user(b)];
    let users = groups[0].len().min(groups[1].len());
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let kept: Vec<Vec<usize>> = groups
        .iter()
        .map(|g| {
            let mut names: Vec<&&str> = g.keys().collect();
            names.shuffle(&mut rng);
            names
                .into_iter()
                .take(users)
                .flat_map(|u| g[*u].iter().copied())
                .collect()
        })
        .collect();
    let n = kept[0].len().min(kept[1].len());
    let mut out = [Vec::new(), Vec::new()];
    for (g, mut k) in kept.into_iter().enumerate() {
        k.shuffle(&mut rng);
        k.truncate(n);
        k.sort_unstable();
        out[g] = k;
    }
    out
}

/// The seed of a split's equal-groups draws: the hold-out seed mixed with the split's name
/// (FNV-1a), so each split draws its own users and a study draws the same ones every time.
pub fn equal_groups_seed(holdout_seed: u64, split: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325 ^ holdout_seed;
    for b in split.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// What a treatment's plan-time selection kept of one group's training pairs, beside the
/// plain selection (every pair of the group's non-held-out users).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SelectionCount {
    pub treatment: String,
    pub split: String,
    pub group: String,
    pub pairs_kept: usize,
    pub pairs_lost: usize,
    pub users_kept: usize,
    pub users_lost: usize,
    /// Lost pairs by source model, most first (a pair counts for each distinct model in it).
    pub lost_by_model: Vec<(String, usize)>,
}

/// [`SelectionCount`]s of `kept` against `plain` (indices into `pairs`).
pub fn selection_count(
    pairs: &[Pair],
    plain: &[usize],
    kept: &[usize],
    labels: (&str, &str, &str),
) -> SelectionCount {
    let keep: HashSet<usize> = kept.iter().copied().collect();
    let users = |idx: &mut dyn Iterator<Item = usize>| {
        idx.map(|i| pairs[i].user_id.as_str())
            .collect::<HashSet<_>>()
            .len()
    };
    let all_users = users(&mut plain.iter().copied());
    let users_kept = users(&mut kept.iter().copied());
    let mut by_model: BTreeMap<&str, usize> = BTreeMap::new();
    for &i in plain.iter().filter(|i| !keep.contains(i)) {
        let p = &pairs[i];
        *by_model.entry(p.chosen_model.as_str()).or_default() += 1;
        if p.rejected_model != p.chosen_model {
            *by_model.entry(p.rejected_model.as_str()).or_default() += 1;
        }
    }
    let mut lost_by_model: Vec<(String, usize)> = by_model
        .into_iter()
        .map(|(m, n)| (m.to_string(), n))
        .collect();
    lost_by_model.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    SelectionCount {
        treatment: labels.0.into(),
        split: labels.1.into(),
        group: labels.2.into(),
        pairs_kept: kept.len(),
        pairs_lost: plain.len() - kept.len(),
        users_kept,
        users_lost: all_users - users_kept,
        lost_by_model,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn pair(id: usize, user: &str, chosen: &str, rejected: &str) -> Pair {
        Pair {
            pair_id: format!("p{id}"),
            user_id: user.into(),
            conversation_id: format!("c-{user}"),
            turn: 1,
            kind: prefscope_data::PairKind::Within,
            chosen_model: chosen.into(),
            rejected_model: rejected.into(),
            chosen_score: 80.0,
            rejected_score: 60.0,
            score_gap: 20.0,
            prompt: Arc::from(Vec::new()),
            chosen: "a".into(),
            rejected: "b".into(),
            conversation_type: "unguided".into(),
        }
    }

    #[test]
    fn sources_keep_pairs_written_by_listed_models_only() {
        let pairs = vec![
            pair(0, "u", "m1", "m1"),
            pair(1, "u", "m1", "m2"),
            pair(2, "u", "m2", "m2"),
            pair(3, "u", "m3", "m1"),
        ];
        let all: Vec<usize> = (0..4).collect();
        assert_eq!(from_sources(&pairs, &all, &["m1".into()]), [0]);
        assert_eq!(
            from_sources(&pairs, &all, &["m1".into(), "m2".into()]),
            [0, 1, 2]
        );
    }

    #[test]
    fn equal_groups_have_the_same_users_and_pairs_and_are_seeded() {
        // A: 6 users with 3 pairs each; B: 3 users with 1, 4 and 5 pairs (10)
        let mut pairs = Vec::new();
        for u in 0..6 {
            for _ in 0..3 {
                pairs.push(pair(pairs.len(), &format!("a{u}"), "m", "m"));
            }
        }
        for (u, k) in [1, 4, 5].into_iter().enumerate() {
            for _ in 0..k {
                pairs.push(pair(pairs.len(), &format!("b{u}"), "m", "m"));
            }
        }
        let a: Vec<usize> = (0..18).collect();
        let b: Vec<usize> = (18..28).collect();
        let [ka, kb] = equalize(&pairs, &a, &b, 7);
        let users = |k: &[usize]| {
            k.iter()
                .map(|&i| pairs[i].user_id.clone())
                .collect::<HashSet<_>>()
                .len()
        };
        // 3 users each; A's 3 users have 9 pairs, B's 10: both keep 9
        assert_eq!((ka.len(), kb.len()), (9, 9));
        assert_eq!(users(&ka), 3);
        assert!(users(&kb) <= 3);
        assert!(ka.windows(2).all(|w| w[0] < w[1]) && ka.iter().all(|i| a.contains(i)));
        assert_eq!(equalize(&pairs, &a, &b, 7), [ka.clone(), kb]);
        assert_ne!(
            equalize(&pairs, &a, &b, 8)[0],
            ka,
            "another seed, other users"
        );
    }
}
