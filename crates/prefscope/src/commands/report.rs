//! `prefscope report SPEC --out DIR`: the study's report (glue). `prefscope_report::read_study`
//! reads the study (the runs with a result, the pending ones, pairs, splits, predictions,
//! ground truth); `write_study_report` writes `index.html` and the effects tables.

use std::path::PathBuf;

use prefscope_report::{read_study, write_study_report};
use serde::Serialize;

use crate::exit::classify;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The study spec (TOML).
    pub spec: PathBuf,
    /// Output folder: index.html, effects.csv, summary.csv, summary.json (+ Parquet), runs.csv,
    /// groups.csv and the diagnostics' tables.
    #[arg(long)]
    pub out: PathBuf,
    /// Predicted directions (what `prefscope w2` or `prefscope ol` writes), for MATCH/MISMATCH.
    #[arg(long)]
    pub predictions: Option<PathBuf>,
    /// Permutations of each split's specificity permutation test.
    #[arg(long, default_value_t = 2000)]
    pub resamples: usize,
    /// Seed of the permutation draws (the source-model permutation tests use the study's
    /// hold-out seed).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Serialize)]
struct Output<'a> {
    index: &'a std::path::Path,
    files: &'a [PathBuf],
    runs_done: usize,
    runs_pending: usize,
    summary: &'a [prefscope_report::SummaryRow],
}

pub fn run(args: &Args, json: bool) -> anyhow::Result<()> {
    let source = read_study(
        &args.spec,
        args.predictions.as_deref(),
        args.resamples,
        args.seed,
    )
    .map_err(classify)?;
    let input = &source.input;
    let report = write_study_report(input, &source.config, &args.out).map_err(classify)?;
    if json {
        return crate::output::print_json(&Output {
            index: &report.index,
            files: &report.files,
            runs_done: input.runs.len(),
            runs_pending: input.pending.len(),
            summary: &report.effects.summary,
        });
    }
    print!("{}", prefscope_report::summary_text(&report.effects));
    if !input.pending.is_empty() {
        eprintln!(
            "warning: {} of {} runs have no result and are left out (listed in the report)",
            input.pending.len(),
            source.planned
        );
    }
    println!("report: {}", report.index.display());
    Ok(())
}
