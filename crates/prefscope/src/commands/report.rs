//! `prefscope report SPEC --out DIR`: the study's report (glue). Reads the spec, its data and
//! plan (`prefscope_study`), finds which planned runs have a result, and hands their folders,
//! the pairs, the splits, the predictions and the simulator's ground truth to
//! `prefscope_report::write_study_report`, which writes `index.html` and the effects tables.
//! Runs without a result are listed on the page and left out of the estimates.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Context;
use prefscope_report::{
    read_run_folder, read_truth, write_study_report, EffectsConfig, PendingRun, Predictions,
    StrengthStat, StudyRuns,
};
use prefscope_study::{plan_study, Store, Study, StudyData};
use serde::Serialize;

use crate::exit::{bad_input, classify};

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
    if !args.spec.is_file() {
        return Err(bad_input(anyhow::anyhow!(
            "{}: no such study spec",
            args.spec.display()
        )));
    }
    let study = Study::from_file(&args.spec).map_err(classify)?;
    let spec_text = std::fs::read_to_string(&args.spec)
        .with_context(|| format!("reading {}", args.spec.display()))?;
    let data = StudyData::load(&study).map_err(classify)?;
    let plan = plan_study(&study, &data).map_err(classify)?;
    let store_path = study.store_path();
    if !store_path.is_file() {
        return Err(bad_input(anyhow::anyhow!(
            "{}: no run store; run the study first (prefscope study run {})",
            store_path.display(),
            args.spec.display()
        )));
    }
    let store = Store::open_existing(&store_path).map_err(classify)?;
    let stored: HashMap<String, prefscope_study::RunRow> = store
        .runs()
        .map_err(classify)?
        .into_iter()
        .map(|r| (r.run_id.clone(), r))
        .collect();

    let mut runs = Vec::new();
    let mut pending = Vec::new();
    for p in &plan {
        let dir = study.run_dir(&p.id);
        if prefscope_study::worker::read_result(&dir).is_some() {
            runs.push(read_run_folder(&dir, &p.id).map_err(classify)?);
        } else {
            let row = stored.get(&p.id);
            pending.push(PendingRun {
                run_id: p.id.clone(),
                split: p.spec.split.clone(),
                group: p.spec.group.clone(),
                seed: p.spec.seed,
                treatment: p.spec.treatment.clone(),
                status: row.map_or("planned", |r| r.status.as_str()).to_string(),
                reason: row.and_then(|r| r.reason.clone()),
            });
        }
    }
    if runs.is_empty() {
        return Err(bad_input(anyhow::anyhow!(
            "study {:?}: none of its {} planned runs has a result in {}; run it first (prefscope study run {})",
            study.name,
            plan.len(),
            study.dir.join("runs").display(),
            args.spec.display()
        )));
    }
    let predictions = args
        .predictions
        .as_deref()
        .map(Predictions::read)
        .transpose()
        .map_err(|e| bad_input(anyhow::Error::new(e)))?;
    let truth = read_truth(&data.prism, &data.splits).map_err(classify)?;
    let mut config = EffectsConfig {
        resamples: args.resamples,
        seed: args.seed,
        skip_incomplete: true,
        strength: match study.analysis.strength.as_str() {
            "adjusted_diff" => StrengthStat::AdjustedDiff,
            _ => StrengthStat::DiffCommon,
        },
        null_tolerance: study.analysis.null_tolerance / 100.0,
        min_effect: study.analysis.min_effect / 100.0,
        null_pools: data.sized_like.clone(),
        ..EffectsConfig::default()
    };
    for s in data.splits.iter().filter(|s| s.def.null_control) {
        if !config.null_controls.contains(&s.def.name) {
            config.null_controls.push(s.def.name.clone());
        }
    }
    let input = StudyRuns {
        name: study.name.clone(),
        spec_path: args.spec.clone(),
        spec_text,
        runs,
        pending,
        pairs: data.pairs,
        splits: data.splits,
        predictions,
        predictions_path: args.predictions.clone(),
        truth,
        permutation_seed: study.data.holdout_seed,
    };
    let report = write_study_report(&input, &config, &args.out).map_err(classify)?;
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
            plan.len()
        );
    }
    println!("report: {}", report.index.display());
    Ok(())
}
