//! The error type of prefscope-model: every variant names the file or tensor it is about.

use std::path::PathBuf;

/// Errors from loading, running and tokenizing with a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file was read but its content is not what was expected.
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    /// `config.json` (or GGUF metadata) names an architecture this crate does not implement.
    #[error("unsupported architecture {0:?}: prefscope-model implements Qwen2 (Qwen2ForCausalLM, qwen2) and Llama (LlamaForCausalLM, MistralForCausalLM, llama)")]
    UnsupportedArchitecture(String),
    /// A configuration value is missing or out of range.
    #[error("config: {0}")]
    Config(String),
    /// A tensor the architecture needs is not in the checkpoint.
    #[error("missing tensor {name} (expected shape {expected:?})")]
    MissingTensor { name: String, expected: Vec<i64> },
    /// A tensor of the checkpoint has the wrong shape.
    #[error("tensor {name} has shape {found:?}, expected {expected:?}")]
    ShapeMismatch {
        name: String,
        expected: Vec<i64>,
        found: Vec<i64>,
    },
    /// The checkpoint holds tensors the architecture does not use (a sign of a wrong config).
    #[error("unused tensors in checkpoint: {0}")]
    UnusedTensors(String),
    /// A GGUF tensor uses a quantization this crate cannot dequantize.
    #[error("tensor {name}: unsupported GGUF type {kind}")]
    UnsupportedQuant { name: String, kind: String },
    /// An error from libtorch, with what was being done.
    #[error("{context}: {source}")]
    Torch {
        context: String,
        #[source]
        source: tch::TchError,
    },
    /// The tokenizer failed to load or encode.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The chat template failed to parse or render (including the template's own
    /// `raise_exception`).
    #[error("chat template: {0}")]
    Template(String),
    /// Bad input to an API call (shapes, empty messages, options).
    #[error("{0}")]
    Input(String),
}

/// `Result` with [`ModelError`].
pub type Result<T, E = ModelError> = std::result::Result<T, E>;

/// Attaches a context string to a libtorch error.
pub(crate) trait TorchContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> TorchContext<T> for std::result::Result<T, tch::TchError> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| ModelError::Torch {
            context: context(),
            source,
        })
    }
}

impl ModelError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ModelError::Io {
            path: path.into(),
            source,
        }
    }
    pub(crate) fn format(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        ModelError::Format {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl From<prefscope_config::ConfigError> for ModelError {
    fn from(e: prefscope_config::ConfigError) -> Self {
        use prefscope_config::ConfigError as C;
        match e {
            C::Io { path, source } => ModelError::Io { path, source },
            C::Format { path, message } => ModelError::Format { path, message },
            C::Invalid(m) | C::ModelNotFound(m) => ModelError::Input(m),
        }
    }
}
