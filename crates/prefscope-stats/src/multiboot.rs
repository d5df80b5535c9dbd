//! The two-level (multi-)bootstrap of a mean over training seeds of statistics computed on
//! clustered evaluation data, after Sellam et al. (2022), "The MultiBERTs", §3: resample the
//! seeds with replacement and, within each resampled seed's evaluation, the clusters (held-out
//! users) with replacement, then recompute the statistic and average it over the resampled
//! seeds. Also the two p-values prefscope reports beside such intervals.
//!
//! The data are sufficient statistics: for each seed `s`, cluster `c` and quantity `q`, the sum
//! over the cluster's rows (for an accuracy: correct pairs and pairs). A statistic sees, per
//! stratum and quantity, the cluster sums weighted by how often each cluster was drawn; clusters
//! are drawn within their stratum (group A users among group A users), so group sizes stay
//! those of the design.
//!
//! Draw order, one `ChaCha8Rng` seeded by the caller, each index from one 64-bit draw by
//! multiply-shift: per replicate, `n_seeds` seed indices;
//! then, with [`ClusterDraw::Shared`], one draw of each stratum's clusters used by every drawn
//! seed, or with [`ClusterDraw::PerSeed`], one draw per drawn seed in draw order.
//!
//! Which draw is right depends on the design. When every seed was evaluated on the same
//! held-out users (a study: the hold-out has its own data seed), the users' sampling noise is
//! common to all seeds and does not average out over them: `Shared` keeps it (MultiBERTs'
//! paired multi-bootstrap). `PerSeed` treats each seed's evaluation as an independent sample of
//! users, right when each seed held out different users and too narrow otherwise. Like every
//! bootstrap of a crossed design (Owen 2007, "The pigeonhole bootstrap"), both count the
//! pair-level noise at both levels, so the interval errs wide when that noise dominates; with
//! few seeds the percentile interval of the seed level errs narrow (a mean of 5 values has
//! t₄ tails, not normal ones). prefscope-report's tests measure both.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{invalid, StatsError};
use crate::resample::quantile_sorted;

/// How the clusters are drawn within a replicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClusterDraw {
    /// One draw per replicate, used by every drawn seed: the seeds share the held-out users.
    #[default]
    Shared,
    /// An independent draw for each drawn seed: each seed's users are a sample of their own.
    PerSeed,
}

/// Sufficient statistics for a two-level bootstrap: `sums[(s * n_clusters + c) * n_quantities
/// + q]` is quantity `q` summed over cluster `c`'s rows in seed `s`'s evaluation.
#[derive(Debug, Clone, Copy)]
pub struct SeedClusterSums<'a> {
    pub n_seeds: usize,
    pub n_quantities: usize,
    /// Consecutive cluster index ranges, one per stratum, covering `0..n_clusters`; clusters
    /// are resampled within their stratum.
    pub strata: &'a [std::ops::Range<usize>],
    pub sums: &'a [f64],
}

impl SeedClusterSums<'_> {
    pub(crate) fn n_clusters(&self) -> usize {
        self.strata.last().map_or(0, |r| r.end)
    }

    pub(crate) fn check(&self) -> Result<(), StatsError> {
        if self.n_seeds == 0 {
            return Err(invalid("n_seeds", "need at least one seed"));
        }
        if self.n_quantities == 0 {
            return Err(invalid("n_quantities", "need at least one quantity"));
        }
        let mut next = 0;
        for (i, r) in self.strata.iter().enumerate() {
            if r.start != next || r.is_empty() {
                return Err(invalid(
                    "strata",
                    format!("stratum {i} is {r:?}: strata must be consecutive and non-empty"),
                ));
            }
            next = r.end;
        }
        if self.strata.is_empty() {
            return Err(invalid("strata", "need at least one stratum"));
        }
        let want = self.n_seeds * self.n_clusters() * self.n_quantities;
        if self.sums.len() != want {
            return Err(StatsError::LengthMismatch {
                what: "sums (seeds x clusters x quantities)".into(),
                expected: want,
                found: self.sums.len(),
            });
        }
        if let Some(i) = self.sums.iter().position(|v| !v.is_finite()) {
            return Err(invalid("sums", format!("value {i} is {}", self.sums[i])));
        }
        Ok(())
    }

    /// Seed `s`'s statistics on its full evaluation (`ones`: a weight of 1 per cluster) into
    /// `out`, through the scratch `sums`; an error names the seed when one is not finite.
    pub(crate) fn full_statistic<F>(
        &self,
        s: usize,
        stat: &F,
        ones: &[f64],
        sums: &mut [f64],
        out: &mut [f64],
    ) -> Result<(), StatsError>
    where
        F: Fn(&[f64], &mut [f64]),
    {
        self.weighted(s, ones, sums);
        stat(sums, out);
        match out.iter().find(|v| !v.is_finite()) {
            Some(v) => Err(invalid(
                "statistic",
                format!("is {v} on seed {s}'s full evaluation"),
            )),
            None => Ok(()),
        }
    }

    /// Per stratum and quantity, the sums of seed `s` weighted by `w` (one weight per cluster),
    /// into `out[stratum * n_quantities + q]`. (Plain index loops: this is the inner loop, and
    /// it stays fast in unoptimised test builds too.)
    pub(crate) fn weighted(&self, s: usize, w: &[f64], out: &mut [f64]) {
        let nq = self.n_quantities;
        let base = s * self.n_clusters() * nq;
        out.fill(0.0);
        for (k, r) in self.strata.iter().enumerate() {
            let o = k * nq;
            let mut c = r.start;
            while c < r.end {
                let wc = w[c];
                if wc != 0.0 {
                    let row = base + c * nq;
                    let mut q = 0;
                    while q < nq {
                        out[o + q] += wc * self.sums[row + q];
                        q += 1;
                    }
                }
                c += 1;
            }
        }
    }
}

/// A uniform index in `0..n` by Lemire's multiply-shift of one 64-bit draw (bias below
/// n / 2^64, far under any Monte-Carlo error here).
fn index(rng: &mut ChaCha8Rng, n: usize) -> usize {
    ((rng.next_u64() as u128 * n as u128) >> 64) as usize
}

/// Settings of [`two_level_bootstrap`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct TwoLevelOptions {
    pub n_boot: usize,
    /// Confidence level of the percentile intervals, e.g. 0.95.
    pub level: f64,
    pub seed: u64,
    pub draw: ClusterDraw,
}

/// One statistic's result.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TwoLevelStat {
    /// Mean over the seeds of the statistic on the full evaluation.
    pub estimate: f64,
    /// Percentile interval of the replicates (linear interpolation, [`quantile_sorted`]).
    pub percentile: [f64; 2],
    /// Two-sided p-value for "the mean is 0": [`bootstrap_p_value`] of the replicates.
    pub p_value: f64,
    /// Standard deviation of the replicates.
    pub std_error: f64,
}

/// The result of [`two_level_bootstrap`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TwoLevelBootstrap {
    /// `per_seed[s][k]`: statistic `k` of seed `s` on its full evaluation.
    pub per_seed: Vec<Vec<f64>>,
    pub stats: Vec<TwoLevelStat>,
    pub n_seeds: usize,
    pub n_clusters: usize,
    pub options: TwoLevelOptions,
}

/// Two-level bootstrap of the mean over seeds of `n_stats` statistics. `stat(sums, out)`
/// receives the weighted sums of one seed (`sums[stratum * n_quantities + q]`) and writes its
/// `n_stats` values into `out`. Errors for bad options or data and for a statistic that is not
/// finite on the full data or on a replicate (naming which).
pub fn two_level_bootstrap<F>(
    data: &SeedClusterSums,
    n_stats: usize,
    stat: F,
    options: TwoLevelOptions,
) -> Result<TwoLevelBootstrap, StatsError>
where
    F: Fn(&[f64], &mut [f64]),
{
    data.check()?;
    if options.n_boot < 2 {
        return Err(invalid("n_boot", "need at least 2 resamples"));
    }
    if !(options.level > 0.0 && options.level < 1.0) {
        return Err(invalid(
            "level",
            format!("{} is not in (0, 1)", options.level),
        ));
    }
    if n_stats == 0 {
        return Err(invalid("n_stats", "need at least one statistic"));
    }
    let (n_seeds, n_clusters) = (data.n_seeds, data.n_clusters());
    let mut sums = vec![0.0; data.strata.len() * data.n_quantities];
    let mut out = vec![0.0; n_stats];
    let ones = vec![1.0; n_clusters];
    let mut per_seed = Vec::with_capacity(n_seeds);
    for s in 0..n_seeds {
        data.full_statistic(s, &stat, &ones, &mut sums, &mut out)?;
        per_seed.push(out.clone());
    }
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let mut replicates = vec![Vec::with_capacity(options.n_boot); n_stats];
    let mut seed_count = vec![0usize; n_seeds];
    let mut drawn = Vec::with_capacity(n_seeds);
    let mut w = vec![0.0; n_clusters];
    let mut mean = vec![0.0; n_stats];
    let draw_clusters = |rng: &mut ChaCha8Rng, w: &mut [f64]| {
        w.fill(0.0);
        for r in data.strata {
            let n = r.len();
            for _ in 0..n {
                w[r.start + index(rng, n)] += 1.0;
            }
        }
    };
    for b in 0..options.n_boot {
        drawn.clear();
        seed_count.fill(0);
        for _ in 0..n_seeds {
            let s = index(&mut rng, n_seeds);
            drawn.push(s);
            seed_count[s] += 1;
        }
        mean.fill(0.0);
        let mut add = |s: usize, times: f64, w: &[f64]| -> Result<(), StatsError> {
            data.weighted(s, w, &mut sums);
            stat(&sums, &mut out);
            for (m, v) in mean.iter_mut().zip(&out) {
                if !v.is_finite() {
                    return Err(invalid(
                        "statistic",
                        format!("is {v} on seed {s} of bootstrap replicate {b}"),
                    ));
                }
                *m += times * v;
            }
            Ok(())
        };
        match options.draw {
            ClusterDraw::Shared => {
                draw_clusters(&mut rng, &mut w);
                for (s, &k) in seed_count.iter().enumerate() {
                    if k > 0 {
                        add(s, k as f64, &w)?;
                    }
                }
            }
            ClusterDraw::PerSeed => {
                for &s in &drawn {
                    draw_clusters(&mut rng, &mut w);
                    add(s, 1.0, &w)?;
                }
            }
        }
        for (r, m) in replicates.iter_mut().zip(&mean) {
            r.push(m / n_seeds as f64);
        }
    }
    let alpha = (1.0 - options.level) / 2.0;
    let stats = replicates
        .iter_mut()
        .enumerate()
        .map(|(k, reps)| {
            let estimate = per_seed.iter().map(|v| v[k]).sum::<f64>() / n_seeds as f64;
            let p_value = bootstrap_p_value(reps)?;
            let m = reps.iter().sum::<f64>() / reps.len() as f64;
            let var = reps.iter().map(|t| (t - m).powi(2)).sum::<f64>() / (reps.len() - 1) as f64;
            reps.sort_by(f64::total_cmp);
            Ok(TwoLevelStat {
                estimate,
                percentile: [
                    quantile_sorted(reps, alpha)?,
                    quantile_sorted(reps, 1.0 - alpha)?,
                ],
                p_value,
                std_error: var.sqrt(),
            })
        })
        .collect::<Result<Vec<_>, StatsError>>()?;
    Ok(TwoLevelBootstrap {
        per_seed,
        stats,
        n_seeds,
        n_clusters,
        options,
    })
}

/// Two-sided bootstrap p-value for "the statistic is 0" from its replicates: the smallest
/// two-sided level whose percentile interval reaches 0,
/// `min(1, 2 (1 + min(#{T* <= 0}, #{T* >= 0})) / (B + 1))` (the +1s keep it above 0 and make
/// it valid for a finite B, as for a Monte-Carlo test). So a p below `1 - level` goes with a
/// percentile interval that excludes 0, up to the interpolation of the interval's ends.
/// Errors for no replicates or a non-finite one.
pub fn bootstrap_p_value(replicates: &[f64]) -> Result<f64, StatsError> {
    if replicates.is_empty() {
        return Err(StatsError::Empty);
    }
    if let Some(t) = replicates.iter().find(|t| !t.is_finite()) {
        return Err(invalid("replicates", format!("{t} is not a finite number")));
    }
    let le = replicates.iter().filter(|&&t| t <= 0.0).count();
    let ge = replicates.iter().filter(|&&t| t >= 0.0).count();
    let b = replicates.len() as f64;
    Ok((2.0 * (1 + le.min(ge)) as f64 / (b + 1.0)).min(1.0))
}

/// Two-sided p-value of `observed` against an empirical null sample (statistics of splits that
/// carry no effect by construction): `(1 + #{|T0| >= |T|}) / (1 + K)` for `K` null values, exact
/// under exchangeability of the observed and the null statistics; it is never below
/// `1 / (K + 1)`, so `K >= 19` null values are needed to reach 0.05. Errors for an empty or
/// non-finite null sample or a non-finite observation.
pub fn empirical_p_value(observed: f64, null: &[f64]) -> Result<f64, StatsError> {
    if null.is_empty() {
        return Err(StatsError::Empty);
    }
    if !observed.is_finite() {
        return Err(invalid(
            "observed",
            format!("{observed} is not a finite number"),
        ));
    }
    if let Some(t) = null.iter().find(|t| !t.is_finite()) {
        return Err(invalid("null", format!("{t} is not a finite number")));
    }
    let tol = 1e-12 * observed.abs().max(1e-12);
    let extreme = null
        .iter()
        .filter(|t| t.abs() >= observed.abs() - tol)
        .count();
    Ok((1 + extreme) as f64 / (1 + null.len()) as f64)
}

/// Two-sided p-value of a standardised statistic `z` (an estimate divided by its standard
/// error) against `K >= 2` standardised statistics of null splits, read as a sample from a
/// normal null of unknown mean and spread: with `m` and `s` the null values' mean and sample
/// std (n − 1), `p = 2 T_{K−1}(−|z − m| / (s sqrt(1 + 1/K)))`, the prediction-interval t test
/// (exact when the null values and `z` are independent draws of one normal distribution).
/// Unlike [`empirical_p_value`] it is not bounded below by `1 / (K + 1)`, so a few null splits
/// can calibrate a strong effect, at the price of the normal assumption (the rank p-value
/// should be read beside it). Standardising first lets null splits of different sizes, whose
/// raw statistics differ in spread, form one null. Errors for fewer than 2 null values, a
/// non-finite value, or null values without spread.
pub fn parametric_null_p_value(z: f64, null: &[f64]) -> Result<f64, StatsError> {
    if null.len() < 2 {
        return Err(invalid(
            "null",
            format!("expected at least 2 null values, found {}", null.len()),
        ));
    }
    if !z.is_finite() {
        return Err(invalid("observed", format!("{z} is not a finite number")));
    }
    if let Some(t) = null.iter().find(|t| !t.is_finite()) {
        return Err(invalid("null", format!("{t} is not a finite number")));
    }
    let k = null.len() as f64;
    let mean = null.iter().sum::<f64>() / k;
    let var = null.iter().map(|t| (t - mean).powi(2)).sum::<f64>() / (k - 1.0);
    if var.sqrt() <= 1e-12 * mean.abs().max(1.0) {
        return Err(invalid(
            "null",
            format!(
                "the {} null values are all equal ({mean}); no spread to scale by",
                null.len()
            ),
        ));
    }
    let t = (z - mean).abs() / (var.sqrt() * (1.0 + 1.0 / k).sqrt());
    Ok((2.0 * crate::dist::t_cdf(-t, k - 1.0)?).min(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two strata (2 and 3 clusters), two seeds, one quantity each: statistic = stratum 0 sum
    /// minus stratum 1 sum.
    fn table() -> (Vec<std::ops::Range<usize>>, Vec<f64>) {
        (
            vec![0..2, 2..5],
            vec![
                1.0, 2.0, 0.5, 0.5, 0.5, // seed 0
                3.0, 3.0, 1.0, 2.0, 3.0, // seed 1
            ],
        )
    }

    fn options(draw: ClusterDraw) -> TwoLevelOptions {
        TwoLevelOptions {
            n_boot: 4000,
            level: 0.95,
            seed: 5,
            draw,
        }
    }

    #[test]
    fn estimate_is_the_mean_of_the_seeds_and_resampling_is_reproducible() {
        let (strata, sums) = table();
        let data = SeedClusterSums {
            n_seeds: 2,
            n_quantities: 1,
            strata: &strata,
            sums: &sums,
        };
        let stat = |s: &[f64], out: &mut [f64]| out[0] = s[0] - s[1];
        for draw in [ClusterDraw::Shared, ClusterDraw::PerSeed] {
            let a = two_level_bootstrap(&data, 1, stat, options(draw)).unwrap();
            // Seed 0: 3 - 1.5 = 1.5; seed 1: 6 - 6 = 0.
            assert_eq!(a.per_seed, vec![vec![1.5], vec![0.0]]);
            assert_eq!(a.stats[0].estimate, 0.75);
            assert_eq!(
                a,
                two_level_bootstrap(&data, 1, stat, options(draw)).unwrap()
            );
            let [lo, hi] = a.stats[0].percentile;
            assert!(lo < 0.75 && 0.75 < hi, "{lo} {hi}");
            // Replicates lie between the smallest and largest possible values: seed 1's
            // stratum sums range over [2, 6] - [3, 9]; seed 0's over [2, 4] - 1.5.
            assert!(lo >= -7.0 && hi <= 2.5);
        }
    }

    #[test]
    fn resampling_seeds_only_when_clusters_are_constant() {
        // Every cluster of a stratum has the same sum, so only the seed draw matters: the
        // replicate is the mean of S draws from the per-seed values {0, 1}; with S = 2 it is 0
        // with probability 1/4, 1/2 with 1/2, 1 with 1/4. Its standard deviation is
        // sqrt(1/8) = 0.3536 (plug-in), within 3% at 4000 resamples.
        let strata = vec![0..2, 2..4];
        let sums = vec![1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 1.0, 1.0];
        let data = SeedClusterSums {
            n_seeds: 2,
            n_quantities: 1,
            strata: &strata,
            sums: &sums,
        };
        let stat = |s: &[f64], out: &mut [f64]| out[0] = (s[0] - s[1]) / 2.0;
        let r = two_level_bootstrap(&data, 1, stat, options(ClusterDraw::Shared)).unwrap();
        assert_eq!(r.per_seed, vec![vec![0.0], vec![1.0]]);
        assert!((r.stats[0].std_error / 0.125f64.sqrt() - 1.0).abs() < 0.03);
        assert_eq!(r.stats[0].percentile, [0.0, 1.0]);
        // Replicates <= 0: about 1/4 of them, so p is about 2 * 1/4.
        assert!(
            (r.stats[0].p_value - 0.5).abs() < 0.04,
            "{}",
            r.stats[0].p_value
        );
    }

    #[test]
    fn refuses_bad_input() {
        let (strata, sums) = table();
        let data =
            |strata: &'static [std::ops::Range<usize>], sums: &'static [f64]| SeedClusterSums {
                n_seeds: 2,
                n_quantities: 1,
                strata,
                sums,
            };
        let strata: &'static [std::ops::Range<usize>] = strata.leak();
        let sums: &'static [f64] = sums.leak();
        let stat = |s: &[f64], out: &mut [f64]| out[0] = s[0] - s[1];
        let o = options(ClusterDraw::Shared);
        assert!(two_level_bootstrap(&data(strata, &sums[..9]), 1, stat, o).is_err());
        assert!(two_level_bootstrap(&data(&[0..2, 3..5], sums), 1, stat, o).is_err());
        let one = TwoLevelOptions { n_boot: 1, ..o };
        assert!(two_level_bootstrap(&data(strata, sums), 1, stat, one).is_err());
        let nan = |s: &[f64], out: &mut [f64]| out[0] = s[0] / (s[1] - s[1]);
        let e = two_level_bootstrap(&data(strata, sums), 1, nan, o).unwrap_err();
        assert!(e.to_string().contains("seed 0's full evaluation"), "{e}");
    }

    #[test]
    fn p_values() {
        // 10 replicates, 2 at or below 0: 2 * 3 / 11.
        let reps = [-1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        assert!((bootstrap_p_value(&reps).unwrap() - 6.0 / 11.0).abs() < 1e-15);
        assert_eq!(bootstrap_p_value(&[0.0, 0.0]).unwrap(), 1.0);
        assert_eq!(bootstrap_p_value(&[1.0; 99]).unwrap(), 0.02);
        assert!(bootstrap_p_value(&[]).is_err());
        // |0.3| is reached by 0.3 and -0.5 of four null values: (1 + 2) / 5.
        let p = empirical_p_value(0.3, &[0.1, -0.5, 0.3, 0.2]).unwrap();
        assert!((p - 0.6).abs() < 1e-15);
        assert_eq!(empirical_p_value(-9.0, &[0.0; 19]).unwrap(), 0.05);
        assert!(empirical_p_value(0.0, &[]).is_err());
    }

    #[test]
    fn parametric_null_p_value_closed_form_and_errors() {
        // Null {-1, 1}: mean 0, s = sqrt(2), K = 2, so t = |z| / (sqrt(2) sqrt(3/2)) = |z| / sqrt(3)
        // on 1 degree of freedom (Cauchy: P(T <= -1) = 1/4). z = sqrt(3) gives p = 2 / 4.
        let p = parametric_null_p_value(3f64.sqrt(), &[-1.0, 1.0]).unwrap();
        assert!((p - 0.5).abs() < 1e-12, "{p}");
        // The null's location and scale are what z is read against: shifting and scaling both
        // leaves p unchanged.
        let q = parametric_null_p_value(10.0 + 3.0 * 3f64.sqrt(), &[7.0, 13.0]).unwrap();
        assert!((q - 0.5).abs() < 1e-12, "{q}");
        assert_eq!(parametric_null_p_value(0.0, &[-1.0, 1.0]).unwrap(), 1.0);
        assert!(parametric_null_p_value(0.0, &[1.0]).is_err());
        assert!(parametric_null_p_value(f64::NAN, &[0.0, 1.0]).is_err());
        let e = parametric_null_p_value(1.0, &[2.0, 2.0, 2.0]).unwrap_err();
        assert!(e.to_string().contains("all equal"), "{e}");
    }

    /// Under the null (z and the K null values iid normal, any mean and spread) the p-value is
    /// uniform: 2,000 replications with K = 8 pass the exact KS test at 1%. A z shifted by 4
    /// null sds is detected (p < 0.05) in about 90% of replications, which the rank p-value with
    /// K = 8 (never below 1/9) never is.
    #[test]
    fn parametric_null_p_value_is_uniform_under_the_null_and_detects_a_shift() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        // Box-Muller from the crate's own generator, so the test needs no distribution crate.
        let mut normal = || {
            let u1 = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            let u2 = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            (-2.0 * (1.0 - u1).ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
        };
        let (mut ps, mut detected) = (Vec::new(), 0);
        for r in 0..2000 {
            let (mu, sigma) = (r as f64 * 0.01 - 10.0, 0.5 + (r % 7) as f64);
            let null: Vec<f64> = (0..8).map(|_| mu + sigma * normal()).collect();
            let z = mu + sigma * normal();
            ps.push(parametric_null_p_value(z, &null).unwrap());
            let shifted = parametric_null_p_value(z + 4.0 * sigma, &null).unwrap();
            detected += usize::from(shifted < 0.05);
        }
        let ks = crate::ks::ks_uniform(&ps).unwrap();
        assert!(
            ks.p_value > 0.01,
            "KS D = {} p = {}",
            ks.statistic,
            ks.p_value
        );
        // Power at a 4-sd shift with K = 8: P(|T| > t_{7, 0.975}) for T non-central t with 7
        // degrees of freedom and non-centrality 4 / sqrt(9/8) = 3.77 is 0.898 (a 200,000-draw
        // Monte Carlo); 1730..=1860 of 2,000 is that rate +-5 binomial sds (13.5 each).
        assert!((1730..=1860).contains(&detected), "{detected} of 2000");
    }
}
