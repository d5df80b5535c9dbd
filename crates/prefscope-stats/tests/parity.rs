//! Parity with statsmodels: fixtures written by `tools/gen_stats_fixtures.py` (statsmodels
//! `Logit`, `Probit`, `OrderedModel`, plain and `cov_type='cluster'`). Parameters must agree to
//! 1e-6 relative, standard errors to 1e-5 relative.

use std::collections::HashMap;
use std::path::PathBuf;

use prefscope_stats::{
    logit, ordered_logit, Covariance, Design, FitOptions, FitResult, Link, OrderedOutcome,
};
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn json(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(name)).unwrap()).unwrap()
}

/// Columns of a csv file by header name, as strings.
fn csv_columns(name: &str) -> HashMap<String, Vec<String>> {
    let mut r = csv::Reader::from_path(fixture(name)).unwrap();
    let headers: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    let mut cols: HashMap<String, Vec<String>> =
        headers.iter().map(|h| (h.clone(), vec![])).collect();
    for rec in r.records() {
        let rec = rec.unwrap();
        for (h, v) in headers.iter().zip(rec.iter()) {
            cols.get_mut(h).unwrap().push(v.to_string());
        }
    }
    cols
}

fn numeric(cols: &HashMap<String, Vec<String>>, name: &str) -> Vec<f64> {
    cols[name]
        .iter()
        .map(|v| v.parse::<f64>().unwrap())
        .collect()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn close(what: &str, got: f64, want: f64, rel: f64) {
    let err = (got - want).abs() / want.abs().max(1e-300);
    assert!(
        err <= rel,
        "{what}: got {got:e}, statsmodels {want:e} (relative error {err:.2e} > {rel:.0e})"
    );
}

fn compare(label: &str, fit: &FitResult, want: &Value) {
    let names: Vec<String> = want["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(fit.names, names, "{label}: parameter names");
    assert!(fit.converged(), "{label}: not converged");
    for (i, (p, s)) in floats(&want["params"])
        .iter()
        .zip(floats(&want["bse"]))
        .enumerate()
    {
        close(
            &format!("{label} param {}", names[i]),
            fit.params[i],
            *p,
            1e-6,
        );
        close(&format!("{label} bse {}", names[i]), fit.bse[i], s, 1e-5);
    }
    for (i, p) in floats(&want["pvalues"]).iter().enumerate() {
        // Tiny p-values amplify the 1e-5 allowed on standard errors; compare them absolutely.
        let err = (fit.pvalues[i] - p).abs();
        assert!(
            err <= 1e-4 * p + 1e-12,
            "{label} pvalue {}: {:e} vs {p:e}",
            names[i],
            fit.pvalues[i]
        );
    }
    close(
        &format!("{label} llf"),
        fit.llf,
        want["llf"].as_f64().unwrap(),
        1e-9,
    );
    close(
        &format!("{label} llnull"),
        fit.llnull,
        want["llnull"].as_f64().unwrap(),
        1e-9,
    );
    close(
        &format!("{label} aic"),
        fit.aic,
        want["aic"].as_f64().unwrap(),
        1e-9,
    );
    close(
        &format!("{label} bic"),
        fit.bic,
        want["bic"].as_f64().unwrap(),
        1e-9,
    );
    assert_eq!(fit.n as u64, want["nobs"].as_u64().unwrap());
    if let Some(llr) = want.get("llr") {
        close(
            &format!("{label} llr"),
            fit.lr_chi2,
            llr.as_f64().unwrap(),
            1e-8,
        );
        close(
            &format!("{label} prsquared"),
            fit.pseudo_r2,
            want["prsquared"].as_f64().unwrap(),
            1e-8,
        );
        close(
            &format!("{label} llr_pvalue"),
            fit.lr_pvalue,
            want["llr_pvalue"].as_f64().unwrap(),
            1e-5,
        );
    }
}

#[test]
fn ucla_ordered_logit_and_probit() {
    let fx = json("ologit_ucla.json");
    let cols = csv_columns("ologit_ucla.csv");
    let levels: Vec<String> = fx["levels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().into())
        .collect();
    let y = OrderedOutcome::from_labels(&cols["apply"], &levels).unwrap();
    let x = Design::new(
        ["pared", "public", "gpa"]
            .iter()
            .map(|n| (*n, numeric(&cols, n)))
            .collect(),
    )
    .unwrap();
    for (key, link) in [("logit", Link::Logit), ("probit", Link::Probit)] {
        let fit = ordered_logit(
            &y,
            &x,
            &FitOptions {
                link,
                ..Default::default()
            },
        )
        .unwrap();
        compare(&format!("ucla {key}"), &fit, &fx[key]);
    }
    // The published values (UCLA IDRE, R polr), rounded as printed.
    let fit = ordered_logit(&y, &x, &FitOptions::default()).unwrap();
    let published = [1.04769, -0.05879, 0.61594];
    for (got, want) in fit.params.iter().zip(published) {
        assert!((got - want).abs() < 5e-4, "{got} vs {want}");
    }
    for (got, want) in fit.bse.iter().zip([0.2658, 0.2979, 0.2606]) {
        assert!((got - want).abs() < 1e-4, "{got} vs {want}");
    }
    for (got, want) in fit.thresholds().iter().zip([2.2039, 4.2994]) {
        assert!((got - want).abs() < 1e-3, "{got} vs {want}");
    }
}

#[test]
fn simulated_clustered_pairs() {
    let fx = json("sim_pairs.json");
    let cols = csv_columns(fx["data"].as_str().unwrap());
    let xs: Vec<String> = fx["x"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().into())
        .collect();
    let x = Design::new(xs.iter().map(|n| (n.clone(), numeric(&cols, n))).collect()).unwrap();
    let users = &cols["user"];
    let y_bin = numeric(&cols, "y_bin");
    let y_ord = OrderedOutcome::from_values(&numeric(&cols, "y_ord")).unwrap();
    for (link_key, link) in [("logit", Link::Logit), ("probit", Link::Probit)] {
        for cov_key in ["nonrobust", "cluster"] {
            let covariance = if cov_key == "cluster" {
                Covariance::cluster(users)
            } else {
                Covariance::Plain
            };
            let opts = FitOptions {
                link,
                covariance,
                ..Default::default()
            };
            let fit = logit(&y_bin, &x, &opts).unwrap();
            compare(
                &format!("binary {link_key} {cov_key}"),
                &fit,
                &fx[format!("binary_{link_key}_{cov_key}")],
            );
            let fit = ordered_logit(&y_ord, &x, &opts).unwrap();
            compare(
                &format!("ordered {link_key} {cov_key}"),
                &fit,
                &fx[format!("ordered_{link_key}_{cov_key}")],
            );
            if cov_key == "cluster" {
                assert_eq!(
                    fit.n_clusters,
                    Some(fx["n_clusters"].as_u64().unwrap() as usize)
                );
            }
        }
    }
}
