//! Variable selection for the research pipeline: which regressors of a fitted W2 or OL model are
//! significant (p < alpha, optionally Holm- or BH-adjusted over the slopes), and the direction
//! each predicts (the sign of its coefficient; 0 when not selected).

use crate::error::{invalid, StatsError};
use crate::fit::{FitResult, ParamKind};
use crate::multitest::{adjust, Adjustment};

/// One regressor's verdict.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Selected {
    pub name: String,
    pub coef: f64,
    pub bse: f64,
    pub p_value: f64,
    /// p-value after the adjustment (equal to `p_value` for [`Adjustment::None`]).
    pub p_adjusted: f64,
    pub selected: bool,
    /// +1 or -1 when selected (the sign of `coef`), else 0.
    pub direction: i8,
}

/// Applies `adjustment` to the slopes' p-values (not the constant or cut points) and selects
/// those below `alpha`.
pub fn select_directions(
    fit: &FitResult,
    adjustment: Adjustment,
    alpha: f64,
) -> Result<Vec<Selected>, StatsError> {
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(invalid("alpha", format!("{alpha} is not in (0, 1)")));
    }
    let slopes: Vec<usize> = (0..fit.names.len())
        .filter(|&i| fit.kinds[i] == ParamKind::Slope)
        .collect();
    let p: Vec<f64> = slopes.iter().map(|&i| fit.pvalues[i]).collect();
    let adjusted = adjust(&p, adjustment)?;
    Ok(slopes
        .iter()
        .zip(adjusted)
        .map(|(&i, pa)| {
            let selected = pa < alpha;
            let coef = fit.params[i];
            Selected {
                name: fit.names[i].clone(),
                coef,
                bse: fit.bse[i],
                p_value: fit.pvalues[i],
                p_adjusted: pa,
                selected,
                direction: if selected { coef.signum() as i8 } else { 0 },
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ordered_logit, Design, FitOptions, OrderedOutcome};

    #[test]
    fn selects_by_adjusted_p_and_signs() {
        // y rises with a; b is noise.
        let a: Vec<f64> = (0..60).map(|i| (i % 10) as f64).collect();
        let b: Vec<f64> = (0..60).map(|i| ((i * 7) % 5) as f64).collect();
        let y: Vec<f64> = a
            .iter()
            .enumerate()
            .map(|(i, v)| ((v / 3.4 + (i % 3) as f64 * 0.7) as usize).min(3) as f64)
            .collect();
        let x = Design::new(vec![("a", a), ("b", b)]).unwrap();
        let fit = ordered_logit(
            &OrderedOutcome::from_values(&y).unwrap(),
            &x,
            &FitOptions::default(),
        )
        .unwrap();
        let s = select_directions(&fit, Adjustment::Holm, 0.05).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].name.as_str(), s[0].direction), ("a", 1));
        assert!(s[0].p_adjusted >= s[0].p_value);
        assert!(select_directions(&fit, Adjustment::None, 1.5).is_err());
    }
}
