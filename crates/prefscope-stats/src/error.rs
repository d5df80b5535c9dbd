//! The error type of this crate: every way a fit or a test can refuse its input, each with the
//! names and numbers a researcher needs to fix the table, so that no result is ever silently NaN.

/// Why a statistical routine could not produce a result.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    /// Lengths of columns, outcomes or cluster labels disagree.
    #[error("{what} has {found} rows, expected {expected}")]
    LengthMismatch {
        what: String,
        expected: usize,
        found: usize,
    },
    /// Nothing to fit or test.
    #[error("no observations")]
    Empty,
    /// A value is NaN or infinite.
    #[error("column {column}: row {row} is not a finite number ({value})")]
    NonFinite {
        column: String,
        row: usize,
        value: f64,
    },
    /// A binary outcome that is not 0 or 1.
    #[error("outcome row {row} is {value}; a logit outcome must be 0 or 1")]
    NotBinary { row: usize, value: f64 },
    /// A regressor takes one value only (it is collinear with the constant or the thresholds).
    #[error("regressor {name} is constant (every row is {value}); drop it")]
    ConstantRegressor { name: String, value: f64 },
    /// A regressor is (numerically) a linear combination of the constant and earlier regressors.
    #[error("regressor {name} is a linear combination of {others}; drop one of them")]
    Collinear { name: String, others: String },
    /// An outcome category has no observations (the model cannot place its threshold).
    #[error("outcome category {level:?} has no observations")]
    EmptyCategory { level: String },
    /// The outcome has fewer than two categories.
    #[error("the outcome takes {found} distinct value(s); at least 2 are needed")]
    TooFewCategories { found: usize },
    /// An outcome label that is not among the declared levels.
    #[error("outcome row {row} is {value:?}, which is not one of the levels {levels}")]
    UnknownLevel {
        row: usize,
        value: String,
        levels: String,
    },
    /// Perfect or quasi-complete separation: the likelihood has no finite maximum.
    #[error("{kind} separation{}: {detail}", variable.as_ref().map(|v| format!(" by {v}")).unwrap_or_default())]
    Separation {
        kind: SeparationKind,
        variable: Option<String>,
        detail: String,
    },
    /// The Hessian is not negative definite at the current estimate.
    #[error("the information matrix is singular ({detail}); regressors may be collinear")]
    SingularHessian { detail: String },
    /// Cluster-robust covariance needs at least two clusters.
    #[error("cluster-robust covariance needs at least {min} clusters, found {found}")]
    TooFewClusters { found: usize, min: usize },
    /// An argument outside its domain (a probability outside (0, 1), zero replicates, ...).
    #[error("invalid argument {name}: {detail}")]
    InvalidArgument { name: String, detail: String },
}

/// How strongly the outcome is separated by the regressors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum SeparationKind {
    /// Every observation is predicted perfectly.
    Complete,
    /// A subset of the observations is predicted perfectly.
    QuasiComplete,
}

impl std::fmt::Display for SeparationKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SeparationKind::Complete => "complete",
            SeparationKind::QuasiComplete => "quasi-complete",
        })
    }
}

pub(crate) fn invalid(name: &str, detail: impl Into<String>) -> StatsError {
    StatsError::InvalidArgument {
        name: name.to_string(),
        detail: detail.into(),
    }
}
