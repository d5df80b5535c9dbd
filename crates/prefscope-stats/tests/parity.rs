//! Parity with statsmodels: fixtures written by `tools/gen_stats_fixtures.py` (statsmodels
//! `Logit`, `Probit`, `OrderedModel`, plain and `cov_type='cluster'`).
//!
//! Every comparison is `|got − expected| ≤ atol + rtol·|expected|` with bounds that follow
//! from how each side computes its numbers in f64 (ε = 2.2e-16), not from one machine's
//! results, so they hold on any IEEE-754 platform:
//!
//! - **Binary fits**: both sides run Newton with analytic derivatives. statsmodels stops at a
//!   step below 1e-14, prefscope when every step is below 1e-10·(1 + |θ|); Newton converges
//!   quadratically, so each estimate is within its last step of the optimum. Parameters:
//!   atol = rtol = 1e-9 (10× the larger stopping step). Standard errors are square roots of a
//!   smooth function of θ̂ (|d ln se / dθ| ≤ max|x| ≈ 3.5 here) inverted in f64 (κ·ε ≈ 1e-13):
//!   rtol = 1e-8.
//! - **Ordered fits**: statsmodels' `OrderedModel` differentiates numerically. Its Newton solves
//!   "centred-difference score = 0"; that score's rounding error is ε·|llf|/h with
//!   h = ε^(1/3)·max(|θ|, 0.1) ≥ 6.1e-7, i.e. ≤ 1.3e-7 (UCLA, |llf| = 359) and ≤ 9.8e-7
//!   (simulated, |llf| = 2681). An error e in the score moves the estimate by cov·e, at most
//!   se_j·Σ_k se_k·|e|: ≤ 2.6e-7 over these fixtures. Parameters: atol = 3e-7, rtol = 1e-9.
//!   Its covariance inverts a second-difference Hessian with h ≥ ε^(1/4)·0.1 = 1.2e-5, whose
//!   rounding error ε·|llf|/h² is ≤ 5.3e-4 on UCLA entries of 11 or more (the parameter with
//!   |θ| < 0.1, `public`), ≤ 5e-5 relative; the variance inherits it and the standard error
//!   half of it: rtol = 5e-5.
//! - **z and p-values** follow: |δz| ≤ δθ/se + |z|·rtol_se, and since d ln p / d|z| is at most
//!   |z| + 1 for p = 2·(1 − Φ(|z|)), |δp| ≤ p·((|z| + 1)·|δz| + 2e-10), the last term for the
//!   normal tail of `statrs` (within 1e-10 relative of libm's `erfc` for |z| ≤ 25).
//! - **Log-likelihoods**: at the maximum the log-likelihood moves only to second order in δθ
//!   (½·δθᵀHδθ ≤ 2e-9 here) and each side sums n ≤ 2000 terms (≤ n·ε relative): llf, AIC and
//!   BIC rtol = 1e-10. statsmodels gets the binary llnull by fitting the constant-only model
//!   iteratively, so it lies *below* the closed form prefscope uses, by ½·n·p̄(1−p̄)·δ² for a
//!   constant off by δ: atol = 1e-6 allows δ up to 7e-5 (the fixture is 4.6e-8 below);
//!   likelihood-ratio statistic, pseudo-R² and LR p-value carry these bounds forward.
//!
//! A real defect is orders of magnitude above these bounds: counting only slopes in the
//! cluster correction (N − 1)/(N − P) moves ordered standard errors by 7.5e-4 (15× the
//! ordered rtol), and G/(G − 1) alone is 3.4e-3 for 150 clusters.

mod common;

use common::{assert_close, csv_columns, floats, json, numeric, strings};
use prefscope_stats::{
    logit, ordered_logit, Covariance, Design, FitOptions, FitResult, Link, OrderedOutcome,
};
use serde_json::Value;

/// Bounds for one kind of fit, explained in the module comment.
struct Tolerance {
    param_atol: f64,
    param_rtol: f64,
    bse_rtol: f64,
}

const BINARY: Tolerance = Tolerance {
    param_atol: 1e-9,
    param_rtol: 1e-9,
    bse_rtol: 1e-8,
};

const ORDERED: Tolerance = Tolerance {
    param_atol: 3e-7,
    param_rtol: 1e-9,
    bse_rtol: 5e-5,
};

/// Log-likelihood, AIC, BIC: second order in δθ plus the rounding of an n-term sum.
const LLF_RTOL: f64 = 1e-10;
/// statsmodels' iterative constant-only fit (binary llnull).
const LLNULL_ATOL: f64 = 1e-6;
/// `statrs`' normal tail relative to libm's erfc.
const NORMAL_TAIL_RTOL: f64 = 2e-10;

fn number(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("fixture lacks {key}"))
}

fn compare(label: &str, fit: &FitResult, want: &Value, tol: &Tolerance) {
    let names = strings(&want["names"]);
    assert_eq!(fit.names, names, "{label}: parameter names");
    assert!(fit.converged(), "{label}: not converged");
    let (params, bse) = (floats(&want["params"]), floats(&want["bse"]));
    let (zvalues, pvalues) = (floats(&want["zvalues"]), floats(&want["pvalues"]));
    for v in [&params, &bse, &zvalues, &pvalues] {
        assert_eq!(v.len(), names.len(), "{label}: one value per parameter");
    }
    for (i, name) in names.iter().enumerate() {
        let d_param = tol.param_atol + tol.param_rtol * params[i].abs();
        assert_close(
            &format!("{label} param {name}"),
            fit.params[i],
            params[i],
            tol.param_atol,
            tol.param_rtol,
        );
        assert_close(
            &format!("{label} bse {name}"),
            fit.bse[i],
            bse[i],
            0.0,
            tol.bse_rtol,
        );
        let z = zvalues[i].abs();
        let d_z = d_param / bse[i] + z * tol.bse_rtol;
        assert_close(
            &format!("{label} z {name}"),
            fit.zvalues[i],
            zvalues[i],
            d_z,
            0.0,
        );
        assert_close(
            &format!("{label} pvalue {name}"),
            fit.pvalues[i],
            pvalues[i],
            0.0,
            (z + 1.0) * d_z + NORMAL_TAIL_RTOL,
        );
    }
    let llf = number(want, "llf");
    assert_close(&format!("{label} llf"), fit.llf, llf, 0.0, LLF_RTOL);
    for key in ["aic", "bic"] {
        let got = if key == "aic" { fit.aic } else { fit.bic };
        assert_close(
            &format!("{label} {key}"),
            got,
            number(want, key),
            0.0,
            LLF_RTOL,
        );
    }
    let llnull = number(want, "llnull");
    assert_close(
        &format!("{label} llnull"),
        fit.llnull,
        llnull,
        LLNULL_ATOL,
        LLF_RTOL,
    );
    // The closed form is the maximum; statsmodels' iterate cannot lie above it.
    assert!(
        fit.llnull >= llnull - LLF_RTOL * llnull.abs(),
        "{label}: llnull {} below statsmodels' {llnull}",
        fit.llnull
    );
    assert_eq!(fit.n as u64, want["nobs"].as_u64().unwrap());
    if let Some(llr) = want.get("llr").and_then(Value::as_f64) {
        // llr = 2 (llf − llnull) and pseudo-R² = 1 − llf / llnull, with the bounds above.
        let d_llf = LLF_RTOL * llf.abs();
        let d_llnull = LLNULL_ATOL + LLF_RTOL * llnull.abs();
        let d_llr = 2.0 * (d_llf + d_llnull);
        assert_close(&format!("{label} llr"), fit.lr_chi2, llr, d_llr, 0.0);
        let ratio = (llf / llnull).abs();
        let d_r2 = ratio * (d_llf / llf.abs() + d_llnull / llnull.abs());
        assert_close(
            &format!("{label} prsquared"),
            fit.pseudo_r2,
            number(want, "prsquared"),
            d_r2,
            0.0,
        );
        // The chi-square hazard is at most 1/2 for df ≥ 2: |δp| ≤ p·δllr (2× margin).
        assert!(fit.lr_df >= 2, "{label}: the hazard bound needs df ≥ 2");
        assert_close(
            &format!("{label} llr_pvalue"),
            fit.lr_pvalue,
            number(want, "llr_pvalue"),
            0.0,
            d_llr + 1e-14,
        );
    }
}

#[test]
fn ucla_ordered_logit_and_probit() {
    let fx = json("ologit_ucla.json");
    let cols = csv_columns("ologit_ucla.csv");
    let levels = strings(&fx["levels"]);
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
        compare(&format!("ucla {key}"), &fit, &fx[key], &ORDERED);
    }
    // The published values (UCLA IDRE, R `polr`), an estimate independent of statsmodels but a
    // coarser one: polr stops BFGS when the log-likelihood changes by less than reltol = 1.5e-8
    // relative, i.e. 5.3e-6 here, which leaves each estimate up to √(2·5.3e-6)·se ≈ 3.3e-3·se
    // from the optimum (its cut points are 6e-4 off). Its standard errors come from a
    // finite-difference Hessian at that estimate: 1e-3 relative.
    let fit = ordered_logit(&y, &x, &FitOptions::default()).unwrap();
    let published = [
        ("pared", 1.04769, 0.2658),
        ("public", -0.05879, 0.2979),
        ("gpa", 0.61594, 0.2606),
    ];
    for (name, coef, se) in published {
        let i = fit.index(name).unwrap();
        assert_close(
            &format!("polr {name}"),
            fit.params[i],
            coef,
            3.3e-3 * se,
            0.0,
        );
        assert_close(&format!("polr se {name}"), fit.bse[i], se, 0.0, 1e-3);
    }
    let cut_se = fit.threshold_bse();
    for ((got, want), se) in fit.thresholds().iter().zip([2.2039, 4.2994]).zip(cut_se) {
        assert_close("polr cut", *got, want, 3.3e-3 * se, 0.0);
    }
}

#[test]
fn simulated_clustered_pairs() {
    let fx = json("sim_pairs.json");
    let cols = csv_columns(fx["data"].as_str().unwrap());
    let xs = strings(&fx["x"]);
    let x = Design::new(xs.iter().map(|n| (n.clone(), numeric(&cols, n))).collect()).unwrap();
    let users = &cols["user"];
    let y_bin = numeric(&cols, "y_bin");
    let y_ord = OrderedOutcome::from_values(&numeric(&cols, "y_ord")).unwrap();
    let mut compared = 0;
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
                &BINARY,
            );
            let fit = ordered_logit(&y_ord, &x, &opts).unwrap();
            compare(
                &format!("ordered {link_key} {cov_key}"),
                &fit,
                &fx[format!("ordered_{link_key}_{cov_key}")],
                &ORDERED,
            );
            if cov_key == "cluster" {
                assert_eq!(
                    fit.n_clusters,
                    Some(fx["n_clusters"].as_u64().unwrap() as usize)
                );
            }
            compared += 2;
        }
    }
    assert_eq!(compared, 8, "fits compared");
}
