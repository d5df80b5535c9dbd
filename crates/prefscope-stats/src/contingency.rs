//! Pearson's chi-square test of independence on a contingency table (rows x columns of counts),
//! as `scipy.stats.chi2_contingency(table, correction=False)`.

use statrs::distribution::{ChiSquared, ContinuousCDF};

/// Result of a chi-square test of independence.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ChiSquareTest {
    pub statistic: f64,
    pub dof: usize,
    pub p_value: f64,
    /// Rows and columns that had at least one count (empty ones are dropped before testing).
    pub rows_used: usize,
    pub cols_used: usize,
}

/// Tests independence of rows and columns. Empty rows and columns are dropped first, so a model
/// that never appears does not make expected counts zero. Returns `None` when fewer than two
/// non-empty rows or columns remain: there is nothing to test.
///
/// No Yates continuity correction is applied, also for 2x2 tables (scipy applies it by default
/// for dof = 1; prefscope reports the uncorrected statistic and says so).
pub fn chi_square_independence(table: &[Vec<f64>]) -> Option<ChiSquareTest> {
    let ncols = table.iter().map(Vec::len).max().unwrap_or(0);
    let col_total = |j: usize| {
        table
            .iter()
            .map(|r| r.get(j).copied().unwrap_or(0.0))
            .sum::<f64>()
    };
    let rows: Vec<&Vec<f64>> = table
        .iter()
        .filter(|r| r.iter().sum::<f64>() > 0.0)
        .collect();
    let cols: Vec<usize> = (0..ncols).filter(|&j| col_total(j) > 0.0).collect();
    if rows.len() < 2 || cols.len() < 2 {
        return None;
    }
    let cell = |r: &Vec<f64>, j: usize| r.get(j).copied().unwrap_or(0.0);
    let row_sums: Vec<f64> = rows
        .iter()
        .map(|r| cols.iter().map(|&j| cell(r, j)).sum())
        .collect();
    let col_sums: Vec<f64> = cols
        .iter()
        .map(|&j| rows.iter().map(|r| cell(r, j)).sum())
        .collect();
    let total: f64 = row_sums.iter().sum();
    let mut statistic = 0.0;
    for (i, r) in rows.iter().enumerate() {
        for (k, &j) in cols.iter().enumerate() {
            let expected = row_sums[i] * col_sums[k] / total;
            let d = cell(r, j) - expected;
            statistic += d * d / expected;
        }
    }
    let dof = (rows.len() - 1) * (cols.len() - 1);
    let p_value = ChiSquared::new(dof as f64)
        .map(|d| d.sf(statistic))
        .unwrap_or(f64::NAN);
    Some(ChiSquareTest {
        statistic,
        dof,
        p_value,
        rows_used: rows.len(),
        cols_used: cols.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_closed_form() {
        // Hand computation: row sums 60, 50; column sums 30, 40, 40; N = 110;
        // X2 = sum (O - E)^2 / E = 12.527777...; with 2 degrees of freedom the chi-square
        // survival function is exp(-x / 2).
        let t = chi_square_independence(&[vec![10.0, 20.0, 30.0], vec![20.0, 20.0, 10.0]]).unwrap();
        let expected: f64 = [
            (10.0, 60.0 * 30.0 / 110.0),
            (20.0, 60.0 * 40.0 / 110.0),
            (30.0, 60.0 * 40.0 / 110.0),
            (20.0, 50.0 * 30.0 / 110.0),
            (20.0, 50.0 * 40.0 / 110.0),
            (10.0, 50.0 * 40.0 / 110.0),
        ]
        .iter()
        .map(|(o, e): &(f64, f64)| (o - e).powi(2) / e)
        .sum();
        assert!((t.statistic - expected).abs() < 1e-12);
        assert_eq!(t.dof, 2);
        assert!(
            (t.p_value - (-t.statistic / 2.0).exp()).abs() < 1e-12,
            "{}",
            t.p_value
        );
    }

    #[test]
    fn independent_table_has_zero_statistic_and_empty_columns_are_dropped() {
        let t = chi_square_independence(&[vec![1.0, 2.0, 0.0], vec![2.0, 4.0, 0.0]]).unwrap();
        assert!(t.statistic.abs() < 1e-12);
        assert_eq!((t.cols_used, t.dof), (2, 1));
        assert!((t.p_value - 1.0).abs() < 1e-12);
    }

    #[test]
    fn nothing_to_test_is_none() {
        assert!(chi_square_independence(&[vec![3.0, 4.0]]).is_none());
        assert!(chi_square_independence(&[vec![3.0], vec![4.0]]).is_none());
    }
}
