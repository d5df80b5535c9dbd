//! The error type of this crate. Each message is complete on its own (it includes the
//! statistics or data error it wraps), so printing it once says everything.

use std::path::PathBuf;

use prefscope_stats::StatsError;

#[derive(Debug, thiserror::Error)]
pub enum PredictError {
    /// The pair table has no pairs at all.
    #[error("no pairs")]
    NoPairs,
    /// Every split of the spec was left out (only `behavioral` ones): nothing to regress on.
    #[error("no splits to fit: {} left out (derived from the score gap)", left_out.join(", "))]
    NoSplits { left_out: Vec<String> },
    /// Every pair's user is in neither group of some split.
    #[error("all {pairs} pairs dropped: each user is in neither group of some split (missing or \"Prefer not to say\")")]
    AllDropped { pairs: usize },
    /// The W2 threshold is NaN or infinite.
    #[error("the W2 threshold must be a finite number, found {0}")]
    Threshold(f64),
    /// The statistics crate refused the design, the outcome or the selection (alpha).
    #[error("{0}")]
    Stats(StatsError),
    /// The W2 or OL fit failed; `model` says which fit ([`crate::Model::fit_name`]).
    #[error("{model}: {error}")]
    Fit {
        model: &'static str,
        error: StatsError,
    },
    /// The predictions file could not be read.
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The predictions file could not be written.
    #[error("{0}")]
    Write(prefscope_data::Error),
    /// The predictions file is not valid JSON of this format, or is inconsistent.
    #[error("{}: {message}", path.display())]
    Format { path: PathBuf, message: String },
}
