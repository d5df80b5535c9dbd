//! (c) Preference heterogeneity: every model on every held-out user, and the share of users
//! against their group's model beside the binomial expectation (see [`super`]).

use std::collections::{BTreeMap, HashMap};

use prefscope_data::{Group, Pair, Split};
use serde::Serialize;

use super::Cells;
use crate::runs::RunGroup;
use crate::study_input::{RunFolder, StudyRuns};

/// One split × seed × group's heterogeneity.
#[derive(Debug, Clone, Serialize)]
pub struct HeteroRow {
    pub split: String,
    pub treatment: String,
    pub seed: u64,
    pub group: &'static str,
    pub run_id: String,
    pub n_users: usize,
    pub model_acc: f64,
    pub share_against: f64,
    pub expected_share: f64,
    pub expected_sd: f64,
    /// Variance of the users' accuracies around the model's, over the variance binomial
    /// draws would give (`mean (a_u − p)²` / `mean p (1 − p) / n_u`): about 1 when users agree,
    /// well above 1 when some point the other way.
    pub dispersion: f64,
}

/// One trained model on one held-out user.
#[derive(Debug, Clone, Serialize)]
pub struct UserAccuracy {
    pub run_id: String,
    pub split: String,
    pub treatment: String,
    pub seed: u64,
    pub model_group: &'static str,
    pub user_id: String,
    /// The user's group in the run's split (empty for baseline runs).
    pub user_group: &'static str,
    pub n_pairs: usize,
    pub correct: usize,
}

/// The Binomial(n, p) probabilities of 0..=n (computed in log space: stable for the n of
/// one user).
pub fn binomial_pmf(n: usize, p: f64) -> Vec<f64> {
    let p = p.clamp(0.0, 1.0);
    if p == 0.0 || p == 1.0 {
        let mut v = vec![0.0; n + 1];
        v[if p == 0.0 { 0 } else { n }] = 1.0;
        return v;
    }
    let mut ln_choose = 0.0f64;
    (0..=n)
        .map(|k| {
            if k > 0 {
                ln_choose += ((n - k + 1) as f64).ln() - (k as f64).ln();
            }
            (ln_choose + k as f64 * p.ln() + (n - k) as f64 * (1.0 - p).ln()).exp()
        })
        .collect()
}

/// `P(X < n/2) + P(X = n/2) / 2` for X ~ Binomial(n, p): the chance that a user who agrees
/// with a model of accuracy `p` still has more of their `n` pairs against it.
pub fn against_probability(n: usize, p: f64) -> f64 {
    if n == 0 {
        return 0.0;
    }
    let total: f64 = binomial_pmf(n, p)
        .iter()
        .enumerate()
        .map(|(k, q)| match (2 * k).cmp(&n) {
            std::cmp::Ordering::Less => *q,
            std::cmp::Ordering::Equal => q / 2.0,
            std::cmp::Ordering::Greater => 0.0,
        })
        .sum();
    total.clamp(0.0, 1.0)
}

pub(super) fn heterogeneity(
    input: &StudyRuns,
    cells: &Cells,
    splits: &HashMap<&str, &Split>,
    by_id: &HashMap<&str, &Pair>,
) -> (Vec<HeteroRow>, Vec<UserAccuracy>) {
    let per_user = |r: &RunFolder| {
        let mut m: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for o in &r.record.outcomes {
            if let Some(p) = by_id.get(o.pair_id.as_str()) {
                let e = m.entry(&p.user_id).or_default();
                e.0 += 1;
                e.1 += usize::from(o.correct);
            }
        }
        m
    };
    let mut rows = Vec::new();
    let mut users = Vec::new();
    for r in input
        .runs
        .iter()
        .filter(|r| r.record.group == RunGroup::All)
    {
        for (u, (n, c)) in per_user(r) {
            users.push(UserAccuracy {
                run_id: r.record.run_id.clone(),
                split: r.record.split.clone(),
                treatment: r.record.treatment.clone(),
                seed: r.record.seed,
                model_group: "all",
                user_id: u.to_string(),
                user_group: "",
                n_pairs: n,
                correct: c,
            });
        }
    }
    for cell in cells {
        let (treatment, split_name) = (cell.treatment, cell.split);
        let Some(split) = splits.get(split_name) else {
            continue;
        };
        for (seed, a, b) in &cell.seeds {
            for (g, run) in [(Group::A, *a), (Group::B, *b)] {
                let counts = per_user(run);
                for (u, (n, c)) in &counts {
                    users.push(UserAccuracy {
                        run_id: run.record.run_id.clone(),
                        split: split_name.to_string(),
                        treatment: treatment.to_string(),
                        seed: *seed,
                        model_group: g.as_str(),
                        user_id: u.to_string(),
                        user_group: split.group_of(u).map_or("", |x| x.as_str()),
                        n_pairs: *n,
                        correct: *c,
                    });
                }
                let own: Vec<(usize, usize)> = counts
                    .iter()
                    .filter(|(u, _)| split.group_of(u) == Some(g))
                    .map(|(_, v)| *v)
                    .collect();
                if own.is_empty() {
                    continue;
                }
                let (n_all, c_all) = own.iter().fold((0, 0), |(n, c), (un, uc)| (n + un, c + uc));
                let p = c_all as f64 / n_all as f64;
                let against: f64 = own
                    .iter()
                    .map(|&(n, c)| match (2 * c).cmp(&n) {
                        std::cmp::Ordering::Less => 1.0,
                        std::cmp::Ordering::Equal => 0.5,
                        std::cmp::Ordering::Greater => 0.0,
                    })
                    .sum();
                let q: Vec<f64> = own
                    .iter()
                    .map(|&(n, _)| against_probability(n, p))
                    .collect();
                let k = own.len() as f64;
                let observed_var = own
                    .iter()
                    .map(|&(n, c)| (c as f64 / n as f64 - p).powi(2))
                    .sum::<f64>()
                    / k;
                let binomial_var = own
                    .iter()
                    .map(|&(n, _)| p * (1.0 - p) / n as f64)
                    .sum::<f64>()
                    / k;
                rows.push(HeteroRow {
                    split: split_name.to_string(),
                    treatment: treatment.to_string(),
                    seed: *seed,
                    group: g.as_str(),
                    run_id: run.record.run_id.clone(),
                    n_users: own.len(),
                    model_acc: p,
                    share_against: against / k,
                    expected_share: q.iter().sum::<f64>() / k,
                    expected_sd: q.iter().map(|q| q * (1.0 - q)).sum::<f64>().sqrt() / k,
                    dispersion: if binomial_var > 0.0 {
                        observed_var / binomial_var
                    } else {
                        f64::NAN
                    },
                });
            }
        }
    }
    (rows, users)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn against_probability_by_hand() {
        // n = 1: against when the one pair is wrong.
        assert!((against_probability(1, 0.7) - 0.3).abs() < 1e-12);
        // n = 2: both wrong (0.09) plus half of one-each (0.42 / 2).
        assert!((against_probability(2, 0.7) - (0.09 + 0.21)).abs() < 1e-12);
        // n = 3, p = 0.5: symmetric, no ties: 1/2.
        assert!((against_probability(3, 0.5) - 0.5).abs() < 1e-12);
        // n = 4, p = 0.6: P(0) + P(1) + P(2)/2 = .0256 + .1536 + .3456/2.
        assert!((against_probability(4, 0.6) - (0.0256 + 0.1536 + 0.1728)).abs() < 1e-12);
        assert_eq!(against_probability(5, 1.0), 0.0);
        assert_eq!(against_probability(5, 0.0), 1.0);
        assert_eq!(against_probability(0, 0.6), 0.0);
    }
}
