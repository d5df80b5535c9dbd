//! `prefscope-torch study-worker SPEC RUN_ID`: one run of a study in this process, as the local
//! and Slurm executors start it. Progress goes to stdout as JSON lines (the executor reads
//! them); SIGUSR2 or SIGTERM make the run checkpoint at the next step and exit 75, so Slurm can
//! requeue it and the next attempt resumes there.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use prefscope_study::run_files::{WorkerOutcome, EXIT_INTERRUPTED};
use prefscope_study::Study;
use prefscope_worker::worker::run_one;
use prefscope_worker::WorkerError;

use crate::exit::{bad_input, classify};

impl crate::exit::KnowsBadInput for WorkerError {
    fn is_bad_input(&self) -> bool {
        WorkerError::is_bad_input(self)
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The study spec (TOML).
    pub spec: PathBuf,
    /// The run to train.
    pub run_id: String,
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGUSR2, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    let study = Study::from_file(&args.spec).map_err(bad_input)?;
    let mut out = std::io::stdout();
    let outcome = run_one(&study, &args.run_id, &STOP, &mut |p| {
        if let Ok(line) = serde_json::to_string(&p) {
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    })
    .map_err(classify)?;
    if outcome == WorkerOutcome::Interrupted {
        eprintln!(
            "prefscope: run {} stopped on request after a checkpoint",
            args.run_id
        );
        std::process::exit(EXIT_INTERRUPTED);
    }
    Ok(())
}
