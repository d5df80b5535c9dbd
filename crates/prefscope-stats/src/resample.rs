//! Resampling by cluster (user): the cluster bootstrap with percentile and BCa intervals, and
//! the permutation test over group labels of users. Every draw comes from a `ChaCha8Rng`
//! seeded by the caller; the seed is recorded in the result.
//!
//! Quantiles interpolate linearly between order statistics (numpy's default): this crate's
//! [`quantile_sorted`] is the one implementation of prefscope, used by the data crate's medians
//! and summaries too (prefscope-data depends on prefscope-stats, which depends on no prefscope
//! crate, so the graph stays acyclic). BCa follows
//! Efron & Tibshirani (1993) §14.3 as `scipy.stats.bootstrap(method='BCa')` does, with the
//! acceleration from the leave-one-cluster-out jackknife and ties counted half in z0.

use std::hash::Hash;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::dist::{normal_cdf, normal_quantile};
use crate::error::{invalid, StatsError};
use crate::fit::cluster_codes;

/// A bootstrap confidence interval.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BootstrapCi {
    pub estimate: f64,
    pub level: f64,
    pub percentile: [f64; 2],
    /// `None` when every replicate lies on one side of the estimate (z0 infinite).
    pub bca: Option<[f64; 2]>,
    /// Standard deviation of the replicates.
    pub std_error: f64,
    pub n_boot: usize,
    pub n_clusters: usize,
    pub seed: u64,
}

/// The median of `xs` in any order (the mean of the two middle values for an even count, as
/// numpy's): `None` for no values or a NaN among them.
pub fn median(xs: &[f64]) -> Option<f64> {
    let mut sorted = xs.to_vec();
    if sorted.iter().any(|x| x.is_nan()) {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    quantile_sorted(&sorted, 0.5).ok()
}

/// The q-quantile of ascending data by linear interpolation between order statistics (numpy's
/// default `method='linear'`): position h = (n − 1)·q, value x[⌊h⌋] + (h − ⌊h⌋)·(x[⌈h⌉] − x[⌊h⌋]).
/// Errors: [`StatsError::Empty`] for no data; [`StatsError::InvalidArgument`] for q outside
/// [0, 1] (or NaN), and for data that are not ascending or hold a NaN.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> Result<f64, StatsError> {
    if sorted.is_empty() {
        return Err(StatsError::Empty);
    }
    if !(0.0..=1.0).contains(&q) {
        return Err(invalid("q", format!("{q} is not a probability in [0, 1]")));
    }
    if let Some(i) = sorted.iter().position(|x| x.is_nan()) {
        return Err(invalid("sorted", format!("value {i} is NaN")));
    }
    if let Some(i) = sorted.windows(2).position(|w| w[0] > w[1]) {
        return Err(invalid(
            "sorted",
            format!(
                "not ascending: value {} is {} after {}",
                i + 1,
                sorted[i + 1],
                sorted[i]
            ),
        ));
    }
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    Ok(sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo]))
}

/// A BCa interval and the two adjusted quantile levels of the replicates it was read at.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct BcaInterval {
    pub interval: [f64; 2],
    pub levels: [f64; 2],
}

/// The BCa interval from an estimate, its bootstrap replicates and its jackknife values;
/// `None` when z0 is infinite
/// (every replicate on one side of the estimate) or there are no jackknife values. Errors for a
/// level outside (0, 1), no replicates, or a replicate that is not finite.
pub fn bca_interval(
    estimate: f64,
    replicates: &[f64],
    jackknife: &[f64],
    level: f64,
) -> Result<Option<BcaInterval>, StatsError> {
    if !(level > 0.0 && level < 1.0) {
        return Err(invalid("level", format!("{level} is not in (0, 1)")));
    }
    if replicates.is_empty() {
        return Err(invalid("replicates", "need at least one"));
    }
    if let Some(t) = replicates.iter().find(|t| !t.is_finite()) {
        return Err(invalid("replicates", format!("{t} is not a finite number")));
    }
    let b = replicates.len() as f64;
    let below = replicates.iter().filter(|&&t| t < estimate).count() as f64;
    let at_or_below = replicates.iter().filter(|&&t| t <= estimate).count() as f64;
    let z0 = normal_quantile((below + at_or_below) / (2.0 * b))?;
    if !z0.is_finite() || jackknife.is_empty() {
        return Ok(None);
    }
    let mean = jackknife.iter().sum::<f64>() / jackknife.len() as f64;
    let (num, den) = jackknife.iter().fold((0.0, 0.0), |(n, d), t| {
        let u = mean - t;
        (n + u * u * u, d + u * u)
    });
    let a = if den > 0.0 {
        num / (6.0 * den.powf(1.5))
    } else {
        0.0
    };
    let z_alpha = normal_quantile((1.0 - level) / 2.0)?;
    let adj = |z: f64| normal_cdf(z0 + (z0 + z) / (1.0 - a * (z0 + z)));
    let levels = [adj(z_alpha)?, adj(-z_alpha)?];
    let mut sorted = replicates.to_vec();
    sorted.sort_by(f64::total_cmp);
    Ok(Some(BcaInterval {
        interval: [
            quantile_sorted(&sorted, levels[0])?,
            quantile_sorted(&sorted, levels[1])?,
        ],
        levels,
    }))
}

fn rows_by_cluster<T: Hash + Eq>(labels: &[T]) -> Vec<Vec<usize>> {
    let (codes, g) = cluster_codes(labels);
    let mut rows = vec![Vec::new(); g];
    codes.iter().enumerate().for_each(|(i, &c)| rows[c].push(i));
    rows
}

/// Cluster bootstrap of `statistic`, which receives the row indices of a resample (rows of a
/// drawn cluster appear together, a cluster drawn twice appears twice). Draws `n_boot` resamples
/// of the clusters with replacement; BCa's acceleration uses leave-one-cluster-out jackknife.
pub fn cluster_bootstrap<T, F>(
    labels: &[T],
    mut statistic: F,
    n_boot: usize,
    level: f64,
    seed: u64,
) -> Result<BootstrapCi, StatsError>
where
    T: Hash + Eq,
    F: FnMut(&[usize]) -> f64,
{
    if !(level > 0.0 && level < 1.0) {
        return Err(invalid("level", format!("{level} is not in (0, 1)")));
    }
    if n_boot < 2 {
        return Err(invalid("n_boot", "need at least 2 resamples"));
    }
    let clusters = rows_by_cluster(labels);
    let g = clusters.len();
    if g < 2 {
        return Err(StatsError::TooFewClusters { found: g, min: 2 });
    }
    let all: Vec<usize> = (0..labels.len()).collect();
    let estimate = statistic(&all);
    if !estimate.is_finite() {
        return Err(invalid(
            "statistic",
            format!("is {estimate} on the full sample"),
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut replicates = Vec::with_capacity(n_boot);
    let mut idx = Vec::with_capacity(labels.len());
    for b in 0..n_boot {
        idx.clear();
        for _ in 0..g {
            idx.extend_from_slice(&clusters[rng.random_range(0..g)]);
        }
        let t = statistic(&idx);
        if !t.is_finite() {
            return Err(invalid(
                "statistic",
                format!("is {t} on bootstrap resample {b}"),
            ));
        }
        replicates.push(t);
    }
    let jackknife: Vec<f64> = (0..g)
        .map(|leave| {
            let idx: Vec<usize> = clusters
                .iter()
                .enumerate()
                .filter(|(c, _)| *c != leave)
                .flat_map(|(_, r)| r.iter().copied())
                .collect();
            statistic(&idx)
        })
        .filter(|t| t.is_finite())
        .collect();
    let bca = bca_interval(estimate, &replicates, &jackknife, level)?.map(|b| b.interval);
    let mut sorted = replicates.clone();
    sorted.sort_by(f64::total_cmp);
    let alpha = (1.0 - level) / 2.0;
    let percentile = [
        quantile_sorted(&sorted, alpha)?,
        quantile_sorted(&sorted, 1.0 - alpha)?,
    ];
    let mean = replicates.iter().sum::<f64>() / n_boot as f64;
    let var = replicates.iter().map(|t| (t - mean).powi(2)).sum::<f64>() / (n_boot - 1) as f64;
    Ok(BootstrapCi {
        estimate,
        level,
        percentile,
        bca,
        std_error: var.sqrt(),
        n_boot,
        n_clusters: g,
        seed,
    })
}

/// A permutation test's result.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PermutationTest {
    pub observed: f64,
    /// Two-sided Monte-Carlo p-value `(1 + #{|T*| >= |T|}) / (1 + n_perm)`.
    pub p_value: f64,
    pub n_extreme: usize,
    pub n_perm: usize,
    pub seed: u64,
}

/// Permutation test over units (users): `labels[u]` says whether user `u` is in group A;
/// `statistic` maps a labelling to the test statistic (e.g. the difference of group means of
/// per-user values). Labels are shuffled among users, keeping the group sizes.
pub fn permutation_test<F>(
    labels: &[bool],
    mut statistic: F,
    n_perm: usize,
    seed: u64,
) -> Result<PermutationTest, StatsError>
where
    F: FnMut(&[bool]) -> f64,
{
    if n_perm == 0 {
        return Err(invalid("n_perm", "need at least 1 permutation"));
    }
    let n_a = labels.iter().filter(|&&l| l).count();
    if n_a == 0 || n_a == labels.len() {
        return Err(invalid("labels", "both groups need at least one user"));
    }
    let observed = statistic(labels);
    if !observed.is_finite() {
        return Err(invalid(
            "statistic",
            format!("is {observed} on the observed labels"),
        ));
    }
    let tol = 1e-12 * observed.abs().max(1.0);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut perm = labels.to_vec();
    let mut n_extreme = 0;
    for _ in 0..n_perm {
        perm.shuffle(&mut rng);
        if statistic(&perm).abs() >= observed.abs() - tol {
            n_extreme += 1;
        }
    }
    Ok(PermutationTest {
        observed,
        p_value: (1 + n_extreme) as f64 / (1 + n_perm) as f64,
        n_extreme,
        n_perm,
        seed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_matches_numpy_linear() {
        // numpy.quantile([1, 2, 4, 8], [0, 0.1, 0.25, 0.5, 0.75, 0.9, 1])
        //   = [1, 1.3, 1.75, 3, 5, 6.8, 8]
        let s = [1.0, 2.0, 4.0, 8.0];
        let want = [
            (0.0, 1.0),
            (0.1, 1.3),
            (0.25, 1.75),
            (0.5, 3.0),
            (0.75, 5.0),
            (0.9, 6.8),
            (1.0, 8.0),
        ];
        for (q, want) in want {
            // Two rounded operations on values ≤ 8: within 4 ulps of 8.
            let got = quantile_sorted(&s, q).unwrap();
            assert!(
                (got - want).abs() <= 4.0 * f64::EPSILON * 8.0,
                "q={q}: {got}"
            );
        }
        assert_eq!(quantile_sorted(&[7.0], 0.3).unwrap(), 7.0);
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[1.0, f64::NAN]), None);
    }

    #[test]
    fn quantile_refuses_bad_input() {
        assert_eq!(quantile_sorted(&[], 0.5), Err(StatsError::Empty));
        let name = |r: Result<f64, StatsError>| match r {
            Err(StatsError::InvalidArgument { name, detail }) => format!("{name}: {detail}"),
            other => panic!("expected an invalid-argument error, found {other:?}"),
        };
        for q in [-0.1, 1.1, f64::NAN] {
            assert!(name(quantile_sorted(&[1.0, 2.0], q)).starts_with("q: "));
        }
        assert_eq!(
            name(quantile_sorted(&[1.0, 3.0, 2.0], 0.5)),
            "sorted: not ascending: value 2 is 2 after 3"
        );
        assert_eq!(
            name(quantile_sorted(&[1.0, f64::NAN], 0.5)),
            "sorted: value 1 is NaN"
        );
    }

    #[test]
    fn bca_refuses_bad_input() {
        assert!(bca_interval(1.0, &[], &[1.0], 0.95).is_err());
        assert!(bca_interval(1.0, &[1.0, 2.0], &[1.0], 1.5).is_err());
        assert!(bca_interval(1.0, &[1.0, f64::NAN], &[1.0], 0.95).is_err());
        // Every replicate above the estimate: z0 = −∞, no interval.
        assert_eq!(bca_interval(0.0, &[1.0, 2.0], &[1.0, 2.0], 0.95), Ok(None));
    }

    #[test]
    fn bootstrap_is_reproducible_and_sensible() {
        // 40 users with 3 rows each; the statistic is the mean of v.
        let users: Vec<usize> = (0..120).map(|i| i / 3).collect();
        let v: Vec<f64> = (0..120).map(|i| ((i * 37 % 101) as f64) / 10.0).collect();
        let mean = |idx: &[usize]| idx.iter().map(|&i| v[i]).sum::<f64>() / idx.len() as f64;
        let a = cluster_bootstrap(&users, mean, 500, 0.95, 7).unwrap();
        let b = cluster_bootstrap(&users, mean, 500, 0.95, 7).unwrap();
        assert_eq!(a, b);
        let c = cluster_bootstrap(&users, mean, 500, 0.95, 8).unwrap();
        assert_ne!(a.percentile, c.percentile);
        let bca = a.bca.unwrap();
        assert!(a.percentile[0] < a.estimate && a.estimate < a.percentile[1]);
        assert!(bca[0] < a.estimate && a.estimate < bca[1]);
        assert_eq!(a.n_clusters, 40);
        assert!(cluster_bootstrap(&[1, 1, 1], mean, 10, 0.95, 1).is_err());
    }

    #[test]
    fn resamples_whole_clusters() {
        // 50 users, 10 identical rows each: the mean's bootstrap SE must be that of 50 cluster
        // means, sd(means) * sqrt((G - 1) / G) / sqrt(G) (plug-in bootstrap variance), not the
        // sqrt(10) times smaller figure that row resampling would give.
        let g = 50;
        let users: Vec<usize> = (0..g * 10).map(|i| i / 10).collect();
        let means: Vec<f64> = (0..g).map(|u| ((u * 29 % 50) as f64) / 7.0).collect();
        let v: Vec<f64> = users.iter().map(|&u| means[u]).collect();
        let mean = |idx: &[usize]| idx.iter().map(|&i| v[i]).sum::<f64>() / idx.len() as f64;
        let ci = cluster_bootstrap(&users, mean, 4000, 0.95, 11).unwrap();
        let m = means.iter().sum::<f64>() / g as f64;
        let sd = (means.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (g - 1) as f64).sqrt();
        let expected = sd * (((g - 1) as f64) / g as f64).sqrt() / (g as f64).sqrt();
        assert!(
            (ci.std_error / expected - 1.0).abs() < 0.05,
            "{} vs {expected}",
            ci.std_error
        );
    }

    #[test]
    fn permutation_test_exact_small_case() {
        // 6 users, 3 per group; values 1..6 with the top three in group A: the observed
        // difference (4 + 5 + 6 - 1 - 2 - 3) / 3 = 3 is the most extreme of the C(6,3) = 20
        // labellings, attained (in absolute value) by 2 of them: exact two-sided p = 0.1.
        let values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let labels = [false, false, false, true, true, true];
        let stat = |l: &[bool]| {
            let (mut a, mut b) = (0.0, 0.0);
            for (v, &g) in values.iter().zip(l) {
                if g {
                    a += v
                } else {
                    b += v
                }
            }
            (a - b) / 3.0
        };
        let t = permutation_test(&labels, stat, 20_000, 3).unwrap();
        assert!((t.observed - 3.0).abs() < 1e-12);
        assert!((t.p_value - 0.1).abs() < 0.01, "{}", t.p_value);
        assert_eq!(t, permutation_test(&labels, stat, 20_000, 3).unwrap());
    }
}
