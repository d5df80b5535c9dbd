//! Fitting W2 or OL to a [`PairTable`] and turning the fit into [`Predictions`]: standard
//! errors clustered by user, slopes' p-values optionally Holm- or BH-adjusted, a split selected
//! when its adjusted p < alpha, predicting the sign of its coefficient.

use prefscope_data::KindFilter;
use prefscope_stats::{
    logit, ordered_logit, select_directions, Adjustment, Covariance, FitOptions, FitResult,
    OrderedOutcome,
};

use crate::error::PredictError;
use crate::outcome::{quartile_codes, quartile_cuts, w2_outcome, QUARTILE_LEVELS};
use crate::pair_table::PairTable;
use crate::predictions::{Definition, Model, Predictions, SplitPrediction};

/// Which model to fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ModelSpec {
    /// Binary logit of `score_gap > threshold`.
    W2 { threshold: f64 },
    /// Ordered logit of the score-gap quartile (cut points from the table's gaps).
    Ol,
}

/// How splits are selected, and what the table was built from (recorded in the file).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PredictOptions {
    /// The kind of pairs in the table.
    pub kind: KindFilter,
    /// Significance level, in (0, 1).
    pub alpha: f64,
    pub adjustment: Adjustment,
}

/// The fit and the predictions made from it.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    pub fit: FitResult,
    pub predictions: Predictions,
}

/// Fits `spec` to `table` and selects the splits.
pub fn predict(
    table: &PairTable,
    spec: ModelSpec,
    opts: &PredictOptions,
) -> Result<Prediction, PredictError> {
    let fit_opts = FitOptions {
        covariance: Covariance::cluster(table.users()),
        ..Default::default()
    };
    let (model, fit, definition) = match spec {
        ModelSpec::W2 { threshold } => {
            if !threshold.is_finite() {
                return Err(PredictError::Threshold(threshold));
            }
            let y = w2_outcome(table.gaps(), threshold);
            let fit = logit(&y, table.design(), &fit_opts).map_err(|error| PredictError::Fit {
                model: Model::W2.fit_name(),
                error,
            })?;
            (Model::W2, fit, Definition::Threshold { threshold })
        }
        ModelSpec::Ol => {
            let cut_points = quartile_cuts(table.gaps());
            let codes = quartile_codes(table.gaps(), &cut_points);
            let levels = QUARTILE_LEVELS.iter().map(|l| l.to_string()).collect();
            let y = OrderedOutcome::from_codes(codes, levels).map_err(PredictError::Stats)?;
            let fit = ordered_logit(&y, table.design(), &fit_opts).map_err(|error| {
                PredictError::Fit {
                    model: Model::Ol.fit_name(),
                    error,
                }
            })?;
            (Model::Ol, fit, Definition::Quartiles { cut_points })
        }
    };
    let selected =
        select_directions(&fit, opts.adjustment, opts.alpha).map_err(PredictError::Stats)?;
    let splits = selected
        .iter()
        .zip(table.splits())
        .map(|(s, def)| SplitPrediction {
            split: def.name.clone(),
            a_label: def.a_label.clone(),
            b_label: def.b_label.clone(),
            null_control: def.null_control,
            coef: s.coef,
            bse: s.bse,
            p_value: s.p_value,
            p_adjusted: s.p_adjusted,
            selected: s.selected,
            direction: s.direction,
        })
        .collect();
    let predictions = Predictions {
        model,
        definition,
        kind: opts.kind,
        alpha: opts.alpha,
        adjust: opts.adjustment,
        n: fit.n,
        n_clusters: fit.n_clusters,
        pairs_dropped_missing_group: table.dropped_missing_group(),
        splits_left_out: table.left_out().to_vec(),
        converged: fit.converged(),
        llf: fit.llf,
        held_out_users_excluded: 0,
        splits,
    };
    Ok(Prediction { fit, predictions })
}
