//! `prefscope data summary`: pair counts, ties, users and the score-gap distribution.

use std::collections::BTreeMap;

use prefscope_stats::quantile_sorted;
use serde::Serialize;

use crate::builder::PairSet;
use crate::pair::{KindFilter, PairKind};

/// Counts per pair kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PerKind {
    pub within: usize,
    pub cross: usize,
}

/// Score-gap distribution over the selected kind's pairs; every field is NaN (null in JSON)
/// when no pair of that kind was selected.
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
    // The quantiles of no data: NaN, as the mean, the one case `quantile_sorted` refuses here.
    let quantile = |q: f64| quantile_sorted(&gaps, q).unwrap_or(f64::NAN);
    let median = quantile(0.5);
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
            q25: quantile(0.25),
            q50: median,
            q75: quantile(0.75),
        },
        pairs_per_user,
        pairs_per_model,
    }
}
