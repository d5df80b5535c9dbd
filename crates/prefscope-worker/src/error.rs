//! The crate's error type: a study-side failure (spec, data, files, the run store's protocol)
//! or a training-side one (libtorch, the model, the training loop).

/// Errors of prefscope-worker.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The study side: spec, data, run folders.
    #[error(transparent)]
    Study(#[from] prefscope_study::StudyError),
    /// The training of the run (or the tiny model's fit) failed.
    #[error(transparent)]
    Train(#[from] prefscope_train::TrainError),
}

/// Result alias of this crate.
pub type Result<T, E = WorkerError> = std::result::Result<T, E>;

impl From<prefscope_data::Error> for WorkerError {
    fn from(e: prefscope_data::Error) -> Self {
        WorkerError::Study(e.into())
    }
}

impl WorkerError {
    /// True for errors in what the user gave (the spec, the data): the CLI exits 2 on these.
    pub fn is_bad_input(&self) -> bool {
        match self {
            WorkerError::Study(e) => e.is_bad_input(),
            WorkerError::Train(_) => false,
        }
    }
}
