//! Errors of the data crate. Every error that comes from reading input names the file and,
//! where there is one, the line (1-based) and field, with what was expected and what was found:
//! `survey.jsonl:12: field "age": expected a string, found 34`.

use std::path::{Path, PathBuf};

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be opened, read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A line or record is malformed: bad JSON, bad UTF-8, a field of the wrong type or range,
    /// a reference to something that does not exist.
    #[error("{}:{line}: {}{message}", path.display(), field.as_deref().map(|f| format!("field {f:?}: ")).unwrap_or_default())]
    Record {
        path: PathBuf,
        /// 1-based line number (for Parquet files, the 1-based row).
        line: usize,
        field: Option<String>,
        message: String,
    },
    /// A whole-file or cross-file problem that has no single line, such as a missing file.
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
    /// A Parquet or Arrow failure while reading or writing a table.
    #[error("{}: {message}", path.display())]
    Table { path: PathBuf, message: String },
    /// A bad specification (split spec, effects file, option value) not tied to a data line.
    #[error("{0}")]
    Spec(String),
}

impl Error {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
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
        Error::Record {
            path: path.to_path_buf(),
            line,
            field: field.map(str::to_string),
            message: message.into(),
        }
    }

    pub(crate) fn file(path: &Path, message: impl Into<String>) -> Self {
        Error::File {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    pub(crate) fn table(path: &Path, message: impl std::fmt::Display) -> Self {
        Error::Table {
            path: path.to_path_buf(),
            message: message.to_string(),
        }
    }
}
