//! The crate's error type. Spec errors name the spec file and the key (or the split and group);
//! store errors name the database; executor errors name the command that failed and its output.

use std::path::{Path, PathBuf};

/// Errors of prefscope-study.
#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    /// The study spec is malformed or inconsistent: `spec.toml: grid.seeds: ...`.
    #[error("{}: {message}", path.display())]
    Spec { path: PathBuf, message: String },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A data-stage failure (PRISM files, pairs, splits).
    #[error(transparent)]
    Data(#[from] prefscope_data::Error),
    /// A training run's own config (`prefscope train`) lacks an input or is inconsistent.
    #[error(transparent)]
    Config(#[from] prefscope_config::ConfigError),
    /// The run store (SQLite) failed.
    #[error("run store {}: {source}", path.display())]
    Store {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// A run the caller named is not in the store.
    #[error("no run {0} in this study")]
    UnknownRun(String),
    /// An external command (sbatch, squeue, scontrol, the worker) failed.
    #[error("{command}: {message}")]
    Command { command: String, message: String },
}

/// Result alias of this crate.
pub type Result<T, E = StudyError> = std::result::Result<T, E>;

impl StudyError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StudyError::Io {
            path: path.into(),
            source,
        }
    }

    pub fn spec(path: &Path, message: impl Into<String>) -> Self {
        StudyError::Spec {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    /// True for errors in what the user gave (the spec, the data): the CLI exits 2 on these.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            StudyError::Spec { .. }
                | StudyError::Data(_)
                | StudyError::UnknownRun(_)
                | StudyError::Config(_)
        )
    }
}
