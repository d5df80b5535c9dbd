//! A split's source-model mix: how the two groups' pairs spread over the models that wrote
//! their responses, with a chi-square screen over pairs and a permutation test over users.
//! `prefscope splits` prints it; the report's source-model diagnostic builds on it.

use prefscope_stats::{
    chi_square_independence, cluster_permutation_chi_square, ChiSquareTest, PermutationTest,
};
use serde::Serialize;

use crate::splits::source_model_counts;
use crate::{Group, Pair, Split};

/// Label shuffles of the source-model permutation test: the p-value's Monte-Carlo standard
/// error is at most 0.005 at p = 0.05.
pub const USER_PERMUTATIONS: usize = 1999;
/// A split's source-model table and its tests (the shape `prefscope splits` writes).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceModels {
    pub models: Vec<String>,
    pub a: Vec<f64>,
    pub b: Vec<f64>,
    /// Pearson chi-square test of independence of group and source model (no continuity
    /// correction); null when fewer than two groups or models have pairs. Its p treats every
    /// pair as independent; a user's pairs are not (later turns follow the user's choice), so
    /// read it as a screen and `user_permutation` as the test.
    pub chi_square: Option<ChiSquareTest>,
    /// The same statistic with its p-value from shuffling group labels among users
    /// (`permutations` draws, seeded, both recorded); null when the chi-square is.
    pub user_permutation: Option<PermutationTest>,
}

/// The source-model mix of `split`'s groups over `pairs` (a pair counts for the model of its
/// chosen and, if different, its rejected response), tested over pairs and over users.
pub fn source_model_mix(
    split: &Split,
    pairs: &[Pair],
    permutations: usize,
    seed: u64,
) -> SourceModels {
    let sources = source_model_counts(split, pairs);
    let [a, b] = sources.table();
    let chi_square = chi_square_independence(&[a.clone(), b.clone()]);
    let (counts, in_a): (Vec<Vec<f64>>, Vec<bool>) = sources
        .users
        .into_iter()
        .map(|(g, c)| (c, g == Group::A))
        .unzip();
    // The permutation test fails only where the chi-square has nothing to test (None).
    let user_permutation = chi_square
        .as_ref()
        .and_then(|_| cluster_permutation_chi_square(&counts, &in_a, permutations, seed).ok());
    SourceModels {
        models: sources.models,
        a,
        b,
        chi_square,
        user_permutation,
    }
}
