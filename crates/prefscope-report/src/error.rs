//! Errors of the report crate. Readers name the file and line with what was expected and what
//! was found (`runs.csv:4: field "group": expected A, B or all, found "C"`); errors about the
//! runs as a whole name the split, group, treatment, seed and run ids involved.

use std::path::{Path, PathBuf};

use prefscope_stats::StatsError;

/// Result alias of this crate.
pub type Result<T, E = ReportError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A pair file or `groups.csv` could not be read, or an output could not be written.
    #[error("{0}")]
    Data(#[from] prefscope_data::Error),
    /// The study (spec, data, plan, run store) could not be read.
    #[error(transparent)]
    Study(#[from] prefscope_study::StudyError),
    /// The predictions file could not be read.
    #[error("{0}")]
    Predict(#[from] prefscope_predict::PredictError),
    /// A file could not be opened or read.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A malformed line of `RUNS.csv` or of an outcomes file.
    #[error("{}:{line}: {}{message}", path.display(), field.as_deref().map(|f| format!("field {f:?}: ")).unwrap_or_default())]
    Record {
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        field: Option<String>,
        message: String,
    },
    /// Runs that cannot be put together into effects: an unknown split or pair, duplicate or
    /// missing runs, a group with no held-out pairs, runs that evaluated different users.
    #[error("{0}")]
    Runs(String),
    /// A bad setting of [`crate::EffectsConfig`].
    #[error("effects settings: {0}")]
    Config(String),
    /// The statistics crate refused its input (with what was being computed).
    #[error("{context}: {source}")]
    Stats {
        context: String,
        #[source]
        source: StatsError,
    },
    /// A page template failed to render (a bug in a template or its context, not in the input).
    #[error("report template: {0}")]
    Template(String),
    /// A table could not be encoded (CSV, JSON or Parquet).
    #[error("{}: {message}", path.display())]
    Table { path: PathBuf, message: String },
}

impl ReportError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        ReportError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn record(
        path: &Path,
        line: usize,
        field: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        ReportError::Record {
            path: path.to_path_buf(),
            line,
            field: field.map(str::to_string),
            message: message.into(),
        }
    }

    pub(crate) fn stats(context: impl Into<String>) -> impl FnOnce(StatsError) -> Self {
        let context = context.into();
        move |source| ReportError::Stats { context, source }
    }

    pub(crate) fn table(path: &Path, message: impl std::fmt::Display) -> Self {
        ReportError::Table {
            path: path.to_path_buf(),
            message: message.to_string(),
        }
    }

    /// Whether the error comes from the input (files, runs, settings) rather than from writing
    /// the outputs: the CLI exits 2 for these.
    pub fn is_bad_input(&self) -> bool {
        match self {
            ReportError::Study(e) => e.is_bad_input(),
            e => !matches!(e, ReportError::Table { .. } | ReportError::Template(_)),
        }
    }
}
