//! `prefscope effects`: split effects from per-pair outcomes of runs made anywhere (glue around
//! `prefscope_report`). Reads `RUNS.csv` (run_id, split, group = A | B | all, seed, treatment,
//! outcomes = a JSONL path relative to the csv), the pair file, `groups.csv` and optionally a
//! W2/OL predictions file; writes effects.csv, summary.csv, summary.json and Parquet copies to
//! `--out` (and ranking.csv when the outcomes have log-probs), and prints the summary (or, with
//! `--json`, summary.json's rows).

use std::path::PathBuf;

use std::collections::BTreeMap;

use prefscope_report::{Effects, EffectsConfig, EffectsInputs, StrengthStat};

use crate::exit::{bad_input, classify};

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
    /// Permutations of the specificity's permutation test per split and treatment.
    #[arg(long, default_value_t = 2000)]
    pub resamples: usize,
    /// Seed of the permutations (recorded in summary.json).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The statistic of the strength verdict: diff_common (both models on all held-out pairs)
    /// or adjusted_diff (each group's gain over the same seed's baseline; needs the baseline
    /// runs, group all).
    #[arg(long, default_value = "diff_common", value_parser = parse_strength)]
    pub strength: StrengthStat,
    /// Equivalence margin of the null controls' TOST, in accuracy points.
    #[arg(long, default_value_t = 2.0)]
    pub null_tolerance: f64,
    /// Smallest effect of interest of the power calculation, in accuracy points.
    #[arg(long, default_value_t = 2.0)]
    pub min_effect: f64,
    /// A JSON object naming, per real split, the random splits sized like it, e.g.
    /// {"age": ["random-2", "random-6"]}; a split not named uses every random split.
    #[arg(long)]
    pub null_pools: Option<PathBuf>,
    /// Leave out seeds whose group-A or group-B run is missing instead of failing.
    #[arg(long)]
    pub skip_incomplete: bool,
    /// Contrast every other treatment with this one, paired by seed and held-out user
    /// (contrasts.csv; at least 3 shared seeds for an interval and a verdict).
    #[arg(long)]
    pub reference_treatment: Option<String>,
}

fn parse_strength(s: &str) -> Result<StrengthStat, String> {
    match s {
        "diff_common" => Ok(StrengthStat::DiffCommon),
        "adjusted_diff" => Ok(StrengthStat::AdjustedDiff),
        other => Err(format!(
            "expected diff_common or adjusted_diff, found {other:?}"
        )),
    }
}

impl Args {
    pub fn config(&self) -> anyhow::Result<EffectsConfig> {
        let null_pools = match &self.null_pools {
            None => BTreeMap::new(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    bad_input(anyhow::anyhow!("{}: cannot read: {e}", path.display()))
                })?;
                serde_json::from_str::<BTreeMap<String, Vec<String>>>(&text).map_err(|e| {
                    bad_input(anyhow::anyhow!(
                        "{}:{}:{}: expected a JSON object of split name -> list of random split names: {e}",
                        path.display(),
                        e.line(),
                        e.column()
                    ))
                })?
            }
        };
        Ok(EffectsConfig {
            resamples: self.resamples,
            seed: self.seed,
            strength: self.strength,
            null_tolerance: self.null_tolerance / 100.0,
            min_effect: self.min_effect / 100.0,
            null_pools,
            skip_incomplete: self.skip_incomplete,
            reference_treatment: self.reference_treatment.clone(),
            ..EffectsConfig::default()
        })
    }
}

/// Reads the inputs, computes and writes the effects (and the ranking diagnostics when the
/// outcomes have log-probs: `ranking` tells).
pub fn execute(args: &Args) -> anyhow::Result<(Effects, bool)> {
    let input = classify::<prefscope_report::ReportError>;
    let inputs = EffectsInputs::read(
        &args.runs,
        &args.pairs,
        &args.groups,
        args.predictions.as_deref(),
    )
    .map_err(input)?;
    let effects = inputs.effects(&args.config()?).map_err(input)?;
    prefscope_report::write_effects(&args.out, &effects)?;
    let ranking = inputs.ranking().map_err(input)?;
    if !ranking.is_empty() {
        prefscope_report::write_ranking(&args.out, &ranking)?;
    }
    Ok((effects, !ranking.is_empty()))
}

pub fn run(args: &Args, json: bool) -> anyhow::Result<()> {
    let (fx, ranking) = execute(args)?;
    if json {
        let mut doc = prefscope_report::summary_json(&fx);
        doc["out"] = serde_json::json!(args.out);
        return crate::output::print_json(&doc);
    }
    print!("{}", prefscope_report::summary_text(&fx));
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
    let ranking = if ranking { ", ranking.csv" } else { "" };
    println!(
        "wrote effects.csv, summary.csv, summary.json, effects.parquet{ranking} and summary.parquet to {}",
        args.out.display()
    );
    Ok(())
}
