//! Binary logit and probit by maximum likelihood (statsmodels `Logit` / `Probit` with
//! `sm.add_constant`): P(y = 1 | x) = F(const + x'β).

use nalgebra::{DMatrix, DVector};

use crate::design::Design;
use crate::error::StatsError;
use crate::fit::{
    check_clusters, maximise, FitOptions, FitResult, Likelihood, ModelKind, ModelSpec, ParamKind,
};
use crate::link::Link;
use crate::separation::dummy_separation;

struct Binary<'a> {
    x: &'a DMatrix<f64>,
    /// +1 for y = 1, -1 for y = 0.
    q: Vec<f64>,
    link: Link,
}

impl Binary<'_> {
    fn z(&self, theta: &DVector<f64>) -> DVector<f64> {
        let eta = self.x * theta;
        eta.zip_map(&DVector::from_column_slice(&self.q), |e, q| q * e)
    }
}

impl Likelihood for Binary<'_> {
    fn valid(&self, theta: &DVector<f64>) -> bool {
        theta.iter().all(|v| v.is_finite())
    }

    fn loglike(&self, theta: &DVector<f64>) -> f64 {
        self.z(theta).iter().map(|&z| self.link.ln_cdf(z)).sum()
    }

    fn derivatives(&self, theta: &DVector<f64>) -> (f64, DVector<f64>, DMatrix<f64>) {
        let z = self.z(theta);
        let llf = z.iter().map(|&z| self.link.ln_cdf(z)).sum();
        let d_eta = DVector::from_iterator(
            z.len(),
            z.iter()
                .zip(&self.q)
                .map(|(&z, q)| q * self.link.pdf_over_cdf(z)),
        );
        let grad = self.x.tr_mul(&d_eta);
        let mut xw = self.x.clone();
        for (i, &z) in z.iter().enumerate() {
            let w = self.link.d2_ln_cdf(z);
            xw.row_mut(i).scale_mut(w);
        }
        let hess = self.x.tr_mul(&xw);
        (llf, grad, hess)
    }

    fn score_obs(&self, theta: &DVector<f64>) -> DMatrix<f64> {
        let z = self.z(theta);
        let mut s = self.x.clone();
        for (i, &z) in z.iter().enumerate() {
            s.row_mut(i)
                .scale_mut(self.q[i] * self.link.pdf_over_cdf(z));
        }
        s
    }

    fn perfectly_predicted(&self, theta: &DVector<f64>) -> usize {
        self.z(theta)
            .iter()
            .filter(|&&z| self.link.ln_cdf(z) > -1e-10)
            .count()
    }

    fn nobs(&self) -> usize {
        self.x.nrows()
    }
}

/// Fits P(y = 1) = F(const + x'β) with F the logistic (or normal) CDF. `y` holds 0s and 1s.
/// Parameters are named `const` then the regressor names, as statsmodels with `add_constant`.
pub fn logit(y: &[f64], x: &Design, opts: &FitOptions) -> Result<FitResult, StatsError> {
    let n = x.nrows();
    if n == 0 || y.is_empty() {
        return Err(StatsError::Empty);
    }
    if y.len() != n {
        return Err(StatsError::LengthMismatch {
            what: "outcome".into(),
            expected: n,
            found: y.len(),
        });
    }
    if let Some((row, &value)) = y.iter().enumerate().find(|(_, &v)| v != 0.0 && v != 1.0) {
        return Err(StatsError::NotBinary { row, value });
    }
    let n1 = y.iter().filter(|&&v| v == 1.0).count();
    if n1 == 0 || n1 == n {
        let level = if n1 == 0 { "1" } else { "0" };
        return Err(StatsError::EmptyCategory {
            level: level.into(),
        });
    }
    let n_clusters = check_clusters(&opts.covariance, n)?;
    let xc = x.with_const();
    xc.check_rank(true)?;
    let codes: Vec<usize> = y.iter().map(|&v| v as usize).collect();
    let levels = vec!["0".to_string(), "1".to_string()];
    if let Some(err) = dummy_separation(x, &codes, &levels) {
        return Err(err);
    }
    let lik = Binary {
        x: xc.matrix(),
        q: y.iter().map(|&v| 2.0 * v - 1.0).collect(),
        link: opts.link,
    };
    let pbar = n1 as f64 / n as f64;
    let mut theta0 = DVector::zeros(xc.ncols());
    theta0[0] = opts.link.quantile(pbar)?;
    let n0 = (n - n1) as f64;
    let llnull = n1 as f64 * pbar.ln() + n0 * (1.0 - pbar).ln();
    let mut kinds = vec![ParamKind::Slope; xc.ncols()];
    kinds[0] = ParamKind::Const;
    maximise(
        &lik,
        theta0,
        ModelSpec {
            model: ModelKind::Binary,
            names: xc.names().to_vec(),
            kinds,
            levels,
            llnull,
            n_clusters,
        },
        opts,
    )
}
