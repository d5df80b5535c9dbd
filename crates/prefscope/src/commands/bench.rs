//! `prefscope bench`: benchmarks that time prefscope against its reference implementation in
//! the same run and print the ratio.

use std::path::{Path, PathBuf};

use std::time::Instant;

use anyhow::Context;
use prefscope_data::prism::Dataset;
use prefscope_data::simulate::{self, PlantedEffects, SimConfig};
use prefscope_data::{build_pairs, KindFilter, PairOptions};

#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Read a PRISM directory and build all pairs (with prompts): prefscope vs a pandas script
    /// (tools/bench_ingest_pandas.py) doing the same work on the same files.
    Ingest(IngestArgs),
    /// A DPO step (fwd+bwd+AdamW), prefscope vs tools/bench_train_torch.py (default: SmolLM2-135M, CPU).
    Train(super::torch::Forward),
    /// prefscope's training loop vs TRL's DPOTrainer and the plain PyTorch loop, on a PRISM-like
    /// mix of lengths (CPU).
    TrainVsTrl(super::torch::Forward),
    /// The study machinery: plan, store and status of a 10,000-run grid, against their targets.
    Study(super::torch::Forward),
    /// `prefscope effects` on 150 synthetic runs x 3,000 held-out pairs, against its 5 s target.
    Effects(super::bench_effects::Args),
}

#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// Simulated participants (PRISM's size by default).
    #[arg(long, default_value_t = 1500)]
    pub users: usize,
    /// Timed repetitions of each side; the median is reported.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Python with pandas for the reference side.
    #[arg(long, default_value_t = default_python())]
    pub python: String,
    /// The pandas script.
    #[arg(long, default_value = "tools/bench_ingest_pandas.py")]
    pub script: PathBuf,
}

pub use crate::output::default_python;

pub fn run(cmd: &BenchCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Ingest(args) => ingest(args, json),
        BenchCommand::Train(args) => super::torch::forward("bench train", args, json),
        BenchCommand::TrainVsTrl(args) => super::torch::forward("bench train-vs-trl", args, json),
        BenchCommand::Study(args) => super::torch::forward("bench study", args, json),
        BenchCommand::Effects(args) => super::bench_effects::run(args, json),
    }
}

fn median(xs: Vec<f64>) -> f64 {
    prefscope_stats::median(&xs).unwrap_or(f64::NAN)
}

fn ingest(args: &IngestArgs, json: bool) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("prefscope-bench-ingest-{}", std::process::id()));
    let config = SimConfig {
        users: args.users,
        seed: 0,
        effects: PlantedEffects::planted_default(),
    };
    simulate::write_prism(&dir, &config, &simulate::simulate(&config))?;
    let result = ingest_in(&dir, args, json);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn ingest_in(dir: &Path, args: &IngestArgs, json: bool) -> anyhow::Result<()> {
    let mut times = Vec::new();
    let mut n_pairs = 0;
    for _ in 0..args.runs.max(1) {
        let t = Instant::now();
        let data = Dataset::load_for_pairs(dir)?;
        let set = build_pairs(
            &data,
            PairOptions {
                kind: KindFilter::All,
                min_gap: 0.0,
            },
        );
        times.push(t.elapsed().as_secs_f64());
        n_pairs = set.pairs.len();
    }
    let ours = median(times);
    let logs = tempfile::tempdir()?;
    let measured = prefscope_peer::process::run(
        std::process::Command::new(&args.python)
            .arg(&args.script)
            .arg(dir)
            .arg("--runs")
            .arg(args.runs.max(1).to_string()),
        &logs.path().join("pandas.log"),
    )
    .context("the pandas side")?;
    let theirs = prefscope_peer::process::last_json(&measured.stdout, "the pandas script")?;
    let pandas_s = theirs["seconds_median"]
        .as_f64()
        .context("pandas script: no seconds_median")?;
    let pandas_pairs = theirs["pairs"]
        .as_u64()
        .context("pandas script: no pairs")? as usize;
    anyhow::ensure!(
        pandas_pairs == n_pairs,
        "the two sides disagree: prefscope built {n_pairs} pairs, pandas {pandas_pairs}"
    );
    let ratio = pandas_s / ours;
    let report = serde_json::json!({
        "users": args.users, "pairs": n_pairs, "runs": args.runs,
        "prefscope_seconds": ours, "pandas_seconds": pandas_s, "speedup": ratio,
    });
    if json {
        crate::output::print_json(&report)
    } else {
        println!(
            "ingest: read PRISM + build {n_pairs} pairs ({} users), median of {} runs",
            args.users, args.runs
        );
        println!("  prefscope {ours:>9.3} s");
        println!("  pandas    {pandas_s:>9.3} s");
        println!("  speedup   {ratio:>9.1}x (pandas / prefscope)");
        Ok(())
    }
}
