//! Brant's proportional-odds test against `tools/gen_stats_fixtures.py` (statsmodels binary
//! Logit fits combined in numpy) and the published UCLA output of R's `brant` package
//! (omnibus 4.34, df 3, p 0.23; pared 0.13, public 3.44, gpa 0.18), plus a planted violation.

mod common;

use common::{assert_close, csv_columns as columns, json, numeric as num};
use prefscope_stats::{brant_test, BrantTest, Design, OrderedOutcome};
use serde_json::Value;

/// Both sides build the Wald statistics from binary logits fitted by Newton with analytic
/// derivatives (statsmodels to a 1e-14 step, prefscope to 1e-10·(1 + |θ|)), so the slopes agree
/// to 1e-9 (see parity.rs); a statistic χ² = dᵀ(DVDᵀ)⁻¹d of slope differences d ≥ 0.01 (in
/// these fixtures) then moves by at most 2·1e-9/0.01 = 2e-7 relative, and its p-value, whose
/// density is ≤ 1.6 at χ² ≥ 0.06, by less. rtol = 1e-6, atol = 1e-9 (statistics near 0).
/// Observed: 5e-14.
const RTOL: f64 = 1e-6;
const ATOL: f64 = 1e-9;

fn check(label: &str, got: &BrantTest, want: &Value) {
    let w = |t: &Value, k: &str| t[k].as_f64().unwrap();
    let o = &want["omnibus"];
    assert_close(
        &format!("{label} omnibus chi2"),
        got.omnibus.chi2,
        w(o, "chi2"),
        ATOL,
        RTOL,
    );
    assert_eq!(got.omnibus.df as u64, o["df"].as_u64().unwrap());
    assert_close(
        &format!("{label} omnibus p"),
        got.omnibus.p_value,
        w(o, "p_value"),
        ATOL,
        RTOL,
    );
    let per = want["per_variable"].as_object().unwrap();
    let mut got_names: Vec<&str> = got.per_variable.iter().map(|(n, _)| n.as_str()).collect();
    let mut want_names: Vec<&str> = per.keys().map(String::as_str).collect();
    got_names.sort();
    want_names.sort();
    assert_eq!(got_names, want_names, "{label}: one test per regressor");
    for (name, t) in &got.per_variable {
        let r = &per[name];
        assert_close(
            &format!("{label} {name} chi2"),
            t.chi2,
            w(r, "chi2"),
            ATOL,
            RTOL,
        );
        assert_eq!(t.df as u64, r["df"].as_u64().unwrap(), "{label} {name} df");
        assert_close(
            &format!("{label} {name} p"),
            t.p_value,
            w(r, "p_value"),
            ATOL,
            RTOL,
        );
    }
}

#[test]
fn ucla_and_simulated_match_reference() {
    let fx = json("brant.json");
    let c = columns("ologit_ucla.csv");
    let y =
        OrderedOutcome::from_labels(&c["apply"], &["unlikely", "somewhat likely", "very likely"])
            .unwrap();
    let x = Design::new(
        ["pared", "public", "gpa"]
            .iter()
            .map(|n| (*n, num(&c, n)))
            .collect(),
    )
    .unwrap();
    let t = brant_test(&y, &x).unwrap();
    check("ucla", &t, &fx["ucla"]);
    assert_eq!(t.per_variable.len(), 3);
    // R's `brant` as UCLA prints it, rounded to two decimals.
    assert_close("published omnibus", t.omnibus.chi2, 4.34, 0.005, 0.0);
    assert_close("published p", t.omnibus.p_value, 0.23, 0.005, 0.0);
    for ((name, test), want) in t.per_variable.iter().zip([0.13, 3.44, 0.18]) {
        assert_close(&format!("published {name}"), test.chi2, want, 0.005, 0.0);
    }

    let c = columns("sim_pairs.csv");
    let y = OrderedOutcome::from_values(&num(&c, "y_ord")).unwrap();
    let names = ["female", "age", "familiar", "length"];
    let x = Design::new(names.iter().map(|n| (*n, num(&c, n))).collect()).unwrap();
    let t = brant_test(&y, &x).unwrap();
    check("sim_pairs", &t, &fx["sim_pairs"]);
    assert_eq!(t.per_variable.len(), 4);
}

#[test]
fn planted_violation_is_detected() {
    // x shifts the lowest cut point strongly but leaves the others alone: slopes differ.
    let n = 3000;
    let mut xs = Vec::with_capacity(n);
    let mut ys = Vec::with_capacity(n);
    let mut state: u64 = 12345;
    let mut unif = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    for _ in 0..n {
        let x = if unif() < 0.5 { 1.0 } else { 0.0 };
        let e = {
            let u = unif();
            (u / (1.0 - u)).ln()
        };
        let y = if e < -1.0 - 2.0 * x {
            0.0
        } else if e < 0.5 {
            1.0
        } else {
            2.0
        };
        xs.push(x);
        ys.push(y);
    }
    let y = OrderedOutcome::from_values(&ys).unwrap();
    let x = Design::new(vec![("x", xs)]).unwrap();
    let t = brant_test(&y, &x).unwrap();
    assert!(t.omnibus.p_value < 1e-6, "{t:?}");
    let two = OrderedOutcome::from_values(&[0.0, 1.0, 0.0, 1.0]).unwrap();
    assert!(brant_test(
        &two,
        &Design::new(vec![("x", vec![1.0, 2.0, 3.0, 5.0])]).unwrap()
    )
    .is_err());
}
