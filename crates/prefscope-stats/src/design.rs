//! Design matrices: named regressor columns, checked for finite values, constant columns and
//! collinearity before any fit (so a bad table is an error naming the column, not a NaN).

use nalgebra::DMatrix;

use crate::error::StatsError;

/// Named regressor columns of equal length (no constant: the binary logit adds `const`, the
/// ordered model has thresholds instead).
#[derive(Debug, Clone, PartialEq)]
pub struct Design {
    names: Vec<String>,
    x: DMatrix<f64>,
}

impl Design {
    /// Builds a design from `(name, column)` pairs. Errors on unequal lengths or non-finite values.
    pub fn new<S: Into<String>>(columns: Vec<(S, Vec<f64>)>) -> Result<Design, StatsError> {
        let n = columns.first().map(|c| c.1.len()).unwrap_or(0);
        let mut names = Vec::with_capacity(columns.len());
        let mut data = Vec::with_capacity(n * columns.len());
        for (name, col) in columns {
            let name = name.into();
            if col.len() != n {
                return Err(StatsError::LengthMismatch {
                    what: format!("column {name}"),
                    expected: n,
                    found: col.len(),
                });
            }
            if let Some((row, &value)) = col.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(StatsError::NonFinite {
                    column: name,
                    row,
                    value,
                });
            }
            data.extend_from_slice(&col);
            names.push(name);
        }
        let x = DMatrix::from_vec(n, names.len(), data);
        Ok(Design { names, x })
    }

    /// Number of rows.
    pub fn nrows(&self) -> usize {
        self.x.nrows()
    }

    /// Number of regressors.
    pub fn ncols(&self) -> usize {
        self.x.ncols()
    }

    /// Regressor names in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The n x k matrix.
    pub fn matrix(&self) -> &DMatrix<f64> {
        &self.x
    }

    /// A copy with a leading column of ones named `const` (as `sm.add_constant`).
    pub(crate) fn with_const(&self) -> Design {
        let n = self.nrows();
        let mut names = vec!["const".to_string()];
        names.extend(self.names.iter().cloned());
        let x = self.x.clone().insert_column(0, 1.0);
        debug_assert_eq!(x.nrows(), n);
        Design { names, x }
    }

    /// Rows `idx` in that order (for resampling).
    pub fn select_rows(&self, idx: &[usize]) -> Design {
        Design {
            names: self.names.clone(),
            x: self.x.select_rows(idx),
        }
    }

    /// Checks that no column is constant and none is a linear combination of a constant and the
    /// columns before it (modified Gram-Schmidt with one re-orthogonalisation; a column whose
    /// residual keeps less than 1e-9 of its centred norm counts as collinear).
    pub(crate) fn check_rank(&self, has_explicit_const: bool) -> Result<(), StatsError> {
        let n = self.nrows();
        if n == 0 {
            return Err(StatsError::Empty);
        }
        let ones = vec![1.0 / (n as f64).sqrt(); n];
        let mut basis: Vec<Vec<f64>> = vec![ones];
        let mut basis_names: Vec<&str> = vec!["the constant"];
        for (j, name) in self.names.iter().enumerate() {
            let col = self.x.column(j);
            if has_explicit_const && name == "const" && col.iter().all(|&v| v == 1.0) {
                continue;
            }
            let first = col[0];
            if col.iter().all(|&v| v == first) {
                return Err(StatsError::ConstantRegressor {
                    name: name.clone(),
                    value: first,
                });
            }
            let mean = col.mean();
            let centred_norm = col
                .iter()
                .map(|v| (v - mean) * (v - mean))
                .sum::<f64>()
                .sqrt();
            let mut r: Vec<f64> = col.iter().copied().collect();
            for _ in 0..2 {
                for b in &basis {
                    let d: f64 = r.iter().zip(b).map(|(a, b)| a * b).sum();
                    r.iter_mut().zip(b).for_each(|(a, b)| *a -= d * b);
                }
            }
            let norm = r.iter().map(|v| v * v).sum::<f64>().sqrt();
            if norm <= 1e-9 * centred_norm {
                return Err(StatsError::Collinear {
                    name: name.clone(),
                    others: basis_names.join(", "),
                });
            }
            r.iter_mut().for_each(|v| *v /= norm);
            basis.push(r);
            basis_names.push(name);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_constant_and_collinear_columns() {
        let d = Design::new(vec![("a", vec![1.0, 2.0, 3.0, 4.0]), ("b", vec![5.0; 4])]).unwrap();
        assert!(
            matches!(d.check_rank(false), Err(StatsError::ConstantRegressor { name, .. }) if name == "b")
        );
        let d = Design::new(vec![
            ("a", vec![1.0, 2.0, 3.0, 4.0]),
            ("b", vec![0.0, 1.0, 0.0, 1.0]),
            ("c", vec![3.0, 7.0, 7.0, 11.0]),
        ])
        .unwrap();
        // c = 1 + 2a + 2b
        let err = d.check_rank(false).unwrap_err();
        assert!(
            matches!(&err, StatsError::Collinear { name, .. } if name == "c"),
            "{err}"
        );
        assert!(d.with_const().check_rank(true).is_err());
    }

    #[test]
    fn rejects_non_finite_and_ragged() {
        assert!(matches!(
            Design::new(vec![("a", vec![1.0, f64::NAN])]),
            Err(StatsError::NonFinite { row: 1, .. })
        ));
        assert!(matches!(
            Design::new(vec![("a", vec![1.0, 2.0]), ("b", vec![1.0])]),
            Err(StatsError::LengthMismatch { .. })
        ));
    }
}
