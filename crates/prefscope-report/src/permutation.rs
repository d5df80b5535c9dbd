//! The permutation test of a split's specificity over held-out users: the trained models stay
//! fixed (no retraining), the held-out users' group labels are shuffled (group sizes kept),
//! and the mean over seeds of the specificity is recomputed on each shuffle.
//!
//! Under "the two models' accuracy difference on a user does not depend on the user's group"
//! the labels are exchangeable, so the p-value `(1 + #{|T*| ≥ |T|}) / (1 + B)` is exact for
//! any number of users, seeds or permutations (a Monte-Carlo test), with no normal tail to
//! trust. A pure strength effect (one model better everywhere) or a difficulty gap (one group's
//! pairs easier for both models) leave that difference alone, so neither is detected.
//! It tests the held-out users' side only: the seeds' training noise is held fixed, so it
//! answers "do these trained models prefer their own group", not "would new seeds".

use prefscope_stats::SeedClusterSums;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::cells::{credit_at, pairs_at, Model};

/// The quantities of the two group models (credit and pairs of A's, then B's): the first
/// `AB` of each cluster's.
const AB: usize = 4;

/// The mean over seeds of the specificity when the clusters in `in_a` form group A.
fn mean_specificity(
    data: &SeedClusterSums,
    totals: &[[f64; AB]],
    in_a: &[usize],
    n_clusters: usize,
) -> f64 {
    let nq = data.n_quantities;
    let mut mean = 0.0;
    for (s, total) in totals.iter().enumerate() {
        let mut a = [0.0; AB];
        for &c in in_a {
            let row = &data.sums[(s * n_clusters + c) * nq..][..AB];
            for q in 0..AB {
                a[q] += row[q];
            }
        }
        let b: [f64; AB] = std::array::from_fn(|q| total[q] - a[q]);
        let acc = |x: &[f64; AB], m: Model| x[credit_at(m)] / x[pairs_at(m)];
        let (aa, ab) = (acc(&a, Model::A), acc(&b, Model::A));
        let (ba, bb) = (acc(&a, Model::B), acc(&b, Model::B));
        mean += (aa - ab) - (ba - bb);
    }
    mean / totals.len() as f64
}

/// The two-sided permutation p-value of the mean specificity (module docs) with `n_perm`
/// shuffles drawn from a `ChaCha8Rng` seeded by `seed`. `data` has two strata (group A's
/// clusters, then group B's) and the cell quantities of [`crate::cells`].
pub(crate) fn specificity_permutation_p(data: &SeedClusterSums, n_perm: usize, seed: u64) -> f64 {
    let n_clusters = data.strata.last().map_or(0, |r| r.end);
    let n_a = data.strata[0].len();
    let nq = data.n_quantities;
    let totals: Vec<[f64; AB]> = (0..data.n_seeds)
        .map(|s| {
            let mut t = [0.0; AB];
            for c in 0..n_clusters {
                for (q, v) in t.iter_mut().enumerate() {
                    *v += data.sums[(s * n_clusters + c) * nq + q];
                }
            }
            t
        })
        .collect();
    let observed: Vec<usize> = (0..n_a).collect();
    let t_obs = mean_specificity(data, &totals, &observed, n_clusters).abs();
    // Ties within rounding count as extreme (a shuffle that reproduces the observed groups).
    let tol = 1e-12 * t_obs.max(1e-12);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..n_clusters).collect();
    let mut extreme = 0usize;
    for _ in 0..n_perm {
        // A uniformly random n_a-subset: the first n_a places of a partial Fisher–Yates.
        for i in 0..n_a {
            let j = rng.random_range(i..n_clusters);
            order.swap(i, j);
        }
        let t = mean_specificity(data, &totals, &order[..n_a], n_clusters);
        extreme += usize::from(t.abs() >= t_obs - tol);
    }
    (1 + extreme) as f64 / (1 + n_perm) as f64
}
