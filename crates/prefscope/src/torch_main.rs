//! `prefscope-torch`: the prefscope commands that need libtorch (`train`, `logprobs`,
//! `bench train`). `prefscope` runs this binary for them, so that its other commands start
//! without loading libtorch and CUDA; calling it directly works the same.

mod exit;
#[allow(dead_code)] // shared with `prefscope`, which uses all of it
mod output;

/// The command modules of `src/commands/` that use libtorch.
mod commands {
    pub mod bench {
        pub use crate::output::default_python;
    }
    pub mod bench_train;
    pub mod logprobs;
    pub mod train;
}

use clap::{Parser, Subcommand};

/// The libtorch commands of prefscope (normally run through `prefscope`).
#[derive(Debug, Parser)]
#[command(name = "prefscope", bin_name = "prefscope", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// Print machine-readable JSON on stdout instead of tables (also hides progress bars).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// DPO-train a model on a pair file as a TOML config says (progress: loss, pref_acc, tokens/s).
    Train(commands::train::Args),
    /// Completion log-probs of every pair under a model (summed and per token), as JSONL.
    Logprobs(commands::logprobs::Args),
    /// Benchmarks of the training step.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// A DPO step (fwd+bwd+AdamW), prefscope vs tools/bench_train_torch.py (default: SmolLM2-135M, CPU).
    Train(commands::bench_train::TrainArgs),
}

fn main() {
    output::init_process();
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Train(args) => commands::train::run(args, cli.json),
        Command::Logprobs(args) => commands::logprobs::run(args, cli.json),
        Command::Bench(BenchCommand::Train(args)) => commands::bench_train::run(args, cli.json),
    };
    std::process::exit(exit::report(result));
}
