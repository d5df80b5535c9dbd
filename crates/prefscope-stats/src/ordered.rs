//! Ordered logit and probit (statsmodels `OrderedModel`): P(y ≤ j | x) = F(c_j − x'β) with
//! increasing cut points c_1 < … < c_{J−1} and no constant.
//!
//! statsmodels parametrises the cut points as `c_1, ln(c_2 − c_1), …` and reports that vector.
//! prefscope maximises directly over the natural cut points (keeping them increasing by step
//! halving) and reports them, with standard errors from the inverse Hessian (or sandwich) in that
//! parametrisation. At the maximum this equals the delta method applied to statsmodels'
//! covariance: the gradient is zero, so the Hessian transforms exactly as `Jᵀ H J`, and scores
//! transform by the same Jacobian, so plain and cluster-robust standard errors agree.

use nalgebra::{DMatrix, DVector};

use crate::design::Design;
use crate::error::StatsError;
use crate::fit::{
    check_clusters, maximise, FitOptions, FitResult, Likelihood, ModelKind, ModelSpec, ParamKind,
};
use crate::link::Link;
use crate::separation::dummy_separation;

/// An ordered outcome: category codes 0..J (lowest first) and their labels.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderedOutcome {
    codes: Vec<usize>,
    levels: Vec<String>,
}

impl OrderedOutcome {
    /// Numeric outcomes; the distinct values, ascending, are the levels.
    pub fn from_values(values: &[f64]) -> Result<OrderedOutcome, StatsError> {
        if let Some((row, &value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(StatsError::NonFinite {
                column: "outcome".into(),
                row,
                value,
            });
        }
        let mut distinct = values.to_vec();
        distinct.sort_by(f64::total_cmp);
        distinct.dedup();
        let codes = values
            .iter()
            .map(|v| distinct.binary_search_by(|d| d.total_cmp(v)).unwrap_or(0))
            .collect();
        let levels = distinct.iter().map(|v| format!("{v}")).collect();
        Ok(OrderedOutcome { codes, levels })
    }

    /// Text outcomes ordered by `levels` (lowest first). A value outside `levels` is an error;
    /// a level that never occurs is reported when fitting.
    pub fn from_labels<S: AsRef<str>, L: AsRef<str>>(
        values: &[S],
        levels: &[L],
    ) -> Result<OrderedOutcome, StatsError> {
        let levels: Vec<String> = levels.iter().map(|l| l.as_ref().to_string()).collect();
        let codes = values
            .iter()
            .enumerate()
            .map(|(row, v)| {
                levels.iter().position(|l| l == v.as_ref()).ok_or_else(|| {
                    StatsError::UnknownLevel {
                        row,
                        value: v.as_ref().to_string(),
                        levels: levels.join(", "),
                    }
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(OrderedOutcome { codes, levels })
    }

    /// Codes 0..levels.len() directly.
    pub fn from_codes(
        codes: Vec<usize>,
        levels: Vec<String>,
    ) -> Result<OrderedOutcome, StatsError> {
        if let Some((row, &c)) = codes.iter().enumerate().find(|(_, &c)| c >= levels.len()) {
            return Err(StatsError::UnknownLevel {
                row,
                value: c.to_string(),
                levels: levels.join(", "),
            });
        }
        Ok(OrderedOutcome { codes, levels })
    }

    pub fn codes(&self) -> &[usize] {
        &self.codes
    }

    pub fn levels(&self) -> &[String] {
        &self.levels
    }

    /// Observations per category.
    pub fn counts(&self) -> Vec<usize> {
        let mut c = vec![0; self.levels.len()];
        self.codes.iter().for_each(|&k| c[k] += 1);
        c
    }
}

struct Ordered<'a> {
    x: &'a DMatrix<f64>,
    codes: &'a [usize],
    n_cuts: usize,
    link: Link,
}

/// One observation's probability and first and second derivatives with respect to its upper
/// (a = c_j − η) and lower (b = c_{j−1} − η) bounds.
struct ObsTerms {
    ln_p: f64,
    /// f(a)/π and f(b)/π (0 where the bound is infinite).
    u: f64,
    v: f64,
    /// f'(a)/π and f'(b)/π.
    du: f64,
    dv: f64,
}

impl Ordered<'_> {
    fn k(&self) -> usize {
        self.x.ncols()
    }

    fn terms(&self, code: usize, eta: f64, cuts: &[f64]) -> ObsTerms {
        let link = self.link;
        let upper = (code < self.n_cuts).then(|| cuts[code] - eta);
        let lower = (code > 0).then(|| cuts[code - 1] - eta);
        match (lower, upper) {
            (None, Some(a)) => {
                let u = link.pdf_over_cdf(a);
                ObsTerms {
                    ln_p: link.ln_cdf(a),
                    u,
                    v: 0.0,
                    du: link.d2_ln_cdf(a) + u * u,
                    dv: 0.0,
                }
            }
            (Some(b), None) => {
                // π = 1 − F(b) = F(−b); f is even and f' odd for symmetric links.
                let v = link.pdf_over_cdf(-b);
                ObsTerms {
                    ln_p: link.ln_cdf(-b),
                    u: 0.0,
                    v,
                    du: 0.0,
                    dv: -(link.d2_ln_cdf(-b) + v * v),
                }
            }
            (Some(b), Some(a)) => {
                let p = if b > 0.0 {
                    link.cdf(-b) - link.cdf(-a)
                } else {
                    link.cdf(a) - link.cdf(b)
                };
                ObsTerms {
                    ln_p: p.ln(),
                    u: link.pdf(a) / p,
                    v: link.pdf(b) / p,
                    du: link.dpdf(a) / p,
                    dv: link.dpdf(b) / p,
                }
            }
            (None, None) => ObsTerms {
                ln_p: 0.0,
                u: 0.0,
                v: 0.0,
                du: 0.0,
                dv: 0.0,
            },
        }
    }

    fn split<'t>(&self, theta: &'t DVector<f64>) -> (DVector<f64>, &'t [f64]) {
        let k = self.k();
        (self.x * theta.rows(0, k), &theta.as_slice()[k..])
    }
}

impl Likelihood for Ordered<'_> {
    fn valid(&self, theta: &DVector<f64>) -> bool {
        let cuts = &theta.as_slice()[self.k()..];
        theta.iter().all(|v| v.is_finite()) && cuts.windows(2).all(|w| w[0] < w[1])
    }

    fn loglike(&self, theta: &DVector<f64>) -> f64 {
        let (eta, cuts) = self.split(theta);
        self.codes
            .iter()
            .zip(eta.iter())
            .map(|(&c, &e)| self.terms(c, e, cuts).ln_p)
            .sum()
    }

    fn derivatives(&self, theta: &DVector<f64>) -> (f64, DVector<f64>, DMatrix<f64>) {
        let k = self.k();
        let p = theta.len();
        let (eta, cuts) = self.split(theta);
        let mut llf = 0.0;
        let mut grad = DVector::zeros(p);
        let mut hess = DMatrix::zeros(p, p);
        let mut xw = self.x.clone();
        for (i, (&code, &e)) in self.codes.iter().zip(eta.iter()).enumerate() {
            let t = self.terms(code, e, cuts);
            llf += t.ln_p;
            let d_eta = -(t.u - t.v);
            let w = t.du - t.dv - d_eta * d_eta;
            let xi = self.x.row(i);
            for j in 0..k {
                grad[j] += d_eta * xi[j];
            }
            xw.row_mut(i).scale_mut(w);
            if code < self.n_cuts {
                let up = k + code;
                grad[up] += t.u;
                let cross = -t.du - d_eta * t.u;
                for j in 0..k {
                    hess[(j, up)] += cross * xi[j];
                }
                hess[(up, up)] += t.du - t.u * t.u;
            }
            if code > 0 {
                let lo = k + code - 1;
                grad[lo] -= t.v;
                let cross = t.dv + d_eta * t.v;
                for j in 0..k {
                    hess[(j, lo)] += cross * xi[j];
                }
                hess[(lo, lo)] += -t.dv - t.v * t.v;
                if code < self.n_cuts {
                    hess[(lo, lo + 1)] += t.u * t.v;
                }
            }
        }
        let xtx = self.x.tr_mul(&xw);
        hess.view_mut((0, 0), (k, k)).copy_from(&xtx);
        for a in 0..p {
            for b in (a + 1)..p {
                if a >= k || b >= k {
                    hess[(b, a)] = hess[(a, b)];
                }
            }
        }
        (llf, grad, hess)
    }

    fn score_obs(&self, theta: &DVector<f64>) -> DMatrix<f64> {
        let k = self.k();
        let (eta, cuts) = self.split(theta);
        let mut s = DMatrix::zeros(self.codes.len(), theta.len());
        for (i, (&code, &e)) in self.codes.iter().zip(eta.iter()).enumerate() {
            let t = self.terms(code, e, cuts);
            let d_eta = -(t.u - t.v);
            for j in 0..k {
                s[(i, j)] = d_eta * self.x[(i, j)];
            }
            if code < self.n_cuts {
                s[(i, k + code)] += t.u;
            }
            if code > 0 {
                s[(i, k + code - 1)] -= t.v;
            }
        }
        s
    }

    fn perfectly_predicted(&self, theta: &DVector<f64>) -> usize {
        let (eta, cuts) = self.split(theta);
        self.codes
            .iter()
            .zip(eta.iter())
            .filter(|(&c, &e)| self.terms(c, e, cuts).ln_p > -1e-10)
            .count()
    }

    fn nobs(&self) -> usize {
        self.codes.len()
    }
}

/// Fits the ordered model. Parameters: the regressors' slopes, then the J − 1 cut points named
/// `lower/upper` after the levels they separate. A positive slope moves mass to higher levels.
pub fn ordered_logit(
    y: &OrderedOutcome,
    x: &Design,
    opts: &FitOptions,
) -> Result<FitResult, StatsError> {
    let n = x.nrows();
    if n == 0 {
        return Err(StatsError::Empty);
    }
    if y.codes.len() != n {
        return Err(StatsError::LengthMismatch {
            what: "outcome".into(),
            expected: n,
            found: y.codes.len(),
        });
    }
    let j = y.levels.len();
    if j < 2 {
        return Err(StatsError::TooFewCategories { found: j });
    }
    let counts = y.counts();
    if let Some(empty) = counts.iter().position(|&c| c == 0) {
        return Err(StatsError::EmptyCategory {
            level: y.levels[empty].clone(),
        });
    }
    let n_clusters = check_clusters(&opts.covariance, n)?;
    x.check_rank(false)?;
    if let Some(err) = dummy_separation(x, &y.codes, &y.levels) {
        return Err(err);
    }
    let lik = Ordered {
        x: x.matrix(),
        codes: &y.codes,
        n_cuts: j - 1,
        link: opts.link,
    };
    let k = x.ncols();
    let mut theta0 = DVector::zeros(k + j - 1);
    let mut cum = 0usize;
    for c in 0..j - 1 {
        cum += counts[c];
        theta0[k + c] = opts.link.quantile(cum as f64 / n as f64)?;
    }
    let llnull = counts
        .iter()
        .map(|&c| c as f64 * (c as f64 / n as f64).ln())
        .sum();
    let mut names = x.names().to_vec();
    names.extend((0..j - 1).map(|c| format!("{}/{}", y.levels[c], y.levels[c + 1])));
    let mut kinds = vec![ParamKind::Slope; k];
    kinds.extend(std::iter::repeat_n(ParamKind::Threshold, j - 1));
    maximise(
        &lik,
        theta0,
        ModelSpec {
            model: ModelKind::Ordered,
            names,
            kinds,
            levels: y.levels.clone(),
            llnull,
            n_clusters,
        },
        opts,
    )
}
