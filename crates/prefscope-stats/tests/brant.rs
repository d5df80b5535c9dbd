//! Brant's proportional-odds test against `tools/gen_stats_fixtures.py` (statsmodels binary
//! Logit fits combined in numpy) and the published UCLA output of R's `brant` package
//! (omnibus 4.34, df 3, p 0.23; pared 0.13, public 3.44, gpa 0.18), plus a planted violation.

use std::collections::HashMap;
use std::path::PathBuf;

use prefscope_stats::{brant_test, Design, OrderedOutcome};
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn columns(name: &str) -> HashMap<String, Vec<String>> {
    let mut r = csv::Reader::from_path(fixture(name)).unwrap();
    let headers: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    let mut cols: HashMap<String, Vec<String>> =
        headers.iter().map(|h| (h.clone(), vec![])).collect();
    for rec in r.records() {
        for (h, v) in headers.iter().zip(rec.unwrap().iter()) {
            cols.get_mut(h).unwrap().push(v.to_string());
        }
    }
    cols
}

fn num(c: &HashMap<String, Vec<String>>, n: &str) -> Vec<f64> {
    c[n].iter().map(|v| v.parse().unwrap()).collect()
}

fn check(got: &prefscope_stats::BrantTest, want: &Value) {
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b.abs().max(1e-3);
    assert!(
        close(got.omnibus.chi2, want["omnibus"]["chi2"].as_f64().unwrap()),
        "{got:?}"
    );
    assert_eq!(
        got.omnibus.df as u64,
        want["omnibus"]["df"].as_u64().unwrap()
    );
    assert!(close(
        got.omnibus.p_value,
        want["omnibus"]["p_value"].as_f64().unwrap()
    ));
    for (name, t) in &got.per_variable {
        assert!(
            close(t.chi2, want["per_variable"][name]["chi2"].as_f64().unwrap()),
            "{name}"
        );
    }
}

#[test]
fn ucla_and_simulated_match_reference() {
    let fx: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("brant.json")).unwrap()).unwrap();
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
    check(&t, &fx["ucla"]);
    assert!((t.omnibus.chi2 - 4.34).abs() < 0.005 && (t.omnibus.p_value - 0.23).abs() < 0.005);

    let c = columns("sim_pairs.csv");
    let y = OrderedOutcome::from_values(&num(&c, "y_ord")).unwrap();
    let names = ["female", "age", "familiar", "length"];
    let x = Design::new(names.iter().map(|n| (*n, num(&c, n))).collect()).unwrap();
    check(&brant_test(&y, &x).unwrap(), &fx["sim_pairs"]);
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
