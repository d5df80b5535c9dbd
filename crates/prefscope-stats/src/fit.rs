//! What binary and ordered models share: fit options, the [`Likelihood`] a model implements,
//! the Newton maximiser with step halving, plain and cluster-robust covariances, and the
//! [`FitResult`] with its statsmodels-like summary. [`maximise`] is the one tail both models
//! run after their own input checks: Newton, separation, covariance, result.
//!
//! Cluster-robust covariance is statsmodels' `cov_type='cluster'` with its default small-sample
//! correction: `V = c · H⁻¹ (Σ_g s_g s_gᵀ) H⁻¹` with `s_g` the summed score of cluster `g` and
//! `c = G/(G-1) · (N-1)/(N-P)`, `P` counting every parameter (thresholds included).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::Hash;

use nalgebra::{DMatrix, DVector};

use crate::dist::{chi2_sf, normal_quantile, normal_two_sided_p};
use crate::error::StatsError;
use crate::link::Link;
use crate::separation::separation_or_singular;

/// Which covariance to report.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Covariance {
    /// The inverse of the observed information (negative Hessian).
    #[default]
    Plain,
    /// Cluster-robust sandwich; `groups[i]` is the cluster code (0..n_groups) of row `i`.
    Cluster { groups: Vec<usize>, n_groups: usize },
}

impl Covariance {
    /// Cluster-robust covariance with clusters given by any labels (user ids, say).
    pub fn cluster<T: Hash + Eq>(labels: &[T]) -> Covariance {
        let (groups, n_groups) = cluster_codes(labels);
        Covariance::Cluster { groups, n_groups }
    }

    /// `"nonrobust"` or `"cluster"`, as statsmodels names them.
    pub fn name(&self) -> &'static str {
        match self {
            Covariance::Plain => "nonrobust",
            Covariance::Cluster { .. } => "cluster",
        }
    }
}

/// Maps labels to codes 0..G in order of first appearance; returns the codes and G.
pub fn cluster_codes<T: Hash + Eq>(labels: &[T]) -> (Vec<usize>, usize) {
    let mut map: HashMap<&T, usize> = HashMap::new();
    let codes = labels
        .iter()
        .map(|l| {
            let next = map.len();
            *map.entry(l).or_insert(next)
        })
        .collect();
    (codes, map.len())
}

/// Options shared by the binary and the ordered fit (`logit`, `ordered_logit`).
#[derive(Debug, Clone, PartialEq)]
pub struct FitOptions {
    pub link: Link,
    pub covariance: Covariance,
    /// Newton iterations before giving up (the result then says `converged: false`).
    pub max_iter: usize,
    /// Converged when every Newton step is below `tol · (1 + |θ_j|)`.
    pub tol: f64,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            link: Link::Logit,
            covariance: Covariance::Plain,
            max_iter: 100,
            tol: 1e-10,
        }
    }
}

/// Binary or ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    Binary,
    Ordered,
}

/// What a parameter is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamKind {
    Const,
    Slope,
    Threshold,
}

/// How the maximisation went.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Convergence {
    pub converged: bool,
    pub iterations: usize,
    /// Largest absolute gradient entry at the estimate.
    pub grad_max_abs: f64,
    /// Step halvings taken over all iterations.
    pub step_halvings: usize,
}

/// A fitted binary or ordered model.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FitResult {
    pub model: ModelKind,
    pub link: Link,
    pub cov_type: &'static str,
    /// Parameter names: `const` then regressors (binary); regressors then `lo/hi` thresholds
    /// (ordered).
    pub names: Vec<String>,
    pub kinds: Vec<ParamKind>,
    pub params: Vec<f64>,
    pub bse: Vec<f64>,
    pub zvalues: Vec<f64>,
    pub pvalues: Vec<f64>,
    /// 95% Wald intervals `[low, high]` (normal quantiles, as statsmodels for these models).
    pub conf_int: Vec<[f64; 2]>,
    /// `exp(param)` for slopes and the constant of logit-link models; `None` otherwise.
    pub odds_ratios: Vec<Option<f64>>,
    /// Row-major P x P covariance of `params`.
    pub cov: Vec<Vec<f64>>,
    /// Outcome levels, lowest first (ordered models), or `["0", "1"]`.
    pub levels: Vec<String>,
    pub llf: f64,
    pub llnull: f64,
    pub lr_chi2: f64,
    pub lr_df: usize,
    pub lr_pvalue: f64,
    pub pseudo_r2: f64,
    pub aic: f64,
    pub bic: f64,
    pub n: usize,
    pub n_clusters: Option<usize>,
    pub convergence: Convergence,
    pub warnings: Vec<String>,
}

impl FitResult {
    /// Index of the parameter `name`.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// Estimate of the parameter `name`.
    pub fn param(&self, name: &str) -> Option<f64> {
        self.index(name).map(|i| self.params[i])
    }

    /// The ordered model's cut points, increasing (empty for binary models).
    pub fn thresholds(&self) -> Vec<f64> {
        self.select(ParamKind::Threshold, &self.params)
    }

    /// Standard errors of the cut points.
    pub fn threshold_bse(&self) -> Vec<f64> {
        self.select(ParamKind::Threshold, &self.bse)
    }

    /// Did Newton converge.
    pub fn converged(&self) -> bool {
        self.convergence.converged
    }

    fn select(&self, kind: ParamKind, v: &[f64]) -> Vec<f64> {
        self.kinds
            .iter()
            .zip(v)
            .filter(|(k, _)| **k == kind)
            .map(|(_, v)| *v)
            .collect()
    }

    /// A plain-text table in the layout of statsmodels' `summary()`.
    pub fn summary(&self) -> String {
        let title = match (self.model, self.link) {
            (ModelKind::Binary, Link::Logit) => "Logit Regression Results",
            (ModelKind::Binary, Link::Probit) => "Probit Regression Results",
            (ModelKind::Ordered, Link::Logit) => "Ordered Logit Regression Results",
            (ModelKind::Ordered, Link::Probit) => "Ordered Probit Regression Results",
        };
        let width = 86;
        let mut s = String::new();
        let _ = writeln!(s, "{title:^width$}");
        let _ = writeln!(s, "{}", "=".repeat(width));
        let rows = [
            (
                "No. Observations:",
                self.n.to_string(),
                "Log-Likelihood:",
                format!("{:.4}", self.llf),
            ),
            (
                "Parameters:",
                self.params.len().to_string(),
                "LL-Null:",
                format!("{:.4}", self.llnull),
            ),
            (
                "Covariance Type:",
                self.cov_type.to_string(),
                "LLR p-value:",
                format!("{:.4e}", self.lr_pvalue),
            ),
            (
                "Clusters:",
                self.n_clusters
                    .map(|g| g.to_string())
                    .unwrap_or_else(|| "-".into()),
                "Pseudo R-squ.:",
                format!("{:.4}", self.pseudo_r2),
            ),
            (
                "Converged:",
                format!(
                    "{} ({} it.)",
                    self.convergence.converged, self.convergence.iterations
                ),
                "AIC / BIC:",
                format!("{:.2} / {:.2}", self.aic, self.bic),
            ),
        ];
        for (a, b, c, d) in rows {
            let _ = writeln!(s, "{a:<20}{b:>22}   {c:<20}{d:>21}");
        }
        let _ = writeln!(s, "{}", "=".repeat(width));
        let name_w = self
            .names
            .iter()
            .map(|n| n.len())
            .max()
            .unwrap_or(5)
            .max(10);
        let _ = writeln!(
            s,
            "{:<name_w$} {:>10} {:>10} {:>8} {:>8} {:>10} {:>10} {:>9}",
            "", "coef", "std err", "z", "P>|z|", "[0.025", "0.975]", "odds r."
        );
        let _ = writeln!(s, "{}", "-".repeat(width));
        for i in 0..self.params.len() {
            let or = self.odds_ratios[i]
                .map(|v| format!("{v:.4}"))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "{:<name_w$} {:>10.4} {:>10.4} {:>8.3} {:>8.3} {:>10.4} {:>10.4} {:>9}",
                self.names[i],
                self.params[i],
                self.bse[i],
                self.zvalues[i],
                self.pvalues[i],
                self.conf_int[i][0],
                self.conf_int[i][1],
                or
            );
        }
        let _ = writeln!(s, "{}", "=".repeat(width));
        for w in &self.warnings {
            let _ = writeln!(s, "warning: {w}");
        }
        s
    }
}

/// A log-likelihood with analytic derivatives, over a parameter vector θ.
pub(crate) trait Likelihood {
    /// Is θ inside the parameter space (e.g. increasing cut points)?
    fn valid(&self, theta: &DVector<f64>) -> bool;
    /// The log-likelihood.
    fn loglike(&self, theta: &DVector<f64>) -> f64;
    /// Log-likelihood, gradient and Hessian.
    fn derivatives(&self, theta: &DVector<f64>) -> (f64, DVector<f64>, DMatrix<f64>);
    /// Per-observation scores, n x P.
    fn score_obs(&self, theta: &DVector<f64>) -> DMatrix<f64>;
    /// Number of observations whose observed outcome has fitted probability above 1 - 1e-10.
    fn perfectly_predicted(&self, theta: &DVector<f64>) -> usize;
    fn nobs(&self) -> usize;
}

/// Why Newton stopped early.
enum NewtonFailure {
    /// -H was not positive definite at this θ.
    Singular(DVector<f64>),
}

/// Newton-Raphson with step halving. Returns the estimate, its Hessian and the report.
fn newton<L: Likelihood>(
    lik: &L,
    mut theta: DVector<f64>,
    opts: &FitOptions,
) -> Result<(DVector<f64>, DMatrix<f64>, Convergence), NewtonFailure> {
    let mut halvings = 0;
    let mut converged = false;
    let mut iterations = 0;
    while iterations < opts.max_iter {
        iterations += 1;
        let (llf, grad, hess) = lik.derivatives(&theta);
        let Some(chol) = (-&hess).cholesky() else {
            return Err(NewtonFailure::Singular(theta));
        };
        let step = chol.solve(&grad);
        let mut t = 1.0;
        let mut accepted = None;
        for _ in 0..60 {
            let cand = &theta + &step * t;
            if lik.valid(&cand) {
                let l = lik.loglike(&cand);
                if l.is_finite() && l >= llf - 1e-12 * (1.0 + llf.abs()) {
                    accepted = Some(cand);
                    break;
                }
            }
            t *= 0.5;
            halvings += 1;
        }
        let small = step
            .iter()
            .zip(theta.iter())
            .all(|(s, th)| (t * s).abs() <= opts.tol * (1.0 + th.abs()));
        match accepted {
            Some(cand) => theta = cand,
            None => {
                // No step improves the likelihood: we are at the optimum up to rounding.
                converged = grad.amax() < 1e-6 * (1.0 + llf.abs());
                break;
            }
        }
        if small {
            converged = true;
            break;
        }
    }
    let (_, grad, hess) = lik.derivatives(&theta);
    if (-&hess).cholesky().is_none() {
        return Err(NewtonFailure::Singular(theta));
    }
    let report = Convergence {
        converged,
        iterations,
        grad_max_abs: grad.amax(),
        step_halvings: halvings,
    };
    Ok((theta, hess, report))
}

/// Plain or cluster-robust covariance at the estimate.
fn covariance<L: Likelihood>(
    lik: &L,
    theta: &DVector<f64>,
    hess: &DMatrix<f64>,
    cov: &Covariance,
) -> Result<DMatrix<f64>, StatsError> {
    let p = theta.len();
    let chol = (-hess)
        .cholesky()
        .ok_or_else(|| StatsError::SingularHessian {
            detail: "at the estimate".into(),
        })?;
    let bread = chol.inverse();
    match cov {
        Covariance::Plain => Ok(bread),
        Covariance::Cluster { groups, n_groups } => {
            let n = lik.nobs();
            let scores = lik.score_obs(theta);
            let mut sums = DMatrix::<f64>::zeros(*n_groups, p);
            for (i, &g) in groups.iter().enumerate() {
                for j in 0..p {
                    sums[(g, j)] += scores[(i, j)];
                }
            }
            let meat = sums.transpose() * &sums;
            let g = *n_groups as f64;
            let nf = n as f64;
            let c = g / (g - 1.0) * (nf - 1.0) / (nf - p as f64);
            let v = &bread * meat * &bread * c;
            Ok((&v + v.transpose()) * 0.5)
        }
    }
}

/// Checks cluster labels against the data before fitting.
pub(crate) fn check_clusters(cov: &Covariance, n: usize) -> Result<Option<usize>, StatsError> {
    match cov {
        Covariance::Plain => Ok(None),
        Covariance::Cluster { groups, n_groups } => {
            if groups.len() != n {
                return Err(StatsError::LengthMismatch {
                    what: "cluster labels".into(),
                    expected: n,
                    found: groups.len(),
                });
            }
            if *n_groups < 2 {
                return Err(StatsError::TooFewClusters {
                    found: *n_groups,
                    min: 2,
                });
            }
            Ok(Some(*n_groups))
        }
    }
}

/// What a model states about itself besides its likelihood: the names and kinds of its
/// parameters, its outcome levels, its null log-likelihood and its cluster count.
pub(crate) struct ModelSpec {
    pub model: ModelKind,
    pub names: Vec<String>,
    pub kinds: Vec<ParamKind>,
    pub levels: Vec<String>,
    pub llnull: f64,
    pub n_clusters: Option<usize>,
}

/// Maximises `lik` from `theta0` by Newton and reports the fit: a divergence that leaves
/// observations predicted perfectly is [`StatsError::Separation`], a singular information
/// matrix [`StatsError::SingularHessian`]; the covariance is the one `opts` asks for.
pub(crate) fn maximise<L: Likelihood>(
    lik: &L,
    theta0: DVector<f64>,
    spec: ModelSpec,
    opts: &FitOptions,
) -> Result<FitResult, StatsError> {
    let diverged =
        |theta: &DVector<f64>| separation_or_singular(lik.perfectly_predicted(theta), lik.nobs());
    let (theta, hess, convergence) = match newton(lik, theta0, opts) {
        Ok(r) => r,
        Err(NewtonFailure::Singular(theta)) => return Err(diverged(&theta)),
    };
    if !convergence.converged && lik.perfectly_predicted(&theta) > 0 {
        return Err(diverged(&theta));
    }
    let cov = covariance(lik, &theta, &hess, &opts.covariance)?;
    let a = Assembly {
        model: spec.model,
        link: opts.link,
        cov_type: opts.covariance.name(),
        names: spec.names,
        kinds: spec.kinds,
        levels: spec.levels,
        llf: lik.loglike(&theta),
        theta,
        cov,
        llnull: spec.llnull,
        n: lik.nobs(),
        n_clusters: spec.n_clusters,
        convergence,
    };
    assemble(a)
}

/// Everything needed to turn an estimate into a [`FitResult`].
struct Assembly {
    model: ModelKind,
    link: Link,
    cov_type: &'static str,
    names: Vec<String>,
    kinds: Vec<ParamKind>,
    levels: Vec<String>,
    theta: DVector<f64>,
    cov: DMatrix<f64>,
    llf: f64,
    llnull: f64,
    n: usize,
    n_clusters: Option<usize>,
    convergence: Convergence,
}

fn assemble(a: Assembly) -> Result<FitResult, StatsError> {
    let p = a.theta.len();
    let params: Vec<f64> = a.theta.iter().copied().collect();
    let bse: Vec<f64> = (0..p).map(|i| a.cov[(i, i)].max(0.0).sqrt()).collect();
    let zvalues: Vec<f64> = params.iter().zip(&bse).map(|(b, s)| b / s).collect();
    let pvalues = zvalues
        .iter()
        .map(|&z| normal_two_sided_p(z))
        .collect::<Result<_, _>>()?;
    let q = normal_quantile(0.975)?;
    let conf_int = params
        .iter()
        .zip(&bse)
        .map(|(b, s)| [b - q * s, b + q * s])
        .collect();
    let odds_ratios = params
        .iter()
        .zip(&a.kinds)
        .map(|(b, k)| (a.link == Link::Logit && *k != ParamKind::Threshold).then(|| b.exp()))
        .collect();
    let lr_df = a.kinds.iter().filter(|k| **k == ParamKind::Slope).count();
    let lr_chi2 = 2.0 * (a.llf - a.llnull);
    let lr_pvalue = chi2_sf(lr_chi2.max(0.0), lr_df as f64)?;
    let nf = a.n as f64;
    let mut warnings = Vec::new();
    if !a.convergence.converged {
        warnings.push(format!(
            "Newton did not converge in {} iterations (largest gradient entry {:.3e})",
            a.convergence.iterations, a.convergence.grad_max_abs
        ));
    }
    if let Some(g) = a.n_clusters {
        if g < p {
            warnings.push(format!(
                "{g} clusters for {p} parameters: the cluster-robust covariance is singular"
            ));
        } else if g < 30 {
            warnings.push(format!(
                "only {g} clusters: cluster-robust standard errors may be too small"
            ));
        }
    }
    Ok(FitResult {
        model: a.model,
        link: a.link,
        cov_type: a.cov_type,
        names: a.names,
        kinds: a.kinds,
        params,
        bse,
        zvalues,
        pvalues,
        conf_int,
        odds_ratios,
        cov: (0..p)
            .map(|i| (0..p).map(|j| a.cov[(i, j)]).collect())
            .collect(),
        levels: a.levels,
        llf: a.llf,
        llnull: a.llnull,
        lr_chi2,
        lr_df,
        lr_pvalue,
        pseudo_r2: 1.0 - a.llf / a.llnull,
        aic: -2.0 * a.llf + 2.0 * p as f64,
        bic: -2.0 * a.llf + nf.ln() * p as f64,
        n: a.n,
        n_clusters: a.n_clusters,
        convergence: a.convergence,
        warnings,
    })
}
