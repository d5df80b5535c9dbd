//! The crate's error type: every fallible libtorch call, file and config problem, and the
//! numerical stops of the training loop (NaN or inf, with the step and the tensor named).

use std::path::PathBuf;

/// Errors of prefscope-train. Variants carry the context a reader needs (path, step, tensor).
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A libtorch call failed (bad shape, bad kind, out of memory).
    #[error("torch: {0}")]
    Torch(#[from] tch::TchError),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A JSON or TOML file could not be parsed or written.
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    /// A configuration value is out of range or inconsistent.
    #[error("config: {0}")]
    Config(String),
    /// Input tensors or pairs do not fit together.
    #[error("input: {0}")]
    Input(String),
    /// The loss or a gradient is NaN or infinite: the run stops.
    #[error("step {step}: {what} is not finite")]
    NonFinite { step: u64, what: String },
    /// The model behind the run failed (loading, forward).
    #[error("model: {0}")]
    Model(String),
    /// Writing a file through `prefscope-data`'s atomic writer failed (it names the file).
    #[error(transparent)]
    Data(#[from] prefscope_data::Error),
}

/// Shorthand for results of this crate.
pub type Result<T, E = TrainError> = std::result::Result<T, E>;

impl TrainError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TrainError::Io {
            path: path.into(),
            source,
        }
    }

    /// A parse or serialisation problem with a file.
    pub fn format(path: impl Into<PathBuf>, message: impl std::fmt::Display) -> Self {
        TrainError::Format {
            path: path.into(),
            message: message.to_string(),
        }
    }
}

impl From<prefscope_config::ConfigError> for TrainError {
    fn from(e: prefscope_config::ConfigError) -> Self {
        use prefscope_config::ConfigError as C;
        match e {
            C::Io { path, source } => TrainError::Io { path, source },
            C::Format { path, message } => TrainError::Format { path, message },
            C::Invalid(m) => TrainError::Config(m),
            C::ModelNotFound(m) => TrainError::Model(m),
        }
    }
}
