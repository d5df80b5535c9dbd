//! `prefscope-torch`: the prefscope commands that need libtorch (`train`, `logprobs`, `model`,
//! `bench train`, `bench study`, and `study-worker`, which the study executors start). `prefscope`
//! runs this binary for them, so that its other commands start without loading libtorch and
//! CUDA; calling it directly works the same.

mod exit;
#[allow(dead_code)] // shared with `prefscope`, which uses all of it
mod output;

/// The command modules of `src/commands/` that use libtorch.
mod commands {
    pub mod bench {
        pub use crate::output::default_python;
    }
    pub mod bench_study;
    pub mod bench_train;
    pub mod bench_train_trl;
    pub mod logprobs;
    pub mod model_tiny;
    pub mod study_worker;
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
    /// Models for studies.
    #[command(subcommand)]
    Model(ModelCommand),
    /// One run of a study (started by `prefscope study run`; not meant to be called by hand).
    #[command(hide = true)]
    StudyWorker(commands::study_worker::Args),
}

#[derive(Debug, Subcommand)]
enum ModelCommand {
    /// A tiny real Qwen2 for CPU studies: tokenizer trained on a PRISM folder, ChatML, optional warm-start.
    Tiny(commands::model_tiny::Args),
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// A DPO step (fwd+bwd+AdamW), prefscope vs tools/bench_train_torch.py (default: SmolLM2-135M, CPU).
    Train(Box<commands::bench_train::TrainArgs>),
    /// prefscope's training loop vs TRL's DPOTrainer and the plain PyTorch loop, on a PRISM-like mix of lengths (CPU).
    TrainVsTrl(Box<commands::bench_train_trl::Args>),
    /// Plan, store and status of a 10,000-run study grid, against their targets.
    Study(commands::bench_study::Args),
}

/// libtorch allocates its CPU tensors with glibc's malloc, and glibc serves every block over
/// its mmap threshold (dynamic, from 128 KiB) with a fresh `mmap`, returned on free: each
/// activation of a forward pass is then zero-filled by the kernel page by page again. Keeping
/// freed memory for reuse (the threshold at glibc's 64-bit maximum, 32 MiB, and no trimming
/// below 1 GiB) made a demo run's worker 1.2x faster (23.7 s to 19.8 s on one core, system
/// time 4.2 s to 0.5 s, the same outputs byte for byte); peak memory is what the largest step
/// needs, as before.
fn keep_freed_cpu_memory() {
    // SAFETY: mallopt only sets allocator parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

fn main() {
    keep_freed_cpu_memory();
    output::init_process();
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Train(args) => commands::train::run(args, cli.json),
        Command::Logprobs(args) => commands::logprobs::run(args, cli.json),
        Command::Bench(BenchCommand::Train(args)) => commands::bench_train::run(args, cli.json),
        Command::Bench(BenchCommand::TrainVsTrl(args)) => {
            commands::bench_train_trl::run(args, cli.json)
        }
        Command::Bench(BenchCommand::Study(args)) => commands::bench_study::run(args, cli.json),
        Command::Model(ModelCommand::Tiny(args)) => commands::model_tiny::run(args, cli.json),
        Command::StudyWorker(args) => commands::study_worker::run(args),
    };
    std::process::exit(exit::report(result));
}
