//! `prefscope data summary`: pair counts, ties, users and the score-gap distribution.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::builder::PairSet;
use crate::pair::{KindFilter, PairKind};

/// Counts per pair kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PerKind {
    pub within: usize,
    pub cross: usize,
}

/// Score-gap distribution over the selected kind's pairs.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GapStats {
    pub mean: f64,
    pub median: f64,
    pub q25: f64,
    pub q50: f64,
    pub q75: f64,
}

/// The summary's JSON object, key for key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub pairs: PerKind,
    pub ties_dropped: PerKind,
    pub users_with_pairs: usize,
    pub gap: GapStats,
    pub pairs_per_user: BTreeMap<String, usize>,
    /// Pairs in which a model wrote the chosen or the rejected response, each pair counted once
    /// per model (a within-model pair counts once for its one model).
    pub pairs_per_model: BTreeMap<String, usize>,
}

/// Summarises a pair set built with `KindFilter::All` and no gap filter; `kind` selects the
/// pairs that the user, gap and model statistics describe.
pub fn summarize(all: &PairSet, kind: KindFilter) -> Summary {
    let count = |k: PairKind| all.pairs.iter().filter(|p| p.kind == k).count();
    let selected: Vec<_> = all.pairs.iter().filter(|p| kind.keeps(p.kind)).collect();
    let mut pairs_per_user = BTreeMap::new();
    let mut pairs_per_model = BTreeMap::new();
    for p in &selected {
        *pairs_per_user.entry(p.user_id.clone()).or_insert(0) += 1;
        *pairs_per_model.entry(p.chosen_model.clone()).or_insert(0) += 1;
        if p.rejected_model != p.chosen_model {
            *pairs_per_model.entry(p.rejected_model.clone()).or_insert(0) += 1;
        }
    }
    let mut gaps: Vec<f64> = selected.iter().map(|p| p.score_gap).collect();
    gaps.sort_by(f64::total_cmp);
    let mean = if gaps.is_empty() {
        f64::NAN
    } else {
        gaps.iter().sum::<f64>() / gaps.len() as f64
    };
    let median = quantile_sorted(&gaps, 0.5);
    Summary {
        pairs: PerKind {
            within: count(PairKind::Within),
            cross: count(PairKind::Cross),
        },
        ties_dropped: PerKind {
            within: all.ties_within,
            cross: all.ties_cross,
        },
        users_with_pairs: pairs_per_user.len(),
        gap: GapStats {
            mean,
            median,
            q25: quantile_sorted(&gaps, 0.25),
            q50: median,
            q75: quantile_sorted(&gaps, 0.75),
        },
        pairs_per_user,
        pairs_per_model,
    }
}

/// The q-quantile of sorted data with linear interpolation between order statistics (numpy's
/// default `method="linear"`): position h = (n - 1) q. NaN for empty data.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        n => {
            let h = (n - 1) as f64 * q;
            let (lo, frac) = (h.floor() as usize, h - h.floor());
            let hi = (lo + 1).min(n - 1);
            sorted[lo] + frac * (sorted[hi] - sorted[lo])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::quantile_sorted;

    #[test]
    fn quantiles_match_numpy_linear() {
        // numpy.percentile([1, 2, 4, 8], [25, 50, 75]) == [1.75, 3.0, 5.0]
        let x = [1.0, 2.0, 4.0, 8.0];
        assert_eq!(quantile_sorted(&x, 0.25), 1.75);
        assert_eq!(quantile_sorted(&x, 0.5), 3.0);
        assert_eq!(quantile_sorted(&x, 0.75), 5.0);
        assert_eq!(quantile_sorted(&[7.0], 0.3), 7.0);
        assert!(quantile_sorted(&[], 0.5).is_nan());
    }
}
