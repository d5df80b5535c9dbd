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
