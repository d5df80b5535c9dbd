//! Analysis primitives against references written by `tools/gen_stats_fixtures.py`:
//! statsmodels `multipletests` (Holm, fdr_bh), statsmodels `TTestPower`, and scipy's BCa routine.
//! Each bound, `|got − expected| ≤ atol + rtol·|expected|`, is stated and derived at its test.

mod common;

use common::{assert_close, floats, json, EPS};
use prefscope_stats::{bca_interval, benjamini_hochberg, holm, seeds_needed, t_test_power};

#[test]
fn holm_and_bh_equal_statsmodels_multipletests() {
    // Each adjusted p-value is a running max / min of p·m/i or p·(m − i + 1), clipped at 1:
    // at most two correctly rounded IEEE operations on each side, in possibly different order,
    // so the two agree to a few ulps: rtol = 8ε. Reject decisions must be identical.
    let fx = json("multitest.json");
    let alpha = fx["alpha"].as_f64().unwrap();
    let cases = fx["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 4, "cases in multitest.json");
    for case in cases {
        let p = floats(&case["pvalues"]);
        for (key, adj) in [
            ("holm", holm(&p).unwrap()),
            ("bh", benjamini_hochberg(&p).unwrap()),
        ] {
            let want = floats(&case[key]);
            let reject: Vec<bool> = case[format!("{key}_reject")]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b.as_bool().unwrap())
                .collect();
            assert_eq!(
                (adj.len(), want.len(), reject.len()),
                (p.len(), p.len(), p.len())
            );
            for i in 0..p.len() {
                assert_close(&format!("{key} {i}"), adj[i], want[i], 0.0, 8.0 * EPS);
                assert_eq!(adj[i] <= alpha, reject[i], "{key} reject {i}");
            }
        }
    }
}

#[test]
fn power_equals_statsmodels_ttestpower() {
    let fx = json("power.json");
    let cases = fx["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 6, "cases in power.json");
    for case in cases {
        let (d, s, alpha, power) = (
            case["d"].as_f64().unwrap(),
            case["s"].as_f64().unwrap(),
            case["alpha"].as_f64().unwrap(),
            case["power"].as_f64().unwrap(),
        );
        // statsmodels' `solve_power` ends with scipy's `fsolve`, whose default xtol stops at a
        // relative step of 1.5e-8 (its roots here are up to 7e-8 off); prefscope bisects to
        // 1e-10 relative on a power curve computed to 1e-12. rtol = 1e-6 for the root; a
        // defect such as df = n instead of n − 1 moves it by more than 1e-3.
        let want = case["nobs"].as_f64().unwrap();
        let got = seeds_needed(d, s, alpha, power).unwrap();
        assert_close(
            &format!("n_exact d={d} s={s}"),
            got.n_exact,
            want,
            0.0,
            1e-6,
        );
        assert_eq!(got.n, want.ceil() as usize);
        assert!(got.achieved_power >= power);
        // Power itself: two noncentral t CDFs by AS 243 (Lenth's error bound 1e-12 each) at a
        // critical value from statrs' t quantile, against scipy's `nct` (Boost): atol = 1e-10,
        // 25× the sum of the stated errors and far below any real difference (> 1e-4).
        let power_at = case["power_at"].as_object().unwrap();
        assert_eq!(power_at.len(), 4, "power_at entries");
        for (n, p) in power_at {
            let n: f64 = n.parse().unwrap();
            let got = t_test_power(d / s, n, alpha).unwrap();
            assert_close(
                &format!("power d={d} s={s} n={n}"),
                got,
                p.as_f64().unwrap(),
                1e-10,
                0.0,
            );
        }
    }
    assert!(seeds_needed(0.0, 1.0, 0.05, 0.8).is_err());
    assert!(seeds_needed(1.0, 0.0, 0.05, 0.8).is_err());
}

#[test]
fn bca_equals_scipy() {
    let fx = json("bca.json");
    let x = floats(&fx["x"]);
    let reps = floats(&fx["replicates"]);
    let n = x.len() as f64;
    let total: f64 = x.iter().sum();
    let estimate = total / n;
    let jackknife: Vec<f64> = x.iter().map(|v| (total - v) / (n - 1.0)).collect();
    let bca = bca_interval(estimate, &reps, &jackknife, fx["level"].as_f64().unwrap())
        .unwrap()
        .expect("z0 is finite for these replicates");
    let (ci, alphas) = (bca.interval, bca.levels);
    // The adjusted levels are Φ(z0 + (z0 + z)/(1 − a(z0 + z))). statrs' Φ is within 1.4e-11 of
    // libm's erfc-based Φ on [−3, 3] (1.1e-12 at z = −1.96), scipy's ndtr within an ulp; the
    // quantiles, z0 and a are good to ~1e-15. atol = 5e-11 for the levels.
    const LEVEL_ATOL: f64 = 5e-11;
    let want_alphas = floats(&fx["alphas"]);
    assert_eq!((alphas.len(), want_alphas.len()), (2, 2));
    for (got, want) in alphas.iter().zip(want_alphas) {
        assert_close("BCa level", *got, want, LEVEL_ATOL, 0.0);
    }
    // An interval end is the linear-interpolation quantile at that level: a level error δ
    // moves it by at most δ·(B − 1)·(largest gap between adjacent sorted replicates).
    let mut sorted = reps.clone();
    sorted.sort_by(f64::total_cmp);
    let max_gap = sorted.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    let end_atol = LEVEL_ATOL * (sorted.len() - 1) as f64 * max_gap + 4.0 * EPS * estimate;
    let want_ci = floats(&fx["bca"]);
    assert_eq!(want_ci.len(), 2);
    for (got, want) in ci.iter().zip(want_ci) {
        assert_close("BCa end", *got, want, end_atol, 0.0);
    }
    // Percentile ends at fixed levels: the same interpolation formula as numpy's, two
    // rounded operations: rtol = 4ε.
    let want_pct = floats(&fx["percentile"]);
    assert_eq!(want_pct.len(), 2);
    for (q, want) in [0.025, 0.975].iter().zip(want_pct) {
        let got = prefscope_stats::quantile_sorted(&sorted, *q).unwrap();
        assert_close(&format!("percentile {q}"), got, want, 0.0, 4.0 * EPS);
    }
}
