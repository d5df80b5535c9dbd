//! A study read for its report (the study→report adapter): the spec, its data and plan
//! (`prefscope-study`, which has no libtorch), which planned runs have a result, and the
//! analysis settings the spec declares. Runs without a result become [`PendingRun`]s, listed on
//! the page and left out of the estimates.

use std::collections::HashMap;
use std::path::Path;

use prefscope_predict::Predictions;
use prefscope_study::run_files::read_result;
use prefscope_study::{plan_study, RunRow, Store, Study, StudyData};

use crate::effects::{EffectsConfig, StrengthStat};
use crate::error::{ReportError, Result};
use crate::study_input::{read_run_folder, PendingRun, StudyRuns};
use crate::truth::read_truth;

/// What `prefscope report` hands to [`crate::write_study_report`].
#[derive(Debug)]
pub struct StudySource {
    pub input: StudyRuns,
    pub config: EffectsConfig,
    /// Runs the spec plans (done or not).
    pub planned: usize,
}

/// Reads the study of `spec` for its report: every planned run's folder that has a result,
/// the pending ones with their stored status, the pairs and splits, the predictions (when
/// given) and the simulator's ground truth. `resamples` and `seed` are the specificity
/// permutation test's.
pub fn read_study(
    spec: &Path,
    predictions: Option<&Path>,
    resamples: usize,
    seed: u64,
) -> Result<StudySource> {
    if !spec.is_file() {
        return Err(ReportError::Runs(format!(
            "{}: no such study spec",
            spec.display()
        )));
    }
    let spec_text = std::fs::read_to_string(spec).map_err(|e| ReportError::io(spec, e))?;
    let study = Study::from_toml(&spec_text, spec)?;
    let data = StudyData::load(&study)?;
    let plan = plan_study(&study, &data)?;
    let selections = prefscope_study::run::selection_counts(&study, &data);
    let store_path = study.store_path();
    if !store_path.is_file() {
        return Err(ReportError::Runs(format!(
            "{}: no run store; run the study first (prefscope study run {})",
            store_path.display(),
            spec.display()
        )));
    }
    let store = Store::open_existing(&store_path)?;
    let stored: HashMap<String, RunRow> = store
        .runs()?
        .into_iter()
        .map(|r| (r.run_id.clone(), r))
        .collect();

    let mut runs = Vec::new();
    let mut pending = Vec::new();
    for p in &plan {
        let dir = study.run_dir(&p.id);
        if read_result(&dir).is_some() {
            runs.push(read_run_folder(&dir, &p.id)?);
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
        return Err(ReportError::Runs(format!(
            "study {:?}: none of its {} planned runs has a result in {}; run it first (prefscope study run {})",
            study.name,
            plan.len(),
            study.dir.join("runs").display(),
            spec.display()
        )));
    }
    let predicted = predictions.map(Predictions::read).transpose()?;
    let truth = read_truth(&data.prism, &data.splits)?;
    let mut config = EffectsConfig {
        resamples,
        seed,
        skip_incomplete: true,
        strength: match study.analysis.strength.as_str() {
            "adjusted_diff" => StrengthStat::AdjustedDiff,
            _ => StrengthStat::DiffCommon,
        },
        null_tolerance: study.analysis.null_tolerance / 100.0,
        min_effect: study.analysis.min_effect / 100.0,
        null_pools: data.sized_like.clone(),
        // every treatment is contrasted with the spec's first (plain DPO in the examples)
        reference_treatment: (study.treatments.len() > 1).then(|| study.treatments[0].name.clone()),
        ..EffectsConfig::default()
    };
    for s in data.splits.iter().filter(|s| s.def.null_control) {
        if !config.null_controls.contains(&s.def.name) {
            config.null_controls.push(s.def.name.clone());
        }
    }
    let input = StudyRuns {
        name: study.name.clone(),
        spec_path: spec.to_path_buf(),
        spec_text,
        runs,
        pending,
        pairs: data.pairs,
        splits: data.splits,
        predictions: predicted,
        predictions_path: predictions.map(Path::to_path_buf),
        truth,
        permutation_seed: study.data.holdout_seed,
        selections,
    };
    Ok(StudySource {
        input,
        config,
        planned: plan.len(),
    })
}
