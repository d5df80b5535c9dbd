//! Calibration of the effects' uncertainty on synthetic outcomes with known truth
//! (`prefscope_report::synthetic`), over many replications of the whole experiment: new users,
//! new pairs, new training noise each time.
//!
//! - The two-level bootstrap's 95% interval covers the true mean diff at its nominal rate, for
//!   a planted split and for the null split.
//! - Its specificity interval covers at least at the nominal rate. It is conservative (about
//!   99% here): each user's difficulty cancels in the specificity (both models are scored on
//!   the same users), leaving pair-level noise alone, which a bootstrap of the crossed
//!   seeds × users design counts at both levels (Owen 2007), about doubling the variance.
//! - The null split's p-values are uniform (Kolmogorov–Smirnov, exact p-value).
//! - The same check catches a miscalibrated interval: drawing the users independently per
//!   seed (`ClusterDraw::PerSeed`) when the seeds share them leaves out the users' common
//!   noise, and its coverage falls far below the bound.
//!
//! Tolerance: with R replications and true coverage 0.95 the count of covering intervals is
//! Binomial(R, 0.95); a check passes when the count lies in that distribution's central 99.9%
//! (each tail at most 0.0005), so a correct 95% interval fails one check with probability
//! below 0.001 from Monte-Carlo error alone. At R = 300 that is 271..=296 covered (90.3% to
//! 98.7%). The world is sized so the bootstrap's known biases are small beside that band: 10
//! seeds (the seed level's percentile interval has t₉, not normal, tails), 30 users per group
//! (the users' level), pairs per user 8-12 so that pair-level noise (which any bootstrap of a
//! crossed seeds × users design counts at both levels, Owen 2007) does not dominate.

use prefscope_report::synthetic::{generate, SyntheticSpec, SyntheticSplit};
use prefscope_report::{compute_effects, ClusterDraw, Effects, EffectsConfig};
use rayon::prelude::*;

const R: usize = 300;
/// Replications of the per-seed draw: enough to show it far below its own band.
const R_PER_SEED: usize = 100;

fn planted() -> SyntheticSplit {
    // True diff 0.70 − 0.64 = 0.06, true specificity (0.70 − 0.62) − (0.60 − 0.64) = 0.12.
    SyntheticSplit {
        name: "planted".into(),
        acc: [[0.70, 0.62], [0.60, 0.64]],
    }
}

fn replicate(r: usize, draw: ClusterDraw) -> Effects {
    let spec = SyntheticSpec {
        splits: vec![planted(), SyntheticSplit::null("region", 0.65)],
        seeds: 10,
        users_a: 30,
        users_b: 30,
        pairs_per_user: (8, 12),
        user_spread: 0.2,
        seed_spread: 0.05,
        data_seed: 1_000 + r as u64,
        run_seed: 50_000 + r as u64,
        ..SyntheticSpec::default()
    };
    let world = generate(&spec).unwrap();
    let config = EffectsConfig {
        resamples: 199,
        seed: r as u64,
        draw,
        ..EffectsConfig::default()
    };
    compute_effects(&world.runs, &world.pairs, &world.groups, None, &config).unwrap()
}

/// The central 99.9% of Binomial(n, p): the smallest k_lo with P(X < k_lo) <= 0.0005 < P(X <=
/// k_lo) and likewise from above.
fn binomial_band(n: usize, p: f64) -> (usize, usize) {
    let ln_fact = |k: usize| (1..=k).map(|i| (i as f64).ln()).sum::<f64>();
    let pmf: Vec<f64> = (0..=n)
        .map(|k| {
            (ln_fact(n) - ln_fact(k) - ln_fact(n - k)
                + k as f64 * p.ln()
                + (n - k) as f64 * (1.0 - p).ln())
            .exp()
        })
        .collect();
    let (mut lo, mut below) = (0, 0.0);
    while below + pmf[lo] <= 0.0005 {
        below += pmf[lo];
        lo += 1;
    }
    let (mut hi, mut above) = (n, 0.0);
    while above + pmf[hi] <= 0.0005 {
        above += pmf[hi];
        hi -= 1;
    }
    (lo, hi)
}

#[test]
fn binomial_band_is_the_stated_one() {
    assert_eq!(binomial_band(300, 0.95), (271, 296));
    assert_eq!(binomial_band(100, 0.95), (87, 100));
}

fn covered(rows: &[(f64, f64)], truth: f64) -> usize {
    rows.iter()
        .filter(|(lo, hi)| *lo <= truth && truth <= *hi)
        .count()
}

#[test]
fn two_level_intervals_cover_at_the_nominal_rate_and_null_p_values_are_uniform() {
    let runs: Vec<(Effects, Option<Effects>)> = (0..R)
        .into_par_iter()
        .map(|r| {
            let per_seed = (r < R_PER_SEED).then(|| replicate(r, ClusterDraw::PerSeed));
            (replicate(r, ClusterDraw::Shared), per_seed)
        })
        .collect();
    let row = |fx: &Effects, split: &str| {
        fx.summary
            .iter()
            .find(|s| s.split == split)
            .unwrap()
            .clone()
    };
    let (lo, hi) = binomial_band(R, 0.95);
    let truth = planted();
    let mut report = Vec::new();
    let mut check = |name: &str, ci: Vec<(f64, f64)>, truth: f64| {
        let k = covered(&ci, truth);
        report.push(format!("{name}: {k}/{}", ci.len()));
        k
    };
    let shared = |split: &str, spec: bool| {
        runs.iter()
            .map(|(s, _)| {
                let r = row(s, split);
                if spec {
                    (r.spec_ci_low, r.spec_ci_high)
                } else {
                    (r.ci_low, r.ci_high)
                }
            })
            .collect::<Vec<_>>()
    };
    let k_diff = check("planted diff", shared("planted", false), truth.true_diff());
    let k_spec = check(
        "planted specificity",
        shared("planted", true),
        truth.true_specificity(),
    );
    let k_null = check("region diff", shared("region", false), 0.0);
    let k_null_spec = check("region specificity", shared("region", true), 0.0);
    let per_seed: Vec<(f64, f64)> = runs
        .iter()
        .filter_map(|(_, p)| p.as_ref())
        .map(|p| {
            let r = row(p, "planted");
            (r.ci_low, r.ci_high)
        })
        .collect();
    let k_per_seed = check(
        "planted diff, users drawn per seed",
        per_seed,
        truth.true_diff(),
    );
    let p_null: Vec<f64> = runs.iter().map(|(s, _)| row(s, "region").p_value).collect();
    let ks = prefscope_stats::ks_uniform(&p_null).unwrap();
    let power = runs
        .iter()
        .filter(|(s, _)| row(s, "planted").p_value < 0.05)
        .count();
    let summary = format!(
        "{} | band {lo}..={hi} | region p-values KS D = {:.4}, p = {:.3} | planted detected (p < 0.05) {power}/{R}",
        report.join(", "),
        ks.statistic,
        ks.p_value
    );
    eprintln!("{summary}");
    for k in [k_diff, k_null] {
        assert!((lo..=hi).contains(&k), "{summary}");
    }
    for k in [k_spec, k_null_spec] {
        assert!(k >= lo, "{summary}");
    }
    assert!(ks.p_value > 0.001, "{summary}");
    // The per-seed draw is too narrow here: below its band, so the check can fail.
    let (lo_per_seed, _) = binomial_band(R_PER_SEED, 0.95);
    assert!(k_per_seed < lo_per_seed, "{summary}");
}

/// The random-split null's p-value (z against 8 random splits' z values, the prediction-
/// interval t test) is uniform for a null split, over 300 replications of a study-like world
/// (5 seeds, the notes' count, 30 users per group): exact KS test at 0.1%. The rank p-value
/// beside it can never go below 1/9 with 8 random splits; the parametric one detects the
/// planted split (printed: its power here).
#[test]
fn random_split_null_p_values_are_uniform() {
    let runs: Vec<Effects> = (0..R)
        .into_par_iter()
        .map(|r| {
            let mut splits = vec![planted(), SyntheticSplit::null("region", 0.65)];
            splits.extend((1..=8).map(|k| SyntheticSplit::null(&format!("random-{k}"), 0.65)));
            let spec = SyntheticSpec {
                splits,
                seeds: 5,
                pairs_per_user: (8, 12),
                user_spread: 0.2,
                seed_spread: 0.05,
                data_seed: 7_000 + r as u64,
                run_seed: 90_000 + r as u64,
                ..SyntheticSpec::default()
            };
            let world = generate(&spec).unwrap();
            let config = EffectsConfig {
                resamples: 199,
                seed: r as u64,
                ..EffectsConfig::default()
            };
            compute_effects(&world.runs, &world.pairs, &world.groups, None, &config).unwrap()
        })
        .collect();
    let row = |fx: &Effects, split: &str| {
        fx.summary
            .iter()
            .find(|s| s.split == split)
            .cloned()
            .unwrap()
    };
    let p_null: Vec<f64> = runs.iter().map(|fx| row(fx, "region").p_value).collect();
    for fx in &runs {
        let r = row(fx, "region");
        assert_eq!((r.p_source.as_str(), r.n_null), ("random-splits", 8));
        assert!(r.p_rank.unwrap() >= 1.0 / 9.0 - 1e-12);
    }
    let ks = prefscope_stats::ks_uniform(&p_null).unwrap();
    let power = runs
        .iter()
        .filter(|fx| row(fx, "planted").p_value < 0.05)
        .count();
    let summary = format!(
        "region p-values KS D = {:.4}, p = {:.3} | planted detected (p < 0.05) {power}/{R}",
        ks.statistic, ks.p_value
    );
    eprintln!("{summary}");
    assert!(ks.p_value > 0.001, "{summary}");
}
