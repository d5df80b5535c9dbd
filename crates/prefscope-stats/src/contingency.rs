//! Pearson's chi-square test of independence on a contingency table (rows x columns of counts),
//! as `scipy.stats.chi2_contingency(table, correction=False)`, and the same statistic tested by
//! permuting group labels of whole clusters (users), for counts that cluster within users.

use crate::dist::chi2_sf;
use crate::error::{invalid, StatsError};
use crate::resample::{permutation_test, PermutationTest};

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
/// non-empty rows or columns remain (there is nothing to test) or the counts give no finite
/// statistic (negative counts).
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
    let p_value = chi2_sf(statistic, dof as f64).ok()?;
    Some(ChiSquareTest {
        statistic,
        dof,
        p_value,
        rows_used: rows.len(),
        cols_used: cols.len(),
    })
}

/// Chi-square test of group x category independence when the counts cluster within units:
/// `counts[u]` are unit `u`'s counts per category and `in_a[u]` its group. The statistic is
/// Pearson's chi-square of the 2 x K table summed over units; its null distribution comes from
/// shuffling the group labels among units (group sizes kept), so the p-value stays valid when a
/// unit's counts are correlated, as a user's pairs are (the asymptotic p of
/// [`chi_square_independence`] treats every count as independent and is far too small then).
///
/// Errors when the lengths differ, a group is empty, or the observed table has fewer than two
/// non-empty rows or categories. A shuffle that leaves a group without counts (possible only
/// when some units have none) has no statistic and never counts as extreme.
pub fn cluster_permutation_chi_square(
    counts: &[Vec<f64>],
    in_a: &[bool],
    n_perm: usize,
    seed: u64,
) -> Result<PermutationTest, StatsError> {
    if counts.len() != in_a.len() {
        return Err(invalid(
            "in_a",
            format!("{} labels for {} units", in_a.len(), counts.len()),
        ));
    }
    let k = counts.iter().map(Vec::len).max().unwrap_or(0);
    let mut table = [vec![0.0; k], vec![0.0; k]];
    let mut statistic = |labels: &[bool]| {
        for row in table.iter_mut() {
            row.iter_mut().for_each(|c| *c = 0.0);
        }
        for (unit, &a) in counts.iter().zip(labels) {
            let row = &mut table[usize::from(!a)];
            for (c, x) in row.iter_mut().zip(unit) {
                *c += x;
            }
        }
        chi_square_independence(&table).map_or(f64::NAN, |t| t.statistic)
    };
    if in_a.iter().all(|&a| a) || !in_a.iter().any(|&a| a) {
        return Err(invalid("in_a", "both groups need at least one unit"));
    }
    if statistic(in_a).is_nan() {
        return Err(invalid(
            "counts",
            "the observed table has fewer than two non-empty groups or categories",
        ));
    }
    permutation_test(in_a, statistic, n_perm, seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against the exact permutation distribution, enumerated: 8 units, 4 per group, so all
    /// C(8, 4) = 70 labellings are equally likely under the null.
    #[test]
    fn cluster_permutation_matches_exact_enumeration() {
        let counts: Vec<Vec<f64>> = [
            [5.0, 1.0, 0.0],
            [4.0, 2.0, 1.0],
            [6.0, 0.0, 2.0],
            [3.0, 3.0, 0.0],
            [1.0, 4.0, 2.0],
            [2.0, 5.0, 1.0],
            [0.0, 3.0, 3.0],
            [2.0, 2.0, 2.0],
        ]
        .iter()
        .map(|r| r.to_vec())
        .collect();
        let in_a = [true, true, true, true, false, false, false, false];
        let stat = |labels: &[bool]| {
            let mut t = [vec![0.0; 3], vec![0.0; 3]];
            for (u, &a) in counts.iter().zip(labels) {
                for j in 0..3 {
                    t[usize::from(!a)][j] += u[j];
                }
            }
            chi_square_independence(&t).unwrap().statistic
        };
        let observed = stat(&in_a);
        let (mut extreme, mut total) = (0, 0);
        for mask in 0u32..256 {
            if mask.count_ones() != 4 {
                continue;
            }
            let labels: Vec<bool> = (0..8).map(|i| mask >> i & 1 == 1).collect();
            total += 1;
            extreme += usize::from(stat(&labels) >= observed - 1e-12);
        }
        assert_eq!(total, 70);
        let exact = extreme as f64 / 70.0;
        let mc = cluster_permutation_chi_square(&counts, &in_a, 20_000, 5).unwrap();
        assert!((mc.observed - observed).abs() < 1e-12);
        // Monte-Carlo standard error at p ~ 0.03-0.1 with 20,000 draws is below 0.002.
        assert!(
            (mc.p_value - exact).abs() < 0.006,
            "{} vs exact {exact}",
            mc.p_value
        );
        assert!(
            exact < 0.2,
            "the example should not be a null table: {exact}"
        );
        let again = cluster_permutation_chi_square(&counts, &in_a, 20_000, 5).unwrap();
        assert_eq!(mc, again);
    }

    #[test]
    fn cluster_permutation_rejects_bad_input() {
        let counts = vec![vec![1.0, 2.0], vec![2.0, 1.0]];
        let err = |r: Result<PermutationTest, StatsError>| r.unwrap_err().to_string();
        assert!(err(cluster_permutation_chi_square(&counts, &[true], 10, 1))
            .contains("1 labels for 2 units"));
        assert!(err(cluster_permutation_chi_square(
            &counts,
            &[true, true],
            10,
            1
        ))
        .contains("both groups"));
        let one_category = vec![vec![1.0, 0.0], vec![2.0, 0.0]];
        assert!(err(cluster_permutation_chi_square(
            &one_category,
            &[true, false],
            10,
            1
        ))
        .contains("fewer than two"));
    }

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
