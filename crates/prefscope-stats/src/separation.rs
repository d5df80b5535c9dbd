//! Separation, the one way a logit likelihood has no finite maximum: detected before fitting
//! when a two-valued regressor separates the outcome (so the error can name the column), and
//! after Newton when observations end up predicted perfectly. Shared by the binary and the
//! ordered model; depends only on the design and the error type.

use crate::design::Design;
use crate::error::{SeparationKind, StatsError};

/// Separation by a two-valued regressor: all rows at one of its values share the lowest or the
/// highest outcome, so its coefficient runs off to ±∞. Caught before fitting to name the column.
/// `codes` are outcome categories 0..levels.len() (0 / 1 for a binary outcome).
pub(crate) fn dummy_separation(
    x: &Design,
    codes: &[usize],
    levels: &[String],
) -> Option<StatsError> {
    let top = levels.len() - 1;
    for (j, name) in x.names().iter().enumerate() {
        let col = x.matrix().column(j);
        let a = col[0];
        let Some(b) = col.iter().copied().find(|&v| v != a) else {
            continue;
        };
        if col.iter().any(|&v| v != a && v != b) {
            continue;
        }
        let mut separated = Vec::new();
        for value in [a, b] {
            let mut rows = col
                .iter()
                .zip(codes)
                .filter(|(&v, _)| v == value)
                .map(|(_, &c)| c);
            let first = rows.next().unwrap_or(0);
            if (first == 0 || first == top) && rows.all(|c| c == first) {
                separated.push((value, first));
            }
        }
        if let Some(&(value, code)) = separated.first() {
            let kind = if separated.len() == 2 && separated[0].1 != separated[1].1 {
                SeparationKind::Complete
            } else {
                SeparationKind::QuasiComplete
            };
            return Some(StatsError::Separation {
                kind,
                variable: Some(name.clone()),
                detail: format!(
                    "every row with {name} = {value} has outcome {:?}; drop {name} or merge its levels",
                    levels[code]
                ),
            });
        }
    }
    None
}

/// The error to report when the Hessian turned singular or Newton diverged, given how many of
/// the `n` observations the estimate predicts perfectly.
pub(crate) fn separation_or_singular(perfectly_predicted: usize, n: usize) -> StatsError {
    let m = perfectly_predicted;
    if m > 0 {
        StatsError::Separation {
            kind: if m == n {
                SeparationKind::Complete
            } else {
                SeparationKind::QuasiComplete
            },
            variable: None,
            detail: format!(
                "{m} of {n} observations are predicted perfectly and the estimates diverge; \
                 drop or merge the regressors that separate the outcome"
            ),
        }
    } else {
        StatsError::SingularHessian {
            detail: "Newton could not continue".into(),
        }
    }
}
