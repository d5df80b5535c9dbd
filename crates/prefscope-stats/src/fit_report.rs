//! A fit as its JSON report (`prefscope fit --json`): every estimate named by its parameter,
//! the thresholds of an ordered model apart, the fit statistics, and what the caller adds
//! (rows dropped for missing values, Brant's test).

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::brant::BrantTest;
use crate::fit::{FitResult, ModelKind, ParamKind};

/// Values keyed by parameter name, in the fit's order.
struct Named<'a, T>(&'a [String], &'a [T]);

impl<T: Serialize> Serialize for Named<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, v) in self.0.iter().zip(self.1) {
            map.serialize_entry(name, v)?;
        }
        map.end()
    }
}

/// The report of one fit (see the module docs); serialise it with serde.
#[derive(serde::Serialize)]
pub struct FitReport<'a> {
    model: &'static str,
    link: &'static str,
    cov_type: &'static str,
    n: usize,
    n_clusters: Option<usize>,
    dropped_missing: usize,
    params: Named<'a, f64>,
    bse: Named<'a, f64>,
    zvalues: Named<'a, f64>,
    pvalues: Named<'a, f64>,
    conf_int: Named<'a, [f64; 2]>,
    odds_ratios: Named<'a, Option<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thresholds: Option<Vec<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    threshold_bse: Option<Vec<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    threshold_names: Option<Vec<&'a str>>,
    levels: &'a [String],
    llf: f64,
    llnull: f64,
    lr_chi2: f64,
    lr_df: usize,
    lr_pvalue: f64,
    pseudo_r2: f64,
    aic: f64,
    bic: f64,
    converged: bool,
    iterations: usize,
    grad_max_abs: f64,
    warnings: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    brant: Option<&'a BrantTest>,
}

impl FitResult {
    /// The fit's report, with the rows the caller dropped and, for an ordered model, Brant's
    /// test when it ran.
    pub fn report<'a>(
        &'a self,
        dropped_missing: usize,
        brant: Option<&'a BrantTest>,
    ) -> FitReport<'a> {
        let ordered = self.model == ModelKind::Ordered;
        let n = &self.names;
        FitReport {
            model: if ordered { "ologit" } else { "logit" },
            link: self.link.name(),
            cov_type: self.cov_type,
            n: self.n,
            n_clusters: self.n_clusters,
            dropped_missing,
            params: Named(n, &self.params),
            bse: Named(n, &self.bse),
            zvalues: Named(n, &self.zvalues),
            pvalues: Named(n, &self.pvalues),
            conf_int: Named(n, &self.conf_int),
            odds_ratios: Named(n, &self.odds_ratios),
            thresholds: ordered.then(|| self.thresholds()),
            threshold_bse: ordered.then(|| self.threshold_bse()),
            threshold_names: ordered.then(|| {
                n.iter()
                    .zip(&self.kinds)
                    .filter(|(_, k)| **k == ParamKind::Threshold)
                    .map(|(name, _)| name.as_str())
                    .collect()
            }),
            levels: &self.levels,
            llf: self.llf,
            llnull: self.llnull,
            lr_chi2: self.lr_chi2,
            lr_df: self.lr_df,
            lr_pvalue: self.lr_pvalue,
            pseudo_r2: self.pseudo_r2,
            aic: self.aic,
            bic: self.bic,
            converged: self.convergence.converged,
            iterations: self.convergence.iterations,
            grad_max_abs: self.convergence.grad_max_abs,
            warnings: &self.warnings,
            brant,
        }
    }
}
