//! What a run leaves in its folder and how a worker talks to the executor that started it:
//! `spec.json` (the run's [`RunSpec`], written when the run is claimed), `result.json` (written
//! last, when the run is done), the [`Progress`] lines a worker prints and how it ended
//! ([`WorkerOutcome`]), and which pairs a run trains and evaluates on ([`run_pairs`]). The worker
//! itself (libtorch) is `prefscope-worker`'s; executors, reconciliation and the report read
//! these without it.

use std::path::Path;

use prefscope_data::Group;
use serde::{Deserialize, Serialize};

use crate::data::StudyData;
use crate::error::{Result, StudyError};
use crate::run::{select_treated, RunPairs, RunSpec, BASELINE};
use crate::spec::Study;

/// `runs/<id>/spec.json`: the run's [`RunSpec`], written when the run is first claimed.
pub const SPEC_FILE: &str = "spec.json";
/// `runs/<id>/result.json`: written last, when the run is done.
pub const RESULT_FILE: &str = "result.json";

/// What a finished run leaves in `result.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    pub run_id: String,
    pub steps: u64,
    pub train_pairs: usize,
    pub filtered_pairs: usize,
    /// The final held-out evaluation (`prefscope_train::EvalMetrics` as JSON).
    pub final_eval: serde_json::Value,
}

/// Progress a worker reports (one JSON line each on its standard output).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Progress {
    Loading,
    Reference { done: usize, total: usize },
    Step { step: u64, steps: u64, loss: f64 },
    Eval { step: u64, pref_acc: f64 },
}

/// The worker's exit code when it stopped on request after checkpointing (EX_TEMPFAIL): the
/// run is lost, not failed, and resumes from its checkpoint.
pub const EXIT_INTERRUPTED: i32 = 75;

/// How a worker ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerOutcome {
    Done,
    /// Stopped on request (a signal) after checkpointing: resume it later.
    Interrupted,
}

/// Writes a claimed run's stored spec into its folder as `spec.json` (idempotent), for the
/// worker to read.
pub fn write_spec(study: &Study, run: &crate::RunRow) -> Result<()> {
    let path = study.run_dir(&run.run_id).join(SPEC_FILE);
    if path.is_file() {
        return Ok(());
    }
    let spec: RunSpec = serde_json::from_str(&run.spec).map_err(|e| StudyError::Command {
        command: "run store".into(),
        message: format!("run {}: stored spec unreadable: {e}", run.run_id),
    })?;
    let text = serde_json::to_string_pretty(&spec).unwrap_or_default();
    Ok(prefscope_data::write_bytes_atomic(&path, text.as_bytes())?)
}

/// Reads `result.json` of a run folder, when the run is done.
pub fn read_result(run_dir: &Path) -> Option<RunResult> {
    let text = std::fs::read_to_string(run_dir.join(RESULT_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

/// The pairs a run trains and evaluates on: its split and group's selection (the baseline's
/// when the run is one), under the pair selection its spec records.
pub fn run_pairs(data: &StudyData, study: &Study, spec: &RunSpec) -> Result<RunPairs> {
    let holdout = spec.holdout;
    if spec.split == BASELINE {
        return Ok(select_treated(&data.pairs, &holdout, None, &spec.pairs));
    }
    let split = data.split(&spec.split).ok_or_else(|| {
        StudyError::spec(
            &study.spec_path,
            format!(
                "split {:?} of a stored run is no longer in the grid",
                spec.split
            ),
        )
    })?;
    let group = match spec.group.as_str() {
        "A" => Group::A,
        "B" => Group::B,
        g => {
            return Err(StudyError::spec(
                &study.spec_path,
                format!("run group: expected A or B, found {g:?}"),
            ))
        }
    };
    Ok(select_treated(
        &data.pairs,
        &holdout,
        Some((split, group)),
        &spec.pairs,
    ))
}

/// Checkpoints go once a run is done. (Final weights are written only when the study keeps
/// them: [`crate::run::run_config`] sets `save_final` from `keep_weights`.)
pub fn clean_up(dir: &Path) -> Result<()> {
    let d = dir.join("checkpoints");
    if d.exists() {
        std::fs::remove_dir_all(&d).map_err(|e| StudyError::io(&d, e))?;
    }
    Ok(())
}
