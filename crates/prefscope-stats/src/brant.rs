//! Brant's (1990) test of the proportional-odds assumption of the ordered logit.
//!
//! Fits the J − 1 binary logits `1[y > j]` on the same regressors and tests that their slopes
//! are equal (Wald test), overall and for each regressor. The covariance between the slopes of
//! binary fits `j ≤ l` is `(X'W_jj X)⁻¹ X'W_jl X (X'W_ll X)⁻¹` with `W_jl = diag(π_l − π_j π_l)`
//! and `π_j` the fitted P(y > j) (constant included in X, dropped from the test). A small
//! p-value says the ordered model's single slope per regressor hides slopes that change across
//! cut points. Uses the plain (not cluster-robust) covariance, as Brant's derivation does.

use nalgebra::{DMatrix, DVector};

use crate::design::Design;
use crate::dist::chi2_sf;
use crate::error::{invalid, StatsError};
use crate::fit::FitOptions;
use crate::link::Link;
use crate::logit::logit;
use crate::ordered::OrderedOutcome;

/// A Wald chi-square test.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WaldTest {
    pub chi2: f64,
    pub df: usize,
    pub p_value: f64,
}

/// Brant's test: the omnibus test and one test per regressor.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BrantTest {
    pub omnibus: WaldTest,
    pub per_variable: Vec<(String, WaldTest)>,
    /// Slopes of each binary logit `1[y > level j]`, one row per cut point.
    pub binary_slopes: Vec<Vec<f64>>,
}

fn wald(b: &DVector<f64>, v: &DMatrix<f64>, d: &DMatrix<f64>) -> Result<WaldTest, StatsError> {
    let db = d * b;
    let dvd = d * v * d.transpose();
    let inv =
        dvd.clone()
            .cholesky()
            .map(|c| c.inverse())
            .ok_or_else(|| StatsError::SingularHessian {
                detail: "Brant covariance of slope differences".into(),
            })?;
    let chi2 = (db.transpose() * inv * &db)[(0, 0)];
    let df = d.nrows();
    Ok(WaldTest {
        chi2,
        df,
        p_value: chi2_sf(chi2.max(0.0), df as f64)?,
    })
}

/// Brant's test for the ordered logit of `y` on `x`. Needs at least three outcome levels.
pub fn brant_test(y: &OrderedOutcome, x: &Design) -> Result<BrantTest, StatsError> {
    let j = y.levels().len();
    if j < 3 {
        return Err(invalid("outcome", "the Brant test needs at least 3 levels"));
    }
    let n = x.nrows();
    let k = x.ncols();
    let xc = x.with_const();
    let xm = xc.matrix();
    let opts = FitOptions::default();
    let mut fitted: Vec<DVector<f64>> = Vec::with_capacity(j - 1);
    let mut covs: Vec<DMatrix<f64>> = Vec::with_capacity(j - 1);
    let mut slopes = Vec::with_capacity(j - 1);
    for cut in 0..j - 1 {
        let z: Vec<f64> = y
            .codes()
            .iter()
            .map(|&c| if c > cut { 1.0 } else { 0.0 })
            .collect();
        let fit = logit(&z, x, &opts)?;
        let theta = DVector::from_column_slice(&fit.params);
        fitted.push((xm * &theta).map(|e| Link::Logit.cdf(e)));
        covs.push(DMatrix::from_fn(k + 1, k + 1, |a, b| fit.cov[a][b]));
        slopes.push(fit.params[1..].to_vec());
    }
    let m = j - 1;
    // Stacked slopes (constant dropped) and their covariance.
    let beta = DVector::from_iterator(m * k, slopes.iter().flatten().copied());
    let mut v = DMatrix::zeros(m * k, m * k);
    for a in 0..m {
        for b in a..m {
            let block = if a == b {
                covs[a].clone()
            } else {
                let w: Vec<f64> = (0..n)
                    .map(|i| fitted[b][i] - fitted[a][i] * fitted[b][i])
                    .collect();
                let mut xw = xm.clone();
                for (i, wi) in w.iter().enumerate() {
                    xw.row_mut(i).scale_mut(*wi);
                }
                &covs[a] * xm.tr_mul(&xw) * &covs[b]
            };
            let sub = block.view((1, 1), (k, k)).into_owned();
            v.view_mut((a * k, b * k), (k, k)).copy_from(&sub);
            if a != b {
                v.view_mut((b * k, a * k), (k, k))
                    .copy_from(&sub.transpose());
            }
        }
    }
    // D: rows beta_1[v] - beta_l[v] for l = 2..m.
    let contrast = |vars: &[usize]| {
        let mut d = DMatrix::zeros((m - 1) * vars.len(), m * k);
        for l in 1..m {
            for (r, &var) in vars.iter().enumerate() {
                let row = (l - 1) * vars.len() + r;
                d[(row, var)] = 1.0;
                d[(row, l * k + var)] = -1.0;
            }
        }
        d
    };
    let all: Vec<usize> = (0..k).collect();
    let omnibus = wald(&beta, &v, &contrast(&all))?;
    let per_variable = (0..k)
        .map(|var| Ok((x.names()[var].clone(), wald(&beta, &v, &contrast(&[var]))?)))
        .collect::<Result<Vec<_>, StatsError>>()?;
    Ok(BrantTest {
        omnibus,
        per_variable,
        binary_slopes: slopes,
    })
}
