//! `prefscope effects`: split effects from per-pair outcomes of runs made anywhere (glue around
//! `prefscope_report`). Reads `RUNS.csv` (run_id, split, group = A | B | all, seed, treatment,
//! outcomes = a JSONL path relative to the csv), the pair file, `groups.csv` and optionally a
//! W2/OL predictions file; writes effects.csv, summary.csv, summary.json and Parquet copies to
//! `--out`, and prints the summary (or, with `--json`, summary.json's rows).

use std::path::PathBuf;

use prefscope_report::{ClusterDraw, Effects, EffectsConfig, Inputs, PSource};

use crate::exit::bad_input;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run table: run_id, split, group (A, B or all), seed, treatment, outcomes.
    #[arg(long)]
    pub runs: PathBuf,
    /// The pair file (.parquet or .jsonl) the runs were evaluated on: each pair's user.
    #[arg(long)]
    pub pairs: PathBuf,
    /// groups.csv as `prefscope splits` writes it.
    #[arg(long)]
    pub groups: PathBuf,
    /// Predictions of `prefscope w2` or `prefscope ol` (the predicted sign of each split).
    #[arg(long)]
    pub predictions: Option<PathBuf>,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
    /// Two-level bootstrap replicates per split and treatment.
    #[arg(long, default_value_t = 2000)]
    pub resamples: usize,
    /// Seed of the bootstrap (recorded in summary.json).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// How held-out users are resampled: one draw shared by all seeds of a replicate (runs
    /// evaluated on the same held-out users, as in a study) or one per seed (each seed held
    /// out users of its own).
    #[arg(long, default_value = "shared", value_parser = parse_draw)]
    pub user_draw: ClusterDraw,
    /// Leave out seeds whose group-A or group-B run is missing instead of failing.
    #[arg(long)]
    pub skip_incomplete: bool,
}

fn parse_draw(s: &str) -> Result<ClusterDraw, String> {
    match s {
        "shared" => Ok(ClusterDraw::Shared),
        "per-seed" => Ok(ClusterDraw::PerSeed),
        other => Err(format!("expected shared or per-seed, found {other:?}")),
    }
}

impl Args {
    pub fn config(&self) -> EffectsConfig {
        EffectsConfig {
            resamples: self.resamples,
            seed: self.seed,
            draw: self.user_draw,
            skip_incomplete: self.skip_incomplete,
            ..EffectsConfig::default()
        }
    }
}

/// Reads the inputs, computes and writes the effects.
pub fn execute(args: &Args) -> anyhow::Result<Effects> {
    let input = |e: prefscope_report::ReportError| {
        if e.is_bad_input() {
            bad_input(e)
        } else {
            e.into()
        }
    };
    let inputs = Inputs::read(
        &args.runs,
        &args.pairs,
        &args.groups,
        args.predictions.as_deref(),
    )
    .map_err(input)?;
    let effects = inputs.effects(&args.config()).map_err(input)?;
    prefscope_report::write_effects(&args.out, &effects)?;
    Ok(effects)
}

pub fn run(args: &Args, json: bool) -> anyhow::Result<()> {
    let fx = execute(args)?;
    if json {
        let mut doc = prefscope_report::summary_json(&fx);
        doc["out"] = serde_json::json!(args.out);
        return crate::output::print_json(&doc);
    }
    println!(
        "{:<16} {:<10} {:>2} {:>8} {:>7} {:>4} {:>19} {:>7} {:>7} {:>4}  {:<13} {:<13} {:>5} {:>8}  {:<12}",
        "split",
        "treatment",
        "n",
        "diff",
        "std",
        "x/N",
        "95% CI",
        "p",
        "p_holm",
        "pred",
        "verdict",
        "sign rule",
        "seeds",
        "spec",
        "spec verdict"
    );
    let pct = |x: f64| format!("{:+.2}%", 100.0 * x);
    for r in &fx.summary {
        println!(
            "{:<16} {:<10} {:>2} {:>8} {:>7} {:>4} {:>19} {:>7} {:>7} {:>4}  {:<13} {:<13} {:>5} {:>8}  {}",
            r.split,
            r.treatment,
            r.n_seeds,
            pct(r.mean_diff),
            r.std_diff
                .map_or("-".into(), |s| format!("{:.2}%", 100.0 * s)),
            r.x_of_n,
            format!("[{}, {}]", pct(r.ci_low), pct(r.ci_high)),
            super::splits::format_p(r.p_value),
            super::splits::format_p(r.p_holm),
            r.predicted_sign.map_or("-".into(), |s| format!("{s:+}")),
            r.verdict.as_str(),
            r.sign_verdict.as_str(),
            r.seeds_needed.map_or("-".into(), |n| n.to_string()),
            pct(r.mean_specificity),
            r.spec_verdict.as_str(),
        );
    }
    let k = fx
        .summary
        .iter()
        .filter(|r| {
            matches!(
                r.p_source,
                PSource::RandomSplits | PSource::RandomSplitsRank
            )
        })
        .map(|r| r.n_null)
        .max();
    match k {
        Some(k) => println!(
            "p: empirical null of {k} random splits (z against their z values; rank p in summary.csv); CI: two-level bootstrap"
        ),
        None => println!(
            "p and CI: two-level bootstrap (seeds x held-out users, {} replicates, seed {})",
            fx.config.resamples, fx.config.seed
        ),
    }
    println!(
        "verdict: MATCH/MISMATCH only when Holm-adjusted p < {} and the CI excludes 0; seeds: seeds for {:.0}% power at the observed mean and std",
        fx.config.alpha,
        100.0 * fx.config.power
    );
    for s in &fx.skipped {
        println!(
            "skipped: split {} treatment {} seed {} (no group-{} run; {} is there)",
            s.split,
            s.treatment,
            s.seed,
            s.missing.as_str(),
            s.present_run
        );
    }
    println!(
        "wrote effects.csv, summary.csv, summary.json, effects.parquet and summary.parquet to {}",
        args.out.display()
    );
    Ok(())
}
