//! `prefscope bench effects`: `prefscope effects` on a synthetic study of the size
//! (150 runs × 3,000 held-out pairs, 2,000 specificity permutations), timed by phase beside its
//! 5 s target (glue around `prefscope_report::bench`).

use prefscope_report::bench::{bench_effects, BenchSize};

/// The target for reading, computing and writing, on 2 cores in release.
const TARGET_S: f64 = 5.0;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Runs: splits x seeds x 2 groups.
    #[arg(long, default_value_t = 150)]
    pub runs: usize,
    #[arg(long, default_value_t = 5)]
    pub seeds: usize,
    /// Held-out users (half in each group of every split).
    #[arg(long, default_value_t = 300)]
    pub users: usize,
    /// Pairs per held-out user: each run evaluates users x this many pairs.
    #[arg(long, default_value_t = 10)]
    pub pairs_per_user: usize,
    /// Permutations of each split's specificity permutation test.
    #[arg(long, default_value_t = 2000)]
    pub resamples: usize,
}

pub fn run(args: &Args, json: bool) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let b = bench_effects(
        dir.path(),
        BenchSize {
            runs: args.runs,
            seeds: args.seeds,
            users: args.users,
            pairs_per_user: args.pairs_per_user,
            resamples: args.resamples,
        },
    )?;
    if json {
        let mut doc = serde_json::to_value(&b)?;
        doc["target_s"] = serde_json::json!(TARGET_S);
        return crate::output::print_json(&doc);
    }
    println!(
        "effects: {} runs ({} splits x {} seeds x 2 groups), {} held-out pairs each ({} users), {} permutations, {} threads",
        b.size.runs, b.splits, b.size.seeds, b.pairs_per_run, b.size.users, b.size.resamples, b.threads
    );
    println!("  read     {:>7.3} s", b.read_s);
    println!("  compute  {:>7.3} s", b.compute_s);
    println!("  write    {:>7.3} s", b.write_s);
    println!(
        "  total    {:>7.3} s   (target < {TARGET_S} s: {})",
        b.effects_s,
        if b.effects_s < TARGET_S {
            "met"
        } else {
            "MISSED"
        }
    );
    println!(
        "  (setup: writing the synthetic files took {:.3} s)",
        b.setup_s
    );
    Ok(())
}
