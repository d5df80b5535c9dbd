//! Multiple-testing corrections: Holm's step-down family-wise error control and the
//! Benjamini–Hochberg false discovery rate, returning adjusted p-values in input order
//! (as statsmodels `multipletests(method='holm' | 'fdr_bh')`).

use crate::error::{invalid, StatsError};

/// Which correction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Adjustment {
    /// No correction.
    None,
    /// Holm (1979) step-down, controls the family-wise error rate.
    Holm,
    /// Benjamini–Hochberg (1995) step-up, controls the false discovery rate.
    Bh,
}

fn check(p: &[f64]) -> Result<(), StatsError> {
    match p.iter().find(|v| !(0.0..=1.0).contains(*v)) {
        Some(v) => Err(invalid("p-values", format!("{v} is not in [0, 1]"))),
        None => Ok(()),
    }
}

fn order(p: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..p.len()).collect();
    idx.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    idx
}

/// Holm-adjusted p-values: `max_{j<=i} min(1, (m - j + 1) p_(j))` in sorted order.
pub fn holm(p: &[f64]) -> Result<Vec<f64>, StatsError> {
    check(p)?;
    let m = p.len();
    let mut out = vec![0.0; m];
    let mut running: f64 = 0.0;
    for (rank, &i) in order(p).iter().enumerate() {
        running = running.max(((m - rank) as f64 * p[i]).min(1.0));
        out[i] = running;
    }
    Ok(out)
}

/// Benjamini–Hochberg adjusted p-values: `min_{j>=i} min(1, m p_(j) / j)` in sorted order.
pub fn benjamini_hochberg(p: &[f64]) -> Result<Vec<f64>, StatsError> {
    check(p)?;
    let m = p.len();
    let mut out = vec![0.0; m];
    let mut running: f64 = 1.0;
    for (rank, &i) in order(p).iter().enumerate().rev() {
        running = running.min(m as f64 * p[i] / (rank + 1) as f64).min(1.0);
        out[i] = running;
    }
    Ok(out)
}

/// Adjusted p-values by `method`.
pub fn adjust(p: &[f64], method: Adjustment) -> Result<Vec<f64>, StatsError> {
    match method {
        Adjustment::None => check(p).map(|_| p.to_vec()),
        Adjustment::Holm => holm(p),
        Adjustment::Bh => benjamini_hochberg(p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn textbook_example() {
        // m = 4, p = 0.01, 0.04, 0.03, 0.005: Holm 0.03, 0.06, 0.06, 0.02; BH 0.02, 0.04, 0.04, 0.02.
        let p = [0.01, 0.04, 0.03, 0.005];
        let h = holm(&p).unwrap();
        for (a, b) in h.iter().zip([0.03, 0.06, 0.06, 0.02]) {
            assert!((a - b).abs() < 1e-12, "{h:?}");
        }
        let b = benjamini_hochberg(&p).unwrap();
        for (a, e) in b.iter().zip([0.02, 0.04, 0.04, 0.02]) {
            assert!((a - e).abs() < 1e-12, "{b:?}");
        }
        assert!(holm(&[1.5]).is_err());
        assert!(holm(&[]).unwrap().is_empty());
    }
}
