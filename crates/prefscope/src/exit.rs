//! Exit codes and error rendering: `prefscope: error: <cause chain>` on stderr, code 2 when the
//! cause is bad input, 1 otherwise, 0 for a broken pipe.

use std::fmt;

/// Marks an error as caused by the user's input (a file, a flag, a spec): exit code 2.
#[derive(Debug)]
pub struct BadInput(pub anyhow::Error);

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl std::error::Error for BadInput {}

/// Wraps any error as bad input.
pub fn bad_input<E: Into<anyhow::Error>>(e: E) -> anyhow::Error {
    anyhow::Error::new(BadInput(e.into()))
}

/// A library error that knows whether the user's input caused it. (`WorkerError`'s impl sits in
/// `commands/study_worker.rs`: its type reaches libtorch's, which the plain binary must not
/// link.)
pub trait KnowsBadInput: std::error::Error + Send + Sync + 'static {
    fn is_bad_input(&self) -> bool;
}

impl KnowsBadInput for prefscope_study::StudyError {
    fn is_bad_input(&self) -> bool {
        prefscope_study::StudyError::is_bad_input(self)
    }
}

impl KnowsBadInput for prefscope_report::ReportError {
    fn is_bad_input(&self) -> bool {
        prefscope_report::ReportError::is_bad_input(self)
    }
}

/// The one mapper from a library error to the CLI's: bad input (exit 2) where the library
/// says so, a failure (exit 1) otherwise.
pub fn classify<E: KnowsBadInput>(e: E) -> anyhow::Error {
    if e.is_bad_input() {
        bad_input(e)
    } else {
        anyhow::Error::new(e)
    }
}

/// Prints the error, if any, and returns the process exit code.
pub fn report(result: anyhow::Result<()>) -> i32 {
    let Err(err) = result else { return 0 };
    let broken_pipe = err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    });
    if broken_pipe {
        return 0;
    }
    eprintln!("prefscope: error: {err:#}");
    if err.chain().any(|c| c.is::<BadInput>()) {
        2
    } else {
        1
    }
}
