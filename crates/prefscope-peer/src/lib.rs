//! prefscope-peer: the benchmarks' peers. A benchmark times prefscope against a reference
//! implementation (pandas, a plain PyTorch loop, TRL's DPOTrainer) in the same run; each peer
//! is a process of its own, so its memory is its own.
//!
//! - [`process::run`]: runs one peer to its end with its standard error in a log; its standard
//!   output, peak RSS (the kernel's `ru_maxrss` of that process, via `wait4`) and wall time;
//!   a failure says how it ended with the log's last lines. [`process::last_json`] reads the
//!   protocol every peer follows: its report is the last JSON line of its standard output.
//! - [`steps::StepReport`]: the report of a peer that times optimizer steps (seconds and real
//!   tokens per step, the first untimed), with its statistics; [`steps::Sides`] the sides of
//!   one comparison and the rule for which failures end it.
//! - [`scaling`]: the scaling sweep's points and its table (CSV through the `csv` crate).
//!
//! Neighbours: `prefscope-stats` (the median) and `prefscope-data` (atomic writes) below; the
//! CLI's bench commands above. This crate must not know models, tensors or what a peer
//! computes: only how it is run, measured and read.

pub mod process;
pub mod scaling;
pub mod steps;

/// Errors of prefscope-peer: a peer that could not start, failed, or reported nothing
/// readable; a table that could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// Starting or waiting for the peer failed.
    #[error("{command}: {source}")]
    Start {
        command: String,
        #[source]
        source: std::io::Error,
    },
    /// The peer ended badly: how, and the last lines of its log.
    #[error("{command} {how}:\n{log_tail}")]
    Failed {
        command: String,
        how: String,
        log_tail: String,
    },
    /// The peer's report is missing or not what the protocol says.
    #[error("{what}: {message}")]
    Report { what: String, message: String },
    /// A table could not be written.
    #[error(transparent)]
    Write(#[from] prefscope_data::Error),
}

/// Result alias of this crate.
pub type Result<T, E = PeerError> = std::result::Result<T, E>;

/// Bytes in a MiB, for the tables' `peak_rss_mb`.
pub const MB: f64 = 1024.0 * 1024.0;
