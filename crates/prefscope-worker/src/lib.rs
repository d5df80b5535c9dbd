//! prefscope-worker: the libtorch side of a study. One run in this process
//! ([`worker::run_one`], as the executors' worker processes call it), the study's pairs encoded
//! once ([`token_cache`]), the tiny real model of CPU studies ([`tiny`]), and the executor's
//! per-run overhead measured with real workers ([`overhead`]).
//!
//! Neighbours: `prefscope-study` (spec, plan, run store, executors, the run-folder protocol)
//! and `prefscope-train` (the training of one run) below; the `prefscope-torch` binary above.
//! Workers never open the run store: the process that started them records the outcome. This
//! crate must not know Slurm, the store's schema or statistics.

mod error;
pub mod overhead;
pub mod tiny;
pub mod token_cache;
pub mod worker;

pub use error::{Result, WorkerError};
