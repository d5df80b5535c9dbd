//! The statistics of one seed of a cell, from its per-stratum sums ([`crate::cells`]): the
//! 2 × 2 accuracies and diff, diff_common, specificity and adjusted_diff (their meaning:
//! [`crate::effects`]). The effects and the treatment contrasts read seeds through these.

use crate::cells::{credit_at, pairs_at, Model, Q};

/// The accuracies of one seed, from its two strata's sums (`s[stratum * Q + quantity]`,
/// stratum 0 = group A's held-out users, 1 = group B's).
pub(crate) struct SeedAccuracies {
    pub(crate) a_on_a: f64,
    pub(crate) b_on_b: f64,
    pub(crate) a_on_b: f64,
    pub(crate) b_on_a: f64,
    /// Each model on all held-out pairs of the split (both groups' users).
    pub(crate) a_common: f64,
    pub(crate) b_common: f64,
    /// The baseline on each group's users (NaN without one).
    pub(crate) all_on_a: f64,
    pub(crate) all_on_b: f64,
}

pub(crate) fn accuracies(s: &[f64]) -> SeedAccuracies {
    let acc =
        |stratum: usize, m: Model| s[stratum * Q + credit_at(m)] / s[stratum * Q + pairs_at(m)];
    let common =
        |m: Model| (s[credit_at(m)] + s[Q + credit_at(m)]) / (s[pairs_at(m)] + s[Q + pairs_at(m)]);
    SeedAccuracies {
        a_on_a: acc(0, Model::A),
        b_on_b: acc(1, Model::B),
        a_on_b: acc(1, Model::A),
        b_on_a: acc(0, Model::B),
        a_common: common(Model::A),
        b_common: common(Model::B),
        all_on_a: acc(0, Model::Baseline),
        all_on_b: acc(1, Model::Baseline),
    }
}

/// The statistics of a cell, in the order [`seed_stats`] writes them (and
/// `seed_level_inference` returns their inferences).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stat {
    Diff = 0,
    DiffCommon = 1,
    Specificity = 2,
    /// Only with a baseline for every seed.
    AdjustedDiff = 3,
}

impl Stat {
    pub(crate) const fn at(self) -> usize {
        self as usize
    }
}

/// diff, diff_common, specificity, and (when `out` has room) adjusted_diff, at their
/// [`Stat`] places.
pub(crate) fn seed_stats(s: &[f64], out: &mut [f64]) {
    let a = accuracies(s);
    out[Stat::Diff.at()] = a.a_on_a - a.b_on_b;
    out[Stat::DiffCommon.at()] = a.a_common - a.b_common;
    out[Stat::Specificity.at()] = (a.a_on_a - a.a_on_b) - (a.b_on_a - a.b_on_b);
    if out.len() > Stat::AdjustedDiff.at() {
        out[Stat::AdjustedDiff.at()] = (a.a_on_a - a.all_on_a) - (a.b_on_b - a.all_on_b);
    }
}
