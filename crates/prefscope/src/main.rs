//! The `prefscope` command line. Glue only: argument parsing (clap derive), output (`--json` or
//! a readable table), progress bars and exit codes. The logic lives in the library crates.
//!
//! Exit codes: 0 success, 1 failure, 2 bad input (a malformed file, a bad flag, an unknown
//! column). A broken pipe (`prefscope ... | head`) ends the program quietly.
//!
//! The commands that need libtorch (`train`, `logprobs`, `model`, `bench train`, `bench study`)
//! and the study workers live in the sibling
//! binary `prefscope-torch` (`torch_main.rs`), which this one runs in its place: every other
//! command then starts without loading libtorch and CUDA.

mod commands;
mod exit;
mod output;

use clap::{Parser, Subcommand};

/// mimalloc: reading PRISM and building pairs allocate many small strings, from two threads;
/// the system allocator made ingest about 1.5x slower (measured with examples/time_ingest).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Does DPO learn what different groups of people prefer? Data, statistics, training and
/// analysis for preference-learning studies on PRISM-style data.
#[derive(Debug, Parser)]
#[command(name = "prefscope", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Print machine-readable JSON on stdout instead of tables (also hides progress bars).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a PRISM-format data set with planted, known effects.
    Simulate(commands::simulate::Args),
    /// Check a PRISM directory (survey, conversations, utterances) and report its size.
    Validate(commands::validate::Args),
    /// Build preference pairs from a PRISM directory.
    Pairs(commands::pairs::Args),
    /// Data set reports.
    #[command(subcommand)]
    Data(commands::data::DataCommand),
    /// Split users into groups by attribute and hold out evaluation users.
    Splits(commands::splits::Args),
    /// Convert a generic pair file (HH-RLHF or TRL conversational JSONL) to prefscope pairs.
    Import(commands::import::Args),
    /// Run the whole pipeline on simulated data into a folder and say where everything is.
    Demo(commands::demo::Args),
    /// Fit a binary (logit) or ordered (ologit) model to a csv/Parquet table, statsmodels-equal.
    Fit(commands::fit::Args),
    /// W2: binary logit of score_gap > 14 on the split dummies, clustered by user; writes the
    /// predicted direction of each significant split.
    W2(commands::predict::W2Args),
    /// OL: ordered logit of the score-gap quartile on the split dummies, clustered by user;
    /// writes the predicted direction of each significant split.
    Ol(commands::predict::OlArgs),
    /// DPO-train a model on a pair file as a TOML config says (progress: loss, pref_acc, tokens/s).
    Train(commands::torch::Forward),
    /// Completion log-probs of every pair under a model (summed and per token), as JSONL.
    Logprobs(commands::torch::Forward),
    /// Models for studies: `model tiny` writes a tiny real Qwen2 for CPU studies.
    Model(commands::torch::Forward),
    /// Studies: a grid of runs (splits x groups x seeds x treatments) from one spec, with a run
    /// store, local or Slurm execution, resume and completion of missing runs.
    #[command(subcommand)]
    Study(commands::study::StudyCommand),
    /// A study's report: one self-contained index.html (summary, forest plot, per-seed diffs,
    /// cross-evaluation, training curves, diagnostics) and the effects tables.
    Report(commands::report::Args),
    /// Split effects from per-pair outcomes of runs made anywhere: per-seed diffs, two-level
    /// bootstrap CIs, p-values, Holm/BH, verdicts against W2/OL predictions.
    Effects(commands::effects::Args),
    /// Benchmarks that time prefscope against its reference implementation in the same run.
    #[command(subcommand)]
    Bench(commands::bench::BenchCommand),
}

fn main() {
    output::init_process();
    let cli = Cli::parse();
    let result = commands::run(&cli);
    std::process::exit(exit::report(result));
}
