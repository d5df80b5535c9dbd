//! Analysis primitives against references written by `tools/gen_stats_fixtures.py`:
//! statsmodels `multipletests` (Holm, fdr_bh), statsmodels `TTestPower`, and scipy's BCa routine.

use std::path::PathBuf;

use prefscope_stats::{bca_interval, benjamini_hochberg, holm, seeds_needed, t_test_power};
use serde_json::Value;

fn json(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[test]
fn holm_and_bh_equal_statsmodels_multipletests() {
    let fx = json("multitest.json");
    let alpha = fx["alpha"].as_f64().unwrap();
    for case in fx["cases"].as_array().unwrap() {
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
            for i in 0..p.len() {
                assert!(
                    (adj[i] - want[i]).abs() < 1e-12,
                    "{key} {i}: {} vs {}",
                    adj[i],
                    want[i]
                );
                assert_eq!(adj[i] <= alpha, reject[i], "{key} reject {i}");
            }
        }
    }
}

#[test]
fn power_equals_statsmodels_ttestpower() {
    let fx = json("power.json");
    for case in fx["cases"].as_array().unwrap() {
        let (d, s, alpha, power) = (
            case["d"].as_f64().unwrap(),
            case["s"].as_f64().unwrap(),
            case["alpha"].as_f64().unwrap(),
            case["power"].as_f64().unwrap(),
        );
        let want = case["nobs"].as_f64().unwrap();
        let got = seeds_needed(d, s, alpha, power).unwrap();
        assert!(
            (got.n_exact - want).abs() < 1e-5 * want,
            "d={d} s={s}: {} vs {want}",
            got.n_exact
        );
        assert_eq!(got.n, want.ceil() as usize);
        assert!(got.achieved_power >= power);
        for (n, p) in case["power_at"].as_object().unwrap() {
            let n: f64 = n.parse().unwrap();
            let got = t_test_power(d / s, n, alpha);
            let p = p.as_f64().unwrap();
            assert!((got - p).abs() < 1e-8, "power at n={n}: {got} vs {p}");
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
    let (ci, alphas) =
        bca_interval(estimate, &reps, &jackknife, fx["level"].as_f64().unwrap()).unwrap();
    for (got, want) in alphas.iter().zip(floats(&fx["alphas"])) {
        assert!((got - want).abs() < 1e-10, "alpha {got} vs {want}");
    }
    for (got, want) in ci.iter().zip(floats(&fx["bca"])) {
        assert!((got - want).abs() < 1e-10, "bca {got} vs {want}");
    }
    let mut sorted = reps.clone();
    sorted.sort_by(f64::total_cmp);
    for (q, want) in [0.025, 0.975].iter().zip(floats(&fx["percentile"])) {
        assert!((prefscope_stats::quantile_sorted(&sorted, *q) - want).abs() < 1e-12);
    }
}
