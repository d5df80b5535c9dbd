//! The crate's error type: a config file that cannot be read or parsed, a value out of range,
//! a model that is not where the config says.

use std::path::PathBuf;

/// Errors of prefscope-config.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Reading a file failed.
    #[error("{path}: {source}", path = path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A TOML file could not be parsed or written.
    #[error("{path}: {message}", path = path.display())]
    Format { path: PathBuf, message: String },
    /// A value is out of range or inconsistent with another.
    #[error("config: {0}")]
    Invalid(String),
    /// A model path or id that is neither a file, a directory nor in the local HF cache.
    #[error("{0}")]
    ModelNotFound(String),
}

/// Shorthand for results of this crate.
pub type Result<T, E = ConfigError> = std::result::Result<T, E>;

impl ConfigError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ConfigError::Io {
            path: path.into(),
            source,
        }
    }

    /// A parse or serialisation problem with a file.
    pub fn format(path: impl Into<PathBuf>, message: impl std::fmt::Display) -> Self {
        ConfigError::Format {
            path: path.into(),
            message: message.to_string(),
        }
    }
}
